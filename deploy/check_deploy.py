#!/usr/bin/env python3
"""Offline consistency checks of deploy/ against the code (run by scripts/check-deploy.sh).

Nothing under deploy/ can be exercised on a machine without a container runtime, a cluster
or Azure, so this checks what a reader would otherwise check by hand: that every name the
deployment files use (binaries, ports, SHOP_* settings, metric names and labels, gRPC
methods, queue names, Secrets and their keys, data source uids) is one the code or another
deployment file defines. Facts come from the sources, not from a copy:

  * SHOP_* settings   the `pub struct *Config` fields (services/*/src/lib.rs, bff/src/lib.rs,
                      crates/bus/src/broker.rs BusConfig as SHOP_AMQP__*, crates/stripe-fake)
  * ports             the Default impls of those structs
  * metrics           Opts::new / HistogramOpts::new / IntGauge::new registrations (+ the
                      registry's `shop` prefix and constant `app` label)
  * gRPC methods      `rpc` lines of proto/
  * queues            crates/bus/src/topology.rs

Usage: check_deploy.py ROOT RENDERED_DIR   (RENDERED_DIR holds base.yaml / aks.yaml when
kustomize was available; missing files mean "not rendered").
Exit status 1 when any check fails. Prints one line per check.
"""
from __future__ import annotations

import fnmatch
import json
import os
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(sys.argv[1]).resolve()
RENDERED = Path(sys.argv[2]) if len(sys.argv) > 2 else None
DEPLOY = ROOT / "deploy"

failures: list[str] = []
checks = 0


def check(name: str, problems: list[str]) -> None:
    global checks
    checks += 1
    if problems:
        failures.append(name)
        print(f"  FAIL {name}")
        for problem in problems:
            print(f"       - {problem}")
    else:
        print(f"  ok   {name}")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def load_all(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(read(path)) if doc]


# ------------------------------------------------------------------------------------------
# Facts from the code
# ------------------------------------------------------------------------------------------
STRUCT_RE = re.compile(r"pub struct (\w+)\s*\{(.*?)\n\}", re.S)
FIELD_RE = re.compile(r"((?:\s*#\[[^\]]*\]\s*|\s*///[^\n]*\n)*)\s*pub (\w+):\s*([^,\n]+),")


def config_structs() -> dict[str, dict[str, str]]:
    """struct name -> {field (after serde rename): type}."""
    files = list((ROOT / "services").glob("*/src/lib.rs")) + [
        ROOT / "bff/src/lib.rs",
        ROOT / "crates/bus/src/broker.rs",
        ROOT / "crates/stripe-fake/src/config.rs",
        ROOT / "crates/kit/src/server.rs",
        ROOT / "crates/kit/src/mysql.rs",
        ROOT / "crates/kit/src/mongo.rs",
    ]
    out: dict[str, dict[str, str]] = {}
    for file in files:
        for match in STRUCT_RE.finditer(read(file)):
            name, body = match.groups()
            if not name.endswith("Config"):
                continue
            fields = {}
            for attrs, field, ftype in FIELD_RE.findall(body):
                if "flatten" in attrs:
                    # `#[serde(flatten)] host: HostConfig`: its fields keep their flat names.
                    fields[f"flatten:{ftype.strip()}"] = ftype.strip()
                    continue
                rename = re.search(r'rename\s*=\s*"(\w+)"', attrs)
                fields[rename.group(1) if rename else field] = ftype.strip()
            out[name] = fields
    for fields in out.values():
        for key in [key for key in fields if key.startswith("flatten:")]:
            fields.pop(key)
            fields.update(out[key.removeprefix("flatten:")])
    return out


STRUCTS = config_structs()
BINARY_CONFIG = {
    "shop-user": "UserConfig",
    "shop-product": "ProductConfig",
    "shop-inventory": "InventoryConfig",
    "shop-cart": "CartConfig",
    "shop-order": "OrderConfig",
    "shop-payment": "PaymentConfig",
    "shop-bff": "BffConfig",
    "shop-stripe-fake": "FakeStripeConfig",
}
# Read by every binary outside its Config struct (shop_kit::config, shop_kit::telemetry,
# RUST_LOG's EnvFilter, the OTel SDK's resource detector) or by Kubernetes itself.
COMMON_ENV = {"SHOP_ENV", "RUST_LOG", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_RESOURCE_ATTRIBUTES",
              "POD_NAME", "POD_NAMESPACE"}
TOOLS_ENV = set(re.findall(r'"(SHOP_[A-Z_]+)"', read(ROOT / "crates/tools/src/lib.rs")))


def env_names(struct: str) -> set[str]:
    names = set()
    for field, ftype in STRUCTS[struct].items():
        if ftype.endswith("BusConfig"):
            names |= {f"SHOP_{field.upper()}__{sub.upper()}" for sub in STRUCTS["BusConfig"]}
        else:
            names.add(f"SHOP_{field.upper()}")
    return names


BINARY_ENV = {binary: env_names(struct) | COMMON_ENV for binary, struct in BINARY_CONFIG.items()}
BINARY_ENV["shop-seed"] = TOOLS_ENV | COMMON_ENV
BINARY_ENV["shop-load"] = TOOLS_ENV | COMMON_ENV
ALL_SHOP_ENV = set().union(*BINARY_ENV.values())

