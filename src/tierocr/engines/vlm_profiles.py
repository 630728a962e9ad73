"""What each OCR model family expects in a request: task prompts and sampling.

The families were trained on fixed instruction strings and break in odd ways when paraphrased (LightOnOCR
even copies a prompt into its answer), so the strings below are theirs, verbatim, and only the generic
profile says what it wants in words. These are facts about the models, not user defaults: what a user
may change (URL, model name, max_tokens, temperature) lives in ``VlmSettings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Task(StrEnum):
    """What a request asks the model to read."""

    PAGE = "page"  # a whole page, to Markdown
    TEXT = "text"  # a text region
    TABLE = "table"  # a table region, to HTML (or OTSL / Markdown, normalised later)
    FORMULA = "formula"  # a formula region, to LaTeX
    CHART = "chart"  # a chart region, to a table of its data


@dataclass(frozen=True, slots=True)
class VlmProfile:
    """Request conventions of one model family.

    ``prompts`` maps a task to its instruction; a task without an entry falls back to the ``PAGE`` prompt,
    and an empty prompt means "send the image alone".
    """

    name: str
    prompts: MappingProxyType[Task, str]
    temperature: float
    max_tokens: int
    top_p: float | None = None
    #: Non-OpenAI sampling fields (vLLM accepts them as extra parameters).
    extras: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: The image goes before the text in the content list (how these models were trained).
    image_first: bool = True

    def prompt(self, task: Task) -> str:
        return self.prompts.get(task, self.prompts.get(Task.PAGE, ""))


def _prompts(mapping: dict[Task, str]) -> MappingProxyType[Task, str]:
    return MappingProxyType(dict(mapping))


_GLM_OCR = VlmProfile(
    name="glm-ocr",
    prompts=_prompts(
        {
            Task.PAGE: "Text Recognition:",
            Task.TEXT: "Text Recognition:",
            Task.TABLE: "Table Recognition:",
            Task.FORMULA: "Formula Recognition:",
            Task.CHART: "Text Recognition:",
        }
    ),
    temperature=0.0,
    max_tokens=8192,
    extras=MappingProxyType({"top_k": 1, "repetition_penalty": 1.1}),
)

_PADDLEOCR_VL = VlmProfile(
    name="paddleocr-vl",
    prompts=_prompts(
        {
            Task.PAGE: "OCR:",
            Task.TEXT: "OCR:",
            Task.TABLE: "Table Recognition:",
            Task.FORMULA: "Formula Recognition:",
            Task.CHART: "Chart Recognition:",
        }
    ),
    temperature=0.0,
    max_tokens=8192,
)

# LightOnOCR reads a whole page to Markdown from the image alone; any prompt tends to be echoed back.
_LIGHTONOCR = VlmProfile(
    name="lightonocr",
    prompts=_prompts({Task.PAGE: ""}),
    temperature=0.2,
    top_p=0.9,
    max_tokens=4096,
)

_GENERIC = VlmProfile(
    name="generic",
    prompts=_prompts(
        {
            Task.PAGE: (
                "Transcribe this document page to Markdown in reading order. Write tables as HTML <table>, "
                "formulas as LaTeX between $$ and $$. Output only the transcription."
            ),
            Task.TEXT: "Transcribe the text in this image exactly. Output only the text.",
            Task.TABLE: "Transcribe this table as one HTML <table> element. Output only the HTML.",
            Task.FORMULA: "Transcribe this formula as LaTeX. Output only the LaTeX, without delimiters.",
            Task.CHART: "Transcribe the data of this chart as an HTML <table>. Output only the HTML.",
        }
    ),
    temperature=0.0,
    max_tokens=8192,
    image_first=False,
)

PROFILES: MappingProxyType[str, VlmProfile] = MappingProxyType(
    {p.name: p for p in (_GLM_OCR, _PADDLEOCR_VL, _LIGHTONOCR, _GENERIC)}
)


def get_profile(name: str) -> VlmProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown VLM profile {name!r}; choose one of: {', '.join(PROFILES)}") from None
