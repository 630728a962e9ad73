"""The quality gate: each signal fires on what it is for, and stays quiet on clean pages."""

from __future__ import annotations

from typing import Any

import pytest

from tierocr.config import GateSettings
from tierocr.document import BBox, Block, BlockKind, Page, Provenance, Tier
from tierocr.quality import assess_page, assess_text, failing_regions, garbage_ratio, mojibake_ratio

GATE = GateSettings()
OCR = Provenance(tier=Tier.OCR, engine="rapidocr")
EN = ["en"]
CLEAN = (
    "The committee met on Tuesday to review the annual budget. Members agreed that the proposal "
    "needed further work before it could be adopted, and asked the secretary to circulate a revised "
    "draft by the end of the month."
)


def block(text: str, confidence: float | None = 0.95, **extra: Any) -> Block:
    return Block(text=text, confidence=confidence, provenance=OCR, **extra)


def page(*blocks: Block) -> Page:
    return Page(number=1, width=1700, height=2200, dpi=200, tier=Tier.OCR, blocks=list(blocks))


def test_clean_page_passes_with_a_score() -> None:
    verdict = assess_page(page(block(CLEAN), block(CLEAN)), GATE, languages=EN, ink_ratio=0.04)
    assert verdict.accepted and verdict.signals == {} and verdict.reasons == []
    assert verdict.score is not None and verdict.score > 0.9


def test_near_empty_inked_page_fails_but_blank_page_passes() -> None:
    verdict = assess_page(page(block("a1")), GATE, languages=EN, ink_ratio=0.08)
    assert not verdict.accepted and verdict.signals["near_empty"] == 2.0
    assert "2 characters" in verdict.reasons[0]
    assert assess_page(page(), GATE, languages=EN, ink_ratio=0.0005).accepted


def test_much_ink_few_characters_fails() -> None:
    verdict = assess_page(page(block(CLEAN[:100])), GATE, languages=EN, ink_ratio=0.2)
    assert verdict.signals["ink_per_char"] > GATE.max_ink_pixels_per_char


def test_garbage_on_a_latin_page() -> None:
    noisy = "Th� 委员会 met 沒有 on ☒☒ Tuesday 週二 審查 年度 預算 案件 會議 結束"
    assert garbage_ratio(noisy, EN) > 0.3
    verdict = assess_page(page(block(noisy)), GATE, languages=EN)
    assert not verdict.accepted and verdict.signals["garbage_ratio"] > 0.3


def test_chinese_page_is_not_garbage_when_chinese_is_configured() -> None:
    chinese = "委员会于星期二开会审议年度预算。成员们一致认为，该提案在通过之前需要进一步完善（见附件 A）。"
    assert garbage_ratio(chinese, ["ch_sim", "en"]) == 0.0
    assert assess_page(page(block(chinese)), GATE, languages=["ch_sim", "en"]).accepted
    assert not assess_page(page(block(chinese)), GATE, languages=["en"]).accepted


def test_accented_latin_and_symbols_are_not_garbage() -> None:
    french = "L'été dernier, le comité a approuvé 3 000 € de dépenses — soit 12 % de plus ; voir § 4.2 (©)."
    assert garbage_ratio(french, ["fr"]) == 0.0
    assert garbage_ratio("Ω = 2π·r ≤ 10 µm ±0.5 °C", EN) < 0.3


def test_low_mean_confidence_fails() -> None:
    verdict = assess_page(page(block(CLEAN, 0.5), block(CLEAN, 0.6)), GATE, languages=EN)
    assert verdict.signals["mean_confidence"] < GATE.min_mean_confidence


def test_low_confidence_tail_is_a_region_signal() -> None:
    smudged = block("Smudged footnote text here", 0.35, bbox=BBox(x0=0, y0=0, x1=9, y1=9))
    p = page(*(block(CLEAN) for _ in range(9)), smudged)
    verdict = assess_page(p, GATE, languages=EN)
    assert "mean_confidence" not in verdict.signals and verdict.signals["low_confidence"] < 0.5
    assert failing_regions(p, GATE) == {9: "low_confidence"}


def test_collapsed_table_rows_fail_and_point_at_their_block() -> None:
    rows = "\n".join(f"Region {i} 1,204 3.5% 17 (42) 2023" for i in range(5))
    p = page(block(CLEAN), block(rows))
    verdict = assess_page(p, GATE, languages=EN)
    assert verdict.signals["collapsed_table"] == 5.0
    assert failing_regions(p, GATE) == {1: "collapsed_table"}
    two_rows = "\n".join(rows.splitlines()[:2])
    assert "collapsed_table" not in assess_page(page(block(two_rows)), GATE, languages=EN).signals


