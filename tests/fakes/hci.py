"""An offline emulator of the HCI Whats Center API, for tests.

`FakeHci` is a real aiohttp server on 127.0.0.1 (see `server.py`) that behaves the way seed 004
("Documentação API HCI Whats Center") and `/work/shared/api/gateways.md` part D describe the
service: a help desk above one shared WhatsApp line. A manager (the line: `number` and
`controllerPort`) has contacts (`id` = the customer's number, `area`, `operatorId`, `protocol`,
`sa`); the controller has areas and operators; every contact has one chat of messages. `url` is the
root the bot appends `api/…` to (HCI_API_URL).

A conversation, as the bot sees it::

    customer_writes() ──▶ contact waiting in its area (operatorId "0") + a message in its chat
          │ PUT api/user/contact/operator/my (Take)     PUT api/user/contact/operator (transfer)
          ▼                                             │
    contact.operatorId = the operator ◀─────────────────┘
          │ PUT api/user/contact/area (transfer to an area) ──▶ waiting again, in the new area
          ▼
    POST api/chat/message/send/operator[/file]/:controllerPort ──▶ `sent` + a message in the chat

Routes (the seed's, WhatsApp side): `GET api/user/`, `POST api/user/ {number}`,
`POST api/user/facebook {facebookId}`, `POST api/user/save`, `POST api/user/save/facebook`;
`POST api/user/contact/get|area|operator|save`, `PUT api/user/contact/area`,
`PUT api/user/contact/operator[/my]`, `DELETE api/user/contact/`; `POST api/chat/new`,
`POST api/chat/message`, `PUT api/chat/operator`, `DELETE api/chat/`; `POST api/chat/message/send`,
`POST api/chat/message/send/operator[/file]/:controllerPort`; `GET api/area/:controllerPort`,
`POST api/area/operator/:controllerPort`. Every success is `{"success":true,"data":…}`.

Hypotheses ([H]) chosen where the seed has no evidence:

- Auth (the seed shows none): `Authorization: Bearer <token>`; with `auth_header` set to another
  name, that header carries the bare token (and only it counts). Missing or wrong: 401
  `{"success":false,"data":"Unauthorized"}`, before routing. Only `GET <root>/files/<id>` (media
  links) is public.
- Routing like Express's defaults: paths match case-insensitively, one trailing slash is ignored
  (`api/user` = `api/user/`), `//` is not collapsed. An unknown path or verb: Express's 404 HTML
  page `Cannot <VERB> <path>`. A body that is not valid JSON under `application/json`: Express's
  400 HTML page (`Bad Request`), after auth. JSON and form bodies are read; numbers and strings
  are equal (`"number": 5511…` = `"number": "5511…"`).
- Errors of the API itself are `{"success":false,"data":"<English sentence>"}`, with a status per
  `error_style`: `"http"` (default) answers a missing field 400 (`"<field> is required"`), an
  unknown manager, contact, area, operator, chat or controller 404 (`"User not found"`, `"Contact
  not found"`, `"Area not found"`, `"Operator not found"`, `"Chat not found"`, `"Controller not
  found"`), a conflict 409; `"body"` answers all of them 200. `refuse_next` makes any route answer
  `{"success":false,"data":…}` once (200 by default).
- JSON types follow the seed's examples: the manager's `number`, the contact's `id`, a chat's
  `contactId`/`contactNumber` and a customer message's `from` are JSON numbers (`numbers_as="int"`;
  `"string"` makes them strings); ids of areas and operators are numeric strings (areas "1", "2",
  …; operators "101", "102", …). A waiting contact's `operatorId` is `waiting_operator` ("0" by
  default; "" or 0 also work); a chat nobody has shows `operatorId: 0` (the seed's chat/new).
- Areas are `{idarea, name}` and operators `{operatorId, name}`; an operator may be in several
  areas; a contact's `area` holds an `idarea`. Unknown `idarea` or `controllerPort`: 404.
- `contact/area` lists every contact of the area (waiting or not) in creation order;
  `contact/operator` lists the operator's contacts plus the waiting ones of `area`.
- Take (`…/operator/my`) and transfer (`…/operator`) need a known operator of the manager's
  controller and a known contact; both set the contact's and its chat's `operatorId` and keep the
  area. Take overwrites another operator's claim unless `take_only_waiting` (then 409 `"Contact
  already has an operator"`). Moving a contact to another area puts it back in that area's queue
  (`operatorId` waiting) unless `area_change_keeps_operator`. `PUT api/chat/operator` changes only
  the chat's `operatorId`.
- `contact/save` creates a waiting contact (`sa` -100, a generated `BR…` protocol when none is
  given) or updates an existing one. `DELETE api/user/contact/` leaves the chat; `DELETE api/chat/`
  leaves the contact, and the customer's next message starts a new chat.
- Chats are keyed by the contact's number alone (the chat routes name no manager). `chat/new` for
  an existing chat returns it. `chat/message` answers the messages oldest first and does not check
  `operatorId` (it is recorded). `chat/new` answers `contactId`, `chat/operator` `contactNumber`,
  as the seed shows.
- Messages: `{id, content, type, from, status, [url], createdAt}`: `id` a 24-hex string (omitted
  when `message_ids` is False: the bot must then go by position), `status` always "wait",
  `createdAt` ISO 8601 UTC with milliseconds (JavaScript's `Date.toJSON`). Media messages carry
  `content` "Arquivo em anexo" (the seed's), or the customer's caption, and a `url` the fake serves
  at `<url>/files/<id>` without auth.
- Operator text send: `content` must be strict base64 of UTF-8 text (else 400 `"content is not
  base64"`); the chat stores the decoded text; `content2` is only recorded; the contact must be
  the controller's and `operatorId` one of its operators. Ownership is not checked. File send:
  `base64` must be `data:<type>/<subtype>[;…];base64,<payload>` (else 400 `"base64 is not a data
  URI"`), `type` one of image, pdf, audio, video (else 400 `"Invalid type"`); `from` is the
  operator. `POST api/chat/message/send` (WhatsApp variants only) records what it got, unchecked.
- Not emulated: the Facebook contact, chat, send and `sa` routes, and `POST api/socket` (Express
  404). Any exception in a handler becomes a 500 with a plain-text body.

Faults (`fail_next`, `delay_next`, `drop_next`, `malformed_next`, `refuse_next`) match a substring
of `"<VERB> /<path under the root, no trailing slash>$"`, case-insensitively: `"contact/area"` hits
both the poll and the transfer, `"PUT /api/user/contact/area"` only the transfer, and
`"PUT /api/user/contact/operator$"` the transfer to an operator but not Take. A delayed request is
applied when its delay is over, even if its client has gone meanwhile (aiohttp does not cancel
handlers): a test can kill the bot while Take is in flight and see the Take land; `drop_next`
is the Take that never landed.

Thread-safety: all state lives on the server's event loop and handlers never await while changing
it; knobs called from another thread run there through `BackgroundServer.call`. The plain
attributes (`error_style`, `message_ids`, `numbers_as`, `waiting_operator`, `take_only_waiting`,
`area_change_keeps_operator`) can be set from anywhere.
"""

