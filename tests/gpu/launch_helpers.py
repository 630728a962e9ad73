"""Helpers of the launch/stop tests: a fake "vllm" program, the CLI in a child process, /proc checks.

The fake server forks a child that calls ``setsid`` (leaving the server's process group, as a detached
engine does) and ignores SIGTERM, then answers /health with the standard library's HTTP server. It
writes its own argv and environment and the child's pid to files named by environment variables, after
the child has left the group, so the test can check the command line and, through /proc, the child.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tierocr.gpu.procs import TAG_VARIABLE, all_processes, has_tag, read_proc

SRC = Path(__file__).resolve().parents[2] / "src"

FAKE_SERVER = """#!{python}
import http.server, json, os, signal, sys

args = sys.argv[1:]
if os.environ.get("FAKE_EXIT"):
    print("fake server: failing on purpose", flush=True)
    sys.exit(int(os.environ["FAKE_EXIT"]))
host, port = args[args.index("--host") + 1], int(args[args.index("--port") + 1])
read_end, write_end = os.pipe()
child = os.fork()
if child == 0:
    os.setsid()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.write(write_end, b"x")
    while True:
        signal.pause()
os.read(read_end, 1)
with open(os.environ["FAKE_INFO"], "w") as f:
    json.dump({{"argv": sys.argv, "child": child, "dev_mode": os.environ.get("VLLM_SERVER_DEV_MODE")}}, f)


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


print("fake server: listening", flush=True)
http.server.HTTPServer((host, port), Health).serve_forever()
"""


def write_fake_server(folder: Path) -> Path:
    path = folder / "fake-vllm"
    path.write_text(FAKE_SERVER.format(python=sys.executable))
    path.chmod(0o755)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIEROCR_")}
    env.update(PYTHONPATH=str(SRC), TIEROCR_DATA_DIR=str(data_dir), **extra)
    return env


def tierocr(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process, as a user runs it: a launched server outlives it."""
    return subprocess.run(
        [sys.executable, "-m", "tierocr.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def live_in_group(pgid: int) -> list[int]:
    return [p.pid for p in all_processes() if p.pgid == pgid and not p.zombie]


def live_with_tag(tag: str) -> list[int]:
    return [p.pid for p in all_processes() if not p.zombie and has_tag(p.pid, tag)]


def alive(pid: int) -> bool:
    info = read_proc(pid)
    return info is not None and not info.zombie


assert TAG_VARIABLE == "TIEROCR_SERVER_ID"
