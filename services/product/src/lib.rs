//! shop-product: the catalog.
//!
//! Admins create, update (AIP-134 field masks, optimistic versions) and archive products;
//! everyone reads them by id or SKU, in batches (one round trip for a cart or a page of
//! DataLoader keys) and as keyset-paged lists with category filter, sort and search inside
//! words that forgives a typo (`search`); ListCategories counts the catalog's categories.
//! MongoDB holds the catalog; an in-process read model (`cache`) serves the hot reads,
//! catalog pages included.

pub mod api;
pub mod cache;
pub mod domain;
pub mod events;
pub mod page_token;
pub mod search;
pub mod store;

use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use shop_bus::Runtime;
use shop_bus::topology::Participant;
use shop_kit::mongo::MongoConfig;
use shop_kit::server::HostConfig;
use shop_kit::{Assembled, Service};
use shop_proto::shop::product::v1::product_service_server::ProductServiceServer;

/// shop-product as a process: `shop_kit::main::<App>()` runs it, `RunningService::start::<App>` tests it.
pub struct App;

impl Service for App {
    const NAME: &'static str = "shop-product";
    type Config = ProductConfig;

    async fn build(config: ProductConfig) -> anyhow::Result<Assembled> {
        let previous_key = config
            .page_token_previous_key
            .as_deref()
            .filter(|key| !key.is_empty());
        config.env.refuse_dev_defaults(&[
            (
                "SHOP_PAGE_TOKEN_KEY",
                config.page_token_key == page_token::DEV_PAGE_TOKEN_KEY,
            ),
            (
                "SHOP_PAGE_TOKEN_PREVIOUS_KEY",
                previous_key == Some(page_token::DEV_PAGE_TOKEN_KEY),
            ),
        ])?;
        let tokens = page_token::TokenKeys::new(&config.page_token_key, previous_key)?;
        // Bound first: the database client counts its commands in this host's registry.
        let host = config.host.bind("product").await?;
        let database = config
            .mongo
            .connect("product", host.metrics().registry())
            .await?;
        let store = store::Store::new(
            &database,
            Duration::from_millis(config.catalog_query_max_time_ms),
        );
        store.ensure_indexes().await.context("product indexes")?;
        let backfilled = store
            .backfill_words()
            .await
            .context("search words of older products")?;
        if backfilled > 0 {
            tracing::info!(backfilled, "gave older products their search words");
        }
        let read_model = cache::ReadModel::new(
            Duration::from_secs(config.cache_ttl_secs),
            config.cache_capacity,
            config.page_cache_bytes,
            Duration::from_secs(config.search_summary_ttl_secs),
        );
        let mut bus = Runtime::new(Participant::Product, &config.amqp, &host)?;
        // Serve only once this replica hears product.changed, or a change made right after
        // start-up could stay stale here for a whole TTL.
        bus.consume_before_serving(
            events::queue_spec(),
            events::CacheInvalidation {
                read_model: read_model.clone(),
            },
        );
        let host = host.add_service(ProductServiceServer::new(api::ProductApi::new(
            store,
            read_model,
            bus.publisher(),
            tokens,
        )));
        Ok(bus.assemble(host))
    }
}

/// Every field can be overridden as `SHOP_<FIELD>` (see `shop_kit::config`).
#[derive(Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ProductConfig {
    /// `SHOP_ENV`: production refuses to start with the development page-token key.
    pub env: shop_kit::config::Environment,
    #[serde(flatten)]
    pub host: HostConfig,
    #[serde(flatten)]
    pub mongo: MongoConfig,
    /// How long a cached product or catalog page may be served if the `product.changed` of
    /// a change on another replica never arrives (it normally drops them at once); 0 turns
    /// both caches off.
    pub cache_ttl_secs: u64,
    /// Products held per key (id, SKU).
    pub cache_capacity: u64,
    /// Bytes of ListProducts pages held (their encoded size plus a fixed overhead each),
    /// the least used evicted first; 0 turns the page cache off and every page reads the
    /// database.
    pub page_cache_bytes: u64,
    /// RabbitMQ: `product.changed` out, and in for this replica's cache.
    pub amqp: shop_bus::BusConfig,
    /// HMAC-SHA256 key (at least 32 bytes) that signs ListProducts page tokens, so a client
    /// cannot forge or edit a cursor. A secret: set it from the environment only, never in
    /// a config file.
    pub page_token_key: String,
    /// During a key rotation, the key being retired: tokens it signed are still accepted
    /// (new ones are signed with `page_token_key`), so clients paging right now keep going.
    pub page_token_previous_key: Option<String>,
    /// `maxTimeMS` of catalog list and batch queries: a filter that would scan too long is
    /// stopped by the database and answered UNAVAILABLE instead of holding a connection
    /// and a server thread. 0 leaves them unbounded.
    pub catalog_query_max_time_ms: u64,
    /// How long a replica reuses the search vocabulary and the category counts (each a
    /// catalog-wide query) before reading them again. Its own writes show at once, other
    /// replicas' once their `product.changed` arrives (or after at most this long if it
    /// never does). 0 reads them on every request.
    pub search_summary_ttl_secs: u64,
}

impl Default for ProductConfig {
    fn default() -> Self {
        Self {
            host: HostConfig::on_ports(50052, 9102),
            mongo: MongoConfig::local("shop_product"),
            cache_ttl_secs: 30,
            cache_capacity: 50_000,
            // About 3,000 pages of 20 demo products (~10 KiB each).
            page_cache_bytes: 32 * 1024 * 1024,
            amqp: shop_bus::BusConfig::default(),
            env: shop_kit::config::Environment::default(),
            page_token_key: page_token::DEV_PAGE_TOKEN_KEY.into(),
            page_token_previous_key: None,
            catalog_query_max_time_ms: 2000,
            search_summary_ttl_secs: 5,
        }
    }
}
