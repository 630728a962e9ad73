"""Storage primitives shared by the API's data directory, the batch store and the search index.

Each of them keeps its state in SQLite or PostgreSQL and must not be used by two processes at once; the
URL rules and the PID-file lock are the same everywhere, so they live here, below all three.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO


def sqlalchemy_url(db: str, what: str, error: type[Exception]) -> str:
    """A SQLAlchemy URL for a SQLite path or a postgres(ql):// URL (driven by the BSD-licensed pg8000);
    anything else raises ``error`` naming ``what`` the database is for."""
    for prefix in ("postgresql+pg8000://", "postgresql://", "postgres://"):
        if db.startswith(prefix):
            return "postgresql+pg8000://" + db[len(prefix) :]
    if db.startswith("sqlite:"):
        return db
    if "://" in db:
        raise error(f"{what} {db!r}: only SQLite paths and postgresql:// URLs are supported")
    return f"sqlite:///{Path(db).expanduser()}"


class LockHeldError(RuntimeError):
    """The lock file is held by another process; ``holder`` is the PID it wrote, or "unknown"."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"held by pid {holder}")
        self.holder = holder


def hold_lock_file(path: Path) -> IO[str]:
    """Take an exclusive flock on ``path`` and write this process's PID in it; the lock lasts as long as
    the returned handle is open (or the process lives). A lock held elsewhere raises
    :class:`LockHeldError` at once, with the holder's PID, rather than waiting for it."""
    handle = path.open("a+", encoding="ascii")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise LockHeldError(holder) from exc
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
