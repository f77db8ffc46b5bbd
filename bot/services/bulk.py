"""Bulk sends: one text to a list of numbers, paced like a person, that survives anything.

A bulk's life (its states are `BulkState`, stored; every change is a conditional update, so a
press handled on any replica, or twice, changes it once):

    /bulk ──▶ LIST ──the list──▶ TEXT ──the text (or a photo / file with it)──▶ PREVIEW
                                                                  │ Start (Cancel: deleted)
                                                                  ▼
      DONE ◀──every recipient has an outcome── RUNNING ◀──Resume── PAUSED ◀──Pause, or the
        ▲                                         │  └────────────────┘       line in trouble
        │                           Stop: ASKING ─┤ (held while it asks; "No" goes back)
        └── summary and report ◀── STOPPED ◀──────┘ "Yes": what was not sent fails as `stopped`

- Start makes every recipient an outbox row (origin BULK, HELD) in one transaction, with the
  state change: a list of 1,000 is stored at once, and a Start pressed twice makes it once.
- The runner (`bulk_runner.py`) releases HELD rows to the outbox as the line's pace and daily cap
  allow; the outbox worker sends them like every message (pacing, retries, "don't know whether
  it went out"), the person's own messages first. Pause, Stop and a self-pause put released rows
  back to HELD at once.
- One bulk per line at a time (`Bulk.active_line` is unique), several people's side by side.
- A recipient who answers `STOP` to a bulk of this person (`note_answer`, called for every
  incoming message) is left out of this person's next previews.

This module is what a handler calls: the steps, the presses, what a preview shows. What the
runner and the report read about a bulk's rows is in `bulk_rows.py`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.gateways.base import LineState
from bot.logs import mask_phone
from bot.services.bulk_list import (
    LineProblem,
    Problem,
    Recipient,
    RecipientList,
    field_key,
    is_stop,
    missing_fields,
    parse_list,
    render,
)
from bot.services.bulk_rows import (
    STOPPED,
    figures_of,
    hold_refused,
    hold_released,
    progress_of,
    row_key,
)
from bot.services.conversations import conversation_of
from bot.services.outbox_queue import used_today
from bot.services.ports import BulkProgress
from bot.services.sender import UNCERTAIN, ChatNotReady, NoActiveChat, TelegramFile
from bot.storage.models import (
    Bulk,
    BulkState,
    Conversation,
    IncomingMessage,
    MessageStatus,
    Origin,
    OutgoingMessage,
    User,
    WhatsAppChat,
)

log = logging.getLogger(__name__)

INPUT_TTL = timedelta(minutes=30)  # LIST and TEXT take the person's next message this long
PREVIEW_TTL = timedelta(days=1)  # a preview's Start works this long
SHOWN_PROBLEMS = 10  # unreadable lines kept for the preview (the count is kept whole)
ACTIVE = (BulkState.RUNNING, BulkState.PAUSED, BulkState.ASKING)
ENDED = (BulkState.DONE, BulkState.STOPPED)


class LineBusy(Exception):
    """A bulk already runs on this line: one at a time."""


class MissingFields(Exception):
    """The text names fields the list does not have (as written), and the list's names."""

    def __init__(self, missing: Sequence[str], names: Sequence[str]) -> None:
        super().__init__(", ".join(missing))
        self.missing = list(missing)
        self.names = list(names)


@dataclass(frozen=True)
class Preview:
    """What the preview shows before anything is sent."""

    bulk: Bulk  # with its line (`bulk.chat`)
    recipients: int
    problems: tuple[Problem, ...]  # the first SHOWN_PROBLEMS
    problem_count: int
    duplicates: int
    opted_out: int
    first_phone: str
    first_text: str  # the first message, rendered
    rate_per_minute: int
    seconds: float  # the estimated duration at the line's pace
    daily_cap: int
    room_today: int  # what the daily cap still allows now
    region: str  # DEFAULT_REGION (a bad line's words name it)


class Runner(Protocol):
    """`bulk_runner.BulkRunner`, as the service sees it."""

    def kick(self, bulk_id: int) -> None:
        """Look at the bulk now (its progress message answers a press at once)."""
        ...


