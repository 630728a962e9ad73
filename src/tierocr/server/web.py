"""The review page: `/` and its static files, shipped inside the package so it works offline.

Plain HTML, CSS and JavaScript with KaTeX and marked vendored under ``tierocr/web/vendor`` (their licence
files beside them); no build step. The files hold no secrets, so they are served without the API key;
every call the page makes goes to the ordinary API and needs the key like any other client's.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB_ROOT = Path(str(files("tierocr") / "web"))

#: Scripts only from this server (no inline script, no CDN): OCR text shown on the page cannot run code
#: even if it slipped past the page's sanitiser. KaTeX lays formulas out with inline styles, and page
#: images arrive as data: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def install_web(app: FastAPI) -> None:
    index = WEB_ROOT / "index.html"

    @app.get("/", include_in_schema=False)
    async def review_page() -> FileResponse:
        return FileResponse(
            index,
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "Cache-Control": "no-cache",
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
            },
        )

    app.mount("/web", StaticFiles(directory=WEB_ROOT), name="web")
