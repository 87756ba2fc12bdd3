//! An in-process read cache of products by id and by SKU.
//!
//! Catalog reads (cart pricing, product pages, DataLoaders) vastly outnumber writes, and the
//! MongoDB stand-in serves only about a thousand point reads per second. Writes on this
//! replica invalidate at once; other replicas see a change within the TTL (and immediately
//! once `product.changed` is fanned out to every replica with the saga's event wiring).

use std::sync::Arc;
use std::time::Duration;

use crate::store::ProductDoc;

#[derive(Clone)]
pub struct ProductCache {
    by_id: moka::future::Cache<String, Arc<ProductDoc>>,
    by_sku: moka::future::Cache<String, Arc<ProductDoc>>,
    enabled: bool,
}

impl ProductCache {
    /// `ttl` zero disables caching (every read goes to the database).
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        let build = || {
            moka::future::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl.max(Duration::from_millis(1)))
                .build()
        };
        Self {
            by_id: build(),
            by_sku: build(),
            enabled: !ttl.is_zero(),
        }
    }

    pub async fn get_id(&self, id: &str) -> Option<Arc<ProductDoc>> {
        if !self.enabled {
            return None;
        }
        self.by_id.get(id).await
    }

    pub async fn get_sku(&self, sku: &str) -> Option<Arc<ProductDoc>> {
        if !self.enabled {
            return None;
        }
        self.by_sku.get(sku).await
    }

    pub async fn put(&self, product: Arc<ProductDoc>) {
        if !self.enabled {
            return;
        }
        self.by_sku
            .insert(product.sku.clone(), product.clone())
            .await;
        self.by_id.insert(product.id.clone(), product).await;
    }

    pub async fn invalidate(&self, product: &ProductDoc) {
        self.forget(&product.id, &product.sku).await;
    }

    /// Drops one product, as named by a `product.changed` event from any replica.
    pub async fn forget(&self, id: &str, sku: &str) {
        self.by_id.invalidate(id).await;
        self.by_sku.invalidate(sku).await;
    }
}
