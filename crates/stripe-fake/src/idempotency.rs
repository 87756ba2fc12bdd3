//! `Idempotency-Key` as Stripe implements it (https://docs.stripe.com/api/idempotent_requests):
//!
//! - the first request with a key runs and its status and body are saved; a later request with
//!   the same key, endpoint and parameters gets the saved response back byte for byte, marked
//!   `Idempotent-Replayed: true`;
//! - the same key with other parameters, or on another endpoint, is an `idempotency_error`;
//! - keys belong to the API key that used them, expire after 24 hours, are at most 255
//!   characters, and only apply to POST;
//! - nothing is saved when the request never started executing (invalid parameters, unknown
//!   object), so such a request can be corrected and retried with the same key.
//!
//! One deliberate difference: Stripe answers 409 to a request whose key is still in flight;
//! the fake makes it wait for the first to finish and then replays, which gives the same
//! guarantee (one object per key, however many concurrent retries) and keeps tests simple.
//! Waiting is done with one async mutex per key, so unrelated requests never queue behind it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::error::ApiError;

const KEY_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
pub(crate) const MAX_KEY_LENGTH: usize = 255;

/// A response saved under a key, with what it answered.
#[derive(Debug, Clone)]
pub(crate) struct Saved {
    pub endpoint: String,
    pub params: Vec<(String, String)>,
    pub status: StatusCode,
    pub body: Bytes,
    pub request_id: String,
    saved_at: Instant,
}

type Slot = Arc<AsyncMutex<Option<Saved>>>;

#[derive(Debug, Default)]
pub(crate) struct IdempotencyKeys {
    slots: Mutex<HashMap<(String, String), Slot>>,
}

/// Exclusive use of one key until dropped; other requests with the key wait for it.
pub(crate) struct KeyGuard {
    key: String,
    slot: OwnedMutexGuard<Option<Saved>>,
}

/// What to do with a request that carries a key.
pub(crate) enum Decision {
    /// First use (or nothing was saved): run it, then [`KeyGuard::save`].
    Run(KeyGuard),
    /// The same request again: answer with this.
    Replay(Saved),
}

impl IdempotencyKeys {
    /// Waits for exclusive use of `key` under `api_key`, then decides between running the
    /// request and replaying, or refuses a mismatched reuse.
    pub async fn begin(
        &self,
        api_key: &str,
        key: &str,
        endpoint: &str,
        params: &[(String, String)],
    ) -> Result<Decision, ApiError> {
        if key.chars().count() > MAX_KEY_LENGTH {
            return Err(ApiError::invalid_request(format!(
                "Idempotency-Key is too long: keys may be at most {MAX_KEY_LENGTH} characters."
            )));
        }
        let slot = self.slot(api_key, key);
        let guard = slot.lock_owned().await;
        let Some(saved) = guard.as_ref() else {
            return Ok(Decision::Run(KeyGuard {
                key: key.to_owned(),
                slot: guard,
            }));
        };
        if saved.endpoint != endpoint {
            return Err(ApiError::idempotency(format!(
                "Keys for idempotent requests can only be used for the same endpoint they were first used for ('{}' vs '{endpoint}'). Try using a key other than '{key}' if you meant to execute a different request.",
                saved.endpoint
            )));
        }
        if saved.params != params {
            return Err(ApiError::idempotency(format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
            )));
        }
        Ok(Decision::Replay(saved.clone()))
    }

    fn slot(&self, api_key: &str, key: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        // Forget expired keys, and keys that saved nothing, unless a request holds them.
        slots.retain(|_, slot| {
            Arc::strong_count(slot) > 1
                || slot.try_lock().map_or(true, |saved| {
                    saved
                        .as_ref()
                        .is_some_and(|saved| saved.saved_at.elapsed() < KEY_LIFETIME)
                })
        });
        slots
            .entry((api_key.to_owned(), key.to_owned()))
            .or_default()
            .clone()
    }
}

impl KeyGuard {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Saves the response if Stripe would: once the endpoint ran, whatever it answered
    /// (success, a card decline, a server error), but not a request rejected as invalid.
    pub fn save(
        mut self,
        endpoint: String,
        params: Vec<(String, String)>,
        status: StatusCode,
        body: Bytes,
        request_id: String,
    ) {
        let rejected_before_running =
            matches!(status, StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND);
        if !rejected_before_running {
            *self.slot = Some(Saved {
                endpoint,
                params,
                status,
                body,
                request_id,
                saved_at: Instant::now(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(amount: &str) -> Vec<(String, String)> {
        vec![("amount".into(), amount.into())]
    }

    async fn run_and_save(keys: &IdempotencyKeys, api_key: &str, key: &str, body: &'static str) {
        match keys
            .begin(api_key, key, "POST /v1/payment_intents", &params("1"))
            .await
            .unwrap()
        {
            Decision::Run(guard) => guard.save(
                "POST /v1/payment_intents".into(),
                params("1"),
                StatusCode::OK,
                Bytes::from_static(body.as_bytes()),
                "req_1".into(),
            ),
            Decision::Replay(_) => panic!("first use must run"),
        }
    }

    #[tokio::test]
    async fn replays_refuses_mismatches_and_scopes_by_api_key() {
        let keys = IdempotencyKeys::default();
        run_and_save(&keys, "sk_test_a", "k1", "{\"id\":1}").await;

        let decision = keys
            .begin("sk_test_a", "k1", "POST /v1/payment_intents", &params("1"))
            .await
            .unwrap();
        let Decision::Replay(saved) = decision else {
            panic!("same request must replay");
        };
        assert_eq!(saved.body, Bytes::from_static(b"{\"id\":1}"));

        let error = keys
            .begin("sk_test_a", "k1", "POST /v1/payment_intents", &params("2"))
            .await
            .err()
            .unwrap();
        assert_eq!(error.body()["error"]["type"], "idempotency_error");
        let error = keys
            .begin("sk_test_a", "k1", "POST /v1/refunds", &params("1"))
            .await
            .err()
            .unwrap();
        assert!(error.message().contains("same endpoint"));

        // Another API key has its own key space.
        let decision = keys
            .begin("sk_test_b", "k1", "POST /v1/payment_intents", &params("1"))
            .await
            .unwrap();
        assert!(matches!(decision, Decision::Run(_)));
    }

    #[tokio::test]
    async fn invalid_requests_are_not_saved() {
        let keys = IdempotencyKeys::default();
        let Decision::Run(guard) = keys
            .begin("sk_test_a", "k", "POST /v1/payment_intents", &params("x"))
            .await
            .unwrap()
        else {
            panic!("first use must run");
        };
        guard.save(
            "POST /v1/payment_intents".into(),
            params("x"),
            StatusCode::BAD_REQUEST,
            Bytes::new(),
            "req".into(),
        );
        let decision = keys
            .begin("sk_test_a", "k", "POST /v1/payment_intents", &params("1"))
            .await
            .unwrap();
        assert!(matches!(decision, Decision::Run(_)));
    }

    #[tokio::test]
    async fn long_keys_are_refused() {
        let keys = IdempotencyKeys::default();
        let long = "k".repeat(MAX_KEY_LENGTH + 1);
        assert!(
            keys.begin("sk_test_a", &long, "POST /v1/refunds", &[])
                .await
                .is_err()
        );
    }
}
