"""Generated images of things a layout detector calls "table", with the exact box of every text line.

Each builder draws with PIL and returns the image and the lines as an OCR engine would read them (one
line per run of text, a wide gap starting a new one), so tests can hand the region recognizer words
without running OCR and check where every word went.
"""

from __future__ import annotations

from collections.abc import Sequence

from layoutmode_helpers import font
from PIL import Image, ImageDraw

from tierocr.document import BBox
from tierocr.layout.reading_order import Line

SIZE = 22


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.image = Image.new("RGB", (width, height), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.lines: list[Line] = []

    def text(self, x: float, y: float, text: str, *, size: int = SIZE, anchor: str = "la") -> Line:
        """Draw ``text`` with its left (``la``), right (``ra``) or middle (``ma``) at x; record its line."""
        face = font(size)
        self.draw.text((x, y), text, fill="black", font=face, anchor=anchor)
        x0, y0, x1, y1 = self.draw.textbbox((x, y), text, font=face, anchor=anchor)
        line = Line(text=text, bbox=BBox(x0=x0, y0=y0, x1=x1, y1=y1), confidence=0.95)
        self.lines.append(line)
        return line


def receipt() -> tuple[Image.Image, list[Line], list[str]]:
    """A shop receipt: centred header lines, item lines with right-aligned prices (two item names wrap
    onto a second line without a price), a dashed separator, totals and a footer. Also returns the
    printed rows as text, top to bottom."""
    canvas = _Canvas(520, 760)
    rows: list[str] = []
    y = 20
    for text in (
        "GREEN LEAF GROCERS SDN BHD",
        "12 JALAN MERANTI, 47400 PETALING",
        "TEL 03-7731 8169",
        "GST ID 002046390272",
        "INVOICE 10023   DATE 06/03/2018",
        "CASHIER ANNE   TIME 12:06",
    ):
        canvas.text(260, y, text, anchor="ma")
        rows.append(text)
        y += 32
    y += 16
    canvas.draw.line((20, y, 500, y), fill="black", width=1)
    y += 16
    items = [
        ("BRAISED PORK RICE", "14.00"),
        ("WITH PEANUT", None),
        ("JASMINE GREEN TEA", "4.60"),
        ("ROAST CHICKEN", "11.90"),
        ("AND CHAR SIEW", None),
        ("SOUR SPICY MUSTARD", "12.00"),
        ("MINERAL WATER", "1.80"),
    ]
    for name, price in items:
        canvas.text(24, y, name)
        if price is not None:
            canvas.text(496, y, price, anchor="ra")
            rows.append(f"{name} {price}")
        else:
            rows.append(name)
        y += 32
    y += 8
    canvas.draw.line((20, y, 500, y), fill="black", width=1)
    y += 16
    for label, amount in (
        ("TOTAL QTY", "5"),
        ("TOTAL EXCL GST", "42.64"),
        ("GST 6%", "1.66"),
        ("ROUNDING", "0.00"),
    ):
        canvas.text(24, y, label)
        canvas.text(496, y, amount, anchor="ra")
        rows.append(f"{label} {amount}")
        y += 32
    y += 16
    for text in ("THANK YOU PLEASE COME AGAIN", "GOODS SOLD ARE NOT RETURNABLE"):
        canvas.text(260, y, text, anchor="ma")
        rows.append(text)
        y += 32
    return canvas.image, canvas.lines, rows


def ruled_table(n_rows: int = 6, n_cols: int = 4) -> tuple[Image.Image, list[Line]]:
    """A fully ruled grid: a header row of labels, then numbers in every cell."""
    widths = [170] + [130] * (n_cols - 1)
    height = 44
    canvas = _Canvas(sum(widths) + 40, n_rows * height + 40)
    x0, y0 = 20, 20
    for r in range(n_rows + 1):
        canvas.draw.line((x0, y0 + r * height, x0 + sum(widths), y0 + r * height), fill="black", width=2)
    x = x0
    for w in [0, *widths]:
        x += w
        canvas.draw.line((x, y0, x, y0 + n_rows * height), fill="black", width=2)
    for r in range(n_rows):
        x = x0
        for c, w in enumerate(widths):
            if r == 0:
                text = "Region" if c == 0 else f"Q{c} 2023"
            else:
                text = f"District {r}" if c == 0 else f"{(r * 37 + c * 11) % 90 + 10}.{c}"
            canvas.text(x + 12, y0 + r * height + 10, text)
            x += w
    return canvas.image, canvas.lines


def borderless_table(n_rows: int = 7, n_cols: int = 4) -> tuple[Image.Image, list[Line]]:
    """A table without rules: left-aligned labels, right-aligned numbers, a header row on top."""
    canvas = _Canvas(180 + 140 * (n_cols - 1) + 40, n_rows * 36 + 40)
    for r in range(n_rows):
        y = 20 + r * 36
        canvas.text(20, y, "Sample" if r == 0 else f"Batch {chr(64 + r)}")
        for c in range(1, n_cols):
            right = 180 + 140 * c
            canvas.text(
                right, y, f"Run {c}" if r == 0 else f"{(r * 53 + c * 17) % 900 / 10:.1f}", anchor="ra"
            )
    return canvas.image, canvas.lines


PRIMERS = [
    ("GAPDH-F", "ACCACAGTCCATGCCATCAC"),
    ("GAPDH-R", "TCCACCACCCTGTTGCTGTA"),
    ("ACTB-F", "CATGTACGTTGCTATCCAGGC"),
    ("ACTB-R", "CTCCTTAATGTCACGCACGAT"),
    ("IL6-F", "AGACAGCCACTCACCTCTTCAG"),
    ("IL6-R", "TTCTGCCAGTGCCTCTTTGCTG"),
    ("TNF-F", "CCTCTCTCTAATCAGCCCTCTG"),
    ("TNF-R", "GAGGACCTGGGAGTAGATGAG"),
]


def two_column_list(pairs: Sequence[tuple[str, str]] = PRIMERS) -> tuple[Image.Image, list[Line]]:
    """A plain two-column list without rules: a name, then a long sequence, on each line."""
    canvas = _Canvas(620, 36 * (len(pairs) + 1) + 30)
    canvas.text(20, 20, "Primer")
    canvas.text(200, 20, "Sequence (5'-3')")
    for k, (name, sequence) in enumerate(pairs, start=1):
        canvas.text(20, 20 + 36 * k, name)
        canvas.text(200, 20 + 36 * k, sequence)
    return canvas.image, canvas.lines


NOTES_LEFT = [
    "Meeting with the suppliers",
    "bring the signed contract",
    "ask about the late delivery",
    "of the March order and",
    "the missing invoice",
    "call Maria before Friday",
    "check the new price list",
]
NOTES_RIGHT = [
    "Reunion con proveedores",
    "traer el contrato firmado",
    "preguntar por la entrega",
    "tardia del pedido",
    "llamar a Maria",
]


def bilingual_notes() -> tuple[Image.Image, list[Line]]:
    """Two columns of handwriting-like notes, each line at its own slant of baseline: the right column
    translates the left one but its lines do not sit on the left column's lines."""
    canvas = _Canvas(900, 420)
    for k, text in enumerate(NOTES_LEFT):
        canvas.text(24 + (k % 3) * 9, 24 + k * 52 + (k % 2) * 5, text, size=SIZE + (k % 3))
    for k, text in enumerate(NOTES_RIGHT):
        canvas.text(500 + (k % 2) * 14, 44 + k * 67 + (k % 3) * 4, text, size=SIZE + 1 - (k % 2))
    return canvas.image, canvas.lines


SIDEBAR = [
    "Related reports",
    "Q1 results note",
    "Q4 results note",
    "Analyst",
    "Jane Doe",
    "Research assistant",
]
BODY = [
    "Net interest margin narrowed slightly in the second",
    "quarter while asset quality stayed among the best of",
    "its peers, and the bank kept its provision coverage",
    "well above the level its regulator asks for, which",
    "leaves room to keep lending to small businesses as",
    "the regional economy recovers over the coming year.",
    "Loans grew eleven percent and deposits thirteen.",
]


def sidebar_and_body() -> tuple[Image.Image, list[Line]]:
    """A page section a detector boxed whole: a sidebar of short items beside a column of running
    text set at another line pitch, so the two only meet on a line now and then."""
    canvas = _Canvas(1000, 420)
    for k, text in enumerate(SIDEBAR):
        canvas.text(20, 30 + k * 57, text, size=SIZE - 2)
    for k, text in enumerate(BODY):
        canvas.text(330, 20 + k * 41, text)
    return canvas.image, canvas.lines


NEWS = [
    [
        "The council voted on Tuesday to",
        "extend the tram line to the new",
        "hospital, ending a debate that",
        "has run for almost ten years and",
        "split the town into two camps.",
        "Work starts in the spring.",
    ],
    [
        "Farmers in the valley expect a",
        "record apple harvest after a warm",
        "and wet summer, but growers warn",
        "that prices may fall as stores in",
        "the region are already full of",
        "fruit from last season.",
    ],
    [
        "The library reopens on Monday",
        "after a year of repairs to its",
        "roof and reading rooms, with new",
        "hours on weekends and a corner",
        "for children that the mayor will",
        "open at ten in the morning.",
    ],
]


def newspaper_columns() -> tuple[Image.Image, list[Line]]:
    """Three ruled newspaper columns of running text set on one line pitch, so their lines pair up
    across the columns like a table's rows."""
    canvas = _Canvas(1110, 300)
    lefts = [20, 385, 750]
    canvas.draw.rectangle((10, 10, 1100, 290), outline="black", width=2)
    for x in (375, 740):
        canvas.draw.line((x, 10, x, 290), fill="black", width=2)
    for column, left in zip(NEWS, lefts, strict=True):
        for k, text in enumerate(column):
            canvas.text(left, 24 + k * 42, text)
    return canvas.image, canvas.lines
