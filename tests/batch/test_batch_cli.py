"""`tierocr batch`, `batch status` and `batch retry-failed` as a user runs them, on a real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from batch_helpers import clean_env, run_cli, write_pdf, write_poisoned_pdf


def test_postgres_run_dead_letter_status_and_retry_failed(tmp_path: Path, pg_url: str) -> None:
    write_pdf(tmp_path / "docs" / "letter.pdf", 2, "Letter")
    write_poisoned_pdf(tmp_path / "docs" / "atlas.pdf", 3, poisoned=2)
    listing = tmp_path / "inputs.txt"
    listing.write_text("# tonight's archive\ndocs/letter.pdf\n\ndocs/atlas.pdf\n", encoding="utf-8")
    out = tmp_path / "out"
    small = clean_env(TIEROCR_INPUT_MAX_IMAGE_PIXELS="10000000", TIEROCR_BATCH_BACKOFF_S="0")
    common = ["--db", pg_url, "--workers", "1"]

    first = run_cli(
        "batch", str(listing), "-o", str(out), *common, "--no-layout", "--retries", "1", env=small
    )
    assert first.returncode == 1, first.stderr  # a page is in the dead-letter list
    assert "dead-letter" in first.stderr and "tier text_layer" in first.stderr
    assert (out / "letter.md").is_file() and (out / "atlas.md").is_file()  # the document still completed
    assert not (out / ".tierocr").exists()  # the store is the PostgreSQL database, not a file here

    status = run_cli("batch", "status", str(out), "--db", pg_url, "--json", env=small)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["documents"] == {"succeeded": 2}
    assert report["pages"]["status"] == {"done": 4, "dead": 1}
    [dead] = report["dead_letter"]
    assert (dead["page"], dead["attempts"]) == (2, 2)
    assert dead["document"].endswith("atlas.pdf") and "over the limit" in dead["error"]

    # the cause is fixed (a larger pixel limit); the failed page gets new tries, the rest is kept
    retried = run_cli("batch", "retry-failed", str(out), *common, env=clean_env(TIEROCR_BATCH_BACKOFF_S="0"))
    assert retried.returncode == 0, retried.stderr
    assert "1 dead-letter page(s) and 1 document(s) queued again" in retried.stderr
    atlas = json.loads((out / "atlas.json").read_text(encoding="utf-8"))
    assert [p["errors"] for p in atlas["pages"]] == [[], [], []]
    assert "Poisoned document, page 2." in (out / "atlas.md").read_text(encoding="utf-8")
    final = json.loads(run_cli("batch", "status", str(out), "--db", pg_url, "--json").stdout)
    assert final["pages"]["status"] == {"done": 5} and final["dead_letter"] == []


def test_bad_inputs_and_changed_settings_are_one_line_errors(tmp_path: Path) -> None:
    missing = run_cli("batch", str(tmp_path / "nowhere"), "-o", str(tmp_path / "out"))
    assert missing.returncode == 2 and "nowhere: no such file or folder" in missing.stderr
    assert "Traceback" not in missing.stderr
    listing = tmp_path / "list.txt"
    listing.write_text("gone.pdf\n", encoding="utf-8")
    bad_line = run_cli("batch", str(listing), "-o", str(tmp_path / "out"))
    assert bad_line.returncode == 2 and "list.txt, line 1: gone.pdf: no such file" in bad_line.stderr
    none = run_cli("batch", "status", str(tmp_path / "elsewhere"))
    assert none.returncode == 2 and "no batch run" in none.stderr

    pdf = write_pdf(tmp_path / "one.pdf", 1, "One")
    out = tmp_path / "out"
    done = run_cli("batch", str(pdf), "-o", str(out), "--workers", "1", "--no-layout", "-q")
    assert done.returncode == 0, done.stderr
    other = run_cli("batch", str(pdf), "-o", str(out), "--no-layout", "--dpi", "150")
    assert other.returncode == 2 and "started with other settings (input)" in other.stderr
    again = run_cli("batch", "run", str(pdf), "-o", str(out), "--no-layout", "-q")
    assert again.returncode == 0, again.stderr  # finished: nothing to read, no worker started