from __future__ import annotations

import base64
import copy
import html
import itertools
import json
import random
import re
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from tests.fakes import emulator

HCI_TOKEN = "hci-test-token-5f2b9c41a7e3"
MANAGER_NUMBER = "5511999990000"
CONTROLLER_PORT = "8080"
MESSAGE_TYPES = ("text", "image", "pdf", "audio", "video")
FILE_TYPES = MESSAGE_TYPES[1:]
ATTACHMENT = "Arquivo em anexo"  # the seed's `content` of a media message
UNAUTHORIZED = {"success": False, "data": "Unauthorized"}
TAKEN = "Contact Send to the operator"  # the reply of Take and of a transfer to an operator
AREA_CHANGED = "Contact changed Area"
TRUNCATED_JSON = b'{"success":true,"data":[{"id":"65a1'

ErrorStyle = Literal["http", "body"]
NumbersAs = Literal["int", "string"]
SentRoute = Literal["text", "file", "send"]
RoutingAction = Literal["take", "transfer", "area", "chat_operator"]

# (verb, path under the root, method name); ":port" is the controllerPort.
ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", "api/user", "_list_managers"),
    ("POST", "api/user", "_find_manager"),
    ("POST", "api/user/facebook", "_find_manager_by_page"),
    ("POST", "api/user/save", "_save_manager"),
    ("POST", "api/user/save/facebook", "_save_facebook"),
    ("POST", "api/user/contact/get", "_all_contacts"),
    ("POST", "api/user/contact/area", "_contacts_of_area"),
    ("PUT", "api/user/contact/area", "_move_to_area"),
    ("POST", "api/user/contact/operator", "_contacts_of_operator"),
    ("PUT", "api/user/contact/operator", "_transfer"),
    ("PUT", "api/user/contact/operator/my", "_take"),
    ("POST", "api/user/contact/save", "_save_contact"),
    ("DELETE", "api/user/contact", "_delete_contact"),
    ("POST", "api/chat/new", "_new_chat"),
    ("POST", "api/chat/message", "_chat_messages"),
    ("PUT", "api/chat/operator", "_chat_operator"),
    ("DELETE", "api/chat", "_delete_chat"),
    ("POST", "api/chat/message/send", "_send"),
    ("POST", "api/chat/message/send/operator/:port", "_send_operator_text"),
    ("POST", "api/chat/message/send/operator/file/:port", "_send_operator_file"),
    ("GET", "api/area/:port", "_list_areas"),
    ("POST", "api/area/operator/:port", "_operators_of_area"),
)
_COMPILED = [
    (verb, re.compile(pattern.replace(":port", "(?P<port>[^/]+)"), re.IGNORECASE), name)
    for verb, pattern, name in ROUTES
]


@dataclass
class HciMessage:
    """One message of a chat. `chat()` hands out copies."""

    id: str  # 24 hex digits; served unless `message_ids` is False
    content: str  # the text (decoded), or "Arquivo em anexo" / a caption for media
    type: str  # text | image | pdf | audio | video
    sender: str  # `from`: the contact's number, an operator id, or what a plain send gave
    sender_is_number: bool  # `from` is a phone number (a JSON number under numbers_as="int")
    created_at: float  # time.time()
    status: str = "wait"
    url: str = ""  # media only


