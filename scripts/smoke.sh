#!/usr/bin/env bash
# Smoke test of the real binaries as `just up` runs them: every service process with its
# default ports and env, the demo catalog, then one checkout through the public GraphQL API
# until the order is CONFIRMED. Proves the wiring the in-process tests cannot: binaries,
# env-based configuration, ports and the scripts, that the checkout is one OTLP trace
# across every process whose log records all reach OTLP with that trace's id, and the storefront (web/) end to end in Chromium. Leaves nothing
# running that it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

target_dir="${CARGO_TARGET_DIR:-target}"
BIN="$target_dir/${SHOP_PROFILE:-debug}"
GQL=http://127.0.0.1:8080/graphql

# Stop only the service processes this run started (a developer's `just up` stays up, and
# the servers stay for the next test run).
before=$(ls "$SHOP_PIDS" 2>/dev/null || true)
cleanup() {
  local file name
  for file in "$SHOP_PIDS"/*; do
    [[ -f "$file" ]] || continue
    name=${file##*/}
    grep -qx "$name" <<<"$before" && continue
    kill "$(head -n1 "$SHOP_PIDS/$name")" 2>/dev/null || true
    rm -f "$SHOP_PIDS/$name"
  done
}
trap cleanup EXIT

# One checkout is one trace (docs/architecture.md §7), and its log records carry that trace's id. When
# this run starts the services itself, they export their spans to one local OTLP receiver
# and their log records to another (oteltap, from scripts/tools.sh; two, so each file holds
# one signal), and both are checked at the end. Services someone else started export
# wherever they were told to, so then the checks are skipped.
tools_python="${SHOP_TOOLS_DIR:-$HOME/.cache/shopmesh}/venv/bin/python"
traces=""
logs=""
if [[ -z "$before" ]]; then
  "$tools_python" -c 'import oteltap' 2>/dev/null || die "oteltap missing: run scripts/tools.sh"
  free_port() { "$tools_python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  otlp_port=$(free_port)
  otlp_logs_port=$(free_port)
  mkdir -p "$SHOP_LOGS"
  traces="$SHOP_LOGS/smoke-traces.ndjson"
  logs="$SHOP_LOGS/smoke-logs.ndjson"
  "$tools_python" -m oteltap --port "$otlp_port" >"$traces" 2>&1 &
  oteltap_pid=$!
  "$tools_python" -m oteltap --port "$otlp_logs_port" >"$logs" 2>&1 &
  oteltap_logs_pid=$!
  trap 'cleanup; kill "$oteltap_pid" "$oteltap_logs_pid" 2>/dev/null || true' EXIT
  export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp_port"
  # The per-signal endpoint is a full URL (the SDK appends nothing to it).
  export OTEL_EXPORTER_OTLP_LOGS_ENDPOINT="http://127.0.0.1:$otlp_logs_port/v1/logs"
fi

cargo build --workspace --bins --quiet
# The BFF serves web/dist only if it exists when it starts.
[[ -n "$before" ]] || bash scripts/web.sh build >/dev/null
bash scripts/up.sh >/dev/null
"$BIN/shop-seed" >/dev/null

# gql QUERY [TOKEN]: POST a GraphQL document, print the JSON answer, fail on errors.
gql() {
  local auth=()
  [[ -n "${2:-}" ]] && auth=(-H "authorization: Bearer $2")
  local answer
  answer=$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1]}))' "$1" |
    curl -fsS "$GQL" -H 'content-type: application/json' "${auth[@]}" --data-binary @-)
  if python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("errors") else 1)' <<<"$answer"; then
    echo "smoke: GraphQL error: $answer" >&2
    return 1
  fi
  printf '%s' "$answer"
}
field() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k]
print(d)' "$1"; }

email="smoke-$(date +%s)-$RANDOM@example.com"
token=$(gql "mutation { register(input: {email: \"$email\", password: \"correct horse battery\", name: \"Smoke\"}) { accessToken } }" |
  field data.register.accessToken)
gql 'mutation { addToCart(sku: "KIT-0102", quantity: 1) { itemCount } }' "$token" >/dev/null
order=$(gql 'mutation { checkout(input: {paymentMethod: "pm_card_visa", idempotencyKey: "smoke-1",
  shippingAddress: {name: "Smoke", line1: "1 Main St", city: "Berlin", postalCode: "10115", country: "DE"}}) { id } }' "$token" |
  field data.checkout.id)

deadline=$(( $(date +%s) + 60 ))
status=PENDING
while [[ "$status" != CONFIRMED ]]; do
  (( $(date +%s) < deadline )) || die "order $order still $status after 60 s"
  sleep 0.5
  status=$(gql "{ order(id: \"$order\") { status } }" "$token" | field data.order.status)
  [[ "$status" == CANCELLED ]] && die "order $order was cancelled"
done
grpcurl -plaintext 127.0.0.1:50051 list | grep -q shop.user.v1.UserService || die "reflection on :50051"
echo "smoke: binaries up, checkout $order CONFIRMED through GraphQL"
if [[ -n "$traces" ]]; then
  python3 scripts/trace-check.py "$traces" --wait 30 || die "the checkout is not one trace (spans: $traces)"
  # Every service the checkout crosses (all six, the BFF included) must have exported log
  # records carrying the checkout's trace id.
  python3 scripts/log-check.py "$logs" "$traces" --wait 30 ||
    die "the checkout's log records did not all arrive with its trace id (records: $logs)"
  # The storefront, as a shopper uses it: Chromium against the BFF serving web/dist.
  bash scripts/web.sh e2e
else
  echo "smoke: services were already running; trace check and storefront e2e skipped"
fi