class BulkService:
    def __init__(
        self,
        runner: Runner,
        *,
        region: str,
        max_recipients: int,
        rate_per_minute: int,
        daily_cap: int,
    ) -> None:
        self.runner = runner
        self.region = region
        self.max_recipients = max_recipients
        self.rate_per_minute = rate_per_minute
        self.daily_cap = daily_cap

    # --- the steps to a preview

    async def begin(self, user: User) -> Bulk:
        """/bulk: a new bulk through the active line, waiting for its list (the person's earlier
        drafts are dropped). NoActiveChat, ChatNotReady, LineBusy."""
        chat = (
            await WhatsAppChat.get_or_none(id=user.active_chat_id, owner_id=user.id)
            if user.active_chat_id
            else None
        )
        if chat is None:
            raise NoActiveChat
        if chat.state is not LineState.AUTHORIZED:
            raise ChatNotReady(chat)
        if await Bulk.filter(active_line=chat.id).exists():
            raise LineBusy
        await Bulk.filter(owner_id=user.id, state__in=_DRAFTS).delete()
        bulk = await Bulk.create(owner_id=user.id, chat_id=chat.id, state=BulkState.LIST)
        bulk.chat = chat
        return bulk

    async def waiting_input(self, user_id: int) -> Bulk | None:
        """The person's bulk that takes their next message (its list or its text), if any."""
        since = _now() - INPUT_TTL
        return (
            await Bulk.filter(
                owner_id=user_id,
                state__in=(BulkState.LIST, BulkState.TEXT),
                updated_at__gte=since,
            )
            .order_by("-id")
            .first()
        )

    async def take_list(
        self, bulk: Bulk, data: bytes | str, file_name: str | None = None
    ) -> RecipientList:
        """Read the list (in a thread: it is CPU work). A readable one is kept and the bulk waits
        for its text; after a refusal it still waits for a list."""
        opted_out = await Conversation.filter(user_id=bulk.owner_id, opted_out=True).values_list(  # type: ignore[attr-defined]
            "peer", flat=True
        )
        found = await asyncio.to_thread(
            parse_list,
            data,
            region=self.region,
            max_recipients=self.max_recipients,
            file_name=file_name,
            opted_out=[str(peer) for peer in opted_out],
        )
        if not found.ok:
            await Bulk.filter(id=bulk.id).update(state=BulkState.LIST)  # updated_at: it waits on
            return found
        draft = {
            "recipients": [[r.line, r.phone, dict(r.fields)] for r in found.recipients],
            "problems": [
                [p.line, p.reason.value, p.text, list(p.options)]
                for p in found.problems[:SHOWN_PROBLEMS]
            ],
            "problem_count": len(found.problems),
            "duplicates": len(found.duplicates),
            "opted_out": len(found.opted_out),
            "field_names": list(found.field_names),
            "field_keys": sorted(found.field_keys),
        }
        await Bulk.filter(id=bulk.id, state__in=(BulkState.LIST, BulkState.TEXT)).update(
            state=BulkState.TEXT, draft=draft, field_names=list(found.field_names)
        )
        return found

    async def take_text(self, bulk: Bulk, text: str, file: TelegramFile | None) -> Preview:
        """The message (a template; a file's caption): the preview of the bulk, which then waits
        for Start. MissingFields when it names a field the list does not have."""
        draft = bulk.draft or {}
        keys = frozenset(str(key) for key in draft.get("field_keys", []))
        missing = missing_fields(text, RecipientList(field_keys=keys))
        if missing:
            names = [str(name) for name in draft.get("field_names", [])]
            raise MissingFields(sorted(missing), names)
        await Bulk.filter(id=bulk.id, state=BulkState.TEXT).update(
            state=BulkState.PREVIEW,
            text=text,
            file_id=file.file_id if file else None,
            file_name=file.name if file else None,
            file_mime=file.mime if file else None,
        )
        bulk.state, bulk.text = BulkState.PREVIEW, text
        bulk.file_id, bulk.file_name = (file.file_id, file.name) if file else (None, None)
        return await self._preview(bulk)

    async def shown(self, bulk: Bulk, message_id: int) -> None:
        """The bot's last message about a draft: its question (a reply to it answers it), then
        the preview, which becomes the progress message at Start."""
        await Bulk.filter(id=bulk.id, state__in=_DRAFTS).update(progress_message_id=message_id)

    async def _preview(self, bulk: Bulk) -> Preview:
        draft = bulk.draft or {}
        recipients = _recipients(draft)
        first = recipients[0]
        bulk.chat = await WhatsAppChat.get(id=bulk.chat_id)  # type: ignore[attr-defined]
        return Preview(
            bulk=bulk,
            recipients=len(recipients),
            problems=tuple(_problems(draft)),
            problem_count=int(draft.get("problem_count", 0)),
            duplicates=int(draft.get("duplicates", 0)),
            opted_out=int(draft.get("opted_out", 0)),
            first_phone=first.phone,
            first_text=render(bulk.text, first),
            rate_per_minute=self.rate_per_minute,
            seconds=len(recipients) * 60 / self.rate_per_minute,
            daily_cap=self.daily_cap,
            room_today=max(0, self.daily_cap - await used_today(bulk.chat.id)),
            region=self.region,
        )

    async def cancel(self, user: User, bulk_id: int) -> bool:
        """The preview's Cancel (or the prompt's): the draft is gone, nothing was made."""
        return bool(await Bulk.filter(id=bulk_id, owner_id=user.id, state__in=_DRAFTS).delete())

    # --- Start

    async def start(self, user: User, bulk_id: int) -> Bulk | None:
        """Start: every recipient an outbox row (HELD), with the state change, in one
        transaction. None when this preview is no longer there (started already, cancelled, or
        too old). ChatNotReady when the line is not linked now; LineBusy."""
        bulk = await Bulk.get_or_none(
            id=bulk_id, owner_id=user.id, state=BulkState.PREVIEW
        ).select_related("chat")
        if bulk is None:
            return None
        if bulk.updated_at < _now() - PREVIEW_TTL:
            await Bulk.filter(id=bulk.id, state=BulkState.PREVIEW).delete()
            return None
        if bulk.chat.state is not LineState.AUTHORIZED:
            raise ChatNotReady(bulk.chat)
        recipients = _recipients(bulk.draft or {})
        keys = [field_key(name) for name in bulk.field_names]
        now = _now()
        rows = [
            OutgoingMessage(
                chat_id=bulk.chat.id,
                recipient=recipient.phone,
                text=render(bulk.text, recipient),
                file_id=bulk.file_id,
                file_name=bulk.file_name,
                file_mime=bulk.file_mime,
                status=MessageStatus.HELD,
                next_attempt_at=now,
                source_chat_id=user.id,
                source_message_id=row_key(bulk.id, index),
                origin=Origin.BULK,
                bulk_id=bulk.id,
                bulk_fields={key: recipient.fields.get(key, "") for key in keys},
                created_at=now,
                updated_at=now,
            )
            for index, recipient in enumerate(recipients)
        ]
        try:
            async with in_transaction():
                taken = await Bulk.filter(id=bulk.id, state=BulkState.PREVIEW).update(
                    state=BulkState.RUNNING,
                    active_line=bulk.chat.id,
                    total=len(rows),
                    draft=None,
                    started_at=now,
                    running_since=now,
                )
                if not taken:
                    return None
                await OutgoingMessage.bulk_create(rows, batch_size=500)
        except IntegrityError:
            raise LineBusy from None
        log.info("bulk %s: started, %d recipients", bulk.id, len(rows))
        self.runner.kick(bulk.id)
        return await Bulk.get(id=bulk.id).select_related("chat")

    # --- while it runs (every press is the owner's, and a conditional update)

    async def pause(self, user: User, bulk_id: int) -> Bulk | None:
        """The state first, then the released rows held (the runner, releasing, reads the state
        after: one of the two sees the other)."""
        changed = await Bulk.filter(id=bulk_id, owner_id=user.id, state=BulkState.RUNNING).update(
            state=BulkState.PAUSED, pause_reason="person"
        )
        if changed:
            await hold_released(bulk_id)
        return await self._after_press(user, bulk_id)

    async def resume(self, user: User, bulk_id: int) -> Bulk | None:
        changed = await Bulk.filter(id=bulk_id, owner_id=user.id, state=BulkState.PAUSED).update(
            state=BulkState.RUNNING, pause_reason=None, running_since=_now()
        )
        if changed:
            await hold_refused(bulk_id)  # refused while it paused: they go now
        return await self._after_press(user, bulk_id)

    async def ask_stop(self, user: User, bulk_id: int) -> Bulk | None:
        """Stop asks first; the bulk holds while it asks (a pause it had is kept)."""
        changed = await Bulk.filter(
            id=bulk_id, owner_id=user.id, state__in=(BulkState.RUNNING, BulkState.PAUSED)
        ).update(state=BulkState.ASKING)
        if changed:
            await hold_released(bulk_id)
        return await self._after_press(user, bulk_id)

    async def keep(self, user: User, bulk_id: int) -> Bulk | None:
        """ "No, go on": back to how it was (paused if it was)."""
        mine = Bulk.filter(id=bulk_id, owner_id=user.id, state=BulkState.ASKING)
        await mine.filter(pause_reason__isnull=True).update(
            state=BulkState.RUNNING, running_since=_now()
        )
        await mine.filter(pause_reason__isnull=False).update(state=BulkState.PAUSED)
        return await self._after_press(user, bulk_id)

    async def stop(self, user: User, bulk_id: int) -> Bulk | None:
        """ "Yes, stop": what was not sent is not sent (a row being sent right now goes out)."""
        changed = await Bulk.filter(id=bulk_id, owner_id=user.id, state=BulkState.ASKING).update(
            state=BulkState.STOPPED, active_line=None, finished_at=_now()
        )
        if changed:
            await OutgoingMessage.filter(
                bulk_id=bulk_id, status__in=(MessageStatus.HELD, MessageStatus.QUEUED)
            ).update(status=MessageStatus.FAILED, error=STOPPED)
            log.info("bulk %s: stopped by its owner", bulk_id)
        return await self._after_press(user, bulk_id)

    async def send_again_unknown(self, user: User, bulk_id: int) -> Bulk | None:
        """The summary's button: the recipients whose request was in flight when the gateway or
        the bot went away are sent again (the person decided), the bulk running again. None when
        there is nothing to send again; LineBusy."""
        mine = Bulk.filter(id=bulk_id, owner_id=user.id, state__in=ENDED)
        bulk = await mine.first().select_related("chat")
        unknown = OutgoingMessage.filter(
            bulk_id=bulk_id, status=MessageStatus.FAILED, error=UNCERTAIN
        )
        if bulk is None or not await unknown.exists():
            return None
        if bulk.chat.state is not LineState.AUTHORIZED:
            raise ChatNotReady(bulk.chat)
        try:
            async with in_transaction():
                taken = await mine.filter(reported_at__isnull=False).update(
                    state=BulkState.RUNNING,
                    pause_reason=None,
                    active_line=bulk.chat.id,
                    running_since=_now(),
                    finished_at=None,
                    reported_at=None,
                )
                if not taken:
                    return None
                await unknown.update(
                    status=MessageStatus.HELD, error=None, attempts=0, waiting_told=False
                )
        except IntegrityError:
            raise LineBusy from None
        return await self._after_press(user, bulk_id)

    async def _after_press(self, user: User, bulk_id: int) -> Bulk | None:
        self.runner.kick(bulk_id)  # its progress message answers the press at once
        return await Bulk.get_or_none(id=bulk_id, owner_id=user.id).select_related("chat")

    async def overview(self, user: User) -> list[tuple[Bulk, BulkProgress]]:
        """The person's bulks that run (or hold), oldest first, with their lines and figures."""
        found = []
        for bulk in (
            await Bulk.filter(owner_id=user.id, state__in=ACTIVE)
            .order_by("id")
            .select_related("chat")
        ):
            figures = await figures_of(bulk.id)
            found.append((bulk, progress_of(bulk, figures, self.rate_per_minute, self.daily_cap)))
        return found


