#!/usr/bin/env bash
# `just bench` (issue #9): one command that builds release, starts its own shopmesh stack
# (scripts/up.sh with SHOP_PROFILE=release), seeds it, times each process's exec→ready
# (`shop-load startup`), starts the Apollo peer (bench/peers/apollo), measures MariaDB's
# single-row durable commit rate as the reference for checkout, drives the BFF, raw gRPC and
# the peer with the same generator (`shop-load reads`), then checkout through GraphQL
# (`shop-load checkout`), and prints every figure beside its reference. It stops what it
# started (scripts/down.sh, the peer), also on failure or Ctrl-C. Loopback only; bounded to
# ~15 min after the build (BENCH_BUDGET_SECS).
#
# `scripts/bench.sh growth` (`just bench-growth`, scenario e, its own run: seeding 100k
# products does not fit beside the rest in 15 min): the same stack, then the catalog page at
# 1k, 10k and 100k products, page 1 vs page 50 (`shop-load growth`), and checkout before and
# after 10k orders are bulk-inserted into Order's tables (SQL, removed again at the end).
#
# Results: bench/results/<UTC stamp>/ (summary.md, reads.{md,json}, checkout.{md,json},
# startup.{md,json}, footprint.md, growth.{md,json}, charts *.svg, logs). Paste summary.md's
# tables into docs/benchmarks.md. A full release run also writes the charts to docs/bench/
# (scripts/bench-charts.py); quick and debug runs never touch docs/.
#
# Env (all optional):
#   BENCH_PROFILE        release (default) or debug (debug: to check the script, not to publish)
#   BENCH_SKIP_BUILD=1   use the binaries already in ${CARGO_TARGET_DIR:-target}/<profile>
#   BENCH_QUICK=1        short runs (seconds, not minutes): checks the whole pipeline
#   BENCH_READ_SECS (10) BENCH_WARMUP_SECS (3) BENCH_CONCURRENCY (16)
#   BENCH_CHECKOUT_SECS (30) BENCH_CHECKOUT_RATES (20,50,100) BENCH_BURST (100)
#   BENCH_SHOPPERS (300) BENCH_APOLLO_PORT (4000) BENCH_MONGO_PORT (27018)
#   BENCH_MONGO_CACHE (256M; growth 2G) the Python stand-in's cache, which holds all its data
#   BENCH_STARTUP_ROUNDS (3) starts of each process for exec→ready
#   BENCH_SPARE_PORT_BASE (31100) first of the 14 ports the exec→ready replicas listen on
#   growth: BENCH_GROWTH_SIZES (1000,10000,100000) BENCH_GROWTH_SECS (8)
#           BENCH_GROWTH_CONCURRENCY (1: the cost of one page, no queueing) BENCH_GROWTH_ORDERS (10000)
#           BENCH_GROWTH_CHECKOUT_RATE (20/s) BENCH_GROWTH_CHECKOUT_SECS (20)
#   SECANTUS_MDB         path of the Rust secantus-mdb server, secantusd-rs (else looked up)
#
# MongoDB backend: a fresh server for the run on BENCH_MONGO_PORT, handed to Product and
# Inventory as SHOP_MONGODB_URI: the Rust `secantus-mdb` (its binary is secantusd-rs, data
# in a fresh directory under .run/bench) when it is installed (SECANTUS_MDB, the tools
# directory's bin/, or PATH; scripts/tools.sh installs it when it can and says why not),
# otherwise the Python SecantusDB stand-in in memory, and then every table says so.
#
# The BFF's per-client rate limits are raised for the run (SHOP_RATE_LIMIT_* and
# SHOP_AUTH_RATE_LIMIT_*): the generator is one client at one address, and the stock limits
# (600/min, 10 sign-ins/min) would refuse it within a second.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/env.sh
source "$SHOP_ROOT/scripts/env.sh"
cd "$SHOP_ROOT"

MODE="${1:-standard}"
[[ "$MODE" == standard || "$MODE" == growth ]] || die "usage: scripts/bench.sh [growth]"
PROFILE="${BENCH_PROFILE:-release}"
[[ "$PROFILE" == release || "$PROFILE" == debug ]] || die "BENCH_PROFILE must be release or debug"
QUICK="${BENCH_QUICK:-0}"
if [[ "$QUICK" == 1 ]]; then
  defaults=(2 1 8 4 "5,10" 10 20 4000)
  # startup rounds; growth: sizes, seconds, concurrency, orders, checkout rate, seconds
  more=(1 "1000" 2 1 1000 5 5)
