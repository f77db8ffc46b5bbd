"""Database models: people, their linked WhatsApp lines, their conversations (a contact or group
on one line, as one person sees it), the outbox of messages to send, the inbox of messages that
came in, the Telegram updates being handled, the files the bot serves to gateways that fetch by
URL, and the line of /connect attempts waiting for their turn."""

from __future__ import annotations

import enum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from bot.gateways.base import LineState, MessageKind


class MessageStatus(enum.StrEnum):
    """Life of one outgoing WhatsApp message."""

    # A bulk send's recipient waiting for its bulk to release it (`bulk_runner.py`): not yet the
    # worker's, not counted against the daily cap, and no older message for the order rule.
    HELD = "held"
    QUEUED = "queued"  # accepted and stored; waiting for its turn (or a retry)
    SENDING = "sending"  # claimed by the sender; the gateway call may be under way
    SENT = "sent"  # the gateway accepted it (it has the gateway's message id)
    DELIVERED = "delivered"  # the gateway reports delivery to the phone
    READ = "read"  # the gateway reports it read
    FAILED = "failed"  # given up; `error` says why, and the user was told

    @property
    def is_final(self) -> bool:
        return self not in (MessageStatus.HELD, MessageStatus.QUEUED, MessageStatus.SENDING)


class Origin(enum.StrEnum):
    """Where an outgoing message was written: decides how its progress is shown."""

    COMMAND = "command"  # /send and its kin, or a reply in the flat chat: a confirmation message
    TOPIC = "topic"  # written in the conversation's topic: reactions on the person's message
    BULK = "bulk"  # one recipient of a bulk send: only the bulk's progress message


class InboundStatus(enum.StrEnum):
    """Life of one incoming WhatsApp message on its way to Telegram."""

    PENDING = "pending"  # stored; Telegram does not have it yet
    FORWARDED = "forwarded"  # Telegram took it (`telegram_message_id`)
    SKIPPED = "skipped"  # deliberately not shown: muted, or the owner cannot be reached


class TicketState(enum.StrEnum):
    """Life of one /connect attempt in the connect queue."""

    WAITING = "waiting"  # in line: no spare chat taken yet; its place may be on show
    ADMITTED = "admitted"  # its turn came: the connect flow runs (a line taken, its QR shown)
    CANCELLED = "cancelled"  # left the line before its turn (Cancel, or the bot was blocked)


class BulkState(enum.StrEnum):
    """Life of one bulk send (`bot/services/bulk.py`). The first three are the person's way to
    the preview; nothing is stored in the outbox before Start."""

    LIST = "list"  # /bulk asked for the list: the person's next message is it
    TEXT = "text"  # the list is read (`draft`): the next message is the text, photo or file
    PREVIEW = "preview"  # the preview is shown with Start and Cancel (`progress_message_id`)
    RUNNING = "running"  # started: its rows are released to the outbox as pace and cap allow
    PAUSED = "paused"  # held: Pause, or by itself when the line is in trouble (`pause_reason`)
    ASKING = "asking"  # Stop was pressed: held until the person answers (then STOPPED, or back
    #                    to RUNNING, or to PAUSED when `pause_reason` is set)
    STOPPED = "stopped"  # stopped: what was not sent failed as "stopped"; the summary follows
    DONE = "done"  # every recipient has an outcome; the summary and the report follow

    @property
    def is_draft(self) -> bool:
        return self in (BulkState.LIST, BulkState.TEXT, BulkState.PREVIEW)

    @property
    def is_active(self) -> bool:
        """Started and not over: it holds its line (`Bulk.active_line`)."""
        return self in (BulkState.RUNNING, BulkState.PAUSED, BulkState.ASKING)


