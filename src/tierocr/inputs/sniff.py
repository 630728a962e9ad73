"""Decide what an input is from its bytes, not its name: names lie, magic numbers rarely do."""

from __future__ import annotations

PDF = "application/pdf"

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def sniff_mime(head: bytes) -> str | None:
    """The MIME type of a document from its first bytes, or None when it is not one we read."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    # Some PDF writers put junk (a BOM, an HTTP header) before the marker; PDF readers accept 1 KiB of it.
    if b"%PDF-" in head[:1024]:
        return PDF
    for magic, mime in _SIGNATURES:
        if head.startswith(magic):
            return mime
    return None
