"""The real `python -m bot` process, killed with SIGKILL at bad moments and started again.

The process gets only configuration-contract variables (plus PATH and HOME) that point at the
fakes running in this test process, and a SQLite file of its own (or the `database_url` given, with
`env` for more variables: the replica tests run several on one PostgreSQL in webhook mode). Its
stderr is kept per run. `pace` runs `tests.faults.paced_bot` instead: the same bot with its connect
queue paced for the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.services.admission import Pace
from tests.conftest import USER, assigned_instance
from tests.fakes.telegram import FakeMessage, FakeTelegram
from tests.fakes.wappim import FakeWappim

ROOT = Path(__file__).resolve().parents[2]  # the project root: `python -m bot` runs from there
PHONE = "89872745052"
RECIPIENT = "79872745052"
ACCOUNT = "79991234567"


class BotProcess:
    def __init__(
        self,
        telegram: FakeTelegram,
        wappim: FakeWappim,
        workdir: Path,
        level: str = "INFO",
        *,
        database_url: str | None = None,
        name: str = "",
        env: dict[str, str] | None = None,
        pace: Pace | None = None,
    ) -> None:
        self.telegram = telegram
        self.command = [sys.executable, "-m", "bot"]
        if pace is not None:
            self.command = [
                sys.executable,
                "-m",
                "tests.faults.paced_bot",
                json.dumps(asdict(pace)),
            ]
        self.workdir = workdir
        self.name = name  # tells the stderr logs of processes sharing `workdir` apart
        self.db_path = workdir / "bot.sqlite3"
        env = env or {}
        self.encryption_key = env.get("ENCRYPTION_KEY") or Fernet.generate_key().decode()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(workdir)),
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_API_URL": telegram.api_url,
            "TELEGRAM_FILE_URL": telegram.file_url,
            "WAPP_API_URL": wappim.url,
            "DATABASE_URL": database_url or f"sqlite://{self.db_path}",
            "STATUS_POLL_INTERVAL": "0.05",
            "INCOMING_POLL_INTERVAL": "0.05",
            "ENCRYPTION_KEY": self.encryption_key,
            "LOG_LEVEL": level,
            **env,
        }
        self.logs: list[Path] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self._deletes_before = 0

    @property
    def webhook(self) -> bool:
        return bool(self.env.get("TELEGRAM_WEBHOOK_URL"))

    def start(self) -> None:
        self.launch()
        self.wait_started()

    def launch(self) -> None:
        """Start the process without waiting for it (see `wait_started`)."""
        assert self.proc is None, "already running"
        self._deletes_before = len(self.telegram.calls_of("deleteWebhook"))
        prefix = f"{self.name}-" if self.name else ""
        log = self.workdir / f"{prefix}stderr-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as stderr:
            self.proc = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )

    def wait_started(self, timeout: float = 30) -> None:
        """Polling: deleteWebhook comes right before polling, after the outbox recovered and
        connects resumed. Webhook mode: the log line that follows this process's setWebhook."""
        proc = self.proc
        assert proc is not None

        def started() -> bool:
            if self.webhook:
                return "bot started as" in self.logs[-1].read_text(errors="replace")
            return len(self.telegram.calls_of("deleteWebhook")) > self._deletes_before

        self.telegram.wait_for(lambda: started() or proc.poll() is not None, timeout)
        assert proc.poll() is None, f"the bot exited at start:\n{self.stderr()[-3000:]}"

    def wait_exit(self, timeout: float = 30) -> int:
        """The exit code of a process expected to stop by itself."""
        assert self.proc is not None
        code = self.proc.wait(timeout)
        self.proc = None
        return code

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        code = self.proc.wait(30)
        self.proc = None
        assert code == 0, f"exit code {code}:\n{self.stderr()[-3000:]}"

    def stderr(self) -> str:
        return "".join(log.read_text(errors="replace") for log in self.logs if log.exists())

    def chat_ui(self) -> tuple[int, int] | None:
        """(ui_message_id, ui_is_photo) of the newest chat row, read straight from SQLite."""
        if not self.db_path.exists():
            return None
        uri = f"file:{self.db_path}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=2)) as con:
            query = "SELECT ui_message_id, ui_is_photo FROM whatsapp_chat ORDER BY id DESC LIMIT 1"
            found = con.execute(query).fetchone()
        return (int(found[0]), int(found[1])) if found else None

    def chat_instance(self) -> int | None:
        """The gateway instance of the newest chat row, read straight from SQLite."""
        if not self.db_path.exists():
            return None
        uri = f"file:{self.db_path}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=2)) as con:
            query = "SELECT instance_id FROM whatsapp_chat ORDER BY id DESC LIMIT 1"
            found = con.execute(query).fetchone()
        return int(found[0]) if found else None

    def rows(self, text: str) -> list[tuple[str, int | None]]:
        """(status, ui_message_id) of the outbox rows with this text, read straight from SQLite."""
        if not self.db_path.exists():
            return []
        uri = f"file:{self.db_path}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=2)) as con:
            query = "SELECT status, ui_message_id FROM outgoing_message WHERE text = ?"
            return [(str(s), m) for s, m in con.execute(query, (text,)).fetchall()]


