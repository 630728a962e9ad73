"""Turning `image_url` parts into RGB images, with the limits a network-facing server needs.

Every path ends in :func:`open_image`, so a data URI and a downloaded file meet the same byte and pixel
limits; downloads are streamed so a huge or endless body is cut off at the byte limit, not buffered.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io

import httpx
from PIL import Image

from tierocr.config import VlmServerSettings
from tierocr.vlm_server.protocol import ApiError


def _bad_image(message: str, status: int = 400) -> ApiError:
    return ApiError(status, message, code="invalid_image", param="messages")


def open_image(data: bytes, settings: VlmServerSettings) -> Image.Image:
    if len(data) > settings.max_image_bytes:
        raise _bad_image(f"image is {len(data)} bytes; the limit is {settings.max_image_bytes}", 413)
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > settings.max_image_pixels:
            raise _bad_image(
                f"image has {width * height} pixels; the limit is {settings.max_image_pixels}", 413
            )
        image.load()
    except ApiError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise _bad_image(f"cannot decode image: {exc}") from exc
    return image.convert("RGB")


def decode_data_uri(url: str, settings: VlmServerSettings) -> Image.Image:
    header, sep, payload = url.partition(",")
    if not sep or not header.startswith("data:"):
        raise _bad_image("malformed data URI: expected data:<mime>;base64,<data>")
    if not header.endswith(";base64"):
        raise _bad_image("only base64 data URIs are supported")
    # base64 grows data by 4/3: refuse before decoding rather than after.
    if len(payload) > settings.max_image_bytes * 4 // 3 + 4:
        raise _bad_image(f"image is larger than {settings.max_image_bytes} bytes", 413)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad_image(f"invalid base64 in data URI: {exc}") from exc
    return open_image(data, settings)


async def fetch_image(url: str, settings: VlmServerSettings, client: httpx.AsyncClient) -> Image.Image:
    if not settings.allow_remote_images:
        raise _bad_image("remote image URLs are disabled on this server; send a data URI")
    limit = settings.max_image_bytes
    try:
        async with asyncio.timeout(settings.image_fetch_timeout_s):
            async with client.stream("GET", url, follow_redirects=True) as response:
                if response.status_code != 200:
                    raise _bad_image(f"fetching {url} answered HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise _bad_image(f"image at {url} is {declared} bytes; the limit is {limit}", 413)
                buf = bytearray()
                async for piece in response.aiter_bytes():
                    buf.extend(piece)
                    if len(buf) > limit:
                        raise _bad_image(f"image at {url} is larger than {limit} bytes", 413)
    except TimeoutError as exc:
        raise _bad_image(f"fetching {url} took longer than {settings.image_fetch_timeout_s} s") from exc
    except httpx.HTTPError as exc:
        raise _bad_image(f"cannot fetch {url}: {exc}") from exc
    return await asyncio.to_thread(open_image, bytes(buf), settings)


async def load_image(url: str, settings: VlmServerSettings, client: httpx.AsyncClient) -> Image.Image:
    """Decoding runs in a thread: a 20 MB scan would otherwise stall every other request's I/O."""
    if url.startswith("data:"):
        return await asyncio.to_thread(decode_data_uri, url, settings)
    if url.startswith(("http://", "https://")):
        return await fetch_image(url, settings, client)
    raise _bad_image("image_url must be a data URI or an http(s) URL")
