"""TEDS / TEDS-S and table parsing on small tables whose distance is known."""

from __future__ import annotations

import pytest

from tierocr.evaluation.tables import Table, find_tables, parse_html_tables, parse_markdown_tables
from tierocr.evaluation.teds import best_teds, table_tree, teds

REFERENCE = (
    "<html><body><table><thead><tr><td><b>Name</b></td><td>Value</td></tr></thead>"
    '<tbody><tr><td>alpha</td><td>1.0</td></tr><tr><td colspan="2">total</td></tr></tbody>'
    "</table></body></html>"
)


def _table(html: str) -> Table:
    (table,) = parse_html_tables(html)
    return table


def test_html_parsing_keeps_spans_headers_and_plain_text() -> None:
    table = _table(REFERENCE)
    assert [[c.text for c in row] for row in table.rows] == [["Name", "Value"], ["alpha", "1.0"], ["total"]]
    assert table.rows[2][0].colspan == 2
    assert table.rows[0][0].header and not table.rows[1][0].header


def test_markdown_table_parsing() -> None:
    (table,) = parse_markdown_tables("x\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\ny")
    assert [[c.text for c in row] for row in table.rows] == [["a", "b"], ["1", "2"]]
    assert parse_markdown_tables("a | b\nno separator row") == []


def test_find_tables_sees_both_kinds() -> None:
    text = REFERENCE + "\n\n| a | b |\n| - | - |\n| 1 | 2 |\n"
    assert [t.source for t in find_tables(text)] == ["html", "markdown"]


def test_identical_tables_score_one() -> None:
    score = teds(_table(REFERENCE), _table(REFERENCE))
    assert score.teds == 1.0
    assert score.teds_structure == 1.0


def test_one_changed_cell_costs_its_text_distance_only() -> None:
    changed = _table(REFERENCE.replace("alpha", "alpho"))
    score = teds(_table(REFERENCE), changed)
    nodes = table_tree(_table(REFERENCE)).size()  # table + 3 tr + 5 td = 9
    assert nodes == 9
    assert score.teds == pytest.approx(1 - (1 / 5) / nodes)
    assert score.teds_structure == 1.0  # structure-only ignores text


def test_span_change_is_structural() -> None:
    split = _table(REFERENCE.replace('<td colspan="2">total</td>', "<td>total</td><td></td>"))
    score = teds(_table(REFERENCE), split)
    # the spanning cell is renamed (cost 1) and one empty cell inserted (cost 1); 10 nodes in the larger tree
    assert score.teds_structure == pytest.approx(1 - 2 / 10)
    assert score.teds == pytest.approx(1 - 2 / 10)


def test_th_and_markdown_tables_compare_like_td() -> None:
    md = "| Name | Value |\n| --- | --- |\n| alpha | 1.0 |\n| total | |"
    score = best_teds(_table(REFERENCE), parse_markdown_tables(md))
    assert score is not None
    assert 0.5 < score.teds < 1.0  # only the colspan differs


def test_no_output_table_is_not_applicable() -> None:
    assert best_teds(_table(REFERENCE), []) is None


def test_best_of_several_output_tables_is_scored() -> None:
    unrelated = _table("<table><tr><td>x</td></tr></table>")
    score = best_teds(_table(REFERENCE), [unrelated, _table(REFERENCE)])
    assert score is not None
    assert score.teds == 1.0
