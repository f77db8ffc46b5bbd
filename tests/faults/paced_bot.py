"""`python -m bot` with the connect queue paced for a test (`bot.services.admission.Pace`, given
as JSON: `python -m tests.faults.paced_bot '{"calls_per_attempt": 30}'`). The pace is not a
setting, so a test that runs the bot as a process of its own starts it here."""

from __future__ import annotations

import json
import sys

from bot.__main__ import main
from bot.services.admission import Pace

if __name__ == "__main__":
    sys.exit(main(pace=Pace(**json.loads(sys.argv[1]))))
