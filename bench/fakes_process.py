"""The fakes (the Bot API and the wapp.im emulator) in a process of their own, for the benchmarks.

Where a figure is about the bot, the bot must not share a core and a GIL with what it talks to,
so every benchmark runs three roles: the fakes in this child process, the bot in another
(`bench.bot_process`, or the send pipeline in the benchmark's own process), and the benchmark
itself, which mostly waits. The child builds `FakeTelegram` and `FakeWappim` (real HTTP servers on
127.0.0.1, each on a thread and event loop of its own, as in the tests), sends back their
addresses, then runs the benchmark's calls: `FakesProcess.call("name", *args)` runs
`FakesHost.name(*args)` there and returns its result. The methods answer small summaries (counts,
timestamps), never the fakes' whole state, so a call costs about a millisecond however big the
run.

Two costs of the real services' own servers are trimmed, so that the fakes' single core keeps
up with thousands of people: the emulator draws its QR images with zxing-cpp instead of the pure
Python `qrcode` (about 2 ms instead of 12 ms each; the same content, a 244 px PNG like before),
and the fake Bot API does not render the thumbnail of every photo it is sent (about 5 ms each).
`cpu_seconds` tells how busy the fakes were: near one core, they were the bottleneck.

Phones (`watch_qrs`): every QR photo the bot shows (sent, or edited in) is read back (zxing-cpp)
on a thread of its own, checked against the validity window the emulator gave that QR (valid
when it reached Telegram?), and, with `scan_after`, its phone scans it that many seconds later,
as a person would.

Timestamps are `time.monotonic()`, which on Linux is one clock for every process of the machine:
the benchmark compares them with its own.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import heapq
import io
import multiprocessing
import queue
import resource
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import httpx
import zxingcpp
from PIL import Image

from tests.fakes.telegram import JSON, Call, FakeTelegram
from tests.fakes.wappim import TASK_TOKEN, FakeInstance, FakeWappim, WappimTimeline

# Calls the bot makes to run at all (start-up, getUpdates, shutdown), not to talk to people.
HOUSEKEEPING = frozenset(
    {"getme", "getupdates", "deletewebhook", "setwebhook", "setmycommands", "close", "logout"}
)


@dataclass(frozen=True)
class Addresses:
    token: str
    api_url: str
    file_url: str
    wapp_url: str


@dataclass(frozen=True)
class TelegramCall:
    """One Bot API call, as far as a benchmark cares."""

    method: str  # as the bot spelled it (sendMessage, editMessageText, …)
    chat_id: int | None
    ok: bool
    at: float  # monotonic, when the call reached the fake
    text: str  # text or caption (the first 200 characters)


@dataclass(frozen=True)
class QrCheck:
    """A QR photo that reached Telegram, read back and checked."""

    chat_id: int
    at: float  # monotonic, when it reached the fake Bot API
    instance: int | None  # the emulator instance that issued it (None: not one it issued)
    left: float  # seconds of validity it had left then (negative: shown expired)


class LightTelegram(FakeTelegram):
    """The fake Bot API without a thumbnail for every photo (Telegram's work, not the bot's).
    With `qr_photos` set, every QR photo it is sent goes there as (arrival, chat, PNG)."""

    qr_marker = "Linked devices"
    qr_photos: queue.SimpleQueue[tuple[float, int, bytes]] | None = None

    def _record(self, call: Call) -> None:
        super()._record(call)
        if self.qr_photos is None or not call.ok:
            return
        if call.method not in ("sendPhoto", "editMessageMedia") or not call.files:
            return
        media = call.params.get("media")
        caption = call.params.get("caption") or (
            media.get("caption") if isinstance(media, dict) else None
        )
        chat = call.params.get("chat_id")
        if self.qr_marker in str(caption or "") and chat is not None:
            png = next(iter(call.files.values())).data
            self.qr_photos.put((call.at, int(chat), png))

    def _store_photo(self, data: bytes, size: int | None = None) -> list[JSON]:
        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            width, height = image.size
        full = self._store_file(data, "photo", size=size)
        sizes = [self._photo_size(full, width, height)]
        full.media = copy.deepcopy(sizes)
        return sizes


class LightWappim(FakeWappim):
    """The wapp.im emulator drawing its QR images with zxing-cpp (the gateway's work), and
    keeping each QR's validity window: QR content → (instance, valid until, monotonic), and
    when each message was logged: its id → monotonic (the moment the gateway holds it)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.qr_windows: dict[str, tuple[int, float]] = {}
        self.held_at: dict[str, float] = {}

    def _log_message(self, inst: FakeInstance, **fields: Any) -> str:
        message_id = super()._log_message(inst, **fields)
        self.held_at[message_id] = time.monotonic()
        return message_id

    def _advance(self, inst: FakeInstance) -> None:
        shown = inst.qrs[-1] if inst.qrs else None
        super()._advance(inst)
        if inst.qrs and inst.qrs[-1] != shown:  # a new QR: valid to the end of its slot
            tl = self.timeline
            end = inst.phase_started + tl.first_qr_seconds + inst.qr_slot * tl.rotate_seconds
            self.qr_windows[inst.qrs[-1]] = (inst.id, end)

    def _data_uri(self, content: str) -> str:
        uri = self._png_cache.get(content)
        if uri is None:
            barcode = zxingcpp.create_barcode(content, zxingcpp.BarcodeFormat.QRCode)
            small = barcode.to_image(scale=1, add_quiet_zones=True)
            side = small.shape[0]
            picture = Image.frombuffer("L", (side, side), bytes(small), "raw", "L", 0, 1)
            png = io.BytesIO()
            picture.resize((side * 4, side * 4), Image.Resampling.NEAREST).save(png, "PNG")
            uri = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
            self._png_cache[content] = uri
        return uri


class FakesHost:
    """What runs in the child: the two fakes and the benchmark's questions about them."""

    def __init__(
        self, instances: int, timeline: dict[str, float], *, threaded: bool = False
    ) -> None:
        self.telegram = LightTelegram(threaded=threaded)  # threaded: topics in private chats
        self.wappim = LightWappim(
            instances=instances,
            timeline=WappimTimeline(**timeline),
            seed=1,  # type: ignore[arg-type]
        )
        self.telegram.start()
        self.wappim.start()
        self.qr_checks: list[QrCheck] = []
        self._phones: threading.Thread | None = None

    def addresses(self) -> Addresses:
        return Addresses(
            self.telegram.token, self.telegram.api_url, self.telegram.file_url, self.wappim.url
        )

    def stop(self) -> None:
        if self.telegram.qr_photos is not None:
            self.telegram.qr_photos.put((0.0, 0, b""))  # the phones' thread ends
        self.telegram.stop()
        self.wappim.stop()

    # --- phones

    def watch_qrs(self, marker: str, scan_after: float | None) -> None:
        """Check every QR photo the bot shows from now on (`qr_checks`); with `scan_after`, its
        phone scans each person's QR that many seconds after their first reached Telegram."""
        self.telegram.qr_marker = marker
        self.telegram.qr_photos = queue.SimpleQueue()
        self._phones = threading.Thread(target=self._phones_run, args=(scan_after,), daemon=True)
        self._phones.start()

    def qr_report(self) -> list[QrCheck]:
        return list(self.qr_checks)

    def _phones_run(self, scan_after: float | None) -> None:
        photos = self.telegram.qr_photos
        assert photos is not None
        due: list[tuple[float, int, int]] = []  # (when, instance, chat): scans to make
        planned: set[int] = set()  # chats whose scan is planned
        while True:
            wait = max(0.0, due[0][0] - time.monotonic()) if due else None
            try:
                at, chat, png = photos.get(timeout=wait)
            except queue.Empty:
                pass
            else:
                if not png:
                    return
                check = self._check(at, chat, png)
                self.qr_checks.append(check)
                if scan_after is not None and check.instance is not None and chat not in planned:
                    planned.add(chat)
                    heapq.heappush(due, (at + scan_after, check.instance, chat))
            while due and due[0][0] <= time.monotonic():
                _, instance, chat = heapq.heappop(due)
                try:
                    self.wappim.scan(
                        instance, name=f"User {instance}", number=f"7999{instance:07d}"
                    )
                except AssertionError:  # no QR on screen now: scanned when the next one shows
                    planned.discard(chat)

    def _check(self, at: float, chat: int, png: bytes) -> QrCheck:
        found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
        window = self.wappim.qr_windows.get(found[0].text) if found else None
        if window is None:
            return QrCheck(chat, at, None, -1.0)
        instance, until = window
        return QrCheck(chat, at, instance, until - at)

    def cpu_seconds(self) -> float:
        """CPU time of the fakes' process so far (all its threads)."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    # --- Telegram

    def calls_of(self, method: str) -> int:
        return len(self.telegram.calls_of(method))

    def all_calls(self, since: float = 0.0) -> list[tuple[str, float]]:
        """(method, arrival) of every call since `since`, start-up and polling included."""
        return [(c.method, c.at) for c in self.telegram.calls if c.at >= since]

    def send_texts(self, messages: Iterable[tuple[int, str]]) -> list[int]:
        """Each (user, text) written to the bot, in order; their message ids."""
        return [self.telegram.send_text(user, text) for user, text in messages]

    def telegram_calls(self, since: float = 0.0) -> list[TelegramCall]:
        """The bot's calls that talk to people (no start-up, polling or shutdown calls)."""
        calls = []
        for call in self.telegram.calls:
            if call.at < since or call.method.lower() in HOUSEKEEPING:
                continue
            chat = call.params.get("chat_id")
            text = call.params.get("text") or call.params.get("caption") or ""
            media = call.params.get("media")
            if not text and isinstance(media, dict):
                text = media.get("caption") or ""
            calls.append(
                TelegramCall(
                    call.method,
                    int(chat)
                    if isinstance(chat, int | str) and str(chat).lstrip("-").isdigit()
                    else None,
                    call.ok,
                    call.at,
                    str(text)[:200],
                )
            )
        return calls

    def chats_shown(self, contains: str, since: float = 0.0) -> dict[int, float]:
        """chat id → when the bot's first successful call with `contains` in its text or caption
        reached that chat."""
        first: dict[int, float] = {}
        for call in self.telegram_calls(since):
            if call.ok and call.chat_id is not None and contains in call.text:
                first.setdefault(call.chat_id, call.at)
        return first

    def shown_count(self, contains: str, since: float = 0.0) -> int:
        """How many successful calls carried `contains` (a confirmation sent or edited in)."""
        return sum(1 for c in self.telegram_calls(since) if c.ok and contains in c.text)

    def pending_updates(self) -> int:
        return len(self.telegram.pending_updates)

    def send_document(self, user: int, data: bytes, name: str) -> int:
        """The person sends a file; its message id."""
        return self.telegram.send_document(user, data, name, mime_type="text/csv")

    def press_button(self, user: int, message_id: int, label: str) -> float:
        """The person taps a button of the bot's message; when (monotonic)."""
        at = time.monotonic()
        self.telegram.press_button(user, message_id, label)
        return at

    def message_with(self, user: int, contains: str, after: int = 0) -> int | None:
        """The id of the bot's first message in the chat after `after` whose text (now or
        once) contains `contains`, if any."""
        for message in self.telegram.messages(user):
            texts = [h.get("text") or h.get("caption") or "" for h in message.history]
            if message.message_id > after and any(contains in text for text in texts):
                return message.message_id
        return None

    def message_text(self, user: int, message_id: int) -> str:
        return self.telegram.message(user, message_id).content

    # --- wapp.im

    def link(self, count: int) -> list[tuple[int, str]]:
        """(instance, token) of `count` instances each shown a QR and scanned: linked lines."""
        spares = asyncio.run(self._spares(count))
        deadline = time.monotonic() + 60
        for instance, _ in spares:
            while self.wappim.current_qr(instance) is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"instance {instance} shows no QR after 60 s")
                time.sleep(0.01)
            self.wappim.scan(instance, name=f"Line {instance}", number=f"7999{instance:07d}")
        return spares

    async def _spares(self, count: int) -> list[tuple[int, str]]:
        """`count` instances handed out and woken (each shows a QR after init_seconds)."""
        headers = {"X-Tasktest-Token": TASK_TOKEN}
        async with httpx.AsyncClient(base_url=self.wappim.url + "/", headers=headers) as http:
            spares = []
            for _ in range(count):
                reply = await http.get("chat/spare", params={"crm": "TEST", "domain": "test"})
                body = reply.json()
                spares.append((int(body["id"]), str(body["token"])))
            for instance, token in spares:
                await http.get(f"instance{instance}/status", params={"token": token, "full": 1})
        return spares

    def scan_assigned(self) -> int:
        """Every handed-out instance that shows a QR is scanned by its phone; how many were."""
        wappim = self.wappim

        def scan_all() -> int:
            scanned = 0
            for inst in list(wappim._instances.values()):
                if not inst.assigned:
                    continue
                try:
                    wappim.scan(inst.id, name=f"User {inst.id}", number=f"7999{inst.id:07d}")
                except AssertionError:  # no QR on screen (yet): not scanned
                    continue
                scanned += 1
            return scanned

        return wappim._on_loop(scan_all)  # one pass on the emulator's loop, not N round trips

    def receive(self, messages: list[tuple[int, str, str]], rate: float = 0.0) -> list[float]:
        """Each (instance, contact's phone, text) reaches its instance, from "Bench"; with `rate`,
        evenly spaced at that many a second from now (else at once). When the emulator held each
        (monotonic, taken on its loop as the message was logged)."""
        held, start = [], time.monotonic()
        for n, (instance, phone, body) in enumerate(messages):
            if rate:
                time.sleep(max(0.0, start + n / rate - time.monotonic()))
            message_id = self.wappim.receive(instance, phone=phone, sender_name="Bench", body=body)
            held.append(self.wappim.held_at.pop(message_id))
        return held

    def lines_polled(self, path_contains: str, since: float = 0.0) -> int:
        """How many instances had a request whose path contains `path_contains` since `since`."""
        seen = set()
        for request in self.wappim.requests:
            if request.at >= since and path_contains in request.path:
                seen.add(request.path.split("/instance", 1)[-1].split("/", 1)[0])
        return len(seen)

    def request_times(self, path_contains: str, since: float = 0.0) -> dict[int, list[float]]:
        """instance → arrival times of its requests whose path contains `path_contains`."""
        times: dict[int, list[float]] = {}
        for request in self.wappim.requests:
            if request.at < since or path_contains not in request.path:
                continue
            head = request.path.split("/instance", 1)
            if len(head) == 2:
                instance = int(head[1].split("/", 1)[0])
                times.setdefault(instance, []).append(request.at)
        return times

    def arrivals(self, path_contains: str, since: float = 0.0) -> list[float]:
        """Arrival times of the requests whose path contains `path_contains`."""
        return [r.at for r in self.wappim.requests if r.at >= since and path_contains in r.path]

    def request_counts(self, since: float = 0.0) -> dict[str, int]:
        """Requests to the emulator by method (the last part of the path)."""
        return dict(
            Counter(r.path.rsplit("/", 1)[-1] for r in self.wappim.requests if r.at >= since)
        )

    def sent(self, since: float = 0.0) -> list[tuple[str, float]]:
        """(body, arrival time) of every sendMessage the emulator took."""
        return [(m.body, m.at) for m in self.wappim.sent if m.at >= since]

    def sent_count(self) -> int:
        return self.wappim._on_loop(lambda: len(self.wappim._sent))

    def assigned(self) -> int:
        return self.wappim._on_loop(
            lambda: sum(1 for i in self.wappim._instances.values() if i.assigned)
        )


