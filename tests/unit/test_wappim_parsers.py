"""Pure parsers of the wapp.im driver against the reply shapes in shared/api/wappim.md."""

from __future__ import annotations

from typing import Any

import pytest

from bot.gateways.base import (
    Account,
    AuthError,
    GatewayError,
    InvalidRequestError,
    Line,
    LineState,
    NoFreeLinesError,
    QuotaError,
    SentMessage,
    UpstreamError,
)
from bot.gateways.wappim import parse_account, parse_sent, parse_spare, parse_state

# section 1, key order and values as pasted in S3
SPARE_17 = {
    "id": 9,
    "instanceId": "2a01:4f8:c17:ac8:3::a",
    "token": "Es7OhIYSuG2N-klS",
    "chat_id": "2a01:4f8:c17:ac8:3::a",
    "md": 0,
    "chat_token": "Es7OhIYSuG2N-klS",
    "chat_key": "f5197c79e97c1f1f7300d9c413af2e6a",
    "apikey": "f5197c79e97c1f1f7300d9c413af2e6a",
    "date_add": 1642665847,
    "date_trial": None,
    "date_pay": 0,
    "date_subscription": 0,
    "phone": "",
    "name": "",
    "platform": "",
    "status": 0,
    "is_premium": 0,
}
SPARE_3 = {"id": 26, "token": "qrtYYGoXkJE145ER", "instanceId": "2a01:4f8:c17:ac8:3::11"}


# --- chat/spare


def test_spare_17_fields() -> None:
    line = parse_spare(SPARE_17)
    assert line == Line(instance_id="9", token="Es7OhIYSuG2N-klS")
    assert line.options == {}


def test_spare_3_fields() -> None:
    assert parse_spare(SPARE_3) == Line(instance_id="26", token="qrtYYGoXkJE145ER")


def test_spare_token_falls_back_to_chat_token() -> None:
    body = {**SPARE_17, "token": ""}
    assert parse_spare(body).token == "Es7OhIYSuG2N-klS"


def test_spare_instance_zero_is_a_real_id() -> None:
    assert parse_spare({"id": 0, "token": "abcdefgh"}).instance_id == "0"


@pytest.mark.parametrize("code", [404, "404", None])
def test_spare_no_free_chats(code: object) -> None:
    with pytest.raises(NoFreeLinesError) as caught:
        parse_spare({"error_code": code, "error_text": "No free chats"})
    assert isinstance(caught.value, QuotaError)
    assert not caught.value.retriable


def test_spare_error_about_token_is_auth() -> None:
    with pytest.raises(AuthError):
        parse_spare({"error_code": 401, "error_text": "Wrong X-Tasktest-Token"})


def test_spare_other_error_is_invalid_request() -> None:
    with pytest.raises(InvalidRequestError, match="crm"):
        parse_spare({"error_code": 400, "error_text": "Unknown crm"})


@pytest.mark.parametrize(
    "body",
    [
        {"id": 9},
        {"token": "Es7OhIYSuG2N-klS"},
        {"id": "", "token": "Es7OhIYSuG2N-klS"},
        {"id": 9, "token": ""},
        {"id": 9, "token": 12345678},
        {},
    ],
)
def test_spare_without_id_or_token_is_upstream(body: dict[str, Any]) -> None:
    with pytest.raises(UpstreamError) as caught:
        parse_spare(body)
    assert caught.value.retriable


@pytest.mark.parametrize("body", [None, [], [SPARE_17], "No free chats", 9])
def test_spare_not_an_object(body: object) -> None:
    with pytest.raises(UpstreamError):
        parse_spare(body)


# --- status


@pytest.mark.parametrize(
    ("body", "state", "raw"),
    [
        ({"accountStatus": "init"}, LineState.PROVISIONING, "init"),
        ({"accountStatus": "loading"}, LineState.STARTING, "loading"),
        (
            {"accountStatus": "got qr code", "qrCode": "data:…", "state": "got qr code"},
            LineState.AWAITING_QR,
            "got qr code",
        ),
        ({"state": "got qr code"}, LineState.AWAITING_QR, "got qr code"),
        ({"accountStatus": "authenticated"}, LineState.AUTHORIZED, "authenticated"),
        (
            {"accountStatus": "authenticated", "state": "CONNECTED"},
            LineState.AUTHORIZED,
            "authenticated",
        ),
        ({"state": "CONNECTED"}, LineState.AUTHORIZED, "CONNECTED"),
        ({"accountStatus": "not_paid"}, LineState.RESTRICTED, "not_paid"),
        ({"state": "OPENING"}, LineState.STARTING, "OPENING"),
        ({"state": "PAIRING"}, LineState.STARTING, "PAIRING"),
        ({"state": "UNPAIRED"}, LineState.AWAITING_QR, "UNPAIRED"),
        ({"state": "UNPAIRED_IDLE"}, LineState.AWAITING_QR, "UNPAIRED_IDLE"),
        ({"state": "TOS_BLOCK"}, LineState.BLOCKED, "TOS_BLOCK"),
        ({"state": "SMB_TOS_BLOCK"}, LineState.BLOCKED, "SMB_TOS_BLOCK"),
        # case and padding do not matter; the raw word is kept for /status
        ({"accountStatus": " Got QR Code "}, LineState.AWAITING_QR, " Got QR Code "),
        ({"state": "connected"}, LineState.AUTHORIZED, "connected"),
    ],
)
def test_status_values(body: dict[str, Any], state: LineState, raw: str) -> None:
    assert parse_state(body) == (state, raw)


def test_account_status_wins_over_state() -> None:
    assert parse_state({"accountStatus": "got qr code", "state": "CONNECTED"})[0] is (
        LineState.AWAITING_QR
    )
    assert parse_state({"accountStatus": "loading", "state": "got qr code"})[0] is (
        LineState.STARTING
    )


