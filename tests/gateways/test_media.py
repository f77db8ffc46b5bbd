"""`MediaFetcher` over `bot.transport`: a download stops at its size cap, and every redirect hop is
checked by the fetcher before anything follows it (the transport itself follows none)."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator

import pytest

from bot.gateways.base import MediaTooLargeError, UnsafeUrlError
from bot.gateways.media import MediaFetcher
from tests.conftest import wait_until
from tests.fakes.raw_http import Answer, RawHttpServer

MB = 1024 * 1024
CAP = 2 * MB


@pytest.fixture
async def fetcher() -> AsyncIterator[MediaFetcher]:
    media = MediaFetcher(timeout=5.0)
    yield media
    await media.aclose()


async def test_a_download_stops_reading_at_the_cap(
    server: RawHttpServer, fetcher: MediaFetcher
) -> None:
    """A body that never ends (no Content-Length): the fetcher reads a little past the cap and
    closes the connection; the server cannot write much more than the sockets' buffers hold."""
    server.script(Answer("endless", "video"))
    tracemalloc.start()
    try:
        with pytest.raises(MediaTooLargeError):
            await fetcher.fetch(f"{server.url}/video.mp4", trusted=[server.url], max_bytes=CAP)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    await wait_until(lambda: server.endless_closed, 5)
    written = server.endless_written
    await asyncio.sleep(0.2)
    assert server.endless_written == written, "nothing reads the body any more"
    assert written < CAP + 8 * MB, f"{written / MB:.1f} MB left the server"  # 5.25 MB here
    assert peak < 2 * CAP + 2 * MB, f"{peak / MB:.1f} MB of memory at the peak"


async def test_a_body_within_the_cap_arrives_whole(
    server: RawHttpServer, fetcher: MediaFetcher
) -> None:
    body = bytes(range(256)) * 4096  # 1 MB
    server.script(Answer("ok", "photo", body=body))
    download = await fetcher.fetch(f"{server.url}/photo.jpg", trusted=[server.url], max_bytes=MB)
    assert download.data == body and download.name == "photo.jpg"


async def test_a_redirect_is_checked_before_it_is_followed(
    server: RawHttpServer, fetcher: MediaFetcher
) -> None:
    server.script(
        Answer("redirect", "first", status=302, location="/second.png"),
        Answer("redirect", "evil", status=302, location="http://169.254.169.254/latest/"),
    )
    download = await fetcher.fetch(f"{server.url}/first.png", trusted=[server.url], max_bytes=MB)
    assert download.name == "second.png"
    assert [r.target for r in server.requests] == ["/first.png", "/second.png"]
    with pytest.raises(UnsafeUrlError):
        await fetcher.fetch(f"{server.url}/evil.png", trusted=[server.url], max_bytes=MB)
