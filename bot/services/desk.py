"""The team inbox: one WhatsApp line answered by several members, one member per customer.

A line's owner turns it into a desk (`enable`); teammates join with a single-use invite. A message
from a customer nobody owns goes as a card (with Take) to every member of the customer's area
(everyone, when there are no areas); the first Take wins by a conditional update, the other cards
say who took it, and from then on the customer's messages go to that member alone, with Transfer
(to a member, or back to an area's queue) and Close. Answers are plain replies, sent through the
desk's line like any outbox message, with "— NAME" when the member asked for a signature. In
threaded mode a taken customer's conversation continues in a topic of the member's (`topics.py`).

HCI Whats Center desks keep that state in HCI (`HciDesks` in `hci_desk.py` polls it and mirrors
it here); every decision is taken here first, so two members can never both own a customer.
"""

from __future__ import annotations

import enum
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError

from bot.gateways.base import Download, GatewayError, LineState, Reception
from bot.services.lines import Lines
from bot.services.ports import (
    DeskButtons,
    DeskView,
    InboxView,
    Note,
    Undeliverable,
    UserUnreachable,
)
from bot.services.topics import TopicService
from bot.storage.models import (
    Desk,
    DeskArea,
    DeskCard,
    DeskContact,
    DeskInvite,
    DeskMember,
    DeskMemberArea,
    IncomingMessage,
    User,
    WhatsAppChat,
)

log = logging.getLogger(__name__)

INVITE_LIFETIME = timedelta(hours=24)


