"""A bulk send's recipient list, read from what the person sent: a CSV or TSV file with a header
row, a plain file with one recipient a line, or lines pasted in the chat (`89872745052; Ivan;
order 4471`). Pure functions; the Telegram layer words the reasons (`texts/bulk.py`).

    parse_list(data, …)          the list: recipients, lines it could not read, or a refusal
    missing_fields(template, l)  placeholders the list cannot fill, found before anything is sent
    render(template, recipient)  the message for one recipient ({name}, {1}, {{ for a brace)
    is_stop(text)                an answer that opts out of this person's bulk sends

How a list is read, step by step (a refusal stops it; `ListRefusal` names each):

1. Size: more than `MAX_BYTES` is refused before anything else is looked at.
2. Spreadsheets (`.xlsx`, `.xls`, `.ods`, or their ZIP/OLE signature) are refused with a hint to
   save as CSV; they are not text.
3. Decoding: a UTF-8 or UTF-16 byte-order mark decides; else UTF-8; else the 8-bit code page of
   an Excel "CSV" export: cp1251 (Russian), unless the non-ASCII bytes stand alone between Latin
   letters ("Muñoz", "José"), which is cp1252 (Western). A NUL byte, bytes no code page reads, or
   more than 1% control characters mean a binary file; a few stray control characters are removed.
4. Lines: split at `\\n`, `\\r\\n` or `\\r`, numbered from 1 as an editor shows them (blank lines
   count but say nothing). More than `MAX_LINES` is refused. A record is one line: a quoted cell
   that spans lines is not joined (one unclosed quote cannot swallow the rest of the list).
5. Delimiter: of tab, `;`, `,` and `|`, the one that splits the most of the first 50 non-blank
   lines into two or more cells (quotes respected); on a tie the earlier in that order (Russian
   Excel writes `;` and decimal commas). None splits: one column, and a line may be a phone
   followed by text (`89872745052 Ivan`), read as `/send` reads it.
6. Header: the first non-blank line is a header when one of its cells names the phone column
   (`PHONE_COLUMNS`, any case, punctuation around ignored: "Телефон:", "Tel.") or when none of
   its cells holds five digits (a phone has more; a header has words: "name;phone", "Имя;Тел").
   So a mistyped phone on line 1 is a bad line 1, not a header. The phone is in the named
   column; else in the first column where most of the first 10 lines hold a valid phone
   ("Ivan;89872745052"); else in the first. The header's names name the fields; the cells
   after the phone are also `1`, `2`, … by position, with or without a header.
7. Each line: longer than `MAX_LINE_CHARS`, more fields than the header names (or than
   `MAX_FIELDS`), or a phone `parse_phone` refuses is a `LineProblem`, with its line number.
   A phone seen before is dropped (the first kept) and counted; one in `opted_out` is left out
   and counted. More than `max_recipients` left, or more than `MAX_PROBLEMS` unreadable lines,
   is a refusal, not a truncation: reading stops there, and what was found so far is kept.

Reading 1,000 recipients takes about 50 ms, 20,000 about 1 to 2 s of CPU (libphonenumber is pure
Python; `bench/bulk_list.py`): run `parse_list` in a thread (`asyncio.to_thread`). The report
at the end is `bulk_report.py`.
"""

from __future__ import annotations

import csv
import enum
import io
import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from bot.services.phones import Phone, PhoneError, parse_phone, split_recipient

# Limits that keep one list cheap to read and to show. A recipient line is tens of characters;
# 20,000 lines of 100 bytes is 2 MB, twenty times the default cap of 1,000 recipients.
MAX_BYTES = 2 * 1024 * 1024
MAX_LINES = 20_000
MAX_LINE_CHARS = 4096  # a whole Telegram message; 10,000 characters is not a recipient
MAX_FIELDS = 100  # columns; CRM exports have dozens
# Unreadable lines before reading stops (the wrong file or column); each bad phone costs as much
# as a good one, and a preview shows a handful anyway.
MAX_PROBLEMS = 1000
MAX_NAME_CHARS = 64  # a placeholder's name: longer `{…}` is text, not a field

