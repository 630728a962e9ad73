"""`tierocr bench` and `tierocr compare`: OCR backends measured side by side on the user's own documents.

A *target* is a classical tier (a bare engine, or tierocr's pipeline) or an OpenAI-compatible endpoint
with a model profile; both commands share one definition (:mod:`.targets`), one measurement
(:mod:`.measure`) and the evaluation's scorers, so this is also how the project's own speed and accuracy
claims are made.
"""
