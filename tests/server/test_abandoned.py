"""A synchronous request whose client hangs up stops its document at the next page, freeing the worker."""

from __future__ import annotations

import socket
import threading
import types
from collections.abc import Callable

import pytest
from server_helpers import FakePipeline, LiveServer, pdf_bytes

from tierocr.config import Settings
from tierocr.server.routes import documents


def _multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_an_abandoned_document_request_stops_at_the_next_page(
    settings: Settings, start_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()

    def hold_first_page(number: int) -> None:
        if number == 1:
            entered.set()
            release.wait(60)

    fake = FakePipeline(page_count=5, page_hook=hold_first_page)
    # Record the request's cancel event so the test can wait for the server to see the hang-up.
    cancels: list[threading.Event] = []

    def recorded_event() -> threading.Event:
        event = threading.Event()
        cancels.append(event)
        return event

    monkeypatch.setattr(documents, "threading", types.SimpleNamespace(Event=recorded_event))
    server = start_server(settings, pipeline_factory=fake.factory)
    body, ctype = _multipart("five.pdf", pdf_bytes(1))
    head = (
        f"POST /api/ocr/document HTTP/1.1\r\nHost: test\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(head + body)
            assert entered.wait(60)
        # The client is gone while page 1 is being read.
        assert cancels and cancels[0].wait(60)
    finally:
        release.set()
    assert fake.closed.wait(60)
    assert fake.pages_made == 1  # pages 2 to 5 were never parsed
    assert server.app.state.tierocr.metrics.requests_abandoned._value.get() == 1
