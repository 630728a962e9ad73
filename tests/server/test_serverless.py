"""The serverless handler's input contract and outputs, with the fake and (once) the real pipeline."""

from __future__ import annotations

import base64
import io

from PIL import Image
from server_helpers import FakePipeline, pdf_bytes, png_bytes

from tierocr.config import Settings
from tierocr.document import BBox, Block, BlockKind, Provenance, Tier
from tierocr.serverless import ServerlessHandler


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_pdf_base64_with_page_range(settings: Settings) -> None:
    fake = FakePipeline(page_count=3)
    out = ServerlessHandler(settings, pipeline_factory=fake.factory)(
        {"input": {"pdf_base64": b64(pdf_bytes(3)), "start_page": 2, "end_page": 3}}
    )
    assert "error" not in out, out
    assert [p["number"] for p in out["json_result"]["pages"]] == [2, 3]
    assert "text of page 2" in out["markdown_result"]
    assert out["crop_images"] == [] and out["layout_visualizations"] == []
    assert out["versions"]["tierocr"]


def test_images_are_pages_in_order(settings: Settings) -> None:
    fake = FakePipeline(page_count=1)
    images = [b64(png_bytes(f"image {n}")) for n in range(3)]
    out = ServerlessHandler(settings, pipeline_factory=fake.factory)(
        {"images_base64": images, "start_page": 2}
    )
    assert [p["number"] for p in out["json_result"]["pages"]] == [2, 3]
    assert out["json_result"]["page_count"] == 3


def test_crops_and_visualisations_from_layout_blocks(settings: Settings) -> None:
    fake = FakePipeline(page_count=2)
    prov = Provenance(tier=Tier.OCR, engine="fake")
    fake.extra_blocks = [Block(kind=BlockKind.FIGURE, bbox=BBox(x0=5, y0=5, x1=45, y1=25), provenance=prov)]
    out = ServerlessHandler(settings, pipeline_factory=fake.factory)(
        {
            "source_base64": b64(pdf_bytes(2)),
            "return_crop_images": True,
            "max_crop_images": 1,
            "return_layout_visualization": True,
        }
    )
    assert len(out["crop_images"]) == 1 and out["crop_images"][0]["kind"] == "figure"
    crop = Image.open(io.BytesIO(base64.b64decode(out["crop_images"][0]["image_base64"])))
    assert crop.size == (40, 20)
    assert any("max_crop_images" in note for note in out["notes"])
    assert [v["page"] for v in out["layout_visualizations"]] == [1, 2]
    assert out["layout_visualizations"][0]["image_base64"]


def test_no_crops_without_layout_says_why(settings: Settings) -> None:
    out = ServerlessHandler(settings, pipeline_factory=FakePipeline(page_count=1).factory)(
        {"pdf_base64": b64(pdf_bytes(1)), "return_crop_images": True}
    )
    assert out["crop_images"] == [] and "layout" in out["notes"][0]


def test_refusals(settings: Settings) -> None:
    handle = ServerlessHandler(settings, pipeline_factory=FakePipeline().factory)
    two = handle({"pdf_base64": b64(pdf_bytes(1)), "image_urls": ["http://example.com/a.png"]})
    none = handle({"start_page": 1})
    bad = handle({"pdf_base64": "***not base64***"})
    ssrf = handle({"pdf_url": "http://127.0.0.1:9/secret.pdf"})
    text = handle({"source_base64": b64(b"plain text, not a document")})
    assert two["status"] == 400 and "exactly one" in two["error"]
    assert none["status"] == 400
    assert bad["status"] == 400 and "base64" in bad["error"]
    assert ssrf["status"] == 400 and "refused" in ssrf["error"]
    assert text["status"] == 422 and "unsupported" in text["error"]


def test_real_pipeline_warmup_then_an_image(settings: Settings) -> None:
    handle = ServerlessHandler(settings)
    warm = handle({"input": {"warmup": True}})
    assert warm["status"] == "warm" and warm["versions"]["engines"]
    out = handle({"images_base64": [b64(png_bytes("Invoice 12345"))], "return_layout_visualization": True})
    assert "Invoice" in out["markdown_result"]
    assert out["json_result"]["pages"][0]["tier"] == "ocr"
    assert len(out["layout_visualizations"]) == 1
