"""`tierocr deploy check URL`: after a deployment, prove each path answers and measure how fast.

Only the public HTTP API (docs/api.md) is used, so the check runs the same against a local install, a
compose stack, a pod behind RunPod's proxy or nginx. The inputs are drawn here with PIL (no fixture files,
no reportlab), small enough that a CPU-only server answers in seconds.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from PIL import Image, ImageDraw, ImageFont

TEXT_WORDS = ("Invoice", "4711", "Total", "1250")
TABLE_ROWS = (("Region", "Q1", "Q2"), ("North", "10", "12"), ("South", "7", "9"))
FORMULA = "x = (a + b) / 2"


@dataclass
class Step:
    """One line of the report. ``ok`` None means skipped (with the reason in ``detail``)."""

    name: str
    ok: bool | None = None
    requests: int = 0
    latencies_s: list[float] = field(default_factory=list)
    images: int = 0
    pages: int = 0
    wall_s: float = 0.0
    detail: str = ""

    def figures(self) -> dict[str, float | None]:
        lat = sorted(self.latencies_s)
        p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))] if lat else None
        return {
            "latency_p50_s": round(statistics.median(lat), 3) if lat else None,
            "latency_p95_s": round(p95, 3) if p95 is not None else None,
            "images_per_s": round(self.images / self.wall_s, 3) if self.images and self.wall_s else None,
            "pages_per_s": round(self.pages / self.wall_s, 3) if self.pages and self.wall_s else None,
        }

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["latencies_s"] = [round(x, 3) for x in self.latencies_s]
        out["wall_s"] = round(self.wall_s, 3)
        return out | self.figures()


@dataclass
class Report:
    url: str
    steps: list[Step]

    @property
    def ok(self) -> bool:
        return all(step.ok is not False for step in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "ok": self.ok, "steps": [s.to_dict() for s in self.steps]}


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def text_image(lines: list[str]) -> bytes:
    image = Image.new("RGB", (720, 60 + 56 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((30, 30 + 56 * i), line, fill="black", font=_font(36))
    return _png(image)


def table_image() -> bytes:
    cell_w, cell_h = 200, 60
    image = Image.new("RGB", (cell_w * 3 + 40, cell_h * 3 + 40), "white")
    draw = ImageDraw.Draw(image)
    for r, row in enumerate(TABLE_ROWS):
        for c, value in enumerate(row):
            x, y = 20 + c * cell_w, 20 + r * cell_h
            draw.rectangle([x, y, x + cell_w, y + cell_h], outline="black", width=2)
            draw.text((x + 16, y + 14), value, fill="black", font=_font(30))
    return _png(image)


def formula_image() -> bytes:
    return text_image([FORMULA])


def short_pdf(pages: int = 2) -> bytes:
    """An image-only PDF (each page needs OCR), one invoice line per page."""
    images = [
        Image.open(io.BytesIO(text_image([f"Page {n} of the check", "Invoice 4711 Total 1250"]))).convert(
            "RGB"
        )
        for n in range(1, pages + 1)
    ]
    buf = io.BytesIO()
    images[0].save(buf, "PDF", save_all=True, append_images=images[1:], resolution=144)
    return buf.getvalue()


class Checker:
    """Runs the steps against one base URL with one pooled client."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None,
        timeout_s: float,
        concurrency: int,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=concurrency + 2)
        self.url = url.rstrip("/")
        self.client = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=timeout_s,
            limits=limits,
            trust_env=False,
            transport=transport,
        )
        self.concurrency = concurrency
        self.vlm_configured: bool | None = None

    def close(self) -> None:
        self.client.close()

    def run(self) -> Report:
        steps = [self.health()]
        if steps[0].ok is False:
            return Report(self.url, steps)
        steps += [self.recognize("text"), self.recognize("table"), self.recognize("formula")]
        steps += [self.concurrent(), self.pdf()]
        return Report(self.url, steps)

    def _timed(self, step: Step, call: Callable[[], httpx.Response]) -> httpx.Response | None:
        start = time.perf_counter()
        try:
            response = call()
        except httpx.HTTPError as exc:
            step.ok, step.detail = False, f"{type(exc).__name__}: {exc}"
            return None
        finally:
            step.requests += 1
        step.latencies_s.append(time.perf_counter() - start)
        return response

    def health(self) -> Step:
        step = Step("health")
        response = self._timed(step, lambda: self.client.get("/health"))
        if response is None:
            return step
        try:
            body = response.json()
        except ValueError:
            step.ok, step.detail = False, f"HTTP {response.status_code}, not JSON"
            return step
        tiers = body.get("tiers", {})
        self.vlm_configured = bool(tiers.get("vlm", {}).get("configured"))
        # A VLM tier that is not configured is "ready" (nothing to wait for) but does not exist: say so.
        ready = {
            name: "not configured" if t.get("configured") is False else "yes" if t.get("ready") else "no"
            for name, t in tiers.items()
        }
        step.ok = response.status_code == 200
        step.detail = f"HTTP {response.status_code}, version {body.get('version')}, ready: " + ", ".join(
            f"{k}={v}" for k, v in ready.items()
        )
        return step

    def recognize(self, task: str) -> Step:
        step = Step(f"recognize {task}")
        data = {
            "text": lambda: text_image(["Invoice 4711", "Total 1250"]),
            "table": table_image,
            "formula": formula_image,
        }[task]()
        response = self._timed(
            step,
            lambda: self.client.post(
                "/api/ocr/recognize", files={"image": (f"{task}.png", data, "image/png")}, data={"task": task}
            ),
        )
        if response is None:
            return step
        step.wall_s = step.latencies_s[-1]
        if response.status_code == 503 and task != "text" and self.vlm_configured is False:
            step.ok, step.detail = None, "skipped: the server has no VLM tier (503, vlm.configured false)"
            return step
        if response.status_code != 200:
            step.ok, step.detail = False, f"HTTP {response.status_code}: {response.text[:200]}"
            return step
        body = response.json()
        step.images = 1
        step.ok, step.detail = _judge(task, body)
        return step

    def concurrent(self) -> Step:
        n = self.concurrency
        step = Step(f"{n} concurrent images")
        images = [text_image([f"Check image {i}", "Invoice 4711"]) for i in range(1, n + 1)]

        def one(data: bytes) -> tuple[float, int | str]:
            start = time.perf_counter()
            try:
                r = self.client.post(
                    "/api/ocr/recognize", files={"image": ("c.png", data, "image/png")}, data={"task": "text"}
                )
            except httpx.HTTPError as exc:
                return time.perf_counter() - start, type(exc).__name__
            return time.perf_counter() - start, r.status_code

        start = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            results = list(pool.map(one, images))
        step.wall_s = time.perf_counter() - start
        step.requests = n
        step.latencies_s = [lat for lat, _ in results]
        good = sum(1 for _, status in results if status == 200)
        step.images = good
        step.ok = good == n
        step.detail = f"{good}/{n} answered 200" + (
            "" if step.ok else f"; others: {[s for _, s in results if s != 200]}"
        )
        return step

    def pdf(self) -> Step:
        step = Step("short PDF")
        data = short_pdf()
        response = self._timed(
            step,
            lambda: self.client.post(
                "/api/ocr/document",
                files={"file": ("check.pdf", data, "application/pdf")},
                data={"format": "md"},
            ),
        )
        if response is None:
            return step
        step.wall_s = step.latencies_s[-1]
        if response.status_code != 200:
            step.ok, step.detail = False, f"HTTP {response.status_code}: {response.text[:200]}"
            return step
        body = response.json()
        step.pages = int(body.get("pages_parsed") or 0)
        found = _share(body.get("markdown") or "", TEXT_WORDS)
        step.ok = step.pages == 2 and found >= 0.5
        step.detail = f"{step.pages}/2 pages, {found:.0%} of the expected words"
        return step


