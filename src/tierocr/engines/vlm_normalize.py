"""From a model's free-form answer to our blocks, and spotting answers that ran into a loop.

Every family answers in its own dialect (GLM-OCR: Markdown with HTML tables and ``$$`` LaTeX;
PaddleOCR-VL: OTSL table tags; LightOnOCR: Markdown with pipe tables), so the renderers would otherwise
need to know which model read a page. Normalising here keeps one schema: tables carry HTML, formulas
carry bare LaTeX, and everything else becomes text, heading, list or code blocks.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from tierocr.document import BBox, Block, BlockKind, Provenance
from tierocr.engines.vlm_profiles import Task

_FENCE = re.compile(r"^```[\w+-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)
_OTSL_TOKEN = re.compile(r"<(fcel|ecel|lcel|ucel|xcel|nl)>")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+(.*)$")
_IMAGE = re.compile(r"^!\[([^\]]*)\]\([^)]*\)\s*$")
_MD_SEPARATOR = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?$")
_BOLD = re.compile(r"(\*\*|__)(.+?)\1")


@dataclass(frozen=True, slots=True)
class Repetition:
    """A run of one unit repeated back to back: ``text[start:end]`` is ``unit`` about ``repeats`` times."""

    start: int
    end: int
    unit: str
    repeats: float


def find_repetitions(text: str, *, min_repeats: int, max_period: int, min_span: int) -> list[Repetition]:
    """Runs of a unit that contains a letter or digit, repeated at least ``min_repeats`` times.

    Units without letters or digits (dot leaders, ruled lines, Markdown table rules) are legitimate
    repetition in documents and are skipped.
    """
    pattern = re.compile(rf"(.{{1,{max_period}}}?)\1{{{min_repeats - 1},}}", re.DOTALL)
    runs: list[Repetition] = []
    for match in pattern.finditer(text):
        unit = match.group(1)
        span = match.end() - match.start()
        if span < min_span or not any(ch.isalnum() for ch in unit):
            continue
        runs.append(Repetition(match.start(), match.end(), unit, span / len(unit)))
    return runs


def find_tail_loop(text: str, *, min_repeats: int, max_period: int, min_span: int) -> Repetition | None:
    """The repetition loop a generation ended in, if any.

    A decoder stuck in a loop repeats until ``max_tokens``, so the run reaches the end of the answer (give
    or take a partial unit). Only a tail window is searched, then the run is extended backwards, so long
    answers stay cheap.
    """
    body = text.rstrip()
    window_start = max(0, len(body) - 2 * max_period * (min_repeats + 1))
    runs = find_repetitions(
        body[window_start:], min_repeats=min_repeats, max_period=max_period, min_span=min_span
    )
    if not runs:
        return None
    last = runs[-1]
    period = len(last.unit)
    start, end = window_start + last.start, window_start + last.end
    if len(body) - end >= period:
        return None
    while start > 0 and body[start - 1] == body[start - 1 + period]:
        start -= 1
    return Repetition(start, len(body), body[start : start + period], (len(body) - start) / period)


def cut_loop(text: str, loop: Repetition) -> str:
    """The text with the loop reduced to its first copy."""
    return text[: loop.start + len(loop.unit)].rstrip()


# --- tables -----------------------------------------------------------------------------------------


class _TableText(HTMLParser):
    """Collects the cell texts of an HTML table, row by row."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
            if not self.rows:
                self.rows.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_table_text(table_html: str) -> str:
    """Plain reading of a table: cells joined by spaces, rows by newlines (what CER compares)."""
    parser = _TableText()
    parser.feed(table_html)
    parser.close()
    return "\n".join(" ".join(c for c in row if c) for row in parser.rows if any(row))


