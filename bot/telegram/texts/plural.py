"""Counts in words, by CLDR's plural rules (through Babel): 1 message, 2 messages; 1 сообщение,
2 сообщения, 5 сообщений, 21 сообщение. The one way a text words a count.

In a template the number and its word are two fields on the same value: `{cap}` prints the
number, `{cap:one=…|other=…}` prints the form that the language's rule picks for it:

    "en": "at most {cap} {cap:one=message|other=messages} a day"
    "ru": "не больше {cap} {cap:one=сообщения|few=сообщений|many=сообщений|other=сообщения} в день"

Each language lists exactly the categories it has, by name (checked when the texts are imported):

    en  one: 1               other: 0, 2, 5, 1.5
    ru  one: 1, 21, 101      few: 2-4, 22-24      many: 0, 5-20, 25-30, 111      other: 1.5

The forms are written in the sentence, not in a shared dictionary of words, because a Russian
word changes with its sentence: "не больше 21 сообщения" but "уйдёт через 21 секунду". A form
may be any text without `|`, `=`, `{` or `}`, and the same field can select several words
("{n:one=остался|few=осталось|many=осталось|other=осталось} {n} …").
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from typing import Any

from babel import Locale
from babel.plural import PluralRule

LANGS = ("en", "ru")

_RULES: dict[str, PluralRule] = {lang: Locale.parse(lang).plural_form for lang in LANGS}

# The categories each language needs: Babel's tags leave out "other", which every language has.
CATEGORIES: dict[str, frozenset[str]] = {
    lang: frozenset(rule.tags | {"other"}) for lang, rule in _RULES.items()
}

Number = int | float | Decimal


def category(lang: str, count: Number) -> str:
    """CLDR's plural category of `count` in `lang`: "one", "few", "many" or "other"."""
    return str(_RULES[lang](count))


@cache
def forms(spec: str) -> dict[str, str]:
    """`one=message|other=messages` → {"one": "message", "other": "messages"}; ValueError if
    malformed (a part without `=`, a category twice, a brace in a form)."""
    found: dict[str, str] = {}
    for part in spec.split("|"):
        name, eq, word = part.partition("=")
        if not eq or "=" in word or "{" in word or "}" in word:
            raise ValueError(f"not a plural form: {part!r} (write category=word|category=word)")
        if name in found:
            raise ValueError(f"plural category {name!r} written twice")
        found[name] = word
    return found


def check(lang: str, template: str) -> None:
    """Refuses (ValueError) a template whose fields are not plain `{name}` or a plural selection
    with exactly the categories `lang` has."""
    for _, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if conversion or not field.isidentifier():
            raise ValueError(f"{{{field}!{conversion}}}: only plain {{name}} fields are allowed")
        if not spec:
            continue
        written = set(forms(spec))
        if written != CATEGORIES[lang]:
            need = "|".join(f"{c}=…" for c in sorted(CATEGORIES[lang], key=_ORDER.index))
            raise ValueError(f"{{{field}:{spec}}} in {lang!r} needs exactly {need}")


def count_fields(template: str) -> set[str]:
    """The fields of `template` that select a plural form (those need a number)."""
    return {field for _, field, spec, _ in string.Formatter().parse(template) if field and spec}


_ORDER = ("zero", "one", "two", "few", "many", "other")


class CountFormatter(string.Formatter):
    """`str.format` for the texts, in one language: a field with plural forms prints the form
    for its number."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def format_field(self, value: Any, format_spec: str) -> str:
        if not format_spec:
            return format(value, "")
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            raise TypeError(f"a count is needed for plural forms, not {type(value).__name__}")
        return forms(format_spec)[category(self.lang, value)]

    def format_text(self, template: str, values: Mapping[str, Any]) -> str:
        return self.vformat(template, (), values)
