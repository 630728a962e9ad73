"""What the fitted gate achieves: curves, per-kind operating points, the signals' time, as text and PNG.

Everything here reads a :class:`~tierocr.evaluation.gate_curves.FitResult` and the calibration it came
from; nothing re-runs OCR. The PNG puts the in-sample and the leave-one-source-out recall /
escalation-rate curves side by side, one line per content kind, with the target marked.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from tierocr.evaluation.gate import GateCalibration
from tierocr.evaluation.gate_curves import FitResult, loso_escalation, metrics

#: Escalation rate the issue sets as the budget beside the target recall (drawn on the plot).
BUDGET_LINE = 0.35


class KindPoint(BaseModel):
    group: str
    documents: int
    bad: int
    pages: int
    in_sample_recall: float | None
    in_sample_escalation: float
    in_sample_pixels: float
    loso_recall: float | None
    loso_escalation: float
    loso_pixels: float


class TimeCost(BaseModel):
    pages: int
    gate_seconds_mean: float
    classical_seconds_mean: float
    ratio_of_means: float
    ratio_median: float
    ratio_p90: float


def _groups(result: FitResult) -> list[tuple[str, list[int]]]:
    samples = result.samples
    groups = [("overall", list(range(len(samples))))]
    for content in sorted({s.content for s in samples}):
        groups.append((f"content={content}", [k for k, s in enumerate(samples) if s.content == content]))
    return groups


def operating_flags(result: FitResult, threshold: float) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """(in-sample, leave-one-source-out) escalation flags and pixel costs at a final-model threshold;
    out of sample, each fold escalates the same share of its training pages as the final model does."""
    in_sample = result.final.escalation(threshold)
    _, rate, _ = metrics(result.samples, *in_sample)
    return in_sample, loso_escalation(result.samples, result.folds, rate)


def kind_table(result: FitResult, target_recall: float) -> list[KindPoint]:
    """Recall, pages escalated and pixels sent per content kind at the operating point for
    ``target_recall``: in-sample for the final model, and leave-one-source-out with each fold at the
    threshold that escalates the same share of its own training pages."""
    threshold = result.model.threshold(target_recall=target_recall)
    (in_flags, in_cost), (out_flags, out_cost) = operating_flags(result, threshold)
    rows = []
    for name, index in _groups(result):
        sub = [result.samples[k] for k in index]
        r_in, e_in, px_in = metrics(sub, in_flags[index], in_cost[index])
        r_out, e_out, px_out = metrics(sub, out_flags[index], out_cost[index])
        rows.append(
            KindPoint(
                group=name,
                documents=len({s.row for s in sub}),
                bad=len({s.row for s in sub if s.bad}),
                pages=len(sub),
                in_sample_recall=r_in,
                in_sample_escalation=round(e_in, 4),
                in_sample_pixels=round(px_in, 4),
                loso_recall=r_out,
                loso_escalation=round(e_out, 4),
                loso_pixels=round(px_out, 4),
            )
        )
    return rows


def time_cost(calibration: GateCalibration) -> TimeCost | None:
    """The gate's seconds per page beside the classical tier's (``timings["gate"]`` vs ``["total"]``)."""
    pairs = [
        (p.seconds_gate, p.seconds_classical)
        for r in calibration.rows
        for p in r.pages
        if p.seconds_gate is not None and p.seconds_classical
    ]
    if not pairs:
        return None
    ratios = sorted(g / c for g, c in pairs if c)
    gate = statistics.fmean(g for g, _ in pairs)
    classical = statistics.fmean(c for _, c in pairs)
    return TimeCost(
        pages=len(pairs),
        gate_seconds_mean=round(gate, 4),
        classical_seconds_mean=round(classical, 4),
        ratio_of_means=round(gate / classical, 4),
        ratio_median=round(statistics.median(ratios), 4),
        ratio_p90=round(ratios[min(len(ratios) - 1, int(0.9 * len(ratios)))], 4),
    )


def plot_curves(result: FitResult, path: Path, target_recall: float) -> Path:
    """Recall vs escalation rate, in-sample | leave-one-source-out, a line per content kind (the overall
    curve also against the share of pixels sent, dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thresholds = [p.threshold for p in result.model.in_sample_curve]
    at = [operating_flags(result, t) for t in thresholds]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.4), sharey=True)
    for side, (ax, title) in enumerate(zip(axes, ("in-sample", "leave-one-source-out"), strict=True)):
        for name, index in _groups(result):
            sub = [result.samples[k] for k in index]
            if not any(s.bad for s in sub):
                continue
            points = sorted(metrics(sub, flags[index], cost[index]) for flags, cost in (a[side] for a in at))
            points = sorted((rate, recall or 0.0, px) for recall, rate, px in points)
            overall = name == "overall"
            ax.step(
                [p[0] for p in points],
                [p[1] for p in points],
                where="post",
                label=name.removeprefix("content="),
                lw=2.6 if overall else 1.2,
                color="black" if overall else None,
                alpha=1.0 if overall else 0.8,
            )
            if overall:
                by_pixels = sorted((px, recall) for _, recall, px in points)
                ax.step(
                    [p[0] for p in by_pixels],
                    [p[1] for p in by_pixels],
                    where="post",
                    ls="--",
                    color="black",
                    lw=1.4,
                    label="overall, x = pixel share",
                )
        ax.axhline(target_recall, ls=":", color="grey", lw=0.9)
        ax.axvline(BUDGET_LINE, ls=":", color="grey", lw=0.9)
        ax.set_title(f"quality gate, {title}")
        ax.set_xlabel("escalation rate (share of pages sent to the VLM, whole or by region)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("recall (share of bad documents caught)")
    axes[1].legend(loc="lower right", fontsize=8)
    fitted = result.model.fitted
    fig.suptitle(
        f"{fitted.get('documents')} documents ({fitted.get('bad_documents')} bad), "
        f"{fitted.get('pages')} pages, {len(fitted.get('sources', []))} sources; "
        f"dotted: target recall {target_recall}, budget {BUDGET_LINE}",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def fit_markdown(result: FitResult, calibration: GateCalibration, target_recall: float) -> str:
    model = result.model
    lines = [
        "# Calibrated quality gate",
        "",
        f"Fitted on {model.fitted.get('documents')} documents ({model.fitted.get('bad_documents')} bad), "
        f"{model.fitted.get('pages')} pages; L2 {model.fitted.get('l2')}; hard floors: "
        f"{', '.join(model.fitted.get('hard_floors', []))}. Operating point: target recall {target_recall}, "
        f"threshold {model.threshold(target_recall=target_recall):.4f} (read off the LOSO curve).",
        "",
        "| group | docs | bad | pages | in-sample recall | in-sample pages | in-sample pixels | LOSO recall "
        "| LOSO pages | LOSO pixels |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for k in kind_table(result, target_recall):
        lines.append(
            f"| {k.group} | {k.documents} | {k.bad} | {k.pages} | {_fmt(k.in_sample_recall)} | "
            f"{k.in_sample_escalation:.2f} | {k.in_sample_pixels:.2f} | {_fmt(k.loso_recall)} | "
            f"{k.loso_escalation:.2f} | {k.loso_pixels:.2f} |"
        )
    lines += [
        "",
        "## Curve",
        "",
        "Final-model threshold; in-sample recall / pages / pixels; leave-one-source-out (rate-matched).",
        "",
        "| threshold | recall in | pages in | pixels in | recall LOSO | pages LOSO | pixels LOSO |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p_in, p_out in zip(model.in_sample_curve, model.curve, strict=True):
        lines.append(
            f"| {p_in.threshold:.4f} | {p_in.recall:.2f} | {p_in.escalation_rate:.2f} | "
            f"{p_in.pixel_share or 0:.2f} | {p_out.recall:.2f} | {p_out.escalation_rate:.2f} | "
            f"{p_out.pixel_share or 0:.2f} |"
        )
    lines += ["", "## Model", "", "| feature | coefficient | mean | scale |", "| --- | --- | --- | --- |"]
    for name, c, m, s in zip(model.features, model.coef, model.mean, model.scale, strict=True):
        lines.append(f"| {name} | {c:+.3f} | {m:.4g} | {s:.4g} |")
    lines.append(f"| (intercept) | {model.intercept:+.3f} | | |")
    cost = time_cost(calibration)
    if cost is not None:
        lines += [
            "",
            "## Time",
            "",
            f"Gate {cost.gate_seconds_mean:.3f} s/page vs classical tier {cost.classical_seconds_mean:.3f} "
            f"s/page over {cost.pages} pages: {cost.ratio_of_means:.1%} "
            f"(median page {cost.ratio_median:.1%}, 90th percentile {cost.ratio_p90:.1%}).",
        ]
    return "\n".join(lines) + "\n"


def print_fit(
    result: FitResult, calibration: GateCalibration, target_recall: float, console: Console
) -> None:
    table = Table(
        title=f"calibrated gate at target recall {target_recall}: in-sample vs leave-one-source-out"
    )
    columns = ("group", "docs", "bad", "pages", "recall in", "pages in", "pixels in", "recall LOSO")
    for column in (*columns, "pages LOSO", "pixels LOSO"):
        table.add_column(column, justify="left" if column == "group" else "right")
    for k in kind_table(result, target_recall):
        table.add_row(
            k.group,
            str(k.documents),
            str(k.bad),
            str(k.pages),
            _fmt(k.in_sample_recall),
            f"{k.in_sample_escalation:.2f}",
            f"{k.in_sample_pixels:.2f}",
            _fmt(k.loso_recall),
            f"{k.loso_escalation:.2f}",
            f"{k.loso_pixels:.2f}",
        )
    console.print(table)
    curve_table = Table(title="recall / escalation curve: in-sample | leave-one-source-out (rate-matched)")
    for column in (
        "threshold",
        "recall in",
        "pages in",
        "pixels in",
        "recall LOSO",
        "pages LOSO",
        "pixels LOSO",
    ):
        curve_table.add_column(column, justify="right")
    for p_in, p_out in zip(result.model.in_sample_curve, result.model.curve, strict=True):
        curve_table.add_row(
            f"{p_in.threshold:.4f}",
            f"{p_in.recall:.2f}",
            f"{p_in.escalation_rate:.2f}",
            f"{p_in.pixel_share or 0:.2f}",
            f"{p_out.recall:.2f}",
            f"{p_out.escalation_rate:.2f}",
            f"{p_out.pixel_share or 0:.2f}",
        )
    console.print(curve_table)
    cost = time_cost(calibration)
    if cost is not None:
        console.print(
            f"gate time: {cost.gate_seconds_mean:.3f} s/page vs classical "
            f"{cost.classical_seconds_mean:.3f} s/page ({cost.ratio_of_means:.1%}; median page "
            f"{cost.ratio_median:.1%}, p90 {cost.ratio_p90:.1%})"
        )
