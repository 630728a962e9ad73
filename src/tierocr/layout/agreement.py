"""How far two readings of one page disagree on the order of its lines: a measure of order ambiguity.

Layout mode orders regions (XY-cut over detected boxes, rules and insets); full-page mode orders lines
(bands and gutters). On a page whose structure is plain both agree; where they disagree, the page admits
more than one plausible reading and at least one of them is wrong, which a reader of the output would
see as text jumping between columns. The share of line pairs the two orders put the other way round
(Kendall's tau distance) says how much of the page is at stake.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tierocr.layout.reading_order import Line, order_lines
from tierocr.layout.separators import Separators

#: Pages with more lines are compared on an even sample of them; the measure needs no more.
_MAX_LINES = 600


def order_disagreement(
    reading: Sequence[Line], page_width: float, separators: Separators | None = None
) -> float:
    """Kendall tau distance (0: same order, 1: reversed) between ``reading`` (lines in the order a
    stage put them) and the full-page line order of the same lines (with the page's separators)."""
    if len(reading) < 3:
        return 0.0
    if len(reading) > _MAX_LINES:
        step = len(reading) / _MAX_LINES
        reading = [reading[int(k * step)] for k in range(_MAX_LINES)]
    position = {id(line): k for k, line in enumerate(reading)}
    other = [
        position[id(line)] for section in order_lines(list(reading), page_width) for line in section.lines
    ]
    ranks = np.asarray(other)
    n = ranks.size
    if n < 3:
        return 0.0
    discordant = int(np.triu(ranks[:, None] > ranks[None, :], k=1).sum())
    return round(discordant / (n * (n - 1) / 2), 4)
