"""`python -m bot`: read the settings, then run until Ctrl+C or SIGTERM."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from bot.app import StartupError, run
from bot.config import ConfigError, load_settings
from bot.gateways.registry import GatewayConfigError
from bot.logs import secrets, setup_logging


def main(**options: Any) -> int:
    """`options`: what `bot.app.run` takes besides the settings (a test's connect pace)."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"bot: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    try:
        asyncio.run(run(settings, **options))
    except (GatewayConfigError, StartupError, ValueError) as exc:
        print(f"bot: {secrets.redact(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
