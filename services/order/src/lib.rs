//! shop-order: orders and the coordinator of the checkout saga (docs/architecture.md §5).
//!
//! PlaceOrder takes the cart as Cart priced it and stores the PENDING order with its
//! `order.created` event (transactional outbox). The saga consumer then moves the order on
//! inventory and payment events until it is CONFIRMED or CANCELLED, emitting
//! `order.payment_requested`, `order.confirmed` and `order.cancelled` the same way.

pub mod api;
pub mod domain;
pub mod events;
pub mod store;
pub mod sweeper;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use shop_bus::topology::Participant;
use shop_bus::{BusConfig, Runtime};
use shop_kit::mysql::DatabaseConfig;
use shop_kit::server::HostConfig;
use shop_kit::{Assembled, Service};
use shop_proto::shop::cart::v1::cart_service_client::CartServiceClient;
use shop_proto::shop::order::v1::order_service_server::OrderServiceServer;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// shop-order as a process: `shop_kit::main::<App>()` runs it, `RunningService::start::<App>` tests it.
pub struct App;

impl Service for App {
    const NAME: &'static str = "shop-order";
    type Config = OrderConfig;

    async fn build(config: OrderConfig) -> anyhow::Result<Assembled> {
        let pool = config.database.connect("order", &MIGRATOR).await?;

        let host = config.host.bind("order").await?;
        let mut bus = Runtime::new(Participant::Order, &config.amqp, &host)?;
        let relay = bus.outbox(&pool).await?;
        let saga = events::Saga::new(pool.clone(), relay, host.metrics().registry())?;
        bus.consume(events::queue_spec(), saga.clone());
        let timeout = Duration::from_secs(config.unfinished_timeout_secs.max(1));
        let (sweep_pool, sweep_saga) = (pool.clone(), saga.clone());
        bus.every(
            "order timeout sweep",
            Duration::from_secs(config.sweep_interval_secs.max(1)),
            move || sweeper::pass(sweep_pool.clone(), sweep_saga.clone(), timeout),
        );

        let deadline = Duration::from_millis(config.upstream_deadline_ms);
        let carts = CartServiceClient::new(shop_kit::client::traced_channel(
            &config.cart_url,
            deadline,
        )?);
        let limits = api::Limits {
            max_open_orders_per_user: i64::from(config.max_open_orders_per_user.max(1)),
            max_units_per_sku: i64::from(config.max_units_per_sku.max(1)),
        };
        let api = api::OrderApi::new(pool.clone(), saga, carts, limits);
        let host = host.add_service(OrderServiceServer::new(api));
        Ok(bus
            .assemble(host)
            .then_close(async move { pool.close().await }))
    }
}

/// Every field can be overridden as `SHOP_<FIELD>` (see `shop_kit::config`).
#[derive(Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct OrderConfig {
    #[serde(flatten)]
    pub host: HostConfig,
    #[serde(flatten)]
    pub database: DatabaseConfig,
    pub amqp: BusConfig,
    pub cart_url: String,
    /// Deadline of every call to Cart.
    pub upstream_deadline_ms: u64,
    /// An order still PENDING or AWAITING_PAYMENT this long after its last change is
    /// cancelled (longer than Inventory's reservation TTL, which normally cancels first).
    pub unfinished_timeout_secs: u64,
    /// How often unfinished orders are looked for.
    pub sweep_interval_secs: u64,
    /// Unpaid (PENDING or AWAITING_PAYMENT) orders one user may have at once: each holds
    /// stock, so more is refused (`TOO_MANY_OPEN_ORDERS`).
    pub max_open_orders_per_user: u32,
    /// Units of one SKU one order may hold (`LINE_QUANTITY_LIMIT` beyond).
    pub max_units_per_sku: u32,
}

impl Default for OrderConfig {
    fn default() -> Self {
        Self {
            host: HostConfig::on_ports(50055, 9105),
            database: DatabaseConfig::new("mysql://root@127.0.0.1:3306/shop_order", 20),
            amqp: BusConfig::default(),
            cart_url: "http://127.0.0.1:50054".into(),
            upstream_deadline_ms: 3000,
            unfinished_timeout_secs: 20 * 60,
            sweep_interval_secs: 30,
            max_open_orders_per_user: 3,
            max_units_per_sku: 10,
        }
    }
}
