"""PNG charts of a benchmark (matplotlib, from the `eval` extra; drawn off-screen)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tierocr.benchmark.models import BenchReport
from tierocr.evaluation.corpus import Metric


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display: a server, a CI runner
    import matplotlib.pyplot as plt

    return plt


def accuracy_value(metric: Metric, value: float | None) -> float | None:
    """A score where higher is better for every metric: 1 - NED beside pass rates and TEDS."""
    if value is None:
        return None
    return 1.0 - value if metric is Metric.NED else value


def latency_chart(report: BenchReport, path: Path) -> Path | None:
    """Warm latencies per target as a box plot, the cold start as a marker beside them."""
    measured = [t for t in report.targets if t.warm is not None]
    if not measured:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(measured) + 2), 4.2))
    ax.boxplot([t.warm.samples for t in measured if t.warm], showfliers=True)
    ax.set_xticks(range(1, len(measured) + 1), [t.name for t in measured], rotation=15)
    colds = [(i + 1, t.cold_start_s) for i, t in enumerate(measured) if t.cold_start_s is not None]
    if colds:
        ax.scatter(
            [x for x, _ in colds], [y for _, y in colds], marker="x", color="tab:red", label="cold start"
        )
        ax.legend(loc="best")
    values = [s for t in measured if t.warm for s in t.warm.samples] + [y for _, y in colds]
    if values and min(values) > 0 and max(values) / min(values) > 30:
        ax.set_yscale("log")
    ax.set_ylabel("seconds per image")
    ax.set_title("Latency: warm requests, one at a time")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def throughput_chart(report: BenchReport, path: Path) -> Path | None:
    lines = [t for t in report.targets if t.throughput]
    if not lines:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for t in lines:
        ax.plot(
            [p.concurrency for p in t.throughput],
            [p.images_per_s for p in t.throughput],
            marker="o",
            label=t.name,
        )
    ax.set_xlabel("requests in flight")
    ax.set_ylabel("images/s")
    ax.set_xticks(report.concurrency)
    ax.set_title("Throughput vs concurrency")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def grouped_bars(
    labels: list[str],
    series: dict[str, list[float | None]],
    path: Path,
    *,
    title: str,
    ylabel: str,
    horizontal: bool = False,
) -> Path:
    """One group of bars per label, one bar per series; missing values are left out, not drawn as 0.

    ``horizontal`` lays the groups down the page, for many or long labels (the first label on top).
    """
    plt = _pyplot()
    groups = len(labels) * max(1, len(series))
    if horizontal:
        fig, ax = plt.subplots(figsize=(9.0, max(3.0, 0.28 * groups + 1.4)))
    else:
        fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * groups + 2), 4.6))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [j + (i - (len(series) - 1) / 2) * width for j, v in enumerate(values) if v is not None]
        heights = [v for v in values if v is not None]
        if horizontal:
            ax.barh(xs, heights, height=width, label=name)
        else:
            ax.bar(xs, heights, width=width, label=name)
    if horizontal:
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.set_xlabel(ylabel)
        ax.grid(axis="x", alpha=0.3)
    else:
        ax.set_xticks(range(len(labels)), labels, rotation=25, ha="right")
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def accuracy_chart(report: BenchReport, path: Path) -> Path | None:
    groups = [g for g in report.summary if g.group.startswith("content=")]
    if not groups:
        return None
    labels = [f"{g.group.split('=', 1)[1]} ({g.metric})" for g in groups]
    series = {
        name: [accuracy_value(g.metric, g.systems[name].value if name in g.systems else None) for g in groups]
        for name in report.names
    }
    return grouped_bars(
        labels,
        series,
        path,
        title="Accuracy per content kind",
        ylabel="1 - NED, olmOCR pass rate or TEDS (higher is better)",
    )


def bench_charts(report: BenchReport, report_dir: Path) -> list[Path]:
    """The three charts of `tierocr bench`; raises ImportError without matplotlib."""
    report_dir.mkdir(parents=True, exist_ok=True)
    drawn = [
        latency_chart(report, report_dir / "latency.png"),
        throughput_chart(report, report_dir / "throughput.png"),
        accuracy_chart(report, report_dir / "accuracy.png"),
    ]
    return [p for p in drawn if p is not None]
