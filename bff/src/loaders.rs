//! DataLoaders: the fan-out of a list (every product's stock, every cart line's product)
//! becomes one batch RPC per request instead of one call per item. They live for one
//! request, so their cache can never serve another user stale data.
//!
//! A DataLoader batches what arrives within a short delay, which under load can split one
//! list into two calls. So a list resolver that knows its keys *primes* the loader with all
//! of them at once ([`prime`]) when the selection asks for the fanned-out field, and the
//! per-item resolvers then hit the request's cache. Misses are cached too (as `None` or a
//! zero level), so an unknown key never costs a second call.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use shop_proto::shop::inventory::v1::{BatchGetStockRequest, StockLevel};
use shop_proto::shop::product::v1::{BatchGetProductsRequest, Product};

use crate::clients::Clients;
use crate::errors::{Fields, Reply as _};

/// Largest batch per RPC; the services cap theirs (Inventory at 200 SKUs by default).
const MAX_BATCH: usize = 100;

/// Products by SKU (`CartItem.product`).
pub struct ProductsBySku(pub Clients);

impl Loader<String> for ProductsBySku {
    type Value = Option<Product>;
    type Error = async_graphql::Error;

    async fn load(&self, skus: &[String]) -> Result<HashMap<String, Option<Product>>, Self::Error> {
        let request = self.0.request(
            BatchGetProductsRequest {
                ids: Vec::new(),
                skus: skus.to_vec(),
            },
            None,
        );
        let response = self
            .0
            .products
            .clone()
            .batch_get_products(request)
            .await
            .reply(Fields::AS_IS)?;
        let mut found: HashMap<String, Option<Product>> =
            skus.iter().map(|sku| (sku.clone(), None)).collect();
        for product in response.products {
            found.insert(product.sku.clone(), Some(product));
        }
        Ok(found)
    }
}

/// Stock levels by SKU (`Product.stock`). A SKU Inventory never stocked shows as a zero
/// level, as Inventory's contract asks.
pub struct StockBySku(pub Clients);

impl Loader<String> for StockBySku {
    type Value = StockLevel;
    type Error = async_graphql::Error;

    async fn load(&self, skus: &[String]) -> Result<HashMap<String, StockLevel>, Self::Error> {
        let request = self.0.request(
            BatchGetStockRequest {
                skus: skus.to_vec(),
            },
            None,
        );
        let response = self
            .0
            .inventory
            .clone()
            .batch_get_stock(request)
            .await
            .reply(Fields::AS_IS)?;
        let mut levels: HashMap<String, StockLevel> = skus
            .iter()
            .map(|sku| {
                let zero = StockLevel {
                    sku: sku.clone(),
                    ..StockLevel::default()
                };
                (sku.clone(), zero)
            })
            .collect();
        for level in response.levels {
            levels.insert(level.sku.clone(), level);
        }
        Ok(levels)
    }
}

/// The loaders of one request.
pub struct Loaders {
    pub products: DataLoader<ProductsBySku, HashMapCache>,
    pub stock: DataLoader<StockBySku, HashMapCache>,
}

impl Loaders {
    pub fn new(clients: &Clients) -> Self {
        Self {
            products: DataLoader::with_cache(
                ProductsBySku(clients.clone()),
                tokio::spawn,
                HashMapCache::default(),
            )
            .max_batch_size(MAX_BATCH),
            stock: DataLoader::with_cache(
                StockBySku(clients.clone()),
                tokio::spawn,
                HashMapCache::default(),
            )
            .max_batch_size(MAX_BATCH),
        }
    }
}

/// Loads every key of a list in one batch, so the items' own loads are cache hits. A failure
/// is left for the items to report (each with its path), so it is only logged here.
pub async fn prime<L>(loader: &DataLoader<L, HashMapCache>, keys: Vec<String>)
where
    L: Loader<String, Error = async_graphql::Error>,
{
    if keys.is_empty() {
        return;
    }
    if let Err(error) = loader.load_many(keys).await {
        tracing::debug!(message = %error.message, "priming a DataLoader failed");
    }
}
