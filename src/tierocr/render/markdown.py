"""Markdown: headings, paragraphs, lists, HTML tables and ``$$`` formulas, in reading order."""

from __future__ import annotations

import re

from tierocr.config import RenderSettings
from tierocr.document import FURNITURE_KINDS, Block, BlockKind, Document, Page

_BULLET_PREFIX = re.compile(r"^\s*[•●○◦▪▫■□‣⁃∙·*\-–]\s+")
#: Characters that would turn a plain paragraph into Markdown structure if they opened it.
_LEADING_MARKUP = re.compile(r"^(#{1,6}\s|>\s|={3,}|```)")


def render_block(block: Block) -> str:
    text = block.text.strip()
    kind = block.kind
    if kind in (BlockKind.TITLE, BlockKind.HEADING):
        level = block.level or (1 if kind is BlockKind.TITLE else 2)
        return f"{'#' * level} {' '.join(text.split())}" if text else ""
    if kind is BlockKind.LIST_ITEM:
        return "- " + _BULLET_PREFIX.sub("", text) if _BULLET_PREFIX.match(text) else text
    if kind is BlockKind.TABLE:
        return block.html or text
    if kind is BlockKind.FORMULA:
        body = (block.latex or text).strip()
        return f"$$\n{body}\n$$" if body else ""
    if kind is BlockKind.CODE:
        return f"```\n{block.text.rstrip()}\n```"
    if kind is BlockKind.FIGURE:
        return text
    if _LEADING_MARKUP.match(text):
        text = "\\" + text
    # Line breaks inside a block (table-like rows) must survive Markdown's paragraph joining.
    return text.replace("\n", "  \n")


def render_page_blocks(page: Page, settings: RenderSettings) -> list[str]:
    """Each block's Markdown, aligned with ``page.blocks`` ("" for a dropped or empty block).

    The review page renders block by block so that a region and its text can point at each other; the
    page's Markdown is defined as these parts joined, so the two can never disagree.
    """
    dropped = settings.drop_headers_footers
    return ["" if dropped and block.kind in FURNITURE_KINDS else render_block(block) for block in page.blocks]


def render_page_markdown(page: Page, settings: RenderSettings) -> str:
    return "\n\n".join(part for part in render_page_blocks(page, settings) if part)


def render_markdown(doc: Document, settings: RenderSettings) -> str:
    pages = [render_page_markdown(page, settings) for page in doc.pages]
    return "\n\n".join(p for p in pages if p) + "\n"
