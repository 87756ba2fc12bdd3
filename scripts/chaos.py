#!/usr/bin/env python3
"""`just chaos` (issue #11 item 3): the real service binaries, 2 replicas of every service and
2 BFFs, on their own backends, with checkouts running while processes die; then the
invariants, a table, and exit 1 on any violation.

Everything runs on loopback ports of its own and in one run directory (printed at the start;
kept on failure): its own MariaDB, Redis, RabbitMQ node and SecantusDB (on disk), never the
shared servers on the default ports, and never the project's default ports. Every process it
starts is stopped on exit, also on failure and Ctrl-C.

Written in Python (stdlib + pymongo from the tools venv) rather than as a Rust bin, so that
the checks can read MariaDB (mariadb client), Mongo, RabbitMQ's HTTP API and the fake Stripe
without adding database drivers to shop-tools; the traffic is plain GraphQL over HTTP and
graphql-transport-ws, as a browser sends it.

Settings (environment): CHAOS_CHECKOUTS (default 320), CHAOS_SHOPPERS (40),
CHAOS_TRAFFIC_SECONDS (the checkouts are spread over it, 150), CHAOS_KILL_EVERY (seconds
between faults, 4), CHAOS_SETTLE (longest wait for the saga to finish after the traffic, 120),
CHAOS_SEED (random seed; printed), CHAOS_KEEP=1 keeps the run directory (kept anyway on
failure).
"""

import base64
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter, defaultdict

import pymongo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
if not os.path.isabs(TARGET):
    TARGET = os.path.join(ROOT, TARGET)
BIN = os.path.join(TARGET, "debug")
VENV = os.path.join(os.environ.get("SHOP_TOOLS_DIR", os.path.expanduser("~/.cache/shopmesh")), "venv")

CHECKOUTS = int(os.environ.get("CHAOS_CHECKOUTS", "320"))
SHOPPERS = int(os.environ.get("CHAOS_SHOPPERS", "40"))
KILL_EVERY = float(os.environ.get("CHAOS_KILL_EVERY", "4"))
SETTLE = float(os.environ.get("CHAOS_SETTLE", "120"))
SEED = int(os.environ.get("CHAOS_SEED", str(int(time.time()))))
# Checkouts are spread over this many seconds, so they overlap every fault; the traffic stops
# at 1.5 times it whatever is left.
TRAFFIC_SECONDS = float(os.environ.get("CHAOS_TRAFFIC_SECONDS", "150"))
rng = random.Random(SEED)

# --- ports: none of the project's defaults (8080, 9100-9106, 50051-50056, 12111, +1000/+2000),
# and all below Linux's ephemeral range (32768-60999), where an outgoing connection may hold one.
H = "127.0.0.1"
MARIADB_PORT, REDIS_PORT, AMQP_PORT, AMQP_DIST, AMQP_HTTP, MONGO_PORT = 13306, 16379, 5673, 25673, 15673, 27019
STRIPE_PORT = 22111
BFF_PORTS = [28080, 28081]
BFF_ADMIN_PORTS = [28090, 28091]
SERVICES = ["user", "product", "inventory", "cart", "order", "payment"]
GRPC = {s: [21051 + i + 100 * r for r in range(2)] for i, s in enumerate(SERVICES)}
ADMIN = {s: [22101 + i + 100 * r for r in range(2)] for i, s in enumerate(SERVICES)}

MYSQL_URL = f"mysql://root@{H}:{MARIADB_PORT}"
MONGO_URI = f"mongodb://{H}:{MONGO_PORT}/?directConnection=true"
AMQP_URL = f"amqp://guest:guest@{H}:{AMQP_PORT}/%2f"
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@chaos.test", "chaos-admin-password"
WEBHOOK_SECRET, STRIPE_KEY = "whsec_chaos", "sk_test_chaos"

RUN = tempfile.mkdtemp(prefix="shopmesh-chaos-")
LOGS = os.path.join(RUN, "logs")
os.makedirs(LOGS)


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


