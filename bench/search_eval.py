"""Retrieval on the dev corpus: index size and build time, search latency and recall@5 per mode.

The corpus is parsed once (Document JSON cached by file hash and settings in --cache) and indexed into
a fresh SQLite file; each question made from the ground truth (tierocr.index.evaluation) is asked in
keyword, vector and hybrid mode. Alternatives measured beside the default: wordllama cut to 64 and 128
dimensions, SQLite's own FTS5 BM25 for keywords, and (--pg) the PostgreSQL backend, checked for the
same hits. Usage:
  nice -n 10 .venv/bin/python bench/search_eval.py [corpus] [--cache DIR] [--pg] [-o bench/search_eval.json]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tierocr.config import Settings, load_settings
from tierocr.document import Document
from tierocr.evaluation.corpus import read_manifest
from tierocr.index.corpus import parse_corpus
from tierocr.index.embed import WordLlamaEmbedder
from tierocr.index.evaluation import ModeResult, Question, found, make_questions, pdf_page_texts
from tierocr.index.records import chunk_records
from tierocr.index.search import MODES
from tierocr.index.service import SearchIndex

K = 5


def build(settings: Settings, db: str, docs: dict[str, Document], dim: int = 256) -> dict[str, Any]:
    started = time.perf_counter()
    embedder = WordLlamaEmbedder(dim)
    loaded = time.perf_counter()
    index = SearchIndex(settings, db, embedder=embedder)
    for row_id, doc in docs.items():
        index.index_document(doc, doc_id=row_id)
    done = time.perf_counter()
    return {
        "index": index,
        "model_load_s": round(loaded - started, 3),
        "build_s": round(done - loaded, 3),
        "chunks": index.store.stats()["chunks"],
    }


def ask(index: SearchIndex, questions: list[Question], mode: str) -> tuple[ModeResult, list[list[Any]]]:
    result = ModeResult()
    tops: list[list[Any]] = []
    for q in questions:
        t0 = time.perf_counter()
        hits = index.search(q.query, mode=mode, k=K)  # type: ignore[arg-type]
        result.latencies.append(time.perf_counter() - t0)
        result.asked[q.kind] += 1
        result.found[q.kind] += found(hits, q, K)
        tops.append([(h.doc_id, h.chunk) for h in hits])
    return result, tops


def fts5_keyword(settings: Settings, docs: dict[str, Document], questions: list[Question]) -> ModeResult:
    """SQLite FTS5's own BM25 over the same chunks (unicode61 tokenizer, OR of the query's words)."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE f USING fts5(doc_id UNINDEXED, pages UNINDEXED, body)")
    for row_id, doc in docs.items():
        for rec in chunk_records(doc, settings.render):
            conn.execute("INSERT INTO f VALUES (?, ?, ?)", (row_id, json.dumps(rec.pages), rec.embed_text))
    result = ModeResult()
    for q in questions:
        words = [w for w in "".join(c if c.isalnum() else " " for c in q.query).split() if w]
        match = " OR ".join(f'"{w}"' for w in words)
        t0 = time.perf_counter()
        rows = (
            conn.execute(
                "SELECT doc_id, pages FROM f WHERE f MATCH ? ORDER BY bm25(f) LIMIT ?", (match, K)
            ).fetchall()
            if match
            else []
        )
        result.latencies.append(time.perf_counter() - t0)
        result.asked[q.kind] += 1
        result.found[q.kind] += any(d == q.row_id and q.page in json.loads(p) for d, p in rows)
    return result


