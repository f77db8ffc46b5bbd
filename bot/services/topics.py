"""Threads: each conversation has its own topic in its person's private chat with the bot.

A conversation (`conversations.py`: a contact or group on one line of one person) gets its topic
the first time something happens in it (a message comes in, a /send to it, a desk's Take), and
keeps it: the topic's id is on the conversation's row, so after a restart, and on every replica,
the same conversation goes to the same topic. What happens here:

- **Made once.** Creating a topic is claimed on the row with a conditional update
  (`topic_claim_until`); the claimer calls createForumTopic and stores the id, the others wait
  for it (or take over once the claim ran out: its replica died). Ten messages of a new contact
  at once, on any replicas, make one topic. Right after it is made the bot posts a header in it
  (who, which line, "write here to answer"): clients do not list an empty topic.
- **Named.** `NAME · +7 900 123-45-67`, a group `👥 NAME`, a phone alone until a name is known,
  plus the line when the person has more than one (`title_of`). Renamed only when the best name
  changes (`refresh_title`), never once the person named the topic themselves.
- **Recreated.** Telegram does not tell bots that a topic was deleted: a send into it fails, or
  (a server bug) the message lands outside it. Then a new topic is made and the message put
  there, once; if that fails too, it goes to the flat chat: never lost.
- **Off.** THREADS=off, or getMe without `has_topics_enabled`, at start: everything is flat, as
  before threads. Telegram refusing topics at run time (the owner switched Threaded Mode off, a
  server fault) makes that one message flat, logged once; the next one tries topics again.
- **Bound.** A topic the person made is bound to the conversation they name (`bind`); the
  conversation's old topic gets one line saying so.

Services reach Telegram only through `TopicView` and `InboxView` (ports.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from tortoise.expressions import Q

from bot.gateways.base import Download, LineState
from bot.services.conversations import best_name, conversation_of
from bot.services.phones import pretty
from bot.services.ports import (
    DeskButtons,
    InboxView,
    Note,
    TopicGone,
    TopicsOff,
    TopicView,
    UiUnavailable,
    UserUnreachable,
)
from bot.services.sender import Draft, SendService, TelegramFile
from bot.storage.models import (
    Conversation,
    Desk,
    DeskContact,
    IncomingMessage,
    MessageStatus,
    Origin,
    OutgoingMessage,
    User,
    WhatsAppChat,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_TITLE = 128  # Telegram's limit for a topic's name
# Direction overrides, isolates and control characters: in a name they could disguise the title.
_UNSAFE = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\x00-\x1f\x7f]")
WAIT_STEP = 0.05  # seconds between looks for a topic another replica is making
RECENT = 5  # a desk customer's messages repeated in the taker's new topic
SEP = " · "


class TopicService:
    def __init__(
        self, view: TopicView, inbox: InboxView, sender: SendService, *, claim_seconds: float
    ) -> None:
        self.view = view
        self.inbox = inbox
        self.sender = sender
        self.claim = timedelta(seconds=claim_seconds)
        self.enabled = False  # decided at start (`decide`)
        self._refused = False  # Telegram refused topics last time: logged once until they work
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def decide(self, setting: str, has_topics_enabled: bool) -> None:
        """Threaded mode for this run: THREADS=auto and the bot's Threaded Mode on."""
        self.enabled = setting == "auto" and has_topics_enabled
        if self.enabled:
            log.info("threads: on (a topic per conversation)")
        elif setting == "auto":
            log.info("threads: off (Threaded Mode is off in @BotFather)")
        else:
            log.info("threads: off (THREADS=off)")

    # --- incoming messages

    async def conversation_for(
        self, user_id: int, chat_id: int, row: IncomingMessage
    ) -> Conversation:
        """The conversation an incoming message belongs to, in `user_id`'s address book, with
        the name WhatsApp gave it (the group's, or the contact's)."""
        is_group = row.conversation.endswith("@g.us")
        name = row.group_name if is_group else row.sender_name
        return await conversation_of(user_id, chat_id, row.conversation, name)

    async def show(
        self,
        user: User,
        conversation: Conversation,
        row: IncomingMessage,
        file: Download | None,
        problem: str,
        buttons: DeskButtons | None = None,
    ) -> int:
        """Show an incoming message in its conversation's topic (flat when topics are off or
        refused now); the Telegram message id. Undeliverable, UiUnavailable and
        UserUnreachable propagate."""

        def forward(thread: int | None) -> Awaitable[int]:
            return self.inbox.forward(
                user.id, user.language, row, file, problem, buttons, thread=thread
            )

        shown = await self._in_topic(user, conversation, forward)
        assert shown is not None  # flat when no topic
        return shown

    async def show_to(
        self,
        user: User,
        chat_id: int,
        row: IncomingMessage,
        file: Download | None,
        problem: str,
        buttons: DeskButtons | None = None,
    ) -> int | None:
        """`show` to a desk member who answers the customer; None when they muted it."""
        conversation = await self.conversation_for(user.id, chat_id, row)
        if conversation.muted:
            return None
        return await self.show(user, conversation, row, file, problem, buttons)

    # --- the topic of a conversation

    async def topic_of(
        self, user: User, conversation: Conversation, *, recent: list[IncomingMessage] | None = None
    ) -> int | None:
        """The conversation's topic, made now if it has none; None while topics are off, or
        Telegram refuses them now (logged once)."""
        return await self._topic(user, conversation, gone=None, recent=recent)

    async def _in_topic(
        self,
        user: User,
        conversation: Conversation,
        send: Callable[[int | None], Awaitable[T]],
        *,
        flat: bool = True,
    ) -> T | None:
        """`send` into the conversation's topic; into a new one once if it is gone; else flat
        (`flat` False: not at all, None)."""
        thread = await self._topic(user, conversation, gone=None)
        if thread is not None:
            try:
                sent = await send(thread)
                self._works()
                return sent
            except TopicGone as exc:
                log.info(
                    "threads: topic %s of conversation %s is gone (%s)",
                    thread,
                    conversation.id,
                    exc,
                )
            thread = await self._topic(user, conversation, gone=thread)
            if thread is not None:
                try:
                    return await send(thread)
                except TopicGone:
                    log.warning(
                        "threads: the new topic of conversation %s is gone too", conversation.id
                    )
        return await send(None) if flat else None

    async def _topic(
        self,
        user: User,
        conversation: Conversation,
        *,
        gone: int | None,
        recent: list[IncomingMessage] | None = None,
    ) -> int | None:
        if not self.enabled:
            return None
        if conversation.topic_id is not None and conversation.topic_id != gone:
            await self._keep_title(conversation)
            return int(conversation.topic_id)
        try:
            return await self._made(user, conversation, gone, recent or [])
        except TopicsOff as exc:
            if not self._refused:
                log.warning("threads: Telegram refuses topics (%s); delivering flat", exc)
            self._refused = True
            return None

    async def _made(
        self,
        user: User,
        conversation: Conversation,
        gone: int | None,
        recent: list[IncomingMessage],
    ) -> int | None:
        """The conversation's topic other than `gone`: made here when this replica wins the
        claim, else the one another replica made (waited for)."""
        lock = self._locks.setdefault(conversation.id, asyncio.Lock())
        loop = asyncio.get_running_loop()
        async with lock:  # one try per conversation in this process; the claim for the others
            give_up = loop.time() + 2 * self.claim.total_seconds() + 1
            while True:
                fresh = await Conversation.get(id=conversation.id)
                if fresh.topic_id is not None and fresh.topic_id != gone:
                    _copy_topic(fresh, conversation)
                    return int(fresh.topic_id)
                now = _now()
                free = Q(topic_claim_until__isnull=True) | Q(topic_claim_until__lt=now)
                same = (
                    Q(topic_id__isnull=True)
                    if fresh.topic_id is None
                    else Q(topic_id=fresh.topic_id)
                )
                if await Conversation.filter(free, same, id=fresh.id).update(
                    topic_claim_until=now + self.claim
                ):
                    thread = await self._create(user, fresh, recent)
                    _copy_topic(fresh, conversation)
                    return thread
                if loop.time() > give_up:  # a claim renewed forever cannot be: say so, go flat
                    raise TopicsOff("another replica keeps the topic's claim")
                await asyncio.sleep(WAIT_STEP)

    async def _create(
        self, user: User, conversation: Conversation, recent: list[IncomingMessage]
    ) -> int:
        """createForumTopic for a claimed conversation, stored, then its header."""
        line = await WhatsAppChat.get(id=conversation.chat_id)  # type: ignore[attr-defined]
        label = line_label(line) if await self._several_lines(user.id, line.id) else None
        title = title_of(conversation, label)
        try:
            thread = await self.view.create(user.id, title)
        except BaseException:
            await Conversation.filter(id=conversation.id).update(topic_claim_until=None)
            raise
        await Conversation.filter(id=conversation.id).update(
            topic_id=thread, topic_title=title, topic_named_by_user=False, topic_claim_until=None
        )
        conversation.topic_id, conversation.topic_title = thread, title
        conversation.topic_named_by_user = False
        log.info("threads: conversation %s has topic %s", conversation.id, thread)
        self._works()
        await self._header(user, conversation, line, recent)
        return thread

    def _works(self) -> None:
        if self._refused:
            log.info("threads: Telegram takes topics again")
            self._refused = False

    async def _header(
        self,
        user: User,
        conversation: Conversation,
        line: WhatsAppChat,
        recent: list[IncomingMessage],
    ) -> None:
        assert conversation.topic_id is not None
        try:
            await self.view.header(
                user.id, user.language, conversation.topic_id, conversation, line, recent
            )
        except (TopicGone, UiUnavailable) as exc:  # the header is a courtesy; the message matters
            log.info("threads: no header in topic %s (%s)", conversation.topic_id, exc)

    @staticmethod
    async def _several_lines(user_id: int, chat_id: int) -> bool:
        """The person has another line than `chat_id`: their own, or one whose customers they
        answer on a desk."""
        own = WhatsAppChat.filter(owner_id=user_id, state=LineState.AUTHORIZED).exclude(id=chat_id)
        other = Conversation.filter(user_id=user_id).exclude(chat_id=chat_id)
        return await own.exists() or await other.exists()

    # --- names

    async def refresh_title(self, conversation: Conversation) -> None:
        """Rename the conversation's topic to its best name (after /name, or a new name from
        WhatsApp); nothing when it has no topic, the title is the same, or the person named the
        topic themselves. Telegram's refusal is logged, not raised."""
        if not self.enabled or conversation.topic_id is None or conversation.topic_named_by_user:
            return
        if _same_name(conversation.topic_title or "", title_of(conversation, None)):
            return
        line = await WhatsAppChat.get(id=conversation.chat_id)  # type: ignore[attr-defined]
        label = line_label(line)
        had_line = (conversation.topic_title or "").endswith(SEP + label)
        title = title_of(conversation, label if had_line else None)
        try:
            await self.view.rename(conversation.user_id, conversation.topic_id, title)  # type: ignore[attr-defined]
        except (TopicGone, TopicsOff, UiUnavailable, UserUnreachable) as exc:
            log.info("threads: topic %s not renamed (%s)", conversation.topic_id, exc)
            return
        await Conversation.filter(id=conversation.id, topic_id=conversation.topic_id).update(
            topic_title=title
        )
        conversation.topic_title = title

    async def _keep_title(self, conversation: Conversation) -> None:
        if not conversation.topic_named_by_user and not _same_name(
            conversation.topic_title or "", title_of(conversation, None)
        ):
            await self.refresh_title(conversation)

    async def named_by_person(self, user_id: int, thread: int, title: str) -> None:
        """The person renamed the topic in Telegram: the bot never renames it again."""
        await Conversation.filter(user_id=user_id, topic_id=thread).update(
            topic_named_by_user=True, topic_title=title[:MAX_TITLE] or None
        )

    # --- what the person does in topics

    async def conversation_in(self, user_id: int, thread: int) -> Conversation | None:
        """The conversation whose topic `thread` is (with its line), or None."""
        return (
            await Conversation.filter(user_id=user_id, topic_id=thread)
            .order_by("-id")
            .prefetch_related("chat")
            .first()
        )

    async def mute(self, conversation: Conversation, muted: bool) -> None:
        """/mute typed in the topic: that conversation only (read right before each message is
        shown, on every replica; unmuting does not replay what came meanwhile)."""
        conversation.muted = muted
        await Conversation.filter(id=conversation.id).update(muted=muted)

    async def bind(self, user: User, thread: int, conversation: Conversation) -> None:
        """The topic the person made is the conversation's from now on (they named it: never
        renamed); the conversation's old topic gets one line saying so."""
        old = conversation.topic_id
        await Conversation.filter(id=conversation.id).update(
            topic_id=thread, topic_title=None, topic_named_by_user=True, topic_claim_until=None
        )
        conversation.topic_id, conversation.topic_title = thread, None
        conversation.topic_named_by_user = True
        log.info("threads: conversation %s bound to topic %s", conversation.id, thread)
        if old is not None and old != thread:
            await self._note(user, old, Note.MOVED, best_name(conversation) or "")

    async def echo(self, user: User, message: OutgoingMessage, from_thread: int | None) -> None:
        """What the person sent from outside the conversation's topic (/send in the general
        part) also appears in the topic, so the conversation reads whole there. Best effort."""
        if not self.enabled or message.conversation_id is None:  # type: ignore[attr-defined]
            return
        conversation = await Conversation.get_or_none(id=message.conversation_id)  # type: ignore[attr-defined]
        if conversation is None or (from_thread and from_thread == conversation.topic_id):
            return

        def echo(thread: int | None) -> Awaitable[None]:
            assert thread is not None
            return self.view.echo(user.id, user.language, thread, message)

        try:
            await self._in_topic(user, conversation, echo, flat=False)
        except (UiUnavailable, UserUnreachable) as exc:
            log.info("threads: /send not echoed in its topic (%s)", exc)

    async def send_again(
        self, user: User, message_id: int, pressed_chat_id: int, pressed_message_id: int
    ) -> OutgoingMessage | None:
        """Send again, pressed under a failed topic message: a new outbox row, unique on the
        pressed message (two presses send once), whose progress shows on the same message of
        the person's. None when there is nothing (more) to send again. ChatNotReady and
        DailyCapReached propagate."""
        old = await OutgoingMessage.get_or_none(
            id=message_id, source_chat_id=user.id, origin=Origin.TOPIC, status=MessageStatus.FAILED
        ).prefetch_related("chat")
        if old is None:
            return None
        file = (
            TelegramFile(old.file_id, old.file_name or "file.bin", old.file_mime or "")
            if old.file_id
            else None
        )
        draft = Draft(
            old.recipient,
            old.text,
            recipient_name=old.recipient_name,
            media_url=old.media_url,
            media_is_link=old.media_is_link,
            file=file,
            quoted_id=old.quoted_id,
            origin=Origin.TOPIC,
            conversation_id=old.conversation_id,  # type: ignore[attr-defined]
        )
        accepted = await self.sender.accept(
            user, draft, pressed_chat_id, pressed_message_id, old.chat
        )
        if not accepted.new:
            return None
        target = old.ui_message_id or old.source_message_id
        await OutgoingMessage.filter(id=accepted.message.id).update(ui_message_id=target)
        accepted.message.ui_message_id = target
        await self.sender.release(accepted.message)
        return accepted.message

    # --- team desks

    async def taken(self, contact: DeskContact, member: User) -> None:
        """A desk customer is `member`'s now: the conversation continues in their topic (made
        now), which repeats the customer's last messages."""
        if not self.enabled:
            return
        chat_id = await _desk_line(contact)
        recent = list(
            await IncomingMessage.filter(chat_id=chat_id, conversation=contact.contact)
            .order_by("-id")
            .limit(RECENT)
        )[::-1]
        if recent:  # named as the customer's messages name them (a group: the group's name)
            conversation = await self.conversation_for(member.id, chat_id, recent[-1])
        else:
            conversation = await conversation_of(member.id, chat_id, contact.contact)
        try:
            had = conversation.topic_id
            thread = await self.topic_of(member, conversation, recent=recent)
            if thread is not None and thread == had:  # an old topic: the messages so far again
                line = await WhatsAppChat.get(id=chat_id)
                await self._header(member, conversation, line, recent)
        except (UiUnavailable, UserUnreachable) as exc:
            log.info("threads: no topic for a taken desk customer (%s)", exc)

    async def moved_on(
        self, contact: DeskContact, member: User, note: Note, name: str = ""
    ) -> None:
        """The desk customer is no longer `member`'s (handed on, queued, closed): one line in
        their topic says so, and nothing more comes there."""
        if not self.enabled:
            return
        chat_id = await _desk_line(contact)
        conversation = await Conversation.get_or_none(
            user_id=member.id, chat_id=chat_id, peer=contact.contact[:64]
        )
        if conversation is not None and conversation.topic_id is not None:
            await self._note(member, conversation.topic_id, note, name)

    async def _note(self, user: User, thread: int, note: Note, name: str) -> None:
        try:
            await self.view.note(user.id, user.language, thread, note, name)
        except (TopicGone, UiUnavailable, UserUnreachable) as exc:
            log.info("threads: no %s line in topic %s (%s)", note, thread, exc)