class User(Model):
    """A Telegram user of the bot (id = Telegram user id)."""

    id = fields.BigIntField(primary_key=True, generated=False)
    language = fields.CharField(max_length=8, default="en")
    # The chat /send uses. A plain id, not a foreign key: the two tables would reference each other.
    active_chat_id = fields.IntField(null=True)
    # Set while a /connect runs, by a conditional update: one attempt per user at a time.
    connecting = fields.BooleanField(default=False)
    # When that lock was taken: a replica that died while getting a line leaves it behind.
    connect_started_at = fields.DatetimeField(null=True)
    # /connect asked for this gateway's credentials: the user's next plain message holds them.
    awaiting_credentials = fields.CharField(max_length=32, null=True)
    # Telegram said 403 (the user blocked the bot): stop talking until they write again.
    blocked_bot = fields.BooleanField(default=False)
    # As Telegram shows the person (the team inbox names members; /desk operator @username).
    first_name = fields.CharField(max_length=64, null=True)
    username = fields.CharField(max_length=32, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    chats: fields.ReverseRelation[WhatsAppChat]


class WhatsAppChat(Model):
    """One WhatsApp line a user linked (or is linking) through a gateway."""

    id = fields.IntField(primary_key=True)
    owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="chats", on_delete=fields.CASCADE
    )
    gateway = fields.CharField(max_length=32)
    instance_id = fields.CharField(max_length=128)
    token_secret = fields.TextField()  # encrypted gateway token (bot.storage.crypto)
    options: dict[str, str] = fields.JSONField(
        default=dict
    )  # gateway-specific, non-secret (e.g. Green-API host)
    state = fields.CharEnumField(LineState, max_length=16, default=LineState.PROVISIONING)
    state_raw = fields.CharField(max_length=64, default="")
    account_name = fields.CharField(max_length=128, null=True)
    account_phone = fields.CharField(max_length=32, null=True)
    lost_reason = fields.CharField(max_length=255, null=True)
    # The running /connect: until when, and the Telegram message that shows its progress/QR.
    connect_deadline = fields.DatetimeField(null=True)
    ui_chat_id = fields.BigIntField(null=True)
    ui_message_id = fields.BigIntField(null=True)
    ui_is_photo = fields.BooleanField(default=False)
    qr_fingerprint = fields.CharField(max_length=32, null=True)
    qr_count = fields.IntField(default=0)
    # Anti-ban pacing: the earliest moment the next message of this line may go out.
    next_send_at = fields.DatetimeField(null=True)
    # Incoming messages: the gateway's position of the next poll (stored only once everything
    # before it reached Telegram), and whether the owner asked not to get them (/mute).
    incoming_cursor = fields.CharField(max_length=64, null=True)
    muted = fields.BooleanField(default=False, db_default=False)
    # The replica working on this line (its connect flow, then its incoming poller) until when;
    # renewed while it works, taken over by another replica once expired (bot.services.leases).
    lease_holder = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    linked_at = fields.DatetimeField(null=True)

    messages: fields.ReverseRelation[OutgoingMessage]
    inbox: fields.ReverseRelation[IncomingMessage]

    class Meta:
        table = "whatsapp_chat"
        indexes = (("gateway", "instance_id"),)


