"""A named, prioritised, cross-process lease on one GPU, usable from threads and from asyncio alike.

The VLM server and the escalation client are asyncio code while batch workers are plain functions, so one
request object serves both ``with lease.acquire(...) as hold`` and ``async with lease.acquire(...) as hold``.
Backends implement a blocking, cancellable ``_acquire``; the async face runs it on a dedicated thread so a
burst of waiters never starves the event loop's default executor.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from tierocr.errors import TierOcrError

if TYPE_CHECKING:
    from tierocr.config import GpuSettings

log = logging.getLogger(__name__)


class LeaseError(TierOcrError):
    """The lease could not be taken or kept."""


class LeaseTimeout(LeaseError):
    """Nobody handed the lease over before the caller's deadline."""


class LeaseLost(LeaseError):
    """A holder's lease expired under it (Redis: renewals failed for longer than the TTL)."""


class LeaseCancelled(LeaseError):
    """The waiting task was cancelled; raised inside the worker thread only."""


class _Record:
    """JSON round trip of the lease's records (written by one process, read by `gpu status` in another)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
        return cls(**{k: data[k] for k in fields if k in data})


@dataclass(frozen=True)
class HolderRecord(_Record):
    """Who holds the lease: enough for `tierocr gpu status` and for fencing stale writers."""

    owner: str
    host: str
    pid: int
    priority: int
    token: int
    since: float
    expires_in_s: float | None = None


@dataclass(frozen=True)
class WaiterRecord(_Record):
    """One queued request, in the order the lease will be handed out."""

    owner: str
    host: str
    pid: int
    priority: int
    since: float


@dataclass(frozen=True)
class LeaseStatus:
    name: str
    backend: str
    where: str
    holder: HolderRecord | None
    waiters: list[WaiterRecord] = field(default_factory=list)
    last_token: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "backend": self.backend,
            "where": self.where,
            "holder": self.holder.to_dict() if self.holder else None,
            "waiters": [w.to_dict() for w in self.waiters],
            "last_token": self.last_token,
        }


def new_owner_id() -> str:
    """Host and pid let a human find the holder; the random part tells two requests of one process apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:10]}"


