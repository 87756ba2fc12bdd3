//! MongoDB persistence for stock, reservations, the stock ledger and applied adjustment
//! keys. Persistence only: the reservation engine (`reservations`) and the api decide what
//! to do; this module offers the atomic single-document operations they are built from.
//!
//! Every stock operation is one conditional `find_one_and_update` on the SKU's document:
//! the filter is the guard (`available >= q`, "this hold is present") and `$inc` moves the
//! counters, so the guard and the change are one atomic step on any MongoDB, including
//! the SecantusDB stand-in (no `$expr`, no pipeline updates, no transactions). `available`
//! is stored, and kept equal to `on_hand - reserved` by every `$inc`, precisely so that the
//! oversell guard can be a plain filter.
//!
//! Collections and indexes (created idempotently at start-up; see docs/inventory.md):
//! - `stock` `{_id: sku, on_hand, reserved, available, version, updated_at, holds,
//!   adjustment_keys}`: only `_id`.
//! - `reservations` `{_id: order_id, hold_id, status, lines, rejections, expires_at,
//!   release_reason, settled, created_at, updated_at}`: `(status, expires_at)` for the
//!   expiry sweep, `(status, updated_at)` for interrupted attempts, `(settled, updated_at)`
//!   for unfinished settlements.
//! - `stock_ledger` `{_id: "<sku>@<version>", sku, version, kind, ...}`: `(sku, version
//!   desc)` for the newest-first history.
//! - `stock_adjustments` `{_id: "<sku>/<key>", ...}`: only `_id`.

use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use mongodb::bson::{self, Document, doc};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Collection, IndexModel};
use serde::{Deserialize, Serialize};

use crate::domain::{RejectionCode, ReleaseReason, ReservationStatus};

/// How many recent AdjustStock keys each stock document remembers (see [`Store::adjust`]).
pub const RECENT_ADJUSTMENT_KEYS: i32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Mongo(#[from] mongodb::error::Error),
    #[error("cannot encode a document: {0}")]
    Encode(#[from] bson::ser::Error),
}

pub fn bson_time(time: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(time.timestamp_millis())
}

/// A SKU's stock as stored, without the bookkeeping arrays (`holds`, `adjustment_keys`),
/// which are never read back into memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockDoc {
    #[serde(rename = "_id")]
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub version: i64,
    pub updated_at: bson::DateTime,
}

/// Never load the bookkeeping arrays: a hot SKU's `holds` has one entry per live
/// reservation.
fn stock_projection() -> Document {
    doc! { "holds": 0, "adjustment_keys": 0 }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineDoc {
    pub sku: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectionDoc {
    pub sku: String,
    pub code: RejectionCode,
    pub requested: i64,
    pub available: i64,
}

/// One order's reservation. `hold_id` is unique per Reserve attempt and tags the units the
/// attempt holds on each stock document, so a retried or recovered order can never be
/// confused with an earlier attempt of the same order. `settled` is false while the stock
/// movement implied by a final status may still be partly unapplied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReservationDoc {
    #[serde(rename = "_id")]
    pub order_id: String,
    pub hold_id: String,
    pub status: ReservationStatus,
    pub lines: Vec<LineDoc>,
    #[serde(default)]
    pub rejections: Vec<RejectionDoc>,
    pub expires_at: Option<bson::DateTime>,
    pub release_reason: Option<ReleaseReason>,
    pub settled: bool,
    pub created_at: bson::DateTime,
    pub updated_at: bson::DateTime,
    /// `Some(false)` from the moment an expiry releases the reservation until its
    /// `inventory.released(EXPIRED)` is confirmed by the broker; absent otherwise. Makes
    /// that announcement at-least-once: a crash between the release and the publish is
    /// caught by the next sweep, which publishes every unannounced expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announced: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LedgerKind {
    Set,
    Adjust,
    Reserve,
    Commit,
    Release,
}

/// One movement of one SKU. The id is the SKU and the stock version the movement produced:
/// versions increase by one per change, so they order a SKU's history exactly (clocks of
/// several replicas would not) and a gap would show a lost entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub sku: String,
    pub version: i64,
    pub kind: LedgerKind,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    pub on_hand_after: i64,
    pub reserved_after: i64,
    pub reason: String,
    pub order_id: String,
    pub actor_user_id: String,
    pub occurred_at: bson::DateTime,
}

