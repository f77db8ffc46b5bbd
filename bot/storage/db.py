"""Database start-up: create the SQLite folder, apply migrations, initialise Tortoise.

To change the schema: edit `models.py`, then run
    .venv/bin/tortoise -c bot.storage.db.TORTOISE_ORM makemigrations -n what_changed
and commit the new file under `bot/storage/migrations/`; the bot applies it on its next start.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.migrations.api import migrate

# pg_advisory_lock key: replicas starting at once on an empty database migrate one after another.
MIGRATION_LOCK = 0x57A_B07  # any constant; the same in every replica


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
    async with _one_migrator(database_url):
        await migrate(config=config)
    # The migration run initialised apps without connections; initialise again for queries.
    await Tortoise.init(config=config)


@contextlib.asynccontextmanager
async def _one_migrator(database_url: str) -> AsyncIterator[None]:
    """On PostgreSQL, hold an advisory lock while migrating: without it, two replicas starting
    at the same moment both create `tortoise_migrations`, and one dies on a duplicate key."""
    if database_url.startswith("sqlite://"):
        yield
        return
    import asyncpg

    connection = await asyncpg.connect(
        _normalise_url(database_url).replace("postgres://", "postgresql://", 1)
    )
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        try:
            yield
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    finally:
        await connection.close()


async def close_db() -> None:
    await Tortoise.close_connections()


async def ping() -> None:
    """One round trip to the database (readiness); raises when it does not answer."""
    await Tortoise.get_connection("default").execute_query("SELECT 1")
