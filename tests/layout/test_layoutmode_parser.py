from __future__ import annotations

from pathlib import Path

from layoutmode_helpers import ScriptedDetector, ScriptedEngine, box, font
from PIL import Image, ImageDraw

from tierocr.config import Settings
from tierocr.document import BlockKind, Tier
from tierocr.engines.base import OcrLine
from tierocr.inputs.base import TextLayer, TextLine
from tierocr.layout.detector import Region
from tierocr.layout.parser import UNDETECTED_LABEL, LayoutParser

PAGE = (1000, 800)
REGIONS = [
    Region("table", 0.9, box(100, 600, 480, 780)),
    Region("figure_caption", 0.9, box(520, 710, 900, 740)),
    Region("text", 0.9, box(520, 150, 900, 500)),
    Region("header", 0.9, box(100, 10, 900, 40)),
    Region("equation", 0.9, box(100, 520, 480, 580)),
    Region("figure", 0.9, box(520, 520, 900, 700)),
    Region("title", 0.9, box(100, 60, 900, 110)),
    Region("text", 0.9, box(100, 150, 480, 500)),
]
LINES = [
    OcrLine("Journal 2026", box(110, 15, 300, 35), 0.95),
    OcrLine("Results", box(110, 70, 300, 100), 0.95),
    OcrLine("alpha beta", box(110, 160, 400, 180), 0.9),
    OcrLine("gamma delta", box(530, 160, 800, 180), 0.9),
    OcrLine("E mc", box(110, 530, 300, 560), 0.5),
    OcrLine("a", box(110, 610, 130, 630), 0.9),
    OcrLine("b", box(300, 610, 320, 630), 0.9),
    OcrLine("c", box(110, 650, 130, 670), 0.9),
    OcrLine("d", box(300, 650, 320, 670), 0.9),
    OcrLine("Figure 1: a plot", box(530, 715, 800, 735), 0.9),
    OcrLine("missed words", box(920, 300, 990, 320), 0.9),
]


def _settings(**layout: object) -> Settings:
    return Settings.model_validate({"layout": {"enabled": True, **layout}, "ocr": {"min_confidence": 0.3}})


def test_page_blocks_come_in_reading_order_with_tasks_and_attributes(tmp_path: Path) -> None:
    engine = ScriptedEngine(LINES)
    parser = LayoutParser(_settings(save_crops=True, visualize=True), engine, ScriptedDetector(REGIONS))
    page = parser.parse_page(
        Image.new("RGB", PAGE, "white"), number=2, dpi=100, output_dir=tmp_path, stem="My Doc"
    )

    assert engine.calls == 1  # the page is OCR'd once, not once per region
    labels = [b.attributes["label"] for b in page.blocks]
    assert labels == [
        "header", "title", "text", "equation", "table", "text", "figure", "figure_caption", UNDETECTED_LABEL,
    ]  # fmt: skip
    header, title, left, formula, table, right, figure, caption, stray = page.blocks
    assert (header.kind, header.text, header.attributes["task"]) == (
        BlockKind.HEADER,
        "Journal 2026",
        "abandon",
    )
    assert (title.kind, title.text) == (BlockKind.TITLE, "Results")
    assert title.attributes["bbox_2d"] == [100, 75, 900, 138]
    assert (left.text, right.text) == ("alpha beta", "gamma delta")
    assert left.provenance.tier is Tier.OCR and left.provenance.engine == "scripted"
    assert (
        formula.kind is BlockKind.FORMULA and formula.text == "E mc" and formula.latex is None
    )  # OCR glyphs
    assert formula.attributes["escalate"] is True
    assert formula.attributes["vlm_prompt"] == "Formula Recognition:"
    assert table.kind is BlockKind.TABLE and table.html is not None
    assert "<td>a</td><td>b</td>" in table.html and "<td>c</td><td>d</td>" in table.html
    assert figure.kind is BlockKind.FIGURE and figure.text == ""
    assert (caption.kind, caption.text, caption.attributes["caption_of"]) == (
        BlockKind.CAPTION,
        "Figure 1: a plot",
        6,
    )
    assert stray.text == "missed words"
    assert [b.attributes["order"] for b in page.blocks] == list(range(9))
    assert page.tier is Tier.OCR and page.errors == []

    # Crops of the figure, table and formula, and the visualisation, with safe names.
    crops = sorted(p.name for p in (tmp_path / "imgs").iterdir())
    assert crops == [
        "my_doc-p002-r03-equation.png",
        "my_doc-p002-r04-table.png",
        "my_doc-p002-r06-figure.png",
    ]
    assert figure.attributes["image_path"] == "imgs/my_doc-p002-r06-figure.png"
    assert Image.open(tmp_path / "imgs" / "my_doc-p002-r06-figure.png").size == (380, 180)
    visual = tmp_path / "my_doc-p002-r00-layout.png"
    assert Image.open(visual).size == PAGE


