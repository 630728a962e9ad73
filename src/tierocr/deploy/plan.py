"""A deployment plan: which card runs OCR-VL with which backend and whether it fits; refused when it does not.

The plan is pure data computed from the settings and the presets, so `deploy plan` prints it, `deploy up`
carries it out and `deploy pod create` rents a GPU for it, all from one computation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tierocr.config import Settings
from tierocr.deploy.memory import MIB_PER_GIB, CardMemory, Fit
from tierocr.deploy.presets import GpuPreset, ModelSpec, Pins, PresetsFile, VlmBackend, load_presets
from tierocr.errors import TierOcrError

Target = Literal["local", "compose", "pod", "serverless"]
BackendChoice = Literal["auto", "vllm", "vlm-serve", "none"]
_RANK = {"vllm": 2, "vlm-serve": 1, "none": 0}


class PlanRefusedError(TierOcrError):
    """The asked-for deployment does not fit; ``reasons`` says which number did not add up."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("plan refused:\n  " + "\n  ".join(reasons))
        self.reasons = reasons


@dataclass
class Process:
    """One long-running process of the plan: a systemd unit, a compose service or a line of start.sh."""

    name: str
    role: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    port: int | None = None
    card: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "command": self.command,
            "env": self.env,
            "port": self.port,
            "card": self.card,
        }


@dataclass
class Plan:
    target: Target
    model_key: str
    model: ModelSpec
    pins: Pins
    cards: list[CardMemory]
    fits: dict[int, list[Fit]]
    ocr_vl_card: int | None
    backend: VlmBackend
    tierocr_settings: dict[str, dict[str, Any]]
    processes: list[Process] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ocr_vl_preset(self) -> GpuPreset:
        index = self.ocr_vl_card if self.ocr_vl_card is not None else 0
        return self.cards[index].preset

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "model": {"key": self.model_key, "hf_id": self.model.hf_id},
            "pins": self.pins.model_dump(),
            "cards": [
                {
                    "index": card.index,
                    "preset": card.preset.key,
                    "name": card.preset.name,
                    "compute_capability": card.preset.compute_capability,
                    "total_mib": card.total_mib,
                    "llm_mib": card.llm_mib,
                    "headroom_mib": card.headroom_mib,
                    "free_mib": card.free_mib if card.preset.is_gpu else None,
                    "fits": [
                        {"backend": f.backend, "ok": f.ok, "reason": f.reason, "need_mib": f.need_mib}
                        for f in self.fits.get(card.index, [])
                    ],
                }
                for card in self.cards
            ],
            "ocr_vl": {"card": self.ocr_vl_card, "backend": self.backend},
            "settings": self.tierocr_settings,
            "processes": [p.to_dict() for p in self.processes],
            "commands": self.commands,
            "notes": self.notes,
            **{k: v for k, v in self.extra.items() if k != "args"},
        }


def make_plan(
    settings: Settings,
    gpus: list[str],
    *,
    target: Target = "local",
    shared_llm_gib: float | None = None,
    backend: BackendChoice = "auto",
    ocr_vl_on: int | None = None,
    presets: PresetsFile | None = None,
    args: str = "",
) -> Plan:
    """Check the cards, place OCR-VL, and build the processes and commands of ``target``."""
    from tierocr.deploy.processes import build_processes

    presets = presets or load_presets(settings.deploy)
    model = presets.model(settings.deploy.model)
    chosen = [presets.gpu(name) for name in (gpus or ["CPU"])]
    _check_target(chosen, target)
    llm = _shared_llm(chosen, shared_llm_gib)
    cards = [
        CardMemory(i, preset, llm[i], settings.gpu.headroom_mb if preset.is_gpu else 0)
        for i, preset in enumerate(chosen)
    ]
    reasons = [
        f"{card.label}: the resident LLM ({card.llm_mib / MIB_PER_GIB:.1f} GiB) and the headroom do not fit "
        f"in {card.total_mib / MIB_PER_GIB:.1f} GiB"
        for card in cards
        if card.preset.is_gpu and card.free_mib < 0
    ]
    if reasons:
        raise PlanRefusedError(reasons)
    fits = {card.index: _fits(card, model, backend) for card in cards}
    index, picked = _place(cards, fits, backend, ocr_vl_on)
    plan = Plan(
        target=target,
        model_key=settings.deploy.model,
        model=model,
        pins=presets.pins,
        cards=cards,
        fits=fits,
        ocr_vl_card=index if picked.backend != "none" else None,
        backend=picked.backend,
        tierocr_settings={},
        extra={"args": args} if args else {},
    )
    build_processes(plan, settings)
    return plan


