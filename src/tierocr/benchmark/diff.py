"""Per-document diff pages of `tierocr compare`: the page image and both outputs, differences marked.

Each page is one self-contained HTML file (inline CSS, the image as a data URI, no script, nothing
fetched), so it can be mailed or attached to a ticket. Outputs are compared token by token: words, and
single characters of CJK scripts, where one word is a whole sentence.
"""

from __future__ import annotations

import base64
import difflib
import html
import io
import re
from dataclasses import dataclass
from pathlib import Path

from tierocr.config import InputSettings
from tierocr.evaluation.metrics import normalized_edit_distance
from tierocr.evaluation.normalize import normalize_for_ned

_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]|\w+|[^\w\s]")

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } table.meta td { padding: 0 1em 0 0; }
.grid { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr) minmax(0, 1fr); gap: 1em; }
.grid > div { min-width: 0; } img { max-width: 100%; border: 1px solid #ccc; }
pre { white-space: pre-wrap; word-wrap: break-word; background: #fafafa; border: 1px solid #ddd;
      padding: .6em; font: 13px/1.4 ui-monospace, monospace; }
.only-a { background: #ffd7d5; text-decoration: line-through; } .only-b { background: #ccf5d3; }
.legend span { padding: 0 .4em; margin-right: .6em; }
"""


@dataclass(frozen=True)
class DiffDocument:
    row_id: str
    file: Path
    disagreement: float
    a_name: str
    b_name: str
    a_text: str
    b_text: str
    facts: tuple[tuple[str, str], ...] = ()
    score_gap: float = 0.0


def disagreement(a: str, b: str) -> float:
    """How differently two outputs read the same page: NED of their normalised text (0 = the same)."""
    return normalized_edit_distance(normalize_for_ned(a), normalize_for_ned(b))


def tokens(text: str) -> tuple[str, list[str], list[str]]:
    """The text before the first token, the tokens, and the whitespace after each one.

    Whitespace is kept for display but not compared: a line break where the other has a space is layout,
    not a difference worth marking.
    """
    matches = list(_TOKEN.finditer(text))
    if not matches:
        return text, [], []
    ends = [m.start() for m in matches[1:]] + [len(text)]
    return (
        text[: matches[0].start()],
        [m.group(0) for m in matches],
        [text[m.end() : e] for m, e in zip(matches, ends, strict=True)],
    )


def _marked(words: list[str], gaps: list[str], css: str | None) -> str:
    """Tokens with their whitespace; the marked span covers the tokens, not the gap after the last."""
    if not words:
        return ""
    inner = "".join(html.escape(w + g) for w, g in zip(words[:-1], gaps[:-1], strict=True))
    inner += html.escape(words[-1])
    tail = html.escape(gaps[-1])
    return (f'<span class="{css}">{inner}</span>' if css else inner) + tail


def highlight(a: str, b: str) -> tuple[str, str]:
    """Both texts as escaped HTML, with what only A has and what only B has wrapped in marked spans."""
    lead_a, left, gaps_a = tokens(a)
    lead_b, right, gaps_b = tokens(b)
    out_a: list[str] = [html.escape(lead_a)]
    out_b: list[str] = [html.escape(lead_b)]
    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        same = op == "equal"
        out_a.append(_marked(left[i1:i2], gaps_a[i1:i2], None if same else "only-a"))
        out_b.append(_marked(right[j1:j2], gaps_b[j1:j2], None if same else "only-b"))
    return "".join(out_a), "".join(out_b)


def page_image_uri(path: Path, settings: InputSettings, max_px: int) -> str | None:
    """The document's first page as a JPEG data URI, its longer side at most ``max_px``."""
    from tierocr.inputs import open_document

    try:
        with open_document(path, settings) as loaded:
            for page in loaded.iter_pages():
                image = page.image.convert("RGB")
                image.thumbnail((max_px, max_px))
                buffer = io.BytesIO()
                image.save(buffer, format="JPEG", quality=80)
                return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    except Exception:  # a page that cannot be shown leaves the texts to compare, not a failed report
        return None
    return None


def render_page(doc: DiffDocument, image_uri: str | None) -> str:
    a_html, b_html = highlight(doc.a_text, doc.b_text)
    a, b = html.escape(doc.a_name), html.escape(doc.b_name)
    rows = [
        ("document", str(doc.file)),
        ("outputs differ (NED of A vs B)", f"{doc.disagreement:.3f}"),
        ("score gap", f"{doc.score_gap:.3f}"),
        *doc.facts,
    ]
    facts = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
    image = (
        f'<img alt="first page of {html.escape(doc.row_id)}" src="{image_uri}">'
        if image_uri
        else "<p>no image</p>"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(doc.row_id)}: {a} vs {b}</title>
<style>{_STYLE}</style></head>
<body>
<h1>{html.escape(doc.row_id)}: {a} vs {b}</h1>
<table class="meta">{facts}</table>
<p class="legend"><span class="only-a">only in {a}</span><span class="only-b">only in {b}</span></p>
<div class="grid">
<div><h2>Page</h2>{image}</div>
<div><h2>{a}</h2><pre dir="auto">{a_html}</pre></div>
<div><h2>{b}</h2><pre dir="auto">{b_html}</pre></div>
</div>
</body></html>
"""


def write_diffs(docs: list[DiffDocument], folder: Path, settings: InputSettings, max_px: int) -> list[Path]:
    """One page per document and an index linking them, most disagreeing first."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for doc in docs:
        path = folder / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', doc.row_id)}.html"
        path.write_text(render_page(doc, page_image_uri(doc.file, settings, max_px)), encoding="utf-8")
        written.append(path)
    if docs:
        items = "".join(
            f'<li><a href="{html.escape(p.name)}">{html.escape(d.row_id)}</a> '
            f"(text {d.disagreement:.3f}, score gap {d.score_gap:.3f})</li>"
            for d, p in zip(docs, written, strict=True)
        )
        title = f"{html.escape(docs[0].a_name)} vs {html.escape(docs[0].b_name)}: where they disagree most"
        (folder / "index.html").write_text(
            f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{_STYLE}</style></head><body><h1>{title}</h1><ol>{items}</ol></body></html>\n",
            encoding="utf-8",
        )
    return written
