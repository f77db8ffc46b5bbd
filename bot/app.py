"""Wiring: settings → logging → database → gateways → services → Telegram application (and the
HTTP server when HTTP_PORT is set). This module is the table of contents: every service, every
Telegram feature and every HTTP route is created here, in the order it is used.

We own the event loop (one `asyncio.run`) instead of `Application.run_polling`, because Tortoise
keeps its connections in a context variable that must be initialised in the same context the
handlers run in; the Application's lifecycle is therefore run by hand, in this order, and undone
in reverse in `finally` (without `close_db` the process would not exit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from telegram import BotCommand
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, Defaults, Updater
from telegram.request import HTTPXRequest

from bot.config import Settings
from bot.gateways.hci import HciGateway
from bot.gateways.registry import build_gateways
from bot.logs import secrets
from bot.services.admission import Admission, Pace
from bot.services.bulk import BulkService
from bot.services.bulk_runner import BulkRunner
from bot.services.chats import ChatService
from bot.services.confirmations import Confirmations
from bot.services.connect import ConnectService
from bot.services.desk import DeskService
from bot.services.hci_desk import HciDesks
from bot.services.health import Readiness, refresh_outbox_metrics
from bot.services.incoming import IncomingService
from bot.services.leases import Leases
from bot.services.lines import Lines
from bot.services.media_links import MediaLinks
from bot.services.pacing import Pacing
from bot.services.retry_policy import RetryPolicy
from bot.services.sender import SendService
from bot.services.topics import TopicService
from bot.services.updates import UpdateLog
from bot.storage.crypto import load_cipher
from bot.storage.db import close_db, init_db
from bot.telegram.bulk_view import TelegramBulkView
from bot.telegram.commands import COMMANDS
from bot.telegram.desk_cards import TelegramDeskView
from bot.telegram.files import TelegramFiles
from bot.telegram.handlers.admin import AdminCommands
from bot.telegram.handlers.basics import Basics
from bot.telegram.handlers.bulk import BulkCommands
from bot.telegram.handlers.chats import ChatCommands
from bot.telegram.handlers.common import Gate
from bot.telegram.handlers.connect import ConnectCommands
from bot.telegram.handlers.contacts import ContactCommands
from bot.telegram.handlers.desk import DeskCommands
from bot.telegram.handlers.messages import Messages
from bot.telegram.handlers.send import SendCommands
from bot.telegram.handlers.threads import ThreadCommands
from bot.telegram.inbox import TelegramInbox
from bot.telegram.queue_view import TelegramQueue
from bot.telegram.rate_limiter import PriorityRateLimiter
from bot.telegram.topics import TelegramTopics
from bot.telegram.updates import UpdateFeed
from bot.telegram.views import TelegramViews
from bot.telegram.webhook import HANDLED_UPDATES, webhook_routes
from bot.transport import AiohttpTransport
from bot.web.health import health_routes
from bot.web.hooks import hook_routes
from bot.web.media import media_routes
from bot.web.server import WebServer

log = logging.getLogger(__name__)

TELEGRAM_CONNECTIONS = 256  # python-telegram-bot's default for its calls (getUpdates has one)
TELEGRAM_RETRY_MAX = 30.0  # seconds between attempts to reach Telegram at start, at most
POLLING_LEASE = "telegram-polling"  # held by the one replica that calls getUpdates
GATEWAY_START = 2.0  # seconds a gateway takes to show a fresh line's QR, about (wapp.im's loading)


class StartupError(Exception):
    """The bot cannot start; the message is one line for the operator (and holds no secret)."""


async def run(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    rate_limit: bool = True,
    pace: Pace | None = None,
) -> None:
    """Run the bot until `stop` is set (or SIGINT/SIGTERM). `rate_limit=False` drops the limiter
    that keeps the bot under Telegram's 30 calls a second: only benchmarks of the bot itself
    (bench/) do that, and then the connect queue admits everybody at once unless `pace` says
    otherwise. `pace`: how fast the connect queue moves (tests shrink it). Neither is a
    setting."""
    pace = pace or Pace(unpaced=not rate_limit)
    stop = stop or _stop_on_signals()
    token = settings.telegram_bot_token.get_secret_value()
    secrets.add(token, urlsplit(settings.database_url).password)
    for secret in (settings.encryption_key, settings.hook_secret, settings.telegram_webhook_secret):
        if secret:
            secrets.add(secret.get_secret_value())
    # First: a misconfigured gateway stops the bot before it writes anything.
    gateways = build_gateways(settings)
    key_dir = settings.sqlite_path.parent if settings.sqlite_path else Path("data")
    try:
        cipher = load_cipher(
            settings.encryption_key.get_secret_value() if settings.encryption_key else None,
            key_dir,
        )
    except OSError as exc:
        raise StartupError(f"cannot keep the encryption key in {key_dir}/: {exc}") from exc
    try:
        await init_db(settings.database_url)
    except OSError as exc:  # a folder that cannot be made, a server that does not answer
        raise StartupError(f"cannot open the database (DATABASE_URL): {exc}") from exc
    except Exception as exc:  # the driver's own errors: wrong password, no such database, …
        log.debug("database start-up failed", exc_info=True)
        name = type(exc).__name__
        raise StartupError(f"cannot open the database (DATABASE_URL): {name}: {exc}") from exc
    builder = (
        Application.builder()
        .token(token)
        .base_url(settings.telegram_api_url)
        .base_file_url(settings.telegram_file_url)
        .request(telegram_request(TELEGRAM_CONNECTIONS))
        .get_updates_request(telegram_request(1))
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .updater(None)  # updates reach the handlers through UpdateFeed (stored first)
    )
    # Telegram's ~30 calls a second, answers first (see bot.telegram.rate_limiter).
    limiter = (
        PriorityRateLimiter(pace.telegram_rate, pace.connect_share, max_retries=3)
        if rate_limit
        else None
    )
    if limiter is not None:
        builder.rate_limiter(limiter)
    app = builder.build()
    leases = Leases(settings.lease_seconds)
    feed = UpdateFeed(app, UpdateLog(leases))
    views = TelegramViews(app.bot)
    topic_view = TelegramTopics(app.bot)
    lines = Lines(gateways, cipher, settings.default_gateway or settings.gateways[0])
    media_links = MediaLinks(settings.public_url)
    admission = Admission(
        TelegramQueue(app.bot, limiter),
        leases,
        pace,
        max_lines=settings.max_lines_per_user,
        connects_per_hour=settings.connects_per_hour,
        exempt=settings.is_admin,
        lead=GATEWAY_START + settings.status_poll_interval,
    )
    files = TelegramFiles(app.bot)
    connect = ConnectService(
        lines,
        views,
        leases,
        admission,
        poll_interval=settings.status_poll_interval,
        timeout=settings.connect_timeout,
    )
    sender = SendService(
        lines,
        Confirmations(views, lines, claim_seconds=4 * settings.lease_seconds, topics=topic_view),
        views,
        files,
        media_links,
        leases,
        pacing=Pacing(settings.send_rate_per_minute),
        retry=RetryPolicy(
            backoff=settings.send_retry_backoff,
            max_wait=settings.send_retry_max_wait,
            retry_for=settings.send_retry_for,
            max_attempts=settings.send_max_attempts,
        ),
        daily_cap=settings.send_daily_cap,
    )
    bulk_runner = BulkRunner(
        sender,
        TelegramBulkView(app.bot),
        leases,
        lines,
        rate_per_minute=settings.send_rate_per_minute,
        daily_cap=settings.send_daily_cap,
    )
    bulks = BulkService(
        bulk_runner,
        region=settings.default_region,
        max_recipients=settings.bulk_max_recipients,
        rate_per_minute=settings.send_rate_per_minute,
        daily_cap=settings.send_daily_cap,
    )
    chats = ChatService(lines, views, leases, check_interval=settings.link_check_interval)
    inbox = TelegramInbox(app.bot)
    # Threads: a topic per conversation (on or off is decided once Telegram answered getMe).
    topics = TopicService(topic_view, inbox, sender, claim_seconds=settings.lease_seconds)
    desk = DeskService(lines, inbox, TelegramDeskView(app.bot), topics, allowed=settings.is_allowed)
    hci = gateways.get("hci")
    hci_desks = (
        HciDesks(hci.client, desk, leases, poll_interval=settings.incoming_poll_interval)
        if isinstance(hci, HciGateway)
        else None
    )
    incoming = IncomingService(
        lines,
        topics,
        views,
        sender,
        desk,
        leases,
        poll_interval=settings.incoming_poll_interval,
        push_server=settings.http_port is not None,
    )
    connect_commands = ConnectCommands(connect, settings.default_region, settings.is_admin)
    send_commands = SendCommands(sender, settings.default_region, topics)
    bulk_commands = BulkCommands(bulks, files)
    for feature in (
        Gate(settings),
        DeskCommands(desk, hci_desks, settings),  # before Basics: its /start desk-… invite links
        Basics(),
        connect_commands,
        send_commands,
        bulk_commands,
        # Before ChatCommands and Messages: /mute in a topic, and what is written in topics.
        ThreadCommands(topics, send_commands, desk, connect_commands, settings.default_region),
        ChatCommands(chats, incoming),
        ContactCommands(settings.default_region, topics),
        AdminCommands(settings, chats, topics),
        # Last: whatever the others did not take (a bulk's list or text first).
        Messages(connect_commands, send_commands, desk, bulk_commands, topics),
    ):
        feature.register(app)
    readiness = Readiness()
    server = None
    updater: Updater | None = None
    if settings.http_port is not None and settings.hook_secret is not None:
        routes = [
            *health_routes(readiness.problem, refresh_outbox_metrics),
            *hook_routes(incoming, settings.hook_secret.get_secret_value()),
            *media_routes(media_links),
        ]
        if settings.telegram_webhook_url and settings.telegram_webhook_secret:
            routes += webhook_routes(
                urlsplit(settings.telegram_webhook_url).path,
                settings.telegram_webhook_secret.get_secret_value(),
                feed,
            )
        server = WebServer(settings.http_host, settings.http_port, routes)
    try:
        if settings.database_url.startswith("sqlite://"):
            await (
                leases.forget_all()
            )  # one process per SQLite file: a crashed run's claims are void
        if not await _reach_telegram(app, stop):
            return
        readiness.telegram_reached = True
        topics.decide(settings.threads, bool(app.bot.bot.has_topics_enabled))
        webhook = settings.telegram_webhook_url
        if not webhook and not await _claim_polling(leases, stop):
            return
        leases.start()
        await _set_commands(app)
        await app.start()
        feed.start()
        if server is not None:
            try:
                await server.start()
            except OSError as exc:
                where = f"{settings.http_host}:{settings.http_port}"
                raise StartupError(
                    f"cannot serve HTTP on {where} (HTTP_HOST/HTTP_PORT): {exc}"
                ) from None
        await sender.start()
        bulk_runner.start()
        await connect.adopt()
        connect.start_adopting()
        chats.start()
        incoming.start()
        if hci_desks is not None:
            hci_desks.start()
        if webhook and settings.telegram_webhook_secret:
            await app.bot.set_webhook(
                webhook,
                secret_token=settings.telegram_webhook_secret.get_secret_value(),
                allowed_updates=HANDLED_UPDATES,
            )
        else:  # polling; PTB drops a webhook left by an earlier webhook-mode run first
            updater = Updater(app.bot, feed.queue)
            await updater.initialize()
            await updater.start_polling(allowed_updates=HANDLED_UPDATES, drop_pending_updates=False)
        mode = "webhook" if webhook else "polling"
        log.info("bot started as @%s (%s mode)", app.bot.username, mode)
        await stop.wait()
    finally:
        log.info("stopping")
        if updater is not None:
            if updater.running:
                await updater.stop()
            await updater.shutdown()
        if server is not None:  # first: no push or webhook update reaches a half-stopped bot
            await server.stop()
        await feed.stop()
        await incoming.stop()
        if hci_desks is not None:
            await hci_desks.stop()
        await connect.shutdown()
        await chats.stop()
        await bulk_runner.stop()
        await sender.stop()
        await leases.stop()
        if app.running:
            await app.stop()
        await app.shutdown()
        await app.bot.shutdown()  # a no-op after app.shutdown(), unless getMe never succeeded
        for gateway in gateways.values():
            await gateway.aclose()
        await close_db()


class _TelegramRequest(HTTPXRequest):
    """python-telegram-bot's request over the bot's transport, a fresh one each time it builds
    its client (at start, and when initialised again after a shutdown): a closed transport opens
    nothing again, so a call that comes after the shutdown cannot leave a session open."""

    __slots__ = ()

    def _build_client(self) -> httpx.AsyncClient:
        limits = self._client_kwargs["limits"]  # its pool size: httpx ignores it over a transport
        self._client_kwargs["transport"] = AiohttpTransport(limits=limits)
        return super()._build_client()


def telegram_request(connections: int) -> HTTPXRequest:
    """python-telegram-bot's request with its own defaults (timeouts, passed per call; the pool
    size its builder gives: 256 for calls, 1 for getUpdates) over the bot's transport."""
    return _TelegramRequest(connection_pool_size=connections)