def test_text_regions_use_the_text_layer_where_it_covers_the_ink() -> None:
    image = Image.new("RGB", PAGE, "white")
    draw = ImageDraw.Draw(image)
    draw.text((110, 160), "from the layer", fill="black", font=font(20))
    draw.text((530, 160), "only in pixels", fill="black", font=font(20))
    layer = TextLayer(
        lines=[TextLine("from the layer", box(108, 158, 260, 185), 20.0)], char_count=14, bad_char_count=0
    )
    regions = [Region("text", 0.9, box(100, 150, 480, 500)), Region("text", 0.9, box(520, 150, 900, 500))]
    engine = ScriptedEngine([OcrLine("ocr text", box(530, 160, 700, 185), 0.9)])
    parser = LayoutParser(_settings(), engine, ScriptedDetector(regions))
    page = parser.parse_page(image, number=1, dpi=100, text_layer=layer)

    left, right = page.blocks
    assert (left.text, left.provenance.tier) == ("from the layer", Tier.TEXT_LAYER)
    assert (right.text, right.provenance.tier) == ("ocr text", Tier.OCR)
    assert engine.calls == 1


def test_a_region_drawn_around_a_nested_one_keeps_the_text_layer() -> None:
    """On a scan with an OCR layer, the ink of a nested region's lines is covered by the layer even though
    those lines belong to the nested region: the outer region must not fall back to OCR for it."""
    image = Image.new("RGB", PAGE, "white")
    draw = ImageDraw.Draw(image)
    texts = [f"line number {i} of the page" for i in range(8)]
    lines = []
    for i, text in enumerate(texts):
        y = 160 + 40 * i
        draw.text((110, y), text, fill="black", font=font(20))
        lines.append(TextLine(text, box(108, y - 2, 420, y + 25), 20.0))
    layer = TextLayer(lines=lines, char_count=sum(map(len, texts)), bad_char_count=0, image_coverage=1.0)
    # The outer box holds all eight lines; the inner one (a table, say) the last six.
    regions = [Region("text", 0.9, box(100, 150, 480, 480)), Region("text", 0.8, box(100, 230, 480, 480))]
    engine = ScriptedEngine([OcrLine("ocr words", box(5, 5, 100, 25), 0.9)])
    parser = LayoutParser(_settings(region_ocr="crop"), engine, ScriptedDetector(regions))
    page = parser.parse_page(image, number=1, dpi=100, text_layer=layer)
    assert engine.calls == 0
    assert all(b.provenance.tier is Tier.TEXT_LAYER for b in page.blocks if b.text)
    assert " ".join(b.text for b in page.blocks).split() == " ".join(texts).split()


def test_crop_mode_recognises_each_region_on_its_own_crop() -> None:
    regions = [Region("text", 0.9, box(100, 150, 480, 500)), Region("figure", 0.9, box(520, 150, 900, 500))]
    engine = ScriptedEngine([OcrLine("crop line", box(5, 5, 100, 25), 0.9)])
    parser = LayoutParser(_settings(region_ocr="crop"), engine, ScriptedDetector(regions))
    page = parser.parse_page(Image.new("RGB", PAGE, "white"), number=1, dpi=72)
    assert engine.calls == 1  # the figure is not OCR'd
    assert page.blocks[0].text == "crop line"
    # Crop lines come back in page pixels: crop origin minus the 3 pt padding at 72 dpi.
    assert page.blocks[1].kind is BlockKind.FIGURE


def test_a_failing_region_is_recorded_and_the_page_survives() -> None:
    class Exploding(ScriptedEngine):
        def recognize(self, image: Image.Image) -> list[OcrLine]:
            raise RuntimeError("engine crashed")

    regions = [Region("text", 0.9, box(100, 150, 480, 500)), Region("figure", 0.9, box(520, 150, 900, 500))]
    parser = LayoutParser(_settings(region_ocr="crop"), Exploding(), ScriptedDetector(regions))
    page = parser.parse_page(Image.new("RGB", PAGE, "white"), number=1, dpi=72)
    assert [b.kind for b in page.blocks] == [BlockKind.TEXT, BlockKind.FIGURE]
    assert page.blocks[0].attributes["escalate"] is True
    assert len(page.errors) == 1 and "engine crashed" in page.errors[0].message


def test_each_line_goes_to_one_region_even_when_the_region_is_smaller_than_the_line() -> None:
    from tierocr.layout.region_geometry import assign_owners

    lines = [box(850, 20, 890, 40), box(100, 100, 500, 120), box(100, 300, 200, 320)]
    regions = [box(860, 25, 880, 35), box(90, 90, 510, 200), box(95, 95, 505, 130)]
    # The page number's line is bigger than its tight region; the text line lies in two overlapping
    # regions and goes to the one it fills most; the third line belongs nowhere.
    assert assign_owners(lines, regions) == [0, 2, None]