def otsl_to_html(otsl: str) -> str:
    """PaddleOCR-VL's OTSL tags (``<fcel>`` cell, ``<ecel>`` empty, ``<lcel>``/``<ucel>``/``<xcel>`` merged
    left/up/both, ``<nl>`` row end) to an HTML table with colspan/rowspan."""
    rows: list[list[tuple[str, str]]] = [[]]
    parts = _OTSL_TOKEN.split(otsl)
    # split() alternates text and captured tag names: parts[0] is text before the first tag.
    for i in range(1, len(parts), 2):
        tag, content = parts[i], parts[i + 1].strip()
        if tag == "nl":
            rows.append([])
        else:
            rows[-1].append((tag, content))
    rows = [r for r in rows if r]
    out = ["<table>"]
    for r, row in enumerate(rows):
        out.append("<tr>")
        for c, (tag, content) in enumerate(row):
            if tag not in ("fcel", "ecel"):
                continue
            colspan = 1
            while c + colspan < len(row) and row[c + colspan][0] == "lcel":
                colspan += 1
            rowspan = 1
            while (
                r + rowspan < len(rows)
                and c < len(rows[r + rowspan])
                and rows[r + rowspan][c][0]
                in (
                    "ucel",
                    "xcel",
                )
            ):
                rowspan += 1
            attrs = (f' colspan="{colspan}"' if colspan > 1 else "") + (
                f' rowspan="{rowspan}"' if rowspan > 1 else ""
            )
            out.append(f"<td{attrs}>{html.escape(content)}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def markdown_table_to_html(lines: list[str]) -> str:
    """A Markdown pipe table to HTML; the row above a ``|---|`` rule becomes the header."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
    has_header = len(lines) > 1 and bool(_MD_SEPARATOR.match(lines[1].strip()))
    out = ["<table>"]
    for i, row in enumerate(rows):
        if has_header and i == 1:
            continue
        tag = "th" if has_header and i == 0 else "td"
        out.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in row) + "</tr>")
    out.append("</table>")
    return "".join(out)


# --- formulas ---------------------------------------------------------------------------------------


def strip_math_delimiters(latex: str) -> str:
    s = latex.strip()
    for opening, closing in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if s.startswith(opening) and s.endswith(closing) and len(s) >= len(opening) + len(closing):
            return s[len(opening) : len(s) - len(closing)].strip()
    return s


# --- answers to blocks ------------------------------------------------------------------------------


def unwrap_fence(answer: str) -> str:
    """Models often wrap the whole answer in a ```markdown fence; the fence is not content."""
    s = answer.strip()
    match = _FENCE.match(s)
    return match.group(1).strip() if match else s


def answer_to_blocks(
    answer: str,
    task: Task,
    provenance: Provenance,
    *,
    bbox: BBox | None = None,
    kind_hint: BlockKind | None = None,
) -> list[Block]:
    """Blocks for one answer; ``kind_hint`` is the kind of the region that was read, if any."""
    text = unwrap_fence(answer)
    if not text:
        return []
    if task is Task.FORMULA:
        latex = strip_math_delimiters(text)
        return [Block(kind=BlockKind.FORMULA, text=latex, latex=latex, bbox=bbox, provenance=provenance)]
    blocks = markdown_to_blocks(text, provenance, bbox=bbox)
    if task in (Task.TABLE, Task.CHART) and not any(b.kind is BlockKind.TABLE for b in blocks):
        # A table read as plain lines is still the table region's content; keep its kind for the renderers.
        joined = "\n".join(b.text for b in blocks if b.text)
        return [Block(kind=kind_hint or BlockKind.TABLE, text=joined, bbox=bbox, provenance=provenance)]
    if kind_hint is not None and len(blocks) == 1 and blocks[0].kind is BlockKind.TEXT:
        blocks[0] = blocks[0].model_copy(update={"kind": kind_hint})
    return blocks


def markdown_to_blocks(text: str, provenance: Provenance, *, bbox: BBox | None = None) -> list[Block]:
    """A small Markdown reader for what OCR models emit; not a general CommonMark parser."""
    blocks: list[Block] = []
    paragraph: list[str] = []

    def add(kind: BlockKind, body: str, **extra: object) -> None:
        blocks.append(Block(kind=kind, text=body, bbox=bbox, provenance=provenance, **extra))  # type: ignore[arg-type]

    def flush() -> None:
        if paragraph:
            add(BlockKind.TEXT, _plain("\n".join(paragraph)))
            paragraph.clear()

    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            flush()
            i += 1
            continue
        if stripped.startswith("```"):
            flush()
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            add(BlockKind.CODE, "\n".join(lines[i + 1 : j]))
            i = j + 1
            continue
        if stripped.startswith(("$$", "\\[")):
            flush()
            closing = "$$" if stripped.startswith("$$") else "\\]"
            j = i
            if not (len(stripped) > len(closing) + 1 and stripped.endswith(closing)):
                j = i + 1
                while j < len(lines) and closing not in lines[j]:
                    j += 1
            latex = strip_math_delimiters("\n".join(lines[i : j + 1]))
            add(BlockKind.FORMULA, latex, latex=latex)
            i = j + 1
            continue
        if "<table" in stripped.lower():
            flush()
            j = i
            while j < len(lines) and "</table>" not in lines[j].lower():
                j += 1
            chunk = "\n".join(lines[i : j + 1])
            start = chunk.lower().find("<table")
            end = chunk.lower().rfind("</table>")
            table = chunk[start : end + len("</table>")] if end >= 0 else chunk[start:] + "</table>"
            add(BlockKind.TABLE, html_table_text(table), html=table)
            i = j + 1
            continue
        if _OTSL_TOKEN.search(stripped):
            flush()
            j = i
            while j + 1 < len(lines) and _OTSL_TOKEN.search(lines[j + 1]):
                j += 1
            table = otsl_to_html("".join(lines[i : j + 1]))
            add(BlockKind.TABLE, html_table_text(table), html=table)
            i = j + 1
            continue
        if stripped.startswith("|"):
            flush()
            j = i
            while j + 1 < len(lines) and lines[j + 1].strip().startswith("|"):
                j += 1
            table = markdown_table_to_html([ln.strip() for ln in lines[i : j + 1]])
            add(BlockKind.TABLE, html_table_text(table), html=table)
            i = j + 1
            continue
        heading = _HEADING.match(stripped)
        if heading:
            flush()
            add(BlockKind.HEADING, _plain(heading.group(2)), level=len(heading.group(1)))
            i += 1
            continue
        item = _LIST_ITEM.match(line)
        if item:
            flush()
            add(BlockKind.LIST_ITEM, _plain(item.group(1)))
            i += 1
            continue
        image = _IMAGE.match(stripped)
        if image:
            flush()
            add(BlockKind.FIGURE, image.group(1))
            i += 1
            continue
        paragraph.append(stripped)
        i += 1
    flush()
    return blocks


def _plain(text: str) -> str:
    """Markdown emphasis is presentation, not content: drop it so text compares with the other tiers."""
    return _BOLD.sub(r"\2", text).strip()
