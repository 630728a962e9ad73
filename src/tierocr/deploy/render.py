"""A plan as text a person reads before running anything (and JSON for scripts).

Plain aligned text rather than rich tables: the commands must survive copy and paste exactly.
"""

from __future__ import annotations

import shlex

from tierocr.deploy.plan import Plan


def plan_text(plan: Plan) -> str:
    cards = " + ".join(card.preset.key for card in plan.cards)
    out = [
        f"tierocr deploy plan: {cards}, target {plan.target}, model {plan.model_key} ({plan.model.hf_id})",
        "",
        "VRAM",
    ]
    for card in plan.cards:
        cc = card.preset.compute_capability
        head = f"  {card.label}: {card.preset.name}"
        out.append(head + (f", compute capability {cc}" if cc is not None else ""))
        for label, amount in card.arithmetic():
            out.append(f"    {label:<40} {amount:>10}")
        for fit in plan.fits.get(card.index, []):
            if fit.backend == "none" and plan.backend != "none":
                continue
            verdict = "fits" if fit.ok else "does not fit"
            out.append(f"    {fit.backend}: {verdict}: {fit.reason}")
    if plan.ocr_vl_card is None:
        out.append("OCR-VL: none (classical tiers only; pages the gate rejects keep their classical text)")
    else:
        card = plan.cards[plan.ocr_vl_card]
        out.append(f"OCR-VL: {plan.backend} on {card.label}")
    out += ["", "Processes"]
    width = max(len(p.name) for p in plan.processes)
    for p in plan.processes:
        where = f"port {p.port}" if p.port else "no port"
        card_text = f", GPU {p.card}" if p.card is not None and plan.cards[0].preset.is_gpu else ""
        out.append(f"  {p.name:<{width}}  {p.role} ({where}{card_text})")
        out.append(f"  {'':<{width}}  $ {shlex.join(p.command)}")
        for key, value in sorted(p.env.items()):
            out.append(f"  {'':<{width}}    {key}={value}")
    for section, title in (("pod", "Pod"), ("serverless", "Serverless worker")):
        if section in plan.extra:
            spec = plan.extra[section]
            out += ["", title]
            for key, value in spec.items():
                if key == "env":
                    out.append("  env:")
                    out += [f"    {k}={v}" for k, v in value.items()]
                else:
                    out.append(f"  {key}: {', '.join(value) if isinstance(value, list) else value}")
    if "compose_env" in plan.extra:
        out += ["", "deploy/compose.env"]
        out += [f"  {k}={v}" for k, v in plan.extra["compose_env"].items()]
    out += ["", "Commands"]
    out += [f"  {i}. {command}" for i, command in enumerate(plan.commands, 1)]
    if plan.notes:
        out += ["", "Notes"]
        out += [f"  - {note}" for note in plan.notes]
    return "\n".join(out)
