"""Model answers to blocks, and loop detection."""

from __future__ import annotations

from tierocr.document import BBox, BlockKind, Provenance, Tier
from tierocr.engines.vlm_normalize import (
    answer_to_blocks,
    cut_loop,
    find_repetitions,
    find_tail_loop,
    html_table_text,
    markdown_to_blocks,
    otsl_to_html,
    strip_math_delimiters,
)
from tierocr.engines.vlm_profiles import PROFILES, Task, get_profile

PROV = Provenance(tier=Tier.VLM, engine="vlm:test")
LOOP = {"min_repeats": 8, "max_period": 256, "min_span": 64}


def test_tail_loop_is_found_and_cut_to_one_copy() -> None:
    text = "Intro line.\n" + "the cat sat on the mat. " * 50 + "the cat s"
    loop = find_tail_loop(text, **LOOP)
    assert loop is not None and loop.repeats > 40
    assert cut_loop(text, loop) == "Intro line.\nthe cat sat on the mat."


def test_long_answers_with_a_loop_far_back_are_cut_at_its_start() -> None:
    text = "x" * 5 + "Header\n" + "| 1 | 2 |\n" * 2000
    loop = find_tail_loop(text, **LOOP)
    assert loop is not None
    assert cut_loop(text, loop) == "xxxxxHeader\n| 1 | 2 |"


def test_no_loop_in_ordinary_text_dot_leaders_or_table_rules() -> None:
    prose = "A sentence that goes on. " + " ".join(f"word{i}" for i in range(300))
    toc = "\n".join(f"Chapter {i} " + "." * 60 + f" {i * 7}" for i in range(1, 20))
    rules = "| a | b |\n|---|---|\n" + "-" * 400
    for text in (prose, toc, rules):
        assert find_tail_loop(text, **LOOP) is None
        assert find_repetitions(text, **LOOP) == []


def test_a_loop_that_stopped_is_not_a_tail_loop() -> None:
    text = "na " * 40 + "Batman! And then the story continues for a good while, no repetition here at all."
    assert find_tail_loop(text, **LOOP) is None
    assert len(find_repetitions(text, **LOOP)) == 1


def test_otsl_to_html_with_spans() -> None:
    otsl = "<fcel>Name<fcel>Score<lcel><nl><fcel>Ann<fcel>1<fcel>2<nl><ucel><fcel>3<ecel><nl>"
    table = otsl_to_html(otsl)
    assert table == (
        '<table><tr><td>Name</td><td colspan="2">Score</td></tr>'
        '<tr><td rowspan="2">Ann</td><td>1</td><td>2</td></tr><tr><td>3</td><td></td></tr></table>'
    )
    assert html_table_text(table) == "Name Score\nAnn 1 2\n3"


def test_markdown_page_to_blocks() -> None:
    md = (
        "```markdown\n# Title\n\nSome **bold** text\nsecond line\n\n- item one\n2. item two\n\n"
        "| A | B |\n|---|---|\n| 1 | 2 |\n\n$$\nx^2\n$$\n\n<table><tr><td>c</td></tr></table>\n\n"
        "![a chart](img.png)\n```"
    )
    blocks = answer_to_blocks(md, Task.PAGE, PROV)
    kinds = [b.kind for b in blocks]
    assert kinds == [
        BlockKind.HEADING,
        BlockKind.TEXT,
        BlockKind.LIST_ITEM,
        BlockKind.LIST_ITEM,
        BlockKind.TABLE,
        BlockKind.FORMULA,
        BlockKind.TABLE,
        BlockKind.FIGURE,
    ]
    assert blocks[0].level == 1 and blocks[0].text == "Title"
    assert blocks[1].text == "Some bold text\nsecond line"
    assert blocks[4].html == "<table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>2</td></tr></table>"
    assert blocks[4].text == "A B\n1 2"
    assert blocks[5].latex == "x^2"
    assert all(b.provenance.engine == "vlm:test" for b in blocks)


def test_region_answers_keep_task_and_box() -> None:
    box = BBox(x0=1, y0=2, x1=30, y1=40)
    (formula,) = answer_to_blocks("$$\\frac{a}{b}$$", Task.FORMULA, PROV, bbox=box)
    assert formula.kind is BlockKind.FORMULA and formula.latex == "\\frac{a}{b}" and formula.bbox == box
    (table,) = answer_to_blocks("<fcel>a<fcel>b<nl>", Task.TABLE, PROV, bbox=box)
    assert table.html == "<table><tr><td>a</td><td>b</td></tr></table>"
    (plain,) = answer_to_blocks("just words\nmore words", Task.TABLE, PROV)
    assert plain.kind is BlockKind.TABLE and plain.html is None and plain.text == "just words\nmore words"
    (heading,) = answer_to_blocks("Results", Task.TEXT, PROV, kind_hint=BlockKind.HEADING)
    assert heading.kind is BlockKind.HEADING
    assert answer_to_blocks("   ", Task.PAGE, PROV) == []


def test_math_delimiters() -> None:
    assert strip_math_delimiters("\\[ a+b \\]") == "a+b"
    assert strip_math_delimiters("$x$") == "x"
    assert strip_math_delimiters("a $ b") == "a $ b"


def test_single_line_display_math_and_unclosed_table() -> None:
    blocks = markdown_to_blocks("$$a=b$$\ntext after\n<table><tr><td>x</td></tr>", PROV)
    assert [b.kind for b in blocks] == [BlockKind.FORMULA, BlockKind.TEXT, BlockKind.TABLE]
    assert blocks[2].html is not None and blocks[2].html.endswith("</table>")


def test_profiles() -> None:
    assert set(PROFILES) == {"glm-ocr", "paddleocr-vl", "lightonocr", "generic"}
    glm = get_profile("glm-ocr")
    assert [glm.prompt(t) for t in (Task.TEXT, Task.TABLE, Task.FORMULA)] == [
        "Text Recognition:",
        "Table Recognition:",
        "Formula Recognition:",
    ]
    paddle = get_profile("paddleocr-vl")
    assert [paddle.prompt(t) for t in (Task.TEXT, Task.CHART)] == ["OCR:", "Chart Recognition:"]
    assert get_profile("lightonocr").prompt(Task.TABLE) == ""
