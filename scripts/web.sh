#!/usr/bin/env bash
# The web app's tasks (web/: React storefront + admin), so CI, the justfile and people run
# them the same way from any directory:
#   scripts/web.sh install   npm ci, skipped while node_modules matches package-lock.json
#   scripts/web.sh build     typecheck + vite build into web/dist (the BFF serves it at /),
#                            then web/scripts/bundle.mjs: fails above the first-load
#                            JavaScript budget (150 KB gzip), writes .gz/.br siblings
#   scripts/web.sh test      generated GraphQL code up to date + typecheck + Vitest
#   scripts/web.sh codegen   regenerate web/src/gql/ from bff/schema.graphql and
#                            web/src/api/operations.graphql (commit the result)
#   scripts/web.sh e2e       Playwright (playwright-core + Debian chromium) against the
#                            running stack at ${SHOP_WEB_URL:-http://127.0.0.1:8080}
#                            (needs scripts/up.sh + shop-seed, with web/dist built before up);
#                            SHOP_UPDATE_SCREENSHOTS=1 copies the README's screenshots from
#                            web/e2e-artifacts/ to docs/screenshots/ after a passing run
set -euo pipefail

WEB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../web" && pwd)"
STAMP="$WEB_DIR/node_modules/.shopmesh-lock.sha256"
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"

say() { printf '%-14s %s\n' "web:" "$*"; }
die() { printf 'web.sh: error: %s\n' "$*" >&2; exit 1; }

need_node() {
  command -v node >/dev/null || die "node is not installed (Node 20.19+ is needed)"
  command -v npm >/dev/null || die "npm is not installed"
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)' ||
    die "Node $(node --version) is too old: Vite 7 needs 20.19 or newer"
}

install() {
  need_node
  local want
  want="$(sha256sum "$WEB_DIR/package-lock.json" | cut -d' ' -f1)"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    say "node_modules up to date"
    return
  fi
  say "npm ci"
  (cd "$WEB_DIR" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error)
  printf '%s\n' "$want" >"$STAMP"
}

typecheck() { (cd "$WEB_DIR" && npx --no-install tsc -p .); }

build() {
  install
  say "typecheck"
  typecheck
  say "vite build -> web/dist"
  (cd "$WEB_DIR" && npx --no-install vite build)
  say "first-load budget + precompressed assets"
  (cd "$WEB_DIR" && node scripts/bundle.mjs dist)
  du -sh "$WEB_DIR/dist" | sed 's/^/web:           dist size /'
}

codegen() {
  install
  say "graphql-codegen -> web/src/gql"
  (cd "$WEB_DIR" && npx --no-install graphql-codegen --config codegen.ts --silent)
}

# The committed web/src/gql/ must be what the schema and the operations give now: a schema
# change (the BFF regenerates bff/schema.graphql from Rust) or an edited operation without
# `scripts/web.sh codegen` fails here, in CI, instead of drifting silently.
codegen_check() {
  say "generated GraphQL code matches bff/schema.graphql"
  if ! (cd "$WEB_DIR" && npx --no-install graphql-codegen --config codegen.ts --check >/dev/null 2>&1); then
    (cd "$WEB_DIR" && npx --no-install graphql-codegen --config codegen.ts --check 2>&1 | tail -20) >&2 || true
    die "web/src/gql/ is out of date with bff/schema.graphql or web/src/api/operations.graphql: run 'scripts/web.sh codegen' and commit web/src/gql/"
  fi
}

unit_tests() {
  install
  codegen_check
  say "typecheck"
  typecheck
  say "vitest run"
  (cd "$WEB_DIR" && npx --no-install vitest run)
}

ensure_chromium() {
  [[ -x "$CHROMIUM" ]] && return
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    say "installing chromium (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  [[ -x "$CHROMIUM" ]] || die "$CHROMIUM is missing: apt-get install chromium (as root), or set CHROMIUM_PATH"
}

e2e() {
  install
  ensure_chromium
  local url="${SHOP_WEB_URL:-http://127.0.0.1:8080}"
  url="${url%/}"
  curl -fsS --max-time 5 -o /dev/null "$url/healthz" ||
    die "nothing answers at $url/healthz: start the stack first (scripts/deps.sh && scripts/up.sh && shop-seed)"
  curl -fsS --max-time 5 "$url/" | grep -q 'id="root"' ||
    die "$url/ does not serve the web app: run 'scripts/web.sh build' and restart the BFF (it serves web/dist only if it existed at start)"
  say "e2e against $url"
  (cd "$WEB_DIR" && SHOP_WEB_URL="$url" CHROMIUM_PATH="$CHROMIUM" npx --no-install vitest run --config vitest.e2e.config.ts)
  if [[ "${SHOP_UPDATE_SCREENSHOTS:-}" == 1 ]]; then
    local docs="$WEB_DIR/../docs/screenshots" name
    mkdir -p "$docs"
    for name in catalog-desktop product-desktop order-desktop catalog-phone; do
      cp "$WEB_DIR/e2e-artifacts/$name.png" "$docs/$name.png"
    done
    say "README screenshots copied to docs/screenshots/"
  fi
}

case "${1:-}" in
  install) install ;;
  build) build ;;
  test) unit_tests ;;
  codegen) codegen ;;
  e2e) e2e ;;
  *)
    echo "usage: scripts/web.sh install|build|test|codegen|e2e" >&2
    exit 2
    ;;
esac
