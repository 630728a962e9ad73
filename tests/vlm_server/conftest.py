"""A tiny real PaddleOCR-VL built once per session, and a server per module over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("fastapi")

from vlm_server_helpers import Hooks, RunningServer, settings_for, start_server

from tierocr.vlm_server.testing import build_tiny_paddleocr_vl


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_paddleocr_vl(tmp_path_factory.mktemp("models") / "tiny-paddleocr-vl")


@pytest.fixture(scope="module")
def server(tiny_model: Path) -> Iterator[RunningServer]:
    running, stop = start_server(settings_for(tiny_model), Hooks())
    yield running
    stop()
