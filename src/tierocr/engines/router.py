"""Engine ``auto``: RapidOCR for the scripts it reads, Tesseract for the ones it cannot.

RapidOCR's bundled recogniser reads Latin, Chinese and Japanese; on Arabic, Korean, Cyrillic or
Devanagari it returns nothing or confident nonsense. Tesseract reads those with Debian's language data.
Each image is routed on its own, so the layout parser's page and region reads and full-page mode all use
this engine without knowing:

1. Configured languages (``ocr.languages``) that RapidOCR cannot read send the image to Tesseract
   with those languages; no detection is needed.
2. Otherwise RapidOCR reads the image (the common case, and the only cost there). Its read is kept
   when it is sure: confident, as many characters as its line boxes have room for, and no letters of
   a script it cannot read.
3. An unsure read is identified: a strip of a few of its detected lines is read once by Tesseract
   with one model per script; the script most of that text is in decides. Arabic and Persian share a
   script and Tesseract's Arabic model is the more confident on both, so the letters only one of them
   writes decide (:func:`~tierocr.engines.scripts.pick_language`); Urdu and Ukrainian are read when
   configured.
4. A script RapidOCR cannot read is read by Tesseract with that language (plus English, for the
   numbers and Latin words such documents carry); anything else keeps RapidOCR's read.
5. Tesseract's page layout takes some text blocks for pictures and drops them; every line RapidOCR's
   detector finds that the page read does not cover is read on its own and added.

Tesseract's OSD script detection was tried for step 3 and dropped: on downscaled pages it called an
English page Cyrillic, a Korean page Arabic and a Hebrew page Thai; the multi-model read of a few lines
was right on every script tested, in a few tenths of a second.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from tierocr.config import OcrSettings
from tierocr.document import BBox
from tierocr.engines.base import OcrEngine, OcrLine
from tierocr.engines.device import Device
from tierocr.engines.rapid import RapidOcrEngine
from tierocr.engines.scripts import (
    RAPID_SCRIPTS,
    SCRIPT_LANGUAGES,
    Script,
    dominant_script,
    has_tesseract_data,
    language,
    pick_language,
    rapid_reads,
    script_counts,
)
from tierocr.errors import EngineUnavailableError

if TYPE_CHECKING:
    from tierocr.engines.tesseract import TesseractEngine

log = logging.getLogger(__name__)

#: Lines sampled for identification, and the height (px) each is scaled to for Tesseract.
_SAMPLE_LINES = 6
_SAMPLE_HEIGHT = 40
#: A RapidOCR read is kept without identification when at least this share of the lines it detected
#: came back read (corpus: Latin and Chinese pages 0.96-1.0; Korean 0.37, Arabic 0.0), ...
_MIN_READ_SHARE = 0.8
#: ... it reads at least this many characters per line height of box width (Latin pages 2.0-3.4,
#: Chinese 1.07-1.9; a script it cannot read 0.0-0.5), ...
_MIN_DENSITY = 0.6
#: ... its per-character confidence is at least this (Latin and Chinese 0.88-1.0, handwriting 0.83), ...
_MIN_CONFIDENCE = 0.85
#: ... and at most this share of its letters are of a script it has only a few characters of (its Greek
#: letters: 0.96 on Greek text, 0.38 on a page of formulas).
_MAX_FOREIGN_SHARE = 0.5
#: Identification text must be this much one script, read at least this confidently, to re-route.
_MIN_SCRIPT_SHARE = 0.6
_MIN_IDENTIFY_CONFIDENCE = 0.5
#: A detected line less than this share covered by the page read's lines is read on its own, and kept
#: when Tesseract reads it at least this confidently.
_MIN_COVERED = 0.5
_MIN_RESCUE_CONFIDENCE = 0.5


def _covered(box: BBox, lines: list[OcrLine]) -> float:
    """Share of ``box``'s area inside the lines' boxes (overlaps between lines counted once per line)."""
    inside = 0.0
    for line in lines:
        b = line.bbox
        w = min(box.x1, b.x1) - max(box.x0, b.x0)
        h = min(box.y1, b.y1) - max(box.y0, b.y0)
        if w > 0 and h > 0:
            inside += w * h
    return min(inside / max(box.area, 1e-6), 1.0)


def read_is_sure(lines: list[OcrLine], detected: int | None) -> bool:
    """Whether RapidOCR's read of an image can be kept without asking which script it is in.

    Confidence alone is not enough: on Cyrillic the recogniser returns runs of spaces and dots at 0.93,
    and on Arabic it returns nothing at all. So the read must also cover the lines detected, fill its
    line boxes with characters and hold no more than a few letters of a script it barely knows.
    """
    read = [ln for ln in lines if ln.bbox.width > 0 and ln.bbox.height > 0]
    if detected is not None and len(read) < _MIN_READ_SHARE * detected:
        return False
    if not read:
        return True  # nothing detected: nothing a second engine could do better
    chars = sum(len(ln.text.replace(" ", "")) for ln in read)
    room = sum(max(ln.bbox.width, ln.bbox.height) / min(ln.bbox.width, ln.bbox.height) for ln in read)
    if chars / room < _MIN_DENSITY:
        return False
    weight = sum(len(ln.text) for ln in read)
    if sum((ln.confidence or 0.0) * len(ln.text) for ln in read) < _MIN_CONFIDENCE * weight:
        return False
    counts = script_counts(" ".join(ln.text for ln in read))
    foreign = sum(n for script, n in counts.items() if script not in RAPID_SCRIPTS)
    return foreign <= _MAX_FOREIGN_SHARE * sum(counts.values())


def sample_strip(crops: list[np.ndarray], count: int = _SAMPLE_LINES) -> Image.Image | None:
    """A few of the widest detected lines, scaled to one height and stacked with white between them:
    enough text to identify a script, a fraction of the page's pixels."""
    lines = [c for c in crops if c.ndim >= 2 and c.shape[0] >= 8 and c.shape[1] >= 2 * c.shape[0]]
    chosen = sorted(lines, key=lambda c: c.shape[1], reverse=True)[:count]
    if not chosen:
        return None
    pieces: list[Image.Image] = []
    for array in chosen:
        piece = Image.fromarray(array).convert("RGB")
        scale = _SAMPLE_HEIGHT / piece.height
        pieces.append(piece.resize((max(int(piece.width * scale), 1), _SAMPLE_HEIGHT)))
    gap = _SAMPLE_HEIGHT // 2
    width = max(p.width for p in pieces) + 2 * gap
    strip = Image.new("RGB", (width, len(pieces) * (_SAMPLE_HEIGHT + gap) + gap), "white")
    for k, piece in enumerate(pieces):
        strip.paste(piece, (gap, gap + k * (_SAMPLE_HEIGHT + gap)))
    return strip


