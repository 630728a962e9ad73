"""Fetching a document from a URL a client gave us, without letting that client reach our network (SSRF).

Every hop is checked: the host is resolved once, each of its addresses must be global unicast (no
loopback, private, link-local, shared, multicast or reserved address) unless the operator allows private
URLs, and the connection goes to the address that was checked (the Host header and TLS SNI carry the
name), so DNS cannot answer one address to the check and another to the connection. Redirects are
followed by hand, each target checked again, up to a bound. The body is read up to a size limit.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urljoin

import httpx

from tierocr.config import ServerSettings
from tierocr.errors import TierOcrError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(TierOcrError):
    """A URL input could not be used; ``status`` is the HTTP status the API answers with."""

    def __init__(self, url: str, reason: str, status: int = 502) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status


def address_allowed(ip: IPAddress, allow_private: bool) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if allow_private:
        return not ip.is_unspecified and not ip.is_multicast
    return ip.is_global and not ip.is_multicast


def resolve_checked(url: str, host: str, port: int, allow_private: bool) -> IPAddress:
    """The first address of ``host``, after checking that every address it resolves to is allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(url, f"cannot resolve host {host!r}", 400) from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise FetchError(url, f"host {host!r} has no address", 400)
    for ip in addresses:
        if not address_allowed(ip, allow_private):
            raise FetchError(
                url,
                f"refused: {host} resolves to {ip}, a loopback, private, link-local or reserved address "
                "(set server.allow_private_urls to allow it)",
                400,
            )
    return addresses[0]


def fetch_url(url: str, settings: ServerSettings, *, transport: httpx.BaseTransport | None = None) -> bytes:
    """GET ``url`` under the SSRF guard, the timeout and the size limit of ``settings``."""
    current = url
    with httpx.Client(
        timeout=settings.fetch_timeout_s, follow_redirects=False, trust_env=False, transport=transport
    ) as client:
        for _ in range(settings.fetch_max_redirects + 1):
            try:
                parsed = httpx.URL(current)
            except (httpx.InvalidURL, TypeError) as exc:
                raise FetchError(url, f"invalid URL: {exc}", 400) from exc
            if parsed.scheme not in ("http", "https") or not parsed.host:
                raise FetchError(url, "only http and https URLs with a host are fetched", 400)
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
            ip = resolve_checked(url, parsed.host, port, settings.allow_private_urls)
            pinned = parsed.copy_with(host=str(ip))
            host_header = parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
            try:
                with client.stream(
                    "GET", pinned, headers={"Host": host_header}, extensions={"sni_hostname": parsed.host}
                ) as response:
                    if response.is_redirect and "location" in response.headers:
                        current = urljoin(current, response.headers["location"])
                        continue
                    if response.status_code >= 400:
                        raise FetchError(url, f"the server answered HTTP {response.status_code}", 502)
                    return _read_capped(url, response, settings.fetch_max_bytes)
            except httpx.TimeoutException as exc:
                raise FetchError(url, f"timed out after {settings.fetch_timeout_s}s", 504) from exc
            except httpx.HTTPError as exc:
                raise FetchError(url, f"fetch failed: {exc}", 502) from exc
    raise FetchError(url, f"more than {settings.fetch_max_redirects} redirects", 502)


def _read_capped(url: str, response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise FetchError(url, f"body of {declared} bytes is over the limit of {limit}", 413)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise FetchError(url, f"body is over the limit of {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)
