"""Texts of sending: /send, /sendfile, /sendlink and Send again, the confirmation's ticks, why a
message failed (`reason_*`), and the problems with a typed number or text. Part of the one table
in `texts/__init__.py`."""

from __future__ import annotations

SEND: dict[str, dict[str, str]] = {
    "send_no_chat": {
        "en": "You have no connected WhatsApp yet. Start with /connect.",
        "ru": "У вас ещё нет подключённого WhatsApp. Начните с /connect.",
    },
    "send_not_ready": {
        "en": "Your active WhatsApp ({chat}) is {state}, so I can't send through it. "
        "Check /status, pick another in /chats, or /connect again.",
        "ru": "Ваш активный WhatsApp ({chat}) сейчас в состоянии «{state}», отправить через него нельзя. "
        "Посмотрите /status, выберите другой в /chats или подключитесь заново: /connect.",
    },
    "send_daily_cap": {
        "en": "🛑 Daily limit reached: at most {cap} {cap:one=message|other=messages} a day per WhatsApp line, to keep your number "
        "safe from a spam ban. Try again tomorrow.",
        "ru": "🛑 Дневной лимит исчерпан: не больше {cap} {cap:one=сообщения|few=сообщений|many=сообщений|other=сообщения} в день с одного номера, чтобы WhatsApp "
        "не заблокировал его за спам. Попробуйте завтра.",
    },
    "send_queued": {
        "en": "⏳ Sending to {phone}…",
        "ru": "⏳ Отправляю на {phone}…",
    },
    "send_waiting": {
        "en": "⏳ To {phone}: waiting for {gateway}, will send when it is back.",
        "ru": "⏳ На {phone}: жду, пока {gateway} снова заработает, и тогда отправлю.",
    },
    "send_queued_later": {
        "en": "⏳ Queued for {phone}: goes out in about {seconds} {seconds:one=second|other=seconds} (paced to protect your number).",
        "ru": "⏳ В очереди на {phone}: уйдёт примерно через {seconds} {seconds:one=секунду|few=секунды|many=секунд|other=секунды} (пауза защищает номер от бана).",
    },
    "send_sent": {
        "en": "✓ Sent to {phone}",
        "ru": "✓ Отправлено на {phone}",
    },
    "send_delivered": {
        "en": "✓✓ Sent to {phone} · delivered",
        "ru": "✓✓ Отправлено на {phone} · доставлено",
    },
    "send_read": {
        "en": "✓✓ Sent to {phone} · read",
        "ru": "✓✓ Отправлено на {phone} · прочитано",
    },
    "send_undelivered": {
        "en": "❌ Sent to {phone}, but not delivered: {reason}",
        "ru": "❌ Отправлено на {phone}, но не доставлено: {reason}",
    },
    "send_failed": {
        "en": "❌ Not sent to {phone}: {reason}",
        "ru": "❌ Не отправлено на {phone}: {reason}",
    },
    "send_uncertain": {
        "en": "⚠️ To {phone}: the gateway did not answer, so I don't know whether the message went out. "
        "I did not retry, to avoid sending it twice. If it did not arrive, tap “Send again”.",
        "ru": "⚠️ На {phone}: шлюз не ответил, поэтому неизвестно, ушло ли сообщение. Я не стал повторять, "
        "чтобы не отправить его дважды. Если оно не дошло, нажмите «Отправить ещё раз».",
    },
    "reason_gateway_down": {
        "en": "{gateway} stayed unreachable for too long, so I stopped trying. "
        "Tap “Send again” to try once more.",
        "ru": "{gateway} слишком долго не отвечал, и я перестал пытаться. "
        "Нажмите «Отправить ещё раз», чтобы попробовать снова.",
    },
    "reason_too_big": {
        "en": "the file is over Telegram's 20 MB limit for bots, so I could not fetch it.",
        "ru": "файл больше 20 МБ — лимит Telegram для ботов, я не смог его получить.",
    },
    "reason_no_public_url": {
        "en": "this gateway fetches files from a link, and this bot has no public address "
        "(PUBLIC_URL) to serve one. Ask the bot's operator.",
        "ru": "этот шлюз забирает файлы по ссылке, а у бота нет публичного адреса (PUBLIC_URL). "
        "Обратитесь к владельцу бота.",
    },
    "reason_failed": {
        "en": "WhatsApp could not deliver it.",
        "ru": "WhatsApp не смог его доставить.",
    },
    "reason_noAccount": {
        "en": "this number has no WhatsApp account.",
        "ru": "у этого номера нет WhatsApp.",
    },
    "reason_notInGroup": {
        "en": "you are not a member of that group.",
        "ru": "вы не участник этой группы.",
    },
    "reason_yellowCard": {
        "en": "WhatsApp paused sending from your number for suspected spam (a “yellow card”); "
        "wait, then /reboot the line.",
        "ru": "WhatsApp приостановил отправку с вашего номера из-за подозрения на спам («жёлтая "
        "карточка»); подождите и перезапустите линию: /reboot.",
    },
    "reason_line_gone": {
        "en": "the WhatsApp line was disconnected or lost before it could go out.",
        "ru": "линия WhatsApp была отключена или потеряна до отправки.",
    },
    "url_invalid": {
        "en": "“{raw}” is not a web address: use a link that starts with http:// or https://.",
        "ru": "«{raw}» — не ссылка: нужна ссылка, начинающаяся с http:// или https://.",
    },
    "url_missing": {
        "en": "The URL is missing: give the address of the file or page.",
        "ru": "Не указана ссылка (URL) на файл или страницу.",
    },
    "send_again_none": {
        "en": "That message can no longer be sent again.",
        "ru": "Это сообщение больше нельзя отправить повторно.",
    },
    # --- problems with a typed number or text
    "phone_missing": {"en": "The phone number is missing.", "ru": "Не указан номер телефона."},
    "phone_characters": {
        "en": "“{raw}” is not a phone number: use digits, spaces, + - ( ).",
        "ru": "«{raw}» — не номер телефона: допустимы цифры, пробелы, + - ( ).",
    },
    "phone_invalid": {
        "en": "“{raw}” is not a valid phone number. Include the country code if it is not {region}.",
        "ru": "«{raw}» — неверный номер. Укажите код страны, если номер не из {region}.",
    },
    "phone_ambiguous": {
        "en": "“{raw}” could be {a} or {b}. Please type the number with “+”, the country code and no spaces.",
        "ru": "«{raw}» может означать {a} или {b}. Напишите номер с «+», кодом страны и без пробелов.",
    },
    "text_missing": {
        "en": "The message text is missing.",
        "ru": "Не указан текст сообщения.",
    },
    "reply_no_text": {
        "en": "The message you replied to has no text to send.",
        "ru": "В сообщении, на которое вы ответили, нет текста.",
    },
}
