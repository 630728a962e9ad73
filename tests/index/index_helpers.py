"""Generated documents and a fresh PostgreSQL database per test, shared by the index fixtures and tests.

Kept out of conftest.py: several test folders have a conftest, and ``from conftest import`` picks
whichever was imported first.
"""

from __future__ import annotations

import uuid

from tierocr.document import BBox, Block, BlockKind, Document, Page, Provenance, QualityVerdict, Tier


def fresh_pg_database(server_url: str) -> str:
    import pg8000.native

    name = f"t_{uuid.uuid4().hex[:12]}"
    port = int(server_url.rsplit(":", 1)[1].split("/")[0])
    conn = pg8000.native.Connection("postgres", host="127.0.0.1", port=port)
    try:
        conn.run(f"CREATE DATABASE {name}")
    finally:
        conn.close()
    return server_url.rsplit("/", 1)[0] + "/" + name


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
