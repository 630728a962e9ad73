"""`tierocr launch` and `tierocr stop`: model servers (vLLM, vlm-serve, Ollama) started in their own process
groups, with pid and log files under the data directory, and stopped so that nothing of them stays on the
card. Importing this package is cheap: the CLI imports it for `--help`.
"""
