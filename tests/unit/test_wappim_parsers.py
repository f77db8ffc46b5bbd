"""Pure parsers of the wapp.im driver against the reply shapes in shared/api/wappim.md."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.gateways.base import (
    Account,
    AuthError,
    GatewayError,
    Inbound,
    InvalidRequestError,
    Line,
    LineState,
    MessageKind,
    NoFreeLinesError,
    OutgoingFile,
    QuotaError,
    SentMessage,
    UpstreamError,
)
from bot.gateways.wappim import (
    data_uri,
    parse_account,
    parse_message,
    parse_messages,
    parse_sent,
    parse_spare,
    parse_state,
)

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


# --- messages (section 8, chat-api's shape)


def message(**fields: Any) -> dict[str, Any]:
    """A 1:1 incoming text as chat-api lists it, with `fields` changed."""
    base: dict[str, Any] = {
        "id": "false_79001234567@c.us_3EB0957AD66BAFF57D1D",
        "body": "hello",
        "type": "chat",
        "senderName": "Ivan",
        "fromMe": False,
        "author": "79001234567@c.us",
        "time": 1700000000,
        "chatId": "79001234567@c.us",
        "chatName": "Ivan",
        "messageNumber": 7,
        "caption": None,
    }
    return base | fields


def test_messages_reply_gives_messages_and_the_cursor() -> None:
    first = message()
    second = message(id="false_79001234567@c.us_AB", body="again", messageNumber=8)
    events, cursor = parse_messages({"messages": [first, second], "lastMessageNumber": 8})
    assert cursor == "8"
    assert events == [
        Inbound(
            id="false_79001234567@c.us_3EB0957AD66BAFF57D1D",
            chat="79001234567",
            sender="79001234567",
            sender_name="Ivan",
            kind=MessageKind.TEXT,
            text="hello",
            sent_at=datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        ),
        Inbound(
            id="false_79001234567@c.us_AB",
            chat="79001234567",
            sender="79001234567",
            sender_name="Ivan",
            text="again",
            sent_at=datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        ),
    ]


@pytest.mark.parametrize(
    ("body", "cursor"),
    [
        ({"messages": [], "lastMessageNumber": 0}, "0"),
        ({"messages": [], "lastMessageNumber": "12"}, "12"),  # passed back as it came
        ({"messages": []}, None),
        ({"messages": None, "lastMessageNumber": 3}, "3"),
        ({"messages": [message(messageNumber=4), message(messageNumber=9)]}, "9"),
        ({"messages": [message(messageNumber=4)], "lastMessageNumber": "x"}, "4"),
        ({"messages": [message(messageNumber=True)], "lastMessageNumber": 2.5}, None),
        ({"messages": [], "lastMessageNumber": 10**40}, None),  # no cursor fits
    ],
)
def test_messages_cursor(body: dict[str, Any], cursor: str | None) -> None:
    assert parse_messages(body)[1] == cursor


@pytest.mark.parametrize(
    "body", [None, [], "messages", {"messages": "x"}, {"messages": {"id": "1"}}]
)
def test_messages_reply_that_is_not_a_list_is_upstream(body: object) -> None:
    with pytest.raises(UpstreamError):
        parse_messages(body)


def test_group_message() -> None:
    parsed = parse_message(
        message(
            id="false_120363041234567890@g.us_ABC_79005550000@c.us",
            chatId="120363041234567890@g.us",
            chatName="Family\n chat",
            author="79005550000@c.us",
            senderName="Olga",
        )
    )
    assert parsed is not None
    assert (parsed.chat, parsed.sender, parsed.sender_name, parsed.group_name) == (
        "120363041234567890@g.us",
        "79005550000",
        "Olga",
        "Family chat",
    )
    assert parsed.is_group


def test_legacy_group_id_is_kept_whole_and_a_missing_author_falls_back() -> None:
    parsed = parse_message(message(chatId="79001234567-1612345678@g.us", author=None))
    assert parsed is not None
    assert parsed.chat == "79001234567-1612345678@g.us"
    assert parsed.sender == "790012345671612345678"[:32]  # the brief's fallback: chatId digits
    one_to_one = parse_message(message(author=""))
    assert one_to_one is not None and one_to_one.sender == "79001234567"
    assert parse_message(message(chatId=None)) == parse_message(message())  # chat from author


@pytest.mark.parametrize(
    ("value", "from_me"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("false", False),
        ("True", True),
        (1, True),
        (0, False),
        (None, False),
        ("yes?", False),
        ([], False),
    ],
)
def test_from_me(value: object, from_me: bool) -> None:
    parsed = parse_message(message(fromMe=value))
    assert parsed is not None and parsed.from_me is from_me


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("chat", MessageKind.TEXT),
        ("image", MessageKind.IMAGE),
        ("video", MessageKind.VIDEO),
        ("document", MessageKind.DOCUMENT),
        ("ptt", MessageKind.VOICE),
        ("audio", MessageKind.AUDIO),
        ("sticker", MessageKind.STICKER),
        ("location", MessageKind.LOCATION),
        ("vcard", MessageKind.CONTACT),
        ("call_log", MessageKind.CALL),
        ("IMAGE", MessageKind.IMAGE),
        (None, MessageKind.TEXT),
    ],
)
def test_message_kinds(word: str | None, kind: MessageKind) -> None:
    parsed = parse_message(message(type=word))
    assert parsed is not None and parsed.kind is kind


@pytest.mark.parametrize("word", ["poll_creation", "revoked", "e2e_notification", "", 5])
def test_unknown_types_are_other_with_the_word(word: object) -> None:
    parsed = parse_message(message(type=word, body="whatever"))
    assert parsed is not None
    assert (parsed.kind, parsed.details, parsed.text) == (MessageKind.OTHER, str(word), "")


@pytest.mark.parametrize("word", ["image", "video", "document", "ptt", "audio", "sticker"])
def test_media_body_is_the_url_and_the_caption_the_text(word: str) -> None:
    url = "https://s3.example.com/media/3EB0.jpeg"
    parsed = parse_message(message(type=word, body=f" {url} ", caption="look"))
    assert parsed is not None
    assert (parsed.media_url, parsed.text) == (url, "look")
    no_caption = parse_message(message(type=word, body=url, caption=None))
    assert no_caption is not None and no_caption.text == ""
    no_url = parse_message(message(type=word, body=None))
    assert no_url is not None and no_url.media_url is None


def test_text_has_no_media_url() -> None:
    parsed = parse_message(message(body="https://example.com/"))
    assert parsed is not None
    assert (parsed.text, parsed.media_url) == ("https://example.com/", None)


@pytest.mark.parametrize(
    ("body", "caption", "details"),
    [
        ("55.7558;37.6173", None, "55.7558,37.6173"),
        ("55.7558, 37.6173", "Red Square", "55.7558,37.6173 Red Square"),
        ("-33.86,151.2", None, "-33.86,151.2"),
        ("95;10", None, ""),  # not a latitude
        ("nan;1", None, ""),
        ("somewhere", "Home", "Home"),
        (None, None, ""),
    ],
)
def test_location_details(body: object, caption: str | None, details: str) -> None:
    parsed = parse_message(message(type="location", body=body, caption=caption))
    assert parsed is not None
    assert (parsed.kind, parsed.details, parsed.text, parsed.media_url) == (
        MessageKind.LOCATION,
        details,
        "",
        None,
    )


@pytest.mark.parametrize(
    ("body", "name"),
    [
        (
            "BEGIN:VCARD\nVERSION:3.0\nN:Petrov;Ivan\nFN:Ivan Petrov\nTEL:+79001234567\nEND:VCARD",
            "Ivan Petrov",
        ),
        ("BEGIN:VCARD\r\nFN;CHARSET=UTF-8:Иван\\, друг\r\nEND:VCARD", "Иван, друг"),
        ("BEGIN:VCARD\nN:Petrov;Ivan\nEND:VCARD", ""),
        (12, ""),
    ],
)
def test_vcard_details_are_the_contact_name(body: object, name: str) -> None:
    parsed = parse_message(message(type="vcard", body=body))
    assert parsed is not None
    assert (parsed.kind, parsed.details, parsed.text) == (MessageKind.CONTACT, name, "")


@pytest.mark.parametrize(
    ("value", "sent_at"),
    [
        (1700000000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (1700000000.5, datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)),
        (None, None),
        ("yesterday", None),
        (True, None),
        (-5, None),
        (1700000000000, None),  # milliseconds: not guessed at
        (float("inf"), None),
        ({"t": 1}, None),
    ],
)
def test_sent_at(value: object, sent_at: datetime | None) -> None:
    parsed = parse_message(message(time=value))
    assert parsed is not None and parsed.sent_at == sent_at


def test_skipped_entries_are_logged_without_their_content(
    caplog: pytest.LogCaptureFixture,
) -> None:
    entries = [
        "secret text",
        ["secret"],
        message(id=None, body="secret body"),
        message(id="", body="secret body"),
        message(id=True),
        message(chatId="status@broadcast", author="79001234567@c.us", body="secret status"),
        message(chatId="", author=None, body="secret"),
        message(),
    ]
    with caplog.at_level(logging.INFO, logger="bot.gateways.wappim"):
        events, _ = parse_messages({"messages": entries, "lastMessageNumber": 9})
    assert [e.id for e in events] == [message()["id"]]
    assert len(caplog.records) == 7
    assert all(r.levelno == logging.INFO for r in caplog.records)
    assert "secret" not in caplog.text


def test_odd_field_types_never_raise() -> None:
    odd: list[Any] = [None, 1, 2.5, True, [], {}, "x" * 5000, "\x00\n"]
    for value in odd:
        for key in (
            "body",
            "type",
            "senderName",
            "fromMe",
            "author",
            "time",
            "chatName",
            "caption",
            "messageNumber",
        ):
            parse_message(message(**{key: value}))
        parse_message(message(chatId=value, author="79001234567@c.us"))


def test_absurd_values_are_clipped_to_fit_the_inbox() -> None:
    parsed = parse_message(
        message(
            id=12345,
            senderName="Ivan " * 100,
            chatId="9" * 100 + "@c.us",
            author="8" * 100 + "@c.us",
        )
    )
    assert parsed is not None
    assert parsed.id == "12345"
    assert (len(parsed.chat), len(parsed.sender), len(parsed.sender_name or "")) == (64, 32, 128)
    assert len(parse_message(message(id="A" * 1000)).id) == 255  # type: ignore[union-attr]
    group = parse_message(message(chatId="1" * 100 + "@g.us", chatName="F" * 500))
    assert group is not None and len(group.group_name or "") == 128
    assert (len(group.chat), group.is_group) == (64, True)


# --- sendFile


def test_data_uri() -> None:
    file = OutgoingFile(data=b"\x89PNG\x00\xff", name="a.png", mime="image/png")
    assert data_uri(file) == "data:image/png;base64,iVBORwD/"
    odd = OutgoingFile(data=b"x", name="a", mime="text/plain; charset=utf-8")
    assert data_uri(odd) == "data:application/octet-stream;base64,eA=="
