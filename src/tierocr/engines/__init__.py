"""Classical OCR engines (and, later, the VLM client), chosen by name through one registry."""

from tierocr.engines.base import OcrEngine, OcrLine
from tierocr.engines.registry import available_engines, create_engine

__all__ = ["OcrEngine", "OcrLine", "available_engines", "create_engine"]
