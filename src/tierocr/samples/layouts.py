"""Generated pages of the layouts reading order must survive: 2-4 columns, bands, insets, zones, notes.

Each page is drawn with reportlab's frames, so text flows from one column into the next exactly as a
typesetter would set it, and the page comes with its text in the order a person reads it. Tests and
benchmarks score a parse of the page (text layer or a scan of it) against that order; a read that jumps
columns mid-paragraph or swaps bands costs whole paragraphs of edit distance. Needs reportlab (dev extra).
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

_VOCABULARY = (
    "river harbour council budget transport school garden winter market railway library museum "
    "bridge village station county office meeting report summer weather farmer teacher doctor "
    "engineer program service public private water energy housing health street north south east "
    "west valley forest mountain island coast city region history culture science music theatre "
    "season letter member record annual quarter review policy planning building project funding "
    "evening morning journey traffic lighting network support careful simple modern ancient narrow "
    "gentle steady bright quiet local central general special common regular final early recent"
)
_WORDS = tuple(_VOCABULARY.split())


@dataclass(frozen=True, slots=True)
class LayoutPage:
    """A one-page PDF and its text units (titles, paragraphs, captions, notes) in reading order."""

    name: str
    pdf: bytes
    order: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(self.order)


class _Text:
    """Seeded sentences of everyday words: each paragraph distinct, so any misplaced one costs."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def sentence(self) -> str:
        words = [self._rng.choice(_WORDS) for _ in range(self._rng.randint(7, 13))]
        return " ".join(words).capitalize() + "."

    def paragraph(self, sentences: int) -> str:
        return " ".join(self.sentence() for _ in range(sentences))

    def title(self, words: int = 4) -> str:
        return " ".join(self._rng.choice(_WORDS) for _ in range(words)).title()


@dataclass(slots=True)
class _Sheet:
    """A letter page being drawn: frames take flowing text, the order records what a reader reads."""

    canvas: object
    width: float
    height: float
    order: list[str]

    def flow(
        self, paragraphs: list[str], frames: list[tuple[float, float, float, float]], size: float = 10
    ) -> None:
        """Set ``paragraphs`` into ``frames`` (x, y from the top, width, height in points) in turn."""
        if not _set(self.canvas, self.height, paragraphs, frames, size):
            raise ValueError("text does not fit its frames; shorten it")
        self.order.extend(paragraphs)

    def fill(
        self, source: Callable[[], str], frames: list[tuple[float, float, float, float]], size: float = 10
    ) -> None:
        """As many paragraphs from ``source`` as the frames hold, so every column is set full."""
        from reportlab.pdfgen import canvas

        paragraphs: list[str] = []
        while True:
            candidate = [*paragraphs, source()]
            scratch = canvas.Canvas(io.BytesIO(), pagesize=(self.width, self.height))
            if not _set(scratch, self.height, candidate, frames, size) or len(candidate) > 60:
                break
            paragraphs = candidate
        self.flow(paragraphs, frames, size)

    def heading(self, text: str, x: float, top: float, size: float = 18) -> None:
        self.canvas.setFont("Helvetica-Bold", size)  # type: ignore[attr-defined]
        self.canvas.drawString(x, self.height - top - size, text)  # type: ignore[attr-defined]
        self.order.append(text)

    def box(self, x: float, top: float, w: float, h: float, fill: float = 0.85) -> None:
        c = self.canvas
        c.setFillGray(fill)  # type: ignore[attr-defined]
        c.rect(x, self.height - top - h, w, h, fill=1, stroke=1)  # type: ignore[attr-defined]
        c.setFillGray(0)  # type: ignore[attr-defined]

    def rule(self, x0: float, x1: float, top: float) -> None:
        self.canvas.line(x0, self.height - top, x1, self.height - top)  # type: ignore[attr-defined]


def _set(
    canvas: object, page_height: float, paragraphs: list[str], frames: list[tuple[float, ...]], size: float
) -> bool:
    """Draw the paragraphs into the frames in turn; False when they do not all fit."""
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Frame, Paragraph

    style = ParagraphStyle("body", fontName="Helvetica", fontSize=size, leading=size * 1.3, spaceAfter=6)
    story = [Paragraph(p, style) for p in paragraphs]
    for x, top, w, h in frames:
        frame = Frame(x, page_height - top - h, w, h, leftPadding=0, rightPadding=0, topPadding=0)
        frame.addFromList(story, canvas)
        if not story:
            return True
    return not story


def _page(name: str, draw: Callable[[_Sheet], None]) -> LayoutPage:
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    c = canvas.Canvas(buffer, pagesize=letter)
    sheet = _Sheet(c, letter[0], letter[1], [])
    draw(sheet)
    c.showPage()
    c.save()
    return LayoutPage(name=name, pdf=buffer.getvalue(), order=tuple(sheet.order))


_MARGIN = 54.0
_GUTTER = 18.0


def _columns(sheet: _Sheet, n: int, top: float, height: float, x0: float = _MARGIN, x1: float | None = None):
    right = sheet.width - _MARGIN if x1 is None else x1
    width = (right - x0 - (n - 1) * _GUTTER) / n
    return [(x0 + k * (width + _GUTTER), top, width, height) for k in range(n)]


