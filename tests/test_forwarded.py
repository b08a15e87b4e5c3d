"""TRUSTED_PROXIES: the client's address and scheme from X-Forwarded-* only via a trusted peer.

The rule (``bot.web.forwarded``) first as a function on hand-made requests, then on the
real product: every sub-app reads the same address (the sign-in brake keys on it), a
garbage header is a 400 on every door, and the session cookie follows the forwarded scheme.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from bot.config import IpNetwork
from bot.emulator.spec import BotApiSpec
from bot.web.forwarded import MAX_HOPS, ForwardedError, client_of
from bot.web.staff.session import COOKIE_NAME
from tests.conftest import running_preview

PROXY = (ipaddress.ip_network("10.0.0.5/32"),)
TWO_PROXIES = (ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("2001:db8::/64"))


def _request(headers: list[tuple[str, str]]) -> aiohttp.web.Request:
    return make_mocked_request("GET", "/", headers=CIMultiDict(headers))


def _client(
    peer: str | None, trusted: tuple[IpNetwork, ...], *headers: tuple[str, str]
) -> tuple[str, str] | None:
    return client_of(peer, _request(list(headers)), trusted)


def test_without_trusted_proxies_the_headers_are_ignored() -> None:
    forged = ("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-Proto", "https")
    assert _client("10.0.0.5", (), *forged) is None
    assert _client("10.0.0.5", (), ("X-Forwarded-For", "not an address")) is None


def test_a_trusted_peer_forwards_the_client_and_scheme() -> None:
    found = _client(
        "10.0.0.5", PROXY, ("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Proto", "https")
    )
    assert found == ("198.51.100.7", "https")


def test_an_untrusted_peer_cannot_forge() -> None:
    forged = ("X-Forwarded-For", "10.0.0.5, 198.51.100.7"), ("X-Forwarded-Proto", "https")
    assert _client("203.0.113.50", PROXY, *forged) is None
    # nor can it break the request with garbage: from an untrusted peer nothing is read
    assert _client("203.0.113.50", PROXY, ("X-Forwarded-For", "[[[")) is None


def test_the_right_most_untrusted_address_wins_not_the_forgeable_left_most() -> None:
    # The client sent "X-Forwarded-For: 1.2.3.4"; nginx appended the address it saw.
    chain = ("X-Forwarded-For", "1.2.3.4, 198.51.100.7")
    assert _client("10.0.0.5", PROXY, chain) == ("198.51.100.7", "http")
    # Two trusted hops (a load balancer in front of nginx): both are skipped.
    chain = ("X-Forwarded-For", "1.2.3.4, 198.51.100.7, 10.0.0.9")
    assert _client("10.0.0.5", TWO_PROXIES, chain) == ("198.51.100.7", "http")
    # Several header lines are one list, in order.
    lines = ("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-For", "198.51.100.7")
    assert _client("10.0.0.5", PROXY, *lines) == ("198.51.100.7", "http")


def test_every_hop_trusted_gives_the_left_most() -> None:
    chain = ("X-Forwarded-For", "10.0.0.7, 10.0.0.8")
    assert _client("10.0.0.5", TWO_PROXIES, chain) == ("10.0.0.7", "http")
    assert _client("10.0.0.5", PROXY) == ("10.0.0.5", "http")  # no header: the proxy itself


def test_the_scheme_is_the_one_written_next_to_the_client() -> None:
    chain = ("X-Forwarded-For", "198.51.100.7, 10.0.0.9")
    # the load balancer wrote https for the client, nginx http for the balancer
    protos = ("X-Forwarded-Proto", "https, http")
    assert _client("10.0.0.5", TWO_PROXIES, chain, protos) == ("198.51.100.7", "https")
    # one value (nginx sets $scheme, appends nothing): that one
    assert _client("10.0.0.5", TWO_PROXIES, chain, ("X-Forwarded-Proto", "HTTPS")) == (
        "198.51.100.7",
        "https",
    )


def test_ipv6_peers_and_clients() -> None:
    found = _client("2001:db8::1", TWO_PROXIES, ("X-Forwarded-For", "2001:db8:1::42"))
    assert found == ("2001:db8:1::42", "http")
    # an IPv4 peer seen on a dual-stack socket as ::ffff:10.0.0.5 is the same trusted proxy
    found = _client("::ffff:10.0.0.5", PROXY, ("X-Forwarded-For", "::ffff:198.51.100.7"))
    assert found == ("198.51.100.7", "http")
    assert _client("::1", PROXY, ("X-Forwarded-For", "198.51.100.7")) is None


@pytest.mark.parametrize(
    ("header", "value", "says"),
    [
        ("X-Forwarded-For", "198.51.100.7:4711", "not an IP address"),
        ("X-Forwarded-For", "example.org", "not an IP address"),
        ("X-Forwarded-For", "1.2.3.4,,5.6.7.8", "empty value"),
        ("X-Forwarded-For", ", ".join(["1.2.3.4"] * (MAX_HOPS + 1)), "more than"),
        ("X-Forwarded-Proto", "gopher", "http or https"),
    ],
)
def test_garbage_from_a_trusted_peer_is_a_clear_refusal(header: str, value: str, says: str) -> None:
    with pytest.raises(ForwardedError, match=says) as refused:
        _client("10.0.0.5", PROXY, (header, value))
    assert "\n" not in str(refused.value)


def test_a_unix_socket_peer_is_not_a_proxy() -> None:
    assert _client("", PROXY, ("X-Forwarded-For", "198.51.100.7")) is None
    assert _client(None, PROXY, ("X-Forwarded-For", "198.51.100.7")) is None


# -- on the real product ---------------------------------------------------------------


async def _sign_in(
    http: aiohttp.ClientSession, origin: str, username: str, forwarded_for: str | None
) -> aiohttp.ClientResponse:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    async with http.post(
        f"{origin}/api/v1/session",
        json={"username": username, "password": "wrong password"},
        headers=headers,
    ) as response:
        await response.read()
        return response


async def _throttled_after(
    http: aiohttp.ClientSession, origin: str, forwarded_for: list[str | None]
) -> list[int]:
    """The statuses of wrong sign-ins for one username, from the given forwarded addresses.

    The brake counts failures per (address, username): five, then a wait. Whose address
    counts is what these tests are about.
    """
    statuses = []
    for address in forwarded_for:
        response = await _sign_in(http, origin, "nobody", address)
        statuses.append(response.status)
    return statuses


async def test_the_brake_keys_on_the_forwarded_address_behind_a_trusted_proxy(
    database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    async with (
        running_preview(database_url, tmp_path, spec, TRUSTED_PROXIES="127.0.0.1") as server,
        aiohttp.ClientSession() as http,
    ):
        # five wrong attempts from one client behind the proxy lock that client only
        statuses = await _throttled_after(http, server.origin, ["198.51.100.7"] * 6)
        assert statuses == [401] * 5 + [429]
        # the same username from another client is not braked by the first one's guesses
        assert (await _sign_in(http, server.origin, "nobody", "198.51.100.8")).status == 401
        # a client forging the left of the chain is still the address nginx appended
        forged_left = "198.51.100.8, 198.51.100.7"
        assert (await _sign_in(http, server.origin, "nobody", forged_left)).status == 429


async def test_forged_headers_from_an_untrusted_peer_do_not_dodge_the_brake(
    database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    """The peer (127.0.0.1) is not the proxy: a new forged address per attempt changes nothing."""
    async with (
        running_preview(database_url, tmp_path, spec, TRUSTED_PROXIES="10.0.0.5") as server,
        aiohttp.ClientSession() as http,
    ):
        forged: list[str | None] = [f"198.51.100.{n}" for n in range(6)]
        assert await _throttled_after(http, server.origin, forged) == [401] * 5 + [429]


async def test_every_door_refuses_a_garbage_header_from_the_proxy_with_400(
    database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    async with (
        running_preview(database_url, tmp_path, spec, TRUSTED_PROXIES="127.0.0.1") as server,
        aiohttp.ClientSession() as http,
    ):
        for path in ("/health", "/health/ready", "/metrics", "/staff/login", "/api/v1/me"):
            for header, value in (("X-Forwarded-For", "garbage"), ("X-Forwarded-Proto", "ftp")):
                async with http.get(server.origin + path, headers={header: value}) as response:
                    assert response.status == 400, (path, header)
                    assert header in await response.text()
            async with http.get(server.origin + path) as response:
                assert response.status < 500


async def test_the_session_cookie_is_secure_when_the_proxy_says_https(
    database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    async def cookie(origin: str, proto: str | None) -> str:
        headers = {"X-Forwarded-Proto": proto} if proto else {}
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{origin}/staff/login", headers=headers) as response,
        ):
            return response.headers.getall("Set-Cookie", [""])[0]

    async with running_preview(database_url, tmp_path, spec, TRUSTED_PROXIES="127.0.0.1") as server:
        assert COOKIE_NAME in (secure := await cookie(server.origin, "https"))
        assert "Secure" in secure
        assert "Secure" not in await cookie(server.origin, None)
    async with running_preview(database_url, tmp_path, spec) as server:
        # no trusted proxy: a client claiming https does not make the cookie Secure
        assert "Secure" not in await cookie(server.origin, "https")


async def test_an_https_public_url_makes_the_cookie_secure_without_a_proxy_header(
    database_url: str, tmp_path: Path, spec: BotApiSpec
) -> None:
    async with (
        running_preview(
            database_url, tmp_path, spec, PUBLIC_URL="https://bot.example.se"
        ) as server,
        aiohttp.ClientSession() as http,
        http.get(f"{server.origin}/staff/login") as response,
    ):
        assert "Secure" in response.headers.getall("Set-Cookie", [""])[0]
