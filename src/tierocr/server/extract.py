"""`/api/ocr/extract`: the fields a client asked for, typed and validated, or a 422 that names what failed.

The schema is either a JSON Schema object (``{"type": "object", "properties": {...}}``) or a template
whose keys are the fields and whose values show the type (``{"total": 0, "date": ""}`` or
``{"total": "number"}``). With a VLM configured, the model fills the template; without one, a
key/value search over the classical OCR text finds ``Label: value`` lines (the label is the field name,
underscores as spaces, matched loosely). Either way the output is validated against the schema and
carries exactly the requested fields.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError, create_model

_TYPES: dict[str, type] = {"string": str, "number": float, "integer": int, "boolean": bool}
_SEP = re.compile(r"^\s*[:=\-–—]?\s*")
_NUMBER = re.compile(r"-?\d(?:[\d.,  ']*\d)?")
_TRUE = {"yes", "y", "true", "x", "✓", "checked", "1"}
_FALSE = {"no", "n", "false", "unchecked", "0"}
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .-]{0,63}$")


class SchemaError(ValueError):
    """The schema itself is unusable (422 before any OCR runs)."""


class ExtractError(ValueError):
    """The document's content cannot be made to fit the schema."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: str
    required: bool


def parse_schema(raw: str, max_fields: int) -> list[FieldSpec]:
    try:
        schema = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"schema is not valid JSON: {exc}") from exc
    if not isinstance(schema, dict) or not schema:
        raise SchemaError("schema must be a non-empty JSON object of the fields wanted")
    if schema.get("type") == "object" and isinstance(schema.get("properties"), dict):
        props: dict[str, Any] = schema["properties"]
        required = set(schema.get("required", props))
        specs = [FieldSpec(k, _json_schema_type(k, v), k in required) for k, v in props.items()]
    else:
        specs = [FieldSpec(k, _template_type(k, v), True) for k, v in schema.items()]
    if not specs:
        raise SchemaError("schema names no fields")
    if len(specs) > max_fields:
        raise SchemaError(f"schema asks for {len(specs)} fields, over this server's limit of {max_fields}")
    for spec in specs:
        if not _FIELD_NAME.match(spec.name):
            raise SchemaError(f"field name {spec.name!r} is not a plain identifier")
    return specs


def _json_schema_type(name: str, prop: Any) -> str:
    kind = prop.get("type", "string") if isinstance(prop, dict) else "string"
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind not in _TYPES:
        raise SchemaError(
            f"field {name!r}: type {kind!r} is not supported (string, number, integer, boolean)"
        )
    return kind


def _template_type(name: str, example: Any) -> str:
    if isinstance(example, str):
        return example if example in _TYPES else "string"
    if isinstance(example, bool):
        return "boolean"
    if isinstance(example, int):
        return "integer"
    if isinstance(example, float):
        return "number"
    if example is None:
        return "string"
    raise SchemaError(f"field {name!r}: nested values are not supported; give a flat object")


def template(specs: list[FieldSpec]) -> dict[str, Any]:
    """The object shown to a VLM: each field with its type name."""
    return {s.name: s.type for s in specs}


def validate(specs: list[FieldSpec], values: dict[str, Any]) -> dict[str, Any]:
    """Exactly the requested fields, coerced to their types; ExtractError lists every field that failed."""
    fields: dict[str, Any] = {}
    for s in specs:
        kind: Any = _TYPES[s.type]
        fields[s.name] = (kind, ...) if s.required else (kind | None, None)
    model = create_model("Extracted", **fields)
    cleaned = {s.name: _coerce(s, values.get(s.name)) for s in specs if values.get(s.name) not in (None, "")}
    try:
        return model.model_validate(cleaned).model_dump()
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ExtractError("the output does not fit the schema: " + "; ".join(problems)) from exc


def _coerce(spec: FieldSpec, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    value = value.strip()
    if spec.type in ("number", "integer"):
        match = _NUMBER.search(value)
        return _number_text(match.group(0)) if match else value
    if spec.type == "boolean":
        low = value.lower()
        return True if low in _TRUE else False if low in _FALSE else value
    return value


def _label(name: str) -> str:
    """``invoiceNumber`` / ``invoice_number`` -> ``invoice number``."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("_", " ").replace("-", " ").lower().strip()


def _number_text(raw: str) -> str:
    """``1,234.50``, ``1.234,50`` and ``1 234,5`` -> ``1234.50`` / ``1234.5``: the last separator is the
    decimal one when both kinds appear; a lone comma is decimal unless three digits follow it."""
    digits = re.sub(r"[  ']", "", raw)
    if "," in digits and "." in digits:
        decimal = "," if digits.rfind(",") > digits.rfind(".") else "."
    elif digits.count(",") == 1 and len(digits.rsplit(",", 1)[1]) != 3:
        decimal = ","
    elif digits.count(".") == 1:
        decimal = "."
    else:
        decimal = ""
    whole, _, fraction = digits.rpartition(decimal) if decimal else (digits, "", "")
    whole = re.sub(r"[.,]", "", whole)
    return f"{whole}.{fraction}" if decimal else whole


def search_fields(specs: list[FieldSpec], text: str) -> dict[str, Any]:
    """Find each field's value in OCR text: ``Label: value``, even when OCR joined several pairs in a line.

    A value runs to the end of its line or to the next ``Key:``, where a key is another field's label
    or one capitalised word. Labels that OCR misspelt are matched loosely, line by line, as a fallback.
    """
    labels = {s.name: r"[\s_-]+".join(map(re.escape, _label(s.name).split())) for s in specs}
    keys = "|".join(f"(?i:{pattern})" for pattern in labels.values())
    stop = re.compile(rf"\s+(?=(?:{keys}|[A-Z][\w./-]*)\s*[:=])")
    found: dict[str, Any] = {}
    for spec in specs:
        match = re.search(rf"(?<!\w)(?i:{labels[spec.name]})\s*[:=][ \t]*", text)
        if match is None:
            continue
        rest = text[match.end() :].split("\n", 1)[0]
        cut = stop.search(rest)
        value = (rest[: cut.start()] if cut else rest).strip()
        if value:
            found[spec.name] = value
    missing = [s for s in specs if s.name not in found]
    return found | _fuzzy_lines(missing, text) if missing else found


def _fuzzy_lines(specs: list[FieldSpec], text: str) -> dict[str, Any]:
    from rapidfuzz import fuzz

    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    found: dict[str, Any] = {}
    for spec in specs:
        label = _label(spec.name)
        for i, line in enumerate(lines):
            head, sep, tail = line.partition(":")
            if not sep or fuzz.ratio(head.strip().lower(), label) < 85:
                continue
            value = tail.strip() or (lines[i + 1] if i + 1 < len(lines) else "")
            if value:
                found[spec.name] = value
                break
    return found