PORT_RE = re.compile(r"(\w*addr): SocketAddr::from\(\(\[[\d, ]+\], (\d+)\)\)")
# The services' shared host settings: `host: HostConfig::on_ports(grpc, admin)`.
HOST_PORTS_RE = re.compile(r"HostConfig::on_ports\((\d+), (\d+)\)")


def default_ports() -> dict[str, dict[str, int]]:
    """binary -> {grpc/admin/http: port} from the Default impls."""
    ports: dict[str, dict[str, int]] = {}
    for binary in BINARY_CONFIG:
        if binary == "shop-bff":
            file = ROOT / "bff/src/lib.rs"
        elif binary == "shop-stripe-fake":
            file = ROOT / "crates/stripe-fake/src/config.rs"
        else:
            file = ROOT / "services" / binary.removeprefix("shop-") / "src/lib.rs"
        # grpc_addr/admin_addr of the services, http_addr of the BFF, addr of the fake Stripe;
        # the first occurrence is the Default impl (later ones are test constructors).
        found: dict[str, int] = {}
        host = HOST_PORTS_RE.search(read(file))
        if host:
            found["grpc"], found["admin"] = int(host.group(1)), int(host.group(2))
        for name, port in PORT_RE.findall(read(file)):
            found.setdefault(name.removesuffix("_addr") if name != "addr" else "http", int(port))
        # The BFF's admin port defaults from a constant (port 0 follows a port-0 http_addr).
        admin = re.search(r"DEFAULT_ADMIN_PORT: u16 = (\d+);", read(file))
        if admin:
            found.setdefault("admin", int(admin.group(1)))
        ports[binary] = found
    return ports


PORTS = default_ports()
SERVICES = ["user", "product", "inventory", "cart", "order", "payment"]

RPCS = set(re.findall(r"^\s*rpc\s+(\w+)\s*\(", "\n".join(read(p) for p in (ROOT / "proto").rglob("*.proto")), re.M))
QUEUES = set(re.findall(r'QueueSpec::new\(\s*"([\w.]+)"', read(ROOT / "crates/bus/src/topology.rs")))


def workspace_binaries() -> set[str]:
    bins = set()
    for main in list((ROOT / "services").glob("*/src/main.rs")) + [ROOT / "bff/src/main.rs",
                                                                    ROOT / "crates/stripe-fake/src/main.rs"]:
        manifest = read(main.parent.parent / "Cargo.toml")
        bins.add(re.search(r'^name\s*=\s*"([\w-]+)"', manifest, re.M).group(1))
    bins |= {p.stem for p in (ROOT / "crates/tools/src/bin").glob("*.rs")}
    return bins


METRIC_DEF_RE = re.compile(r'(HistogramOpts::new|Opts::new|IntGauge::new|Gauge::new|IntCounter::new|Counter::new)\(\s*"([a-z_0-9]+)"')


def registered_metrics() -> dict[str, dict]:
    """Full exposition name (shop_ prefix) -> {labels, histogram, file}."""
    metrics = {}
    for file in list((ROOT / "crates").rglob("*.rs")) + list((ROOT / "services").rglob("*.rs")) + list((ROOT / "bff").rglob("*.rs")):
        if "/tests/" in str(file) or "/target/" in str(file):
            continue
        text = read(file)
        for match in METRIC_DEF_RE.finditer(text):
            kind, name = match.groups()
            end = text.find("?;", match.end())
            statement = text[match.end(): end if end != -1 else match.end() + 400]
            labels = re.search(r"&\[([^\]]*)\]", statement)
            label_set = set(re.findall(r'"(\w+)"', labels.group(1))) if labels else set()
            histogram = kind == "HistogramOpts::new"
            metrics[f"shop_{name}"] = {"labels": label_set | {"app"}, "histogram": histogram, "file": rel(file)}
    return metrics


METRICS = registered_metrics()
# rabbitmq_prometheus plugin, per-object endpoint (queue_coarse_metrics / queue_metrics):
RABBITMQ_METRICS = {"rabbitmq_queue_messages", "rabbitmq_queue_messages_ready",
                    "rabbitmq_queue_messages_unacked", "rabbitmq_queue_consumers"}
TARGET_LABELS = {"job", "instance", "service", "namespace", "pod"}
# Other exporters' metrics the alerts use, with their labels: rabbitmq_prometheus node
# alarms, the OTel Collector's own telemetry (:8888), kube-state-metrics.
_OTELCOL = {"service_name", "service_instance_id", "service_version"}
EXTERNAL_METRICS = {
    "rabbitmq_alarms_memory_used_watermark": set(),
    "rabbitmq_alarms_free_disk_space_watermark": set(),
    "otelcol_receiver_refused_spans_total": {"receiver", "transport"} | _OTELCOL,
    "otelcol_receiver_refused_log_records_total": {"receiver", "transport"} | _OTELCOL,
    "otelcol_exporter_send_failed_spans_total": {"exporter"} | _OTELCOL,
    "otelcol_exporter_enqueue_failed_spans_total": {"exporter"} | _OTELCOL,
    "otelcol_exporter_send_failed_log_records_total": {"exporter"} | _OTELCOL,
    "otelcol_exporter_enqueue_failed_log_records_total": {"exporter"} | _OTELCOL,
    "kube_pod_container_status_waiting_reason": {"namespace", "pod", "container", "reason", "uid"},
    "kube_deployment_spec_replicas": {"namespace", "deployment"},
    "kube_deployment_status_replicas_available": {"namespace", "deployment"},
}


