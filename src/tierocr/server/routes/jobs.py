"""Async jobs: submit a large document, come back (or long-poll with `?wait=`) for its status and result."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from tierocr.config.vlm import Escalate
from tierocr.server.deps import check_pages, document_source, require_api_key
from tierocr.server.state import AppState, get_state

router = APIRouter(prefix="/api/jobs", tags=["jobs"], dependencies=[Depends(require_api_key)])


@router.post("", status_code=202, summary="Queue a document; answers the job id at once")
async def submit_job(
    state: Annotated[AppState, Depends(get_state)],
    file: Annotated[UploadFile | None, File()] = None,
    url: Annotated[str | None, Form()] = None,
    pages: Annotated[str | None, Form()] = None,
    enable_layout: Annotated[bool | None, Form()] = None,
    escalate: Annotated[Escalate | None, Form()] = None,
    format: Annotated[Literal["md", "json", "both"], Form()] = "both",
) -> JSONResponse:
    data, label, _ = await document_source(state, file, url)
    options = {
        "pages": check_pages(pages),
        "enable_layout": enable_layout,
        "escalate": escalate,
        "format": format,
    }
    record = await run_in_threadpool(state.store.create, data, label, options)
    state.runner.submit(record.id)
    state.metrics.jobs_submitted.inc()
    body = record.public(with_result=False) | {"links": {"self": f"/api/jobs/{record.id}"}}
    return JSONResponse(body, status_code=202, headers={"Location": f"/api/jobs/{record.id}"})


@router.get("/{job_id}", summary="A job's status, progress and (once done) result")
async def get_job(
    job_id: str,
    state: Annotated[AppState, Depends(get_state)],
    wait: Annotated[float, Query(ge=0, description="Block up to this many seconds for the job to end.")] = 0,
) -> dict[str, Any]:
    if wait > 0:
        timeout = min(wait, state.settings.server.job_wait_max_s)
        record = await state.wait_job(job_id, timeout)
    else:
        record = state.store.get(job_id)
    if record is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return record.public()


@router.delete("/{job_id}", summary="Cancel a queued or running job")
async def cancel_job(job_id: str, state: Annotated[AppState, Depends(get_state)]) -> dict[str, Any]:
    record = state.store.get(job_id)
    if record is None:
        raise HTTPException(404, f"no job {job_id!r}")
    if not state.runner.cancel(job_id):
        raise HTTPException(409, f"job {job_id} already ended: {record.status}")
    latest = state.store.get(job_id)
    assert latest is not None
    return latest.public(with_result=False)


@router.get("", summary="Recent jobs, newest first, without their results")
async def list_jobs(
    state: Annotated[AppState, Depends(get_state)],
    limit: Annotated[int, Query(ge=1, le=200, description="How many jobs to list.")] = 20,
) -> dict[str, Any]:
    records = await run_in_threadpool(state.store.recent, limit)
    return {"jobs": [r.public(with_result=False) | {"links": {"self": f"/api/jobs/{r.id}"}} for r in records]}
