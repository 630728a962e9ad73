"""The search index over HTTP: `POST /api/index` stores a document, `GET /api/search` queries it.

The index (and its embedding model) opens on first use, once per app, off the event loop; it is kept on
the app's state beside the rest of the app's objects rather than in a module global. The index modules
are imported there too, so a server installed without the index extra still starts (and answers 503).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from tierocr.document import Document
from tierocr.server.deps import check_pages, document_source, require_api_key
from tierocr.server.state import AppState, get_state
from tierocr.server.work import RunOptions

router = APIRouter(prefix="/api", tags=["search"], dependencies=[Depends(require_api_key)])

Mode = Literal["keyword", "vector", "hybrid"]
Escalate = Literal["auto", "never", "always"]


async def get_index(request: Request, state: Annotated[AppState, Depends(get_state)]) -> Any:
    """The app's SearchIndex, opened by the first request that needs it (the others await the same)."""
    try:
        from tierocr.index.embed import EmbeddingError
        from tierocr.index.service import SearchIndex
        from tierocr.index.store import IndexStoreError
    except ImportError as exc:
        raise HTTPException(503, f"this server is installed without the index extra: {exc}") from exc
    app_state = request.app.state
    opening: asyncio.Future[Any] | None = getattr(app_state, "tierocr_index", None)
    if opening is None:
        opening = asyncio.ensure_future(run_in_threadpool(SearchIndex, state.settings))
        app_state.tierocr_index = opening
    try:
        return await asyncio.shield(opening)
    except (EmbeddingError, IndexStoreError) as exc:
        app_state.tierocr_index = None  # a later request tries again (the database may be back)
        raise HTTPException(503, f"the search index is not available: {exc}") from exc


Index = Annotated[Any, Depends(get_index)]


def _result(result: Any) -> dict[str, Any]:
    return {
        "doc_id": result.doc_id,
        "status": result.status,
        "chunks": result.chunks,
        "embedded": result.embedded,
        "pages": result.pages,
    }


def _is_json(file: UploadFile | None) -> bool:
    if file is None:
        return False
    return (file.content_type or "").split(";")[0].strip() == "application/json" or (
        file.filename or ""
    ).lower().endswith(".json")


@router.post("/index", summary="Parse a document (or take its Document JSON) and store its chunks")
async def index_document(
    state: Annotated[AppState, Depends(get_state)],
    index: Index,
    file: Annotated[UploadFile | None, File(description="A PDF or image, or Document JSON.")] = None,
    url: Annotated[str | None, Form(description="Fetch the document from here instead.")] = None,
    doc_id: Annotated[str | None, Form(description="Id in the index (default: the file's name).")] = None,
    pages: Annotated[str | None, Form(description="Parse only these pages; they replace theirs.")] = None,
    enable_layout: Annotated[bool | None, Form()] = None,
    escalate: Annotated[Escalate | None, Form()] = None,
) -> dict[str, Any]:
    if _is_json(file):
        assert file is not None
        data = await file.read()
        try:
            doc = Document.from_json(data)
        except ValueError as exc:
            raise HTTPException(422, f"{file.filename}: not a tierocr Document JSON") from exc
        return _result(await run_in_threadpool(index.index_document, doc, doc_id=doc_id))
    from tierocr.index.service import IndexResult, source_hash

    raw, label, _ = await document_source(state, file, url)
    pages = check_pages(pages)
    key = doc_id or label
    digest = source_hash(raw, state.settings)
    stored = await run_in_threadpool(index.store.document, key)
    if stored is not None and stored.source_hash == digest and pages is None:
        return _result(IndexResult(key, "unchanged", stored.chunks, pages=stored.page_count))
    cancel = threading.Event()
    settings = state.settings

    def parse() -> Document:
        return state.parse(
            raw,
            name=label,
            pages=pages,
            options=RunOptions(escalate=escalate, enable_layout=enable_layout),
            cancel=cancel,
            max_pages=settings.server.max_pages,
        )

    doc = await state.run_blocking(parse, cancel, settings.server.request_timeout_s)
    result = await run_in_threadpool(
        index.index_document, doc, doc_id=key, source_digest=None if pages else digest
    )
    return _result(result)


@router.get("/search", summary="Keyword, vector or hybrid search over the indexed chunks")
async def search(
    index: Index,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="The query.")],
    k: Annotated[int | None, Query(ge=1, le=1000, description="Hits to return.")] = None,
    mode: Annotated[Mode | None, Query(description="Default: index.search_mode.")] = None,
) -> dict[str, Any]:
    hits = await run_in_threadpool(index.search, q, mode=mode, k=k)
    return {
        "query": q,
        "mode": mode or index.settings.index.search_mode,
        "hits": [hit.model_dump() for hit in hits],
    }


@router.get("/index", summary="The indexed documents")
async def list_documents(index: Index) -> dict[str, Any]:
    docs = await run_in_threadpool(index.documents)
    return {
        "documents": [
            {"doc_id": d.doc_id, "source": d.source, "pages": d.page_count, "chunks": d.chunks} for d in docs
        ]
    }


@router.delete("/index/{doc_id:path}", summary="Remove a document and its chunks from the index")
async def delete_document(doc_id: str, index: Index) -> dict[str, Any]:
    if not await run_in_threadpool(index.delete, doc_id):
        raise HTTPException(404, f"{doc_id!r} is not in the index")
    return {"doc_id": doc_id, "deleted": True}
