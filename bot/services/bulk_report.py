"""A bulk send's report: one CSV row per recipient (phone, the list's fields, state, time,
reason), safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.services.bulk_list import field_key


@dataclass(frozen=True)
class ReportRow:
    """One recipient's outcome, as the report shows it."""

    phone: str  # international digits
    fields: Mapping[str, str]  # the list's fields by key (Recipient.fields)
    state: str  # e.g. a MessageStatus value
    at: datetime | None = None  # when it reached that state; naive means UTC
    reason: str = ""  # why it failed, in words


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def report_csv(
    rows: Iterable[ReportRow], field_names: Sequence[str], *, delimiter: str = ","
) -> bytes:
    """The report as CSV bytes: a header row (phone, the list's fields, state, time, reason),
    one row per recipient. UTF-8 with a byte-order mark, so Excel reads Cyrillic. Phones are
    digits only; any other cell that a spreadsheet would take for a formula (it starts with
    = + - @, a tab or a carriage return) gets a leading `'` (OWASP's CSV injection advice).
    Russian Excel splits on `;`: pass `delimiter=";"` for those readers."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["phone", *(_inert(n) for n in field_names), "state", "time", "reason"])
    keys = [field_key(name) for name in field_names]
    for row in rows:
        values = [row.fields.get(key, "") for key in keys]
        writer.writerow(
            [
                re.sub(r"[^0-9]", "", row.phone),
                *(_inert(value) for value in values),
                _inert(row.state),
                _iso(row.at),
                _inert(row.reason),
            ]
        )
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8", "replace")


def _inert(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _iso(at: datetime | None) -> str:
    if at is None:
        return ""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.isoformat(timespec="seconds")
