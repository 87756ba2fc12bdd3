//! `shop.inventory.v1.InventoryService`: authorise, decode and validate the request, run
//! it (stock changes here, reservations through `reservations`), encode the reply. Every
//! failure is a `ServiceError`, mapped to a gRPC status in one place.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use shop_kit::auth;
use shop_kit::paging;
use shop_kit::{FieldViolations, ServiceError};
use shop_proto::shop::inventory::v1::{self as pb, inventory_service_server::InventoryService};
use tonic::{Request, Response, Status};

use crate::cache::StockCache;
use crate::domain::{
    AdjustStock, IdempotencyKey, OrderId, Reason, RejectionCode, Release, ReleaseReason,
    ReservationStatus, Reserve, ReserveLimits, SetStock, Sku, StockCount, StockDelta,
};
use crate::reservations::{self, DECISION_WAIT};
use crate::store::{
    AdjustmentDoc, LedgerDoc, LedgerKind, ReservationDoc, StockDoc, Store, StoreError, bson_time,
};

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 200;
/// Rounds of "on_hand changed between read and write" SetStock tolerates before ABORTED.
const SET_ATTEMPTS: usize = 10;

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        ServiceError::internal(error)
    }
}

/// The request limits the service enforces (see `InventoryConfig`).
#[derive(Debug, Clone)]
pub struct Limits {
    pub default_reservation_ttl: Duration,
    pub max_reservation_ttl: Duration,
    pub max_reservation_lines: usize,
    pub max_batch_skus: usize,
}

#[derive(Clone)]
pub struct InventoryApi {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    cache: StockCache,
    limits: Limits,
}

/// Where the previous ledger page ended. The SKU is kept so a token cannot be replayed
/// against another SKU's history.
#[derive(Serialize, Deserialize)]
struct LedgerCursor {
    sku: String,
    version: i64,
}

pub(crate) fn timestamp(time: mongodb::bson::DateTime) -> prost_types::Timestamp {
    shop_kit::time::from_millis(time.timestamp_millis())
}

fn level_to_proto(stock: &StockDoc) -> pb::StockLevel {
    pb::StockLevel {
        sku: stock.sku.clone(),
        on_hand: stock.on_hand,
        reserved: stock.reserved,
        available: stock.available,
        updated_at: Some(timestamp(stock.updated_at)),
        version: stock.version,
    }
}

fn status_to_proto(status: ReservationStatus) -> pb::ReservationStatus {
    match status {
        ReservationStatus::Reserved => pb::ReservationStatus::Reserved,
        ReservationStatus::Rejected => pb::ReservationStatus::Rejected,
        ReservationStatus::Committed => pb::ReservationStatus::Committed,
        ReservationStatus::Released => pb::ReservationStatus::Released,
        // Internal states; callers are answered only once a reservation has left them.
        ReservationStatus::Pending | ReservationStatus::Abandoned => {
            pb::ReservationStatus::Unspecified
        }
    }
}

fn release_reason_to_proto(reason: ReleaseReason) -> pb::ReleaseReason {
    match reason {
        ReleaseReason::OrderCancelled => pb::ReleaseReason::OrderCancelled,
        ReleaseReason::Expired => pb::ReleaseReason::Expired,
        ReleaseReason::Admin => pb::ReleaseReason::Admin,
    }
}

pub fn reservation_to_proto(reservation: &ReservationDoc) -> pb::Reservation {
    pb::Reservation {
        order_id: reservation.order_id.clone(),
        status: status_to_proto(reservation.status) as i32,
        lines: reservation
            .lines
            .iter()
            .map(|line| pb::ReservationLine {
                sku: line.sku.clone(),
                quantity: line.quantity,
            })
            .collect(),
        rejections: reservation
            .rejections
            .iter()
            .map(|rejection| pb::ReservationRejection {
                sku: rejection.sku.clone(),
                code: match rejection.code {
                    RejectionCode::OutOfStock => pb::RejectionCode::OutOfStock,
                    RejectionCode::UnknownSku => pb::RejectionCode::UnknownSku,
                } as i32,
                requested: rejection.requested,
                available: rejection.available,
            })
            .collect(),
        expires_at: reservation.expires_at.map(timestamp),
        release_reason: reservation
            .release_reason
            .map_or(pb::ReleaseReason::Unspecified, release_reason_to_proto)
            as i32,
        created_at: Some(timestamp(reservation.created_at)),
        updated_at: Some(timestamp(reservation.updated_at)),
    }
}

