"""Texts of a bulk send (/bulk): the questions on the way (the list, then the text), why a whole
list is refused (`bulk_refused_<ListRefusal>`), why a line is left out
(`bulk_problem_<LineProblem>`), the preview, the progress message (`bulk_paused_<reason>` for a
pause), the summary and the report, and the buttons. Part of the one table in
`texts/__init__.py`; the reasons come from `bot/services/bulk_list.py` and `bulk.py`."""

from __future__ import annotations

BULK: dict[str, dict[str, str]] = {
    # --- the whole list
    "bulk_refused_empty": {
        "en": "The list is empty: send a file, or lines with one phone number each.",
        "ru": "Список пуст: пришлите файл или строки, по одному номеру в строке.",
    },
    "bulk_refused_binary": {
        "en": "This file is not text. Send a CSV, a TSV or a plain text file.",
        "ru": "Это не текстовый файл. Пришлите CSV, TSV или обычный текстовый файл.",
    },
    "bulk_refused_spreadsheet": {
        "en": "This is a spreadsheet file. Save it as CSV (File → Save as → CSV) and send that.",
        "ru": "Это файл электронной таблицы. Сохраните его как CSV (Файл → Сохранить как → CSV) "
        "и пришлите его.",
    },
    # Refusals take {count} and {limit} from `Refusal`; here {limit} is in MB (limit // 2**20).
    "bulk_refused_too_big": {
        "en": "The file is over {limit} MB. Split the list into smaller files.",
        "ru": "Файл больше {limit} МБ. Разбейте список на файлы поменьше.",
    },
    "bulk_refused_too_many_lines": {
        "en": "The list has {count} {count:one=line|other=lines}; I read at most {limit}. "
        "Split it into smaller lists.",
        "ru": "В списке {count} {count:one=строка|few=строки|many=строк|other=строки}, а я читаю "
        "не больше {limit}. Разбейте его на списки поменьше.",
    },
    "bulk_refused_too_many_columns": {
        "en": "The header has {count} {count:one=column|other=columns}; I read at most {limit}. "
        "Keep the phone and the fields the text uses.",
        "ru": "В заголовке {count} {count:one=столбец|few=столбца|many=столбцов|other=столбца}, "
        "а читается не больше {limit}. Оставьте телефон и поля, которые нужны тексту.",
    },
    "bulk_refused_too_many_problems": {
        "en": "I stopped reading: over {limit} {limit:one=line|other=lines} have no usable phone "
        "number. Is it the right file, with the phone in a column named “phone”?",
        "ru": "Я перестал читать: больше чем в {limit} "
        "{limit:one=строке|few=строках|many=строках|other=строки} нет подходящего номера. "
        "Это тот файл? Столбец с номером должен называться «телефон».",
    },
    "bulk_refused_too_many_recipients": {
        "en": "The list has over {limit} {limit:one=recipient|other=recipients} ({count} "
        "{count:one=line|other=lines}); one bulk send goes to at most {limit}. "
        "Split it into smaller lists.",
        "ru": "В списке больше {limit} {limit:one=получателя|few=получателей|many=получателей|other=получателя} "
        "({count} {count:one=строка|few=строки|many=строк|other=строки}), а одна рассылка уходит "
        "не больше чем {limit} {limit:one=получателю|few=получателям|many=получателям|other=получателя}. "
        "Разбейте его на списки поменьше.",
    },
    "bulk_refused_no_recipients": {
        "en": "There is nobody to send to: every line of the list is left out (see above).",
        "ru": "Отправлять некому: все строки списка пропущены (смотрите выше).",
    },
    # --- one line: "bulk_line" with the problem's words; {raw} is `Problem.text`, {a} and {b}
    # its `options`, {region} DEFAULT_REGION, {limit} MAX_LINE_CHARS
    "bulk_line": {
        "en": "Line {line}: {problem}",
        "ru": "Строка {line}: {problem}",
    },
    "bulk_problem_too_long": {
        "en": "longer than {limit} {limit:one=character|other=characters}.",
        "ru": "длиннее {limit} {limit:one=символа|few=символов|many=символов|other=символа}.",
    },
    "bulk_problem_too_many_fields": {
        "en": "more fields than the header names ({raw}).",
        "ru": "полей больше, чем в заголовке ({raw}).",
    },
    "bulk_problem_phone_empty": {
        "en": "no phone number.",
        "ru": "нет номера телефона.",
    },
    "bulk_problem_phone_characters": {
        "en": "“{raw}” is not a phone number.",
        "ru": "«{raw}» — не номер телефона.",
    },
    "bulk_problem_phone_invalid": {
        "en": "“{raw}” is not a valid phone number (include the country code if it is not {region}).",
        "ru": "«{raw}» — неверный номер (укажите код страны, если номер не из {region}).",
    },
    "bulk_problem_phone_ambiguous": {
        "en": "“{raw}” could be {a} or {b}: write it with “+” and the country code.",
        "ru": "«{raw}» может означать {a} или {b}: напишите номер с «+» и кодом страны.",
    },
    # --- the counts of a preview
    "bulk_recipients": {
        "en": "👥 {count} {count:one=recipient|other=recipients}",
        "ru": "👥 {count} {count:one=получатель|few=получателя|many=получателей|other=получателя}",
    },
    "bulk_skipped_lines": {
        "en": "⚠️ {count} {count:one=line|other=lines} left out:",
        "ru": "⚠️ {count} {count:one=строка пропущена|few=строки пропущены|many=строк пропущено|other=строки пропущено}:",
    },
    "bulk_duplicates": {
        "en": "♻️ {count} {count:one=repeated number|other=repeated numbers} dropped",
        "ru": "♻️ {count} {count:one=повторный номер убран|few=повторных номера убраны|many=повторных номеров убрано|other=повторного номера убрано}",
    },
    "bulk_opted_out": {
        "en": "🚫 {count} {count:one=number|other=numbers} left out: they answered STOP to an earlier bulk send",
        "ru": "🚫 {count} {count:one=номер пропущен|few=номера пропущены|many=номеров пропущено|other=номера пропущено}: "
        "ответили «стоп» на прошлую рассылку",
    },
    "bulk_missing_fields": {
        "en": "The text uses {fields}, which the list does not have. The list's fields: {names}. "
        "For a brace itself, write {{{{ or }}}}.",
        "ru": "В тексте есть {fields}, а в списке таких полей нет. Поля списка: {names}. "
        "Чтобы написать саму фигурную скобку, удвойте её: {{{{ или }}}}.",
    },
    # --- the way to a preview
    "bulk_ask_list": {
        "en": "📋 <b>Bulk send</b> through {chat}.\n\n"
        "Send the list of recipients: a CSV or TSV file with a header row, a plain text file, "
        "or lines pasted here, one number a line, fields after it if you like:\n"
        "<code>89872745052; Ivan; order 4471</code>\n"
        "A first line without a phone names the fields (<code>phone; name; order</code>). "
        "At most {limit} {limit:one=recipient|other=recipients}.",
        "ru": "📋 <b>Рассылка</b> через {chat}.\n\n"
        "Пришлите список получателей: файл CSV или TSV со строкой заголовка, текстовый файл "
        "или строки прямо сюда, по номеру в строке, при желании с полями после него:\n"
        "<code>89872745052; Иван; заказ 4471</code>\n"
        "Первая строка без номера задаёт названия полей (<code>телефон; имя; заказ</code>). "
        "Не больше {limit} {limit:one=получателя|few=получателей|many=получателей|other=получателя}.",
    },
    "bulk_ask_text": {
        "en": "✅ Read: {count} {count:one=recipient|other=recipients}. Now send the message. "
        "{fields}\nA photo or a file with a caption works too: the caption is the text.",
        "ru": "✅ Прочитано: {count} {count:one=получатель|few=получателя|many=получателей|other=получателя}. "
        "Теперь пришлите сообщение. {fields}\nМожно фото или файл с подписью: подпись и будет текстом.",
    },
    "bulk_fields_named": {
        "en": "It may use the list's fields: {names}.",
        "ru": "В нём можно использовать поля списка: {names}.",
    },
    "bulk_fields_none": {
        "en": "The list has no fields: everyone gets the same text.",
        "ru": "Полей в списке нет: все получат один и тот же текст.",
    },
    "bulk_list_kind": {
        "en": "Send the list as text, or as a file (CSV, TSV or plain text).",
        "ru": "Пришлите список текстом или файлом (CSV, TSV или обычный текст).",
    },
    "bulk_list_again": {
        "en": "Send a corrected list, or press Cancel.",
        "ru": "Пришлите исправленный список или нажмите «Отмена».",
    },
    "bulk_text_kind": {
        "en": "Send the message as text, or as a photo or file with a caption.",
        "ru": "Пришлите сообщение текстом или фото/файлом с подписью.",
    },
    "bulk_text_again": {
        "en": "Send the message again with those fixed.",
        "ru": "Пришлите сообщение ещё раз, исправив это.",
    },
    "bulk_busy": {
        "en": "A bulk send is already running on this line. Wait for it to end, or stop it (/bulk shows it).",
        "ru": "На этой линии уже идёт рассылка. Дождитесь её окончания или остановите её (/bulk её покажет).",
    },
    "bulk_gone": {
        "en": "This bulk send is no longer there. Start a new one with /bulk.",
        "ru": "Этой рассылки больше нет. Начните новую: /bulk.",
    },
    "bulk_cancelled": {
        "en": "Bulk send cancelled: nothing was sent.",
        "ru": "Рассылка отменена: ничего не отправлено.",
    },
    # --- the preview
    "bulk_preview_head": {
        "en": "📋 <b>Bulk send: preview</b>",
        "ru": "📋 <b>Рассылка: проверьте</b>",
    },
    "bulk_more_problems": {
        "en": "… and {count} {count:one=line|other=lines} more",
        "ru": "… и ещё {count} {count:one=строка|few=строки|many=строк|other=строки}",
    },
    "bulk_preview_line": {
        "en": "📱 Through {chat}",
        "ru": "📱 Через {chat}",
    },
    "bulk_preview_pace": {
        "en": "⏱ {rate} {rate:one=message|other=messages} a minute (spread ±30 %): {duration} in all",
        "ru": "⏱ {rate} {rate:one=сообщение|few=сообщения|many=сообщений|other=сообщения} в минуту (разброс ±30 %): всего {duration}",
    },
    "bulk_preview_cap": {
        "en": "🛑 The line sends at most {cap} {cap:one=message|other=messages} a day, and today "
        "there is room for {room}. The rest waits for the limit and goes on by itself.",
        "ru": "🛑 С линии уходит не больше {cap} {cap:one=сообщения|few=сообщений|many=сообщений|other=сообщения} в сутки, "
        "сегодня можно ещё {room}. Остальные подождут лимита и уйдут сами.",
    },
    "bulk_preview_file": {
        "en": "📎 With the file {name}",
        "ru": "📎 С файлом {name}",
    },
    "bulk_preview_first": {
        "en": "The first message, to {phone}:",
        "ru": "Первое сообщение, на {phone}:",
    },
    "bulk_preview_empty_text": {
        "en": "(no text)",
        "ru": "(без текста)",
    },
    # --- durations: {minutes} and {hours} are whole numbers
    "bulk_minutes": {"en": "about {minutes} min", "ru": "около {minutes} мин"},
    "bulk_hours": {"en": "about {hours} h {minutes} min", "ru": "около {hours} ч {minutes} мин"},
    "bulk_under_a_minute": {"en": "under a minute", "ru": "меньше минуты"},
    # --- the progress message
    "bulk_progress": {
        "en": "📤 {bar} {percent}% · {sent} {sent:one=sent|other=sent} · {failed} {failed:one=failed|other=failed} · "
        "{left} {left:one=left|other=left}",
        "ru": "📤 {bar} {percent}% · {sent} {sent:one=отправлено|few=отправлено|many=отправлено|other=отправлено} · "
        "{failed} {failed:one=с ошибкой|few=с ошибкой|many=с ошибкой|other=с ошибкой} · "
        "{left} {left:one=осталось|few=осталось|many=осталось|other=осталось}",
    },
    "bulk_eta": {"en": " · {eta}", "ru": " · {eta}"},
    "bulk_progress_head": {
        "en": "Bulk send through {chat}",
        "ru": "Рассылка через {chat}",
    },
    "bulk_progress_unknown": {
        "en": "⚠️ {count} {count:one=recipient|other=recipients} unknown: the gateway did not answer "
        "while sending, so I don't know whether they got it (not sent again).",
        "ru": "⚠️ Неизвестно про {count} {count:one=получателя|few=получателей|many=получателей|other=получателя}: "
        "шлюз не ответил при отправке, и я не знаю, дошло ли (повторно не отправлял).",
    },
    "bulk_paused_person": {
        "en": "⏸ Paused. Resume goes on where it stopped.",
        "ru": "⏸ На паузе. «Продолжить» — и рассылка пойдёт дальше с того же места.",
    },
    "bulk_paused_line": {
        "en": "⏸ Paused by itself: the line is {state}. {help} Then press Resume.",
        "ru": "⏸ Приостановлена сама: линия {state}. {help} Затем нажмите «Продолжить».",
    },
    "bulk_paused_not_ready": {
        "en": "⏸ Paused by itself: the gateway says WhatsApp is not authorised on this line. "
        "Check /status, then press Resume.",
        "ru": "⏸ Приостановлена сама: шлюз сообщает, что WhatsApp на этой линии не авторизован. "
        "Проверьте /status и нажмите «Продолжить».",
    },
    "bulk_paused_yellow_card": {
        "en": "⏸ Paused by itself: WhatsApp gave your number a “yellow card” (suspected spam). "
        "Wait, /reboot the line, then press Resume.",
        "ru": "⏸ Приостановлена сама: WhatsApp выдал номеру «жёлтую карточку» (подозрение на спам). "
        "Подождите, перезапустите линию (/reboot) и нажмите «Продолжить».",
    },
    "bulk_waiting_cap": {
        "en": "🛑 The daily limit ({cap} {cap:one=message|other=messages} a day) is reached: "
        "the bulk goes on by itself when it allows more ({wait}).",
        "ru": "🛑 Дневной лимит ({cap} {cap:one=сообщение|few=сообщения|many=сообщений|other=сообщения} в сутки) исчерпан: "
        "рассылка продолжится сама, когда лимит позволит ({wait}).",
    },
    "bulk_waiting_gateway": {
        "en": "⏳ Waiting for {gateway} to come back.",
        "ru": "⏳ Жду, пока {gateway} снова заработает.",
    },
    "bulk_asking": {
        "en": "⏹ Stop this bulk send? What is not sent yet ({left}) will not be sent. "
        "It holds while you decide.",
        "ru": "⏹ Остановить рассылку? Ещё не отправленные ({left}) не уйдут. "
        "Пока вы решаете, она стоит.",
    },
    "bulk_finishing": {
        "en": "⏹ Stopped: waiting for the messages being sent right now.",
        "ru": "⏹ Остановлена: жду сообщения, которые отправляются прямо сейчас.",
    },
    # --- the summary
    "bulk_done_head": {
        "en": "✅ <b>Bulk send finished</b> · {chat}",
        "ru": "✅ <b>Рассылка завершена</b> · {chat}",
    },
    "bulk_stopped_head": {
        "en": "⏹ <b>Bulk send stopped</b> · {chat}",
        "ru": "⏹ <b>Рассылка остановлена</b> · {chat}",
    },
    "bulk_summary_total": {
        "en": "👥 Recipients: {total}",
        "ru": "👥 Получателей: {total}",
    },
    "bulk_summary_sent": {
        "en": "✓ Sent: {sent}",
        "ru": "✓ Отправлено: {sent}",
    },
    "bulk_summary_ticks": {
        "en": " · delivered: {delivered} · read: {read}",
        "ru": " · доставлено: {delivered} · прочитано: {read}",
    },
    "bulk_summary_failed": {
        "en": "❌ Failed: {count}",
        "ru": "❌ С ошибкой: {count}",
    },
    "bulk_summary_reason": {
        "en": "   · {count} — {reason}",
        "ru": "   · {count} — {reason}",
    },
    "bulk_summary_unknown": {
        "en": "⚠️ Unknown: {count}. The gateway did not answer while these were being sent, so I "
        "don't know whether they got it, and I did not send them again. If they did not, tap the button.",
        "ru": "⚠️ Неизвестно: {count}. Шлюз не ответил при отправке, поэтому я не знаю, дошло ли, и "
        "не стал отправлять повторно. Если не дошло, нажмите кнопку.",
    },
    "bulk_summary_stopped": {
        "en": "⏹ Not sent, because the bulk send was stopped: {count}",
        "ru": "⏹ Не отправлено из-за остановки: {count}",
    },
    "bulk_summary_report": {
        "en": "The report (one row per recipient) follows as a CSV file.",
        "ru": "Отчёт (строка на каждого получателя) — в CSV-файле ниже.",
    },
    "bulk_report_caption": {
        "en": "📄 Bulk send report: phone, the list's fields, state, time (UTC) and reason.",
        "ru": "📄 Отчёт о рассылке: телефон, поля списка, состояние, время (UTC) и причина.",
    },
    "bulk_reason_stopped": {
        "en": "the bulk send was stopped",
        "ru": "рассылка остановлена",
    },
    "bulk_reason_disconnected": {
        "en": "the line was disconnected",
        "ru": "линия отключена",
    },
    "bulk_reason_uncertain": {
        "en": "unknown: the gateway did not answer",
        "ru": "неизвестно: шлюз не ответил",
    },
    "bulk_reason_other": {
        "en": "the gateway reported “{error}”",
        "ru": "шлюз сообщил «{error}»",
    },
    # --- /bulk while bulks run
    "bulk_running_head": {
        "en": "📤 Your bulk sends now:",
        "ru": "📤 Ваши рассылки сейчас:",
    },
    "bulk_running_item": {
        "en": "#{number} · {chat}: {state}",
        "ru": "№{number} · {chat}: {state}",
    },
    "bulk_state_running": {"en": "running", "ru": "идёт"},
    "bulk_state_paused": {"en": "paused", "ru": "на паузе"},
    "bulk_state_asking": {
        "en": "waiting for your answer to Stop",
        "ru": "ждёт ответа про остановку",
    },
    "bulk_again_none": {
        "en": "There is nobody left to send again to.",
        "ru": "Повторно отправлять некому.",
    },
    # --- buttons
    "btn_bulk_start": {"en": "▶️ Start", "ru": "▶️ Начать"},
    "btn_bulk_cancel": {"en": "✖️ Cancel", "ru": "✖️ Отмена"},
    "btn_bulk_pause": {"en": "⏸ Pause", "ru": "⏸ Пауза"},
    "btn_bulk_resume": {"en": "▶️ Resume", "ru": "▶️ Продолжить"},
    "btn_bulk_stop": {"en": "⏹ Stop", "ru": "⏹ Остановить"},
    "btn_bulk_stop_yes": {"en": "⏹ Yes, stop", "ru": "⏹ Да, остановить"},
    "btn_bulk_stop_no": {"en": "▶️ No, go on", "ru": "▶️ Нет, продолжить"},
    "btn_bulk_again": {
        "en": "🔁 Send again to the unknown ({count})",
        "ru": "🔁 Отправить повторно неизвестным ({count})",
    },
    "btn_bulk_new": {"en": "➕ New bulk send", "ru": "➕ Новая рассылка"},
    "btn_bulk_item": {"en": "#{number}: {action}", "ru": "№{number}: {action}"},
}
