"""Page-range parsing shared by the CLI, the API and the evaluation."""

from __future__ import annotations


def parse_page_range(spec: str | None, page_count: int) -> list[int]:
    """Turn ``"1-3,7,10-"`` into sorted 1-based page numbers within ``1..page_count``.

    An open end (``"5-"``) runs to the last page. Numbers past the end are an error rather than silently
    dropped, because a user asking for page 12 of a 10-page file has the wrong file or the wrong range.
    """
    if spec is None or not spec.strip():
        return list(range(1, page_count + 1))
    wanted: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        start_text, sep, end_text = part.partition("-")
        try:
            start = int(start_text) if start_text.strip() else 1
            end = (int(end_text) if end_text.strip() else page_count) if sep else start
        except ValueError as exc:
            raise ValueError(f"invalid page range {spec!r}: {part!r} is not a number or range") from exc
        if start < 1 or end < start:
            raise ValueError(f"invalid page range {spec!r}: {part!r}")
        if end > page_count:
            raise ValueError(f"page range {spec!r} asks for page {end}, but the document has {page_count}")
        wanted.update(range(start, end + 1))
    if not wanted:
        raise ValueError(f"invalid page range {spec!r}: no pages")
    return sorted(wanted)
