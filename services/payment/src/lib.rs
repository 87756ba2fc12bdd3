//! shop-payment: charges orders through Stripe and keeps the payments ledger
//! (docs/architecture.md §5).
//!
//! The saga consumer (`events`) charges on `order.payment_requested` and refunds or cancels
//! on `order.cancelled`; Stripe's webhooks (`webhook`, on the admin port) report outcomes
//! that happen later (3-D Secure). Both move ledger rows forward only (`domain`) and emit
//! `payment.*` through the transactional outbox. The gRPC API (`api`) is a read-only admin
//! view. One PaymentIntent per order, whatever is retried: see `events` and `docs/payment.md`.

pub mod api;
pub mod domain;
pub mod events;
pub mod store;
pub mod stripe;
pub mod sweeper;
pub mod webhook;

use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use shop_bus::topology::Participant;
use shop_bus::{BusConfig, Runtime};
use shop_kit::mysql::DatabaseConfig;
use shop_kit::server::HostConfig;
use shop_kit::{Assembled, Service};
use shop_proto::shop::payment::v1::payment_service_server::PaymentServiceServer;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Stripe's production API.
pub const STRIPE_API: &str = "https://api.stripe.com/";
/// Development placeholders: accepted by the fake Stripe only (refused with `STRIPE_API`).
pub const PLACEHOLDER_API_KEY: &str = "sk_test_shopmesh_dev";
pub const PLACEHOLDER_WEBHOOK_SECRET: &str = "whsec_shopmesh_dev";

/// shop-payment as a process: `shop_kit::main::<App>()` runs it, `RunningService::start::<App>` tests it.
pub struct App;

impl Service for App {
    const NAME: &'static str = "shop-payment";
    type Config = PaymentConfig;

    async fn build(config: PaymentConfig) -> anyhow::Result<Assembled> {
        config.check_stripe()?;
        let stripe = stripe::Stripe::new(
            config.stripe_api_key.trim(),
            &config.stripe_base(),
            Duration::from_millis(config.stripe_deadline_ms),
            config.storefront_origin()?,
        )
        .context("Stripe client")?;
        let pool = config.database.connect("payment", &MIGRATOR).await?;

        let host = config.host.bind("payment").await?;
        let registry = host.metrics().registry().clone();
        let mut bus = Runtime::new(Participant::Payment, &config.amqp, &host)?;
        let relay = bus.outbox(&pool).await?;
        let saga = events::Saga::new(
            pool.clone(),
            relay,
            stripe,
            events::SagaMetrics::register(&registry)?,
        );
        bus.consume(events::queue_spec(), saga.clone());
        if config.pending_sweep_secs > 0 {
            let stale_after = Duration::from_secs(config.pending_stale_secs);
            let sweep_saga = saga.clone();
            bus.every(
                "stale payment sweep",
                Duration::from_secs(config.pending_sweep_secs),
                move || sweeper::pass(sweep_saga.clone(), stale_after),
            );
        }
        let webhook = webhook::router(saga, &config.stripe_webhook_secret, &registry)?;
        let host = host
            .with_admin_routes(webhook)
            .add_service(PaymentServiceServer::new(api::PaymentApi::new(
                pool.clone(),
            )));
        Ok(bus
            .assemble(host)
            .then_close(async move { pool.close().await }))
    }
}

/// Every field can be overridden as `SHOP_<FIELD>` (see `shop_kit::config`); the Stripe
/// secrets belong in the environment (`SHOP_STRIPE_API_KEY`, `SHOP_STRIPE_WEBHOOK_SECRET`).
#[derive(Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct PaymentConfig {
    /// `SHOP_ENV`: in production the development Stripe credentials refuse to start.
    pub env: shop_kit::config::Environment,
    #[serde(flatten)]
    pub host: HostConfig,
    #[serde(flatten)]
    pub database: DatabaseConfig,
    pub amqp: BusConfig,
    /// `https://api.stripe.com/` in production; `just up` and the tests point it at the fake.
    pub stripe_base_url: String,
    pub stripe_api_key: String,
    /// The webhook endpoint's signing secret (`whsec_...`).
    pub stripe_webhook_secret: String,
    /// Deadline of each Stripe call; a handler waits at most this long for Stripe.
    pub stripe_deadline_ms: u64,
    /// How often to look for stale PENDING payments (see `sweeper`); 0 turns it off.
    pub pending_sweep_secs: u64,
    /// A PENDING payment unchanged for this long is resumed by the sweeper. Longer than the
    /// consumer's whole retry budget, so it only picks up what the bus gave up on.
    pub pending_stale_secs: u64,
    /// The storefront's origin (`SHOP_STOREFRONT_URL`, e.g. `https://shop.example`): a card
    /// that needs 3-D Secure sends the shopper to the issuer's page, which returns them to
    /// `<origin>/orders/<order id>`. Unset, 3-D Secure is left to Stripe.js (the intent's
    /// client secret), as a shop with its own card form would do it.
    pub storefront_url: Option<String>,
}

