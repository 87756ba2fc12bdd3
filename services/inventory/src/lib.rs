//! shop-inventory: stock per SKU and the reservations that stop overselling.
//!
//! Admins set and adjust physical stock (every change is written to a per-SKU ledger);
//! anyone reads stock levels. An order's reservation holds all of its lines or none until
//! it is committed (sold), released, or expires; the saga drives the same operations by
//! events. Availability never goes below zero because every hold is a guarded atomic
//! update (see `reservations` for how all-or-nothing and exactly-once are kept without
//! transactions). A background sweeper releases expired reservations and repairs what a
//! crash interrupted.

pub mod api;
pub mod cache;
pub mod domain;
pub mod events;
pub mod reservations;
pub mod store;
pub mod sweeper;

use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use shop_bus::Runtime;
use shop_bus::topology::Participant;
use shop_kit::mongo::MongoConfig;
use shop_kit::server::HostConfig;
use shop_kit::{Assembled, Service};
use shop_proto::shop::inventory::v1::inventory_service_server::InventoryServiceServer;

use crate::cache::StockCache;
use crate::store::Store;

/// shop-inventory as a process: `shop_kit::main::<App>()` runs it, `RunningService::start::<App>` tests it.
pub struct App;

impl Service for App {
    const NAME: &'static str = "shop-inventory";
    type Config = InventoryConfig;

    async fn build(config: InventoryConfig) -> anyhow::Result<Assembled> {
        let limits = config.limits()?;
        // Bound first: the database client counts its commands in this host's registry.
        let host = config.host.bind("inventory").await?;
        let database = config
            .mongo
            .connect("inventory", host.metrics().registry())
            .await?;
        let store = Store::new(&database);
        store.ensure_indexes().await.context("inventory indexes")?;
        let cache = StockCache::new(
            Duration::from_millis(config.stock_cache_ttl_ms),
            config.stock_cache_capacity,
        );
        let api = api::InventoryApi::new(store.clone(), cache.clone(), limits.clone());
        let host = host.add_service(InventoryServiceServer::new(api));

        let mut bus = Runtime::new(Participant::Inventory, &config.amqp, &host)?;
        let publisher = bus.publisher();
        bus.consume(
            events::queue_spec(),
            events::Saga {
                store: store.clone(),
                cache: cache.clone(),
                publisher: publisher.clone(),
                reservation_ttl: limits.default_reservation_ttl,
                action_reservation_ttl: chrono::Duration::from_std(Duration::from_secs(
                    config.action_reservation_ttl_secs,
                ))
                .context("action_reservation_ttl_secs")?,
                max_lines: limits.max_reservation_lines,
            },
        );
        bus.every(
            "reservation expiry sweep",
            Duration::from_secs(config.sweep_interval_secs),
            move || sweeper::pass(store.clone(), cache.clone(), Some(publisher.clone())),
        );
        Ok(bus.assemble(host))
    }
}

/// Every field can be overridden as `SHOP_<FIELD>` (see `shop_kit::config`).
#[derive(Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct InventoryConfig {
    #[serde(flatten)]
    pub host: HostConfig,
    #[serde(flatten)]
    pub mongo: MongoConfig,
    /// TTL of a reservation whose request names none.
    pub default_reservation_ttl_secs: u64,
    /// Longest TTL a Reserve may ask for (INVALID_ARGUMENT beyond it).
    pub max_reservation_ttl_secs: u64,
    /// A reservation whose payment waits for the customer (`payment.requires_action`,
    /// 3-D Secure) ends at most this long after that event (never later than it would).
    pub action_reservation_ttl_secs: u64,
    /// Most lines one reservation may have.
    pub max_reservation_lines: usize,
    /// Most distinct SKUs one BatchGetStock may ask for.
    pub max_batch_skus: usize,
    /// How often expired reservations are released (and interrupted work repaired).
    pub sweep_interval_secs: u64,
    /// How stale BatchGetStock's display cache may be; 0 turns it off.
    pub stock_cache_ttl_ms: u64,
    pub stock_cache_capacity: u64,
    /// RabbitMQ: order events in, inventory events out.
    pub amqp: shop_bus::BusConfig,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        Self {
            host: HostConfig::on_ports(50053, 9103),
            mongo: MongoConfig::local("shop_inventory"),
            default_reservation_ttl_secs: 15 * 60,
            max_reservation_ttl_secs: 60 * 60,
            action_reservation_ttl_secs: 5 * 60,
            max_reservation_lines: 100,
            max_batch_skus: 200,
            sweep_interval_secs: 15,
            stock_cache_ttl_ms: 1_000,
            stock_cache_capacity: 100_000,
            amqp: shop_bus::BusConfig::default(),
        }
    }
}

impl InventoryConfig {
    fn limits(&self) -> anyhow::Result<api::Limits> {
        anyhow::ensure!(
            self.default_reservation_ttl_secs > 0
                && self.default_reservation_ttl_secs <= self.max_reservation_ttl_secs,
            "default_reservation_ttl_secs must be positive and at most max_reservation_ttl_secs"
        );
        anyhow::ensure!(
            self.max_reservation_lines > 0 && self.max_batch_skus > 0,
            "max_reservation_lines and max_batch_skus must be positive"
        );
        // Bounded like every other hold, so `now + ttl` cannot overflow in the consumer.
        anyhow::ensure!(
            self.action_reservation_ttl_secs > 0
                && self.action_reservation_ttl_secs <= self.max_reservation_ttl_secs,
            "action_reservation_ttl_secs must be positive and at most max_reservation_ttl_secs"
        );
        anyhow::ensure!(
            self.sweep_interval_secs > 0,
            "sweep_interval_secs must be positive"
        );
        Ok(api::Limits {
            default_reservation_ttl: Duration::from_secs(self.default_reservation_ttl_secs),
            max_reservation_ttl: Duration::from_secs(self.max_reservation_ttl_secs),
            max_reservation_lines: self.max_reservation_lines,
            max_batch_skus: self.max_batch_skus,
        })
    }
}
