"""Everything the bot says, in English and Russian. Values are HTML (Telegram parse mode);
`t()` escapes every argument, so user input echoed back can never break the formatting.

`TEXTS` is one table, keyed by name, written in one module per feature (as `handlers/`):

    common.py    the greeting, /help, the gate's refusals, usage errors, /admin, shared buttons
    connect.py   /connect, /cancel
    send.py      /send and its ticks, failure reasons, line controls, a mistyped number or text
    chats.py     /chats, /status, /disconnect, a lost line
    incoming.py  incoming WhatsApp messages, their files, mute and unmute
    desk.py      the team inbox (/desk), its cards and buttons
    contacts.py  the address book: /contacts, /send to a name, /name
    bulk.py      a bulk send's list: refusals, unreadable lines, the preview's counts
    threads.py   topics: a new topic's header, lines when a conversation moves on, binding
    plural.py    not texts: how a count is worded (1 message, 5 сообщений), by CLDR's rules

A key may be written in one part only, and a count is worded only by `plural.py`'s forms
(`{cap} {cap:one=message|other=messages}`, with the categories each language needs): both are
checked when this module is imported. The line states' names and help (`STATE_NAMES`,
`STATE_HELP`) and the gateway errors' sentences (`ERRORS`, told by `explain_error`) are tables of
their own, here.
"""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

from bot.gateways.base import ErrorKind, GatewayError, LineState, NoFreeLinesError
from bot.telegram.texts.bulk import BULK
from bot.telegram.texts.chats import CHATS
from bot.telegram.texts.common import COMMON
from bot.telegram.texts.connect import CONNECT
from bot.telegram.texts.contacts import CONTACTS
from bot.telegram.texts.desk import DESK
from bot.telegram.texts.incoming import INCOMING
from bot.telegram.texts.plural import LANGS, CountFormatter, check
from bot.telegram.texts.send import SEND
from bot.telegram.texts.threads import THREADS


