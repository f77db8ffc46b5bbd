"""`python -m bot` with the connect queue paced for a test (`bot.services.admission.Pace`, given
as JSON: `python -m tests.faults.paced_bot '{"calls_per_attempt": 30}'`). The pace is not a
setting, so a test that runs the bot as a process of its own starts it here."""

from __future__ import annotations

import asyncio
import json
import sys

from bot.app import StartupError, run
from bot.config import ConfigError, load_settings
from bot.logs import setup_logging
from bot.services.admission import Pace


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"bot: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    try:
        asyncio.run(run(settings, pace=Pace(**json.loads(sys.argv[1]))))
    except StartupError as exc:
        print(f"bot: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
