//! The saga's last line of defence: an order that is still unfinished long after any
//! reservation would have expired is cancelled here, so "every order ends CONFIRMED or
//! CANCELLED" holds even if an `inventory.released(EXPIRED)` or an inventory answer was
//! lost. A payment that still arrives later is refunded (the state machine announces the
//! cancellation again with the capture).

use std::time::Duration;

use chrono::Utc;
use sqlx::MySqlPool;

use crate::domain::{Input, Status};
use crate::events::Saga;
use crate::store;

/// Orders handled per pass.
const BATCH: i64 = 100;

/// Cancels every order unfinished for longer than `timeout`; returns how many it cancelled.
pub async fn cancel_stale(
    pool: &MySqlPool,
    saga: &Saga,
    timeout: Duration,
) -> Result<usize, store::StoreError> {
    let before = Utc::now() - chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX);
    let mut cancelled = 0;
    for order_id in store::stale_unfinished(pool, before, BATCH).await? {
        match saga
            .apply(&order_id, Input::ReservationExpired, None, |_| {})
            .await
        {
            Ok(order) if order.order.status == Status::Cancelled => {
                tracing::warn!(%order_id, "unfinished order timed out and was cancelled");
                cancelled += 1;
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%order_id, %error, "could not time out an order"),
        }
    }
    Ok(cancelled)
}

/// One pass of the sweep, as `shop_bus::Runtime::every` runs it: a failure is logged and
/// the next pass tries again.
pub async fn pass(pool: MySqlPool, saga: Saga, timeout: Duration) {
    if let Err(error) = cancel_stale(&pool, &saga, timeout).await {
        tracing::warn!(%error, "order timeout sweep failed; retrying next tick");
    }
}
