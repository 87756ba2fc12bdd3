//! Outgoing gRPC: channels with deadlines, so no call can hang a request forever, and trace
//! propagation, so the callee's spans join the caller's trace.
//!
//! ```ignore
//! let channel = shop_kit::client::channel(&config.product_url, Duration::from_secs(2))?;
//! let products = ProductServiceClient::with_interceptor(channel, shop_kit::telemetry::propagate as Propagate);
//! ```

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

/// The interceptor type of a client built with `with_interceptor(channel, propagate)`.
pub type Propagate = fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status>;

/// A traced client type, e.g. `Traced<ProductServiceClient<_>>` is spelled
/// `ProductServiceClient<TracedChannel>`.
pub type TracedChannel = tonic::service::interceptor::InterceptedService<Channel, Propagate>;

#[derive(Debug, thiserror::Error)]
#[error("invalid service URL {url:?}: {source}")]
pub struct ClientError {
    url: String,
    #[source]
    source: tonic::transport::Error,
}

/// A lazily connecting channel to `url` (e.g. `http://127.0.0.1:50052`) whose every call
/// fails with DEADLINE_EXCEEDED/UNAVAILABLE after `deadline`, instead of waiting. Lazy, so a
/// service starts even when a dependency is still down, and reconnects when it is back.
pub fn channel(url: &str, deadline: Duration) -> Result<Channel, ClientError> {
    let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|source| ClientError {
        url: url.to_owned(),
        source,
    })?;
    Ok(endpoint
        .connect_timeout(deadline.min(Duration::from_secs(2)))
        .timeout(deadline)
        .tcp_nodelay(true)
        .connect_lazy())
}

/// `channel` wrapped with trace propagation.
pub fn traced_channel(url: &str, deadline: Duration) -> Result<TracedChannel, ClientError> {
    Ok(tonic::service::interceptor::InterceptedService::new(
        channel(url, deadline)?,
        crate::telemetry::propagate as Propagate,
    ))
}
