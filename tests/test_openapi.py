"""The OpenAPI document is a YAML file that agrees with the domain, and the API tests'
response check (``staff_helpers.check_response``) really refuses what breaks it."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from bot.domain import CONCERNS, MAX_STAFF_TEXT, OUTCOMES, REPLY_VIA, ROLES, STATUSES, URGENCIES
from bot.web.staff.openapi import DOCUMENT, openapi_document
from tests.staff_helpers import UndocumentedResponse, check_response

QUEUE_ITEM = {
    "code": "ACD-EFG",
    "team_id": "laholm",
    "language": "sv",
    "status": "open",
    "urgency": "soon",
    "topic": "worry",
    "concerns": "adult",
    "reply_via": "chat",
    "created_at": "2026-12-01T10:00:00+00:00",
    "waiting_seconds": 60,
    "claimed_by": None,
}
QUEUE = {"items": [QUEUE_ITEM], "waiting": 1, "urgent_waiting": 0, "version": "v1"}


def _properties(node: Any, name: str) -> list[Any]:
    """Every schema the document gives a property called ``name``."""
    found: list[Any] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict) and name in value:
                found.append(value[name])
            found.extend(_properties(value, name))
    elif isinstance(node, list):
        for value in node:
            found.extend(_properties(value, name))
    return found


def test_the_document_is_the_yaml_file_beside_the_api() -> None:
    assert DOCUMENT.name == "openapi.yaml" and DOCUMENT.is_file()
    validate(openapi_document())


@pytest.mark.parametrize(
    ("field", "vocabulary"),
    [
        ("role", ROLES),
        ("status", STATUSES),
        ("urgency", URGENCIES),
        ("concerns", CONCERNS),
        ("reply_via", REPLY_VIA),
        ("outcome", OUTCOMES),
    ],
)
def test_enums_are_the_domain_vocabularies(field: str, vocabulary: tuple[str, ...]) -> None:
    schemas = _properties(openapi_document(), field)
    assert schemas, f"no {field} in the document"
    for schema in schemas:
        assert [v for v in schema["enum"] if v is not None] == list(vocabulary)


def test_text_limits_are_the_domain_limit() -> None:
    texts = _properties(openapi_document()["components"], "text")
    assert texts and all(t["maxLength"] == MAX_STAFF_TEXT for t in texts)


def test_the_check_accepts_a_documented_response() -> None:
    check_response("GET", "/api/v1/queue", 200, "application/json", QUEUE)
    check_response("POST", "/api/v1/cases/ACD-EFG/release", 204, "", None)


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "why"),
    [
        ("GET", "/api/v1/queue", 200, {**QUEUE, "items": "none"}, "items"),
        ("GET", "/api/v1/queue", 200, {**QUEUE, "items": [{**QUEUE_ITEM, "status": 1}]}, "status"),
        ("GET", "/api/v1/queue", 418, {"error": "teapot", "message": "x"}, "418"),
        ("GET", "/api/v1/cases/ACD-EFG", 404, {"message": "no error field"}, "error"),
        ("POST", "/api/v1/cases/ACD-EFG/release", 204, {"unexpected": "body"}, "no body"),
        ("GET", "/api/v1/nowhere", 200, {}, "not in the OpenAPI document"),
    ],
)
def test_the_check_refuses_a_response_that_breaks_the_document(
    method: str, path: str, status: int, body: Any, why: str
) -> None:
    with pytest.raises(UndocumentedResponse, match=why):
        check_response(method, path, status, "application/json", body)
