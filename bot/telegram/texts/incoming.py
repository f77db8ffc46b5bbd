"""Texts of incoming WhatsApp messages: how each kind is shown, files that could not be passed on,
mute and unmute, and why a line does not receive. Part of the one table in `texts/__init__.py`."""

from __future__ import annotations

INCOMING: dict[str, dict[str, str]] = {
    "inbox_from": {
        "en": "👤 <b>{name}</b> · {phone}",
        "ru": "👤 <b>{name}</b> · {phone}",
    },
    "inbox_from_group": {
        "en": "👥 <b>{group}</b> · {name} ({phone})",
        "ru": "👥 <b>{group}</b> · {name} ({phone})",
    },
    "inbox_empty": {"en": "<i>(an empty message)</i>", "ru": "<i>(пустое сообщение)</i>"},
    "inbox_long": {
        "en": "📄 A long message ({size} {size:one=character|other=characters}): the whole text is in the file.",
        "ru": "📄 Длинное сообщение ({size} {size:one=символ|few=символа|many=символов|other=символа}): весь текст — в файле.",
    },
    "inbox_cut": {
        "en": "… (cut: {size} {size:one=character|other=characters} in all)",
        "ru": "… (обрезано: всего {size} {size:one=символ|few=символа|many=символов|other=символа})",
    },
    "inbox_sticker": {"en": "🎨 A sticker", "ru": "🎨 Стикер"},
    "inbox_location": {"en": "📍 A location: {details}", "ru": "📍 Местоположение: {details}"},
    "inbox_contact": {"en": "📇 A contact card: {details}", "ru": "📇 Контакт: {details}"},
    "inbox_call": {"en": "📞 A WhatsApp call", "ru": "📞 Звонок WhatsApp"},
    "inbox_other": {
        "en": "❓ A kind of message Telegram cannot show ({details})",
        "ru": "❓ Сообщение, которое Telegram не умеет показать ({details})",
    },
    "inbox_file_problem": {
        "en": "📎 {kind}: {reason}",
        "ru": "📎 {kind}: {reason}",
    },
    "kind_image": {"en": "A photo", "ru": "Фото"},
    "kind_video": {"en": "A video", "ru": "Видео"},
    "kind_document": {"en": "A file", "ru": "Файл"},
    "kind_voice": {"en": "A voice message", "ru": "Голосовое сообщение"},
    "kind_audio": {"en": "An audio file", "ru": "Аудиофайл"},
    "media_too_large": {
        "en": "it is larger than 50 MB, Telegram's limit for bots, so it stays in WhatsApp.",
        "ru": "он больше 50 МБ — лимита Telegram для ботов, поэтому остался в WhatsApp.",
    },
    "media_unsafe": {
        "en": "its address points into a private network, so I did not open it.",
        "ru": "его адрес ведёт во внутреннюю сеть, поэтому я его не открывал.",
    },
    "media_expired": {
        "en": "the gateway no longer has the file.",
        "ru": "у шлюза больше нет этого файла.",
    },
    "media_unavailable": {
        "en": "the file could not be downloaded from the gateway.",
        "ru": "файл не удалось скачать со шлюза.",
    },
    "media_missing": {
        "en": "the gateway sent no file with it.",
        "ru": "шлюз не прислал сам файл.",
    },
    "media_refused": {
        "en": "Telegram would not take the file.",
        "ru": "Telegram не принял файл.",
    },
    "mute_done": {
        "en": "🔕 Muted {chat}: I won't forward its incoming messages until /unmute.",
        "ru": "🔕 {chat}: входящие сообщения больше не пересылаются, пока не скажете /unmute.",
    },
    "unmute_done": {
        "en": "🔔 {chat}: incoming messages are forwarded again (what came meanwhile is not replayed).",
        "ru": "🔔 {chat}: входящие сообщения снова пересылаются (пришедшие за это время не повторяются).",
    },
    "incoming_on": {"en": "Incoming messages: forwarded here", "ru": "Входящие: пересылаются сюда"},
    "incoming_muted": {
        "en": "Incoming messages: muted (/unmute)",
        "ru": "Входящие: выключены (/unmute)",
    },
    "incoming_off": {
        "en": "Incoming messages: cannot be received: {reason}",
        "ru": "Входящие: получать нельзя: {reason}",
    },
    "incoming_webhook_url": {
        "en": "this Green-API instance has a webhook URL in its settings, and Green-API then sends "
        "messages there instead of handing them to the bot. Clear “webhookUrl” in the Green-API "
        "console to receive them here (I do not change your settings myself).",
        "ru": "в настройках этого инстанса Green-API указан webhook URL, и Green-API отправляет "
        "сообщения туда, а не боту. Очистите «webhookUrl» в консоли Green-API, чтобы получать их "
        "здесь (сам я ваши настройки не меняю).",
    },
    "incoming_no_server": {
        "en": "this gateway pushes messages to the bot's HTTP server, which is off (the operator "
        "has not set HTTP_PORT).",
        "ru": "этот шлюз присылает сообщения на HTTP-сервер бота, а он выключен (владелец бота не "
        "задал HTTP_PORT).",
    },
    "incoming_undocumented": {
        "en": "this gateway documents no way to receive messages.",
        "ru": "этот шлюз не описывает способа получать сообщения.",
    },
}