fn ledger_to_proto(entry: &LedgerDoc) -> pb::StockLedgerEntry {
    pb::StockLedgerEntry {
        id: entry.id.clone(),
        sku: entry.sku.clone(),
        kind: match entry.kind {
            LedgerKind::Set => pb::LedgerEntryKind::Set,
            LedgerKind::Adjust => pb::LedgerEntryKind::Adjust,
            LedgerKind::Reserve => pb::LedgerEntryKind::Reserve,
            LedgerKind::Commit => pb::LedgerEntryKind::Commit,
            LedgerKind::Release => pb::LedgerEntryKind::Release,
        } as i32,
        on_hand_delta: entry.on_hand_delta,
        reserved_delta: entry.reserved_delta,
        on_hand_after: entry.on_hand_after,
        reserved_after: entry.reserved_after,
        reason: entry.reason.clone(),
        order_id: entry.order_id.clone(),
        actor_user_id: entry.actor_user_id.clone(),
        occurred_at: Some(timestamp(entry.occurred_at)),
    }
}

fn insufficient_stock(sku: &Sku, message: String) -> ServiceError {
    tracing::debug!(%sku, %message, "stock change refused");
    ServiceError::FailedPrecondition {
        reason: "INSUFFICIENT_STOCK",
        message,
    }
}