class OutgoingMessage(Model):
    """A WhatsApp message a user asked to send: stored before the gateway is called."""

    id = fields.IntField(primary_key=True)
    chat: fields.ForeignKeyRelation[WhatsAppChat] = fields.ForeignKeyField(
        "models.WhatsAppChat", related_name="messages", on_delete=fields.CASCADE
    )
    recipient = fields.CharField(max_length=32)  # international digits, or a group id (…@g.us)
    recipient_name = fields.CharField(max_length=128, null=True)  # shown instead of a group id
    text = fields.TextField()  # the message, or the caption of `media_url` / the file
    media_url = fields.CharField(max_length=2048, null=True)  # a file/image sent by URL
    # `media_url` is a web page, sent as a link (WhatsApp shows its preview), not as a file.
    # db_default: the column is added to tables that already hold rows (migration 0003).
    media_is_link = fields.BooleanField(default=False, db_default=False)
    # A file the person sent to the bot: Telegram's file_id (its bytes are fetched when sending).
    file_id = fields.CharField(max_length=255, null=True)
    file_name = fields.CharField(max_length=255, null=True)
    file_mime = fields.CharField(max_length=128, null=True)
    # The gateway id of the incoming message this one answers (quoted where the gateway can).
    quoted_id = fields.CharField(max_length=255, null=True)
    status = fields.CharEnumField(MessageStatus, max_length=16, default=MessageStatus.QUEUED)
    error = fields.CharField(max_length=255, null=True)
    gateway_message_id = fields.CharField(max_length=255, null=True)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    # The Telegram message it came from: the same update delivered twice is one WhatsApp message.
    source_chat_id = fields.BigIntField()
    source_message_id = fields.BigIntField()
    ui_message_id = fields.BigIntField(null=True)  # our confirmation, edited as the status moves
    # A replica is sending the first confirmation until then: any other one leaves it to it (a
    # tick that arrives meanwhile is stored, and the confirming replica shows it once done).
    ui_claim_until = fields.DatetimeField(null=True)
    # What the confirmation shows now (a status, or "waiting"): news it already shows is not
    # shown again, and news Telegram missed (an outage) is shown when it comes again.
    ui_status = fields.CharField(max_length=16, null=True)
    # The person was told it waits for the gateway to come back (told once, edited in place).
    waiting_told = fields.BooleanField(default=False, db_default=False)
    origin = fields.CharEnumField(
        Origin, max_length=8, default=Origin.COMMAND, db_default=Origin.COMMAND.value
    )
    conversation: fields.ForeignKeyNullableRelation[Conversation] = fields.ForeignKeyField(
        "models.Conversation", related_name="outgoing", null=True, on_delete=fields.SET_NULL
    )
    # While `sending`: the replica with the gateway call under way, until when (renewed); a row
    # whose lease ran out lost its replica mid-call, and follows the ambiguous-outcome rule.
    lease_holder = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)
    # A bulk send's recipient (origin BULK): its bulk, and the list's fields for the report.
    # Made HELD at Start; its `source_message_id` is no Telegram id (`bulk_rows.row_key`).
    bulk: fields.ForeignKeyNullableRelation[Bulk] = fields.ForeignKeyField(
        "models.Bulk", related_name="rows", null=True, on_delete=fields.CASCADE
    )
    bulk_fields: dict[str, str] | None = fields.JSONField(null=True)
    # When it was accepted (a bulk's row: when its bulk released it to the outbox). The daily
    # cap and SEND_RETRY_FOR count from here.
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "outgoing_message"
        unique_together = (("source_chat_id", "source_message_id"),)
        # The worker's due rows; a recipient's older messages that are not done yet; a bulk's.
        indexes = (
            ("status", "next_attempt_at"),
            ("chat_id", "recipient", "status"),
            ("bulk_id", "status"),
        )


class Bulk(Model):
    """One bulk send: a text (or a photo or file with it as the caption) to a list of numbers,
    through one line of its owner. Each recipient is an `OutgoingMessage` row (origin BULK),
    made HELD at Start in one transaction; the runner releases them (`bot/services/bulk_runner.py`).
    One replica runs a bulk at a time (a `Lease` named `bulk:<id>`); any sends its rows."""

    id = fields.IntField(primary_key=True)
    owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="bulks", on_delete=fields.CASCADE
    )
    chat: fields.ForeignKeyRelation[WhatsAppChat] = fields.ForeignKeyField(
        "models.WhatsAppChat", related_name="bulks", on_delete=fields.CASCADE
    )
    state = fields.CharEnumField(BulkState, max_length=16, default=BulkState.LIST)
    # Why it is held (PAUSED, or ASKING after a pause): "person" (Pause), "yellow_card",
    # "not_ready" (the gateway: not authorised), "line" (the line left AUTHORIZED). None: it ran.
    pause_reason = fields.CharField(max_length=32, null=True)
    # The line while it is active; unique, so one bulk runs per line (NULL: not active).
    active_line = fields.IntField(null=True, unique=True)
    # Before Start: the list as read (recipients, lines left out, counts, field names).
    draft: dict[str, Any] | None = fields.JSONField(null=True)
    text = fields.TextField(default="")  # the template (a caption when there is a file)
    file_id = fields.CharField(max_length=255, null=True)  # a photo or file sent with it
    file_name = fields.CharField(max_length=255, null=True)
    file_mime = fields.CharField(max_length=128, null=True)
    field_names: list[str] = fields.JSONField(default=list)  # the list's, for the report
    total = fields.IntField(default=0)  # recipients
    # The preview, then the progress message (the same one), then the summary; in the owner's
    # chat. What it shows last (`shown`), and when (edits come at most every 3 seconds).
    progress_message_id = fields.BigIntField(null=True)
    shown = fields.CharField(max_length=64, null=True)
    shown_at = fields.DatetimeField(null=True)
    # The daily cap holds it until then (told in the progress message).
    cap_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    started_at = fields.DatetimeField(null=True)
    running_since = fields.DatetimeField(null=True)  # Start or the last Resume
    finished_at = fields.DatetimeField(null=True)  # DONE or STOPPED
    reported_at = fields.DatetimeField(null=True)  # the summary and the report were shown

    rows: fields.ReverseRelation[OutgoingMessage]

    class Meta:
        table = "bulk"
        indexes = (("state", "reported_at"), ("owner_id", "state"))


