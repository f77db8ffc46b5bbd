"""An existing database is upgraded in place at start: every migration applies to tables that
already hold rows (SQLite, and PostgreSQL when TEST_DATABASE_URL is set), and nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from tortoise import Tortoise
from tortoise.migrations.api import migrate

from bot.storage.db import close_db, init_db, tortoise_config
from bot.storage.models import OutgoingMessage, User, WhatsAppChat


@pytest.mark.empty_database
async def test_a_database_from_the_first_release_upgrades_with_its_rows(database_url: str) -> None:
    # The schema of the first release, with one user, one chat and one message, in plain SQL
    # (today's models have columns that schema lacks).
    if database_url.startswith("sqlite://"):
        Path(database_url.removeprefix("sqlite://")).parent.mkdir(parents=True)
    await migrate(config=tortoise_config(database_url), target="models.0001_initial")
    await Tortoise.init(config=tortoise_config(database_url))
    db = Tortoise.get_connection("default")
    await db.execute_script(
        """
        INSERT INTO "user" (id, language, connecting, blocked_bot, created_at)
            VALUES (5, 'ru', FALSE, FALSE, '2026-01-01 00:00:00+00');
        INSERT INTO whatsapp_chat (id, owner_id, gateway, instance_id, token_secret, options,
                state, state_raw, ui_is_photo, qr_count, created_at, updated_at)
            VALUES (7, 5, 'wappim', '42', 'sealed', '{}', 'authorized', '', FALSE, 0,
                '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00');
        INSERT INTO outgoing_message (id, chat_id, recipient, text, status, attempts,
                next_attempt_at, source_chat_id, source_message_id, created_at, updated_at)
            VALUES (9, 7, '79872745052', 'Привет', 'sent', 1, '2026-01-01 00:00:00+00', 5, 11,
                '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00');
        """
    )
    await close_db()

    await init_db(database_url)  # what the bot does at every start
    try:
        user = await User.get(id=5)
        assert (user.language, user.awaiting_credentials) == ("ru", None)
        assert (await WhatsAppChat.get(id=7)).instance_id == "42"
        message = await OutgoingMessage.get(id=9)
        assert (message.text, message.media_url, message.media_is_link) == ("Привет", None, False)
        await OutgoingMessage.filter(id=9).update(
            media_url="https://example.com/", media_is_link=True
        )
        assert (await OutgoingMessage.get(id=9)).media_is_link
    finally:
        await close_db()


async def _indexed_column_sets(table: str, sqlite: bool) -> dict[tuple[str, ...], bool]:
    """Each index of `table` in the database: its columns, and whether it is unique."""
    db = Tortoise.get_connection("default")
    found: dict[tuple[str, ...], bool] = {}
    if sqlite:
        for index in (await db.execute_query(f'PRAGMA index_list("{table}")'))[1]:
            info = (await db.execute_query(f'PRAGMA index_info("{index["name"]}")'))[1]
            columns = tuple(row["name"] for row in sorted(info, key=lambda row: row["seqno"]))
            found[columns] = found.get(columns, False) or bool(index["unique"])
        return found
    rows = (
        await db.execute_query("SELECT indexdef FROM pg_indexes WHERE tablename = $1", [table])
    )[1]
    for row in rows:
        definition = row["indexdef"]
        inside = definition[definition.index("(") + 1 : definition.rindex(")")]
        columns = tuple(part.strip().strip('"') for part in inside.split(","))
        found[columns] = found.get(columns, False) or " UNIQUE " in definition
    return found


async def test_every_unique_key_and_index_of_the_models_is_in_the_migrated_database(
    database_url: str,
) -> None:
    # A migration that rebuilds a table (SQLite's way of altering a column) once dropped the
    # outbox's unique key on the Telegram message, which makes a /send handled twice send once.
    await init_db(database_url)
    try:
        for model in Tortoise.apps["models"].values():
            meta = model._meta
            found = await _indexed_column_sets(meta.db_table, database_url.startswith("sqlite"))

            def column(name: str, meta: object = meta) -> str:
                field = meta.fields_map[name]  # type: ignore[attr-defined]
                return str(field.source_field or field.model_field_name)

            for key in meta.unique_together:
                columns = tuple(column(name) for name in key)
                assert found.get(columns), f"{meta.db_table}: unique {columns} is missing"
            for index in meta.indexes:
                fields = index.fields if hasattr(index, "fields") else index
                columns = tuple(column(name) for name in fields)
                assert columns in found, f"{meta.db_table}: index {columns} is missing"
    finally:
        await close_db()
