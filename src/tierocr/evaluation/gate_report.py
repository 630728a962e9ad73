"""What the fitted gate achieves: curves, per-kind operating points, the signals' time, as text and PNG.

Everything here reads a :class:`~tierocr.evaluation.gate_fit.FitResult` and the calibration it came
from; nothing re-runs OCR. The PNG puts the in-sample and the leave-one-source-out recall /
escalation-rate curves side by side, one line per content kind, with the target marked.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from tierocr.evaluation.gate import GateCalibration
from tierocr.evaluation.gate_fit import FitResult, at_recall, at_threshold, curve

#: Escalation rate the issue sets as the budget beside the target recall (drawn on the plot).
BUDGET_LINE = 0.35


class KindPoint(BaseModel):
    group: str
    documents: int
    bad: int
    pages: int
    in_sample_recall: float | None
    in_sample_escalation: float
    loso_recall: float | None
    loso_escalation: float


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


def kind_table(result: FitResult, target_recall: float) -> list[KindPoint]:
    """Recall and escalation per content kind, at the operating point for ``target_recall``: in-sample
    at the final model's own threshold for it, out-of-sample at the threshold read off the LOSO curve."""
    model = result.model
    overall_in = at_recall(model.in_sample_curve, target_recall)
    threshold_in = overall_in.threshold if overall_in is not None else model.default_threshold
    threshold_out = model.threshold(target_recall=target_recall)
    rows = []
    for name, index in _groups(result):
        sub = [result.samples[k] for k in index]
        point_in = at_threshold(curve(sub, result.in_sample[index]), threshold_in)
        point_out = at_threshold(curve(sub, result.loso[index]), threshold_out)
        bad = len({s.row for s in sub if s.bad})
        rows.append(
            KindPoint(
                group=name,
                documents=len({s.row for s in sub}),
                bad=bad,
                pages=len(sub),
                in_sample_recall=point_in.recall if point_in is not None and bad else None,
                in_sample_escalation=point_in.escalation_rate if point_in is not None else 0.0,
                loso_recall=point_out.recall if point_out is not None and bad else None,
                loso_escalation=point_out.escalation_rate if point_out is not None else 0.0,
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
    """Recall vs escalation rate, in-sample | leave-one-source-out, a line per content kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2), sharey=True)
    for ax, (title, probabilities) in zip(
        axes, (("in-sample", result.in_sample), ("leave-one-source-out", result.loso)), strict=True
    ):
        for name, index in _groups(result):
            sub = [result.samples[k] for k in index]
            if not any(s.bad for s in sub):
                continue
            points = sorted(curve(sub, probabilities[index]), key=lambda p: (p.escalation_rate, p.recall))
            xs = [p.escalation_rate for p in points]
            ys = [p.recall for p in points]
            overall = name == "overall"
            ax.step(
                xs,
                ys,
                where="post",
                label=name.removeprefix("content="),
                lw=2.6 if overall else 1.2,
                color="black" if overall else None,
                alpha=1.0 if overall else 0.8,
            )
        ax.axhline(target_recall, ls="--", color="grey", lw=0.8)
        ax.axvline(BUDGET_LINE, ls=":", color="grey", lw=0.8)
        ax.set_title(f"quality gate, {title}")
        ax.set_xlabel("escalation rate (share of pages sent to the VLM)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("recall (share of bad documents caught)")
    axes[1].legend(loc="lower right", fontsize=8)
    fitted = result.model.fitted
    fig.suptitle(
        f"{fitted.get('documents')} documents ({fitted.get('bad_documents')} bad), "
        f"{fitted.get('pages')} pages, {len(fitted.get('sources', []))} sources; "
        f"dashed: target recall, dotted: budget {BUDGET_LINE}",
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
        "| group | docs | bad | pages | in-sample recall | in-sample escalation | LOSO recall "
        "| LOSO escalation |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for k in kind_table(result, target_recall):
        lines.append(
            f"| {k.group} | {k.documents} | {k.bad} | {k.pages} | {_fmt(k.in_sample_recall)} | "
            f"{k.in_sample_escalation:.2f} | {_fmt(k.loso_recall)} | {k.loso_escalation:.2f} |"
        )
    lines += ["", "## Curve (leave-one-source-out, pooled)", "", "| threshold | recall | escalation |"]
    lines.append("| --- | --- | --- |")
    seen: set[tuple[float, float]] = set()
    for p in model.curve:
        if (p.recall, p.escalation_rate) not in seen:
            seen.add((p.recall, p.escalation_rate))
            lines.append(f"| {p.threshold:.4f} | {p.recall:.2f} | {p.escalation_rate:.2f} |")
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
    for column in ("group", "docs", "bad", "pages", "recall in", "esc. in", "recall LOSO", "esc. LOSO"):
        table.add_column(column, justify="left" if column == "group" else "right")
    for k in kind_table(result, target_recall):
        table.add_row(
            k.group,
            str(k.documents),
            str(k.bad),
            str(k.pages),
            _fmt(k.in_sample_recall),
            f"{k.in_sample_escalation:.2f}",
            _fmt(k.loso_recall),
            f"{k.loso_escalation:.2f}",
        )
    console.print(table)
    curve_table = Table(title="recall / escalation-rate curve (LOSO, pooled)")
    for column in ("threshold", "recall", "escalation"):
        curve_table.add_column(column, justify="right")
    seen: set[tuple[float, float]] = set()
    for p in result.model.curve:
        if (p.recall, p.escalation_rate) not in seen:
            seen.add((p.recall, p.escalation_rate))
            curve_table.add_row(f"{p.threshold:.4f}", f"{p.recall:.2f}", f"{p.escalation_rate:.2f}")
    console.print(curve_table)
    cost = time_cost(calibration)
    if cost is not None:
        console.print(
            f"gate time: {cost.gate_seconds_mean:.3f} s/page vs classical "
            f"{cost.classical_seconds_mean:.3f} s/page ({cost.ratio_of_means:.1%}; median page "
            f"{cost.ratio_median:.1%}, p90 {cost.ratio_p90:.1%})"
        )