class IncomingMessage(Model):
    """A WhatsApp message that reached a line, and the Telegram message that shows it.

    Stored before Telegram is asked; unique on the line and the gateway's id, so a message the
    gateway gives twice is shown once. A reply to `telegram_message_id` answers `conversation`.
    """

    id = fields.IntField(primary_key=True)
    chat: fields.ForeignKeyRelation[WhatsAppChat] = fields.ForeignKeyField(
        "models.WhatsAppChat", related_name="inbox", on_delete=fields.CASCADE
    )
    gateway_message_id = fields.CharField(max_length=255)
    conversation = fields.CharField(max_length=64)  # where an answer goes (digits or …@g.us)
    sender = fields.CharField(max_length=32)  # the author's digits
    sender_name = fields.CharField(max_length=128, null=True)
    group_name = fields.CharField(max_length=128, null=True)
    kind = fields.CharEnumField(MessageKind, max_length=16, default=MessageKind.TEXT)
    text = fields.TextField(default="")
    media_url = fields.TextField(null=True)
    file_name = fields.CharField(max_length=255, null=True)
    mime_type = fields.CharField(max_length=128, null=True)
    details = fields.CharField(max_length=255, default="")
    sent_at = fields.DatetimeField(null=True)
    status = fields.CharEnumField(InboundStatus, max_length=16, default=InboundStatus.PENDING)
    telegram_chat_id = fields.BigIntField(null=True)
    telegram_message_id = fields.BigIntField(null=True)
    attempts = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    forwarded_at = fields.DatetimeField(null=True)

    class Meta:
        table = "incoming_message"
        unique_together = (("chat_id", "gateway_message_id"),)
        indexes = (("chat_id", "status"), ("telegram_chat_id", "telegram_message_id"))


class Conversation(Model):
    """One WhatsApp contact or group on one line, as one Telegram user sees it: an entry of their
    address book (the names WhatsApp and the person gave it) and, in threaded mode, its topic in
    their private chat with the bot. A desk's customer taken by a member is a conversation of
    that member's. Unique per user, line and peer: two replicas meeting a new contact at once
    make one row, hence at most one topic."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="conversations", on_delete=fields.CASCADE
    )
    chat: fields.ForeignKeyRelation[WhatsAppChat] = fields.ForeignKeyField(
        "models.WhatsAppChat", related_name="conversations", on_delete=fields.CASCADE
    )
    peer = fields.CharField(max_length=64)  # international digits, or a group id (…@g.us)
    wa_name = fields.CharField(max_length=128, null=True)  # push, contact or group name
    name = fields.CharField(max_length=128, null=True)  # the person's /name: wins over wa_name
    # Threaded mode: the topic's message_thread_id in the user's chat, the title the bot gave it
    # last, and whether the person renamed it themselves (then the bot never renames it).
    topic_id = fields.BigIntField(null=True)
    topic_title = fields.CharField(max_length=128, null=True)
    topic_named_by_user = fields.BooleanField(default=False)
    # A replica is creating the topic until then (the others wait for its id, or take over).
    topic_claim_until = fields.DatetimeField(null=True)
    muted = fields.BooleanField(default=False)  # /mute typed in the topic
    opted_out = fields.BooleanField(default=False)  # answered a bulk send with STOP
    last_at = fields.DatetimeField(null=True)  # the last message either way
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "conversation"
        unique_together = (("user_id", "chat_id", "peer"),)
        indexes = (("user_id", "topic_id"), ("user_id", "last_at"))


class TelegramUpdate(Model):
    """A Telegram update as it arrived (webhook push or getUpdates), stored before it is
    acknowledged and kept until handled: a replica that dies mid-handling leaves it to another.
    The update id is the key, so an update Telegram delivers twice is handled once."""

    update_id = fields.BigIntField(primary_key=True, generated=False)
    payload = fields.TextField()  # the update's JSON
    received_at = fields.DatetimeField(auto_now_add=True)
    handled_at = fields.DatetimeField(null=True)
    lease_holder = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)

    class Meta:
        table = "telegram_update"
        indexes = (("handled_at", "lease_until"),)


class HciOperator(Model):
    """An admin's mapping of a Telegram user to an HCI Whats Center operator, kept whatever the
    HCI line's state: it applies to every HCI desk as soon as one is linked."""

    id = fields.IntField(primary_key=True)
    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "models.User", related_name="hci_operator", on_delete=fields.CASCADE
    )
    operator_id = fields.CharField(max_length=32)

    class Meta:
        table = "hci_operator"


