"""Markdown, JSON and RAG chunks."""

from __future__ import annotations

from tierocr.config import RenderSettings
from tierocr.document import Block, BlockKind, Document, Page, Provenance, Tier
from tierocr.render.chunks import chunk_document
from tierocr.render.json import render_json
from tierocr.render.markdown import render_markdown

PROV = Provenance(tier=Tier.TEXT_LAYER, engine="pdfium")


def _doc() -> Document:
    def b(kind: BlockKind, text: str = "", **kw: object) -> Block:
        return Block(kind=kind, text=text, provenance=PROV, **kw)

    page1 = Page(
        number=1,
        width=100,
        height=100,
        dpi=72,
        blocks=[
            b(BlockKind.HEADER, "Running header"),
            b(BlockKind.HEADING, "Methods", level=1),
            b(BlockKind.TEXT, "First paragraph. " * 20),
            b(BlockKind.LIST_ITEM, "• item one"),
            b(BlockKind.TABLE, "a b", html="<table><tr><td>a</td><td>b</td></tr></table>"),
            b(BlockKind.FORMULA, latex="E = mc^2"),
            b(BlockKind.TEXT, "# not a heading"),
            b(BlockKind.PAGE_NUMBER, "1"),
        ],
    )
    page2 = Page(
        number=2,
        width=100,
        height=100,
        dpi=72,
        blocks=[b(BlockKind.HEADING, "Results", level=2), b(BlockKind.TEXT, "Second page text.")],
    )
    return Document(source="x.pdf", mime_type="application/pdf", page_count=2, pages=[page1, page2])


def test_markdown_structure_and_furniture() -> None:
    md = render_markdown(_doc(), RenderSettings())
    assert md.startswith("# Methods\n\n")
    assert "- item one" in md
    assert "<table><tr><td>a</td><td>b</td></tr></table>" in md
    assert "$$\nE = mc^2\n$$" in md
    assert "\\# not a heading" in md
    assert "## Results" in md
    assert "Running header" not in md and "\n1\n" not in md
    kept = render_markdown(_doc(), RenderSettings(drop_headers_footers=False))
    assert "Running header" in kept


def test_json_round_trip() -> None:
    doc = _doc()
    assert Document.from_json(render_json(doc)) == doc


def test_chunks_are_bounded_heading_aware_and_paged() -> None:
    chunks = chunk_document(_doc(), RenderSettings(chunk_max_chars=200))
    assert all(len(c.text) <= 200 for c in chunks)
    assert chunks[0].headings == ["Methods"]
    last = chunks[-1]
    assert last.headings == ["Methods", "Results"] and last.pages == [2]
    assert "Running header" not in " ".join(c.text for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
