"""What every gateway emulator shares: a server lifecycle, fault knobs and a request log.

`Emulator` is the base of `FakeWappim`, `FakeGreenApi`, `FakeItd` and `FakeWhinmovilla`. It runs an
aiohttp application that routes every path to `_respond` on a `BackgroundServer` (see `server.py`),
and gives each emulator:

- the lifecycle: `start()`, `stop()` (idempotent; it also closes the server's loop), and the context
  manager; `url` is the server's address plus the `url_path` the emulator passes in;
- `_on_loop(fn)`: run `fn` on the server loop once the server runs (so a knob called from the test
  thread never races a request handler), else inline;
- the fault queue: `fail_next`, `delay_next`, `drop_next`, `malformed_next`. A fault matches a
  substring of the request path (case-insensitively when `fault_paths_ignore_case`), faults are used
  in the order they were added, and they apply before anything else: the request is recorded but
  the emulated gateway never sees it. A malformed reply is 200 with `malformed_body` (what a proxy
  that cut the connection mid-body leaves behind);
- the request log: `requests` and `requests_to(path_contains)`, holding one `RequestRecord` (or the
  emulator's subclass of it, with its extra fields) per request, in arrival order.

A subclass implements `_respond(request)`, which first awaits `_intake(request, **extra fields)`:
that records the request and applies a pending fault, returning the fault's reply (or None to go
on and answer normally). Any exception `_respond` raises becomes a 500 with a plain-text body.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar

from aiohttp import web

from tests.fakes.server import BackgroundServer

T = TypeVar("T")

FaultKind = Literal["fail", "delay", "drop", "malformed"]

PROXY_502_PAGE = "<html><body><h1>502 Bad Gateway</h1></body></html>"


@dataclass(frozen=True)
class RequestRecord:
    """One request as it arrived; emulators subclass it to keep more (body fields, …)."""

    method: str  # HTTP verb
    path: str  # as requested, without the query
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    at: float  # monotonic, on arrival


R = TypeVar("R", bound=RequestRecord)


def text_fields(data: dict[Any, Any]) -> dict[str, str]:
    """A JSON object's values as the strings a query or form field would carry: request logs
    keep every body as text fields, whichever way the client sent it."""
    return {str(key): _text_value(value) for key, value in data.items()}


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


@dataclass
class Fault:
    kind: FaultKind
    path_contains: str  # lower-cased when the emulator matches paths case-insensitively
    times: int
    status: int = 500
    body: bytes = b""
    content_type: str = "text/html"
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


class Emulator(Generic[R]):
    """A gateway emulator's server, fault knobs and request log; see the module docstring."""

    malformed_body: ClassVar[bytes] = b'{"'  # the 200 body of `malformed_next`
    fault_paths_ignore_case: ClassVar[bool] = False

    def __init__(self, record_type: type[R], *, url_path: str = "") -> None:
        self._record_type = record_type
        self._requests: list[R] = []
        self._faults: list[Fault] = []
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = BackgroundServer(app)
        self.url = self._server.url + url_path
        self._started = False
        self._stopped = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._server.start()
        self._started = True

    def stop(self) -> None:
        if not self._started or self._stopped:
            return
        self._stopped = True
        self._server.stop()
        if not self._server.loop.is_running():
            self._server.loop.close()  # else an "unclosed event loop" ResourceWarning at GC

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run `fn` where the state lives: on the server loop once it runs, else right here."""
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if not self._started or self._stopped or here is self._server.loop:
            return fn()
        return self._server.call(fn)

    # ------------------------------------------------------------------ fault knobs

    def fail_next(
        self,
        path_contains: str,
        *,
        status: int = 500,
        body: str | bytes = PROXY_502_PAGE,
        content_type: str = "text/html",
        times: int = 1,
    ) -> None:
        """Answer the next matching requests with this error (default: a proxy's HTML page).

        Faults match a substring of the request path, are used in the order they were added, and
        apply before anything else: the request is recorded but the gateway never sees it.
        """
        self._add_fail(path_contains, status, body, content_type, times)

    def delay_next(self, path_contains: str, seconds: float, times: int = 1) -> None:
        """Hold the next matching replies for `seconds`, then answer them normally."""
        self._add_fault(Fault("delay", path_contains, times, seconds=seconds))

    def drop_next(self, path_contains: str, times: int = 1) -> None:
        """Close the connection of the next matching requests without an answer."""
        self._add_fault(Fault("drop", path_contains, times))

    def malformed_next(self, path_contains: str, times: int = 1) -> None:
        """Answer the next matching requests with 200 and a truncated JSON body."""
        self._add_fault(Fault("malformed", path_contains, times))

    def clear_faults(self, path_contains: str) -> None:
        """Forget the pending faults added for `path_contains` (an outage ends)."""
        if self.fault_paths_ignore_case:
            path_contains = path_contains.lower()

        def clear() -> None:
            self._faults[:] = [f for f in self._faults if f.path_contains != path_contains]

        self._on_loop(clear)

    def _add_fail(
        self,
        path_contains: str,
        status: int,
        body: str | bytes,
        content_type: str,
        times: int,
        headers: dict[str, str] | None = None,
    ) -> None:
        raw = body.encode() if isinstance(body, str) else body
        self._add_fault(
            Fault(
                "fail",
                path_contains,
                times,
                status=status,
                body=raw,
                content_type=content_type,
                headers=dict(headers or {}),
            )
        )

    def _add_fault(self, fault: Fault) -> None:
        if self.fault_paths_ignore_case:
            fault.path_contains = fault.path_contains.lower()
        self._on_loop(lambda: self._faults.append(fault))

    def _take_fault(self, path: str) -> Fault | None:
        if self.fault_paths_ignore_case:
            path = path.lower()
        for fault in self._faults:
            if fault.path_contains in path:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # ------------------------------------------------------------------ the request log

    @property
    def requests(self) -> list[R]:
        return self._on_loop(lambda: list(self._requests))

    def requests_to(self, path_contains: str) -> list[R]:
        return [r for r in self.requests if path_contains in r.path]

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._respond(request)
        except Exception as exc:  # the emulator answers, whatever happens
            return web.Response(status=500, text=f"500 Internal Server Error\n{exc!r}")

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        """Answer one request; starts with `_intake`. Implemented by each emulator."""
        raise NotImplementedError

    async def _intake(self, request: web.Request, **extra: Any) -> web.StreamResponse | None:
        """Record the request (with the emulator's `extra` record fields), then apply a fault.

        Returns the reply of the first pending fault that matches the path (for `drop`, one that
        never reaches the client), or None: no fault, or a delay that is over, so answer normally.
        """
        self._requests.append(
            self._record_type(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers={k.lower(): v for k, v in request.headers.items()},
                at=time.monotonic(),
                **extra,
            )
        )
        fault = self._take_fault(request.path)
        if fault is None:
            return None
        if fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
            return None
        if fault.kind == "drop":
            if request.transport is not None:
                request.transport.close()
            return web.Response()  # never reaches the client
        if fault.kind == "malformed":
            return web.Response(body=self.malformed_body, content_type="application/json")
        return web.Response(
            status=fault.status,
            body=fault.body,
            headers={"Content-Type": fault.content_type, **fault.headers},
        )