def _merged(*parts: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The parts as one table; a key written in two parts is a mistake, refused at import."""
    merged: dict[str, dict[str, str]] = {}
    for part in parts:
        twice = merged.keys() & part.keys()
        if twice:
            raise ValueError(f"texts written twice: {sorted(twice)}")
        merged.update(part)
    for key, langs in merged.items():
        for lang in LANGS:
            try:
                check(lang, langs[lang])
            except (KeyError, ValueError) as exc:
                raise ValueError(f"text {key!r} in {lang!r}: {exc}") from None
    return merged


TEXTS: dict[str, dict[str, str]] = _merged(
    COMMON, CONNECT, SEND, CHATS, INCOMING, DESK, CONTACTS, BULK, THREADS
)


STATE_NAMES: dict[LineState, dict[str, str]] = {
    LineState.PROVISIONING: {"en": "being prepared", "ru": "готовится"},
    LineState.STARTING: {"en": "starting", "ru": "запускается"},
    LineState.AWAITING_QR: {"en": "waiting for the QR scan", "ru": "ждёт сканирования QR"},
    LineState.AUTHORIZED: {"en": "connected", "ru": "подключён"},
    LineState.SLEEPING: {"en": "sleeping", "ru": "спит"},
    LineState.RESTRICTED: {"en": "restricted", "ru": "ограничен"},
    LineState.BLOCKED: {"en": "banned by WhatsApp", "ru": "заблокирован WhatsApp"},
    LineState.LOGGED_OUT: {"en": "no longer linked", "ru": "отключён"},
    LineState.RELEASED: {"en": "disconnected", "ru": "отключён вами"},
    LineState.UNKNOWN: {"en": "unknown", "ru": "неизвестно"},
}

STATE_HELP: dict[LineState, dict[str, str]] = {
    LineState.PROVISIONING: {
        "en": "The gateway is preparing the line; this can take a few minutes.",
        "ru": "Шлюз готовит линию, это может занять несколько минут.",
    },
    LineState.STARTING: {
        "en": "The line is starting (up to 5 minutes). If it stays like this longer, restart it with /reboot.",
        "ru": "Линия запускается (до 5 минут). Если дольше — перезапустите её: /reboot.",
    },
    LineState.AWAITING_QR: {
        "en": "WhatsApp is not linked: use /connect and scan the QR code.",
        "ru": "WhatsApp не привязан: выполните /connect и отсканируйте QR-код.",
    },
    LineState.AUTHORIZED: {
        "en": "Ready: /send works, and replies to forwarded messages go back to WhatsApp.",
        "ru": "Всё готово: /send работает, а ответы на пересланные сообщения уходят в WhatsApp.",
    },
    LineState.SLEEPING: {
        "en": "The line is asleep: paused with /sleep (wake it with /resume), or the phone is off (it wakes up by itself within about 5 minutes of the phone coming back).",
        "ru": "Линия спит: приостановлена командой /sleep (разбудить: /resume) или выключен телефон (проснётся сама в течение 5 минут после включения).",
    },
    LineState.RESTRICTED: {
        "en": "Sending is paused (spam warning “yellow card”, no credits or a plan limit). Messages may wait up to 24 h; after a yellow card the line needs a /reboot.",
        "ru": "Отправка приостановлена (предупреждение о спаме «жёлтая карточка», нет кредитов или лимит тарифа). Сообщения могут ждать до 24 ч; после жёлтой карточки нужен /reboot.",
    },
    LineState.BLOCKED: {
        "en": "WhatsApp banned this number. It cannot send any more.",
        "ru": "WhatsApp заблокировал этот номер. Отправлять с него больше нельзя.",
    },
    LineState.LOGGED_OUT: {
        "en": "The link was lost (wiped by the gateway or unlinked on the phone): /connect again.",
        "ru": "Подключение потеряно (шлюз его очистил или его отвязали на телефоне): /connect заново.",
    },
    LineState.RELEASED: {"en": "You disconnected this chat.", "ru": "Вы отключили этот чат."},
    LineState.UNKNOWN: {
        "en": "The gateway reports a state I don't know.",
        "ru": "Шлюз сообщает состояние, которое мне неизвестно.",
    },
}

ERRORS: dict[ErrorKind, dict[str, str]] = {
    ErrorKind.AUTH: {
        "en": "the gateway no longer accepts this line's key (test lines are wiped every two hours).",
        "ru": "шлюз больше не принимает ключ этой линии (тестовые линии очищаются каждые два часа).",
    },
    ErrorKind.NOT_FOUND: {
        "en": "the gateway does not know this line or message any more.",
        "ru": "шлюз больше не знает эту линию или сообщение.",
    },
    ErrorKind.NOT_READY: {
        "en": "WhatsApp is not linked on this line yet, or it is still starting.",
        "ru": "WhatsApp на этой линии ещё не привязан или ещё запускается.",
    },
    ErrorKind.INVALID_REQUEST: {
        "en": "the gateway refused the request (check the number and the text).",
        "ru": "шлюз отклонил запрос (проверьте номер и текст).",
    },
    ErrorKind.QUOTA: {
        "en": "the gateway's limit is reached (credits or plan). Try again later.",
        "ru": "исчерпан лимит шлюза (кредиты или тариф). Попробуйте позже.",
    },
    ErrorKind.RATE_LIMITED: {
        "en": "the gateway asks to slow down. Try again in a minute.",
        "ru": "шлюз просит сбавить темп. Попробуйте через минуту.",
    },
    ErrorKind.UPSTREAM: {
        "en": "the WhatsApp gateway is having trouble right now. Try again in a few minutes.",
        "ru": "у шлюза WhatsApp сейчас проблемы. Попробуйте через несколько минут.",
    },
    ErrorKind.NETWORK: {
        "en": "the WhatsApp gateway is unreachable right now. Try again in a few minutes.",
        "ru": "шлюз WhatsApp сейчас недоступен. Попробуйте через несколько минут.",
    },
    ErrorKind.UNSUPPORTED: {
        "en": "this gateway cannot do that.",
        "ru": "этот шлюз так не умеет.",
    },
}

NO_FREE_LINES = {
    "en": "the gateway has no free WhatsApp slots right now. Test slots are freed every two hours; try again in a few minutes.",
    "ru": "у шлюза сейчас нет свободных слотов WhatsApp. Тестовые слоты освобождаются каждые два часа; попробуйте через несколько минут.",
}


def lang_of(lang: str | None) -> str:
    return "ru" if lang == "ru" else "en"


_FORMATTERS = {lang: CountFormatter(lang) for lang in LANGS}


def t(lang: str, key: str, **values: Any) -> str:
    lang = lang_of(lang)
    safe = {k: _safe(v) for k, v in values.items()}
    return _FORMATTERS[lang].format_text(TEXTS[key][lang], safe)


def raw(lang: str, table: dict[Any, dict[str, str]], key: Any) -> str:
    return table[key][lang_of(lang)]


def explain_error(lang: str, error: GatewayError | None) -> str:
    if isinstance(error, NoFreeLinesError):
        return NO_FREE_LINES[lang_of(lang)]
    if error is None:
        return ERRORS[ErrorKind.UPSTREAM][lang_of(lang)]
    return ERRORS[error.kind][lang_of(lang)]


def _safe(value: Any) -> Any:
    # Pre-built HTML fragments are passed as Html; everything else is escaped.
    return (
        value
        if isinstance(value, (Html, int, float, Decimal))
        else html.escape(str(value), quote=False)
    )


class Html(str):
    """A fragment that is already safe HTML (built from escaped parts)."""
