"""The single-host lease: ``flock`` on one lock file per GPU, plus a ticket queue for priorities.

Why tickets: ``flock`` alone hands a freed lock to an arbitrary blocked waiter, which would let a batch OCR
job jump ahead of an interactive LLM request. So every request first writes a ticket file named
``<999-priority>-<time>-...`` into ``<name>.queue/`` and holds an exclusive ``flock`` on it for as long as it
waits or holds. A request whose ticket has live tickets sorted before it blocks (a shared ``flock``) on the
nearest of them; only the first in line blocks on the lease's own lock file. Every wait is a kernel wait, and
the kernel drops a dead process's locks, so a holder killed with SIGKILL frees the lease immediately and its
waiters wake at once. A blocked ``flock`` cannot time out, so it runs on a helper thread that the caller
abandons at its deadline; the thread lets go of whatever it later obtains.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tierocr.gpu.lease import (
    Cancel,
    Hold,
    HolderRecord,
    Lease,
    LeaseCancelled,
    LeaseStatus,
    LeaseTimeout,
    WaiterRecord,
)

# The holder record's fixed size: rewritten in place, it must never leave a longer old tail behind.
_RECORD_BYTES = 2048


class _FlockWaiter:
    """A blocking ``flock`` on a helper thread; whoever comes second of caller and thread owns the cleanup."""

    def __init__(self, fd: int, op: int) -> None:
        self.fd = fd
        self.op = op
        self.done = threading.Event()
        self._mu = threading.Lock()
        self._abandoned = False
        self._error: OSError | None = None
        threading.Thread(target=self._run, name="flock-wait", daemon=True).start()

    def _run(self) -> None:
        try:
            fcntl.flock(self.fd, self.op)
        except OSError as exc:
            self._error = exc
        with self._mu:
            abandoned = self._abandoned
            self.done.set()
        if abandoned:
            os.close(self.fd)

    def take(self) -> bool:
        """True if the lock was obtained (the caller now owns ``fd``); otherwise hand ``fd`` to the thread."""
        with self._mu:
            if self.done.is_set():
                if self._error is not None:
                    os.close(self.fd)
                    raise self._error
                return True
            self._abandoned = True
            return False


def _wait_flock(
    path: Path, op: int, deadline: float | None, cancel: Cancel, create: bool, lease: str
) -> int | None:
    """Lock ``path``; returns the locked fd, or None if the file vanished (its owner finished)."""
    try:
        fd = os.open(path, os.O_RDONLY | (os.O_CREAT if create else 0), 0o666)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, op | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        pass
    except OSError:
        os.close(fd)
        raise
    waiter = _FlockWaiter(fd, op)
    unregister = cancel.on_cancel(waiter.done.set)
    try:
        waiter.done.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
    finally:
        unregister()
    if waiter.take():
        return fd
    if cancel.is_set():
        raise LeaseCancelled("cancelled while waiting")
    raise LeaseTimeout(f"lease {lease}: not handed over before the deadline")


def _is_locked(path: Path, op: int = fcntl.LOCK_SH) -> bool | None:
    """Whether someone holds a conflicting lock on ``path``; None if it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, op | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class _Ticket:
    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd

    def drop(self) -> None:
        """Unlink first, unlock last: a waiter woken by the unlock must already find the ticket gone."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self.fd)


class FileLease(Lease):
    backend = "file"

    def __init__(self, name: str, lock_dir: Path, default_priority: int, default_timeout_s: float) -> None:
        super().__init__(name, default_priority, default_timeout_s)
        self.lock_dir = Path(lock_dir)
        self.lock_path = self.lock_dir / f"{name}.lock"
        self.holder_path = self.lock_dir / f"{name}.holder.json"
        self.queue_dir = self.lock_dir / f"{name}.queue"

    def _ensure_dirs(self) -> None:
        # World-writable (not sticky) because the guard and the OCR workers may run as different users.
        for folder in (self.lock_dir, self.queue_dir):
            if not folder.is_dir():
                folder.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(PermissionError):
                    folder.chmod(0o777)

    def _write_record(self, data: dict[str, Any]) -> None:
        """Overwrite the holder record in place with one fixed-size ``pwrite``.

        Only the lock holder writes it, so writes never race, and the fencing token in it survives releases.
        In place rather than write-and-rename: renaming over a file makes ext4 flush it, which cost ~1.5 ms
        per acquisition in the benchmark.
        """
        payload = json.dumps(data).encode()
        if len(payload) > _RECORD_BYTES:
            raise ValueError(f"holder record over {_RECORD_BYTES} bytes: {payload[:80]!r}...")
        fd = os.open(self.holder_path, os.O_WRONLY | os.O_CREAT, 0o666)
        try:
            with contextlib.suppress(PermissionError):
                os.fchmod(fd, 0o666)  # other users' processes write it too
            os.pwrite(fd, payload.ljust(_RECORD_BYTES), 0)
        finally:
            os.close(fd)

    def _read_record(self) -> dict[str, Any]:
        try:
            data = json.loads(self.holder_path.read_bytes()[:_RECORD_BYTES])
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _enqueue(self, owner: str, priority: int) -> _Ticket:
        self._ensure_dirs()
        stem = f"{999 - priority:03d}-{time.time_ns():020d}-{os.getpid()}-{owner.rsplit(':', 1)[-1]}"
        record = WaiterRecord(owner, socket.gethostname(), os.getpid(), priority, time.time())
        tmp = self.queue_dir / f".{stem}.tmp"
        tmp.write_text(json.dumps(record.to_dict()))
        fd = os.open(tmp, os.O_RDONLY)
        # Locked before it becomes visible, so a visible ticket without a lock means a dead owner.
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = self.queue_dir / f"{stem}.ticket"
        os.replace(tmp, path)
        return _Ticket(path, fd)

    def _live_tickets(self, prune: bool) -> list[Path]:
        live: list[Path] = []
        for path in sorted(self.queue_dir.glob("*.ticket")):
            state = _is_locked(path)
            if state:
                live.append(path)
            elif state is False and prune:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        return live

    def _nearest_ahead(self, ticket: _Ticket) -> Path | None:
        ahead = [p for p in self._live_tickets(prune=True) if p.name < ticket.path.name]
        return ahead[-1] if ahead else None

    def _acquire(
        self,
        owner: str,
        priority: int,
        deadline: float | None,
        cancel: Cancel,
        on_queued: Callable[[], None] | None = None,
    ) -> Hold:
        ticket = self._enqueue(owner, priority)
        try:
            if on_queued is not None:
                on_queued()
            while True:
                if cancel.is_set():
                    raise LeaseCancelled("cancelled")
                ahead = self._nearest_ahead(ticket)
                if ahead is not None:
                    fd = _wait_flock(ahead, fcntl.LOCK_SH, deadline, cancel, create=False, lease=self.name)
                    if fd is not None:
                        os.close(fd)
                    continue
                lock_fd = _wait_flock(
                    self.lock_path, fcntl.LOCK_EX, deadline, cancel, create=True, lease=self.name
                )
                assert lock_fd is not None
                if self._nearest_ahead(ticket) is not None:
                    os.close(lock_fd)  # someone of higher priority queued while we were blocked: let them in
                    continue
                return self._become_holder(owner, priority, ticket, lock_fd)
        except BaseException:
            ticket.drop()
            raise

    def _become_holder(self, owner: str, priority: int, ticket: _Ticket, lock_fd: int) -> Hold:
        try:
            token = int(self._read_record().get("token", 0)) + 1
            record = HolderRecord(owner, socket.gethostname(), os.getpid(), priority, token, time.time())
            self._write_record({**record.to_dict(), "ticket": ticket.path.name, "held": True})
        except BaseException:
            os.close(lock_fd)
            raise
        return Hold(record, (lock_fd, ticket))

    def _release(self, hold: Hold) -> None:
        lock_fd, ticket = hold.state
        self._write_record({**hold.record.to_dict(), "held": False})
        with contextlib.suppress(FileNotFoundError):
            ticket.path.unlink()
        os.close(lock_fd)
        os.close(ticket.fd)  # last, so waiters blocked on this ticket find the lease lock already free

    def status(self) -> LeaseStatus:
        holder: HolderRecord | None = None
        holder_ticket = None
        data = self._read_record()
        # A record still marked held while nobody holds the lock was left by a holder that was killed.
        if data.get("held") and _is_locked(self.lock_path, fcntl.LOCK_SH):
            with contextlib.suppress(TypeError, KeyError):
                holder, holder_ticket = HolderRecord.from_dict(data), data.get("ticket")
        waiters: list[WaiterRecord] = []
        if self.queue_dir.is_dir():
            for path in self._live_tickets(prune=False):
                if path.name == holder_ticket:
                    continue
                with contextlib.suppress(FileNotFoundError, ValueError, TypeError):
                    waiters.append(WaiterRecord.from_dict(json.loads(path.read_text())))
        last_token = int(data.get("token", 0))
        return LeaseStatus(self.name, self.backend, str(self.lock_dir), holder, waiters, last_token)
