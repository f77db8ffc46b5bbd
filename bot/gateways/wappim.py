"""wapp.im v3 driver (api/wappim.md): spare chats handed out by the gateway, QR via `status?full=1`.

Every request carries `X-Tasktest-Token`; instance methods are `instance{ID}/{method}?token=…`, so
the instance token travels in the query string and is registered with the log redactor.
"""

from __future__ import annotations

from typing import Any

from bot.gateways.base import (
    Account,
    AuthError,
    Gateway,
    GatewayError,
    InvalidRequestError,
    Line,
    LineState,
    LineStatus,
    NoFreeLinesError,
    NotFoundError,
    NotReadyError,
    SentMessage,
    UpstreamError,
    digits,
)
from bot.gateways.http import GatewayHttp, json_body, sent_body
from bot.gateways.qr import qr_from_text
from bot.logs import secrets

# accountStatus (chat-api) and state (WA-Web socket) values → normalised state.
_STATES: dict[str, LineState] = {
    "init": LineState.PROVISIONING,
    "loading": LineState.STARTING,
    "opening": LineState.STARTING,
    "pairing": LineState.STARTING,
    "got qr code": LineState.AWAITING_QR,
    "unpaired": LineState.AWAITING_QR,
    "unpaired_idle": LineState.AWAITING_QR,
    "authenticated": LineState.AUTHORIZED,
    "connected": LineState.AUTHORIZED,
    "not_paid": LineState.RESTRICTED,
    "tos_block": LineState.BLOCKED,
    "smb_tos_block": LineState.BLOCKED,
}


def parse_state(body: dict[str, Any]) -> tuple[LineState, str]:
    """Map a status reply; `accountStatus` wins over `state`, either may be missing."""
    for key in ("accountStatus", "state"):
        raw = body.get(key)
        if isinstance(raw, str) and raw.strip():
            state = _STATES.get(raw.strip().lower())
            if state is not None:
                return state, raw
    raw = str(body.get("accountStatus") or body.get("state") or "")
    return LineState.UNKNOWN, raw


def parse_spare(body: Any) -> Line:
    """Both the 3-field (2021) and the 17-field (2022+) spare replies; only `id`/`token` matter."""
    if not isinstance(body, dict):
        raise UpstreamError("wapp.im: spare reply is not an object")
    _raise_error_fields(body)
    instance_id, token = body.get("id"), body.get("token") or body.get("chat_token")
    if instance_id in (None, "") or not isinstance(token, str) or not token:
        raise UpstreamError("wapp.im: spare reply without id/token")
    return Line(instance_id=str(instance_id), token=token)


def parse_account(body: Any) -> Account:
    if not isinstance(body, dict):
        raise UpstreamError("wapp.im: me reply is not an object")
    name = body.get("name") or body.get("pushname") or None
    phone = digits(body.get("number"))
    if not phone:
        # `id` is "<digits>@c.us" when known, and the literal "undefined" before that.
        phone = digits(str(body.get("id") or "").split("@", 1)[0])
    return Account(name=str(name) if name else None, phone=phone or None)


def parse_sent(body: Any) -> SentMessage:
    if not isinstance(body, dict):
        raise UpstreamError("wapp.im: sendMessage reply is not an object")
    _raise_error_fields(body)
    sent = body.get("sent")
    if sent is True or (isinstance(sent, str) and sent.strip().lower() == "true"):
        message_id = body.get("id")
        return SentMessage(message_id=str(message_id) if message_id else None)
    raise InvalidRequestError(f"wapp.im: not sent: {body.get('message') or body!r}"[:200])


def _raise_error_fields(body: dict[str, Any]) -> None:
    """wapp.im reports some failures as `error_code`/`error_text` inside an HTTP 200."""
    if body.get("error_code") in (None, 0, "", "0") and not body.get("error_text"):
        return  # absent, or an empty placeholder in a successful reply
    text = str(body.get("error_text") or body.get("error_code"))
    if "no free chats" in text.lower():
        raise NoFreeLinesError(text)
    if "token" in text.lower():
        raise AuthError(f"wapp.im: {text}")
    raise InvalidRequestError(f"wapp.im: {text}")


class WappimGateway(Gateway):
    name = "wappim"
    title = "wapp.im"

    def __init__(self, http: GatewayHttp, *, crm: str, domain: str) -> None:
        self.http = http
        self.crm = crm
        self.domain = domain

    async def acquire(self, credentials: dict[str, str] | None = None) -> Line:
        response = await self.http.request(
            "GET",
            "chat/spare",
            params={"crm": self.crm, "domain": self.domain, "md": 0},
            idempotent=False,
        )
        self._raise_http(response.status_code, response)
        line = parse_spare(json_body(response, "wapp.im"))
        secrets.add(line.token)
        return line

    async def start(self, line: Line) -> None:
        await self._call(line, "status", {"full": 1})

    async def status(self, line: Line) -> LineStatus:
        body = await self._call(line, "status", {"full": 1})
        if not isinstance(body, dict):
            raise UpstreamError("wapp.im: status reply is not an object")
        state, raw = parse_state(body)
        if state is not LineState.AWAITING_QR:
            return LineStatus(state=state, raw=raw)
        qr_code = body.get("qrCode")
        qr = qr_from_text(qr_code) if isinstance(qr_code, str) else None
        if qr is None:
            # Some replies carry no image; the `qr_code` method serves it as an HTML <img>.
            response = await self._get(line, "qr_code")
            qr = qr_from_text(response.text)
        return LineStatus(state=state, qr=qr, raw=raw)

    async def account(self, line: Line) -> Account:
        return parse_account(await self._call(line, "me"))

    async def send_text(
        self, line: Line, phone: str, text: str, *, quoted: str | None = None
    ) -> SentMessage:
        response = await self.http.request(
            "POST",
            f"instance{line.instance_id}/sendMessage",
            params={"token": line.token},
            data={"phone": phone, "body": text},
            idempotent=False,
        )
        self._raise_http(response.status_code, response)
        return parse_sent(sent_body(response, "wapp.im"))

    async def logout(self, line: Line) -> None:
        await self._call(line, "logout")

    async def release(self, line: Line) -> None:
        await self._call(line, "removeChat")

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _call(self, line: Line, method: str, params: dict[str, Any] | None = None) -> Any:
        response = await self._get(line, method, params)
        body = json_body(response, "wapp.im")
        if isinstance(body, dict):
            _raise_error_fields(body)
        return body

    async def _get(self, line: Line, method: str, params: dict[str, Any] | None = None) -> Any:
        secrets.add(line.token)
        response = await self.http.request(
            "GET",
            f"instance{line.instance_id}/{method}",
            params={**(params or {}), "token": line.token},
            idempotent=True,
        )
        self._raise_http(response.status_code, response)
        return response

    @staticmethod
    def _raise_http(status: int, response: Any) -> None:
        if status < 400:
            return
        try:
            detail = str(response.json().get("error") or response.json().get("error_text") or "")
        except (ValueError, AttributeError):
            detail = response.text[:80]
        error: type[GatewayError]
        if status in (401, 403):
            error = AuthError
        elif status == 404:
            error = NotFoundError
        elif status == 409:
            error = NotReadyError
        else:
            error = InvalidRequestError
        raise error(f"wapp.im: HTTP {status}: {detail}")
