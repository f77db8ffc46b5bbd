"""Everything the bot says, in English and Russian. Values are HTML (Telegram parse mode);
`t()` escapes every argument, so user input echoed back can never break the formatting."""

from __future__ import annotations

import html
from typing import Any

from bot.gateways.base import ErrorKind, GatewayError, LineState, NoFreeLinesError

TEXTS: dict[str, dict[str, str]] = {
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
    # --- connect
    "connect_acquiring": {
        "en": "⏳ Getting a free WhatsApp slot…",
        "ru": "⏳ Получаю свободный слот WhatsApp…",
    },
    "connect_starting": {
        "en": "⏳ Starting WhatsApp… the QR code comes next.",
        "ru": "⏳ Запускаю WhatsApp… сейчас появится QR-код.",
    },
    "connect_qr": {
        "en": "📱 Scan this QR code with WhatsApp on your phone:\n"
        "<b>Settings → Linked devices → Link a device</b>\n\n"
        "Valid until <b>{until} UTC</b> (about {seconds} s). When WhatsApp changes the code, "
        "this picture is replaced automatically.",
        "ru": "📱 Отсканируйте QR-код в WhatsApp на телефоне:\n"
        "<b>Настройки → Связанные устройства → Привязка устройства</b>\n\n"
        "Действует до <b>{until} UTC</b> (около {seconds} с). Когда WhatsApp сменит код, "
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
    # --- send
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
        "en": "🛑 Daily limit reached: at most {cap} messages a day per WhatsApp line, to keep your number "
        "safe from a spam ban. Try again tomorrow.",
        "ru": "🛑 Дневной лимит исчерпан: не больше {cap} сообщений в день с одного номера, чтобы WhatsApp "
        "не заблокировал его за спам. Попробуйте завтра.",
    },
    "send_queued": {
        "en": "⏳ Sending to {phone}…",
        "ru": "⏳ Отправляю на {phone}…",
    },
    "send_queued_later": {
        "en": "⏳ Queued for {phone}: goes out in about {seconds} s (paced to protect your number).",
        "ru": "⏳ В очереди на {phone}: уйдёт примерно через {seconds} с (пауза защищает номер от бана).",
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
    "code_none": {
        "en": "A pairing code is for a running /connect: start one first.",
        "ru": "Код привязки нужен во время подключения: сначала выполните /connect.",
    },
    "code": {
        "en": "🔢 Your code: <code>{code}</code>\nOn the phone: WhatsApp → <b>Linked devices → Link a device → Link with phone number instead</b>, then type the code.",
        "ru": "🔢 Ваш код: <code>{code}</code>\nНа телефоне: WhatsApp → <b>Связанные устройства → Привязка устройства → Привязать по номеру телефона</b>, затем введите код.",
    },
    "control_done": {
        "en": "Done: {action} for {chat}.",
        "ru": "Готово: {action} для {chat}.",
    },
    "control_failed": {
        "en": "Could not do that: {reason}",
        "ru": "Не получилось: {reason}",
    },
    "last_message": {
        "en": "Last message to {phone}: {status}",
        "ru": "Последнее сообщение на {phone}: {status}",
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
    # --- chats, status, disconnect
    "chats_none": {
        "en": "You have no WhatsApp chats yet. Connect one with /connect.",
        "ru": "У вас ещё нет чатов WhatsApp. Подключите: /connect.",
    },
    "chats_head": {
        "en": "<b>Your WhatsApp chats</b> (★ = active, used by /send). Tap one to make it active.",
        "ru": "<b>Ваши чаты WhatsApp</b> (★ — активный, через него работает /send). Нажмите, чтобы выбрать.",
    },
    "chat_line": {
        "en": "{star} {name} {phone} · {state} · {gateway}",
        "ru": "{star} {name} {phone} · {state} · {gateway}",
    },
    "chat_activated": {
        "en": "★ Active chat: {chat}. /send goes through it now.",
        "ru": "★ Активный чат: {chat}. Теперь /send отправляет через него.",
    },
    "chat_gone": {
        "en": "That chat is not available any more. See /chats.",
        "ru": "Этот чат больше недоступен. Смотрите /chats.",
    },
    "status_none": {
        "en": "No active WhatsApp chat. Connect one with /connect or pick one in /chats.",
        "ru": "Нет активного чата WhatsApp. Подключите: /connect или выберите в /chats.",
    },
    "status": {
        "en": "<b>{chat}</b>\nGateway: {gateway}\nState: <b>{state}</b>{raw}\n{explain}",
        "ru": "<b>{chat}</b>\nШлюз: {gateway}\nСостояние: <b>{state}</b>{raw}\n{explain}",
    },
    "status_unreachable": {
        "en": "<b>{chat}</b>\nLast known state: <b>{state}</b>\nI could not ask the gateway now: {reason}",
        "ru": "<b>{chat}</b>\nПоследнее известное состояние: <b>{state}</b>\nСейчас не удалось спросить шлюз: {reason}",
    },
    "disconnect_none": {
        "en": "Nothing to disconnect: you have no active WhatsApp chat.",
        "ru": "Отключать нечего: нет активного чата WhatsApp.",
    },
    "disconnect_confirm": {
        "en": "Disconnect {chat}? WhatsApp will be logged out there and I will forget this chat.",
        "ru": "Отключить {chat}? WhatsApp выйдет из аккаунта на шлюзе, а я забуду этот чат.",
    },
    "disconnect_done": {
        "en": "Disconnected {chat}. Connect again any time with /connect.",
        "ru": "{chat} отключён. Подключиться снова: /connect.",
    },
    "disconnect_kept": {"en": "Nothing changed.", "ru": "Ничего не изменилось."},
    "line_lost": {
        "en": "⚠️ Your WhatsApp {chat} is no longer linked: {reason}. Connect it again to keep sending.",
        "ru": "⚠️ Ваш WhatsApp {chat} больше не подключён: {reason}. Подключитесь заново, чтобы отправлять.",
    },
    "lost_reason": {
        "en": "the gateway forgot the link (test lines are wiped every two hours, or it was unlinked on the phone)",
        "ru": "шлюз потерял подключение (тестовые линии очищаются каждые два часа, или его отвязали на телефоне)",
    },
    # --- incoming
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
        "en": "📄 A long message ({size} characters): the whole text is in the file.",
        "ru": "📄 Длинное сообщение ({size} символов): весь текст — в файле.",
    },
    "inbox_cut": {
        "en": "… (cut: {size} characters in all)",
        "ru": "… (обрезано: всего {size} символов)",
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
    # --- team inbox (/desk)
    "desk_on": {
        "en": "👥 {chat} is a team desk now. Invite teammates with /desk invite; customers' messages "
        "arrive as cards with a <b>Take</b> button, and whoever takes a customer answers them by replying.",
        "ru": "👥 {chat} теперь общая линия команды. Пригласите коллег: /desk invite. Сообщения клиентов "
        "приходят карточками с кнопкой <b>Взять</b>; кто взял клиента, тот и отвечает ему ответом на сообщение.",
    },
    "desk_off": {
        "en": "{chat} is yours alone again: every conversation comes to you.",
        "ru": "{chat} снова только ваша: все разговоры приходят вам.",
    },
    "desk_invite": {
        "en": "Send this link to one teammate (it works once, for 24 hours):\n{link}",
        "ru": "Отправьте эту ссылку одному коллеге (она одноразовая и действует 24 часа):\n{link}",
    },
    "desk_joined": {
        "en": "👥 You joined the team desk of {chat}. Customers' messages will arrive here as cards: "
        "press <b>Take</b> to answer one. /desk lists what you can do.",
        "ru": "👥 Вы в команде линии {chat}. Сообщения клиентов будут приходить сюда карточками: нажмите "
        "<b>Взять</b>, чтобы ответить. Что ещё можно: /desk.",
    },
    "desk_member_joined": {
        "en": "👥 {name} joined your team desk.",
        "ru": "👥 {name} присоединился к вашей команде.",
    },
    "desk_members": {"en": "<b>Team</b>:\n{members}", "ru": "<b>Команда</b>:\n{members}"},
    "desk_removed": {"en": "{name} is no longer on the team.", "ru": "{name} больше не в команде."},
    "desk_area_added": {"en": "Area “{name}” added.", "ru": "Отдел «{name}» добавлен."},
    "desk_area_joined": {
        "en": "You are in area “{name}” now.",
        "ru": "Теперь вы в отделе «{name}».",
    },
    "desk_area_left": {"en": "You left area “{name}”.", "ru": "Вы вышли из отдела «{name}»."},
    "desk_queue": {"en": "<b>Waiting</b>:\n{lines}", "ru": "<b>Ждут ответа</b>:\n{lines}"},
    "desk_queue_none": {"en": "Nobody is waiting.", "ru": "Никто не ждёт."},
    "desk_mine": {
        "en": "<b>Your conversations</b>:\n{lines}",
        "ru": "<b>Ваши разговоры</b>:\n{lines}",
    },
    "desk_mine_none": {
        "en": "You have no open conversations.",
        "ru": "У вас нет открытых разговоров.",
    },
    "desk_signature": {
        "en": "Your answers are signed “— {name}” now.",
        "ru": "Теперь ваши ответы подписаны «— {name}».",
    },
    "desk_signature_off": {"en": "Your answers are not signed.", "ru": "Ваши ответы без подписи."},
    "desk_taken": {"en": "✋ Taken by {name}.", "ru": "✋ Взял(а): {name}."},
    "desk_took": {
        "en": "✅ The customer is yours: reply to their messages to answer.",
        "ru": "✅ Клиент ваш: отвечайте ответом на его сообщения.",
    },
    "desk_waiting": {
        "en": "📥 {name} · {phone} is waiting{area}.",
        "ru": "📥 {name} · {phone} ждёт ответа{area}.",
    },
    "desk_in_area": {"en": " in {area}", "ru": " в отделе «{area}»"},
    "desk_handed": {
        "en": "🔀 {by} handed you the conversation with {name} · {phone}. Reply to this message to answer.",
        "ru": "🔀 {by} передал(а) вам разговор с {name} · {phone}. Ответьте на это сообщение, чтобы написать клиенту.",
    },
    "desk_transferred": {"en": "🔀 Handed to {name}.", "ru": "🔀 Передано: {name}."},
    "desk_moved": {
        "en": "📥 Back in the queue of “{area}”.",
        "ru": "📥 Снова в очереди отдела «{area}».",
    },
    "desk_closed": {
        "en": "☑️ Closed. Their next message goes to the queue again.",
        "ru": "☑️ Закрыто. Следующее сообщение клиента снова попадёт в очередь.",
    },
    "desk_choose": {"en": "Hand it to:", "ru": "Кому передать:"},
    "desk_operator_set": {
        "en": "{name} answers as HCI operator {operator} now.",
        "ru": "{name} теперь отвечает как оператор HCI {operator}.",
    },
    "desk_operator_off": {
        "en": "{name} is no longer an HCI operator here.",
        "ru": "{name} больше не оператор HCI здесь.",
    },
    "desk_no_line": {
        "en": "You need a linked WhatsApp line first (/connect), active in /chats.",
        "ru": "Сначала нужна подключённая линия WhatsApp (/connect), активная в /chats.",
    },
    "desk_not_linked": {
        "en": "The active line is not linked right now: check /status.",
        "ru": "Активная линия сейчас не подключена: смотрите /status.",
    },
    "desk_cannot_receive": {
        "en": "This line's gateway cannot receive messages, so a team cannot answer them.",
        "ru": "Шлюз этой линии не умеет получать сообщения, поэтому команде нечего будет отвечать.",
    },
    "desk_not_desk": {
        "en": "Your active line is not a team desk: turn it into one with /desk on.",
        "ru": "Ваша активная линия не общая: сделайте её общей командой /desk on.",
    },
    "desk_not_member": {
        "en": "You are not on any team desk.",
        "ru": "Вы не состоите ни в одной команде.",
    },
    "desk_invite_unknown": {
        "en": "This invitation link is not valid.",
        "ru": "Эта ссылка-приглашение недействительна.",
    },
    "desk_invite_used": {
        "en": "This invitation link was already used: ask for a new one.",
        "ru": "Эта ссылка-приглашение уже использована: попросите новую.",
    },
    "desk_invite_expired": {
        "en": "This invitation link has expired (they last 24 hours): ask for a new one.",
        "ru": "Срок ссылки-приглашения истёк (она действует 24 часа): попросите новую.",
    },
    "desk_not_allowed": {
        "en": "This bot is private: its owner has to allow your id first.",
        "ru": "Это закрытый бот: владелец сначала должен разрешить ваш id.",
    },
    "desk_remove_self": {
        "en": "You own this desk: /desk off instead.",
        "ru": "Это ваша линия: используйте /desk off.",
    },
    "desk_area_exists": {
        "en": "There is already an area “{name}”.",
        "ru": "Отдел «{name}» уже есть.",
    },
    "desk_area_unknown": {
        "en": "There is no area “{name}”. /desk members shows the team.",
        "ru": "Отдела «{name}» нет.",
    },
    "desk_gone": {
        "en": "That conversation is no longer there.",
        "ru": "Этого разговора больше нет.",
    },
    "desk_not_yours": {"en": "That conversation is not yours.", "ru": "Это не ваш разговор."},
    "desk_answer_waiting": {
        "en": "This customer is waiting: press <b>Take</b> first, then answer.",
        "ru": "Этот клиент ждёт: сначала нажмите <b>Взять</b>, потом отвечайте.",
    },
    "desk_answer_taken": {
        "en": "{name} answers this customer, not you.",
        "ru": "Этому клиенту отвечает {name}, а не вы.",
    },
    "desk_hci_failed": {
        "en": "HCI Whats Center said no: {reason}",
        "ru": "HCI Whats Center отказал: {reason}",
    },
    "desk_operator_unknown_user": {
        "en": "I don't know {who}: they must write to me once first (Telegram does not let bots look people up by name).",
        "ru": "Я не знаю {who}: пусть сначала напишет мне (Telegram не даёт ботам искать людей по имени).",
    },
    "desk_admin_only": {
        "en": "Only the bot's admins can do that.",
        "ru": "Это могут только админы бота.",
    },
    "desk_usage": {
        "en": "<b>Team desk</b>\n/desk on · /desk off — share your active line with a team, or stop\n"
        "/desk invite — a one-time link for a teammate\n/desk members — the team (owner: remove)\n"
        "/desk area add NAME · /desk area join NAME · /desk area leave NAME\n"
        "/desk queue — who is waiting · /desk mine — your conversations\n"
        "/desk signature on|off — sign your answers",
        "ru": "<b>Общая линия</b>\n/desk on · /desk off — поделиться активной линией с командой или перестать\n"
        "/desk invite — одноразовая ссылка для коллеги\n/desk members — команда (владелец может удалить)\n"
        "/desk area add ИМЯ · /desk area join ИМЯ · /desk area leave ИМЯ\n"
        "/desk queue — кто ждёт · /desk mine — ваши разговоры\n"
        "/desk signature on|off — подписывать ответы",
    },
    "btn_take": {"en": "✋ Take", "ru": "✋ Взять"},
    "btn_area": {"en": "📥 Area…", "ru": "📥 Отдел…"},
    "btn_transfer": {"en": "🔀 Transfer", "ru": "🔀 Передать"},
    "btn_close": {"en": "☑️ Close", "ru": "☑️ Закрыть"},
    "btn_remove": {"en": "❌ Remove {name}", "ru": "❌ Удалить {name}"},
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


def t(lang: str, key: str, **values: Any) -> str:
    template = TEXTS[key][lang_of(lang)]
    return template.format(**{k: _safe(v) for k, v in values.items()})


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
    return value if isinstance(value, (Html, int, float)) else html.escape(str(value), quote=False)


class Html(str):
    """A fragment that is already safe HTML (built from escaped parts)."""
