"""Layout mode on vs off on the dev corpus, side by side, scored by the evaluation module.

Until the pipeline and `tierocr eval --layout` wire layout mode in, this runs it through
:class:`~tierocr.layout.parser.LayoutParser` page by page (text layer, pdfplumber page and all), with
the same Markdown renderer, against the pipeline with layout off.
Usage: .venv/bin/python bench/layout_eval.py [corpus] [--only SUBSTRING] [-o reports/layout-eval]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from tierocr.config import Settings, load_settings
from tierocr.document import Document
from tierocr.evaluation.corpus import read_manifest
from tierocr.evaluation.report import print_summary, write_report
from tierocr.evaluation.runner import evaluate_corpus
from tierocr.evaluation.systems import TierocrSystem
from tierocr.layout.tables import PdfPageRef


class LayoutSystem:
    """Every page through LayoutParser, rendered like `tierocr parse`."""

    name = "tierocr-layout"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._parser: Any = None
        self._orientation: Any = None

    def __call__(self, path: Path, pages: str | None = None) -> tuple[str, Document | None]:
        from tierocr.engines import create_engine
        from tierocr.engines.orientation import OrientationFixer
        from tierocr.inputs import open_document
        from tierocr.layout.parser import LayoutParser
        from tierocr.render.markdown import render_markdown

        if self._parser is None:
            self._parser = LayoutParser(self.settings, create_engine(self.settings.ocr))
            self._orientation = OrientationFixer() if self.settings.ocr.fix_rotation else None
        with open_document(path, self.settings.input, pages=pages) as loaded:
            document = Document(source=loaded.name, mime_type=loaded.mime_type, page_count=loaded.page_count)
            is_pdf = loaded.mime_type == "application/pdf"
            for page_input in loaded.iter_pages():
                layer = page_input.text_layer
                image = page_input.image
                rotation = 0
                if layer is None and self._orientation is not None:
                    rotation = self._orientation.detect(image)
                    if rotation:
                        image = self._orientation.rotate(image, rotation)
                page = self._parser.parse_page(
                    image,
                    number=page_input.number,
                    dpi=page_input.dpi,
                    text_layer=layer,
                    pdf_page=PdfPageRef(path, page_input.number - 1) if is_pdf and not rotation else None,
                )
                page.rotation = rotation
                document.pages.append(page)
        return render_markdown(document, self.settings.render), document


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "corpus", nargs="?", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "corpus"
    )
    parser.add_argument("--only", action="append", default=[], help="row id substring (repeatable)")
    parser.add_argument("-o", "--output", type=Path, default=Path("reports/layout-eval"))
    args = parser.parse_args()
    settings = load_settings()
    layout_settings = load_settings(layout={"enabled": True})
    rows = [r for r in read_manifest(args.corpus) if not args.only or any(s in r.id for s in args.only)]
    systems = [TierocrSystem(settings, name="tierocr"), LayoutSystem(layout_settings)]
    console = Console()
    report = evaluate_corpus(
        args.corpus,
        settings,
        systems,
        rows=rows,
        outputs_dir=args.output / "outputs",
        progress=lambda row: console.print(f"done {row.id}"),
    )
    write_report(report, args.output)
    print_summary(report, console)


if __name__ == "__main__":
    main()
