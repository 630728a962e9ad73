"""What the API refuses: malformed and oversize uploads, wrong types, bad inputs, missing keys, SSRF."""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from pydantic import SecretStr
from server_helpers import CORRUPT_PDF, FakePipeline, LiveServer, png_bytes

from tierocr.config import ServerSettings, Settings
from tierocr.netguard import REFUSED
from tierocr.server.fetch import FetchError, fetch_url
from tierocr.server.limits import safe_name

ALL_UPLOAD_ROUTES = [
    "/api/ocr/recognize",
    "/api/ocr/extract",
    "/api/ocr/batch",
    "/api/ocr/document",
    "/api/ocr/document/stream",
    "/api/jobs",
]


@pytest.mark.parametrize("route", ALL_UPLOAD_ROUTES)
def test_wrong_content_type_is_415(live: LiveServer, route: str) -> None:
    with live.client() as c:
        as_json = c.post(route, json={"file": "a.pdf"})
        raw = c.post(route, content=b"%PDF-1.4", headers={"content-type": "application/pdf"})
    assert as_json.status_code == 415 and "multipart/form-data" in as_json.json()["detail"]
    assert raw.status_code == 415


def test_malformed_multipart_is_400(live: LiveServer) -> None:
    body = b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n%PDF-1.4 trunc'
    with live.client() as c:
        no_boundary = c.post(
            "/api/ocr/document", content=body, headers={"content-type": "multipart/form-data"}
        )
        truncated = c.post(
            "/api/ocr/document", content=body, headers={"content-type": "multipart/form-data; boundary=XYZ"}
        )
    assert no_boundary.status_code == 400
    assert truncated.status_code in (400, 422)  # never a 500, never parsed as a document


def test_missing_file_field_is_422(live: LiveServer) -> None:
    with live.client() as c:
        r = c.post("/api/ocr/document", data={"pages": "1"}, files={"other": ("x", b"y")})
    assert r.status_code == 422 and "exactly one of" in r.json()["detail"]


@pytest.fixture
def small_limit_server(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> LiveServer:
    settings.server.max_upload_bytes = 64 * 1024
    return start_server(settings, pipeline_factory=fake.factory)


def test_oversize_upload_is_413(small_limit_server: LiveServer, fake: FakePipeline) -> None:
    big = b"%PDF-1.4\n" + b"0" * (100 * 1024)
    with small_limit_server.client() as c:
        r = c.post("/api/ocr/document", files={"file": ("big.pdf", big)})
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    assert fake.sources == []


def test_oversize_chunked_upload_without_length_is_413(small_limit_server: LiveServer) -> None:
    boundary = b"B0UNDARY"

    def body() -> Iterator[bytes]:
        yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n'
        for _ in range(40):  # 40 x 4 KiB > the 64 KiB limit, sent with no Content-Length
            yield b"%" * 4096
        yield b"\r\n--" + boundary + b"--\r\n"

    with small_limit_server.client() as c:
        r = c.post(
            "/api/ocr/document",
            content=body(),
            headers={"content-type": f"multipart/form-data; boundary={boundary.decode()}"},
        )
    assert r.status_code == 413


def test_unsupported_and_empty_files(live: LiveServer) -> None:
    with live.client() as c:
        text = c.post("/api/ocr/document", files={"file": ("notes.txt", b"hello world")})
        empty = c.post("/api/ocr/document", files={"file": ("empty.pdf", b"")})
    assert text.status_code == 415 and "notes.txt" in text.json()["detail"]
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]


def test_corrupt_pdf_is_422_with_the_reason_from_the_real_reader(
    settings: Settings, start_server: Callable[..., LiveServer]
) -> None:
    server = start_server(settings)  # the real pipeline: opening fails before any model loads
    with server.client() as c:
        r = c.post("/api/ocr/document", files={"file": ("broken.pdf", CORRUPT_PDF)})
        s = c.post("/api/ocr/document/stream", files={"file": ("broken.pdf", CORRUPT_PDF)})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["source"] == "broken.pdf" and body["reason"]
    assert "broken.pdf" in body["detail"]
    assert s.status_code == 422 and s.json()["reason"] == body["reason"]


