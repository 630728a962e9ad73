"""How well does the quality gate pick the pages the classical tiers got wrong? (dev corpus only)

Every document of the corpus goes through the classical pipeline (no VLM); its Markdown is scored
against the ground truth, and the gate judges each page. A document is *bad* when its score misses the
bar of its metric (NED above ``eval.bad_ned_threshold``, olmOCR pass rate or TEDS below 0.5), and
*flagged* when the gate rejects any of its pages. Reported: recall (bad documents flagged), precision
(flagged documents that were bad), the page escalation rate, and which signals fired where.
Parsed pages are cached (``--cache``), so thresholds can be re-checked without re-running OCR; never
tune them to one file, and never against the held-out set.
Usage: .venv/bin/python bench/gate_calibration.py [../shared/corpus] [--cache /tmp/tierocr-gate-cache]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from tierocr.config import Settings
from tierocr.document import Document, Page
from tierocr.evaluation.corpus import ManifestRow, Metric, read_manifest
from tierocr.evaluation.scoring import load_groundtruth
from tierocr.quality import assess_page, ink_ratio

ROOT = Path(__file__).resolve().parents[1]
#: Corpus language → gate languages, as a user would configure them for that document.
LANGUAGES = {"zh": ["ch_sim", "en"]}  # otherwise the row's own code plus "en"
SCORE_BAR = 0.5


def parse_cached(
    row: ManifestRow, settings: Settings, cache: Path, pipeline: Any
) -> tuple[Document, list[float]]:
    """The classical Document and each page's ink ratio, from the cache or freshly parsed."""
    from tierocr.inputs import open_document

    target = cache / f"{row.id}.json"
    if target.is_file():
        data = json.loads(target.read_text())
        return Document.model_validate(data["document"]), data["ink"]
    document: Document | None = None
    inks: list[float] = []
    with open_document(row.file, settings.input) as loaded:
        document = Document(source=loaded.name, mime_type=loaded.mime_type, page_count=loaded.page_count)
        for page_input in loaded.iter_pages():
            image = getattr(page_input, "image", None)
            inks.append(ink_ratio(image, settings.gate.ink_threshold) if image is not None else 0.0)
            document.pages.append(pipeline.process_page(page_input))
    target.write_text(json.dumps({"document": document.model_dump(mode="json"), "ink": inks}))
    return document, inks


def is_bad(metric: Metric, score: float | None, ned_bar: float) -> bool:
    if score is None:
        return True
    return score > ned_bar if metric is Metric.NED else score < SCORE_BAR


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, nargs="?", default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/tierocr-gate-cache"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "gate_calibration.json")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)

    from tierocr.pipeline import Pipeline
    from tierocr.render.markdown import render_markdown

    settings = Settings()
    pipeline = Pipeline(settings)
    records: list[dict[str, Any]] = []
    for row in read_manifest(args.corpus):
        started = time.perf_counter()
        try:
            document, inks = parse_cached(row, settings, args.cache, pipeline)
            score = load_groundtruth(row).score(render_markdown(document, settings.render)).score
        except Exception as exc:  # one broken row must not hide the others
            print(f"{row.id}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        languages = LANGUAGES.get(row.language, [row.language or "en", "en"])
        pages: list[dict[str, Any]] = []
        for page, ink in zip(document.pages, inks, strict=False):
            verdict = assess_page(page, settings.gate, languages=languages, ink_ratio=ink)
            pages.append(
                {"page": page.number, "tier": str(page.tier), "ink": round(ink, 4), **_v(page, verdict)}
            )
        bad = is_bad(row.metric, score, settings.eval.bad_ned_threshold)
        flagged = any(not p["accepted"] for p in pages)
        records.append(
            {
                "id": row.id,
                "metric": str(row.metric),
                "content": row.content,
                "language": row.language,
                "score": score,
                "bad": bad,
                "flagged": flagged,
                "pages": pages,
            }
        )
        print(
            f"{row.id:50s} {row.metric!s:6s} score={score if score is None else round(score, 3)!s:6s} "
            f"bad={bad!s:5s} flagged={flagged!s:5s} {time.perf_counter() - started:5.1f}s "
            f"{[sorted(p['signals']) for p in pages if p['signals']]}",
            flush=True,
        )
    summary = _summary(records)
    args.out.write_text(json.dumps({"summary": summary, "rows": records}, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


def _v(page: Page, verdict: Any) -> dict[str, Any]:
    return {"accepted": verdict.accepted, "signals": verdict.signals, "gate_score": verdict.score}


def _summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    bad = [r for r in records if r["bad"]]
    flagged = [r for r in records if r["flagged"]]
    hit = [r for r in bad if r["flagged"]]
    pages = [p for r in records for p in r["pages"]]
    fired: dict[str, dict[str, int]] = {}
    for r in records:
        for p in r["pages"]:
            for name in p["signals"]:
                slot = fired.setdefault(name, {"bad_docs": 0, "good_docs": 0})
                slot["bad_docs" if r["bad"] else "good_docs"] += 1
    return {
        "documents": len(records),
        "bad_documents": len(bad),
        "flagged_documents": len(flagged),
        "recall": round(len(hit) / len(bad), 3) if bad else None,
        "precision": round(len(hit) / len(flagged), 3) if flagged else None,
        "pages": len(pages),
        "page_escalation_rate": round(sum(not p["accepted"] for p in pages) / max(1, len(pages)), 3),
        "signals_fired_on_pages": fired,
        "missed_bad_documents": [r["id"] for r in bad if not r["flagged"]],
        "flagged_good_documents": [r["id"] for r in flagged if not r["bad"]],
    }


if __name__ == "__main__":
    main()
