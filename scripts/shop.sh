#!/usr/bin/env bash
# The two-command quick start, on a bare Debian machine (as root) or a developer's:
#   scripts/shop.sh up     tools, servers, build, web app, every service, the demo catalog
#   scripts/shop.sh test   tools, servers, then every test (`just test`)
#   scripts/shop.sh down   stop what `up` started
# It installs its own tools first (scripts/tools.sh, cached in ~/.cache/shopmesh, ~1 s when
# warm) and puts them on PATH itself, so no `source scripts/env.sh` step comes before it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() { sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

command=${1:-}
case "$command" in
  up | test | down) shift ;;
  -h | --help | help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

bash scripts/tools.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh

case "$command" in
  up)
    just up
    just seed
    echo
    echo "shopmesh is up: the storefront is at http://127.0.0.1:8080/ (admin: admin@shopmesh.dev / shopmesh-admin)"
    echo "stop it with: scripts/shop.sh down"
    ;;
  test) just test "$@" ;;
  down) just down ;;
esac
