"""Configuration: the one place where setting names and defaults live.

Read once at start from the environment, then `.env`, then the defaults below. An empty
variable means its default (or "none"). A missing or wrong value stops the bot with a
one-line explanation naming the variable (see `load_settings`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import phonenumbers
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

GatewayName = Literal["wappim", "greenapi", "itd", "whinmovilla"]
ALL_GATEWAYS: tuple[str, ...] = ("wappim", "greenapi", "itd", "whinmovilla")

# The public test token of the wapp.im task (seed 000); production deployments set their own.
WAPP_TEST_TOKEN = "f62cdf1e83bc324ba23aee3b113c6249"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every setting of the bot; tests build `Settings(...)` explicitly."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=False,
    )

    telegram_bot_token: SecretStr
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_file_url: str = "https://api.telegram.org/file/bot"
    # Webhook mode (empty: polling): where Telegram pushes updates, and the secret it sends along.
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None

    wapp_api_url: str = "https://dev.wapp.im/v3"
    wapp_token: SecretStr = SecretStr(WAPP_TEST_TOKEN)
    wapp_crm: str = "TEST"
    wapp_domain: str = "test"

    database_url: str = "sqlite://data/bot.sqlite3"
    status_poll_interval: float = Field(2.0, gt=0)
    connect_timeout: float = Field(300.0, gt=0)
    default_region: str = "RU"
    allowed_user_ids: Annotated[list[int], NoDecode] = []
    admin_user_ids: Annotated[list[int], NoDecode] = []
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    # Secrets at rest: Fernet key for gateway tokens in the database. Empty: a key is generated
    # once and kept beside the SQLite file (PostgreSQL deployments must set it).
    encryption_key: SecretStr | None = None
    # Anti-ban pacing of WhatsApp sends, per linked chat.
    send_rate_per_minute: int = Field(20, ge=1)
    send_daily_cap: int = Field(500, ge=1)
    # A send the gateway surely did not take (an outage) is retried this long (seconds), the
    # retries SEND_RETRY_BACKOFF apart at first, doubling up to SEND_RETRY_MAX_WAIT (jittered).
    send_retry_for: float = Field(3600.0, gt=0)
    send_retry_backoff: float = Field(2.0, ge=0)
    send_retry_max_wait: float = Field(60.0, gt=0)
    # Tries of a send that failed otherwise, in a way that is safe to repeat (not an outage).
    send_max_attempts: int = Field(5, ge=1)
    # Recipients of one bulk send; a longer list is refused at its preview. At most the lines a
    # list may have (bulk_list.MAX_LINES).
    bulk_max_recipients: int = Field(1000, ge=1, le=20_000)
    # Fair use of the gateways' spare lines (admins exempt): lines one person may hold, linked or
    # connecting, and /connect attempts one person may start in any hour.
    max_lines_per_user: int = Field(5, ge=1)
    connects_per_hour: int = Field(10, ge=1)
    # Seconds calls to a gateway pause after five of them failed in a row (its breaker).
    gateway_breaker_seconds: float = Field(30.0, gt=0)
    # How often linked chats are checked in the background for a lost link (seconds).
    link_check_interval: float = Field(300.0, gt=0)

    gateways: Annotated[list[GatewayName], NoDecode] = ["wappim"]
    default_gateway: GatewayName | None = None
    green_api_url: str = "https://api.green-api.com"
    itd_api_url: str = "https://ida.itdchile.cl/api/v2/whatsapp"
    itd_token: SecretStr | None = None
    itd_auth_header: str = "Authorization"
    whin_api_url: str = "https://apinmovilla.inutil-labs.com"
    whin_token: SecretStr | None = None

    # Two-way messaging: the pause between polls of one line when the last poll brought nothing.
    incoming_poll_interval: float = Field(2.0, gt=0)
    # The bot's HTTP server (gateway hooks, media links): off while HTTP_PORT is empty.
    http_host: str = "0.0.0.0"
    http_port: int | None = Field(None, ge=1, le=65535)
    hook_secret: SecretStr | None = None  # the path secret of /hooks/<gateway>/<secret>/…
    public_url: str | None = None  # the server's address as seen from outside
    # HCI Whats Center (the team inbox's CRM): on when HCI_API_URL is set.
    hci_api_url: str | None = None
    hci_token: SecretStr | None = None
    hci_auth_header: str = "Authorization"
    hci_manager_number: str | None = None
    hci_controller_port: str | None = None
    # Replicas: how long a claim on a piece of work lasts unless renewed (seconds).
    lease_seconds: float = Field(30.0, gt=0)
    # Threads: a Telegram topic per WhatsApp conversation in each person's chat with the bot.
    # "auto": on when getMe reports has_topics_enabled (Threaded Mode in @BotFather); "off".
    threads: Literal["auto", "off"] = "auto"

    @model_validator(mode="before")
    @classmethod
    def _blank_means_default(cls, values: object) -> object:
        """`KEY=  ` is treated like `KEY=` (the default), and values lose stray spaces and line
        ends (a token pasted with a trailing newline still works)."""
        if not isinstance(values, dict):
            return values
        return {
            key: value.strip() if isinstance(value, str) else value
            for key, value in values.items()
            if not (isinstance(value, str) and not value.strip())
        }

    @field_validator("allowed_user_ids", "admin_user_ids", "gateways", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("threads", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("default_region", mode="before")
    @classmethod
    def _region(cls, value: object) -> object:
        region = str(value).strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {value!r}; use a two-letter code such as RU or DE")
        return region

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgres://", "postgresql://", "asyncpg://")):
            raise ValueError(
                "use sqlite://path/to/file.sqlite3 or postgres://user:pass@host:5432/db"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "use the address people reach the server at, e.g. https://bot.example.com"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _shared_key(self) -> Settings:
        if self.database_url.startswith(("postgres://", "postgresql://", "asyncpg://")) and not (
            self.encryption_key
        ):
            raise ValueError(
                "ENCRYPTION_KEY is empty, but DATABASE_URL is PostgreSQL: replicas on other hosts "
                "cannot share a generated key file, so set ENCRYPTION_KEY (make one with: python -c "
                '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")'
            )
        return self

    @model_validator(mode="after")
    def _server(self) -> Settings:
        if self.http_port is not None and not self.hook_secret:
            raise ValueError(
                "HOOK_SECRET is empty, but HTTP_PORT turns the HTTP server on: set a long random "
                "HOOK_SECRET (it guards the gateway hook URLs)"
            )
        if self.telegram_webhook_url is None:
            return self
        if self.http_port is None:
            raise ValueError(
                "TELEGRAM_WEBHOOK_URL is set, but HTTP_PORT is empty: the webhook is served on "
                "the bot's HTTP server, so set HTTP_PORT (and HOOK_SECRET)"
            )
        secret = (
            self.telegram_webhook_secret.get_secret_value() if self.telegram_webhook_secret else ""
        )
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ValueError(
                "TELEGRAM_WEBHOOK_SECRET is required in webhook mode: 1-256 characters of "
                'A-Z a-z 0-9 _ - (make one with: python -c "import secrets; '
                'print(secrets.token_urlsafe(32))")'
            )
        return self

    @field_validator("telegram_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "use the public HTTPS address Telegram should call, e.g. https://bot.example.com/telegram"
            )
        return value

    @model_validator(mode="after")
    def _gateway_choice(self) -> Settings:
        if not self.gateways:
            self.gateways = ["wappim"]
        self.gateways = list(dict.fromkeys(self.gateways))
        if self.default_gateway is None:
            self.default_gateway = self.gateways[0]
        elif self.default_gateway not in self.gateways:
            raise ValueError(f"DEFAULT_GATEWAY {self.default_gateway} is not in GATEWAYS")
        return self

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, or None for a server database."""
        if not self.database_url.startswith("sqlite://"):
            return None
        path = self.database_url.removeprefix("sqlite://").split("?", 1)[0]
        return None if path in ("", ":memory:") else Path(path)

    def is_allowed(self, user_id: int) -> bool:
        return (
            not self.allowed_user_ids or user_id in self.allowed_user_ids or self.is_admin(user_id)
        )

    def is_admin(self, user_id: int) -> bool:
        return user_id in self.admin_user_ids


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line that names it."""


def load_settings() -> Settings:
    try:
        return Settings()  # type: ignore[call-arg]  # values come from the environment
    except ValidationError as exc:
        raise ConfigError(explain(exc)) from None


def explain(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        name = "_".join(str(part) for part in error["loc"] if isinstance(part, str)).upper()
        if name == "TELEGRAM_BOT_TOKEN" and error["type"] == "missing":
            return (
                "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather in Telegram "
                "and put its token in .env (see .env.example)"
            )
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{name}: {message}" if name else message)
    return "configuration error: " + "; ".join(problems)
