"""Our RunPod GraphQL layer: literals that cannot inject syntax, and answers sorted into the right errors."""

from __future__ import annotations

import json

import httpx
import pytest

from tierocr.deploy.runpod_graphql import (
    CloudError,
    GqlEnum,
    GraphQLClient,
    InventoryError,
    TransientError,
    _data,
    literal,
    operation,
)


def test_string_literals_are_escaped_and_read_back_unchanged() -> None:
    tricky = 'a"b\\c\nd\te\u00e9\U0001f600 }) { id }'
    text = literal(tricky)
    assert text.startswith('"') and text.endswith('"') and "\n" not in text
    assert json.loads(text) == tricky


def test_objects_lists_enums_and_scalars() -> None:
    args = {"podId": "p1", "gpuCount": 1, "cloudType": GqlEnum("SECURE"), "ssh": False, "dc": None}
    args["env"] = [{"key": "K", "value": "v"}]
    assert literal(args) == (
        '{podId: "p1", gpuCount: 1, cloudType: SECURE, ssh: false, dc: null, env: [{key: "K", value: "v"}]}'
    )
    assert operation("mutation", "podTerminate", {"podId": "p1"}) == (
        'mutation { podTerminate(input: {podId: "p1"}) }'
    )


@pytest.mark.parametrize(
    "bad", [{"bad key": 1}, {"k": float("nan")}, {"k": object()}, {"k": {1: "x"}}], ids=str
)
def test_values_without_a_safe_literal_are_refused(bad: dict[object, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        literal(bad)
    with pytest.raises(ValueError):
        GqlEnum("SECURE } mutation {")


def _answer(status: int, body: bytes, ctype: str = "application/json") -> httpx.Response:
    return httpx.Response(status, content=body, headers={"content-type": ctype})


@pytest.mark.parametrize(
    ("status", "body", "ctype", "error", "words"),
    [
        (503, b"<html>busy</html>", "text/html", TransientError, "HTTP 503"),
        (429, b"{}", "application/json", TransientError, "HTTP 429"),
        (200, b"<html>oops</html>", "text/html", TransientError, "not JSON (text/html)"),
        (200, b'{"data": null}', "application/json", TransientError, "no data"),
        (401, b"{}", "application/json", CloudError, "refused the API key"),
        (
            200,
            b'{"errors": [{"message": "There are no longer any instances available"}]}',
            "application/json",
            InventoryError,
            "no longer any instances",
        ),
        (
            400,
            b'{"errors": [{"message": "Cannot query field \\"x\\""}]}',
            "application/json",
            CloudError,
            "RunPod answered: Cannot query field",
        ),
    ],
)
def test_answers_are_sorted_into_errors(
    status: int, body: bytes, ctype: str, error: type[CloudError], words: str
) -> None:
    with pytest.raises(CloudError) as caught:
        _data("status of pod p1", _answer(status, body, ctype))
    assert type(caught.value) is error and words in str(caught.value)
    assert str(caught.value).startswith("status of pod p1: ")


def test_data_is_returned() -> None:
    assert _data("x", _answer(200, b'{"data": {"pod": {"id": "p1"}}}')) == {"pod": {"id": "p1"}}


def test_a_bad_endpoint_is_refused() -> None:
    with pytest.raises(CloudError, match="not an http"):
        GraphQLClient("ftp://example.org/graphql", "k", 5.0)


def test_a_key_with_spaces_is_refused_without_echoing_it() -> None:
    with pytest.raises(CloudError, match="RUNPOD_API_KEY contains spaces") as caught:
        GraphQLClient("https://api.example.org/graphql", "sec\nret-key", 5.0)
    assert "ret-key" not in str(caught.value)
