"""`bot.services.phones`: numbers as people type them, and `/send PHONE TEXT` splitting."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.phones import Phone, PhoneError, parse_phone, pretty, split_recipient

RU_NUMBER = "79872745052"
DE_NUMBER = "4915216896607"


@pytest.mark.parametrize(
    "raw",
    [
        "89872745052",
        "+7 987 274-50-52",
        "8 (987) 274 50 52",
        "79872745052",
        "+79872745052",
        "+7 (987) 274-50-52",
        "8-987-274-50-52",
        "9872745052",
        "  89872745052  ",
        "007 987 274 50 52",
    ],
)
def test_russian_spellings_become_international_digits(raw: str) -> None:
    assert parse_phone(raw, "RU") == Phone(digits=RU_NUMBER, region="RU")


@pytest.mark.parametrize(
    "raw", ["+49 1521 6896607", "004915216896607", "0049 1521 6896607", "+49 (1521) 689-66-07"]
)
def test_german_number_stays_german_with_ru_default(raw: str) -> None:
    assert parse_phone(raw, "RU") == Phone(digits=DE_NUMBER, region="DE")


def test_national_reading_follows_default_region() -> None:
    assert parse_phone("015216896607", "DE").digits == DE_NUMBER
    assert parse_phone("+1 650 253 0000", "RU") == Phone(digits="16502530000", region="US")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   \n\t", "empty"),
        ("abc", "characters"),
        ("8987abc4505", "characters"),
        ("+7 987 274 50 52 x", "characters"),
        ("+", "characters"),
        ("()-", "characters"),
        ("12345", "invalid"),
        ("8987274505", "invalid"),  # one digit short
        ("898727450521", "invalid"),  # one digit too many
        ("+7 000 000 00 00", "invalid"),
        ("00", "invalid"),
    ],
)
def test_unusable_numbers_raise_phone_error_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(PhoneError) as caught:
        parse_phone(raw, "RU")
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)


def test_ambiguous_digits_are_asked_about_not_guessed() -> None:
    # In Germany, 447781123456 is both a national number (+49 4477…) and a UK number (+44 7781…).
    with pytest.raises(PhoneError) as caught:
        parse_phone("447781123456", "DE")
    assert caught.value.reason == "ambiguous"
    assert caught.value.options == ("+49 4477 81123456", "+44 7781 123456")
    # Written with + or 00 it is unambiguous.
    assert parse_phone("+44 7781 123456", "DE").digits == "447781123456"
    assert parse_phone("0044 7781 123456", "DE").digits == "447781123456"


def test_same_reading_both_ways_is_not_ambiguous() -> None:
    # 79872745052 read in RU and as +7… is the same number: no question.
    assert parse_phone("79872745052", "RU").digits == RU_NUMBER


def test_pretty() -> None:
    assert pretty(RU_NUMBER) == "+7 987 274-50-52"
    assert pretty(DE_NUMBER) == "+49 1521 6896607"
    assert Phone(RU_NUMBER, "RU").pretty == "+7 987 274-50-52"
    # Garbage falls back instead of raising (it is only ever shown to people).
    assert pretty("abc") == "+abc"


# --- split_recipient


@pytest.mark.parametrize(
    ("rest", "text"),
    [
        ("89872745052 Hello", "Hello"),
        ("+7 987 274-50-52 Hello", "Hello"),
        ("8 (987) 274 50 52 Hello", "Hello"),
        ("89872745052 100 roubles", "100 roubles"),
        ("8 987 274 50 52 100", "100"),
        ("89872745052 1 2 3", "1 2 3"),
        ("89872745052", ""),
        ("   89872745052   Hi  ", "Hi"),
        ("89872745052\tHi", "Hi"),
        ("89872745052Hello", "Hello"),
        ("89872745052 - hello", "- hello"),
    ],
)
def test_split_recipient_single_line(rest: str, text: str) -> None:
    assert split_recipient(rest, "RU") == (Phone(RU_NUMBER, "RU"), text)


def test_split_recipient_keeps_multiline_text_exactly() -> None:
    body = "Line one\n  indented two\n\n\tfour with tab\n*bold* _it_ `code` [x](y) <b>&amp; 🙂👍🏽"
    assert split_recipient("+7 987 274-50-52 " + body, "RU")[1] == body
    assert split_recipient("89872745052\n" + body, "RU")[1] == body
    # Only the one separator goes: a blank first line survives.
    assert split_recipient("89872745052\n\n" + body, "RU")[1] == "\n" + body
    # Trailing whitespace is dropped.
    assert split_recipient("89872745052 " + body + "\n \n", "RU")[1] == body


def test_split_recipient_digits_on_the_next_line_are_text() -> None:
    phone, text = split_recipient("89872745052\n100 roubles\n200", "RU")
    assert phone.digits == RU_NUMBER
    assert text == "100 roubles\n200"


def test_split_recipient_german() -> None:
    assert split_recipient("+49 1521 6896607 Hallo 1 2", "RU") == (
        Phone(DE_NUMBER, "DE"),
        "Hallo 1 2",
    )


def test_split_recipient_asks_when_a_grouped_number_could_end_in_two_places() -> None:
    # "+49 30 1234" and "+49 30 12345678" are both valid: the bot asks instead of guessing.
    with pytest.raises(PhoneError) as caught:
        split_recipient("+49 30 1234 5678 Hallo", "RU")
    assert caught.value.reason == "ambiguous"
    assert "+49 30 12345678" in caught.value.options
    phone, text = split_recipient("+493012345678 Hallo", "RU")
    assert (phone.digits, text) == ("493012345678", "Hallo")


@pytest.mark.parametrize(
    ("rest", "reason", "options"),
    [
        ("", "empty", ()),
        ("   \n ", "empty", ()),
        ("hello 89872745052", "characters", ("hello",)),
        ("12345 text", "invalid", ("12345",)),
        ("8987274505 text", "invalid", ("8987274505",)),
    ],
)
def test_split_recipient_errors(rest: str, reason: str, options: tuple[str, ...]) -> None:
    with pytest.raises(PhoneError) as caught:
        split_recipient(rest, "RU")
    assert caught.value.reason == reason
    assert caught.value.options == options


def test_split_recipient_ambiguous_names_what_was_typed() -> None:
    with pytest.raises(PhoneError) as caught:
        split_recipient("447781123456 Hello", "DE")
    assert caught.value.reason == "ambiguous"
    assert caught.value.options == ("447781123456", "+49 4477 81123456", "+44 7781 123456")


# --- properties

PHONES = [
    ("89872745052", RU_NUMBER),
    ("+7 987 274-50-52", RU_NUMBER),
    ("8 (987) 274 50 52", RU_NUMBER),
    ("79872745052", RU_NUMBER),
    ("+49 1521 6896607", DE_NUMBER),
    ("004915216896607", DE_NUMBER),
]
SEPARATORS = [" ", "  ", "\t", "\n", " \n", " \t "]
FAST = settings(max_examples=200, deadline=None, database=None)


@FAST
@given(
    st.sampled_from(PHONES),
    st.sampled_from(SEPARATORS),
    st.text().filter(lambda s: not s[:1].isspace()),
)
def test_text_after_a_phone_comes_back_unchanged(
    phone: tuple[str, str], separator: str, text: str
) -> None:
    typed, digits = phone
    got_phone, got_text = split_recipient(typed + separator + text, "RU")
    assert got_phone.digits == digits
    assert got_text == text.rstrip()


@FAST
@given(st.sampled_from(PHONES), st.sampled_from(SEPARATORS), st.text())
def test_only_leading_separator_and_trailing_whitespace_are_dropped(
    phone: tuple[str, str], separator: str, text: str
) -> None:
    typed, digits = phone
    got_phone, got_text = split_recipient(typed + separator + text, "RU")
    assert got_phone.digits == digits
    kept = (separator + text).rstrip()
    assert kept.endswith(got_text)
    dropped = kept[: len(kept) - len(got_text)]
    assert re.fullmatch(r"[ \t]*\n?", dropped), (dropped, got_text)


_PHONEISH = st.text(alphabet=st.sampled_from(list("0123456789+-()./ \n\t8٣０xé")), max_size=40)


@FAST
@given(st.one_of(st.text(), _PHONEISH), st.sampled_from(["RU", "DE", "US"]))
def test_arbitrary_input_raises_only_phone_error(raw: str, region: str) -> None:
    for call in (parse_phone, split_recipient):
        try:
            result = call(raw, region)
        except PhoneError as exc:
            assert exc.reason in {"empty", "characters", "invalid", "ambiguous"}
            continue
        phone = result if isinstance(result, Phone) else result[0]
        assert phone.digits.isascii() and phone.digits.isdigit()
        # The digits are international and stable: reading them back with + changes nothing.
        assert parse_phone("+" + phone.digits, region).digits == phone.digits
