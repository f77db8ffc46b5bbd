"""`bot.config`: the configuration contract of shared/DESIGN.md (names, defaults, errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import WAPP_TEST_TOKEN, ConfigError, Settings, load_settings

CONTRACT = [
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_API_URL",
    "TELEGRAM_FILE_URL",
    "WAPP_API_URL",
    "WAPP_TOKEN",
    "WAPP_CRM",
    "WAPP_DOMAIN",
    "DATABASE_URL",
    "STATUS_POLL_INTERVAL",
    "CONNECT_TIMEOUT",
    "DEFAULT_REGION",
    "ALLOWED_USER_IDS",
    "LOG_LEVEL",
    "GATEWAYS",
    "DEFAULT_GATEWAY",
    "GREEN_API_URL",
    "ITD_API_URL",
    "ITD_TOKEN",
    "ITD_AUTH_HEADER",
    "WHIN_API_URL",
    "WHIN_TOKEN",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real .env, no inherited variables: only what a test sets."""
    monkeypatch.chdir(tmp_path)
    names = set(CONTRACT) | {name.upper() for name in Settings.model_fields}
    for name in names:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_contract_names_are_all_settings() -> None:
    assert {name.lower() for name in CONTRACT} <= set(Settings.model_fields)


def test_defaults_match_the_contract() -> None:
    s = Settings(_env_file=None, telegram_bot_token="x")  # type: ignore[call-arg,arg-type]
    assert s.telegram_bot_token.get_secret_value() == "x"
    assert s.telegram_api_url == "https://api.telegram.org/bot"
    assert s.telegram_file_url == "https://api.telegram.org/file/bot"
    assert s.wapp_api_url == "https://dev.wapp.im/v3"
    assert s.wapp_token.get_secret_value() == "f62cdf1e83bc324ba23aee3b113c6249"
    assert WAPP_TEST_TOKEN == "f62cdf1e83bc324ba23aee3b113c6249"
    assert s.wapp_crm == "TEST"
    assert s.wapp_domain == "test"
    assert s.database_url == "sqlite://data/bot.sqlite3"
    assert s.sqlite_path == Path("data/bot.sqlite3")
    assert s.status_poll_interval == 2
    assert s.connect_timeout == 300
    assert s.default_region == "RU"
    assert s.allowed_user_ids == []
    assert s.log_level == "INFO"
    assert s.gateways == ["wappim"]
    assert s.default_gateway == "wappim"
    assert s.green_api_url == "https://api.green-api.com"
    assert s.itd_api_url == "https://ida.itdchile.cl/api/v2/whatsapp"
    assert s.itd_token is None
    assert s.itd_auth_header == "Authorization"
    assert s.whin_api_url == "https://apinmovilla.inutil-labs.com"
    assert s.whin_token is None
    assert s.bulk_max_recipients == 1000
    assert (s.max_lines_per_user, s.connects_per_hour) == (5, 10)


def test_secrets_do_not_show_in_repr() -> None:
    s = Settings(_env_file=None, telegram_bot_token="123:secret-bot-token")  # type: ignore[call-arg,arg-type]
    assert "secret-bot-token" not in repr(s)
    assert WAPP_TEST_TOKEN not in repr(s)


def test_default_gateway_is_first_of_gateways(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "t")
    monkeypatch.setenv("GATEWAYS", "itd, wappim,itd")
    s = load_settings()
    assert s.gateways == ["itd", "wappim"]  # order kept, duplicates dropped
    assert s.default_gateway == "itd"


def test_environment_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "TELEGRAM_BOT_TOKEN": "123:abc",
        "ALLOWED_USER_IDS": "1, 2",
        "STATUS_POLL_INTERVAL": "0.5",
        "CONNECT_TIMEOUT": "60",
        "DEFAULT_REGION": "de",
        "LOG_LEVEL": "debug",
        "DATABASE_URL": "postgres://u:p@db:5432/bot",
        "ENCRYPTION_KEY": "k" * 43 + "=",
        "GATEWAYS": "wappim,greenapi",
        "DEFAULT_GATEWAY": "greenapi",
        "WAPP_TOKEN": "mine",
    }.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    assert s.telegram_bot_token.get_secret_value() == "123:abc"
    assert s.allowed_user_ids == [1, 2]
    assert s.is_allowed(2) and not s.is_allowed(3)
    assert s.status_poll_interval == 0.5
    assert s.connect_timeout == 60
    assert s.default_region == "DE"
    assert s.log_level == "DEBUG"
    assert s.sqlite_path is None
    assert (s.gateways, s.default_gateway) == (["wappim", "greenapi"], "greenapi")
    assert s.wapp_token.get_secret_value() == "mine"


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TELEGRAM_BOT_TOKEN=from-file\nWAPP_CRM=LK\n", encoding="utf-8")
    s = load_settings()
    assert s.telegram_bot_token.get_secret_value() == "from-file"
    assert s.wapp_crm == "LK"


def test_environment_beats_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TELEGRAM_BOT_TOKEN=from-file\n", encoding="utf-8")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "from-env")
    assert load_settings().telegram_bot_token.get_secret_value() == "from-env"


