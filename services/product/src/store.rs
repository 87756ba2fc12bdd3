//! MongoDB persistence for products. Persistence only: validation and rules live in
//! `domain` and `api`.
//!
//! Indexes (created idempotently at start-up, listed in docs/catalog.md):
//! `sku` unique; `(category, name_sort, _id)`, `(name_sort, _id)`, `(price_minor, _id)` for
//! the list orders (ids are UUIDv7, so `_id` order is creation order); `words` multikey
//! for search.

use std::collections::{BTreeMap, HashSet};

use futures::TryStreamExt as _;
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::options::{FindOneAndUpdateOptions, IndexOptions, ReturnDocument};
use mongodb::{Collection, IndexModel};
use serde::{Deserialize, Serialize};

/// Products given their search words per round of [`Store::backfill_words`].
pub const BACKFILL_BATCH: i64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sku already exists")]
    DuplicateSku,
    /// The query outlived `catalog_query_max_time_ms` and the server stopped it.
    #[error("catalog query exceeded its time limit")]
    TimedOut,
    /// Some products could not be given their search words at start-up.
    #[error("backfilling search words: {0}")]
    Backfill(String),
    #[error(transparent)]
    Mongo(#[from] mongodb::error::Error),
}

impl StoreError {
    /// A query that ran into its `maxTimeMS` is load or an expensive filter, not a bug:
    /// MongoDB (and the stand-in) answer code 50 MaxTimeMSExpired, 262 ExceededTimeLimit
    /// on some paths.
    fn from_query(error: mongodb::error::Error) -> Self {
        use mongodb::error::ErrorKind;
        match error.kind.as_ref() {
            ErrorKind::Command(command) if matches!(command.code, 50 | 262) => Self::TimedOut,
            _ => Self::Mongo(error),
        }
    }
}

/// A product as stored. `name_sort` and `words` are derived from the other fields and
/// rewritten with them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub sku: String,
    pub name: String,
    pub name_sort: String,
    pub description: String,
    pub price_minor: i64,
    pub currency: String,
    pub category: String,
    pub image_url: String,
    pub attributes: BTreeMap<String, String>,
    pub archived: bool,
    pub created_at: bson::DateTime,
    pub updated_at: bson::DateTime,
    pub version: i64,
    /// The distinct words of name, description, SKU and category (`domain::product_words`).
    /// Products stored before search used it get it from [`Store::backfill_words`] at
    /// start-up; until then (or if an older replica wrote them) they read as having none.
    #[serde(default)]
    pub words: Vec<String>,
    /// The CreateProduct idempotency key that created this product, if any: a retry with
    /// the same key finds the product through its SKU and gets it back instead of an error.
    pub creation_key: Option<String>,
}

#[derive(Clone)]
pub struct Store {
    database: mongodb::Database,
    products: Collection<ProductDoc>,
    /// `maxTimeMS` of the catalog queries whose cost a client's filters decide.
    max_time: std::time::Duration,
}

/// Sort orders of the catalog, each a key plus `_id` as tie-breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    Name,
    PriceAsc,
    PriceDesc,
    Newest,
}

impl SortKey {
    fn field(self) -> &'static str {
        match self {
            SortKey::Name => "name_sort",
            SortKey::PriceAsc | SortKey::PriceDesc => "price_minor",
            SortKey::Newest => "_id",
        }
    }

    fn ascending(self) -> bool {
        matches!(self, SortKey::Name | SortKey::PriceAsc)
    }

    /// Where a page that ends with `product` stops, in this order.
    pub fn after(self, product: &ProductDoc) -> Result<After, uuid::Error> {
        let id = uuid::Uuid::parse_str(&product.id)?;
        Ok(match self {
            SortKey::Name => After::Name {
                name: product.name_sort.clone(),
                id,
            },
            SortKey::PriceAsc => After::PriceAsc {
                price: product.price_minor,
                id,
            },
            SortKey::PriceDesc => After::PriceDesc {
                price: product.price_minor,
                id,
            },
            SortKey::Newest => After::Newest { id },
        })
    }
}

/// Where the previous page ended: the sort key of its last item, typed per sort order (a
/// string or an integer, and a UUID), so a value taken from a page token can only ever be
/// compared with, never become a query operator. The variant is the sort order, so a
/// cursor of one order cannot continue another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "s", deny_unknown_fields)]
pub enum After {
    #[serde(rename = "n")]
    Name { name: String, id: uuid::Uuid },
    #[serde(rename = "pa")]
    PriceAsc { price: i64, id: uuid::Uuid },
    #[serde(rename = "pd")]
    PriceDesc { price: i64, id: uuid::Uuid },
    #[serde(rename = "new")]
    Newest { id: uuid::Uuid },
}

impl After {
    pub fn sort(&self) -> SortKey {
        match self {
            After::Name { .. } => SortKey::Name,
            After::PriceAsc { .. } => SortKey::PriceAsc,
            After::PriceDesc { .. } => SortKey::PriceDesc,
            After::Newest { .. } => SortKey::Newest,
        }
    }

