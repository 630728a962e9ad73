"""The guard: a reverse proxy in front of an OpenAI-compatible LLM server that holds the GPU lease while the
LLM works, so the LLM's clients change nothing but the URL.

Why a raw ASGI app rather than a framework: the lease must be released exactly when the last byte of a
(possibly streamed) answer has gone out or the client has hung up, and a hand-written send loop makes that
``finally`` unmissable. Requests that cannot touch the GPU (GET, HEAD, OPTIONS: model lists, health checks)
pass without the lease. Requests in flight at the same time share one hold, so the LLM still batches
concurrent requests as it would without the guard; OCR work waits until the last of them has finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import TYPE_CHECKING, Any

import httpx

from tierocr.gpu.lease import Lease, LeaseRequest, LeaseTimeout

if TYPE_CHECKING:
    from tierocr.config import GpuSettings

log = logging.getLogger(__name__)

# Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus those httpx sets for the new hop.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
_NO_LEASE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Scope = dict[str, Any]
Message = dict[str, Any]


class SharedHold:
    """One lease hold shared by every request in flight: the first in takes it, the last out gives it back."""

    def __init__(self, lease: Lease, priority: int, timeout_s: float) -> None:
        self._lease = lease
        self._priority = priority
        self._timeout_s = timeout_s
        self._mu: asyncio.Lock | None = None
        self._count = 0
        self._request: LeaseRequest | None = None

    async def enter(self) -> None:
        """Join the hold, taking the lease if nobody holds it; LeaseTimeout after the configured wait."""
        if self._mu is None:
            self._mu = asyncio.Lock()
        deadline = time.monotonic() + self._timeout_s
        try:
            wait = None if math.isinf(self._timeout_s) else self._timeout_s
            await asyncio.wait_for(self._mu.acquire(), timeout=wait)
        except TimeoutError as exc:
            raise LeaseTimeout(f"lease {self._lease.name}: not handed over before the deadline") from exc
        try:
            if self._count == 0:
                remaining = math.inf if math.isinf(self._timeout_s) else max(0.0, deadline - time.monotonic())
                request = self._lease.acquire(priority=self._priority, timeout=remaining)
                await request.__aenter__()
                self._request = request
            self._count += 1
        finally:
            self._mu.release()

    async def exit(self) -> None:
        assert self._mu is not None
        async with self._mu:
            self._count -= 1
            if self._count == 0 and self._request is not None:
                request, self._request = self._request, None
                await request.__aexit__(None, None, None)


class GuardApp:
    """ASGI app forwarding every request to ``upstream``; the module docstring says when it leases."""

    def __init__(
        self,
        upstream: str,
        lease: Lease | None,
        priority: int,
        acquire_timeout_s: float,
        upstream_timeout_s: float,
        max_body_bytes: int,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.lease = lease
        self.hold = SharedHold(lease, priority, acquire_timeout_s) if lease is not None else None
        self.upstream_timeout_s = upstream_timeout_s
        self.max_body_bytes = max_body_bytes
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            timeout = httpx.Timeout(self.upstream_timeout_s, connect=min(10.0, self.upstream_timeout_s))
            self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        return self._client

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http_request(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                if self.lease is not None:
                    self.lease.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http_request(self, scope: Scope, receive: Any, send: Any) -> None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await _plain(send, 413, f"request body over {self.max_body_bytes} bytes\n")
                return
            if not message.get("more_body", False):
                break
        leased = self.hold is not None and scope["method"] not in _NO_LEASE_METHODS
        if leased:
            assert self.hold is not None
            try:
                await self.hold.enter()
            except LeaseTimeout as exc:
                await _plain(send, 503, f"{exc}\n", [(b"retry-after", b"5")])
                return
        try:
            await self._relay_until_disconnect(scope, bytes(body), receive, send)
        finally:
            if leased:
                assert self.hold is not None
                await asyncio.shield(self.hold.exit())

    async def _relay_until_disconnect(self, scope: Scope, body: bytes, receive: Any, send: Any) -> None:
        """Relay the answer, stopping the upstream request as soon as the client hangs up."""
        relay = asyncio.ensure_future(self._relay(scope, body, send))
        watch = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            await asyncio.wait({relay, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (relay, watch):
                if not task.done():
                    task.cancel()
            for task in (relay, watch):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if relay.done() and not relay.cancelled() and relay.exception() is not None:
            raise relay.exception()  # type: ignore[misc]

    async def _relay(self, scope: Scope, body: bytes, send: Any) -> None:
        path = scope.get("raw_path") or scope["path"].encode()
        url = self.upstream + path.decode("latin-1")
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        headers = [(k, v) for k, v in scope["headers"] if k.decode("latin-1").lower() not in _HOP_BY_HOP]
        client = self._http()
        request = client.build_request(scope["method"], url, headers=headers, content=body)
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            await _plain(send, 502, f"upstream {self.upstream} unreachable: {exc}\n")
            return
        try:
            out_headers = [
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in response.headers.multi_items()
                if k.lower() not in _HOP_BY_HOP
            ]
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": out_headers}
            )
            # Raw: compressed bytes stay compressed and each upstream chunk goes out as it arrives.
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()


async def _wait_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _plain(send: Any, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text.encode(), "more_body": False})


def build_guard(upstream: str, lease: Lease | None, settings: GpuSettings) -> GuardApp:
    """The guard app with the configured priority, timeouts and body limit; ``lease=None`` is a bare proxy
    (used by the benchmark to isolate what the lease itself costs)."""
    return GuardApp(
        upstream,
        lease,
        priority=settings.guard_priority,
        acquire_timeout_s=settings.acquire_timeout_s,
        upstream_timeout_s=settings.guard_upstream_timeout_s,
        max_body_bytes=settings.guard_max_body_mb * 1024 * 1024,
    )


def serve_guard(app: GuardApp, host: str, port: int) -> None:
    """Run the guard in the foreground until interrupted."""
    import uvicorn

    log.info("guard on http://%s:%d -> %s", host, port, app.upstream)
    uvicorn.run(app, host=host, port=port, log_level="info", lifespan="on")
