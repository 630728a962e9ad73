"""`POST /api/index`, `GET /api/search`, `GET`/`DELETE /api/index` through the real app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from index_helpers import BREAD, TAX, VOLCANO

from tierocr.config import Settings
from tierocr.document import Document
from tierocr.samples.synthetic import text_pdf
from tierocr.server.app import create_app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings.model_validate(
        {
            "data_dir": str(tmp_path / "data"),
            "layout": {"enabled": False},
            "ocr": {"fix_rotation": False},
            "index": {"db": str(tmp_path / "api.sqlite")},
        }
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_index_a_pdf_then_search_it_in_every_mode(client: TestClient) -> None:
    pdf = text_pdf([[VOLCANO], [BREAD], [TAX]])
    files = {"file": ("three.pdf", pdf, "application/pdf")}
    first = client.post("/api/index", files=files)
    assert first.status_code == 200, first.text
    assert first.json() | {"chunks": 0} == {
        "doc_id": "three.pdf",
        "status": "added",
        "chunks": 0,
        "embedded": 1,
        "pages": 3,
    }
    assert client.post("/api/index", files=files).json()["status"] == "unchanged"

    for mode in ("keyword", "vector", "hybrid"):
        answer = client.get(
            "/api/search", params={"q": "sourdough starter yeast dough", "k": 2, "mode": mode}
        )
        assert answer.status_code == 200, answer.text
        top = answer.json()["hits"][0]
        assert (answer.json()["mode"], top["doc_id"], top["page"], top["tier"]) == (
            mode,
            "three.pdf",
            2,
            "text_layer",
        )
    assert client.get("/api/index").json()["documents"][0]["pages"] == 3


def test_document_json_upload_delete_and_bad_requests(client: TestClient, tmp_path: Path) -> None:
    from index_helpers import make_doc, make_page

    doc: Document = make_doc("parsed.pdf", [make_page(1, [TAX])])
    upload = {"file": ("parsed.json", doc.to_json(), "application/json")}
    assert client.post("/api/index", files=upload, data={"doc_id": "tax-2024"}).json()["doc_id"] == "tax-2024"
    assert client.get("/api/search", params={"q": "taxable income"}).json()["hits"][0]["doc_id"] == "tax-2024"

    assert client.delete("/api/index/tax-2024").json() == {"doc_id": "tax-2024", "deleted": True}
    assert client.delete("/api/index/tax-2024").status_code == 404
    assert client.get("/api/search", params={"q": "taxable income", "mode": "keyword"}).json()["hits"] == []

    broken = {"file": ("broken.json", b"{}", "application/json")}
    assert client.post("/api/index", files=broken).status_code == 422
    assert client.post("/api/index", files={"file": ("x.txt", b"hello", "text/plain")}).status_code == 415
    assert client.post("/api/index", json={"doc": 1}).status_code == 415  # uploads are multipart
    assert client.get("/api/search", params={"q": ""}).status_code == 422
    assert client.get("/api/search", params={"q": "x", "mode": "fuzzy"}).status_code == 422