    /// `key beyond last OR (key = last AND _id beyond last_id)`, with "beyond" in the
    /// direction of the sort order.
    fn filter(&self) -> Document {
        let beyond = if self.sort().ascending() {
            "$gt"
        } else {
            "$lt"
        };
        let (key, id) = match self {
            After::Name { name, id } => (Bson::String(name.clone()), id),
            After::PriceAsc { price, id } | After::PriceDesc { price, id } => {
                (Bson::Int64(*price), id)
            }
            After::Newest { id } => return doc! { "_id": { beyond: id.to_string() } },
        };
        let field = self.sort().field();
        doc! { "$or": [
            { field: { beyond: key.clone() } },
            { field: key, "_id": { beyond: id.to_string() } },
        ]}
    }
}

/// Where a page starts: at the beginning of a sort order or after an item of it (whose
/// cursor carries the order).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PageStart {
    First(SortKey),
    After(After),
}

impl PageStart {
    pub fn sort(&self) -> SortKey {
        match self {
            PageStart::First(sort) => *sort,
            PageStart::After(after) => after.sort(),
        }
    }
}

pub struct ListQuery<'a> {
    pub category: Option<&'a str>,
    /// Per search term, the words it stands for (`search::Vocabulary::expand`); a product
    /// must have one word of every term.
    pub expansions: &'a [Vec<String>],
    pub include_archived: bool,
    pub start: PageStart,
    pub limit: i64,
}

impl Store {
    /// `max_time` bounds list and batch queries on the server (`maxTimeMS`); zero leaves
    /// them unbounded.
    pub fn new(database: &mongodb::Database, max_time: std::time::Duration) -> Self {
        Self {
            database: database.clone(),
            products: database.collection("products"),
            max_time,
        }
    }

