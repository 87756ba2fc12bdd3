#!/usr/bin/env bash
# `buf breaking` for the protobuf contracts: compares the work tree's proto/ (as configured
# by buf.yaml) with the previous commit. Exits 0 with a note when there is nothing to compare
# against (no HEAD~1, a shallow clone, or HEAD~1 without proto/ and buf.yaml).
#
# `.git#ref=HEAD~1` is buf's git input for "this repository at HEAD~1"; it works on a
# branch and on a detached HEAD (CI checkouts). Override the baseline with
# BUF_AGAINST, e.g. BUF_AGAINST='.git#branch=main' scripts/buf-breaking.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh

if [[ -n "${BUF_AGAINST:-}" ]]; then
  against=$BUF_AGAINST
else
  if ! git rev-parse --verify -q 'HEAD~1^{commit}' >/dev/null 2>&1; then
    echo "buf breaking: nothing to compare against (no previous commit HEAD~1), skipped"
    exit 0
  fi
  if ! git cat-file -e 'HEAD~1:proto' 2>/dev/null || ! git cat-file -e 'HEAD~1:buf.yaml' 2>/dev/null; then
    echo "buf breaking: nothing to compare against (HEAD~1 has no proto/ and buf.yaml), skipped"
    exit 0
  fi
  against='.git#ref=HEAD~1'
fi

echo "buf breaking --against '$against'"
buf breaking --against "$against"
echo "buf breaking: no breaking changes"
