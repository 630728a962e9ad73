"""Index, search, re-index after escalation and delete, on SQLite and on a real PostgreSQL+pgvector."""

from __future__ import annotations

from pathlib import Path

import pytest
from index_helpers import BREAD, TAX, VOLCANO, make_doc, make_page

from tierocr.document import Document, Tier
from tierocr.index.embed import WordLlamaEmbedder
from tierocr.index.service import SearchIndex
from tierocr.index.store import IndexStoreError


@pytest.mark.parametrize("mode", ["keyword", "vector", "hybrid"])
def test_each_mode_finds_the_page_that_answers(
    open_index, db: str, three_topics: Document, mode: str
) -> None:
    index = open_index(db)
    result = index.index_document(three_topics)
    assert (result.status, result.chunks, result.embedded) == ("added", 3, 3)
    query = (
        "sourdough starter ferments the dough" if mode != "vector" else "baking a loaf of bread with yeast"
    )
    hits = index.search(query, mode=mode, k=3)
    top = hits[0]
    assert (top.doc_id, top.page, top.pages, top.headings) == ("topics.pdf", 2, [2], ["Baking"])
    assert "ourdough" in top.snippet and top.tier == "ocr" and top.gate == "accepted"
    assert top.bbox == [50.0, 100.0, 1000.0, 180.0]
    assert mode in top.ranks or mode == "hybrid"


def test_keyword_search_without_matching_terms_finds_nothing(
    open_index, db: str, three_topics: Document
) -> None:
    index = open_index(db)
    index.index_document(three_topics)
    assert index.search("zeppelin quantum", mode="keyword") == []
    assert len(index.search("zeppelin quantum", mode="vector", k=2)) == 2  # vectors always rank something


def test_escalated_page_replaces_its_classical_chunks(open_index, db: str) -> None:
    garbled = "S0urd0ugh bre4d r1ses sl0wly: the w1ld yeast ferm3nts the d0ugh 0vernight."
    classical = make_doc(
        "report.pdf",
        [
            make_page(1, [VOLCANO]),
            make_page(2, [garbled], accepted=False),
            make_page(3, [TAX]),
        ],
    )
    index = open_index(db)
    index.index_document(classical)
    assert index.search("r1ses d0ugh", mode="keyword")[0].gate == "rejected"

    # the VLM re-read page 2 only: a parse of that page, tier vlm, accepted
    escalated = make_doc("report.pdf", [make_page(2, [BREAD], tier=Tier.VLM)], page_count=3)
    result = index.index_document(escalated)

    assert result.status == "updated"
    assert index.search("r1ses d0ugh", mode="keyword") == []  # nothing of the classical read stays
    hit = index.search("sourdough starter", mode="keyword")[0]
    assert (hit.page, hit.tier, hit.gate) == (2, "vlm", "accepted")
    assert index.search("lava fissure evacuation", mode="keyword")[0].page == 1
    assert index.search("taxable income", mode="keyword")[0].page == 3
    assert index.documents()[0].chunks == 1  # one page-spanning chunk (no headings), rebuilt whole
    assert [p.tier for p in index.store.stored_pages("report.pdf")] == [Tier.OCR, Tier.VLM, Tier.OCR]


def test_reindexing_replaces_and_only_new_text_is_embedded(
    open_index, db: str, three_topics: Document
) -> None:
    index = open_index(db)
    index.index_document(three_topics)
    again = index.index_document(three_topics)
    assert (again.status, again.embedded) == ("unchanged", 0)

    edited = three_topics.model_copy(deep=True)
    edited.pages[2].blocks[1].text = "Large companies pay the full rate on equipment bought abroad."
    result = index.index_document(edited)
    assert (result.status, result.chunks, result.embedded) == ("replaced", 3, 1)
    assert index.search("office equipment deduct", mode="keyword")[0].snippet.startswith("Large companies")
    assert index.store.stats()["chunks"] == 3


