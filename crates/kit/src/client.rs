//! Outgoing gRPC: channels with deadlines, so no call can hang a request forever, trace
//! propagation, so the callee's spans join the caller's trace, and load balancing over every
//! replica of the callee (see [`crate::balance`]: all addresses of the name, failed ones out,
//! reads retried once elsewhere).
//!
//! ```ignore
//! // One URL, or several separated by commas (local replicas).
//! let channel = shop_kit::client::traced_channel(&config.product_url, Duration::from_secs(2))?;
//! let products = ProductServiceClient::new(channel);
//! ```

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::balance::Balanced;

/// The interceptor type of a client built with `with_interceptor(channel, propagate)`.
pub type Propagate = fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status>;

/// A traced client type, e.g. `Traced<ProductServiceClient<_>>` is spelled
/// `ProductServiceClient<TracedChannel>`.
pub type TracedChannel = tonic::service::interceptor::InterceptedService<Balanced, Propagate>;

#[derive(Debug, thiserror::Error)]
#[error("invalid service URL {url:?}: {reason}")]
pub struct ClientError {
    url: String,
    reason: String,
}

/// A lazily connecting channel to the one address of `url` (e.g. `http://127.0.0.1:50052`)
/// whose every call fails with DEADLINE_EXCEEDED/UNAVAILABLE after `deadline`, instead of
/// waiting. Lazy, so a service starts even when a dependency is still down, and reconnects when
/// it is back. Services call each other through [`traced_channel`], which balances; this is
/// for tools aimed at one process.
pub fn channel(url: &str, deadline: Duration) -> Result<Channel, ClientError> {
    let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|source| ClientError {
        url: url.to_owned(),
        reason: source.to_string(),
    })?;
    Ok(configure(endpoint, deadline).connect_lazy())
}

/// The settings every outgoing connection has, balanced or not.
pub(crate) fn configure(endpoint: Endpoint, deadline: Duration) -> Endpoint {
    endpoint
        .connect_timeout(deadline.min(Duration::from_secs(2)))
        .timeout(deadline)
        .tcp_nodelay(true)
}

/// The client transport of every service-to-service call: balanced over all addresses of
/// `urls` (one URL, or a comma-separated list), with `deadline` per call and trace propagation.
/// Must be called inside a Tokio runtime; connects lazily.
pub fn traced_channel(urls: &str, deadline: Duration) -> Result<TracedChannel, ClientError> {
    let balanced = Balanced::new(urls, deadline).map_err(|reason| ClientError {
        url: urls.to_owned(),
        reason,
    })?;
    Ok(tonic::service::interceptor::InterceptedService::new(
        balanced,
        crate::telemetry::propagate as Propagate,
    ))
}
