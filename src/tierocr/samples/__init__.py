"""The bundled sample document, and generators of synthetic test documents (need the dev extra)."""

from pathlib import Path

SAMPLE_PDF = Path(__file__).with_name("sample.pdf")
