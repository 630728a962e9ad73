"""Systems the evaluation can run: tierocr itself and the bare OCR engines it is compared against.

A system is any callable ``(path, pages) -> (markdown, Document | None)``; its ``name`` attribute (or
function name) labels its column in the report. Later stages add their own (layout on/off, gate
variants) without touching the scoring.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierocr.config import Settings
from tierocr.document import Document

if TYPE_CHECKING:
    from tierocr.engines.base import OcrEngine

#: The contract every system fulfils.
SystemFn = Callable[[Path, str | None], tuple[str, Document | None]]


def system_name(system: Any) -> str:
    return str(getattr(system, "name", None) or getattr(system, "__name__", None) or type(system).__name__)


class TierocrSystem:
    """The full pipeline with the given settings, rendered to Markdown as `tierocr parse` would.

    ``languages`` maps an input to the languages a user would configure for it (the manifest's); other
    inputs use the settings' own.
    """

    def __init__(
        self, settings: Settings, name: str = "tierocr", languages: dict[Path, list[str]] | None = None
    ) -> None:
        self.settings = settings
        self.name = name
        self.languages = languages or {}
        self._pipelines: dict[tuple[str, ...], Any] = {}

    def __call__(self, path: Path, pages: str | None = None) -> tuple[str, Document | None]:
        from tierocr.pipeline import Pipeline
        from tierocr.render.markdown import render_markdown

        languages = tuple(self.languages.get(path) or self.settings.ocr.languages)
        pipeline = self._pipelines.get(languages)
        if pipeline is None:  # built on first use so that models load once, inside the timing
            ocr = self.settings.ocr.model_copy(update={"languages": list(languages)})
            pipeline = self._pipelines[languages] = Pipeline(self.settings.model_copy(update={"ocr": ocr}))
        document = pipeline.parse(path, pages=pages)
        return render_markdown(document, self.settings.render), document


class BareEngineSystem:
    """One classical engine on the whole rasterised page: no text layer, no layout, no post-processing.

    The engine's lines are joined with newlines in the order the engine returns them and pages are
    separated by a blank line. This is the floor tierocr has to beat.
    """

    def __init__(self, settings: Settings, engine: str) -> None:
        self.settings = settings
        self.name = engine
        self._engine: OcrEngine | None = None

    def __call__(self, path: Path, pages: str | None = None) -> tuple[str, Document | None]:
        from tierocr.engines import create_engine
        from tierocr.inputs import open_document

        if self._engine is None:
            self._engine = create_engine(self.settings.ocr, self.name)
        texts: list[str] = []
        with open_document(path, self.settings.input, pages=pages) as loaded:
            for page in loaded.iter_pages():
                lines = self._engine.recognize(page.image)
                texts.append("\n".join(line.text for line in lines))
        return "\n\n".join(texts), None
