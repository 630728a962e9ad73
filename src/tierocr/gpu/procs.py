"""The process table, read from /proc: who belongs to a launched server, who holds the NVIDIA devices.

Killing a process group is not enough to free a card: vLLM's EngineCore (and any child that called
``setsid``) lives outside its parent's group, and once the parent is killed with SIGKILL it is re-parented
to init, so not even the parent chain leads to it. `tierocr launch` therefore marks every server with an
environment variable that children inherit (``TIEROCR_SERVER_ID``); /proc/<pid>/environ finds them all,
whatever group, session or parent they ended up with. Exits are awaited on pidfds, not by polling.
"""

from __future__ import annotations

import contextlib
import os
import select
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TAG_VARIABLE = "TIEROCR_SERVER_ID"
_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    pgid: int
    sid: int
    state: str
    start_ticks: int
    name: str

    @property
    def zombie(self) -> bool:
        """Exited but not yet reaped: it holds no memory and no devices any more."""
        return self.state in ("Z", "X")


def read_proc(pid: int) -> ProcInfo | None:
    """One process's stat line, or None when it is gone (or /proc cannot show it)."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # comm may hold spaces and parentheses: it ends at the last ')'.
    head, _, rest = raw.rpartition(")")
    name = head.partition("(")[2]
    fields = rest.split()
    if len(fields) < 20:
        return None
    return ProcInfo(
        pid=pid,
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        sid=int(fields[3]),
        state=fields[0],
        start_ticks=int(fields[19]),
        name=name,
    )


def all_processes() -> list[ProcInfo]:
    out = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            info = read_proc(int(entry.name))
            if info is not None:
                out.append(info)
    return out


def has_tag(pid: int, tag: str) -> bool:
    """Whether the process was started with ``TIEROCR_SERVER_ID=<tag>`` (inherited from a launch)."""
    try:
        environ = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:  # another user's process, or gone
        return False
    return f"{TAG_VARIABLE}={tag}".encode() in environ.split(b"\0")


def server_processes(pgid: int, tag: str, leader: int | None = None) -> list[ProcInfo]:
    """Every live process of a launched server: its group, the leader's descendants and every process
    carrying its tag (children that changed group or lost their parent). Zombies are left out."""
    table = all_processes()
    me = os.getpid()
    chosen: dict[int, ProcInfo] = {}
    children: dict[int, list[ProcInfo]] = {}
    for info in table:
        children.setdefault(info.ppid, []).append(info)
        if info.pid != me and (info.pgid == pgid or has_tag(info.pid, tag)):
            chosen[info.pid] = info
    roots = [leader] if leader is not None else []
    roots += list(chosen)
    while roots:
        for child in children.get(roots.pop(), []):
            if child.pid not in chosen and child.pid != me:
                chosen[child.pid] = child
                roots.append(child.pid)
    return sorted((p for p in chosen.values() if not p.zombie), key=lambda p: p.pid)


def _links_to_nvidia(pid: int) -> list[str]:
    devices: set[str] = set()
    with contextlib.suppress(OSError):
        for fd in (_PROC / str(pid) / "fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("/dev/nvidia"):
                    devices.add(target)
    if not devices:
        with contextlib.suppress(OSError), (_PROC / str(pid) / "maps").open() as maps:
            for line in maps:
                path = line.rstrip("\n").rpartition(" ")[2]
                if path.startswith("/dev/nvidia"):
                    devices.add(path)
    return sorted(devices)


def nvidia_holders(pids: Iterable[int] | None = None) -> dict[int, list[str]]:
    """Processes that have an NVIDIA device open or mapped, with the devices: the ones that can hold GPU
    memory, found even where NVML's process list is empty (a container's own PID namespace)."""
    candidates = [p.pid for p in all_processes() if not p.zombie] if pids is None else list(pids)
    found = {}
    for pid in candidates:
        devices = _links_to_nvidia(pid)
        if devices:
            found[pid] = devices
    return found


def wait_exit(pids: Iterable[int], timeout: float) -> set[int]:
    """Wait until every process in ``pids`` has exited, or ``timeout`` passes; returns those still alive.

    Each wait is on a pidfd, which becomes readable when its process exits, so this returns the moment
    the last one goes (without being their parent, and without polling /proc).
    """
    fds: dict[int, int] = {}
    try:
        for pid in pids:
            try:
                fds[os.pidfd_open(pid)] = pid
            except ProcessLookupError:
                continue
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        alive = dict(fds)
        while alive:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for fd, _ in poller.poll(left * 1000):
                poller.unregister(fd)
                alive.pop(fd, None)
        return set(alive.values())
    finally:
        for fd in fds:
            os.close(fd)


def signal_all(pids: Iterable[int], sig: int) -> None:
    """Send ``sig`` to each process; one that is already gone is not an error."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
