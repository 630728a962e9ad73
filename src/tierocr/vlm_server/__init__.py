"""`tierocr vlm-serve`: an OpenAI-compatible server for vision-language OCR models built on transformers.

It exists for the GPUs vLLM does not serve (compute capability below 8.0) and for machines without a GPU.
Only the protocol and settings modules are imported eagerly; torch and transformers load on first use so
that `tierocr --help` stays fast and works without the `vlm` extra.
"""
