"""The calibrated gate's new signals: each fires on a page built for it and stays quiet on a clean one."""

from __future__ import annotations

import math
import random

from PIL import Image, ImageDraw, ImageFont

from tierocr.config import GateSettings, OcrSettings, Settings
from tierocr.document import BBox, Block, BlockKind, Page, Provenance, Tier
from tierocr.quality import PageJudge
from tierocr.quality.agreement import SecondReader, measure_agreement, text_distance, word_mismatch
from tierocr.quality.handwriting import stroke_stats
from tierocr.quality.order import kendall_distance, order_stats
from tierocr.quality.structure import structure_stats, table_doubt

OCR = Provenance(tier=Tier.OCR, engine="rapidocr")
SENTENCE = "The committee met on Tuesday to review the annual budget and agreed on a plan"


def block(text: str, box: tuple[float, float, float, float], kind: BlockKind = BlockKind.TEXT) -> Block:
    x0, y0, x1, y1 = box
    return Block(kind=kind, text=text, bbox=BBox(x0=x0, y0=y0, x1=x1, y1=y1), confidence=0.97, provenance=OCR)


def page_of(*blocks: Block, width: float = 1200, height: float = 1600) -> Page:
    return Page(number=1, width=width, height=height, dpi=200, tier=Tier.OCR, blocks=list(blocks))


def printed_image(lines: int = 12, size: tuple[int, int] = (1200, 900)) -> Image.Image:
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=28)
    for i in range(lines):
        draw.text((40, 40 + i * 60), SENTENCE[:66], fill=0, font=font)
    return image


def cursive_image(seed: int = 0, size: tuple[int, int] = (1200, 900)) -> Image.Image:
    """Pen strokes: slanted loops joined into words on a drifting baseline, as a hand writes."""
    rng = random.Random(seed)
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    y = 80.0
    while y < size[1] - 80:
        x, base = 60.0, y + rng.uniform(-6, 6)
        while x < size[0] - 150:
            letters, slant = rng.randint(3, 8), math.radians(rng.uniform(25, 40))
            points = []
            for k in range(letters * 12):
                t = k / 12
                amplitude = 14 + 8 * math.sin(t * 1.3 + seed)
                yy = base - amplitude * (1 - math.cos(2 * math.pi * t)) / 2 - (18 if k % 37 < 6 else 0)
                xx = x + t * 16 + 6 * math.sin(2 * math.pi * t) + (base - yy) * math.tan(slant)
                points.append((xx, yy))
            draw.line(points, fill=0, width=3, joint="curve")
            x += letters * 16 + rng.uniform(18, 30)
            base += rng.uniform(-3, 3)
        y += rng.uniform(55, 70)
    return image


# --- agreement of two reads ---------------------------------------------------------------------


