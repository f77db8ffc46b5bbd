"""From a stored chat to its gateway driver and its (decrypted) line credentials."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from bot.gateways.base import Gateway, Line
from bot.logs import secrets
from bot.storage.crypto import TokenCipher
from bot.storage.models import DeskMember, WhatsAppChat


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

    async def for_member(self, chat: WhatsAppChat, user_id: int) -> tuple[Gateway, Line]:
        """The gateway and line to send as the team member `user_id` (HCI: their operator)."""
        gateway, line = self.of(chat)
        if not gateway.sends_as_operator:
            return gateway, line
        member = await DeskMember.get_or_none(desk__chat_id=chat.id, user_id=user_id)
        operator = member.hci_operator_id if member and member.hci_operator_id else ""
        return gateway, replace(line, options={**line.options, "operator_id": operator})

    def seal(self, line: Line) -> str:
        return self.cipher.encrypt(line.token)
