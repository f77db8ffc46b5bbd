"""What /metrics exposes (Prometheus text format, through prometheus-client).

Labels never carry a phone number, a token or a person's text: gateway names, API method names
(path segments without ids or tokens), outcomes and update kinds only. Each replica counts its
own work; the outbox figures are read from the shared database when scraped.
"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES = Counter(
    "bot_telegram_updates_total", "Telegram updates handled, by kind", ["kind"], registry=REGISTRY
)
GATEWAY_CALLS = Counter(
    "bot_gateway_calls_total",
    "Gateway HTTP calls, by gateway, API method and outcome",
    ["gateway", "method", "outcome"],
    registry=REGISTRY,
)
GATEWAY_SECONDS = Histogram(
    "bot_gateway_call_seconds",
    "Gateway HTTP call latency",
    ["gateway", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
CONNECTS = Counter(
    "bot_connect_flows_total",
    "Connect flows ended, by outcome (linked, expired, cancelled, failed, refused)",
    ["outcome"],
    registry=REGISTRY,
)
CONNECT_QUEUE = Gauge(
    "bot_connect_queue_waiting",
    "/connect attempts waiting in line for their turn (as last counted by this replica)",
    registry=REGISTRY,
)
MESSAGES = Counter(
    "bot_messages_total",
    "Outgoing WhatsApp messages, by final status",
    ["status"],
    registry=REGISTRY,
)
INCOMING = Counter(
    "bot_incoming_forwarded_total",
    "Incoming WhatsApp messages shown in Telegram, by gateway",
    ["gateway"],
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge("bot_outbox_queued", "Messages waiting in the outbox", registry=REGISTRY)
OUTBOX_OLDEST = Gauge(
    "bot_outbox_oldest_queued_seconds",
    "Age of the oldest message waiting in the outbox (0 when none)",
    registry=REGISTRY,
)

_VARIABLE = re.compile(r"\d|[A-Za-z0-9_-]{25,}")


def api_method(path: str) -> str:
    """`instance22/sendMessage?token=…` → `sendMessage`; `waInstance1101/qr/<token>` → `qr`:
    the path without query, ids and tokens (a bounded label)."""
    segments = [s for s in path.split("?", 1)[0].strip("/").split("/") if s]
    kept = [s for s in segments if not _VARIABLE.search(s)]
    return "/".join(kept)[:64] or "-"