impl Default for PaymentConfig {
    fn default() -> Self {
        Self {
            env: shop_kit::config::Environment::default(),
            host: HostConfig::on_ports(50056, 9106),
            database: DatabaseConfig::new("mysql://root@127.0.0.1:3306/shop_payment", 20),
            amqp: BusConfig::default(),
            stripe_base_url: STRIPE_API.into(),
            stripe_api_key: PLACEHOLDER_API_KEY.into(),
            stripe_webhook_secret: PLACEHOLDER_WEBHOOK_SECRET.into(),
            stripe_deadline_ms: 10_000,
            pending_sweep_secs: 60,
            pending_stale_secs: 300,
            storefront_url: None,
        }
    }
}

impl PaymentConfig {
    /// Refuses settings that would fail on the first payment rather than at start-up: a
    /// missing or development credential against the real Stripe, a malformed key.
    fn check_stripe(&self) -> anyhow::Result<()> {
        // A fake Stripe at a custom base URL accepts the placeholders, so the check below
        // would let them through; production must never run on them, whatever the URL.
        self.env.refuse_dev_defaults(&[
            (
                "SHOP_STRIPE_API_KEY",
                self.stripe_api_key.trim() == PLACEHOLDER_API_KEY,
            ),
            (
                "SHOP_STRIPE_WEBHOOK_SECRET",
                self.stripe_webhook_secret.trim() == PLACEHOLDER_WEBHOOK_SECRET,
            ),
        ])?;
        let key = self.stripe_api_key.trim();
        if !(key.starts_with("sk_") || key.starts_with("rk_")) {
            anyhow::bail!("SHOP_STRIPE_API_KEY must be a Stripe secret key (sk_... or rk_...)");
        }
        if self.stripe_webhook_secret.trim().is_empty() {
            anyhow::bail!("SHOP_STRIPE_WEBHOOK_SECRET is required (whsec_...)");
        }
        if self.stripe_base_url.trim().trim_end_matches('/') == STRIPE_API.trim_end_matches('/')
            && (key == PLACEHOLDER_API_KEY
                || self.stripe_webhook_secret == PLACEHOLDER_WEBHOOK_SECRET)
        {
            anyhow::bail!(
                "the development Stripe key or webhook secret only works with the fake Stripe: \
                 set SHOP_STRIPE_API_KEY and SHOP_STRIPE_WEBHOOK_SECRET, or SHOP_STRIPE_BASE_URL"
            );
        }
        Ok(())
    }

    /// The storefront origin without a trailing slash; refused unless it is a bare web
    /// origin (Stripe sends shoppers' browsers there), and unless https in production.
    fn storefront_origin(&self) -> anyhow::Result<Option<String>> {
        let Some(url) = self
            .storefront_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
        else {
            return Ok(None);
        };
        let url = url.trim_end_matches('/');
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        match host {
            Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', '@']) => {}
            _ => anyhow::bail!(
                "SHOP_STOREFRONT_URL must be an origin like https://shop.example, not {url:?}"
            ),
        }
        if self.env.is_production() && !url.starts_with("https://") {
            anyhow::bail!("SHOP_STOREFRONT_URL must use https in production");
        }
        Ok(Some(url.to_owned()))
    }

