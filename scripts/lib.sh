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

# --- ports ------------------------------------------------------------------------------
# scripts/up.sh runs up to SHOP_MAX_REPLICAS replicas of a service, replica i on the base
# ports + 1000 * i. The gRPC ones (50051-50056 + 1000 * i) lie inside Linux's ephemeral range
# (32768-60999), where the kernel picks the local port of any outgoing connection: one such
# connection can hold 50056 and shop-payment then fails to bind it. reserve_ports takes them
# out of that range (net.ipv4.ip_local_reserved_ports); the other ports (8080, 9080, 9101-
# 12106, 12111) lie below it.
# shellcheck disable=SC2034
SHOP_MAX_REPLICAS=4
SHOP_RESERVED_PORTS=50051-50056,51051-51056,52051-52056,53051-53056
# What `sysctl net.ipv4.ip_local_reserved_ports` reads and writes (procps may be missing).
SHOP_RESERVED_PORTS_FILE=/proc/sys/net/ipv4/ip_local_reserved_ports

# port_reserved PORT: PORT is in net.ipv4.ip_local_reserved_ports.
port_reserved() {
  local range lo hi
  local -a ranges
  IFS=, read -ra ranges <<<"$(cat "$SHOP_RESERVED_PORTS_FILE" 2>/dev/null || true)"
  for range in "${ranges[@]}"; do
    range="${range//[[:space:]]/}"
    [[ -n "$range" ]] || continue
    lo="${range%-*}" hi="${range#*-}"
    (( $1 >= lo && $1 <= hi )) && return 0
  done
  return 1
}

# reserve_ports: adds SHOP_RESERVED_PORTS to the kernel's reserved list (as root; the kernel
# keeps the list per network namespace, so a container can do it for itself). Never fails:
# without root it says what to run, and the ports stay as likely to collide as before.
reserve_ports() {
  local range port missing=()
  local -a ranges
  IFS=, read -ra ranges <<<"$SHOP_RESERVED_PORTS"
  for range in "${ranges[@]}"; do
    for (( port = ${range%-*}; port <= ${range#*-}; port++ )); do
      port_reserved "$port" || { missing+=("$range"); break; }
    done
  done
  if (( ${#missing[@]} == 0 )); then
    say ports "reserved already ($SHOP_RESERVED_PORTS)"
    return 0
  fi
  local current wanted
  current="$(cat "$SHOP_RESERVED_PORTS_FILE" 2>/dev/null || true)"
  wanted="${current:+$current,}$(IFS=,; echo "${missing[*]}")"
  if [[ $EUID -ne 0 ]]; then
    say ports "NOT reserved (needs root): outgoing connections may take one of $SHOP_RESERVED_PORTS and a service then cannot bind it; as root run: sysctl -w net.ipv4.ip_local_reserved_ports=$wanted"
  elif printf '%s\n' "$wanted" 2>/dev/null >"$SHOP_RESERVED_PORTS_FILE"; then
    say ports "reserved $SHOP_RESERVED_PORTS (net.ipv4.ip_local_reserved_ports: no outgoing connection takes them)"
  else
    say ports "NOT reserved: cannot write $wanted to $SHOP_RESERVED_PORTS_FILE (read-only /proc/sys?); a service may find its port taken by an outgoing connection"
  fi
}

# port_holders PORT: every socket on local port PORT, listening or connected, with its
# process (ss), so a failed bind names the culprit. Output only; never fails (no pipes that
# could die of SIGPIPE under pipefail).
port_holders() {
  local out
  if command -v ss >/dev/null; then
    out="$(ss -Htanp "( sport = :$1 )" 2>/dev/null || true)"
  elif command -v lsof >/dev/null; then
    out="$(lsof -nP -iTCP:"$1" 2>/dev/null || true)"
  else
    out="(neither ss nor lsof is installed)"
  fi
  printf '%s\n' "${out:-nothing holds TCP port $1 now}"
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
