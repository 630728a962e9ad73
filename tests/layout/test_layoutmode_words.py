"""Layout mode keeps every word: the word multiset, and the fallback of a region whose structure lost some."""

from __future__ import annotations

from collections.abc import Iterator

from layoutmode_helpers import ScriptedDetector, ScriptedEngine, box
from PIL import Image

from tierocr.config import Settings
from tierocr.document import BlockKind
from tierocr.engines.base import OcrLine
from tierocr.layout.detector import Region
from tierocr.layout.parser import LayoutParser
from tierocr.layout.tables.grid import TableStructure
from tierocr.layout.words import balance, words


def test_words_fold_case_width_and_punctuation_and_split_cjk_into_characters() -> None:
    assert words("Ｔhe cat, the CAT!") == {"the": 2, "cat": 2}
    assert words("表格识别 test") == {"表": 1, "格": 1, "识": 1, "别": 1, "test": 1}


def test_a_word_joined_across_a_line_end_is_its_two_halves_but_a_lost_word_is_lost() -> None:
    joined = balance(["an exam-", "ple of a Drop", "O", "ver"], ["an example of a Drop Over"])
    assert (joined.missing, joined.extra) == (0, 0)
    lost = balance(["one two three four"], ["one three four"])
    assert (lost.missing, lost.extra, round(lost.recall, 2)) == (1, 0, 0.75)
    doubled = balance(["one two"], ["one two two"])
    assert (doubled.extra, round(doubled.precision, 2)) == (1, 0.67)


LINES = [OcrLine(f"row{r} cell{c}", box(110 + 200 * c, 110 + 40 * r, 250 + 200 * c, 140 + 40 * r), 0.9)
         for r in range(4) for c in range(2)]  # fmt: skip


def test_a_table_whose_builder_drops_words_falls_back_to_its_lines(monkeypatch) -> None:
    # The table builders' own check would refuse this grid first; with it off, the page-level word check
    # is the one that must catch it.
    settings = Settings.model_validate({"layout": {"enabled": True, "table_check": {"enabled": False}}})
    detector = ScriptedDetector([Region("table", 0.9, box(100, 100, 500, 280))])
    parser = LayoutParser(settings, ScriptedEngine(LINES), detector)

    def lossy(*args: object, **kwargs: object) -> Iterator[TableStructure]:
        from tierocr.layout.tables.grid import GridCell

        cells = [GridCell(row=0, col=0, bbox=box(0, 0, 100, 30), text="row0 cell0")]
        yield TableStructure(n_rows=2, n_cols=2, cells=cells, backend="lossy")

    monkeypatch.setattr("tierocr.layout.regions.table_candidates", lossy)
    page = parser.parse_page(Image.new("RGB", (1000, 800), "white"), number=1, dpi=100)
    (block,) = page.blocks
    assert block.kind is BlockKind.TEXT and block.html is None
    assert block.attributes["word_check"] == "lost 14 and added 0 of 16 words"
    assert words(block.text) == words(" ".join(line.text for line in LINES))
    assert page.diagnostics["layout_fallback_regions"] == 1.0
    assert page.diagnostics["layout_word_recall"] == 1.0


def test_a_table_that_keeps_its_words_stays_a_table() -> None:
    settings = Settings.model_validate({"layout": {"enabled": True, "table_backend": "word_grid"}})
    detector = ScriptedDetector([Region("table", 0.9, box(100, 100, 500, 280))])
    page = LayoutParser(settings, ScriptedEngine(LINES), detector).parse_page(
        Image.new("RGB", (1000, 800), "white"), number=1, dpi=100
    )
    (block,) = page.blocks
    assert block.kind is BlockKind.TABLE and block.html is not None
    assert "word_check" not in block.attributes
    assert page.diagnostics["layout_fallback_regions"] == 0.0