def test_image_over_the_pixel_limit_is_413_without_decoding(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    settings.input.max_image_pixels = 100 * 100
    server = start_server(settings, pipeline_factory=fake.factory)
    buf = io.BytesIO()
    Image.new("L", (2000, 2000)).save(buf, "PNG")
    with server.client() as c:
        r = c.post("/api/ocr/recognize", files={"image": ("bomb.png", buf.getvalue())})
    assert r.status_code == 413 and "pixels" in r.json()["detail"]


def test_api_key_is_required_when_configured(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    settings.server = settings.server.model_copy(update={"api_key": SecretStr("s3cret-key")})
    server = start_server(settings, pipeline_factory=fake.factory)
    files = {"file": ("a.png", png_bytes())}
    with server.client() as c:
        none = c.post("/api/ocr/document", files=files)
        wrong = c.post("/api/ocr/document", files=files, headers={"Authorization": "Bearer nope"})
        right = c.post("/api/ocr/document", files=files, headers={"Authorization": "Bearer s3cret-key"})
        health = c.get("/health")
        info_anon = c.get("/api/info")
        info = c.get("/api/info", headers={"Authorization": "Bearer s3cret-key"})
        jobs = c.get("/api/jobs/" + "0" * 32)
    assert none.status_code == 401 and none.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert health.status_code == 200  # load balancers probe without a key
    assert info_anon.status_code == 401 and jobs.status_code == 401
    assert "s3cret-key" not in info.text and info.json()["config"]["server"]["api_key"] == "***"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/x.pdf",
        "http://localhost/x.pdf",
        "http://[::1]/x.pdf",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/x.pdf",
        "http://192.168.0.1/x.pdf",
        "http://[::ffff:127.0.0.1]/x.pdf",
        "http://0.0.0.0/x.pdf",
        "http://[64:ff9b::7f00:1]/x.pdf",
        "http://[64:ff9b:1::a9fe:a9fe]/x.pdf",
        "http://[::7f00:1]/x.pdf",
        "http://[2002:7f00:1::]/x.pdf",
        "http://[fec0::1]/x.pdf",
    ],
)
def test_ssrf_private_and_loopback_urls_are_refused(live: LiveServer, url: str) -> None:
    with live.client() as c:
        r = c.post("/api/ocr/document", files={"unused": ("x", b"x")}, data={"url": url})
    assert r.status_code == 400, r.text
    # One wording for every refused address: the answer does not say what a name resolved to.
    assert r.json()["reason"].startswith(REFUSED) or "resolve" in r.json()["detail"]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.pdf", "gopher://x/"])
def test_only_http_urls_are_fetched(url: str) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url(url, ServerSettings())
    assert info.value.status == 400


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "scan.png").write_bytes(png_bytes())

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)  # type: ignore[arg-type]

        def do_GET(self) -> None:
            if self.path == "/hop":
                self.send_response(302)
                self.send_header("Location", "/scan.png")
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_private_urls_are_fetched_when_allowed(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer], file_server: str
) -> None:
    settings.server.allow_private_urls = True
    server = start_server(settings, pipeline_factory=fake.factory)
    with server.client() as c:
        r = c.post("/api/ocr/document", files={"unused": ("x", b"x")}, data={"url": file_server + "/hop"})
        missing = c.post(
            "/api/ocr/document", files={"unused": ("x", b"x")}, data={"url": file_server + "/nope"}
        )
    assert r.status_code == 200, r.text
    assert fake.sources == ["hop"]  # followed the redirect; labelled by the URL's last segment
    assert missing.status_code == 502 and "404" in missing.json()["detail"]


def test_fetch_size_limit(file_server: str) -> None:
    limits = ServerSettings(allow_private_urls=True, fetch_max_bytes=1024)
    with pytest.raises(FetchError) as info:
        fetch_url(file_server + "/scan.png", limits)
    assert info.value.status == 413


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("..", "upload"),
        ("", "upload"),
        (None, "upload"),
        ("rapport été.pdf", "rapport ete.pdf"),
        ("a;rm -rf $HOME.pdf", "a_rm -rf _HOME.pdf"),
        (".hidden", "hidden"),
    ],
)
def test_safe_name(given: str | None, expected: str) -> None:
    assert safe_name(given) == expected
