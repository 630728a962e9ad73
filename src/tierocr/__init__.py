"""tierocr: every page through the cheapest tier that reads it right."""

__version__ = "0.1.0"