PHONE_COLUMNS = frozenset(
    {"phone", "number", "phone number", "tel", "mobile"}
    | {"телефон", "номер", "номер телефона", "тел", "мобильный"}
)
STOP_WORDS = frozenset({"stop", "unsubscribe", "стоп", "отписаться", "отписка"})
DELIMITERS = ("\t", ";", ",", "|")

_SAMPLE_LINES = 50  # lines that decide the delimiter
_SAMPLE_PHONES = 10  # lines that find an unnamed phone column
_LONG_NUMBER = re.compile(r"(?:\d[\s().\-/]*){5}")  # five digits: a header has no such cell
_PUNCTUATION = " .:;*#№()[]-_"
_SPREADSHEETS = (".xlsx", ".xlsm", ".xls", ".ods")
_SPREADSHEET_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # ZIP (xlsx, ods), OLE
_HIGH = re.compile(rb"[\x80-\xff]")
_HIGH_RUNS = re.compile(rb"[\x80-\xff]{2,}")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class ListRefusal(enum.StrEnum):
    """Why a whole list cannot be sent; the text is `bulk_refused_<value>`."""

    EMPTY = "empty"  # nothing but blank lines, or a header alone
    BINARY = "binary"  # not text: NUL bytes, undecodable, or full of control characters
    SPREADSHEET = "spreadsheet"  # an Excel or LibreOffice file: save it as CSV
    TOO_BIG = "too_big"  # over MAX_BYTES (count and limit in bytes)
    TOO_MANY_LINES = "too_many_lines"  # over MAX_LINES
    TOO_MANY_COLUMNS = "too_many_columns"  # a header of over MAX_FIELDS columns
    TOO_MANY_PROBLEMS = "too_many_problems"  # over MAX_PROBLEMS lines unreadable: reading stopped
    TOO_MANY_RECIPIENTS = "too_many_recipients"  # over max_recipients once read
    NO_RECIPIENTS = "no_recipients"  # lines, but no one to send to (bad, duplicate, opted out)


class LineProblem(enum.StrEnum):
    """Why one line is left out; the text is `bulk_problem_<value>`."""

    TOO_LONG = "too_long"  # over MAX_LINE_CHARS
    TOO_MANY_FIELDS = "too_many_fields"  # more cells than the header names, or than MAX_FIELDS
    PHONE_EMPTY = "phone_empty"  # the phone cell is empty
    PHONE_CHARACTERS = "phone_characters"  # not a phone: letters or other characters
    PHONE_INVALID = "phone_invalid"  # digits, but no valid number here or abroad
    PHONE_AMBIGUOUS = "phone_ambiguous"  # valid both here and abroad (`options` has both)


_PHONE_PROBLEMS = {p.removeprefix("phone_"): p for p in LineProblem if p.startswith("phone_")}


@dataclass(frozen=True)
class Refusal:
    reason: ListRefusal
    count: int = 0  # what was found: bytes, lines, columns, recipients read so far
    limit: int = 0  # what is allowed


@dataclass(frozen=True)
class Problem:
    line: int  # as the person sees it: the header, or the first line, is 1
    reason: LineProblem
    text: str  # the phone cell as written, or the line's start (TOO_LONG); cut to 64 characters
    options: tuple[str, ...] = ()  # PHONE_AMBIGUOUS: the two readings


@dataclass(frozen=True)
class Recipient:
    line: int
    phone: str  # international digits, as gateways take them
    # Every field of the list by its key (`field_key`): header names and positions "1", "2", …
    # A cell the line does not have is "" (an empty field renders empty).
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecipientList:
    recipients: tuple[Recipient, ...] = ()
    problems: tuple[Problem, ...] = ()
    duplicates: tuple[int, ...] = ()  # lines dropped because their phone came earlier
    opted_out: tuple[int, ...] = ()  # lines left out because that phone answered STOP
    field_names: tuple[str, ...] = ()  # the fields after the phone: the header's names, or "1"…
    field_keys: frozenset[str] = frozenset()  # every key a template may use (`field_key`)
    header: bool = False
    delimiter: str | None = None  # None: one column
    encoding: str | None = None  # of a file; None for pasted text
    refusal: Refusal | None = None

    @property
    def ok(self) -> bool:
        return self.refusal is None


