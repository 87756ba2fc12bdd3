//! The fake's parts that every HTTP handler shares: the store, the idempotency keys and the
//! webhook sender, and the one operation that needs all three outside an API request.
//!
//! Its own module so the Stripe routes (`api`) and the 3-D Secure page
//! (`authentication_page`) both depend on it and not on each other.

use serde_json::Value;

use crate::error::ApiError;
use crate::idempotency::IdempotencyKeys;
use crate::records::RequestInfo;
use crate::store::{AuthenticationOutcome, Outcome, Store};
use crate::webhook::Webhooks;

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Fake {
    pub store: Store,
    pub idempotency: IdempotencyKeys,
    pub webhooks: Webhooks,
}

impl Fake {
    /// Runs a state change not caused by an API request (a test completing 3-D Secure) and
    /// delivers its events.
    pub fn authenticate(
        &self,
        id: &str,
        outcome: AuthenticationOutcome,
    ) -> Result<Value, ApiError> {
        let request = RequestInfo {
            id: None,
            idempotency_key: None,
            pending_webhooks: u32::from(self.webhooks.enabled()),
        };
        let Outcome { result, events } = self.store.authenticate(id, outcome, &request);
        self.webhooks.enqueue(events);
        result
    }
}
