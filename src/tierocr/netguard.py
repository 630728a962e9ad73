"""Fetching a URL a client named without letting that client reach our own network (the SSRF guard).

Shared by the OCR API (`url` inputs, serverless `*_url`) and `vlm-serve` (`image_url`), and kept below
both so neither imports the other. Every hop is checked: the host is resolved once, each address it
resolves to must be public unicast, and the connection goes to the address that was checked (the Host
header and TLS SNI carry the name), so DNS cannot answer one address to the check and another to the
connection. Redirects are followed by hand, each target checked again, up to a bound. The whole fetch,
DNS and connect included, runs under one deadline, and the body is read up to a size limit, so a server
that drips one byte a second or never ends its body costs at most the deadline.

IPv6 forms that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``,
NAT64 ``64:ff9b::a.b.c.d``, 6to4 ``2002:AABB:CCDD::``, Teredo) are judged by the IPv4 address they carry,
because that is where the packets end up: ``64:ff9b::7f00:1`` is loopback, whatever Python's
``is_global`` says about the IPv6 form. The local-use NAT64 prefix ``64:ff9b:1::/48`` and site-local
``fec0::/10`` are never public and are refused outright.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
T = TypeVar("T")

#: The one answer for every address the guard refuses, whatever the host and port, so that the error
#: text cannot be used to map which internal hosts exist or which of their ports are open.
REFUSED = "refused: the host is not a public address"

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

#: Never public, listed here as well as in ``is_global`` so that the answer does not depend on which
#: Python version's idea of the special-purpose registries is installed.
_DENIED = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",
        "100::/64",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)


class FetchFailure(Exception):
    """A guarded fetch did not produce a body; ``status`` is the HTTP status an API answers with.

    ``kind`` says what happened (``invalid``, ``unresolvable``, ``refused``, ``http_status``,
    ``timeout``, ``too_large``, ``redirects``, ``failed``) for callers that word it their own way.
    """

    def __init__(self, kind: str, reason: str, status: int) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.status = status


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for (empty when it carries none)."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        server, client = ip.teredo
        return [server, client]
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def _public(ip: IPAddress) -> bool:
    if ip.is_multicast or any(ip in net for net in _DENIED if net.version == ip.version):
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL or ip.is_site_local:
            return False
        carried = embedded_ipv4(ip)
        if carried:
            return all(_public(v4) for v4 in carried)
    return ip.is_global


def address_allowed(ip: IPAddress, allow_private: bool) -> bool:
    """Whether a fetch may connect to ``ip``; ``allow_private`` lets internal addresses through."""
    if allow_private:
        targets: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address):
            targets += embedded_ipv4(ip)
        return not any(t.is_unspecified or t.is_multicast for t in targets)
    return _public(ip)


async def resolve_checked(host: str, port: int, allow_private: bool) -> IPAddress:
    """The first address of ``host`` once every address it resolves to has passed the guard."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchFailure("unresolvable", f"cannot resolve host {host!r}", 400) from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise FetchFailure("unresolvable", f"host {host!r} has no address", 400)
    if not all(address_allowed(ip, allow_private) for ip in addresses):
        raise FetchFailure("refused", REFUSED, 400)
    return addresses[0]


async def guarded_get(
    url: str,
    *,
    allow_private: bool,
    timeout_s: float,
    max_bytes: int,
    max_redirects: int,
    transport: httpx.AsyncBaseTransport | None = None,
) -> bytes:
    """GET ``url`` under the guard: one deadline for all of it, at most ``max_bytes`` of body."""
    try:
        async with asyncio.timeout(timeout_s):
            return await _get(url, allow_private, timeout_s, max_bytes, max_redirects, transport)
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise FetchFailure("timeout", f"timed out after {timeout_s:g}s", 504) from exc


async def _get(
    url: str,
    allow_private: bool,
    timeout_s: float,
    max_bytes: int,
    max_redirects: int,
    transport: httpx.AsyncBaseTransport | None,
) -> bytes:
    current = url
    async with httpx.AsyncClient(
        timeout=timeout_s, follow_redirects=False, trust_env=False, transport=transport
    ) as client:
        for _ in range(max_redirects + 1):
            try:
                parsed = httpx.URL(current)
            except (httpx.InvalidURL, TypeError) as exc:
                raise FetchFailure("invalid", f"invalid URL: {exc}", 400) from exc
            if parsed.scheme not in ("http", "https") or not parsed.host:
                raise FetchFailure("invalid", "only http and https URLs with a host are fetched", 400)
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
            ip = await resolve_checked(parsed.host, port, allow_private)
            pinned = parsed.copy_with(host=str(ip))
            host_header = parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
            try:
                async with client.stream(
                    "GET", pinned, headers={"Host": host_header}, extensions={"sni_hostname": parsed.host}
                ) as response:
                    if response.is_redirect and "location" in response.headers:
                        current = urljoin(current, response.headers["location"])
                        continue
                    if response.status_code >= 400:
                        raise FetchFailure(
                            "http_status", f"the server answered HTTP {response.status_code}", 502
                        )
                    return await _read_capped(response, max_bytes)
            except httpx.TimeoutException:
                raise
            except httpx.HTTPError as exc:
                raise FetchFailure("failed", f"fetch failed: {exc}", 502) from exc
    raise FetchFailure("redirects", f"more than {max_redirects} redirects", 502)


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise FetchFailure("too_large", f"body of {declared} bytes is over the limit of {limit}", 413)
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body.extend(chunk)
        if len(body) > limit:
            raise FetchFailure("too_large", f"body is over the limit of {limit} bytes", 413)
    return bytes(body)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from synchronous code, also when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
