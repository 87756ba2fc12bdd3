//! Resuming payments that nothing else will move: PENDING rows whose request was
//! dead-lettered (Stripe was down for longer than the consumer's retry budget, about a
//! minute by default) or whose outcome never arrived (a lost webhook for an intent that
//! was still processing).
//!
//! The consumer's redelivery is what normally resumes an interrupted payment; this is the
//! backstop for when the bus has given up. It runs the same charge step with the same
//! idempotency keys, so it is safe beside the consumer, the webhook and other replicas
//! sweeping at once. It leaves alone payments whose create key Stripe may have forgotten
//! (see `domain::CREATE_KEY_WINDOW_SECS`) and payments cancelled before an intent was known
//! (charging those now would only be refunded; a capture made earlier still arrives by
//! webhook).

use std::time::Duration;

use crate::events::Saga;

/// One pass, as `shop_bus::Runtime::every` runs it; a payment is stale after `stale_after`
/// without a change. A failure is logged and the next pass tries again.
pub async fn pass(saga: Saga, stale_after: Duration) {
    let stale_after =
        chrono::Duration::from_std(stale_after).unwrap_or_else(|_| chrono::Duration::hours(1));
    match saga.resume_stale(stale_after).await {
        Ok(0) => {}
        Ok(seen) => tracing::info!(seen, "swept stale payments"),
        Err(error) => tracing::warn!(%error, "payment sweep failed"),
    }
}
