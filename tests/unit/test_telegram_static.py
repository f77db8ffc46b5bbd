"""Static tables of the Telegram layer: callback data, texts, commands."""

from __future__ import annotations

import re
import string

import pytest

from bot.gateways.base import (
    ErrorKind,
    GatewayError,
    LineState,
    NetworkError,
    NoFreeLinesError,
    QuotaError,
)
from bot.telegram import keyboards
from bot.telegram.commands import BY_NAME, COMMANDS, Command
from bot.telegram.keyboards import Press
from bot.telegram.texts import (
    ERRORS,
    NO_FREE_LINES,
    STATE_HELP,
    STATE_NAMES,
    TEXTS,
    Html,
    explain_error,
    lang_of,
    plural,
    t,
)

LANGS = ("en", "ru")

# --- keyboards.parse


@pytest.mark.parametrize(
    ("data", "press"),
    [
        ("cancel", Press("cancel")),
        ("connect", Press("connect")),
        ("connect:wappim", Press("connect", "wappim")),
        ("keep", Press("keep")),
        ("use:12", Press("use", "12")),
        ("disc:7", Press("disc", "7")),
        ("disc!:7", Press("disc!", "7")),
        ("again:123456789", Press("again", "123456789")),
        ("use:" + "9" * 9, Press("use", "9" * 9)),  # the largest id accepted (fits the database)
    ],
)
def test_parse_valid(data: str, press: Press) -> None:
    assert keyboards.parse(data) == press


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "hack",
        "CANCEL",
        "use",
        "use:",
        "use:abc",
        "use:-1",
        "use:1.5",
        "use: 1",
        "disc:1x",
        "disc!:",
        "again:0x10",
        ":12",
        "use:" + "1" * 61,  # 65 characters
        "connect:" + "w" * 60,
    ],
)
def test_parse_malformed_is_none(data: str | None) -> None:
    assert keyboards.parse(data) is None


@pytest.mark.parametrize("arg", ["²", "9" * 40])
def test_parse_id_args_are_ascii_ids(arg: str) -> None:
    press = keyboards.parse(f"use:{arg}")
    assert press is None or (press.arg.isascii() and 0 < int(press.arg) < 2**63)


def test_buttons_built_by_the_bot_parse_back() -> None:
    markups = [
        keyboards.cancel("en"),
        keyboards.new_qr("ru"),
        keyboards.retry_connect("en"),
        keyboards.connect_again("en", "wappim"),
        keyboards.send_again("ru", 42),
        keyboards.confirm_disconnect("en", 7),
        keyboards.gateways({"wappim": "wapp.im", "greenapi": "Green-API"}),
    ]
    for markup in markups:
        for row in markup.inline_keyboard:
            for button in row:
                assert isinstance(button.callback_data, str)
                assert keyboards.parse(button.callback_data) is not None, button.callback_data


# --- texts


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_every_text_has_both_languages(key: str) -> None:
    assert set(TEXTS[key]) == set(LANGS)
    assert all(TEXTS[key][lang].strip() for lang in LANGS)
    assert _fields(TEXTS[key]["en"]) == _fields(TEXTS[key]["ru"])


@pytest.mark.parametrize("table", [STATE_NAMES, STATE_HELP], ids=["STATE_NAMES", "STATE_HELP"])
def test_every_state_has_texts(table: dict[LineState, dict[str, str]]) -> None:
    assert set(table) == set(LineState)
    for state in LineState:
        assert set(table[state]) == set(LANGS) and all(table[state].values())


def test_every_error_kind_has_a_text() -> None:
    assert set(ERRORS) == set(ErrorKind)
    for kind in ErrorKind:
        assert set(ERRORS[kind]) == set(LANGS) and all(ERRORS[kind].values())
    assert set(NO_FREE_LINES) == set(LANGS)


def test_t_escapes_values() -> None:
    out = t("en", "send_sent", phone="<b>x</b> & y")
    assert out == "✓ Sent to &lt;b&gt;x&lt;/b&gt; &amp; y"


def test_t_keeps_html_values_and_numbers() -> None:
    assert t("en", "send_sent", phone=Html("<b>+7</b>")) == "✓ Sent to <b>+7</b>"
    assert t("en", "send_daily_cap", cap=500).count("500") == 1


def test_t_keeps_braces_in_values() -> None:
    assert t("en", "send_sent", phone="{phone}") == "✓ Sent to {phone}"


def test_t_language_fallback() -> None:
    assert lang_of("ru") == "ru"
    for other in (None, "", "de", "en-US", "ru-RU"):
        assert lang_of(other) == "en"
    assert t("uk", "btn_no") == "No"
    assert t("ru", "btn_no") == "Нет"


def test_every_text_formats_with_its_fields() -> None:
    for key, langs in TEXTS.items():
        for lang in LANGS:
            counts = plural.count_fields(langs[lang])
            values: dict[str, object] = {name: f"<{name}>" for name in _fields(langs[lang])}
            values.update({name: 987654 for name in counts})
            out = t(lang, key, **values)
            for name in values:
                assert (f"&lt;{name}&gt;" if name not in counts else "987654") in out
                assert "{" + name not in out


def test_explain_error() -> None:
    assert explain_error("ru", NoFreeLinesError("No free chats")) == NO_FREE_LINES["ru"]
    assert explain_error("en", QuotaError()) == ERRORS[ErrorKind.QUOTA]["en"]
    assert explain_error("en", NetworkError(request_sent=False)) == ERRORS[ErrorKind.NETWORK]["en"]
    assert explain_error("en", GatewayError()) == ERRORS[ErrorKind.UPSTREAM]["en"]
    assert explain_error("en", None) == ERRORS[ErrorKind.UPSTREAM]["en"]


# --- commands

_NAME = re.compile(r"[a-z0-9_]{1,32}")


def test_command_names_lowercase_unique_valid() -> None:
    names = [command.name for command in COMMANDS]
    assert len(names) == len(set(names))
    for name in names:
        assert name == name.lower()
        assert _NAME.fullmatch(name), name
    assert set(BY_NAME) == set(names)
    assert {"start", "connect", "send", "chats", "status", "disconnect", "cancel", "help"} <= set(
        names
    )


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_usage_and_example_start_with_the_command(command: Command) -> None:
    name = command.name
    for line in (command.usage, command.example):
        assert line == f"/{name}" or line.startswith(f"/{name} "), line


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_descriptions_fit_the_command_menu(command: Command) -> None:
    for lang in LANGS:
        assert 3 <= len(command.about(lang)) <= 256  # setMyCommands limits
    assert command.about("ru") != command.about("en")
