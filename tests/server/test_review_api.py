"""What the review page needs from the server: its files at `/`, whole pages (and images) in the stream,
`/api/render` for a Document it holds, and `GET /api/jobs`. The page itself is tested in tests/web/."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Callable, Iterator

import pytest
from PIL import Image
from pydantic import SecretStr
from server_helpers import FakePipeline, LiveServer, pdf_bytes

from tierocr.config import RenderSettings, Settings
from tierocr.document import BBox, Block, BlockKind, Document, Page, Provenance, Tier
from tierocr.render.chunks import chunk_document
from tierocr.render.markdown import render_markdown
from tierocr.server.page_images import page_image
from tierocr.server.web import WEB_ROOT


def _events(lines: Iterator[str]) -> Iterator[tuple[str, dict]]:
    kind = None
    for line in lines:
        if line.startswith("event:"):
            kind = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and kind:
            yield kind, json.loads(line.split(":", 1)[1])
            kind = None


def _stream(server: LiveServer, data: bytes, **form: str) -> list[tuple[str, dict]]:
    with (
        server.client() as c,
        c.stream("POST", "/api/ocr/document/stream", files={"file": ("a.pdf", data)}, data=form) as r,
    ):
        assert r.status_code == 200, r.read()
        return list(_events(r.iter_lines()))


def _with(settings: Settings, **server: object) -> Settings:
    return settings.model_copy(update={"server": settings.server.model_copy(update=server)})


def test_review_page_and_every_file_it_loads_are_served(live: LiveServer) -> None:
    with live.client() as c:
        index = c.get("/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        csp = index.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assets = re.findall(r'(?:src|href)="(/web/[^"]+)"', index.text)
        assert "/web/js/app.js" in assets and "/web/vendor/katex/katex.min.js" in assets
        for path in assets:
            assert c.get(path).status_code == 200, path
        # the modules the entry point imports, and the fonts KaTeX's stylesheet asks for first (woff2)
        for module in re.findall(r'from "\./([\w-]+\.js)"', c.get("/web/js/app.js").text):
            assert c.get(f"/web/js/{module}").status_code == 200, module
        css = c.get("/web/vendor/katex/katex.min.css").text
        fonts = set(re.findall(r"url\((fonts/[\w-]+\.woff2)\)", css))
        assert len(fonts) >= 19
        for font in sorted(fonts)[:3]:
            assert c.get(f"/web/vendor/katex/{font}").status_code == 200
    assert all((WEB_ROOT / "vendor/katex" / font).is_file() for font in fonts)
    assert (WEB_ROOT / "vendor/katex/LICENSE").is_file() and (WEB_ROOT / "vendor/marked/LICENSE").is_file()


def test_review_page_is_open_but_its_api_calls_need_the_key(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    server = start_server(_with(settings, api_key=SecretStr("k3y")), pipeline_factory=fake.factory)
    with server.client() as c:
        assert c.get("/").status_code == 200
        assert c.get("/web/js/api.js").status_code == 200
        assert c.get("/api/jobs").status_code == 401
        assert c.post("/api/render", json={}).status_code == 401
        assert c.get("/api/jobs", headers={"Authorization": "Bearer k3y"}).status_code == 200


def test_review_page_can_be_turned_off(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    server = start_server(_with(settings, web_ui=False), pipeline_factory=fake.factory)
    with server.client() as c:
        assert c.get("/").status_code == 404
        assert c.get("/web/js/app.js").status_code == 404
        assert c.get("/health").status_code == 200


def test_stream_pages_carry_the_whole_page_and_markdown_per_block(
    live: LiveServer, fake: FakePipeline
) -> None:
    prov = Provenance(tier=Tier.OCR, engine="fake")
    fake.extra_blocks = [
        Block(kind=BlockKind.FOOTER, text="page 1 of 3", provenance=prov),  # dropped from the Markdown
        Block(kind=BlockKind.FORMULA, latex="a^2+b^2", provenance=prov),
    ]
    events = _stream(live, pdf_bytes(1))
    header = events[0][1]
    assert header["mime_type"] == "application/pdf" and "metadata" in header
    pages = [d for k, d in events if k == "page"]
    assert len(pages) == 3
    for page in pages:
        Page.model_validate({k: v for k, v in page.items() if k not in ("markdown", "block_markdown")})
        assert {"width", "height", "dpi", "quality", "timings", "diagnostics"} <= page.keys()
        assert "image" not in page  # only when asked
        assert len(page["block_markdown"]) == len(page["blocks"])
        assert page["block_markdown"][1] == ""  # the footer
        assert page["block_markdown"][2] == "$$\na^2+b^2\n$$"
        assert page["markdown"] == "\n\n".join(p for p in page["block_markdown"] if p)


def test_stream_page_images_are_jpegs_bounded_by_the_setting(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    server = start_server(_with(settings, page_image_max_px=256), pipeline_factory=fake.factory)
    fake.page_count = 2
    pdf = pdf_bytes(2)  # 420x100 pt pages
    pages = [d for k, d in _stream(server, pdf, page_images="true") if k == "page"]
    assert len(pages) == 2
    for page in pages:
        image = page["image"]
        assert image["media_type"] == "image/jpeg"
        decoded = Image.open(io.BytesIO(base64.b64decode(image["data"])))
        assert decoded.format == "JPEG" and decoded.size == (image["width"], image["height"])
        assert max(decoded.size) == 256 and decoded.width / decoded.height == pytest.approx(4.2, rel=0.03)


def _pdf_page(width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height), "white")
    image.paste((0, 0, 0), (0, 0, width // 4, height // 4))  # a black corner, top left
    buf = io.BytesIO()
    image.save(buf, "PDF", resolution=72)
    return buf.getvalue()


def test_page_image_is_turned_the_way_the_pipeline_turned_the_page(settings: Settings) -> None:
    data = _pdf_page(400, 200)
    dpi = settings.input.dpi
    upright = Page(number=1, width=400 * dpi / 72, height=200 * dpi / 72, dpi=dpi)
    turned = upright.model_copy(update={"rotation": 90, "width": upright.height, "height": upright.width})
    plain = page_image(data, upright, settings)
    rotated = page_image(data, turned, settings)
    assert plain is not None and rotated is not None
    assert plain["width"] > plain["height"] and rotated["width"] < rotated["height"]
    # turned clockwise, the black corner moves from top left to top right
    image = Image.open(io.BytesIO(base64.b64decode(rotated["data"]))).convert("L")
    assert image.getpixel((image.width - 5, 5)) < 60 and image.getpixel((5, 5)) > 200
    assert page_image(data, Page(number=1, width=0, height=0, dpi=dpi), settings) is None


def test_render_gives_the_documents_markdown_and_chunks(live: LiveServer) -> None:
    prov = Provenance(tier=Tier.OCR, engine="fake")
    box = BBox(x0=0, y0=0, x1=5, y1=5)
    doc = Document(
        source="r.pdf",
        mime_type="application/pdf",
        page_count=2,
        pages=[
            Page(
                number=n,
                width=10,
                height=10,
                dpi=72,
                blocks=[
                    Block(kind=BlockKind.HEADING, level=2, text=f"Part {n}", bbox=box, provenance=prov),
                    Block(text=f"Body of part {n}.", bbox=box, provenance=prov),
                    Block(kind=BlockKind.PAGE_NUMBER, text=str(n), provenance=prov),
                ],
            )
            for n in (1, 2)
        ],
    )
    with live.client() as c:
        answer = c.post("/api/render", json=doc.model_dump(mode="json"))
        bad = c.post("/api/render", json={"source": "x"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    render = RenderSettings()
    assert body["markdown"] == render_markdown(doc, render)
    assert body["chunks"] == [ch.model_dump(mode="json") for ch in chunk_document(doc, render)]
    assert [p["block_markdown"] for p in body["pages"]] == [
        [f"## Part {n}", f"Body of part {n}.", ""] for n in (1, 2)
    ]
    assert bad.status_code == 422


def test_jobs_are_listed_newest_first_without_results(live: LiveServer) -> None:
    with live.client() as c:
        ids = []
        for name in ("one.pdf", "two.pdf", "three.pdf"):
            ids.append(c.post("/api/jobs", files={"file": (name, pdf_bytes(1))}).json()["id"])
        for job_id in ids:
            assert c.get(f"/api/jobs/{job_id}", params={"wait": 20}).json()["status"] == "succeeded"
        listed = c.get("/api/jobs", params={"limit": 2}).json()["jobs"]
        assert c.get("/api/jobs", params={"limit": 0}).status_code == 422
        everything = c.get("/api/jobs").json()["jobs"]
    assert [j["name"] for j in listed] == ["three.pdf", "two.pdf"]
    assert [j["id"] for j in everything] == ids[::-1]
    assert all("result" not in j and j["status"] == "succeeded" for j in everything)
    assert listed[0]["links"]["self"] == f"/api/jobs/{ids[2]}"