def link(telegram: FakeTelegram, wappim: FakeWappim, name: str = "Ivan") -> int:
    telegram.send_text(USER, "/connect")
    telegram.wait_message(USER, "Linked devices", photo=True)
    instance = assigned_instance(wappim)
    wappim.scan(instance, name=name, number=ACCOUNT)
    telegram.wait_message(USER, "connected as")
    return instance


def bodies(wappim: FakeWappim, text: str) -> int:
    return sum(1 for m in wappim.sent if m.body == text)


def pending(telegram: FakeTelegram, message_id: int) -> bool:
    return any(
        (u.get("message") or {}).get("message_id") == message_id for u in telegram.pending_updates
    )


@pytest.mark.parametrize("moment", ["photo_shown", "photo_saved"])
def test_kill_during_connect_then_restart_and_scan(
    process: BotProcess, telegram: FakeTelegram, wappim: FakeWappim, moment: str
) -> None:
    """`photo_shown`: SIGKILL the moment the QR photo appears (before the bot may have stored its
    message id); `photo_saved`: once the database says the QR is on screen as a photo."""
    process.start()
    telegram.send_text(USER, "/connect")
    photo = telegram.wait_message(USER, "Linked devices", photo=True)
    if moment == "photo_saved":
        telegram.wait_for(lambda: process.chat_ui() == (photo.message_id, 1), 5)
    instance = assigned_instance(wappim)
    process.kill()

    process.start()

    # The attempt resumed from the database: a QR photo rotates again, and no new line is taken.
    def rotating() -> FakeMessage | None:
        shown = [m for m in telegram.messages(USER) if m.photo and not m.deleted]
        return shown[-1] if shown and len(shown[-1].photos) >= 2 else None

    live = telegram.wait_for(rotating, 10)
    if moment == "photo_saved":
        assert live.message_id == photo.message_id, "the same photo is replaced in place"
    assert [i.id for i in wappim.instances() if i.assigned] == [instance]
    wappim.scan(instance, name="Kill Nine", number=ACCOUNT)
    done = telegram.wait_message(USER, "connected as")
    assert "Kill Nine" in (done.text or "")
    assert "+7 999 123-45-67" in (done.text or "")
    assert sum("connected as" in m.content for m in telegram.messages(USER)) == 1
    orphans = [m.message_id for m in telegram.messages(USER) if m.photo and not m.deleted]
    if moment == "photo_saved":
        assert orphans == [], "the spent QR photo is removed"
    else:  # killed between sendPhoto and saving its id: that photo is beyond the bot's reach
        assert orphans in ([], [photo.message_id])
    sent = telegram.send_text(USER, f"/send {PHONE} after the restart")
    telegram.wait_message(USER, "Sent to", after=sent)
    assert bodies(wappim, "after the restart") == 1
    process.stop()
    assert "Traceback" not in process.stderr()


def test_kill_while_getting_a_line_then_restart(
    process: BotProcess, telegram: FakeTelegram, wappim: FakeWappim
) -> None:
    """SIGKILL while the gateway hands out a line (no chat row yet): after the restart the attempt
    starts again by itself, and the person gets their QR without a second /connect."""
    wappim.set_free(3)
    process.start()
    wappim.delay_next("chat/spare", 2.0)
    telegram.send_text(USER, "/connect")
    telegram.wait_for(lambda: wappim.requests_to("chat/spare"), 5)
    process.kill()

    process.start()

    telegram.wait_message(USER, "Linked devices", photo=True, timeout=10)
    instance = process.chat_instance()
    assert instance is not None
    wappim.scan(instance, name="Second Try", number=ACCOUNT)
    done = telegram.wait_message(USER, "connected as")
    assert "Second Try" in (done.text or "")
    assert sum("connected as" in m.content for m in telegram.messages(USER)) == 1
    process.stop()
    assert "Traceback" not in process.stderr()