def test_a_shorter_new_version_leaves_no_stale_pages(open_index, db: str, three_topics: Document) -> None:
    index = open_index(db)
    index.index_document(three_topics)
    shorter = make_doc("topics.pdf", [make_page(1, [VOLCANO], heading="Iceland")])
    assert index.index_document(shorter).status == "replaced"
    assert index.search("sourdough", mode="keyword") == []
    assert index.search("taxable", mode="keyword") == []
    assert [p.number for p in index.store.stored_pages("topics.pdf")] == [1]


def test_delete_removes_every_chunk(open_index, db: str, three_topics: Document) -> None:
    index = open_index(db)
    index.index_document(three_topics)
    other = make_doc("other.pdf", [make_page(1, [BREAD.replace("Sourdough", "Rye")])])
    index.index_document(other)
    assert index.delete("topics.pdf") is True
    assert index.delete("topics.pdf") is False
    assert {h.doc_id for h in index.search("bread yeast dough", mode="hybrid")} == {"other.pdf"}
    assert [d.doc_id for d in index.documents()] == ["other.pdf"]
    assert index.store.stats()["chunks"] == 1


def test_a_file_is_parsed_again_only_when_its_bytes_change(open_index, db: str, tmp_path: Path) -> None:
    calls: list[Path] = []

    def parse(path: Path) -> Document:
        calls.append(path)
        text = BREAD if b"v1" in path.read_bytes() else TAX
        return make_doc(str(path), [make_page(1, [text])])

    source = tmp_path / "scan.pdf"
    source.write_bytes(b"%PDF-1.4 v1")
    index = open_index(db)
    assert index.index_file(source, parse).status == "added"
    assert index.index_file(source, parse).status == "unchanged"
    assert len(calls) == 1
    source.write_bytes(b"%PDF-1.4 v2")
    assert index.index_file(source, parse).status == "replaced"
    assert len(calls) == 2
    assert index.search("taxable income", mode="keyword")[0].doc_id == str(source)


def test_document_json_is_indexed_as_parsed(
    open_index, db: str, tmp_path: Path, three_topics: Document
) -> None:
    path = tmp_path / "topics.json"
    path.write_text(three_topics.to_json(), encoding="utf-8")
    index = open_index(db)
    result = index.index_file(path, parse=lambda p: pytest.fail("JSON must not be parsed again"))
    assert (result.doc_id, result.chunks) == ("topics.pdf", 3)
    bad = tmp_path / "bad.json"
    bad.write_text('{"pages": 3}', encoding="utf-8")
    with pytest.raises(ValueError, match="not a tierocr Document JSON"):
        index.index_file(bad, parse=lambda p: pytest.fail("no parse"))


def test_an_index_built_with_another_model_is_refused(settings, embedder, db: str) -> None:
    SearchIndex(settings, db, embedder=embedder).close()
    with pytest.raises(IndexStoreError, match="embedder"):
        SearchIndex(settings, db, embedder=WordLlamaEmbedder(64))


def test_sqlite_and_postgresql_give_the_same_hits(open_index, pg_server: str, tmp_path: Path) -> None:
    from index_helpers import fresh_pg_database as _fresh_pg_database

    docs = [
        make_doc(f"doc{i}.pdf", [make_page(1, [text]), make_page(2, [other])])
        for i, (text, other) in enumerate([(VOLCANO, BREAD), (BREAD, TAX), (TAX, VOLCANO)])
    ]
    lite = open_index(str(tmp_path / "a.sqlite"))
    pg = open_index(_fresh_pg_database(pg_server))
    for doc in docs:
        lite.index_document(doc)
        pg.index_document(doc)
    for query in ("sourdough yeast", "lava eruption evacuation", "office equipment income tax"):
        for mode in ("keyword", "vector", "hybrid"):
            a = lite.search(query, mode=mode, k=6)
            b = pg.search(query, mode=mode, k=6)
            assert [(h.doc_id, h.page) for h in a] == [(h.doc_id, h.page) for h in b], (query, mode)
            assert [h.score for h in a] == pytest.approx([h.score for h in b], rel=1e-5)