def field_key(name: str) -> str:
    """How field names are compared: any case, spaces collapsed (`{ Order  No }` = "order no")."""
    return " ".join(name.split()).casefold()


# --- reading


def parse_list(
    data: bytes | str,
    *,
    region: str,
    max_recipients: int,
    file_name: str | None = None,
    opted_out: Collection[str] = (),
) -> RecipientList:
    """Reads a list; never raises. `data` is a document's bytes, or the text pasted in the chat
    (both follow the same rules: a pasted first line without a phone names the fields, as a
    file's header row does). `opted_out` holds the international digits of those who answered
    STOP; `region` is DEFAULT_REGION, as for /send."""
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        return _refused(ListRefusal.TOO_BIG, size, MAX_BYTES)
    encoding: str | None = None
    if isinstance(data, bytes):
        if _is_spreadsheet(data, file_name):
            return _refused(ListRefusal.SPREADSHEET)
        decoded = _decode(data)
        if decoded is None:
            return _refused(ListRefusal.BINARY)
        text, encoding = decoded
    else:
        text = data.removeprefix("\ufeff")
    if "\x00" in text or len(_CONTROLS.findall(text)) * 100 > len(text):
        return _refused(ListRefusal.BINARY)
    lines = io.StringIO(_CONTROLS.sub("", text), newline="").readlines()
    if len(lines) > MAX_LINES:
        return _refused(ListRefusal.TOO_MANY_LINES, len(lines), MAX_LINES)
    reader = _Reader(region, max_recipients, frozenset(opted_out))
    return reader.read([line.rstrip("\r\n") for line in lines], encoding)


def _refused(reason: ListRefusal, count: int = 0, limit: int = 0) -> RecipientList:
    return RecipientList(refusal=Refusal(reason, count, limit))


def _is_spreadsheet(data: bytes, file_name: str | None) -> bool:
    named = (file_name or "").lower().endswith(_SPREADSHEETS)
    return named or data.startswith(_SPREADSHEET_MAGIC)


def _decode(data: bytes) -> tuple[str, str] | None:
    if data.startswith(b"\xef\xbb\xbf"):
        return _try(data, "utf-8-sig")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _try(data, "utf-16")
    if b"\x00" in data:
        return None
    utf8 = _try(data, "utf-8")
    if utf8 is not None:
        return utf8
    first, second = ("cp1252", "cp1251") if _looks_western(data) else ("cp1251", "cp1252")
    return _try(data, first) or _try(data, second)


def _try(data: bytes, encoding: str) -> tuple[str, str] | None:
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError:
        return None


def _looks_western(data: bytes) -> bool:
    """Cyrillic in cp1251 is whole words of bytes over 0x7F; accented Latin letters in cp1252
    stand alone between ASCII letters. More lone ones than paired: Western."""
    paired = sum(len(run) for run in _HIGH_RUNS.findall(data))
    lone = len(_HIGH.findall(data)) - paired
    return lone > paired


@dataclass
class _Row:
    line: int
    cells: list[str]


