"""Texts of threads (a topic per WhatsApp conversation): a new topic's header, the lines left in
a topic when the conversation moves on, the question in a topic the bot does not know, /mute in a
topic, and how to write to someone from the general part. Part of the one table in
`texts/__init__.py`."""

from __future__ import annotations

THREADS: dict[str, dict[str, str]] = {
    "topic_header": {
        "en": "💬 <b>{name}</b>\n📱 Line: {line}\n✍️ Write here to answer: what you send in this "
        "topic goes to this WhatsApp chat. /mute here mutes this chat alone.",
        "ru": "💬 <b>{name}</b>\n📱 Линия: {line}\n✍️ Пишите здесь, чтобы ответить: всё, что вы "
        "отправите в эту тему, уйдёт в этот чат WhatsApp. /mute здесь отключает только его.",
    },
    "topic_header_recent": {
        "en": "\n\nSo far:\n{lines}",
        "ru": "\n\nДо сих пор:\n{lines}",
    },
    "topic_recent_file": {"en": "📎 a file", "ru": "📎 файл"},
    "topic_note_moved": {
        "en": "➡️ This conversation ({name}) continues in the topic you chose for it. Nothing more "
        "comes here.",
        "ru": "➡️ Этот разговор ({name}) продолжается в теме, которую вы для него выбрали. Сюда "
        "больше ничего не придёт.",
    },
    "topic_note_handed": {
        "en": "➡️ {name} answers this customer now. Nothing more comes here.",
        "ru": "➡️ Теперь этому клиенту отвечает {name}. Сюда больше ничего не придёт.",
    },
    "topic_note_queued": {
        "en": "➡️ This customer is back in the queue of “{name}”. Nothing more comes here.",
        "ru": "➡️ Клиент снова в очереди «{name}». Сюда больше ничего не придёт.",
    },
    "topic_note_closed": {
        "en": "☑️ Closed. The customer's next message waits in the queue again.",
        "ru": "☑️ Закрыто. Следующее сообщение клиента снова попадёт в очередь.",
    },
    "topic_echo": {
        "en": "↗️ You sent from the general chat:\n{text}",
        "ru": "↗️ Вы отправили из общего чата:\n{text}",
    },
    "topic_echo_file": {
        "en": "↗️ You sent a file from the general chat ({name})\n{text}",
        "ru": "↗️ Вы отправили файл из общего чата ({name})\n{text}",
    },
    "topic_echo_link": {
        "en": "↗️ You sent from the general chat: {url}\n{text}",
        "ru": "↗️ Вы отправили из общего чата: {url}\n{text}",
    },
    "topic_question": {
        "en": "❓ Whom is this topic for? Send a phone number (<code>+7 900 123-45-67</code>) or a "
        "contact's name, and from then on what you write here goes to them on WhatsApp. What you "
        "write here before that is not sent.",
        "ru": "❓ С кем эта тема? Пришлите номер телефона (<code>+7 900 123-45-67</code>) или имя "
        "контакта — и дальше всё, что вы здесь напишете, будет уходить ему в WhatsApp. То, что "
        "вы напишете здесь до этого, не отправляется.",
    },
    "topic_question_none": {
        "en": "❓ No contact named “{text}”. Send a phone number (<code>+7 900 123-45-67</code>) or "
        "the start of a contact's name. What you write here until then is not sent.",
        "ru": "❓ Нет контакта с именем «{text}». Пришлите номер телефона "
        "(<code>+7 900 123-45-67</code>) или начало имени контакта. До этого написанное здесь "
        "не отправляется.",
    },
    "topic_question_which": {
        "en": "❓ Several contacts match “{text}”: which one is this topic for?",
        "ru": "❓ Под «{text}» подходят несколько контактов: с кем эта тема?",
    },
    "topic_bound": {
        "en": "✅ This topic is now the conversation with <b>{name}</b> (line {line}). Write here "
        "to answer.",
        "ru": "✅ Теперь эта тема — разговор с <b>{name}</b> (линия {line}). Пишите здесь, чтобы "
        "ответить.",
    },
    "topic_bind_gone": {
        "en": "That contact is no longer in your address book.",
        "ru": "Этого контакта больше нет в вашей адресной книге.",
    },
    "topic_mute_done": {
        "en": "🔕 Muted: messages of {name} are no longer forwarded here. /unmute resumes them "
        "(what comes meanwhile is not replayed).",
        "ru": "🔕 Без звука: сообщения {name} сюда больше не пересылаются. /unmute возобновит "
        "(пришедшее за это время не повторяется).",
    },
    "topic_unmute_done": {
        "en": "🔔 Messages of {name} are forwarded here again.",
        "ru": "🔔 Сообщения {name} снова пересылаются сюда.",
    },
    "topic_line_not_ready": {
        "en": "The WhatsApp line of this conversation ({chat}) is {state}, so I can't send through "
        "it. Check /status or /connect again.",
        "ru": "Линия WhatsApp этого разговора ({chat}) сейчас в состоянии «{state}», отправить "
        "через неё нельзя. Проверьте /status или выполните /connect заново.",
    },
    "topic_send_again_done": {
        "en": "🔁 Sending again…",
        "ru": "🔁 Отправляю ещё раз…",
    },
    "plain_text_threads": {
        "en": "To write to someone, open their topic and write there, or use "
        "<code>/send PHONE TEXT</code>. See /help.",
        "ru": "Чтобы написать кому-то, откройте его тему и пишите там или используйте "
        "<code>/send НОМЕР ТЕКСТ</code>. Подробнее: /help.",
    },
    "admin_threads_on": {
        "en": "Threads: on (a topic per conversation)",
        "ru": "Темы: включены (тема на каждый разговор)",
    },
    "admin_threads_off": {
        "en": "Threads: off (THREADS={setting}; Threaded Mode in @BotFather: {mode})",
        "ru": "Темы: выключены (THREADS={setting}; Threaded Mode в @BotFather: {mode})",
    },
}
