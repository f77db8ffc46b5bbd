"""Wiring: settings → logging → database → gateways → services → Telegram application.

We own the event loop (one `asyncio.run`) instead of `Application.run_polling`, because Tortoise
keeps its connections in a context variable that must be initialised in the same context the
handlers run in; the Application's lifecycle is therefore run by hand, in this order, and undone
in reverse in `finally` (without `close_db` the process would not exit).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from telegram import BotCommand, Update
from telegram.constants import ParseMode
from telegram.ext import AIORateLimiter, Application, Defaults

from bot.config import Settings
from bot.gateways.registry import build_gateways
from bot.logs import secrets
from bot.services.chats import ChatService
from bot.services.connect import ConnectService
from bot.services.lines import Lines
from bot.services.sender import SendService
from bot.storage.crypto import load_cipher
from bot.storage.db import close_db, init_db
from bot.telegram.commands import COMMANDS
from bot.telegram.handlers import Handlers
from bot.telegram.views import TelegramViews

log = logging.getLogger(__name__)


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run the bot until `stop` is set (or SIGINT/SIGTERM)."""
    stop = stop or _stop_on_signals()
    token = settings.telegram_bot_token.get_secret_value()
    secrets.add(token)
    gateways = build_gateways(
        settings
    )  # first: a misconfigured gateway stops the bot before it writes anything
    key_dir = settings.sqlite_path.parent if settings.sqlite_path else Path("data")
    cipher = load_cipher(
        settings.encryption_key.get_secret_value() if settings.encryption_key else None, key_dir
    )
    await init_db(settings.database_url)
    app = (
        Application.builder()
        .token(token)
        .base_url(settings.telegram_api_url)
        .base_file_url(settings.telegram_file_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .rate_limiter(AIORateLimiter(max_retries=3))
        .concurrent_updates(True)
        .build()
    )
    views = TelegramViews(app.bot)
    lines = Lines(gateways, cipher, settings.default_gateway or settings.gateways[0])
    connect = ConnectService(
        lines, views, poll_interval=settings.status_poll_interval, timeout=settings.connect_timeout
    )
    sender = SendService(
        lines,
        views,
        views,
        rate_per_minute=settings.send_rate_per_minute,
        daily_cap=settings.send_daily_cap,
        max_attempts=settings.send_max_attempts,
        backoff=settings.send_retry_backoff,
    )
    chats = ChatService(lines, views, check_interval=settings.link_check_interval)
    Handlers(settings, connect, sender, chats, views).register(app)
    try:
        await app.initialize()
        await _set_commands(app)
        await app.start()
        await sender.start()
        await connect.resume_all()
        chats.start()
        assert app.updater is not None
        await app.updater.start_polling(
            allowed_updates=Update.ALL_TYPES, drop_pending_updates=False
        )
        log.info("bot started as @%s", app.bot.username)
        await stop.wait()
    finally:
        log.info("stopping")
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        await connect.shutdown()
        await chats.stop()
        await sender.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
        for gateway in gateways.values():
            await gateway.aclose()
        await close_db()


async def _set_commands(app: Application) -> None:  # type: ignore[type-arg]
    for lang in ("en", "ru"):
        commands = [BotCommand(c.name, c.about(lang)) for c in COMMANDS if c.in_menu]
        await app.bot.set_my_commands(commands, language_code=None if lang == "en" else lang)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
