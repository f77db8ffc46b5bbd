"""Files the bot serves itself, for gateways that fetch files by URL (ITD).

A link is `PUBLIC_URL/media/<token>/<name>`: the token is 32 random bytes (unguessable), the row
lives in the database (any replica behind the load balancer can serve it), and it expires after an
hour. Without PUBLIC_URL there is no link to give, and sending a file that way is refused in words.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from bot.storage.models import MediaLink

LIFETIME = timedelta(hours=1)


class MediaLinks:
    def __init__(self, public_url: str | None) -> None:
        self.public_url = public_url.rstrip("/") if public_url else None

    @property
    def enabled(self) -> bool:
        return self.public_url is not None

    async def create(self, data: bytes, mime: str, name: str) -> str:
        assert self.public_url is not None, "check `enabled` first"
        token = secrets.token_urlsafe(32)
        await MediaLink.create(
            token=token, data=data, mime=mime, name=name, expires_at=_now() + LIFETIME
        )
        await MediaLink.filter(expires_at__lt=_now()).delete()
        return f"{self.public_url}/media/{token}/{quote(name)}"

    async def get(self, token: str) -> MediaLink | None:
        """The file behind a live link; None when unknown or expired."""
        if len(token) > 64:
            return None
        return await MediaLink.get_or_none(token=token, expires_at__gt=_now())


def _now() -> datetime:
    return datetime.now(UTC)
