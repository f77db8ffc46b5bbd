"""Texts of the team inbox (/desk): the owner's and members' commands, the cards and their
buttons, and every `DeskError` reason (`desk_<reason>`). Part of the one table in
`texts/__init__.py`."""

from __future__ import annotations

DESK: dict[str, dict[str, str]] = {
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
    "desk_operator_set_later": {
        "en": "{name} answers as HCI operator {operator} as soon as HCI's line is linked "
        "(/connect hci) and its desk is on.",
        "ru": "{name} будет отвечать как оператор HCI {operator}, как только линия HCI "
        "подключится (/connect hci) и её общая линия будет включена.",
    },
    "desk_operator_too_long": {
        "en": "Nothing changed: an HCI operator id has at most {most} "
        "{most:one=character|other=characters}.",
        "ru": "Ничего не изменилось: в id оператора HCI не больше {most} "
        "{most:one=символа|few=символов|many=символов|other=символа}.",
    },
    "desk_operator_not_mapped": {
        "en": "{name} was not an HCI operator here.",
        "ru": "{name} не был оператором HCI здесь.",
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
}