# ------------------------------------------------------------------------------------------
# 1. Every YAML and JSON file parses
# ------------------------------------------------------------------------------------------
def check_parse() -> None:
    problems = []
    yamls = sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))
    for path in yamls:
        try:
            load_all(path)
        except yaml.YAMLError as error:
            problems.append(f"{rel(path)}: {error}")
    jsons = sorted(DEPLOY.rglob("*.json"))
    for path in jsons:
        try:
            json.loads(read(path))
        except json.JSONDecodeError as error:
            problems.append(f"{rel(path)}: {error}")
    check(f"{len(yamls)} YAML and {len(jsons)} JSON files under deploy/ parse", problems)


# ------------------------------------------------------------------------------------------
# 2. Dockerfile and .dockerignore
# ------------------------------------------------------------------------------------------
def dockerignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        for candidate in candidates:
            hit = fnmatch.fnmatch(candidate, pat) or (pat.startswith("**/") and
                                                      fnmatch.fnmatch(candidate.split("/")[-1], pat[3:]))
            if hit:
                # an exception re-includes the path itself (or a parent of it)
                ignored = not negate
                break
    return ignored


def check_dockerfile() -> tuple[set[str], set[str]]:
    dockerfile = read(DEPLOY / "docker/Dockerfile")
    patterns = [line.strip() for line in read(ROOT / ".dockerignore").splitlines()
                if line.strip() and not line.strip().startswith("#")]
    problems = []
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", dockerfile, re.M | re.I))
    for line in re.findall(r"^COPY\s+(?!--from)(.+)$", dockerfile, re.M):
        args = [a for a in line.split() if not a.startswith("--")]
        for src in args[:-1]:
            src = src.rstrip("/")
            if not (ROOT / src).exists():
                problems.append(f"COPY source {src} does not exist")
            elif dockerignored(src, patterns):
                problems.append(f"COPY source {src} is excluded by .dockerignore")
    binaries = set(re.search(r'ARG BINARIES="([^"]+)"', dockerfile).group(1).split())
    missing = workspace_binaries() - binaries
    unknown = binaries - workspace_binaries()
    if missing:
        problems.append(f"workspace binaries not copied into the image: {sorted(missing)}")
    if unknown:
        problems.append(f"BINARIES names no workspace binary: {sorted(unknown)}")
    if not re.search(r"^USER\s+10001", dockerfile, re.M):
        problems.append("runtime stage does not run as uid 10001")
    if "SHOP_WEB_DIST=/app/web/dist" not in dockerfile or "web_dist" not in STRUCTS["BffConfig"]:
        problems.append("SHOP_WEB_DIST (BffConfig.web_dist) is not set to the copied web/dist")
    for excluded in ("target", "web/node_modules", ".git"):
        if not dockerignored(excluded, patterns):
            problems.append(f".dockerignore lets {excluded} into the build context")
    check(f"Dockerfile: {len(stages)} stages, COPY sources exist and are not .dockerignored, "
          f"{len(binaries)} binaries = the workspace's, non-root", problems)
    return stages, binaries


# ------------------------------------------------------------------------------------------
# 3. Compose
# ------------------------------------------------------------------------------------------
def check_compose(stages: set[str], binaries: set[str]) -> None:
    path = DEPLOY / "compose/compose.yaml"
    raw = yaml.safe_load(read(path))
    shared = set(raw.get("x-shop-env", {}))
    services = raw["services"]
    problems = []
    for name, svc in services.items():
        build = svc.get("build")
        if isinstance(build, dict) and build.get("target") and build["target"] not in stages:
            problems.append(f"{name}: build target {build['target']} is not a Dockerfile stage")
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0] if isinstance(vol, str) else vol.get("source", "")
            if source.startswith("."):
                if not (path.parent / source).resolve().exists():
                    problems.append(f"{name}: bind mount {source} does not exist")
        for dep, cond in (svc.get("depends_on") or {}).items() if isinstance(svc.get("depends_on"), dict) else []:
            if cond.get("condition") == "service_healthy" and "healthcheck" not in services[dep]:
                problems.append(f"{name} waits for {dep} to be healthy, but {dep} has no healthcheck")
        command = svc.get("command") or []
        binary = command[0] if command else None
        if binary and binary.startswith("shop-"):
            if binary not in binaries:
                problems.append(f"{name}: command {binary} is not in the image")
            env = set((svc.get("environment") or {}))
            for key in sorted(env - shared):
                if key.startswith(("SHOP_", "OTEL_", "RUST_")) and key not in BINARY_ENV[binary]:
                    problems.append(f"{name}: {key} is not a setting of {binary} ({BINARY_CONFIG.get(binary, 'tools')})")
            ports = PORTS.get(binary, {})
            probe = " ".join((svc.get("healthcheck") or {}).get("test", []))
            if binary != "shop-seed":
                want = ports.get("admin") or ports.get("http")
                if not probe:
                    problems.append(f"{name}: no healthcheck")
                elif want and f":{want}/" not in probe:
                    problems.append(f"{name}: healthcheck {probe!r} does not probe port {want}")
            for port in svc.get("ports", []):
                target = int(str(port).rsplit(":", 1)[-1])
                if target not in ports.values():
                    problems.append(f"{name}: publishes {target}, not a port of {binary} {ports}")
    for key in shared:
        if key not in ALL_SHOP_ENV:
            problems.append(f"x-shop-env: {key} is not read by any shopmesh binary")
    # URLs between services use the code's ports
    for name, svc in services.items():
        for key, value in (svc.get("environment") or {}).items():
            match = re.match(r"SHOP_(\w+)_URL$", key)
            if match and str(value).startswith("http://") and match.group(1).lower() in SERVICES:
                want = PORTS[f"shop-{match.group(1).lower()}"]["grpc"]
                if not str(value).endswith(f":{want}"):
                    problems.append(f"{name}: {key}={value} (gRPC port is {want})")
    check(f"compose: {len(services)} services; build targets, mounts, healthchecks, ports and "
          f"SHOP_* names match the code", problems)