    /// The base URL as `async-stripe` wants it: it appends `v1/...` directly.
    fn stripe_base(&self) -> String {
        format!("{}/", self.stripe_base_url.trim().trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base: &str, key: &str, secret: &str) -> PaymentConfig {
        PaymentConfig {
            stripe_base_url: base.into(),
            stripe_api_key: key.into(),
            stripe_webhook_secret: secret.into(),
            ..PaymentConfig::default()
        }
    }

    #[test]
    fn development_credentials_never_reach_the_real_stripe() {
        assert!(PaymentConfig::default().check_stripe().is_err());
        assert!(
            config(STRIPE_API, "sk_live_x", "whsec_real")
                .check_stripe()
                .is_ok()
        );
        assert!(
            config(
                "https://api.stripe.com",
                "sk_live_x",
                PLACEHOLDER_WEBHOOK_SECRET
            )
            .check_stripe()
            .is_err()
        );
        assert!(
            config(
                "http://127.0.0.1:12111/",
                PLACEHOLDER_API_KEY,
                PLACEHOLDER_WEBHOOK_SECRET
            )
            .check_stripe()
            .is_ok()
        );
        assert!(
            config("http://x/", "pk_test_public", "whsec")
                .check_stripe()
                .is_err()
        );
        assert!(
            config("http://x/", "sk_test_x", " ")
                .check_stripe()
                .is_err()
        );
    }

    #[test]
    fn production_refuses_the_development_stripe_credentials_even_against_a_fake() {
        let fake = "http://127.0.0.1:12111/";
        let production = |key: &str, secret: &str| PaymentConfig {
            env: shop_kit::config::Environment::production(),
            ..config(fake, key, secret)
        };
        let error = production(PLACEHOLDER_API_KEY, PLACEHOLDER_WEBHOOK_SECRET)
            .check_stripe()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("SHOP_STRIPE_API_KEY") && error.contains("SHOP_STRIPE_WEBHOOK_SECRET"),
            "{error}"
        );
        let error = production("sk_live_x", PLACEHOLDER_WEBHOOK_SECRET)
            .check_stripe()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("SHOP_STRIPE_WEBHOOK_SECRET") && !error.contains("SHOP_STRIPE_API_KEY"),
            "{error}"
        );
        assert!(
            production(PLACEHOLDER_API_KEY, "whsec_real")
                .check_stripe()
                .is_err()
        );
        assert!(production("sk_live_x", "whsec_real").check_stripe().is_ok());
        // Development keeps working against the fake with the placeholders.
        assert!(
            config(fake, PLACEHOLDER_API_KEY, PLACEHOLDER_WEBHOOK_SECRET)
                .check_stripe()
                .is_ok()
        );
        let vars = [("SHOP_ENV".to_owned(), "production".to_owned())];
        let loaded: PaymentConfig =
            shop_kit::config::load_from(std::path::Path::new("/nonexistent.toml"), vars).unwrap();
        assert!(loaded.env.is_production());
    }

    #[test]
    fn loads_stripe_settings_from_the_environment() {
        let vars = [
            ("SHOP_STRIPE_API_KEY".to_owned(), "sk_test_env".to_owned()),
            (
                "SHOP_STRIPE_BASE_URL".to_owned(),
                "http://127.0.0.1:12111".to_owned(),
            ),
            ("SHOP_STRIPE_DEADLINE_MS".to_owned(), "2500".to_owned()),
            ("SHOP_AMQP__EXCHANGE".to_owned(), "x.events".to_owned()),
            // The shared host settings keep their flat names (flattened `HostConfig`).
            ("SHOP_ADMIN_ADDR".to_owned(), "127.0.0.1:19106".to_owned()),
            (
                "SHOP_JWT_PUBLIC_KEY_FILE".to_owned(),
                "/etc/shop/jwt.pub".to_owned(),
            ),
        ];
        let config: PaymentConfig =
            shop_kit::config::load_from(std::path::Path::new("/nonexistent.toml"), vars).unwrap();
        assert_eq!(config.stripe_api_key, "sk_test_env");
        assert_eq!(config.stripe_base(), "http://127.0.0.1:12111/");
        assert_eq!(config.stripe_deadline_ms, 2500);
        assert_eq!(config.amqp.exchange, "x.events");
        assert_eq!(config.host.grpc_addr.port(), 50056);
        assert_eq!(config.host.admin_addr.to_string(), "127.0.0.1:19106");
        assert_eq!(
            config.host.jwt_public_key_file.as_deref(),
            Some("/etc/shop/jwt.pub")
        );
    }
}
