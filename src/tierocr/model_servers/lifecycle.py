"""Start a model server in its own process group and wait until it is healthy; stop all of it.

Starting: ``setsid`` puts the server in a new session and process group, so `stop` can signal the group
at once and a Ctrl-C in the launching terminal does not reach it. Its environment carries a tag
(`tierocr.gpu.procs.TAG_VARIABLE`) that every child inherits. The health endpoint is read with a doubling
pause, and the pause is a wait on the server process itself, so a server that dies while starting is
noticed at once rather than at the timeout.

Stopping: SIGTERM to the group and to every tagged process outside it (vLLM's EngineCore, a child that
called ``setsid``), a wait on their pidfds for `gpu.stop_grace_s`, SIGKILL for what is left, and a final
look at /proc and, where NVML is available, at the card: which of its processes still hold memory.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tierocr.gpu.nvml import GpuReading, process_name, read_gpu
from tierocr.gpu.procs import (
    TAG_VARIABLE,
    ProcInfo,
    has_tag,
    nvidia_holders,
    read_proc,
    server_processes,
    signal_all,
    wait_exit,
)
from tierocr.model_servers import registry
from tierocr.model_servers.registry import ServerError, ServerRecord
from tierocr.model_servers.specs import LaunchSpec

Echo = Callable[[str], None]
_FIRST_PAUSE_S = 0.1
_MAX_PAUSE_S = 2.0
_KILL_WAIT_S = 10.0


def start(spec: LaunchSpec, name: str, data_dir: Path) -> tuple[ServerRecord, subprocess.Popen[bytes]]:
    """Start the server detached, its output appended to its log file; the pid file is written at once
    so that `tierocr stop` finds it even if this launch is interrupted."""
    log_path = registry.log_file(data_dir, name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex
    env = {**os.environ, **spec.env, TAG_VARIABLE: tag}
    with log_path.open("ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(spec.argv)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                spec.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                close_fds=True,
            )
        except FileNotFoundError as exc:
            raise ServerError(
                f"{spec.argv[0]}: program not found; install it or give its path with --exec"
            ) from exc
        except PermissionError as exc:
            raise ServerError(f"{spec.argv[0]}: not executable ({exc})") from exc
    info = read_proc(proc.pid)
    record = ServerRecord(
        name=name,
        kind=spec.kind,
        pid=proc.pid,
        pgid=proc.pid,  # start_new_session: the server leads its own group
        tag=tag,
        start_ticks=info.start_ticks if info is not None else 0,
        argv=spec.argv,
        host=spec.host,
        port=spec.port,
        url=spec.url,
        health_url=spec.health_url,
        log=str(log_path),
        fraction=spec.fraction,
        model=spec.model,
        started=time.time(),
        env=spec.env,
    )
    registry.write(data_dir, record)
    return record, proc


def log_tail(path: str, lines: int = 15) -> str:
    try:
        text = Path(path).read_bytes()[-8192:].decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_healthy(
    record: ServerRecord, proc: subprocess.Popen[bytes], timeout: float, progress: Callable[[float], None]
) -> None:
    """Return once the health endpoint answers 200; ServerError if the server exits or time runs out."""
    import httpx

    started = time.monotonic()
    deadline = started + timeout
    pause = _FIRST_PAUSE_S
    with httpx.Client(timeout=2.0, trust_env=False) as http:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if http.get(record.health_url).status_code == 200:
                    return
            left = deadline - time.monotonic()
            if left <= 0:
                raise ServerError(
                    f"{record.name} did not answer {record.health_url} within {timeout:g} s "
                    f"(gpu.launch_timeout_s, --timeout); last lines of {record.log}:\n{log_tail(record.log)}"
                )
            progress(time.monotonic() - started)
            try:
                code = proc.wait(timeout=min(pause, left))
            except subprocess.TimeoutExpired:
                pause = min(pause * 2, _MAX_PAUSE_S)
                continue
            raise ServerError(
                f"{record.name} exited with code {code} before it was healthy; last lines of {record.log}:\n"
                f"{log_tail(record.log)}"
            )


@dataclass
class StopReport:
    name: str
    signalled: list[ProcInfo] = field(default_factory=list)
    killed: list[int] = field(default_factory=list)
    left: list[ProcInfo] = field(default_factory=list)
    gpu_lines: list[str] = field(default_factory=list)
    holding: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.left and not self.holding


def _members(record: ServerRecord) -> list[ProcInfo]:
    """The server's live processes. Once the leader is gone its group id could in principle be reused, so
    then only processes carrying the server's tag count."""
    if registry.leader_alive(record):
        return server_processes(record.pgid, record.tag, record.pid)
    return [p for p in server_processes(record.pgid, record.tag) if has_tag(p.pid, record.tag)]