# ------------------------------------------------------------------------------------------
# 4. Kustomizations: paths, patch targets, replacements (works without kustomize)
# ------------------------------------------------------------------------------------------
def kustomize_resources(directory: Path, problems: list[str]) -> list[dict]:
    kfile = directory / "kustomization.yaml"
    k = yaml.safe_load(read(kfile))
    docs: list[dict] = []
    for entry in k.get("resources", []):
        target = directory / entry
        if target.is_dir():
            if not (target / "kustomization.yaml").exists():
                problems.append(f"{rel(kfile)}: resource {entry} is a directory without kustomization.yaml")
                continue
            docs += kustomize_resources(target, problems)
        elif target.exists():
            docs += load_all(target)
        else:
            problems.append(f"{rel(kfile)}: resource {entry} does not exist")
    for gen in k.get("configMapGenerator", []):
        for item in gen.get("files", []) + gen.get("envs", []):
            file = item.split("=", 1)[-1]
            if not (directory / file).exists():
                problems.append(f"{rel(kfile)}: generator file {file} does not exist")
        if gen.get("behavior") not in ("merge", "replace"):
            docs.append({"kind": "ConfigMap", "metadata": {"name": gen["name"]}})
    for patch in k.get("patches", []):
        if "path" in patch and not (directory / patch["path"]).exists():
            problems.append(f"{rel(kfile)}: patch file {patch['path']} does not exist")
        target = patch.get("target")
        if target:
            hits = [d for d in docs if d.get("kind") == target.get("kind")
                    and ("name" not in target or re.fullmatch(target["name"], d["metadata"]["name"]))
                    and selector_matches(target.get("labelSelector"), d)]
            if not hits:
                problems.append(f"{rel(kfile)}: patch target {target} matches no resource")
    for replacement in k.get("replacements", []):
        source = replacement["source"]
        if not any(d.get("kind") == source["kind"] and d["metadata"]["name"] == source["name"] for d in docs):
            problems.append(f"{rel(kfile)}: replacement source {source['kind']}/{source['name']} does not exist")
        for tgt in replacement["targets"]:
            sel = tgt["select"]
            if not any(d.get("kind") == sel["kind"] and ("name" not in sel or d["metadata"]["name"] == sel["name"]) for d in docs):
                problems.append(f"{rel(kfile)}: replacement target {sel} matches no resource")
    return docs


def selector_matches(selector: str | None, doc: dict) -> bool:
    if not selector:
        return True
    labels = doc.get("metadata", {}).get("labels", {}) or {}
    for term in re.split(r",\s*(?![^()]*\))", selector):
        match = re.match(r"\s*([\w./-]+)\s+in\s+\(([^)]*)\)", term)
        if match:
            if labels.get(match.group(1)) not in [v.strip() for v in match.group(2).split(",")]:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
    return True


def check_kustomizations() -> dict[str, list[dict]]:
    out = {}
    for directory in (DEPLOY / "k8s/base", DEPLOY / "k8s/overlays/aks"):
        problems: list[str] = []
        docs = kustomize_resources(directory, problems)
        out[directory.name] = docs
        check(f"{rel(directory)}/kustomization.yaml: every resource, generator file, patch target "
              f"and replacement exists ({len(docs)} resources)", problems)
    return out


# ------------------------------------------------------------------------------------------
# 5. Kubernetes objects against the code
# ------------------------------------------------------------------------------------------
def rendered_or_raw(name: str, raw: list[dict]) -> tuple[list[dict], str]:
    if RENDERED and (RENDERED / f"{name}.yaml").exists():
        return load_all(RENDERED / f"{name}.yaml"), "rendered"
    return raw, "raw (not rendered)"


