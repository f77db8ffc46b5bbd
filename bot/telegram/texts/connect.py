"""Texts of /connect (the gateway choice, credentials, the QR and how it ends), /cancel and /code.
Part of the one table in `texts/__init__.py`."""

from __future__ import annotations

CONNECT: dict[str, dict[str, str]] = {
    # One text for getting the line and starting it: an edit between the two would cost a Bot
    # API call per /connect (30 a second per bot, shared by everybody connecting at once).
    "connect_acquiring": {
        "en": "⏳ Getting a free WhatsApp slot and starting it… the QR code comes next.",
        "ru": "⏳ Получаю свободный слот WhatsApp и запускаю его… сейчас появится QR-код.",
    },
    "connect_qr": {
        "en": "📱 Scan this QR code with WhatsApp on your phone:\n"
        "<b>Settings → Linked devices → Link a device</b>\n\n"
        "Valid until <b>{until} UTC</b> (about {seconds} {seconds:one=second|other=seconds}). When WhatsApp changes the code, "
        "this picture is replaced automatically.",
        "ru": "📱 Отсканируйте QR-код в WhatsApp на телефоне:\n"
        "<b>Настройки → Связанные устройства → Привязка устройства</b>\n\n"
        "Действует до <b>{until} UTC</b> (около {seconds} {seconds:one=секунды|few=секунд|many=секунд|other=секунды}). Когда WhatsApp сменит код, "
        "картинка обновится сама.",
    },
    "connect_done": {
        "en": "✅ WhatsApp connected as <b>{name}</b>, {phone}.\nSend a message: <code>/send PHONE TEXT</code>",
        "ru": "✅ WhatsApp подключён: <b>{name}</b>, {phone}.\nОтправить сообщение: <code>/send НОМЕР ТЕКСТ</code>",
    },
    "connect_expired": {
        "en": "⌛ This QR code has expired: nobody scanned it in time. Tap below for a new one.",
        "ru": "⌛ QR-код устарел: его не отсканировали вовремя. Нажмите ниже, чтобы получить новый.",
    },
    "connect_cancelled": {
        "en": "Connecting cancelled. Start again with /connect.",
        "ru": "Подключение отменено. Начать заново: /connect.",
    },
    "connect_failed": {
        "en": "❌ Could not connect: {reason}",
        "ru": "❌ Не удалось подключить: {reason}",
    },
    "connect_blocked": {
        "en": "❌ WhatsApp banned or restricted this number, so it cannot be linked now. See /status.",
        "ru": "❌ WhatsApp заблокировал или ограничил этот номер, подключить его сейчас нельзя. Смотрите /status.",
    },
    "connect_running": {
        "en": "You are already connecting: scan the QR code above, or /cancel it.",
        "ru": "Подключение уже идёт: отсканируйте QR-код выше или отмените его командой /cancel.",
    },
    # --- the connect queue and fair use
    "connect_queue": {
        "en": "⏳ Many people are connecting right now. You are number <b>{place}</b> in line for a QR code, "
        "about {wait} to wait.\nThis picture turns into your QR code when your turn comes: keep this chat at hand.",
        "ru": "⏳ Сейчас подключается много людей. Вы <b>{place}</b>-й в очереди за QR-кодом, "
        "ждать примерно {wait}.\nКогда подойдёт очередь, эта картинка станет вашим QR-кодом: держите чат под рукой.",
    },
    "queue_wait_seconds": {
        "en": "{seconds} {seconds:one=second|other=seconds}",
        "ru": "{seconds} {seconds:one=секунду|few=секунды|many=секунд|other=секунды}",
    },
    "queue_wait_minutes": {
        "en": "{minutes} {minutes:one=minute|other=minutes}",
        "ru": "{minutes} {minutes:one=минуту|few=минуты|many=минут|other=минуты}",
    },
    "connect_in_line": {
        "en": "You are already in line for a QR code (number {place}): it comes in this chat. /cancel to leave the line.",
        "ru": "Вы уже в очереди за QR-кодом (номер {place}): он придёт в этот чат. Выйти из очереди: /cancel.",
    },
    "connect_limit_lines": {
        "en": "❌ You already hold {max} {max:one=WhatsApp line|other=WhatsApp lines} (linked or connecting): "
        "that is the most one person may have. Free one with /disconnect to connect another.",
        "ru": "❌ У вас уже {max} {max:one=линия|few=линии|many=линий|other=линии} WhatsApp (подключённых или подключаемых): "
        "больше одному человеку нельзя. Освободите одну командой /disconnect, чтобы подключить другую.",
    },
    "connect_limit_hourly": {
        "en": "❌ You started {max} {max:one=connection|other=connections} in the last hour: "
        "that is the most allowed per hour. Try again in {minutes} {minutes:one=minute|other=minutes} (at {at} UTC).",
        "ru": "❌ За последний час вы начали {max} {max:one=подключение|few=подключения|many=подключений|other=подключения}: "
        "больше в час нельзя. Попробуйте снова через {minutes} {minutes:one=минуту|few=минуты|many=минут|other=минуты} (в {at} UTC).",
    },
    "cancel_none": {
        "en": "Nothing to cancel: no connection is in progress.",
        "ru": "Отменять нечего: подключение не идёт.",
    },
    "choose_gateway": {
        "en": "Which WhatsApp gateway should I use?",
        "ru": "Через какой шлюз WhatsApp подключаться?",
    },
    "ask_credentials": {
        "en": "Send me your {gateway} instance in one message:\n<code>{usage}</code>\n(from your {gateway} console). "
        "I delete that message at once: it holds a secret token. /cancel to stop.",
        "ru": "Пришлите данные инстанса {gateway} одним сообщением:\n<code>{usage}</code>\n(из консоли {gateway}). "
        "Я сразу удалю это сообщение: в нём секретный токен. Отмена: /cancel.",
    },
    "unknown_gateway": {
        "en": "There is no gateway called “{name}”. Available: {names}.",
        "ru": "Шлюза «{name}» нет. Доступны: {names}.",
    },
    # --- /code
    "code_none": {
        "en": "A pairing code is for a running /connect: start one first.",
        "ru": "Код привязки нужен во время подключения: сначала выполните /connect.",
    },
    "code": {
        "en": "🔢 Your code: <code>{code}</code>\nOn the phone: WhatsApp → <b>Linked devices → Link a device → Link with phone number instead</b>, then type the code.",
        "ru": "🔢 Ваш код: <code>{code}</code>\nНа телефоне: WhatsApp → <b>Связанные устройства → Привязка устройства → Привязать по номеру телефона</b>, затем введите код.",
    },
}
