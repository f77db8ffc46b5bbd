"""Where an answer goes: a person replies in Telegram to a message the bot showed them.

A reply to a forwarded WhatsApp message answers its conversation (the contact, or the group),
through the line it came in on, quoting it; a reply to the bot's confirmation of a sent message
goes to that message's recipient, through the same line. Only the person's own messages count.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.models import IncomingMessage, OutgoingMessage, WhatsAppChat


@dataclass(frozen=True)
class ReplyTarget:
    chat: WhatsAppChat  # the line the answer goes out through
    recipient: str  # international digits, or a group id
    recipient_name: str | None  # the group's or contact's name, for the confirmation
    quoted_id: str | None  # the gateway id of the message being answered


async def reply_target(user_id: int, telegram_message_id: int) -> ReplyTarget | None:
    """The conversation behind a Telegram message of this user's chat with the bot, or None."""
    incoming = await IncomingMessage.get_or_none(
        telegram_chat_id=user_id, telegram_message_id=telegram_message_id
    ).prefetch_related("chat")
    if incoming is not None and incoming.chat.owner_id == user_id:  # type: ignore[attr-defined]
        return ReplyTarget(
            incoming.chat,
            incoming.conversation,
            incoming.group_name or incoming.sender_name,
            incoming.gateway_message_id,
        )
    # A topic message sent again shows its progress on the same message: the newest row counts.
    outgoing = (
        await OutgoingMessage.filter(source_chat_id=user_id, ui_message_id=telegram_message_id)
        .order_by("-id")
        .prefetch_related("chat")
        .first()
    )
    if outgoing is not None and outgoing.chat.owner_id == user_id:  # type: ignore[attr-defined]
        return ReplyTarget(outgoing.chat, outgoing.recipient, outgoing.recipient_name, None)
    return None
