"""Anything pasted as a bulk send's list or typed as its text: the bot answers in words (the next
question, the preview, or what is wrong), never with an internal error or markup Telegram
refuses, and nothing is sent before Start."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import RunningBot
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim
from tests.faults.test_hostile_input import (
    ARGUMENTS,
    FUZZ,
    MARKUP,
    ODD,
    answered,
    assert_sane,
    linked,
    settings,
)

__all__ = ["linked", "settings"]  # the fixtures, used by name

LINES = st.lists(
    st.one_of(
        st.sampled_from(["89872745052", "+7 916 555-00-01", "phone;name", "=cmd|' /C calc'!A0"]),
        st.text(max_size=20),
        st.sampled_from(MARKUP + ODD),
    ),
    max_size=12,
).map(lambda parts: ";".join(parts) if len(parts) % 3 == 0 else "\n".join(parts))
TEMPLATES = st.one_of(
    ARGUMENTS,
    st.lists(
        st.sampled_from(["{name}", "{1}", "{{", "}}", "{", "}", "{0.x}", "<b>", "&", "hi "])
    ).map("".join),
)


@FUZZ
@given(the_list=st.one_of(LINES, ARGUMENTS), template=TEMPLATES)
async def test_any_list_and_any_text_get_an_answer_in_words(
    linked: RunningBot,
    telegram: FakeTelegram,
    wappim: FakeWappim,
    the_list: str,
    template: str,
) -> None:
    asked = await answered(telegram, "/bulk")
    assert "Send the list" in asked.content
    if not the_list.strip():
        return  # an empty message never reaches the bot
    read = await answered(telegram, the_list)
    ok = "Now send the message" in read.content
    assert ok or "Send a corrected list" in read.content, read.content
    if ok and template.strip():
        shown = await answered(telegram, template)
        assert "preview" in shown.content or "does not have" in shown.content, shown.content
    assert wappim.sent == []
    assert_sane(telegram)
