"""Downloading the files of incoming messages, safely.

A media URL comes from the gateway, but what it points at is decided by whoever sent the message
or runs the storage, so it is checked before every request (redirects included):

- http(s) only;
- a URL on one of the driver's trusted origins (scheme, host and port of its configured API URL)
  is fetched as it is: that is where the gateway itself serves files, even on a private network;
- any other host must resolve only to public addresses: never loopback, private, link-local
  (cloud metadata), multicast or reserved ones. Public storage hosts, where real gateways keep
  media, pass.

The size is capped while reading (`max_bytes`, Telegram's upload limit), so a huge or endless body
costs at most that much memory: the connection is closed at the cap, not read to its end. Error details name the host, never the URL (it may hold a token).

Known limit: the address is checked when resolved here and the transport (aiohttp) resolves it
again to connect, so a DNS server that answers differently within milliseconds (rebinding) is not
stopped.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import posixpath
import re
import socket
from collections.abc import Awaitable, Callable, Collection, Mapping
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from bot.gateways.base import (
    Download,
    MediaTooLargeError,
    NetworkError,
    NotFoundError,
    UnsafeUrlError,
    UpstreamError,
)
from bot.transport import AiohttpTransport

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
Resolver = Callable[[str, int], Awaitable[list[str]]]


def origin(url: str) -> str:
    """`https://Host:443/x?y` → `https://host:443`: scheme, host and port, as compared."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def is_public(address: str) -> bool:
    """Whether an IP address is on the public internet (IPv4-mapped IPv6 judged as IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class MediaFetcher:
    """One pooled client for the downloads of one driver; `aclose()` with the driver."""

    def __init__(self, *, timeout: float = 60.0, resolver: Resolver = system_resolver) -> None:
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,  # each hop is checked in `fetch`
            transport=AiohttpTransport(),
        )
        self.resolver = resolver

    async def check(self, url: str, trusted: Collection[str]) -> None:
        """UnsafeUrlError unless `url` may be fetched (see the module docstring)."""
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        except ValueError:
            raise UnsafeUrlError("media URL is not a URL") from None
        host = parts.hostname or ""
        if parts.scheme.lower() not in ("http", "https") or not host:
            raise UnsafeUrlError("media URL is not http(s)")
        if origin(url) in {origin(t) for t in trusted}:
            return
        try:
            addresses = [host] if _is_ip(host) else await self.resolver(host, port)
        except OSError:
            raise NotFoundError(f"media host {host} does not resolve") from None
        if not addresses or not all(is_public(a) for a in addresses):
            raise UnsafeUrlError(f"media host {host} is not a public address")

    async def fetch(
        self,
        url: str,
        *,
        trusted: Collection[str],
        max_bytes: int,
        headers: Mapping[str, str] | None = None,
    ) -> Download:
        for _ in range(MAX_REDIRECTS + 1):
            await self.check(url, trusted)
            host = urlsplit(url).hostname
            try:
                async with self.client.stream("GET", url, headers=headers) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code >= 400:
                        error = (
                            NotFoundError if response.status_code in (404, 410) else UpstreamError
                        )
                        raise error(f"media host {host} answered HTTP {response.status_code}")
                    size = response.headers.get("content-length", "")
                    if size.isdigit() and int(size) > max_bytes:
                        raise MediaTooLargeError(f"media of {int(size)} bytes")
                    data = bytearray()
                    async for chunk in response.aiter_bytes():
                        data.extend(chunk)
                        if len(data) > max_bytes:
                            raise MediaTooLargeError(f"media over {max_bytes} bytes")
                    return Download(
                        bytes(data),
                        mime=_mime(response.headers.get("content-type")),
                        name=_file_name(response.headers.get("content-disposition"), url),
                    )
            except httpx.TransportError as exc:
                raise NetworkError(
                    f"media host {host}: {type(exc).__name__}", request_sent=True
                ) from None
        raise UpstreamError(f"media: more than {MAX_REDIRECTS} redirects")

    async def aclose(self) -> None:
        await self.client.aclose()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _mime(value: str | None) -> str | None:
    mime = (value or "").split(";", 1)[0].strip().lower()
    return mime if re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", mime) else None


def _file_name(disposition: str | None, url: str) -> str | None:
    match = re.search(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', disposition or "", re.I)
    name = unquote(match.group(1)) if match else posixpath.basename(unquote(urlsplit(url).path))
    name = re.sub(r"[\x00-\x1f/\\\\]", "", name).strip()[:128]
    return name or None
