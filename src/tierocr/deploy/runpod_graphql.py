"""RunPod's documented GraphQL API over httpx, with every failure sorted into final, sold-out or transient.

We call the API ourselves instead of through RunPod's SDK because the SDK imports paramiko (LGPL-2.1) and
tierocr keeps its import path permissive. The key travels in a Bearer header, which RunPod documents
next to the ``?api_key=`` parameter: a URL ends up in exception messages and proxy logs, a header does
not. Arguments are written into the operation as literals, the shape RunPod's own examples and SDK send,
but every string goes through JSON escaping (a subset of GraphQL's string syntax), so a quote in a pod
name or an environment value cannot change the operation.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from tierocr import __version__
from tierocr.errors import TierOcrError

API_KEY_ENV = "RUNPOD_API_KEY"
_SOLD_OUT = re.compile(
    r"no longer any instances|no instances (are )?available|not enough .* available|not enough free gpus",
    re.I,
)
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


class CloudError(TierOcrError):
    """A cloud call failed for good; the message says what to do."""


class InventoryError(CloudError):
    """The GPU type has no free machine right now."""


class TransientError(CloudError):
    """A connection error, a timeout, a 5xx or a garbled answer: worth another try."""


@dataclass(frozen=True)
class GqlEnum:
    """A GraphQL enum value (``cloudType: SECURE``), written bare where a string would be quoted."""

    name: str

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"not a GraphQL enum value: {self.name!r}")


def literal(value: Any) -> str:
    """``value`` as a GraphQL input literal; strings are escaped, so values cannot inject syntax."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, GqlEnum):
        return value.name
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"GraphQL has no literal for {value}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str) or not _NAME.fullmatch(key):
                raise ValueError(f"not a GraphQL field name: {key!r}")
        return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise TypeError(f"no GraphQL literal for {type(value).__name__}")


def operation(kind: str, field: str, args: dict[str, Any], selection: str = "") -> str:
    """``kind { field(input: {...}) selection }``: every RunPod call we make takes one ``input`` object."""
    tail = f" {selection}" if selection else ""
    return f"{kind} {{ {field}(input: {literal(args)}){tail} }}"


class GraphQLClient:
    """One API key and one endpoint; ``execute`` returns ``data`` or raises a CloudError.

    A connection per call: a command makes a handful of calls seconds apart, and nothing is left open
    for a caller to close.
    """

    def __init__(self, url: str, api_key: str, timeout_s: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CloudError(f"deploy.cloud_api_url {url!r} is not an http(s) URL")
        if not api_key.isprintable() or any(c.isspace() for c in api_key):
            # Said without echoing the key: a header with a newline would be refused, quoting it.
            raise CloudError(f"{API_KEY_ENV} contains spaces or control characters; export the bare key")
        self.url = url
        self.host = parts.netloc
        self.timeout_s = timeout_s
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
        self._headers = {"Authorization": f"Bearer {api_key}", "User-Agent": f"tierocr/{__version__}"}

    def execute(self, what: str, query: str) -> dict[str, Any]:
        try:
            with httpx.Client(timeout=self._timeout, headers=self._headers) as http:
                response = http.post(self.url, json={"query": query})
        except httpx.TimeoutException as exc:
            raise TransientError(
                f"{what}: no answer from {self.host} within {self.timeout_s:g} s ({type(exc).__name__})"
            ) from exc
        except httpx.TransportError as exc:
            raise TransientError(f"{what}: cannot reach {self.host}: {type(exc).__name__}: {exc}") from exc
        return _data(what, response)


def _data(what: str, response: httpx.Response) -> dict[str, Any]:
    status = response.status_code
    if status in (401, 403):
        raise CloudError(f"{what}: RunPod refused the API key ({API_KEY_ENV}; HTTP {status})")
    if status == 429 or status >= 500:
        raise TransientError(f"{what}: RunPod answered HTTP {status}")
    try:
        body = response.json()
    except ValueError as exc:
        kind = response.headers.get("content-type", "no content type")
        raise TransientError(f"{what}: HTTP {status} with a body that is not JSON ({kind})") from exc
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        messages = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
        message = "; ".join(messages)
        if _SOLD_OUT.search(message):
            raise InventoryError(f"{what}: {message}")
        raise CloudError(f"{what}: RunPod answered: {message}")
    if status >= 400:
        raise CloudError(f"{what}: RunPod answered HTTP {status}")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise TransientError(f"{what}: the answer has no data")
    return data
