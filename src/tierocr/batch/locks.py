"""One process per run: a second `tierocr batch` on the same run is refused instead of let in.

On start a run puts back the pages a dead process left running; were another process still running
them, they would be read twice. SQLite stores take an exclusive ``flock`` on a file beside the database
(with the holder's PID inside); PostgreSQL stores a session advisory lock, held by one connection kept
open for the run. Both are dropped by the kernel or the server when the holder dies, however it dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import text

from tierocr.errors import TierOcrError
from tierocr.storage import LockHeldError, hold_lock_file

if TYPE_CHECKING:
    from tierocr.batch.store import PageStore


class RunBusyError(TierOcrError):
    """Another live process holds the run."""


class RunLock:
    """Held until :meth:`release` (or the process ends); a context manager."""

    def __init__(self, handle: IO[str] | None = None, conn: Any = None) -> None:
        self._handle = handle
        self._conn = conn

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # the server may be gone; its lock went with the session
                conn.close()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _advisory_key(run_id: str) -> int:
    return int(hashlib.sha256(run_id.encode()).hexdigest()[:15], 16)


def acquire_run_lock(store: PageStore, run_id: str) -> RunLock:
    if store.dialect == "postgresql":
        conn = store.engine.connect()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _advisory_key(run_id)}).scalar()
        conn.commit()
        if not got:
            conn.close()
            raise RunBusyError(f"run {run_id} in {store.label} is in use by another tierocr process")
        return RunLock(conn=conn)
    if store.path is None:  # an in-memory database belongs to this process anyway
        return RunLock()
    try:
        handle = hold_lock_file(Path(f"{store.path}.{run_id}.lock"))
    except LockHeldError as exc:
        raise RunBusyError(
            f"run {run_id} in {store.label} is in use by another tierocr process (pid {exc.holder})"
        ) from exc
    return RunLock(handle=handle)
