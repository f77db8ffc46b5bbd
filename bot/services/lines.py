"""From a stored chat to its gateway driver and its (decrypted) line credentials."""

from __future__ import annotations

from collections.abc import Mapping

from bot.gateways.base import Gateway, Line
from bot.logs import secrets
from bot.storage.crypto import TokenCipher
from bot.storage.models import WhatsAppChat


class Lines:
    def __init__(self, gateways: Mapping[str, Gateway], cipher: TokenCipher, default: str) -> None:
        self.gateways = dict(gateways)
        self.cipher = cipher
        self.default = default

    def gateway(self, name: str | None = None) -> Gateway:
        return self.gateways[name or self.default]

    def of(self, chat: WhatsAppChat) -> tuple[Gateway, Line]:
        token = self.cipher.decrypt(chat.token_secret)
        secrets.add(token)
        line = Line(instance_id=chat.instance_id, token=token, options=dict(chat.options or {}))
        return self.gateways[chat.gateway], line

    def seal(self, line: Line) -> str:
        return self.cipher.encrypt(line.token)
