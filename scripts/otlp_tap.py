"""What the smoke test's OTLP receivers (oteltap, NDJSON: one span or log record a line)
collected, read the way trace-check.py and log-check.py both need it.

Items arrive in batches (the exporters flush every second or so), so the checks re-read
their files with `poll` until what they look for is there or their --wait runs out.
"""

from __future__ import annotations

import json
import time
from typing import Callable, TypeVar

T = TypeVar("T")


def read(path: str) -> list[dict]:
    """Every complete item of the file so far; none while the file does not exist yet."""
    items = []
    try:
        with open(path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        items.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass  # a line still being written
    except FileNotFoundError:
        pass
    return items


def attributes(item: dict) -> dict:
    """An item's OTLP attributes as `{key: value}` (each value unwrapped from its type)."""
    return {a.get("key"): next(iter(a.get("value", {}).values()), None) for a in item.get("attributes", [])}


def checkout_trace_id(spans: list[dict]) -> str | None:
    """The trace of the BFF's `checkout` mutation: the smoke test places one order."""
    return next((s.get("traceId") for s in spans if s.get("name") == "checkout"), None)


def poll(wait: float, attempt: Callable[[], tuple[bool, T]]) -> tuple[bool, T]:
    """Runs `attempt` once a second until it reports success or `wait` seconds have passed;
    returns its last answer (the state to report on a failure)."""
    deadline = time.monotonic() + wait
    while True:
        done, state = attempt()
        if done or time.monotonic() >= deadline:
            return done, state
        time.sleep(1)
