"""What the API refuses before any work starts: no key, oversize bodies, non-multipart uploads, bombs, odd
names."""

from __future__ import annotations

import hmac
import io
import json
import re
import unicodedata
from typing import Any

from PIL import Image
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tierocr.inputs.sniff import PDF, sniff_mime
from tierocr.server.work import LimitExceededError

_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


class UnsupportedMediaError(Exception):
    """The bytes are not a PDF or an image we read (415)."""


class BadInputError(Exception):
    """The bytes claim a type we read but cannot be decoded, or there are none (422)."""


class _BodyTooLargeError(HTTPException):
    """An HTTPException so that FastAPI's form parsing, which turns other errors into 400, lets it through."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit))


def safe_name(filename: str | None, default: str = "upload") -> str:
    """A label for an uploaded file that is safe in logs, JSON and (were it ever used so) a path.

    Only the last path component survives, reduced to letters, digits, dot, dash, underscore and space,
    with leading dots removed, so ``../../etc/passwd`` becomes ``passwd`` and a bare ``..`` the default.
    """
    if not filename:
        return default
    base = re.split(r"[\\/]", filename)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    base = _UNSAFE.sub("_", base).strip(" .")[:128]
    return base or default


def sniff_upload(data: bytes, label: str, *, images_only: bool = False) -> str:
    """The MIME type decided from the bytes; raises for empty, unreadable or (when asked) PDF input."""
    if not data:
        raise BadInputError(f"{label}: empty file")
    mime = sniff_mime(data[:1024])
    if mime is None:
        raise UnsupportedMediaError(
            f"{label}: unsupported file type (expected a PDF or a PNG/JPEG/TIFF/WebP/BMP/GIF image)"
        )
    if images_only and mime == PDF:
        raise UnsupportedMediaError(f"{label}: a PDF was sent where an image is expected")
    return mime


def open_image(data: bytes, label: str, max_pixels: int) -> Image.Image:
    """Decode an image after checking its declared size, so a decompression bomb is never decoded."""
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:  # Pillow's own header check, for the largest bombs
        raise LimitExceededError(f"{label}: image is over the limit of {max_pixels} pixels: {exc}") from exc
    except OSError as exc:
        raise BadInputError(f"{label}: cannot decode image: {exc}") from exc
    width, height = image.size
    if width * height > max_pixels:
        raise LimitExceededError(
            f"{label}: image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels}"
        )
    try:
        image.load()
    except Image.DecompressionBombError as exc:
        raise LimitExceededError(f"{label}: image is over the limit of {max_pixels} pixels: {exc}") from exc
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{label}: cannot decode image: {exc}") from exc
    return image.convert("RGB")


class ApiKeyGuard:
    """Pure ASGI middleware: ``401`` for an ``/api/*`` or ``/metrics`` request without the key, answered from
    the headers alone, before a byte of the body is read.

    A route dependency would run only after FastAPI has parsed the form, so an unauthenticated client
    could still make the server take in (and spool) a 50 MiB upload. Compared in constant time.
    """

    def __init__(
        self, app: ASGIApp, *, api_key: str, protected: tuple[str, ...] = ("/api/", "/metrics")
    ) -> None:
        self.app = app
        self.key = api_key.encode()
        self.protected = protected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or not self._protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, token = header.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.key):
            await self.app(scope, receive, send)
            return
        await _reject(send, 401, "missing or wrong API key", [(b"www-authenticate", b"Bearer")])

    def _protected(self, path: str) -> bool:
        return any(path == p.rstrip("/") or path.startswith(p) for p in self.protected)


class RequestGuard:
    """Pure ASGI middleware: 413 for bodies over the limit, 415 for uploads that are not multipart.

    The size check counts bytes as they arrive, so a client that lies in (or omits) Content-Length is
    stopped at the limit instead of after its whole body has been spooled. Written as raw ASGI because
    BaseHTTPMiddleware would buffer streaming (SSE) responses.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, multipart_paths: tuple[str, ...]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.multipart_paths = multipart_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["path"] in self.multipart_paths:
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "multipart/form-data":
                got = ctype or "no content type"
                await _reject(send, 415, f"expected a multipart/form-data upload, got {got}")
                return
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _reject(send, 413, _too_large(self.max_bytes))
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLargeError(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLargeError:
            if not started:
                await _reject(send, 413, _too_large(self.max_bytes))


def _too_large(limit: int) -> str:
    return f"request body is over this server's limit of {limit} bytes"


async def _reject(
    send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