impl LedgerDoc {
    /// The entry for a movement whose resulting stock is `after`.
    pub fn movement(
        after: &StockDoc,
        kind: LedgerKind,
        on_hand_delta: i64,
        reserved_delta: i64,
    ) -> Self {
        Self {
            id: format!("{}@{}", after.sku, after.version),
            sku: after.sku.clone(),
            version: after.version,
            kind,
            on_hand_delta,
            reserved_delta,
            on_hand_after: after.on_hand,
            reserved_after: after.reserved,
            reason: String::new(),
            order_id: String::new(),
            actor_user_id: String::new(),
            occurred_at: after.updated_at,
        }
    }
}

/// An applied AdjustStock, kept so a retry with the same key gets the first result back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdjustmentDoc {
    /// `<sku>/<idempotency key>`: keys are scoped per SKU.
    #[serde(rename = "_id")]
    pub id: String,
    pub sku: String,
    pub delta: i64,
    pub reason: String,
    pub actor_user_id: String,
    /// The stock right after the adjustment.
    pub result: StockDoc,
    pub created_at: bson::DateTime,
}

#[derive(Clone)]
pub struct Store {
    stock: Collection<StockDoc>,
    reservations: Collection<ReservationDoc>,
    ledger: Collection<LedgerDoc>,
    adjustments: Collection<AdjustmentDoc>,
}

fn named_index(keys: Document, name: &str) -> IndexModel {
    IndexModel::builder()
        .keys(keys)
        .options(IndexOptions::builder().name(name.to_owned()).build())
        .build()
}