def test_unknown_account_status_falls_back_to_known_state() -> None:
    assert parse_state({"accountStatus": "weird", "state": "CONNECTED"}) == (
        LineState.AUTHORIZED,
        "CONNECTED",
    )
    assert parse_state({"accountStatus": "", "state": "got qr code"}) == (
        LineState.AWAITING_QR,
        "got qr code",
    )


@pytest.mark.parametrize(
    ("body", "raw"),
    [
        ({}, ""),
        ({"qrCode": "data:image/png;base64,AAAA"}, ""),
        ({"accountStatus": None, "state": None}, ""),
        ({"accountStatus": "", "state": ""}, ""),
        ({"accountStatus": "weird"}, "weird"),
        ({"accountStatus": "weird", "state": "odd"}, "weird"),
        ({"state": "CONFLICT"}, "CONFLICT"),
        ({"state": "TIMEOUT"}, "TIMEOUT"),
        ({"state": "UNLAUNCHED"}, "UNLAUNCHED"),
        ({"state": "DEPRECATED_VERSION"}, "DEPRECATED_VERSION"),
        ({"accountStatus": 3}, "3"),
    ],
)
def test_status_unknown_or_missing(body: dict[str, Any], raw: str) -> None:
    assert parse_state(body) == (LineState.UNKNOWN, raw)


# --- me


def test_account_name_and_number() -> None:
    body = {"id": "79990000000@c.us", "number": "79990000000", "name": "Test User"}
    assert parse_account(body) == Account(name="Test User", phone="79990000000")


def test_account_number_is_reduced_to_digits() -> None:
    assert parse_account({"name": "A", "number": "+7 999 000-00-00"}).phone == "79990000000"
    assert parse_account({"name": "A", "number": 79990000000}).phone == "79990000000"


def test_account_phone_from_id_when_number_missing() -> None:
    assert parse_account({"id": "79991234567@c.us", "name": "A"}) == Account("A", "79991234567")
    assert parse_account({"id": "79991234567@c.us", "number": ""}).phone == "79991234567"


@pytest.mark.parametrize("body", [{"id": "undefined"}, {"id": None}, {}, {"number": None}])
def test_account_phone_unknown(body: dict[str, Any]) -> None:
    assert parse_account(body) == Account(name=None, phone=None)


def test_account_is_tidied_for_display_and_storage() -> None:
    # Whatever a gateway sends, the name is one line of at most 128 characters and the phone at
    # most 15 ASCII digits (E.164): PostgreSQL refuses NUL and over-long values.
    odd = parse_account({"name": " Ivan\x00\n  Petrov\t", "number": "+7 999 123²45 67"})
    assert odd == Account(name="Ivan Petrov", phone="79991234567")  # "²" is no digit of it
    assert len(parse_account({"name": "я" * 500}).name or "") == 128
    assert parse_account({"name": "\x00\n", "number": "1" * 16}) == Account(None, None)


def test_account_name_falls_back_to_pushname() -> None:
    assert parse_account({"name": "", "pushname": "Pushy"}).name == "Pushy"
    assert parse_account({"pushname": "Pushy", "name": "Real"}).name == "Real"


@pytest.mark.parametrize("body", [None, [], "undefined"])
def test_account_not_an_object(body: object) -> None:
    with pytest.raises(UpstreamError):
        parse_account(body)


# --- sendMessage


def test_sent_true_with_id() -> None:
    body = {
        "sent": True,
        "message": "Sent to 79872745052@c.us",
        "id": "true_79872745052@c.us_3EB0957AD66BAFF57D1D",
        "queueNumber": 2,
    }
    assert parse_sent(body) == SentMessage("true_79872745052@c.us_3EB0957AD66BAFF57D1D")


@pytest.mark.parametrize("sent", ["true", "True", " TRUE "])
def test_sent_string_true(sent: str) -> None:
    assert parse_sent({"sent": sent}) == SentMessage(message_id=None)


@pytest.mark.parametrize("body", [{"sent": False}, {"sent": "false"}, {"sent": 1}, {}])
def test_not_sent_is_invalid_request(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_sent({**body, "message": "Wrong phone"})
    assert not caught.value.retriable


def test_not_sent_detail_carries_message_and_is_short() -> None:
    with pytest.raises(InvalidRequestError, match="Wrong phone"):
        parse_sent({"sent": False, "message": "Wrong phone"})
    with pytest.raises(InvalidRequestError) as caught:
        parse_sent({"sent": False, "message": "x" * 1000})
    assert len(str(caught.value)) <= 200


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"error_code": 400, "error_text": "Wrong phone number"}, InvalidRequestError),
        ({"error_code": 401, "error_text": "Invalid token"}, AuthError),
        ({"error_code": 1, "error_text": "No free chats"}, NoFreeLinesError),
        ({"error_code": 500}, InvalidRequestError),
        # an error field wins even if `sent` looks positive
        ({"sent": True, "error_code": 400, "error_text": "Bad body"}, InvalidRequestError),
    ],
)
def test_error_code_inside_200(body: dict[str, Any], error: type[GatewayError]) -> None:
    with pytest.raises(error):
        parse_sent(body)


@pytest.mark.parametrize("body", [None, [], "true", True])
def test_sent_not_an_object(body: object) -> None:
    with pytest.raises(UpstreamError):
        parse_sent(body)


def test_empty_error_placeholders_in_a_successful_reply_are_not_errors() -> None:
    from bot.gateways.wappim import parse_sent

    sent = parse_sent({"sent": True, "id": "true_1@c.us_AB", "error_code": None, "error_text": ""})
    assert sent.message_id == "true_1@c.us_AB"
