#!/usr/bin/env bash
# scripts/fuzz.sh [seconds]: runs every cargo fuzz target under fuzz/ for a bounded time each
# (default 20 s), one after another on one core, and exits non-zero if any target crashed,
# failed an assertion, leaked past its memory limit or timed out. See docs/reliability.md
# ("Fuzzing") for the targets and for longer runs.
#
#   FUZZ_TARGETS="sku page_token"   only these targets (default: all, from `cargo fuzz list`)
#   SHOP_FUZZ_TARGET_DIR            the instrumented build (default fuzz/target; it shares
#                                   nothing with the ordinary target directory, so keep it
#                                   apart: a persistent directory makes warm runs quick)
#
# The committed seeds (fuzz/corpus/<target>/) are only read; what a run discovers goes to
# the build directory's corpus/<target>/ and is kept for the next run. A failing input is
# written to fuzz/artifacts/<target>/ and the summary names it; replay it with
#   (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> <artifact>)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
seconds=${1:-20}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [seconds per target, default 20]" >&2
  exit 2
fi
# shellcheck source=scripts/env.sh
source scripts/env.sh

# The machine's one toolchain is stable; cargo fuzz passes a few unstable flags, which
# RUSTC_BOOTSTRAP lets stable rustc accept. No sanitizer (-s none): the code is safe Rust,
# so AddressSanitizer would only slow every execution down.
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${SHOP_FUZZ_TARGET_DIR:-$root/fuzz/target}"
fuzz=(cargo fuzz)
opts=(-s none)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz: missing, running cargo install cargo-fuzz --locked (a few minutes)"
  cargo install cargo-fuzz --version 0.13.2 --locked
fi

cd fuzz
if [[ -n ${FUZZ_TARGETS:-} ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  mapfile -t targets < <("${fuzz[@]}" list)
fi

start=$(date +%s)
echo "== building ${#targets[@]} fuzz targets (into $CARGO_TARGET_DIR)"
"${fuzz[@]}" build "${opts[@]}"

rows=()
failed=()
for target in "${targets[@]}"; do
  work="$CARGO_TARGET_DIR/corpus/$target"
  log="$CARGO_TARGET_DIR/fuzz-$target.log"
  mkdir -p "$work" "corpus/$target"
  echo "== $target: ${seconds}s"
  set +e
  "${fuzz[@]}" run "${opts[@]}" "$target" "$work" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  corpus=$(find "$work" -type f | wc -l)
  if ((rc == 0)); then
    rows+=("$(printf '%-16s ok       %10s execs  %6s inputs in its corpus' "$target" "${execs:-?}" "$corpus")")
  else
    artifact=$(grep -o 'artifacts/[^ ]*' "$log" | tail -n1 || true)
    rows+=("$(printf '%-16s FAILED   %10s execs  exit %d  %s' "$target" "${execs:-?}" "$rc" "${artifact:+fuzz/$artifact}")")
    failed+=("$target")
    grep -E 'panicked at|^==[0-9]+==|SUMMARY|Test unit written' "$log" | head -n 20 >&2 || true
    echo "   whole log: $log" >&2
  fi
done

echo
echo "== fuzz summary (${seconds}s per target, $(($(date +%s) - start))s in all)"
printf '%s\n' "${rows[@]}"
if ((${#failed[@]})); then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
