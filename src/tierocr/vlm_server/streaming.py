"""Server-sent events in OpenAI's shape: a role chunk, content deltas, a finish chunk, then `[DONE]`.

Errors after the stream has begun cannot change the status code any more, so they travel as an
`{"error": ...}` event followed by `[DONE]`, which OpenAI's own clients raise as an API error.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse

from tierocr.vlm_server.batcher import Job
from tierocr.vlm_server.protocol import ApiError, Usage, chunk


def _sse(events: AsyncIterator[str]) -> EventSourceResponse:
    return EventSourceResponse(events, sep="\n", headers={"Cache-Control": "no-cache"})


def stream_response(job: Job, cid: str, model: str, created: int, include_usage: bool) -> EventSourceResponse:
    async def events() -> AsyncIterator[str]:
        pieces = job.pieces
        if pieces is None:
            raise RuntimeError("stream_response needs a job submitted with stream=True")
        try:
            yield json.dumps(chunk(cid, model, created, delta={"role": "assistant", "content": ""}))
            # Bounded: the batcher puts at most one piece per generated token, then one None.
            while (piece := await pieces.get()) is not None:
                yield json.dumps(chunk(cid, model, created, delta={"content": piece}))
            try:
                result = job.future.result()
            except ApiError as exc:
                yield json.dumps(exc.body())
            else:
                yield json.dumps(chunk(cid, model, created, delta={}, finish_reason=result.finish_reason))
                if include_usage:
                    usage = Usage(
                        prompt_tokens=result.prompt_tokens,
                        completion_tokens=result.completion_tokens,
                        total_tokens=result.prompt_tokens + result.completion_tokens,
                    )
                    yield json.dumps(
                        {**chunk(cid, model, created, delta={}), "choices": [], "usage": usage.model_dump()}
                    )
            yield "[DONE]"
        finally:
            # A client that hung up stops its row at the next token; the rest of the batch goes on.
            if not job.future.done():
                job.request.cancelled.set()

    return _sse(events())


def whole_answer_stream(
    text: str, finish_reason: str, usage: Usage, cid: str, model: str, created: int, include_usage: bool
) -> EventSourceResponse:
    async def events() -> AsyncIterator[str]:
        yield json.dumps(chunk(cid, model, created, delta={"role": "assistant", "content": text}))
        yield json.dumps(chunk(cid, model, created, delta={}, finish_reason=finish_reason))
        if include_usage:
            yield json.dumps(
                {**chunk(cid, model, created, delta={}), "choices": [], "usage": usage.model_dump()}
            )
        yield "[DONE]"

    return _sse(events())
