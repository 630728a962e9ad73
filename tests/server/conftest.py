"""Fixtures of the server tests: settings under a tmp data dir, a fake pipeline, servers started on demand."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from server_helpers import FakeEngine, FakePipeline, LiveServer

from tierocr.config import Settings
from tierocr.server.app import create_app


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.model_validate({"data_dir": str(tmp_path / "data"), "ocr": {"fix_rotation": False}})


@pytest.fixture
def fake() -> FakePipeline:
    return FakePipeline()


@pytest.fixture
def start_server() -> Iterator[Callable[..., LiveServer]]:
    """Start servers on demand (several per test for restarts); all are stopped at the end."""
    servers: list[LiveServer] = []

    def start(settings: Settings, **factories: Any) -> LiveServer:
        factories.setdefault("engine_factory", lambda _s: FakeEngine())
        server = LiveServer(create_app(settings, **factories))
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.thread.is_alive():
            server.stop()


@pytest.fixture
def live(settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]) -> LiveServer:
    return start_server(settings, pipeline_factory=fake.factory)
