"""Image input: PNG, JPEG, TIFF (multi-page), WebP, BMP, GIF; EXIF orientation applied.

The pixel limit is checked from the header before any pixel is decoded, so a decompression bomb costs
nothing but the header read.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from tierocr.config import InputSettings
from tierocr.errors import InputError
from tierocr.inputs.base import FailedPageInput, LoadedDocument, PageInput
from tierocr.inputs.pages import parse_page_range

#: Resolution assumed for images that do not say theirs (the usual scanner default).
_DEFAULT_DPI = 300.0


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB on a white background: transparent regions become paper, not black."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


class ImagePageInput(PageInput):
    def __init__(self, image: Image.Image, number: int, dpi: float) -> None:
        self._image = image
        self.number = number
        self.dpi = dpi
        self.width, self.height = image.size

    @property
    def image(self) -> Image.Image:
        return self._image


class ImageDocument(LoadedDocument):
    def __init__(
        self, data: Path | bytes, name: str, mime_type: str, settings: InputSettings, pages: str | None
    ) -> None:
        self.name = name
        self.mime_type = mime_type
        self._settings = settings
        stream = io.BytesIO(data) if isinstance(data, bytes) else data
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                self._image = Image.open(stream)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise InputError(
                name,
                f"image is over the limit of {settings.max_image_pixels} pixels "
                f"(possible decompression bomb): {exc}",
            ) from exc
        except UnidentifiedImageError as exc:
            raise InputError(name, "not a readable image (corrupt or truncated)") from exc
        except OSError as exc:
            raise InputError(name, f"cannot read image: {exc}") from exc
        self._check_pixels(self._image.size, 1)
        self.page_count = getattr(self._image, "n_frames", 1)
        try:
            self.selected = parse_page_range(pages, self.page_count)
        except ValueError as exc:
            self._image.close()
            raise InputError(name, str(exc)) from exc

    def _check_pixels(self, size: tuple[int, int], number: int) -> None:
        width, height = size
        if width * height > self._settings.max_image_pixels:
            raise InputError(
                self.name,
                f"image page {number} is {width}x{height} px, over the limit of "
                f"{self._settings.max_image_pixels} pixels (possible decompression bomb)",
            )
        if width == 0 or height == 0:
            raise InputError(self.name, f"image page {number} is empty ({width}x{height} px)")

    def page_inputs(self, numbers: Iterable[int] | None = None) -> Iterator[PageInput]:
        for number in self.selected if numbers is None else numbers:
            # One undecodable frame of a multi-page TIFF must not cost the other frames.
            try:
                self._image.seek(number - 1)
                self._check_pixels(self._image.size, number)
                frame = ImageOps.exif_transpose(self._image)
                rgb = to_rgb(frame)
            except InputError as exc:
                yield FailedPageInput(number, _DEFAULT_DPI, exc.reason)
                continue
            except (OSError, ValueError, SyntaxError) as exc:
                yield FailedPageInput(number, _DEFAULT_DPI, f"image page cannot be decoded: {exc}")
                continue
            yield ImagePageInput(rgb, number, _image_dpi(self._image))

    def close(self) -> None:
        self._image.close()


def _image_dpi(image: Image.Image) -> float:
    dpi = image.info.get("dpi")
    if isinstance(dpi, tuple) and dpi and dpi[0]:
        try:
            value = float(dpi[0])
        except (TypeError, ValueError):
            return _DEFAULT_DPI
        if 50 <= value <= 2400:
            return value
    return _DEFAULT_DPI
