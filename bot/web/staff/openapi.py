"""The OpenAPI 3.1 document of the staff JSON API (``openapi.yaml`` beside this file).

Written by hand as YAML (not generated from the routes), so the test that compares it
with the router catches an endpoint added or removed on one side only, and the API
tests can validate every response against the same file that is served.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DOCUMENT = Path(__file__).resolve().parent / "openapi.yaml"


@cache
def _loaded() -> dict[str, Any]:
    document = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{DOCUMENT} is not an OpenAPI document")
    return document


def openapi_document() -> dict[str, Any]:
    """The document as served at /api/openapi.json (a copy: callers may change theirs)."""
    return copy.deepcopy(_loaded())
