"""Green-API driver (api/gateways.md, section A): the person brings their own instance.

Every call is `{apiUrl}/waInstance{idInstance}/{method}/{apiTokenInstance}`: the token sits in the
URL *path*, so it is registered with the log redactor before any request, and error texts are built
from the method name only (never from the URL). Each instance may live on its own host
(`https://7105.api.greenapi.com`), so the driver keeps one pooled `GatewayHttp` per host. This
module checks what the person typed (`parse_credentials`), builds the calls and runs them;
what Green answers, HTTP statuses included, is read in `greenapi_replies.py`.

Two-way (A.9): the line is polled. `receive` long-polls `receiveNotification` (one notification a
call, `receive_timeout` seconds at most) and `acknowledge` deletes it by its receiptId once the
caller has handled it; until then Green repeats the same head. `parse_notification`
(`greenapi_notifications.py`) turns one notification into events and never raises: a body of the
wrong shape gives no events and is still acknowledged, or it would block the queue for ever. Green
serves this queue only while the instance has no `webhookUrl`; `receive_problem` says so (the
person's settings are left alone). Files go out by `sendFileByUpload` on the instance's media host
(`media_url_for`), and come in through a `MediaFetcher` that trusts only the line's API and media
origins.
"""

from __future__ import annotations

import contextlib
import logging
import posixpath
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from bot.gateways.base import (
    Account,
    Delivery,
    Download,
    Enrolment,
    Gateway,
    GatewayError,
    InvalidRequestError,
    Line,
    LineState,
    LineStatus,
    NetworkError,
    NotReadyError,
    OutgoingFile,
    Received,
    Reception,
    SentMessage,
    UpstreamError,
    digits,
)
from bot.gateways.greenapi_notifications import GROUP_ID, parse_notification
from bot.gateways.greenapi_replies import (
    parse_delivery,
    parse_qr,
    parse_sent,
    parse_state,
    raise_for_status,
)
from bot.gateways.http import GatewayHttp, json_body, sent_body
from bot.gateways.media import MediaFetcher, Resolver, system_resolver
from bot.logs import secrets

log = logging.getLogger(__name__)

NAME = "Green-API"

_ID = re.compile(r"[0-9]{1,20}")
# Real tokens are 50 hex characters. Anything outside this set would change the URL path (a "/"),
# and very short values would not be masked by the log redactor (it ignores < 6 characters).
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,200}")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}$")
# Hosts of Green-API itself, where an instance's `api` label has a `media` twin (A.0).
_GREEN_DOMAINS = ("green-api.com", "greenapi.com")
MAX_RECEIVE_TIMEOUT = 60  # receiveNotification's longest documented wait (A.9)


def parse_credentials(credentials: Mapping[str, str] | None, default_api_url: str) -> Line:
    """Check what the person typed; InvalidRequestError with a short reason when it cannot work."""
    values = {key: (value or "").strip() for key, value in (credentials or {}).items()}
    instance_id = values.get("idInstance", "")
    token = values.get("apiTokenInstance", "")
    if not _ID.fullmatch(instance_id):
        raise InvalidRequestError("Green-API: idInstance must be digits")
    if not token:
        raise InvalidRequestError("Green-API: apiTokenInstance is empty")
    if not _TOKEN.fullmatch(token):
        raise InvalidRequestError("Green-API: apiTokenInstance does not look like a token")
    api_url = normalise_api_url(values.get("apiUrl") or default_api_url)
    if not _green_host(api_url, default_api_url):
        # The person picks this host: without a check the bot would call any (internal) address.
        raise InvalidRequestError(
            "Green-API: apiUrl must be a Green-API host (*.green-api.com, *.greenapi.com)"
        )
    return Line(instance_id=instance_id, token=token, options={"api_url": api_url})


def _green_host(api_url: str, default_api_url: str) -> bool:
    host = (urlsplit(api_url).hostname or "").lower()
    if host == (urlsplit(normalise_api_url(default_api_url)).hostname or "").lower():
        return True  # the operator's GREEN_API_URL (a proxy, or the emulator in tests)
    return any(host == base or host.endswith("." + base) for base in _GREEN_DOMAINS)


