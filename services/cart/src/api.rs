//! `shop.cart.v1.CartService`: decode and validate the request, check who may touch the
//! cart, run one atomic store operation, then price the resulting cart from Product.
//!
//! Writes happen before pricing, so an UNAVAILABLE from pricing after a write means the
//! change was applied: UpdateItem, RemoveItem, ClearCart and MergeCarts are safe to retry
//! as they are, AddItem with its idempotency key. An empty cart needs no prices, so
//! GetCart and ClearCart of an empty cart answer even while Product is down.

use std::collections::HashMap;
use std::time::Duration;

use shop_kit::auth::Claims;
use shop_kit::{Currency, ServiceError, Sku};
use shop_proto::shop::cart::v1::{self as pb, cart_service_server::CartService};
use tonic::{Request, Response, Status};

use crate::catalog::Catalog;
use crate::domain::{self, AddItem, CartRef, Limits, MergeCarts, RemoveItem, UpdateItem};
use crate::store::{Store, StoreError, StoredCart, WriteRules};

/// The rules a deployment chooses (see `CartConfig`).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub limits: Limits,
    /// The one currency the shop sells in; subtotals are in it.
    pub currency: Currency,
    pub guest_ttl: Duration,
    pub user_ttl: Duration,
    pub idempotency_ttl: Duration,
}

#[derive(Clone)]
pub struct CartApi {
    store: Store,
    catalog: Catalog,
    settings: Settings,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn caller<T>(request: &Request<T>) -> Option<Claims> {
    request.extensions().get::<Claims>().cloned()
}

impl CartApi {
    pub fn new(store: Store, catalog: Catalog, settings: Settings) -> Self {
        Self {
            store,
            catalog,
            settings,
        }
    }

    /// Guest carts live 7 days, user carts 30 (by default), from their last write.
    fn rules(&self, cart: &CartRef) -> WriteRules {
        WriteRules {
            limits: self.settings.limits,
            ttl: match cart {
                CartRef::Guest(_) => self.settings.guest_ttl,
                CartRef::User(_) => self.settings.user_ttl,
            },
            idempotency_ttl: self.settings.idempotency_ttl,
            now_ms: now_ms(),
        }
    }

    fn store_failed(&self, error: StoreError) -> ServiceError {
        match error {
            StoreError::TooManyLines { max } => ServiceError::invalid(
                "sku",
                format!("the cart already has {max} lines, the most it may hold; remove one first"),
            ),
            StoreError::LineLimit { current } => ServiceError::invalid(
                "quantity",
                format!(
                    "the line already has {current} units and may hold at most {}",
                    self.settings.limits.max_quantity_per_line
                ),
            ),
            StoreError::IdempotencyKeyReused => ServiceError::invalid(
                "idempotency_key",
                "was already used for a different item or quantity",
            ),
            error if error.is_unavailable() => {
                tracing::warn!(%error, "cart store unavailable");
                ServiceError::Unavailable("the cart store is unavailable; retry later".into())
            }
            error => ServiceError::internal(error),
        }
    }

    /// Only products that can be bought enter a cart: one Product lookup before the write.
    async fn ensure_purchasable(&self, sku: &Sku) -> Result<(), ServiceError> {
        let found = self.catalog.lookup(&[sku.as_str().to_owned()]).await?;
        domain::ensure_purchasable(
            sku.as_str(),
            found.get(sku.as_str()),
            self.settings.currency,
        )
    }

    /// The cart as the storefront shows it, priced by one Product call (none when empty).
    async fn render(&self, cart: &CartRef, stored: StoredCart) -> Result<pb::Cart, ServiceError> {
        let catalog = if stored.lines.is_empty() {
            HashMap::new()
        } else {
            let skus: Vec<String> = stored.lines.iter().map(|line| line.sku.clone()).collect();
            self.catalog.lookup(&skus).await?
        };
        let priced = domain::price(&stored.lines, &catalog, self.settings.currency)?;
        let now = now_ms();
        Ok(pb::Cart {
            id: cart.cart_id(),
            lines: priced
                .lines
                .into_iter()
                .map(|line| pb::CartLine {
                    sku: line.sku,
                    quantity: line.quantity,
                    unit_price: line.unit_price.map(|money| money.to_proto()),
                    line_total: line.line_total.map(|money| money.to_proto()),
                    product_name: line.product_name,
                    image_url: line.image_url,
                    product_archived: line.product_archived,
                })
                .collect(),
            subtotal: Some(priced.subtotal.to_proto()),
            item_count: priced.item_count,
            updated_at: stored.updated_at_ms.map(shop_kit::time::from_millis),
            expires_at: stored
                .ttl_ms
                .map(|ttl| shop_kit::time::from_millis(now.saturating_add(ttl))),
            user_id: cart
                .user_id()
                .map(|user| user.as_str().to_owned())
                .unwrap_or_default(),
        })
    }
}

#[tonic::async_trait]
impl CartService for CartApi {
    #[tracing::instrument(skip_all, fields(cart, user_id))]
    async fn get_cart(
        &self,
        request: Request<pb::GetCartRequest>,
    ) -> Result<Response<pb::GetCartResponse>, Status> {
        let claims = caller(&request);
        let cart = domain::parse_cart(request.get_ref().cart.as_ref(), claims.as_ref())?;
        let stored = self
            .store
            .get(&cart)
            .await
            .map_err(|e| self.store_failed(e))?;
        Ok(Response::new(pb::GetCartResponse {
            cart: Some(self.render(&cart, stored).await?),
        }))
    }

