"""Settings section of the page pipeline: how many pages are worked on at once, and by what."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class PipelineSettings(BaseModel):
    """Pages of one document, and the documents of one call, share the machine's cores.

    Output does not depend on these settings: pages come out in page order and each page is read exactly
    as the sequential pipeline reads it.
    """

    workers: int = Field(
        0,
        ge=0,
        description="Pages worked on at the same time; 0: the CPU cores this process may use. 1 reads one "
        "page at a time.",
    )
    backend: Literal["thread", "process"] = Field(
        "thread",
        description="thread: worker threads sharing one set of models (the ONNX models, PDFium under its "
        "lock); process: worker processes with their own models, for Python-bound pages (each loads its "
        "own models: more memory).",
    )
    max_pages_in_flight: int = Field(
        0,
        ge=0,
        description="Pages opened but not yet delivered, at most; 0: four per worker. Bounds memory "
        "whatever the documents' length (a page read and waiting for a slower one holds its text only).",
    )
