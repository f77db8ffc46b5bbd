"""ITD Chile WhatsApp API v2 driver (api/gateways.md section B; seed 002 is the only source).

ITD resells one pre-linked WhatsApp line per customer account (its panel names Waboxapp as the
connector): there is no QR, no pairing and no instance life cycle in the API. So this gateway is
`Enrolment.OPERATOR`: the bot's operator configures the account's token, and every person who
picks ITD sends through that one line. The methods used are `creditsWhatsapp` (token check,
liveness and credits), `sendWhatsapp` and `statusWhatsappByKey`.

Two-way (`Reception.PUSH`): ITD POSTs to the two URLs the operator types into ITD's web panel
(not settable by the API): the bot serves them as `/hooks/itd/<HOOK_SECRET>/incoming` (one
received record, B.3) and `…/status` (the ticks), and hands each body to `parse_push`
(`itd_push.py`, which says how each field is read). Files go out by URL (`files_by_url`): ITD
downloads `content` itself, so `send_file` needs the address where the bot serves the bytes (under
PUBLIC_URL). Files that come in are downloaded by `download` through a `MediaFetcher` that trusts
only the API's own origin. What ITD answers (the envelope, its errors, credits and delivery words)
is read in `itd_replies.py`.

Choices where the seed is silent ([H]):

- **Auth header.** The seed's page on the token ("Creación de un token", "Uso") is missing. We
  send `Authorization: Bearer <token>` when `auth_header` is "Authorization" (any case), else
  `<auth_header>: <token>` with the bare token. A token configured as "Bearer …" is not doubled;
  an empty one sends no header at all (ITD then answers 401 → AuthError).
- **Verb.** Every call is a POST with a JSON body and `Content-Type: application/json` (the seed
  documents POST + JSON for every method and answers 415 without the Content-Type; where GET
  parameters go is a guess). `creditsWhatsapp` gets `{}`. The two reads are marked idempotent, so
  the transport may repeat them after a network error or a plain 5xx; `sendWhatsapp` is not.
- **The line.** `acquire()` only checks the token and returns `Line(instance_id="itd", token="")`:
  the token is the operator's, configured once, never stored per person. `start`, `logout` and
  `release` do nothing: the operator's line is never unlinked or given back by the bot.
- **State.** `status()` is AUTHORIZED (raw "OK") whenever `creditsWhatsapp` answers, RESTRICTED
  (raw "NO CREDITS") when it says 0 credits (a send would get 502 NOT_CREDITS). A 401 raises
  AuthError. Credits are documented as a String and shown as a number: both are read; anything
  else counts as "unknown" (still AUTHORIZED).
- **Account.** No call tells who the line is (`accountPhone` only appears in received messages),
  so `account()` answers `Account(name=None, phone=None)`.
- **Numbers.** `phone` is the national significant number and `prefijo` the country calling code,
  split with `phonenumbers` from the international digits (Italy's leading 0 is kept). A number
  with no known country code is refused locally (InvalidRequestError) before any call. ITD can
  only send to phone + prefijo: a "…@g.us" recipient is refused (UnsupportedError) instead of
  being mangled into a phone number.
- **Media.** `send_media` sends `content_type` IMAGE when the file name (else the URL's path)
  ends in .jpg .jpeg .png .gif .webp, FILE otherwise, with `content` = the URL and `caption`.
  LINK (a page preview) is `send_link`'s (/sendlink), never guessed from a URL. ITD has no
  file-name field, so `filename` only decides the type.
- **A send reply without `uuid`** gives `SentMessage(message_id=None)`, not an error: the message
  probably went out, and an error would make the caller send it twice.
- **Files out.** `send_file` without `OutgoingFile.url` is UnsupportedError (ITD cannot take bytes:
  the operator has to set PUBLIC_URL), not InvalidRequestError (the person's file is fine). With
  it: IMAGE when the mime is image/*, else by the file name's extension (as `send_media`), else
  FILE; `content` is the URL. ITD has no file-name field: the URL should end in the name.
- **Files in.** `download` never sends the JWT: a media URL is not ours to trust with it (the
  seed's sample is on content.itdchile.cl, another host). URLs on the API's origin are fetched
  even on a private network; any other host must be public (see `bot.gateways.media`).
- `recievedWhatsapp` polling is not used by this driver (it needs each contact's number).
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from phonenumbers import NumberParseException

from bot.gateways.base import (
    Account,
    Delivery,
    Download,
    Enrolment,
    Event,
    Gateway,
    InvalidRequestError,
    Line,
    LineState,
    LineStatus,
    OutgoingFile,
    Reception,
    SentMessage,
    UnsupportedError,
)
from bot.gateways.http import GatewayHttp, auth_headers
from bot.gateways.itd_push import parse_push
from bot.gateways.itd_replies import parse_credits, parse_delivery, parse_envelope
from bot.gateways.media import MediaFetcher
from bot.logs import secrets

log = logging.getLogger(__name__)

LINE_ID = "itd"  # the one (operator's) line; Line.instance_id for every ITD chat
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp"})


def split_phone(phone: str) -> tuple[str, str]:
    """International digits → (`prefijo`, `phone`): `56912345678` → ("56", "912345678")."""
    if phone.strip().lower().endswith("@g.us"):
        raise UnsupportedError("ITD sends to phone numbers only, not to WhatsApp groups")
    number_digits = re.sub(r"\D", "", phone)
    try:
        number = phonenumbers.parse("+" + number_digits)
    except NumberParseException:
        raise InvalidRequestError(
            f"ITD: cannot split a {len(number_digits)}-digit number into country code and number"
        ) from None
    national = phonenumbers.national_significant_number(number)
    if not national or not number.country_code:
        raise InvalidRequestError(f"ITD: a {len(number_digits)}-digit number has no national part")
    return str(number.country_code), national


def media_type(url: str, filename: str | None = None) -> str:
    """IMAGE when the name ends in an image extension, else FILE (LINK is `send_link`'s)."""
    name = filename or urlsplit(url).path
    dot = name.rfind(".")
    extension = name[dot:].lower() if dot >= 0 else ""
    return "IMAGE" if extension in IMAGE_EXTENSIONS else "FILE"


class ItdGateway(Gateway):
    name = "itd"
    title = "ITD Chile"
    enrolment = Enrolment.OPERATOR
    reception = Reception.PUSH
    files_by_url = True

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        auth_header: str = "Authorization",
        timeout: float = 15.0,
        breaker_seconds: float = 30.0,
    ) -> None:
        secrets.add(token)  # the JWT travels in a header: keep it out of any log line
        self.http = GatewayHttp(
            api_url,
            name="ITD",
            headers=auth_headers(token, auth_header),
            timeout=timeout,
            breaker_cooldown=breaker_seconds,
            # 502 NOT_CREDITS / 503 INVALID_MESSAGE are answers, not outages: never retried.
            business_statuses=frozenset({502, 503}),
        )
        # Files of incoming messages: ITD's own origin is trusted, other hosts must be public.
        self.media = MediaFetcher()
        self.trusted = (api_url,)

    # ------------------------------------------------------------------ life cycle

    async def acquire(self, credentials: dict[str, str] | None = None) -> Line:
        """Check the operator's token (401 → AuthError); the line is always the same one.

        `token` is empty: the operator's token lives in the configuration, not per person.
        """
        await self._credits()
        return Line(instance_id=LINE_ID, token="")

    async def start(self, line: Line) -> None:
        """Nothing to start: ITD's line is linked and run by ITD."""

    async def status(self, line: Line) -> LineStatus:
        credits = await self._credits()
        if credits is not None and credits <= 0:
            return LineStatus(state=LineState.RESTRICTED, raw="NO CREDITS")
        return LineStatus(state=LineState.AUTHORIZED, raw="OK")

    async def account(self, line: Line) -> Account:
        """Undocumented: no ITD call tells the line's name or number."""
        return Account(name=None, phone=None)

    async def logout(self, line: Line) -> None:
        """No-op: the operator's line is never unlinked by the bot."""

    async def release(self, line: Line) -> None:
        """No-op: the operator's line is never given back."""

    async def details(self, line: Line) -> dict[str, str]:
        credits = await self._credits()
        return {"credits": str(credits) if credits is not None else "unknown"}

    async def aclose(self) -> None:
        try:
            await self.http.aclose()
        finally:
            await self.media.aclose()

    # ------------------------------------------------------------------ messages

    async def send_text(
        self, line: Line, phone: str, text: str, *, quoted: str | None = None
    ) -> SentMessage:
        prefijo, national = split_phone(phone)
        body = {"content_type": "TEXT", "content": text, "phone": national, "prefijo": prefijo}
        return await self._send(body)

    async def send_media(
        self,
        line: Line,
        phone: str,
        url: str,
        *,
        caption: str | None = None,
        filename: str | None = None,
    ) -> SentMessage:
        return await self._send_url(phone, media_type(url, filename), url, caption)

    async def send_file(
        self,
        line: Line,
        phone: str,
        file: OutgoingFile,
        *,
        caption: str | None = None,
        quoted: str | None = None,
    ) -> SentMessage:
        """ITD fetches the file from `file.url`, where the bot serves the bytes."""
        if not file.url:
            raise UnsupportedError(
                "ITD fetches files by URL: set PUBLIC_URL so the bot serves them"
            )
        image = file.mime.strip().lower().startswith("image/")
        content_type = "IMAGE" if image else media_type(file.url, file.name)
        return await self._send_url(phone, content_type, file.url, caption)

    async def send_link(
        self, line: Line, phone: str, url: str, *, caption: str | None = None
    ) -> SentMessage:
        return await self._send_url(phone, "LINK", url, caption)

    async def delivery(self, line: Line, message_id: str) -> Delivery:
        envelope = await self._call("statusWhatsappByKey", {"key": message_id}, idempotent=True)
        return parse_delivery(envelope.get("data"))

    # ------------------------------------------------------------------ incoming

    def parse_push(self, hook: str, body: Any) -> list[Event]:
        return parse_push(hook, body)

    async def download(self, line: Line, url: str, *, max_bytes: int) -> Download:
        return await self.media.fetch(url, trusted=self.trusted, max_bytes=max_bytes)

    # ------------------------------------------------------------------ plumbing

    async def _send_url(
        self, phone: str, content_type: str, url: str, caption: str | None
    ) -> SentMessage:
        """sendWhatsapp IMAGE, FILE or LINK: ITD fetches `url` itself."""
        prefijo, national = split_phone(phone)
        body = {"content_type": content_type, "content": url, "phone": national, "prefijo": prefijo}
        if caption:
            body["caption"] = caption
        return await self._send(body)

    async def _send(self, body: dict[str, str]) -> SentMessage:
        envelope = await self._call("sendWhatsapp", body, idempotent=False)
        uuid = envelope.get("uuid")
        if not uuid:
            log.warning("ITD: sendWhatsapp answered OK without a uuid")
        return SentMessage(message_id=str(uuid) if uuid else None)

    async def _credits(self) -> int | None:
        envelope = await self._call("creditsWhatsapp", {}, idempotent=True)
        credits = parse_credits(envelope.get("data"))
        if credits is None:
            log.info("ITD: unreadable credits %r", str(envelope.get("data"))[:40])
        return credits

    async def _call(self, method: str, body: dict[str, Any], *, idempotent: bool) -> dict[str, Any]:
        # httpx's json= sets `Content-Type: application/json`, which ITD requires (415 otherwise).
        response = await self.http.request("POST", method, json=body, idempotent=idempotent)
        return parse_envelope(response, method, sending=not idempotent)
