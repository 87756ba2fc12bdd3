#!/usr/bin/env bash
# Stops what `just up` / scripts/deps.sh started, and nothing else:
#   1. service binaries recorded in .run/pids/<name>   (started by scripts/up.sh)
#   2. servers recorded in .run/started/<name>          (started by scripts/deps.sh)
# A server that was already running before deps.sh ran has no record and is left alone.
# Each pid is checked against its command line first, so a recycled pid is never signalled.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stopped=0

# stop_recorded FILE NAME WORD...: stop the pid in FILE if its command line has every WORD.
stop_recorded() {
  local file=$1 name=$2 pid
  shift 2
  [[ -f "$file" ]] || return 0
  pid="$(head -n1 "$file")"
  if pid_matches "$pid" "$@"; then
    stop_pid "$name" "$pid" 60
    say "$name" "stopped pid $pid"
  else
    say "$name" "not running (stale record, pid $pid)"
  fi
  rm -f "$file"
  stopped=$((stopped + 1))
}

# 1. Services, newest first (the BFF and callers before the services they call).
if [[ -d "$SHOP_PIDS" ]]; then
  while IFS= read -r file; do
    name="$(basename "$file")"
    # Replica i >= 1 of shop-product is recorded as shop-product@i (scripts/up.sh).
    stop_recorded "$file" "$name" "${name%@*}"
  done < <(find "$SHOP_PIDS" -maxdepth 1 -type f -printf '%T@ %p\n' | sort -rn | cut -d' ' -f2-)
fi

# 2. Servers that deps.sh started, in reverse start order.
stop_recorded "$SHOP_STARTED/secantusdb" secantusdb secantusd-py
stop_recorded "$SHOP_STARTED/rabbitmq" rabbitmq beam rabbit
stop_recorded "$SHOP_STARTED/redis" redis redis-server
stop_recorded "$SHOP_STARTED/mariadb" mariadb mariadbd

if (( stopped == 0 )); then
  echo "down:          nothing to stop (nothing recorded in .run/pids or .run/started)"
fi