class Cancel:
    """A cancellation flag whose setting also runs wake-up hooks, so a blocked wait ends at once."""

    def __init__(self) -> None:
        self._mu = threading.Lock()
        self._set = False
        self._hooks: list[Callable[[], None]] = []

    def cancel(self) -> None:
        with self._mu:
            self._set = True
            hooks = list(self._hooks)
        for hook in hooks:
            hook()

    def is_set(self) -> bool:
        return self._set

    def on_cancel(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Register ``hook``; returns the function that unregisters it. Runs it now if already cancelled."""
        with self._mu:
            if not self._set:
                self._hooks.append(hook)
                return lambda: self._discard(hook)
        hook()
        return lambda: None

    def _discard(self, hook: Callable[[], None]) -> None:
        with self._mu:
            if hook in self._hooks:
                self._hooks.remove(hook)


class Hold:
    """What a holder gets. ``token`` is the fencing token: strictly increasing per lease name, so a resource
    that remembers the highest token it has seen can refuse a writer whose lease has since passed on."""

    def __init__(self, record: HolderRecord, state: Any = None) -> None:
        self.record = record
        self.state = state
        self._lost = threading.Event()

    @property
    def token(self) -> int:
        return self.record.token

    @property
    def owner(self) -> str:
        return self.record.owner

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def mark_lost(self) -> None:
        self._lost.set()

    def wait_lost(self, timeout: float | None = None) -> bool:
        """Block until the lease is lost or ``timeout`` passes; True if lost. For watchdogs."""
        return self._lost.wait(timeout)

    def ensure_held(self) -> None:
        """Call between units of GPU work: raises :class:`LeaseLost` if the lease lapsed meanwhile."""
        if self.lost:
            raise LeaseLost(f"lease token {self.token} of {self.owner} expired while held")


class Lease(ABC):
    """A named lease on one GPU. Subclasses block in the kernel or the server, never in a sleep loop."""

    backend: str = "?"

    def __init__(self, name: str, default_priority: int, default_timeout_s: float) -> None:
        self.name = name
        self.default_priority = default_priority
        self.default_timeout_s = default_timeout_s

    def acquire(
        self,
        priority: int | None = None,
        timeout: float | None = None,
        on_queued: Callable[[], None] | None = None,
    ) -> LeaseRequest:
        """A single-use request; enter it with ``with`` or ``async with``.

        Higher ``priority`` goes first (LLM requests through the guard ahead of batch OCR); equal priorities
        are served in arrival order. ``timeout`` in seconds, ``math.inf`` to wait for ever; None takes the
        configured defaults. ``on_queued`` is called (on the waiting thread) once the request stands in the
        queue, e.g. to log "waiting for the GPU".
        """
        prio = self.default_priority if priority is None else priority
        if not 0 <= prio <= 999:
            raise ValueError(f"lease priority {prio} outside 0..999")
        return LeaseRequest(self, prio, self.default_timeout_s if timeout is None else timeout, on_queued)

    @abstractmethod
    def _acquire(
        self,
        owner: str,
        priority: int,
        deadline: float | None,
        cancel: Cancel,
        on_queued: Callable[[], None] | None = None,
    ) -> Hold:
        """Block until held; ``deadline`` is on ``time.monotonic()``. Raises LeaseTimeout/LeaseCancelled."""

    @abstractmethod
    def _release(self, hold: Hold) -> None:
        """Give the lease up and wake the next waiter; a no-op when it was already lost."""

    @abstractmethod
    def status(self) -> LeaseStatus:
        """Current holder and queue, read without taking the lease."""

    def close(self) -> None:  # noqa: B027 - only network backends have something to free
        """Free connections; the lease object is unusable afterwards."""


class LeaseRequest:
    """One acquisition. The async path is cancellation-safe: a lease granted to a cancelled task is
    released at once by whichever side notices, so it is never held by nobody."""

    def __init__(
        self, lease: Lease, priority: int, timeout: float, on_queued: Callable[[], None] | None = None
    ) -> None:
        self._lease = lease
        self._on_queued = on_queued
        self.priority = priority
        self.timeout = timeout
        self.owner = new_owner_id()
        self._hold: Hold | None = None
        self._used = False

    def _deadline(self) -> float | None:
        return None if math.isinf(self.timeout) else time.monotonic() + max(0.0, self.timeout)

    def _start(self) -> None:
        if self._used:
            raise RuntimeError("a LeaseRequest is single-use; call lease.acquire() again")
        self._used = True

    def __enter__(self) -> Hold:
        self._start()
        self._hold = self._lease._acquire(
            self.owner, self.priority, self._deadline(), Cancel(), self._on_queued
        )
        return self._hold

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        hold, self._hold = self._hold, None
        if hold is not None:
            self._lease._release(hold)

    async def __aenter__(self) -> Hold:
        self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Hold] = loop.create_future()
        cancel = Cancel()
        mu = threading.Lock()
        granted: list[Hold] = []
        deadline = self._deadline()

        def deliver(result: Hold | BaseException) -> None:
            if future.done():
                return
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

        def worker() -> None:
            try:
                hold = self._lease._acquire(self.owner, self.priority, deadline, cancel, self._on_queued)
            except LeaseCancelled:
                return
            except BaseException as exc:  # handed to the awaiting task, which re-raises it
                self._post(loop, deliver, exc)
                return
            with mu:
                abandoned = cancel.is_set()
                if not abandoned:
                    granted.append(hold)
            if abandoned or not self._post(loop, deliver, hold):
                self._lease._release(hold)

        threading.Thread(target=worker, name=f"lease-wait-{self._lease.name}", daemon=True).start()
        try:
            self._hold = await future
        except asyncio.CancelledError:
            with mu:
                cancel.cancel()
                late = granted[0] if granted else None
            if late is not None:
                self._lease._release(late)
            raise
        return self._hold

    @staticmethod
    def _post(loop: asyncio.AbstractEventLoop, fn: Callable[[Any], None], arg: Any) -> bool:
        try:
            loop.call_soon_threadsafe(fn, arg)
        except RuntimeError:  # the loop has closed: nobody will ever use the result
            return False
        return True

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        hold, self._hold = self._hold, None
        if hold is not None:
            await _in_thread(self._lease._release, hold)


async def _in_thread(fn: Callable[[Hold], None], hold: Hold) -> None:
    """Run ``fn(hold)`` on its own thread: not the default executor, whose few workers may all be busy
    while the GPU sits idle under a lease nobody can release. The thread finishes even if we are cancelled."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    def run() -> None:
        error: BaseException | None = None
        try:
            fn(hold)
        except BaseException as exc:  # handed to the awaiting task
            error = exc
        LeaseRequest._post(loop, settle, error)

    threading.Thread(target=run, name="lease-release", daemon=True).start()
    await future


def create_lease(name: str | None, settings: GpuSettings) -> Lease:
    """The lease named ``name`` (``settings.lease`` when None) on the configured backend.

    Create one per process and reuse it: the Redis backend keeps a connection pool on it.
    """
    lease_name = name or settings.lease
    if not lease_name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"lease name {lease_name!r}: use letters, digits, '-', '_' and '.' only")
    if settings.backend == "redis":
        try:
            from tierocr.gpu.redis_lease import RedisLease
        except ImportError as exc:
            raise LeaseError(
                "the redis backend needs the redis package: pip install 'tierocr[scale]'"
            ) from exc
        return RedisLease(
            lease_name,
            settings.redis_url,
            ttl_s=settings.ttl_s,
            renew_interval_s=settings.renew_interval_s,
            default_priority=settings.default_priority,
            default_timeout_s=settings.acquire_timeout_s,
        )
    from tierocr.gpu.file_lease import FileLease

    return FileLease(
        lease_name,
        settings.lock_dir,
        default_priority=settings.default_priority,
        default_timeout_s=settings.acquire_timeout_s,
    )
