"""Counts in words (`bot/telegram/texts/plural.py`): CLDR's categories, the checks at import, and
a walk over every text for counts worded by hand."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from bot.telegram.texts import TEXTS, _merged, t
from bot.telegram.texts.plural import CATEGORIES, LANGS, category, check, count_fields

# --- the categories, from CLDR through Babel


@pytest.mark.parametrize(
    ("count", "expected"), [(0, "other"), (1, "one"), (2, "other"), (5, "other"), (1.5, "other")]
)
def test_english_categories(count: float, expected: str) -> None:
    assert category("en", count) == expected


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, "many"),
        (1, "one"),
        (2, "few"),
        (4, "few"),
        (5, "many"),
        (11, "many"),
        (12, "many"),
        (14, "many"),
        (21, "one"),
        (22, "few"),
        (25, "many"),
        (101, "one"),
        (111, "many"),
        (1.5, "other"),
        (Decimal("2.5"), "other"),
    ],
)
def test_russian_categories(count: float, expected: str) -> None:
    assert category("ru", count) == expected


def test_each_language_needs_its_categories() -> None:
    expected = {"en": {"one", "other"}, "ru": {"one", "few", "many", "other"}}
    assert expected == CATEGORIES


# --- real texts


@pytest.mark.parametrize(
    ("count", "words"),
    [(0, "0 messages"), (1, "1 message"), (2, "2 messages"), (5, "5 messages")],
)
def test_english_text(count: int, words: str) -> None:
    assert f"at most {words} a day" in t("en", "send_daily_cap", cap=count)


@pytest.mark.parametrize(
    ("count", "words"),
    [
        (1, "1 символ)"),
        (2, "2 символа)"),
        (5, "5 символов)"),
        (11, "11 символов)"),
        (21, "21 символ)"),
        (22, "22 символа)"),
        (25, "25 символов)"),
        (111, "111 символов)"),
        (1.5, "1.5 символа)"),
    ],
)
def test_russian_text(count: float, words: str) -> None:
    assert f"Длинное сообщение ({words}" in t("ru", "inbox_long", size=count)


@pytest.mark.parametrize(
    ("count", "words"),
    [(1, "1 секунду"), (3, "3 секунды"), (11, "11 секунд"), (21, "21 секунду"), (25, "25 секунд")],
)
def test_the_russian_form_follows_the_sentence(count: int, words: str) -> None:
    # "через" takes the accusative, "около" the genitive: the forms live in each sentence.
    assert f"через {words} (" in t("ru", "send_queued_later", phone="x", seconds=count)
    around = {"1 секунду": "1 секунды", "21 секунду": "21 секунды", "3 секунды": "3 секунд"}
    assert f"около {around.get(words, words)})" in t(
        "ru", "connect_qr", until="12:00:00", seconds=count
    )


def test_a_count_must_be_a_number() -> None:
    with pytest.raises(TypeError, match="count"):
        t("en", "send_daily_cap", cap="5")
    with pytest.raises(TypeError, match="count"):
        t("en", "send_daily_cap", cap=True)


# --- checked at import


@pytest.mark.parametrize(
    ("lang", "template", "problem"),
    [
        ("ru", "{n} {n:one=сообщение|other=сообщений}", "needs exactly one=…|few=…|many=…|other=…"),
        ("en", "{n} {n:one=message|few=messages|other=messages}", "needs exactly"),
        ("en", "{n} {n:one=message}", "needs exactly one=…|other=…"),
        ("en", "{n} {n:one=message|one=messages}", "written twice"),
        ("en", "{n} {n:message|messages}", "not a plural form"),
        ("en", "{n:>5}", "not a plural form"),
        ("en", "{n!r}", "only plain"),
        ("en", "{0}", "only plain"),
        ("en", "{n.real}", "only plain"),
    ],
)
def test_check_refuses(lang: str, template: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        check(lang, template)


def test_a_wrong_plural_text_is_refused_when_the_table_is_built() -> None:
    part = {"k": {"en": "{n} {n:one=file|other=files}", "ru": "{n} {n:one=файл|other=файлов}"}}
    with pytest.raises(ValueError, match="text 'k' in 'ru'"):
        _merged(part)


# --- every count in the texts goes through the mechanism

# Fields shown right before a word that are NOT counts: names, ids, times, commands. A field
# written as `{field} word` that is not here fails the walk below: if it is a count, word it with
# `{field} {field:one=…|other=…}`; if it never holds a number of things, add it here.
NOT_COUNTS = {
    "a": "a phone number, pretty",
    "action": "a command",
    "bot": "the bot's username",
    "by": "a person's name",
    "chat": "a chat's label",
    "duration": "a duration in words, its counts worded already (about 5 min)",
    "help": "a sentence (a line state's help)",
    "gateway": "a gateway's name",
    "name": "a person's or area's name",
    "operator": "an HCI operator id",
    "phone": "a phone number, pretty",
    "until": "a time of day",
    "wait": "a duration, already in words (queue_wait_seconds, queue_wait_minutes)",
}

# Abbreviated units read the same for any number ("2 MB", "около 5 с"): they may follow a count.
UNITS = {"MB", "МБ", "KB", "КБ", "s", "с", "min", "мин", "h", "ч", "UTC"}

_BEFORE_A_WORD = re.compile(r"\{(\w+)\}[ \u00a0]*([^\W\d_]+)")  # on the same line


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_no_count_is_worded_by_hand(key: str) -> None:
    for lang in LANGS:
        template = TEXTS[key][lang]
        for match in _BEFORE_A_WORD.finditer(template):
            field, word = match.groups()
            assert field in NOT_COUNTS or word in UNITS, (
                f"{key}/{lang}: {{{field}}} is followed by a word; a count needs "
                f"{{{field}:one=…|other=…}}, anything else belongs in NOT_COUNTS"
            )


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_a_count_is_a_count_in_every_language(key: str) -> None:
    assert count_fields(TEXTS[key]["en"]) == count_fields(TEXTS[key]["ru"])


def test_the_walk_catches_a_count_worded_by_hand() -> None:
    assert _BEFORE_A_WORD.search("at most {cap} messages")
    assert _BEFORE_A_WORD.search("всего {size}\u00a0символов")
    assert not _BEFORE_A_WORD.search("{cap} {cap:one=message|other=messages}")
    assert not _BEFORE_A_WORD.search("Users: {users}\nChats: {chats}")