def test_text_in_the_page_margins_is_furniture_and_titles_are_not() -> None:
    regions = [
        Region("title", 0.9, box(100, 10, 900, 50)),  # a title high on the page stays a title
        Region("text", 0.9, box(100, 150, 900, 500)),
        Region("text", 0.9, box(100, 755, 900, 780)),  # a running footer the detector called text
    ]
    lines = [
        OcrLine("Big Title", box(110, 15, 300, 45), 0.9),
        OcrLine("body", box(110, 160, 300, 180), 0.9),
        OcrLine("Journal of Tests | Volume 3", box(110, 760, 500, 775), 0.9),
        OcrLine("12", box(490, 785, 510, 797), 0.9),  # a page number nobody detected
    ]
    parser = LayoutParser(_settings(), ScriptedEngine(lines), ScriptedDetector(regions))
    page = parser.parse_page(Image.new("RGB", PAGE, "white"), number=1, dpi=100)
    kinds = {b.text: b.kind for b in page.blocks if b.text}
    assert kinds == {
        "Big Title": BlockKind.TITLE,
        "body": BlockKind.TEXT,
        "Journal of Tests | Volume 3": BlockKind.FOOTER,
        "12": BlockKind.PAGE_NUMBER,
    }


def test_a_figure_full_of_aligned_text_is_read_as_a_table() -> None:
    regions = [Region("figure", 0.9, box(100, 100, 500, 220)), Region("figure", 0.9, box(100, 400, 500, 700))]
    cells = [("Bird", 110, 110), ("Status", 300, 110), ("A1", 110, 160), ("alive", 300, 160)]
    lines = [OcrLine(text, box(x, y, x + 150, y + 40), 0.9) for text, x, y in cells]
    lines.append(OcrLine("axis", box(110, 680, 150, 695), 0.9))  # a chart's lone label
    parser = LayoutParser(_settings(), ScriptedEngine(lines), ScriptedDetector(regions))
    page = parser.parse_page(Image.new("RGB", PAGE, "white"), number=1, dpi=100)
    table, chart = page.blocks
    assert table.kind is BlockKind.TABLE and table.attributes["reclassified"] == "table"
    assert table.html is not None and "<td>Bird</td><td>Status</td>" in table.html
    assert chart.kind is BlockKind.FIGURE and chart.text == "axis"  # kept, not OCR'd again
    assert chart.provenance.tier is Tier.OCR


def test_a_duplicate_region_inside_another_is_not_read_twice() -> None:
    image = Image.new("RGB", PAGE, "white")
    draw = ImageDraw.Draw(image)
    draw.text((110, 160), "Revenue 10 20 30", fill="black", font=font(20))
    layer = TextLayer(
        lines=[TextLine("Revenue 10 20 30", box(108, 158, 880, 185), 20.0)], char_count=16, bad_char_count=0
    )
    regions = [
        Region("reference", 0.9, box(100, 150, 900, 300)),
        Region("text", 0.8, box(100, 150, 300, 200)),
    ]
    engine = ScriptedEngine([OcrLine("Revenue", box(5, 5, 100, 25), 0.9)])
    parser = LayoutParser(_settings(), engine, ScriptedDetector(regions))
    page = parser.parse_page(image, number=1, dpi=100, text_layer=layer)
    by_label = {b.attributes["label"]: b for b in page.blocks}
    assert by_label["reference"].text == "Revenue 10 20 30"
    assert by_label["text"].text == "" and by_label["text"].attributes["shadowed"] is True
    assert engine.calls == 0


def test_words_join_into_rows_with_a_drop_capital_and_stray_words_into_one_block() -> None:
    image = Image.new("RGB", PAGE, "white")
    words = [
        TextLine("O", box(100, 100, 140, 160), 60.0),  # a drop capital two rows tall
        TextLine("ver", box(145, 100, 180, 120), 20.0),
        TextLine("the", box(185, 100, 220, 120), 20.0),
        TextLine("past", box(145, 130, 190, 150), 20.0),
        TextLine("three", box(195, 130, 250, 150), 20.0),
        TextLine("stray", box(600, 400, 650, 420), 20.0),
        TextLine("words", box(660, 400, 720, 420), 20.0),
    ]
    layer = TextLayer(lines=words, char_count=26, bad_char_count=0)
    parser = LayoutParser(
        _settings(), ScriptedEngine(), ScriptedDetector([Region("text", 0.9, box(90, 90, 400, 170))])
    )
    page = parser.parse_page(image, number=1, dpi=100, text_layer=layer)
    assert [b.text for b in page.blocks] == ["Over the past three", "stray words"]
    assert page.blocks[1].attributes["label"] == UNDETECTED_LABEL
