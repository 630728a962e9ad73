"""PDF and image loading, page ranges, and bad input that must fail clearly."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tierocr.config import Settings
from tierocr.errors import InputError
from tierocr.inputs import expand_inputs, open_document, parse_page_range
from tierocr.inputs.base import FailedPageInput
from tierocr.samples.synthetic import PARAGRAPHS, image_pdf, text_pdf


def test_page_ranges() -> None:
    assert parse_page_range("1-3,7", 10) == [1, 2, 3, 7]
    assert parse_page_range("8-", 10) == [8, 9, 10]
    assert parse_page_range(None, 3) == [1, 2, 3]
    assert parse_page_range("2,2,1", 3) == [1, 2]
    for bad in ("0", "3-1", "x", "1-12"):
        with pytest.raises(ValueError):
            parse_page_range(bad, 10)


def test_pdf_pages_stream_with_text_layer(settings: Settings) -> None:
    pdf = text_pdf([[PARAGRAPHS[0]], [PARAGRAPHS[1]], [PARAGRAPHS[2]]])
    with open_document(pdf, settings.input, name="gen.pdf", pages="2-3") as doc:
        assert doc.page_count == 3
        assert doc.mime_type == "application/pdf"
        pages = list(doc.iter_pages())
    assert [p.number for p in pages] == [2, 3]
    assert pages[0].dpi == 200
    assert (pages[0].width, pages[0].height) == (1700, 2200)


def test_pdf_text_layer_and_render(settings: Settings) -> None:
    pdf = text_pdf([[PARAGRAPHS[0]]])
    with open_document(pdf, settings.input) as doc:
        page = next(iter(doc.iter_pages()))
        layer = page.text_layer
        assert layer is not None and layer.char_count > 100
        assert "cheapest path" in layer.text
        assert page.image.size == (1700, 2200)
        assert all(0 <= ln.bbox.x0 < ln.bbox.x1 <= 1700 for ln in layer.lines)


def test_huge_pdf_page_renders_at_capped_dpi(settings: Settings) -> None:
    poster = Image.new("RGB", (6000, 8000), "white")
    pdf = image_pdf([poster], dpi=100)  # 60 x 80 inches
    with open_document(pdf, settings.input) as doc:
        page = next(iter(doc.iter_pages()))
        assert max(page.width, page.height) <= settings.input.max_page_side
        assert page.dpi < 200


def test_encrypted_pdf_needs_its_password(settings: Settings) -> None:
    pdf = text_pdf([[PARAGRAPHS[0]]], encrypt="s3cret")
    with pytest.raises(InputError, match="encrypted"):
        open_document(pdf, settings.input, name="locked.pdf")
    with pytest.raises(InputError, match="password given is wrong"):
        open_document(pdf, settings.input, name="locked.pdf", password="nope")
    with open_document(pdf, settings.input, password="s3cret") as doc:
        assert "cheapest path" in next(iter(doc.iter_pages())).text_layer.text


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"%PDF-1.7\n garbage that is no PDF at all", "PDF"),
        (b"hello, I am a text file\n", "unsupported file type"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "image"),
    ],
)
def test_bad_bytes_fail_with_named_reason(settings: Settings, data: bytes, reason: str) -> None:
    with pytest.raises(InputError, match=reason) as info:
        open_document(data, settings.input, name="bad-input")
    assert str(info.value).startswith("bad-input: ")


def test_decompression_bomb_is_refused_before_decoding(settings: Settings, tmp_path: Path) -> None:
    # A 30,000 x 30,000 one-bit PNG compresses to a few hundred kB but would decode to 2.7 GB of RGB.
    bomb = tmp_path / "bomb.png"
    Image.new("1", (30_000, 30_000), 1).save(bomb, optimize=True)
    with pytest.raises(InputError, match=r"too large|over the limit") as info:
        open_document(bomb, settings.input)
    assert "bomb.png" in str(info.value)


def test_missing_file_and_directory(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        open_document(tmp_path / "missing.pdf", settings.input)
    with pytest.raises(InputError, match="directory"):
        open_document(tmp_path, settings.input)


def test_image_formats_multipage_tiff_and_exif(settings: Settings, tmp_path: Path) -> None:
    page = Image.new("RGB", (300, 200), "white")
    for fmt in ("PNG", "JPEG", "WEBP", "BMP"):
        buf = io.BytesIO()
        page.save(buf, format=fmt)
        with open_document(buf.getvalue(), settings.input, name=f"x.{fmt.lower()}") as doc:
            assert next(iter(doc.iter_pages())).image.size == (300, 200)
    tiff = tmp_path / "multi.tif"
    page.save(tiff, save_all=True, append_images=[Image.new("RGB", (100, 50), "white")], dpi=(150, 150))
    with open_document(tiff, settings.input, pages="2") as doc:
        assert doc.page_count == 2
        (second,) = list(doc.iter_pages())
        assert second.number == 2 and second.image.size == (100, 50)
    # EXIF orientation 6 means "rotate 90° clockwise to display": width and height swap.
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    page.save(buf, format="JPEG", exif=exif)
    with open_document(buf.getvalue(), settings.input) as doc:
        assert next(iter(doc.iter_pages())).image.size == (200, 300)


def test_rgba_images_get_white_paper(settings: Settings) -> None:
    buf = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 0, 0, 0)).save(buf, format="PNG")
    with open_document(buf.getvalue(), settings.input) as doc:
        assert next(iter(doc.iter_pages())).image.getpixel((5, 5)) == (255, 255, 255)


def test_oversized_page_inside_a_pdf_fails_alone(settings: Settings) -> None:
    limited = settings.input.model_copy(update={"max_image_pixels": 2_000_000, "max_page_side": 4000})
    small = Image.new("RGB", (100, 100), "white")
    big = Image.new("RGB", (3000, 3000), "white")
    pdf = image_pdf([small, big], dpi=72)  # page 2 renders to 8.3 Mpx at 200 dpi
    with open_document(pdf, limited) as doc:
        pages = list(doc.iter_pages())
    assert not isinstance(pages[0], FailedPageInput)
    assert isinstance(pages[1], FailedPageInput) and "over the limit" in pages[1].error


def test_expand_inputs_walks_directories(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("b.pdf", "a.png", "notes.txt", "sub/c.TIF"):
        (tmp_path / name).write_bytes(b"x")
    found = expand_inputs([tmp_path])
    assert [p.name for p in found] == ["a.png", "b.pdf", "c.TIF"]