# --- processes --------------------------------------------------------------------------------
class Procs:
    """Every process this run started, by name; all of them are stopped by `stop_all`."""

    def __init__(self):
        self.lock = threading.Lock()
        self.procs = {}
        self.specs = {}
        self.closing = False

    def start(self, name, argv, env=None, cwd=None):
        if self.closing:  # a fault thread's restart racing the shutdown
            raise RuntimeError("stopping: no new process")
        self.specs[name] = (argv, env, cwd)
        with open(os.path.join(LOGS, name + ".log"), "ab") as out:
            out.write(f"\n===== start {time.ctime()} =====\n".encode())
            full_env = dict(os.environ)
            full_env.update(env or {})
            proc = subprocess.Popen(argv, env=full_env, cwd=cwd or RUN, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        with self.lock:
            self.procs[name] = proc
        return proc

    def restart(self, name):
        argv, env, cwd = self.specs[name]
        return self.start(name, argv, env, cwd)

    def kill(self, name, sig=signal.SIGKILL, wait=20):
        with self.lock:
            proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def stop_all(self):
        with self.lock:
            self.closing = True
            items = list(self.procs.items())
        for _, proc in items:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.time() + 15
        for _, proc in items:
            try:
                proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


PROCS = Procs()


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((H, port)) == 0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


# Redirects are answers here (the 3-D Secure page's 303 back to the storefront), not followed.
OPENER = urllib.request.build_opener(_NoRedirect)


def http(method, url, body=None, headers=None, timeout=10):
    data = body if isinstance(body, (bytes, type(None))) else body.encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with OPENER.open(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_for(what, check, seconds=60, proc=None):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited during start-up (logs in {LOGS})")
        time.sleep(0.3)
    raise RuntimeError(f"{what} not ready within {seconds} s (logs in {LOGS})")


def ready_url(url):
    return lambda: http("GET", url, timeout=2)[0] == 200


# --- backends ---------------------------------------------------------------------------------
def mysql(sql, database=None):
    argv = ["mariadb", "--protocol=tcp", "-h", H, "-P", str(MARIADB_PORT), "-u", "root", "-N", "-B", "-e", sql]
    if database:
        argv.insert(1, database)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(f"mariadb: {out.stderr.strip()}")
    return [line.split("\t") for line in out.stdout.splitlines()]


def start_mariadb(first=True):
    datadir = os.path.join(RUN, "mariadb")
    if first:
        os.makedirs(datadir)
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={datadir}", "--user=root",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True, timeout=120)
    proc = PROCS.start("mariadb", ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={datadir}", "--user=root",
                                   f"--port={MARIADB_PORT}", f"--bind-address={H}",
                                   f"--socket={datadir}/sock", f"--pid-file={datadir}/pid",
                                   "--innodb-buffer-pool-size=64M", "--max-connections=500", "--skip-log-bin"])
    wait_for("mariadb", lambda: mysql("SELECT 1") is not None, 60, proc)


def start_redis():
    proc = PROCS.start("redis", ["redis-server", "--port", str(REDIS_PORT), "--bind", H, "--save", "",
                                 "--appendonly", "no", "--dir", RUN])
    wait_for("redis", lambda: port_open(REDIS_PORT), 20, proc)


def rabbit_env():
    base = os.path.join(RUN, "rabbitmq")
    return {
        "HOME": base,  # its own Erlang cookie
        "RABBITMQ_NODENAME": "chaos@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": H,
        "RABBITMQ_NODE_PORT": str(AMQP_PORT),
        "RABBITMQ_DIST_PORT": str(AMQP_DIST),
        "RABBITMQ_MNESIA_BASE": os.path.join(base, "mnesia"),
        "RABBITMQ_LOG_BASE": os.path.join(base, "log"),
        "RABBITMQ_CONFIG_FILE": os.path.join(base, "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(base, "advanced.config"),
        "RABBITMQ_CONF_ENV_FILE": os.path.join(base, "rabbitmq-env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(base, "enabled_plugins"),
        "RABBITMQ_PID_FILE": os.path.join(base, "pid"),
        "ERL_EPMD_ADDRESS": H,
    }


def rabbit_api(path, method="GET", body=None):
    auth = base64.b64encode(b"guest:guest").decode()
    status, data = http(method, f"http://{H}:{AMQP_HTTP}/api/{path}", body and json.dumps(body),
                        {"Authorization": "Basic " + auth, "content-type": "application/json"})
    if status >= 300:
        raise RuntimeError(f"rabbitmq api {path}: {status} {data[:200]!r}")
    return json.loads(data) if data else None


def start_rabbitmq(first=True):
    env = rabbit_env()
    base = env["HOME"]
    if first:
        os.makedirs(base)
        with open(env["RABBITMQ_CONFIG_FILE"], "w") as f:
            f.write(f"listeners.tcp.1 = {H}:{AMQP_PORT}\nmanagement.tcp.ip = {H}\n"
                    f"management.tcp.port = {AMQP_HTTP}\nloopback_users = none\n")
        with open(env["RABBITMQ_ADVANCED_CONFIG_FILE"], "w") as f:
            f.write("[].\n")
        open(env["RABBITMQ_CONF_ENV_FILE"], "w").close()
        with open(env["RABBITMQ_ENABLED_PLUGINS_FILE"], "w") as f:
            f.write("[rabbitmq_management].\n")
    proc = PROCS.start("rabbitmq", ["/usr/lib/rabbitmq/bin/rabbitmq-server"], env)
    wait_for("rabbitmq", lambda: port_open(AMQP_PORT) and rabbit_api("overview") is not None, 120, proc)


def stop_rabbitmq():
    # Graceful, as an operator's restart; the node's process group goes if it does not.
    subprocess.run(["/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", "chaos@localhost", "stop"],
                   env={**os.environ, **rabbit_env()}, capture_output=True, timeout=60)
    PROCS.kill("rabbitmq", signal.SIGTERM, 30)


def start_mongo():
    path = os.path.join(RUN, "secantusdb")
    os.makedirs(path, exist_ok=True)
    proc = PROCS.start("secantusdb", [os.path.join(VENV, "bin", "secantusd-py"), "--host", H, "--port", str(MONGO_PORT),
                                      "--storage-path", path, "--cache-size", "256M"], cwd=RUN)

    def ping():
        pymongo.MongoClient(MONGO_URI, serverSelectionTimeoutMS=1000).admin.command("ping")
        return True

    wait_for("secantusdb", ping, 60, proc)


# --- services ---------------------------------------------------------------------------------
def urls(service):
    return ",".join(f"http://{H}:{p}" for p in GRPC[service])


def service_env(service, r):
    env = {
        "RUST_LOG": os.environ.get("CHAOS_RUST_LOG", "warn"),
        "SHOP_GRPC_ADDR": f"{H}:{GRPC[service][r]}",
        "SHOP_ADMIN_ADDR": f"{H}:{ADMIN[service][r]}",
        "SHOP_JWT_PUBLIC_KEY_FILE": os.path.join(RUN, "jwt.pub.pem"),
        "SHOP_AMQP__URL": AMQP_URL,
    }
    if service == "user":
        env.update(SHOP_DATABASE_URL=f"{MYSQL_URL}/shop_user", SHOP_JWT_PRIVATE_KEY_FILE=os.path.join(RUN, "jwt.pem"),
                   SHOP_BOOTSTRAP_ADMIN_EMAIL=ADMIN_EMAIL, SHOP_BOOTSTRAP_ADMIN_PASSWORD=ADMIN_PASSWORD)
    elif service in ("product", "inventory"):
        env.update(SHOP_MONGODB_URI=MONGO_URI)
        if service == "inventory":
            env.update(SHOP_SWEEP_INTERVAL_SECS="5")
    elif service == "cart":
        env.update(SHOP_REDIS_URL=f"redis://{H}:{REDIS_PORT}", SHOP_PRODUCT_URL=urls("product"))
    elif service == "order":
        # Abandoned 3-D Secure checkouts are cancelled after this (production: 20 minutes).
        env.update(SHOP_DATABASE_URL=f"{MYSQL_URL}/shop_order", SHOP_CART_URL=urls("cart"),
                   SHOP_UNFINISHED_TIMEOUT_SECS="40", SHOP_SWEEP_INTERVAL_SECS="5")
    elif service == "payment":
        env.update(SHOP_DATABASE_URL=f"{MYSQL_URL}/shop_payment", SHOP_STRIPE_BASE_URL=f"http://{H}:{STRIPE_PORT}/",
                   SHOP_STRIPE_API_KEY=STRIPE_KEY, SHOP_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
                   SHOP_PENDING_SWEEP_SECS="5", SHOP_PENDING_STALE_SECS="15",
                   SHOP_STOREFRONT_URL=f"http://{H}:{BFF_PORTS[0]}")
    return env


def bff_env(r):
    return {
        "RUST_LOG": os.environ.get("CHAOS_RUST_LOG", "warn"),
        "SHOP_HTTP_ADDR": f"{H}:{BFF_PORTS[r]}",
        "SHOP_ADMIN_ADDR": f"{H}:{BFF_ADMIN_PORTS[r]}",  # else the default 9100
        "SHOP_JWT_PUBLIC_KEY_FILE": os.path.join(RUN, "jwt.pub.pem"),
        "SHOP_AMQP__URL": AMQP_URL,
        **{f"SHOP_{s.upper()}_URL": urls(s) for s in ("user", "product", "inventory", "cart", "order")},
        # One client address for every shopper: the per-IP limits would throttle the run.
        "SHOP_RATE_LIMIT_PER_MINUTE": "1000000", "SHOP_RATE_LIMIT_BURST": "100000",
        "SHOP_AUTH_RATE_LIMIT_PER_MINUTE": "1000000", "SHOP_AUTH_RATE_LIMIT_BURST": "100000",
        "SHOP_WS_MAX_SUBSCRIPTIONS_PER_USER": "100",
        "SHOP_SUBSCRIPTION_POLL_SECS": "10",
        "SHOP_WEB_DIST": os.path.join(RUN, "web"),
    }


REPLICAS = [f"{s}@{r}" for s in SERVICES for r in range(2)] + ["bff@0", "bff@1"]


def start_replica(name):
    service, r = name.split("@")
    r = int(r)
    if service == "bff":
        proc = PROCS.start(name, [os.path.join(BIN, "shop-bff")], bff_env(r), cwd=ROOT)
        ready = f"http://{H}:{BFF_PORTS[r]}/healthz"
    else:
        proc = PROCS.start(name, [os.path.join(BIN, f"shop-{service}")], service_env(service, r), cwd=ROOT)
        ready = f"http://{H}:{ADMIN[service][r]}/readyz"
    wait_for(name, ready_url(ready), 90, proc)


def start_stripe():
    proc = PROCS.start("stripe-fake", [os.path.join(BIN, "shop-stripe-fake")], {
        "RUST_LOG": "warn",
        "SHOP_STRIPE_FAKE_ADDR": f"{H}:{STRIPE_PORT}",
        "SHOP_STRIPE_FAKE_PUBLIC_URL": f"http://{H}:{STRIPE_PORT}",
        # One endpoint (the fake has one): Payment replica 0, which is killed and restarted
        # on the same port like the others; the retries span its restart and Payment's
        # stale-payment sweep catches what they miss.
        "SHOP_STRIPE_WEBHOOK_URL": f"http://{H}:{ADMIN['payment'][0]}/stripe/webhook",
        "SHOP_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SHOP_STRIPE_WEBHOOK_MAX_ATTEMPTS": "8",
        "SHOP_STRIPE_WEBHOOK_BACKOFF_MS": "500",
    })
    wait_for("stripe-fake", ready_url(f"http://{H}:{STRIPE_PORT}/healthz"), 30, proc)


def stripe_list(path):
    status, data = http("GET", f"http://{H}:{STRIPE_PORT}{path}", headers={"Authorization": f"Bearer {STRIPE_KEY}"})
    if status != 200:
        raise RuntimeError(f"fake stripe {path}: {status}")
    return json.loads(data)["data"]


# --- GraphQL ----------------------------------------------------------------------------------
class GqlError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


def gql(port, query, variables=None, token=None, timeout=15):
    headers = {"content-type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    try:
        status, data = http("POST", f"http://{H}:{port}/graphql", json.dumps({"query": query, "variables": variables or {}}),
                            headers, timeout)
    except (OSError, urllib.error.URLError) as e:
        raise GqlError("TRANSPORT", str(e))
    try:
        body = json.loads(data)
    except ValueError:
        raise GqlError(f"HTTP_{status}", data[:200])
    if body.get("errors"):
        e = body["errors"][0]
        raise GqlError((e.get("extensions") or {}).get("code", "ERROR"), e.get("message", ""))
    if status != 200:
        raise GqlError(f"HTTP_{status}", str(body)[:200])
    return body["data"]


# Errors a retry with the same idempotency key may fix (a replica or backend is down).
TRANSIENT = {"TRANSPORT", "UNAVAILABLE", "SERVICE_UNAVAILABLE", "INTERNAL", "UPSTREAM_UNAVAILABLE", "TIMEOUT",
             "DEADLINE_EXCEEDED", "HTTP_502", "HTTP_503", "HTTP_504", "ERROR", "ABORTED"}


# Messages of the INTERNAL answers seen (an outage should read UNAVAILABLE): printed at the end.
INTERNAL_SEEN = []


def gql_retry(query, variables=None, token=None, attempts=12, counter=None):
    op = query.split("{", 1)[1].strip().split("(")[0].split(" ")[0]  # its first field
    last = None
    for i in range(attempts):
        port = rng.choice(BFF_PORTS)
        try:
            return gql(port, query, variables, token)
        except GqlError as e:
            last = e
            if e.code not in TRANSIENT:
                raise
            if counter is not None:
                counter[f"{op} {e.code}"] += 1
                if e.code == "INTERNAL" and len(INTERNAL_SEEN) < 20:
                    INTERNAL_SEEN.append(f"{op}: {e}")
            time.sleep(min(0.3 * (i + 1), 2))
    raise last


# --- graphql-transport-ws (stdlib: one small client) ------------------------------------------
class Ws:
    def __init__(self, port, token, timeout=5):
        self.sock = socket.create_connection((H, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /graphql/ws HTTP/1.1\r\nHost: {H}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                           "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise OSError("closed during handshake")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise OSError("handshake refused: " + head.split(b"\r\n")[0].decode())
        self.send({"type": "connection_init", "payload": {"Authorization": "Bearer " + token}})
        while True:
            m = self.recv(timeout)
            if m.get("type") == "connection_ack":
                break

    def send(self, message, opcode=1):
        data = json.dumps(message).encode() if opcode == 1 else message
        mask = os.urandom(4)
        n = len(data)
        header = bytes([0x80 | opcode]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("socket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self, timeout):
        self.sock.settimeout(timeout)
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            opcode = b0 & 0x0F
            if opcode == 8:
                raise OSError("socket closed by server")
            if opcode == 9:
                self.send(payload, opcode=10)
                continue
            if opcode in (1, 2):
                m = json.loads(payload)
                if m.get("type") == "ping":
                    self.send({"type": "pong"})
                    continue
                return m

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


ORDER_UPDATED = "subscription($id: ID!) { orderUpdated(orderId: $id) { id status cancelReason } }"
FINAL = {"CONFIRMED", "CANCELLED"}


class Watch(threading.Thread):
    """A shopper's open subscription to their order: reconnects (to either BFF) when its
    socket dies, as the storefront does, until it sees a final status or the run ends."""

    def __init__(self, order_id, token, stop):
        super().__init__(daemon=True)
        self.order_id, self.token, self.stop = order_id, token, stop
        self.final = None
        self.reconnects = 0

    def run(self):
        first = True
        while not self.stop.is_set() and self.final is None:
            if not first:
                self.reconnects += 1
                time.sleep(0.5)
            first = False
            try:
                ws = Ws(rng.choice(BFF_PORTS), self.token)
            except (OSError, ValueError):
                continue
            try:
                ws.send({"id": "1", "type": "subscribe", "payload": {"query": ORDER_UPDATED, "variables": {"id": self.order_id}}})
                while not self.stop.is_set():
                    try:
                        m = ws.recv(2)
                    except socket.timeout:
                        continue
                    if m.get("type") == "next":
                        status = (((m.get("payload") or {}).get("data") or {}).get("orderUpdated") or {}).get("status")
                        if status in FINAL:
                            self.final = status
                            return
                    elif m.get("type") in ("complete", "error"):
                        break  # resubscribe
            except (OSError, ValueError):
                pass
            finally:
                ws.close()


# --- traffic ----------------------------------------------------------------------------------
REGISTER = "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }"
CART = "{ cart { items { sku } } }"
REMOVE = "mutation($sku: String!) { removeFromCart(sku: $sku) { itemCount } }"
SET_LINE = "mutation($sku: String!) { updateCartItem(sku: $sku, quantity: 1) { itemCount } }"
CHECKOUT = "mutation($i: CheckoutInput!) { checkout(input: $i) { id status } }"
ORDER = "query($id: ID!) { order(id: $id) { status cancelReason paymentActionUrl } }"
CATALOG = "query($c: String) { products(first: 12, category: $c) { edges { node { sku name } } } }"

# Payment methods and their share of checkouts.
METHODS = [("visa", "pm_card_visa", 0.45), ("declined", "pm_card_chargeDeclined", 0.2),
           ("3ds-completed", "pm_card_threeDSecure2Required", 0.2), ("3ds-abandoned", "pm_card_threeDSecure2Required", 0.15)]


class Traffic:
    def __init__(self, skus, categories):
        self.skus, self.categories = skus, categories
        self.lock = threading.Lock()
        self.next = 0
        self.stats = Counter()
        self.retries = Counter()
        self.errors = Counter()
        self.placed = {}  # order id -> kind
        self.watches = []
        self.stop_watches = threading.Event()
        self.started = time.time()

    def take(self):
        """The next checkout's turn, waiting for its paced start; None when all are taken."""
        with self.lock:
            if self.next >= CHECKOUTS:
                return None
            i = self.next
            self.next += 1
        time.sleep(max(0.0, self.started + i * TRAFFIC_SECONDS / CHECKOUTS - time.time()))
        return i

    def shopper(self, n, deadline):
        token = gql_retry(REGISTER, {"i": {"email": f"shopper{n}-{uuid.uuid4().hex[:8]}@chaos.test",
                                           "password": "chaos-password-1", "name": f"Shopper {n}"}},
                          counter=self.retries)["register"]["accessToken"]
        # SKUs of this shopper's orders that may still be open (an abandoned 3-D Secure one
        # stays open until Order's timeout): not ordered again meanwhile (ITEMS_AWAITING_PAYMENT).
        busy = {}
        while time.time() < deadline and self.take() is not None:
            try:
                self.one(token, busy)
            except Exception as e:  # one checkout's failure is counted, never stops the run
                with self.lock:
                    self.errors[getattr(e, "code", type(e).__name__)] += 1

    def one(self, token, busy):
        kind, method = rng.choices([(k, m) for k, m, _ in METHODS], [w for *_, w in METHODS])[0]
        # Catalog and cart reads, as a shopper browses.
        gql_retry(CATALOG, {"c": rng.choice(self.categories)}, counter=self.retries)
        self.stats["catalog reads"] += 1
        items = gql_retry(CART, token=token, counter=self.retries)["cart"]["items"]
        self.stats["cart reads"] += 1
        for item in items:
            gql_retry(REMOVE, {"sku": item["sku"]}, token, counter=self.retries)
        now = time.time()
        sku = rng.choice([s for s in self.skus if busy.get(s, 0) < now])
        busy[sku] = now + 90
        gql_retry(SET_LINE, {"sku": sku}, token, counter=self.retries)
        self.stats["cart writes"] += 1 + len(items)
        key = str(uuid.uuid4())
        address = {"name": "Chaos Monkey", "line1": "1 Main Street", "city": "Berlin", "postalCode": "10115", "country": "DE"}
        try:
            order = gql_retry(CHECKOUT, {"i": {"paymentMethod": method, "idempotencyKey": key, "shippingAddress": address}},
                              token, counter=self.retries)["checkout"]
        except GqlError as e:
            with self.lock:
                self.stats["checkouts refused"] += 1
                self.errors["checkout " + e.code] += 1
            return
        with self.lock:
            self.stats["checkouts placed"] += 1
            self.stats[f"placed {kind}"] += 1
            self.placed[order["id"]] = kind
        watch = Watch(order["id"], token, self.stop_watches)
        watch.start()
        self.watches.append(watch)
        if kind.startswith("3ds"):
            url = None
            for _ in range(60):  # until Payment has the issuer's page for it
                o = gql_retry(ORDER, {"id": order["id"]}, token, counter=self.retries)["order"]
                if o["status"] in FINAL:
                    break
                if o.get("paymentActionUrl"):
                    url = o["paymentActionUrl"]
                    break
                time.sleep(0.5)
            if url and kind == "3ds-completed":
                status, body = http("POST", url, "outcome=succeed", {"content-type": "application/x-www-form-urlencoded"})
                with self.lock:
                    self.stats["3ds pages completed" if status == 303 else f"3ds page answered {status}"] += 1
            if kind == "3ds-abandoned":
                return  # the shopper walks away; Order's timeout cancels it
        # Wait (bounded) for the outcome before this shopper's next checkout.
        for _ in range(40):
            o = gql_retry(ORDER, {"id": order["id"]}, token, counter=self.retries)["order"]
            if o["status"] in FINAL:
                busy.pop(sku, None)
                return
            time.sleep(0.5)


# --- faults -----------------------------------------------------------------------------------
class Chaos(threading.Thread):
    def __init__(self, stop):
        super().__init__(daemon=True)
        self.stop = stop
        self.faults = Counter()
        self.events = []
        self.error = None

    def run(self):
        backends = ["rabbitmq", "mariadb", "redis", "secantusdb"]
        rng.shuffle(backends)
        tick = 0
        victims = []
        try:
            while not self.stop.wait(KILL_EVERY):
                tick += 1
                if not victims:  # every replica once per round, in a random order
                    victims = rng.sample(REPLICAS, len(REPLICAS))
                # A backend restart every 5th tick (all four within the first ~20 kills).
                if tick % 5 == 0 and backends:
                    self.restart_backend(backends.pop())
                    continue
                name = victims.pop()
                PROCS.kill(name, signal.SIGKILL)
                self.faults[f"kill -9 {name.split('@')[0]} replica"] += 1
                self.events.append((time.time(), "kill -9 " + name))
                time.sleep(rng.uniform(0.5, 2.0))
                start_replica(name)
        except Exception as e:
            if PROCS.closing:
                return  # the run is being stopped
            self.error = e
            traceback.print_exc()

    def restart_backend(self, name):
        log(f"chaos: restarting {name}")
        self.events.append((time.time(), "restart " + name))
        if name == "rabbitmq":
            stop_rabbitmq()
            start_rabbitmq(first=False)
        elif name == "mariadb":
            PROCS.kill("mariadb", signal.SIGTERM, 60)
            start_mariadb(first=False)
        elif name == "redis":
            PROCS.kill("redis", signal.SIGTERM)
            start_redis()
        else:
            PROCS.kill("secantusdb", signal.SIGTERM, 30)
            start_mongo()
        self.faults[f"restart {name}"] += 1
        log(f"chaos: {name} back")


# --- checks -----------------------------------------------------------------------------------
def check(initial_stock, traffic):
    rows = []  # (invariant, checked, violations, detail)
    violations = []

    def record(name, checked, bad, detail=""):
        rows.append((name, checked, len(bad), detail))
        for b in bad[:20]:
            violations.append(f"{name}: {b}")

    orders = {r[0]: {"status": r[1], "reason": r[2], "total": int(r[3])}
              for r in mysql("SELECT id, status, IFNULL(cancel_reason,''), total_minor FROM orders", "shop_order")}
    lines = defaultdict(list)
    for oid, sku, qty in mysql("SELECT order_id, sku, quantity FROM order_lines", "shop_order"):
        lines[oid].append((sku, int(qty)))
    record("every order CONFIRMED or CANCELLED", len(orders),
           [f"{o} is {v['status']}" for o, v in orders.items() if v["status"] not in FINAL])
    missing = [o for o in traffic.placed if o not in orders]
    record("every placed checkout has its order row", len(traffic.placed), [f"{o} missing" for o in missing])

    # Stock: on hand + sold = what was set; reserved = live holds = 0; available = on hand - reserved.
    db = pymongo.MongoClient(MONGO_URI, serverSelectionTimeoutMS=5000).shop_inventory
    sold = Counter()
    for oid, v in orders.items():
        if v["status"] == "CONFIRMED":
            for sku, qty in lines[oid]:
                sold[sku] += qty
    stock = {d["_id"]: d for d in db.stock.find({}, {"holds": 0, "adjustment_keys": 0})}
    bad = []
    for sku, set_to in initial_stock.items():
        d = stock.get(sku)
        if d is None:
            bad.append(f"{sku}: stock document gone")
            continue
        # on_hand counts the reserved units too (a commit takes them off both).
        if d["on_hand"] + sold[sku] != set_to or d["reserved"] != 0 \
                or d["available"] != d["on_hand"] - d["reserved"]:
            bad.append(f"{sku}: set {set_to}, on_hand {d['on_hand']} reserved {d['reserved']} "
                       f"available {d['available']} sold {sold[sku]}")
    record("stock conserved per SKU (on hand + sold = set, reserved 0, available = on hand - reserved)", len(initial_stock), bad)
    bad = []
    reservations = list(db.reservations.find({}))
    for r in reservations:
        o = orders.get(r["_id"])
        if o is None:
            if r["status"] in ("PENDING", "RESERVED"):
                bad.append(f"{r['_id']}: {r['status']} with no order")
            continue
        want = {"CONFIRMED": {"COMMITTED"}, "CANCELLED": {"RELEASED", "REJECTED", "ABANDONED"}}.get(o["status"], set())
        if r["status"] not in want or not r.get("settled", False):
            bad.append(f"{r['_id']}: order {o['status']}, reservation {r['status']} settled={r.get('settled')}")
    record("no reservation left for a finished order", len(reservations), bad)

    # Stripe ledger against the orders.
    intents = stripe_list("/_fake/payment_intents")
    refunds = stripe_list("/_fake/refunds")
    refunded = Counter(r.get("payment_intent") for r in refunds if r.get("status") in ("succeeded", "pending"))
    captured = defaultdict(list)
    for pi in intents:
        if pi.get("status") == "succeeded":
            captured[(pi.get("metadata") or {}).get("order_id")].append(pi)
    confirmed = {o for o, v in orders.items() if v["status"] == "CONFIRMED"}
    bad = [f"{o}: {len(pis)} captured intents" for o, pis in captured.items() if len(pis) > 1]
    bad += [f"pi {pi}: refunded {n} times" for pi, n in refunded.items() if n > 1]
    record("no order charged twice, no intent refunded twice", len(captured), bad)
    kept = {o for o, pis in captured.items() if any(refunded[pi["id"]] == 0 for pi in pis)}
    bad = [f"{o}: CONFIRMED without a kept charge" for o in confirmed - kept]
    bad += [f"{o}: charge kept but order {orders.get(o, {}).get('status', 'missing')}" for o in kept - confirmed]
    bad += [f"{o}: charged {pis[0]['amount']} for a total of {orders[o]['total']}" for o, pis in captured.items()
            if o in orders and pis[0]["amount"] != orders[o]["total"]]
    record("kept charges = confirmed orders (amounts equal)", len(confirmed), bad)
    refunded_orders = {o for o, pis in captured.items() if any(refunded[pi["id"]] for pi in pis)}
    bad = [f"{o}: refunded but {orders.get(o, {}).get('status', 'missing')}" for o in refunded_orders
           if orders.get(o, {}).get("status") != "CANCELLED"]
    record("refunds = orders cancelled after a capture", len(refunded_orders), bad)

    # Outboxes and dead-letter queues.
    bad = []
    for database in ("shop_order", "shop_payment"):
        n = int(mysql("SELECT COUNT(*) FROM bus_outbox WHERE published_at IS NULL", database)[0][0])
        if n:
            bad.append(f"{database}.bus_outbox holds {n} unpublished rows")
    # Published rows stay 24 h for debugging (shop_bus::outbox); empty means nothing unsent.
    record("outboxes empty: no unpublished row (order, payment)", 2, bad)
    queues = rabbit_api("queues/%2f")
    dead = [q for q in queues if q["name"].endswith(".dead")]
    parked = []
    for q in dead:
        if q.get("messages", 0):
            for m in rabbit_api(f"queues/%2f/{urllib.parse.quote(q['name'], safe='')}/get", "POST",
                                {"count": 50, "ackmode": "ack_requeue_true", "encoding": "auto"}):
                headers = (m.get("properties") or {}).get("headers") or {}
                parked.append(f"{q['name']}: {m.get('routing_key')} attempt {headers.get('x-shop-attempt')}: "
                              f"{headers.get('x-shop-last-error')}")
    record("dead-letter queues empty", len(dead), parked)

    # Subscriptions.
    watches = traffic.watches
    bad = [f"{w.order_id}: subscription saw {w.final}, order is {orders.get(w.order_id, {}).get('status')}"
           for w in watches if w.final != orders.get(w.order_id, {}).get("status")]
    record("every open subscription saw its order's final state", len(watches), bad)
    return rows, violations, orders


def table(title, rows, headers):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    fmt = "| " + " | ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths)) + " |"
    out = [f"### {title}", "", fmt.format(*headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [fmt.format(*map(str, r)) for r in rows]
    return "\n".join(out)


def main():
    started = time.time()
    log(f"chaos run in {RUN} (seed {SEED}); binaries from {BIN}")
    for b in ("shop-user", "shop-product", "shop-inventory", "shop-cart", "shop-order", "shop-payment", "shop-bff",
              "shop-stripe-fake", "shop-seed"):
        if not os.access(os.path.join(BIN, b), os.X_OK):
            raise SystemExit(f"{BIN}/{b} not found: cargo build --bins -p shop-... (just chaos builds them)")
    taken = [p for p in [MARIADB_PORT, REDIS_PORT, AMQP_PORT, AMQP_DIST, AMQP_HTTP, MONGO_PORT, STRIPE_PORT, *BFF_PORTS, *BFF_ADMIN_PORTS,
                         *sum(GRPC.values(), []), *sum(ADMIN.values(), [])] if port_open(p)]
    if taken:
        raise SystemExit(f"ports already in use: {taken} (another chaos run?)")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", os.path.join(RUN, "jwt.pem")], check=True)
    subprocess.run(["openssl", "pkey", "-in", os.path.join(RUN, "jwt.pem"), "-pubout", "-out",
                    os.path.join(RUN, "jwt.pub.pem")], check=True)
    os.makedirs(os.path.join(RUN, "web"))
    log("backends: mariadb, redis, rabbitmq, secantusdb (on disk)")
    threads = [threading.Thread(target=f) for f in (start_mariadb, start_redis, start_rabbitmq, start_mongo)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    for name in ("mariadb", "redis", "rabbitmq", "secantusdb"):
        if PROCS.procs.get(name) is None or PROCS.procs[name].poll() is not None:
            raise RuntimeError(f"{name} did not start (logs in {LOGS})")
    start_stripe()
    log("services: 2 replicas each, 2 BFFs")
    for name in REPLICAS:  # user first: it creates the admin the seed signs in as
        start_replica(name)
    log("seeding the demo catalog")
    subprocess.run([os.path.join(BIN, "shop-seed")], check=True, cwd=RUN, capture_output=True, env={
        **os.environ, "SHOP_USER_URL": urls("user"), "SHOP_PRODUCT_URL": urls("product"),
        "SHOP_INVENTORY_URL": urls("inventory"), "SHOP_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "SHOP_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD, "SHOP_IMAGES_DIR": os.path.join(RUN, "images")})
    db = pymongo.MongoClient(MONGO_URI).shop_inventory
    initial = {d["_id"]: d["on_hand"] for d in db.stock.find({}, {"on_hand": 1})}
    # A few dozen SKUs, some with little stock: sell-outs (OUT_OF_STOCK cancels) happen too.
    skus = rng.sample(sorted(s for s, n in initial.items() if n > 0), 48) + [s for s, n in initial.items() if n == 0][:2]
    categories = sorted({d["category"] for d in pymongo.MongoClient(MONGO_URI).shop_product.products.find({}, {"category": 1})
                         if d.get("category")}) or [None]
    log(f"{len(initial)} SKUs stocked ({sum(initial.values())} units); traffic on {len(skus)} of them; "
        f"start-up took {time.time() - started:.0f} s")

    traffic = Traffic(skus, categories)
    stop = threading.Event()
    chaos = Chaos(stop)
    traffic_started = traffic.started = time.time()
    deadline = traffic_started + 1.5 * TRAFFIC_SECONDS
    shoppers = [threading.Thread(target=traffic.shopper, args=(n, deadline), daemon=True) for n in range(SHOPPERS)]
    chaos.start()
    [t.start() for t in shoppers]
    while any(t.is_alive() for t in shoppers):
        time.sleep(5)
        log(f"traffic: {traffic.stats['checkouts placed']} placed, {sum(chaos.faults.values())} faults, "
            f"errors {dict(traffic.errors)}")
    traffic_seconds = time.time() - traffic_started
    # Every backend restarts once even if the traffic finished first.
    while not stop.is_set() and sum(v for k, v in chaos.faults.items() if k.startswith("restart")) < 4 \
            and chaos.is_alive():
        time.sleep(1)
    stop.set()
    chaos.join(120)
    if chaos.error:
        raise RuntimeError(f"fault injection failed: {chaos.error}")
    # Make sure every process is up (the last kill's restart may have just happened).
    for name in REPLICAS:
        proc = PROCS.procs.get(name)
        if proc is None or proc.poll() is not None:
            start_replica(name)
    log(f"traffic done in {traffic_seconds:.0f} s; waiting up to {SETTLE:.0f} s for the saga to settle")

    settle_started = time.time()
    while time.time() - settle_started < SETTLE:
        open_orders = int(mysql("SELECT COUNT(*) FROM orders WHERE status NOT IN ('CONFIRMED','CANCELLED')",
                                "shop_order")[0][0])
        outbox = sum(int(mysql("SELECT COUNT(*) FROM bus_outbox WHERE published_at IS NULL", d)[0][0]) for d in ("shop_order", "shop_payment"))
        reserved = sum(d["reserved"] for d in db.stock.find({}, {"reserved": 1}))
        watching = sum(1 for w in traffic.watches if w.final is None)
        if open_orders == 0 and outbox == 0 and reserved == 0 and watching == 0:
            break
        log(f"settling: {open_orders} open orders, {outbox} outbox rows, {reserved} units reserved, "
            f"{watching} subscriptions waiting")
        time.sleep(3)
    settle_seconds = time.time() - settle_started
    time.sleep(2)  # the last webhook/refund in flight
    traffic.stop_watches.set()

    rows, violations, orders = check(initial, traffic)
    statuses = Counter(v["status"] for v in orders.values())
    reasons = Counter(v["reason"] for v in orders.values() if v["status"] == "CANCELLED")
    fault_rows = sorted(chaos.faults.items())
    fault_rows.append(("total", sum(chaos.faults.values())))
    traffic_rows = [(k, v) for k, v in sorted(traffic.stats.items())]
    traffic_rows += [("orders CONFIRMED", statuses["CONFIRMED"]), ("orders CANCELLED", statuses["CANCELLED"])]
    traffic_rows += [(f"  cancelled {r or '(none)'}", n) for r, n in sorted(reasons.items())]
    traffic_rows += [(f"retried call: {k}", v) for k, v in sorted(traffic.retries.items())]
    traffic_rows += [(f"gave up: {k}", v) for k, v in sorted(traffic.errors.items())]
    traffic_rows.append(("subscription reconnects", sum(w.reconnects for w in traffic.watches)))
    report = "\n\n".join([
        f"Chaos run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, seed {SEED}: traffic {traffic_seconds:.0f} s, "
        f"settled in {settle_seconds:.0f} s, total {time.time() - started:.0f} s",
        table("Faults injected", fault_rows, ("fault", "count")),
        table("Traffic", traffic_rows, ("what", "count")),
        table("Invariants", [(n, c, v, "ok" if v == 0 else "VIOLATED") for n, c, v, _ in rows],
              ("invariant", "checked", "violations", "result")),
    ])
    if INTERNAL_SEEN:
        report += "\n\nINTERNAL answers seen (then retried):\n" + "\n".join("  " + m for m in INTERNAL_SEEN)
    print("\n" + report + "\n")
    with open(os.path.join(RUN, "report.md"), "w") as f:
        f.write(report + "\n")
    if traffic.stats["checkouts placed"] < 300 and CHECKOUTS >= 300:
        violations.append(f"only {traffic.stats['checkouts placed']} checkouts placed (wanted >= 300)")
    if violations:
        print("VIOLATIONS:")
        for v in violations:
            print("  " + v)
        return 1
    print("all invariants hold")
    return 0


if __name__ == "__main__":
    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    code = 2
    try:
        code = main()
    except KeyboardInterrupt:
        log("interrupted")
        code = 130
    except Exception as e:
        traceback.print_exc()
        log(f"chaos run failed: {e}")
        code = 2
    finally:
        log("stopping everything this run started")
        PROCS.stop_all()
        # A passing run's logs go, unless an INTERNAL answer wants explaining.
        if code == 0 and not os.environ.get("CHAOS_KEEP") and not INTERNAL_SEEN:
            shutil.rmtree(RUN, ignore_errors=True)
        else:
            log(f"run directory kept: {RUN} (logs in {LOGS}, report.md)")
    sys.exit(code)