def test_table_without_html_and_formula_without_latex() -> None:
    p = page(
        block(CLEAN),
        block("a b c", kind=BlockKind.TABLE),
        block("x y", kind=BlockKind.TABLE, html="<table><tr><td>x</td><td>y</td></tr></table>"),
        block("E = mc2", kind=BlockKind.FORMULA),
    )
    verdict = assess_page(p, GATE, languages=EN)
    assert verdict.signals == {"table_without_html": 1.0, "formula_without_latex": 1.0}
    assert failing_regions(p, GATE) == {1: "table_without_html", 3: "formula_without_latex"}
    lenient = GATE.model_copy(update={"require_formula_latex": False})
    assert assess_page(p, lenient, languages=EN).signals == {"table_without_html": 1.0}


def test_repetition_loop_fails_but_toc_leaders_do_not() -> None:
    looped = CLEAN + " " + "and the and the " * 30
    assert assess_page(page(block(looped)), GATE, languages=EN).signals["repetition"] > 0.5
    toc = "\n".join(f"{i}. Section title {'.' * 50} {i * 3}" for i in range(1, 30))
    assert "repetition" not in assess_page(page(block(toc)), GATE, languages=EN).signals


def test_text_layer_mojibake() -> None:
    broken = "Lâ€™Ã©tÃ© dernier, le comitÃ© a approuvÃ© les dÃ©penses (cid:12)(cid:13)."
    assert mojibake_ratio(broken) > 0.2
    verdict = assess_page(page(block(broken, None)), GATE, languages=["fr"])
    assert not verdict.accepted and "mojibake" in verdict.signals
    assert mojibake_ratio("Ça a été très Âgé, à São Paulo.") == 0.0


def test_assess_text_for_regions() -> None:
    assert assess_text(CLEAN, GATE, languages=EN, confidence=0.97).accepted
    verdict = assess_text("▓▒░ ╬╬ ☐☐ ▓▒░ ╬", GATE, languages=EN, confidence=0.4)
    assert {"garbage_ratio", "mean_confidence"} <= verdict.signals.keys()


def test_ink_ratio_counts_dark_pixels() -> None:
    from PIL import Image, ImageDraw

    from tierocr.quality import ink_ratio

    image = Image.new("RGB", (2000, 1000), "white")
    ImageDraw.Draw(image).rectangle((0, 0, 499, 999), fill=(30, 30, 30))
    assert ink_ratio(image, 128) == pytest.approx(0.25, abs=0.01)
    assert ink_ratio(Image.new("L", (50, 50), 200), 128) == 0.0


def test_a_table_glued_into_one_line_counts_its_rows() -> None:
    glued = (
        "Year Ended Jan 26, 2025 Jan 28, 2024 (In millions) Cost of revenue $ 178 $ 141 $ 138 Research and "
        "development 3,423 2,532 1,892 Sales, general and administrative 1,136 876 680 "
        "Total $ 4,737 $ 3,549 $ 2,710"
    )
    verdict = assess_page(page(block(CLEAN), block(glued)), GATE, languages=EN)
    assert verdict.signals["collapsed_table"] == 4.0
    prose = "In fiscal years 2025, 2024, and 2023 we spent 12 % more; see Note 16 on page 62 of the report."
    assert "collapsed_table" not in assess_page(page(block(prose)), GATE, languages=EN).signals


def test_columns_read_across_are_split_rows() -> None:
    across = "\n".join(f"left column text {i}  middle column words  right column here" for i in range(6))
    p = page(
        block(CLEAN, bbox=BBox(x0=0, y0=0, x1=9, y1=9)), block(across, bbox=BBox(x0=0, y0=10, x1=9, y1=19))
    )
    verdict = assess_page(p, GATE, languages=EN)
    assert verdict.signals == {"split_rows": 6.0}
    assert failing_regions(p, GATE) == {1: "split_rows"}
    names = ["Name", "Street", "City", "Country", "Phone", "Email", "Employer", "Position"]
    label_value = "\n".join(f"{label}:  some value" for label in names)  # two pieces a row: a form, fine
    assert assess_page(page(block(label_value)), GATE, languages=EN).accepted


def test_formula_read_as_text_is_a_formula_region() -> None:
    flattened = block("Enl(t) =  8  1  dρ(K1Ψ)(K2Ψ)  8  1  dρ(K3Ψ)(K4Ψ),", bbox=BBox(x0=0, y0=0, x1=9, y1=9))
    p = page(block(CLEAN), flattened)
    assert assess_page(p, GATE, languages=EN).signals == {"formula_like": 1.0}
    assert failing_regions(p, GATE) == {1: "formula_like"}
    inline = "The ratio x = 5 was kept for all runs, as in the earlier study of the same population."
    assert assess_page(page(block(inline)), GATE, languages=EN).accepted
    pdfium = Provenance(tier=Tier.TEXT_LAYER, engine="pdfium")
    text_layer = flattened.model_copy(update={"provenance": pdfium})
    assert "formula_like" not in assess_page(page(text_layer), GATE, languages=EN).signals
