//! A short-lived in-process cache of stock levels for BatchGetStock, the storefront's
//! display read (one call per product list or cart, through the BFF's DataLoaders).
//!
//! Display can be a second stale; decisions cannot, so nothing that reserves, commits or
//! checks a precondition ever reads from here. Changes made by this replica invalidate at
//! once; changes made by another replica show within the TTL.

use std::sync::Arc;
use std::time::Duration;

use crate::store::StockDoc;

#[derive(Clone)]
pub struct StockCache {
    /// `None` remembers "never stocked", so unknown SKUs do not each cost a query.
    levels: moka::future::Cache<String, Option<Arc<StockDoc>>>,
    enabled: bool,
}

impl StockCache {
    /// A zero `ttl` disables caching: every read goes to the database.
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        Self {
            levels: moka::future::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl.max(Duration::from_millis(1)))
                .build(),
            enabled: !ttl.is_zero(),
        }
    }

    /// `Some(None)` is a cached "never stocked"; `None` is a miss.
    pub async fn get(&self, sku: &str) -> Option<Option<Arc<StockDoc>>> {
        if !self.enabled {
            return None;
        }
        self.levels.get(sku).await
    }

    pub async fn put(&self, sku: String, level: Option<Arc<StockDoc>>) {
        if self.enabled {
            self.levels.insert(sku, level).await;
        }
    }

    pub async fn invalidate(&self, skus: &[String]) {
        for sku in skus {
            self.levels.invalidate(sku).await;
        }
    }
}