def _serve(
    conn: Connection, instances: int, timeline: dict[str, float], threaded: bool = False
) -> None:
    host = FakesHost(instances, timeline, threaded=threaded)
    conn.send(("ok", host.addresses()))
    while True:
        name, args = conn.recv()
        if name == "stop":
            host.stop()
            conn.send(("ok", None))
            return
        try:
            conn.send(("ok", getattr(host, name)(*args)))
        except Exception:
            conn.send(("error", traceback.format_exc()))


class FakesProcess:
    """The fakes in a child process; `call` runs one `FakesHost` method there (thread-safe).
    `threaded`: the Bot API with topics in private chats (the bot's Threaded Mode)."""

    def __init__(self, *, instances: int = 3, threaded: bool = False, **timeline: float) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._conn, child = self._context.Pipe()
        self._process = self._context.Process(
            target=_serve, args=(child, instances, timeline, threaded), daemon=True
        )
        self._lock = threading.Lock()
        self._process.start()
        child.close()
        status, self.addresses = self._conn.recv()
        assert status == "ok"

    def call(self, name: str, *args: Any) -> Any:
        with self._lock:
            self._conn.send((name, args))
            status, result = self._conn.recv()
        if status == "error":
            raise RuntimeError(f"in the fakes' process, {name}:\n{result}")
        return result

    async def acall(self, name: str, *args: Any) -> Any:
        """`call` without holding up the caller's event loop."""
        return await asyncio.to_thread(self.call, name, *args)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def stop(self) -> None:
        if self._process.is_alive():
            self.call("stop")
        self._process.join(10)

    def __enter__(self) -> FakesProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
