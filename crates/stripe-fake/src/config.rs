//! What the fake listens on and where it sends webhooks.
//!
//! One flat struct, as every shopmesh binary has, so `shop-stripe-fake` loads it with
//! `shop_kit::config::load` from `SHOP_STRIPE_FAKE_ADDR`, `SHOP_STRIPE_WEBHOOK_URL`,
//! `SHOP_STRIPE_WEBHOOK_SECRET`, ... while tests build it in code ([`FakeStripeConfig::for_tests`]).

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::FakeStripeError;
use crate::webhook::{RetryPolicy, WebhookEndpoint};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FakeStripeConfig {
    /// Where to listen (`SHOP_STRIPE_FAKE_ADDR`); port 0 picks a free port.
    #[serde(rename = "stripe_fake_addr")]
    pub addr: SocketAddr,
    /// Where to POST events (`SHOP_STRIPE_WEBHOOK_URL`); no webhooks when unset.
    #[serde(rename = "stripe_webhook_url")]
    pub webhook_url: Option<String>,
    /// The endpoint's signing secret, `whsec_...` (`SHOP_STRIPE_WEBHOOK_SECRET`).
    #[serde(rename = "stripe_webhook_secret")]
    pub webhook_secret: Option<String>,
    /// Delivery attempts per event, the first included (`SHOP_STRIPE_WEBHOOK_MAX_ATTEMPTS`).
    #[serde(rename = "stripe_webhook_max_attempts")]
    pub webhook_max_attempts: u32,
    /// Wait before the first retry; doubles per retry (`SHOP_STRIPE_WEBHOOK_BACKOFF_MS`).
    #[serde(rename = "stripe_webhook_backoff_ms")]
    pub webhook_backoff_ms: u64,
    /// The origin browsers reach the fake at (`SHOP_STRIPE_FAKE_PUBLIC_URL`), for the 3-D
    /// Secure page a `redirect_to_url` next action sends the customer to; the bound address
    /// when unset (right on one machine, wrong behind a proxy or in a container).
    #[serde(rename = "stripe_fake_public_url")]
    pub public_url: Option<String>,
}

impl Default for FakeStripeConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 12111)),
            webhook_url: None,
            webhook_secret: None,
            webhook_max_attempts: 5,
            webhook_backoff_ms: 500,
            public_url: None,
        }
    }
}

impl FakeStripeConfig {
    /// Port 0 on loopback, no webhooks, and quick retries so tests do not wait.
    pub fn for_tests() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            webhook_backoff_ms: 50,
            ..Self::default()
        }
    }

    /// Sends signed events to `url`.
    pub fn with_webhook(mut self, url: impl Into<String>, secret: impl Into<String>) -> Self {
        self.webhook_url = Some(url.into());
        self.webhook_secret = Some(secret.into());
        self
    }

    /// The webhook endpoint, if both halves are configured; one without the other is an error
    /// rather than a silent "no webhooks".
    pub(crate) fn webhook_endpoint(&self) -> Result<Option<WebhookEndpoint>, FakeStripeError> {
        let url = shop_kit::config::given(self.webhook_url.as_deref());
        let secret = shop_kit::config::given(self.webhook_secret.as_deref());
        match (url, secret) {
            (None, None) => Ok(None),
            (Some(url), Some(secret)) => WebhookEndpoint::new(url, secret).map(Some),
            (Some(_), None) => Err(FakeStripeError::Config(
                "SHOP_STRIPE_WEBHOOK_URL is set but SHOP_STRIPE_WEBHOOK_SECRET is not".into(),
            )),
            (None, Some(_)) => Err(FakeStripeError::Config(
                "SHOP_STRIPE_WEBHOOK_SECRET is set but SHOP_STRIPE_WEBHOOK_URL is not".into(),
            )),
        }
    }

    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.webhook_max_attempts.max(1),
            first_backoff: Duration::from_millis(self.webhook_backoff_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_flat_env_names() {
        let vars = [
            (
                "SHOP_STRIPE_FAKE_ADDR".to_owned(),
                "0.0.0.0:1234".to_owned(),
            ),
            (
                "SHOP_STRIPE_WEBHOOK_URL".to_owned(),
                "http://127.0.0.1:9/hook".to_owned(),
            ),
            (
                "SHOP_STRIPE_WEBHOOK_SECRET".to_owned(),
                "whsec_x".to_owned(),
            ),
            (
                "SHOP_STRIPE_WEBHOOK_MAX_ATTEMPTS".to_owned(),
                "3".to_owned(),
            ),
        ];
        let config: FakeStripeConfig =
            shop_kit::config::load_from(std::path::Path::new("/nonexistent.toml"), vars).unwrap();
        assert_eq!(config.addr, "0.0.0.0:1234".parse().unwrap());
        assert_eq!(config.webhook_max_attempts, 3);
        let endpoint = config.webhook_endpoint().unwrap().unwrap();
        assert_eq!(endpoint.url, "http://127.0.0.1:9/hook");
        assert_eq!(endpoint.secret, "whsec_x");
    }

    #[test]
    fn defaults_listen_on_12111_without_webhooks() {
        let config: FakeStripeConfig =
            shop_kit::config::load_from(std::path::Path::new("/nonexistent.toml"), Vec::new())
                .unwrap();
        assert_eq!(config, FakeStripeConfig::default());
        assert_eq!(config.addr.port(), 12111);
        assert!(config.webhook_endpoint().unwrap().is_none());
    }

    #[test]
    fn half_a_webhook_config_is_an_error() {
        let config = FakeStripeConfig {
            webhook_url: Some("http://x/".into()),
            ..FakeStripeConfig::for_tests()
        };
        assert!(config.webhook_endpoint().is_err());
    }
}
