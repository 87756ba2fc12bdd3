//! `shop.product.v1.ProductService`: catalog reads for everyone, writes for admins.

use std::collections::HashSet;
use std::sync::Arc;

use mongodb::bson::{self, doc};
use shop_kit::auth;
use shop_kit::paging;
use shop_kit::{IdempotencyKey, ProductId, ServiceError, Sku};
use shop_proto::shop::product::v1::{self as pb, product_service_server::ProductService};
use tonic::{Request, Response, Status};

use crate::cache::{Loaded, PageKey, ReadModel};
use crate::domain::{
    self, CreateProduct, NewProduct, ProductPatch, UpdateProduct, parse_product_id,
};
use crate::page_token::{self, TokenKeys};
use crate::search::Vocabulary;
use crate::store::{ListQuery, PageStart, ProductDoc, SortKey, Store, StoreError};

use shop_proto::limits::PRODUCT_BATCH_MAX as MAX_BATCH;
const DEFAULT_PAGE_SIZE: u32 = 20;
const MAX_PAGE_SIZE: u32 = 100;
/// Optimistic updates without an expected version retry this often under contention.
const UPDATE_ATTEMPTS: usize = 5;
/// ListCategories answers at most this many (the proto says so): a bounded reply.
const MAX_CATEGORIES: i64 = 1000;

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::DuplicateSku => ServiceError::AlreadyExists {
                reason: "SKU_TAKEN",
                message: "a product with this SKU already exists".into(),
            },
            StoreError::TimedOut => ServiceError::Unavailable(
                "the catalog query took too long; retry, or narrow the search".into(),
            ),
            StoreError::Mongo(error) => ServiceError::internal(error),
            StoreError::Backfill(why) => ServiceError::internal(anyhow::anyhow!(why)),
        }
    }
}

#[derive(Clone)]
pub struct ProductApi {
    store: Store,
    /// Products, pages and summaries served from memory (shared with this replica's
    /// `events::CacheInvalidation`).
    read_model: ReadModel,
    publisher: shop_bus::Publisher,
    tokens: TokenKeys,
}

fn timestamp(time: mongodb::bson::DateTime) -> prost_types::Timestamp {
    shop_kit::time::from_millis(time.timestamp_millis())
}

pub fn to_proto(product: &ProductDoc) -> pb::Product {
    pb::Product {
        id: product.id.clone(),
        sku: product.sku.clone(),
        name: product.name.clone(),
        description: product.description.clone(),
        price: Some(shop_proto::shop::common::v1::Money {
            amount_minor: product.price_minor,
            currency: product.currency.clone(),
        }),
        category: product.category.clone(),
        image_url: product.image_url.clone(),
        attributes: product.attributes.clone().into_iter().collect(),
        archived: product.archived,
        created_at: Some(timestamp(product.created_at)),
        updated_at: Some(timestamp(product.updated_at)),
        version: product.version,
    }
}

fn new_doc(product: NewProduct, creation_key: Option<String>) -> ProductDoc {
    let now = bson::DateTime::now();
    ProductDoc {
        id: shop_kit::ProductId::generate().into_string(),
        words: domain::product_words(
            &product.name,
            &product.description,
            product.sku.as_str(),
            &product.category,
        ),
        name_sort: product.name.to_lowercase(),
        sku: product.sku.into_string(),
        name: product.name,
        description: product.description,
        price_minor: product.price.amount_minor(),
        currency: product.price.currency().code().to_owned(),
        category: product.category,
        image_url: product.image_url,
        attributes: product.attributes,
        archived: false,
        created_at: now,
        updated_at: now,
        version: 1,
        creation_key,
    }
}

