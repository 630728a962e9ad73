"""SIGKILL in the middle of a run, then the same command again: nothing lost, nothing read twice.

The batch runs as a real `tierocr batch` process with two worker processes. A small wrapper kills it
with SIGKILL right around its k-th page checkpoint (k drawn at random, before or after the commit), so
pages are in flight at the kill. The same command then resumes; the store must hold every page once,
the pages finished before the kill must not have been read again, and the outputs must be those of an
uninterrupted run (Markdown byte for byte; JSON too, once the per-stage timings are left out).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from batch_helpers import clean_env, run_cli, write_pdf

from tierocr.batch.plan import default_db
from tierocr.batch.schema import PageStatus, pages
from tierocr.batch.store import PageStore

#: Runs the CLI with PageStore.finish_page wrapped: SIGKILL at the KILL_AT-th checkpoint.
_KILLER = """
import os, signal, sys
from tierocr.batch.store import PageStore
target = int(os.environ["KILL_AT"])
before = os.environ["KILL_BEFORE_COMMIT"] == "1"
finish = PageStore.finish_page
seen = [0]
def finish_then_die(self, *args, **kwargs):
    seen[0] += 1
    if seen[0] == target and before:
        os.kill(os.getpid(), signal.SIGKILL)
    result = finish(self, *args, **kwargs)
    if seen[0] == target:
        os.kill(os.getpid(), signal.SIGKILL)
    return result
PageStore.finish_page = finish_then_die
from tierocr.cli import app
app(sys.argv[1:], prog_name="tierocr")
"""


def _rows(db: str) -> dict[tuple[str, int], Any]:
    store = PageStore(db)
    try:
        with store.engine.connect() as conn:
            return {(r.doc_id, r.number): r for r in conn.execute(pages.select())}
    finally:
        store.close()


def _strip_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_timings(v) for k, v in value.items() if k != "timings"}
    if isinstance(value, list):
        return [_strip_timings(v) for v in value]
    return value


def test_sigkill_mid_run_then_resume(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    sizes = {"alpha": 5, "beta": 3, "sub/gamma": 6}
    for name, count in sizes.items():
        write_pdf(inputs / f"{name}.pdf", count, name.title())
    total = sum(sizes.values())
    args = ["batch", str(inputs), "--workers", "2", "--no-layout", "--retries", "2", "-q"]

    reference = run_cli(*args, "-o", str(tmp_path / "reference"))
    assert reference.returncode == 0, reference.stderr

    rng = random.Random()
    seed = rng.randrange(1_000_000)
    rng.seed(seed)
    kill_at, before = rng.randint(2, total - 2), rng.random() < 0.5
    out = tmp_path / "out"
    env = clean_env(KILL_AT=str(kill_at), KILL_BEFORE_COMMIT="1" if before else "0")
    killed = subprocess.run(
        [sys.executable, "-c", _KILLER, *args, "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    context = f"seed {seed}: killed at checkpoint {kill_at} ({'before' if before else 'after'} its commit)"
    assert killed.returncode == -signal.SIGKILL, f"{context}\n{killed.stderr}"

    db = default_db(out)
    at_kill = _rows(db)
    done_at_kill = {key: row for key, row in at_kill.items() if row.status == PageStatus.DONE}
    in_flight = {key for key, row in at_kill.items() if row.status == PageStatus.RUNNING}
    assert len(done_at_kill) == (kill_at - 1 if before else kill_at), context
    assert in_flight or not before, f"{context}: the page being checkpointed was not in flight"

    resumed = run_cli(*args, "-o", str(out))
    assert resumed.returncode == 0, f"{context}\n{resumed.stderr}"

    after = _rows(db)
    assert len(after) == total, context  # every page exactly once: (document, page) is the key
    assert {row.status for row in after.values()} == {PageStatus.DONE}, context
    for key, row in done_at_kill.items():  # finished before the kill: kept, not read again
        assert (after[key].attempts, after[key].result) == (1, row.result), f"{context}: {key}"
    for key in in_flight:  # interrupted by the kill: read again, the interrupted try counted
        assert after[key].attempts == 2, f"{context}: {key}"
    for name in sizes:
        md = (out / f"{name}.md").read_bytes()
        assert md == (tmp_path / "reference" / f"{name}.md").read_bytes(), f"{context}: {name}.md"
        got = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
        want = json.loads((tmp_path / "reference" / f"{name}.json").read_text(encoding="utf-8"))
        assert _strip_timings(got) == _strip_timings(want), f"{context}: {name}.json"
    print(
        f"{context}: {len(done_at_kill)} pages done before the kill, {len(in_flight)} in flight, "
        f"{total - len(done_at_kill)} read after the resume; duplicates 0, lost 0"
    )