def _signal(record: ServerRecord, procs: list[ProcInfo], sig: int) -> None:
    if registry.leader_alive(record):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record.pgid, sig)
    signal_all([p.pid for p in procs], sig)


def describe(p: ProcInfo, record: ServerRecord) -> str:
    where = "" if p.pgid == record.pgid else f", group {p.pgid}: left the server's group"
    name = process_name(p.pid)
    return f"{p.pid} ({p.name if name == '?' else name}{where})"


def stop(record: ServerRecord, grace_s: float, device: int, margin_mb: float, echo: Echo) -> StopReport:
    """End every process of ``record``'s server and check that the card got its memory back."""
    report = StopReport(record.name)
    before = read_gpu(device)
    procs = _members(record)
    report.signalled = procs
    ours = {p.pid for p in procs}
    if not procs:
        echo(f"  no process of {record.name} is running")
    else:
        echo(f"  SIGTERM to {len(procs)}: " + ", ".join(describe(p, record) for p in procs))
        _signal(record, procs, signal.SIGTERM)
        alive = wait_exit(ours, grace_s)
        rest = _members(record)
        if alive or rest:
            ours |= {p.pid for p in rest}
            report.killed = sorted(alive | {p.pid for p in rest})
            echo(f"  still running after {grace_s:g} s: SIGKILL to {', '.join(map(str, report.killed))}")
            _signal(record, rest, signal.SIGKILL)
            wait_exit(report.killed, _KILL_WAIT_S)
    report.left = _members(record)
    echo(f"  processes left: {len(report.left)}")
    for p in report.left:
        echo(f"    {describe(p, record)}")
    _check_gpu(report, ours, before, read_gpu(device), margin_mb, device)
    for line in report.gpu_lines:
        echo(f"  {line}")
    return report


def _check_gpu(
    report: StopReport,
    ours: set[int],
    before: GpuReading | None,
    after: GpuReading | None,
    margin_mb: float,
    device: int,
) -> None:
    for pid, devices in nvidia_holders(p.pid for p in report.left).items():
        report.holding.append(f"pid {pid} still has {', '.join(devices)} open")
    if before is None or after is None:
        report.gpu_lines.append("GPU memory: not checked (NVML unavailable)")
        report.gpu_lines += report.holding
        return
    freed = before.used_mb - after.used_mb
    report.gpu_lines.append(
        f"GPU {device}: {before.used_mb:.0f} MiB used before the stop, {after.used_mb:.0f} MiB after "
        f"(freed {freed:.0f} MiB)"
    )
    held = sum(p.used_mb or 0.0 for pid, p in before.processes.items() if pid in ours)
    for pid in sorted(ours & after.processes.keys()):
        report.holding.append(f"still holding memory: {after.processes[pid].describe()}")
    if not report.holding and held and freed < held - margin_mb:
        others = ", ".join(p.describe() for p in after.processes.values()) or "no process NVML can name"
        report.holding.append(
            f"memory did not come back: the server's processes held {held:.0f} MiB, {freed:.0f} MiB were "
            f"freed; on the card now: {others}"
        )
    report.gpu_lines += report.holding


def progress_printer(name: str, url: str, log: str) -> Callable[[float], None]:
    """A one-line progress display on a terminal; a line every 10 s otherwise (logs, CI)."""
    tty = sys.stderr.isatty()
    last = [-10.0]

    def show(elapsed: float) -> None:
        text = f"waiting for {name} at {url}: {elapsed:.0f} s (log: {log})"
        if tty:
            sys.stderr.write(f"\r{text}")
            sys.stderr.flush()
        elif elapsed - last[0] >= 10.0:
            last[0] = elapsed
            sys.stderr.write(f"{text}\n")
            sys.stderr.flush()

    return show
