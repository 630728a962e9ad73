"""A tiny corpus built on the spot: two images, a two-page born-digital PDF, one reference of each kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench_helpers import FORMULA, HEADER, INVOICE, TABLE
from PIL import Image, ImageDraw, ImageFont


def text_image(lines: list[str], width: int = 640) -> Image.Image:
    image = Image.new("RGB", (width, 60 + 48 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=28)
    for i, line in enumerate(lines):
        draw.text((20, 30 + 48 * i), line, fill="black", font=font)
    return image


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tierocr.samples.synthetic import text_pdf

    root = tmp_path_factory.mktemp("bench") / "corpus"
    (root / "docs").mkdir(parents=True)
    text_image(["Invoice INV-2024-117 dated 2024-03-15,", "total 1,250.00 EUR"]).save(
        root / "docs" / "invoice.png"
    )
    (root / "docs" / "invoice.txt").write_text(INVOICE, encoding="utf-8")
    text_image(["Item        Price", "Paper       12.50"], width=480).save(root / "docs" / "table.png")
    (root / "docs" / "table.html").write_text(TABLE, encoding="utf-8")
    pdf = text_pdf([["The report covers 2023 and 2024 in two short pages."], ["Page two lists 42 items."]])
    (root / "docs" / "report.pdf").write_bytes(pdf)
    tests = [
        {"pdf": "report.pdf", "page": 1, "id": "r1", "type": "present", "text": "covers 2023 and 2024"},
        {"pdf": "report.pdf", "page": 2, "id": "r2", "type": "present", "text": "lists 42 items"},
        {"pdf": "report.pdf", "page": 1, "id": "r3", "type": "math", "math": "x^2 + 1"},
    ]
    (root / "docs" / "report.tests.jsonl").write_text(
        "\n".join(json.dumps(t) for t in tests), encoding="utf-8"
    )
    text_image(["The area is A = pi r^2", "for a radius of 25 mm."]).save(root / "docs" / "formula.png")
    (root / "docs" / "formula.md").write_text(FORMULA, encoding="utf-8")
    (root / "manifest.tsv").write_text(
        HEADER
        + "docs-invoice\timage\tdocs/invoice.png\tdocs/invoice.txt\ttxt\ten\tscanned\t1\n"
        + "docs-table\timage\tdocs/table.png\tdocs/table.html\thtml\ten\ttable\t1\n"
        + "docs-report\tpdf\tdocs/report.pdf\tdocs/report.tests.jsonl\tjson\ten\ttext\t2\n"
        + "docs-formula\timage\tdocs/formula.png\tdocs/formula.md\tmd\ten\tformula\t1\n",
        encoding="utf-8",
    )
    return root


@pytest.fixture(scope="session")
def images(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    for name in ("invoice.png", "table.png"):
        (folder / name).write_bytes((corpus / "docs" / name).read_bytes())
    return folder
