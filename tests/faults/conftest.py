"""Fixtures of the fault tests: the real `python -m bot` process (see `test_kill.BotProcess`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim
from tests.faults.test_kill import BotProcess


@pytest.fixture
def process(telegram: FakeTelegram, wappim: FakeWappim, tmp_path: Path) -> Iterator[BotProcess]:
    bot = BotProcess(telegram, wappim, tmp_path)
    yield bot
    if bot.proc is not None:
        bot.proc.kill()
        bot.proc.wait(10)