class _Reader:
    """One pass over the lines of one list: steps 5 to 7 of the module docstring."""

    def __init__(self, region: str, max_recipients: int, opted_out: frozenset[str]) -> None:
        self.region = region
        self.max_recipients = max_recipients
        self.opted_out = opted_out
        self.delimiter: str | None = None
        self.problems: list[Problem] = []
        self.recipients: list[Recipient] = []
        self.duplicates: list[int] = []  # lines
        self.stopped: list[int] = []  # lines
        self.seen: set[str] = set()  # phones, duplicates and opted-out ones included
        self.width = 0
        self.names: list[str] = []  # the header's cells, as written
        self.keys: list[tuple[int, str]] = []  # (column, key) of each header name, first wins
        self.phone_column = 0

    def read(self, lines: list[str], encoding: str | None) -> RecipientList:
        self.delimiter = _delimiter(lines)
        rows: list[_Row] = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            if len(line) > MAX_LINE_CHARS:
                self.problems.append(Problem(number, LineProblem.TOO_LONG, _cut(line)))
                continue
            cells = self._cells(line)
            if any(cells):  # ";;;" is an empty spreadsheet row
                rows.append(_Row(number, cells))
        first_line = next((n for n, line in enumerate(lines, 1) if line.strip()), 0)
        header = bool(rows) and rows[0].line == first_line and _is_header(rows[0].cells)
        if header:
            self.names = rows.pop(0).cells
            if len(self.names) > MAX_FIELDS:
                return _refused(ListRefusal.TOO_MANY_COLUMNS, len(self.names), MAX_FIELDS)
            for column, name in enumerate(self.names):
                key = field_key(name)
                if key and key not in {k for _, k in self.keys}:
                    self.keys.append((column, key))
        self.phone_column = self._phone_column(rows)
        return self._recipients(rows, header, encoding)

    def _cells(self, line: str) -> list[str]:
        if self.delimiter is None:
            return [line.strip()]
        cells = [cell.strip() for cell in _split(line, self.delimiter)]
        while cells and not cells[-1]:
            cells.pop()  # trailing empty cells: Excel's ";;" at the end of short rows
        return cells

    def _phone_column(self, rows: list[_Row]) -> int:
        """The column the header names; else the first where most sampled cells are phones."""
        named = [column for column, key in self.keys if key.strip(_PUNCTUATION) in PHONE_COLUMNS]
        if named:
            return named[0]
        if self.delimiter is None:
            return 0
        sample = rows[:_SAMPLE_PHONES]
        width = max((len(row.cells) for row in sample), default=0)
        for column in range(min(width, MAX_FIELDS)):
            cells = [row.cells[column] for row in sample if column < len(row.cells)]
            if sum(_is_phone(cell, self.region) for cell in cells) * 2 > len(sample):
                return column
        return 0

    def _recipients(self, rows: list[_Row], header: bool, encoding: str | None) -> RecipientList:
        self.width = len(self.names) - 1 if header else 0  # the most fields after the phone
        refusal: Refusal | None = None
        for row in rows:
            if len(self.problems) > MAX_PROBLEMS:
                break  # the wrong file or column: reading on would only cost time
            self._row(row, header)
            if len(self.recipients) > self.max_recipients:
                # len(rows): the lines that may hold recipients, all of them above the cap
                refusal = Refusal(ListRefusal.TOO_MANY_RECIPIENTS, len(rows), self.max_recipients)
                break
        if refusal is None and len(self.problems) > MAX_PROBLEMS:
            refusal = Refusal(ListRefusal.TOO_MANY_PROBLEMS, len(self.problems), MAX_PROBLEMS)
        if refusal is None and not self.recipients:
            empty = not self.problems and not self.duplicates and not self.stopped
            refusal = Refusal(ListRefusal.EMPTY if empty else ListRefusal.NO_RECIPIENTS)
        names_after = [n for i, n in enumerate(self.names) if i != self.phone_column]
        names = [
            names_after[i] if i < len(names_after) and names_after[i] else str(i + 1)
            for i in range(self.width)
        ]
        keys = frozenset({str(i) for i in range(1, self.width + 1)} | {k for _, k in self.keys})
        blank = dict.fromkeys(keys, "")  # every recipient has every field, empty if absent
        return RecipientList(
            recipients=tuple(
                Recipient(r.line, r.phone, blank | dict(r.fields)) for r in self.recipients
            ),
            problems=tuple(sorted(self.problems, key=lambda p: p.line)),
            duplicates=tuple(self.duplicates),
            opted_out=tuple(self.stopped),
            field_names=tuple(names),
            field_keys=keys,
            header=header,
            delimiter=self.delimiter,
            encoding=encoding,
            refusal=refusal,
        )

    def _row(self, row: _Row, header: bool) -> None:
        """One line: a recipient, a problem, a duplicate or an opted-out phone."""
        raw = row.cells[self.phone_column] if self.phone_column < len(row.cells) else ""
        if len(row.cells) > (len(self.names) if header else MAX_FIELDS):
            self.problems.append(Problem(row.line, LineProblem.TOO_MANY_FIELDS, _cut(raw)))
            return
        try:
            phone, rest = self._phone(raw)
        except PhoneError as exc:
            reason = _PHONE_PROBLEMS.get(exc.reason, LineProblem.PHONE_INVALID)
            self.problems.append(Problem(row.line, reason, _cut(raw), exc.options[-2:]))
            return
        if phone.digits in self.seen:
            self.duplicates.append(row.line)
            return
        self.seen.add(phone.digits)
        if phone.digits in self.opted_out:
            self.stopped.append(row.line)
            return
        after = [cell for i, cell in enumerate(row.cells) if i != self.phone_column]
        after = [rest, *after] if rest else after
        self.width = max(self.width, len(after))
        fields = {str(i): value for i, value in enumerate(after, 1)}
        for column, key in self.keys:  # a header's name wins over a position
            fields[key] = row.cells[column] if column < len(row.cells) else ""
        self.recipients.append(Recipient(row.line, phone.digits, fields))

    def _phone(self, raw: str) -> tuple[Phone, str]:
        """The phone of a cell, and what follows it on a one-column line (`89872745052 Ivan`)."""
        try:
            return parse_phone(raw, self.region), ""
        except PhoneError as exc:
            if self.delimiter is not None or exc.reason != "characters":
                raise
        return split_recipient(raw, self.region)


