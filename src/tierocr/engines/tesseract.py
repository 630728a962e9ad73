"""Tesseract through tesserocr (in-process, about 5x faster than a pytesseract subprocess per page).

Debian's ``tesseract-ocr-*`` packages provide the language data; the tesserocr wheel bundles its own
libtesseract, which does not know Debian's tessdata path, so the folder is found and passed explicitly.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

from PIL import Image

from tierocr.config import OcrSettings
from tierocr.document import BBox
from tierocr.engines.base import OcrEngine, OcrLine
from tierocr.engines.scripts import Script, language, script_of
from tierocr.errors import EngineUnavailableError

#: Scripts whose letters (Korean: syllables) Tesseract returns as separate words, and the gap, as a share
#: of the line height, below which two of them are one word. Thai, Chinese and Japanese put no spaces
#: between words; Korean does, and there Tesseract's own spacing is erratic: on the corpus's Korean
#: pages joining below 0.2 line heights cut NED by 0.10 against no joining, wider gaps cost again.
_MAX_LETTER_GAP = MappingProxyType({Script.THAI: 0.5, Script.HAN: 0.5, Script.KANA: 0.5, Script.HANGUL: 0.2})

_TESSDATA_CANDIDATES = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
)


def find_tessdata(configured: Path | None) -> Path:
    candidates = [str(configured)] if configured else []
    if os.environ.get("TESSDATA_PREFIX"):
        candidates.append(os.environ["TESSDATA_PREFIX"])
    candidates.extend(_TESSDATA_CANDIDATES)
    for candidate in candidates:
        if (Path(candidate) / "eng.traineddata").is_file() or any(Path(candidate).glob("*.traineddata")):
            return Path(candidate)
    raise EngineUnavailableError(
        "Tesseract language data not found: install Debian's tesseract-ocr-eng (and other "
        "tesseract-ocr-<lang> packages) or set TIEROCR_OCR_TESSDATA_DIR"
    )


def tesseract_languages(languages: list[str], tessdata: Path) -> str:
    names = []
    for lang in languages:
        known = language(lang)
        code = known.tesseract if known is not None else lang
        if not (tessdata / f"{code}.traineddata").is_file():
            raise EngineUnavailableError(
                f"Tesseract has no data for language {lang!r} ({code}.traineddata not in {tessdata}); "
                f"install Debian's tesseract-ocr-{code.replace('_', '-')}"
            )
        if code not in names:
            names.append(code)
    return "+".join(names) or "eng"


class TesseractEngine(OcrEngine):
    name = "tesseract"

    def __init__(self, settings: OcrSettings, lang: str | None = None) -> None:
        """``lang`` (Tesseract's names joined by ``+``) overrides ``settings.languages``."""
        try:
            import tesserocr
        except ImportError as exc:
            raise EngineUnavailableError(
                "the tesseract engine needs the tesserocr package: pip install 'tierocr[tesseract]'"
            ) from exc
        self._tesserocr = tesserocr
        tessdata = find_tessdata(settings.tessdata_dir)
        self.lang = lang or tesseract_languages(settings.languages, tessdata)
        self._path = str(tessdata)
        # An API object is not thread-safe, and page workers share one engine: each reader borrows an
        # API object of its own (tesserocr releases the GIL while Tesseract reads, so pages read at the
        # same time), and objects are made as readers come, as many as ever read at once.
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        first = tesserocr.PyTessBaseAPI(path=self._path, lang=self.lang)  # bad data fails here, at once
        self._made = [first]
        self._idle.put(first)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _api(self) -> Iterator[Any]:
        """An API object for the caller alone while it reads."""
        try:
            api = self._idle.get_nowait()
        except queue.Empty:
            api = self._tesserocr.PyTessBaseAPI(path=self._path, lang=self.lang)
            with self._lock:
                self._made.append(api)
        try:
            yield api
        finally:
            self._idle.put(api)

    def recognize(self, image: Image.Image) -> list[OcrLine]:
        with self._api() as api:
            api.SetImage(image.convert("RGB"))
            try:
                api.Recognize()
                tsv = api.GetTSVText(0)
            except RuntimeError:
                # tesserocr raises when the page holds no text at all (seen on small table crops).
                return []
        return lines_from_tsv(tsv or "")

    def read_lines(self, image: Image.Image, boxes: list[BBox], min_confidence: float) -> list[OcrLine]:
        """Each box of ``image`` read as one text line (Tesseract's single-line mode), kept when read at
        least ``min_confidence`` (0-1): lines another detector found that the page read left out."""
        tesserocr = self._tesserocr
        out: list[OcrLine] = []
        with self._api() as api:
            api.SetPageSegMode(tesserocr.PSM.SINGLE_LINE)
            try:
                for box in boxes:
                    api.SetImage(_line_image(image, box))
                    try:
                        text = " ".join(api.GetUTF8Text().split())
                        confidence = api.MeanTextConf() / 100.0
                    except RuntimeError:
                        continue
                    if text and confidence >= min_confidence:
                        out.append(OcrLine(text=text, bbox=box, confidence=confidence))
            finally:
                api.SetPageSegMode(tesserocr.PSM.AUTO)
        return out

    def read_block(self, image: Image.Image) -> tuple[str, float]:
        """The text of an image read as one block of lines, and Tesseract's mean word confidence (0-1):
        a cheap read of a strip of sample lines, to tell which language model fits them."""
        tesserocr = self._tesserocr
        with self._api() as api:
            api.SetPageSegMode(tesserocr.PSM.SINGLE_BLOCK)
            try:
                api.SetImage(image.convert("RGB"))
                text = api.GetUTF8Text()
                confidence = api.MeanTextConf() / 100.0
            except RuntimeError:
                return "", 0.0
            finally:
                api.SetPageSegMode(tesserocr.PSM.AUTO)
        return text, confidence

    def version(self) -> str:
        return f"tesseract {self._tesserocr.tesseract_version().split()[1]}"

    def __del__(self) -> None:
        for api in getattr(self, "_made", ()):
            api.End()


def lines_from_tsv(tsv: str) -> list[OcrLine]:
    """Lines from Tesseract's TSV output, words in logical order.

    tesserocr's level iterator is Tesseract's left-to-right iterator: on Arabic or Hebrew it returns
    each word's letters backwards and a line's words from the wrong end. The TSV writer walks the
    reading-order iterator, so its words are right for both directions.
    """
    rows: dict[tuple[str, str, str], list[tuple[str, BBox, float]]] = {}
    for raw in tsv.splitlines():
        cols = raw.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        text = cols[11].strip()
        if not text:
            continue
        try:
            left, top, width, height = (int(v) for v in cols[6:10])
            conf = float(cols[10])
        except ValueError:
            continue
        box = BBox(x0=left, y0=top, x1=left + width, y1=top + height)
        rows.setdefault((cols[2], cols[3], cols[4]), []).append((text, box, conf))
    lines: list[OcrLine] = []
    for words in rows.values():
        box = words[0][1]
        for _, other, _ in words[1:]:
            box = box.union(other)
        text = words[0][0]
        for (prev, prev_box, _), (word, word_box, _) in itertools.pairwise(words):
            gap = max(word_box.x0 - prev_box.x1, prev_box.x0 - word_box.x1)  # either direction
            script = script_of(prev[-1], letters_only=False)
            split = (
                script in _MAX_LETTER_GAP
                and script_of(word[0], letters_only=False) is script
                and gap < _MAX_LETTER_GAP[script] * box.height
            )
            text += word if split else " " + word
        scores = [conf for _, _, conf in words if conf >= 0]
        confidence = sum(scores) / len(scores) / 100.0 if scores else None
        lines.append(OcrLine(text=text, bbox=box, confidence=confidence))
    return lines


def _line_image(image: Image.Image, box: BBox) -> Image.Image:
    """The line's crop on white with half a line height of margin: Tesseract reads nothing of a short
    line cropped tight to its ink."""
    pad = 0.15 * box.height
    region = (
        max(int(box.x0 - pad), 0),
        max(int(box.y0 - pad), 0),
        min(int(box.x1 + pad) + 1, image.width),
        min(int(box.y1 + pad) + 1, image.height),
    )
    piece = image.crop(region).convert("RGB")
    margin = max(int(box.height / 2), 4)
    canvas = Image.new("RGB", (piece.width + 2 * margin, piece.height + 2 * margin), "white")
    canvas.paste(piece, (margin, margin))
    return canvas
