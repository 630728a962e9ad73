"""Several processes contend for one lease; their hold log proves mutual exclusion and fencing order."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
from pathlib import Path
from typing import Any

from gpu_lease_helpers import contend, hold_forever

from tierocr.config import GpuSettings
from tierocr.gpu import create_lease
from tierocr.gpu.audit import HoldInterval, audit, read_intervals

HOLDERS = 4
ROUNDS = 12


def test_contending_processes_never_overlap(backend: dict[str, Any], lease_name: str, tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    log = tmp_path / "holds.log"
    procs = [
        ctx.Process(target=contend, args=(backend, lease_name, str(log), ROUNDS, 0.004, seed, go))
        for seed in range(HOLDERS)
    ]
    for proc in procs:
        proc.start()
    go.set()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    result = audit(read_intervals(log))
    print(f"\n{backend['backend']}: {result}")
    assert result.holders == HOLDERS
    assert result.acquisitions == HOLDERS * ROUNDS
    assert result.overlaps == 0
    assert result.token_regressions == 0


def test_audit_catches_overlaps_and_token_regressions() -> None:
    clean = [HoldInterval(0, 10, 1, 1), HoldInterval(10, 20, 2, 2)]
    assert audit(clean).overlaps == 0
    overlapping = [HoldInterval(0, 10, 1, 1), HoldInterval(5, 20, 2, 2), HoldInterval(30, 40, 1, 2)]
    result = audit(overlapping)
    assert (result.overlaps, result.token_regressions, result.holders) == (1, 1, 2)


def test_killed_holder_loses_the_lease(backend: dict[str, Any], lease_name: str) -> None:
    """A SIGKILLed holder runs no cleanup: flock is dropped by the kernel at once, Redis expires it in a TTL.
    A waiter already queued must then get the lease; its timeout is many TTLs, never reached if it works."""
    ctx = mp.get_context("spawn")
    held, token = ctx.Event(), ctx.Value("q", 0)
    child = ctx.Process(target=hold_forever, args=(backend, lease_name, held, token))
    child.start()
    try:
        assert held.wait(30)
        lease = create_lease(lease_name, GpuSettings(**backend))
        state = lease.status()
        assert state.holder is not None
        assert state.holder.pid == child.pid
        got: list[int] = []
        queued = threading.Event()

        def waiter() -> None:
            with lease.acquire(timeout=20, on_queued=queued.set) as hold:
                got.append(hold.token)

        thread = threading.Thread(target=waiter)
        thread.start()
        assert queued.wait(10)
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        thread.join(30)
        assert got, "the waiter never got the lease after its holder was killed"
        assert got[0] > token.value
    finally:
        if child.is_alive():
            child.kill()
        child.join(10)
    assert child.exitcode == -signal.SIGKILL


def test_file_lease_survives_dead_waiter_tickets(tmp_path: Path, lease_name: str) -> None:
    """A waiter killed while queued leaves a ticket file behind; it must not block the queue."""
    settings = GpuSettings(backend="file", lock_dir=tmp_path)
    lease = create_lease(lease_name, settings)
    queue = tmp_path / f"{lease_name}.queue"
    queue.mkdir(parents=True)
    (queue / f"000-{0:020d}-1-dead.ticket").write_text("{}")  # sorts first, locked by nobody
    for _ in range(2):
        with lease.acquire(timeout=5) as hold:
            assert hold.token > 0
    assert not (queue / f"000-{0:020d}-1-dead.ticket").exists()
