"""GET /healthz (the process runs), GET /readyz (the database answers and Telegram was reached;
503 with a one-line reason otherwise) and GET /metrics (Prometheus text format)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.metrics import REGISTRY

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[str | None]]  # None when ready, else why not (one line)


def health_routes(ready: Check, refresh: Callable[[], Awaitable[None]]) -> list[Route]:
    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(_: Request) -> Response:
        try:
            problem = await asyncio.wait_for(ready(), 5)
        except TimeoutError:
            problem = "the readiness check timed out"
        if problem:
            return PlainTextResponse(f"not ready: {problem}\n", status_code=503)
        return PlainTextResponse("ready\n")

    async def metrics(_: Request) -> Response:
        try:
            await asyncio.wait_for(refresh(), 5)
        except Exception:  # stale gauges beat no metrics at all
            log.warning("metrics: the database figures could not be read", exc_info=True)
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