def _split(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter, skipinitialspace=True))
    except (csv.Error, StopIteration):
        return line.split(delimiter)


def _delimiter(lines: list[str]) -> str | None:
    sample = [line for line in lines if line.strip() and len(line) <= MAX_LINE_CHARS]
    sample = sample[:_SAMPLE_LINES]
    best, best_score = None, 0
    for candidate in DELIMITERS:
        score = sum(
            sum(1 for cell in _split(line, candidate) if cell.strip()) >= 2
            for line in sample
            if candidate in line
        )
        if score > best_score:
            best, best_score = candidate, score
    return best


def _is_header(cells: list[str]) -> bool:
    named = any(field_key(cell).strip(_PUNCTUATION) in PHONE_COLUMNS for cell in cells)
    return named or not any(_LONG_NUMBER.search(cell) for cell in cells)


def _is_phone(cell: str, region: str) -> bool:
    try:
        parse_phone(cell, region)
    except PhoneError:
        return False
    return True


def _cut(text: str, limit: int = 64) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the message


# `{{`, `}}`, or a name of 1 to MAX_NAME_CHARS characters on one line, without braces.
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}\n]{1," + str(MAX_NAME_CHARS) + r"})\}")


def placeholders(template: str) -> list[str]:
    """The field names a template uses, as written (`{{` is a brace, not a field)."""
    return [
        match.group(1).strip()
        for match in _PLACEHOLDER.finditer(template)
        if match.group(1) is not None and field_key(match.group(1))
    ]


def missing_fields(template: str, recipients: RecipientList) -> set[str]:
    """The names a template uses that the list does not have (as written): tell before sending.
    Positions count from the first field after the phone: `{1}`, `{2}`, …"""
    known = recipients.field_keys
    return {name for name in placeholders(template) if field_key(name) not in known}


def render(template: str, recipient: Recipient) -> str:
    """The message for one recipient: `{name}` and `{1}` are its fields (empty ones render
    empty), `{{` and `}}` are braces; anything else (a name the list does not have, `{0.x}`,
    `{name!r}`, a lone brace) stays as written. Never `str.format`: nothing in a field or a
    template is evaluated."""

    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        value = recipient.fields.get(field_key(match.group(1)))
        return token if value is None else value

    return _PLACEHOLDER.sub(one, template)


# --- answers


def is_stop(text: str) -> bool:
    """`STOP`, `стоп`, `отписаться` (or another of `STOP_WORDS`) as the whole answer, in any
    case, with spaces, punctuation or emoji around it: `Stop!`, ` стоп. `, `STOP 🙏`. Not a
    sentence that contains it (`please stop calling`), nor a longer word (`stopper`)."""
    word = unicodedata.normalize("NFKC", text)
    start, end = 0, len(word)
    while start < end and not word[start].isalnum():
        start += 1
    while end > start and not word[end - 1].isalnum():
        end -= 1
    return word[start:end].casefold() in STOP_WORDS
