"""Text normalisation: markup stripped, typographic and historical variants folded, on both sides."""

from __future__ import annotations

from tierocr.evaluation.normalize import (
    collapse_whitespace,
    fold_characters,
    normalize_for_ned,
    strip_markdown,
)


def test_headings_emphasis_and_bullets_are_removed() -> None:
    md = "# Title\n\nSome **bold** and *italic* and __strong__ and _em_ text.\n\n- one\n* two\n+ three"
    assert normalize_for_ned(md) == "Title Some bold and italic and strong and em text. one two three"


def test_ordered_list_numbers_are_kept_as_printed() -> None:
    assert normalize_for_ned("1. first\n2. second") == "1. first 2. second"


def test_snake_case_and_arithmetic_are_not_taken_for_emphasis() -> None:
    assert normalize_for_ned("call snake_case_name with 2 * 3 * 4") == "call snake_case_name with 2 * 3 * 4"


def test_pipe_table_keeps_cell_text_and_drops_separator() -> None:
    md = "| a | b |\n| --- | :-: |\n| 1 | 2 |"
    assert normalize_for_ned(md) == "a b 1 2"


def test_html_table_keeps_cell_text() -> None:
    html = "<table><tr><td><b>Head</b></td><td>x&amp;y</td></tr><tr><td>1</td><td>2</td></tr></table>"
    assert normalize_for_ned(html) == "Head x&y 1 2"


def test_comments_images_and_links() -> None:
    md = "before <!-- image --> after ![alt](img.png) see [the docs](http://x.org)"
    assert normalize_for_ned(md) == "before after see the docs"


def test_escaped_markdown_characters_become_text() -> None:
    assert strip_markdown(r"a \*literal\* star") == "a *literal* star"


def test_quotes_dashes_and_fullwidth_are_folded() -> None:
    assert fold_characters("“quoted” ‘single’ – — − ＡＢ１，") == "\"quoted\" 'single' - - - AB1,"


def test_long_s_and_mufi_letters_are_modernised() -> None:
    assert fold_characters("\u017fchon Gro\u017f") == "schon Gros"
    assert fold_characters("scho\u0364n Mu\u0364he") == "schön Mühe"  # combining e above = umlaut
    assert fold_characters("m\ue644glich M\ue42cnner M\ue72bhle") == "möglich Männer Mühle"
    assert fold_characters("a\ue000b\U000f0854c") == "abc"  # other private-use glyphs dropped


def test_whitespace_collapses_but_cjk_joins() -> None:
    assert collapse_whitespace("  a \n\t b  ") == "a b"
    assert collapse_whitespace("中文\n文本 and 英文") == "中文文本 and 英文"


def test_plain_text_passes_through() -> None:
    assert normalize_for_ned("The quick brown fox.") == "The quick brown fox."
