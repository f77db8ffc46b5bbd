"""Texts of a person's chats: /chats, /status, /disconnect, a line that was lost, and the line
controls (/reboot, /sleep, /resume, …). Part of the one table in `texts/__init__.py`."""

from __future__ import annotations

CHATS: dict[str, dict[str, str]] = {
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
    # --- line controls (/reboot, /sleep, /resume, …) and /status facts
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
}
