"""/api/ocr/recognize, /extract and /batch over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PIL import Image
from server_helpers import FakePipeline, LiveServer, pdf_bytes, png_bytes

from tierocr.config import Settings


class FakeVlm:
    def __init__(self, answer: dict[str, Any] | None = None) -> None:
        self.answer = answer or {}
        self.calls: list[tuple[str, Any]] = []

    def recognize(self, image: Image.Image, task: str) -> str:
        self.calls.append((task, image.size))
        return "<table><tr><td>1</td></tr></table>" if task == "table" else r"E = mc^2"

    def extract(self, image: Image.Image, template: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("extract", template))
        return self.answer


def test_recognize_text(live: LiveServer) -> None:
    with live.client() as c:
        r = c.post("/api/ocr/recognize", files={"image": ("scan.png", png_bytes(size=(321, 99)))})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["task"] == "text" and body["text"] == "321x99 image" and body["tier"] == "ocr"


def test_recognize_table_without_vlm_is_503_that_says_why(live: LiveServer) -> None:
    with live.client() as c:
        r = c.post("/api/ocr/recognize", files={"image": ("t.png", png_bytes())}, data={"task": "table"})
    assert r.status_code == 503
    assert "TIEROCR_VLM_URL" in r.json()["detail"]


def test_recognize_table_and_formula_with_vlm(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    settings.vlm.url = "http://127.0.0.1:9/v1"
    vlm = FakeVlm()
    server = start_server(settings, pipeline_factory=fake.factory, vlm_factory=lambda _s: vlm)
    with server.client() as c:
        table = c.post("/api/ocr/recognize", files={"image": ("t.png", png_bytes())}, data={"task": "table"})
        formula = c.post(
            "/api/ocr/recognize", files={"image": ("f.png", png_bytes())}, data={"task": "formula"}
        )
    assert table.status_code == 200 and table.json()["html"].startswith("<table>")
    assert formula.status_code == 200 and formula.json()["latex"] == "E = mc^2"
    assert [call[0] for call in vlm.calls] == ["table", "formula"]


def test_recognize_refuses_a_pdf_and_an_unknown_task(live: LiveServer) -> None:
    with live.client() as c:
        pdf = c.post("/api/ocr/recognize", files={"image": ("a.pdf", pdf_bytes(1))})
        task = c.post("/api/ocr/recognize", files={"image": ("a.png", png_bytes())}, data={"task": "poem"})
    assert pdf.status_code == 415 and "PDF" in pdf.json()["detail"]
    assert task.status_code == 422


def test_extract_without_vlm_finds_labelled_values(live: LiveServer, fake: FakePipeline) -> None:
    fake.texts[1] = "ACME Ltd\nInvoice number: INV-0042\nTotal: $1,234.50\nPaid: yes"
    schema = {"invoice_number": "", "total": 0.0, "paid": False}
    with live.client() as c:
        r = c.post(
            "/api/ocr/extract", files={"file": ("inv.png", png_bytes())}, data={"schema": json.dumps(schema)}
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "ocr_key_value"
    assert body["fields"] == {"invoice_number": "INV-0042", "total": 1234.5, "paid": True}


def test_extract_missing_field_is_422_naming_it(live: LiveServer) -> None:
    schema = {"type": "object", "properties": {"iban": {"type": "string"}}, "required": ["iban"]}
    with live.client() as c:
        r = c.post(
            "/api/ocr/extract", files={"file": ("inv.png", png_bytes())}, data={"schema": json.dumps(schema)}
        )
    assert r.status_code == 422
    assert "iban" in r.json()["detail"]


def test_extract_bad_schema_is_422(live: LiveServer) -> None:
    with live.client() as c:
        not_json = c.post(
            "/api/ocr/extract", files={"file": ("a.png", png_bytes())}, data={"schema": "{nope"}
        )
        nested = c.post(
            "/api/ocr/extract", files={"file": ("a.png", png_bytes())}, data={"schema": '{"a": {"b": 1}}'}
        )
    assert not_json.status_code == 422 and "not valid JSON" in not_json.json()["detail"]
    assert nested.status_code == 422 and "nested" in nested.json()["detail"]


def test_extract_with_vlm_keeps_exactly_the_schema_fields(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    settings.vlm.url = "http://127.0.0.1:9/v1"
    vlm = FakeVlm({"total": "99.90", "date": "2024-01-02", "chatter": "not asked for"})
    server = start_server(settings, pipeline_factory=fake.factory, vlm_factory=lambda _s: vlm)
    schema = {"total": "number", "date": "string"}
    with server.client() as c:
        ok = c.post(
            "/api/ocr/extract",
            files={"file": ("a.pdf", pdf_bytes(2))},
            data={"schema": json.dumps(schema), "page": "2"},
        )
        vlm.answer = {"total": "ninety"}
        bad = c.post(
            "/api/ocr/extract", files={"file": ("a.png", png_bytes())}, data={"schema": json.dumps(schema)}
        )
    assert ok.status_code == 200, ok.text
    assert ok.json()["fields"] == {"total": 99.9, "date": "2024-01-02"} and ok.json()["method"] == "vlm"
    assert vlm.calls[0] == ("extract", {"total": "number", "date": "string"})
    assert bad.status_code == 422 and "total" in bad.json()["detail"]


def test_batch_reports_a_bad_item_in_place(live: LiveServer) -> None:
    files = [
        ("images", ("one.png", png_bytes(size=(200, 50)))),
        ("images", ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)),
        ("images", ("doc.txt", b"just text")),
        ("images", ("two.png", png_bytes(size=(300, 60)))),
    ]
    with live.client() as c:
        r = c.post("/api/ocr/batch", files=files, data={"task": "text"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 4 and body["failed"] == 2
    ok = [item["ok"] for item in body["results"]]
    assert ok == [True, False, False, True]
    assert body["results"][0]["result"]["text"] == "200x50 image"
    assert body["results"][1]["status"] == 422 and "broken.png" in body["results"][1]["error"]
    assert body["results"][2]["status"] == 415
    assert body["results"][3]["result"]["text"] == "300x60 image"


def test_batch_over_the_image_limit_is_413(
    settings: Settings, fake: FakePipeline, start_server: Callable[..., LiveServer]
) -> None:
    settings.server.max_batch_images = 2
    server = start_server(settings, pipeline_factory=fake.factory)
    files = [("images", (f"{n}.png", png_bytes())) for n in range(3)]
    with server.client() as c:
        r = c.post("/api/ocr/batch", files=files)
    assert r.status_code == 413


def test_real_pipeline_over_http(settings: Settings, start_server: Callable[..., LiveServer]) -> None:
    """The real pipeline (RapidOCR) behind the real server, on one tiny image and one tiny PDF."""
    from tierocr.server.work import default_pipeline_factory

    server = start_server(settings, pipeline_factory=default_pipeline_factory, engine_factory=None)
    with server.client() as c:
        image = c.post("/api/ocr/recognize", files={"image": ("inv.png", png_bytes("Invoice 12345"))})
        doc = c.post(
            "/api/ocr/document", files={"file": ("p.pdf", pdf_bytes(1, "Total"))}, data={"format": "md"}
        )
    assert image.status_code == 200, image.text
    assert "Invoice" in image.json()["text"] and image.json()["tier"] == "ocr"
    assert doc.status_code == 200, doc.text
    assert "Total" in doc.json()["markdown"]
