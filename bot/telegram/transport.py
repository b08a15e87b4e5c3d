"""A python-telegram-bot transport on aiohttp.

PTB's default transport is httpx; aiohttp is already our web server, and measured
here it costs about a third of the CPU per Bot API call, which matters on the
per-update path. Semantics follow PTB's HTTPXRequest: form-encoded parameters,
multipart only when files are sent, timeouts mapped to PTB's errors.

Only PTB's public API is used (``BaseRequest``, ``RequestData``, ``BaseRequest.DEFAULT_NONE``).
An outbound proxy (TELEGRAM_PROXY / HTTPS_PROXY) carries every call: http and https proxies
through aiohttp's own proxy support, socks5 through aiohttp-socks. The session never reads
proxy variables from the environment (``trust_env=False``): the setting is the only source.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp_socks import ProxyConnector
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.services.telemetry import Telemetry, bot_api_error_kind


class AiohttpRequest(BaseRequest):
    """One aiohttp ClientSession per instance; PTB uses separate instances for polling."""

    def __init__(
        self,
        *,
        connection_pool_size: int = 64,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        proxy: str | None = None,
    ) -> None:
        self._pool_size = connection_pool_size
        self._proxy = proxy
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = _session(self._proxy, self._pool_size)

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=_seconds(connect_timeout, self._connect_timeout),
            sock_read=_seconds(read_timeout, self._read_timeout),
        )
        data: aiohttp.FormData | dict[str, str] | None = None
        if request_data is not None:
            if request_data.contains_files:
                form = aiohttp.FormData()
                for name, value in request_data.multipart_data.items():
                    filename, content, mimetype = value
                    form.add_field(name, content, filename=filename, content_type=mimetype)
                for name, parameter in request_data.json_parameters.items():
                    form.add_field(name, parameter)
                data = form
            else:
                data = request_data.json_parameters
        try:
            async with self._session.request(
                method, url, data=data, timeout=timeout, headers={"User-Agent": self.USER_AGENT}
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp: {type(exc).__name__}") from exc


def _seconds(value: object, default: float | None) -> float | None:
    """A timeout PTB passed: a number or None as given; not passed (DEFAULT_NONE): ours.

    PTB's documentation: "Use ``if parameter is (not) BaseRequest.DEFAULT_NONE:`` to check
    if the parameter was set." The parameters are typed ``object`` here (wider than PTB's
    private ``ODVInput``), so nothing private is imported.
    """
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default  # BaseRequest.DEFAULT_NONE (or any other "not set" marker)


def _session(proxy: str | None, pool_size: int) -> aiohttp.ClientSession:
    """A session whose connections go through ``proxy`` (or straight out without one)."""
    scheme = urlsplit(proxy).scheme if proxy is not None else ""
    if proxy is not None and scheme in ("socks5", "socks5h"):
        # socks5h: the proxy resolves api.telegram.org (remote DNS); socks5: we resolve it.
        connector: aiohttp.BaseConnector = ProxyConnector.from_url(
            "socks5" + proxy[len(scheme) :],
            rdns=scheme == "socks5h",
            limit=pool_size,
            ttl_dns_cache=300,
        )
        return aiohttp.ClientSession(connector=connector, trust_env=False)
    connector = aiohttp.TCPConnector(limit=pool_size, ttl_dns_cache=300)
    return aiohttp.ClientSession(connector=connector, proxy=proxy, trust_env=False)


class ObservedRequest(AiohttpRequest):
    """The same transport, counting failed Bot API calls by kind in ``telemetry``.

    The kind comes from the HTTP status (before PTB turns it into its exception) or from
    the transport's own error (timeout, network); never the method, its parameters or the
    description Telegram sent.
    """

    def __init__(self, telemetry: Telemetry, **options: Any) -> None:
        super().__init__(**options)
        self.telemetry = telemetry

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        try:
            status, body = await super().do_request(*args, **kwargs)
        except TimedOut:
            self.telemetry.bot_api_error("timeout")
            raise
        except NetworkError:
            self.telemetry.bot_api_error("network")
            raise
        kind = bot_api_error_kind(status)
        if kind is not None:
            self.telemetry.bot_api_error(kind)
        return status, body
