"""Texts of a bulk send's list, as its preview tells them: why a whole list is refused
(`bulk_refused_<ListRefusal>`), why a line is left out (`bulk_problem_<LineProblem>`), the
counts, and a template's fields the list does not have. Part of the one table in
`texts/__init__.py`; the reasons come from `bot/services/bulk_list.py`."""

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
}
