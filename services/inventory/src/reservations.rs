//! Reserve, commit and release: the one implementation the RPCs, the saga's event
//! consumers and the expiry sweeper share.
//!
//! # Why conditional updates and not transactions
//!
//! MongoDB multi-document transactions would make "hold every line or none" one atomic
//! step, but under contention they abort with write conflicts that the caller must retry
//! (200 buyers of one SKU means a retry storm), they need a replica set in production, and
//! their behaviour under contention on the SecantusDB stand-in is unproven. Everything here
//! is instead built from single-document conditional updates, which are atomic on every
//! MongoDB and were shown to hold on SecantusDB (200 racing holds on stock 100: exactly 100
//! win). Three rules make that sufficient:
//!
//! 1. **The reservation document decides; one winner per transition.** A Reserve first
//!    inserts `{_id: order_id, status: PENDING}`; the unique `_id` lets exactly one attempt
//!    own an order, and every duplicate (concurrent or later) waits for and returns that
//!    attempt's outcome. Every later change of status (PENDING → RESERVED | REJECTED,
//!    RESERVED → COMMITTED | RELEASED, PENDING → ABANDONED) is a `find_one_and_update`
//!    filtered on the current status, so concurrent Commit, Release and expiry each have
//!    one winner, and only the winner's outcome is ever applied.
//! 2. **Stock moves are guarded by a per-attempt hold tag, so each applies exactly once.**
//!    Holding a line is `available >= q` *and* "hold tag not yet on this SKU" → `$inc` plus
//!    `$push` the tag (the never-oversell guard). Selling or returning it is "tag present"
//!    → `$inc` plus `$pull` the tag. A retried, concurrent or recovered settlement can
//!    therefore never move a line twice, and "is this line still held?" is answered by
//!    the stock document itself, not by bookkeeping that a crash could leave behind.
//! 3. **A final status records what must happen; `settled` records that it did.** A
//!    transition to COMMITTED, RELEASED or REJECTED sets `settled: false`; the winner then
//!    sells or returns every tagged line and sets `settled: true`. If it crashes in between,
//!    whoever next touches the reservation (a retry, or the sweeper) finishes the job, and
//!    rule 2 makes finishing idempotent.
//!
//! All-or-nothing follows: an attempt holds lines one by one (in SKU order); if any line
//! is short it checks the remaining lines without holding them (so the rejection lists
//! every short SKU), marks the reservation REJECTED and returns what it held. A crash
//! mid-attempt leaves a PENDING document, which the sweeper turns ABANDONED after a
//! timeout, returns by tag and deletes, so the order can be reserved afresh. The hold tag
//! is new per attempt, so an attempt that was only slow (not dead) cannot mistake a later
//! attempt's stock for its own: when its final transition fails it returns its own holds.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shop_kit::ServiceError;

use crate::domain::{
    CommitStep, OrderId, RejectionCode, ReleaseReason, ReleaseStep, ReservationLines,
    ReservationStatus, Settlement, commit_step, release_step,
};
use crate::store::{
    LedgerDoc, LedgerKind, LineDoc, RejectionDoc, ReservationDoc, Store, bson_time,
};

/// How long a duplicate Reserve, or a Commit or Release, waits for an in-flight Reserve of
/// the same order to decide. Far longer than a Reserve takes, far shorter than a deadline.
pub const DECISION_WAIT: Duration = Duration::from_secs(10);
/// Rounds of "the status changed under us, look again" before giving up.
const TRANSITION_ATTEMPTS: usize = 5;
/// Rounds of "the hold failed, but the re-read shows enough units" before calling it short.
const HOLD_ATTEMPTS: usize = 3;

fn retry_later(order_id: &str) -> ServiceError {
    ServiceError::Unavailable(format!(
        "the reservation of order {order_id} is being changed concurrently; retry"
    ))
}