def check_workloads(label: str, docs: list[dict], binaries: set[str]) -> None:
    problems = []
    by_kind: dict[str, dict[str, dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    configmap_keys: set[str] = set()
    for name, cm in by_kind.get("ConfigMap", {}).items():
        if name.startswith("shop-config"):
            configmap_keys |= set(cm.get("data", {}))
    for key in configmap_keys:
        if key not in ALL_SHOP_ENV:
            problems.append(f"shop-config: {key} is not read by any shopmesh binary")
    for key in ("SHOP_USER_URL", "SHOP_PRODUCT_URL", "SHOP_INVENTORY_URL", "SHOP_CART_URL", "SHOP_ORDER_URL"):
        for cm in by_kind.get("ConfigMap", {}).values():
            value = cm.get("data", {}).get(key)
            if value:
                service = key.split("_")[1].lower()
                if value != f"http://{service}:{PORTS['shop-' + service]['grpc']}":
                    problems.append(f"{key}={value}: expected http://{service}:{PORTS['shop-' + service]['grpc']}")
    hpa_targets = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind.get("HorizontalPodAutoscaler", {}).values()}
    pdb_selectors = [p["spec"]["selector"]["matchLabels"] for p in by_kind.get("PodDisruptionBudget", {}).values()]
    service_accounts = set(by_kind.get("ServiceAccount", {}))
    for name, dep in by_kind.get("Deployment", {}).items():
        spec = dep["spec"]["template"]["spec"]
        pod_labels = dep["spec"]["template"]["metadata"].get("labels", {})
        if not any(all(pod_labels.get(k) == v for k, v in sel.items()) for sel in pdb_selectors):
            problems.append(f"{name}: no PodDisruptionBudget selects it")
        if spec.get("serviceAccountName") not in service_accounts:
            problems.append(f"{name}: ServiceAccount {spec.get('serviceAccountName')} is not defined")
        psc = spec.get("securityContext", {})
        if not psc.get("runAsNonRoot"):
            problems.append(f"{name}: pod securityContext.runAsNonRoot is not true")
        for c in spec["containers"]:
            sc = c.get("securityContext", {})
            if not (sc.get("readOnlyRootFilesystem") and sc.get("allowPrivilegeEscalation") is False
                    and sc.get("capabilities", {}).get("drop") == ["ALL"]):
                problems.append(f"{name}: container {c['name']} lacks readOnlyRootFilesystem / no privilege escalation / drop ALL")
            res = c.get("resources", {})
            if not (res.get("requests") and res.get("limits", {}).get("memory")):
                problems.append(f"{name}: container {c['name']} lacks resource requests or a memory limit")
            if not (c.get("readinessProbe") and c.get("livenessProbe")):
                problems.append(f"{name}: container {c['name']} lacks a readiness or liveness probe")
        if name == "otel-collector":
            continue
        c = spec["containers"][0]
        binary = Path(c["command"][0]).name
        if binary not in binaries:
            problems.append(f"{name}: command {binary} is not in the image")
            continue
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        code = PORTS[binary]
        if ports != {k if k != "http" else "http": v for k, v in code.items()}:
            problems.append(f"{name}: container ports {ports} differ from the code's defaults {code}")
        annotations = dep["spec"]["template"]["metadata"].get("annotations", {})
        scrape = code.get("admin", code.get("http"))
        if annotations.get("prometheus.io/port") != str(scrape):
            problems.append(f"{name}: prometheus.io/port {annotations.get('prometheus.io/port')} != {scrape}")
        if "grpc" in code:
            if c["readinessProbe"].get("grpc", {}).get("port") != code["grpc"]:
                problems.append(f"{name}: readiness is not a grpc probe on {code['grpc']}")
            if c["livenessProbe"].get("httpGet", {}).get("path") != "/healthz":
                problems.append(f"{name}: liveness is not httpGet /healthz on the admin port")
        pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        if spec.get("terminationGracePeriodSeconds", 30) < pre_stop + 20:
            problems.append(f"{name}: terminationGracePeriodSeconds leaves under 20 s to drain after the preStop sleep")
        for env in c.get("env", []):
            if env["name"] not in BINARY_ENV[binary]:
                problems.append(f"{name}: env {env['name']} is not a setting of {binary}")
        if name in hpa_targets and "replicas" in dep["spec"] and label == "base":
            problems.append(f"{name}: has replicas although an HPA scales it")
    for name, svc in by_kind.get("Service", {}).items():
        selector = svc["spec"].get("selector")
        if not selector:
            continue
        targets = [d for d in by_kind.get("Deployment", {}).values()
                   if all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in selector.items())]
        if not targets:
            problems.append(f"Service {name}: selects no Deployment")
            continue
        names = {p["name"] for p in targets[0]["spec"]["template"]["spec"]["containers"][0]["ports"]}
        for port in svc["spec"]["ports"]:
            if isinstance(port.get("targetPort"), str) and port["targetPort"] not in names:
                problems.append(f"Service {name}: targetPort {port['targetPort']} is not a container port")
    for ing in by_kind.get("Ingress", {}).values():
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                backend = p["backend"]["service"]
                svc = by_kind.get("Service", {}).get(backend["name"])
                if not svc:
                    problems.append(f"Ingress path {p['path']}: Service {backend['name']} does not exist")
                elif "name" in backend["port"] and backend["port"]["name"] not in {x["name"] for x in svc["spec"]["ports"]}:
                    problems.append(f"Ingress path {p['path']}: {backend['name']} has no port {backend['port']['name']}")
    if "/stripe/webhook" not in json.dumps(list(by_kind.get("Ingress", {}).values())):
        problems.append("no Ingress path routes Stripe webhooks (/stripe/webhook) to payment")
    check(f"k8s {label}: Deployments/Services/Ingress use the code's binaries, ports, probes and "
          f"SHOP_* names; security context, resources, PDBs", problems)


