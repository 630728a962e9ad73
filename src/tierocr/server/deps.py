"""Request-side helpers shared by the routers: the API key check and turning an upload or URL into bytes."""

from __future__ import annotations

import hmac
import re

from fastapi import Depends, HTTPException, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from tierocr.server.limits import safe_name, sniff_upload
from tierocr.server.state import AppState, get_state

_PAGES = re.compile(r"^\s*\d*\s*(-\s*\d*)?\s*(,\s*\d*\s*(-\s*\d*)?\s*)*$")


def require_api_key(request: Request, state: AppState = Depends(get_state)) -> None:  # noqa: B008
    """Bearer auth when ``server.api_key`` is set; compared in constant time."""
    key = state.settings.server.api_key
    if key is None:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), key.get_secret_value().encode()
    ):
        raise HTTPException(401, "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"})


def check_pages(pages: str | None) -> str | None:
    """Reject a malformed range before any work; whether it fits the document is checked once it is open."""
    if pages is None or not pages.strip():
        return None
    if not _PAGES.match(pages) or len(pages) > 200:
        raise HTTPException(422, f"invalid page range {pages!r}; write e.g. 1-5 or 1,3,7-")
    return pages.strip()


async def document_source(
    state: AppState, file: UploadFile | None, url: str | None, *, images_only: bool = False
) -> tuple[bytes, str, str]:
    """Bytes, a safe label and the sniffed MIME type of exactly one of an upload or a URL."""
    if (file is None) == (not url):
        raise HTTPException(422, "send exactly one of `file` (an upload) or `url`")
    if file is not None:
        data = await file.read()
        label = safe_name(file.filename)
    else:
        assert url is not None
        data = await run_in_threadpool(state.fetcher, url, state.settings.server)
        label = safe_name(url.split("?")[0].rstrip("/"), "download")
    mime = sniff_upload(data, label, images_only=images_only)
    return data, label, mime
