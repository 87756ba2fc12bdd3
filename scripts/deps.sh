#!/usr/bin/env bash
# Makes sure the servers shopmesh needs are up (docs/architecture.md §8):
#   MariaDB  127.0.0.1:3306  root, empty password
#   Redis    127.0.0.1:6379
#   RabbitMQ 127.0.0.1:5672  guest/guest, plus one least-privilege user per service
#            (deploy/rabbitmq/permissions.tsv; passwords in ~/.cache/shopmesh/rabbitmq/)
#   MongoDB  127.0.0.1:27017 -> SecantusDB from the tools venv (scripts/tools.sh), unless
#            SHOP_MONGODB_URI points at a non-local server
#
# A server whose port already answers is left alone. One that is installed but down is
# started; one that is missing is installed with apt (as root). What this script starts is
# recorded in .run/started/<name>, and scripts/down.sh stops only those.
# Idempotent: a second run prints "already running" for everything.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/env.sh
source "$SHOP_ROOT/scripts/env.sh"

mkdir -p "$SHOP_STARTED" "$SHOP_LOGS"
# Before the servers start (their outgoing connections could take a gRPC port otherwise).
reserve_ports
HOST=127.0.0.1
VENV="$SHOP_TOOLS_DIR/venv"
MONGO_PORT=27017
MONGO_URI="mongodb://$HOST:$MONGO_PORT/?directConnection=true"

# record NAME PID / recorded_pid NAME / forget NAME: the .run/started ledger.
record() { printf '%s\n' "$2" >"$SHOP_STARTED/$1"; }
recorded_pid() { [[ -f "$SHOP_STARTED/$1" ]] && head -n1 "$SHOP_STARTED/$1"; }
forget() { rm -f "$SHOP_STARTED/$1"; }

# already_running NAME PORT WORD...: prints the status line for a server whose port answers,
# keeping our record only if the recorded pid is still the process we started.
already_running() {
  local name=$1 port=$2 pid
  shift 2
  pid="$(recorded_pid "$name" || true)"
  if [[ -n "$pid" ]] && pid_matches "$pid" "$@"; then
    say "$name" "already running ($HOST:$port, started earlier by deps.sh, pid $pid)"
  else
    forget "$name"
    say "$name" "already running ($HOST:$port)"
  fi
}

