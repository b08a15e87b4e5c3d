"""Helpers for the staff web tests: accounts, requests, and an HTTP client that keeps cookies."""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import AsyncIterator
from functools import cache
from typing import Any

import aiohttp
from jsonschema import Draft202012Validator

from bot.domain import CreatedCase, RequestDraft, Role, Urgency
from bot.runtime import Server
from bot.web.staff.openapi import openapi_document

PASSWORD = "correct horse battery staple"
ACCOUNTS: dict[str, tuple[Role, tuple[str, ...], str | None]] = {
    # username: (role, teams, display name)
    "anna": ("staff", ("laholm",), "Anna"),
    "bo": ("staff", ("laholm",), None),
    "cecilia": ("staff", ("botkyrka",), None),
    "root": ("admin", ("laholm", "botkyrka"), None),
}
_CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


async def create_accounts(server: Server) -> None:
    assert server.core is not None
    for username, (role, teams, name) in ACCOUNTS.items():
        await server.core.staff.create(
            username,
            PASSWORD,
            role,
            frozenset(teams),
            display_name=name,
        )


async def new_request(
    server: Server,
    *,
    team: str = "laholm",
    urgency: Urgency = "soon",
    text: str | None = "My brother has new friends and talks about violence.",
    language: str = "sv",
    chat_id: int | None = None,
) -> CreatedCase:
    assert server.core is not None and server.emulator is not None
    if chat_id is None:
        chat_id = server.emulator.new_private_chat(language_code=language)
    draft = RequestDraft(
        team_id=team,
        language=language,
        concerns="young_adult",
        topic="worry",
        urgency=urgency,
        text=text,
    )
    return await server.core.cases.create_request(draft, chat_id)


class StaffClient:
    """One browser's worth of staff session: cookies, the last page, its CSRF token."""

    def __init__(self, server: Server, accept_language: str = "sv-SE,sv;q=0.9") -> None:
        self.origin = server.origin
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            headers={"Accept-Language": accept_language},
        )
        self.page = ""
        self.status = 0
        self.url = ""

    async def close(self) -> None:
        await self.http.close()

    @property
    def csrf(self) -> str:
        found = _CSRF_RE.search(self.page)
        assert found, "no CSRF token on the last page"
        return html.unescape(found.group(1))

    async def get(self, path: str) -> str:
        async with self.http.get(self.origin + path) as response:
            self.status, self.page, self.url = (
                response.status,
                await response.text(),
                str(response.url),
            )
        return self.page

    async def post(self, path: str, data: dict[str, str], *, csrf: bool = True) -> str:
        form = dict(data)
        if csrf:
            form.setdefault("csrf", self.csrf)
        async with self.http.post(self.origin + path, data=form) as response:
            self.status, self.page, self.url = (
                response.status,
                await response.text(),
                str(response.url),
            )
        return self.page

    async def sign_in(self, username: str, password: str = PASSWORD) -> str:
        await self.get("/staff/login")
        return await self.post("/staff/login", {"username": username, "password": password})

    async def api(
        self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        async with self.http.request(
            method, self.origin + path, json=json, headers=headers or {}
        ) as response:
            body = await response.read()
            if response.content_type == "application/json":
                data = await response.json()
            else:
                data = body.decode() if body else None
        if path.startswith("/api/v1/"):
            check_response(method, path, response.status, response.content_type, data)
        return response.status, data


@contextlib.asynccontextmanager
async def signed_in(server: Server, username: str, lang: str = "sv") -> AsyncIterator[StaffClient]:
    """A client signed in as ``username`` on the queue, reading pages in ``lang`` (sv or en).

    Closed on the way out, whatever the test did.
    """
    client = StaffClient(server, accept_language="en-GB,en;q=0.9" if lang == "en" else "sv-SE")
    try:
        await client.sign_in(username)
        assert "/staff/queue" in client.url, text_of(client.page)
        yield client
    finally:
        await client.close()


def text_of(page: str) -> str:
    """The page's visible text, roughly: tags dropped, entities decoded, spaces squeezed."""
    no_tags = re.sub(r"<script.*?</script>|<[^>]+>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(no_tags)).strip()


# --- every API response against the OpenAPI document ---------------------------------------


class UndocumentedResponse(AssertionError):
    """A response the document does not describe, or whose body breaks its schema."""


@cache
def _document() -> dict[str, Any]:
    return openapi_document()


def _operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The documented operation for a concrete path ("/api/v1/cases/ACD-EFG/claim")."""
    bare = path.split("?", 1)[0]
    for template, item in _document()["paths"].items():
        pattern = re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, bare) and method.lower() in item:
            return template, item[method.lower()]
    raise UndocumentedResponse(f"{method} {bare} is not in the OpenAPI document")


def _resolved(node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` ("#/components/responses/NotFound") to what it names."""
    while "$ref" in node:
        target: Any = _document()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def check_response(method: str, path: str, status: int, content_type: str, body: Any) -> None:
    """Raise UndocumentedResponse unless the document lists this status for this operation
    and the body matches its JSON schema (a documented answer without content: no body)."""
    template, operation = _operation(method, path)
    responses = operation["responses"]
    if str(status) not in responses and "default" not in responses:
        raise UndocumentedResponse(f"{method} {template} does not document status {status}")
    described = _resolved(responses.get(str(status)) or responses["default"])
    content = described.get("content")
    if not content:
        if body not in (None, ""):
            raise UndocumentedResponse(f"{method} {template} {status} documents no body: {body!r}")
        return
    if content_type not in content:
        raise UndocumentedResponse(f"{method} {template} {status}: no {content_type} documented")
    schema = content[content_type].get("schema")
    if schema is None:
        return
    # The component schemas ride along, so "#/components/schemas/..." resolves in place.
    rooted = {**schema, "components": _document()["components"]}
    errors = sorted(Draft202012Validator(rooted).iter_errors(body), key=lambda e: e.path)
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path)
        raise UndocumentedResponse(
            f"{method} {template} {status} breaks the document at {where!r}: {errors[0].message}"
        )