class MediaLink(Model):
    """A file the bot serves under PUBLIC_URL for a gateway that fetches files by URL (ITD):
    an unguessable token, gone after `expires_at`."""

    id = fields.IntField(primary_key=True)
    token = fields.CharField(max_length=64, unique=True)
    data = fields.BinaryField()
    mime = fields.CharField(max_length=128)
    name = fields.CharField(max_length=255)
    expires_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "media_link"


class Lease(Model):
    """A replica's claim on a job that must run once across replicas (the link check, the one
    Telegram getUpdates consumer, a webhook update being handled): held until `expires_at`."""

    key = fields.CharField(max_length=128, primary_key=True)
    holder = fields.CharField(max_length=64)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "lease"


class Desk(Model):
    """A line shared by a team: its conversations go to the members, one member per contact.

    `kind` "line": the desk's state lives here, over any two-way line; "hci": HCI Whats Center
    keeps it (areas, operators, who owns a contact), mirrored here.
    """

    id = fields.IntField(primary_key=True)
    chat: fields.OneToOneRelation[WhatsAppChat] = fields.OneToOneField(
        "models.WhatsAppChat", related_name="desk", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=8, default="line")
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "desk"


class DeskMember(Model):
    """A Telegram user answering a desk (the line's owner is one too)."""

    id = fields.IntField(primary_key=True)
    desk: fields.ForeignKeyRelation[Desk] = fields.ForeignKeyField(
        "models.Desk", related_name="members", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="desks", on_delete=fields.CASCADE
    )
    signature = fields.BooleanField(default=False)  # "— NAME" under this member's answers
    hci_operator_id = fields.CharField(max_length=32, null=True)  # HCI desks: the operator
    joined_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "desk_member"
        unique_together = (("desk_id", "user_id"),)


class DeskArea(Model):
    """A department of a desk: contacts wait in its queue, and its members see them."""

    id = fields.IntField(primary_key=True)
    desk: fields.ForeignKeyRelation[Desk] = fields.ForeignKeyField(
        "models.Desk", related_name="areas", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=64)
    hci_area_id = fields.CharField(max_length=32, null=True)

    class Meta:
        table = "desk_area"
        unique_together = (("desk_id", "name"),)


class DeskMemberArea(Model):
    id = fields.IntField(primary_key=True)
    member: fields.ForeignKeyRelation[DeskMember] = fields.ForeignKeyField(
        "models.DeskMember", related_name="areas", on_delete=fields.CASCADE
    )
    area: fields.ForeignKeyRelation[DeskArea] = fields.ForeignKeyField(
        "models.DeskArea", related_name="members", on_delete=fields.CASCADE
    )

    class Meta:
        table = "desk_member_area"
        unique_together = (("member_id", "area_id"),)


class DeskInvite(Model):
    """A single-use link to join a desk (`t.me/<bot>?start=desk-<token>`), valid 24 h."""

    id = fields.IntField(primary_key=True)
    desk: fields.ForeignKeyRelation[Desk] = fields.ForeignKeyField(
        "models.Desk", related_name="invites", on_delete=fields.CASCADE
    )
    token = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    used_by = fields.BigIntField(null=True)

    class Meta:
        table = "desk_invite"


