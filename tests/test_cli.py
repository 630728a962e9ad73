"""`tierocr parse` as a user runs it: outputs, progress, one error line per bad input, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from tierocr.cli import app
from tierocr.samples import SAMPLE_PDF
from tierocr.samples.synthetic import PARAGRAPHS, text_pdf

runner = CliRunner()


def test_parse_to_stdout() -> None:
    result = runner.invoke(app, ["parse", str(SAMPLE_PDF), "--pages", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# tierocr sample document")


def test_parse_writes_markdown_json_and_chunks(tmp_path: Path) -> None:
    src = tmp_path / "in" / "doc.pdf"
    src.parent.mkdir()
    src.write_bytes(text_pdf([[PARAGRAPHS[0]], [PARAGRAPHS[1]]]))
    out = tmp_path / "out"
    result = runner.invoke(app, ["parse", str(src.parent), "-o", str(out), "--format", "both", "--chunks"])
    assert result.exit_code == 0, result.output
    assert "cheapest path" in (out / "doc.md").read_text()
    doc = json.loads((out / "doc.json").read_text())
    assert [p["tier"] for p in doc["pages"]] == ["text_layer", "text_layer"]
    chunks = [json.loads(line) for line in (out / "doc.chunks.jsonl").read_text().splitlines()]
    assert chunks and {n for c in chunks for n in c["pages"]} == {1, 2}


def test_bad_inputs_fail_clearly_while_the_rest_completes(tmp_path: Path) -> None:
    good = tmp_path / "good.pdf"
    good.write_bytes(text_pdf([[PARAGRAPHS[0]]]))
    corrupt = tmp_path / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    locked = tmp_path / "locked.pdf"
    locked.write_bytes(text_pdf([[PARAGRAPHS[0]]], encrypt="pw"))
    wrong = tmp_path / "notes.docx"
    wrong.write_bytes(b"PK\x03\x04 a zip, not a document we read")
    bomb = tmp_path / "bomb.png"
    Image.new("1", (30_000, 30_000), 1).save(bomb, optimize=True)
    out = tmp_path / "out"
    inputs = [corrupt, empty, good, locked, wrong, bomb]
    result = runner.invoke(app, ["parse", *map(str, inputs), "-o", str(out)])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 5, result.stderr
    for path, reason in (
        (corrupt, "corrupt"),
        (empty, "empty file"),
        (locked, "encrypted"),
        (wrong, "unsupported file type"),
        (bomb, "over the limit"),
    ):
        assert any(str(path) in e and reason in e for e in errors), (path, errors)
    assert "cheapest path" in (out / "good.md").read_text()


def test_unknown_engine_is_an_error() -> None:
    result = runner.invoke(app, ["parse", str(SAMPLE_PDF), "--pages", "2", "--engine", "nope"])
    assert result.exit_code == 2  # an option error, refused before any page
    assert "unknown OCR engine" in result.stderr
