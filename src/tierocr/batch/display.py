"""What a person sees of a batch: a progress bar while it runs, a summary table after, `status` tables.

The bar counts documents and pages, the pages per second of this process and an ETA; pages of
documents not opened yet are estimated from the average length of those opened so far. Without a
terminal (a log file, a CI job) there is no bar: one line per finished document instead.
"""

from __future__ import annotations

import json
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from tierocr.batch.runner import RunEvent, RunStats
from tierocr.batch.schema import DocStatus, PageStatus


class BatchProgress:
    """Turns run events into the progress bar, the per-document lines and the ``--events`` log."""

    def __init__(
        self, console: Console, *, docs_total: int, docs_finished: int, quiet: bool, events: IO[str] | None
    ) -> None:
        self._console = console
        self._events = events
        self._quiet = quiet
        self.docs_total = docs_total
        self.docs_finished = docs_finished
        self.docs_opened = 0
        self.pages_known = 0
        self.pages_finished = 0
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("docs {task.fields[docs]}  pages {task.fields[pages]}  {task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=quiet or not console.is_terminal,
            transient=False,
        )
        self._task = self._progress.add_task("batch", total=None, docs="", pages="", rate="")
        self._started: float | None = None
        self._done_here = 0

    def __enter__(self) -> BatchProgress:
        self._progress.__enter__()
        self._refresh()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(None, None, None)

    def __call__(self, event: RunEvent) -> None:
        if event.kind == "document-opened":
            self.docs_opened += 1
            self.pages_known += event.pages
            self.pages_finished += event.finished
        elif event.kind == "page":
            self.pages_finished += 1
            self._done_here += 1
        elif event.kind == "document":
            self.docs_finished += 1
            if self._quiet:
                pass
            elif event.status == DocStatus.FAILED:
                self._console.print(
                    f"[red]error:[/red] {event.doc.name}: {event.detail}", highlight=False, soft_wrap=True
                )
            else:
                self._console.print(f"{event.doc.name} -> {event.detail}", highlight=False, soft_wrap=True)
        if self._events is not None:
            self._events.write(json.dumps(_event_json(event)) + "\n")
            self._events.flush()
        self._refresh()

    def _refresh(self) -> None:
        task = self._progress.tasks[0]
        average = self.pages_known / self.docs_opened if self.docs_opened else 0.0
        unopened = max(0, self.docs_total - self.docs_finished - self._open_unfinished())
        estimate = self.pages_known + round(average * unopened)
        rate = self._done_here / task.elapsed if task.elapsed else 0.0
        self._progress.update(
            self._task,
            total=estimate or None,
            completed=self.pages_finished,
            docs=f"{self.docs_finished}/{self.docs_total}",
            pages=f"{self.pages_finished}/{self.pages_known}" + ("+" if unopened else ""),
            rate=f"{rate:.2f} pages/s",
        )

    def _open_unfinished(self) -> int:
        return max(0, self.docs_opened - self.docs_finished)


def _event_json(event: RunEvent) -> dict[str, Any]:
    out: dict[str, Any] = {"event": event.kind, "document": event.doc.name, "id": event.doc.id}
    if event.number is not None:
        out["page"] = event.number
    if event.status:
        out["status"] = event.status
    if event.detail:
        out["detail"] = event.detail
    if event.kind == "document-opened":
        out |= {"pages": event.pages, "finished": event.finished}
    return out


def summary_table(summary: dict[str, Any], stats: RunStats, backend: str) -> Table:
    """After a run: what the whole run holds (tiers, escalations, failures) and what this process did."""
    table = Table(title="tierocr batch", show_header=True, header_style="bold")
    table.add_column("")
    table.add_column("run (all tries)", justify="right")
    table.add_column("this process", justify="right")
    docs = summary["documents"]
    pages = summary["pages"]
    table.add_row(
        "documents done / failed / left",
        f"{docs.get(DocStatus.SUCCEEDED, 0)} / {docs.get(DocStatus.FAILED, 0)} / "
        f"{docs.get(DocStatus.QUEUED, 0) + docs.get(DocStatus.RUNNING, 0)}",
        f"{stats.docs_done} / {stats.docs_failed}",
    )
    table.add_row(
        "pages done / dead-letter",
        f"{pages['status'].get(PageStatus.DONE, 0)} / {pages['status'].get(PageStatus.DEAD, 0)}",
        f"{stats.pages_done} / {stats.pages_dead}",
    )
    for tier, n in sorted(pages["tiers"].items(), key=lambda kv: str(kv[0])):
        table.add_row(f"  tier {tier}", str(n), "")
    table.add_row("escalations (pages sent to the VLM)", str(pages["escalated"]), "")
    table.add_row("retries", "", str(stats.retries))
    per_page = stats.store_seconds / stats.store_writes * 1000 if stats.store_writes else 0.0
    handled = stats.pages_done + stats.pages_dead
    writes = stats.store_writes / handled if handled else 0.0
    table.add_row("store writes per page / ms each", "", f"{writes:.1f} / {per_page:.2f}")
    table.add_row("page seconds (sum of workers)", f"{pages['seconds']:.1f}", "")
    rate = stats.pages_done / stats.elapsed if stats.elapsed else 0.0
    table.add_row("time / pages per second", "", f"{stats.elapsed:.1f}s / {rate:.2f}")
    table.add_row("workers", "", backend)
    return table


def status_table(summary: dict[str, Any], dead: list[dict[str, Any]], failed: list[dict[str, Any]]) -> Table:
    table = Table(title="tierocr batch status", show_header=False)
    table.add_column("")
    table.add_column("", justify="right")
    for status, n in sorted(summary["documents"].items()):
        table.add_row(f"documents {status}", str(n))
    for status, n in sorted(summary["pages"]["status"].items()):
        table.add_row(f"pages {status}", str(n))
    for tier, n in sorted(summary["pages"]["tiers"].items(), key=lambda kv: str(kv[0])):
        table.add_row(f"  tier {tier}", str(n))
    table.add_row("escalations", str(summary["pages"]["escalated"]))
    table.add_row("dead-letter pages", str(len(dead)))
    table.add_row("failed documents", str(len(failed)))
    return table


def dead_letter_table(dead: list[dict[str, Any]], failed: list[dict[str, Any]]) -> Table:
    table = Table(title="dead-letter list", show_header=True, header_style="bold")
    table.add_column("document")
    table.add_column("page", justify="right")
    table.add_column("tries", justify="right")
    table.add_column("error")
    for row in failed:
        table.add_row(row["document"], "-", str(row["attempts"]), row["error"] or "")
    for row in dead:
        table.add_row(row["document"], str(row["page"]), str(row["attempts"]), row["error"] or "")
    return table
