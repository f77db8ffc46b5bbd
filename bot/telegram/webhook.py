"""Webhook mode: Telegram POSTs each update to TELEGRAM_WEBHOOK_URL, served on the bot's HTTP server.

- A request without the right `X-Telegram-Bot-Api-Secret-Token` is 403 and does nothing.
- A body that is not JSON, or not an update, is 400.
- Otherwise the update is stored in the database (`UpdateFeed.push`), the answer is 200 at
  once, and the update is handled in the background, so Telegram never waits on a gateway. A
  replica that dies before handling it leaves it stored: another one handles it.
- The same update delivered twice (Telegram retries when an answer came late; with replicas
  the retry may reach another one) is handled once: its id is the stored row's key.
- When the update cannot be stored (the database is down) the answer is 503: Telegram retries.
"""

from __future__ import annotations

import hmac
import json
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Update

from bot.telegram.updates import UpdateFeed

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1024 * 1024  # updates are small; files travel as ids
# The update types the handlers use: anything else is not subscribed to at all.
HANDLED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


def webhook_routes(path: str, secret: str, feed: UpdateFeed) -> list[Route]:
    async def webhook(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_BODY:
                return JSONResponse({"ok": False, "error": "too large"}, status_code=413)
        update = _update(bytes(body), feed)
        if update is None:
            return JSONResponse({"ok": False, "error": "not an update"}, status_code=400)
        try:
            await feed.push(update, body.decode())
        except Exception:
            log.exception("webhook: update %s could not be stored", update.update_id)
            return JSONResponse({"ok": False, "error": "try again"}, status_code=503)
        return JSONResponse({"ok": True})

    return [Route(path or "/", webhook, methods=["POST"])]


def _update(body: bytes, feed: UpdateFeed) -> Update | None:
    """The update, or None when the body is not one Telegram would send."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return None
    try:
        return feed.parse(data)
    except Exception:  # a field of the wrong shape: Telegram never sends that
        log.info("webhook: a body that is not an update", exc_info=True)
        return None
