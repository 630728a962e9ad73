"""What `vlm-serve` refuses before it does any work, and how it notices a client that left.

A 5 MB text prompt with `max_tokens: 4` once drove the server to 11 GB and held its only worker for
minutes: the body cap (64 MiB) was the only bound on the prompt. Here the body is read against its cap as
it arrives, and the prompt's length, image count and tokens are checked while the request is still only
JSON; images are decoded only after that, and the token count including image tokens is checked once
the processor has built the batch, before `generate` (see `model.py`).
"""

from __future__ import annotations

from fastapi import Request

from tierocr.config import VlmServerSettings
from tierocr.vlm_server.protocol import ApiError, ChatCompletionRequest, ImagePart, TextPart


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"request body is larger than {limit} bytes", code="request_too_large")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit`` (declared or counted)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def check_request_limits(req: ChatCompletionRequest, settings: VlmServerSettings) -> int:
    """Refuse a request over the text, image-count or answer-length limits; returns its max_tokens."""
    chars = 0
    images = 0
    for message in req.messages:
        if isinstance(message.content, str):
            chars += len(message.content)
            continue
        for part in message.content:
            if isinstance(part, ImagePart):
                images += 1
            elif isinstance(part, TextPart):
                chars += len(part.text)
    if chars > settings.max_prompt_chars:
        raise ApiError(
            400,
            f"the prompt is {chars} characters; this server's limit is {settings.max_prompt_chars}",
            code="prompt_too_long",
            param="messages",
        )
    if images > settings.max_images_per_request:
        raise ApiError(
            400,
            f"{images} images; this server's limit is {settings.max_images_per_request} per request",
            code="too_many_images",
            param="messages",
        )
    max_tokens = req.max_completion_tokens or req.max_tokens or settings.default_max_tokens
    if max_tokens > settings.max_tokens_limit:
        raise ApiError(
            400,
            f"max_tokens {max_tokens} is above this server's {settings.max_tokens_limit}",
            param="max_tokens",
        )
    return max_tokens


async def client_gone(request: Request) -> None:
    """Return once the client has disconnected; call only after the body has been read.

    After the body, the next ASGI message a server hands out is the disconnect, so this waits on the
    connection itself rather than polling it.
    """
    while (await request.receive())["type"] != "http.disconnect":
        continue