/// The `$set` document that applies `patch` to `current`, re-deriving search fields.
fn patch_document(
    current: &ProductDoc,
    patch: &ProductPatch,
) -> Result<bson::Document, ServiceError> {
    let mut set = bson::Document::new();
    let name = patch.name.as_deref().unwrap_or(&current.name);
    let description = patch.description.as_deref().unwrap_or(&current.description);
    let category = patch.category.as_deref().unwrap_or(&current.category);
    if let Some(name) = &patch.name {
        set.insert("name", name);
        set.insert("name_sort", name.to_lowercase());
    }
    if let Some(description) = &patch.description {
        set.insert("description", description);
    }
    if let Some(price) = patch.price {
        set.insert("price_minor", price.amount_minor());
        set.insert("currency", price.currency().code());
    }
    if let Some(category) = &patch.category {
        set.insert("category", category);
    }
    if let Some(image_url) = &patch.image_url {
        set.insert("image_url", image_url);
    }
    if let Some(attributes) = &patch.attributes {
        set.insert(
            "attributes",
            bson::to_bson(attributes).map_err(ServiceError::internal)?,
        );
    }
    set.insert(
        "words",
        domain::product_words(name, description, &current.sku, category),
    );
    Ok(set)
}

impl ProductApi {
    pub fn new(
        store: Store,
        read_model: ReadModel,
        publisher: shop_bus::Publisher,
        tokens: TokenKeys,
    ) -> Self {
        Self {
            store,
            read_model,
            publisher,
            tokens,
        }
    }

    /// The search vocabulary, `None` if it cannot be read (and there is no earlier one to
    /// serve): search then degrades to whole words (every term stands for itself) rather
    /// than failing, and the list query that follows reports a database that is really down.
    async fn vocabulary(&self) -> Option<Arc<Vocabulary>> {
        let store = &self.store;
        let fetched = self
            .read_model
            .vocabulary
            .get(|| async {
                let (all, live) = store.vocabulary().await?;
                Ok::<_, StoreError>(Vocabulary::new(all, &live))
            })
            .await;
        fetched
            .inspect_err(|error| {
                tracing::warn!(%error, "could not read the search vocabulary; matching whole words only");
            })
            .ok()
    }

    /// Tells every replica (and the BFF) that `product` changed, so their caches drop it.
    /// Best effort: the change is committed already, and caches expire on their own (TTL).
    async fn announce(&self, product: &ProductDoc) {
        use shop_proto::shop::events::v1::{ProductChanged, envelope::Payload};
        let event = shop_bus::new_event(
            &product.id,
            Payload::ProductChanged(ProductChanged {
                product_id: product.id.clone(),
                sku: product.sku.clone(),
                version: product.version,
                archived: product.archived,
            }),
        );
        if let Err(error) = self.publisher.publish(&event).await {
            tracing::warn!(product_id = %product.id, %error, "could not announce product.changed");
        }
    }

    async fn by_id(&self, id: &str) -> Result<Arc<ProductDoc>, ServiceError> {
        if let Some(hit) = self.read_model.get_id(id).await {
            return Ok(hit);
        }
        let generation = self.read_model.generation();
        let product = Arc::new(
            self.store
                .by_id(id)
                .await?
                .ok_or_else(|| ServiceError::not_found("product", id))?,
        );
        self.read_model.put(product.clone(), generation).await;
        Ok(product)
    }

    async fn by_sku(&self, sku: &Sku) -> Result<Arc<ProductDoc>, ServiceError> {
        if let Some(hit) = self.read_model.get_sku(sku.as_str()).await {
            return Ok(hit);
        }
        let generation = self.read_model.generation();
        let product = Arc::new(
            self.store
                .by_sku(sku.as_str())
                .await?
                .ok_or_else(|| ServiceError::not_found("product", sku.as_str()))?,
        );
        self.read_model.put(product.clone(), generation).await;
        Ok(product)
    }