def normalise_api_url(value: str) -> str:
    """`7105.api.greenapi.com/` → `https://7105.api.greenapi.com`; anything but http(s) is refused."""
    value = value.strip()
    if "://" not in value:
        value = "https://" + value  # people paste the host from the console without the scheme
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a non-numeric port
    except ValueError:
        raise InvalidRequestError("Green-API: apiUrl is not a URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError("Green-API: apiUrl must be an http(s) URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidRequestError("Green-API: apiUrl must be a plain host URL")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def chat_id(phone: str) -> str:
    """International digits → `<digits>@c.us`; a group id (`…@g.us`) passes unchanged."""
    if phone.strip().lower().endswith("@g.us"):
        if not GROUP_ID.fullmatch(phone.strip()):
            raise InvalidRequestError("Green-API: that group id is not one Green-API uses")
        return phone.strip()
    number = digits(phone)
    if not number:
        raise InvalidRequestError("Green-API: the recipient has no digits")
    return f"{number}@c.us"


def media_url_for(api_url: str) -> str:
    """Where uploads go (A.0): a Green-API host's `api` label becomes `media`
    (`https://7103.api.green-api.com` → `https://7103.media.green-api.com`); any other URL, such as
    an operator's proxy or a local emulator, serves both and is kept as it is."""
    parts = urlsplit(api_url)
    host = (parts.hostname or "").lower()
    labels = host.split(".")
    domain = ".".join(labels[-2:])
    if domain not in _GREEN_DOMAINS or len(labels) < 3 or labels[-3] != "api":
        return api_url
    labels[-3] = "media"
    netloc = ".".join(labels) + parts.netloc[len(host) :]
    return parts._replace(netloc=netloc).geturl()


def file_name_for(url: str, given: str | None) -> str:
    """Green-API picks the message type from the file name's extension, so one is required."""
    name = (given or "").strip()
    if not name:
        name = posixpath.basename(unquote(urlsplit(url).path))
    if not _EXTENSION.search(name):
        raise InvalidRequestError(
            "Green-API: the file name needs an extension (e.g. photo.jpg)"
            if given
            else "Green-API: cannot tell the file type from the URL; give a file name"
        )
    return name


def _scrubbed(exc: GatewayError, token: str) -> GatewayError | None:
    """A copy of `exc` with the token masked, or None when it does not contain it."""
    if token not in str(exc):
        return None
    detail = exc.detail.replace(token, "***")
    if isinstance(exc, NetworkError):
        return NetworkError(detail, request_sent=exc.request_sent)
    if isinstance(exc, UpstreamError):
        return type(exc)(detail, retry_after=exc.retry_after, outage=exc.outage)
    return type(exc)(detail, retry_after=exc.retry_after)


class GreenApiGateway(Gateway):
    name = "greenapi"
    title = "Green-API"
    enrolment = Enrolment.CREDENTIALS
    credentials = ("idInstance", "apiTokenInstance", "apiUrl?")  # "?": optional (GREEN_API_URL)
    qr_lifetimes = (20.0, 20.0)  # the QR changes every 20 s (A.2)
    reception = Reception.POLL
    delivery_window_minutes = 1440  # lastOutgoingMessages' own default: 24 h

    def __init__(
        self,
        default_api_url: str,
        *,
        timeout: float = 15.0,
        backoff: float = 0.5,
        receive_timeout: int = 5,
        media_timeout: float = 120.0,
        resolver: Resolver = system_resolver,
        breaker_seconds: float = 30.0,
    ) -> None:
        self.default_api_url = normalise_api_url(default_api_url)
        self.timeout = timeout
        self.breaker_seconds = breaker_seconds
        self.backoff = backoff
        # receiveNotification's wait (A.9 documents 5–60 s; tests use 0).
        self.receive_timeout = max(0, min(receive_timeout, MAX_RECEIVE_TIMEOUT))
        self.media_timeout = media_timeout  # uploads and downloads of files
        # One pooled client (and breaker) per host: one person's dead host does not trip others.
        self._clients: dict[str, GatewayHttp] = {}
        self._closed = False  # a call after aclose must not make a client nobody closes
        self._media = MediaFetcher(timeout=media_timeout, resolver=resolver)

    async def acquire(self, credentials: dict[str, str] | None = None) -> Line:
        line = parse_credentials(credentials, self.default_api_url)
        secrets.add(line.token)
        # One cheap read proves the id, token and host (401/403 → AuthError); any state is fine.
        await self._call(line, "GET", "getStateInstance", idempotent=True)
        return line

    async def start(self, line: Line) -> None:
        """Nothing to do: a Green-API instance runs on its own and shows a QR when unlinked."""

    async def status(self, line: Line) -> LineStatus:
        state, raw = parse_state(await self._call(line, "GET", "getStateInstance", idempotent=True))
        if state is not LineState.AWAITING_QR or raw.lower() == "pendingpassword":
            return LineStatus(state=state, raw=raw)
        try:
            body = await self._call(line, "GET", "qr", idempotent=True)
        except NotReadyError:
            # Restarting between the two calls: no QR yet, and not a reason to give up.
            return LineStatus(state=state, raw=raw)
        state, qr, raw = parse_qr(body)
        return LineStatus(state=state, qr=qr, raw=raw)

    async def account(self, line: Line) -> Account:
        body = await self._call(line, "GET", "getWaSettings", idempotent=True)
        if not isinstance(body, dict):
            raise UpstreamError("Green-API: getWaSettings reply is not an object")
        phone = digits(body.get("phone")) or None
        return Account(name=await self._own_name(line, phone), phone=phone)

    async def _own_name(self, line: Line, phone: str | None) -> str | None:
        """getWaSettings has no name; getContactInfo on the own wid may carry it (A.4, [H])."""
        if phone is None:
            return None
        try:
            body = await self._call(
                line, "POST", "getContactInfo", json={"chatId": f"{phone}@c.us"}, idempotent=True
            )
        except GatewayError as exc:
            log.info("Green-API: no own name from getContactInfo (%s)", exc.kind)
            return None
        name = str(body.get("name") or "").strip() if isinstance(body, dict) else ""
        return name or None

    async def send_text(
        self, line: Line, phone: str, text: str, *, quoted: str | None = None
    ) -> SentMessage:
        payload = {"chatId": chat_id(phone), "message": text}
        if quoted:
            payload["quotedMessageId"] = quoted
        body = await self._call(line, "POST", "sendMessage", json=payload, idempotent=False)
        return parse_sent(body, "sendMessage")

    async def send_file(
        self,
        line: Line,
        phone: str,
        file: OutgoingFile,
        *,
        caption: str | None = None,
        quoted: str | None = None,
    ) -> SentMessage:
        """`sendFileByUpload` on the media host (A.6): multipart, the bytes in the field `file`."""
        name = posixpath.basename(file.name.replace("\\", "/")).strip()
        if not _EXTENSION.search(name):
            raise InvalidRequestError(
                "Green-API: the file name needs an extension (e.g. photo.jpg)"
            )
        fields = {"chatId": chat_id(phone), "fileName": name}
        if caption:
            fields["caption"] = caption
        if quoted:
            fields["quotedMessageId"] = quoted
        body = await self._call(
            line,
            "POST",
            "sendFileByUpload",
            data=fields,
            files={"file": (name, file.data, file.mime or "application/octet-stream")},
            idempotent=False,
            base_url=media_url_for(self._api_url(line)),
            http_timeout=self.media_timeout,
        )
        return parse_sent(body, "sendFileByUpload")

    async def send_media(
        self,
        line: Line,
        phone: str,
        url: str,
        *,
        caption: str | None = None,
        filename: str | None = None,
    ) -> SentMessage:
        if urlsplit(url.strip()).scheme.lower() not in ("http", "https"):
            raise InvalidRequestError("Green-API: the file URL must be http(s)")
        payload = {
            "chatId": chat_id(phone),
            "urlFile": url.strip(),
            "fileName": file_name_for(url, filename),
        }
        if caption:
            payload["caption"] = caption
        body = await self._call(line, "POST", "sendFileByUrl", json=payload, idempotent=False)
        return parse_sent(body, "sendFileByUrl")

    async def delivery(self, line: Line, message_id: str) -> Delivery:
        """From the outgoing journal: there is no per-message status method (A.8)."""
        body = await self._call(
            line,
            "GET",
            "lastOutgoingMessages",
            params={"minutes": self.delivery_window_minutes},
            idempotent=True,
        )
        return parse_delivery(body, message_id)

    async def pairing_code(self, line: Line, phone: str) -> str:
        number, _, kind = chat_id(phone).partition("@")
        if kind != "c.us":  # a group id
            raise InvalidRequestError("Green-API: a pairing code needs a phone number")
        body = await self._call(
            line,
            "POST",
            "getAuthorizationCode",
            json={"phoneNumber": int(number)},
            idempotent=False,
        )
        if not isinstance(body, dict):
            raise UpstreamError("Green-API: getAuthorizationCode reply is not an object")
        code = body.get("code")
        if body.get("status") is not True or not code:
            # Documented meaning: try again, or the instance is already linked (A.3).
            raise NotReadyError("Green-API: no pairing code (already linked, or try again)")
        return str(code)

    async def reboot(self, line: Line) -> None:
        await self._call(line, "GET", "reboot", idempotent=False)

    async def logout(self, line: Line) -> None:
        await self._call(line, "GET", "logout", idempotent=False)

    async def release(self, line: Line) -> None:
        """The person owns the instance, so we only unlink it; it is never deleted."""
        with contextlib.suppress(NotReadyError):  # not linked (or restarting): nothing to unlink
            await self.logout(line)

    # ------------------------------------------------------------------ incoming

    async def receive(self, line: Line, cursor: str | None) -> Received:
        """One notification from the line's queue, or nothing after `receive_timeout` seconds.
        Green keeps the queue itself, so there is no cursor; `ack` is the receiptId."""
        body = await self._call(
            line,
            "GET",
            "receiveNotification",
            params={"receiveTimeout": self.receive_timeout},
            idempotent=True,
            http_timeout=self.timeout + self.receive_timeout,
        )
        if not body:
            return Received()
        if not isinstance(body, dict):
            raise UpstreamError("Green-API: receiveNotification reply is not an object")
        receipt = body.get("receiptId")
        if isinstance(receipt, bool) or not re.fullmatch(r"[0-9]{1,20}", str(receipt)):
            # Without a receiptId it cannot be deleted: say so rather than skip it silently.
            raise UpstreamError("Green-API: receiveNotification reply has no receiptId")
        return Received(events=tuple(parse_notification(body.get("body"))), ack=str(receipt))

    async def acknowledge(self, line: Line, ack: str) -> None:
        """Delete the notification; `{"result": false}` (already gone) is as good as true."""
        if not re.fullmatch(r"[0-9]{1,20}", ack):
            raise InvalidRequestError("Green-API: a receiptId is a number")
        await self._call(line, "DELETE", "deleteNotification", suffix=ack, idempotent=True)

    async def receive_problem(self, line: Line) -> str | None:
        """ "webhook_url" while the instance sends its notifications to a webhook instead (A.9)."""
        body = await self._call(line, "GET", "getSettings", idempotent=True)
        if not isinstance(body, dict):
            raise UpstreamError("Green-API: getSettings reply is not an object")
        webhook = body.get("webhookUrl")
        return "webhook_url" if isinstance(webhook, str) and webhook.strip() else None

    async def download(self, line: Line, url: str, *, max_bytes: int) -> Download:
        """A file's `downloadUrl`: Green's storage (public), or the line's own API/media host."""
        api_url = self._api_url(line)
        return await self._media.fetch(
            url, trusted=(api_url, media_url_for(api_url)), max_bytes=max_bytes
        )

    async def aclose(self) -> None:
        self._closed = True
        clients, self._clients = self._clients, {}
        for http in clients.values():
            await http.aclose()
        await self._media.aclose()

    # ------------------------------------------------------------------ transport

    def _api_url(self, line: Line) -> str:
        return line.options.get("api_url") or self.default_api_url

    def _http(self, base_url: str) -> GatewayHttp:
        http = self._clients.get(base_url)
        if http is None:
            if self._closed:  # a task finishing during shutdown: a call that never left
                raise NetworkError(f"{NAME}: the bot is stopping", request_sent=False)
            http = GatewayHttp(
                base_url,
                name=NAME,
                timeout=self.timeout,
                backoff=self.backoff,
                breaker_cooldown=self.breaker_seconds,
            )
            self._clients[base_url] = http
        return http

    async def _call(
        self,
        line: Line,
        verb: str,
        method: str,
        *,
        idempotent: bool,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        suffix: str = "",
        base_url: str | None = None,
        http_timeout: float | None = None,
    ) -> Any:
        """One API call → its parsed JSON body (`null` and an empty body both give None).
        `suffix` is a path segment after the token (deleteNotification's receiptId); `base_url`
        another host of the same instance (the media host)."""
        secrets.add(line.token)
        path = f"waInstance{line.instance_id}/{method}/{line.token}"
        if suffix:
            path += f"/{suffix}"
        try:
            response = await self._http(base_url or self._api_url(line)).request(
                verb,
                path,
                idempotent=idempotent,
                json=json,
                params=params,
                data=data,
                files=files,
                http_timeout=http_timeout,
            )
            raise_for_status(response, method)
            if not response.content.strip():
                return None
            # An unreadable 200 to a send means "probably sent": ambiguous, not retriable.
            return (json_body if idempotent else sent_body)(response, NAME)
        except GatewayError as exc:
            # GatewayHttp names the path (token included) in 5xx details; a body may echo it.
            clean = _scrubbed(exc, line.token)
            if clean is None:
                raise
            raise clean from None
