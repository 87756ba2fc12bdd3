//! A large synthetic catalog for the growth scenario of issue #9 (`shop-seed --bulk N`,
//! `shop-load growth`): products and their stock written straight into Product's and
//! Inventory's MongoDB collections with batched `insertMany`, typed by the services' own
//! documents ([`ProductDoc`], [`StockDoc`]).
//!
//! Why not through the API: CreateProduct is one product per call, each with its outbox
//! event, and on the Python MongoDB stand-in 100,000 of them take many minutes; the growth
//! scenario measures reads of a large catalog, not how it was loaded. What the direct write
//! skips: `product.changed` events (nothing subscribes to a product that no one has read)
//! and Product's in-process cache, which only ever holds products read through it. Indexes
//! are Product's own, created by the running service before this writes.
//!
//! Deterministic: product `n` is always `BULK-<n>` with the same name and price, so a second
//! run tops the catalog up instead of duplicating it.

use std::time::Instant;

use anyhow::Context as _;
use mongodb::Collection;
use mongodb::bson::{self, doc};
use shop_inventory::store::StockDoc;
use shop_product::store::ProductDoc;

use crate::catalog::{DemoProduct, demo_catalog};

/// Documents per `insertMany`: large enough that round trips do not dominate, small enough
/// that one batch stays far below MongoDB's 16 MB message limit (a product is ~600 bytes).
pub const BATCH: usize = 1_000;
/// The SKU prefix of every bulk product (the demo catalog's prefixes are three letters).
pub const SKU_PREFIX: &str = "BULK-";

/// Where the two collections live: the same configuration the services load (`SHOP_*`
/// variables, `config/<SHOP_ENV>.toml`), so the tool writes where the stack reads.
pub struct Target {
    products: Collection<ProductDoc>,
    stock: Collection<StockDoc>,
}

/// What one [`Target::grow_to`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Grown {
    /// Products in the catalog before (every product, demo ones included).
    pub before: u64,
    /// Products in the catalog after.
    pub after: u64,
    /// Bulk products written by this call.
    pub inserted: u64,
    pub seconds: f64,
    /// False when the deadline stopped it short of the total.
    pub complete: bool,
}

impl Target {
    pub async fn connect() -> anyhow::Result<Self> {
        let product: shop_product::ProductConfig =
            shop_kit::config::load().context("Product's configuration")?;
        let inventory: shop_inventory::InventoryConfig =
            shop_kit::config::load().context("Inventory's configuration")?;
        // Each client counts its commands in a registry of its own (nobody scrapes them).
        let products = product
            .mongo
            .connect("Product", &prometheus::Registry::new())
            .await
            .context("is the stack up?")?;
        let stock = inventory
            .mongo
            .connect("Inventory", &prometheus::Registry::new())
            .await
            .context("is the stack up?")?;
        Ok(Self {
            products: products.collection("products"),
            stock: stock.collection("stock"),
        })
    }

    /// Products in the catalog (archived ones too: they are rows the queries pass over).
    pub async fn count(&self) -> anyhow::Result<u64> {
        Ok(self.products.count_documents(doc! {}).await?)
    }

    /// Adds bulk products (with stock) until the catalog holds `total`, or until `deadline`
    /// (checked between batches); `progress` hears the count after every batch.
    pub async fn grow_to(
        &self,
        total: u64,
        deadline: Option<Instant>,
        progress: impl Fn(u64),
    ) -> anyhow::Result<Grown> {
        let started = Instant::now();
        let before = self.count().await?;
        let bulk_before = self
            .products
            .count_documents(doc! { "sku": { "$regex": format!("^{SKU_PREFIX}") } })
            .await?;
        let mut next = bulk_before;
        let mut count = before;
        let demo = demo_catalog();
        while count < total {
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                break;
            }
            let n = (total - count).min(BATCH as u64);
            let items: Vec<u64> = (next..next + n).collect();
            let now = bson::DateTime::now();
            let products: Vec<ProductDoc> = items.iter().map(|&i| product(i, now, &demo)).collect();
            let stock: Vec<StockDoc> = products
                .iter()
                .map(|p| StockDoc {
                    sku: p.sku.clone(),
                    on_hand: STOCK,
                    reserved: 0,
                    available: STOCK,
                    version: 1,
                    updated_at: now,
                })
                .collect();
            // Unordered: the server may apply a batch in any order, which is all we need.
            self.products
                .insert_many(products)
                .ordered(false)
                .await
                .context("insertMany into products")?;
            self.stock
                .insert_many(stock)
                .ordered(false)
                .await
                .context("insertMany into stock")?;
            next += n;
            count += n;
            progress(count);
        }
        Ok(Grown {
            before,
            after: count,
            inserted: next - bulk_before,
            seconds: started.elapsed().as_secs_f64(),
            complete: count >= total,
        })
    }
}

/// Units of stock of every bulk product.
const STOCK: i64 = 1_000;

/// Bulk product `n`: a demo product's name, category and price shape with a number, so
/// names spread over the alphabet (the default order is by name) and search finds them.
fn product(n: u64, now: bson::DateTime, demo: &[DemoProduct]) -> ProductDoc {
    let base = &demo[(n as usize) % demo.len()];
    let sku = format!("{SKU_PREFIX}{n:07}");
    let name = format!("{} No. {n}", base.name);
    let description = format!("{} Bulk product {sku}.", base.description);
    let price_minor = base.price_minor + (n % 100) as i64;
    ProductDoc {
        id: shop_kit::ProductId::generate().into_string(),
        words: shop_product::domain::product_words(&name, &description, &sku, base.category),
        name_sort: name.to_lowercase(),
        sku,
        name,
        description,
        price_minor,
        currency: base.currency.to_owned(),
        category: base.category.to_owned(),
        image_url: base.image_url.clone(),
        attributes: base.attributes.iter().cloned().collect(),
        archived: false,
        created_at: now,
        updated_at: now,
        version: 1,
        creation_key: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_products_are_valid_deterministic_and_distinct() {
        let now = bson::DateTime::now();
        let demo = demo_catalog();
        let a = product(12_345, now, &demo);
        let b = product(12_345, now, &demo);
        assert_eq!(
            (a.sku.as_str(), a.name.as_str()),
            (b.sku.as_str(), b.name.as_str())
        );
        assert_eq!(a.sku, "BULK-0012345");
        assert!(shop_kit::Sku::parse(&a.sku).is_ok());
        assert_ne!(product(1, now, &demo).name, product(2, now, &demo).name);
        assert!(a.words.contains(&"bulk".to_owned()), "{:?}", a.words);
        assert_eq!(a.name_sort, a.name.to_lowercase());
    }
}
