"""Fixtures of the fault tests: the real `python -m bot` process (see `test_kill.BotProcess`),
and replicas of it on one PostgreSQL database behind a balancer (see `cluster.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.balancer import Balancer
from tests.fakes.telegram import FakeTelegram
from tests.fakes.wappim import FakeWappim
from tests.faults.cluster import Cluster, Database
from tests.faults.test_kill import BotProcess


@pytest.fixture
def process(telegram: FakeTelegram, wappim: FakeWappim, tmp_path: Path) -> Iterator[BotProcess]:
    bot = BotProcess(telegram, wappim, tmp_path)
    yield bot
    if bot.proc is not None:
        bot.proc.kill()
        bot.proc.wait(10)


@pytest.fixture
def balancer() -> Iterator[Balancer]:
    front = Balancer()
    front.start()
    yield front
    front.stop()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.close()


@pytest.fixture
def cluster(
    telegram: FakeTelegram,
    wappim: FakeWappim,
    database_url: str,
    tmp_path: Path,
    balancer: Balancer,
) -> Iterator[Cluster]:
    replicas = Cluster(telegram, wappim, database_url, tmp_path, balancer)
    yield replicas
    replicas.close()
