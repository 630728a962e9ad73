"""Fixtures shared by the stage tests: settings, generated documents and the evaluation corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from tierocr.config import Settings

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings from defaults only, whatever TIEROCR_* variables the developer's shell carries."""
    import os

    for key in list(os.environ):
        if key.startswith("TIEROCR_"):
            monkeypatch.delenv(key)
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "manifest.tsv").is_file():
        pytest.skip(f"evaluation corpus not found at {CORPUS}")
    return CORPUS