    #[tracing::instrument(skip_all, fields(cart, user_id, sku, quantity))]
    async fn add_item(
        &self,
        request: Request<pb::AddItemRequest>,
    ) -> Result<Response<pb::AddItemResponse>, Status> {
        let claims = caller(&request);
        let AddItem {
            cart,
            sku,
            units,
            key,
        } = AddItem::parse(request.get_ref(), &self.settings.limits, claims.as_ref())?;
        tracing::Span::current()
            .record("sku", sku.as_str())
            .record("quantity", units);

        self.ensure_purchasable(&sku).await?;
        let added = self
            .store
            .add(&cart, sku.as_str(), units, key.as_ref(), &self.rules(&cart))
            .await
            .map_err(|e| self.store_failed(e))?;
        if added.replayed {
            tracing::info!("retried AddItem: already applied under its idempotency key");
        }
        Ok(Response::new(pb::AddItemResponse {
            cart: Some(self.render(&cart, added.cart).await?),
        }))
    }

    #[tracing::instrument(skip_all, fields(cart, user_id, sku, quantity))]
    async fn update_item(
        &self,
        request: Request<pb::UpdateItemRequest>,
    ) -> Result<Response<pb::UpdateItemResponse>, Status> {
        let claims = caller(&request);
        let UpdateItem { cart, sku, units } =
            UpdateItem::parse(request.get_ref(), &self.settings.limits, claims.as_ref())?;
        tracing::Span::current()
            .record("sku", sku.as_str())
            .record("quantity", units);

        let rules = self.rules(&cart);
        let stored = if units == 0 {
            self.store.remove(&cart, sku.as_str(), &rules).await
        } else {
            // Setting a quantity may add the line, so it must be a product one can buy.
            self.ensure_purchasable(&sku).await?;
            self.store.set(&cart, sku.as_str(), units, &rules).await
        }
        .map_err(|e| self.store_failed(e))?;
        Ok(Response::new(pb::UpdateItemResponse {
            cart: Some(self.render(&cart, stored).await?),
        }))
    }

    #[tracing::instrument(skip_all, fields(cart, user_id, sku))]
    async fn remove_item(
        &self,
        request: Request<pb::RemoveItemRequest>,
    ) -> Result<Response<pb::RemoveItemResponse>, Status> {
        let claims = caller(&request);
        let RemoveItem { cart, sku } = RemoveItem::parse(request.get_ref(), claims.as_ref())?;
        tracing::Span::current().record("sku", sku.as_str());

        let stored = self
            .store
            .remove(&cart, sku.as_str(), &self.rules(&cart))
            .await
            .map_err(|e| self.store_failed(e))?;
        Ok(Response::new(pb::RemoveItemResponse {
            cart: Some(self.render(&cart, stored).await?),
        }))
    }

    #[tracing::instrument(skip_all, fields(cart, user_id))]
    async fn clear_cart(
        &self,
        request: Request<pb::ClearCartRequest>,
    ) -> Result<Response<pb::ClearCartResponse>, Status> {
        let claims = caller(&request);
        let cart = domain::parse_cart(request.get_ref().cart.as_ref(), claims.as_ref())?;

        self.store
            .clear(&cart)
            .await
            .map_err(|e| self.store_failed(e))?;
        Ok(Response::new(pb::ClearCartResponse {
            cart: Some(self.render(&cart, StoredCart::default()).await?),
        }))
    }

    #[tracing::instrument(skip_all, fields(cart = "user", user_id, dropped_lines))]
    async fn merge_carts(
        &self,
        request: Request<pb::MergeCartsRequest>,
    ) -> Result<Response<pb::MergeCartsResponse>, Status> {
        let claims = caller(&request);
        let MergeCarts { guest, user } = MergeCarts::parse(request.get_ref(), claims.as_ref())?;

        let merged = self
            .store
            .merge(&guest, &user, &self.rules(&user))
            .await
            .map_err(|e| self.store_failed(e))?;
        if merged.dropped_lines > 0 {
            tracing::Span::current().record("dropped_lines", merged.dropped_lines);
            tracing::warn!(
                dropped_lines = merged.dropped_lines,
                "user cart full: guest lines beyond the line limit were not merged"
            );
        }
        Ok(Response::new(pb::MergeCartsResponse {
            cart: Some(self.render(&user, merged.cart).await?),
        }))
    }
}
