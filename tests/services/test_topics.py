"""TopicService against the real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set)
with a recording TopicView: exactly one topic per conversation when many ask at once on two
"replicas" (two services sharing the database), a claim left by a dead replica taken over, a
refusal that leaves no claim behind, names kept in step (`refresh_title`, which /name calls after
`set_name`), and the titles themselves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.gateways.base import LineState
from bot.services.conversations import conversation_of, set_name
from bot.services.ports import TopicsOff
from bot.services.topics import MAX_TITLE, TopicService, title_of
from bot.storage.db import close_db, init_db
from bot.storage.models import Conversation, User, WhatsAppChat

USER = 1001
IVAN = "79001234567"


class RecordingView:
    """A TopicView that records what it was asked; createForumTopic takes `delay` seconds."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.created: list[tuple[int, str]] = []
        self.renamed: list[tuple[int, str]] = []
        self.headers: list[int] = []
        self.refuse = False

    async def create(self, user_id: int, title: str) -> int:
        await asyncio.sleep(self.delay)
        if self.refuse:
            raise TopicsOff("Bad Request: the chat is not a forum")
        self.created.append((user_id, title))
        return 100_000 + len(self.created)

    async def rename(self, user_id: int, thread: int, title: str) -> None:
        self.renamed.append((thread, title))

    async def header(self, user_id: int, lang: str, thread: int, *args: Any) -> None:
        self.headers.append(thread)

    async def note(self, *args: Any) -> None: ...

    async def echo(self, *args: Any) -> None: ...

    async def progress(self, *args: Any) -> None: ...


def service(view: RecordingView, claim: float = 30.0) -> TopicService:
    topics = TopicService(view, inbox=None, sender=None, claim_seconds=claim)  # type: ignore[arg-type]
    topics.decide("auto", has_topics_enabled=True)
    return topics


@pytest.fixture
async def user(database_url: str, tmp_path: Path) -> AsyncIterator[User]:
    if database_url.startswith("sqlite://"):
        Path(database_url.removeprefix("sqlite://")).parent.mkdir(parents=True, exist_ok=True)
    await init_db(database_url)
    try:
        person = await User.create(id=USER)
        await line(person, "Shop", "79990000001")
        yield person
    finally:
        await close_db()


async def line(owner: User, name: str, phone: str) -> WhatsAppChat:
    return await WhatsAppChat.create(
        owner=owner,
        gateway="wappim",
        instance_id=phone,
        token_secret="sealed",
        state=LineState.AUTHORIZED,
        account_name=name,
        account_phone=phone,
    )


async def test_ten_at_once_on_two_replicas_make_one_topic(user: User) -> None:
    chat = await WhatsAppChat.get(owner_id=USER)
    one, two = RecordingView(), RecordingView()
    replicas = [service(one), service(two)]
    # Each asks with its own copy of the row, as ten incoming messages or sends would.
    copies = [await conversation_of(USER, chat.id, IVAN, "Ivan") for _ in range(10)]
    threads = await asyncio.gather(
        *(replicas[n % 2].topic_of(user, copy) for n, copy in enumerate(copies))
    )
    assert len(one.created) + len(two.created) == 1
    assert len(set(threads)) == 1 and threads[0] is not None
    assert one.headers + two.headers == [threads[0]]
    stored = await Conversation.get(id=copies[0].id)
    assert (stored.topic_id, stored.topic_title, stored.topic_claim_until) == (
        threads[0],
        "Ivan · +7 900 123-45-67",
        None,
    )


async def test_a_claim_left_by_a_dead_replica_is_taken_over(user: User) -> None:
    chat = await WhatsAppChat.get(owner_id=USER)
    conversation = await conversation_of(USER, chat.id, IVAN)
    # A replica claimed the topic and died before createForumTopic answered.
    await Conversation.filter(id=conversation.id).update(
        topic_claim_until=datetime.now(UTC) + timedelta(seconds=0.3)
    )
    view = RecordingView()
    thread = await service(view, claim=0.3).topic_of(user, conversation)
    assert thread is not None and len(view.created) == 1


async def test_a_refusal_delivers_flat_and_leaves_no_claim(user: User) -> None:
    chat = await WhatsAppChat.get(owner_id=USER)
    conversation = await conversation_of(USER, chat.id, IVAN)
    view = RecordingView()
    view.refuse = True
    topics = service(view)
    assert await topics.topic_of(user, conversation) is None
    stored = await Conversation.get(id=conversation.id)
    assert (stored.topic_id, stored.topic_claim_until) == (None, None)
    view.refuse = False  # the next message tries topics again
    assert await topics.topic_of(user, conversation) is not None


