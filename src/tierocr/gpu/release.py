"""A leased OCR-VL batch that leaves the card when it is done: lease, wake, work, release, verify, unlease.

The lease alone only keeps OCR-VL work and the LLM from *running* at the same time. The rule users run by
is stronger: the OCR model does not stay on the card after its batch. So, under the lease, the batch's
server is woken before the first request (vLLM sleeping) and told to let the model go after the last
(Ollama unload, vLLM sleep, vlm-serve unload), and the lease is given back only once the server reports
the model gone. NVML readings before the load, under load and after the release prove it from the card's
side and name the process that kept memory. Each batch leaves a record next to the lease's files, which
`tierocr gpu status` and the API's /health show; a server that cannot release (a plain OpenAI endpoint)
is recorded as "resident: cannot release", never as released.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from tierocr.gpu.nvml import GpuReading, grown, read_gpu

if TYPE_CHECKING:
    from tierocr.config import GpuSettings
    from tierocr.gpu.lease import Lease

log = logging.getLogger(__name__)

RELEASED = "released"
CANNOT_RELEASE = "resident: cannot release"
KEPT_RESIDENT = "resident: gpu.resident is true"
FAILED = "release failed"


@dataclass(frozen=True)
class ReleaseOutcome:
    """What the server said: ``status`` is one of the constants above, ``action`` what was asked of it."""

    backend: str
    status: str
    action: str
    detail: str = ""

    @property
    def released(self) -> bool:
        return self.status == RELEASED


class Releasable(Protocol):
    """A VLM server's controls (see `tierocr.engines.vlm_backends`)."""

    kind: str
    server_holds_lease: bool

    async def probe(self) -> None:
        """Learn what must be known before the lease is taken (e.g. whether the server leases itself)."""

    async def prepare(self) -> None:
        """Under the lease, before the first request: wake the model if it sleeps."""

    async def release(self) -> ReleaseOutcome:
        """Under the lease, after the last request: let the model go and wait until the server says so."""

    def release_plan(self) -> str:
        """What `release` will do, in words, or CANNOT_RELEASE."""


@dataclass
class ReleaseRecord:
    """The last batch's release, as `tierocr gpu status` and /health show it."""

    lease: str
    backend: str
    url: str
    model: str
    status: str
    action: str
    detail: str
    started: float
    finished: float
    total_mb: float | None = None
    before_mb: float | None = None
    loaded_mb: float | None = None
    after_mb: float | None = None
    margin_mb: float | None = None
    memory_ok: bool | None = None
    holders: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReleaseRecord:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})

    def holders_text(self) -> str:
        """The processes that kept memory, as NVML named them."""
        return ", ".join(
            f"pid {h['pid']} ({h['name']}"
            + (f", {h['used_mb']:.0f} MiB)" if h.get("used_mb") is not None else ")")
            for h in self.holders
        )

    def memory_line(self) -> str:
        """The figures in one line: before the load, under load, after the release."""
        if self.before_mb is None or self.after_mb is None:
            return "GPU memory not checked (NVML unavailable)"
        loaded = f", {self.loaded_mb:.0f} MiB under load" if self.loaded_mb is not None else ""
        verdict = "came back" if self.memory_ok else f"did NOT come back (margin {self.margin_mb:.0f} MiB)"
        return (
            f"GPU used {self.before_mb:.0f} MiB before the load{loaded}, {self.after_mb:.0f} MiB after the "
            f"release: {verdict}"
        )


def record_path(gpu: GpuSettings, lease_name: str | None = None) -> Path:
    """Beside the lease's lock files: the one folder every party (workers, API, `gpu status`) shares."""
    return Path(gpu.lock_dir) / f"{lease_name or gpu.lease}.release.json"


def write_record(path: Path, record: ReleaseRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record.to_dict(), indent=1))
    with contextlib.suppress(PermissionError):
        tmp.chmod(0o666)
    os.replace(tmp, path)


def read_record(path: Path) -> ReleaseRecord | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    try:
        return ReleaseRecord.from_dict(data)
    except TypeError:
        return None


def public_url(url: str) -> str:
    """The URL without credentials, fit for a record others read."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


async def _reading(gpu: GpuSettings) -> GpuReading | None:
    return await asyncio.to_thread(read_gpu, gpu.device_index)


def _verdict(
    record: ReleaseRecord, before: GpuReading | None, after: GpuReading | None, margin: float
) -> None:
    if before is None or after is None:
        return
    record.total_mb = round(after.total_mb, 1)
    record.before_mb = round(before.used_mb, 1)
    record.after_mb = round(after.used_mb, 1)
    record.margin_mb = margin
    record.memory_ok = after.used_mb <= before.used_mb + margin
    if not record.memory_ok:
        holders = grown(before, after, margin) or list(after.processes.values())
        record.holders = [{"pid": p.pid, "name": p.name, "used_mb": p.used_mb} for p in holders]


def _warn(record: ReleaseRecord) -> None:
    if record.status == FAILED:
        log.warning("the %s server did not release the OCR-VL model: %s", record.backend, record.detail)
    elif record.status == CANNOT_RELEASE:
        log.warning(
            "the %s server at %s cannot release the OCR-VL model (%s): it stays resident on the card after "
            "the batch; use Ollama, vLLM with sleep mode or tierocr vlm-serve",
            record.backend,
            record.url,
            record.detail,
        )
    if record.memory_ok is False:
        names = record.holders_text() or "no process named by NVML"
        log.warning("%s; still holding memory: %s", record.memory_line(), names)


@contextlib.asynccontextmanager
async def leased_batch(
    lease: Lease, control: Releasable, gpu: GpuSettings, *, url: str, model: str
) -> AsyncIterator[ReleaseRecord | None]:
    """Hold the lease for one batch of requests and leave the card clean before giving it back.

    Yields the record being filled (None when the server takes the lease itself: then it is the server's
    own batch lease that keeps it off the LLM's card and unloads, and the client must not hold the same
    lease around requests the server is waiting to lease). The record is final once the block exits.
    """
    await control.probe()
    if control.server_holds_lease:
        log.debug("%s server at %s takes the GPU lease itself; not holding it here", control.kind, url)
        yield None
        return
    async with lease.acquire():
        started = time.time()
        before = await _reading(gpu)
        record = ReleaseRecord(
            lease=lease.name,
            backend=control.kind,
            url=public_url(url),
            model=model,
            status=FAILED,
            action="",
            detail="the batch ended before the release",
            started=started,
            finished=started,
        )
        try:
            await control.prepare()
            yield record
        finally:
            loaded = await _reading(gpu)
            if gpu.resident:
                outcome = ReleaseOutcome(control.kind, KEPT_RESIDENT, "none")
            else:
                outcome = await control.release()
            after = await _reading(gpu)
            record.status, record.action, record.detail = outcome.status, outcome.action, outcome.detail
            record.finished = time.time()
            record.loaded_mb = round(loaded.used_mb, 1) if loaded is not None else None
            _verdict(record, before, after, gpu.release_margin_mb)
            try:
                write_record(record_path(gpu, lease.name), record)
            except OSError as exc:
                log.warning("cannot write the release record: %s", exc)
            _warn(record)
