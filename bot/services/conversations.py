"""Conversations: one WhatsApp contact or group on one linked line, as one Telegram user sees it.

This is the one model of "a conversation" that the address book, threads (a topic per
conversation) and bulk sends share. A conversation is made the first time something happens in
it (a message from the contact, a send to them, a Take on a desk); the row is unique per user,
line and peer, so replicas meeting a new contact at the same moment make one. It keeps the
names (WhatsApp's, and the one the person gave with /name, which wins) and when it last moved.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError

from bot.storage.models import Conversation


async def conversation_of(
    user_id: int, chat_id: int, peer: str, wa_name: str | None = None
) -> Conversation:
    """The conversation of `user_id` with `peer` (digits, or a group id) on the line `chat_id`,
    made now if it is new; `wa_name` (the name WhatsApp gives the contact or group) is kept
    when it changed. Its `last_at` moves to now."""
    peer = peer[:64]
    wa_name = " ".join((wa_name or "").split())[:128] or None
    now = _now()
    found = await Conversation.get_or_none(user_id=user_id, chat_id=chat_id, peer=peer)
    if found is None:
        try:
            return await Conversation.create(
                user_id=user_id, chat_id=chat_id, peer=peer, wa_name=wa_name, last_at=now
            )
        except IntegrityError:  # made at the same moment elsewhere (a burst, another replica)
            found = await Conversation.get(user_id=user_id, chat_id=chat_id, peer=peer)
    changed: dict[str, object] = {"last_at": now}
    if wa_name and wa_name != found.wa_name:
        changed["wa_name"] = wa_name
    await Conversation.filter(id=found.id).update(**changed)
    for key, value in changed.items():
        setattr(found, key, value)
    return found


def best_name(conversation: Conversation) -> str | None:
    """The name people know the conversation by: the person's own, else WhatsApp's."""
    return conversation.name or conversation.wa_name


def _now() -> datetime:
    return datetime.now(UTC)


async def find_by_name(user_id: int, text: str) -> list[Conversation]:
    """The user's conversations whose best name has a word starting with `text` (any case;
    several words must start words in that order), newest first."""
    if not text.split():
        return []
    everyone = await Conversation.filter(user_id=user_id).order_by("-last_at", "-id")
    return _named(everyone, text)


def _named(conversations: list[Conversation], text: str) -> list[Conversation]:
    wanted = text.casefold().split()
    return [
        c for c in conversations if _starts_words((best_name(c) or "").casefold().split(), wanted)
    ]


def _starts_words(words: list[str], wanted: list[str]) -> bool:
    """`wanted` starts consecutive words of `words` ("iv pe" matches "Ivan Petrov")."""
    for first in range(len(words) - len(wanted) + 1):
        if all(words[first + n].startswith(w) for n, w in enumerate(wanted)):
            return True
    return False


async def set_name(conversation: Conversation, name: str | None) -> None:
    """The person's own name for the conversation (None: WhatsApp's again)."""
    conversation.name = " ".join((name or "").split())[:128] or None
    await Conversation.filter(id=conversation.id).update(name=conversation.name)


_QUOTES = {'"': '"', "“": "”", "«": "»", "„": "“"}


def split_name(rest: str) -> tuple[str, str] | None:
    """`Ivan hello` → ("Ivan", "hello"); `"Ivan P" hello` → ("Ivan P", "hello"); None when
    `rest` starts with a phone number (its first word has a digit, or a `+`)."""
    rest = rest.lstrip()
    if rest[:1] in _QUOTES:
        end = rest.find(_QUOTES[rest[0]], 1)
        if end > 1:
            return rest[1:end].strip(), rest[end + 1 :].lstrip(" \t").removeprefix("\n").rstrip()
    words = rest.split(maxsplit=1)
    first = words[0] if words else ""
    if not first or first.startswith("+") or any(ch.isdigit() for ch in first):
        return None
    return first, rest[len(first) :].lstrip(" \t").removeprefix("\n").rstrip()


async def contacts(user_id: int, text: str = "") -> list[Conversation]:
    """The user's address book, newest first, with their lines: all, or those whose best name
    has a word starting with `text`, or whose number holds its digits."""
    found = (
        await Conversation.filter(user_id=user_id)
        .order_by("-last_at", "-id")
        .prefetch_related("chat")
    )
    digits = "".join(ch for ch in text if ch.isdigit())
    if digits:
        return [c for c in found if digits in c.peer]
    return _named(list(found), text) if text.split() else list(found)


async def with_peer(user_id: int, peer: str) -> list[Conversation]:
    """The user's conversations with `peer`, on any of their lines."""
    return list(await Conversation.filter(user_id=user_id, peer=peer[:64]))
