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
    """`+7 987 274-50-52 Hello` → (Phone 79872745052, "Hello"): the shortest run of space-separated
    groups at the start that is a valid number is the phone, so `89872745052 100 roubles` keeps its 100."""
    rest = rest.lstrip()
    run = _PHONE_RUN.match(rest)
    if run is None:
        if not rest:
            raise PhoneError("empty")
        raise PhoneError("characters", options=(rest.split(maxsplit=1)[0],))
    line_end = rest.find("\n")
    span = run.group(0) if line_end < 0 else run.group(0)[: max(0, line_end)]
    groups = list(re.finditer(r"\S+", span))
    first_error: PhoneError | None = None
    for group in groups:
        candidate = rest[: group.end()]
        try:
            phone = parse_phone(candidate, default_region)
        except PhoneError as exc:
            first_error = first_error or exc
            if exc.reason == "ambiguous":
                raise PhoneError("ambiguous", options=(candidate, *exc.options)) from None
            continue
        return phone, rest[group.end() :].lstrip(" \t").removeprefix("\n").rstrip()
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
