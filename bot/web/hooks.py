"""POST /hooks/<gateway>/<HOOK_SECRET>/<hook>: what a pushing gateway (ITD) sends, into the inbox.

A wrong secret is 404 (nothing is said about the path, nothing changes); a body the gateway never
sends is 400; a stored message is 200 at once (it reaches Telegram from the inbox, so a Telegram
outage loses nothing); a tick Telegram could not show now is 503, for the gateway to push again.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.gateways.base import InvalidRequestError
from bot.services.incoming import IncomingService
from bot.services.ports import UiUnavailable

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # a message record is a few KB; media travel as URLs


def hook_routes(incoming: IncomingService, secret: str) -> list[Route]:
    async def hook(request: Request) -> Response:
        given = str(request.path_params["secret"])
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return PlainTextResponse("Not Found", status_code=404)
        gateway, name = str(request.path_params["gateway"]), str(request.path_params["hook"])
        body = await _read(request)
        if body is None:
            return JSONResponse({"ok": False, "error": "body too large"}, status_code=413)
        data = _parse(body)
        if data is None:
            return JSONResponse({"ok": False, "error": "not JSON"}, status_code=400)
        try:
            stored = await incoming.accept_push(gateway, name, data)
        except LookupError:
            return PlainTextResponse("Not Found", status_code=404)
        except InvalidRequestError as exc:
            log.info("hook %s/%s: refused (%s)", gateway, name, exc.detail)
            return JSONResponse({"ok": False, "error": "not a record of this gateway"}, 400)
        except UiUnavailable:
            return JSONResponse({"ok": False, "error": "try again later"}, status_code=503)
        return JSONResponse({"ok": True, "stored": stored})

    return [Route("/hooks/{gateway}/{secret}/{hook}", hook, methods=["POST"])]


async def _read(request: Request) -> bytes | None:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


def _parse(body: bytes) -> Any:
    """JSON (what the seed documents); a form body is read as its fields ([H]: some panels post
    forms). None when it is neither."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested beyond reason
        pass
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return None
    return dict(fields) or None