class ScriptRouter(OcrEngine):
    """Reads each image with the engine that reads its script; see the module docstring."""

    name = "auto"

    def __init__(self, settings: OcrSettings) -> None:
        self._settings = settings
        rapid_languages = [code for code in settings.languages if rapid_reads(code)] or ["en"]
        # Every line RapidOCR detects, read or not: the boxes of an unreadable script are the sample.
        self._rapid = RapidOcrEngine(
            settings.model_copy(update={"languages": rapid_languages, "min_confidence": 0.0})
        )
        self._tessdata = _tessdata(settings.tessdata_dir)
        self._engines: dict[str, TesseractEngine] = {}
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self._configured = self._configured_languages(settings.languages)

    def _configured_languages(self, codes: list[str]) -> str | None:
        """Tesseract's language string for the configured languages RapidOCR cannot read (plus the
        configured ones it can, which Tesseract then reads alongside), or None when RapidOCR reads all."""
        names: list[str] = []
        needs_tesseract = False
        for code in codes:
            lang = language(code)
            name = lang.tesseract if lang is not None else code
            if lang is None or lang.script not in RAPID_SCRIPTS:
                if not has_tesseract_data(self._tessdata, name):
                    self._warn_missing(code, name)
                    continue
                needs_tesseract = True
            if has_tesseract_data(self._tessdata, name) and name not in names:
                names.append(name)
        return "+".join(names) if needs_tesseract else None

    def _warn_missing(self, code: str, name: str) -> None:
        if name in self._warned:
            return
        self._warned.add(name)
        if self._tessdata is None:
            how = "install tesserocr (pip install 'tierocr[tesseract]') and Debian's "
        else:
            how = "install Debian's "
        log.warning(
            "no installed OCR engine reads language %r: RapidOCR's model does not, and Tesseract has no "
            "%s.traineddata; %stesseract-ocr-%s (pages in it are read as Latin/Chinese until then)",
            code,
            name,
            how,
            name.replace("_", "-"),
        )

    def _tesseract(self, lang: str) -> TesseractEngine:
        with self._lock:
            engine = self._engines.get(lang)
            if engine is None:
                from tierocr.engines.tesseract import TesseractEngine

                engine = self._engines[lang] = TesseractEngine(self._settings, lang=lang)
            return engine

    def recognize(self, image: Image.Image) -> list[OcrLine]:
        return self.read(image)[0]

    def read(self, image: Image.Image) -> tuple[list[OcrLine], str]:
        """The lines, and which engine read them: ``rapidocr`` or ``tesseract:<languages>``."""
        image = image.convert("RGB")
        if self._configured is not None:
            return self._read_tesseract(image, self._configured), f"tesseract:{self._configured}"
        lines, crops = self._rapid.read_with_crops(image)
        floor = self._settings.min_confidence
        kept = [ln for ln in lines if (ln.confidence or 0.0) >= floor]
        if read_is_sure(lines, None if crops is None else len(crops)):
            return kept, "rapidocr"
        if crops is None:  # a RapidOCR release that hides its steps: detect the lines once more
            crops = [np.asarray(image.crop((b.x0, b.y0, b.x1, b.y1))) for b in self._rapid.detect(image)]
        lang = self.identify(crops)
        if lang is None:
            return kept, "rapidocr"
        langs = lang if lang == "eng" else f"{lang}+eng"
        log.debug("image read with tesseract %s", langs)
        return self._read_tesseract(image, langs), f"tesseract:{langs}"

    def _read_tesseract(self, image: Image.Image, langs: str) -> list[OcrLine]:
        """Tesseract's page read, plus the lines RapidOCR's detector finds that it left out.

        Tesseract's page layout takes some text blocks for pictures (a short Arabic line, most of a
        Korean paragraph, measured on generated pages) and drops them; the detector finds every line,
        and each one the page read does not cover is read on its own.
        """
        engine = self._tesseract(langs)
        lines = engine.recognize(image)
        missing = [box for box in self._rapid.detect(image) if _covered(box, lines) < _MIN_COVERED]
        if missing:
            lines += engine.read_lines(image, missing, _MIN_RESCUE_CONFIDENCE)
        return lines

    def identify(self, crops: list[np.ndarray]) -> str | None:
        """The Tesseract language to read the detected lines' image with, or None to keep RapidOCR."""
        if self._tessdata is None:
            return None
        installed = {
            script: [name for name in names if has_tesseract_data(self._tessdata, name)]
            for script, names in SCRIPT_LANGUAGES.items()
        }
        voices = [names[0] for names in installed.values() if names]
        if not voices:
            return None
        strip = sample_strip(crops)
        if strip is None:
            return None
        text, confidence = self._tesseract("+".join(["eng", *voices])).read_block(strip)
        script, _ = dominant_script(text, _MIN_SCRIPT_SHARE)
        if script is None or script in RAPID_SCRIPTS or confidence < _MIN_IDENTIFY_CONFIDENCE:
            return None
        return pick_language(script, text, installed[script])

    def version(self) -> str:
        return f"{self._rapid.version()} + tesseract for other scripts"

    @property
    def device(self) -> Device:
        return self._rapid.device

    def providers(self) -> dict[str, str]:
        """Where RapidOCR's models run (Tesseract runs on the CPU)."""
        return {**self._rapid.providers(), "ocr_tesseract": "tesseract (CPU)"}


def _tessdata(configured: Path | None) -> Path | None:
    """Tesseract's data folder when tesserocr and its data are installed, else None (RapidOCR only)."""
    try:
        import tesserocr  # noqa: F401
    except ImportError:
        return None
    from tierocr.engines.tesseract import find_tessdata

    try:
        return find_tessdata(configured)
    except EngineUnavailableError:
        return None


__all__ = ["Script", "ScriptRouter", "read_is_sure", "sample_strip"]
