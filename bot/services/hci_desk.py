"""HCI Whats Center desks: HCI keeps the areas, the operators and who answers each customer.

An admin links HCI's shared line with `/connect hci`; it becomes a desk at once. One replica (by
lease) polls HCI every INCOMING_POLL_INTERVAL: areas and their operators, the contacts of each
area, and each contact's chat. What it finds is mirrored into the desk tables, and new customer
messages are shown through the desk (cards while waiting, the owner's chat once taken):

- a contact with `operatorId` 0 or empty waits in its area's queue;
- messages are de-duplicated by HCI's id, else by their position in the chat;
- contacts already waiting when the desk first sees them are shown as cards (their last
  message); older messages of conversations that already have an owner are not replayed.

Take, Transfer and Area… are decided in our database first (a conditional update: one owner),
then told to HCI once (`PUT …/operator/my`, `…/operator`, `…/area`); an HCI refusal undoes the
decision and is told in words. A Take whose HCI call may not have happened (the replica died in
between) is checked against the contact's operatorId in HCI before it is made again.
Members are HCI operators: an admin maps a Telegram user to one (`/desk operator @user ID`). The
mapping is kept in `HciOperator` whatever the line's state (even while `/connect hci` is still
linking it) and applied to every HCI desk, at once and at every poll: each mapped user is a member
whose `DeskMember.hci_operator_id` is a copy of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from tortoise.expressions import Subquery

from bot.gateways.base import GatewayError, InvalidRequestError, LineState, MessageKind
from bot.gateways.hci import HciClient
from bot.gateways.hci_replies import HciContact, HciMessage
from bot.services.desk import DeskService
from bot.services.leases import Leases
from bot.services.ports import UiUnavailable
from bot.storage.models import (
    Desk,
    DeskArea,
    DeskContact,
    DeskMember,
    DeskMemberArea,
    HciOperator,
    InboundStatus,
    IncomingMessage,
    User,
    WhatsAppChat,
)

log = logging.getLogger(__name__)

POLL_LEASE = "hci-desk"  # one replica polls HCI
MAX_FILE = 50 * 1024 * 1024
_KINDS = {
    "text": MessageKind.TEXT,
    "image": MessageKind.IMAGE,
    "pdf": MessageKind.DOCUMENT,
    "audio": MessageKind.AUDIO,
    "video": MessageKind.VIDEO,
}


class HciDesks:
    def __init__(
        self, client: HciClient, desk: DeskService, leases: Leases, *, poll_interval: float
    ) -> None:
        self.client = client
        self.desk = desk
        self.leases = leases
        self.poll_interval = poll_interval
        self._task: asyncio.Task[None] | None = None
        desk.on_take = self._take
        desk.on_transfer_member = self._transfer_member
        desk.on_transfer_area = self._transfer_area

    # --- life cycle

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _poll_forever(self) -> None:
        while True:
            try:
                if await self.leases.claim(POLL_LEASE):
                    await self.poll()
            except (GatewayError, UiUnavailable) as exc:
                log.info("hci: poll failed (%s)", exc)
            except Exception:
                log.exception("hci: poll failed")
            await asyncio.sleep(self.poll_interval)

    # --- members (admins map Telegram users to HCI operators)

    async def find_user(self, who: str) -> User | None:
        """`@username` or the numeric id of someone who wrote to the bot once."""
        who = who.strip()
        if who.lstrip("-").isdigit():
            return await User.get_or_none(id=int(who))
        return await User.filter(username__iexact=who.removeprefix("@")).first()

    async def map(self, user: User, operator_id: str) -> bool:
        """Kept whatever the line's state; True when an HCI desk has it at once, False when it
        waits for one (the line is still linking, or its desk is off)."""
        await HciOperator.update_or_create(defaults={"operator_id": operator_id}, user_id=user.id)
        desks = await self._desks()
        for desk, _ in desks:
            await self._operators(desk)
        return bool(desks)

    async def unmap(self, user: User) -> bool:
        """Nothing more of HCI's desks reaches them; False when they were not mapped."""
        mapped = await HciOperator.filter(user_id=user.id).delete()
        await DeskMember.filter(user_id=user.id, desk__kind="hci").delete()
        return bool(mapped)

    # --- polling

    async def poll(self) -> None:
        for desk, chat in await self._desks():
            await self._sync(desk, chat)

    async def _desks(self) -> list[tuple[Desk, WhatsAppChat]]:
        """Every linked HCI line is a desk (made here the first time), its admin a member."""
        desks = []
        for chat in await WhatsAppChat.filter(gateway="hci", state=LineState.AUTHORIZED):
            desk, _ = await Desk.get_or_create(chat_id=chat.id, defaults={"kind": "hci"})
            await DeskMember.get_or_create(desk_id=desk.id, user_id=chat.owner_id)  # type: ignore[attr-defined]
            if desk.active:
                desks.append((desk, chat))
        return desks

    async def _operators(self, desk: Desk) -> dict[str | None, DeskMember]:
        """Every mapping applied to the desk (its members by HCI operator id)."""
        # A copy whose mapping is gone: an unmap ran while a poll was applying the mapping, and
        # that poll made the member again. One statement, so a mapping made meanwhile stays.
        await (
            DeskMember.filter(desk_id=desk.id, hci_operator_id__isnull=False)
            .exclude(user_id__in=Subquery(HciOperator.all().values("user_id")))
            .delete()
        )
        mappings = dict(await HciOperator.all().values_list("user_id", "operator_id"))
        operators: dict[str | None, DeskMember] = {}
        for user_id, operator_id in mappings.items():
            member, _ = await DeskMember.get_or_create(desk_id=desk.id, user_id=user_id)
            if member.hci_operator_id != operator_id:
                # Another operator: the first one's HCI areas are not theirs (the poll puts them
                # in the new one's).
                await DeskMemberArea.filter(
                    member_id=member.id, area__hci_area_id__isnull=False
                ).delete()
                member.hci_operator_id = operator_id
                await member.save(update_fields=["hci_operator_id"])
            operators[operator_id] = member
        return operators

    async def _sync(self, desk: Desk, chat: WhatsAppChat) -> None:
        operators = await self._operators(desk)
        areas: dict[str, DeskArea] = {}
        for found in await self.client.areas():
            area = await DeskArea.get_or_none(desk_id=desk.id, hci_area_id=found.id)
            if area is None:
                area = await DeskArea.create(
                    desk_id=desk.id, hci_area_id=found.id, name=f"{found.name}"[:64]
                )
            areas[found.id] = area
            for operator in await self.client.area_operators(found.id):
                member = operators.get(operator.id)
                if member is not None:
                    await DeskMemberArea.get_or_create(member_id=member.id, area_id=area.id)
        for area_id, area in areas.items():
            for found_contact in await self.client.contacts_in_area(area_id):
                await self._contact(desk, chat, found_contact, area, operators)

    async def _contact(
        self,
        desk: Desk,
        chat: WhatsAppChat,
        found: HciContact,
        area: DeskArea,
        operators: dict[str | None, DeskMember],
    ) -> None:
        contact, first_sight = await DeskContact.get_or_create(
            desk_id=desk.id,
            contact=found.number[:64],
            defaults={"name": found.name or None, "area_id": area.id},
        )
        owner = operators.get(found.operator_id) if found.operator_id else None
        if contact.hci_pending:
            await self._settle_take(contact, found, operators)
            return  # the next poll shows its messages, with the owner settled
        if contact.hci_operator != found.operator_id or first_sight:
            # HCI changed hands (or the desk sees the contact for the first time): mirror it.
            mirrored = owner.user_id if owner else None  # type: ignore[attr-defined]
            await DeskContact.filter(id=contact.id).update(
                owner_id=mirrored,
                area_id=area.id,
                hci_operator=found.operator_id,
                announced=contact.announced and mirrored is None,
            )
            contact.owner_id, contact.area_id = mirrored, area.id
        elsewhere = bool(found.operator_id) and owner is None  # an operator not on Telegram
        messages = await self.client.messages(found.operator_id, found.number)
        customers = [m for m in messages if m.from_customer(found.number)]
        for index, message in enumerate(customers):
            last = index == len(customers) - 1
            replay = not first_sight or (found.waiting and last)
            await self._message(desk, chat, found, message, show=replay and not elsewhere)

    async def _message(
        self, desk: Desk, chat: WhatsAppChat, found: HciContact, message: HciMessage, *, show: bool
    ) -> None:
        """Stored once; shown until Telegram has it for every member it is for: a showing that
        broke off (Telegram trouble) goes on at the next poll, where it stopped."""
        key = f"{found.number}:{message.key}"[:255]
        row = await IncomingMessage.get_or_none(chat_id=chat.id, gateway_message_id=key)
        if row is None:
            kind = _KINDS.get(
                message.type, MessageKind.DOCUMENT if message.url else MessageKind.TEXT
            )
            row = await IncomingMessage.create(
                chat_id=chat.id,
                gateway_message_id=key,
                conversation=found.number[:64],
                sender=found.number[:32],
                sender_name=found.name[:128] or None,
                kind=kind,
                text="" if kind.has_file else message.content.replace("\x00", "")[:200_000],
                media_url=message.url,
                sent_at=message.at,
                status=InboundStatus.PENDING if show else InboundStatus.SKIPPED,
            )
        if row.status is not InboundStatus.PENDING:
            return
        if not show:  # its customer went to an operator not on Telegram meanwhile
            await IncomingMessage.filter(id=row.id).update(status=InboundStatus.SKIPPED)
            return
        file, problem = None, ""
        if row.kind.has_file and row.media_url:
            try:
                file = await self.client.download(row.media_url, max_bytes=MAX_FILE)
            except GatewayError as exc:
                log.info("hci: a file was not downloaded (%s)", exc.kind)
                problem = "unavailable"
        elif row.kind.has_file:
            problem = "missing"
        await self.desk.route(desk, row, file, problem)
        await IncomingMessage.filter(id=row.id).update(status=InboundStatus.FORWARDED)

    # --- decisions told to HCI

    async def _take(self, contact: DeskContact, member: DeskMember) -> None:
        await self.client.take(contact.contact, _operator(member))
        await DeskContact.filter(id=contact.id).update(
            hci_pending=False, hci_operator=member.hci_operator_id
        )

    async def _settle_take(
        self, contact: DeskContact, found: HciContact, operators: dict[str | None, DeskMember]
    ) -> None:
        """A Take decided here whose HCI call may not have happened (a crash in between)."""
        member = await DeskMember.get_or_none(
            desk_id=contact.desk_id,  # type: ignore[attr-defined]
            user_id=contact.owner_id,  # type: ignore[attr-defined]
        )
        if member is not None and found.waiting:
            with contextlib.suppress(GatewayError):  # HCI never saw it: once more, once
                await self.client.take(contact.contact, _operator(member))
                await DeskContact.filter(id=contact.id).update(hci_pending=False)
                return
        owner = operators.get(found.operator_id) if found.operator_id else None
        await DeskContact.filter(id=contact.id).update(
            hci_pending=False,
            owner_id=owner.user_id if owner else None,  # type: ignore[attr-defined]
        )

    async def _transfer_member(self, contact: DeskContact, member: DeskMember) -> None:
        await self.client.transfer_to_operator(contact.contact, _operator(member))
        await DeskContact.filter(id=contact.id).update(hci_operator=member.hci_operator_id)

    async def _transfer_area(self, contact: DeskContact, area: DeskArea) -> None:
        if not area.hci_area_id:
            raise InvalidRequestError("HCI: this area is not one of HCI's")
        await self.client.transfer_to_area(contact.contact, area.hci_area_id)
        await DeskContact.filter(id=contact.id).update(hci_operator="")


def _operator(member: DeskMember) -> str:
    if not member.hci_operator_id:
        raise InvalidRequestError("HCI: this member is not mapped to an HCI operator")
    return member.hci_operator_id
