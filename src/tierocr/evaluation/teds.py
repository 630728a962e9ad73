"""Tree-Edit-Distance-based Similarity (TEDS) between two tables, as defined for PubTabNet.

A table becomes a tree table → tr → td. A node's label is its tag plus, for cells, colspan, rowspan
and text. Inserting or deleting a node costs 1; turning one node into another costs 1 when tag or
spans differ, and for two cells otherwise the normalised Levenshtein distance of their texts (0 in
structure-only mode, TEDS-S). TEDS = 1 - TED / max(nodes in either tree), in [0, 1].

Deliberate simplifications, applied to both sides: thead/tbody wrappers are dropped (a table's meaning
does not depend on them and Markdown cannot express them), th counts as td, and a cell's inline
markup (bold, italics, superscripts) is ignored so that only the text a reader sees is compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apted import APTED, Config

from tierocr.evaluation.metrics import normalized_edit_distance
from tierocr.evaluation.normalize import collapse_whitespace, fold_characters
from tierocr.evaluation.tables import Table


@dataclass(slots=True)
class TableNode:
    tag: str
    colspan: int = 1
    rowspan: int = 1
    text: str = ""
    children: list[TableNode] = field(default_factory=list)

    def size(self) -> int:
        return 1 + sum(child.size() for child in self.children)


class _TedsConfig(Config):
    """apted costs for table trees; floats because cell renames cost a fraction."""

    valuecls = float

    def __init__(self, structure_only: bool) -> None:
        self.structure_only = structure_only

    def rename(self, node1: TableNode, node2: TableNode) -> float:
        if node1.tag != node2.tag or node1.colspan != node2.colspan or node1.rowspan != node2.rowspan:
            return 1.0
        if node1.tag == "td" and not self.structure_only:
            return normalized_edit_distance(node1.text, node2.text)
        return 0.0

    def children(self, node: TableNode) -> list[TableNode]:
        return node.children


def table_tree(table: Table) -> TableNode:
    """The TEDS tree of a parsed table; cell text folded like every other text comparison."""
    root = TableNode(tag="table")
    for row in table.rows:
        tr = TableNode(tag="tr")
        for cell in row:
            text = collapse_whitespace(fold_characters(cell.text))
            tr.children.append(TableNode("td", cell.colspan, cell.rowspan, text))
        root.children.append(tr)
    return root


@dataclass(frozen=True, slots=True)
class TedsScore:
    teds: float
    teds_structure: float


def teds_trees(reference: TableNode, hypothesis: TableNode, *, structure_only: bool = False) -> float:
    largest = max(reference.size(), hypothesis.size())
    distance = APTED(reference, hypothesis, _TedsConfig(structure_only)).compute_edit_distance()
    return max(0.0, 1.0 - float(distance) / largest)


def teds(reference: Table, hypothesis: Table) -> TedsScore:
    ref, hyp = table_tree(reference), table_tree(hypothesis)
    return TedsScore(teds_trees(ref, hyp), teds_trees(ref, hyp, structure_only=True))


def best_teds(reference: Table, candidates: list[Table]) -> TedsScore | None:
    """The output table that matches the reference best, or None when the output has no table.

    An output may split or surround the reference table with others (a page OCR'd around a crop);
    scoring the best match measures whether the table was recovered at all, not how many were emitted.
    """
    best: TedsScore | None = None
    for candidate in candidates:
        score = teds(reference, candidate)
        if best is None or (score.teds, score.teds_structure) > (best.teds, best.teds_structure):
            best = score
    return best
