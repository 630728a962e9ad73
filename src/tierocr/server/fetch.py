"""Fetching a document from a URL a client gave us, without letting that client reach our network (SSRF).

The guard itself (address checks, pinned connections, redirects re-checked, one total deadline, a body
cap) is :mod:`tierocr.netguard`, shared with `vlm-serve`; this module applies the API's settings to it
and words its failures as :class:`FetchError`, which the API answers with the failure's status.
"""

from __future__ import annotations

import httpx

from tierocr.config import ServerSettings
from tierocr.errors import TierOcrError
from tierocr.netguard import REFUSED, FetchFailure, address_allowed, guarded_get, run_sync

__all__ = ["REFUSED", "FetchError", "address_allowed", "fetch_url", "fetch_url_async"]


class FetchError(TierOcrError):
    """A URL input could not be used; ``status`` is the HTTP status the API answers with."""

    def __init__(self, url: str, reason: str, status: int = 502) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status


async def fetch_url_async(
    url: str, settings: ServerSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> bytes:
    """GET ``url`` under the SSRF guard, the total deadline and the size limit of ``settings``."""
    try:
        return await guarded_get(
            url,
            allow_private=settings.allow_private_urls,
            timeout_s=settings.fetch_timeout_s,
            max_bytes=settings.fetch_max_bytes,
            max_redirects=settings.fetch_max_redirects,
            transport=transport,
        )
    except FetchFailure as exc:
        reason = exc.reason
        if exc.kind == "refused":
            reason += " (set server.allow_private_urls to allow internal addresses)"
        raise FetchError(url, reason, exc.status) from exc


def fetch_url(
    url: str, settings: ServerSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> bytes:
    """Blocking form of :func:`fetch_url_async`, for the serverless handler and injected fetchers."""
    return run_sync(fetch_url_async(url, settings, transport=transport))