@dataclass
class HciChat:
    contact_number: str
    operator_id: str = ""  # "" while nobody has the chat (JSON: 0)
    messages: list[HciMessage] = field(default_factory=list)


@dataclass
class HciContact:
    number: str  # `id`
    name: str
    area: str  # an idarea
    protocol: str
    operator_id: str = ""  # "" while waiting in the area's queue (JSON: `waiting_operator`)
    photo: str = ""
    sa: int = -100  # the seed's value for a new WhatsApp contact

    @property
    def waiting(self) -> bool:
        return not self.operator_id


@dataclass
class HciManager:
    """A line ("main user"), with its contacts keyed by number."""

    number: str
    controller_port: str
    name: str = "HCI Whats Center"
    email: str = ""
    facebook_id: str = ""
    facebook_token: str = ""
    contacts: dict[str, HciContact] = field(default_factory=dict)


@dataclass(frozen=True)
class HciArea:
    idarea: str
    name: str
    controller_port: str


@dataclass(frozen=True)
class HciOperator:
    operator_id: str
    name: str
    areas: tuple[str, ...]  # idareas
    controller_port: str


@dataclass(frozen=True)
class HciMedia:
    """What a customer attaches in `customer_writes`: served by the fake, or an outside `url`."""

    type: str  # image | pdf | audio | video
    data: bytes = b""
    mime: str = "application/octet-stream"
    url: str = ""  # when set, the message links here and the fake serves nothing


@dataclass(frozen=True)
class HciSent:
    """One accepted send: the operator routes (`text`, `file`) or `api/chat/message/send`."""

    route: SentRoute
    controller_port: str  # "" for `send`
    operator_id: str  # `operatorId` (text), `from` (file), `operatorId` or `from` (send)
    contact_number: str
    text: str  # text: the decoded `content`; send: `content` as given
    content2: str  # text only
    type: str  # text | image | pdf | audio | video
    mime: str  # file only
    data: bytes  # file only: the decoded payload
    url: str  # send with a media `url`
    message_id: str
    fields: dict[str, str]  # the whole body, as text fields


@dataclass(frozen=True)
class HciRouting:
    """One change of a contact's or chat's owner or area made through the API."""

    action: RoutingAction
    contact_number: str
    target: str  # the operator id, or the idarea for "area"
    previous_operator: str  # "" when it was waiting
    at: float  # monotonic


@dataclass(frozen=True)
class RequestRecord(emulator.RequestRecord):
    fields: dict[str, str] = field(default_factory=dict)  # the body, as text fields
    body: Any = None  # the parsed JSON body, types kept (was `number` a number or a string?)


class _Failure(Exception):
    """An API error: `{"success": false, "data": <data>}` with `status` (see `error_style`)."""

    status = 400

    def __init__(self, data: str) -> None:
        super().__init__(data)
        self.data = data


class _BadRequest(_Failure):
    status = 400


class _NotFound(_Failure):
    status = 404


class _Conflict(_Failure):
    status = 409


def _compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_compact)


def _express_page(status: int, text: str) -> web.Response:
    """Express's finalhandler page (unknown route: 404; body-parser error: 400)."""
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n'
        f"</head>\n<body>\n<pre>{html.escape(text)}</pre>\n</body>\n</html>\n"
    )
    return web.Response(status=status, text=page, content_type="text/html")


def _need(fields: dict[str, str], key: str) -> str:
    value = fields.get(key, "")
    if not value.strip():
        raise _BadRequest(f"{key} is required")
    return value.strip()


def _iso(wall: float) -> str:
    """JavaScript's `Date.toJSON`: `2024-05-01T12:00:00.000Z`."""
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _data_uri(uri: str) -> tuple[str, bytes]:
    """`data:<type>/<subtype>[;params];base64,<payload>` → (mime, bytes)."""
    head, comma, payload = uri.strip().partition(",")
    params = head.removeprefix("data:").split(";")
    if not comma or not head.startswith("data:") or params[-1] != "base64" or "/" not in params[0]:
        raise _BadRequest("base64 is not a data URI")
    try:
        return params[0], base64.b64decode(payload, validate=True)
    except ValueError:
        raise _BadRequest("base64 is not a data URI") from None


def _find_route(method: str, route_path: str | None) -> tuple[str, str] | None:
    """(handler name, controllerPort or "") of the route that answers, or None (Express's 404)."""
    for verb, pattern, name in _COMPILED:
        match = pattern.fullmatch(route_path or "") if method == verb else None
        if match is not None:
            return name, match.groupdict().get("port") or ""
    return None


def _parse_body(request: web.Request, raw: bytes) -> tuple[Any, bool]:
    """(body, malformed): JSON or a form, as Express's body parsers read them."""
    if not raw.strip():
        return None, False
    if request.content_type == "application/json":
        try:
            return json.loads(raw), False
        except ValueError:
            return None, True
    if request.content_type == "application/x-www-form-urlencoded":
        return dict(urllib.parse.parse_qsl(raw.decode("utf-8", "replace"))), False
    return None, False


@dataclass(frozen=True)
class TwoAreas:
    """Two areas with one operator each, and Carla in both (ids as the fake gave them)."""

    sales: str
    support: str
    ana: str  # sales
    bruno: str  # support
    carla: str  # both


