"""`python -m bot` picks uvloop's event loop where uvloop is installed, asyncio's where it is not,
and the bot's code runs the same on either."""

from __future__ import annotations

import asyncio
import sys

import pytest

from bot.__main__ import event_loop


def test_uvloop_where_it_is_installed() -> None:
    uvloop = pytest.importorskip("uvloop")
    assert event_loop() is uvloop.new_event_loop


def test_asyncio_where_uvloop_cannot_be_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError
    factory = event_loop()
    assert factory is asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        assert runner.run(asyncio.sleep(0, "ran")) == "ran"