def check_secrets(docs: list[dict]) -> None:
    """Every Secret key a Deployment reads is synced by a SecretProviderClass (AKS)."""
    problems = []
    provided: dict[str, set[str]] = {}
    for d in docs:
        if d["kind"] != "SecretProviderClass":
            continue
        aliases = set(re.findall(r"objectAlias:\s*(\S+)", d["spec"]["parameters"]["objects"]))
        for obj in d["spec"].get("secretObjects", []):
            keys = set()
            for item in obj["data"]:
                if item["objectName"] not in aliases:
                    problems.append(f"SecretProviderClass {d['metadata']['name']}: secretObjects names "
                                    f"{item['objectName']}, not an objectAlias")
                keys.add(item["key"])
            provided.setdefault(obj["secretName"], set()).update(keys)
    for d in docs:
        if d["kind"] != "Deployment" or d["metadata"]["name"] == "otel-collector":
            continue
        spec = d["spec"]["template"]["spec"]
        wanted = set()
        for env in spec["containers"][0].get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                wanted.add((ref["name"], ref["key"]))
        classes = {v["csi"]["volumeAttributes"]["secretProviderClass"] for v in spec["volumes"] if "csi" in v}
        if not classes:
            problems.append(f"{d['metadata']['name']}: mounts no SecretProviderClass (its Secret is never synced)")
        for vol in spec["volumes"]:
            if "secret" in vol:
                for item in vol["secret"].get("items", []):
                    wanted.add((vol["secret"]["secretName"], item["key"]))
        for secret, key in sorted(wanted):
            if key not in provided.get(secret, set()):
                problems.append(f"{d['metadata']['name']}: reads {secret}/{key}, which no SecretProviderClass syncs")
        sa = next((x for x in docs if x["kind"] == "ServiceAccount" and x["metadata"]["name"] == spec["serviceAccountName"]), None)
        if not (sa and sa["metadata"].get("annotations", {}).get("azure.workload.identity/client-id")):
            problems.append(f"{d['metadata']['name']}: ServiceAccount lacks azure.workload.identity/client-id")
    check("k8s aks: every secretKeyRef / secret file is synced from Key Vault by the pod's "
          "SecretProviderClass; workload identity on every ServiceAccount", problems)


def check_rabbitmq_topology(docs: list[dict]) -> None:
    """The messaging-topology objects (rabbitmq-topology.yaml, generated from crates/bus):
    every user's credentials Secret is synced from Key Vault with username/password, every
    Permission/TopicPermission names a User, every object targets the RabbitmqCluster, every
    saga queue of topology.rs is declared, and each AMQP client Deployment has its own user."""
    problems = []
    kinds = ("User", "Permission", "TopicPermission", "Exchange", "Queue", "Binding")
    topology = [d for d in docs if d.get("apiVersion", "").startswith("rabbitmq.com/") and d["kind"] in kinds]
    clusters = {d["metadata"]["name"] for d in docs if d["kind"] == "RabbitmqCluster"}
    users = {d["metadata"]["name"]: d for d in topology if d["kind"] == "User"}
    synced: dict[str, set[str]] = {}
    for d in docs:
        if d["kind"] == "SecretProviderClass":
            for obj in d["spec"].get("secretObjects", []):
                synced.setdefault(obj["secretName"], set()).update(item["key"] for item in obj["data"])
    for d in topology:
        where = f"{d['kind']}/{d['metadata']['name']}"
        if d["spec"].get("rabbitmqClusterReference", {}).get("name") not in clusters:
            problems.append(f"{where}: rabbitmqClusterReference names no RabbitmqCluster")
        ref = d["spec"].get("userReference", {}).get("name")
        if d["kind"] in ("Permission", "TopicPermission") and ref not in users:
            problems.append(f"{where}: userReference {ref!r} is no User")
    for name, user in users.items():
        secret = user["spec"].get("importCredentialsSecret", {}).get("name")
        if not {"username", "password"} <= synced.get(secret, set()):
            problems.append(f"User/{name}: credentials Secret {secret!r} is not synced (username, password) by a SecretProviderClass")
    declared = {d["spec"]["name"] for d in topology if d["kind"] == "Queue"}
    problems += [f"saga queue {q} (topology.rs) has no Queue object" for q in sorted(QUEUES - declared)]
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        env = d["spec"]["template"]["spec"]["containers"][0].get("env", [])
        if any(e["name"] == "SHOP_AMQP__URL" for e in env) and f"shop-{d['metadata']['name']}" not in users:
            problems.append(f"{d['metadata']['name']}: talks AMQP but has no RabbitMQ User shop-{d['metadata']['name']}")
    check(f"k8s aks: RabbitMQ topology ({len(users)} users, {len(declared)} queues): users' Secrets synced "
          f"from Key Vault, references resolve, every saga queue declared, one user per AMQP client", problems)


# ------------------------------------------------------------------------------------------
# 6. PromQL in alerts and dashboards against the registered metrics
# ------------------------------------------------------------------------------------------
SELECTOR_RE = re.compile(r"\b((?:shop|rabbitmq|otelcol|kube)_[a-z0-9_]+|up)\b\s*(\{[^{}]*\})?")
MATCHER_RE = re.compile(r"(\w+)\s*(=~|!~|!=|=)\s*\"((?:[^\"\\]|\\.)*)\"")
GROUP_RE = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def metric_base(name: str) -> tuple[str, bool]:
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in METRICS and METRICS[name[: -len(suffix)]]["histogram"]:
            return name[: -len(suffix)], True
    return name, False


