"""Texts every feature shares: the greeting and /help, the gate's refusals (private chats,
ALLOWED_USER_IDS), usage errors and unknown commands, files the bot cannot pass on, the error
handler's apology, /admin, and the buttons of `keyboards.py` with the words several views use.
Part of the one table in `texts/__init__.py`."""

from __future__ import annotations

COMMON: dict[str, dict[str, str]] = {
    "start": {
        "en": "👋 Hi! I put your <b>WhatsApp</b> in Telegram: link your account by scanning a QR code, "
        "then send WhatsApp messages from here.\n\nFirst step: /connect\nEverything else: /help",
        "ru": "👋 Привет! Я подключаю ваш <b>WhatsApp</b> к Telegram: отсканируйте QR-код, "
        "и отправляйте сообщения WhatsApp прямо отсюда.\n\nПервый шаг: /connect\nВсё остальное: /help",
    },
    "help_head": {
        "en": "<b>What I can do</b>",
        "ru": "<b>Что я умею</b>",
    },
    "help_usage": {"en": "Usage", "ru": "Формат"},
    "help_example": {"en": "Example", "ru": "Пример"},
    "help_tail": {
        "en": "Phone numbers may be typed as you like: <code>89872745052</code>, "
        "<code>+7 987 274-50-52</code>, <code>+49 1521 6896607</code>. A message may span several lines. "
        "Reply to any message with <code>/send PHONE</code> to send its text.\n\n"
        "<b>Answering</b>: messages from WhatsApp arrive here. Just reply to one (text, photo, file, "
        "voice…) and your answer goes to that contact, through the line it came in on. A reply to my "
        "“Sent to …” message goes to the same person. Photos and files can also be sent with the "
        "caption <code>/send PHONE</code>.",
        "ru": "Номер можно писать как удобно: <code>89872745052</code>, <code>+7 987 274-50-52</code>, "
        "<code>+49 1521 6896607</code>. Текст может занимать несколько строк. Ответьте на любое "
        "сообщение командой <code>/send НОМЕР</code>, чтобы отправить его текст.\n\n"
        "<b>Ответы</b>: сообщения из WhatsApp приходят сюда. Просто ответьте на любое (текстом, фото, "
        "файлом, голосовым…) — ответ уйдёт этому контакту через ту линию, откуда пришло сообщение. "
        "Ответ на моё «Отправлено на …» уйдёт тому же человеку. Фото и файлы можно отправить и с "
        "подписью <code>/send НОМЕР</code>.",
    },
    "not_allowed": {
        "en": "Sorry, this bot is private. Ask its owner to add your id <code>{user_id}</code>.",
        "ru": "Извините, это закрытый бот. Попросите владельца добавить ваш id <code>{user_id}</code>.",
    },
    "private_only": {
        "en": "I work in a private chat only: open @{bot} and write there.",
        "ru": "Я работаю только в личном чате: откройте @{bot} и напишите там.",
    },
    "usage_error": {
        "en": "⚠️ {problem}\n{usage_label}: <code>{usage}</code>\n{example_label}: <code>{example}</code>",
        "ru": "⚠️ {problem}\n{usage_label}: <code>{usage}</code>\n{example_label}: <code>{example}</code>",
    },
    "unknown_command": {
        "en": "I don't know the command {command}. See /help.",
        "ru": "Я не знаю команду {command}. Список команд: /help.",
    },
    "not_text": {
        "en": "To send this to WhatsApp, send it as a reply to a WhatsApp message I forwarded, or "
        "with the caption <code>/send PHONE</code>. See /help.",
        "ru": "Чтобы отправить это в WhatsApp, пришлите его ответом на пересланное мной сообщение "
        "WhatsApp или с подписью <code>/send НОМЕР</code>. Подробнее: /help.",
    },
    "plain_text": {
        "en": "To send this to WhatsApp, reply with it to a WhatsApp message I forwarded, or use "
        "<code>/send PHONE TEXT</code>. See /help.",
        "ru": "Чтобы отправить это в WhatsApp, ответьте им на пересланное мной сообщение WhatsApp или "
        "используйте <code>/send НОМЕР ТЕКСТ</code>. Подробнее: /help.",
    },
    "file_too_big": {
        "en": "This file is larger than 20 MB: Telegram does not let bots download files that big, "
        "so I cannot pass it on to WhatsApp.",
        "ru": "Файл больше 20 МБ: Telegram не даёт ботам скачивать такие файлы, поэтому передать его "
        "в WhatsApp я не могу.",
    },
    "file_kind_unsupported": {
        "en": "I can pass on photos, videos, files, voice messages and audio; not this kind.",
        "ru": "Я могу передать фото, видео, файлы, голосовые и аудио; такой тип — нет.",
    },
    "internal_error": {
        "en": "😕 Something went wrong on my side. Please try again. Reference: <code>{ref}</code>",
        "ru": "😕 У меня что-то сломалось. Попробуйте ещё раз. Код для поддержки: <code>{ref}</code>",
    },
    # --- /admin
    "admin": {
        "en": "<b>Usage</b>\nUsers: {users}\nChats: {chats}\nMessages: {messages}",
        "ru": "<b>Статистика</b>\nПользователи: {users}\nЧаты: {chats}\nСообщения: {messages}",
    },
    "admin_only": {
        "en": "This command is for the bot's admins.",
        "ru": "Эта команда только для админов бота.",
    },
    # --- buttons
    "btn_cancel": {"en": "✖️ Cancel", "ru": "✖️ Отмена"},
    "btn_new_qr": {"en": "🔄 New QR code", "ru": "🔄 Новый QR-код"},
    "btn_retry": {"en": "🔄 Try again", "ru": "🔄 Попробовать снова"},
    "btn_connect": {"en": "🔗 Connect again", "ru": "🔗 Подключить заново"},
    "btn_yes_disconnect": {"en": "Yes, disconnect", "ru": "Да, отключить"},
    "btn_no": {"en": "No", "ru": "Нет"},
    "btn_send_again": {"en": "↻ Send again", "ru": "↻ Отправить ещё раз"},
    "btn_mute": {"en": "🔕 Mute", "ru": "🔕 Без входящих"},
    "btn_unmute": {"en": "🔔 Unmute", "ru": "🔔 Со входящими"},
    "unnamed": {"en": "(no name)", "ru": "(без имени)"},
    "no_phone": {"en": "(number unknown)", "ru": "(номер неизвестен)"},
}
