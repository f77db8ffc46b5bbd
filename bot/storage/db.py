"""Database start-up: create the SQLite folder, apply migrations, initialise Tortoise.

To change the schema: edit `models.py`, then run
    .venv/bin/tortoise -c bot.storage.db.TORTOISE_ORM makemigrations -n what_changed
and commit the new file under `bot/storage/migrations/`; the bot applies it on its next start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.migrations.api import migrate


def _normalise_url(url: str) -> str:
    # Tortoise names its PostgreSQL scheme `postgres://`; accept the common `postgresql://` spelling.
    if url.startswith("postgresql://"):
        return "postgres://" + url.removeprefix("postgresql://")
    return url


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _normalise_url(database_url)},
        "apps": {
            "models": {
                "models": ["bot.storage.models"],
                "migrations": "bot.storage.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# For the `tortoise` command line (makemigrations needs models, not a real database).
TORTOISE_ORM = tortoise_config("sqlite://:memory:")


async def init_db(database_url: str) -> None:
    """Bring the schema up to date and leave Tortoise initialised for this context."""
    if database_url.startswith("sqlite://"):
        path = database_url.removeprefix("sqlite://").split("?", 1)[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    config = tortoise_config(database_url)
    await migrate(config=config)
    # The migration run initialised apps without connections; initialise again for queries.
    await Tortoise.init(config=config)


async def close_db() -> None:
    await Tortoise.close_connections()
