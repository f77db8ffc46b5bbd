"""Every command, declared once: its usage line, an example and what it does.

The same declarations feed /help, the Telegram command menu (setMyCommands, in both languages)
and the reply to a wrong call ("Usage: …  Example: …").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    example: str
    about_en: str
    about_ru: str
    in_menu: bool = True

    def about(self, lang: str) -> str:
        return self.about_ru if lang == "ru" else self.about_en


COMMANDS: tuple[Command, ...] = (
    Command("start", "/start", "/start", "What this bot does", "Что умеет бот"),
    Command(
        "connect",
        "/connect [gateway] [credentials]",
        "/connect",
        "Link WhatsApp: scan the QR code I send",
        "Подключить WhatsApp: отсканировать QR-код",
    ),
    Command(
        "send",
        "/send PHONE TEXT, or /send NAME TEXT",
        "/send +7 987 274-50-52 Hello!",
        "Send a WhatsApp message to a new contact (to answer, just reply to their message)",
        "Написать в WhatsApp новому контакту (чтобы ответить, просто ответьте на сообщение)",
    ),
    Command(
        "contacts",
        "/contacts [NAME or DIGITS]",
        "/contacts Ivan",
        "Everyone you wrote with, newest first (filter by name or digits)",
        "Все, с кем вы переписывались, сначала недавние (поиск по имени или цифрам)",
    ),
    Command(
        "name",
        "/name NEW NAME (in a contact's topic), or /name PHONE NEW NAME",
        "/name +7 987 274-50-52 Ivan the baker",
        "Give a contact the name you want to see",
        "Назвать контакт так, как удобно вам",
    ),
    Command(
        "sendfile",
        "/sendfile PHONE URL [caption]",
        "/sendfile +7 987 274-50-52 https://example.com/photo.jpg Look!",
        "Send an image or file by its URL",
        "Отправить картинку или файл по ссылке",
    ),
    Command(
        "sendlink",
        "/sendlink PHONE URL [text]",
        "/sendlink +7 987 274-50-52 https://example.com/news Read this",
        "Send a link to a web page (WhatsApp shows its preview)",
        "Отправить ссылку на страницу (WhatsApp покажет превью)",
    ),
    Command(
        "bulk",
        "/bulk",
        "/bulk",
        "Send one text to a list of numbers, paced like a person, with a report",
        "Разослать один текст по списку номеров, в темпе человека, с отчётом",
    ),
    Command(
        "code",
        "/code PHONE",
        "/code +7 987 274-50-52",
        "While connecting: a code to link by phone number instead of the QR",
        "Во время подключения: код для привязки по номеру вместо QR",
    ),
    Command(
        "chats",
        "/chats",
        "/chats",
        "Your WhatsApp chats; pick the active one",
        "Ваши чаты WhatsApp и выбор активного",
    ),
    Command(
        "status", "/status", "/status", "Live state of the active chat", "Состояние активного чата"
    ),
    Command(
        "disconnect",
        "/disconnect",
        "/disconnect",
        "Log out and forget the active chat",
        "Отключить и забыть активный чат",
    ),
    Command(
        "mute",
        "/mute",
        "/mute",
        "Stop forwarding incoming messages of the active chat (in a topic: of that conversation)",
        "Не пересылать входящие активного чата (в теме — только этого разговора)",
    ),
    Command(
        "unmute",
        "/unmute",
        "/unmute",
        "Forward incoming messages of the active chat again (in a topic: of that conversation)",
        "Снова пересылать входящие активного чата (в теме — только этого разговора)",
    ),
    Command(
        "sleep",
        "/sleep",
        "/sleep",
        "Pause the active line (no sending, no receiving)",
        "Приостановить активную линию",
    ),
    Command("resume", "/resume", "/resume", "Wake a paused line", "Возобновить линию"),
    Command(
        "reboot",
        "/reboot",
        "/reboot",
        "Restart the line at the gateway",
        "Перезапустить линию на шлюзе",
    ),
    Command(
        "desk",
        "/desk on|off|invite|members|area|queue|mine|signature",
        "/desk area add Sales",
        "Share a line with a team: cards, Take, Transfer",
        "Общая линия для команды: карточки, «Взять», «Передать»",
    ),
    Command("cancel", "/cancel", "/cancel", "Stop a running /connect", "Остановить подключение"),
    Command("help", "/help", "/help", "How to use the bot", "Как пользоваться ботом"),
    Command(
        "admin",
        "/admin",
        "/admin",
        "Usage figures (admins only)",
        "Статистика (только для админов)",
        in_menu=False,
    ),
)

BY_NAME = {command.name: command for command in COMMANDS}
