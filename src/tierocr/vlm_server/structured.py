"""Structured extraction: the answer must be JSON that fits a schema, or the client gets a clear error.

A small OCR model's JSON is often wrapped in a code fence or followed by chatter, so the first JSON value
in the answer is taken; whatever is returned to the client is exactly that value, re-serialised, so a
client can `json.loads` the message content without cleaning it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from tierocr.vlm_server.protocol import ApiError, ChatCompletionRequest

_MONEY = {"type": ["number", "string", "null"]}
_LINE_ITEMS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "description": {"type": "string"},
            "quantity": _MONEY,
            "unit_price": _MONEY,
            "amount": _MONEY,
        },
        "required": ["description"],
    },
}

BUILTIN_SCHEMAS: Mapping[str, dict[str, Any]] = MappingProxyType(
    {
        "receipt": {
            "type": "object",
            "properties": {
                "merchant": {"type": ["string", "null"]},
                "date": {"type": ["string", "null"]},
                "items": _LINE_ITEMS,
                "subtotal": _MONEY,
                "tax": _MONEY,
                "total": _MONEY,
                "currency": {"type": ["string", "null"]},
            },
            "required": ["total"],
        },
        "invoice": {
            "type": "object",
            "properties": {
                "invoice_number": {"type": ["string", "null"]},
                "date": {"type": ["string", "null"]},
                "due_date": {"type": ["string", "null"]},
                "seller": {"type": ["string", "null"]},
                "buyer": {"type": ["string", "null"]},
                "items": _LINE_ITEMS,
                "subtotal": _MONEY,
                "tax": _MONEY,
                "total": _MONEY,
                "currency": {"type": ["string", "null"]},
            },
            "required": ["total"],
        },
        "table": {
            "type": "object",
            "properties": {
                "header": {"type": "array", "items": {"type": "string"}},
                "rows": {
                    "type": "array",
                    "items": {"type": "array", "items": {"type": ["string", "number", "null"]}},
                },
            },
            "required": ["rows"],
        },
        "form": {
            "type": "object",
            "properties": {
                "fields": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"key": {"type": "string"}, "value": {"type": ["string", "null"]}},
                        "required": ["key", "value"],
                    },
                }
            },
            "required": ["fields"],
        },
    }
)


@dataclass(frozen=True)
class StructuredSpec:
    """What the answer must fit: a schema (None for any JSON object) and a name for error messages."""

    name: str
    schema: dict[str, Any] | None


def spec_for(request: ChatCompletionRequest) -> StructuredSpec | None:
    """The request's structured mode, if any: `response_format` first, then a built-in `task`."""
    fmt = request.response_format
    if fmt is not None and fmt.type == "json_schema":
        spec = fmt.json_schema
        if spec is None:
            raise ApiError(
                400, "response_format json_schema needs a json_schema object", param="response_format"
            )
        schema = spec.schema_ if spec.schema_ is not None else BUILTIN_SCHEMAS.get(spec.name)
        if schema is None:
            raise ApiError(400, f"json_schema {spec.name!r} has no schema", param="response_format")
        _check_schema(schema)
        return StructuredSpec(spec.name, schema)
    if fmt is not None and fmt.type == "json_object":
        return StructuredSpec("json_object", {"type": "object"})
    if request.task in BUILTIN_SCHEMAS:
        return StructuredSpec(request.task, BUILTIN_SCHEMAS[request.task])
    return None


def _check_schema(schema: dict[str, Any]) -> None:
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ApiError(400, f"invalid JSON schema: {exc.message}", param="response_format") from exc


def first_json_value(text: str) -> Any:
    """The first JSON object or array in `text`, skipping code fences and any words around it."""
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                value, _ = decoder.raw_decode(text, i)
            except json.JSONDecodeError:
                continue
            return value
    raise ValueError("the answer contains no JSON object")


def validate_answer(text: str, spec: StructuredSpec) -> str:
    """The answer's JSON, re-serialised, if it fits; otherwise a 422 naming what did not fit."""
    import jsonschema

    try:
        value = first_json_value(text)
    except ValueError as exc:
        raise _unfit(spec, str(exc), text) from exc
    if spec.schema is not None:
        validator = jsonschema.validators.validator_for(spec.schema)(spec.schema)
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
            raise _unfit(spec, f"{where}: {errors[0].message}", text)
    return json.dumps(value, ensure_ascii=False)


def _unfit(spec: StructuredSpec, reason: str, text: str) -> ApiError:
    preview = text if len(text) <= 200 else text[:200] + "…"
    return ApiError(
        422,
        f"the model's answer does not fit the {spec.name} schema: {reason}; answer was {preview!r}",
        type_="invalid_response_error",
        code="schema_validation_failed",
        param="response_format",
    )
