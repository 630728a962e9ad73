"""One registry of OCR engines: a name maps to a factory that builds the engine from settings.

Factories are imported lazily so that naming an engine whose optional dependency is missing fails
with a clear message only when that engine is asked for.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType

from tierocr.config import OcrSettings
from tierocr.engines.base import OcrEngine
from tierocr.errors import EngineUnavailableError

#: name -> "module:factory"; each factory takes OcrSettings and returns an OcrEngine.
_FACTORIES = MappingProxyType(
    {
        "auto": "tierocr.engines.router:ScriptRouter",
        "rapidocr": "tierocr.engines.rapid:RapidOcrEngine",
        "tesseract": "tierocr.engines.tesseract:TesseractEngine",
    }
)


def available_engines() -> list[str]:
    return sorted(_FACTORIES)


def create_engine(settings: OcrSettings, name: str | None = None) -> OcrEngine:
    """Build the engine called ``name`` (default: ``settings.engine``)."""
    name = name or settings.engine
    target = _FACTORIES.get(name)
    if target is None:
        raise EngineUnavailableError(
            f"unknown OCR engine {name!r}; choose one of: {', '.join(available_engines())}"
        )
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EngineUnavailableError(f"OCR engine {name!r} is not installed: {exc}") from exc
    factory = getattr(module, attr)
    return factory(settings)
