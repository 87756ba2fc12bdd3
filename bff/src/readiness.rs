//! When the BFF may take traffic: `/readyz` on the admin port answers 503 until every
//! upstream gRPC service accepts a connection and the order feed consumes (so a subscription
//! opened on this replica hears its order's events), then 200 until shutdown starts.
//!
//! A start-up gate, not a continuous dependency check: once up, an upstream outage shows as
//! UNAVAILABLE errors on the requests that need it (the storefront still browses while, say,
//! Order restarts), instead of every BFF replica leaving the load balancer at once.

use std::time::Duration;

use shop_kit::admin::Readiness;

use crate::feed::Feed;

/// How long one connection attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause after the first round; it doubles up to [`RETRY_AT_MOST`]. Short, because at start
/// the usual wait is for this process's own order feed, a few milliseconds behind the gate.
const FIRST_RETRY: Duration = Duration::from_millis(10);
/// Pause between rounds while something is still down.
const RETRY_AT_MOST: Duration = Duration::from_millis(500);

/// Waits until every `(name, url)` upstream accepts an HTTP/2 connection (a tonic server
/// completes the handshake only once it serves) and `feed` has a consumer on its queue, then
/// marks `readiness` ready. Logs what it still waits for every few seconds, so a pod stuck
/// unready says why.
pub async fn gate(upstreams: Vec<(&'static str, String)>, feed: Feed, readiness: Readiness) {
    let mut pending = upstreams;
    let mut round = 0u32;
    let mut pause = FIRST_RETRY;
    loop {
        let mut still = Vec::new();
        for (name, url) in pending {
            if !connects(&url).await {
                still.push((name, url));
            }
        }
        pending = still;
        let feed_up = feed.is_consuming();
        if pending.is_empty() && feed_up {
            readiness.set(true);
            tracing::info!("upstreams and order feed up: ready");
            return;
        }
        if round.is_multiple_of(10) {
            let waiting: Vec<&str> = pending.iter().map(|(name, _)| *name).collect();
            tracing::info!(?waiting, feed_up, "not ready yet");
        }
        round = round.wrapping_add(1);
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RETRY_AT_MOST);
    }
}

async fn connects(url: &str) -> bool {
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(url.to_owned()) else {
        return false;
    };
    let endpoint = endpoint.connect_timeout(ATTEMPT_TIMEOUT);
    matches!(
        tokio::time::timeout(ATTEMPT_TIMEOUT, endpoint.connect()).await,
        Ok(Ok(_))
    )
}
