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
import sys

from otlp_tap import attributes, checkout_trace_id, poll, read

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


def where(span: dict) -> str:
    attrs = attributes(span)
    return attrs.get("messaging.destination") or attrs.get("target") or ""


def checkout_hops(spans: list[dict]) -> tuple[str | None, set[tuple[str, str]]]:
    """The checkout's trace and the (name, where) of every span in it."""
    trace_id = checkout_trace_id(spans)
    return trace_id, {(s["name"], where(s)) for s in spans if trace_id and s.get("traceId") == trace_id}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spans")
    parser.add_argument("--wait", type=float, default=20.0)
    args = parser.parse_args()

    def attempt() -> tuple[bool, tuple[str | None, set[tuple[str, str]], list[tuple[str, str]]]]:
        trace_id, hops = checkout_hops(read(args.spans))
        missing = [hop for hop in REQUIRED_HOPS if hop not in hops]
        return not missing, (trace_id, hops, missing)

    done, (trace_id, hops, missing) = poll(args.wait, attempt)
    if done:
        print(f"trace {trace_id}: the checkout crossed {len(REQUIRED_HOPS)} hops in one trace")
        return 0
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
