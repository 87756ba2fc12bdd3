//! Every record the fake holds, as it sits behind the store's one mutex.

use std::collections::HashMap;

use axum::http::StatusCode;
use serde_json::Value;

use crate::error::ApiError;
use crate::objects::Templates;
use crate::records::{ChargeRecord, IntentRecord, PaymentMethodRecord, RefundRecord};

/// The records, with the order lists pagination walks (newest last) and an index of events
/// by id.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) intents: HashMap<String, IntentRecord>,
    pub(super) intent_order: Vec<String>,
    pub(super) payment_methods: HashMap<String, PaymentMethodRecord>,
    pub(super) charges: HashMap<String, ChargeRecord>,
    pub(super) refunds: HashMap<String, RefundRecord>,
    pub(super) refund_order: Vec<String>,
    pub(super) events: Vec<Value>,
    pub(super) event_index: HashMap<String, usize>,
}

impl State {
    pub(super) fn intent(
        &self,
        id: &str,
        param: &str,
        status: StatusCode,
    ) -> Result<&IntentRecord, ApiError> {
        self.intents
            .get(id)
            .ok_or_else(|| ApiError::no_such("payment_intent", id, param, status))
    }

    pub(super) fn render_intent(
        &self,
        templates: &Templates,
        pi: &IntentRecord,
        expand: &[String],
    ) -> Value {
        let expanded = |field: &str| expand.iter().any(|wanted| wanted == field);
        let latest_charge = match &pi.latest_charge {
            None => Value::Null,
            Some(id) => match self.charges.get(id) {
                Some(charge) if expanded("latest_charge") => templates.charge(charge),
                _ => Value::from(id.as_str()),
            },
        };
        let payment_method = match &pi.payment_method {
            None => Value::Null,
            Some(id) => match self.payment_methods.get(id) {
                Some(pm) if expanded("payment_method") => templates.payment_method(pm),
                _ => Value::from(id.as_str()),
            },
        };
        templates.payment_intent(pi, latest_charge, payment_method)
    }
}
