//! Gateway duties that are not GraphQL: who the client is (its address behind trusted
//! proxies), per-client rate limits (an in-process token bucket; each replica limits on its
//! own, which bounds abuse per replica without shared state), CORS from configuration, and
//! the BFF's own Prometheus metrics.

use std::collections::HashMap;
use std::hash::{BuildHasher as _, RandomState};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The client's address. With `trusted_hops` = 0 the TCP peer is the client. Behind N
/// trusted proxies, each appends the address it received from to `X-Forwarded-For`, so the
/// client is the N-th entry counted from the right: everything left of it was written by
/// the client and is ignored (a client could otherwise choose its own rate-limit key). A
/// list too short to hold that entry, or an unparseable entry, falls back to the peer:
/// never attacker-chosen, at worst limited together with others behind the same proxy.
pub fn client_ip(trusted_hops: usize, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    if trusted_hops == 0 {
        return peer.ip();
    }
    // Several headers are one list, in order (RFC 9110 §5.3).
    let mut hops: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else {
            return peer.ip();
        };
        hops.extend(value.split(',').map(str::trim));
    }
    hops.len()
        .checked_sub(trusted_hops)
        .and_then(|index| parse_hop(hops[index]))
        .unwrap_or_else(|| peer.ip())
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:5`,
/// `[2001:db8::1]:5`); IPv4-mapped IPv6 reads as the IPv4 address.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })?;
    Some(ip.to_canonical())
}

/// The rate-limit key of an address: IPv4 by address, IPv6 by its /64 (one subscriber
/// usually holds a whole /64, so keying single IPv6 addresses would give each attacker
/// 2^64 fresh keys).
/// The general rate limit's key for a client without a token.
pub fn ip_key(ip: IpAddr) -> String {
    format!("ip:{}", address_key(ip))
}

pub fn address_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & (u128::MAX << 64);
            format!("{}/64", Ipv6Addr::from(prefix))
        }
    }
}

/// A token bucket per key (`burst` requests at once, refilled at `per_minute`) with a hard
/// bound on the keys it tracks. Keys are spread over independently locked shards, so a
/// check locks one small map; when a shard is full, keys it does not know share one
/// overflow bucket: a flood of fresh addresses is limited together instead of growing
/// memory or forcing an O(n) sweep on the request path. Idle buckets are dropped by
/// [`RateLimiter::retain_recent`], run periodically ([`RateLimiter::spawn_retain`]).
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    hasher: RandomState,
    shards: Box<[Mutex<HashMap<String, Bucket>>]>,
    keys_per_shard: usize,
    overflow: Mutex<Bucket>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    /// Refills for the time since the last use and takes a token if there is one.
    fn take(&mut self, now: Instant, per_second: f64, burst: f64) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(burst);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

const SHARDS: usize = 32;

impl RateLimiter {
    /// `max_keys` bounds the buckets held (roughly 100 bytes each).
    pub fn new(per_minute: u32, burst: u32, max_keys: usize) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            per_second: f64::from(per_minute.max(1)) / 60.0,
            burst,
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            keys_per_shard: max_keys.div_ceil(SHARDS).max(1),
            overflow: Mutex::new(Bucket {
                tokens: burst,
                updated: Instant::now(),
            }),
        }
    }

    /// Takes one token for `key`; false when its bucket (or, for a key that finds its shard
    /// full, the shared overflow bucket) is empty.
    pub fn check(&self, key: &str) -> bool {
        let now = Instant::now();
        // The hasher is seeded per process, so clients cannot aim their keys at one shard.
        let shard = (self.hasher.hash_one(key) as usize) % self.shards.len();
        let Ok(mut buckets) = self.shards[shard].lock() else {
            // A poisoned lock means a panic elsewhere; failing open keeps the shop up.
            return true;
        };
        if let Some(bucket) = buckets.get_mut(key) {
            return bucket.take(now, self.per_second, self.burst);
        }
        if buckets.len() < self.keys_per_shard {
            let mut bucket = Bucket {
                tokens: self.burst,
                updated: now,
            };
            let allowed = bucket.take(now, self.per_second, self.burst);
            buckets.insert(key.to_owned(), bucket);
            return allowed;
        }
        drop(buckets);
        match self.overflow.lock() {
            Ok(mut bucket) => bucket.take(now, self.per_second, self.burst),
            Err(_) => true,
        }
    }

    /// Drops buckets that have refilled completely (forgetting them changes nothing),
    /// one shard at a time so checks on other shards go on meanwhile.
    pub fn retain_recent(&self) {
        let now = Instant::now();
        let full_after = self.burst / self.per_second;
        for shard in self.shards.iter() {
            if let Ok(mut buckets) = shard.lock() {
                buckets.retain(|_, bucket| {
                    now.saturating_duration_since(bucket.updated).as_secs_f64() < full_after
                });
            }
        }
    }

    /// Keys currently tracked (for tests and metrics).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().map(|buckets| buckets.len()).unwrap_or(0))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs [`Self::retain_recent`] every `every` until the limiter is dropped.
    pub fn spawn_retain(self: &Arc<Self>, every: Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(limiter) = weak.upgrade() else {
                    return;
                };
                limiter.retain_recent();
            }
        });
    }

    /// Seconds until `key` has a token again (for `Retry-After`).
    pub fn retry_after_secs(&self) -> u64 {
        (1.0 / self.per_second).ceil().max(1.0) as u64
    }
}

/// CORS for the configured origins. Credentials (the guest cart cookie) are allowed for a
/// list of origins; `*` allows any origin without credentials; an empty list adds no CORS
/// headers at all (same-origin only).
pub fn cors(origins: &str) -> Option<CorsLayer> {
    let origins = shop_kit::config::list(origins);
    if origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            http::header::CONTENT_TYPE,
            http::header::AUTHORIZATION,
            HeaderName::from_static(crate::viewer::CART_HEADER),
        ])
        .expose_headers([HeaderName::from_static(crate::viewer::CART_HEADER)]);
    if origins.contains(&"*") {
        return Some(layer.allow_origin(AllowOrigin::any()));
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    Some(
        layer
            .allow_origin(AllowOrigin::list(list))
            .allow_credentials(true),
    )
}

/// The BFF's own metrics, served at `/metrics`.
pub struct BffMetrics {
    registry: Registry,
    /// GraphQL operations by outcome (`ok`, `error`); operation names are client-chosen,
    /// so they are not labels (unbounded cardinality).
    pub operations: IntCounterVec,
    pub latency: Histogram,
    /// Errors returned to clients, by `extensions.code`.
    pub errors: IntCounterVec,
    /// Requests refused by a rate limit, by limit (`request`, `auth`).
    pub rate_limited: IntCounterVec,
    /// Live `orderUpdated` subscriptions.
    pub subscriptions: IntGauge,
}

impl BffMetrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = shop_kit::metrics::app_registry("bff")?;
        let operations = IntCounterVec::new(
            Opts::new("graphql_operations_total", "GraphQL operations handled"),
            &["outcome"],
        )?;
        let latency = Histogram::with_opts(HistogramOpts::new(
            "graphql_operation_seconds",
            "GraphQL operation latency",
        ))?;
        let errors = IntCounterVec::new(
            Opts::new("graphql_errors_total", "GraphQL errors returned, by code"),
            &["code"],
        )?;
        let rate_limited = IntCounterVec::new(
            Opts::new("rate_limited_total", "Requests refused by a rate limit"),
            &["limit"],
        )?;
        let subscriptions = IntGauge::new("graphql_subscriptions", "Live subscriptions")?;
        registry.register(Box::new(operations.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(subscriptions.clone()))?;
        Ok(Self {
            registry,
            operations,
            latency,
            errors,
            rate_limited,
            subscriptions,
        })
    }

    /// What `/metrics` on the admin port serves.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_allow_a_burst_then_refuse() {
        let limiter = RateLimiter::new(60, 3, 1000);
        assert!(limiter.check("a"));
        assert!(limiter.check("a"));
        assert!(limiter.check("a"));
        assert!(!limiter.check("a"));
        assert!(limiter.check("b"), "keys are independent");
    }

    /// A flood of fresh keys neither grows the limiter past its bound nor escapes the limit:
    /// keys beyond the bound share the overflow bucket.
    #[test]
    fn a_flood_of_fresh_keys_is_bounded_and_limited_together() {
        let limiter = RateLimiter::new(60, 5, 1_000);
        let allowed = (0..100_000)
            .filter(|n| limiter.check(&format!("ip:10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255)))
            .count();
        let tracked = limiter.len();
        assert!(tracked <= 1_000 + SHARDS, "tracked {tracked} keys");
        // Each tracked key had its burst; the other ~99,000 shared one bucket of 5 (plus
        // whatever refilled during the test, a token a second).
        assert!(allowed <= tracked + 5 + 10, "{allowed} of 100000 allowed");
        // Known keys keep their own buckets while the flood goes on.
        let limiter = RateLimiter::new(60, 2, 64);
        assert!(limiter.check("known"));
        for n in 0..10_000 {
            limiter.check(&format!("flood-{n}"));
        }
        assert!(
            limiter.check("known"),
            "a tracked key is not starved by the flood"
        );
    }

    #[test]
    fn idle_buckets_are_forgotten() {
        // 60,000 a minute with a burst of 1: full again after a millisecond.
        let limiter = RateLimiter::new(60_000, 1, 1_000);
        for n in 0..100 {
            limiter.check(&format!("k{n}"));
        }
        assert_eq!(limiter.len(), 100);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !limiter.is_empty() && Instant::now() < deadline {
            std::thread::yield_now();
            limiter.retain_recent();
        }
        assert!(limiter.is_empty());
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_hop() {
        let peer: SocketAddr = "10.0.0.9:4000".parse().unwrap();
        let ip = |hops, values: &[&str]| client_ip(hops, &forwarded(values), peer).to_string();
        // No trusted proxy: the header is the client's own writing.
        assert_eq!(ip(0, &["203.0.113.7"]), "10.0.0.9");
        // One proxy: the entry it appended, whatever the client put left of it.
        assert_eq!(ip(1, &["1.1.1.1, 2.2.2.2, 203.0.113.7"]), "203.0.113.7");
        assert_eq!(ip(1, &["1.1.1.1", "203.0.113.7"]), "203.0.113.7");
        assert_eq!(ip(2, &["1.1.1.1, 203.0.113.7, 10.0.0.2"]), "203.0.113.7");
        // Ports and brackets are tolerated; IPv4-mapped IPv6 is IPv4.
        assert_eq!(ip(1, &["203.0.113.7:5555"]), "203.0.113.7");
        assert_eq!(ip(1, &["[2001:db8::1]:443"]), "2001:db8::1");
        assert_eq!(ip(1, &["2001:db8::1"]), "2001:db8::1");
        assert_eq!(ip(1, &["::ffff:203.0.113.7"]), "203.0.113.7");
        // Too short, missing, empty or malformed: the peer, never a client-chosen value.
        assert_eq!(ip(2, &["1.1.1.1"]), "10.0.0.9");
        assert_eq!(ip(1, &[]), "10.0.0.9");
        assert_eq!(ip(1, &[""]), "10.0.0.9");
        assert_eq!(ip(1, &["1.1.1.1, not-an-ip"]), "10.0.0.9");
        assert_eq!(ip(1, &["1.1.1.1,"]), "10.0.0.9");
        let mut opaque = HeaderMap::new();
        opaque.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"1.1.1.1, \xff").unwrap(),
        );
        assert_eq!(client_ip(1, &opaque, peer).to_string(), "10.0.0.9");
    }

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), "2001:db8:1:2::/64");
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
        assert_eq!(address_key("203.0.113.7".parse().unwrap()), "203.0.113.7");
        assert_eq!(
            address_key("::ffff:203.0.113.7".parse().unwrap()),
            "203.0.113.7"
        );
    }

    #[test]
    fn cors_needs_origins() {
        assert!(cors("").is_none());
        assert!(cors(" , ").is_none());
        assert!(cors("http://localhost:5173, https://shop.example").is_some());
        assert!(cors("*").is_some());
    }
}
