//! This replica's in-process read model of the catalog: products by id and by SKU, whole
//! ListProducts pages, and the two catalog-wide summaries (search vocabulary, category
//! counts).
//!
//! Catalog reads (cart pricing, product pages, DataLoaders, catalog pages) vastly outnumber
//! writes, and the MongoDB stand-in serves only about a thousand point reads and a few dozen
//! catalog pages per second. So a warm read costs no database round trip, and every write
//! empties what it may have made stale: this replica's own writes at once (before the write
//! is answered), every other replica's when their `product.changed` arrives on this
//! replica's queue (`events::CacheInvalidation`). The TTL is only the backstop for an event
//! that never arrives (its publish is best effort).
//!
//! Pages are not invalidated one by one: any change can move a product into, out of or
//! across any page (a new name sorts anywhere, a price moves it between pages), so a change
//! starts a new *generation* and pages of older generations are never served again.
//! Catalog writes are rare next to reads, so the price is one cold read per distinct page
//! after each write.
//!
//! The race a generation closes: a read that started before a change can finish after its
//! invalidation, holding what the database had before. Every read notes the generation it
//! started in; a page is stored under that generation (which later readers never look up),
//! and a product is kept only if no change began meanwhile. A change bumps the generation
//! *before* it drops entries, so a reader either sees the bump or has stored its entry
//! before the drop.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prost::Message as _;
use shop_proto::shop::product::v1 as pb;
use tonic::Status;

use crate::page_token::Query;
use crate::search::{Summary, Vocabulary};
use crate::store::{PageStart, ProductDoc};

/// A ListProducts request, normalised: two requests with the same key get the same page.
/// Built only from a verified page token (its cursor) and checked fields, after the
/// caller's rights were checked, so the cache never decides who may see what.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub query: Query,
    pub start: PageStart,
    pub page_size: u32,
}

/// A page as read from the database.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub page: pb::ListProductsResponse,
    /// `false` when it was read with a stand-in for something that could not be read (a
    /// search vocabulary): served to the readers waiting for it, then dropped.
    pub reusable: bool,
}

/// The generation a read started in ([`ReadModel::generation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

/// What a cached page costs beside its encoded size: key, entry and `Arc` bookkeeping.
const PAGE_OVERHEAD_BYTES: usize = 256;

/// Cheap to clone: every part is shared.
#[derive(Clone)]
pub struct ReadModel {
    by_id: moka::future::Cache<String, Arc<ProductDoc>>,
    by_sku: moka::future::Cache<String, Arc<ProductDoc>>,
    /// Pages by the generation they were read in and their query; weighed in bytes.
    pages: moka::future::Cache<(u64, PageKey), Arc<Loaded>>,
    generation: Arc<AtomicU64>,
    /// The catalog's words that search terms expand into (see `search`).
    pub vocabulary: Arc<Summary<Vocabulary>>,
    /// ListCategories' answer: a catalog-wide aggregation, reused rather than run on every
    /// storefront page load.
    pub categories: Arc<Summary<Vec<pb::CategoryCount>>>,
    products_enabled: bool,
    pages_enabled: bool,
}

