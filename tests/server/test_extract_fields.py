"""The extract endpoint's schema parsing, key/value search and validation, without a server."""

from __future__ import annotations

import pytest

from tierocr.server.extract import ExtractError, SchemaError, parse_schema, search_fields, validate


def test_template_and_json_schema_give_the_same_fields() -> None:
    template = parse_schema('{"total": 0.0, "count": 1, "paid": false, "name": ""}', 10)
    schema = parse_schema(
        '{"type": "object", "properties": {"total": {"type": "number"}, "count": {"type": "integer"},'
        ' "paid": {"type": "boolean"}, "name": {"type": ["string", "null"]}}}',
        10,
    )
    assert [(f.name, f.type) for f in template] == [(f.name, f.type) for f in schema]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[1, 2]", "non-empty JSON object"),
        ("{}", "non-empty JSON object"),
        ('{"a": [1]}', "nested"),
        ('{"type": "object", "properties": {"a": {"type": "array"}}}', "not supported"),
        ('{"../../x": ""}', "plain identifier"),
        ('{"a": "", "b": "", "c": ""}', "limit of 2"),
    ],
)
def test_unusable_schemas(raw: str, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        parse_schema(raw, 2)


def test_pairs_that_ocr_joined_into_one_line() -> None:
    specs = parse_schema('{"invoice_number": "", "date": "", "total": 0.0, "customer": ""}', 10)
    text = "Invoice number: INV-0042 Date: 2024-03-01 Total: 1.234,50 EUR\nCustomer: Smith John Phone: 123"
    assert validate(specs, search_fields(specs, text)) == {
        "invoice_number": "INV-0042",
        "date": "2024-03-01",
        "total": 1234.5,
        "customer": "Smith John",
    }


def test_misspelt_label_and_value_on_the_next_line() -> None:
    specs = parse_schema('{"invoiceNumber": ""}', 5)
    assert search_fields(specs, "Invoce Numbr:\nINV-7") == {"invoiceNumber": "INV-7"}


def test_optional_fields_may_be_missing_required_may_not() -> None:
    props = '"a": {"type": "string"}, "b": {"type": "integer"}'
    specs = parse_schema('{"type": "object", "properties": {' + props + '}, "required": ["a"]}', 5)
    assert validate(specs, {"a": "x", "extra": "dropped"}) == {"a": "x", "b": None}
    with pytest.raises(ExtractError, match="a: Field required"):
        validate(specs, {"b": "3"})
    with pytest.raises(ExtractError, match="b: "):
        validate(specs, {"a": "x", "b": "three"})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,234.50", 1234.5),
        ("1.234,50", 1234.5),
        ("1 234,5", 1234.5),
        ("12,5 %", 12.5),
        ("EUR 7", 7.0),
        ("1,234", 1234.0),
        ("-3.25", -3.25),
    ],
)
def test_number_formats(text: str, value: float) -> None:
    assert validate(parse_schema('{"x": 0.0}', 1), {"x": text}) == {"x": value}