def _check_target(chosen: list[GpuPreset], target: Target) -> None:
    names = [p.key for p in chosen]
    if any(not p.is_gpu for p in chosen) and len(chosen) > 1:
        raise PlanRefusedError([f"CPU is a whole-host preset; it cannot be combined with {names}"])
    if target in ("pod", "serverless"):
        if len(chosen) != 1:
            raise PlanRefusedError([f"a {target} plan rents one GPU; got {len(chosen)}: {names}"])
        if chosen[0].runpod is None:
            raise PlanRefusedError(
                [f"{chosen[0].key}: no cloud GPU type in the presets (runpod: null); rent A40, A100 or H100"]
            )


def _shared_llm(chosen: list[GpuPreset], override_gib: float | None) -> list[int]:
    """MiB of resident LLM per card: the presets' values, or ``--shared-llm-gb`` on the card that shares."""
    mib = [int(p.shared_llm_gib * MIB_PER_GIB) for p in chosen]
    if override_gib is None:
        return mib
    if len(chosen) == 1:
        if not chosen[0].is_gpu and override_gib > 0:
            raise PlanRefusedError(["--shared-llm-gb needs a GPU preset; CPU has no card to share"])
        return [int(override_gib * MIB_PER_GIB)]
    sharing = [i for i, p in enumerate(chosen) if p.shared_llm_gib > 0]
    if len(sharing) != 1:
        names = ", ".join(p.key for p in chosen)
        raise PlanRefusedError(
            [
                f"--shared-llm-gb is ambiguous with several cards ({names}): exactly one preset must share "
                "an LLM"
            ]
        )
    mib[sharing[0]] = int(override_gib * MIB_PER_GIB)
    return mib


def _fits(card: CardMemory, model: ModelSpec, backend: BackendChoice) -> list[Fit]:
    wanted: list[VlmBackend] = [card.preset.vlm_backend] if backend == "auto" else [backend]
    if "none" not in wanted:
        wanted.append("none")
    return [card.fit(b, model) for b in wanted]


def _place(
    cards: list[CardMemory], fits: dict[int, list[Fit]], backend: BackendChoice, ocr_vl_on: int | None
) -> tuple[int, Fit]:
    """Pick the card for OCR-VL: the fastest backend that fits, an unshared card first, then the most free.

    Falls back to classical-only only when that was asked for (``--vlm-backend none``) or when every
    card's preset says none; a wanted OCR-VL tier that fits nowhere is a refusal, not a silent downgrade.
    """
    if ocr_vl_on is not None:
        if not 0 <= ocr_vl_on < len(cards):
            raise PlanRefusedError([f"--ocr-vl-on {ocr_vl_on}: the plan has cards 0..{len(cards) - 1}"])
        candidates = [ocr_vl_on]
    else:
        candidates = [card.index for card in cards]
    wanted = [(i, fits[i][0]) for i in candidates]
    if all(f.backend == "none" for _, f in wanted):
        return candidates[0], wanted[0][1]
    good = [(i, f) for i, f in wanted if f.ok and f.backend != "none"]
    if not good:
        reasons = [f.reason for _, f in wanted if not f.ok]
        text = " ".join(reasons)
        if "compute capability" in text or "no GPU" in text:
            reasons.append("use --vlm-backend vlm-serve (or none for classical only) on this card")
        if "free" in text or "below its need" in text:
            reasons.append(
                "make room (a smaller LLM: --shared-llm-gb; gpu.headroom_mb), adjust the preset's "
                "gpu_memory_utilization, or plan classical only: --vlm-backend none"
            )
        raise PlanRefusedError(reasons)
    return max(
        good, key=lambda item: (_RANK[item[1].backend], not cards[item[0]].shared, cards[item[0]].free_mib)
    )
