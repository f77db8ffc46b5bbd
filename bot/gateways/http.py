"""The HTTP transport every driver shares: one pooled httpx client, timeouts, safe retries, a breaker.

Retries happen only where repeating is safe: reads (`idempotent=True`) after a network error or a
5xx, and any call whose request never left this machine (connection refused / connect timeout).
After `breaker_threshold` consecutive failures the gateway is considered down for
`breaker_cooldown` seconds and calls fail at once, so users get a quick answer instead of a hang.

The client is httpx's, over `bot.transport` (aiohttp moves the bytes, for a fraction of httpcore's
CPU per call; the errors are httpx's, with httpcore's meanings). Calls wait for one of the
client's `MAX_CONNECTIONS` connections in a semaphore of our own, not in the transport's pool: a
wait in the pool counts against the call's timeout, so thousands of waiting status polls would
fail calls that never reached the gateway (and open the breaker on a healthy gateway); a call's
timeouts start once it holds a slot. (httpcore's pool also scanned its whole queue on every
request, which made each call cost milliseconds of the event loop.)
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Mapping
from typing import Any

import httpx

from bot.gateways.base import BreakerOpenError, GatewayError, NetworkError, UpstreamError
from bot.logs import secrets
from bot.metrics import GATEWAY_CALLS, GATEWAY_SECONDS, api_method
from bot.transport import AiohttpTransport

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 50  # per gateway: calls in flight at once; the others wait their turn


class GatewayHttp:
    def __init__(
        self,
        base_url: str,
        *,
        name: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = 15.0,
        retries: int = 2,
        backoff: float = 0.5,
        breaker_threshold: int = 5,
        breaker_cooldown: float = 30.0,
        business_statuses: frozenset[int] = frozenset(),
    ) -> None:
        self.name = name
        # 5xx codes that this gateway uses for business answers (ITD: 502 no credits), not outages.
        self.business_statuses = business_statuses
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers=dict(headers or {}),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=AiohttpTransport(
                limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=20)
            ),
        )
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self.retries = retries
        self.backoff = backoff
        self.breaker_threshold = breaker_threshold
        self.breaker_cooldown = breaker_cooldown
        self._failures = 0
        self._open_until = 0.0

    async def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        files: Mapping[str, Any] | None = None,
        http_timeout: float | None = None,
        label: str | None = None,
    ) -> httpx.Response:
        """Send one call; answers with status < 500 are returned for the driver to interpret.

        `files` makes a multipart body (with `data` as its text fields), as httpx takes them;
        `http_timeout` overrides the client's for this call (a long poll, an upload); `label`
        names the call in the metrics when its path holds an id `api_method` cannot tell."""
        if (pause := self._open_until - time.monotonic()) > 0:
            raise BreakerOpenError(f"{self.name} is unavailable (breaker open)", retry_after=pause)
        attempt = 0
        label = label or api_method(path)
        while True:
            started = time.monotonic()
            try:
                response = await self._send(
                    method,
                    path,
                    params,
                    data,
                    json,
                    headers,
                    files=files,
                    http_timeout=http_timeout,
                )
                self._record(ok=True)
                self._measure(label, started, "ok" if response.status_code < 400 else "refused")
                return response
            except GatewayError as error:
                exc = error
                self._record(ok=False)
                self._measure(label, started, str(exc.kind))
                sent = not isinstance(exc, NetworkError) or exc.request_sent
                may_repeat = idempotent or not sent
                if attempt >= self.retries or not exc.retriable or not may_repeat:
                    raise
            attempt += 1
            delay = self.backoff * 2 ** (attempt - 1) * (0.5 + random.random())
            log.info(
                "%s %s failed (%s), retry %d in %.2fs",
                self.name,
                secrets.redact(path),
                exc.kind,
                attempt,
                delay,
            )
            await asyncio.sleep(delay)

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        data: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        *,
        files: Mapping[str, Any] | None = None,
        http_timeout: float | None = None,
    ) -> httpx.Response:
        try:
            async with self._slots:
                response = await self.client.request(
                    method,
                    path,
                    params=params,
                    data=data,
                    json=json,
                    headers=headers,
                    files=files,
                    timeout=(
                        httpx.USE_CLIENT_DEFAULT
                        if http_timeout is None
                        else httpx.Timeout(http_timeout, connect=min(http_timeout, 5.0))
                    ),
                )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise NetworkError(
                f"{self.name}: cannot connect ({type(exc).__name__})", request_sent=False
            ) from None
        except httpx.TransportError as exc:
            # Read timeouts, dropped connections: the gateway may have acted on the request.
            raise NetworkError(
                f"{self.name}: no answer ({type(exc).__name__})", request_sent=True
            ) from None
        if response.status_code >= 500 and response.status_code not in self.business_statuses:
            raise UpstreamError(
                f"{self.name}: HTTP {response.status_code} on {secrets.redact(path)}", outage=True
            )
        return response

    def _measure(self, label: str, started: float, outcome: str) -> None:
        GATEWAY_CALLS.labels(self.name, label, outcome).inc()
        GATEWAY_SECONDS.labels(self.name, label).observe(time.monotonic() - started)

    def _record(self, *, ok: bool) -> None:
        if ok:
            self._failures = 0
            return
        self._failures += 1
        if self._failures >= self.breaker_threshold:
            self._open_until = time.monotonic() + self.breaker_cooldown
            self._failures = 0
            log.warning(
                "%s failed %d times in a row; pausing calls for %.0fs",
                self.name,
                self.breaker_threshold,
                self.breaker_cooldown,
            )

    async def aclose(self) -> None:
        await self.client.aclose()


def json_body(response: httpx.Response, name: str) -> Any:
    """The parsed JSON body, or UpstreamError for HTML error pages and truncated bodies."""
    try:
        return response.json()
    except ValueError:
        snippet = response.text[:80].replace("\n", " ")
        raise UpstreamError(
            f"{name}: not JSON (HTTP {response.status_code}): {snippet!r}"
        ) from None


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a `Retry-After` header, or None when there is none (or no number)."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def sent_body(response: httpx.Response, name: str) -> Any:
    """The body of an answer to a send. A success status with an unreadable body means the
    gateway probably sent the message: that is an ambiguous outcome, never a retriable error."""
    try:
        return response.json()
    except ValueError:
        if response.status_code < 300:
            raise NetworkError(f"{name}: unreadable answer to a send", request_sent=True) from None
        raise UpstreamError(f"{name}: not JSON (HTTP {response.status_code})") from None


def auth_headers(token: str, auth_header: str = "Authorization") -> dict[str, str]:
    """The header that carries an operator's token where the seed does not say (ITD, HCI):
    `Authorization: Bearer <token>`, or the bare token in the header `auth_header` names."""
    bare = re.sub(r"(?i)^bearer\s+", "", token.strip())
    if not bare:
        return {}  # no token configured: the gateway answers 401; "Bearer " is not a header
    if auth_header.strip().lower() == "authorization":
        return {"Authorization": f"Bearer {bare}"}
    return {auth_header.strip(): bare}
