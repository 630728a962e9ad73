"""Turning `image_url` parts into RGB images, with the limits a network-facing server needs.

Every path ends in :func:`open_image`, so a data URI and a downloaded file meet the same byte and pixel
limits. Downloads are off unless `allow_remote_images` is set, and then go through the same SSRF guard
as the OCR API (:mod:`tierocr.netguard`): public addresses only, redirects re-checked, one deadline, the
body cut off at the byte limit.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io

from PIL import Image

from tierocr.config import VlmServerSettings
from tierocr.netguard import FetchFailure, guarded_get
from tierocr.vlm_server.protocol import ApiError

#: The one answer for a remote image that could not be fetched, whatever the reason (see fetch_image).
FETCH_FAILED = "cannot fetch image_url: refused, unreachable or not answering with an image"


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


async def fetch_image(url: str, settings: VlmServerSettings) -> Image.Image:
    """An http(s) image through the API's SSRF guard, one deadline and the byte limit.

    Every failure but an oversize body answers the same text, so that a client cannot use the server to
    tell which internal hosts exist or which of their ports are open.
    """
    if not settings.allow_remote_images:
        raise _bad_image("remote image URLs are disabled on this server; send a data URI")
    try:
        data = await guarded_get(
            url,
            allow_private=settings.allow_private_image_urls,
            timeout_s=settings.image_fetch_timeout_s,
            max_bytes=settings.max_image_bytes,
            max_redirects=settings.image_fetch_max_redirects,
        )
    except FetchFailure as exc:
        if exc.kind == "too_large":
            raise _bad_image(f"image is larger than {settings.max_image_bytes} bytes", 413) from exc
        raise _bad_image(FETCH_FAILED) from exc
    return await asyncio.to_thread(open_image, data, settings)


async def load_image(url: str, settings: VlmServerSettings) -> Image.Image:
    """Decoding runs in a thread: a 20 MB scan would otherwise stall every other request's I/O."""
    if url.startswith("data:"):
        return await asyncio.to_thread(decode_data_uri, url, settings)
    if url.startswith(("http://", "https://")):
        return await fetch_image(url, settings)
    raise _bad_image("image_url must be a data URI or an http(s) URL")
