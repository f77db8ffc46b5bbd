"""`python -m bot`: read the settings, then run until Ctrl+C or SIGTERM.

The event loop is uvloop's where uvloop is installed (a dependency on CPython outside Windows):
the same bot costs less CPU per request on it (README, "Benchmarks → Transport"). Where it is not
installed, asyncio's own loop runs the same code; nothing else depends on which one runs.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

from bot.app import StartupError, run
from bot.config import ConfigError, load_settings
from bot.gateways.registry import GatewayConfigError
from bot.logs import secrets, setup_logging


def event_loop() -> Callable[[], asyncio.AbstractEventLoop]:
    """How to make the bot's event loop: uvloop's when it is installed, else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"bot: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    try:
        with asyncio.Runner(loop_factory=event_loop()) as runner:
            runner.run(run(settings))
    except (GatewayConfigError, StartupError, ValueError) as exc:
        print(f"bot: {secrets.redact(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