else
  defaults=(10 3 16 30 "20,50,100" 100 300 32000)
  more=(3 "1000,10000,100000" 8 1 10000 20 20)
fi
READ_SECS="${BENCH_READ_SECS:-${defaults[0]}}"
WARMUP_SECS="${BENCH_WARMUP_SECS:-${defaults[1]}}"
CONCURRENCY="${BENCH_CONCURRENCY:-${defaults[2]}}"
CHECKOUT_SECS="${BENCH_CHECKOUT_SECS:-${defaults[3]}}"
CHECKOUT_RATES="${BENCH_CHECKOUT_RATES:-${defaults[4]}}"
BURST="${BENCH_BURST:-${defaults[5]}}"
SHOPPERS="${BENCH_SHOPPERS:-${defaults[6]}}"
SLAP_QUERIES="${defaults[7]}"
APOLLO_PORT="${BENCH_APOLLO_PORT:-4000}"
MONGO_PORT="${BENCH_MONGO_PORT:-27018}"
BUDGET_SECS="${BENCH_BUDGET_SECS:-900}"
STARTUP_ROUNDS="${BENCH_STARTUP_ROUNDS:-${more[0]}}"
MONGO_CACHE="${BENCH_MONGO_CACHE:-$([[ "$MODE" == growth ]] && echo 2G || echo 256M)}"
SPARE_PORT_BASE="${BENCH_SPARE_PORT_BASE:-31100}"
GROWTH_SIZES="${BENCH_GROWTH_SIZES:-${more[1]}}"
GROWTH_SECS="${BENCH_GROWTH_SECS:-${more[2]}}"
GROWTH_CONCURRENCY="${BENCH_GROWTH_CONCURRENCY:-${more[3]}}"
GROWTH_ORDERS="${BENCH_GROWTH_ORDERS:-${more[4]}}"
GROWTH_CHECKOUT_RATE="${BENCH_GROWTH_CHECKOUT_RATE:-${more[5]}}"
GROWTH_CHECKOUT_SECS="${BENCH_GROWTH_CHECKOUT_SECS:-${more[6]}}"
[[ "$GROWTH_ORDERS" =~ ^[0-9]+$ ]] && (( GROWTH_ORDERS <= 1000000 )) \
  || die "BENCH_GROWTH_ORDERS must be 0..1000000"
HOST=127.0.0.1

