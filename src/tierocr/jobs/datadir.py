"""The data directory belongs to one server at a time, and its disk filling up is an answer, not a crash.

Two servers on one data directory would both "recover" the same running jobs on start and run them
twice, the second taking over work the first is still doing. The first server holds an exclusive
``flock`` on ``<data_dir>/server.lock`` (with its PID written inside) for as long as it runs; a second
one fails to take it and refuses to start, naming the holder. The kernel drops the lock when the holder
dies, however it dies, so a crash never leaves the directory locked.
"""

from __future__ import annotations

import errno
import fcntl
import shutil
from pathlib import Path
from typing import IO

from tierocr.errors import TierOcrError
from tierocr.storage import LockHeldError, hold_lock_file

LOCK_NAME = "server.lock"


class DataDirBusyError(TierOcrError):
    """Another live process holds the data directory."""


class StorageError(TierOcrError):
    """The data directory could not be written (full disk, quota, read-only); the API answers 507."""


def storage_error(what: str, exc: BaseException) -> StorageError:
    """A :class:`StorageError` that says what could not be written and why, in the OS's words."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = "no space left on the data directory's disk"
    elif isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
    else:
        reason = str(exc)  # sqlite3 reports a full disk as "database or disk is full"
    return StorageError(f"cannot store {what}: {reason}")


class DataDirLock:
    """An exclusive hold on a data directory; release it (or exit) to let another server in."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path = path
        self._handle: IO[str] | None = handle

    @classmethod
    def acquire(cls, data_dir: Path) -> DataDirLock:
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / LOCK_NAME
        try:
            handle = hold_lock_file(path)
        except LockHeldError as exc:
            raise DataDirBusyError(
                f"data directory {data_dir} is in use by another tierocr server (pid {exc.holder}); "
                "stop it or give this one its own --data-dir"
            ) from exc
        return cls(path, handle)

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()


def disk_space(data_dir: Path) -> dict[str, int]:
    """Free and total bytes of the data directory's file system."""
    usage = shutil.disk_usage(data_dir)
    return {"free_bytes": usage.free, "total_bytes": usage.total}
