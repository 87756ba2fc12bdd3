//! Client-side load balancing: every outgoing gRPC call (the "calls" column of
//! docs/architecture.md §2) spreads over all the addresses of its target, so extra replicas
//! take their share of the load.
//!
//! A target is one URL or a comma-separated list (`http://127.0.0.1:50052,http://127.0.0.1:51052`
//! for local replicas). Each URL's host is resolved to **all** its addresses, and again every
//! [`RESOLVE_EVERY`]: a Kubernetes headless Service (`clusterIP: None`) name resolves to the IP of
//! every ready pod, so pods that come and go are followed. Each address has its own lazily
//! connecting tonic [`Channel`] (one HTTP/2 connection), and calls take the addresses that are up
//! in turn (round robin).
//!
//! An address whose call fails at the transport level (refused, reset: the pod is gone) is taken
//! out at once, and put back when a TCP connect to it succeeds again (tried every
//! [`PROBE_EVERY`]); a newly resolved address is tried the same way before it gets calls. When
//! every address is out, calls still go to them in turn, so the caller gets a real UNAVAILABLE and
//! the first one back serves at once.
//!
//! Retries: a read (an RPC named `Get…`, `BatchGet…` or `List…`: the standard methods of
//! AIP-131/231/132, which change nothing) that fails with UNAVAILABLE is sent once more, to
//! another address, within what is left of the call's deadline. A mutation never is: a
//! `PlaceOrder` whose connection broke after the server took it must not run twice; its caller
//! decides (the saga's idempotency keys exist for that).
//!
//! Why not tonic's `Channel::balance_channel` (power-of-two-choices over a discovery stream):
//! its endpoints connect lazily, and a lazy tonic connection reports itself ready even when the
//! connect failed (the error is handed to the next call instead), so the balancer never takes a
//! dead pod out; having nothing in flight, the dead pod even looks the least loaded. Nor does it
//! say which endpoint a call went to, so a retry could land on the same dead pod. Keeping the
//! address list here gives both, at the price of round robin instead of least-loaded picking,
//! which is fine for calls as short and uniform as ours.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use http_body_util::{BodyExt as _, Full};
use tonic::body::Body;
use tonic::transport::{Channel, Endpoint, Uri};
use tower::ServiceExt as _;

/// How often the target names are resolved again (pods come and go).
pub const RESOLVE_EVERY: Duration = Duration::from_secs(5);
/// How often an address that is out is tried again.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A gRPC transport over every address of a target; cheap to clone (the clones share the
/// addresses and their connections). Build it with [`crate::client::traced_channel`].
#[derive(Clone)]
pub struct Balanced {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Balanced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balanced")
            .field("target", &self.shared.spec)
            .field("addresses", &self.addresses())
            .finish()
    }
}

impl Balanced {
    /// `urls`: one URL or several separated by commas. Needs a Tokio runtime (it starts the task
    /// that re-resolves and probes, which ends when the last clone is dropped). Connects lazily:
    /// nothing is resolved or dialled here, unless the hosts are IP addresses.
    pub(crate) fn new(urls: &str, deadline: Duration) -> Result<Self, String> {
        let targets = parse_targets(urls)?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "a gRPC client must be built inside a Tokio runtime".to_owned())?;
        // IP literals need no DNS: known at once, as a single channel was before.
        let mut members = Vec::new();
        let mut seen = HashSet::new();
        for (index, target) in targets.iter().enumerate() {
            if let Ok(ip) = target.host.parse::<std::net::IpAddr>() {
                let addr = SocketAddr::new(ip, target.port);
                if seen.insert(addr) {
                    members.push(Arc::new(Member::new(addr, index, target, deadline, true)?));
                }
            }
        }
        let shared = Arc::new(Shared {
            spec: urls.to_owned(),
            targets,
            deadline,
            members: RwLock::new(Arc::new(members)),
            cursor: AtomicUsize::new(0),
            resolving: tokio::sync::Mutex::new(()),
        });
        runtime.spawn(maintain(Arc::downgrade(&shared)));
        Ok(Self { shared })
    }

    /// The addresses known now, each with whether it takes calls.
    pub fn addresses(&self) -> Vec<(SocketAddr, bool)> {
        self.shared
            .snapshot()
            .iter()
            .map(|member| (member.addr, member.up.load(Ordering::Relaxed)))
            .collect()
    }
}