class FakeReader:
    """A second engine that answers from a script, and records the crops it was shown."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.crops: list[tuple[int, int]] = []

    def read(self, crop: Image.Image) -> str | None:
        self.crops.append(crop.size)
        return self.answers[(len(self.crops) - 1) % len(self.answers)]


def test_text_distance_ignores_spacing_case_and_punctuation() -> None:
    assert text_distance("Total: 12.50 EUR", "total 12 50 eur") == 0.0
    assert text_distance("委员会 于 星期二", "委员会于星期二") == 0.0
    assert text_distance(SENTENCE, "Tho cornrnittee rnet Tuesdav") > 0.3
    assert text_distance(SENTENCE, SENTENCE[:30], partial=True) == 0.0  # a band of the region


def test_agreement_fires_when_the_second_engine_disagrees() -> None:
    blocks = [block(SENTENCE, (40, 40 + 80 * i, 1100, 100 + 80 * i)) for i in range(8)]
    page, image = page_of(*blocks), Image.new("RGB", (600, 800), "white")  # half the page size
    agreeing = measure_agreement(page, image, FakeReader([SENTENCE.lower()]), GateSettings())  # type: ignore[arg-type]
    assert agreeing.samples == 4 and agreeing.text_distance == 0.0
    reader = FakeReader(["Tlie cmte rnet Tucsday 1o rcvicw thc annua1 budgct"])
    disagreeing = measure_agreement(page, image, reader, GateSettings())  # type: ignore[arg-type]
    assert disagreeing.text_distance is not None and disagreeing.text_distance > 0.3
    assert len(reader.crops) == 4  # a bounded sample, not every region
    assert all(w <= 600 and h <= 50 for w, h in reader.crops)  # crops scaled to the image


def test_text_layer_page_with_no_samples_gets_no_second_read() -> None:
    """The default spends no second read on a text-layer page: k = 0 samples nothing, not divide by it."""
    layer = Provenance(tier=Tier.TEXT_LAYER, engine="pdfium")
    blocks = [
        Block(
            kind=BlockKind.TEXT,
            text=SENTENCE,
            bbox=BBox(x0=40, y0=40 + 80 * i, x1=1100, y1=100 + 80 * i),
            provenance=layer,
        )
        for i in range(6)
    ]
    page, reader = page_of(*blocks), FakeReader([SENTENCE])
    settings = GateSettings(agreement_text_layer_samples=0)
    result = measure_agreement(page, Image.new("RGB", (600, 800), "white"), reader, settings)  # type: ignore[arg-type]
    assert result.samples == 0 and result.text_distance is None and reader.crops == []
    sampled = measure_agreement(  # type: ignore[arg-type]
        page, Image.new("RGB", (600, 800), "white"), reader, GateSettings(agreement_text_layer_samples=2)
    )
    assert len(reader.crops) == 2 and sampled.text_distance == 0.0


def test_no_second_read_in_a_script_the_second_engine_lacks() -> None:
    """A second read in the wrong script disagrees with every right first read: no signal, not a false one."""
    reader = SecondReader(OcrSettings(languages=["en", "xx-no-such-language"]), primary="rapidocr")
    assert reader.read(Image.new("RGB", (200, 50), "white")) is None
    page = page_of(*[block(SENTENCE, (40, 40 + 80 * i, 1100, 100 + 80 * i)) for i in range(3)])
    assert (
        measure_agreement(page, Image.new("RGB", (1200, 1600), "white"), reader, GateSettings()).samples == 0
    )


def test_table_words_against_a_plain_read() -> None:
    table = "Item | Qty | Price\nApples | 3 | 1.20\nPears | 2 | 0.80"
    assert word_mismatch(table, "Item Qty Price Apples 3 1.20 Pears 2 0.80") == 0.0
    assert word_mismatch(table, "Item Qty Price Apples 3 1.20 Pears 2 0.80 Plums 9 4.10") > 0.1
    assert word_mismatch(table, "Item Qty Price") > 0.3  # the plain read has rows the table lost
    assert word_mismatch(table, "Item Qty Price", partial=True) == 0.0  # a band: only its words count
    assert word_mismatch(table, "Bananas 7", partial=True) == 1.0


# --- order ambiguity ------------------------------------------------------------------------------


def test_single_column_page_has_one_order() -> None:
    blocks = [block(SENTENCE * 3, (100, 100 + 150 * i, 1100, 220 + 150 * i)) for i in range(6)]
    stats = order_stats(page_of(*blocks))
    assert stats.ambiguity == 0.0 and stats.page_vs_geometry == 0.0 and stats.gutter_crossing == 0.0


def test_grid_of_zones_admits_two_orders() -> None:
    """Four zones with a gutter and a band gap: columns-first and bands-first disagree."""
    zones = [(100, 100, 560, 700), (640, 100, 1100, 700), (100, 800, 560, 1500), (640, 800, 1100, 1500)]
    blocks = [block(SENTENCE * 8, z) for z in zones]
    stats = order_stats(page_of(*blocks))
    assert stats.ambiguity > 0.1 and stats.columns == 2


def test_tall_block_across_a_gutter_is_a_crossing() -> None:
    left = [block(SENTENCE * 2, (100, 100 + 200 * i, 560, 260 + 200 * i)) for i in range(3)]
    right = [block(SENTENCE * 2, (640, 100 + 200 * i, 1100, 260 + 200 * i)) for i in range(3)]
    merged = block(SENTENCE * 10, (100, 800, 1100, 1500))  # columns read across as one block
    clean = order_stats(page_of(*left, *right))
    crossed = order_stats(page_of(*left, *right, merged))
    assert clean.gutter_crossing == 0.0 and crossed.gutter_crossing > 0.3


def test_heading_left_and_page_number_right_make_no_columns() -> None:
    heading = block("Chapter 2", (100, 40, 400, 80), BlockKind.HEADING)
    number = block("17", (1050, 40, 1100, 80))
    body = [block(SENTENCE * 6, (100, 120 + 300 * i, 1100, 380 + 300 * i)) for i in range(4)]
    stats = order_stats(page_of(heading, number, *body))
    assert stats.columns == 1 and stats.gutter_crossing == 0.0


def test_page_order_against_geometry() -> None:
    left = [block(SENTENCE * 2, (100, 100 + 200 * i, 560, 260 + 200 * i)) for i in range(3)]
    right = [block(SENTENCE * 2, (640, 100 + 200 * i, 1100, 260 + 200 * i)) for i in range(3)]
    interleaved = [b for pair in zip(left, right, strict=True) for b in pair]
    assert order_stats(page_of(*left, *right)).page_vs_geometry == 0.0
    assert order_stats(page_of(*interleaved)).page_vs_geometry > 0.1
    assert kendall_distance([1, 2, 3], [3, 2, 1]) == 1.0


# --- structure doubt ------------------------------------------------------------------------------


def table(text: str) -> Block:
    return Block(
        kind=BlockKind.TABLE,
        text=text,
        html="<table></table>",
        bbox=BBox(x0=0, y0=0, x1=9, y1=9),
        provenance=OCR,
    )


def test_a_regular_grid_is_not_doubted() -> None:
    grid = "\n".join(" | ".join(f"r{r}c{c} {r * c}" for c in range(4)) for r in range(6))
    assert table_doubt(table(grid)).doubt == 0.0


def test_receipt_in_one_cell_and_ragged_rows_are_doubted() -> None:
    receipt = "TOTAL 12.50 CASH 20.00 CHANGE 7.50 THANK YOU PLEASE COME AGAIN 2019-03-02 12:30 | 1\n | \n | "
    assert table_doubt(table(receipt)).dominant_cell > 0.5
    ragged = "a | b | c | d\nx | | |\ny | z | |\n | | | w\np | q | r | s"
    assert table_doubt(table(ragged)).doubt >= 0.5
    assert table_doubt(table("one row | only")).degenerate == 1.0
    stats = structure_stats(page_of(table(receipt), block(SENTENCE, (0, 20, 9, 29))))
    assert stats.tables == 1 and stats.doubt is not None and stats.doubt > 0.5 and 0 in stats.per_block


# --- handwriting ------------------------------------------------------------------------------------


def test_handwriting_has_few_axis_aligned_edges_print_many() -> None:
    printed = stroke_stats(printed_image()).axis_share
    turned = stroke_stats(printed_image().rotate(3, fillcolor=255)).axis_share  # a slightly turned scan
    written = [stroke_stats(cursive_image(seed)).axis_share for seed in range(3)]
    assert printed is not None and printed > 0.35 and turned is not None and turned > 0.33
    assert all(w is not None and w < 0.26 for w in written)


def test_handwritten_block_becomes_a_region_and_printed_one_does_not() -> None:
    page_image = Image.new("L", (1200, 1800), 255)
    page_image.paste(printed_image(), (0, 0))
    page_image.paste(cursive_image(1), (0, 900))
    page = page_of(
        block(SENTENCE * 10, (0, 0, 1200, 900)), block("the neat hand", (0, 900, 1200, 1800)), height=1800
    )
    stats = stroke_stats(page_image, page)
    assert stats.per_block[0] > 0.35 and stats.per_block[1] < 0.26
    settings = Settings(gate=GateSettings(agreement_samples=0, region_handwriting_axis_share=0.3))
    _, raw, regions = PageJudge(settings).measure(page, page_image.convert("RGB"))
    assert regions == {1: "handwriting"} and 0.2 < raw["stroke_axis_share"] < 0.4


def test_a_page_in_one_script_nobody_configured_is_not_garbage_but_scattered_scripts_are() -> None:
    from tierocr.quality.text import garbage_ratio

    assert garbage_ratio("안녕하세요 세계 이것은 한국어 문장입니다", ["en"]) == 0.0  # the router read Korean
    assert garbage_ratio("مرحبا بالعالم هذا اختبار\u200cها", ["en"]) == 0.0  # Arabic script, Persian ZWNJ
    assert garbage_ratio("Hello world, a page of text 丁丁丁", ["en"]) > 0.1  # Latin page, stray CJK
    assert garbage_ratio("ab ж ق ה ש ж ق ה", ["en"]) > 0.5  # letters of four scripts: noise