# --- STOP answers


async def note_answer(chat: WhatsAppChat, row: IncomingMessage) -> None:
    """An incoming message on `chat`: a recipient of a bulk of the line's owner who answers
    STOP (`is_stop`) is left out of the owner's next bulks (`Conversation.opted_out`)."""
    if not row.text or not is_stop(row.text) or row.conversation.endswith("@g.us"):
        return
    owner_id = chat.owner_id  # type: ignore[attr-defined]
    got_one = await (
        OutgoingMessage.filter(bulk__owner_id=owner_id, recipient=row.conversation[:32])
        .exclude(status=MessageStatus.HELD)
        .exists()
    )
    if not got_one:
        return
    conversation = await conversation_of(owner_id, chat.id, row.conversation, row.sender_name)
    if not conversation.opted_out:
        await Conversation.filter(id=conversation.id).update(opted_out=True)
        log.info("bulk: %s asked to stop", mask_phone(row.conversation))


_DRAFTS = (BulkState.LIST, BulkState.TEXT, BulkState.PREVIEW)


def _recipients(draft: dict[str, Any]) -> list[Recipient]:
    return [
        Recipient(int(line), str(phone), {str(k): str(v) for k, v in fields.items()})
        for line, phone, fields in draft.get("recipients", [])
    ]


def _problems(draft: dict[str, Any]) -> list[Problem]:
    return [
        Problem(int(line), LineProblem(reason), str(text), tuple(options))
        for line, reason, text, options in draft.get("problems", [])
    ]


def _now() -> datetime:
    return datetime.now(UTC)