def columns(n: int, seed: int = 0) -> LayoutPage:
    """A full-width title over ``n`` columns of running text that flows from column to column."""
    text = _Text(seed * 10 + n)

    def draw(sheet: _Sheet) -> None:
        sheet.heading(text.title(), _MARGIN, _MARGIN)
        frames = _columns(sheet, n, _MARGIN + 40, sheet.height - 2 * _MARGIN - 40)
        sheet.fill(lambda: text.paragraph(4 if n < 4 else 3), frames)

    return _page(f"columns{n}", draw)


def banded(seed: int = 0) -> LayoutPage:
    """Two columns, a full-width figure with its caption, then two more columns: bands read in turn."""
    text = _Text(100 + seed)

    def draw(sheet: _Sheet) -> None:
        full = sheet.width - 2 * _MARGIN
        sheet.heading(text.title(), _MARGIN, _MARGIN)
        sheet.fill(lambda: text.paragraph(3), _columns(sheet, 2, _MARGIN + 40, 250))
        sheet.box(_MARGIN, 350, full, 150)
        sheet.flow([f"Figure 1. {text.sentence()}"], [(_MARGIN, 505, full, 30)], 9)
        sheet.fill(lambda: text.paragraph(3), _columns(sheet, 2, 545, 190))

    return _page("banded", draw)


def inset(seed: int = 0) -> LayoutPage:
    """Two columns of one article around a shaded sidebar box in the right column, read as its own unit."""
    text = _Text(200 + seed)

    def draw(sheet: _Sheet) -> None:
        sheet.heading(text.title(), _MARGIN, _MARGIN)
        left, right = _columns(sheet, 2, _MARGIN + 40, sheet.height - 2 * _MARGIN - 40)
        x, top, w, h = right
        box_top, box_h = 300.0, 170.0
        below = box_top + box_h + 12
        frames = [left, (x, top, w, box_top - top - 12), (x, below, w, top + h - below)]
        sheet.fill(lambda: text.paragraph(4), frames)
        sheet.box(x, box_top, w, box_h, fill=0.9)
        side = [f"In brief: {text.sentence()}", text.paragraph(3)]
        sheet.flow(side, [(x + 8, box_top + 8, w - 16, box_h - 16)], 9)

    return _page("inset", draw)


def newspaper(seed: int = 0) -> LayoutPage:
    """Zones of a newspaper page: a lead article over two of three columns, a story in the third, and a
    full-width article under a rule; each zone's headline spans only its own columns."""
    text = _Text(300 + seed)

    def draw(sheet: _Sheet) -> None:
        cols = _columns(sheet, 3, 0, 0)
        lead_right = cols[1][0] + cols[1][2]
        sheet.heading(text.title(3), _MARGIN, _MARGIN, 18)
        sheet.fill(lambda: text.paragraph(3), _columns(sheet, 2, 100, 300, _MARGIN, lead_right))
        sheet.heading(text.title(2), cols[2][0], _MARGIN + 4, 13)
        sheet.fill(lambda: text.paragraph(3), [(cols[2][0], 100, cols[2][2], 300)])
        sheet.rule(_MARGIN, sheet.width - _MARGIN, 420)
        sheet.heading(text.title(4), _MARGIN, 432, 16)
        sheet.fill(lambda: text.paragraph(3), _columns(sheet, 3, 462, sheet.height - 462 - _MARGIN))

    return _page("newspaper", draw)


def footnotes(seed: int = 0) -> LayoutPage:
    """Two columns of text over footnotes in small type under a short rule: the notes are read last."""
    text = _Text(400 + seed)

    def draw(sheet: _Sheet) -> None:
        sheet.heading(text.title(), _MARGIN, _MARGIN)
        sheet.fill(lambda: text.paragraph(4), _columns(sheet, 2, _MARGIN + 40, 480))
        sheet.rule(_MARGIN, _MARGIN + 150, 600)
        notes = [f"{k}. {text.sentence()}" for k in (1, 2, 3)]
        sheet.flow(notes, [(_MARGIN, 608, sheet.width - 2 * _MARGIN, 120)], 8)

    return _page("footnotes", draw)


def column_notes(seed: int = 0) -> LayoutPage:
    """Two columns whose left one ends in footnotes in small type under a short rule; the notes are
    read after all the running text, not between the columns."""
    text = _Text(500 + seed)

    def draw(sheet: _Sheet) -> None:
        sheet.heading(text.title(), _MARGIN, _MARGIN)
        left, right = _columns(sheet, 2, _MARGIN + 40, sheet.height - 2 * _MARGIN - 40)
        x, top, w, h = left
        notes_top = top + h - 80
        sheet.fill(lambda: text.paragraph(4), [(x, top, w, notes_top - top - 14), right])
        sheet.rule(x, x + 100, notes_top - 6)
        sheet.flow([f"{k} {text.sentence()}" for k in (1, 2)], [(x, notes_top, w, 80)], 7)

    return _page("column_notes", draw)


#: Every generated layout by name, for parametrised tests and the reading-order benchmark.
LAYOUTS: MappingProxyType[str, Callable[[], LayoutPage]] = MappingProxyType(
    {
        "columns2": lambda: columns(2),
        "columns3": lambda: columns(3),
        "columns4": lambda: columns(4),
        "banded": banded,
        "inset": inset,
        "newspaper": newspaper,
        "footnotes": footnotes,
        "column_notes": column_notes,
    }
)
