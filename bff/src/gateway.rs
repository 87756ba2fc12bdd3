//! Gateway duties that are not GraphQL: per-client rate limits (an in-process token bucket;
//! each replica limits on its own, which bounds abuse per replica without shared state),
//! CORS from configuration, and the BFF's own Prometheus metrics.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use http::{HeaderName, HeaderValue, Method};
use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// A token bucket per key: `burst` requests at once, refilled at `per_minute`.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets kept before idle ones are swept, so a flood of addresses cannot grow the map
/// without bound.
const SWEEP_AT: usize = 10_000;

impl RateLimiter {
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            per_second: f64::from(per_minute.max(1)) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`; false when the bucket is empty.
    pub fn check(&self, key: &str) -> bool {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            // A poisoned lock means a panic elsewhere; failing open keeps the shop up.
            return true;
        };
        if buckets.len() >= SWEEP_AT {
            let full_after = self.burst / self.per_second;
            buckets
                .retain(|_, bucket| now.duration_since(bucket.updated).as_secs_f64() < full_after);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
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
    let origins: Vec<&str> = origins
        .split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .collect();
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
        let labels = std::iter::once(("app".to_owned(), "bff".to_owned())).collect();
        let registry = Registry::new_custom(Some("shop".to_owned()), Some(labels))?;
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

    pub fn render(&self) -> String {
        use prometheus::Encoder as _;
        let mut buffer = Vec::new();
        if let Err(error) =
            prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut buffer)
        {
            tracing::warn!(%error, "cannot encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_allow_a_burst_then_refuse() {
        let limiter = RateLimiter::new(60, 3);
        assert!(limiter.check("a"));
        assert!(limiter.check("a"));
        assert!(limiter.check("a"));
        assert!(!limiter.check("a"));
        assert!(limiter.check("b"), "keys are independent");
    }

    #[test]
    fn cors_needs_origins() {
        assert!(cors("").is_none());
        assert!(cors(" , ").is_none());
        assert!(cors("http://localhost:5173, https://shop.example").is_some());
        assert!(cors("*").is_some());
    }
}