def labels_of(metric: str) -> set[str] | None:
    if metric == "up":
        return set(TARGET_LABELS)
    if metric in RABBITMQ_METRICS:
        return {"vhost", "queue"} | TARGET_LABELS
    if metric in EXTERNAL_METRICS:
        return EXTERNAL_METRICS[metric] | TARGET_LABELS
    base, hist = metric_base(metric)
    if base in METRICS:
        return METRICS[base]["labels"] | TARGET_LABELS | ({"le"} if hist and metric.endswith("_bucket") else set())
    return None


def check_expr(where: str, expr: str, problems: list[str], used: set[str]) -> set[str]:
    """Checks one PromQL expression; returns the union of labels its metrics have."""
    union: set[str] = set()
    for name, braces in SELECTOR_RE.findall(expr):
        if name.startswith("shop_") or name.startswith("rabbitmq_"):
            used.add(name)
        labels = labels_of(name)
        if labels is None:
            problems.append(f"{where}: metric {name} is not registered in the code" if name.startswith("shop_")
                            else f"{where}: metric {name} is not a known rabbitmq_prometheus, collector or kube-state-metrics metric")
            continue
        union |= labels
        for label, _op, value in MATCHER_RE.findall(braces or ""):
            if label not in labels:
                problems.append(f"{where}: {name} has no label {label!r} (has {sorted(labels)})")
            if "$" in value:
                continue
            tokens = [t.replace("\\\\.", ".").replace("\\.", ".") for t in value.split("|")]
            if label == "grpc_method":
                problems += [f"{where}: grpc_method {t!r} is no rpc in proto/" for t in tokens
                             if re.fullmatch(r"\w+", t) and t not in RPCS]
            if label == "app":
                problems += [f"{where}: app {t!r} is no shopmesh service" for t in tokens
                             if re.fullmatch(r"\w+", t) and t not in SERVICES + ["bff"]]
            if label == "queue":
                problems += [f"{where}: queue {t!r} is not declared in crates/bus/src/topology.rs" for t in tokens
                             if re.fullmatch(r"[\w.]+", t) and t not in QUEUES]
    for group in GROUP_RE.findall(expr):
        for label in [x.strip() for x in group.split(",") if x.strip()]:
            if union and label not in union:
                problems.append(f"{where}: aggregates by {label!r}, which none of its metrics has")
    return union


RULE_FILES = ["alerts.yml", "alerts-kubernetes.yml"]


def check_alert(file: str, rule: dict, problems: list[str], used: set[str], anchors: set[str],
                tested: set[str]) -> None:
    """One alerting rule: its PromQL, the labels its annotations use, a runbook section in
    docs/observability.md, and a firing case in alerts.test.yml."""
    where = f"{file} {rule.get('alert')}"
    check_expr(where, rule["expr"], problems, used)
    by = set()
    for g in GROUP_RE.findall(rule["expr"]):
        by |= {x.strip() for x in g.split(",") if x.strip()}
    referenced = set(re.findall(r"\$labels\.(\w+)", json.dumps(rule.get("annotations", {}))))
    if by and referenced - by:
        problems.append(f"{where}: annotations use {sorted(referenced - by)}, which the expression aggregates away")
    url = rule.get("annotations", {}).get("runbook_url", "")
    path, _, anchor = url.partition("#")
    if path != "docs/observability.md" or anchor not in anchors:
        problems.append(f"{where}: runbook_url {url!r} is no section of docs/observability.md")
    if rule["alert"] not in tested:
        problems.append(f"{where}: no test in alerts.test.yml makes it fire")