target_dir="${CARGO_TARGET_DIR:-target}"
[[ "$target_dir" == /* ]] || target_dir="$SHOP_ROOT/$target_dir"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="$SHOP_ROOT/bench/results/$stamp"
BENCH_RUN="$SHOP_RUN/bench"
mkdir -p "$OUT" "$BENCH_RUN"

# --- 0. nothing else may hold the stack's ports ------------------------------------------
# up.sh's ports are fixed; a stack already running would be measured instead of ours, or
# would share the broker's queues with ours.
# Checked before the build and again after it (the build takes minutes).
ports_free() {
  local busy=() port
  for port in 50051 50052 50053 50054 50055 50056 8080 9100 9101 9102 9103 9104 9105 9106 12111 "$APOLLO_PORT" \
    $(seq "$SPARE_PORT_BASE" $(( SPARE_PORT_BASE + 13 ))); do
    port_open "$HOST" "$port" && busy+=("$port")
  done
  if (( ${#busy[@]} > 0 )); then
    die "ports in use: ${busy[*]}: another shopmesh stack (or the peer) is running; stop it first (just down in its checkout): the bench starts and measures its own"
  fi
}
ports_free

# --- 1. build, then freeze the binaries ---------------------------------------------------
# The target dir may be shared with other checkouts whose builds replace its binaries, so
# the run uses a copy of what this build produced.
BINS=(shop-user shop-product shop-inventory shop-cart shop-order shop-stripe-fake shop-payment shop-bff shop-rabbitmq shop-seed shop-load)
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
  build=(cargo build --workspace --bins)
  [[ "$PROFILE" == release ]] && build+=(--release)
  say build "${build[*]}"
  "${build[@]}"
fi
SNAP="$BENCH_RUN/target"
rm -rf "$SNAP"
mkdir -p "$SNAP/$PROFILE"
for bin in "${BINS[@]}"; do
  [[ -x "$target_dir/$PROFILE/$bin" ]] || die "$target_dir/$PROFILE/$bin not built"
  cp "$target_dir/$PROFILE/$bin" "$SNAP/$PROFILE/"
done
LOAD="$SNAP/$PROFILE/shop-load"
# The commit the binaries were built from (read now: a commit made during the run is not it).
commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo '+uncommitted')"
ports_free
started_at=$(date +%s)
deadline=$(( started_at + BUDGET_SECS ))
# remaining: seconds left of the budget (at least 1), for `timeout`.
remaining() { local left=$(( deadline - $(date +%s) )); (( left > 0 )) && echo "$left" || echo 1; }

# --- cleanup: stop what this run started, whatever happens -------------------------------
APOLLO_PID="" MDB_PID="" SAMPLER_PID="" BULK_ORDERS=""
cleanup() {
  local status=$?
  set +e
  [[ -n "$SAMPLER_PID" ]] && kill "$SAMPLER_PID" 2>/dev/null
  if [[ -n "$BULK_ORDERS" ]]; then
    remove_bulk_orders && say orders "bulk orders removed from $ORDER_DB"
  fi
  if [[ -n "$APOLLO_PID" ]] && pid_matches "$APOLLO_PID" node server.js; then
    # The primary stops its cluster workers on SIGTERM; any that outlive it are sent
    # SIGTERM by pid.
    local workers worker
    workers="$(pgrep -P "$APOLLO_PID" || true)"
    stop_pid apollo "$APOLLO_PID" 10
    for worker in $workers; do
      pid_matches "$worker" node && stop_pid apollo-worker "$worker" 5
    done
    say apollo "stopped pid $APOLLO_PID and its workers"
  fi
  scripts/down.sh
  # The run's last checkouts were cut off mid-saga: their events would wait in the saga
  # queues (shared with `just up` on this broker) and the next stack would start hundreds
  # of events behind, every checkout PENDING until they drain.
  if command -v rabbitmqctl >/dev/null; then
    local queue
    for queue in $(rabbitmqctl list_queues -q --no-table-headers name 2>/dev/null |
      grep -E '^(cart|inventory|order|payment|product)\.'); do
      rabbitmqctl purge_queue "$queue" >/dev/null 2>&1
    done
    say rabbitmq "saga queues purged"
  fi
  if [[ -n "$MDB_PID" ]] && pid_matches "$MDB_PID" secantus; then
    stop_pid mongodb "$MDB_PID" 10
    say mongodb "stopped pid $MDB_PID"
  fi
  rm -rf "$BENCH_RUN/mdb-data"
  (( status == 0 )) || echo "bench: failed (exit $status); logs in ${OUT#"$SHOP_ROOT"/}" >&2
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 2. dependencies and the MongoDB backend ----------------------------------------------
scripts/deps.sh
mongo_ping() {
  "$SHOP_TOOLS_DIR/venv/bin/python" -c '
import sys, pymongo
pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=2000).admin.command("ping")' "$1"
}
mdb="${SECANTUS_MDB:-}"
if [[ -z "$mdb" ]]; then
  for candidate in "$SHOP_TOOLS_DIR/bin/secantusd-rs" "$(command -v secantusd-rs || true)"; do
    [[ -n "$candidate" && -x "$candidate" ]] && { mdb="$candidate"; break; }
  done
fi
# Either way the run gets its own fresh, in-memory server on BENCH_MONGO_PORT: the shared
# one on 27017 carries everyone's data and slows down over a long session (docs/benchmarks.md).
port_open "$HOST" "$MONGO_PORT" && die "BENCH_MONGO_PORT $MONGO_PORT is in use"
if [[ -n "$mdb" ]]; then
  mdb_version="$("$mdb" --version 2>/dev/null | head -n1 || true)"
  # WiredTiger on disk: a fresh directory per run.
  rm -rf "$BENCH_RUN/mdb-data"
  mongo_cmd=("$mdb" --host "$HOST" --port "$MONGO_PORT" --storage-path "$BENCH_RUN/mdb-data")
  BACKEND="secantus-mdb (Rust${mdb_version:+, $mdb_version}), fresh"
else
  [[ -x "$SHOP_TOOLS_DIR/venv/bin/secantusd-py" ]] || die "SecantusDB is not installed; run scripts/tools.sh (just tools)"
  py_version="$("$SHOP_TOOLS_DIR/venv/bin/python" -c 'import importlib.metadata as m; print(m.version("SecantusDB"))' 2>/dev/null || echo '?')"
  # The flags scripts/deps.sh starts it with, but for the cache: in memory, the cache holds
  # the whole database, and 100k products with their indexes overflow 256M (WT_CACHE_FULL).
  mongo_cmd=("$SHOP_TOOLS_DIR/venv/bin/secantusd-py" --host "$HOST" --port "$MONGO_PORT" --storage-path :memory: --cache-size "$MONGO_CACHE")
  BACKEND="SecantusDB ${py_version} Python stand-in (fresh, in memory), NOT the Rust secantus-mdb (not installed)"
  why="$(cat "$SHOP_TOOLS_DIR/secantus-mdb.skipped" 2>/dev/null || echo 'run scripts/tools.sh to see why')"
  echo
  echo "bench: WARNING: secantus-mdb (the Rust MongoDB stand-in the issue asks for) is not installed: $why;"
  echo "bench: WARNING: measuring on the Python SecantusDB stand-in instead. Every table names the backend."
  echo
fi
# Run from .run/bench so SecantusDB's auto-discovery of ./secantusd.toml finds nothing.
(cd "$BENCH_RUN" && exec setsid "${mongo_cmd[@]}" >"$OUT/mongo.log" 2>&1 </dev/null) &
MDB_PID=$!
uri="mongodb://$HOST:$MONGO_PORT/?directConnection=true"
wait_for 30 mongo_ping "$uri" || die "${mongo_cmd[0]} did not answer on $MONGO_PORT (log: $OUT/mongo.log)"
say mongodb "$BACKEND on $HOST:$MONGO_PORT (pid $MDB_PID)"
export SHOP_MONGODB_URI="$uri"
export SHOP_BENCH_BACKEND="$BACKEND"

# --- 3. the stack, release, limits raised -------------------------------------------------
export SHOP_RATE_LIMIT_PER_MINUTE=60000000 SHOP_RATE_LIMIT_BURST=1000000
export SHOP_AUTH_RATE_LIMIT_PER_MINUTE=60000000 SHOP_AUTH_RATE_LIMIT_BURST=1000000
export RUST_LOG="${RUST_LOG:-info}"
CARGO_TARGET_DIR="$SNAP" SHOP_PROFILE="$PROFILE" scripts/up.sh | tee "$OUT/up.log"
"$SNAP/$PROFILE/shop-seed" >"$OUT/seed.log" 2>&1 || { tail -n 20 "$OUT/seed.log" >&2; die "shop-seed failed"; }
say seed "$(tail -n 1 "$OUT/seed.log")"

# rss NAME PID: "NAME RSS_KB" of a live process.
rss() { awk -v name="$1" '/^VmRSS:/ { print name, $2 }' "/proc/$2/status" 2>/dev/null || true; }
# processes: "NAME PID" of every service of this run and the peer's processes.
processes() {
  local file
  for file in "$SHOP_PIDS"/*; do
    [[ -f "$file" ]] && echo "$(basename "$file") $(head -n1 "$file")"
  done
  if [[ -n "$APOLLO_PID" ]]; then
    echo "apollo-primary $APOLLO_PID"
    pgrep -P "$APOLLO_PID" | sed 's/.*/apollo-worker-& &/' || true
  fi
}
snapshot_rss() { processes | while read -r name pid; do rss "$name" "$pid"; done; }

sleep 3
snapshot_rss >"$OUT/rss-idle.txt"

cpu="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
# header TITLE: the lines every summary starts with.
header() {
  echo "## $1 $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "- commit: \`$commit\` · build profile: **$PROFILE** · MongoDB backend: **$BACKEND**"
  echo "- machine: $(nproc) cores ($cpu), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; the load generator (and in the standard run the Apollo peer) shares these cores with the stack"
  echo "- BFF rate limits raised for the run (SHOP_RATE_LIMIT_*, SHOP_AUTH_RATE_LIMIT_* = 60M/min); RUST_LOG=$RUST_LOG$([[ "$QUICK" == 1 ]] && echo '; BENCH_QUICK=1: a pipeline check, not figures')"
}
# charts: SVGs from the run's JSON into the run's directory, and into docs/bench/ when the
# run is one to publish (release, not quick).
charts() {
  local dirs=("$OUT")
  [[ "$PROFILE" == release && "$QUICK" != 1 ]] && dirs+=("$SHOP_ROOT/docs/bench")
  local dir
  for dir in "${dirs[@]}"; do
    "$SHOP_TOOLS_DIR/venv/bin/python" scripts/bench-charts.py "$OUT" "$dir" \
      "build profile: $PROFILE · commit $commit · $(date -u +%Y-%m-%dT%H:%MZ) · $(nproc) cores, shared with the load generator" \
      || echo "bench: WARNING: charts not drawn (scripts/bench-charts.py failed)" >&2
  done
}

# --- growth (scripts/bench.sh growth): scenario e, then stop -------------------------------
ORDER_DB=shop_order
# mariadb_sql SQL: runs SQL against the local MariaDB as root (the dev server's account).
mariadb_sql() { mariadb --protocol=tcp -h "$HOST" -P 3306 -u root -N "$ORDER_DB" -e "$1"; }
remove_bulk_orders() { mariadb_sql "DELETE FROM orders WHERE idempotency_key LIKE 'bench-bulk-%'"; }
# bulk_orders N: N orders of 1,000 synthetic users (never a real account), two lines each,
# straight into Order's tables: 70 % finished (CONFIRMED, CANCELLED), 30 % open (PENDING,
# AWAITING_PAYMENT) and updated now, so Order's sweeper (which cancels orders open for
# longer than its timeout) leaves them alone while the run lasts. Removed at the end.
bulk_orders() {
  local n=$1
  BULK_ORDERS=1
  mariadb_sql "
    INSERT INTO orders (id, user_id, idempotency_key, request_hash, status, cancel_reason,
      currency, total_minor, ship_name, ship_line1, ship_city, ship_postal_code, ship_country,
      payment_method, created_at, updated_at, version)
    SELECT UUID(), CONCAT('b0000000-0000-4000-8000-', LPAD(seq % 1000, 12, '0')),
      CONCAT('bench-bulk-', seq), SHA2(seq, 256),
      ELT(1 + seq % 10, 'CONFIRMED', 'CONFIRMED', 'CONFIRMED', 'CONFIRMED', 'CONFIRMED',
        'CANCELLED', 'CANCELLED', 'PENDING', 'AWAITING_PAYMENT', 'AWAITING_PAYMENT'),
      IF(seq % 10 IN (5, 6), 'PAYMENT_DECLINED', NULL),
      'EUR', 2 * (499 + seq % 200 * 100), 'Bench Shopper', '1 Load Street', 'Berlin', '10115', 'DE',
      'pm_card_visa', NOW(6) - INTERVAL (seq % 600) SECOND, NOW(6), 1
    FROM seq_1_to_$n;
    INSERT INTO order_lines (order_id, line_no, sku, product_name, quantity, unit_price_minor)
    SELECT o.id, l.seq, CONCAT('BULK-', LPAD(CRC32(o.id) % 1000, 7, '0')), 'Bulk product', 1,
      o.total_minor DIV 2
    FROM orders o JOIN seq_1_to_2 l WHERE o.idempotency_key LIKE 'bench-bulk-%';"
}

if [[ "$MODE" == growth ]]; then
  # Checkout first, on the demo catalog: with 100k products on the Python stand-in every
  # ListProducts (which the checkout generator lists its SKUs with) outlives Product's
  # catalog query limit, and the catalog size would be a second variable in the comparison.
  # saga_settled: waits (at most 90 s) until the saga queues hold no message, so a run
  # does not start behind the backlog of the one before (the drift the control showed).
  saga_settled() {
    command -v rabbitmqctl >/dev/null || return 0
    local waited=0 backlog
    while (( waited < 90 )); do
      backlog="$(rabbitmqctl list_queues -q --no-table-headers name messages 2>/dev/null |
        awk '$1 ~ /^(cart|inventory|order|payment|product)\./ { n += $2 } END { print n + 0 }')"
      (( backlog == 0 )) && break
      sleep 2
      waited=$(( waited + 2 ))
    done
    say checkout "saga queues settled after ${waited}s (backlog ${backlog:-0})"
  }
  checkout_run() {
    saga_settled
    timeout "$(remaining)" "$LOAD" checkout --burst 0 --rates "$GROWTH_CHECKOUT_RATE" \
      --duration "$GROWTH_CHECKOUT_SECS" --shoppers 100 --json "$OUT/$1.json" \
      >"$OUT/$1.md" 2> >(tee "$OUT/$1.log" >&2)
  }
  orders_before="$(mariadb_sql 'SELECT COUNT(*) FROM orders')"
  say checkout "open loop $GROWTH_CHECKOUT_RATE/s for ${GROWTH_CHECKOUT_SECS}s with $orders_before orders in the table"
  checkout_run checkout-before
  started_insert=$(date +%s.%N)
  bulk_orders "$GROWTH_ORDERS"
  insert_secs="$(awk -v a="$started_insert" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
  orders_after="$(mariadb_sql 'SELECT COUNT(*) FROM orders')"
  say orders "$GROWTH_ORDERS bulk orders inserted in ${insert_secs}s (SQL); $orders_after in the table"
  checkout_run checkout-after
  remove_bulk_orders && BULK_ORDERS=""
  # The control: the same run once more without the bulk orders. On a shared box the load
  # of other work drifts; only a difference that goes away again is the table's doing.
  orders_removed="$(mariadb_sql 'SELECT COUNT(*) FROM orders')"
  say checkout "control: the bulk orders removed again, $orders_removed in the table"
  checkout_run checkout-control

  say growth "catalog page at $GROWTH_SIZES products, page 1 vs 50 (remaining budget $(remaining) s)"
  # What is left, less a margin for the summary and stopping the stack.
  catalog_budget=$(( $(remaining) - 30 ))
  (( catalog_budget > 60 )) || die "budget too small for the growth run (BENCH_BUDGET_SECS)"
  timeout "$(remaining)" "$LOAD" growth --sizes "$GROWTH_SIZES" --bff "http://$HOST:8080/graphql" \
    --concurrency "$GROWTH_CONCURRENCY" --duration "$GROWTH_SECS" --budget "$catalog_budget" \
    --json "$OUT/growth.json" >"$OUT/growth.md" 2> >(tee "$OUT/growth.log" >&2)

  printf '{"kind": "growth-checkout", "orders_before": %d, "orders_after": %d, "orders_control": %d, "bulk_orders": %d, "insert_seconds": %s}\n' \
    "$orders_before" "$orders_after" "$orders_removed" "$GROWTH_ORDERS" "$insert_secs" >"$OUT/growth-checkout.json"
  {
    header "shopmesh growth benchmark"
    echo "- wall time after the build: $(( $(date +%s) - started_at )) s"
    echo
    echo "### Catalog page by catalog size"
    cat "$OUT/growth.md"
    echo
    echo "### Checkout with orders already in the tables"
    echo
    echo "Open loop $GROWTH_CHECKOUT_RATE checkouts/s for ${GROWTH_CHECKOUT_SECS} s through GraphQL, on the demo catalog: once with the orders the table held ($orders_before), once after $GROWTH_ORDERS more were bulk-inserted by SQL in ${insert_secs} s ($orders_after in all; 1,000 synthetic users, 70 % finished, 30 % open), and once more after they were removed again (the control, $orders_removed) · backend: $BACKEND"
    echo
    echo "**Before** ($orders_before orders in the table):"
    cat "$OUT/checkout-before.md"
    echo
    echo "**After** ($orders_after orders in the table):"
    cat "$OUT/checkout-after.md"
    echo
    echo "**Control**, bulk orders removed ($orders_removed orders in the table):"
    cat "$OUT/checkout-control.md"
  } >"$OUT/summary.md"
  charts
  echo
  cat "$OUT/summary.md"
  echo
  say bench "results in ${OUT#"$SHOP_ROOT"/}/ (summary.md, growth.json, growth-checkout.json)"
  exit 0
fi

# --- 3b. exec→ready of each process (a replica of each on the spare ports, while idle) ----
startup=()
for file in "$SHOP_PIDS"/*; do
  name="$(basename "$file")"
  [[ -f "$file" && "$name" != shop-stripe-fake ]] && startup+=(--process "$name=$(head -n1 "$file")")
done
say startup "exec→ready of ${#startup[@]} processes x$STARTUP_ROUNDS on ports $SPARE_PORT_BASE+ (remaining budget $(remaining) s)"
timeout "$(remaining)" "$LOAD" startup "${startup[@]}" --port-base "$SPARE_PORT_BASE" \
  --rounds "$STARTUP_ROUNDS" --log-dir "$OUT" --json "$OUT/startup.json" \
  >"$OUT/startup.md" 2> >(tee "$OUT/startup.log" >&2)

# --- 4. the Apollo peer -------------------------------------------------------------------
say apollo "npm ci (bench/peers/apollo)"
(cd bench/peers/apollo && npm ci --no-audit --no-fund --loglevel=error >"$OUT/npm-ci.log" 2>&1) \
  || { tail -n 20 "$OUT/npm-ci.log" >&2; die "npm ci failed in bench/peers/apollo"; }
(cd bench/peers/apollo && NODE_ENV=production PORT="$APOLLO_PORT" HOST="$HOST" \
  exec setsid node server.js >"$OUT/apollo.log" 2>&1 </dev/null) &
APOLLO_PID=$!
apollo_ready() {
  curl -fsS --max-time 2 -H 'content-type: application/json' \
    -d '{"query":"{ products(first: 1) { edges { node { sku stock { available } } } } }"}' \
    "http://$HOST:$APOLLO_PORT/graphql" | grep -q '"sku"'
}
wait_for 30 apollo_ready || { cat "$OUT/apollo.log" >&2; die "the Apollo peer did not answer on $APOLLO_PORT"; }
say apollo "ready on http://$HOST:$APOLLO_PORT/graphql (pid $APOLLO_PID, $(pgrep -P "$APOLLO_PID" | wc -l) workers)"
snapshot_rss | grep '^apollo' >>"$OUT/rss-idle.txt" || true

# --- 5. MariaDB's single-row durable commit rate (the checkout reference) -----------------
slap_bin="$(command -v mariadb-slap || command -v mysqlslap || true)"
MARIADB_COMMITS=""
if [[ -n "$slap_bin" ]]; then
  durability="$(mariadb --protocol=tcp -h "$HOST" -P 3306 -u root -N -e \
    'SELECT CONCAT("innodb_flush_log_at_trx_commit=", @@innodb_flush_log_at_trx_commit, ", sync_binlog=", @@sync_binlog, ", log_bin=", @@log_bin)' 2>/dev/null || echo unknown)"
  timeout "$(remaining)" "$slap_bin" --protocol=tcp --host="$HOST" --port=3306 --user=root \
    --concurrency=16 --iterations=1 --number-of-queries="$SLAP_QUERIES" \
    --create-schema=shopmesh_bench_slap \
    --create="CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB" \
    --query="INSERT INTO t (v) VALUES (1)" >"$OUT/mariadb-slap.txt" 2>&1 \
    || { cat "$OUT/mariadb-slap.txt" >&2; die "mariadb-slap failed"; }
  seconds="$(awk '/Average number of seconds/ { print $(NF-1) }' "$OUT/mariadb-slap.txt")"
  MARIADB_COMMITS="$(awk -v n="$SLAP_QUERIES" -v s="$seconds" 'BEGIN { if (s > 0) printf "%.0f", n / s }')"
  say mariadb "$MARIADB_COMMITS single-row autocommit INSERTs/s, 16 clients ($durability)"
else
  durability="not measured"
  echo "bench: WARNING: mariadb-slap not installed (Debian: mariadb-client); checkout has no reference" >&2
fi

# --- 6. reads: raw gRPC vs the BFF vs the peer, one generator, one run --------------------
say reads "{ __typename }, product by SKU, page of 20: ${READ_SECS}s per run x${CONCURRENCY} (remaining budget $(remaining) s)"
timeout "$(remaining)" "$LOAD" reads --scenarios typename,product,page \
  --target "bff=http://$HOST:8080/graphql" --target "apollo=http://$HOST:$APOLLO_PORT/graphql" \
  --concurrency "$CONCURRENCY" --duration "$READ_SECS" --warmup "$WARMUP_SECS" \
  --json "$OUT/reads.json" >"$OUT/reads.md" 2> >(tee "$OUT/reads.log" >&2)

# --- 7. checkout through GraphQL, with RSS sampled for the peak --------------------------
( while true; do snapshot_rss; sleep 1; done ) >"$OUT/rss-checkout.txt" &
SAMPLER_PID=$!
say checkout "burst of $BURST, then open loop at $CHECKOUT_RATES/s for ${CHECKOUT_SECS}s each (remaining budget $(remaining) s)"
checkout=(--burst "$BURST" --rates "$CHECKOUT_RATES" --duration "$CHECKOUT_SECS" --shoppers "$SHOPPERS" --json "$OUT/checkout.json")
[[ -n "$MARIADB_COMMITS" ]] && checkout+=(--mariadb-commits "$MARIADB_COMMITS")
timeout "$(remaining)" "$LOAD" checkout "${checkout[@]}" >"$OUT/checkout.md" 2> >(tee "$OUT/checkout.log" >&2)
kill "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""

# --- 8. footprint and the summary ---------------------------------------------------------
# exec→ready per process ("name median max"), for the footprint table.
"$SHOP_TOOLS_DIR/venv/bin/python" -c '
import json, sys
for row in json.load(open(sys.argv[1]))["rows"]:
    print(row["process"], round(row["median_ms"]), round(row["max_ms"]))' "$OUT/startup.json" >"$OUT/startup.txt"
{
  echo
  echo "**Footprint** · RSS: idle = after seeding, settled 3 s; peak = highest 1 s sample during checkout · exec→ready: median and max of $STARTUP_ROUNDS starts (table above) · backend: $BACKEND"
  echo
  echo "| process | idle MB | peak MB | exec→ready ms (median / max) |"
  echo "|---|---|---|---|"
  awk '
    FILENAME ~ /startup.txt$/ { ready[$1] = $2 " / " $3; if ($3 + 0 >= 500) slow++; nready++; next }
    FILENAME ~ /rss-idle.txt$/ { idle[$1] = $2; order[++n] = $1; next }
    { if ($2 > peak[$1]) peak[$1] = $2 }
    END {
      for (i = 1; i <= n; i++) {
        name = order[i]
        printf "| %s | %.1f | %s | %s |\n", name, idle[name] / 1024,
          (name in peak) ? sprintf("%.1f", peak[name] / 1024) : "–", (name in ready) ? ready[name] : "–"
        if (name ~ /^shop-/ && name != "shop-stripe-fake") { ti += idle[name]; tp += peak[name] }
        if (name ~ /^apollo/) { ai += idle[name]; ap += peak[name] }
      }
      printf "| **shopmesh: 6 services + BFF, total** | %.1f | %.1f (sum of per-process peaks) | |\n", ti / 1024, tp / 1024
      if (ai > 0) printf "| **Apollo peer, total** | %.1f | %.1f | |\n", ai / 1024, ap / 1024
      printf "\nTargets: 7 processes ≤ 60 MB idle: %s (%.1f MB); ≤ 250 MB at peak: %s (%.1f MB); each ready in < 500 ms: %s\n",
        (ti / 1024 <= 60) ? "met" : "**not met**", ti / 1024, (tp / 1024 <= 250) ? "met" : "**not met**", tp / 1024,
        (nready == 0) ? "not measured" : (slow == 0) ? "met" : sprintf("**not met** (%d of %d)", slow, nready)
    }' "$OUT/startup.txt" "$OUT/rss-idle.txt" "$OUT/rss-checkout.txt"
} >"$OUT/footprint.md"

{
  header "shopmesh benchmark"
  echo "- MariaDB reference: ${MARIADB_COMMITS:-not measured} single-row autocommit INSERTs/s (mariadb-slap, 16 clients, $SLAP_QUERIES rows; $durability)"
  echo "- wall time after the build: $(( $(date +%s) - started_at )) s"
  cat "$OUT/reads.md" "$OUT/checkout.md" "$OUT/startup.md" "$OUT/footprint.md"
} >"$OUT/summary.md"
charts
echo
cat "$OUT/summary.md"
echo
say bench "results in ${OUT#"$SHOP_ROOT"/}/ (summary.md, reads.json, checkout.json, startup.json, *.svg)"