/// Inserts, treating a duplicate `_id` as "someone else wrote it first".
async fn insert_new<T: Serialize + Send + Sync>(
    collection: &Collection<T>,
    document: &T,
) -> Result<bool, StoreError> {
    match collection.insert_one(document).await {
        Ok(_) => Ok(true),
        Err(error) if shop_kit::mongo::is_duplicate_key(&error) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Whether an unordered `insert_many` failed only on ids that were already there.
fn only_duplicates(error: &mongodb::error::Error) -> bool {
    match error.kind.as_ref() {
        mongodb::error::ErrorKind::InsertMany(failure) => {
            failure.write_concern_error.is_none()
                && failure
                    .write_errors
                    .iter()
                    .flatten()
                    .all(|write| write.code == 11000)
        }
        _ => false,
    }
}

impl Store {
    pub fn new(database: &mongodb::Database) -> Self {
        Self {
            stock: database.collection("stock"),
            reservations: database.collection("reservations"),
            ledger: database.collection("stock_ledger"),
            adjustments: database.collection("stock_adjustments"),
        }
    }

    /// Creates every index the queries below rely on; a no-op when they exist, so every
    /// replica runs it at start-up.
    pub async fn ensure_indexes(&self) -> Result<(), StoreError> {
        self.reservations
            .create_indexes([
                named_index(doc! { "status": 1, "expires_at": 1 }, "status_expires_at"),
                named_index(doc! { "status": 1, "updated_at": 1 }, "status_updated_at"),
                named_index(doc! { "settled": 1, "updated_at": 1 }, "settled_updated_at"),
                named_index(doc! { "announced": 1 }, "announced"),
            ])
            .await?;
        self.ledger
            .create_indexes([named_index(doc! { "sku": 1, "version": -1 }, "sku_version")])
            .await?;
        Ok(())
    }

    // --- stock ---------------------------------------------------------------------------

    pub async fn get_stock(&self, sku: &str) -> Result<Option<StockDoc>, StoreError> {
        Ok(self
            .stock
            .find_one(doc! { "_id": sku })
            .projection(stock_projection())
            .await?)
    }

    pub async fn get_stocks(&self, skus: &[String]) -> Result<Vec<StockDoc>, StoreError> {
        Ok(self
            .stock
            .find(doc! { "_id": { "$in": skus } })
            .projection(stock_projection())
            .await?
            .try_collect()
            .await?)
    }

    /// Creates the SKU's record; `None` when it already exists.
    pub async fn create_stock(
        &self,
        sku: &str,
        on_hand: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<StockDoc>, StoreError> {
        let stock = StockDoc {
            sku: sku.to_owned(),
            on_hand,
            reserved: 0,
            available: on_hand,
            version: 1,
            updated_at: bson_time(now),
        };
        Ok(insert_new(&self.stock, &stock).await?.then_some(stock))
    }

    /// One guarded `$inc` on a SKU, returning the document after it, or `None` when the
    /// guard (or the SKU) did not match.
    async fn move_stock(
        &self,
        filter: Document,
        mut inc: Document,
        mut update: Document,
        now: DateTime<Utc>,
    ) -> Result<Option<StockDoc>, StoreError> {
        inc.insert("version", 1_i64);
        update.insert("$inc", inc);
        update.insert("$set", doc! { "updated_at": bson_time(now) });
        Ok(self
            .stock
            .find_one_and_update(filter, update)
            .projection(stock_projection())
            .return_document(ReturnDocument::After)
            .await?)
    }

    /// Sets on_hand to `new_on_hand` if it is still `expected_on_hand` and the result keeps
    /// reserved <= on_hand. Reservations may move concurrently: they do not touch on_hand,
    /// and `available` is shifted by the same delta, so it stays exact.
    pub async fn set_on_hand(
        &self,
        sku: &str,
        expected_on_hand: i64,
        new_on_hand: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<StockDoc>, StoreError> {
        let delta = new_on_hand - expected_on_hand;
        self.move_stock(
            doc! { "_id": sku, "on_hand": expected_on_hand, "available": { "$gte": -delta } },
            doc! { "on_hand": delta, "available": delta },
            Document::new(),
            now,
        )
        .await
    }

    /// Adds `delta` to on_hand unless `key_id` is among the SKU's recently applied keys
    /// (kept in the same document, so "not yet applied" and "apply" are one atomic step and
    /// concurrent duplicates apply once). A decrease must leave reserved <= on_hand.
    pub async fn adjust(
        &self,
        sku: &str,
        delta: i64,
        key_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StockDoc>, StoreError> {
        let mut filter = doc! { "_id": sku, "adjustment_keys": { "$ne": key_id } };
        if delta < 0 {
            filter.insert("available", doc! { "$gte": -delta });
        }
        self.move_stock(
            filter,
            doc! { "on_hand": delta, "available": delta },
            doc! { "$push": { "adjustment_keys": {
                "$each": [key_id], "$slice": -RECENT_ADJUSTMENT_KEYS,
            } } },
            now,
        )
        .await
    }

    pub async fn has_adjustment_key(&self, sku: &str, key_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .stock
            .count_documents(doc! { "_id": sku, "adjustment_keys": key_id })
            .await?
            > 0)
    }

    /// Moves `quantity` from available to reserved, tagged with `hold_id`, if that many are
    /// available and this hold is not already there. The never-oversell guard.
    pub async fn hold(
        &self,
        sku: &str,
        quantity: i64,
        hold_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StockDoc>, StoreError> {
        self.move_stock(
            doc! { "_id": sku, "available": { "$gte": quantity }, "holds": { "$ne": hold_id } },
            doc! { "available": -quantity, "reserved": quantity },
            doc! { "$push": { "holds": hold_id } },
            now,
        )
        .await
    }

    /// Returns a hold's units to available; applies once, and only if the hold is there.
    pub async fn unhold(
        &self,
        sku: &str,
        quantity: i64,
        hold_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StockDoc>, StoreError> {
        self.move_stock(
            doc! { "_id": sku, "holds": hold_id },
            doc! { "available": quantity, "reserved": -quantity },
            doc! { "$pull": { "holds": hold_id } },
            now,
        )
        .await
    }

    /// Sells a hold's units (they leave on_hand and reserved); applies once, and only if
    /// the hold is there.
    pub async fn sell(
        &self,
        sku: &str,
        quantity: i64,
        hold_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StockDoc>, StoreError> {
        self.move_stock(
            doc! { "_id": sku, "holds": hold_id },
            doc! { "on_hand": -quantity, "reserved": -quantity },
            doc! { "$pull": { "holds": hold_id } },
            now,
        )
        .await
    }

    // --- reservations --------------------------------------------------------------------

    /// `false` when the order already has a reservation (or a tombstone).
    pub async fn insert_reservation(
        &self,
        reservation: &ReservationDoc,
    ) -> Result<bool, StoreError> {
        insert_new(&self.reservations, reservation).await
    }

    pub async fn get_reservation(
        &self,
        order_id: &str,
    ) -> Result<Option<ReservationDoc>, StoreError> {
        Ok(self.reservations.find_one(doc! { "_id": order_id }).await?)
    }

    /// Moves a reservation of attempt `hold_id` (of whichever attempt, when `None`) out of
    /// `from` (and matching `extra_filter`) with the `$set` fields `set`; `None` when
    /// another caller moved it first. The only way a status changes, so each transition
    /// has exactly one winner.
    async fn transition(
        &self,
        order_id: &str,
        hold_id: Option<&str>,
        from: ReservationStatus,
        extra_filter: Document,
        mut set: Document,
        now: DateTime<Utc>,
    ) -> Result<Option<ReservationDoc>, StoreError> {
        let mut filter = doc! { "_id": order_id, "status": from.as_str() };
        if let Some(hold_id) = hold_id {
            filter.insert("hold_id", hold_id);
        }
        filter.extend(extra_filter);
        set.insert("updated_at", bson_time(now));
        Ok(self
            .reservations
            .find_one_and_update(filter, doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .await?)
    }

    pub async fn mark_reserved(
        &self,
        order_id: &str,
        hold_id: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<ReservationDoc>, StoreError> {
        self.transition(
            order_id,
            Some(hold_id),
            ReservationStatus::Pending,
            Document::new(),
            doc! {
                "status": ReservationStatus::Reserved.as_str(),
                "expires_at": bson_time(expires_at),
                "settled": true,
            },
            now,
        )
        .await
    }

    /// Brings a RESERVED reservation's expiry forward to `until` if it is later; `None`
    /// when there is nothing to shorten (not reserved, or it already ends by then). Only the
    /// expiry changes, so the sweeper's guarded release stays the one way it ends.
    pub async fn shorten_reservation(
        &self,
        order_id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<ReservationDoc>, StoreError> {
        Ok(self
            .reservations
            .find_one_and_update(
                doc! {
                    "_id": order_id,
                    "status": ReservationStatus::Reserved.as_str(),
                    "expires_at": { "$gt": bson_time(until) },
                },
                doc! { "$set": { "expires_at": bson_time(until), "updated_at": bson_time(now) } },
            )
            .return_document(ReturnDocument::After)
            .await?)
    }

    pub async fn mark_rejected(
        &self,
        order_id: &str,
        hold_id: &str,
        rejections: &[RejectionDoc],
        now: DateTime<Utc>,
    ) -> Result<Option<ReservationDoc>, StoreError> {
        let rejections = bson::to_bson(rejections)?;
        self.transition(
            order_id,
            Some(hold_id),
            ReservationStatus::Pending,
            Document::new(),
            doc! {
                "status": ReservationStatus::Rejected.as_str(),
                "rejections": rejections,
                "settled": false,
            },
            now,
        )
        .await
    }

    pub async fn mark_committed(
        &self,
        order_id: &str,
        hold_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ReservationDoc>, StoreError> {
        self.committed(order_id, Some(hold_id), now).await
    }

    /// RESERVED → COMMITTED for whichever attempt holds the order's reservation: found and
    /// moved in one round trip, for a Commit that does not know the hold id yet. The status
    /// filter still gives the transition exactly one winner.
    pub async fn commit_reserved(
        &self,
        order_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ReservationDoc>, StoreError> {
        self.committed(order_id, None, now).await
    }

    async fn committed(
        &self,
        order_id: &str,
        hold_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<ReservationDoc>, StoreError> {
        self.transition(
            order_id,
            hold_id,
            ReservationStatus::Reserved,
            Document::new(),
            doc! { "status": ReservationStatus::Committed.as_str(), "settled": false },
            now,
        )
        .await
    }

    /// RESERVED → RELEASED. With `expired_by`, only if the reservation expired by then (the
    /// sweeper's guard against a reservation renewed or committed under its feet).
    pub async fn mark_released(
        &self,
        order_id: &str,
        hold_id: &str,
        reason: ReleaseReason,
        expired_by: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<ReservationDoc>, StoreError> {
        self.released(order_id, Some(hold_id), reason, expired_by, now)
            .await
    }

    /// RESERVED → RELEASED for whichever attempt holds the order's reservation, in one
    /// round trip (see [`Store::commit_reserved`]).
    pub async fn release_reserved(
        &self,
        order_id: &str,
        reason: ReleaseReason,
        now: DateTime<Utc>,
    ) -> Result<Option<ReservationDoc>, StoreError> {
        self.released(order_id, None, reason, None, now).await
    }

    async fn released(
        &self,
        order_id: &str,
        hold_id: Option<&str>,
        reason: ReleaseReason,
        expired_by: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<ReservationDoc>, StoreError> {
        let extra = match expired_by {
            Some(time) => doc! { "expires_at": { "$lte": bson_time(time) } },
            None => Document::new(),
        };
        let mut set = doc! {
            "status": ReservationStatus::Released.as_str(),
            "release_reason": reason.as_str(),
            "settled": false,
        };
        if reason == ReleaseReason::Expired {
            // Nobody asked for this release, so nobody retries its announcement: the
            // sweeper owns it until the broker confirms (see `announced`).
            set.insert("announced", false);
        }
        self.transition(
            order_id,
            hold_id,
            ReservationStatus::Reserved,
            extra,
            set,
            now,
        )
        .await
    }

    /// RELEASED by expiry (and settled, so the old attempt's units are back) → PENDING
    /// under the new attempt `hold_id`: the start of holding a paid order's lines again.
    /// `None` when another caller restarted or changed it first.
    pub async fn restart_expired(
        &self,
        order_id: &str,
        old_hold_id: &str,
        hold_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ReservationDoc>, StoreError> {
        self.transition(
            order_id,
            Some(old_hold_id),
            ReservationStatus::Released,
            doc! { "release_reason": ReleaseReason::Expired.as_str(), "settled": true },
            doc! {
                "hold_id": hold_id,
                "status": ReservationStatus::Pending.as_str(),
                "settled": false,
                "rejections": [],
                "release_reason": bson::Bson::Null,
                "expires_at": bson::Bson::Null,
            },
            now,
        )
        .await
    }

    /// PENDING → ABANDONED; with `stale_before`, only if the attempt has been pending since
    /// before then (the sweeper's test for "crashed", not merely slow).
    pub async fn mark_abandoned(
        &self,
        order_id: &str,
        hold_id: &str,
        stale_before: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<ReservationDoc>, StoreError> {
        let extra = match stale_before {
            Some(time) => doc! { "updated_at": { "$lte": bson_time(time) } },
            None => Document::new(),
        };
        self.transition(
            order_id,
            Some(hold_id),
            ReservationStatus::Pending,
            extra,
            doc! { "status": ReservationStatus::Abandoned.as_str(), "settled": false },
            now,
        )
        .await
    }

    pub async fn mark_settled(&self, order_id: &str, hold_id: &str) -> Result<(), StoreError> {
        self.reservations
            .update_one(
                doc! { "_id": order_id, "hold_id": hold_id },
                doc! { "$set": { "settled": true } },
            )
            .await?;
        Ok(())
    }

    /// Forgets a rolled-back attempt, so the order can be reserved afresh.
    pub async fn delete_abandoned(&self, order_id: &str, hold_id: &str) -> Result<(), StoreError> {
        self.reservations
            .delete_one(doc! {
                "_id": order_id,
                "hold_id": hold_id,
                "status": ReservationStatus::Abandoned.as_str(),
            })
            .await?;
        Ok(())
    }

    async fn find_reservations(
        &self,
        filter: Document,
        limit: i64,
    ) -> Result<Vec<ReservationDoc>, StoreError> {
        Ok(self
            .reservations
            .find(filter)
            .limit(limit)
            .await?
            .try_collect()
            .await?)
    }

    /// RESERVED reservations whose expiry is at or before `now`, soonest first.
    pub async fn find_expired(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ReservationDoc>, StoreError> {
        Ok(self
            .reservations
            .find(doc! {
                "status": ReservationStatus::Reserved.as_str(),
                "expires_at": { "$lte": bson_time(now) },
            })
            .sort(doc! { "expires_at": 1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?)
    }

    /// Expiry releases whose announcement the broker has not confirmed yet, oldest first.
    pub async fn find_unannounced(&self, limit: i64) -> Result<Vec<ReservationDoc>, StoreError> {
        Ok(self
            .reservations
            .find(doc! {
                "announced": false,
                "status": ReservationStatus::Released.as_str(),
            })
            .sort(doc! { "updated_at": 1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?)
    }

    /// Records that the release of attempt `hold_id` was announced.
    pub async fn mark_announced(&self, order_id: &str, hold_id: &str) -> Result<(), StoreError> {
        self.reservations
            .update_one(
                doc! { "_id": order_id, "hold_id": hold_id },
                doc! { "$set": { "announced": true } },
            )
            .await?;
        Ok(())
    }

    /// PENDING or ABANDONED attempts untouched since before `before`.
    pub async fn find_stale_attempts(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ReservationDoc>, StoreError> {
        self.find_reservations(
            doc! {
                "status": { "$in": [
                    ReservationStatus::Pending.as_str(),
                    ReservationStatus::Abandoned.as_str(),
                ] },
                "updated_at": { "$lte": bson_time(before) },
            },
            limit,
        )
        .await
    }

    /// Final reservations whose stock movement may be unfinished, untouched since `before`.
    pub async fn find_unsettled(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ReservationDoc>, StoreError> {
        self.find_reservations(
            doc! {
                "settled": false,
                "updated_at": { "$lte": bson_time(before) },
                "status": { "$in": [
                    ReservationStatus::Rejected.as_str(),
                    ReservationStatus::Committed.as_str(),
                    ReservationStatus::Released.as_str(),
                ] },
            },
            limit,
        )
        .await
    }

    // --- ledger --------------------------------------------------------------------------

    /// Appends an entry; re-appending the same movement is a no-op (ids are per version).
    pub async fn append_ledger(&self, entry: &LedgerDoc) -> Result<(), StoreError> {
        insert_new(&self.ledger, entry).await?;
        Ok(())
    }

    /// Appends the entries of one operation's movements in one round trip (nothing when
    /// there are none). Unordered, so an entry already there (a repeated movement: ids are
    /// per version) does not stop the others; such duplicates are no-ops, as in
    /// [`Store::append_ledger`].
    pub async fn append_ledger_entries(&self, entries: &[LedgerDoc]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        match self.ledger.insert_many(entries).ordered(false).await {
            Ok(_) => Ok(()),
            Err(error) if only_duplicates(&error) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Newest first, starting below `before_version` when given.
    pub async fn list_ledger(
        &self,
        sku: &str,
        before_version: Option<i64>,
        limit: i64,
    ) -> Result<Vec<LedgerDoc>, StoreError> {
        let mut filter = doc! { "sku": sku };
        if let Some(version) = before_version {
            filter.insert("version", doc! { "$lt": version });
        }
        Ok(self
            .ledger
            .find(filter)
            .sort(doc! { "version": -1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?)
    }

    // --- adjustment keys -----------------------------------------------------------------

    pub async fn get_adjustment(&self, id: &str) -> Result<Option<AdjustmentDoc>, StoreError> {
        Ok(self.adjustments.find_one(doc! { "_id": id }).await?)
    }

    /// Records an applied adjustment; the first record of a key wins.
    pub async fn insert_adjustment(&self, adjustment: &AdjustmentDoc) -> Result<(), StoreError> {
        insert_new(&self.adjustments, adjustment).await?;
        Ok(())
    }
}
