"""Escalation: re-read the pages (or regions) the quality gate rejected with a vision-language model.

The classical page is the floor, never lost: whatever goes wrong with the VLM (server down, timeouts, a
repetition loop, an empty answer, a bug here) the page comes back as the classical tier produced it, with
a ``vlm`` error and a ``tier_reason`` that says so. A page whose failures are confined to a few regions
(a table without structure, some low-confidence blocks) has only those crops re-read, with the task
prompt that fits them; otherwise the whole page image goes out with the profile's page prompt.

The pipeline is synchronous; :func:`escalate_pages` runs one event loop per batch so that all of a
document's pages are in flight together, bounded by ``vlm.max_concurrency``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from tierocr.config import Settings
from tierocr.document import BBox, Block, BlockKind, Page, PageError, Provenance, Tier
from tierocr.engines.vlm import CircuitBreaker, VlmClient, VlmError
from tierocr.engines.vlm_backends import BackendMemo, backend_control
from tierocr.engines.vlm_normalize import answer_to_blocks
from tierocr.engines.vlm_profiles import Task
from tierocr.gpu.lease import Lease, LeaseError
from tierocr.gpu.release import leased_batch
from tierocr.quality import PAGE_SIGNALS, PageJudge, assess_page, failing_regions

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Margin in pixels around a region crop: models read glyphs cut at the border badly.
_CROP_PAD = 6


@dataclass(frozen=True, slots=True)
class Region:
    """Consecutive failing blocks read together with one prompt (one table's rows are one crop)."""

    indices: tuple[int, ...]
    task: Task
    reason: str


@dataclass(frozen=True, slots=True)
class EscalationPlan:
    """What to do with one page: nothing, the whole page, or some regions of its blocks."""

    mode: Literal["none", "page", "regions"]
    reason: str
    regions: tuple[Region, ...] = field(default_factory=tuple)


def _task_for(block: Block, reason: str) -> Task:
    if block.kind is BlockKind.TABLE or reason in ("collapsed_table", "split_rows"):
        return Task.TABLE
    if block.kind is BlockKind.FORMULA or reason == "formula_like":
        return Task.FORMULA
    if block.kind is BlockKind.FIGURE:
        return Task.CHART
    return Task.TEXT


def group_regions(page: Page, failing: dict[int, str]) -> tuple[Region, ...]:
    """Failing blocks as regions: neighbours in reading order that want the same task are merged.

    The layout often makes one block per table row; reading each row alone would cost one request per
    row and lose the table's structure.
    """
    regions: list[Region] = []
    for index in sorted(failing):
        task = _task_for(page.blocks[index], failing[index])
        last = regions[-1] if regions else None
        if (
            last is not None
            and last.indices[-1] == index - 1
            and last.task is task
            and task is not Task.FORMULA
        ):
            regions[-1] = Region((*last.indices, index), task, last.reason)
        else:
            regions.append(Region((index,), task, failing[index]))
    return tuple(regions)


def gate_page(
    page: Page, image: Image.Image | None, settings: Settings, judge: PageJudge | None = None
) -> Page:
    """The page with the gate's verdict on its classical read recorded in ``quality``.

    What the pipeline calls after the classical tiers; ``image`` is the page image (None when the page
    was never rendered, e.g. a usable text layer: then the image-based signals are skipped). ``judge``
    keeps the gate's model and second engine loaded across pages; without one a fresh one is made.
    The gate's own time is recorded in ``timings["gate"]``, so its cost beside the classical tier's shows.
    """
    started = time.perf_counter()
    try:
        verdict = (judge or PageJudge(settings)).judge(page, image)
    except Exception:  # a gate bug must not cost the page: fall back to the threshold rule
        log.exception("page %d: quality gate failed; threshold verdict used", page.number)
        verdict = assess_page(page, settings.gate, languages=settings.ocr.languages)
    timings = {**page.timings, "gate": round(time.perf_counter() - started, 4)}
    return page.model_copy(update={"quality": verdict, "timings": timings})


def plan_escalation(page: Page, settings: Settings) -> EscalationPlan:
    """Decide from ``vlm.escalate`` and the page's gate verdict (computed here if the pipeline did not).

    A calibrated verdict says itself whether the page or only some regions need the VLM (``scope``);
    a threshold verdict is read by its signals: any page-level one sends the whole page.
    """
    policy = settings.vlm.escalate
    if policy == "never":
        return EscalationPlan("none", "escalation disabled")
    if policy == "always":
        return EscalationPlan("page", "escalate=always")
    verdict = page.quality or assess_page(page, settings.gate, languages=settings.ocr.languages)
    if verdict.accepted:
        return EscalationPlan("none", "quality gate passed")
    fired = ", ".join(f"{k}={v:g}" for k, v in verdict.signals.items())
    reason = f"quality gate failed ({fired})"
    if settings.vlm.max_regions == 0 or verdict.scope == "page":
        return EscalationPlan("page", reason)
    if verdict.scope is None and PAGE_SIGNALS & verdict.signals.keys():
        return EscalationPlan("page", reason)
    failing = verdict.regions if verdict.scope == "regions" else failing_regions(page, settings.gate)
    failing = {i: why for i, why in failing.items() if 0 <= i < len(page.blocks)}
    regions = group_regions(page, failing)
    if (
        not regions
        or len(regions) > settings.vlm.max_regions
        or any(page.blocks[i].bbox is None for i in failing)
    ):
        return EscalationPlan("page", reason)
    return EscalationPlan("regions", reason, regions)


def _noted(page: Page, note: str) -> Page:
    return page.model_copy(update={"tier_reason": f"{page.tier_reason or page.tier.value}; {note}"})


def _kept(page: Page, plan: EscalationPlan, error: BaseException | str) -> Page:
    """The classical page, marked: the VLM was wanted and failed, so this is the fallback."""
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    prior = page.tier_reason or page.tier.value
    return page.model_copy(
        update={
            "errors": [*page.errors, PageError(stage="vlm", message=message)],
            "tier_reason": f"{prior}; {plan.reason}; VLM escalation failed, classical result kept",
        }
    )


async def escalate_page(
    page: Page,
    image: Image.Image,
    client: VlmClient,
    settings: Settings,
    *,
    plan: EscalationPlan | None = None,
) -> Page:
    """The page re-read by the VLM per ``plan`` (computed when not given); never raises for VLM trouble."""
    plan = plan or plan_escalation(page, settings)
    if plan.mode == "none":
        return page
    started = time.perf_counter()
    try:
        if plan.mode == "page":
            result = await _whole_page(page, image, client, plan)
        else:
            result = await _regions(page, image, client, plan)
    except VlmError as exc:
        log.warning("page %d: VLM escalation failed: %s", page.number, exc)
        result = _kept(page, plan, exc)
    except Exception as exc:  # a bug must not cost the page: the classical read stands
        log.exception("page %d: unexpected error during VLM escalation", page.number)
        result = _kept(page, plan, exc)
    timings = {**result.timings, "vlm": round(time.perf_counter() - started, 4)}
    return result.model_copy(update={"timings": timings})


async def _whole_page(page: Page, image: Image.Image, client: VlmClient, plan: EscalationPlan) -> Page:
    provenance = Provenance(tier=Tier.VLM, engine=client.engine_name)
    answer = await client.recognize(image, Task.PAGE)
    blocks = answer_to_blocks(answer.text, Task.PAGE, provenance)
    if not blocks:
        return _kept(page, plan, "VLM returned an empty answer")
    for block in blocks:
        block.attributes["vlm_attempts"] = answer.attempts
        if answer.loop_cut:
            block.attributes["vlm_loop_retried"] = True
    return page.model_copy(
        update={
            "blocks": blocks,
            "tier": Tier.VLM,
            "tier_reason": f"{plan.reason}: re-read by {client.engine_name}",
        }
    )


def _crop(image: Image.Image, page: Page, box: BBox) -> Image.Image:
    """The box cut from the page image (boxes are in page pixels; the image may be scaled)."""
    sx, sy = image.width / page.width, image.height / page.height
    left = max(0, int(box.x0 * sx) - _CROP_PAD)
    top = max(0, int(box.y0 * sy) - _CROP_PAD)
    right = min(image.width, int(box.x1 * sx + 0.999) + _CROP_PAD)
    bottom = min(image.height, int(box.y1 * sy + 0.999) + _CROP_PAD)
    if right - left < 2 or bottom - top < 2:
        raise VlmError(f"region {box} is empty after cropping")
    return image.crop((left, top, right, bottom))


async def _region(
    page: Page, image: Image.Image, client: VlmClient, region: Region
) -> list[Block] | VlmError:
    originals = [page.blocks[i] for i in region.indices]
    box = originals[0].bbox
    assert box is not None  # planning sends whole pages when a failing block has no box
    for block in originals[1:]:
        assert block.bbox is not None
        box = box.union(block.bbox)
    try:
        answer = await client.recognize(_crop(image, page, box), region.task)
    except VlmError as exc:
        return exc
    provenance = Provenance(tier=Tier.VLM, engine=client.engine_name)
    kind = originals[0].kind
    hint = kind if len(originals) == 1 and kind is not BlockKind.TEXT else None
    blocks = answer_to_blocks(answer.text, region.task, provenance, bbox=box, kind_hint=hint)
    if not blocks:
        return VlmError("VLM returned an empty answer")
    confidences = [b.confidence for b in originals if b.confidence is not None]
    classical = {
        "escalated": region.reason,
        "classical_text": "\n".join(b.text for b in originals),
        "classical_confidence": min(confidences) if confidences else None,
    }
    for new in blocks:
        new.attributes.update(classical)
    return blocks


async def _regions(page: Page, image: Image.Image, client: VlmClient, plan: EscalationPlan) -> Page:
    results = await asyncio.gather(*(_region(page, image, client, r) for r in plan.regions))
    first_of = {r.indices[0]: (r, out) for r, out in zip(plan.regions, results, strict=True)}
    replaced = {
        i
        for r, out in zip(plan.regions, results, strict=True)
        if not isinstance(out, VlmError)
        for i in r.indices
    }
    blocks: list[Block] = []
    errors = list(page.errors)
    for i, block in enumerate(page.blocks):
        if i in first_of:
            region, outcome = first_of[i]
            if isinstance(outcome, VlmError):
                where = (
                    f"blocks {region.indices[0]}-{region.indices[-1]}"
                    if len(region.indices) > 1
                    else f"block {i}"
                )
                errors.append(PageError(stage="vlm", message=f"{where}: {type(outcome).__name__}: {outcome}"))
            else:
                blocks.extend(outcome)
        if i not in replaced:
            blocks.append(block)
    done = sum(1 for out in results if not isinstance(out, VlmError))
    if done == 0:
        return _kept(page, plan, f"all {len(results)} region(s) failed: {errors[-1].message}")
    note = f"{done}/{len(results)} region(s) re-read by {client.engine_name}"
    prior = page.tier_reason or page.tier.value
    return page.model_copy(
        update={"blocks": blocks, "errors": errors, "tier_reason": f"{prior}; {plan.reason}: {note}"}
    )


async def escalate_pages_async(
    items: Sequence[tuple[Page, Image.Image]],
    settings: Settings,
    *,
    breaker: CircuitBreaker | None = None,
    client: VlmClient | None = None,
    lease: Lease | None = None,
    backends: BackendMemo | None = None,
) -> list[Page]:
    """All pages of a batch, in order, escalated where their plan says so, concurrently.

    With ``lease`` the batch holds the GPU lease while its requests are in flight, so OCR-VL work on a
    card shared with an LLM never runs beside it, and the server lets the model go (unload, sleep) before
    the lease is given back (`tierocr.gpu.release`); a lease that cannot be had, or a server that cannot
    be woken, keeps the classical pages. ``backends`` remembers detected server kinds across batches.
    """
    plans = [plan_escalation(page, settings) for page, _ in items]
    if all(p.mode == "none" for p in plans):
        return [page for page, _ in items]
    if client is None and not settings.vlm.url:
        # Not a failure: the user runs without a VLM. The reason still says what the gate found.
        return [
            page if plan.mode == "none" else _noted(page, f"{plan.reason}; no VLM endpoint configured")
            for (page, _), plan in zip(items, plans, strict=True)
        ]

    async def one(page: Page, image: Image.Image, plan: EscalationPlan, vlm: VlmClient) -> Page:
        # The client bounds encoded images and requests in flight; here every page just joins in.
        return page if plan.mode == "none" else await escalate_page(page, image, vlm, settings, plan=plan)

    async def run(vlm: VlmClient) -> list[Page]:
        jobs = [one(page, image, plan, vlm) for (page, image), plan in zip(items, plans, strict=True)]
        if lease is None:
            results = await asyncio.gather(*jobs, return_exceptions=True)
        else:
            try:
                control = await backend_control(vlm.http, vlm.settings, memo=backends)
                async with leased_batch(
                    lease, control, settings.gpu, url=vlm.settings.url or "", model=vlm.settings.model
                ):
                    results = await asyncio.gather(*jobs, return_exceptions=True)
            except (LeaseError, VlmError) as exc:
                for job in jobs:
                    job.close()
                return [
                    p if pl.mode == "none" else _kept(p, pl, exc)
                    for (p, _), pl in zip(items, plans, strict=True)
                ]
        return [
            r if isinstance(r, Page) else _kept(page, plan, r)
            for r, (page, _), plan in zip(results, items, plans, strict=True)
        ]

    if client is not None:
        return await run(client)
    try:
        vlm = VlmClient(settings.vlm, breaker=breaker)
    except VlmError as exc:
        return [
            p if pl.mode == "none" else _kept(p, pl, exc) for (p, _), pl in zip(items, plans, strict=True)
        ]
    async with vlm:
        return await run(vlm)


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, even when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class Escalator:
    """Synchronous face for the pipeline; keeps one circuit breaker across all batches it runs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.breaker = CircuitBreaker(settings.vlm.breaker_threshold, settings.vlm.breaker_cooldown)
        self.lease: Lease | None = None
        self.backends = BackendMemo()
        if settings.vlm.use_lease:
            from tierocr.gpu import create_lease

            self.lease = create_lease(None, settings.gpu)

    def escalate_pages(self, items: Sequence[tuple[Page, Image.Image]]) -> list[Page]:
        return _run_sync(
            escalate_pages_async(
                items, self.settings, breaker=self.breaker, lease=self.lease, backends=self.backends
            )
        )


def escalate_pages(
    items: Sequence[tuple[Page, Image.Image]], settings: Settings, *, breaker: CircuitBreaker | None = None
) -> list[Page]:
    """Synchronous batch escalation: one event loop for the batch, pages in flight together."""
    return _run_sync(escalate_pages_async(items, settings, breaker=breaker))