def check_promql() -> None:
    problems: list[str] = []
    used: set[str] = set()
    runbooks = read(ROOT / "docs/observability.md")
    anchors = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.+)$", runbooks, re.M)}
    tests = yaml.safe_load(read(DEPLOY / "prometheus/alerts.test.yml"))
    tested = {case["alertname"] for test in tests["tests"] for case in test.get("alert_rule_test", [])
              if case.get("exp_alerts")}
    n_alerts = 0
    for file in RULE_FILES:
        for group in yaml.safe_load(read(DEPLOY / "prometheus" / file))["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    check_expr(f"{file} {rule['record']}", rule["expr"], problems, used)
                    continue
                n_alerts += 1
                check_alert(file, rule, problems, used, anchors, tested)
    if set(tests["rule_files"]) != set(RULE_FILES):
        problems.append(f"alerts.test.yml loads {tests['rule_files']}, not every rule file {RULE_FILES}")
    n_exprs = 0
    dashboards = sorted((DEPLOY / "grafana/dashboards").glob("*.json"))
    for path in dashboards:
        dash = json.loads(read(path))
        for panel in dash["panels"]:
            for target in panel.get("targets", []):
                n_exprs += 1
                check_expr(f"{path.name} '{panel['title']}'", target["expr"], problems, used)
        for var in dash.get("templating", {}).get("list", []):
            query = var.get("definition", "")
            match = re.match(r"label_values\((.*),\s*(\w+)\)$", query)
            if match:
                n_exprs += 1
                labels = check_expr(f"{path.name} variable {var['name']}", match.group(1), problems, used)
                if match.group(2) not in labels:
                    problems.append(f"{path.name} variable {var['name']}: no label {match.group(2)}")
    unknown = sorted(m for m in used if m.startswith("shop_") and metric_base(m)[0] not in METRICS)
    check(f"PromQL: {n_alerts} alert rules (each with a runbook section and a firing test) and {n_exprs} dashboard queries use only registered metrics "
          f"({len({metric_base(m)[0] for m in used if m.startswith('shop_')})} shop_* of {len(METRICS)} in the code, "
          f"plus RabbitMQ's), their labels, real rpc names, apps and queues", problems)
    shop_names = sorted({metric_base(m)[0] for m in used if m.startswith("shop_")})
    print(f"       shop_* metrics referenced: {' '.join(shop_names)}")
    unused = sorted(set(METRICS) - set(shop_names))
    if unused:
        print(f"       registered but on no dashboard or alert: {' '.join(unused)}")
    del unknown


# ------------------------------------------------------------------------------------------
# 7. Grafana provisioning, collectors, Prometheus scrape targets
# ------------------------------------------------------------------------------------------
def check_grafana() -> None:
    problems = []
    sources = load_all(DEPLOY / "grafana/provisioning/datasources/datasources.yaml")[0]["datasources"]
    uids = {s["uid"] for s in sources}
    seen = set()
    dashboards = sorted((DEPLOY / "grafana/dashboards").glob("*.json"))
    for path in dashboards:
        dash = json.loads(read(path))
        if dash["uid"] in seen:
            problems.append(f"{path.name}: duplicate dashboard uid {dash['uid']}")
        seen.add(dash["uid"])
        ids = [p["id"] for p in dash["panels"]]
        if len(ids) != len(set(ids)):
            problems.append(f"{path.name}: duplicate panel ids")
        for panel in dash["panels"]:
            for ds in [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets", [])]:
                if ds and ds.get("uid") not in uids:
                    problems.append(f"{path.name} '{panel['title']}': data source uid {ds.get('uid')} is not provisioned")
    provider = load_all(DEPLOY / "grafana/provisioning/dashboards/dashboards.yaml")[0]["providers"][0]
    compose = yaml.safe_load(read(DEPLOY / "compose/compose.yaml"))
    mounts = compose["services"]["grafana"]["volumes"]
    if not any(m.endswith(":" + provider["options"]["path"] + ":ro") for m in mounts):
        problems.append(f"compose does not mount the dashboards at {provider['options']['path']}")
    check(f"Grafana: {len(dashboards)} dashboards, unique uids/panel ids, data sources {sorted(uids)} provisioned", problems)


def check_collectors() -> None:
    problems = []
    files = [DEPLOY / "otel/collector.yaml", DEPLOY / "k8s/base/otel-collector-config.yaml",
             DEPLOY / "k8s/overlays/aks/otel-collector-config.yaml"]
    for path in files:
        cfg = yaml.safe_load(read(path))
        for ext in cfg["service"].get("extensions", []):
            if ext not in cfg.get("extensions", {}):
                problems.append(f"{rel(path)}: extension {ext} not defined")
        for pname, pipeline in cfg["service"]["pipelines"].items():
            for section in ("receivers", "processors", "exporters"):
                for component in pipeline.get(section, []):
                    if component not in (cfg.get(section) or {}):
                        problems.append(f"{rel(path)}: pipeline {pname} uses undefined {section[:-1]} {component}")
        endpoint = cfg["receivers"]["otlp"]["protocols"].get("http", {}).get("endpoint", "")
        if not endpoint.endswith(":4318"):
            problems.append(f"{rel(path)}: no OTLP/HTTP receiver on 4318 (the services export OTLP/HTTP)")
    check(f"OTel Collector configs ({len(files)}): pipelines reference defined components; OTLP/HTTP on 4318", problems)


def check_scrape_targets() -> None:
    problems = []
    cfg = yaml.safe_load(read(DEPLOY / "prometheus/prometheus.yml"))
    targets = {}
    for job in cfg["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                targets[target] = static.get("labels", {})
    for svc in SERVICES:
        want = f"{svc}:{PORTS['shop-' + svc]['admin']}"
        if want not in targets:
            problems.append(f"prometheus.yml does not scrape {want}")
    if f"bff:{PORTS['shop-bff']['admin']}" not in targets:
        problems.append(f"prometheus.yml does not scrape the BFF's admin port {PORTS['shop-bff']['admin']}")
    for target, labels in targets.items():
        if "app" in labels:
            problems.append(f"{target}: target label `app` would clash with the metrics' own app label")
    check("prometheus.yml scrapes every admin port and the BFF (ports from the code), never relabels `app`", problems)


def main() -> int:
    print(f"code facts: {len(STRUCTS)} Config structs, {len(ALL_SHOP_ENV)} SHOP_* settings, "
          f"{len(METRICS)} shop_* metrics, {len(RPCS)} rpcs, {len(QUEUES)} saga queues")
    check_parse()
    stages, binaries = check_dockerfile()
    check_compose(stages, binaries)
    raw = check_kustomizations()
    base, how = rendered_or_raw("base", raw["base"])
    print(f"       k8s base checked on the {how} manifests")
    check_workloads("base", base, binaries)
    aks, how = rendered_or_raw("aks", raw["aks"])
    print(f"       k8s aks checked on the {how} manifests")
    if how == "rendered":
        check_workloads("aks", aks, binaries)
        check_secrets(aks)
        check_rabbitmq_topology(aks)
    check_promql()
    check_grafana()
    check_collectors()
    check_scrape_targets()
    print(f"consistency: {checks - len(failures)} of {checks} checks ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
