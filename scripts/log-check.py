#!/usr/bin/env python3
"""Checks that the log records of one checkout reach the OTLP receiver, trace id attached.

Reads what two OTLP receivers (oteltap, NDJSON) collected while the smoke test placed its
order: the spans (to find the trace of the BFF's `checkout` mutation) and the log records.
Every service the checkout crosses must have exported at least one log record carrying that
trace id, named by its `event.dataset` attribute (`shop-order.log`): that is what lets an
operator go from a trace in Grafana to the lines it wrote in Elasticsearch, and it breaks
when a service logs outside its span, exports no logs, or drops the trace context.

Usage: log-check.py LOGS.ndjson SPANS.ndjson [--wait SECONDS] [--require shop-a,shop-b]
Exit 0 when every required service (default: all six the checkout crosses) is there; 1 with
the missing ones listed otherwise. Services not required but silent are named on stderr. Records arrive
in batches (the exporters flush every second or so), so it re-reads until --wait runs out.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from otlp_tap import attributes, checkout_trace_id, poll, read

# The services one checkout goes through (the hops of trace-check.py, by process).
SERVICES = ["shop-bff", "shop-order", "shop-cart", "shop-product", "shop-inventory", "shop-payment"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs")
    parser.add_argument("spans")
    parser.add_argument("--wait", type=float, default=20.0)
    parser.add_argument("--require", default=",".join(SERVICES), help="comma-separated service names")
    args = parser.parse_args()
    required = [s for s in args.require.split(",") if s]

    def attempt() -> tuple[bool, tuple[str | None, Counter, list[str], int]]:
        trace_id = checkout_trace_id(read(args.spans))
        records = read(args.logs)
        datasets = Counter(
            attributes(r).get("event.dataset") for r in records if trace_id and r.get("traceId") == trace_id
        )
        missing = [s for s in required if datasets[f"{s}.log"] == 0]
        return bool(trace_id and not missing), (trace_id, datasets, missing, len(records))

    done, (trace_id, datasets, missing, received) = poll(args.wait, attempt)
    if done:
        counts = ", ".join(f"{s} {datasets[f'{s}.log']}" for s in SERVICES)
        print(f"logs of trace {trace_id}: {len(required)} services exported records with its id ({counts})")
        silent = [s for s in SERVICES if datasets[f"{s}.log"] == 0]
        if silent:
            print(f"log-check: note: no line inside the checkout from {', '.join(silent)}", file=sys.stderr)
        return 0
    if trace_id is None:
        print("log-check: no span named 'checkout' arrived", file=sys.stderr)
    else:
        print(f"log-check: no log record with trace id {trace_id} from: {', '.join(missing)}", file=sys.stderr)
        print(f"  records of that trace by dataset: {dict(datasets)}", file=sys.stderr)
        print(f"  records received in all: {received}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