impl InventoryApi {
    pub fn new(store: Store, cache: StockCache, limits: Limits) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                cache,
                limits,
            }),
        }
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    async fn stock_changed(&self, skus: &[String]) {
        self.inner.cache.invalidate(skus).await;
    }

    async fn set_stock_level(
        &self,
        sku: &Sku,
        on_hand: StockCount,
        reason: &Reason,
        actor: &str,
    ) -> Result<StockDoc, ServiceError> {
        let (store, on_hand) = (self.store(), on_hand.get());
        for _ in 0..SET_ATTEMPTS {
            let now = Utc::now();
            let (after, delta) = match store.get_stock(sku.as_str()).await? {
                None => match store.create_stock(sku.as_str(), on_hand, now).await? {
                    Some(created) => (created, on_hand),
                    None => continue,
                },
                Some(current) => {
                    if on_hand < current.reserved {
                        return Err(insufficient_stock(
                            sku,
                            format!(
                                "{} units of {sku} are reserved, so on_hand cannot be set \
                                 to {on_hand}",
                                current.reserved
                            ),
                        ));
                    }
                    // Guarded by the on_hand just read: a concurrent set, adjustment or
                    // commit makes this miss, and the loop decides again on fresh numbers.
                    match store
                        .set_on_hand(sku.as_str(), current.on_hand, on_hand, now)
                        .await?
                    {
                        Some(after) => (after, on_hand - current.on_hand),
                        None => continue,
                    }
                }
            };
            let mut entry = LedgerDoc::movement(&after, LedgerKind::Set, delta, 0);
            entry.reason = reason.as_str().to_owned();
            entry.actor_user_id = actor.to_owned();
            store.append_ledger(&entry).await?;
            self.stock_changed(&[sku.to_string()]).await;
            return Ok(after);
        }
        Err(ServiceError::Aborted {
            reason: "CONCURRENT_UPDATE",
            message: format!("the stock of {sku} kept changing while it was being set; retry"),
        })
    }

    async fn adjust_stock_level(
        &self,
        sku: &Sku,
        delta: StockDelta,
        key: &IdempotencyKey,
        reason: &Reason,
        actor: &str,
    ) -> Result<StockDoc, ServiceError> {
        let store = self.store();
        let key_id = format!("{sku}/{}", key.as_str());
        if let Some(applied) = store.get_adjustment(&key_id).await? {
            return replay(applied, delta);
        }
        let now = Utc::now();
        if let Some(after) = store
            .adjust(sku.as_str(), delta.get(), &key_id, now)
            .await?
        {
            let mut entry = LedgerDoc::movement(&after, LedgerKind::Adjust, delta.get(), 0);
            entry.reason = reason.as_str().to_owned();
            entry.actor_user_id = actor.to_owned();
            store.append_ledger(&entry).await?;
            store
                .insert_adjustment(&AdjustmentDoc {
                    id: key_id,
                    sku: sku.to_string(),
                    delta: delta.get(),
                    reason: reason.as_str().to_owned(),
                    actor_user_id: actor.to_owned(),
                    result: after.clone(),
                    created_at: bson_time(now),
                })
                .await?;
            self.stock_changed(&[sku.to_string()]).await;
            return Ok(after);
        }
        let Some(current) = store.get_stock(sku.as_str()).await? else {
            return Err(ServiceError::not_found("stock", sku.as_str()));
        };
        if store.has_adjustment_key(sku.as_str(), &key_id).await? {
            // A concurrent duplicate applied it and is recording its result.
            return self.await_adjustment(&key_id, delta, current).await;
        }
        Err(insufficient_stock(
            sku,
            format!(
                "removing {} units of {sku} would leave on_hand below the {} units reserved \
                 ({} available)",
                -delta.get(),
                current.reserved,
                current.available
            ),
        ))
    }

    /// The result of an adjustment another call applied under the same key. If that call
    /// died before recording its result, the current level stands in for it (recorded, so
    /// every later retry agrees).
    async fn await_adjustment(
        &self,
        key_id: &str,
        delta: StockDelta,
        current: StockDoc,
    ) -> Result<StockDoc, ServiceError> {
        let store = self.store();
        let started = tokio::time::Instant::now();
        while started.elapsed() < DECISION_WAIT {
            if let Some(applied) = store.get_adjustment(key_id).await? {
                return replay(applied, delta);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::warn!(
            key_id,
            "adjustment applied but never recorded; recording the current level"
        );
        store
            .insert_adjustment(&AdjustmentDoc {
                id: key_id.to_owned(),
                sku: current.sku.clone(),
                delta: delta.get(),
                reason: String::new(),
                actor_user_id: String::new(),
                result: current,
                created_at: bson_time(Utc::now()),
            })
            .await?;
        match store.get_adjustment(key_id).await? {
            Some(applied) => replay(applied, delta),
            None => Err(ServiceError::internal(anyhow::anyhow!(
                "adjustment {key_id} vanished"
            ))),
        }
    }
}

/// The first result under a key, unless the key is being reused for a different change
/// (a client bug that a silent success would hide).
fn replay(applied: AdjustmentDoc, delta: StockDelta) -> Result<StockDoc, ServiceError> {
    if applied.delta == delta.get() {
        Ok(applied.result)
    } else {
        Err(ServiceError::FailedPrecondition {
            reason: "IDEMPOTENCY_KEY_REUSED",
            message: format!(
                "this idempotency key already applied a delta of {}, not {}",
                applied.delta,
                delta.get()
            ),
        })
    }
}

#[tonic::async_trait]
impl InventoryService for InventoryApi {
    #[tracing::instrument(skip_all, fields(sku = %request.get_ref().sku))]
    async fn set_stock(
        &self,
        request: Request<pb::SetStockRequest>,
    ) -> Result<Response<pb::SetStockResponse>, Status> {
        let actor = auth::require_admin(&request)?.sub.clone();
        let SetStock {
            sku,
            on_hand,
            reason,
        } = SetStock::parse(request.get_ref())?;
        let stock = self.set_stock_level(&sku, on_hand, &reason, &actor).await?;
        tracing::info!(
            on_hand = stock.on_hand,
            version = stock.version,
            "stock set"
        );
        Ok(Response::new(pb::SetStockResponse {
            stock: Some(level_to_proto(&stock)),
        }))
    }

    #[tracing::instrument(skip_all, fields(sku = %request.get_ref().sku))]
    async fn adjust_stock(
        &self,
        request: Request<pb::AdjustStockRequest>,
    ) -> Result<Response<pb::AdjustStockResponse>, Status> {
        let actor = auth::require_admin(&request)?.sub.clone();
        let AdjustStock {
            sku,
            delta,
            reason,
            key,
        } = AdjustStock::parse(request.get_ref())?;
        let stock = self
            .adjust_stock_level(&sku, delta, &key, &reason, &actor)
            .await?;
        tracing::info!(
            delta = delta.get(),
            on_hand = stock.on_hand,
            "stock adjusted"
        );
        Ok(Response::new(pb::AdjustStockResponse {
            stock: Some(level_to_proto(&stock)),
        }))
    }

    #[tracing::instrument(skip_all, fields(sku = %request.get_ref().sku))]
    async fn get_stock(
        &self,
        request: Request<pb::GetStockRequest>,
    ) -> Result<Response<pb::GetStockResponse>, Status> {
        let sku = Sku::parse(&request.get_ref().sku)
            .map_err(|e| ServiceError::invalid("sku", e.to_string()))?;
        let stock = self
            .store()
            .get_stock(sku.as_str())
            .await
            .map_err(ServiceError::from)?
            .ok_or_else(|| ServiceError::not_found("stock", sku.as_str()))?;
        Ok(Response::new(pb::GetStockResponse {
            stock: Some(level_to_proto(&stock)),
        }))
    }

    #[tracing::instrument(skip_all, fields(skus = request.get_ref().skus.len()))]
    async fn batch_get_stock(
        &self,
        request: Request<pb::BatchGetStockRequest>,
    ) -> Result<Response<pb::BatchGetStockResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let mut seen = HashSet::new();
        let mut skus = Vec::new();
        for (index, raw) in request.skus.iter().enumerate() {
            if let Some(sku) = violations.check(&format!("skus[{index}]"), Sku::parse(raw))
                && seen.insert(sku.clone())
            {
                skus.push(sku.to_string());
            }
        }
        let max = self.inner.limits.max_batch_skus;
        if skus.len() > max {
            violations.add("skus", format!("at most {max} distinct SKUs per call"));
        }
        violations.into_result()?;

        let cache = &self.inner.cache;
        let mut levels = Vec::with_capacity(skus.len());
        let mut not_found_skus = Vec::new();
        let mut misses = Vec::new();
        for sku in skus {
            match cache.get(&sku).await {
                Some(Some(stock)) => levels.push(level_to_proto(&stock)),
                Some(None) => not_found_skus.push(sku),
                None => misses.push(sku),
            }
        }
        if !misses.is_empty() {
            let found = self
                .store()
                .get_stocks(&misses)
                .await
                .map_err(ServiceError::from)?;
            let mut found: std::collections::HashMap<String, Arc<StockDoc>> = found
                .into_iter()
                .map(|stock| (stock.sku.clone(), Arc::new(stock)))
                .collect();
            for sku in misses {
                let stock = found.remove(&sku);
                match &stock {
                    Some(stock) => levels.push(level_to_proto(stock)),
                    None => not_found_skus.push(sku.clone()),
                }
                cache.put(sku, stock).await;
            }
        }
        Ok(Response::new(pb::BatchGetStockResponse {
            levels,
            not_found_skus,
        }))
    }

    #[tracing::instrument(skip_all, fields(order_id = %request.get_ref().order_id))]
    async fn reserve(
        &self,
        request: Request<pb::ReserveRequest>,
    ) -> Result<Response<pb::ReserveResponse>, Status> {
        auth::require_admin(&request)?;
        let limits = &self.inner.limits;
        let Reserve {
            order_id,
            lines,
            ttl,
        } = Reserve::parse(
            request.get_ref(),
            ReserveLimits {
                max_lines: limits.max_reservation_lines,
                default_ttl: limits.default_reservation_ttl,
                max_ttl: limits.max_reservation_ttl,
            },
        )?;
        let reservation =
            reservations::reserve(self.store(), &order_id, &lines, ttl, Utc::now()).await?;
        let skus: Vec<String> = lines.iter().map(|line| line.sku.to_string()).collect();
        self.stock_changed(&skus).await;
        tracing::info!(status = reservation.status.as_str(), "reserve");
        Ok(Response::new(pb::ReserveResponse {
            reservation: Some(reservation_to_proto(&reservation)),
        }))
    }

    #[tracing::instrument(skip_all, fields(order_id = %request.get_ref().order_id))]
    async fn commit(
        &self,
        request: Request<pb::CommitRequest>,
    ) -> Result<Response<pb::CommitResponse>, Status> {
        auth::require_admin(&request)?;
        let order_id = OrderId::parse(&request.get_ref().order_id)
            .map_err(|e| ServiceError::invalid("order_id", e.to_string()))?;
        let reservation = reservations::commit(self.store(), &order_id, Utc::now()).await?;
        let skus: Vec<String> = reservation
            .lines
            .iter()
            .map(|line| line.sku.clone())
            .collect();
        self.stock_changed(&skus).await;
        tracing::info!(status = reservation.status.as_str(), "commit");
        Ok(Response::new(pb::CommitResponse {
            reservation: Some(reservation_to_proto(&reservation)),
        }))
    }

    #[tracing::instrument(skip_all, fields(order_id = %request.get_ref().order_id))]
    async fn release(
        &self,
        request: Request<pb::ReleaseRequest>,
    ) -> Result<Response<pb::ReleaseResponse>, Status> {
        auth::require_admin(&request)?;
        let Release { order_id, reason } = Release::parse(request.get_ref())?;
        let reservation =
            reservations::release(self.store(), &order_id, reason, Utc::now()).await?;
        let skus: Vec<String> = reservation
            .lines
            .iter()
            .map(|line| line.sku.clone())
            .collect();
        self.stock_changed(&skus).await;
        tracing::info!(status = reservation.status.as_str(), "release");
        Ok(Response::new(pb::ReleaseResponse {
            reservation: Some(reservation_to_proto(&reservation)),
        }))
    }

    #[tracing::instrument(skip_all, fields(sku = %request.get_ref().sku))]
    async fn list_stock_ledger(
        &self,
        request: Request<pb::ListStockLedgerRequest>,
    ) -> Result<Response<pb::ListStockLedgerResponse>, Status> {
        auth::require_admin(&request)?;
        let request = request.into_inner();
        let sku =
            Sku::parse(&request.sku).map_err(|e| ServiceError::invalid("sku", e.to_string()))?;
        let page_size = paging::page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let after = paging::decode_token::<LedgerCursor>(&request.page_token)?;
        if after
            .as_ref()
            .is_some_and(|cursor| cursor.sku != sku.as_str())
        {
            return Err(
                ServiceError::invalid("page_token", "belongs to another SKU's ledger").into(),
            );
        }
        let store = self.store();
        if store
            .get_stock(sku.as_str())
            .await
            .map_err(ServiceError::from)?
            .is_none()
        {
            return Err(ServiceError::not_found("stock", sku.as_str()).into());
        }
        let page_size = page_size as usize;
        let mut entries = store
            .list_ledger(
                sku.as_str(),
                after.map(|cursor| cursor.version),
                page_size as i64 + 1,
            )
            .await
            .map_err(ServiceError::from)?;
        let next_page_token = if entries.len() > page_size {
            entries.truncate(page_size);
            entries
                .last()
                .map(|last| {
                    paging::encode_token(&LedgerCursor {
                        sku: last.sku.clone(),
                        version: last.version,
                    })
                })
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListStockLedgerResponse {
            entries: entries.iter().map(ledger_to_proto).collect(),
            next_page_token,
        }))
    }
}
