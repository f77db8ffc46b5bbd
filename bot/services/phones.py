"""Phone numbers the way people type them → international digits (`79872745052`).

Accepted: `89872745052`, `8 (987) 274 50 52`, `+7 987 274-50-52`, `79872745052`, `+49 1521 6896607`,
`004915216896607`. A number without `+` is read in `DEFAULT_REGION` first and as international
second; when both readings are valid and differ, we ask instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

_ALLOWED = re.compile(r"^[+\d\s().\-/]*$")


@dataclass(frozen=True)
class Phone:
    digits: str  # international, no "+": what gateways take
    region: str | None  # ISO country of the number

    @property
    def pretty(self) -> str:
        number = phonenumbers.parse("+" + self.digits)
        return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


class PhoneError(ValueError):
    """Why a typed number is not usable; `reason` is a key in the texts table."""

    def __init__(self, reason: str, *, options: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason  # "empty" | "characters" | "invalid" | "ambiguous"
        self.options = options


def parse_phone(raw: str, default_region: str) -> Phone:
    text = raw.strip()
    if not text:
        raise PhoneError("empty")
    if not _ALLOWED.match(text) or sum(ch.isdigit() for ch in text) == 0:
        raise PhoneError("characters")
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        return _valid("+" + digits) or _raise_invalid()
    if text.startswith("00"):
        return _valid("+" + digits[2:]) or _raise_invalid()
    national = _valid(digits, default_region)
    international = _valid("+" + digits)
    if national and international and national.digits != international.digits:
        raise PhoneError("ambiguous", options=(national.pretty, international.pretty))
    return national or international or _raise_invalid()


def _valid(text: str, region: str | None = None) -> Phone | None:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return Phone(digits=e164.lstrip("+"), region=phonenumbers.region_code_for_number(number))


def _raise_invalid() -> Phone:
    raise PhoneError("invalid")


_PHONE_RUN = re.compile(r"^[+\d().\-/][+\d\s().\-/]*")


def split_recipient(rest: str, default_region: str) -> tuple[Phone, str]:
    """`+7 987 274-50-52 Hello` → (Phone 79872745052, "Hello").

    Where the phone ends is a guess when digits follow it, so: a first word that is a whole valid
    number is the phone (`89872745052 100 roubles` keeps its 100); otherwise the valid readings
    of the first groups are collected, and if there are several (`+49 30 1234 5678 Hallo`: is
    5678 part of it?) we ask instead of guessing.
    """
    rest = rest.lstrip()
    run = _PHONE_RUN.match(rest)
    if run is None:
        if not rest:
            raise PhoneError("empty")
        raise PhoneError("characters", options=(rest.split(maxsplit=1)[0],))
    line_end = rest.find("\n")
    span = run.group(0) if line_end < 0 else run.group(0)[: max(0, line_end)]
    groups = list(re.finditer(r"\S+", span))
    readings: list[tuple[Phone, int]] = []
    first_error: PhoneError | None = None
    for group in groups:
        try:
            readings.append((parse_phone(rest[: group.end()], default_region), group.end()))
        except PhoneError as exc:
            if exc.reason == "ambiguous":
                raise PhoneError("ambiguous", options=(rest[: group.end()], *exc.options)) from None
            first_error = first_error or exc
        if readings and readings[0][1] == groups[0].end():
            break  # the first word alone is a number
    if len({phone.digits for phone, _ in readings}) > 1:
        shortest, longest = readings[0][0], readings[-1][0]
        raise PhoneError("ambiguous", options=(span.strip(), shortest.pretty, longest.pretty))
    if readings:
        phone, end = readings[0]
        return phone, rest[end:].lstrip(" \t").removeprefix("\n").rstrip()
    token = groups[0].group(0) if groups else rest.split(maxsplit=1)[0]
    raise PhoneError(first_error.reason if first_error else "invalid", options=(token,))


def pretty(digits: str) -> str:
    """`79872745052` → `+7 987 274-50-52` for people."""
    try:
        return phonenumbers.format_number(
            phonenumbers.parse("+" + digits), PhoneNumberFormat.INTERNATIONAL
        )
    except NumberParseException:
        return "+" + digits