impl ReadModel {
    /// `ttl` bounds how long a product or page may be served after a change whose event
    /// was lost; zero turns both caches off. At most `capacity` products (per key) and
    /// `page_bytes` of pages (encoded size plus bookkeeping) are held, the least used
    /// evicted first; `page_bytes` zero turns the page cache alone off. `summary_ttl`: how
    /// long the vocabulary and the category counts are reused without a change.
    pub fn new(ttl: Duration, capacity: u64, page_bytes: u64, summary_ttl: Duration) -> Self {
        let products = || {
            moka::future::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl.max(Duration::from_millis(1)))
                .build()
        };
        let pages = moka::future::Cache::builder()
            .max_capacity(page_bytes)
            .weigher(|_, loaded: &Arc<Loaded>| {
                u32::try_from(loaded.page.encoded_len() + PAGE_OVERHEAD_BYTES).unwrap_or(u32::MAX)
            })
            .time_to_live(ttl.max(Duration::from_millis(1)))
            .build();
        Self {
            by_id: products(),
            by_sku: products(),
            pages,
            generation: Arc::new(AtomicU64::new(0)),
            vocabulary: Arc::new(Summary::new("search vocabulary", summary_ttl)),
            categories: Arc::new(Summary::new("category counts", summary_ttl)),
            products_enabled: !ttl.is_zero(),
            pages_enabled: !ttl.is_zero() && page_bytes > 0,
        }
    }

    /// Note this before reading the database for [`ReadModel::put`].
    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::Acquire))
    }

    pub async fn get_id(&self, id: &str) -> Option<Arc<ProductDoc>> {
        if !self.products_enabled {
            return None;
        }
        self.by_id.get(id).await
    }

    pub async fn get_sku(&self, sku: &str) -> Option<Arc<ProductDoc>> {
        if !self.products_enabled {
            return None;
        }
        self.by_sku.get(sku).await
    }

    /// Keeps `product`, read from the database after `read_in` was noted, unless a change
    /// began since (then it may predate the change, and the next read fetches it again).
    pub async fn put(&self, product: Arc<ProductDoc>, read_in: Generation) {
        if !self.products_enabled || self.generation() != read_in {
            return;
        }
        self.by_sku
            .insert(product.sku.clone(), product.clone())
            .await;
        self.by_id.insert(product.id.clone(), product.clone()).await;
        // A change that began between the check and the inserts may have dropped the
        // product before they landed: drop it again (a wasted read at worst).
        if self.generation() != read_in {
            self.forget(&product.id, &product.sku).await;
        }
    }

    /// The page for `key`: the one read in this generation if held, else `load`'s, which
    /// is kept for later readers of this generation if reusable. Concurrent misses of one
    /// key share a single load; errors are not kept.
    pub async fn page<F>(&self, key: PageKey, load: F) -> Result<Arc<Loaded>, Status>
    where
        F: Future<Output = Result<Loaded, Status>>,
    {
        if !self.pages_enabled {
            return load.await.map(Arc::new);
        }
        let Generation(generation) = self.generation();
        let key = (generation, key);
        let page = self
            .pages
            .try_get_with_by_ref(&key, async { load.await.map(Arc::new) })
            .await
            .map_err(|error| Status::clone(&error))?;
        // Read across a change, no later reader looks it up: free its room now.
        if !page.reusable || self.generation.load(Ordering::Acquire) != generation {
            self.pages.invalidate(&key).await;
        }
        Ok(page)
    }

    /// A product this replica just wrote (committed): its own next reads see the write.
    pub async fn wrote(&self, product: &ProductDoc) {
        self.begin_change();
        self.forget(&product.id, &product.sku).await;
        // Its words join the vocabulary in place (removed words linger until the next
        // refresh, where they only cost a value in `$in`); the counts are read afresh.
        if !product.archived {
            self.vocabulary
                .update(|vocabulary| vocabulary.add_live(&product.words))
                .await;
        }
        self.categories.invalidate().await;
        self.end_change();
    }

    /// A product another replica changed (`product.changed`; this replica's own come back
    /// too and cost one more refresh). The event names no words or category, so both
    /// summaries are read afresh by the next caller that needs them.
    pub async fn changed_elsewhere(&self, id: &str, sku: &str) {
        self.begin_change();
        self.forget(id, sku).await;
        // Waits for a summary read in flight, then drops it: it may predate the change.
        self.vocabulary.invalidate().await;
        self.categories.invalidate().await;
        self.end_change();
    }

    /// Bumped before entries are dropped (see the module doc).
    fn begin_change(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Bumped again once the summaries are current, so a page read with a summary from
    /// before the change (between the first bump and its refresh) is never served; the old
    /// pages go, their room freed by moka's maintenance.
    fn end_change(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.pages.invalidate_all();
    }

    async fn forget(&self, id: &str, sku: &str) {
        self.by_id.invalidate(id).await;
        self.by_sku.invalidate(sku).await;
    }

    /// Pages held and their weight in bytes, after pending evictions: for tests and
    /// diagnostics.
    pub async fn pages_held(&self) -> (u64, u64) {
        self.pages.run_pending_tasks().await;
        (self.pages.entry_count(), self.pages.weighted_size())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(page_bytes: u64) -> ReadModel {
        ReadModel::new(
            Duration::from_secs(600),
            100,
            page_bytes,
            Duration::from_secs(5),
        )
    }

    fn key(category: &str) -> PageKey {
        PageKey {
            query: Query {
                category: category.into(),
                terms: Vec::new(),
                archived: false,
            },
            start: PageStart::First(crate::store::SortKey::Name),
            page_size: 20,
        }
    }

    fn page(name: &str, products: usize) -> Loaded {
        Loaded {
            page: pb::ListProductsResponse {
                products: (0..products)
                    .map(|i| pb::Product {
                        name: format!("{name} {i}"),
                        description: "x".repeat(200),
                        ..Default::default()
                    })
                    .collect(),
                next_page_token: String::new(),
            },
            reusable: true,
        }
    }

    fn product(version: i64) -> ProductDoc {
        let now = mongodb::bson::DateTime::now();
        ProductDoc {
            id: "0190aaaa-0000-7000-8000-000000000001".into(),
            sku: "MUG-1".into(),
            name: format!("Mug v{version}"),
            name_sort: format!("mug v{version}"),
            description: String::new(),
            price_minor: 100,
            currency: "EUR".into(),
            category: "kitchen".into(),
            image_url: String::new(),
            attributes: Default::default(),
            archived: false,
            created_at: now,
            updated_at: now,
            version,
            words: vec!["mug".into()],
            creation_key: None,
        }
    }

    async fn names(model: &ReadModel, key: PageKey, fresh: &str) -> String {
        let served = model
            .page(key, async { Ok(page(fresh, 1)) })
            .await
            .expect("page");
        served.page.products[0].name.clone()
    }

    #[tokio::test]
    async fn a_page_is_read_once_until_a_change() {
        let model = model(1 << 20);
        assert_eq!(names(&model, key("a"), "first").await, "first 0");
        assert_eq!(names(&model, key("a"), "second").await, "first 0");
        assert_eq!(names(&model, key("b"), "other").await, "other 0");
        model.changed_elsewhere("id", "SKU").await;
        assert_eq!(names(&model, key("a"), "third").await, "third 0");
        model.wrote(&product(2)).await;
        assert_eq!(names(&model, key("a"), "fourth").await, "fourth 0");
        assert_eq!(names(&model, key("a"), "fifth").await, "fourth 0");
    }

    /// The race of the module doc, made deterministic: the database answers only after the
    /// change has been handled.
    #[tokio::test]
    async fn a_page_read_across_a_change_is_never_served_after_it() {
        for own_write in [false, true] {
            let model = model(1 << 20);
            let (answer, answered) = tokio::sync::oneshot::channel::<()>();
            let read = model.page(key("a"), async {
                let _ = answered.await;
                Ok(page("before the change", 1))
            });
            let change = async {
                if own_write {
                    model.wrote(&product(2)).await;
                } else {
                    model.changed_elsewhere("id", "SKU").await;
                }
                let _ = answer.send(());
            };
            let (raced, ()) = tokio::join!(read, change);
            // The racing reader gets what it read (it started before the change)...
            assert_eq!(
                raced.expect("page").page.products[0].name,
                "before the change 0"
            );
            // ...and nobody after it does.
            assert_eq!(
                names(&model, key("a"), "after").await,
                "after 0",
                "own write: {own_write}"
            );
        }
    }

    #[tokio::test]
    async fn a_product_read_across_a_change_is_not_kept() {
        let model = model(1 << 20);
        let read_in = model.generation();
        model
            .changed_elsewhere(&product(1).id, &product(1).sku)
            .await;
        model.put(Arc::new(product(1)), read_in).await;
        assert!(model.get_id(&product(1).id).await.is_none());
        assert!(model.get_sku("MUG-1").await.is_none());
        // Read after the change: kept.
        let read_in = model.generation();
        model.put(Arc::new(product(2)), read_in).await;
        let held = model.get_sku("MUG-1").await.expect("held");
        assert_eq!(held.version, 2);
    }

    #[tokio::test]
    async fn pages_are_bounded_in_bytes_and_the_least_used_go() {
        let weight = (page("p", 20).page.encoded_len() + PAGE_OVERHEAD_BYTES) as u64;
        let model = model(5 * weight);
        for round in 0..3 {
            for category in 0..40 {
                model
                    .page(key(&format!("c{category}")), async {
                        Ok(page(&format!("p{round}"), 20))
                    })
                    .await
                    .expect("page");
            }
        }
        let (held, bytes) = model.pages_held().await;
        assert!(
            bytes <= 5 * weight,
            "{bytes} bytes held, bound {}",
            5 * weight
        );
        assert!((1..=5).contains(&held), "{held} pages held");
        // A page larger than the whole bound is served but never held.
        let model = ReadModel::new(
            Duration::from_secs(600),
            100,
            weight / 2,
            Duration::from_secs(5),
        );
        for _ in 0..3 {
            model
                .page(key("big"), async { Ok(page("big", 20)) })
                .await
                .expect("page");
        }
        assert_eq!(model.pages_held().await, (0, 0));
    }

    #[tokio::test]
    async fn a_page_read_without_its_vocabulary_is_served_but_not_kept() {
        let model = model(1 << 20);
        let degraded = Loaded {
            reusable: false,
            ..page("whole words only", 1)
        };
        let served = model
            .page(key("a"), async { Ok(degraded) })
            .await
            .expect("page");
        assert_eq!(served.page.products[0].name, "whole words only 0");
        assert_eq!(names(&model, key("a"), "with words").await, "with words 0");
        assert_eq!(names(&model, key("a"), "again").await, "with words 0");
    }

    #[tokio::test]
    async fn errors_are_not_kept() {
        let model = model(1 << 20);
        let failed = model
            .page(key("a"), async { Err(Status::unavailable("busy")) })
            .await
            .expect_err("the load's error");
        assert_eq!(failed.code(), tonic::Code::Unavailable);
        assert_eq!(names(&model, key("a"), "ok").await, "ok 0");
    }

    #[tokio::test]
    async fn zero_bytes_or_a_zero_ttl_turn_pages_off() {
        for model in [
            model(0),
            ReadModel::new(Duration::ZERO, 100, 1 << 20, Duration::from_secs(5)),
        ] {
            assert_eq!(names(&model, key("a"), "first").await, "first 0");
            assert_eq!(names(&model, key("a"), "second").await, "second 0");
        }
    }
}
