"""Shared by the server tests: a real uvicorn server on a free loopback port, small fakes, tiny documents."""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from PIL import Image, ImageDraw, ImageFont

from tierocr.config import Settings
from tierocr.document import BBox, Block, Document, Page, Provenance, Tier
from tierocr.engines import OcrEngine, OcrLine
from tierocr.errors import InputError
from tierocr.inputs.sniff import sniff_mime


class LiveServer:
    """uvicorn in a thread on a socket we bound, so the port is known before it starts."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        started = threading.Event()

        class _Server(uvicorn.Server):
            async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                await super().startup(sockets)
                started.set()

        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
        self.server = _Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        if not started.wait(30):
            raise RuntimeError("server did not start")

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


def png_bytes(text: str = "Invoice 12345", size: tuple[int, int] = (420, 100)) -> bytes:
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.text((12, 30), text, fill="black", font=ImageFont.load_default(size=28))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def pdf_bytes(pages: int = 2, text: str = "Page") -> bytes:
    """An image-only PDF, one rendered line of text per page."""
    images = [Image.open(io.BytesIO(png_bytes(f"{text} {n}"))).convert("RGB") for n in range(1, pages + 1)]
    buf = io.BytesIO()
    images[0].save(buf, "PDF", save_all=True, append_images=images[1:], resolution=72)
    return buf.getvalue()


CORRUPT_PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage, no xref, no trailer\n"


class FakeStream:
    """What Pipeline.iter_pages returns: a header known upfront, then pages, with ``close``."""

    def __init__(self, fake: FakePipeline, name: str, count: int, selected: list[int]) -> None:
        self.document = Document(source=name, mime_type="application/pdf", page_count=count)
        self._fake = fake
        self._pages = iter(selected)
        self.closed = False

    def __iter__(self) -> FakeStream:
        return self

    def __next__(self) -> Page:
        return self._fake.make_page(next(self._pages))

    def close(self) -> None:
        self.closed = True
        self._fake.closed.set()


def _page(number: int, text: str) -> Page:
    prov = Provenance(tier=Tier.OCR, engine="fake")
    block = Block(text=text, bbox=BBox(x0=0, y0=0, x1=10, y1=10), provenance=prov)
    return Page(number=number, width=100, height=100, dpi=72, tier=Tier.OCR, blocks=[block])


class FakePipeline:
    """Stands in for tierocr.pipeline.Pipeline: instant pages, counts of what it did, hooks to block."""

    def __init__(self, page_count: int = 3, page_hook: Callable[[int], None] | None = None) -> None:
        self.page_count = page_count
        self.page_hook = page_hook
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.pages_made = 0
        self.sources: list[str] = []
        self.closed = threading.Event()
        self.settings_seen: list[Settings] = []
        self.texts: dict[int, str] = {}
        self.extra_blocks: list[Block] = []
        self.settings = Settings()

    def factory(self, settings: Settings) -> FakePipeline:
        self.settings_seen.append(settings)
        self.settings = settings
        return self

    def iter_pages(
        self, source: Path | bytes, *, name: str | None = None, pages: str | None = None
    ) -> FakeStream:
        from tierocr.inputs.pages import parse_page_range

        head = source[:1024] if isinstance(source, bytes) else Path(source).read_bytes()[:1024]
        if sniff_mime(head) is None:
            raise InputError(name or "?", "unsupported file type")
        try:
            selected = parse_page_range(pages, self.page_count)
        except ValueError as exc:  # the real readers report a bad range as an InputError too
            raise InputError(name or "?", str(exc)) from exc
        self.sources.append(name or "?")
        return FakeStream(self, name or "?", self.page_count, selected)

    def make_page(self, number: int) -> Page:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.page_hook is not None:
                self.page_hook(number)
            with self.lock:
                self.pages_made += 1
            page = _page(number, self.texts.get(number, f"text of page {number}"))
            page.blocks.extend(self.extra_blocks)
            return page
        finally:
            with self.lock:
                self.active -= 1

    def classical_page(self, page_input: Any, source_path: Path | None = None) -> tuple[Page, None]:
        """What the job runner's page step calls: the page numbers are the real document's."""
        return self.make_page(page_input.number), None

    def escalate(self, items: list[tuple[Page, Any]]) -> list[Page]:
        return [page for page, _ in items]

    def process_image(self, image: Image.Image, number: int = 1, dpi: float = 300.0) -> Page:
        return _page(number, self.texts.get(number, f"{image.width}x{image.height} image"))


class FakeEngine(OcrEngine):
    name = "fake-ocr"

    def recognize(self, image: Image.Image) -> list[OcrLine]:
        return [OcrLine("fake", BBox(x0=0, y0=0, x1=1, y1=1), 1.0)]

    def version(self) -> str:
        return "fake-1.0"