class DeskContact(Model):
    """One customer of a desk and the member answering them (None: waiting in the queue).

    Taken by a conditional update (owner is None → a member): two members pressing Take at the
    same moment, on any replicas, give exactly one owner.
    """

    id = fields.IntField(primary_key=True)
    desk: fields.ForeignKeyRelation[Desk] = fields.ForeignKeyField(
        "models.Desk", related_name="contacts", on_delete=fields.CASCADE
    )
    contact = fields.CharField(max_length=64)  # digits, or a group id
    name = fields.CharField(max_length=128, null=True)
    area: fields.ForeignKeyNullableRelation[DeskArea] = fields.ForeignKeyField(
        "models.DeskArea", related_name="contacts", null=True, on_delete=fields.SET_NULL
    )
    owner: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="desk_contacts", null=True, on_delete=fields.SET_NULL
    )
    # HCI desks: a Take decided here whose HCI call may not have happened yet (after a crash the
    # contact's operatorId in HCI is checked before calling again).
    hci_pending = fields.BooleanField(default=False)
    # HCI desks: the operatorId HCI showed last. Only a change of it is mirrored here, so a Close
    # (ours alone: the seed has no call for it) holds while HCI still names the operator.
    hci_operator = fields.CharField(max_length=32, null=True)
    # While waiting: whether it is in the queue, its cards going out (set before them, so that
    # Telegram trouble never hides a waiting customer). A new waiting spell starts unannounced.
    announced = fields.BooleanField(default=False)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "desk_contact"
        unique_together = (("desk_id", "contact"),)


class DeskCard(Model):
    """A Telegram message about a desk contact, shown to one member: a queue card (with Take)
    or a message forwarded to the contact's owner (with Transfer and Close)."""

    id = fields.IntField(primary_key=True)
    contact: fields.ForeignKeyRelation[DeskContact] = fields.ForeignKeyField(
        "models.DeskContact", related_name="cards", on_delete=fields.CASCADE
    )
    incoming: fields.ForeignKeyNullableRelation[IncomingMessage] = fields.ForeignKeyField(
        "models.IncomingMessage", related_name="cards", null=True, on_delete=fields.CASCADE
    )
    user_id = fields.BigIntField()
    telegram_message_id = fields.BigIntField()
    queued = fields.BooleanField(default=True)  # shown while the contact waited
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "desk_card"
        unique_together = (("incoming_id", "user_id"),)
        indexes = (("user_id", "telegram_message_id"),)


class ConnectTicket(Model):
    """A /connect attempt from the moment it was accepted: its place in the connect queue (first
    come, first served: by id) until its turn comes, then the record that counts it against
    CONNECTS_PER_HOUR. The whole queue lives here, so it survives restarts and replicas share it
    (bot.services.admission)."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="connect_tickets", on_delete=fields.CASCADE
    )
    ui_chat_id = fields.BigIntField()  # where the person pressed /connect
    gateway = fields.CharField(max_length=32)
    state = fields.CharEnumField(TicketState, max_length=16, default=TicketState.WAITING)
    # The replica that accepted it (a lease holder): when its turn comes, that replica runs it,
    # so the attempts spread over the replicas as the /connect did.
    entered_by = fields.CharField(max_length=64, null=True)
    # The photo that shows the place in line and later becomes the QR (None: not shown), the
    # place it shows and when it was last sent or edited (edits are spaced out).
    ui_message_id = fields.BigIntField(null=True)
    told_place = fields.IntField(null=True)
    told_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    admitted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "connect_ticket"
        # The line in order; one person's attempts of the last hour.
        indexes = (("state", "id"), ("user_id", "created_at"))


class AdmissionClock(Model):
    """When the connect queue may admit its next attempt (one row, id 1). A replica takes
    admission slots with a conditional update on `turns`, so each slot goes to one of them."""

    id = fields.IntField(primary_key=True, generated=False)
    next_at = fields.DatetimeField()  # the next slot; slots are 1/rate apart
    turns = fields.BigIntField(default=0)  # attempts admitted so far (the update's condition)

    class Meta:
        table = "admission_clock"