    /// Applies `change` to the current product with optimistic concurrency: with an
    /// `expected_version` a stale caller gets ABORTED; without one, a lost race is retried
    /// on the fresh document.
    async fn update_with<F>(
        &self,
        id: &str,
        expected_version: i64,
        change: F,
    ) -> Result<ProductDoc, ServiceError>
    where
        F: Fn(&ProductDoc) -> Result<Option<bson::Document>, ServiceError>,
    {
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self
                .store
                .by_id(id)
                .await?
                .ok_or_else(|| ServiceError::not_found("product", id))?;
            if expected_version > 0 && current.version != expected_version {
                return Err(ServiceError::Aborted {
                    reason: "VERSION_MISMATCH",
                    message: format!(
                        "product {id} is at version {}, not {expected_version}; re-read and retry",
                        current.version
                    ),
                });
            }
            let Some(set) = change(&current)? else {
                return Ok(current);
            };
            if let Some(updated) = self
                .store
                .update_if_version(id, current.version, set)
                .await?
            {
                self.read_model.wrote(&updated).await;
                self.announce(&updated).await;
                return Ok(updated);
            }
        }
        Err(ServiceError::Aborted {
            reason: "CONCURRENT_UPDATE",
            message: format!("product {id} is being changed concurrently; retry"),
        })
    }

    /// One ListProducts page from the database: what [`ReadModel::page`] serves again
    /// until the next change, unless search had to do without its vocabulary.
    async fn read_page(&self, key: PageKey) -> Result<Loaded, Status> {
        let PageKey {
            query,
            start,
            page_size,
        } = key;
        let sort = start.sort();
        let mut reusable = true;
        let expansions: Vec<Vec<String>> = if query.terms.is_empty() {
            Vec::new()
        } else {
            let vocabulary = self.vocabulary().await;
            reusable = vocabulary.is_some();
            let vocabulary = vocabulary.unwrap_or_default();
            query
                .terms
                .iter()
                .map(|term| vocabulary.expand(term, query.archived))
                .collect()
        };
        let mut products = self
            .store
            .list(ListQuery {
                category: (!query.category.is_empty()).then_some(query.category.as_str()),
                expansions: &expansions,
                include_archived: query.archived,
                start,
                limit: i64::from(page_size) + 1,
            })
            .await
            .map_err(ServiceError::from)?;
        let next_page_token = if products.len() > page_size as usize {
            products.truncate(page_size as usize);
            match products.last() {
                Some(last) => {
                    let after = sort.after(last).map_err(ServiceError::internal)?;
                    self.tokens
                        .issue(&query, after)
                        .map_err(ServiceError::internal)?
                }
                None => String::new(),
            }
        } else {
            String::new()
        };
        Ok(Loaded {
            page: pb::ListProductsResponse {
                products: products.iter().map(to_proto).collect(),
                next_page_token,
            },
            reusable,
        })
    }
}

#[tonic::async_trait]
impl ProductService for ProductApi {
    #[tracing::instrument(skip_all, fields(sku))]
    async fn create_product(
        &self,
        request: Request<pb::CreateProductRequest>,
    ) -> Result<Response<pb::CreateProductResponse>, Status> {
        auth::require_admin(&request)?;
        let CreateProduct { product: new, key } = CreateProduct::parse(request.get_ref())?;
        tracing::Span::current().record("sku", new.sku.as_str());
        let key = key.map(IdempotencyKey::into_string);
        let doc = new_doc(new, key.clone());
        match self.store.insert(&doc).await {
            Ok(()) => {
                self.read_model.wrote(&doc).await;
                self.announce(&doc).await;
                Ok(Response::new(pb::CreateProductResponse {
                    product: Some(to_proto(&doc)),
                }))
            }
            Err(StoreError::DuplicateSku) => {
                // A retry of a create that already happened gets the product back.
                let existing = self
                    .store
                    .by_sku(&doc.sku)
                    .await
                    .map_err(ServiceError::from)?;
                match existing {
                    Some(existing) if key.is_some() && existing.creation_key == key => {
                        Ok(Response::new(pb::CreateProductResponse {
                            product: Some(to_proto(&existing)),
                        }))
                    }
                    _ => Err(ServiceError::from(StoreError::DuplicateSku).into()),
                }
            }
            Err(other) => Err(ServiceError::from(other).into()),
        }
    }

