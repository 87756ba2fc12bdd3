#!/usr/bin/env bash
# Starts the shopmesh service binaries in the background (`just up` runs deps and build
# first). Each service: log in .run/logs/<name>.log, pid in .run/pids/<name>; then waits
# until every readiness URL answers. `just down` (scripts/down.sh) stops them.
#
# Env passed to every service (each can be overridden from the calling shell):
#   SHOP_JWT_PRIVATE_KEY_FILE      default .run/keys/jwt_ed25519.pem (generated if absent)
#   SHOP_JWT_PUBLIC_KEY_FILE       default .run/keys/jwt_ed25519.pub.pem
#   SHOP_BOOTSTRAP_ADMIN_EMAIL     default admin@shopmesh.dev
#   SHOP_BOOTSTRAP_ADMIN_PASSWORD  default shopmesh-admin
#   RUST_LOG                       default info
#   SHOP_STRIPE_BASE_URL / _API_KEY / _WEBHOOK_SECRET / _WEBHOOK_URL   default: the in-repo fake Stripe
#   SHOP_ONLY                      start only these binaries (space-separated names)
#   SHOP_REPLICAS                  replicas of every service, 1 (default) to 4; per service
#                                  SHOP_REPLICAS_<NAME> (SHOP_REPLICAS_PRODUCT=2, _BFF, ...).
#                                  Replica i listens on the base ports + 1000 * i (product #1:
#                                  gRPC 51052, admin 10102; BFF #1: 9080); callers get every
#                                  replica as a comma list (SHOP_PRODUCT_URL=http://...:50052,
#                                  http://...:51052) and balance over it. The fake Stripe is one.
#                                  Pids and logs: .run/pids/<name>@<i>, .run/logs/<name>@<i>.log
#   SHOP_PROFILE                   debug (default) or release: which build to run
#   SHOP_AMQP__URL                 default: each service its own least-privilege RabbitMQ user
#                                  (shop-<service>, created by scripts/deps.sh, password in
#                                  ~/.cache/shopmesh/rabbitmq/); set it to give every service one URL instead
#   SHOP_RABBITMQ_ADMIN_URL        default amqp://guest:guest@127.0.0.1:5672/%2f: declares the
#                                  exchanges, saga queues and bindings (shop-rabbitmq declare),
#                                  which the service users may not
# Binaries come from ${CARGO_TARGET_DIR:-target}/$SHOP_PROFILE/.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# One line per service: binary | gRPC address (for the summary) | readiness URL.
# Add a service by adding (or uncommenting) its line; start order is top to bottom.
SERVICES=(
  "shop-user        | 127.0.0.1:50051 | http://127.0.0.1:9101/readyz"
  "shop-product     | 127.0.0.1:50052 | http://127.0.0.1:9102/readyz"
  "shop-inventory   | 127.0.0.1:50053 | http://127.0.0.1:9103/readyz"
  "shop-cart        | 127.0.0.1:50054 | http://127.0.0.1:9104/readyz"
  "shop-order       | 127.0.0.1:50055 | http://127.0.0.1:9105/readyz"
  "shop-stripe-fake | -               | http://127.0.0.1:12111/healthz"
  "shop-payment     | 127.0.0.1:50056 | http://127.0.0.1:9106/readyz"
  "shop-bff         | -               | http://127.0.0.1:8080/healthz"
)
READY_DEADLINE=60

