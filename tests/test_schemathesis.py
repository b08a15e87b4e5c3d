"""schemathesis against the served OpenAPI document (#11): every /api/v1 operation, signed in
with a bearer token (no CSRF header needed with one), with the generated valid and invalid
requests (not the two DELETEs: they sign out, the token with them); no 5xx and no answer
outside the document is the bar.

It runs schemathesis's own command line as a child process against the real product (preview
mode, PostgreSQL: the stricter database, where a NUL byte reaches the server's own check) with a
fixed seed, deterministic generation and a bounded number of examples per operation, so a run
is repeatable and takes about a minute.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sys
from pathlib import Path

import pytest

from bot.runtime import Server
from tests.staff_helpers import PASSWORD, StaffClient, new_request

CHECKS = (
    "not_a_server_error",
    "response_schema_conformance",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
)
MAX_EXAMPLES = 25
SEED = 11


@pytest.fixture
def database_url(pg_database_url: str) -> str:
    """This module's server runs on PostgreSQL only (a minute per run is the budget)."""
    return pg_database_url


def schemathesis_command() -> str:
    found = Path(sys.executable).with_name("schemathesis")
    if found.exists():
        return str(found)
    which = shutil.which("schemathesis")
    assert which, "schemathesis is in the test extras: pip install -e .[test]"
    return which


async def test_the_api_answers_every_generated_request_as_documented(
    server: Server, client: StaffClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    # Cases in both teams, and every generated case code one of them (a dictionary in
    # schemathesis's config): the case routes get past "not found" to their own rules, and
    # the account's case-code brake (30 misses, then 429) never stands in front of them.
    codes = [(await new_request(server, team=team)).code for team in ("laholm", "botkyrka") * 3]
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f"[dictionaries.codes]\nvalues = {json.dumps(codes)}\n\n"
        '[parameters]\n"path.code" = { dictionary = "codes", probability = 1.0 }\n'
    )
    status, body = await client.api(
        "POST", "/api/v1/session", json={"username": "root", "password": PASSWORD}
    )
    assert status == 200, body
    process = await asyncio.create_subprocess_exec(
        schemathesis_command(),
        "--config-file",
        str(config),
        "run",
        f"{server.origin}/api/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--header",
        f"Authorization: Bearer {body['token']}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-deterministic",
        # Not the coverage phase: its boundary values for the case code are unknown codes,
        # and after 30 of them the account's case-code brake answers 429 for ten minutes,
        # so the fuzzing behind it would test the brake only.
        "--phases",
        "examples,fuzzing",
        # The DELETEs are sign-outs: one would end the token halfway through the run.
        "--exclude-method",
        "DELETE",
        "--workers",
        "1",
        "--no-color",
        "--request-timeout",
        "30",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    print(text[-4000:])  # its summary: shown with pytest -rP
    assert process.returncode == 0, text[-12000:]
    # The product logged no failure of its own either (a 4xx is not an error).
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not failures, [r.getMessage() for r in failures]
