"""olmOCR-bench unit tests: pass and fail cases for each scored type, skip rules for the rest."""

from __future__ import annotations

from typing import Any

from tierocr.evaluation.olmocr import OlmTest, olmocr_normalize, run_test, run_tests


def _test(**fields: Any) -> OlmTest:
    return OlmTest.model_validate({"id": "t", "pdf": "x.pdf", "page": 1, **fields})


PAGE = (
    "# Results\n\nThe **quick** brown fox jumps over the “lazy” dog — twice.\n\n"
    "Later paragraph about cats.\n\nPage 7"
)


def test_normalisation_ignores_emphasis_and_folds_typography() -> None:
    assert olmocr_normalize("**bold**  and *it*<br>x “q” – y") == 'bold and it x "q" - y'


def test_present_exact_and_fuzzy() -> None:
    assert run_test(_test(type="present", text="quick brown fox"), PAGE).passed
    assert run_test(_test(type="present", text='the "lazy" dog - twice'), PAGE).passed
    assert not run_test(_test(type="present", text="quick brown cat"), PAGE).passed
    # one substituted letter: rejected exactly, accepted with a tolerance of two differences
    assert not run_test(_test(type="present", text="quick brown fix"), PAGE).passed
    assert run_test(_test(type="present", text="quick brown fix", max_diffs=2), PAGE).passed


def test_present_case_sensitivity_follows_the_test() -> None:
    assert not run_test(_test(type="present", text="QUICK BROWN"), PAGE).passed
    assert run_test(_test(type="present", text="QUICK BROWN", case_sensitive=False), PAGE).passed


def test_present_fails_on_near_empty_output() -> None:
    outcome = run_test(_test(type="present", text="a long phrase"), "\n")
    assert outcome.passed is False


def test_absent_and_last_n() -> None:
    assert run_test(_test(type="absent", text="Page 9"), PAGE).passed
    assert not run_test(_test(type="absent", text="Page 7"), PAGE).passed
    # "quick" is in the page but not within its last 20 characters
    assert run_test(_test(type="absent", text="quick", last_n=20), PAGE).passed
    assert not run_test(_test(type="absent", text="quick", first_n=40), PAGE).passed


def test_order_pass_and_fail() -> None:
    assert run_test(_test(type="order", before="quick brown", after="about cats"), PAGE).passed
    assert not run_test(_test(type="order", before="about cats", after="quick brown"), PAGE).passed
    assert not run_test(_test(type="order", before="quick brown", after="about cots"), PAGE).passed
    assert run_test(_test(type="order", before="quick brown", after="about cots", max_diffs=1), PAGE).passed


MD_TABLE = """Intro

| Name | Year | Score |
| --- | --- | --- |
| Alpha | 2020 | 0.87 |
| Beta | 2021 | 0.44 |
"""

HTML_TABLE = """<table>
<tr><th rowspan="2">Model</th><th colspan="2">Procedure</th></tr>
<tr><th>ReACT</th><th>Plain</th></tr>
<tr><td>GPT</td><td>0.87</td><td>0.66</td></tr>
<tr><td>Small</td><td>0.12</td><td>0.10</td></tr>
</table>"""


def test_table_neighbours_in_markdown() -> None:
    assert run_test(_test(type="table", cell="2020", left="Alpha", right="0.87"), MD_TABLE).passed
    assert run_test(_test(type="table", cell="0.44", up="0.87", top_heading="Score"), MD_TABLE).passed
    assert run_test(_test(type="table", cell="0.87", left_heading="Alpha"), MD_TABLE).passed
    assert not run_test(_test(type="table", cell="2020", left="Beta"), MD_TABLE).passed
    assert not run_test(_test(type="table", cell="Gamma"), MD_TABLE).passed


def test_table_spans_and_multi_row_headings_in_html() -> None:
    assert run_test(_test(type="table", cell="0.87", top_heading="ReACT"), HTML_TABLE).passed
    assert run_test(_test(type="table", cell="0.87", top_heading="Procedure"), HTML_TABLE).passed
    assert run_test(_test(type="table", cell="0.66", top_heading="Procedure"), HTML_TABLE).passed
    assert run_test(_test(type="table", cell="GPT", up="Model"), HTML_TABLE).passed
    assert run_test(_test(type="table", cell="0.87", right="0.66", down="0.12"), HTML_TABLE).passed
    assert not run_test(_test(type="table", cell="0.87", top_heading="Plain"), HTML_TABLE).passed


def test_table_test_without_any_table_fails() -> None:
    assert not run_test(_test(type="table", cell="0.87"), "0.87 in running text").passed


def test_markdown_tables_can_be_ignored() -> None:
    test = _test(type="table", cell="2020", ignore_markdown_tables=True)
    assert not run_test(test, MD_TABLE).passed


def test_math_rejected_and_unknown_types_are_skipped() -> None:
    outcomes = run_tests(
        [
            _test(type="math", math="x^2"),
            _test(type="present", text="quick", checked="rejected"),
            _test(type="mystery"),
        ],
        PAGE,
    )
    assert [o.passed for o in outcomes] == [None, None, None]
