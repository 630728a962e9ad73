"""The SSRF guard shared by the OCR API and vlm-serve: which addresses it lets a client-named URL reach,
that a redirect cannot lead around it, and that a fetch has one deadline, however slowly the peer sends."""

from __future__ import annotations

import asyncio
import http.server
import ipaddress
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tierocr.config import ServerSettings
from tierocr.netguard import REFUSED, FetchFailure, address_allowed, embedded_ipv4, guarded_get
from tierocr.server.fetch import FetchError, fetch_url

# Forms Python's `is_global` calls global although the packets end up on loopback, a private network or
# nowhere public: each wraps (or is) a non-public address.
REFUSED_ADDRESSES = [
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of the cloud metadata address
    "64:ff9b:1::808:808",  # local-use NAT64: never public
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "::a00:1",  # IPv4-compatible 10.0.0.1
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo whose client is 192.0.2.45 (documentation)
    "fec0::1",  # site-local
    "::ffff:10.0.0.1",
    "::ffff:127.0.0.1",
    "192.0.0.8",  # IETF protocol assignments
    "100.64.0.1",
    "169.254.169.254",
    "127.0.0.1",
    "0.0.0.0",
    "::",
    "::1",
    "fe80::1",
    "fc00::1",
    "2001:db8::1",
    "ff02::1",
    "224.0.0.1",
]
PUBLIC_ADDRESSES = [
    "8.8.8.8",
    "2606:4700:4700::1111",
    "64:ff9b::808:808",
    "2002:808:808::1",
    "::ffff:8.8.8.8",
]


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_non_public_addresses_are_refused_in_every_form(address: str) -> None:
    assert not address_allowed(ipaddress.ip_address(address), allow_private=False)


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_pass_also_when_wrapped(address: str) -> None:
    assert address_allowed(ipaddress.ip_address(address), allow_private=False)


def test_embedded_ipv4_is_what_decides() -> None:
    v4 = ipaddress.IPv4Address
    assert embedded_ipv4(ipaddress.IPv6Address("64:ff9b::7f00:1")) == [v4("127.0.0.1")]
    assert embedded_ipv4(ipaddress.IPv6Address("::7f00:1")) == [v4("127.0.0.1")]
    assert embedded_ipv4(ipaddress.IPv6Address("2002:7f00:1::")) == [v4("127.0.0.1")]
    assert embedded_ipv4(ipaddress.IPv6Address("::1")) == []
    assert embedded_ipv4(ipaddress.IPv6Address("2606:4700:4700::1111")) == []


def test_allow_private_still_refuses_unspecified_and_multicast() -> None:
    for address in ("127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::7f00:1"):
        assert address_allowed(ipaddress.ip_address(address), allow_private=True)
    for address in ("0.0.0.0", "::", "::ffff:0.0.0.0", "224.0.0.1", "ff02::1"):
        assert not address_allowed(ipaddress.ip_address(address), allow_private=True)


def _get(url: str, transport: httpx.AsyncBaseTransport | None = None, **kw: object) -> bytes:
    options: dict[str, object] = {"allow_private": False, "timeout_s": 10, "max_bytes": 1 << 20}
    options.update(max_redirects=3, **kw)
    return asyncio.run(guarded_get(url, transport=transport, **options))  # type: ignore[arg-type]


def test_a_redirect_to_an_internal_address_is_refused() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://[64:ff9b::7f00:1]:8080/admin"})

    with pytest.raises(FetchFailure) as info:
        _get("http://93.184.216.34/doc.pdf", httpx.MockTransport(answer))
    assert info.value.kind == "refused" and str(info.value) == REFUSED
    assert seen == ["http://93.184.216.34/doc.pdf"]  # the internal target was never requested


def test_every_refusal_reads_the_same() -> None:
    reasons = set()
    for url in (
        "http://127.0.0.1:1/",
        "http://127.0.0.1:22/",
        "http://[::7f00:1]/",
        "http://10.9.8.7:8080/x",
    ):
        with pytest.raises(FetchFailure) as info:
            _get(url)
        reasons.add(info.value.reason)
    assert reasons == {REFUSED}


@pytest.fixture
def drip_server() -> Iterator[str]:
    """Answers 200 and then one byte every 0.1 s, 60 bytes in all: no single read ever waits long."""

    class Drip(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            for _ in range(60):
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return  # the fetch gave up, as it should
                time.sleep(0.1)  # the misbehaving peer's pace, not a wait for the test

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/slow.pdf"
    server.shutdown()
    server.server_close()


def test_a_dripping_body_meets_one_total_deadline(drip_server: str) -> None:
    settings = ServerSettings(allow_private_urls=True, fetch_timeout_s=1.0)
    with pytest.raises(FetchError) as info:
        fetch_url(drip_server, settings)
    assert info.value.status == 504 and "timed out" in info.value.reason


def test_fetch_url_works_inside_a_running_event_loop(drip_server: str) -> None:
    async def from_a_coroutine() -> None:
        with pytest.raises(FetchError):
            fetch_url(drip_server, ServerSettings(allow_private_urls=True, fetch_timeout_s=0.5))

    asyncio.run(from_a_coroutine())
