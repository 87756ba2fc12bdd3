//! The fake's memory and Stripe's rules for changing it.
//!
//! Everything lives behind one mutex, held only for the synchronous body of an operation, so
//! each API call sees and leaves a consistent state (a confirm creates its charge, moves the
//! intent and records its events atomically). Operations take decoded parameters, validate
//! them the way Stripe does, apply the PaymentIntent state machine, and return the response
//! object plus the events to deliver.
//!
//! One way down: this module runs operations (`transaction` opens one on the locked `state`),
//! the operations (`intent_state_machine`, `refunds`) decode what they are given with
//! `params`, and the list endpoints page with `pagination`; the records themselves live in
//! `crate::records`, so rendering them (`crate::objects`) needs nothing from here.

mod intent_state_machine;
mod pagination;
mod params;
mod refunds;
mod state;
#[cfg(test)]
mod tests;
mod transaction;

use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::http::StatusCode;
use serde_json::Value;

pub use intent_state_machine::AuthenticationOutcome;
use pagination::{CreatedFilter, list_object, paginate};
use params::expansions;
use state::State;
use transaction::Tx;

use crate::error::ApiError;
use crate::form::Params;
use crate::objects::Templates;
use crate::records::RequestInfo;

/// What an operation answered and which events it caused (already recorded; to be delivered).
#[derive(Debug)]
pub(crate) struct Outcome {
    pub result: Result<Value, ApiError>,
    pub events: Vec<Value>,
}

#[derive(Debug)]
pub(crate) struct Store {
    state: Mutex<State>,
    templates: Templates,
    /// Origin of the fake's own pages (the 3-D Secure page), without a trailing slash.
    public_url: String,
}

