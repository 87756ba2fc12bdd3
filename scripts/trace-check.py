#!/usr/bin/env python3
"""Checks that one checkout is one trace (DESIGN §7).

Reads the spans an OTLP receiver (oteltap, NDJSON, one span per line) collected while the
smoke test placed its order, finds the trace that holds the BFF's `checkout` mutation, and
requires every hop of the saga in it: the gRPC calls the BFF and Order make, and each
RabbitMQ delivery on the queue of the service that consumes it. A hop that is missing means
trace context was dropped somewhere (an HTTP header, gRPC metadata, an AMQP header or an
outbox row), which is exactly what this is here to catch.

Usage: trace-check.py SPANS.ndjson [--wait SECONDS]
Exit 0 when the trace is complete; 1 with the missing hops listed otherwise. Spans arrive in
batches (the exporter flushes every few seconds), so it re-reads the file until --wait runs
out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict

# (span name, where) pairs the checkout's trace must hold. `where` is the AMQP queue for a
# consumer span (messaging.destination) or the Rust module (target) for the rest.
REQUIRED_HOPS = [
    ("checkout", "shop_bff::schema::mutation"),
    ("shop.order.v1.OrderService/PlaceOrder", "shop_kit::grpc_layer"),
    ("shop.cart.v1.CartService/GetCart", "shop_kit::grpc_layer"),
    ("shop.product.v1.ProductService/BatchGetProducts", "shop_kit::grpc_layer"),
    ("order.created process", "inventory.orders"),
    ("inventory.reserved process", "order.saga"),
    ("order.payment_requested process", "payment.orders"),
    ("payment.succeeded process", "order.saga"),
    ("order.confirmed process", "inventory.orders"),
    ("order.confirmed process", "cart.orders"),
]


def attributes(span: dict) -> dict:
    return {a["key"]: next(iter(a["value"].values()), None) for a in span.get("attributes", [])}


def where(span: dict) -> str:
    attrs = attributes(span)
    return attrs.get("messaging.destination") or attrs.get("target") or ""


def read_spans(path: str) -> list[dict]:
    spans = []
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            line = line.strip()
            if line.startswith("{"):
                try:
                    spans.append(json.loads(line))
                except json.JSONDecodeError:
                    pass  # a line still being written
    return spans


def checkout_trace(spans: list[dict]) -> tuple[str | None, set[tuple[str, str]]]:
    traces: dict[str, list[dict]] = defaultdict(list)
    for span in spans:
        traces[span.get("traceId", "")].append(span)
    for trace_id, members in traces.items():
        if any(s["name"] == "checkout" for s in members):
            return trace_id, {(s["name"], where(s)) for s in members}
    return None, set()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spans")
    parser.add_argument("--wait", type=float, default=20.0)
    args = parser.parse_args()

    deadline = time.monotonic() + args.wait
    while True:
        trace_id, hops = checkout_trace(read_spans(args.spans))
        missing = [hop for hop in REQUIRED_HOPS if hop not in hops]
        if not missing:
            print(f"trace {trace_id}: the checkout crossed {len(REQUIRED_HOPS)} hops in one trace")
            return 0
        if time.monotonic() >= deadline:
            break
        time.sleep(1)

    if trace_id is None:
        print("trace-check: no span named 'checkout' arrived", file=sys.stderr)
    else:
        print(f"trace-check: trace {trace_id} lacks:", file=sys.stderr)
        for name, place in missing:
            print(f"  {name} @ {place}", file=sys.stderr)
        print("it holds:", file=sys.stderr)
        for name, place in sorted(hops):
            print(f"  {name} @ {place}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
