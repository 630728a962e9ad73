"""`tierocr deploy up`: write a local plan's units and env files, or a compose plan's env file and start it.

A dry run is the default where the tool that would act is missing (no systemd, no Docker): it prints what
would be written and run, so the same command documents itself on a laptop and acts on the server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tierocr.config import Settings
from tierocr.deploy.plan import Plan
from tierocr.deploy.units import RenderedFile, local_files, render_env, unit_file_name
from tierocr.errors import TierOcrError


class UpError(TierOcrError):
    """A file could not be written or a command failed; names which and why."""


def up(plan: Plan, settings: Settings, *, dry_run: bool | None, root: Path, env_file: Path) -> Iterator[str]:
    if plan.target == "local":
        yield from _local(plan, settings, dry_run, root)
    elif plan.target == "compose":
        yield from _compose(plan, settings, dry_run, env_file)
    else:
        raise UpError(f"deploy up runs local and compose plans, not {plan.target}")


def compose_command() -> list[str] | None:
    """`docker compose` (the plugin) or the standalone `docker-compose` v2, whichever works here."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    standalone = shutil.which("docker-compose") or shutil.which(
        "docker-compose", path=str(Path(sys.executable).parent)
    )
    return [standalone] if standalone else None


def _write(file: RenderedFile, root: Path) -> Path:
    target = root / str(file.path).lstrip("/")
    tmp = target.with_name(target.name + ".tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(file.text, encoding="utf-8")
        tmp.chmod(file.mode)
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UpError(f"{target}: cannot write ({exc.strerror})") from exc
    return target


def _local(plan: Plan, settings: Settings, dry_run: bool | None, root: Path) -> Iterator[str]:
    files = local_files(plan, settings)
    has_systemd = shutil.which("systemctl") is not None and Path("/run/systemd/system").is_dir()
    real_root = root.resolve() == Path("/")
    if dry_run is None:
        dry_run = not (has_systemd and real_root)
        if dry_run:
            yield "dry run (no systemd here, or --root is not /); --apply writes the files"
    units = sorted(
        {
            unit_file_name(p).replace("@.service", f"@{p.name.split('@')[-1]}.service")
            if "@" in p.name
            else unit_file_name(p)
            for p in plan.processes
        }
    )
    for file in files:
        if dry_run:
            yield f"--- would write {root / str(file.path).lstrip('/')} (mode {file.mode:o})"
            yield file.text.rstrip("\n")
        else:
            yield f"wrote {_write(file, root)}"
    state = settings.deploy.state_dir
    steps = [
        ["useradd", "--system", "--home-dir", str(state), "--shell", "/usr/sbin/nologin", "tierocr"],
        ["install", "-d", "-o", "tierocr", "-g", "tierocr", str(state), str(state / "gpu-lock")],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", *units],
    ]
    if dry_run or not real_root or not has_systemd or os.geteuid() != 0:
        yield "then run:"
        yield from (f"  sudo {' '.join(step)}" for step in steps)
        return
    for step in steps:
        if step[0] == "useradd" and subprocess.run(["id", "tierocr"], capture_output=True).returncode == 0:
            continue
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            raise UpError(f"{' '.join(step)} failed ({done.returncode}): {done.stderr.strip()}")
        yield f"ran {' '.join(step)}"


def _compose(plan: Plan, settings: Settings, dry_run: bool | None, env_file: Path) -> Iterator[str]:
    text = render_env(plan.extra["compose_env"])
    tool = compose_command()
    if dry_run is None:
        dry_run = tool is None
        if dry_run:
            yield "dry run (no docker compose here); --apply writes the env file and starts the stack"
    compose_file = settings.deploy.compose_file
    cmd = [
        *(tool or ["docker", "compose"]),
        "-f",
        str(compose_file),
        "--env-file",
        str(env_file),
        "up",
        "-d",
        "--build",
    ]
    if dry_run:
        yield f"--- would write {env_file}"
        yield text.rstrip("\n")
        yield f"then run: {' '.join(cmd)}"
        return
    try:
        env_file.parent.mkdir(parents=True, exist_ok=True)
        env_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UpError(f"{env_file}: cannot write ({exc.strerror})") from exc
    yield f"wrote {env_file}"
    if tool is None:
        raise UpError(
            "docker compose is not installed here: install Docker's compose plugin, or use --dry-run"
        )
    done = subprocess.run(cmd, text=True)
    if done.returncode != 0:
        raise UpError(f"{' '.join(cmd)} failed with exit code {done.returncode}")
    yield f"ran {' '.join(cmd)}"
