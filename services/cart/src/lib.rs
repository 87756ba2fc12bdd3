//! shop-cart: shopping carts for guests and signed-in users.
//!
//! A cart holds only SKUs and quantities, in Redis with a sliding TTL (guest carts 7 days,
//! user carts 30 days, from the last write). Every change is one atomic Lua script, so
//! concurrent writers never lose updates. Prices, names and images come from Product on
//! every reply (one `BatchGetProducts` with a deadline), so a cart never shows a stale or
//! invented price: when Product is down the answer is UNAVAILABLE. Guest carts are reached
//! by their random id, user carts only with that user's (or an admin's) token; at sign-in
//! MergeCarts folds the guest cart into the user's. See docs/cart.md.

pub mod api;
pub mod catalog;
pub mod domain;
pub mod events;
pub mod store;

use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use shop_bus::Runtime;
use shop_bus::topology::Participant;
use shop_kit::Currency;
use shop_kit::server::HostConfig;
use shop_kit::{Assembled, Service};
use shop_proto::shop::cart::v1::cart_service_server::CartServiceServer;

const DAY_SECS: u64 = 24 * 3600;

/// shop-cart as a process: `shop_kit::main::<App>()` runs it, `RunningService::start::<App>` tests it.
pub struct App;

impl Service for App {
    const NAME: &'static str = "shop-cart";
    type Config = CartConfig;

    async fn build(config: CartConfig) -> anyhow::Result<Assembled> {
        let settings = config.settings().context("cart configuration")?;
        let store = store::Store::connect(
            &config.redis_url,
            &config.key_prefix,
            Duration::from_millis(config.redis_timeout_ms.max(1)),
        )
        .await
        .with_context(|| format!("cart store at {}", config.redis_url))?;
        let catalog = catalog::Catalog::new(
            &config.product_url,
            Duration::from_millis(config.product_deadline_ms.max(1)),
        )?;
        let host = config
            .host
            .bind("cart")
            .await?
            .add_service(CartServiceServer::new(api::CartApi::new(
                store.clone(),
                catalog,
                settings,
            )));
        let mut bus = Runtime::new(Participant::Cart, &config.amqp, &host)?;
        bus.consume(
            events::queue_spec(),
            events::Saga {
                store: store.clone(),
            },
        );
        Ok(bus
            .assemble(host)
            .then_close(async move { store.close().await }))
    }
}

/// Every field can be overridden as `SHOP_<FIELD>` (see `shop_kit::config`).
#[derive(Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct CartConfig {
    #[serde(flatten)]
    pub host: HostConfig,
    pub redis_url: String,
    /// RabbitMQ, for `order.confirmed` (clears what was bought).
    pub amqp: shop_bus::BusConfig,
    /// Every key the service writes starts with this, so several deployments (or tests)
    /// can share one Redis.
    pub key_prefix: String,
    /// A Redis command that takes longer fails the RPC with UNAVAILABLE.
    pub redis_timeout_ms: u64,
    /// The Product service, which prices every cart.
    pub product_url: String,
    /// Deadline of each Product call; past it the RPC fails with UNAVAILABLE.
    pub product_deadline_ms: u64,
    /// Most distinct SKUs in one cart (at most 200, one Product batch).
    pub max_lines: u32,
    /// Most units of one SKU in one cart.
    pub max_quantity_per_line: u32,
    /// The currency the shop sells in (ISO 4217); products priced otherwise cannot be added.
    pub currency: String,
    pub guest_ttl_secs: u64,
    pub user_ttl_secs: u64,
    /// How long an AddItem idempotency key protects against a repeated add.
    pub idempotency_ttl_secs: u64,
}

impl Default for CartConfig {
    fn default() -> Self {
        Self {
            host: HostConfig::on_ports(50054, 9104),
            redis_url: "redis://127.0.0.1:6379".into(),
            amqp: shop_bus::BusConfig::default(),
            key_prefix: "shop:".into(),
            redis_timeout_ms: 2000,
            product_url: "http://127.0.0.1:50052".into(),
            product_deadline_ms: 2000,
            max_lines: 50,
            max_quantity_per_line: 99,
            currency: "EUR".into(),
            guest_ttl_secs: 7 * DAY_SECS,
            user_ttl_secs: 30 * DAY_SECS,
            idempotency_ttl_secs: 600,
        }
    }
}

impl CartConfig {
    /// The rules the API applies, or what is wrong with the configuration.
    fn settings(&self) -> anyhow::Result<api::Settings> {
        let positive = |secs: u64, name: &str| {
            if secs == 0 {
                anyhow::bail!("{name} must be positive");
            }
            Ok(Duration::from_secs(secs))
        };
        Ok(api::Settings {
            limits: domain::Limits::new(self.max_lines, self.max_quantity_per_line)?,
            currency: Currency::parse(&self.currency)?,
            guest_ttl: positive(self.guest_ttl_secs, "guest_ttl_secs")?,
            user_ttl: positive(self.user_ttl_secs, "user_ttl_secs")?,
            idempotency_ttl: positive(self.idempotency_ttl_secs, "idempotency_ttl_secs")?,
        })
    }
}
