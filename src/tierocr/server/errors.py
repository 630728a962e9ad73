"""One place that turns tierocr's errors into HTTP answers, each with the reason a client can act on."""

from __future__ import annotations

import errno

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tierocr.errors import EngineUnavailableError, InputError
from tierocr.jobs.datadir import StorageError
from tierocr.server.fetch import FetchError
from tierocr.server.limits import BadInputError, UnsupportedMediaError
from tierocr.server.work import LimitExceededError, PageRangeError


class ServiceUnavailableError(Exception):
    """A tier the request needs is not configured or not reachable (503)."""


class UnprocessableError(Exception):
    """The request was understood but its output cannot be made to fit (422)."""


def input_error_status(exc: InputError) -> int:
    """Status for an input the reader refused: the reason's wording tells the kind of refusal."""
    reason = exc.reason.lower()
    if "unsupported" in reason:
        return 415
    if "over the limit" in reason or "pixels" in reason or "too large" in reason or "bomb" in reason:
        return 413
    return 422


def _json(status: int, detail: str, **extra: object) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    async def on_input(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InputError)
        return _json(input_error_status(exc), str(exc), source=exc.source, reason=exc.reason)

    async def on_fetch(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, FetchError)
        return _json(exc.status, str(exc), url=exc.url, reason=exc.reason)

    def fixed(status: int):
        async def handler(_: Request, exc: Exception) -> JSONResponse:
            return _json(status, str(exc))

        return handler

    async def on_storage(_: Request, exc: Exception) -> JSONResponse:
        return _json(507, str(exc))

    async def on_os_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OSError)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # e.g. spooling an upload to a full /tmp
            return _json(507, f"insufficient storage: {exc.strerror}")
        raise exc

    app.add_exception_handler(InputError, on_input)
    app.add_exception_handler(StorageError, on_storage)
    app.add_exception_handler(OSError, on_os_error)
    app.add_exception_handler(FetchError, on_fetch)
    app.add_exception_handler(LimitExceededError, fixed(413))
    app.add_exception_handler(UnsupportedMediaError, fixed(415))
    app.add_exception_handler(BadInputError, fixed(422))
    app.add_exception_handler(PageRangeError, fixed(422))
    app.add_exception_handler(UnprocessableError, fixed(422))
    app.add_exception_handler(EngineUnavailableError, fixed(503))
    app.add_exception_handler(ServiceUnavailableError, fixed(503))
    from tierocr.gpu.lease import LeaseError  # the GPU lease was not free in time (vlm.use_lease)

    app.add_exception_handler(LeaseError, fixed(503))
    try:
        from tierocr.engines.vlm import VlmError
    except ImportError:  # a build without the VLM client has no VLM errors to map
        return

    async def on_vlm(_: Request, exc: Exception) -> JSONResponse:
        return _json(502, f"the vision-language model failed: {exc}")

    app.add_exception_handler(VlmError, on_vlm)
