"""The evaluation corpus: ``manifest.tsv`` rows and their ground truth.

Everything corpus-specific (which file, which reference, which convention) comes from the manifest;
the code only knows the four ground-truth formats and which metric each one implies.
"""

from __future__ import annotations

import csv
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_NAME = "manifest.tsv"


class GroundTruthFormat(StrEnum):
    MD = "md"
    TXT = "txt"
    HTML = "html"
    JSON = "json"


class Metric(StrEnum):
    NED = "ned"  # normalised edit distance, lower is better
    OLMOCR = "olmocr"  # unit-test pass rate, higher is better
    TEDS = "teds"  # table tree-edit similarity, higher is better


METRIC_FOR_FORMAT = {
    GroundTruthFormat.MD: Metric.NED,
    GroundTruthFormat.TXT: Metric.NED,
    GroundTruthFormat.HTML: Metric.TEDS,
    GroundTruthFormat.JSON: Metric.OLMOCR,
}


class ManifestRow(BaseModel):
    """One document of the corpus, with paths resolved against the corpus folder."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: str
    file: Path
    groundtruth_file: Path
    groundtruth_format: GroundTruthFormat
    language: str
    content: str
    pages: int = Field(1, ge=1)
    source_repo: str = ""
    groundtruth_origin: str = ""
    source: str = Field("", description="Top corpus folder of the document: one source in the README.")

    @property
    def metric(self) -> Metric:
        return METRIC_FOR_FORMAT[self.groundtruth_format]


def read_manifest(corpus_dir: Path) -> list[ManifestRow]:
    """All rows of ``corpus_dir/manifest.tsv``; a malformed row is an error, not a silent skip."""
    path = corpus_dir / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest")
    rows: list[ManifestRow] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        for line, record in enumerate(reader, start=2):
            try:
                rows.append(
                    ManifestRow(
                        id=record["id"],
                        kind=record["kind"],
                        file=corpus_dir / record["file"],
                        groundtruth_file=corpus_dir / record["groundtruth_file"],
                        groundtruth_format=GroundTruthFormat(record["groundtruth_format"].strip()),
                        language=record.get("language") or "",
                        content=record.get("content") or "",
                        pages=int(record.get("pages") or 1),
                        source_repo=record.get("source_repo") or "",
                        groundtruth_origin=record.get("groundtruth_origin") or "",
                        source=Path(record["file"]).parts[0] if Path(record["file"]).parts[1:] else "",
                    )
                )
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{path}:{line}: bad manifest row: {exc}") from exc
    return rows


def select_rows(
    rows: list[ManifestRow], *, only: str | None = None, limit: int | None = None
) -> list[ManifestRow]:
    """Rows whose id contains ``only``, at most ``limit`` of them, in manifest order."""
    picked = [row for row in rows if only is None or only in row.id]
    return picked[:limit] if limit is not None else picked
