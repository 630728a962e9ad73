"""Page images for people reviewing a parse: the page as its blocks' boxes see it, small enough to stream.

The pipeline does not keep page images (a 300-page document would cost 300 rasters), so a preview is
rendered again from the input, at a resolution chosen for the screen rather than for OCR, then turned and
straightened exactly as the pipeline turned it, so that every block's box lands on its text when scaled
by ``page.width``/``page.height``.
"""

from __future__ import annotations

import base64
import io
import logging
from typing import Any

from PIL import Image

from tierocr.config import Settings
from tierocr.document import Page
from tierocr.engines.deskew import deskew
from tierocr.inputs import open_document

log = logging.getLogger(__name__)

#: JPEG quality of previews: text stays legible at the preview size, a page costs about 100-300 KB.
_JPEG_QUALITY = 80
_MIN_DPI = 36


def render_preview(data: bytes, page: Page, settings: Settings) -> Image.Image:
    """The page upright and deskewed, its longest side at most ``server.page_image_max_px``."""
    max_px = settings.server.page_image_max_px
    scale = min(1.0, max_px / max(page.width, page.height, 1.0))
    # PDFs are rasterised straight at the preview's resolution, which is much cheaper than OCR's.
    dpi = max(_MIN_DPI, min(int(page.dpi * scale) + 1, settings.input.dpi))
    input_settings = settings.input.model_copy(update={"dpi": dpi})
    with open_document(data, input_settings, pages=str(page.number)) as loaded:
        page_input = next(iter(loaded.iter_pages()))
        image = page_input.image.convert("RGB")
    if page.rotation:
        image = image.rotate(-page.rotation, expand=True)
    skew = page.diagnostics.get("skew_degrees")
    if skew:
        image = deskew(image, skew)
    image.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
    return image


def page_image(data: bytes, page: Page, settings: Settings) -> dict[str, Any] | None:
    """A JPEG preview as JSON (``media_type``, ``width``, ``height``, base64 ``data``); None if the page
    has no image (it failed to load). A preview that cannot be made is logged, never fails the parse."""
    if page.width <= 0 or page.height <= 0:
        return None
    try:
        image = render_preview(data, page, settings)
    except Exception:  # a missing preview must not cost the client the page's text
        log.exception("no preview for page %d", page.number)
        return None
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=_JPEG_QUALITY, optimize=True)
    return {
        "media_type": "image/jpeg",
        "width": image.width,
        "height": image.height,
        "data": base64.b64encode(buf.getvalue()).decode("ascii"),
    }
