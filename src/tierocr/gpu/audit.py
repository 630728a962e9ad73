"""A hold log and its audit: the evidence that no two holders ever overlapped.

Holders append one line per hold to a shared file with ``O_APPEND`` (a single small write is atomic on a
local file system), stamped with ``CLOCK_MONOTONIC``, which on Linux is one clock for every process on the
host. The tests and ``bench/lease.py`` read the log back and count overlaps and fencing-token regressions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HoldInterval:
    start_ns: int
    end_ns: int
    pid: int
    token: int


@dataclass(frozen=True)
class AuditResult:
    holders: int
    acquisitions: int
    overlaps: int
    token_regressions: int


def append_interval(path: Path, interval: HoldInterval) -> None:
    line = f"{interval.start_ns} {interval.end_ns} {interval.pid} {interval.token}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_intervals(path: Path) -> list[HoldInterval]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        start, end, pid, token = (int(x) for x in line.split())
        out.append(HoldInterval(start, end, pid, token))
    return out


def audit(intervals: list[HoldInterval]) -> AuditResult:
    """Count holds that began before an earlier one ended, and tokens not above their predecessor's."""
    ordered = sorted(intervals, key=lambda i: i.start_ns)
    overlaps = regressions = 0
    latest_end = None
    last_token = None
    for item in ordered:
        if latest_end is not None and item.start_ns < latest_end:
            overlaps += 1
        latest_end = item.end_ns if latest_end is None else max(latest_end, item.end_ns)
        if last_token is not None and item.token <= last_token:
            regressions += 1
        last_token = item.token
    return AuditResult(len({i.pid for i in intervals}), len(intervals), overlaps, regressions)


def cross_overlaps(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> int:
    """Pairs (one from each side) of ``(start, end)`` intervals that intersect: for sides that may overlap
    among themselves (concurrent LLM requests sharing one hold) but never with the other side."""
    return sum(1 for s1, e1 in a for s2, e2 in b if s1 < e2 and s2 < e1)
