"""HCI Whats Center desks: placeholder until the HCI client lands."""

from __future__ import annotations

from bot.storage.models import DeskMember, User


class HciDesks:
    async def find_user(self, who: str) -> User | None:
        """`@username` or a numeric Telegram id of someone who wrote to the bot once."""
        who = who.strip()
        if who.lstrip("-").isdigit():
            return await User.get_or_none(id=int(who))
        return await User.filter(username__iexact=who.removeprefix("@")).first()

    async def map(self, user: User, operator_id: str) -> None:
        raise NotImplementedError

    async def unmap(self, user: User) -> None:
        await DeskMember.filter(user_id=user.id, desk__kind="hci").delete()