@pytest.mark.parametrize("moment", ["accepted", "in_flight", "sent"])
def test_an_update_delivered_twice_is_sent_at_most_once(
    process: BotProcess, telegram: FakeTelegram, wappim: FakeWappim, moment: str
) -> None:
    """SIGKILL before the bot confirmed the /send update: Telegram delivers it again after the
    restart. `accepted`: the row is stored and queued, nothing sent (the gateway answers 503, so
    it waits to try again); `in_flight`: the gateway holds the sendMessage request; `sent`: the
    gateway answered."""
    process.start()
    link(telegram, wappim)
    text = f"only once {moment}"
    if moment == "accepted":
        wappim.fail_next("sendMessage", status=503, times=1000)
    elif moment == "in_flight":
        wappim.delay_next("sendMessage", 1.0)
    # The poll held now delivers the /send; the next one (confirming it) never reaches the API.
    telegram.set_delay("getUpdates", 1.0)
    telegram.drop_connection_next("getUpdates")
    update = telegram.send_text(USER, f"/send {PHONE} {text}")
    if moment == "accepted":  # refused once, queued again for its next try (seconds away)
        telegram.wait_for(
            lambda: wappim.requests_to("sendMessage") and process.rows(text)[0][0] == "queued", 5
        )
    elif moment == "in_flight":
        telegram.wait_for(lambda: wappim.requests_to("sendMessage"), 5)
    else:  # confirmed, and the confirmation's id stored (a kill in between shows it twice)
        telegram.wait_message(USER, "Sent to", after=update, timeout=5)
        telegram.wait_for(lambda: process.rows(text)[0][1] is not None, 5)
    assert pending(telegram, update), "the update was confirmed before the kill"
    process.kill()

    # Let the held requests of the dead process finish (the confirming poll is dropped).
    telegram.wait_for(lambda: any(c.status == 0 for c in telegram.calls_of("getUpdates")), 5)
    telegram.set_delay("getUpdates", 0)
    telegram.set_delay("sendMessage", 0)
    wappim.clear_faults("sendMessage")
    if moment == "in_flight":  # the gateway completes the request it was holding
        telegram.wait_for(lambda: bodies(wappim, text) == 1, 5)
    assert pending(telegram, update)
    before = max(m.message_id for m in telegram.messages(USER))

    process.start()
    telegram.wait_for(lambda: not pending(telegram, update), 10)  # redelivered and confirmed
    if moment == "accepted":  # its confirmation (perhaps the waiting one, edited) says sent
        telegram.wait_for(lambda: any("Sent to" in m.content for m in telegram.messages(USER)), 15)
    elif moment == "in_flight":
        unsure = telegram.wait_message(USER, "don't know whether", after=update, timeout=10)
        assert "Send again" in str(unsure.buttons)
    telegram.wait_for(lambda: all(s not in ("queued", "sending") for s, _ in process.rows(text)))
    time.sleep(0.5)  # time for a second WhatsApp message, if one were coming
    assert bodies(wappim, text) == 1, f"{bodies(wappim, text)} WhatsApp messages for one /send"
    assert len(process.rows(text)) == 1
    if moment == "sent":  # already done: the redelivered update is not answered again
        assert max(m.message_id for m in telegram.messages(USER)) == before
    process.stop()


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_a_whole_session_leaks_no_secret(
    telegram: FakeTelegram, wappim: FakeWappim, tmp_path: Path, level: str
) -> None:
    process = BotProcess(telegram, wappim, tmp_path, level)
    process.start()
    try:
        telegram.send_text(USER, "/connect")
        photo = telegram.wait_message(USER, "Linked devices", photo=True)
        telegram.wait_for(lambda: len(telegram.message(USER, photo.message_id).photos) >= 2)
        instance = assigned_instance(wappim)
        wappim.scan(instance, name="Keeper", number=ACCOUNT)
        telegram.wait_message(USER, "connected as")
        sent = telegram.send_text(USER, f"/send {PHONE} a secret session")
        telegram.wait_message(USER, "Sent to", after=sent)
        asked = telegram.send_text(USER, "/status")
        telegram.wait_message(USER, "State: connected", after=asked)
        asked = telegram.send_text(USER, "/disconnect")
        confirm = telegram.wait_message(USER, "Disconnect", after=asked)
        telegram.press_button(USER, confirm.message_id, "Yes")
        telegram.wait_message(USER, "Disconnected")
        process.stop()
    finally:
        if process.proc is not None:
            process.kill()
    log = process.stderr()
    assert "bot started" in log
    secrets = {
        "bot token": telegram.token,
        "bot token secret part": telegram.token.split(":", 1)[1],
        "WAPP_TOKEN": wappim.token,
        "instance token": wappim.instance(instance).token,
        "ENCRYPTION_KEY": process.encryption_key,
    }
    for name, secret in secrets.items():
        assert secret not in log, f"the {name} is in the {level} log"
    if level == "INFO":
        assert RECIPIENT not in log, "the recipient's phone is in full in the INFO log"
        assert ACCOUNT not in log, "the account's phone is in full in the INFO log"
        assert "7987***5052" in log  # masked, yet still there to correlate
    else:
        assert " DEBUG " in log
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("bot.sqlite3*"))
    assert stored, "no database file"
    assert wappim.instance(instance).token.encode() not in stored, "instance token in clear"
    assert telegram.token.encode() not in stored
