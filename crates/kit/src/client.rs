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

/// A lazily connecting channel to `url` (e.g. `http://127.0.0.1:50052`) whose every call
/// fails with DEADLINE_EXCEEDED/UNAVAILABLE after `deadline`, instead of waiting. Lazy, so a
/// service starts even when a dependency is still down, and reconnects when it is back.
/// Services call each other through [`traced_channel`], which balances and copes with failed
/// replicas; this plain channel is for the tools (seed, load). Given a comma-separated list
/// (the `SHOP_*_URL` of `SHOP_REPLICAS=2 just up`), it spreads calls over them with tonic's
/// own balancer, so a tool pointed at replicas works, without taking a dead one out.
pub fn channel(url: &str, deadline: Duration) -> Result<Channel, ClientError> {
    let endpoint = |url: &str| {
        Endpoint::from_shared(url.to_owned())
            .map(|endpoint| configure(endpoint, deadline))
            .map_err(|source| ClientError {
                url: url.to_owned(),
                reason: source.to_string(),
            })
    };
    match crate::config::list(url).as_slice() {
        [] => Err(ClientError {
            url: url.to_owned(),
            reason: "no URL given".to_owned(),
        }),
        [one] => Ok(endpoint(one)?.connect_lazy()),
        many => {
            let endpoints = many
                .iter()
                .map(|url| endpoint(url))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Channel::balance_list(endpoints.into_iter()))
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_plain_channel_takes_one_url_or_a_list() {
        let deadline = Duration::from_secs(1);
        assert!(channel("http://127.0.0.1:50052", deadline).is_ok());
        assert!(channel("http://127.0.0.1:50052,http://127.0.0.1:51052", deadline).is_ok());
        assert!(channel("", deadline).is_err());
        assert!(channel("http://127.0.0.1:50052,not a url", deadline).is_err());
    }
}