async def test_refresh_title_follows_the_best_name_and_never_the_persons_topic(user: User) -> None:
    chat = await WhatsAppChat.get(owner_id=USER)
    view = RecordingView()
    topics = service(view)
    conversation = await conversation_of(USER, chat.id, IVAN, "Ivan")
    thread = await topics.topic_of(user, conversation)
    await topics.refresh_title(conversation)
    assert view.renamed == []  # the same name: no call
    await set_name(conversation, "Vanya the plumber")  # what /name does, then:
    await topics.refresh_title(conversation)
    assert view.renamed == [(thread, "Vanya the plumber · +7 900 123-45-67")]
    assert (await Conversation.get(id=conversation.id)).topic_title == view.renamed[-1][1]
    # WhatsApp's new name loses to the person's own.
    conversation = await conversation_of(USER, chat.id, IVAN, "Ivan Ivanov")
    await topics.refresh_title(conversation)
    assert len(view.renamed) == 1
    # A topic the person renamed in Telegram keeps their name.
    await topics.named_by_person(USER, thread or 0, "Plumber")
    conversation = await Conversation.get(id=conversation.id)
    await set_name(conversation, "Vanya")
    await topics.refresh_title(conversation)
    assert len(view.renamed) == 1


async def test_a_second_line_names_new_topics_and_renames_keep_what_they_had(user: User) -> None:
    shop = await WhatsAppChat.get(owner_id=USER)
    view = RecordingView()
    topics = service(view)
    first = await conversation_of(USER, shop.id, IVAN, "Ivan")
    await topics.topic_of(user, first)
    home = await line(user, "", "79990000002")  # no WhatsApp name: its phone
    second = await conversation_of(USER, home.id, IVAN, "Ivan")
    await topics.topic_of(user, second)
    assert [title for _, title in view.created] == [
        "Ivan · +7 900 123-45-67",  # made while Shop was the only line: kept so
        "Ivan · +7 900 123-45-67 · +7 999 000-00-02",
    ]
    await set_name(second, "Vanya")
    await topics.refresh_title(second)
    await set_name(first, "Vanya")
    await topics.refresh_title(first)
    assert [title for _, title in view.renamed] == [
        "Vanya · +7 900 123-45-67 · +7 999 000-00-02",
        "Vanya · +7 900 123-45-67",
    ]


async def test_a_title_cut_inside_the_line_is_still_the_same_name(user: User) -> None:
    await line(user, "Home", "79990000002")  # two lines: titles end with the line
    shop = await WhatsAppChat.get(owner_id=USER, account_name="Shop")
    view = RecordingView()
    topics = service(view)
    name = "N" * (MAX_TITLE - len(" · +7 900 123-45-67") - 1)  # the cut falls in " · Shop"
    conversation = await conversation_of(USER, shop.id, IVAN, name)
    await topics.topic_of(user, conversation)
    assert len(view.created[0][1]) == MAX_TITLE
    await topics.refresh_title(conversation)
    await topics.topic_of(user, await conversation_of(USER, shop.id, IVAN, name))
    assert view.renamed == []


def test_titles() -> None:
    def conversation(
        peer: str, wa_name: str | None = None, name: str | None = None
    ) -> Conversation:
        return Conversation(peer=peer, wa_name=wa_name, name=name)

    assert title_of(conversation(IVAN), None) == "+7 900 123-45-67"
    assert (
        title_of(conversation(IVAN, "Ivan  Petrov"), "Shop")
        == "Ivan Petrov · +7 900 123-45-67 · Shop"
    )
    assert title_of(conversation(IVAN, "Ivan", "Vanya"), None) == "Vanya · +7 900 123-45-67"
    assert title_of(conversation("1203630@g.us", "Family"), None) == "👥 Family"
    assert (
        title_of(conversation(IVAN, "\u202eevil\u202c\nname"), None)
        == "evil name · +7 900 123-45-67"
    )
    assert title_of(conversation("1203630@g.us"), None) == "👥 WhatsApp"
    long = title_of(conversation(IVAN, "x" * 200), "Shop")
    assert len(long) == 128 and long == "x" * 128
