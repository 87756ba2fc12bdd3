//! One operation's hold on the locked state: what every operation needs to read and change
//! records and to record the events it causes.

use axum::http::StatusCode;
use serde_json::Value;

use super::state::State;
use crate::cards::{self, TestCard};
use crate::error::ApiError;
use crate::ids::{now, object_id};
use crate::objects::Templates;
use crate::records::{IntentRecord, PaymentMethodRecord, RequestInfo};

/// One operation's view of the locked state.
pub(super) struct Tx<'a> {
    pub(super) state: &'a mut State,
    pub(super) templates: &'a Templates,
    pub(super) public_url: &'a str,
    pub(super) request: &'a RequestInfo,
    pub(super) events: Vec<Value>,
}

/// A `payment_method` parameter, resolved.
pub(super) enum PaymentMethodRef {
    Token(&'static TestCard),
    Existing(String),
}

impl Tx<'_> {
    pub(super) fn emit(&mut self, type_: &str, object: Value) {
        let id = object_id("evt");
        let event = self.templates.event(
            &id,
            type_,
            object,
            now(),
            self.request,
            self.request.pending_webhooks,
        );
        self.state.event_index.insert(id, self.state.events.len());
        self.state.events.push(event.clone());
        self.events.push(event);
    }

    pub(super) fn intent_json(&self, id: &str) -> Value {
        self.state.intents.get(id).map_or(Value::Null, |pi| {
            self.state.render_intent(self.templates, pi, &[])
        })
    }

    pub(super) fn intent_mut(&mut self, id: &str) -> Result<&mut IntentRecord, ApiError> {
        self.state
            .intents
            .get_mut(id)
            .ok_or_else(|| ApiError::no_such("payment_intent", id, "intent", StatusCode::NOT_FOUND))
    }

    pub(super) fn resolve_payment_method(&self, value: &str) -> Result<PaymentMethodRef, ApiError> {
        if let Some(card) = cards::lookup(value) {
            return Ok(PaymentMethodRef::Token(card));
        }
        if self.state.payment_methods.contains_key(value) {
            return Ok(PaymentMethodRef::Existing(value.to_owned()));
        }
        Err(ApiError::no_such(
            "PaymentMethod",
            value,
            "payment_method",
            StatusCode::BAD_REQUEST,
        ))
    }

    /// Turns a reference into a stored PaymentMethod id (a token makes a new one).
    pub(super) fn materialise(&mut self, reference: PaymentMethodRef) -> String {
        match reference {
            PaymentMethodRef::Existing(id) => id,
            PaymentMethodRef::Token(card) => {
                let id = object_id("pm");
                self.state.payment_methods.insert(
                    id.clone(),
                    PaymentMethodRecord {
                        id: id.clone(),
                        card,
                        created: now(),
                    },
                );
                id
            }
        }
    }

    pub(super) fn render_expanded(&self, id: &str, expand: &[String]) -> Value {
        self.state.intents.get(id).map_or(Value::Null, |pi| {
            self.state.render_intent(self.templates, pi, expand)
        })
    }
}
