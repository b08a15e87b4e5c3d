"""The client's address and scheme behind a reverse proxy (``TRUSTED_PROXIES``).

A request's ``remote`` and ``scheme`` are the TCP peer's and the socket's. Behind nginx
the peer is nginx, so every staff member would share one address (and the sign-in brake
would lock them all out at once), and every request would look like plain HTTP.

This middleware, on the root app (so for every sub-app: /staff, /api/v1, the webhook,
public pages, health and metrics), believes ``X-Forwarded-For`` and
``X-Forwarded-Proto`` only when the direct peer is in ``TRUSTED_PROXIES``. The client is
then the right-most address of the chain that is not a trusted proxy: each proxy
appends the address it saw, so everything left of the first untrusted hop (counting from
the right) was written by someone we cannot vouch for and may be forged. With no
trusted proxies, or from any other peer, the headers are ignored entirely.

aiohttp-remotes was considered: its ``XForwardedStrict`` answers 400 to every peer that
is not a proxy (a health check from the host, the app port reached directly) and to a
client that sends its own ``X-Forwarded-For`` through nginx (the chain is then longer than
the hop list); its ``XForwardedFiltered`` believes the header from any peer. Neither is
what this needs, so it is these few lines.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from bot.config import IpNetwork

log = logging.getLogger(__name__)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_HOPS = 32  # more addresses than any real proxy chain: refused, not walked
SCHEMES = ("http", "https")


class ForwardedError(ValueError):
    """A forwarded header a trusted proxy passed on that cannot be read."""


def _address(text: str) -> IpAddress:
    """One address as a proxy writes it; IPv4-mapped IPv6 (::ffff:a.b.c.d) as IPv4."""
    address = ipaddress.ip_address(text.strip())
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _values(request: web.Request, name: str) -> list[str]:
    """A header's comma-separated values; several header lines count as one list."""
    parts = [part.strip() for line in request.headers.getall(name, []) for part in line.split(",")]
    if len(parts) > MAX_HOPS:
        raise ForwardedError(f"{name} lists more than {MAX_HOPS} values")
    if any(not part for part in parts):
        raise ForwardedError(f"{name} has an empty value")
    return parts


def _trusted(address: IpAddress, trusted: Sequence[IpNetwork]) -> bool:
    return any(address in network for network in trusted)


def client_of(
    peer: str | None, request: web.Request, trusted: Sequence[IpNetwork]
) -> tuple[str, str] | None:
    """(address, scheme) the request came from, or None to keep the peer's own.

    Raises ``ForwardedError`` for a header from a trusted proxy that cannot be read.
    """
    if not trusted or not peer:
        return None
    try:
        peer_address = _address(peer)
    except ValueError:  # not an IP peer (a Unix socket): nothing to check it against
        return None
    if not _trusted(peer_address, trusted):
        return None
    chain: list[IpAddress] = []
    for value in _values(request, "X-Forwarded-For"):
        try:
            chain.append(_address(value))
        except ValueError:
            raise ForwardedError(
                "X-Forwarded-For holds something that is not an IP address"
            ) from None
    chain.append(peer_address)
    # Right to left: the first address no trusted proxy stands for is the client; if every
    # hop is a trusted proxy, the left-most is as far as anyone can see.
    hops, client = len(chain) - 1, chain[0]  # hops: the client's distance from the peer
    for distance, address in enumerate(reversed(chain)):
        if not _trusted(address, trusted):
            hops, client = distance, address
            break
    # The proxy next to the client wrote the scheme at the same distance from the right;
    # a proxy that sets one value (nginx: $scheme) leaves a single entry, which is used.
    schemes = [value.lower() for value in _values(request, "X-Forwarded-Proto")]
    if any(value not in SCHEMES for value in schemes):
        raise ForwardedError("X-Forwarded-Proto must be http or https")
    scheme = request.scheme
    if schemes:
        index = hops - 1  # hops counts the peer itself, which wrote no X-Forwarded-For entry
        scheme = schemes[-1 - index] if 0 <= index < len(schemes) else schemes[0]
    return str(client), scheme


def forwarded_middleware(trusted: Sequence[IpNetwork]) -> Middleware:
    """The middleware for ``TRUSTED_PROXIES``; a harmless pass-through when it is empty."""
    networks = tuple(trusted)

    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            found = client_of(request.remote, request, networks)
        except ForwardedError as exc:
            log.info("refused a request: %s", exc)
            return web.Response(status=400, text=f"Bad request: {exc}\n")
        if found is None:
            return await handler(request)
        remote, scheme = found
        return await handler(request.clone(remote=remote, scheme=scheme))

    return forwarded