def test_empty_variables_mean_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "t")
    for name in [n for n in CONTRACT if n != "TELEGRAM_BOT_TOKEN"]:
        monkeypatch.setenv(name, "")
    s = load_settings()
    assert s.status_poll_interval == 2
    assert s.connect_timeout == 300
    assert s.allowed_user_ids == []
    assert s.gateways == ["wappim"]
    assert s.default_gateway == "wappim"
    assert s.default_region == "RU"
    assert s.log_level == "INFO"
    assert s.database_url == "sqlite://data/bot.sqlite3"
    assert s.wapp_token.get_secret_value() == WAPP_TEST_TOKEN
    assert s.itd_token is None


def test_fair_use_limits_from_the_environment_and_empty_means_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "t")
    monkeypatch.setenv("MAX_LINES_PER_USER", "2")
    monkeypatch.setenv("CONNECTS_PER_HOUR", "")
    s = load_settings()
    assert (s.max_lines_per_user, s.connects_per_hour) == (2, 10)
    monkeypatch.setenv("MAX_LINES_PER_USER", " ")
    monkeypatch.setenv("CONNECTS_PER_HOUR", "3")
    s = load_settings()
    assert (s.max_lines_per_user, s.connects_per_hour) == (5, 3)


def test_blank_variables_mean_defaults_and_values_lose_stray_spaces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", " 123:abc\n")
    for name in ("STATUS_POLL_INTERVAL", "DEFAULT_GATEWAY", "WAPP_TOKEN", "ITD_TOKEN"):
        monkeypatch.setenv(name, "  ")
    monkeypatch.setenv("DEFAULT_REGION", " de ")
    s = load_settings()
    assert s.telegram_bot_token.get_secret_value() == "123:abc"
    assert (s.status_poll_interval, s.default_gateway, s.itd_token) == (2, "wappim", None)
    assert s.wapp_token.get_secret_value() == WAPP_TEST_TOKEN
    assert s.default_region == "DE"


def test_only_commas_in_a_list_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "t")
    monkeypatch.setenv("ALLOWED_USER_IDS", " , ,")
    monkeypatch.setenv("GATEWAYS", ",")
    s = load_settings()
    assert (s.allowed_user_ids, s.gateways) == ([], ["wappim"])


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STATUS_POLL_INTERVAL", "abc"),
        ("STATUS_POLL_INTERVAL", "0"),
        ("CONNECT_TIMEOUT", "-5"),
        ("DEFAULT_REGION", "XX"),
        ("LOG_LEVEL", "LOUD"),
        ("DATABASE_URL", "mysql://u:p@localhost/bot"),
        ("ALLOWED_USER_IDS", "1, two"),
        ("GATEWAYS", "wappim,telegram"),
        ("DEFAULT_GATEWAY", "nope"),
        ("MAX_LINES_PER_USER", "0"),
        ("CONNECTS_PER_HOUR", "many"),
    ],
)
def test_wrong_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "t")
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert name in message
    assert len(message) > len(name) + 2
    assert caught.value.__cause__ is None  # `from None`: no pydantic dump behind it


def test_default_gateway_outside_gateways(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "t")
    monkeypatch.setenv("GATEWAYS", "wappim")
    monkeypatch.setenv("DEFAULT_GATEWAY", "itd")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "\n" not in str(caught.value)
    assert "DEFAULT_GATEWAY" in str(caught.value)
    assert "GATEWAYS" in str(caught.value)


def test_several_wrong_values_still_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "t")
    monkeypatch.setenv("STATUS_POLL_INTERVAL", "abc")
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert "STATUS_POLL_INTERVAL" in message and "LOG_LEVEL" in message


@pytest.mark.parametrize("token", [None, "", "  ", "\n"])
def test_missing_bot_token_points_to_botfather(
    monkeypatch: pytest.MonkeyPatch, token: str | None
) -> None:
    if token is not None:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "TELEGRAM_BOT_TOKEN" in message
    assert "@BotFather" in message
    assert "\n" not in message


def test_postgresql_needs_a_shared_encryption_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db:5432/bot")
    with pytest.raises(
        ConfigError, match="ENCRYPTION_KEY is empty, but DATABASE_URL is PostgreSQL"
    ):
        load_settings()


def test_the_http_server_needs_a_hook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.setenv("HTTP_PORT", "8080")
    with pytest.raises(ConfigError, match="HOOK_SECRET is empty, but HTTP_PORT"):
        load_settings()
    monkeypatch.setenv("HOOK_SECRET", "s3cret-s3cret")
    assert load_settings().http_port == 8080


def test_env_example_lists_every_setting() -> None:
    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text(encoding="utf-8")
    listed = {
        line.split("=", 1)[0]
        for line in example.splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert {name.upper() for name in Settings.model_fields} <= listed


@pytest.mark.parametrize(("value", "expected"), [(None, "auto"), ("", "auto"), ("OFF", "off")])
def test_threads_is_auto_unless_off(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: str
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    if value is not None:
        monkeypatch.setenv("THREADS", value)
    assert load_settings().threads == expected
    monkeypatch.setenv("THREADS", "sometimes")
    with pytest.raises(ConfigError, match="THREADS"):
        load_settings()