async def _reach_telegram(app: Application, stop: asyncio.Event) -> bool:  # type: ignore[type-arg]
    """getMe until Telegram answers: a network outage at start is waited out, not fatal.
    False if asked to stop while waiting."""
    delay = 1.0
    while True:
        try:
            await app.initialize()
            return True
        except InvalidToken:  # PTB's own message quotes the token: never show it
            raise StartupError(
                "Telegram rejected TELEGRAM_BOT_TOKEN: copy the token again from @BotFather"
            ) from None
        except NetworkError as exc:  # TimedOut included
            log.warning("Telegram is unreachable (%s); trying again in %.0f s", exc, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set():
            return False
        delay = min(delay * 2, TELEGRAM_RETRY_MAX)


async def _claim_polling(leases: Leases, stop: asyncio.Event) -> bool:
    """Telegram allows one getUpdates consumer: in polling mode, this replica must be it. A
    claim left by a replica that just died is waited out (up to LEASE_SECONDS); one that keeps
    being renewed belongs to a live replica, and this one refuses to start."""
    deadline = asyncio.get_running_loop().time() + leases.seconds + 1
    while not await leases.claim(POLLING_LEASE):
        if asyncio.get_running_loop().time() > deadline:
            raise StartupError(
                "another replica is already polling Telegram (Telegram allows one getUpdates "
                "consumer): run several replicas in webhook mode (TELEGRAM_WEBHOOK_URL)"
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        if stop.is_set():
            return False
    return True


async def _set_commands(app: Application) -> None:  # type: ignore[type-arg]
    """The command menu, in both languages; cosmetic, so a failure is only logged."""
    for lang in ("en", "ru"):
        commands = [BotCommand(c.name, c.about(lang)) for c in COMMANDS if c.in_menu]
        try:
            await app.bot.set_my_commands(commands, language_code=None if lang == "en" else lang)
        except TelegramError as exc:
            log.warning("could not set the %s command menu: %s", lang, exc)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
