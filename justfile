# shopmesh developer tasks. `just --list` shows them; `just up` runs the system, `just test`
# runs the tests. Tools come from scripts/tools.sh (a venv and an npm prefix outside the repo).

set shell := ["bash", "-euo", "pipefail", "-c"]
# Recipe arguments reach the shell as "$@", so quoting survives (see `test`).
set positional-arguments

# Same PATH as `source scripts/env.sh`: the tools venv, buf from npm, cargo's bin dir.
tools_dir := env("SHOP_TOOLS_DIR", home_directory() / ".cache" / "shopmesh")
export SHOP_TOOLS_DIR := tools_dir
export PATH := (tools_dir / "venv" / "bin") + ":" + (tools_dir / "npm" / "node_modules" / ".bin") + ":" + (home_directory() / ".cargo" / "bin") + ":" + env("PATH")

# Servers the integration tests use (override any of them from the environment).
export SHOP_TEST_MYSQL_URL := env("SHOP_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306")
export SHOP_TEST_REDIS_URL := env("SHOP_TEST_REDIS_URL", "redis://127.0.0.1:6379")
export SHOP_TEST_MONGODB_URI := env("SHOP_TEST_MONGODB_URI", "mongodb://127.0.0.1:27017/?directConnection=true")
export SHOP_TEST_AMQP_URL := env("SHOP_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")

# List the recipes
default:
    @just --list --unsorted

# Install or refresh the dev tools (just, buf, grpcurl, SecantusDB, oteltap, cargo-nextest)
tools:
    scripts/tools.sh

# Make sure MariaDB, Redis, RabbitMQ and the SecantusDB MongoDB stand-in are running
deps: tools
    scripts/deps.sh

# Build every service binary (debug)
build:
    cargo build --workspace --bins

# Build the React storefront into web/dist (the BFF serves it at http://127.0.0.1:8080/)
web:
    scripts/web.sh build

# Run the whole system: deps, build, dev JWT keys, every service in the background
up: deps build web
    scripts/up.sh

# Load the demo catalog (256 products over 8 categories, with stock); idempotent. Needs `just up`.
seed:
    "${CARGO_TARGET_DIR:-target}/debug/shop-seed"

# Measure catalog reads and reservations against the running system (`just load catalog 10 16`)
load what="all" seconds="10" concurrency="16":
    cargo build --release -p shop-tools --bin shop-load
    "${CARGO_TARGET_DIR:-target}/release/shop-load" "$@"

# Release benchmarks on its own stack: BFF vs raw gRPC vs an Apollo peer, checkout vs MariaDB (#9)
bench:
    scripts/bench.sh

# Checkout saga throughput and placed→CONFIRMED latency across every service (in-process)
bench-saga: deps
    cargo nextest run -p shop-system-tests --run-ignored only --no-capture saga_throughput

# scripts/chaos.py: the real binaries on their own MariaDB, Redis, RabbitMQ and SecantusDB (own
# ports and temp dirs, never the shared servers); about 4-5 minutes; CHAOS_* settings in its header.
# Chaos run (#11): 320 checkouts over 2 replicas of everything while processes die, then the invariants
chaos:
    cargo build --bins -p shop-user -p shop-product -p shop-inventory -p shop-cart -p shop-order -p shop-payment -p shop-bff -p shop-stripe-fake -p shop-tools
    "{{tools_dir}}/venv/bin/python" scripts/chaos.py

# Stop what `just up` / `just deps` started (never a server that was already running)
down:
    scripts/down.sh

# Run all tests against the local servers (extra args go to nextest, e.g. `just test -p shop-user`):
# Rust unit/integration/system tests, the web app's Vitest suite, then the smoke test
# (real binaries, one trace per checkout, the storefront in Chromium)
test *args: deps
    cargo nextest run --workspace --no-fail-fast "$@"
    scripts/web.sh test
    scripts/smoke.sh

# The real binaries as `just up` runs them, one GraphQL checkout to CONFIRMED, then down
smoke: deps
    scripts/smoke.sh

# rustfmt check, clippy -D warnings, buf lint, buf format check, buf breaking vs HEAD~1, and
# scripts/check-deploy.sh: the offline checks of deploy/ (k8s schemas, compose, amtool, names the
# code defines, promtool check and `promtool test rules`: a unit test for every alert)
lint: tools
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    buf lint
    buf format -d --exit-code
    scripts/buf-breaking.sh
    scripts/check-deploy.sh

# The storefront end to end in Chromium against a running system (`just up` and `just seed` first)
e2e-web:
    scripts/web.sh e2e

# Format Rust and protobuf sources in place
fmt: tools
    cargo fmt --all
    buf format -w

# How cost grows (#9 e), own release stack like `just bench`: catalog page at 1k/10k/100k products, page 1 vs 50, checkout before/after 10k more orders
bench-growth:
    scripts/bench.sh growth