    pub async fn ensure_indexes(&self) -> Result<(), StoreError> {
        let index = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().name(name.to_owned()).build())
                .build()
        };
        let sku = IndexModel::builder()
            .keys(doc! { "sku": 1 })
            .options(
                IndexOptions::builder()
                    .name("sku_unique".to_owned())
                    .unique(true)
                    .build(),
            )
            .build();
        self.products
            .create_indexes([
                sku,
                index(
                    doc! { "category": 1, "name_sort": 1, "_id": 1 },
                    "category_name",
                ),
                index(doc! { "name_sort": 1, "_id": 1 }, "name"),
                index(doc! { "price_minor": 1, "_id": 1 }, "price"),
                index(doc! { "words": 1 }, "words"),
            ])
            .await?;
        Ok(())
    }

    pub async fn insert(&self, product: &ProductDoc) -> Result<(), StoreError> {
        self.products.insert_one(product).await.map_err(|error| {
            if shop_kit::mongo::is_duplicate_key(&error) {
                StoreError::DuplicateSku
            } else {
                StoreError::Mongo(error)
            }
        })?;
        Ok(())
    }

    pub async fn by_id(&self, id: &str) -> Result<Option<ProductDoc>, StoreError> {
        Ok(self.products.find_one(doc! { "_id": id }).await?)
    }

    pub async fn by_sku(&self, sku: &str) -> Result<Option<ProductDoc>, StoreError> {
        Ok(self.products.find_one(doc! { "sku": sku }).await?)
    }

    /// Every product whose id is in `ids` or whose SKU is in `skus`, in one round trip.
    pub async fn many(
        &self,
        ids: &[String],
        skus: &[String],
    ) -> Result<Vec<ProductDoc>, StoreError> {
        if ids.is_empty() && skus.is_empty() {
            return Ok(Vec::new());
        }
        let filter = doc! { "$or": [
            { "_id": { "$in": ids } },
            { "sku": { "$in": skus } },
        ]};
        self.products
            .find(filter)
            .max_time(self.max_time)
            .await
            .map_err(StoreError::from_query)?
            .try_collect()
            .await
            .map_err(StoreError::from_query)
    }

    /// Replaces the listed fields if the product is still at `version`; `None` when it is
    /// not (someone else changed it first) or does not exist.
    pub async fn update_if_version(
        &self,
        id: &str,
        version: i64,
        mut set: Document,
    ) -> Result<Option<ProductDoc>, StoreError> {
        set.insert("updated_at", bson::DateTime::now());
        let options = FindOneAndUpdateOptions::builder()
            .return_document(ReturnDocument::After)
            .build();
        Ok(self
            .products
            .find_one_and_update(
                doc! { "_id": id, "version": version },
                doc! { "$set": set, "$inc": { "version": 1 } },
            )
            .with_options(options)
            .await?)
    }

    /// One page of the catalog in `query.sort` order after `query.after` (keyset paging:
    /// concurrent inserts never shift items between pages).
    pub async fn list(&self, query: ListQuery<'_>) -> Result<Vec<ProductDoc>, StoreError> {
        let mut clauses: Vec<Document> = Vec::new();
        if !query.include_archived {
            clauses.push(doc! { "archived": false });
        }
        if let Some(category) = query.category {
            clauses.push(doc! { "category": category });
        }
        for words in query.expansions {
            clauses.push(doc! { "words": { "$in": words } });
        }
        let sort = query.start.sort();
        if let PageStart::After(after) = &query.start {
            clauses.push(after.filter());
        }
        let filter = match clauses.len() {
            0 => doc! {},
            1 => clauses.remove(0),
            _ => doc! { "$and": clauses },
        };
        let field = sort.field();
        let direction = if sort.ascending() { 1 } else { -1 };
        let order = if field == "_id" {
            doc! { "_id": direction }
        } else {
            doc! { field: direction, "_id": direction }
        };
        self.products
            .find(filter)
            .sort(order)
            .limit(query.limit)
            .max_time(self.max_time)
            .await
            .map_err(StoreError::from_query)?
            .try_collect()
            .await
            .map_err(StoreError::from_query)
    }

    /// Every distinct word of the catalog, and those of them that non-archived products
    /// have: what search terms are expanded against. Two `distinct` commands, each bounded by
    /// `maxTimeMS` (and, on MongoDB, by the 16 MiB reply limit, a few million words).
    pub async fn vocabulary(&self) -> Result<(Vec<String>, HashSet<String>), StoreError> {
        let strings = |values: Vec<Bson>| {
            values.into_iter().filter_map(|value| match value {
                Bson::String(word) => Some(word),
                _ => None,
            })
        };
        let all = self
            .products
            .distinct("words", doc! {})
            .max_time(self.max_time)
            .await
            .map_err(StoreError::from_query)?;
        let live = self
            .products
            .distinct("words", doc! { "archived": false })
            .max_time(self.max_time)
            .await
            .map_err(StoreError::from_query)?;
        Ok((strings(all).collect(), strings(live).collect()))
    }

    /// The categories of non-archived products with how many each, sorted by slug, at most
    /// `limit`: one `$match` + `$group` aggregation, so the server counts and only one
    /// document per category comes back.
    pub async fn categories(&self, limit: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let pipeline = [
            doc! { "$match": { "archived": false } },
            doc! { "$group": { "_id": "$category", "count": { "$sum": 1 } } },
            doc! { "$sort": { "_id": 1 } },
            doc! { "$limit": limit },
        ];
        let groups: Vec<Document> = self
            .products
            .aggregate(pipeline)
            .max_time(self.max_time)
            .await
            .map_err(StoreError::from_query)?
            .try_collect()
            .await
            .map_err(StoreError::from_query)?;
        let mut categories: Vec<(String, i64)> = groups
            .iter()
            .filter_map(|group| {
                let slug = group.get_str("_id").ok()?;
                let count = match group.get("count")? {
                    Bson::Int32(count) => i64::from(*count),
                    Bson::Int64(count) => *count,
                    Bson::Double(count) => *count as i64,
                    _ => return None,
                };
                Some((slug.to_owned(), count))
            })
            .collect();
        // The stand-in sorts, but the order is the contract: do not rely on a server for it.
        categories.sort();
        Ok(categories)
    }

    /// Gives every product stored without `words` (before search used them) its words, in
    /// batches of [`BACKFILL_BATCH`]; returns how many it changed. Idempotent and safe to
    /// run on several replicas at once: each update only applies to a product still
    /// without words, and the number of batches is bounded by the count at the start.
    pub async fn backfill_words(&self) -> Result<u64, StoreError> {
        let raw = self.products.clone_with_type::<Document>();
        let missing = doc! { "words": { "$exists": false } };
        let pending = raw.count_documents(missing.clone()).await?;
        let mut changed = 0;
        for _ in 0..pending.div_ceil(BACKFILL_BATCH as u64) {
            let batch: Vec<Document> = raw
                .find(missing.clone())
                .projection(doc! { "name": 1, "description": 1, "sku": 1, "category": 1 })
                .limit(BACKFILL_BATCH)
                .await?
                .try_collect()
                .await?;
            if batch.is_empty() {
                break;
            }
            // One `update` command per batch (any MongoDB takes many statements in one), not
            // one round trip per product: on the stand-in that is ten times faster.
            let updates: Vec<Document> = batch
                .iter()
                .filter_map(|product| {
                    let id = product.get("_id")?;
                    let text = |field: &str| product.get_str(field).unwrap_or_default();
                    let words = crate::domain::product_words(
                        text("name"),
                        text("description"),
                        text("sku"),
                        text("category"),
                    );
                    Some(doc! {
                        "q": { "_id": id.clone(), "words": { "$exists": false } },
                        "u": { "$set": { "words": words } },
                    })
                })
                .collect();
            let reply = self
                .database
                .run_command(doc! {
                    "update": self.products.name(),
                    "updates": updates,
                    "ordered": false,
                })
                .await?;
            if let Ok(errors) = reply.get_array("writeErrors")
                && let Some(first) = errors.first()
            {
                return Err(StoreError::Backfill(format!(
                    "{} of {} products not updated, first: {first}",
                    errors.len(),
                    batch.len()
                )));
            }
            changed += match reply.get("nModified") {
                Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or_default(),
                Some(Bson::Int64(n)) => u64::try_from(*n).unwrap_or_default(),
                _ => 0,
            };
        }
        Ok(changed)
    }
}
