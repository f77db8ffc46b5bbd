"""Each outgoing message's one confirmation in Telegram, kept in step with the message's status.

The status in the database is the truth; `ui_status` is what the confirmation shows. Whoever
moves the status (the outbox worker, a tick on any replica) calls `show`, which brings the
confirmation in line:

- The first confirmation is claimed in the database (`ui_claim_until`, a conditional update):
  one replica sends it, any other leaves it alone. Once its id is stored, the claimer reads the
  status again and edits the confirmation if a tick moved it meanwhile. Both sides write first
  and read after, so one of them always sees the other's write: one confirmation per message,
  always showing the latest news.
- Later news edits it; news it already shows changes nothing.
- A confirmation that did not make it (its replica died, or Telegram was down) is shown by the
  outbox's recovery pass, within the hour.

A message written in a conversation's topic (`Origin.TOPIC`) has no confirmation message: its
progress is the bot's reaction on the person's own message (👍 the gateway took it, 👌 delivered,
👀 read), and a failure is a reply in words (`TopicView.progress`). There `ui_status` alone
records what is shown: each step is claimed by a conditional update from the face shown before
(one path shows it, also across replicas), undone if Telegram did not take it, and a message
with an outcome but nothing shown is shown by the recovery pass, like a missing confirmation.

Whoever wrote the message is told (on a team desk: the member); one who blocked the bot is not.
`show` raises UserUnreachable and UiUnavailable: the caller decides whether news is held.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q

from bot.gateways.base import GatewayError
from bot.services.lines import Lines
from bot.services.ports import SendView, TopicView
from bot.storage.models import MessageStatus, Origin, OutgoingMessage, User, WhatsAppChat

RECENT = timedelta(hours=1)  # how long a missing confirmation is still worth showing
WAITING = "waiting"  # what `ui_status` holds while the confirmation says it waits for the gateway
FACE_FIELDS = ["status", "error", "waiting_told"]  # what decides what a confirmation says
STEPS = 4  # a topic message's progress: tries to catch up with news that came meanwhile


class Confirmations:
    def __init__(
        self,
        view: SendView,
        lines: Lines,
        *,
        claim_seconds: float,
        topics: TopicView | None = None,
    ) -> None:
        self.view = view
        self.lines = lines
        self.claim = timedelta(seconds=claim_seconds)
        self.topics = topics  # shows the progress of messages written in a topic

    async def show(
        self,
        message: OutgoingMessage,
        error: GatewayError | None = None,
        chat: WhatsAppChat | None = None,
        *,
        wait: float = 0.0,
    ) -> None:
        """Show `message`'s stored status (`error`: why it failed, when at hand; `chat`: its
        line with the owner, when at hand; `wait`: seconds until a queued one goes out). A bulk
        send's messages have no confirmation of their own: its progress message tells."""
        if message.origin is Origin.BULK:
            return
        if chat is None:
            chat = await WhatsAppChat.get(id=message.chat_id).select_related("owner")  # type: ignore[attr-defined]
        author = await author_of(message, chat)
        if author is None or author.blocked_bot:
            return
        title = self.lines.gateway(chat.gateway).title
        if message.origin is Origin.TOPIC and self.topics is not None:
            await self._progress(self.topics, message, author.language, error, title)
            return
        if message.ui_message_id is None:
            if await self._claim(message):
                await self._first(message, author.language, error, title, wait)
                return
            # Another path confirms it (perhaps on another replica): this copy may be stale.
            await message.refresh_from_db(fields=[*FACE_FIELDS, "ui_message_id", "ui_status"])
            if message.ui_message_id is None:
                return  # it is being sent, and shows the latest status once done
        await self._edit(message, author.language, error, title)

    async def _first(
        self,
        message: OutgoingMessage,
        lang: str,
        error: GatewayError | None,
        title: str,
        wait: float,
    ) -> None:
        face = face_of(message)
        try:
            shown = await self.view.update(message, lang, error, title, wait)
        except BaseException:
            await OutgoingMessage.filter(id=message.id).update(ui_claim_until=None)
            raise
        await OutgoingMessage.filter(id=message.id).update(
            ui_message_id=shown, ui_status=face, ui_claim_until=None
        )
        message.ui_message_id, message.ui_status = shown, face
        # A tick may have moved the status while the confirmation was on its way.
        await message.refresh_from_db(fields=FACE_FIELDS)
        await self._edit(message, lang, None, title)

    async def _edit(
        self, message: OutgoingMessage, lang: str, error: GatewayError | None, title: str
    ) -> None:
        face = face_of(message)
        if message.ui_status == face:
            return
        shown = await self.view.update(message, lang, error, title)
        values: dict[str, object] = {"ui_status": face}
        if shown is not None:  # the old one could not be edited: this one is its confirmation now
            values["ui_message_id"] = message.ui_message_id = shown
        await OutgoingMessage.filter(id=message.id).update(**values)
        message.ui_status = face

    async def _progress(
        self,
        topics: TopicView,
        message: OutgoingMessage,
        lang: str,
        error: GatewayError | None,
        title: str,
    ) -> None:
        """A topic message's progress, one step at a time: a step is shown by whoever moves
        `ui_status` to it from the face shown before; then the status is read again, since news
        may have come meanwhile (its path found the step taken, and left it to this one)."""
        for _ in range(STEPS):
            face, before = face_of(message), message.ui_status
            if before == face:
                return
            shown = OutgoingMessage.filter(id=message.id)
            shown = (
                shown.filter(ui_status__isnull=True)
                if before is None
                else shown.filter(ui_status=before)
            )
            if await shown.update(ui_status=face):
                try:
                    await topics.progress(message, lang, error, title)
                except BaseException:
                    await OutgoingMessage.filter(id=message.id, ui_status=face).update(
                        ui_status=before
                    )
                    raise
            await message.refresh_from_db(fields=[*FACE_FIELDS, "ui_status", "ui_message_id"])

    async def _claim(self, message: OutgoingMessage) -> bool:
        now = _now()
        free = Q(ui_claim_until__isnull=True) | Q(ui_claim_until__lt=now)
        return bool(
            await OutgoingMessage.filter(free, id=message.id, ui_message_id__isnull=True).update(
                ui_claim_until=now + self.claim
            )
        )

    def missing(self) -> Q:
        """Recent messages with an outcome but no confirmation: its replica died before showing
        it, or Telegram was down then (a person who blocked the bot is skipped by `show`)."""
        now = _now()
        confirmed = Q(ui_message_id__isnull=True) & (
            Q(ui_claim_until__isnull=True) | Q(ui_claim_until__lt=now)
        )
        in_topic = Q(origin=Origin.TOPIC, ui_status__isnull=True)  # nothing shown at all
        return (
            Q(updated_at__gte=now - RECENT)
            & ((confirmed & ~Q(origin=Origin.TOPIC)) | in_topic)
            & ~Q(status__in=(MessageStatus.QUEUED, MessageStatus.SENDING))
            & ~Q(origin=Origin.BULK)
        )


def face_of(message: OutgoingMessage) -> str:
    """What the confirmation of `message` says, as a short key (stored as `ui_status`)."""
    if message.status in (MessageStatus.QUEUED, MessageStatus.SENDING):
        return WAITING if message.waiting_told else str(MessageStatus.QUEUED)
    return str(message.status)


async def author_of(message: OutgoingMessage, chat: WhatsAppChat) -> User | None:
    """Who wrote the message: the line's owner, or on a team desk one of its members."""
    if message.source_chat_id == chat.owner.id:
        return chat.owner
    return await User.get_or_none(id=message.source_chat_id)


def _now() -> datetime:
    return datetime.now(UTC)