def sqlite_size(db: str) -> int:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return Path(db).stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "tierocr-search-eval")
    parser.add_argument("--pg", action="store_true", help="Also build and query a local PostgreSQL index.")
    parser.add_argument(
        "--scale", type=int, default=0, help="Also time searches over N copies of the corpus (latency only)."
    )
    parser.add_argument("-o", "--output", type=Path, default=Path("bench/search_eval.json"))
    args = parser.parse_args()
    console = Console()
    settings = load_settings()
    rows = read_manifest(args.corpus)
    t0 = time.perf_counter()
    docs = parse_corpus(rows, settings, args.cache / "parsed")
    console.print(
        f"corpus: {len(docs)} documents ready in {time.perf_counter() - t0:.1f}s (cache {args.cache})"
    )
    page_texts = {r.id: pdf_page_texts(r.file) for r in rows if r.pages > 1 and r.file.suffix == ".pdf"}
    questions = make_questions(rows, page_texts)
    report: dict[str, Any] = {"k": K, "questions": len(questions), "documents": len(docs), "variants": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for dim in (256, 128, 64):
            db = str(Path(tmp) / f"index-{dim}.sqlite")
            built = build(settings, db, docs, dim)
            index = built.pop("index")
            variant: dict[str, Any] = {**built, "size_bytes": sqlite_size(db), "modes": {}}
            modes = MODES if dim == 256 else ("vector", "hybrid")
            for mode in modes:
                result, _ = ask(index, questions, mode)
                variant["modes"][mode] = result.summary()
            index.close()
            report["variants"][f"sqlite+wordllama-{dim}"] = variant
        fts = fts5_keyword(settings, docs, questions)
        report["variants"]["fts5-bm25"] = {"modes": {"keyword": fts.summary()}}
        if args.pg:
            report["variants"]["postgresql+wordllama-256"] = pg_variant(settings, docs, questions, tmp)
        if args.scale:
            report["scale"] = scale_variant(settings, docs, questions, tmp, args.scale)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print_report(console, report)
    console.print(f"wrote {args.output}")


def pg_variant(settings: Settings, docs: dict[str, Document], questions: list[Question], tmp: str) -> Any:
    from tierocr.index.localpg import local_postgres

    lite = SearchIndex(settings, str(Path(tmp) / "same.sqlite"), embedder=WordLlamaEmbedder(256))
    for row_id, doc in docs.items():
        lite.index_document(doc, doc_id=row_id)
    with local_postgres() as url:
        built = build(settings, url, docs)
        index = built.pop("index")
        variant: dict[str, Any] = {**built, "modes": {}}
        for mode in MODES:
            result, tops = ask(index, questions, mode)
            _, lite_tops = ask(lite, questions, mode)
            same = statistics.fmean(a == b for a, b in zip(tops, lite_tops, strict=True))
            variant["modes"][mode] = {**result.summary(), "same_top5_as_sqlite": round(same, 4)}
        index.close()
    lite.close()
    return variant


def scale_variant(
    settings: Settings, docs: dict[str, Document], questions: list[Question], tmp: str, copies: int
) -> dict[str, Any]:
    """Latency over ``copies`` renamed copies of every document (vectors are reused, so it builds fast)."""
    db = str(Path(tmp) / "scale.sqlite")
    index = SearchIndex(settings, db, embedder=WordLlamaEmbedder(256))
    started = time.perf_counter()
    for n in range(copies):
        for row_id, doc in docs.items():
            index.index_document(doc, doc_id=f"{row_id}#{n}")
    out: dict[str, Any] = {
        "copies": copies,
        "chunks": index.store.stats()["chunks"],
        "build_s": round(time.perf_counter() - started, 2),
        "size_bytes": sqlite_size(db),
        "modes": {},
    }
    for mode in MODES:
        result, _ = ask(index, questions, mode)
        out["modes"][mode] = {k: v for k, v in result.summary().items() if k.endswith("_ms")}
    index.close()
    return out


def print_report(console: Console, report: dict[str, Any]) -> None:
    table = Table(
        title=f"recall@{report['k']} on {report['questions']} questions, {report['documents']} docs"
    )
    for col in (
        "variant",
        "mode",
        "recall",
        "sentences",
        "keywords",
        "p50 ms",
        "p95 ms",
        "build s",
        "size KB",
    ):
        table.add_column(col, justify="left" if col in ("variant", "mode") else "right")
    for name, variant in report["variants"].items():
        for mode, m in variant["modes"].items():
            size = variant.get("size_bytes")
            table.add_row(
                name,
                mode,
                f"{m['recall_at_k']:.3f}",
                f"{m['recall_sentence']:.3f}",
                f"{m['recall_keywords']:.3f}",
                f"{m['p50_ms']:.2f}",
                f"{m['p95_ms']:.2f}",
                str(variant.get("build_s", "")),
                f"{size / 1024:.0f}" if size else "",
            )
    console.print(table)
    scale = report.get("scale")
    if scale:
        latency = ", ".join(
            f"{mode} p50 {m['p50_ms']:.1f} / p95 {m['p95_ms']:.1f} ms" for mode, m in scale["modes"].items()
        )
        console.print(f"{scale['chunks']} chunks ({scale['size_bytes'] // 1024} KB): {latency}")


if __name__ == "__main__":
    main()
