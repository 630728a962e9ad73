"""What every loaded document and page looks like to the pipeline, whatever its format."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType

from PIL import Image

from tierocr.document import BBox


@dataclass(frozen=True, slots=True)
class TextLine:
    """A line of the PDF's own text, with its box in page pixels and the glyph height (font size proxy)."""

    text: str
    bbox: BBox
    char_height: float


@dataclass(slots=True)
class TextLayer:
    """A page's embedded text, split into lines, with the facts the usability check needs."""

    lines: list[TextLine]
    char_count: int
    bad_char_count: int
    #: Share of the page covered by raster images (1.0 for a scanned page).
    image_coverage: float = 0.0
    #: Share of the ink inside raster images that the layer's character boxes cover.
    image_ink_covered: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


class PageInput(ABC):
    """One page ready for the tiers. The image is rendered lazily: text-layer pages never need it."""

    number: int
    dpi: float
    width: float
    height: float

    @property
    @abstractmethod
    def image(self) -> Image.Image:
        """The page as an RGB image at ``dpi``."""

    @property
    def text_layer(self) -> TextLayer | None:
        return None

    def release(self) -> None:  # noqa: B027 - optional hook, most pages hold nothing worth freeing
        """Free what the page holds (raster, native handles) once the pipeline is done with it."""


class FailedPageInput(PageInput):
    """A page that could not be loaded; the pipeline keeps it as an empty page carrying the reason."""

    def __init__(self, number: int, dpi: float, reason: str) -> None:
        self.number = number
        self.dpi = dpi
        self.width = 0.0
        self.height = 0.0
        self.error = reason

    @property
    def image(self) -> Image.Image:
        raise RuntimeError(f"page {self.number} failed to load: {self.error}")


class LoadedDocument(ABC):
    """An opened document; use as a context manager so file handles and PDFium memory are freed."""

    name: str
    mime_type: str
    page_count: int
    #: 1-based page numbers selected by the page range, in order.
    selected: list[int]

    def iter_pages(self) -> Iterator[PageInput]:
        """Yield the selected pages one at a time; a page's resources go when the next one comes."""
        for page_input in self.page_inputs():
            try:
                yield page_input
            finally:
                page_input.release()

    @abstractmethod
    def page_inputs(self, numbers: Iterable[int] | None = None) -> Iterator[PageInput]:
        """Yield pages (default: the selection) that stay valid until the caller releases each one.

        A page-parallel pipeline holds several pages at once, so advancing must not free the previous
        page as :meth:`iter_pages` does; the caller calls ``release()`` on each page when done with it.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, most documents hold nothing
        """Release the document's resources."""

    def __enter__(self) -> LoadedDocument:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