def _share(text: str, words: tuple[str, ...]) -> float:
    flat = text.replace(",", "").replace(".", "").lower()
    return sum(1 for w in words if w.lower() in flat) / len(words)


def _judge(task: str, body: dict[str, Any]) -> tuple[bool, str]:
    if task == "text":
        found = _share(body.get("text") or "", TEXT_WORDS)
        return found >= 0.5, f"tier {body.get('tier')}, {found:.0%} of the expected words"
    if task == "table":
        html = body.get("html") or ""
        return "<table" in html.lower(), f"tier {body.get('tier')}, {'an HTML table' if html else 'no HTML'}"
    latex = body.get("latex") or ""
    return bool(latex.strip()), f"tier {body.get('tier')}, LaTeX {latex[:40]!r}"


def run_check(
    url: str,
    *,
    api_key: str | None,
    timeout_s: float,
    concurrency: int,
    transport: httpx.BaseTransport | None = None,
) -> Report:
    checker = Checker(url, api_key=api_key, timeout_s=timeout_s, concurrency=concurrency, transport=transport)
    try:
        return checker.run()
    finally:
        checker.close()


def report_table(report: Report) -> str:
    """Aligned text table of the figures, one step per row."""
    head = ("step", "result", "req", "p50 s", "p95 s", "images/s", "pages/s", "detail")
    rows = [head]
    for step in report.steps:
        f = step.figures()
        result = "skip" if step.ok is None else ("ok" if step.ok else "FAIL")
        rows.append(
            (
                step.name,
                result,
                str(step.requests),
                *(f"{v:.3f}" if v is not None else "-" for v in f.values()),
                step.detail,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r[:-1])) + "  " + r[-1] for r in rows]
    lines.append(f"{report.url}: {'all checks passed' if report.ok else 'CHECK FAILED'}")
    return "\n".join(lines)