class FakeHci(emulator.Emulator[RequestRecord]):
    """The HCI Whats Center emulator; `url` is the root the bot appends `api/…` to."""

    malformed_body = TRUNCATED_JSON
    fault_paths_ignore_case = True  # Express matches routes case-insensitively

    def __init__(
        self,
        *,
        token: str = HCI_TOKEN,
        auth_header: str = "Authorization",
        manager_number: str = MANAGER_NUMBER,
        controller_port: str = CONTROLLER_PORT,
        manager_name: str = "HCI Whats Center",
        base_path: str = "",
        error_style: ErrorStyle = "http",
        message_ids: bool = True,
        numbers_as: NumbersAs = "int",
        waiting_operator: str | int = "0",
        take_only_waiting: bool = False,
        area_change_keeps_operator: bool = False,
        seed: int | None = None,
    ) -> None:
        base_path = base_path.rstrip("/")
        super().__init__(RequestRecord, url_path=base_path)
        self.token = token
        self.auth_header = auth_header
        self.manager_number = manager_number
        self.controller_port = controller_port
        self.base_path = base_path
        self.error_style: ErrorStyle = error_style
        self.message_ids = message_ids
        self.numbers_as: NumbersAs = numbers_as
        self.waiting_operator = waiting_operator
        self.take_only_waiting = take_only_waiting
        self.area_change_keeps_operator = area_change_keeps_operator
        self._rng = random.Random(seed)
        self._managers: dict[str, HciManager] = {
            manager_number: HciManager(manager_number, controller_port, name=manager_name)
        }
        self._areas: dict[str, HciArea] = {}
        self._operators: dict[str, HciOperator] = {}
        self._chats: dict[str, HciChat] = {}
        self._files: dict[str, tuple[str, bytes]] = {}  # message id → (mime, bytes)
        self._sent: list[HciSent] = []
        self._routing: list[HciRouting] = []
        self._area_seq = itertools.count(1)
        self._operator_seq = itertools.count(101)
        self._message_seq = itertools.count(1)
        self._fault_key = ""  # "<VERB> /<route path>$" of the request being taken in

    # ------------------------------------------------------------------ knobs

    def add_manager(
        self, number: str, *, controller_port: str, name: str = "HCI Whats Center"
    ) -> None:
        """Another line (as `POST api/user/save` would make it)."""

        def apply() -> None:
            assert number not in self._managers, f"the fake already has manager {number}"
            self._managers[number] = HciManager(number, controller_port, name=name)

        self._on_loop(apply)

    def add_area(
        self, name: str, *, controller_port: str | None = None, idarea: str | None = None
    ) -> str:
        """A new area (department, queue) of the controller; returns its idarea."""

        def apply() -> str:
            area_id = idarea or _next_free(self._area_seq, self._areas)
            assert area_id not in self._areas, f"the fake already has area {area_id}"
            port = controller_port or self.controller_port
            self._areas[area_id] = HciArea(area_id, name, port)
            return area_id

        return self._on_loop(apply)

    def add_operator(
        self, name: str, area: str | Sequence[str], *, operator_id: str | None = None
    ) -> str:
        """A new operator of one area (an idarea) or several; returns its operatorId."""
        area_ids = (area,) if isinstance(area, str) else tuple(area)

        def apply() -> str:
            areas = [self._known_area(a) for a in area_ids]
            assert areas, "an operator needs an area"
            new_id = operator_id or _next_free(self._operator_seq, self._operators)
            assert new_id not in self._operators, f"the fake already has operator {new_id}"
            self._operators[new_id] = HciOperator(new_id, name, area_ids, areas[0].controller_port)
            return new_id

        return self._on_loop(apply)

    def two_areas(self) -> TwoAreas:
        """The usual team: Vendas with Ana, Suporte with Bruno, and Carla in both."""
        sales, support = self.add_area("Vendas"), self.add_area("Suporte")
        return TwoAreas(
            sales=sales,
            support=support,
            ana=self.add_operator("Ana", sales),
            bruno=self.add_operator("Bruno", support),
            carla=self.add_operator("Carla", [sales, support]),
        )

    def customer_writes(
        self,
        contact_number: str,
        text: str = "",
        *,
        name: str = "Maria",
        area: str | None = None,
        media: HciMedia | None = None,
        manager: str | None = None,
    ) -> str:
        """The customer writes to the line; returns the message id (served unless `message_ids`
        is False). A new contact is created waiting in `area` (default: the controller's first
        area); an existing one keeps its area and operator. `text` is a media message's caption.
        """

        def apply() -> str:
            owner = self._known_manager(manager)
            contact = owner.contacts.get(contact_number)
            if contact is None:
                area_id = area if area is not None else self._first_area(owner)
                self._known_area(area_id)
                contact = self._add_contact(owner, contact_number, name, area_id)
            if media is None:
                message = self._message(text, "text", contact_number, sender_is_number=True)
            else:
                assert media.type in FILE_TYPES, f"media type {media.type!r} not in {FILE_TYPES}"
                message = self._message(
                    text or ATTACHMENT, media.type, contact_number, sender_is_number=True
                )
                message.url = media.url or self._serve(message.id, media.mime, media.data)
            self._chat_for(contact).messages.append(message)
            return message.id

        return self._on_loop(apply)

    def operator_writes(self, contact_number: str, text: str, *, operator_id: str) -> str:
        """An operator answers from HCI's own panel (not through the API: not in `sent`)."""

        def apply() -> str:
            chat = self._chats.get(contact_number)
            assert chat is not None, f"the fake has no chat with {contact_number}"
            message = self._message(text, "text", operator_id, sender_is_number=False)
            chat.messages.append(message)
            return message.id

        return self._on_loop(apply)

    def set_operator(
        self, contact_number: str, operator_id: str, *, manager: str | None = None
    ) -> None:
        """An assignment made elsewhere (HCI's panel); "" or "0" puts the contact back in the
        queue. Sets the contact's and its chat's operatorId; not in `routing`."""

        def apply() -> None:
            contact = self._known_contact(contact_number, manager)
            self._assign(contact, "" if operator_id in ("", "0") else operator_id)

        self._on_loop(apply)

    def refuse_next(
        self, path_contains: str, data: str = "Refused", *, times: int = 1, status: int = 200
    ) -> None:
        """Answer the next matching requests `{"success": false, "data": data}` (see the module
        docstring for matching); the request is recorded but changes nothing."""
        body = _compact({"success": False, "data": data})
        self._add_fail(path_contains, status, body, "application/json; charset=utf-8", times)

    # ------------------------------------------------------------------ what happened

    def contact(self, number: str, *, manager: str | None = None) -> HciContact:
        return self._on_loop(lambda: copy.deepcopy(self._known_contact(number, manager)))

    def contacts(self, *, manager: str | None = None) -> list[HciContact]:
        return self._on_loop(
            lambda: copy.deepcopy(list(self._known_manager(manager).contacts.values()))
        )

    def has_contact(self, number: str, *, manager: str | None = None) -> bool:
        return self._on_loop(lambda: number in self._known_manager(manager).contacts)

    def chat(self, number: str) -> HciChat:
        def snap() -> HciChat:
            chat = self._chats.get(number)
            assert chat is not None, f"the fake has no chat with {number}"
            return copy.deepcopy(chat)

        return self._on_loop(snap)

    def has_chat(self, number: str) -> bool:
        return self._on_loop(lambda: number in self._chats)

    @property
    def sent(self) -> list[HciSent]:
        """Every accepted send, oldest first."""
        return self._on_loop(lambda: list(self._sent))

    @property
    def routing(self) -> list[HciRouting]:
        """Every Take, transfer and area or chat-operator change the API applied, oldest first."""
        return self._on_loop(lambda: list(self._routing))

    @property
    def areas(self) -> list[HciArea]:
        return self._on_loop(lambda: list(self._areas.values()))

    @property
    def operators(self) -> list[HciOperator]:
        return self._on_loop(lambda: list(self._operators.values()))

    def requests_with(self, method: str, path_contains: str) -> list[RequestRecord]:
        """The request log for one verb (`api/user/contact/area` is a poll and a transfer)."""
        return [r for r in self.requests_to(path_contains) if r.method == method.upper()]

    # ------------------------------------------------------------------ state helpers

    def _known_manager(self, number: str | None) -> HciManager:
        manager = self._managers.get(number or self.manager_number)
        assert manager is not None, f"the fake has no manager {number}"
        return manager

    def _known_area(self, idarea: str) -> HciArea:
        area = self._areas.get(idarea)
        assert area is not None, f"the fake has no area {idarea!r}"
        return area

    def _known_contact(self, number: str, manager: str | None) -> HciContact:
        contact = self._known_manager(manager).contacts.get(number)
        assert contact is not None, f"the fake has no contact {number}"
        return contact

    def _first_area(self, manager: HciManager) -> str:
        for area in self._areas.values():
            if area.controller_port == manager.controller_port:
                return area.idarea
        raise AssertionError(f"controller {manager.controller_port} has no area: add_area first")

    def _add_contact(
        self, manager: HciManager, number: str, name: str, area: str, protocol: str = ""
    ) -> HciContact:
        protocol = protocol or "BR" + "".join(self._rng.choices("0123456789abcdef", k=14))
        contact = HciContact(number=number, name=name, area=area, protocol=protocol)
        manager.contacts[number] = contact
        return contact

    def _chat_for(self, contact: HciContact) -> HciChat:
        chat = self._chats.get(contact.number)
        if chat is None:
            chat = self._chats[contact.number] = HciChat(contact.number, contact.operator_id)
        return chat

    def _assign(self, contact: HciContact, operator_id: str) -> None:
        contact.operator_id = operator_id
        chat = self._chats.get(contact.number)
        if chat is not None:
            chat.operator_id = operator_id

    def _message(
        self, content: str, kind: str, sender: str, *, sender_is_number: bool
    ) -> HciMessage:
        message_id = f"65a1f0c2{next(self._message_seq):016x}"
        return HciMessage(message_id, content, kind, sender, sender_is_number, time.time())

    def _serve(self, message_id: str, mime: str, data: bytes) -> str:
        self._files[message_id] = (mime, data)
        return f"{self.url}/files/{message_id}"

    def _record_routing(
        self, action: RoutingAction, number: str, target: str, previous: str
    ) -> None:
        self._routing.append(HciRouting(action, number, target, previous, time.monotonic()))

    # ------------------------------------------------------------------ lookups that answer 404

    def _manager(self, number: str) -> HciManager:
        manager = self._managers.get(number)
        if manager is None:
            raise _NotFound("User not found")
        return manager

    def _manager_at(self, port: str) -> HciManager:
        for manager in self._managers.values():
            if manager.controller_port == port:
                return manager
        raise _NotFound("Controller not found")

    def _contact(self, manager: HciManager, number: str) -> HciContact:
        contact = manager.contacts.get(number)
        if contact is None:
            raise _NotFound("Contact not found")
        return contact

    def _area(self, port: str, idarea: str) -> HciArea:
        area = self._areas.get(idarea)
        if area is None or area.controller_port != port:
            raise _NotFound("Area not found")
        return area

    def _operator(self, port: str | None, operator_id: str) -> HciOperator:
        operator = self._operators.get(operator_id)
        if operator is None or port not in (None, operator.controller_port):
            raise _NotFound("Operator not found")
        return operator

    def _chat(self, number: str) -> HciChat:
        chat = self._chats.get(number)
        if chat is None:
            raise _NotFound("Chat not found")
        return chat

    # ------------------------------------------------------------------ JSON shapes

    def _num(self, digits: str) -> int | str:
        return int(digits) if self.numbers_as == "int" and digits.isdigit() else digits

    def _manager_json(self, manager: HciManager) -> dict[str, Any]:
        return {
            "name": manager.name,
            "email": manager.email,
            "number": self._num(manager.number),
            "controllerPort": manager.controller_port,
            "facebookId": manager.facebook_id,
            "facebookToken": manager.facebook_token,
            "contacts": [self._contact_json(c) for c in manager.contacts.values()],
        }

    def _contact_json(self, contact: HciContact) -> dict[str, Any]:
        return {
            "id": self._num(contact.number),
            "name": contact.name,
            "photo": contact.photo,
            "area": contact.area,
            "operatorId": contact.operator_id or self.waiting_operator,
            "protocol": contact.protocol,
            "sa": contact.sa,
        }

    def _message_json(self, message: HciMessage) -> dict[str, Any]:
        data: dict[str, Any] = {"id": message.id} if self.message_ids else {}
        data["content"] = message.content
        data["type"] = message.type
        data["from"] = self._num(message.sender) if message.sender_is_number else message.sender
        data["status"] = message.status
        if message.url:
            data["url"] = message.url
        data["createdAt"] = _iso(message.created_at)
        return data

    def _chat_json(self, chat: HciChat, number_key: str) -> dict[str, Any]:
        return {
            number_key: self._num(chat.contact_number),
            "operatorId": chat.operator_id or 0,
            "messages": [self._message_json(m) for m in chat.messages],
        }

    # ------------------------------------------------------------------ HTTP

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body, malformed = _parse_body(request, raw)
        fields = emulator.text_fields(body) if isinstance(body, dict) else {}
        route_path = self._route_path(request.path)
        shown = f"/{route_path}" if route_path is not None else request.path
        # `_intake` reaches `_take_fault` before its first await, so no other request can change
        # this in between; faults then see the verb (one path is both a poll and a transfer).
        self._fault_key = f"{request.method} {shown}$"
        faulty = await self._intake(request, fields=fields, body=body)
        if faulty is not None:
            return faulty
        return self._dispatch(request, route_path, fields, malformed)

    def _take_fault(self, path: str) -> emulator.Fault | None:
        return super()._take_fault(self._fault_key)

    def _route_path(self, path: str) -> str | None:
        """The path under the root, without one trailing slash; None when outside the root."""
        if not path.startswith(self.base_path + "/"):
            return None
        return path[len(self.base_path) + 1 :].removesuffix("/")

    def _authorised(self, request: web.Request) -> bool:
        value = request.headers.get(self.auth_header, "").strip()
        if self.auth_header.lower() == "authorization":
            scheme, _, credential = value.partition(" ")
            return scheme.lower() == "bearer" and credential.strip() == self.token
        return value == self.token

    def _dispatch(
        self,
        request: web.Request,
        route_path: str | None,
        fields: dict[str, str],
        malformed: bool,
    ) -> web.Response:
        if route_path is not None and request.method == "GET":
            head, _, file_id = route_path.partition("/")
            if head == "files" and file_id in self._files:
                mime, data = self._files[file_id]
                return web.Response(body=data, headers={"Content-Type": mime})
        if not self._authorised(request):
            return _json(UNAUTHORIZED, 401)
        if malformed:
            return _express_page(400, "Bad Request")
        route = _find_route(request.method, route_path)
        if route is None:
            return _express_page(404, f"Cannot {request.method} {request.path}")
        name, port = route
        try:
            data = getattr(self, name)(fields, port)  # looked up per call: tests may patch one
        except _Failure as failure:
            status = failure.status if self.error_style == "http" else 200
            return _json({"success": False, "data": failure.data}, status)
        return _json({"success": True, "data": data})

    # ------------------------------------------------------------------ managers

    def _list_managers(self, fields: dict[str, str], port: str) -> Any:
        return [self._manager_json(m) for m in self._managers.values()]

    def _find_manager(self, fields: dict[str, str], port: str) -> Any:
        return self._manager_json(self._manager(_need(fields, "number")))

    def _find_manager_by_page(self, fields: dict[str, str], port: str) -> Any:
        return self._manager_json(self._manager_of_page(_need(fields, "facebookId")))

    def _manager_of_page(self, facebook_id: str) -> HciManager:
        for manager in self._managers.values():
            if manager.facebook_id == facebook_id:
                return manager
        raise _NotFound("User not found")

    def _save_manager(self, fields: dict[str, str], port: str) -> Any:
        number, controller_port = _need(fields, "number"), _need(fields, "controllerPort")
        if number in self._managers:
            raise _Conflict("User already exists")
        manager = self._managers[number] = HciManager(
            number,
            controller_port,
            name=fields.get("name", ""),
            email=fields.get("email", ""),
            facebook_id=fields.get("facebookId", ""),
            facebook_token=fields.get("facebookToken", ""),
        )
        return self._manager_json(manager)

    def _save_facebook(self, fields: dict[str, str], port: str) -> Any:
        """One path, two operations: a page for a number's manager (with `facebookToken`), or a
        number for a page's manager (the seed spells that body's key `mumber`)."""
        facebook_id = _need(fields, "facebookId")
        if fields.get("facebookToken", "").strip():
            manager = self._manager(_need(fields, "number"))
            manager.facebook_id, manager.facebook_token = facebook_id, fields["facebookToken"]
            return self._manager_json(manager)
        number = fields.get("mumber", "").strip() or _need(fields, "number")
        manager = self._manager_of_page(facebook_id)
        if number != manager.number:
            if number in self._managers:
                raise _Conflict("User already exists")
            del self._managers[manager.number]
            manager.number = number
            self._managers[number] = manager
        return self._manager_json(manager)

    # ------------------------------------------------------------------ contacts

    def _all_contacts(self, fields: dict[str, str], port: str) -> Any:
        manager = self._manager(_need(fields, "number"))
        return {"contacts": [self._contact_json(c) for c in manager.contacts.values()]}

    def _contacts_of_area(self, fields: dict[str, str], port: str) -> Any:
        manager = self._manager(_need(fields, "number"))
        area = self._area(manager.controller_port, _need(fields, "area"))
        return [self._contact_json(c) for c in manager.contacts.values() if c.area == area.idarea]

    def _contacts_of_operator(self, fields: dict[str, str], port: str) -> Any:
        manager = self._manager(_need(fields, "number"))
        operator_id, area = _need(fields, "operatorId"), fields.get("area", "").strip()
        listed = [
            self._contact_json(c)
            for c in manager.contacts.values()
            if c.operator_id == operator_id or (c.waiting and c.area == area)
        ]
        return {"contacts": listed}

    def _save_contact(self, fields: dict[str, str], port: str) -> Any:
        manager = self._manager(_need(fields, "number"))
        number = _need(fields, "contactNumber")
        area = self._area(manager.controller_port, _need(fields, "area")).idarea
        contact = manager.contacts.get(number)
        if contact is None:
            contact = self._add_contact(
                manager, number, fields.get("name", ""), area, fields.get("protocol", "").strip()
            )
        else:
            contact.area = area
            contact.name = fields.get("name") or contact.name
            contact.protocol = fields.get("protocol") or contact.protocol
        contact.photo = fields.get("photo", contact.photo)
        return self._contact_json(contact)

    def _move_to_area(self, fields: dict[str, str], port: str) -> Any:
        manager = self._manager(_need(fields, "number"))
        area = self._area(manager.controller_port, _need(fields, "area"))
        contact = self._contact(manager, _need(fields, "contactNumber"))
        previous = contact.operator_id
        contact.area = area.idarea
        if not self.area_change_keeps_operator:
            self._assign(contact, "")  # back in the queue, of the new area
        self._record_routing("area", contact.number, area.idarea, previous)
        return AREA_CHANGED

    def _delete_contact(self, fields: dict[str, str], port: str) -> Any:
        manager = self._manager(_need(fields, "number"))
        contact = self._contact(manager, _need(fields, "contactNumber"))
        del manager.contacts[contact.number]
        return "Contact deleted"

    # ------------------------------------------------------------------ routing

    def _take(self, fields: dict[str, str], port: str) -> Any:
        return self._route_to_operator(fields, "take")

    def _transfer(self, fields: dict[str, str], port: str) -> Any:
        return self._route_to_operator(fields, "transfer")

    def _route_to_operator(self, fields: dict[str, str], action: RoutingAction) -> Any:
        manager = self._manager(_need(fields, "number"))
        operator = self._operator(manager.controller_port, _need(fields, "operatorId"))
        contact = self._contact(manager, _need(fields, "contactId"))
        previous = contact.operator_id
        if (
            action == "take"
            and self.take_only_waiting
            and previous not in ("", operator.operator_id)
        ):
            raise _Conflict("Contact already has an operator")
        self._assign(contact, operator.operator_id)
        self._record_routing(action, contact.number, operator.operator_id, previous)
        return TAKEN

    # ------------------------------------------------------------------ chats

    def _new_chat(self, fields: dict[str, str], port: str) -> Any:
        number = _need(fields, "contactNumber")
        chat = self._chats.get(number)
        if chat is None:
            chat = self._chats[number] = HciChat(number)
        return self._chat_json(chat, "contactId")

    def _chat_messages(self, fields: dict[str, str], port: str) -> Any:
        chat = self._chat(_need(fields, "contactId"))
        return [self._message_json(m) for m in chat.messages]

    def _chat_operator(self, fields: dict[str, str], port: str) -> Any:
        chat = self._chat(_need(fields, "contactId"))
        operator = self._operator(None, _need(fields, "operatorId"))
        previous, chat.operator_id = chat.operator_id, operator.operator_id
        self._record_routing("chat_operator", chat.contact_number, operator.operator_id, previous)
        return self._chat_json(chat, "contactNumber")

    def _delete_chat(self, fields: dict[str, str], port: str) -> Any:
        chat = self._chat(_need(fields, "contactId"))
        del self._chats[chat.contact_number]
        return "Chat deleted"

    # ------------------------------------------------------------------ sending

    def _send_operator_text(self, fields: dict[str, str], port: str) -> Any:
        manager = self._manager_at(port)
        content = _need(fields, "content")
        operator = self._operator(port, _need(fields, "operatorId"))
        contact = self._contact(manager, _need(fields, "contactNumber"))
        try:
            text = base64.b64decode(content, validate=True).decode("utf-8")
        except ValueError:  # binascii.Error and UnicodeDecodeError both are
            raise _BadRequest("content is not base64") from None
        message = self._message(text, "text", operator.operator_id, sender_is_number=False)
        self._chat_for(contact).messages.append(message)
        self._sent.append(
            HciSent(
                route="text",
                controller_port=port,
                operator_id=operator.operator_id,
                contact_number=contact.number,
                text=text,
                content2=fields.get("content2", ""),
                type="text",
                mime="",
                data=b"",
                url="",
                message_id=message.id,
                fields=dict(fields),
            )
        )
        return self._message_json(message)

    def _send_operator_file(self, fields: dict[str, str], port: str) -> Any:
        manager = self._manager_at(port)
        contact = self._contact(manager, _need(fields, "contactNumber"))
        operator = self._operator(port, _need(fields, "from"))
        mime, data = _data_uri(_need(fields, "base64"))
        kind = _need(fields, "type")
        if kind not in FILE_TYPES:
            raise _BadRequest("Invalid type")
        message = self._message(ATTACHMENT, kind, operator.operator_id, sender_is_number=False)
        message.url = self._serve(message.id, mime, data)
        self._chat_for(contact).messages.append(message)
        self._sent.append(
            HciSent(
                route="file",
                controller_port=port,
                operator_id=operator.operator_id,
                contact_number=contact.number,
                text="",
                content2="",
                type=kind,
                mime=mime,
                data=data,
                url=message.url,
                message_id=message.id,
                fields=dict(fields),
            )
        )
        return self._message_json(message)

    def _send(self, fields: dict[str, str], port: str) -> Any:
        """`api/chat/message/send`, WhatsApp text `{contactNumber, content, type, from,
        managerNumber}` or media `{operatorId, contactNumber, url, type, from, managerNumber}`."""
        if fields.get("facebookId", "").strip():
            raise _BadRequest("Facebook is not emulated")
        self._manager(_need(fields, "managerNumber"))
        number, sender = _need(fields, "contactNumber"), fields.get("from", "").strip()
        url = fields.get("url", "").strip()
        if url:
            kind = _need(fields, "type")
            if kind not in FILE_TYPES:
                raise _BadRequest("Invalid type")
            message = self._message(ATTACHMENT, kind, sender, sender_is_number=sender.isdigit())
            message.url = url
        else:
            text = _need(fields, "content")
            message = self._message(text, "text", sender, sender_is_number=sender.isdigit())
        self._chats.setdefault(number, HciChat(number)).messages.append(message)
        self._sent.append(
            HciSent(
                route="send",
                controller_port="",
                operator_id=fields.get("operatorId", "") or sender,
                contact_number=number,
                text="" if url else message.content,
                content2="",
                type=message.type,
                mime="",
                data=b"",
                url=url,
                message_id=message.id,
                fields=dict(fields),
            )
        )
        return self._message_json(message)

    # ------------------------------------------------------------------ areas

    def _list_areas(self, fields: dict[str, str], port: str) -> Any:
        self._manager_at(port)
        return [
            {"idarea": a.idarea, "name": a.name}
            for a in self._areas.values()
            if a.controller_port == port
        ]

    def _operators_of_area(self, fields: dict[str, str], port: str) -> Any:
        self._manager_at(port)
        area = self._area(port, _need(fields, "idarea"))
        return [
            {"operatorId": o.operator_id, "name": o.name}
            for o in self._operators.values()
            if area.idarea in o.areas
        ]


def _next_free(counter: itertools.count[int], taken: dict[str, Any]) -> str:
    """The next id of `counter` that nobody chose by hand."""
    while True:
        candidate = str(next(counter))
        if candidate not in taken:
            return candidate