impl tower::Service<http::Request<Body>> for Balanced {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    /// Always ready: each address's own channel is waited on inside the call, once it is chosen.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        Box::pin(Arc::clone(&self.shared).route(request))
    }
}

/// One URL of the target list.
#[derive(Debug)]
struct Target {
    scheme: String,
    host: String,
    port: u16,
    /// `scheme://host:port` as configured: the `:authority` the server sees, as before.
    origin: Uri,
}

fn parse_targets(urls: &str) -> Result<Vec<Target>, String> {
    let mut targets = Vec::new();
    for url in crate::config::list(urls) {
        let uri: Uri = url.parse().map_err(|error| format!("{url:?}: {error}"))?;
        let scheme = uri
            .scheme_str()
            .ok_or_else(|| format!("{url:?} has no scheme (http://)"))?
            .to_owned();
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{url:?} has no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = authority
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        let origin = format!("{scheme}://{authority}")
            .parse()
            .map_err(|error| format!("{url:?}: {error}"))?;
        targets.push(Target {
            scheme,
            host,
            port,
            origin,
        });
    }
    if targets.is_empty() {
        return Err("no URL given".to_owned());
    }
    Ok(targets)
}

/// Whether `path` (`/shop.product.v1.ProductService/GetProduct`) names a read, which may be
/// sent twice. The rule is the API's naming convention (AIP standard methods); an RPC named
/// like a read must be one.
pub fn is_read(path: &str) -> bool {
    let method = path.rsplit('/').next().unwrap_or_default();
    ["Get", "BatchGet", "List"]
        .iter()
        .any(|prefix| method.starts_with(prefix))
}

struct Member {
    addr: SocketAddr,
    /// Index into `Shared::targets`: whose name resolved to it.
    target: usize,
    channel: Channel,
    up: AtomicBool,
}

impl Member {
    fn new(
        addr: SocketAddr,
        target: usize,
        spec: &Target,
        deadline: Duration,
        up: bool,
    ) -> Result<Self, String> {
        let endpoint = Endpoint::from_shared(format!("{}://{addr}", spec.scheme))
            .map_err(|error| format!("{addr}: {error}"))?
            .origin(spec.origin.clone());
        Ok(Self {
            addr,
            target,
            channel: crate::client::configure(endpoint, deadline).connect_lazy(),
            up: AtomicBool::new(up),
        })
    }

    /// Sends one request over this address's connection; a transport failure takes the
    /// address out of turn.
    async fn send(&self, request: http::Request<Body>) -> Result<http::Response<Body>, BoxError> {
        let outcome = self.channel.clone().oneshot(request).await;
        if let Err(error) = &outcome
            && !is_timeout(error)
            && self.up.swap(false, Ordering::Relaxed)
        {
            tracing::warn!(
                addr = %self.addr,
                error = %Chain(error),
                "gRPC endpoint failed; out of rotation until it answers again"
            );
        }
        outcome.map_err(Into::into)
    }
}

struct Shared {
    /// The target as configured, for messages.
    spec: String,
    targets: Vec<Target>,
    deadline: Duration,
    /// Replaced whole on each resolution, so a call reads one consistent list.
    members: RwLock<Arc<Vec<Arc<Member>>>>,
    cursor: AtomicUsize,
    /// One resolution at a time (the maintainer's and a first call's).
    resolving: tokio::sync::Mutex<()>,
}

