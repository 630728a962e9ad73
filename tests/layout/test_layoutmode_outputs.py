from __future__ import annotations

from pathlib import Path

import pytest
from layoutmode_helpers import box
from PIL import Image

from tierocr.document import Block, BlockKind, Page, Provenance, Tier
from tierocr.layout.crops import CROPS_DIR, crop, safe_name, save_crop
from tierocr.layout.visualize import draw_layout, label_colour, save_layout_png


def test_visualisation_png_has_the_page_size_and_the_label_colours(tmp_path: Path) -> None:
    image = Image.new("RGB", (640, 480), "white")
    page = Page(number=1, width=640, height=480, dpi=72)
    for label, bb in (("table", box(300, 200, 600, 450)), ("text", box(20, 20, 280, 180))):
        page.blocks.append(
            Block(
                kind=BlockKind.TEXT,
                bbox=bb,
                provenance=Provenance(tier=Tier.OCR, engine="x"),
                attributes={"label": label},
            )
        )
    path = save_layout_png(image, page, tmp_path / "viz" / "page-001-layout.png")
    out = Image.open(path)
    assert out.size == (640, 480) and out.format == "PNG"
    # The table's right edge is drawn in the table colour; the page outside every box stays white.
    assert out.getpixel((600, 300)) == label_colour("table")
    assert out.getpixel((630, 470)) == (255, 255, 255)
    assert label_colour("table") != label_colour("text")


def test_reading_order_numbers_are_drawn_inside_each_box() -> None:
    image = Image.new("RGB", (400, 300), "white")
    drawn = draw_layout(image, [("text", box(10, 10, 390, 140)), ("text", box(10, 160, 390, 290))])
    grey = drawn.convert("L")
    # The "2 text" tag is a solid label just above the second box's corner; the box's inside is only
    # tinted. The first box has no room above, so its tag sits inside its corner.
    assert grey.getpixel((12, 150)) < 180
    assert grey.getpixel((200, 250)) > 200
    assert grey.getpixel((12, 12)) < 180


def test_unknown_labels_get_a_stable_colour() -> None:
    assert label_colour("seal") == label_colour("seal")


@pytest.mark.parametrize(
    ("stem", "label"),
    [("../../etc/passwd", "figure"), ("Report Q3 (final).pdf", "Figure Caption/../x"), ("", "")],
)
def test_crop_names_are_safe(stem: str, label: str) -> None:
    name = safe_name(stem, 3, 7, label)
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert name.endswith(".png") and "-p003-r07-" in name
    assert all(ch.isascii() and (ch.isalnum() or ch in "-_.") for ch in name)


def test_save_crop_writes_under_imgs_and_refuses_paths(tmp_path: Path) -> None:
    image = Image.new("RGB", (100, 100), "red")
    piece = crop(image, box(-10, 20, 50, 500))
    assert piece.size == (50, 80)
    rel = save_crop(piece, tmp_path, safe_name("doc", 1, 2, "figure"))
    assert rel == f"{CROPS_DIR}/doc-p001-r02-figure.png"
    assert Image.open(tmp_path / rel).size == (50, 80)
    with pytest.raises(ValueError, match="unsafe"):
        save_crop(piece, tmp_path, "../escape.png")
