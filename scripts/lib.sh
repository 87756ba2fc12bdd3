# shellcheck shell=bash
# Helpers shared by deps.sh, up.sh and down.sh. Source it; it defines functions and the
# run-state paths, nothing else:
#   .run/started/<name>  deps that deps.sh started (pid), so down.sh stops only those
#   .run/pids/<name>     service binaries that up.sh started
#   .run/logs/<name>.log their output
#   .run/keys/           dev JWT keys

SHOP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHOP_RUN="$SHOP_ROOT/.run"
# shellcheck disable=SC2034
{
  SHOP_STARTED="$SHOP_RUN/started"
  SHOP_PIDS="$SHOP_RUN/pids"
  SHOP_LOGS="$SHOP_RUN/logs"
  # The local broker serves every clone on the machine, so the passwords of its service
  # users live beside it, not in one clone's .run/: a second clone's deps.sh (a CI run, say)
  # would otherwise reset them under the first clone's running services.
  SHOP_RABBIT_SECRETS="${SHOP_RABBIT_SECRETS:-${SHOP_TOOLS_DIR:-$HOME/.cache/shopmesh}/rabbitmq}"
}

# Server tools (start-stop-daemon, rabbitmq-diagnostics, ...) live in the sbin dirs, which a
# minimal PATH (cron, CI) may lack.
for _d in /usr/local/sbin /usr/sbin /sbin; do
  case ":$PATH:" in *":$_d:"*) ;; *) PATH="$PATH:$_d" ;; esac
done
unset _d

# say NAME MESSAGE: one aligned status line.
say() { printf '%-14s %s\n' "$1:" "$2"; }
die() { printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

# port_open HOST PORT: true when something accepts a TCP connection there.
port_open() {
  # shellcheck disable=SC2016  # $1/$2 are expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# alive PID: the process exists and is not a zombie.
alive() {
  local pid=$1 state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/stat" ]] || return 1
  state="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# pid_matches PID WORD...: the process is alive and its command line contains every WORD
# (guards against signalling a recycled pid).
pid_matches() {
  local pid=$1 cmdline word
  shift
  alive "$pid" || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  for word in "$@"; do
    [[ "$cmdline" == *"$word"* ]] || return 1
  done
}

# wait_for DEADLINE_SECONDS CMD...: runs CMD every 0.5 s until it succeeds or time is up.
wait_for() {
  local deadline=$(( $(date +%s) + $1 ))
  shift
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s) < deadline )) || return 1
    sleep 0.5
  done
}

# stop_pid NAME PID [DEADLINE]: SIGTERM, wait for exit, SIGKILL if it will not go.
stop_pid() {
  local name=$1 pid=$2 deadline=$(( $(date +%s) + ${3:-30} ))
  kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid"; do
    if (( $(date +%s) >= deadline )); then
      kill -KILL "$pid" 2>/dev/null || true
      say "$name" "did not stop within ${3:-30} s, sent SIGKILL to pid $pid"
      return 0
    fi
    sleep 0.2
  done
}
