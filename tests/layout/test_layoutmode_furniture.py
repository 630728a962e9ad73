"""Page furniture from position and type: running heads with page numbers, corner footers, margin stamps."""

from __future__ import annotations

from layoutmode_helpers import box

from tierocr.config import LayoutSettings
from tierocr.document import BlockKind, Provenance, Tier
from tierocr.inputs.textlayer import _starts_new_line
from tierocr.layout.blocks import lines_to_blocks
from tierocr.layout.columns import margin_regions
from tierocr.layout.detector import Region
from tierocr.layout.reading_order import Line
from tierocr.layout.tasks import TaskMap

PROV = Provenance(tier=Tier.OCR, engine="test")
W, H = 1000.0, 1600.0


def _body(top: float, rows: int = 20, height: float = 24) -> list[Line]:
    text = "a line of the body text that runs across the page and on to the next line of it"
    return [
        Line(text=f"{text} {k}", bbox=box(100, top + 36 * k, 900, top + 36 * k + height)) for k in range(rows)
    ]


def test_a_running_head_carrying_its_page_number_is_furniture_but_a_numbered_heading_is_not() -> None:
    head = Line(text="412 THE HISTORY OF ENGLAND. [Chap. IX.", bbox=box(100, 150, 900, 174))
    blocks = lines_to_blocks([head, *_body(186)], W, H, PROV)  # set close to the body, 9% down the page
    assert blocks[0].kind is BlockKind.HEADER and blocks[0].text.startswith("412")
    heading = Line(text="1 Introduction", bbox=box(100, 150, 400, 174))
    kinds = [b.kind for b in lines_to_blocks([heading, *_body(186)], W, H, PROV)]
    assert BlockKind.HEADER not in kinds
    # A table's first row ends in figures, not in a page number.
    figures = Line(text="Age (median) 0.716", bbox=box(100, 150, 600, 174))
    kinds = [b.kind for b in lines_to_blocks([figures, *_body(186)], W, H, PROV)]
    assert BlockKind.HEADER not in kinds


def test_small_type_in_a_corner_near_the_foot_is_a_footer() -> None:
    corner = Line(text="ACME Systems 2015", bbox=box(780, 1420, 900, 1436))  # 11% from the foot, small
    blocks = lines_to_blocks([*_body(200, 30), corner], W, H, PROV)
    assert blocks[-1].kind is BlockKind.FOOTER and blocks[-1].text == "ACME Systems 2015"
    # The same words in body type, in the body, stay text.
    inline = Line(text="ACME Systems 2015", bbox=box(100, 1300, 400, 1324))
    assert all(b.kind is not BlockKind.FOOTER for b in lines_to_blocks([*_body(200, 30), inline], W, H, PROV))


def test_text_set_sideways_up_the_margin_is_furniture_in_both_modes() -> None:
    stamp = Line(text="Downloaded from example.org on Monday", bbox=box(20, 400, 48, 1200))
    blocks = lines_to_blocks([*_body(200), stamp], W, H, PROV)
    assert [b.kind for b in blocks if "Downloaded" in b.text] == [BlockKind.HEADER]
    assert all("Downloaded" not in b.text for b in blocks if b.kind is BlockKind.TEXT)
    regions = [Region("title", 0.9, box(18, 400, 50, 1200)), Region("text", 0.9, box(100, 200, 900, 900))]
    assert [r.label for r in margin_regions(regions, TaskMap(LayoutSettings()), W)] == ["header", "text"]


def test_a_text_layer_without_line_breaks_wraps_where_the_characters_go_back_and_down() -> None:
    end_of_line = (800.0, 100.0, 812.0, 124.0)
    assert _starts_new_line(end_of_line, (100.0, 130.0, 112.0, 154.0))  # next line, back at the margin
    assert not _starts_new_line(end_of_line, (814.0, 110.0, 820.0, 130.0))  # a subscript, further right
    assert not _starts_new_line(end_of_line, (780.0, 100.0, 792.0, 124.0))  # right to left, same line


def test_a_crop_read_by_ocr_keeps_only_the_lines_its_region_owns() -> None:
    """A detector box drawn over a running head and the text under it, read from its crop, must not
    read the head again: the head's own region reads it."""
    from layoutmode_helpers import ScriptedDetector
    from PIL import Image

    from tierocr.config import Settings
    from tierocr.engines.base import OcrEngine, OcrLine
    from tierocr.layout.parser import LayoutParser

    class CropEngine(OcrEngine):
        name = "crop"

        def recognize(self, image: Image.Image) -> list[OcrLine]:
            if image.height > 150:  # the big body crop: it also shows the head line at its top
                return [
                    OcrLine("RUNNING HEAD 412", box(10, 2, 300, 22), 0.9),
                    OcrLine("the body text under it", box(10, 60, 300, 80), 0.9),
                ]
            return [OcrLine("RUNNING HEAD 412", box(10, 4, 300, 24), 0.9)]

    regions = [Region("header", 0.9, box(100, 96, 500, 120)), Region("text", 0.9, box(100, 96, 500, 400))]
    settings = Settings.model_validate({"layout": {"enabled": True, "region_ocr": "crop"}})
    page = LayoutParser(settings, CropEngine(), ScriptedDetector(regions)).parse_page(
        Image.new("RGB", (600, 800), "white"), number=1, dpi=100
    )
    texts = [b.text for b in page.blocks]
    assert sum(t.count("RUNNING HEAD") for t in texts) == 1
    assert "the body text under it" in " ".join(texts)
