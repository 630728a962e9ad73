"""The real corpus manifest (skipped when ../shared/corpus is absent): every reference loads and scores.

Each md/txt/html reference scored against itself must be perfect, which checks normalisation and
parsing on every convention the corpus uses; json references are unit tests, so there we check that
every test parses and has a type the scorer recognises.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tierocr.cli import app
from tierocr.document import Document
from tierocr.evaluation.corpus import Metric, read_manifest
from tierocr.evaluation.olmocr import SCORED_TYPES, SKIPPED_TYPES
from tierocr.evaluation.scoring import load_groundtruth

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"

pytestmark = pytest.mark.skipif(
    not (CORPUS / "manifest.tsv").is_file(), reason="evaluation corpus not present"
)


def test_manifest_rows_resolve_to_existing_files() -> None:
    rows = read_manifest(CORPUS)
    assert rows
    assert len({row.id for row in rows}) == len(rows)
    for row in rows:
        assert row.file.is_file(), row.id
        assert row.groundtruth_file.is_file(), row.id


def test_every_text_and_table_reference_scores_perfectly_against_itself() -> None:
    for row in read_manifest(CORPUS):
        if row.metric is Metric.OLMOCR:
            continue
        groundtruth = load_groundtruth(row)
        scored = groundtruth.score(row.groundtruth_file.read_text(encoding="utf-8"))
        if row.metric is Metric.NED:
            assert groundtruth.text, row.id
            assert scored.score == 0.0, row.id
        else:
            assert scored.score == 1.0, row.id
            assert scored.details["teds_s"] == 1.0, row.id


def test_every_olmocr_test_parses_with_a_known_type() -> None:
    seen: set[str] = set()
    for row in read_manifest(CORPUS):
        if row.metric is not Metric.OLMOCR:
            continue
        groundtruth = load_groundtruth(row)
        assert groundtruth.tests, row.id
        for test in groundtruth.tests:
            assert test.type in SCORED_TYPES | SKIPPED_TYPES, (row.id, test.id)
            seen.add(test.type)
        assert groundtruth.scorable_tests > 0, row.id
    assert seen & SCORED_TYPES


def test_cli_end_to_end_on_two_real_image_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`tierocr eval --only` over real rows, with a fake system that echoes each row's reference."""
    references = {row.file.resolve(): row.groundtruth_file for row in read_manifest(CORPUS)}

    def echo(path: Path, pages: str | None) -> tuple[str, Document | None]:
        return references[path.resolve()].read_text(encoding="utf-8"), None

    monkeypatch.setattr("tierocr.evaluation.cli.build_systems", lambda settings, rows, **kw: [echo])
    expected = {"PMC5577841": 1.0, "phototest": 0.0}  # perfect TEDS, perfect NED
    for only, score in expected.items():
        out = tmp_path / only
        result = CliRunner().invoke(app, ["eval", str(CORPUS), "--only", only, "-o", str(out)])
        assert result.exit_code == 0, result.output
        data = json.loads((out / "report.json").read_text(encoding="utf-8"))
        (row,) = data["rows"]
        assert only in row["id"]
        assert row["results"]["echo"]["score"] == score
