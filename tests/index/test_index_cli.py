"""`tierocr index` and `tierocr search` as a user runs them, on a generated PDF with a text layer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from index_helpers import BREAD, TAX, VOLCANO
from typer.testing import CliRunner

from tierocr.cli import app
from tierocr.samples.synthetic import text_pdf

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    # the text layer reads these pages; layout mode's model is not needed to test indexing
    return {"TIEROCR_DATA_DIR": str(tmp_path / "data"), "TIEROCR_LAYOUT_ENABLED": "false"}


def test_index_then_search_then_reindex_without_parsing(tmp_path: Path, env: dict[str, str]) -> None:
    pdf = tmp_path / "three.pdf"
    pdf.write_bytes(text_pdf([[VOLCANO], [BREAD], [TAX]]))
    db = str(tmp_path / "idx.sqlite")

    first = runner.invoke(app, ["index", str(pdf), "--db", db], env=env)
    assert first.exit_code == 0, first.output
    assert f"{pdf}: added" in first.output

    found = runner.invoke(
        app, ["search", "sourdough starter dough", "--db", db, "-k", "1", "--json"], env=env
    )
    assert found.exit_code == 0, found.output
    hit = json.loads(found.stdout.splitlines()[0])
    assert (hit["doc_id"], hit["page"], hit["tier"]) == (str(pdf), 2, "text_layer")
    assert "Sourdough" in hit["snippet"]

    shown = runner.invoke(app, ["search", "lava fissure", "--db", db, "--hybrid"], env=env)
    assert shown.exit_code == 0 and "page 1" in shown.stdout

    again = runner.invoke(app, ["index", str(pdf), "--db", db, "--list"], env=env)
    assert f"{pdf}: unchanged" in again.output
    assert f"{pdf}\t3 pages" in again.stdout

    gone = runner.invoke(app, ["index", "--db", db, "--delete", str(pdf), "--delete", "nope.pdf"], env=env)
    assert gone.exit_code == 1  # one of the two was not there
    assert "deleted" in gone.output and "not in the index" in gone.output
    empty = runner.invoke(app, ["search", "lava", "--db", db, "--mode", "keyword"], env=env)
    assert "no hits" in empty.output


def test_parsed_json_and_bad_inputs(tmp_path: Path, env: dict[str, str]) -> None:
    pdf = tmp_path / "one.pdf"
    pdf.write_bytes(text_pdf([[BREAD]]))
    out = tmp_path / "out"
    parsed = runner.invoke(app, ["parse", str(pdf), "-o", str(out), "--format", "json"], env=env)
    assert parsed.exit_code == 0, parsed.output
    (out / "broken.json").write_text("{not json", encoding="utf-8")
    db = str(tmp_path / "idx.sqlite")

    result = runner.invoke(app, ["index", str(out), "--db", db], env=env)
    assert result.exit_code == 1
    assert f"{pdf}: added" in result.output  # the JSON's own source names the document
    assert "broken.json: not a tierocr Document JSON" in " ".join(result.output.split())

    missing = runner.invoke(app, ["search", "x", "--db", str(tmp_path / "none.sqlite")], env=env)
    assert missing.exit_code == 2 and "no such index file" in missing.output
    bad_mode = runner.invoke(app, ["search", "x", "--db", db, "--mode", "fuzzy"], env=env)
    assert bad_mode.exit_code == 2 and "--mode must be" in bad_mode.output
