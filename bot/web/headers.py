"""Security headers on every response the app sends (#11).

A root-app ``on_response_prepare`` signal, not a middleware: aiohttp sends it for every
response prepared for a routed request, whichever sub-app, handler or error produced it
(pages, live fragments, redirects, 404 and 405, static files, JSON, the webhook, health,
metrics, the preview and its Bot API, and the 500 aiohttp writes for an unhandled error),
while a middleware never sees a response aiohttp makes itself. Only a request too
malformed to be routed at all (aiohttp's own 400 before any app runs) goes without.

* ``Content-Security-Policy``: scripts, styles, fonts and fetches only from this origin,
  images also as ``data:``, no framing, no ``<base>``, forms post only here. The
  templates and the preview page have no inline script or style attribute (a JSON data
  block is not a script); a test keeps it so.
* ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer`` (a staff
  URL names a case code; it never leaves in a Referer).
* ``Strict-Transport-Security`` when the request came over HTTPS: the socket's TLS or a
  trusted proxy's ``X-Forwarded-Proto`` (``bot.web.forwarded``, ``TRUSTED_PROXIES``). Over
  plain HTTP a browser ignores it, and sending it would only mislead.
* ``Server`` names the product, not aiohttp's and Python's versions.
"""

from __future__ import annotations

from aiohttp import web

from bot.config import IpNetwork
from bot.web.forwarded import ForwardedError, client_of

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
)
HSTS = "max-age=31536000"
SERVER = "helpline"

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _over_https(request: web.BaseRequest, trusted: tuple[IpNetwork, ...]) -> bool:
    """HTTPS as the socket or a trusted proxy says. The signal may get the request as it
    arrived, not the forwarded middleware's copy, so the proxy's word is read again here."""
    if request.secure:
        return True
    try:
        found = client_of(request.remote, request, trusted)  # type: ignore[arg-type]
    except ForwardedError:  # the middleware answered 400 for it
        return False
    return found is not None and found[1] == "https"


def add_security_headers(app: web.Application, trusted_proxies: tuple[IpNetwork, ...]) -> None:
    """Put the headers on every response of ``app`` and of the sub-apps mounted on it.

    A response that set a stricter policy of its own (the staff pages, the preview page)
    keeps it; the default covers everything else.
    """

    async def add_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if _over_https(request, trusted_proxies):
            response.headers["Strict-Transport-Security"] = HSTS
        response.headers["Server"] = SERVER  # aiohttp only adds its own when none is set

    app.on_response_prepare.append(add_headers)
