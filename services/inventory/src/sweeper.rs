//! Returning stock nobody is going to buy: reservations whose TTL ran out, and Reserve
//! attempts or settlements that a crash interrupted.
//!
//! The sweeper is the only thing that releases expired reservations. A TTL index would
//! delete the reservation document but could not give the held units back to `available`,
//! so expiry is an ordinary guarded transition (RESERVED → RELEASED with reason EXPIRED)
//! that races safely with Commit and Release: whichever transition wins is the only one
//! applied. Every replica may sweep at once for the same reason.
//!
//! Each expiry must become an `inventory.released(EXPIRED)` event, so that Order cancels the
//! unpaid order. MongoDB has no outbox here, so the release itself marks the reservation
//! `announced: false` and [`announce_expiries`] publishes every such reservation and then
//! marks it announced: a crash between the release and the publish (or a broker outage) is
//! made good by the next sweep. Delivery is at least once; Order ignores repeats.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shop_kit::ServiceError;

use crate::cache::StockCache;
use crate::domain::{ReleaseReason, ReservationStatus};
use crate::reservations;
use crate::store::{LineDoc, Store};

/// A PENDING attempt untouched for this long is taken for crashed and rolled back. A
/// Reserve takes milliseconds; this must only be far longer than the slowest one.
pub const PENDING_TIMEOUT: Duration = Duration::from_secs(60);
/// A final reservation still unsettled after this long is settled by the sweeper (its
/// caller normally settles it within milliseconds).
pub const SETTLE_GRACE: Duration = Duration::from_secs(30);
/// Reservations handled per query; `release_expired` keeps going until none are due.
const BATCH: i64 = 100;

/// One reservation the sweeper released because its TTL ran out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasedReservation {
    pub order_id: String,
    pub reason: ReleaseReason,
    /// The units that went back to available.
    pub lines: Vec<LineDoc>,
}

/// Releases every RESERVED reservation that expired at or before `now` and returns what it
/// released. Reservations that a concurrent Commit, Release or sweeper moved first are
/// left to them and not reported. An `Err` (the database failing) loses the report of
/// releases made earlier in the same call, though not the releases themselves.
pub async fn release_expired(
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Vec<ReleasedReservation>, ServiceError> {
    let mut released = Vec::new();
    loop {
        let due = store.find_expired(now, BATCH).await?;
        let full_batch = due.len() as i64 == BATCH;
        let mut progressed = false;
        for reservation in due {
            let Some(expired) = store
                .mark_released(
                    &reservation.order_id,
                    &reservation.hold_id,
                    ReleaseReason::Expired,
                    Some(now),
                    now,
                )
                .await?
            else {
                continue;
            };
            progressed = true;
            // The release has happened once the status moved, so it is reported even if
            // returning the units fails here: `recover_interrupted` finishes that later.
            match reservations::settle(store, &expired, now).await {
                Ok(()) => tracing::info!(
                    order_id = %expired.order_id,
                    lines = expired.lines.len(),
                    "reservation expired; its stock is available again"
                ),
                Err(error) => tracing::warn!(
                    order_id = %expired.order_id,
                    %error,
                    "reservation expired; returning its stock failed and will be retried"
                ),
            }
            released.push(ReleasedReservation {
                order_id: expired.order_id,
                reason: ReleaseReason::Expired,
                lines: expired.lines,
            });
        }
        if !full_batch || !progressed {
            return Ok(released);
        }
    }
}

/// What [`recover_interrupted`] repaired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Crashed Reserve attempts rolled back and forgotten.
    pub abandoned: usize,
    /// Final reservations whose stock movement was completed.
    pub settled: usize,
}

/// Finishes what a crash interrupted, as of `now`: Reserve attempts PENDING for longer than
/// [`PENDING_TIMEOUT`] give back whatever they held and are deleted (so the order can be
/// reserved afresh), and final reservations unsettled for longer than [`SETTLE_GRACE`] are
/// settled. Handles one batch of each per call.
pub async fn recover_interrupted(
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Recovery, ServiceError> {
    let mut recovery = Recovery::default();
    let stale_before =
        now - chrono::Duration::from_std(PENDING_TIMEOUT).map_err(ServiceError::internal)?;
    for attempt in store.find_stale_attempts(stale_before, BATCH).await? {
        let stale = match attempt.status {
            ReservationStatus::Pending => {
                store
                    .mark_abandoned(&attempt.order_id, &attempt.hold_id, Some(stale_before), now)
                    .await?
            }
            ReservationStatus::Abandoned => Some(attempt),
            _ => None,
        };
        if let Some(stale) = stale {
            reservations::abandon(store, &stale, now).await?;
            tracing::warn!(
                order_id = %stale.order_id,
                "rolled back an interrupted reservation attempt"
            );
            recovery.abandoned += 1;
        }
    }
    let settle_before =
        now - chrono::Duration::from_std(SETTLE_GRACE).map_err(ServiceError::internal)?;
    for reservation in store.find_unsettled(settle_before, BATCH).await? {
        reservations::settle(store, &reservation, now).await?;
        tracing::warn!(order_id = %reservation.order_id, status = reservation.status.as_str(),
            "completed an interrupted settlement");
        recovery.settled += 1;
    }
    Ok(recovery)
}

/// One sweep, as `shop_bus::Runtime::every` runs it: at start-up (which also recovers from a
/// crash of this replica) and then every interval. Each step logs its failure and the next
/// pass tries again; a pass cut short by a crash would be safe too.
pub async fn pass(store: Store, cache: StockCache, announce: Option<shop_bus::Publisher>) {
    sweep_once(&store, &cache, announce.as_ref(), Utc::now()).await;
}

/// Publishes `inventory.released(EXPIRED)` for every expiry not yet announced (this pass's
/// and any an earlier crash or broker outage left behind) and marks each announced once
/// the broker confirmed it. Returns how many it announced; stops at the first failure (the
/// rest wait for the next sweep).
pub async fn announce_expiries(
    store: &Store,
    publisher: &shop_bus::Publisher,
) -> Result<usize, ServiceError> {
    let mut announced = 0;
    loop {
        let due = store.find_unannounced(BATCH).await?;
        let full_batch = due.len() as i64 == BATCH;
        for reservation in &due {
            // A RELEASED reservation always has one: `inventory.released` with its reason.
            if let Some(envelope) = crate::events::announcement(reservation) {
                publisher.publish(&envelope).await.map_err(|error| {
                    ServiceError::Unavailable(format!("announcing expiry: {error}"))
                })?;
            }
            store
                .mark_announced(&reservation.order_id, &reservation.hold_id)
                .await?;
            announced += 1;
        }
        if !full_batch {
            return Ok(announced);
        }
    }
}

async fn sweep_once(
    store: &Store,
    cache: &StockCache,
    announce: Option<&shop_bus::Publisher>,
    now: DateTime<Utc>,
) {
    match release_expired(store, now).await {
        Ok(released) => {
            let skus: Vec<String> = released
                .iter()
                .flat_map(|reservation| reservation.lines.iter().map(|line| line.sku.clone()))
                .collect();
            cache.invalidate(&skus).await;
        }
        Err(error) => tracing::warn!(%error, "expiry sweep failed; retrying next tick"),
    }
    if let Some(publisher) = announce
        && let Err(error) = announce_expiries(store, publisher).await
    {
        tracing::error!(%error, "could not announce expired reservations; next sweep retries");
    }
    if let Err(error) = recover_interrupted(store, now).await {
        tracing::warn!(%error, "recovery sweep failed; retrying next tick");
    }
}
