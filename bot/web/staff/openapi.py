"""The OpenAPI 3.1 document of the staff JSON API, served at /api/openapi.json.

Written out by hand (not generated from the routes), so the test that compares
it with the router catches an endpoint added or removed on one side only.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from bot.domain import CONCERNS, MAX_STAFF_TEXT, OUTCOMES, REPLY_VIA, ROLES, STATUSES, URGENCIES


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    words = {
        400: "Bad input (missing, invalid or too long field); nothing was changed.",
        401: "Not signed in, or the token expired.",
        403: "Not allowed (another team's request, not an admin, or no CSRF header).",
        404: "No request with that case code.",
        409: "The request is not in a state that allows this (closed, claimed by someone else).",
        429: "Too many failed sign-ins; wait Retry-After seconds.",
    }
    return {str(c): _json(_ref("Error"), words[c]) for c in codes}


CODE_PARAM = {
    "name": "code",
    "in": "path",
    "required": True,
    "description": "The case code, XXX-XXX.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{3}-[A-Za-z0-9]{3}$"},
}


def _case_action(summary: str, ok: dict[str, Any], body: str | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "tags": ["cases"],
        "parameters": [CODE_PARAM],
        "responses": {**ok, **_errors(400, 401, 403, 404, 409)},
    }
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return op


NO_CONTENT = {"204": {"description": "Done."}}
_DAY = {"type": "string", "format": "date"}
STATS_PARAMS = [
    {
        "name": "period",
        "in": "query",
        "required": False,
        "description": "Calendar period containing `date`, or `custom` with `from` and `to`.",
        "schema": {"enum": ["week", "month", "quarter", "year", "custom"], "default": "month"},
    },
    {
        "name": "date",
        "in": "query",
        "required": False,
        "description": "A day in the period (default today).",
        "schema": _DAY,
    },
    {"name": "from", "in": "query", "required": False, "schema": _DAY},
    {
        "name": "to",
        "in": "query",
        "required": False,
        "description": "At most two years after `from`.",
        "schema": _DAY,
    },
    {
        "name": "team",
        "in": "query",
        "required": False,
        "description": "One of my teams; omitted: all my teams.",
        "schema": {"type": "string"},
    },
]


@cache
def openapi_document() -> dict[str, Any]:
    text = {"type": "string", "minLength": 1, "maxLength": MAX_STAFF_TEXT}
    when = {"type": "string", "format": "date-time"}
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
        },
        "SignIn": {
            "type": "object",
            "required": ["username", "password"],
            "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
        },
        "StaffUser": {
            "type": "object",
            "required": ["id", "username", "role", "teams"],
            "properties": {
                "id": {"type": "integer"},
                "username": {"type": "string"},
                "role": {"enum": list(ROLES)},
                "teams": {"type": "array", "items": {"type": "string"}},
                "display_name": {"type": ["string", "null"]},
            },
        },
        "SignedIn": {
            "type": "object",
            "required": ["token", "token_type", "expires_at", "csrf_token", "user"],
            "properties": {
                "token": {"type": "string", "description": "Send as `Authorization: Bearer`."},
                "token_type": {"const": "Bearer"},
                "expires_at": when,
                "csrf_token": {"type": "string", "description": "For cookie sessions."},
                "user": _ref("StaffUser"),
            },
        },
        "Me": {
            "type": "object",
            "required": ["user", "csrf_token"],
            "properties": {"user": _ref("StaffUser"), "csrf_token": {"type": "string"}},
        },
        "QueueItem": {
            "type": "object",
            "required": [
                "code",
                "team_id",
                "status",
                "urgency",
                "language",
                "topic",
                "concerns",
                "reply_via",
                "created_at",
                "waiting_seconds",
                "claimed_by",
            ],
            "properties": {
                "code": {"type": "string"},
                "team_id": {"type": "string"},
                "status": {"enum": list(STATUSES)},
                "urgency": {"enum": list(URGENCIES)},
                "language": {"type": "string"},
                "topic": {"type": "string"},
                "concerns": {"enum": list(CONCERNS)},
                "reply_via": {"enum": list(REPLY_VIA)},
                "created_at": when,
                "waiting_seconds": {"type": "integer"},
                "claimed_by": {"type": ["string", "null"]},
            },
        },
        "Queue": {
            "type": "object",
            "required": ["items", "waiting", "urgent_waiting", "version"],
            "properties": {
                "items": {"type": "array", "items": _ref("QueueItem")},
                "waiting": {"type": "integer"},
                "urgent_waiting": {"type": "integer"},
                "version": {"type": "string", "description": "Changes when the queue changes."},
            },
        },
        "CaseMessage": {
            "type": "object",
            "required": ["author", "body", "created_at"],
            "properties": {
                "author": {"enum": ["relative", "staff", "system"]},
                "body": {"type": ["string", "null"], "description": "null after retention."},
                "created_at": when,
                "signature": {"type": ["string", "null"]},
                "delivery": {
                    "type": ["string", "null"],
                    "description": 'Staff messages: "sent" or "failed: <reason>".',
                },
            },
        },
        "Note": {
            "type": "object",
            "required": ["author", "body", "created_at"],
            "properties": {
                "author": {"type": "string"},
                "body": {"type": ["string", "null"]},
                "created_at": when,
            },
        },
        "CaseDetail": {
            "type": "object",
            "required": [
                "item",
                "outcome",
                "closed_at",
                "messages",
                "notes",
                "phone",
                "can_reopen",
            ],
            "properties": {
                "item": _ref("QueueItem"),
                "outcome": {"enum": [*OUTCOMES, None]},
                "closed_at": {"type": ["string", "null"], "format": "date-time"},
                "messages": {"type": "array", "items": _ref("CaseMessage")},
                "notes": {"type": "array", "items": _ref("Note")},
                "phone": {
                    "type": ["string", "null"],
                    "description": "Call-back number given with consent; null once closed.",
                },
                "can_reopen": {"type": "boolean"},
            },
        },
        "ClaimResult": {
            "type": "object",
            "required": ["won", "holder"],
            "properties": {"won": {"type": "boolean"}, "holder": {"type": ["string", "null"]}},
        },
        "Reply": {
            "type": "object",
            "required": ["text"],
            "properties": {
                "text": text,
                "sign": {
                    "type": "boolean",
                    "default": False,
                    "description": "Sign with first name.",
                },
            },
        },
        "NoteIn": {"type": "object", "required": ["text"], "properties": {"text": text}},
        "Transfer": {
            "type": "object",
            "required": ["team_id"],
            "properties": {"team_id": {"type": "string"}},
        },
        "Close": {
            "type": "object",
            "required": ["outcome"],
            "properties": {"outcome": {"enum": list(OUTCOMES)}},
        },
        "CannedReplies": {
            "type": "object",
            "required": ["team_id", "language", "replies"],
            "properties": {
                "team_id": {"type": "string"},
                "language": {"type": "string"},
                "replies": {"type": "array", "items": {"type": "string"}},
            },
        },
        "AuditEntry": {
            "type": "object",
            "required": ["at", "staff", "action", "case_code"],
            "properties": {
                "at": when,
                "staff": {"type": "string"},
                "action": {"type": "string"},
                "case_code": {"type": ["string", "null"]},
            },
        },
        "AuditLog": {
            "type": "object",
            "required": ["entries"],
            "properties": {"entries": {"type": "array", "items": _ref("AuditEntry")}},
        },
        "StatsReport": {
            "type": "object",
            "description": (
                "Anonymous daily counts for the period, already suppressed: a count under 5 "
                'is null (shown as "<5"), and further cells are null where a hidden count '
                "could otherwise be worked out from totals."
            ),
            "additionalProperties": True,
        },
    }
    paths: dict[str, Any] = {
        "/api/v1/session": {
            "post": {
                "summary": "Sign in: a bearer token, and a session cookie for browsers",
                "tags": ["session"],
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("SignIn")}},
                },
                "responses": {
                    "200": _json(_ref("SignedIn"), "Signed in."),
                    **_errors(400, 401, 429),
                },
            },
            "delete": {
                "summary": "Sign out the cookie session (bearer tokens simply expire)",
                "tags": ["session"],
                "security": [],
                "responses": NO_CONTENT,
            },
        },
        "/api/v1/me": {
            "get": {
                "summary": "Who I am, my role and teams",
                "tags": ["session"],
                "responses": {
                    "200": _json(_ref("Me"), "The signed-in staff member."),
                    **_errors(401),
                },
            }
        },
        "/api/v1/queue": {
            "get": {
                "summary": "Open and claimed requests of my teams, most urgent and oldest first",
                "tags": ["cases"],
                "responses": {"200": _json(_ref("Queue"), "The queue."), **_errors(401)},
            }
        },
        "/api/v1/cases/{code}": {
            "get": {
                "summary": "One request: details, messages, notes",
                "tags": ["cases"],
                "parameters": [CODE_PARAM],
                "responses": {
                    "200": _json(_ref("CaseDetail"), "The request."),
                    **_errors(401, 403, 404),
                },
            }
        },
        "/api/v1/cases/{code}/canned-replies": {
            "get": {
                "summary": "Canned replies for the request's team and language",
                "tags": ["cases"],
                "parameters": [CODE_PARAM],
                "responses": {
                    "200": _json(_ref("CannedReplies"), "The replies."),
                    **_errors(401, 403, 404),
                },
            }
        },
        "/api/v1/cases/{code}/claim": {
            "post": _case_action(
                "Claim (atomic: of simultaneous claims exactly one wins)",
                {
                    "200": _json(_ref("ClaimResult"), "Claimed."),
                    "409": _json(_ref("ClaimResult"), "Someone else holds it (`holder`)."),
                },
            )
        },
        "/api/v1/cases/{code}/release": {"post": _case_action("Release my claim", NO_CONTENT)},
        "/api/v1/cases/{code}/reply": {
            "post": _case_action(
                "Reply to the relative through the bot",
                {"201": _json(_ref("CaseMessage"), "Stored; `delivery` says if it arrived.")},
                "Reply",
            )
        },
        "/api/v1/cases/{code}/notes": {
            "post": _case_action("Add an internal note", NO_CONTENT, "NoteIn")
        },
        "/api/v1/cases/{code}/transfer": {
            "post": _case_action("Transfer to another team", NO_CONTENT, "Transfer")
        },
        "/api/v1/cases/{code}/close": {
            "post": _case_action("Close with an outcome", NO_CONTENT, "Close")
        },
        "/api/v1/cases/{code}/reopen": {
            "post": _case_action("Reopen a closed request within retention", NO_CONTENT)
        },
        "/api/v1/audit": {
            "get": {
                "summary": "The audit log of staff actions (administrators only; no content)",
                "tags": ["admin"],
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": 1000,
                            "default": 200,
                        },
                    }
                ],
                "responses": {
                    "200": _json(_ref("AuditLog"), "Newest first."),
                    **_errors(400, 401, 403),
                },
            }
        },
        "/api/v1/stats": {
            "get": {
                "summary": "Anonymous usage statistics (coordinators: their teams; admins: all)",
                "tags": ["statistics"],
                "parameters": STATS_PARAMS,
                "responses": {
                    "200": _json(_ref("StatsReport"), "The same tables as the statistics page."),
                    **_errors(400, 401, 403),
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Helpline team API",
            "version": "1.0.0",
            "description": (
                "The staff side of the relatives' helpline: the queue of anonymous contact "
                "requests and every action on them, with the same permissions as the staff "
                "pages (staff see only their teams' requests; the audit log is for "
                "administrators). Authenticate with `POST /api/v1/session`, then send "
                "`Authorization: Bearer <token>`. A browser may use the session cookie "
                "instead, and must then send the `X-CSRF-Token` header (from the sign-in "
                "answer or `GET /api/v1/me`) with every POST and DELETE. No response ever "
                "contains who the relative is."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"cookieAuth": [], "csrfHeader": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "staff_session"},
                "csrfHeader": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            },
        },
    }
