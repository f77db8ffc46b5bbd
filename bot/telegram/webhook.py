"""Webhook mode: Telegram POSTs each update to TELEGRAM_WEBHOOK_URL, served on the bot's HTTP server.

- A request without the right `X-Telegram-Bot-Api-Secret-Token` is 403 and does nothing.
- A body that is not JSON, or not an update, is 400.
- Otherwise the answer is 200 at once, and the update is handled in the background (the
  Application's update queue), so Telegram never waits on a gateway.
- The same update delivered twice (Telegram retries when an answer came late; with replicas
  the retry may reach another one) is handled once: its id is marked in the database for a day.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Update

from bot.services.leases import Leases

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1024 * 1024  # updates are small; files travel as ids
SEEN_FOR = 24 * 3600.0  # seconds an update id is remembered (Telegram keeps updates 24 h)
# The update types the handlers use: anything else is not subscribed to at all.
HANDLED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


def webhook_routes(path: str, secret: str, application: Any, leases: Leases) -> list[Route]:
    """`application` is the running python-telegram-bot Application."""

    async def webhook(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_BODY:
                return JSONResponse({"ok": False, "error": "too large"}, status_code=413)
        update = _update(bytes(body), application)
        if update is None:
            return JSONResponse({"ok": False, "error": "not an update"}, status_code=400)
        if await leases.once(f"update:{update.update_id}", SEEN_FOR):
            await application.update_queue.put(update)
        else:
            log.info("webhook: update %s came again; handled once", update.update_id)
        return JSONResponse({"ok": True})

    return [Route(path or "/", webhook, methods=["POST"])]


def _update(body: bytes, application: Any) -> Update | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return None
    try:
        return Update.de_json(data, application.bot)
    except Exception:  # a field of the wrong shape: Telegram never sends that
        log.info("webhook: a body that is not an update", exc_info=True)
        return None
