"""A classical target measured in a process of its own.

Its cold start is then the user's real one (interpreter, imports, model loading, first page) and its peak
RSS is its own rather than the maximum of every target measured before it. The parent sends the job as a
pickle on stdin (settings keep their secrets and paths that way) and reads JSON lines back on the child's
original stdout; the child points its own fd 1 at stderr first, so a library that prints cannot corrupt
the channel, and stderr goes to a file whose tail explains a crash.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import tierocr
from tierocr.benchmark.models import BenchPlan, TargetResult
from tierocr.benchmark.targets import Target
from tierocr.config import Settings

#: Characters of the child's stderr quoted when it ends without a result.
_STDERR_TAIL = 2000


def run_in_child(
    target: Target, plan: BenchPlan, settings: Settings, on_step: Callable[[str, int], None]
) -> TargetResult:
    """Measure ``target`` in a fresh interpreter; its failure to finish is the result's ``error``."""
    src = str(Path(tierocr.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    with tempfile.TemporaryFile() as stderr:
        started = time.time()
        job = pickle.dumps(
            (target, plan.model_copy(update={"process_started": started}), settings.model_dump())
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "tierocr.benchmark.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
        assert proc.stdin is not None and proc.stdout is not None
        with proc.stdin:
            proc.stdin.write(job)
        result: TargetResult | None = None
        for line in proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("event") == "step":
                on_step(str(message.get("label", "")), int(message.get("advance", 1)))
            elif message.get("event") == "result":
                result = TargetResult.model_validate(message["result"])
        code = proc.wait()
        if result is not None:
            return result
        stderr.seek(0)
        tail = stderr.read().decode("utf-8", "replace")[-_STDERR_TAIL:].strip()
    return TargetResult(
        name=target.name,
        spec=target.spec,
        kind=target.kind,
        error=f"the measuring process ended with status {code} and no result: {tail or 'no output'}",
    )


def _channel() -> IO[str]:
    """The original stdout for the protocol; fd 1 then points at stderr for anything else printed."""
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    return channel


def main() -> None:
    from tierocr.benchmark.measure import measure_target

    channel = _channel()
    lock = threading.Lock()  # steps come from the worker threads of a throughput level

    def send(message: dict[str, Any]) -> None:
        with lock:
            channel.write(json.dumps(message) + "\n")

    target, plan, settings_data = pickle.load(sys.stdin.buffer)
    settings = Settings.model_validate(settings_data)
    result = measure_target(
        target, plan, settings, lambda label, n: send({"event": "step", "label": label, "advance": n})
    )
    send({"event": "result", "result": result.model_dump(mode="json")})
    channel.close()


if __name__ == "__main__":
    main()
