"""The unit of work handed from the HTTP layer to the model, free of torch so the app imports fast.

The model runs in a worker thread; a job's `emit` is the one bridge back to the event loop for streamed
text, and `cancelled` lets a vanished client (or a shutdown) stop its row without stopping the batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from PIL import Image

from tierocr.vlm_server.structured import StructuredSpec


@dataclass
class GenRequest:
    """One chat turn to answer. `messages` use transformers' chat format (`{"type": "image"}` parts)."""

    messages: list[dict[str, Any]]
    images: list[Image.Image]
    max_new_tokens: int
    temperature: float
    top_p: float
    stops: list[str] = field(default_factory=list)
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    repetition_penalty: float = 1.0
    task: str | None = None
    structured: StructuredSpec | None = None
    emit: Callable[[str], None] | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    #: `time.monotonic()` after which the row stops with finish reason "timeout"; set per batch.
    deadline: float | None = None
    #: Longest prompt (image tokens included) the model may be given for this request.
    max_prompt_tokens: int | None = None


@dataclass(frozen=True)
class GenResult:
    text: str
    finish_reason: Literal["stop", "length", "timeout"]
    prompt_tokens: int
    completion_tokens: int


class PromptTooLongError(Exception):
    """Rows of a batch whose prompts are over their limit, found before `generate`: {row: tokens}."""

    def __init__(self, rows: dict[int, int]) -> None:
        super().__init__(f"{len(rows)} prompt(s) over the token limit")
        self.rows = rows


class ServedModel(Protocol):
    """What the server needs of a loaded model; the transformers implementation is in `model.py`."""

    device: str
    model_type: str | None

    def generate_batch(self, requests: list[GenRequest]) -> list[GenResult]: ...

    def memory_bytes(self) -> int: ...

    def close(self) -> None: ...