target_dir="${CARGO_TARGET_DIR:-target}"
[[ "$target_dir" == /* ]] || target_dir="$SHOP_ROOT/$target_dir"
BIN_DIR="$target_dir/${SHOP_PROFILE:-debug}"

mkdir -p "$SHOP_PIDS" "$SHOP_LOGS"

# --- dev JWT keys (EdDSA / Ed25519) -----------------------------------------------------
export SHOP_JWT_PRIVATE_KEY_FILE="${SHOP_JWT_PRIVATE_KEY_FILE:-$SHOP_RUN/keys/jwt_ed25519.pem}"
export SHOP_JWT_PUBLIC_KEY_FILE="${SHOP_JWT_PUBLIC_KEY_FILE:-$SHOP_RUN/keys/jwt_ed25519.pub.pem}"
if [[ ! -f "$SHOP_JWT_PRIVATE_KEY_FILE" ]]; then
  mkdir -p "$(dirname "$SHOP_JWT_PRIVATE_KEY_FILE")"
  (umask 077 && openssl genpkey -algorithm ed25519 -out "$SHOP_JWT_PRIVATE_KEY_FILE")
  rm -f "$SHOP_JWT_PUBLIC_KEY_FILE"
  say keys "generated $SHOP_JWT_PRIVATE_KEY_FILE"
fi
if [[ ! -f "$SHOP_JWT_PUBLIC_KEY_FILE" ]]; then
  mkdir -p "$(dirname "$SHOP_JWT_PUBLIC_KEY_FILE")"
  openssl pkey -in "$SHOP_JWT_PRIVATE_KEY_FILE" -pubout -out "$SHOP_JWT_PUBLIC_KEY_FILE"
  say keys "wrote public key $SHOP_JWT_PUBLIC_KEY_FILE"
fi
# Product pictures: shop-seed writes the demo catalog's here, the BFF serves them at /images.
export SHOP_IMAGES_DIR="${SHOP_IMAGES_DIR:-$SHOP_RUN/images}"
mkdir -p "$SHOP_IMAGES_DIR"
export SHOP_BOOTSTRAP_ADMIN_EMAIL="${SHOP_BOOTSTRAP_ADMIN_EMAIL:-admin@shopmesh.dev}"
export SHOP_BOOTSTRAP_ADMIN_PASSWORD="${SHOP_BOOTSTRAP_ADMIN_PASSWORD:-shopmesh-admin}"
export RUST_LOG="${RUST_LOG:-info}"

# --- Stripe: the in-repo fake unless a real endpoint and key are configured ---------------
# Production sets SHOP_STRIPE_BASE_URL=https://api.stripe.com/ and a real SHOP_STRIPE_API_KEY.
export SHOP_STRIPE_BASE_URL="${SHOP_STRIPE_BASE_URL:-http://127.0.0.1:12111/}"
export SHOP_STRIPE_API_KEY="${SHOP_STRIPE_API_KEY:-sk_test_shopmesh_dev}"
export SHOP_STRIPE_WEBHOOK_SECRET="${SHOP_STRIPE_WEBHOOK_SECRET:-whsec_shopmesh_dev}"
export SHOP_STRIPE_WEBHOOK_URL="${SHOP_STRIPE_WEBHOOK_URL:-http://127.0.0.1:9106/stripe/webhook}"
# A card that needs 3-D Secure sends the shopper to the fake's page, which returns them to
# the storefront's order page (real Stripe: the issuer's page).
export SHOP_STOREFRONT_URL="${SHOP_STOREFRONT_URL:-http://127.0.0.1:8080}"

# --- RabbitMQ: topology by the administrator, one user per service ----------------------
# The service users of deploy/rabbitmq/permissions.tsv may not declare durable queues, so the
# saga topology is declared first, as the administrator.
RABBIT_SECRETS="$SHOP_RABBIT_SECRETS"
if [[ -z "${SHOP_AMQP__URL:-}" ]] && compgen -G "$RABBIT_SECRETS/*.password" >/dev/null; then
  [[ -x "$BIN_DIR/shop-rabbitmq" ]] || die "$BIN_DIR/shop-rabbitmq not found; run: just build"
  "$BIN_DIR/shop-rabbitmq" declare "${SHOP_RABBITMQ_ADMIN_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}" >/dev/null \
    || die "could not declare the RabbitMQ topology (is RabbitMQ up? just deps)"
  say rabbitmq "topology declared (shop-rabbitmq declare)"
fi
# amqp_url NAME: the service's own RabbitMQ URL, empty when it has no user (or the caller
# set SHOP_AMQP__URL for everyone).
amqp_url() {
  local password_file="$RABBIT_SECRETS/$1.password"
  [[ -z "${SHOP_AMQP__URL:-}" && -s "$password_file" ]] || return 0
  printf 'amqp://%s:%s@127.0.0.1:5672/%%2f' "$1" "$(cat "$password_file")"
}

# last_run NAME: the log lines of NAME's most recent start. awk reads the whole log (a pipe
# whose reader quits early, as `tac | sed q` did, kills the writer with SIGPIPE, and under
# pipefail that killed this script with exit 141 before it could report anything).
last_run() {
  awk '/^===== .* start .* =====$/ { n = 0 } { lines[n++] = $0 } END { s = n > 40 ? n - 40 : 0; for (i = s; i < n; i++) print lines[i] }' \
    "$SHOP_LOGS/$1.log" 2>/dev/null || true
}

# report_failed_start NAME PORT...: NAME's last log lines and, for each of its ports, what
# holds it now: a bind that failed ("Address already in use") names its culprit.
report_failed_start() {
  local name=$1 port
  shift
  echo "----- .run/logs/$name.log (this run) -----" >&2
  last_run "$name" >&2
  for port in "$@"; do
    echo "----- TCP port $port (ss -tanp 'sport = :$port') -----" >&2
    port_holders "$port" >&2
  done
}

trim() { local s=$1; s="${s#"${s%%[![:space:]]*}"}"; printf '%s' "${s%"${s##*[![:space:]]}"}"; }

# replicas NAME: how many of NAME to run (SHOP_REPLICAS_<NAME>, else SHOP_REPLICAS, else 1).
replicas() {
  local var n
  [[ "$1" == shop-stripe-fake ]] && { echo 1; return; }
  var="SHOP_REPLICAS_$(tr 'a-z-' 'A-Z_' <<<"${1#shop-}")"
  n="${!var:-${SHOP_REPLICAS:-1}}"
  if ! [[ "$n" =~ ^[1-9][0-9]*$ ]] || (( n > SHOP_MAX_REPLICAS )); then
    die "$var (or SHOP_REPLICAS) must be 1..$SHOP_MAX_REPLICAS, not '$n'"
  fi
  echo "$n"
}

# shift_port HOST:PORT|URL I: the same address with the port + 1000 * I.
shift_port() {
  local address=$1 port rest
  [[ "$address" =~ ^(.*:)([0-9]+)(/.*)?$ ]] || { printf '%s' "$address"; return; }
  port=$(( BASH_REMATCH[2] + 1000 * $2 )) rest="${BASH_REMATCH[3]}"
  printf '%s%s%s' "${BASH_REMATCH[1]}" "$port" "$rest"
}

# url_port URL: the port of http://host:port/path.
url_port() { local p="${1#*://*:}"; printf '%s' "${p%%/*}"; }

# --- callers get every replica ----------------------------------------------------------
# SHOP_<SERVICE>_URL (read by the BFF, Order and Cart) lists every replica of a service that
# runs more than one, unless the caller set it.
for line in "${SERVICES[@]}"; do
  IFS='|' read -r name grpc _ <<<"$line"
  name="$(trim "$name")" grpc="$(trim "$grpc")"
  [[ "$grpc" != - ]] || continue
  n="$(replicas "$name")"
  (( n > 1 )) || continue
  var="SHOP_$(tr 'a-z-' 'A-Z_' <<<"${name#shop-}")_URL"
  [[ -z "${!var:-}" ]] || continue
  urls=()
  for (( i = 0; i < n; i++ )); do urls+=("http://$(shift_port "$grpc" "$i")"); done
  export "$var=$(IFS=,; echo "${urls[*]}")"
  say "${name#shop-}" "$n replicas: $var=${!var}"
done

# --- start ------------------------------------------------------------------------------
# Per started process: its name (<binary>, or <binary>@<i> for replica i >= 1), binary, gRPC
# address, readiness URL and ports.
names=() grpcs=() readys=() ports=()
for line in "${SERVICES[@]}"; do
  IFS='|' read -r bin_name base_grpc base_ready <<<"$line"
  bin_name="$(trim "$bin_name")" base_grpc="$(trim "$base_grpc")" base_ready="$(trim "$base_ready")"
  # SHOP_ONLY="shop-user shop-product" starts a subset (e.g. for benchmarks).
  if [[ -n "${SHOP_ONLY:-}" && " $SHOP_ONLY " != *" $bin_name "* ]]; then
    continue
  fi
  count="$(replicas "$bin_name")"
  for (( i = 0; i < count; i++ )); do
    name="$bin_name"
    (( i == 0 )) || name="$bin_name@$i"
    grpc="$base_grpc"
    [[ "$grpc" == - ]] || grpc="$(shift_port "$base_grpc" "$i")"
    ready="$(shift_port "$base_ready" "$i")"
    http_port="$(url_port "$ready")"
    own_ports="$http_port"
    [[ "$grpc" == - ]] || own_ports="${grpc##*:} $own_ports"
    names+=("$name") grpcs+=("$grpc") readys+=("$ready") ports+=("$own_ports")

    pidfile="$SHOP_PIDS/$name"
    if [[ -f "$pidfile" ]] && pid_matches "$(head -n1 "$pidfile")" "$bin_name"; then
      say "$name" "already running (pid $(head -n1 "$pidfile"))"
      continue
    fi
    rm -f "$pidfile"
    bin="$BIN_DIR/$bin_name"
    [[ -x "$bin" ]] || die "$bin not found; run: just build (cargo build --workspace --bins)"
    for port in $own_ports; do
      if port_open 127.0.0.1 "$port"; then
        port_holders "$port" >&2
        die "$name: port $port is already in use by another process (above)"
      fi
    done
    log="$SHOP_LOGS/$name.log"
    printf '\n===== %s start %s =====\n' "$name" "$(date -Is)" >>"$log"
    url="$(amqp_url "$bin_name")"
    (
      cd "$SHOP_ROOT"
      # Its own user may not declare the topology (declared above): it only checks it.
      [[ -n "$url" ]] && export SHOP_AMQP__URL="$url" SHOP_AMQP__DECLARE_TOPOLOGY=false
      # Replicas after the first move their ports; the first keeps the defaults.
      if (( i > 0 )); then
        if [[ "$grpc" != - ]]; then
          export SHOP_GRPC_ADDR="0.0.0.0:${grpc##*:}" SHOP_ADMIN_ADDR="0.0.0.0:$http_port"
        else
          export SHOP_HTTP_ADDR="0.0.0.0:$http_port"
        fi
      fi
      exec setsid "$bin" >>"$log" 2>&1 </dev/null
    ) &
    printf '%s\n' "$!" >"$pidfile"
    say "$name" "started pid $! (log .run/logs/$name.log)"
  done
done

# --- wait for readiness -----------------------------------------------------------------
deadline=$(( $(date +%s) + READY_DEADLINE ))
for i in "${!names[@]}"; do
  name="${names[$i]}" ready="${readys[$i]}"
  pid="$(head -n1 "$SHOP_PIDS/$name")"
  until curl -fsS -o /dev/null --max-time 2 "$ready" 2>/dev/null; do
    if ! alive "$pid"; then
      rm -f "$SHOP_PIDS/$name"
      # shellcheck disable=SC2086  # the ports are words
      report_failed_start "$name" ${ports[$i]}
      die "$name exited before it was ready (just down stops the others)"
    fi
    if (( $(date +%s) >= deadline )); then
      # shellcheck disable=SC2086
      report_failed_start "$name" ${ports[$i]}
      die "$name not ready within ${READY_DEADLINE} s: $ready (just down stops everything)"
    fi
    sleep 0.5
  done
done

# --- summary ----------------------------------------------------------------------------
echo
echo "shopmesh is up:"
for i in "${!names[@]}"; do
  name="${names[$i]}" grpc="${grpcs[$i]}" ready="${readys[$i]}"
  admin="${ready%/*}"
  if [[ "$grpc" == - ]]; then
    printf '  %-17s %s\n' "$name" "$admin  (ready: $ready)"
  else
    printf '  %-17s gRPC %-16s admin %s  (/metrics, /readyz)\n' "$name" "$grpc" "$admin"
  fi
done
echo "  logs: .run/logs/   pids: .run/pids/"
echo
if [[ "$SHOP_BOOTSTRAP_ADMIN_PASSWORD" == shopmesh-admin ]]; then
  echo "admin login:  $SHOP_BOOTSTRAP_ADMIN_EMAIL / shopmesh-admin"
else
  echo "admin login:  $SHOP_BOOTSTRAP_ADMIN_EMAIL / (password from SHOP_BOOTSTRAP_ADMIN_PASSWORD)"
fi
echo "try:          grpcurl -plaintext 127.0.0.1:50051 list"
echo "stop:         just down"