class DeskError(Exception):
    """Why a desk action cannot be done; `reason` is a key of the texts table (desk_<reason>)."""

    def __init__(self, reason: str, **values: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.values = values


class Took(enum.StrEnum):
    TAKEN = "taken"  # the pressing member owns the customer now
    MINE = "mine"  # they already did
    OTHER = "other"  # someone else was first
    GONE = "gone"  # the desk, the customer or the membership is no more


@dataclass(frozen=True)
class TakeResult:
    outcome: Took
    owner_name: str = ""  # who owns the customer (for OTHER)


@dataclass(frozen=True)
class Answer:
    """Where a member's reply to a desk card goes, or why it cannot."""

    contact: DeskContact | None
    chat: WhatsAppChat | None
    quoted_id: str | None = None
    signature: str | None = None  # appended on a new line
    refusal: str | None = None  # "waiting" | "taken" (by `owner_name`) | "gone"
    owner_name: str = ""


# HCI desks tell HCI of every decision taken here (HciDesks plugs its calls in).
Claim = Callable[[DeskContact, DeskMember], Awaitable[None]]


class DeskService:
    def __init__(
        self,
        lines: Lines,
        inbox: InboxView,
        view: DeskView,
        topics: TopicService,
        *,
        allowed: Callable[[int], bool],
    ) -> None:
        self.lines = lines
        self.inbox = inbox
        self.view = view
        self.topics = topics  # threads: a taken customer's conversation in the member's topic
        self.allowed = allowed  # ALLOWED_USER_IDS (and admins): members must pass it too
        self.on_take: Claim | None = None  # HCI: tell HCI (after our decision)
        self.on_transfer_member: Claim | None = None
        self.on_transfer_area: Callable[[DeskContact, DeskArea], Awaitable[None]] | None = None

    # --- the desk itself (owner)

    async def enable(self, user: User) -> Desk:
        """The person's active line becomes a desk; they are its first member."""
        chat = (
            await WhatsAppChat.get_or_none(id=user.active_chat_id, owner_id=user.id)
            if user.active_chat_id is not None
            else None
        )
        if chat is None:
            raise DeskError("no_line")
        gateway = self.lines.gateways.get(chat.gateway)
        if chat.state is not LineState.AUTHORIZED:
            raise DeskError("not_linked")
        if gateway is None or (gateway.reception is Reception.NONE and chat.gateway != "hci"):
            raise DeskError("cannot_receive")
        desk, _ = await Desk.get_or_create(chat_id=chat.id, defaults={"kind": "line"})
        if not desk.active:
            desk.active = True
            await desk.save(update_fields=["active"])
        await self._add_member(desk, user)
        return desk

    async def disable(self, user: User) -> Desk:
        """Everything of the line goes to its owner alone again; taken conversations end."""
        desk = await self.owned_desk(user)
        desk.active = False
        await desk.save(update_fields=["active"])
        await DeskContact.filter(desk_id=desk.id).update(owner_id=None)
        return desk

    async def owned_desk(self, user: User) -> Desk:
        """The desk of the person's active line (they must own it)."""
        if user.active_chat_id is None:
            raise DeskError("no_line")
        desk = await Desk.get_or_none(
            chat_id=user.active_chat_id, chat__owner_id=user.id, active=True
        )
        if desk is None:
            raise DeskError("not_desk")
        return desk

    async def member_desk(self, user: User) -> tuple[Desk, DeskMember]:
        """The desk the person answers: their own line's, else the one they joined last."""
        with_own = None
        if user.active_chat_id is not None:
            with_own = await DeskMember.get_or_none(
                user_id=user.id, desk__chat_id=user.active_chat_id, desk__active=True
            ).prefetch_related("desk")
        member = (
            with_own
            or await DeskMember.filter(user_id=user.id, desk__active=True)
            .order_by("-joined_at")
            .prefetch_related("desk")
            .first()
        )
        if member is None:
            raise DeskError("not_member")
        return member.desk, member

    async def invite(self, user: User) -> str:
        desk = await self.owned_desk(user)
        token = secrets.token_urlsafe(18)
        await DeskInvite.create(desk_id=desk.id, token=token, expires_at=_now() + INVITE_LIFETIME)
        return token

    async def join(self, user: User, token: str) -> Desk:
        """Use an invite (once, within 24 h); DeskError("invite_used" | "invite_expired" | …)."""
        invite = await DeskInvite.get_or_none(token=token[:64]).prefetch_related("desk")
        if invite is None or not invite.desk.active:
            raise DeskError("invite_unknown")
        if invite.used_by is not None:
            raise DeskError("invite_used")
        if invite.expires_at < _now():
            raise DeskError("invite_expired")
        if not self.allowed(user.id):
            raise DeskError("not_allowed")
        used = await DeskInvite.filter(id=invite.id, used_by__isnull=True).update(used_by=user.id)
        if not used:  # another tap of the same link won
            raise DeskError("invite_used")
        await self._add_member(invite.desk, user)
        return invite.desk

    async def members(self, desk: Desk) -> list[DeskMember]:
        return list(
            await DeskMember.filter(desk_id=desk.id).order_by("joined_at").prefetch_related("user")
        )

    async def remove(self, owner: User, user_id: int) -> User | None:
        """The owner removes a member: nothing more reaches them; their customers wait again."""
        desk = await self.owned_desk(owner)
        if user_id == owner.id:
            raise DeskError("remove_self")
        member = await DeskMember.get_or_none(desk_id=desk.id, user_id=user_id).prefetch_related(
            "user"
        )
        if member is None:
            return None
        await member.delete()
        await DeskContact.filter(desk_id=desk.id, owner_id=user_id).update(owner_id=None)
        return member.user

    async def add_area(self, owner: User, name: str) -> DeskArea:
        desk = await self.owned_desk(owner)
        try:
            return await DeskArea.create(desk_id=desk.id, name=name)
        except IntegrityError:
            raise DeskError("area_exists", name=name) from None

    async def join_area(self, user: User, name: str, joined: bool) -> DeskArea:
        desk, member = await self.member_desk(user)
        area = await DeskArea.get_or_none(desk_id=desk.id, name=name)
        if area is None:
            raise DeskError("area_unknown", name=name)
        if joined:
            await DeskMemberArea.get_or_create(member_id=member.id, area_id=area.id)
        else:
            await DeskMemberArea.filter(member_id=member.id, area_id=area.id).delete()
        return area

    async def areas(self, desk: Desk) -> list[DeskArea]:
        return list(await DeskArea.filter(desk_id=desk.id).order_by("name"))

    async def set_signature(self, user: User, on: bool) -> None:
        _, member = await self.member_desk(user)
        member.signature = on
        await member.save(update_fields=["signature"])

    async def queue(self, user: User) -> list[DeskContact]:
        """Customers waiting in the member's areas (all, when they are in none)."""
        desk, member = await self.member_desk(user)
        waiting = DeskContact.filter(desk_id=desk.id, owner_id__isnull=True, announced=True)
        mine = [link.area_id for link in await DeskMemberArea.filter(member_id=member.id)]  # type: ignore[attr-defined]
        if mine:
            waiting = waiting.filter(area_id__in=mine)
        return list(await waiting.order_by("-updated_at").prefetch_related("area"))

    async def targets(
        self, user: User, contact_id: int, *, with_members: bool
    ) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        """Who and where a customer can be handed to: (user id, name) of the other members
        (for Transfer…), and (area id, name) of every area."""
        contact = await DeskContact.get_or_none(id=contact_id).prefetch_related("desk")
        if contact is None or not await self._is_member(contact.desk, user):
            raise DeskError("gone")
        members = []
        if with_members:
            members = [
                (m.user.id, display_name(m.user))
                for m in await self.members(contact.desk)
                if m.user.id != user.id
            ]
        areas = [(a.id, a.name) for a in await self.areas(contact.desk)]
        return members, areas

    async def mine(self, user: User) -> list[DeskContact]:
        desk, _ = await self.member_desk(user)
        return list(
            await DeskContact.filter(desk_id=desk.id, owner_id=user.id).order_by("-updated_at")
        )

    # --- customers' messages

    async def active_desk(self, chat: WhatsAppChat) -> Desk | None:
        return await Desk.get_or_none(chat_id=chat.id, active=True)

    async def route(
        self, desk: Desk, row: IncomingMessage, file: Download | None, problem: str
    ) -> None:
        """Show an incoming message to whoever should see it: the customer's owner, else the
        members of their area as queue cards. UiUnavailable propagates (the rest is shown on
        the next try: a member who already has the card does not get it twice)."""
        contact = await self._contact(desk, row.conversation, row.sender_name or row.group_name)
        owner = await self._owner(contact)
        if owner is None:  # waiting (in /desk queue) even before Telegram has every card
            await DeskContact.filter(id=contact.id).update(announced=True, updated_at=_now())
        targets = [owner] if owner else await self._queue_members(desk, contact)
        has_areas = await DeskArea.filter(desk_id=desk.id).exists()
        buttons = DeskButtons(contact.id, queued=owner is None, areas=has_areas)
        for member in targets:
            user = member.user
            if not self.allowed(user.id) or user.blocked_bot:
                continue
            if await DeskCard.filter(incoming_id=row.id, user_id=user.id).exists():
                continue
            try:
                if owner is not None:  # in the owner's topic of the customer (threads)
                    line = desk.chat_id  # type: ignore[attr-defined]
                    shown = await self.topics.show_to(user, line, row, file, problem, buttons)
                    if shown is None:  # they muted the customer in that topic
                        continue
                else:
                    shown = await self.inbox.forward(
                        user.id, user.language, row, file, problem, buttons
                    )
            except UserUnreachable:
                await User.filter(id=user.id).update(blocked_bot=True)
                continue
            except Undeliverable:  # refused for good to this member: the others still get it
                log.warning("desk: message %s refused by Telegram for one member", row.id)
                continue
            await DeskCard.create(
                contact_id=contact.id,
                incoming_id=row.id,
                user_id=user.id,
                telegram_message_id=shown,
                queued=owner is None,
            )

    # --- Take, Transfer, Close

    async def take(self, user: User, contact_id: int) -> TakeResult:
        contact = await DeskContact.get_or_none(id=contact_id).prefetch_related("desk")
        member = (
            await DeskMember.get_or_none(desk_id=contact.desk.id, user_id=user.id)
            if contact
            else None
        )
        if contact is None or member is None or not contact.desk.active:
            return TakeResult(Took.GONE)
        won = await DeskContact.filter(id=contact.id, owner_id__isnull=True).update(
            owner_id=user.id, hci_pending=contact.desk.kind == "hci", updated_at=_now()
        )
        if not won:
            fresh = await DeskContact.get(id=contact.id).prefetch_related("owner")
            if fresh.owner_id == user.id:  # type: ignore[attr-defined]
                return TakeResult(Took.MINE)
            return TakeResult(Took.OTHER, display_name(fresh.owner))
        contact.owner_id = user.id
        if contact.desk.kind == "hci" and self.on_take is not None:
            try:
                await self.on_take(contact, member)  # HCI: its own call; undone on failure
            except GatewayError:
                await DeskContact.filter(id=contact.id, owner_id=user.id).update(
                    owner_id=None, hci_pending=False
                )
                raise
        await self._taken(contact, user)
        await self.topics.taken(contact, user)
        return TakeResult(Took.TAKEN)

    async def transfer_to_member(self, user: User, contact_id: int, to_user_id: int) -> User:
        contact = await self._owned(user, contact_id)
        target = await DeskMember.get_or_none(
            desk_id=contact.desk.id, user_id=to_user_id
        ).prefetch_related("user")
        if target is None:
            raise DeskError("gone")
        # Decided here first, then told to HCI (as a Take): HCI's poll, seeing its new operator
        # before this update, would otherwise take the contact from under it.
        moved = await DeskContact.filter(id=contact.id, owner_id=user.id).update(
            owner_id=to_user_id, updated_at=_now()
        )
        if not moved:
            raise DeskError("gone")
        if contact.desk.kind == "hci" and self.on_transfer_member is not None:
            try:
                await self.on_transfer_member(contact, target)
            except GatewayError:
                await DeskContact.filter(id=contact.id, owner_id=to_user_id).update(
                    owner_id=user.id
                )
                raise
        contact.owner_id = to_user_id
        await self._handed(contact, target.user, user)
        await self.topics.moved_on(contact, user, Note.HANDED, display_name(target.user))
        await self.topics.taken(contact, target.user)
        return target.user

    async def transfer_to_area(self, user: User, contact_id: int, area_id: int) -> DeskArea:
        """Back to the queue of an area (by the owner, or by anyone from a waiting card)."""
        contact = await DeskContact.get_or_none(id=contact_id).prefetch_related("desk")
        if contact is None or not await self._is_member(contact.desk, user):
            raise DeskError("gone")
        if contact.owner_id not in (None, user.id):  # type: ignore[attr-defined]
            raise DeskError("not_yours")
        area = await DeskArea.get_or_none(id=area_id, desk_id=contact.desk.id)
        if area is None:
            raise DeskError("gone")
        if contact.desk.kind == "hci" and self.on_transfer_area is not None:
            await self.on_transfer_area(contact, area)
        await DeskContact.filter(id=contact.id).update(
            owner_id=None, area_id=area.id, updated_at=_now()
        )
        was_owner = contact.owner_id == user.id  # type: ignore[attr-defined]
        contact.area_id, contact.owner_id = area.id, None
        if was_owner:
            await self.topics.moved_on(contact, user, Note.QUEUED, area.name)
        await self.announce(contact)
        return area

    async def close(self, user: User, contact_id: int) -> DeskContact:
        """The conversation is over: the customer's next message goes to the queue again."""
        contact = await self._owned(user, contact_id)
        await DeskContact.filter(id=contact.id, owner_id=user.id).update(
            owner_id=None, announced=False, updated_at=_now()
        )
        await self.topics.moved_on(contact, user, Note.CLOSED)
        return contact

    async def announce(self, contact: DeskContact) -> None:
        """A queue card without a message ("waiting in AREA"), e.g. after a transfer."""
        desk = await Desk.get(id=contact.desk_id)  # type: ignore[attr-defined]
        has_areas = await DeskArea.filter(desk_id=desk.id).exists()
        buttons = DeskButtons(contact.id, queued=True, areas=has_areas)
        area = await DeskArea.get_or_none(id=contact.area_id) if contact.area_id else None  # type: ignore[attr-defined]
        await DeskContact.filter(id=contact.id).update(announced=True)  # before the cards, as route
        for member in await self._queue_members(desk, contact):
            user = member.user
            if not self.allowed(user.id) or user.blocked_bot:
                continue
            try:
                shown = await self.view.waiting(user.id, user.language, contact, area, buttons)
            except UserUnreachable:
                continue
            await DeskCard.create(
                contact_id=contact.id, user_id=user.id, telegram_message_id=shown, queued=True
            )

    # --- answers

    async def answer(self, user: User, telegram_message_id: int) -> Answer | None:
        """Where a reply to a desk card goes; None when the message is no desk card."""
        card = await DeskCard.get_or_none(
            user_id=user.id, telegram_message_id=telegram_message_id
        ).prefetch_related("contact__desk__chat", "contact__owner", "incoming")
        if card is None:
            return None
        quoted = card.incoming.gateway_message_id if card.incoming else None
        return await self._answer(user, card.contact, quoted)

    async def answer_in(self, user: User, chat: WhatsAppChat, customer: str) -> Answer | None:
        """Where a member's message in a customer's topic goes; None when the line is no desk
        (or the customer never wrote to it: then it is like a /send)."""
        contact = await DeskContact.get_or_none(
            desk__chat_id=chat.id, desk__active=True, contact=customer[:64]
        ).prefetch_related("desk__chat", "owner")
        return None if contact is None else await self._answer(user, contact, None)

    async def _answer(self, user: User, contact: DeskContact, quoted: str | None) -> Answer:
        member = await DeskMember.get_or_none(desk_id=contact.desk.id, user_id=user.id)
        if member is None or not contact.desk.active:
            return Answer(None, None, refusal="gone")
        if contact.owner_id is None:  # type: ignore[attr-defined]
            return Answer(contact, None, refusal="waiting")
        if contact.owner_id != user.id:  # type: ignore[attr-defined]
            return Answer(contact, None, refusal="taken", owner_name=display_name(contact.owner))
        signature = f"— {user.first_name}" if member.signature and user.first_name else None
        return Answer(contact, contact.desk.chat, quoted_id=quoted, signature=signature)

    # --- helpers

    async def _add_member(self, desk: Desk, user: User) -> DeskMember:
        member, _ = await DeskMember.get_or_create(desk_id=desk.id, user_id=user.id)
        return member

    async def _contact(self, desk: Desk, conversation: str, name: str | None) -> DeskContact:
        contact, created = await DeskContact.get_or_create(
            desk_id=desk.id, contact=conversation[:64], defaults={"name": name}
        )
        if not created and name and contact.name != name:
            contact.name = name[:128]
            await contact.save(update_fields=["name", "updated_at"])
        return contact

    async def _owner(self, contact: DeskContact) -> DeskMember | None:
        """The member answering the customer; an owner who left the desk owns nothing."""
        if contact.owner_id is None:  # type: ignore[attr-defined]
            return None
        member = await DeskMember.get_or_none(
            desk_id=contact.desk_id,  # type: ignore[attr-defined]
            user_id=contact.owner_id,  # type: ignore[attr-defined]
        ).prefetch_related("user")
        if member is None:
            await DeskContact.filter(id=contact.id).update(owner_id=None, announced=False)
            contact.owner_id = None
        return member

    async def _queue_members(self, desk: Desk, contact: DeskContact) -> list[DeskMember]:
        members = DeskMember.filter(desk_id=desk.id)
        if contact.area_id is not None:  # type: ignore[attr-defined]
            in_area = await DeskMemberArea.filter(area_id=contact.area_id).values("member_id")  # type: ignore[attr-defined]
            if in_area:
                members = members.filter(id__in=[row["member_id"] for row in in_area])
        return list(await members.order_by("joined_at").prefetch_related("user"))

    async def _is_member(self, desk: Desk, user: User) -> bool:
        return await DeskMember.filter(desk_id=desk.id, user_id=user.id).exists()

    async def _owned(self, user: User, contact_id: int) -> DeskContact:
        contact = await DeskContact.get_or_none(id=contact_id).prefetch_related("desk")
        if contact is None or not contact.desk.active:
            raise DeskError("gone")
        if contact.owner_id != user.id:  # type: ignore[attr-defined]
            raise DeskError("not_yours")
        return contact

    async def _taken(self, contact: DeskContact, taker: User) -> None:
        """Every queue card of the customer now says who took it; the taker's get the owner's
        buttons."""
        name = display_name(taker)
        for card in await DeskCard.filter(contact_id=contact.id, queued=True).prefetch_related(
            "incoming"
        ):
            lang = await _language(card.user_id)
            try:
                if card.user_id == taker.id:
                    await self.view.owned(card.user_id, card.telegram_message_id, lang, contact.id)
                else:
                    await self.view.taken(card.user_id, card.telegram_message_id, lang, name)
            except UserUnreachable:
                continue
        await DeskCard.filter(contact_id=contact.id, queued=True).update(queued=False)

    async def _handed(self, contact: DeskContact, to: User, by: User) -> None:
        try:
            shown = await self.view.handed(to.id, to.language, contact, display_name(by))
        except UserUnreachable:
            return
        await DeskCard.create(
            contact_id=contact.id, user_id=to.id, telegram_message_id=shown, queued=False
        )


def display_name(user: User | None) -> str:
    """A member as Telegram shows them: first name, else @username, else the id."""
    if user is None:
        return "?"
    return user.first_name or (f"@{user.username}" if user.username else str(user.id))


async def _language(user_id: int) -> str:
    user = await User.get_or_none(id=user_id)
    return user.language if user else "en"


def _now() -> datetime:
    return datetime.now(UTC)
