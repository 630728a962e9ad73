"""The data directory: held by one server, a full disk answered as 507 JSON with nothing half-written
left behind, and its free space on /health."""

from __future__ import annotations

import errno
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from server_helpers import FakePipeline, LiveServer, pdf_bytes

from tierocr.config import Settings
from tierocr.jobs import store as store_module
from tierocr.jobs.datadir import LOCK_NAME, DataDirBusyError, DataDirLock

SRC = Path(__file__).resolve().parents[2] / "src"


def test_the_data_dir_lock_names_its_holder_and_is_released(tmp_path: Path) -> None:
    first = DataDirLock.acquire(tmp_path)
    with pytest.raises(DataDirBusyError, match=f"pid {os.getpid()}"):
        DataDirLock.acquire(tmp_path)
    assert (tmp_path / LOCK_NAME).read_text().strip() == str(os.getpid())
    first.release()
    DataDirLock.acquire(tmp_path).release()  # free again


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_second_server_on_the_same_data_dir_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIEROCR_")}
    env["PYTHONPATH"] = str(SRC)

    def serve(port: int, **kw: Any) -> subprocess.Popen[str]:
        cmd = [sys.executable, "-m", "tierocr.cli", "serve", "--port", str(port), "--data-dir", str(tmp_path)]
        return subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, **kw)

    first = serve(_free_port())
    assert first.stderr is not None
    try:
        for _ in range(200):  # bounded: uvicorn logs a handful of lines before it listens
            line = first.stderr.readline()
            if "Uvicorn running" in line or not line:
                break
        assert "Uvicorn running" in line, line
        second = serve(_free_port())
        _, err = second.communicate(timeout=120)
    finally:
        first.terminate()
        first.wait(30)
    assert second.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"pid {first.pid}" in lines[0] and "in use" in lines[0], err


def _half_then_enospc(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data[: len(data) // 2])
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def test_a_full_disk_is_a_507_and_leaves_no_partial_input(
    settings: Settings,
    fake: FakePipeline,
    start_server: Callable[..., LiveServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inputs = settings.data_dir / "jobs" / "inputs"
    inputs.mkdir(parents=True)
    (inputs / "0123.part").write_bytes(b"left by a crash")  # removed when the server starts
    server = start_server(settings, pipeline_factory=fake.factory)
    monkeypatch.setattr(store_module, "_write_file", _half_then_enospc)
    with server.client() as c:
        full = c.post("/api/jobs", files={"file": ("a.pdf", pdf_bytes(1))})
        left = sorted(p.name for p in inputs.iterdir())
        monkeypatch.undo()
        again = c.post("/api/jobs", files={"file": ("a.pdf", pdf_bytes(1))})
    assert full.status_code == 507, full.text
    assert "no space left" in full.json()["detail"]
    assert left == []  # neither the half-written upload nor the crash's leftover
    assert again.status_code == 202  # a full disk once does not poison later submissions


def _disk_full_on_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    """Every INSERT fails as SQLite's does on a disk that filled up."""
    if statement.lstrip().upper().startswith("INSERT"):
        raise sqlite3.OperationalError("database or disk is full")


def test_a_full_database_is_a_507_and_drops_the_stored_input(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    from sqlalchemy import event

    server = start_server(settings, pipeline_factory=fake.factory)
    store = server.app.state.tierocr.store
    event.listen(store.pages.engine, "before_cursor_execute", _disk_full_on_insert)
    with server.client() as c:
        r = c.post("/api/jobs", files={"file": ("a.pdf", pdf_bytes(1))})
    assert r.status_code == 507 and "disk is full" in r.json()["detail"]
    assert list(store.inputs.iterdir()) == []


def test_health_reports_the_data_dirs_free_space(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    ok = start_server(settings, pipeline_factory=fake.factory)
    with ok.client() as c:
        healthy = c.get("/health")
    ok.stop()
    # A server whose largest upload no longer fits on the disk is not ready for jobs.
    settings.server.max_upload_bytes = 1 << 62
    full = start_server(settings, pipeline_factory=fake.factory)
    with full.client() as c:
        starved = c.get("/health")
    assert healthy.status_code == 200
    data_dir = healthy.json()["data_dir"]
    assert data_dir["ready"] is True and data_dir["free_bytes"] > 0 and data_dir["total_bytes"] > 0
    assert starved.status_code == 503
    assert starved.json()["data_dir"]["ready"] is False and starved.json()["data_dir"]["detail"]
