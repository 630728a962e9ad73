"""systemd units and env files for a local plan, and the compose env file for a compose plan.

Units carry the plan's exact command line in ExecStart (what `systemctl cat` shows is what runs) and take
TIEROCR_* from /etc/tierocr/<name>.env, so a setting changes without touching the unit.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath

from tierocr.config import Settings
from tierocr.deploy.plan import Plan, Process

ENV_DIR = PurePosixPath("/etc/tierocr")
UNIT_DIR = PurePosixPath("/etc/systemd/system")


@dataclass(frozen=True)
class RenderedFile:
    path: PurePosixPath
    text: str
    mode: int = 0o644


def unit_file_name(process: Process) -> str:
    """`tierocr-worker@1` runs from the template `tierocr-worker@.service`."""
    name = process.name
    return (name.split("@")[0] + "@.service") if "@" in name and "worker" in name else name + ".service"


def _exec_line(command: list[str]) -> str:
    # systemd splits like a shell for quotes but expands $ and % itself: escape both.
    return " ".join(shlex.quote(arg).replace("%", "%%").replace("$", "$$") for arg in command)


def render_unit(process: Process, settings: Settings, *, template: bool = False) -> str:
    """One unit; a worker template replaces its instance number by %i so one file serves every worker."""
    d = settings.deploy
    command = list(process.command)
    env_file = ENV_DIR / f"{process.name}.env"
    if template:
        # One template for every worker: the port comes from its env file, the data dir from %i.
        n = process.name.split("@")[1]
        at = command.index("--port")
        del command[at : at + 2]
        exec_line = _exec_line(command).replace(f"worker-{n}", "worker-%i")
        env_file = ENV_DIR / "worker-%i.env"
        description = f"tierocr batch worker %i (port {d.worker_base_port - 1} + %i)"
    else:
        exec_line = _exec_line(command)
        description = f"tierocr: {process.role}"
    gpu = process.card is not None
    lines = [
        "# Rendered by `tierocr deploy up --target local`; `tierocr deploy plan` says why each value is set.",
        "[Unit]",
        f"Description={description}",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=exec",
        "User=tierocr",
        "Group=tierocr",
        f"EnvironmentFile=-{env_file}",
        f"ExecStart={exec_line}",
        "# SIGTERM: uvicorn and vLLM shut down gracefully; running jobs go back to the queue.",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=90",
        "Restart=on-failure",
        "RestartSec=5",
        "NoNewPrivileges=true",
        # The GPU lease's lock folder lives under the state dir (gpu.lock_dir in the env file), so a
        # private /tmp per unit does not split the lease between the guard and the OCR-VL server.
        "PrivateTmp=true",
        "ProtectSystem=strict",
        "ProtectHome=true",
        f"ReadWritePaths={d.state_dir}",
    ]
    if gpu:
        lines.append("SupplementaryGroups=video")
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def render_env(env: dict[str, str]) -> str:
    """An EnvironmentFile / --env-file body; values quoted when they hold spaces or quotes."""
    out = []
    for key, value in env.items():
        needs_quotes = any(c in value for c in " \"'#$\\")
        out.append(f"{key}={_quote(value) if needs_quotes else value}")
    return "\n".join(out) + "\n"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'" if "'" in value else f"'{value}'"


def local_files(plan: Plan, settings: Settings) -> list[RenderedFile]:
    """Every file a local plan installs: one unit per process (one template for the workers), env files."""
    files: list[RenderedFile] = []
    templated = False
    for process in plan.processes:
        is_worker = process.name.startswith("tierocr-worker@")
        if is_worker:
            n = process.name.split("@")[1]
            port = process.command[process.command.index("--port") + 1]
            env = {**process.env, "TIEROCR_SERVER_PORT": port}
            files.append(RenderedFile(ENV_DIR / f"worker-{n}.env", render_env(env), 0o640))
            if not templated:
                text = render_unit(process, settings, template=True)
                files.append(RenderedFile(UNIT_DIR / unit_file_name(process), text))
                templated = True
            continue
        files.append(RenderedFile(ENV_DIR / f"{process.name}.env", render_env(process.env), 0o640))
        files.append(RenderedFile(UNIT_DIR / unit_file_name(process), render_unit(process, settings)))
    return files


REFERENCE_PLANS = ((("P100", "RTX3080"), "auto"), (("A40",), "auto"))


def reference_units(settings: Settings) -> dict[str, str]:
    """The units kept in deploy/systemd/: the P100 + RTX 3080 box, and the vLLM unit of a dedicated A40.

    They are documentation of what `deploy up` installs; a test renders them again so they cannot drift.
    """
    from tierocr.deploy.plan import make_plan

    units: dict[str, str] = {}
    for gpus, backend in REFERENCE_PLANS:
        plan = make_plan(settings, list(gpus), target="local", backend=backend)
        for file in local_files(plan, settings):
            if file.path.parent == UNIT_DIR:
                units.setdefault(file.path.name, file.text)
    return units