/// Reserves every line for `order_id`, or none. A repeat (concurrent or later) returns the
/// order's existing reservation, whatever its state and whatever lines it asks for.
pub async fn reserve(
    store: &Store,
    order_id: &OrderId,
    lines: &ReservationLines,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<ReservationDoc, ServiceError> {
    let attempt = ReservationDoc {
        order_id: order_id.to_string(),
        hold_id: uuid::Uuid::now_v7().to_string(),
        status: ReservationStatus::Pending,
        lines: lines
            .iter()
            .map(|line| LineDoc {
                sku: line.sku.to_string(),
                quantity: line.quantity.get(),
            })
            .collect(),
        rejections: Vec::new(),
        expires_at: None,
        release_reason: None,
        settled: false,
        created_at: bson_time(now),
        updated_at: bson_time(now),
        announced: None,
    };
    for _ in 0..TRANSITION_ATTEMPTS {
        if store.insert_reservation(&attempt).await? {
            return run_attempt(store, &attempt, lines, ttl, now).await;
        }
        if let Some(existing) = current(store, order_id.as_str(), now).await? {
            return Ok(existing);
        }
        // An interrupted earlier attempt was rolled back and forgotten: ours may go ahead.
    }
    Err(retry_later(order_id.as_str()))
}

/// Holds the lines of an attempt this call owns, then decides RESERVED or REJECTED.
async fn run_attempt(
    store: &Store,
    attempt: &ReservationDoc,
    lines: &ReservationLines,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<ReservationDoc, ServiceError> {
    let mut rejections = match hold_all(store, attempt, lines, now).await {
        Ok(rejections) => rejections,
        Err(error) => {
            // Give back what was held now, so a retry need not wait for the sweeper; if
            // the database is still failing, the sweeper does it after PENDING_TIMEOUT.
            if let Err(cleanup) = abandon(store, attempt, now).await {
                tracing::warn!(order_id = %attempt.order_id, error = %cleanup,
                    "rolling back a failed reservation attempt failed; the sweeper will");
            }
            return Err(error);
        }
    };
    let decided = if rejections.is_empty() {
        let ttl = chrono::Duration::from_std(ttl).map_err(ServiceError::internal)?;
        store
            .mark_reserved(&attempt.order_id, &attempt.hold_id, now + ttl, now)
            .await?
    } else {
        // Report refused lines in the order they were requested.
        let position = |sku: &str| attempt.lines.iter().position(|line| line.sku == sku);
        rejections.sort_by_key(|rejection: &RejectionDoc| position(&rejection.sku));
        store
            .mark_rejected(&attempt.order_id, &attempt.hold_id, &rejections, now)
            .await?
    };
    match decided {
        Some(reservation) => {
            settle(store, &reservation, now).await?;
            Ok(reservation)
        }
        None => {
            // The sweeper took this attempt for a crashed one and is rolling it back. Return
            // whatever this attempt still holds (the tag makes that safe alongside the
            // sweeper) and let the caller retry with a fresh attempt.
            tracing::warn!(
                order_id = %attempt.order_id,
                "reservation attempt was abandoned while running"
            );
            apply(store, attempt, Settlement::ReturnToAvailable, now).await?;
            Err(retry_later(&attempt.order_id))
        }
    }
}

/// Holds each line in SKU order until one is refused, then only checks the rest, so the
/// answer names every short line without holding stock it is about to give back. The
/// ledger entries of the holds are written together at the end (also when a later line
/// fails), one round trip instead of one per line.
async fn hold_all(
    store: &Store,
    attempt: &ReservationDoc,
    lines: &ReservationLines,
    now: DateTime<Utc>,
) -> Result<Vec<RejectionDoc>, ServiceError> {
    let mut rejections = Vec::new();
    let mut entries = Vec::new();
    for line in lines.in_sku_order() {
        let (sku, quantity) = (line.sku.as_str(), line.quantity.get());
        let rejection = if rejections.is_empty() {
            hold(store, attempt, sku, quantity, now, &mut entries).await
        } else {
            shortfall(store, sku, quantity).await
        };
        match rejection {
            Ok(rejection) => rejections.extend(rejection),
            Err(error) => {
                keep_entries(store, &entries).await;
                return Err(error);
            }
        }
    }
    record_all(store, &entries).await?;
    Ok(rejections)
}

/// Rolls an attempt back and forgets it: PENDING → ABANDONED, return every tagged line,
/// delete. Each step is safe to repeat, so the sweeper can take over from any point.
pub(crate) async fn abandon(
    store: &Store,
    attempt: &ReservationDoc,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let abandoned = match attempt.status {
        ReservationStatus::Abandoned => Some(attempt.clone()),
        _ => {
            store
                .mark_abandoned(&attempt.order_id, &attempt.hold_id, None, now)
                .await?
        }
    };
    if let Some(abandoned) = abandoned {
        settle(store, &abandoned, now).await?;
        store
            .delete_abandoned(&abandoned.order_id, &abandoned.hold_id)
            .await?;
    }
    Ok(())
}

/// Holds one line for `attempt`: `None` when held (its ledger entry added to `entries`),
/// or why it could not be.
async fn hold(
    store: &Store,
    attempt: &ReservationDoc,
    sku: &str,
    quantity: i64,
    now: DateTime<Utc>,
    entries: &mut Vec<LedgerDoc>,
) -> Result<Option<RejectionDoc>, ServiceError> {
    let mut last_seen = 0;
    for _ in 0..HOLD_ATTEMPTS {
        if let Some(after) = store.hold(sku, quantity, &attempt.hold_id, now).await? {
            entries.push(after_movement(
                &after,
                LedgerKind::Reserve,
                0,
                quantity,
                attempt,
            ));
            return Ok(None);
        }
        match store.get_stock(sku).await? {
            None => return Ok(Some(rejection(sku, RejectionCode::UnknownSku, quantity, 0))),
            Some(stock) if stock.available < quantity => {
                let code = RejectionCode::OutOfStock;
                return Ok(Some(rejection(sku, code, quantity, stock.available.max(0))));
            }
            // Units came back between the failed hold and the read: try again.
            Some(stock) => last_seen = stock.available,
        }
    }
    Ok(Some(rejection(
        sku,
        RejectionCode::OutOfStock,
        quantity,
        last_seen,
    )))
}

/// Why `quantity` units of `sku` cannot be reserved right now, if they cannot.
async fn shortfall(
    store: &Store,
    sku: &str,
    quantity: i64,
) -> Result<Option<RejectionDoc>, ServiceError> {
    Ok(match store.get_stock(sku).await? {
        None => Some(rejection(sku, RejectionCode::UnknownSku, quantity, 0)),
        Some(stock) if stock.available < quantity => Some(rejection(
            sku,
            RejectionCode::OutOfStock,
            quantity,
            stock.available.max(0),
        )),
        Some(_) => None,
    })
}

fn rejection(sku: &str, code: RejectionCode, requested: i64, available: i64) -> RejectionDoc {
    RejectionDoc {
        sku: sku.to_owned(),
        code,
        requested,
        available,
    }
}

fn after_movement(
    after: &crate::store::StockDoc,
    kind: LedgerKind,
    on_hand_delta: i64,
    reserved_delta: i64,
    reservation: &ReservationDoc,
) -> LedgerDoc {
    let mut entry = LedgerDoc::movement(after, kind, on_hand_delta, reserved_delta);
    entry.order_id.clone_from(&reservation.order_id);
    entry
}

/// Writes the ledger entries of one operation's movements, in one round trip.
async fn record_all(store: &Store, entries: &[LedgerDoc]) -> Result<(), ServiceError> {
    store.append_ledger_entries(entries).await?;
    Ok(())
}

/// [`record_all`] on the way out of a failed operation, whose own error is the one to
/// report: a ledger entry lost here is the known limit of docs/inventory.md (the counts
/// stay right, the version gap shows the loss).
async fn keep_entries(store: &Store, entries: &[LedgerDoc]) {
    if let Err(error) = record_all(store, entries).await {
        tracing::warn!(%error, lost = entries.len(), "ledger entries of a failed operation lost");
    }
}

/// Applies the stock movement a final status implies to every line still tagged with the
/// reservation's hold, then marks it settled. Idempotent and safe to run concurrently:
/// each line moves only if its tag is still there, and only the mover writes the ledger.
pub(crate) async fn settle(
    store: &Store,
    reservation: &ReservationDoc,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let settlement = reservation.status.settlement();
    if settlement == Settlement::KeepHeld {
        return Ok(());
    }
    apply(store, reservation, settlement, now).await?;
    if reservation.status != ReservationStatus::Abandoned {
        store
            .mark_settled(&reservation.order_id, &reservation.hold_id)
            .await?;
    }
    Ok(())
}

async fn apply(
    store: &Store,
    reservation: &ReservationDoc,
    settlement: Settlement,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let hold_id = &reservation.hold_id;
    let mut entries = Vec::new();
    for line in &reservation.lines {
        let (sku, quantity) = (line.sku.as_str(), line.quantity);
        let moved =
            match settlement {
                Settlement::KeepHeld => Ok(None),
                Settlement::Sell => store.sell(sku, quantity, hold_id, now).await.map(|after| {
                    after.map(|after| {
                        after_movement(
                            &after,
                            LedgerKind::Commit,
                            -quantity,
                            -quantity,
                            reservation,
                        )
                    })
                }),
                Settlement::ReturnToAvailable => store
                    .unhold(sku, quantity, hold_id, now)
                    .await
                    .map(|after| {
                        after.map(|after| {
                            after_movement(&after, LedgerKind::Release, 0, -quantity, reservation)
                        })
                    }),
            };
        match moved {
            Ok(entry) => entries.extend(entry),
            Err(error) => {
                // The lines moved so far keep their entries; the rest moves on the retry.
                keep_entries(store, &entries).await;
                return Err(error.into());
            }
        }
    }
    record_all(store, &entries).await
}

/// The order's reservation once no Reserve is deciding it (waiting up to
/// [`DECISION_WAIT`]), with any unfinished settlement completed; `None` when there is none.
async fn current(
    store: &Store,
    order_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<ReservationDoc>, ServiceError> {
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        let Some(reservation) = store.get_reservation(order_id).await? else {
            return Ok(None);
        };
        if !reservation.status.is_in_flight() {
            if reservation.status.is_final() && !reservation.settled {
                settle(store, &reservation, now).await?;
            }
            return Ok(Some(reservation));
        }
        if started.elapsed() >= DECISION_WAIT {
            return Err(retry_later(order_id));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

fn reservation_not_active(order_id: &str, status: ReservationStatus) -> ServiceError {
    ServiceError::FailedPrecondition {
        reason: "RESERVATION_NOT_ACTIVE",
        message: format!(
            "the reservation of order {order_id} is {}, so there is nothing to commit",
            status.as_str()
        ),
    }
}

/// Sells the order's reserved units. Committing a committed reservation is a no-op.
pub async fn commit(
    store: &Store,
    order_id: &OrderId,
    now: DateTime<Utc>,
) -> Result<ReservationDoc, ServiceError> {
    let order_id = order_id.as_str();
    // The common case first: a RESERVED reservation, committed in the round trip that
    // finds it. Anything else (already committed, still deciding, unsettled, absent) takes
    // the path below, which reads the reservation and answers for its state.
    if let Some(committed) = store.commit_reserved(order_id, now).await? {
        settle(store, &committed, now).await?;
        return Ok(committed);
    }
    for _ in 0..TRANSITION_ATTEMPTS {
        let current = current(store, order_id, now).await?;
        let step = commit_step(current.as_ref().map(|reservation| reservation.status));
        let reservation = match (step, current) {
            (CommitStep::NotFound, _) | (_, None) => {
                return Err(ServiceError::not_found("reservation", order_id));
            }
            (CommitStep::Wait, _) => continue,
            (CommitStep::AlreadyDone, Some(reservation)) => return Ok(reservation),
            (CommitStep::NotActive, Some(reservation)) => {
                return Err(reservation_not_active(order_id, reservation.status));
            }
            (CommitStep::Commit, Some(reservation)) => reservation,
        };
        if let Some(committed) = store
            .mark_committed(order_id, &reservation.hold_id, now)
            .await?
        {
            settle(store, &committed, now).await?;
            return Ok(committed);
        }
        // Released or expired meanwhile: look again and answer for the new state.
    }
    Err(retry_later(order_id))
}

/// Sells the units of an order that has been paid for. Usually that is [`commit`]; but a
/// payment can land after the reservation expired and its units went back on sale (the
/// customer took longer than the TTL, or the expiry notice is still on its way to the
/// Order service). Refusing then would leave a paid, confirmed order with nothing sold, so
/// the order's lines are held again, all or none, exactly as a Reserve holds them, and
/// sold. When they have been bought meanwhile the reservation ends REJECTED: the caller
/// announces that, and the Order service cancels the order and refunds it. Never oversells:
/// the new hold goes through the same guarded `$inc` as every other.
///
/// Repeats are safe: a sold order answers COMMITTED, a rejected one REJECTED again.
pub async fn commit_paid(
    store: &Store,
    order_id: &OrderId,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<ReservationDoc, ServiceError> {
    for _ in 0..TRANSITION_ATTEMPTS {
        match commit(store, order_id, now).await {
            Err(ServiceError::FailedPrecondition {
                reason: "RESERVATION_NOT_ACTIVE",
                ..
            }) => {}
            decided => return decided,
        }
        let Some(inactive) = current(store, order_id.as_str(), now).await? else {
            return Err(ServiceError::not_found("reservation", order_id.as_str()));
        };
        let expired = inactive.status == ReservationStatus::Released
            && inactive.release_reason == Some(ReleaseReason::Expired);
        if !expired {
            // REJECTED (by an earlier reclaim: announce it again) or released because
            // the order was cancelled (nothing to sell; the caller reports it).
            return if inactive.status == ReservationStatus::Rejected {
                Ok(inactive)
            } else {
                Err(reservation_not_active(order_id.as_str(), inactive.status))
            };
        }
        let hold_id = uuid::Uuid::now_v7().to_string();
        let Some(attempt) = store
            .restart_expired(order_id.as_str(), &inactive.hold_id, &hold_id, now)
            .await?
        else {
            continue; // Someone else restarted it: look again.
        };
        let mut violations = shop_kit::FieldViolations::new();
        let raw = attempt
            .lines
            .iter()
            .map(|line| (line.sku.as_str(), line.quantity));
        let Some(lines) = ReservationLines::parse(raw, attempt.lines.len(), &mut violations) else {
            return Err(ServiceError::internal(anyhow::anyhow!(
                "stored lines of order {order_id} no longer parse: {violations:?}"
            )));
        };
        tracing::info!(order_id = %order_id, "paid after its reservation expired; holding again");
        let decided = run_attempt(store, &attempt, &lines, ttl, now).await?;
        if decided.status != ReservationStatus::Reserved {
            return Ok(decided);
        }
    }
    Err(retry_later(order_id.as_str()))
}

/// Returns the order's reserved units to available. Releasing a released or rejected
/// reservation is a no-op; an order with no reservation gets a RELEASED tombstone, so a
/// Reserve that arrives later (a reordered event) holds nothing.
pub async fn release(
    store: &Store,
    order_id: &OrderId,
    reason: ReleaseReason,
    now: DateTime<Utc>,
) -> Result<ReservationDoc, ServiceError> {
    let order_id = order_id.as_str();
    // The common case first, as in `commit`.
    if let Some(released) = store.release_reserved(order_id, reason, now).await? {
        settle(store, &released, now).await?;
        return Ok(released);
    }
    for _ in 0..TRANSITION_ATTEMPTS {
        let current = current(store, order_id, now).await?;
        let step = release_step(current.as_ref().map(|reservation| reservation.status));
        match (step, current) {
            (ReleaseStep::Tombstone, _) => {
                let tombstone = ReservationDoc {
                    order_id: order_id.to_owned(),
                    hold_id: uuid::Uuid::now_v7().to_string(),
                    status: ReservationStatus::Released,
                    lines: Vec::new(),
                    rejections: Vec::new(),
                    expires_at: None,
                    release_reason: Some(reason),
                    settled: true,
                    created_at: bson_time(now),
                    updated_at: bson_time(now),
                    announced: None,
                };
                if store.insert_reservation(&tombstone).await? {
                    return Ok(tombstone);
                }
                // A Reserve got there first: answer for its reservation instead.
            }
            (ReleaseStep::Wait, _) | (_, None) => {}
            (ReleaseStep::AlreadyDone, Some(reservation)) => return Ok(reservation),
            (ReleaseStep::Committed, Some(_)) => {
                return Err(ServiceError::FailedPrecondition {
                    reason: "RESERVATION_COMMITTED",
                    message: format!(
                        "the reservation of order {order_id} is committed (the goods are sold); \
                         use AdjustStock for returns"
                    ),
                });
            }
            (ReleaseStep::Release, Some(reservation)) => {
                if let Some(released) = store
                    .mark_released(order_id, &reservation.hold_id, reason, None, now)
                    .await?
                {
                    settle(store, &released, now).await?;
                    return Ok(released);
                }
            }
        }
    }
    Err(retry_later(order_id))
}
