"""The pid files of launched servers: one JSON record per server under ``<data_dir>/servers/``.

A pid alone is not an identity (pids are reused), so a record also keeps the process's start time in
clock ticks from /proc and the tag its processes carry in their environment; `alive` compares both.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tierocr.errors import TierOcrError
from tierocr.gpu.procs import read_proc

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ServerError(TierOcrError):
    """A launch or stop that cannot go ahead; the message says why and what to do."""


@dataclass
class ServerRecord:
    name: str
    kind: str
    pid: int
    pgid: int
    tag: str
    start_ticks: int
    argv: list[str]
    host: str
    port: int
    url: str
    health_url: str
    log: str
    fraction: float
    model: str | None = None
    started: float = 0.0
    env: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerRecord:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ServerError(f"server name {name!r}: use up to 64 letters, digits, '.', '_' or '-'")
    return name


def servers_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "servers"


def record_file(data_dir: Path, name: str) -> Path:
    return servers_dir(data_dir) / f"{check_name(name)}.json"


def log_file(data_dir: Path, name: str) -> Path:
    return servers_dir(data_dir) / f"{check_name(name)}.log"


def write(data_dir: Path, record: ServerRecord) -> Path:
    path = record_file(data_dir, record.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record.to_dict(), indent=1))
    os.replace(tmp, path)
    return path


def read(data_dir: Path, name: str) -> ServerRecord | None:
    try:
        return ServerRecord.from_dict(json.loads(record_file(data_dir, name).read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise ServerError(f"{record_file(data_dir, name)}: unreadable pid file ({exc}); delete it") from exc


def all_records(data_dir: Path) -> list[ServerRecord]:
    folder = servers_dir(data_dir)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        record = read(data_dir, path.stem)
        if record is not None:
            out.append(record)
    return out


def remove(data_dir: Path, name: str) -> None:
    record_file(data_dir, name).unlink(missing_ok=True)


def leader_alive(record: ServerRecord) -> bool:
    """Whether the launched process itself still runs (same pid *and* same start time, not a zombie)."""
    info = read_proc(record.pid)
    return info is not None and info.start_ticks == record.start_ticks and not info.zombie
