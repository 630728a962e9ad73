"""`POST /api/render`: Markdown and RAG chunks of a Document JSON a client already holds.

A streamed parse arrives page by page; the client assembles the Document and asks here for the
document-level outputs (the whole Markdown, the chunks), so they come from the same renderers as every
other endpoint's instead of being imitated in JavaScript. Nothing is parsed again.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from tierocr.document import Document
from tierocr.server.deps import require_api_key
from tierocr.server.state import AppState, get_state

router = APIRouter(prefix="/api", tags=["documents"], dependencies=[Depends(require_api_key)])


@router.post("/render", summary="Markdown (whole and per block) and RAG chunks of a Document JSON")
async def render_document(
    document: Document, state: Annotated[AppState, Depends(get_state)]
) -> dict[str, Any]:
    return await run_in_threadpool(_render, document, state)


def _render(doc: Document, state: AppState) -> dict[str, Any]:
    from tierocr.render.chunks import chunk_document
    from tierocr.render.markdown import render_markdown, render_page_blocks

    settings = state.settings.render
    pages = []
    for page in doc.pages:
        parts = render_page_blocks(page, settings)
        pages.append(
            {
                "number": page.number,
                "markdown": "\n\n".join(part for part in parts if part),
                "block_markdown": parts,
            }
        )
    return {
        "source": doc.source,
        "markdown": render_markdown(doc, settings),
        "pages": pages,
        "chunks": [chunk.model_dump(mode="json") for chunk in chunk_document(doc, settings)],
    }