impl Store {
    pub fn new(templates: Templates, public_url: &str) -> Self {
        Self {
            state: Mutex::new(State::default()),
            templates,
            public_url: public_url.to_owned(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `operation` atomically and collects the events it emitted.
    fn transact(
        &self,
        request: &RequestInfo,
        operation: impl FnOnce(&mut Tx<'_>) -> Result<Value, ApiError>,
    ) -> Outcome {
        let mut state = self.lock();
        let mut tx = Tx {
            state: &mut state,
            templates: &self.templates,
            public_url: &self.public_url,
            request,
            events: Vec::new(),
        };
        let result = operation(&mut tx);
        Outcome {
            result,
            events: tx.events,
        }
    }

    // --- PaymentIntents ---------------------------------------------------------------------

    pub fn create_payment_intent(&self, params: &Params, request: &RequestInfo) -> Outcome {
        self.transact(request, |tx| tx.create_payment_intent(params))
    }

    pub fn confirm_payment_intent(
        &self,
        id: &str,
        params: &Params,
        request: &RequestInfo,
    ) -> Outcome {
        self.transact(request, |tx| tx.confirm_payment_intent(id, params))
    }

    pub fn cancel_payment_intent(
        &self,
        id: &str,
        params: &Params,
        request: &RequestInfo,
    ) -> Outcome {
        self.transact(request, |tx| tx.cancel_payment_intent(id, params))
    }

    pub fn authenticate(
        &self,
        id: &str,
        outcome: AuthenticationOutcome,
        request: &RequestInfo,
    ) -> Outcome {
        self.transact(request, |tx| tx.authenticate(id, outcome))
    }

    pub fn retrieve_payment_intent(&self, id: &str, params: &Params) -> Result<Value, ApiError> {
        params.only(&["expand", "client_secret"])?;
        let expand = expansions(params, "")?;
        let state = self.lock();
        let pi = state.intent(id, "intent", StatusCode::NOT_FOUND)?;
        Ok(state.render_intent(&self.templates, pi, &expand))
    }

    pub fn list_payment_intents(&self, params: &Params) -> Result<Value, ApiError> {
        params.only(&[
            "limit",
            "starting_after",
            "ending_before",
            "created",
            "customer",
            "customer_account",
            "expand",
        ])?;
        let expand = expansions(params, "data.")?;
        let created = CreatedFilter::parse(params)?;
        let state = self.lock();
        // No intent has a customer in the fake, so a customer filter matches nothing.
        let customer_filter =
            params.str("customer").is_some() || params.str("customer_account").is_some();
        let ids: Vec<&String> = state
            .intent_order
            .iter()
            .rev()
            .filter(|id| {
                !customer_filter
                    && state
                        .intents
                        .get(id.as_str())
                        .is_some_and(|pi| created.matches(pi.created))
            })
            .collect();
        let (page, has_more) = paginate(&ids, params, "payment_intent")?;
        let data: Vec<Value> = page
            .iter()
            .filter_map(|id| state.intents.get(id.as_str()))
            .map(|pi| state.render_intent(&self.templates, pi, &expand))
            .collect();
        Ok(list_object("/v1/payment_intents", data, has_more))
    }

    // --- Refunds, charges, events --------------------------------------------------------------

    pub fn create_refund(&self, params: &Params, request: &RequestInfo) -> Outcome {
        self.transact(request, |tx| tx.create_refund(params))
    }

    pub fn retrieve_refund(&self, id: &str, params: &Params) -> Result<Value, ApiError> {
        params.only(&["expand"])?;
        let state = self.lock();
        let refund = found(state.refunds.get(id), "refund", id)?;
        Ok(self.templates.refund(refund))
    }

    pub fn list_refunds(&self, params: &Params) -> Result<Value, ApiError> {
        params.only(&[
            "limit",
            "starting_after",
            "ending_before",
            "created",
            "charge",
            "payment_intent",
            "expand",
        ])?;
        let created = CreatedFilter::parse(params)?;
        let charge = params.str("charge");
        let intent = params.str("payment_intent");
        let state = self.lock();
        let ids: Vec<&String> = state
            .refund_order
            .iter()
            .rev()
            .filter(|id| {
                state.refunds.get(id.as_str()).is_some_and(|refund| {
                    created.matches(refund.created)
                        && charge.is_none_or(|charge| refund.charge == charge)
                        && intent.is_none_or(|intent| refund.payment_intent == intent)
                })
            })
            .collect();
        let (page, has_more) = paginate(&ids, params, "refund")?;
        let data = page
            .iter()
            .filter_map(|id| state.refunds.get(id.as_str()))
            .map(|refund| self.templates.refund(refund))
            .collect();
        Ok(list_object("/v1/refunds", data, has_more))
    }

    pub fn retrieve_charge(&self, id: &str, params: &Params) -> Result<Value, ApiError> {
        params.only(&["expand"])?;
        let state = self.lock();
        let charge = found(state.charges.get(id), "charge", id)?;
        Ok(self.templates.charge(charge))
    }

    pub fn retrieve_event(&self, id: &str) -> Result<Value, ApiError> {
        let state = self.lock();
        let event = state
            .event_index
            .get(id)
            .and_then(|index| state.events.get(*index));
        found(event, "event", id).cloned()
    }

    // --- Inspection for tests ------------------------------------------------------------------

    /// Every PaymentIntent, oldest first.
    pub fn all_payment_intents(&self) -> Vec<Value> {
        let state = self.lock();
        state
            .intent_order
            .iter()
            .filter_map(|id| state.intents.get(id))
            .map(|pi| state.render_intent(&self.templates, pi, &[]))
            .collect()
    }

    pub fn payment_intent(&self, id: &str) -> Option<Value> {
        let state = self.lock();
        state
            .intents
            .get(id)
            .map(|pi| state.render_intent(&self.templates, pi, &[]))
    }

    /// Every refund, oldest first.
    pub fn all_refunds(&self) -> Vec<Value> {
        let state = self.lock();
        state
            .refund_order
            .iter()
            .filter_map(|id| state.refunds.get(id))
            .map(|refund| self.templates.refund(refund))
            .collect()
    }

    /// Every event, oldest first.
    pub fn all_events(&self) -> Vec<Value> {
        self.lock().events.clone()
    }
}

/// What `GET /v1/<objects>/{id}` found, or Stripe's `resource_missing` for `kind` `id`.
fn found<T>(object: Option<T>, kind: &str, id: &str) -> Result<T, ApiError> {
    object.ok_or_else(|| ApiError::no_such(kind, id, "id", StatusCode::NOT_FOUND))
}