    #[tracing::instrument(skip_all, fields(product_id))]
    async fn update_product(
        &self,
        request: Request<pb::UpdateProductRequest>,
    ) -> Result<Response<pb::UpdateProductResponse>, Status> {
        auth::require_admin(&request)?;
        let UpdateProduct {
            id,
            expected_version,
            patch,
        } = UpdateProduct::parse(request.get_ref())?;
        tracing::Span::current().record("product_id", id.as_str());
        let updated = self
            .update_with(id.as_str(), expected_version, |current| {
                patch_document(current, &patch).map(Some)
            })
            .await?;
        Ok(Response::new(pb::UpdateProductResponse {
            product: Some(to_proto(&updated)),
        }))
    }

    #[tracing::instrument(skip_all, fields(product_id))]
    async fn archive_product(
        &self,
        request: Request<pb::ArchiveProductRequest>,
    ) -> Result<Response<pb::ArchiveProductResponse>, Status> {
        auth::require_admin(&request)?;
        let request = request.into_inner();
        let id = parse_product_id(&request.id, "id")?;
        tracing::Span::current().record("product_id", id.as_str());
        let archived = self
            .update_with(id.as_str(), request.expected_version, |current| {
                Ok((!current.archived).then(|| doc! { "archived": true }))
            })
            .await?;
        Ok(Response::new(pb::ArchiveProductResponse {
            product: Some(to_proto(&archived)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_product(
        &self,
        request: Request<pb::GetProductRequest>,
    ) -> Result<Response<pb::GetProductResponse>, Status> {
        use pb::get_product_request::Key;
        let product = match request.into_inner().key {
            Some(Key::Id(id)) => self.by_id(parse_product_id(&id, "id")?.as_str()).await?,
            Some(Key::Sku(sku)) => {
                let sku =
                    Sku::parse(&sku).map_err(|e| ServiceError::invalid("sku", e.to_string()))?;
                self.by_sku(&sku).await?
            }
            None => return Err(ServiceError::invalid("key", "set id or sku").into()),
        };
        Ok(Response::new(pb::GetProductResponse {
            product: Some(to_proto(&product)),
        }))
    }

    #[tracing::instrument(skip_all, fields(ids, skus))]
    async fn batch_get_products(
        &self,
        request: Request<pb::BatchGetProductsRequest>,
    ) -> Result<Response<pb::BatchGetProductsResponse>, Status> {
        let request = request.into_inner();
        if request.ids.len() + request.skus.len() > MAX_BATCH {
            return Err(ServiceError::invalid(
                "ids",
                format!("ids and skus together must be at most {MAX_BATCH}"),
            )
            .into());
        }
        let mut violations = shop_kit::FieldViolations::new();
        let mut ids: Vec<String> = Vec::new();
        for (i, raw) in request.ids.iter().enumerate() {
            if let Some(id) = violations.check(&format!("ids[{i}]"), ProductId::parse(raw)) {
                ids.push(id.into_string());
            }
        }
        let mut skus: Vec<String> = Vec::new();
        for (i, raw) in request.skus.iter().enumerate() {
            if let Some(sku) = violations.check(&format!("skus[{i}]"), Sku::parse(raw)) {
                skus.push(sku.into_string());
            }
        }
        violations.into_result()?;
        ids.sort();
        ids.dedup();
        skus.sort();
        skus.dedup();
        tracing::Span::current()
            .record("ids", ids.len())
            .record("skus", skus.len());

        let mut found: Vec<Arc<ProductDoc>> = Vec::new();
        let mut missing_ids = Vec::new();
        let mut missing_skus = Vec::new();
        for id in &ids {
            match self.read_model.get_id(id).await {
                Some(hit) => found.push(hit),
                None => missing_ids.push(id.clone()),
            }
        }
        for sku in &skus {
            match self.read_model.get_sku(sku).await {
                Some(hit) => found.push(hit),
                None => missing_skus.push(sku.clone()),
            }
        }
        let generation = self.read_model.generation();
        for product in self
            .store
            .many(&missing_ids, &missing_skus)
            .await
            .map_err(ServiceError::from)?
        {
            let product = Arc::new(product);
            self.read_model.put(product.clone(), generation).await;
            found.push(product);
        }

        let mut seen = HashSet::new();
        found.retain(|p| seen.insert(p.id.clone()));
        let found_ids: HashSet<&str> = found.iter().map(|p| p.id.as_str()).collect();
        let found_skus: HashSet<&str> = found.iter().map(|p| p.sku.as_str()).collect();
        let not_found_ids = ids
            .iter()
            .filter(|id| !found_ids.contains(id.as_str()))
            .cloned()
            .collect();
        let not_found_skus = skus
            .iter()
            .filter(|sku| !found_skus.contains(sku.as_str()))
            .cloned()
            .collect();
        Ok(Response::new(pb::BatchGetProductsResponse {
            products: found.iter().map(|p| to_proto(p)).collect(),
            not_found_ids,
            not_found_skus,
        }))
    }

    #[tracing::instrument(skip_all, fields(category, search))]
    async fn list_products(
        &self,
        request: Request<pb::ListProductsRequest>,
    ) -> Result<Response<pb::ListProductsResponse>, Status> {
        if request.get_ref().include_archived {
            auth::require_admin(&request)?;
        }
        let request = request.into_inner();
        let page_size = paging::page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let category = if request.category.trim().is_empty() {
            String::new()
        } else {
            domain::parse_category(&request.category)
                .map_err(|e| ServiceError::invalid("category", e))?
        };
        if request.search.chars().count() > 200 {
            return Err(ServiceError::invalid("search", "must be at most 200 characters").into());
        }
        let terms = domain::search_terms(&request.search);
        let sort = match pb::ProductSort::try_from(request.sort) {
            Ok(pb::ProductSort::Unspecified | pb::ProductSort::Name) => SortKey::Name,
            Ok(pb::ProductSort::PriceAsc) => SortKey::PriceAsc,
            Ok(pb::ProductSort::PriceDesc) => SortKey::PriceDesc,
            Ok(pb::ProductSort::Newest) => SortKey::Newest,
            Err(_) => return Err(ServiceError::invalid("sort", "unknown sort order").into()),
        };
        tracing::Span::current()
            .record("category", category.as_str())
            .record("search", request.search.as_str());
        let query = page_token::Query {
            category,
            terms,
            archived: request.include_archived,
        };
        let start = match self.tokens.open(&request.page_token, sort, &query)? {
            Some(after) => PageStart::After(after),
            None => PageStart::First(sort),
        };
        let key = PageKey {
            query,
            start,
            page_size,
        };
        let page = self
            .read_model
            .page(key.clone(), self.read_page(key))
            .await?;
        Ok(Response::new(page.page.clone()))
    }

    #[tracing::instrument(skip_all)]
    async fn list_categories(
        &self,
        _request: Request<pb::ListCategoriesRequest>,
    ) -> Result<Response<pb::ListCategoriesResponse>, Status> {
        let store = &self.store;
        let categories = self
            .read_model
            .categories
            .get(|| async {
                let counted = store.categories(MAX_CATEGORIES).await?;
                Ok::<_, StoreError>(
                    counted
                        .into_iter()
                        .map(|(slug, count)| pb::CategoryCount {
                            slug,
                            product_count: i32::try_from(count).unwrap_or(i32::MAX),
                        })
                        .collect(),
                )
            })
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(pb::ListCategoriesResponse {
            categories: categories.as_ref().clone(),
        }))
    }
}
