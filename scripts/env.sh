# shellcheck shell=bash
# Source me: puts the tools installed by scripts/tools.sh on PATH.
#   source scripts/env.sh
# Safe to source more than once (PATH entries are not duplicated) and under `set -u`.
export SHOP_TOOLS_DIR="${SHOP_TOOLS_DIR:-$HOME/.cache/shopmesh}"
for _shop_dir in "$HOME/.cargo/bin" "$SHOP_TOOLS_DIR/npm/node_modules/.bin" "$SHOP_TOOLS_DIR/venv/bin"; do
  case ":${PATH:-}:" in
    *":$_shop_dir:"*) ;;
    *) PATH="$_shop_dir${PATH:+:$PATH}" ;;
  esac
done
unset _shop_dir
export PATH