def title_of(conversation: Conversation, line: str | None) -> str:
    """`NAME · +7 900 123-45-67`, a group `👥 NAME`, a phone alone while no name is known; then
    ` · LINE` when given; at most Telegram's 128 characters."""
    name = " ".join(_UNSAFE.sub(" ", best_name(conversation) or "").split())
    if conversation.peer.endswith("@g.us"):
        title = f"👥 {name or 'WhatsApp'}"
    else:
        phone = pretty(conversation.peer)
        title = f"{name}{SEP}{phone}" if name else phone
    if line:
        title += SEP + line
    return title[:MAX_TITLE]


def line_label(line: WhatsAppChat) -> str:
    """A line as a topic's name shows it: its WhatsApp name, else its phone."""
    name = " ".join(_UNSAFE.sub(" ", line.account_name or "").split())
    return name or (pretty(line.account_phone) if line.account_phone else str(line.id))


def _same_name(title: str, base: str) -> bool:
    """`title` names the conversation as `base` does (perhaps with a line after it, perhaps cut
    to 128 characters inside the separator)."""
    if title == base:
        return True
    if not title.startswith(base):
        return False
    rest = title[len(base) :]
    return rest.startswith(SEP) or (len(title) == MAX_TITLE and SEP.startswith(rest))


def _copy_topic(source: Conversation, target: Conversation) -> None:
    for name in ("topic_id", "topic_title", "topic_named_by_user"):
        setattr(target, name, getattr(source, name))


async def _desk_line(contact: DeskContact) -> int:
    desk = await Desk.get(id=contact.desk_id)  # type: ignore[attr-defined]
    return int(desk.chat_id)  # type: ignore[attr-defined]


def _now() -> datetime:
    return datetime.now(UTC)
