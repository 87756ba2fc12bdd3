//! MongoDB persistence for products. Persistence only: validation and rules live in
//! `domain` and `api`.
//!
//! Indexes (created idempotently at start-up, listed in docs/catalog.md):
//! `sku` unique; `(category, name_sort, _id)`, `(name_sort, _id)`, `(price_minor, _id)` for
//! the list orders (ids are UUIDv7, so `_id` order is creation order); `keywords` multikey
//! for search.

use std::collections::BTreeMap;

use futures::TryStreamExt as _;
use mongodb::bson::{self, Bson, Document, doc};
use mongodb::options::{FindOneAndUpdateOptions, IndexOptions, ReturnDocument};
use mongodb::{Collection, IndexModel};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sku already exists")]
    DuplicateSku,
    #[error(transparent)]
    Mongo(#[from] mongodb::error::Error),
}

/// A product as stored. `name_sort` and `keywords` are derived from the other fields and
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
    pub keywords: Vec<String>,
    /// The CreateProduct idempotency key that created this product, if any: a retry with
    /// the same key finds the product through its SKU and gets it back instead of an error.
    pub creation_key: Option<String>,
}

#[derive(Clone)]
pub struct Store {
    products: Collection<ProductDoc>,
}

/// Sort orders of the catalog, each a key plus `_id` as tie-breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

    /// The sort-key value of `product`, as stored in page tokens.
    pub fn value_of(self, product: &ProductDoc) -> Bson {
        match self {
            SortKey::Name => Bson::String(product.name_sort.clone()),
            SortKey::PriceAsc | SortKey::PriceDesc => Bson::Int64(product.price_minor),
            SortKey::Newest => Bson::String(product.id.clone()),
        }
    }
}

/// Where the previous page ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct After {
    pub key: Bson,
    pub id: String,
}

pub struct ListQuery<'a> {
    pub category: Option<&'a str>,
    pub terms: &'a [String],
    pub include_archived: bool,
    pub sort: SortKey,
    pub after: Option<After>,
    pub limit: i64,
}

impl Store {
    pub fn new(database: &mongodb::Database) -> Self {
        Self {
            products: database.collection("products"),
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
                index(doc! { "keywords": 1 }, "keywords"),
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
        Ok(self.products.find(filter).await?.try_collect().await?)
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
        if !query.terms.is_empty() {
            clauses.push(doc! { "keywords": { "$all": query.terms } });
        }
        let field = query.sort.field();
        let (direction, beyond) = if query.sort.ascending() {
            (1, "$gt")
        } else {
            (-1, "$lt")
        };
        if let Some(after) = query.after {
            if field == "_id" {
                clauses.push(doc! { "_id": { beyond: after.id } });
            } else {
                clauses.push(doc! { "$or": [
                    { field: { beyond: after.key.clone() } },
                    { field: after.key, "_id": { beyond: after.id } },
                ]});
            }
        }
        let filter = match clauses.len() {
            0 => doc! {},
            1 => clauses.remove(0),
            _ => doc! { "$and": clauses },
        };
        let sort = if field == "_id" {
            doc! { "_id": direction }
        } else {
            doc! { field: direction, "_id": direction }
        };
        Ok(self
            .products
            .find(filter)
            .sort(sort)
            .limit(query.limit)
            .await?
            .try_collect()
            .await?)
    }
}
