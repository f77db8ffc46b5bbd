"""Texts of the address book: /contacts, /send to a name, /name. Part of the one table in
`texts/__init__.py`."""

from __future__ import annotations

CONTACTS: dict[str, dict[str, str]] = {
    "contacts_head": {
        "en": "📒 <b>Your contacts</b>, newest first (in all: {count}):",
        "ru": "📒 <b>Ваши контакты</b>, сначала недавние (всего {count}):",
    },
    "contacts_head_found": {
        "en": "📒 <b>Contacts matching “{text}”</b> ({count}):",
        "ru": "📒 <b>Контакты по запросу «{text}»</b> ({count}):",
    },
    "contacts_more": {
        "en": "… not shown: {more}. Narrow it down: /contacts NAME",
        "ru": "… не показано: {more}. Уточните: /contacts ИМЯ",
    },
    "contacts_none": {
        "en": "No contacts yet: everyone who writes to you, or whom you write to, appears here.",
        "ru": "Контактов пока нет: здесь появляется каждый, кто пишет вам или кому пишете вы.",
    },
    "contacts_none_found": {
        "en": "No contact matches “{text}”. /contacts lists them all.",
        "ru": "Нет контакта по запросу «{text}». Все контакты: /contacts.",
    },
    "contact_line": {
        "en": "• {label}{line} · {at}",
        "ru": "• {label}{line} · {at}",
    },
    "send_name_none": {
        "en": "I know nobody called “{name}”. Write the number instead: <code>/send +7 987 274-50-52 Hello</code> "
        "(the names I know: /contacts).",
        "ru": "Я не знаю никого по имени «{name}». Укажите номер: <code>/send +7 987 274-50-52 Привет</code> "
        "(известные мне имена: /contacts).",
    },
    "send_name_many": {
        "en": "Several contacts match “{name}”: whom shall I send it to?",
        "ru": "Под «{name}» подходят несколько контактов: кому отправить?",
    },
    "send_name_picked": {
        "en": "→ {name}",
        "ru": "→ {name}",
    },
    "send_name_lost": {
        "en": "I no longer have the text to send (its message is gone). Send it again with /send.",
        "ru": "Текста для отправки больше нет (его сообщение удалено). Отправьте заново: /send.",
    },
    "name_missing": {
        "en": "the name is missing.",
        "ru": "не указано имя.",
    },
    "name_where": {
        "en": "say whose name it is: write it in their topic, or give the number first.",
        "ru": "укажите, чьё это имя: напишите команду в теме контакта или сначала укажите номер.",
    },
    "name_done": {
        "en": "✏️ Named: {label}",
        "ru": "✏️ Имя задано: {label}",
    },
}
