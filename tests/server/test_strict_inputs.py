"""Requests checked as the docs say: the key before the body, a pixel bomb is 413 everywhere, and
serverless options typed as the API's own form fields."""

from __future__ import annotations

import base64
import socket
import struct
import zlib
from collections.abc import Callable

import pytest
from pydantic import SecretStr
from server_helpers import FakePipeline, LiveServer, pdf_bytes

from tierocr.config import Settings
from tierocr.serverless import ServerlessHandler


def test_an_unauthenticated_upload_is_refused_before_its_body_is_read(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    settings.server = settings.server.model_copy(update={"api_key": SecretStr("s3cret-key")})
    server = start_server(settings, pipeline_factory=fake.factory)
    declared = 40 * 1024 * 1024  # under the upload limit, so only the key can refuse it
    head = (
        "POST /api/ocr/document HTTP/1.1\r\nHost: test\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + b"--xyz\r\n" + b"0" * 1024)  # 1 KiB of the 40 MiB announced
        answer = sock.recv(4096)  # a server waiting for the rest of the body would time out here
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"www-authenticate: bearer" in answer.lower()
    assert fake.sources == []


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` 1-bit pixels; a few bytes, never decodable."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(12_000, 12_000), (20_000, 20_000)], ids=["over-limit", "pillow-bomb"])
def test_a_pixel_bomb_is_413_on_recognize_and_batch(live: LiveServer, size: tuple[int, int]) -> None:
    bomb = _bomb_png(*size)
    with live.client() as c:
        one = c.post("/api/ocr/recognize", files={"image": ("bomb.png", bomb)})
        batch = c.post("/api/ocr/batch", files=[("images", ("bomb.png", bomb))])
    assert one.status_code == 413, one.text
    assert "pixels" in one.json()["detail"]
    item = batch.json()["results"][0]
    assert item["ok"] is False and item["status"] == 413, item


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_serverless_options_are_typed_like_the_api_form(settings: Settings) -> None:
    fake = FakePipeline(page_count=1)
    handle = ServerlessHandler(settings, pipeline_factory=fake.factory)
    off = handle({"pdf_base64": _b64(pdf_bytes(1)), "enable_layout": "false"})
    on = handle({"pdf_base64": _b64(pdf_bytes(1)), "enable_layout": "true", "escalate": "never"})
    assert "error" not in off and "error" not in on
    layouts = [s.layout.enabled for s in fake.settings_seen]
    assert False in layouts and True in layouts  # "false" is false, as in a form or a config file
    assert all(s.vlm.escalate == "never" for s in fake.settings_seen if s.layout.enabled)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"escalate": "bogus"}, ["escalate", "'auto', 'never' or 'always'"]),
        ({"enable_layout": "perhaps"}, ["enable_layout", "boolean"]),
        ({"max_crop_images": "many"}, ["max_crop_images", "integer"]),
        ({"enable_layuot": False}, ["enable_layuot", "did you mean enable_layout"]),
    ],
    ids=["escalate", "enable-layout", "max-crops", "typo"],
)
def test_serverless_refuses_bad_options_naming_them(
    settings: Settings, extra: dict[str, object], words: list[str]
) -> None:
    fake = FakePipeline(page_count=1)
    out = ServerlessHandler(settings, pipeline_factory=fake.factory)(
        {"pdf_base64": _b64(pdf_bytes(1)), **extra}
    )
    assert out["status"] == 400, out
    assert all(word in out["error"] for word in words), out["error"]
    assert fake.sources == []  # refused before any work
