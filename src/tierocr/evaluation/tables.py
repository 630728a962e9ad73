"""Tables found in a system's output (HTML or Markdown pipe tables), in one shape for every scorer.

Both the olmOCR table tests and TEDS need the tables of an output, whichever way it wrote them, so
the parsing lives here once. A table is a list of rows of cells with their spans, as written; the
olmOCR scorer expands the spans into a grid, TEDS builds a tree from the rows as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import lxml.etree
import lxml.html

_WS = re.compile(r"\s+")
_PIPE_SPLIT = re.compile(r"(?<!\\)\|")
_SEPARATOR_CELL = re.compile(r"^\s*:?-+:?\s*$")


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    colspan: int = 1
    rowspan: int = 1
    header: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    rows: tuple[tuple[Cell, ...], ...]
    source: str = "html"  # or "markdown"

    @property
    def cell_count(self) -> int:
        return sum(len(row) for row in self.rows)


def _span(value: str | None) -> int:
    try:
        return max(1, min(1000, int(str(value).strip()))) if value is not None else 1
    except ValueError:
        return 1


def _cell_text(element: lxml.html.HtmlElement) -> str:
    """The cell's text with inline markup (b, i, sup) dropped and line breaks turned into spaces."""
    for br in element.iter("br"):
        br.tail = " " + (br.tail or "")
    return _WS.sub(" ", "".join(element.itertext())).strip()


def _own_rows(table: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    """The table's rows, not those of tables nested in its cells."""
    rows = []
    for tr in table.iter("tr"):
        ancestor = tr.getparent()
        while ancestor is not None and ancestor.tag != "table":
            ancestor = ancestor.getparent()
        if ancestor is table:
            rows.append(tr)
    return rows


def parse_html_tables(text: str) -> list[Table]:
    """Every outermost ``<table>`` in the text, with colspan/rowspan and header flags (th or thead)."""
    if "<table" not in text.lower():
        return []
    try:
        root = lxml.html.fragment_fromstring(text, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return []
    tables: list[Table] = []
    for element in root.iter("table"):
        if any(a.tag == "table" for a in element.iterancestors()):
            continue
        rows: list[tuple[Cell, ...]] = []
        for tr in _own_rows(element):
            in_head = any(a.tag == "thead" for a in tr.iterancestors())
            cells = tuple(
                Cell(
                    text=_cell_text(td),
                    colspan=_span(td.get("colspan")),
                    rowspan=_span(td.get("rowspan")),
                    header=in_head or td.tag == "th",
                )
                for td in tr
                if td.tag in ("td", "th")
            )
            rows.append(cells)
        if any(rows):
            tables.append(Table(rows=tuple(rows), source="html"))
    return tables


def _split_pipe_row(line: str) -> list[str]:
    stripped = line.strip()
    if stripped.startswith("|"):
        stripped = stripped[1:]
    if stripped.endswith("|") and not stripped.endswith("\\|"):
        stripped = stripped[:-1]
    return [_WS.sub(" ", part.replace("\\|", "|")).strip() for part in _PIPE_SPLIT.split(stripped)]


def _is_separator(line: str) -> bool:
    cells = _split_pipe_row(line)
    return "-" in line and bool(cells) and all(_SEPARATOR_CELL.match(c) for c in cells)


def parse_markdown_tables(text: str) -> list[Table]:
    """GitHub-style pipe tables: a header row, a separator row of dashes, then body rows."""
    lines = text.splitlines()
    tables: list[Table] = []
    i = 0
    while i < len(lines) - 1:
        if "|" in lines[i] and _is_separator(lines[i + 1]) and not _is_separator(lines[i]):
            block = [_split_pipe_row(lines[i])]
            j = i + 2
            while j < len(lines) and "|" in lines[j] and lines[j].strip():
                if not _is_separator(lines[j]):
                    block.append(_split_pipe_row(lines[j]))
                j += 1
            rows = tuple(tuple(Cell(text=c, header=(r == 0)) for c in row) for r, row in enumerate(block))
            tables.append(Table(rows=rows, source="markdown"))
            i = j
        else:
            i += 1
    return tables


def find_tables(text: str, *, markdown: bool = True) -> list[Table]:
    """HTML tables first, then (unless disabled) Markdown pipe tables, in that order."""
    found = parse_html_tables(text)
    if markdown:
        found.extend(parse_markdown_tables(text))
    return found