impl Shared {
    fn snapshot(&self) -> Arc<Vec<Arc<Member>>> {
        match self.members.read() {
            Ok(members) => Arc::clone(&members),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The next address in turn that is up and is not `except`; when none is up, the next
    /// one that is not `except` (a real attempt tells the caller more than a made-up error).
    fn pick(&self, except: Option<SocketAddr>) -> Option<Arc<Member>> {
        let members = self.snapshot();
        let count = members.len();
        if count == 0 {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        let in_turn = (0..count).map(|offset| &members[start.wrapping_add(offset) % count]);
        let allowed = |member: &&Arc<Member>| Some(member.addr) != except;
        in_turn
            .clone()
            .filter(allowed)
            .find(|member| member.up.load(Ordering::Relaxed))
            .or_else(|| in_turn.clone().find(allowed))
            .cloned()
    }

    async fn route(
        self: Arc<Self>,
        request: http::Request<Body>,
    ) -> Result<http::Response<Body>, BoxError> {
        let started = Instant::now();
        let first = match self.pick(None) {
            Some(member) => member,
            None => {
                self.resolve().await;
                self.pick(None).ok_or_else(|| {
                    Box::new(tonic::Status::unavailable(format!(
                        "no address found for {}",
                        self.spec
                    ))) as BoxError
                })?
            }
        };
        if !is_read(request.uri().path()) {
            return first.send(request).await;
        }
        // A read is sent at most twice, so its (small, unary) body is kept for the second time.
        let (parts, body) = request.into_parts();
        let body = body.collect().await?.to_bytes();
        let copy = || http::Request::from_parts(parts.clone(), Body::new(Full::new(body.clone())));
        let outcome = first.send(copy()).await;
        if !unavailable(&outcome) {
            return outcome;
        }
        let (Some(second), Some(left)) = (
            self.pick(Some(first.addr)),
            self.deadline.checked_sub(started.elapsed()),
        ) else {
            return outcome;
        };
        tracing::debug!(
            path = parts.uri.path(),
            from = %first.addr,
            to = %second.addr,
            "retrying a read on another endpoint"
        );
        match tokio::time::timeout(left, second.send(copy())).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Box::new(tonic::TimeoutExpired(()))),
        }
    }

    /// Resolves every target again: new addresses are probed and join, vanished ones leave.
    /// A name that does not resolve now keeps its addresses (a DNS hiccup must not empty the
    /// list).
    async fn resolve(&self) {
        let _one_at_a_time = self.resolving.lock().await;
        let current = self.snapshot();
        let mut next: Vec<Arc<Member>> = Vec::new();
        let mut seen = HashSet::new();
        for (index, target) in self.targets.iter().enumerate() {
            match tokio::net::lookup_host((target.host.as_str(), target.port)).await {
                Ok(addrs) => {
                    for addr in addrs.filter(|addr| seen.insert(*addr)) {
                        if let Some(known) = current.iter().find(|member| member.addr == addr) {
                            next.push(Arc::clone(known));
                            continue;
                        }
                        let up = probe(addr).await;
                        match Member::new(addr, index, target, self.deadline, up) {
                            Ok(member) => next.push(Arc::new(member)),
                            Err(error) => tracing::warn!(%error, "unusable gRPC address"),
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(
                        host = %target.host,
                        %error,
                        "cannot resolve a gRPC target; keeping its addresses"
                    );
                    next.extend(
                        current
                            .iter()
                            .filter(|member| member.target == index && seen.insert(member.addr))
                            .cloned(),
                    );
                }
            }
        }
        let before: HashSet<SocketAddr> = current.iter().map(|member| member.addr).collect();
        let after: HashSet<SocketAddr> = next.iter().map(|member| member.addr).collect();
        if before != after {
            tracing::info!(target = %self.spec, addresses = ?after, "gRPC target resolved");
            let mut members = match self.members.write() {
                Ok(members) => members,
                Err(poisoned) => poisoned.into_inner(),
            };
            *members = Arc::new(next);
        }
    }
}

/// Whether an attempt failed as an unreachable endpoint does: at the transport (refused,
/// reset; not our own deadline, which is spent), or answered UNAVAILABLE at once (a server
/// shutting down).
fn unavailable(outcome: &Result<http::Response<Body>, BoxError>) -> bool {
    match outcome {
        Err(error) => !is_timeout(error.as_ref()),
        Ok(response) => {
            response.headers().get("grpc-status").map(|v| v.as_bytes()) == Some(b"14".as_slice())
        }
    }
}

fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(error) = source {
        if error.is::<tonic::TimeoutExpired>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// An error with its causes (`transport error: tcp connect error: Connection refused`): tonic's
/// own message alone says only "transport error".
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

/// Whether `addr` accepts a TCP connection: a server that listens again serves again.
async fn probe(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

/// Re-resolves every [`RESOLVE_EVERY`] and probes the addresses that are out every
/// [`PROBE_EVERY`], until the last [`Balanced`] is dropped.
async fn maintain(shared: Weak<Shared>) {
    let mut resolved_at: Option<Instant> = None;
    loop {
        {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            if resolved_at.is_none_or(|at| at.elapsed() >= RESOLVE_EVERY) {
                shared.resolve().await;
                resolved_at = Some(Instant::now());
            }
            for member in shared.snapshot().iter() {
                if !member.up.load(Ordering::Relaxed) && probe(member.addr).await {
                    member.up.store(true, Ordering::Relaxed);
                    tracing::info!(
                        addr = %member.addr,
                        "gRPC endpoint answers again; back in rotation"
                    );
                }
            }
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_the_get_batch_get_and_list_methods() {
        for read in [
            "/shop.product.v1.ProductService/GetProduct",
            "/shop.product.v1.ProductService/BatchGetProducts",
            "/shop.product.v1.ProductService/ListProducts",
            "/shop.inventory.v1.InventoryService/GetStock",
            "/shop.cart.v1.CartService/GetCart",
        ] {
            assert!(is_read(read), "{read}");
        }
        for write in [
            "/shop.order.v1.OrderService/PlaceOrder",
            "/shop.cart.v1.CartService/AddItem",
            "/shop.inventory.v1.InventoryService/Reserve",
            "/shop.cart.v1.CartService/MergeCarts",
            "/shop.user.v1.UserService/Login",
        ] {
            assert!(!is_read(write), "{write}");
        }
    }

    #[test]
    fn a_target_is_one_url_or_a_comma_list() {
        let one = parse_targets("http://product:50052").unwrap();
        assert_eq!((one[0].host.as_str(), one[0].port), ("product", 50052));
        let two = parse_targets("http://127.0.0.1:50052, http://127.0.0.1:51052").unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(two[1].port, 51052);
        assert_eq!(two[1].origin, "http://127.0.0.1:51052");
        let v6 = parse_targets("http://[::1]:50052").unwrap();
        assert_eq!(v6[0].host, "::1");
        assert!(parse_targets("").is_err());
        assert!(parse_targets("product:50052").is_err());
    }

    #[tokio::test]
    async fn a_name_resolves_to_its_addresses_and_ip_literals_need_no_dns() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();

        let literal =
            Balanced::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(1)).unwrap();
        assert_eq!(
            literal.addresses(),
            vec![(SocketAddr::from(([127, 0, 0, 1], port)), true)]
        );

        // `localhost` may also name ::1, where nothing listens: that address is kept but out.
        let named =
            Balanced::new(&format!("http://localhost:{port}"), Duration::from_secs(1)).unwrap();
        named.shared.resolve().await;
        let addresses = named.addresses();
        assert!(
            addresses.contains(&(SocketAddr::from(([127, 0, 0, 1], port)), true)),
            "{addresses:?}"
        );
        assert!(
            addresses.iter().all(|(addr, up)| *up == addr.is_ipv4()),
            "{addresses:?}"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_out_until_something_listens_there_again() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let balanced = Balanced::new(
            &format!("http://localhost:{}", addr.port()),
            Duration::from_secs(1),
        )
        .unwrap();
        balanced.shared.resolve().await;
        assert!(balanced.addresses().contains(&(addr, false)));

        let _listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let deadline = Instant::now() + PROBE_EVERY * 10;
        while !balanced.addresses().contains(&(addr, true)) {
            assert!(Instant::now() < deadline, "{:?}", balanced.addresses());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