# --- install what is missing (one apt run for all) ------------------------------------
# Only a server that is both down and not installed needs apt.
need_install=()
port_open "$HOST" 3306 || [[ -x /usr/sbin/mariadbd ]] || need_install+=(mariadb-server)
port_open "$HOST" 6379 || command -v redis-server >/dev/null || need_install+=(redis-server)
port_open "$HOST" 5672 || command -v rabbitmq-server >/dev/null || need_install+=(rabbitmq-server)
if (( ${#need_install[@]} > 0 )); then
  if [[ $EUID -ne 0 ]]; then
    die "not installed: ${need_install[*]}; as root run: apt-get update && apt-get install -y mariadb-server redis-server rabbitmq-server"
  fi
  echo "deps:          installing mariadb-server redis-server rabbitmq-server with apt (missing: ${need_install[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq mariadb-server redis-server rabbitmq-server >"$SHOP_LOGS/apt-install.log" 2>&1 \
    || { tail -n 30 "$SHOP_LOGS/apt-install.log" >&2; die "apt-get install failed (log: $SHOP_LOGS/apt-install.log)"; }
fi

# --- MariaDB ----------------------------------------------------------------------------
mariadb_admin() { command -v mariadb-admin >/dev/null && echo mariadb-admin || echo mysqladmin; }
# The server is up when ping succeeds, or when it answers but refuses root (a fresh install
# lets root in over the unix socket only: "Access denied" / "is not allowed to connect").
mariadb_ping() {
  local out
  out="$("$(mariadb_admin)" --protocol=tcp -h "$HOST" -P 3306 -u root --connect-timeout=2 ping 2>&1)" && return 0
  [[ "$out" == *"Access denied"* || "$out" == *"is not allowed to connect"* ]]
}
mariadb_tcp_login() { mariadb --protocol=tcp -h "$HOST" -P 3306 -u root --connect-timeout=2 -e 'SELECT 1'; }

if port_open "$HOST" 3306; then
  already_running mariadb 3306 mariadbd
else
  install -d -o mysql -g mysql -m 0755 /run/mysqld
  args=()
  # Debian's stock config does not set user=mysql; mariadbd refuses to run as root without it.
  [[ $EUID -eq 0 ]] && args=(-- --user=mysql)
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd "${args[@]}"
  # Record at once, so down.sh can stop it even if the readiness wait below fails.
  wait_for 10 pgrep -x mariadbd || true
  pid="$(pgrep -n -x mariadbd || true)"
  [[ -n "$pid" ]] && record mariadb "$pid"
  wait_for 60 mariadb_ping || die "mariadb did not answer ping within 60 s (see /var/log/mysql/error.log)"
  say mariadb "started pid ${pid:-?} ($HOST:3306)"
  # A fresh Debian install only lets root in over the unix socket; the project connects as
  # root with an empty password over TCP (docs/architecture.md §8).
  if ! mariadb_tcp_login >/dev/null 2>&1 && [[ $EUID -eq 0 ]]; then
    mariadb -u root -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
      GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" \
      && say mariadb "created root@127.0.0.1 with an empty password"
  fi
fi
if command -v mariadb >/dev/null; then
  wait_for 60 mariadb_ping || die "mariadb on $HOST:3306 does not answer mariadb-admin ping"
else
  echo "mariadb:       note: no mariadb client installed, checked the port only" >&2
fi
if command -v mariadb >/dev/null && ! mariadb_tcp_login >/dev/null 2>&1; then
  echo "mariadb:       warning: root cannot log in over TCP with an empty password" >&2
fi

# --- Redis ------------------------------------------------------------------------------
redis_ping() { [[ "$(redis-cli -h "$HOST" -p 6379 ping 2>/dev/null)" == PONG ]]; }

if port_open "$HOST" 6379; then
  already_running redis 6379 redis-server
else
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  wait_for 20 redis_ping || die "redis did not answer PING within 20 s"
  pid="$(redis-cli -h "$HOST" -p 6379 info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')"
  [[ -n "$pid" ]] && record redis "$pid"
  say redis "started pid ${pid:-?} ($HOST:6379)"
fi
if command -v redis-cli >/dev/null; then
  wait_for 20 redis_ping || die "redis on $HOST:6379 does not answer PING"
else
  echo "redis:         note: no redis-cli installed, checked the port only" >&2
fi

# --- RabbitMQ ---------------------------------------------------------------------------
rabbit_ping() { rabbitmq-diagnostics -q ping && port_open "$HOST" 5672; }

if port_open "$HOST" 5672; then
  already_running rabbitmq 5672 beam rabbit
else
  rabbitmq-server -detached >/dev/null 2>&1
  # Record as soon as the node's OS process exists, so down.sh can stop it even if the
  # readiness wait below fails.
  wait_for 30 pgrep -f 'beam.*-s rabbit' || true
  pid="$(pgrep -n -f 'beam.*-s rabbit' || true)"
  [[ -n "$pid" ]] && record rabbitmq "$pid"
  wait_for 90 rabbit_ping || die "rabbitmq did not become ready within 90 s (see /var/log/rabbitmq/)"
  say rabbitmq "started pid ${pid:-?} ($HOST:5672)"
fi
if command -v rabbitmq-diagnostics >/dev/null; then
  wait_for 90 rabbit_ping || die "rabbitmq on $HOST:5672 does not answer rabbitmq-diagnostics ping"
else
  echo "rabbitmq:      note: no rabbitmq-diagnostics installed, checked the port only" >&2
fi

# --- RabbitMQ users: least privilege --------------------------------------------------
# One user per service (shop-order, shop-cart, ...) with exactly the permissions and topic
# permissions of deploy/rabbitmq/permissions.tsv (rendered from crates/bus, the one source;
# the AKS overlay is rendered from the same table). Passwords are generated once into
# $SHOP_RABBIT_SECRETS/<user>.password (mode 600, ~/.cache/shopmesh/rabbitmq/ by default); scripts/up.sh gives each service its own URL.
# guest stays for the tests' own vhosts and exchanges and for declaring the topology
# (scripts/up.sh); production has no guest user (deploy/README.md).
RABBIT_TABLE="$SHOP_ROOT/deploy/rabbitmq/permissions.tsv"
RABBIT_SECRETS="$SHOP_RABBIT_SECRETS"
rabbit_users() {
  local user users=()
  if ! command -v rabbitmqctl >/dev/null || ! rabbitmqctl -q status >/dev/null 2>&1; then
    say rabbitmq-users "skipped: rabbitmqctl cannot manage the broker here; services will use guest"
    return 0
  fi
  install -d -m 0700 "$RABBIT_SECRETS"
  mapfile -t users < <(awk -F'\t' '$1 == "permissions" { print $2 }' "$RABBIT_TABLE")
  for user in "${users[@]}"; do
    [[ -s "$RABBIT_SECRETS/$user.password" ]] ||
      (umask 077 && openssl rand -hex 24 >"$RABBIT_SECRETS/$user.password")
  done
  # Definitions (with the passwords) go to rabbitmqctl on stdin, never into a file the
  # broker's own user would have to be able to read.
  rabbit_definitions() {
    python3 - "$RABBIT_TABLE" "$RABBIT_SECRETS" <<'PY'
import json, pathlib, sys
table, secrets = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
users, permissions, topics = [], [], []
for line in table.read_text().splitlines():
    if not line or line.startswith("#"):
        continue
    kind, user, a, b, c = line.split("\t")
    if kind == "permissions":
        password = (secrets / f"{user}.password").read_text().strip()
        users.append({"name": user, "password": password, "tags": ""})
        permissions.append({"user": user, "vhost": "/", "configure": a, "write": b, "read": c})
    elif kind == "topic":
        topics.append({"user": user, "vhost": "/", "exchange": a, "write": b, "read": c})
print(json.dumps({"users": users, "permissions": permissions, "topic_permissions": topics}))
PY
  }
  rabbit_definitions | rabbitmqctl -q import_definitions --format json >/dev/null \
    || die "rabbitmqctl import_definitions failed for $RABBIT_TABLE"
  # The import is asynchronous: wait until the last user can log in.
  user="${users[-1]}"
  wait_for 20 rabbitmqctl -q authenticate_user "$user" "$(cat "$RABBIT_SECRETS/$user.password")" \
    || die "RabbitMQ user $user cannot log in after the import"
  say rabbitmq-users "${#users[@]} service users with least privilege (deploy/rabbitmq/permissions.tsv; passwords in ~/.cache/shopmesh/rabbitmq/)"
}
rabbit_users

# --- MongoDB stand-in: SecantusDB -------------------------------------------------------
# uri_is_local URI: every host in a mongodb:// URI is loopback.
uri_is_local() {
  local rest=${1#mongodb://} host
  [[ "$1" == mongodb://* ]] || return 1   # mongodb+srv:// is never local
  rest=${rest%%[/?]*}
  rest=${rest##*@}
  IFS=, read -ra hosts <<<"$rest"
  for host in "${hosts[@]}"; do
    host=${host%:*}
    case "$host" in 127.0.0.1 | localhost | "[::1]" | "") ;; *) return 1 ;; esac
  done
}
mongo_ping() {
  port_open "$HOST" "$MONGO_PORT" &&
    "$VENV/bin/python" -c '
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=2000)
c.admin.command("ping")' "$MONGO_URI"
}

if [[ -n "${SHOP_MONGODB_URI:-}" ]] && ! uri_is_local "$SHOP_MONGODB_URI"; then
  say secantusdb "skipped: SHOP_MONGODB_URI points at a non-local server"
else
  [[ -x "$VENV/bin/secantusd-py" ]] || die "SecantusDB is not installed; run scripts/tools.sh (or just tools)"
  if port_open "$HOST" "$MONGO_PORT"; then
    already_running secantusdb "$MONGO_PORT" secantusd-py
  else
    log="$SHOP_LOGS/secantusdb.log"
    # Run from .run so SecantusDB's auto-discovery of ./secantusd.toml finds nothing.
    # setsid: its own session, so it outlives the shell (or CI job) that started it.
    (cd "$SHOP_RUN" && exec setsid "$VENV/bin/secantusd-py" --host "$HOST" --port "$MONGO_PORT" \
      --storage-path :memory: --cache-size 256M >>"$log" 2>&1 </dev/null) &
    pid=$!
    record secantusdb "$pid"
    deadline=$(( $(date +%s) + 30 ))
    until mongo_ping >/dev/null 2>&1; do
      if ! alive "$pid"; then
        forget secantusdb
        tail -n 20 "$log" >&2
        die "secantusdb exited during start-up (log: $log)"
      fi
      (( $(date +%s) < deadline )) || die "secantusdb did not answer ping within 30 s (log: $log)"
      sleep 0.5
    done
    say secantusdb "started pid $pid ($MONGO_URI, log .run/logs/secantusdb.log)"
  fi
  wait_for 30 mongo_ping || die "nothing answers a MongoDB ping on $HOST:$MONGO_PORT"
fi
