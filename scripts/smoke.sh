#!/usr/bin/env bash
# Smoke test of the real binaries as `just up` runs them: every service process with its
# default ports and env, the demo catalog, then one checkout through the public GraphQL API
# until the order is CONFIRMED. Proves the wiring the in-process tests cannot: binaries,
# env-based configuration, ports and the scripts, that the checkout is one OTLP trace
# across every process, and the storefront (web/) end to end in Chromium. Leaves nothing
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

# One checkout is one trace (DESIGN §7). When this run starts the services itself, they
# export their spans to a local OTLP receiver (oteltap, from scripts/tools.sh) and the
# checkout's trace is checked hop by hop at the end. Services someone else started export
# wherever they were told to, so then the check is skipped.
tools_python="${SHOP_TOOLS_DIR:-$HOME/.cache/shopmesh}/venv/bin/python"
traces=""
if [[ -z "$before" ]]; then
  "$tools_python" -c 'import oteltap' 2>/dev/null || die "oteltap missing: run scripts/tools.sh"
  otlp_port=$("$tools_python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$SHOP_LOGS"
  traces="$SHOP_LOGS/smoke-traces.ndjson"
  "$tools_python" -m oteltap --port "$otlp_port" >"$traces" 2>&1 &
  oteltap_pid=$!
  trap 'cleanup; kill "$oteltap_pid" 2>/dev/null || true' EXIT
  export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp_port"
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
  # The storefront, as a shopper uses it: Chromium against the BFF serving web/dist.
  bash scripts/web.sh e2e
else
  echo "smoke: services were already running; trace check and storefront e2e skipped"
fi
