//! What the fake remembers: one record per Stripe object it has made, plus where the request
//! that made it came from.
//!
//! Plain data, shared by the store (which changes it under Stripe's rules) and `objects`
//! (which renders it as Stripe's JSON), so neither of those needs the other's insides.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::cards::{Decline, TestCard};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Succeeded,
    Canceled,
}

impl IntentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::RequiresConfirmation => "requires_confirmation",
            Self::RequiresAction => "requires_action",
            Self::Succeeded => "succeeded",
            Self::Canceled => "canceled",
        }
    }

    pub fn confirmable(self) -> bool {
        matches!(
            self,
            Self::RequiresPaymentMethod | Self::RequiresConfirmation | Self::RequiresAction
        )
    }

    pub fn cancelable(self) -> bool {
        self.confirmable()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AutomaticPaymentMethods {
    pub enabled: bool,
    pub allow_redirects: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct IntentRecord {
    pub id: String,
    pub client_secret: String,
    pub amount: i64,
    pub currency: String,
    pub created: i64,
    pub status: IntentStatus,
    pub metadata: BTreeMap<String, String>,
    pub description: Option<String>,
    pub receipt_email: Option<String>,
    pub statement_descriptor: Option<String>,
    pub statement_descriptor_suffix: Option<String>,
    pub setup_future_usage: Option<String>,
    pub capture_method: String,
    pub payment_method_types: Vec<String>,
    /// As requested (`allowed_payment_method_types`, newer API versions); absent otherwise.
    pub allowed_payment_method_types: Option<Vec<String>>,
    pub automatic_payment_methods: Option<AutomaticPaymentMethods>,
    pub payment_method: Option<String>,
    pub latest_charge: Option<String>,
    pub amount_received: i64,
    pub last_payment_error: Option<Value>,
    pub next_action: Option<Value>,
    pub canceled_at: Option<i64>,
    pub cancellation_reason: Option<String>,
}

/// A PaymentMethod the fake made from a test token: like Stripe, each use of
/// `pm_card_visa` yields a fresh `pm_...` id with that card's details.
#[derive(Debug, Clone)]
pub(crate) struct PaymentMethodRecord {
    pub id: String,
    pub card: &'static TestCard,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct ChargeRecord {
    pub id: String,
    pub payment_intent: String,
    pub amount: i64,
    pub currency: String,
    pub created: i64,
    pub payment_method: String,
    pub card: &'static TestCard,
    /// `None` for a successful charge.
    pub failure: Option<Decline>,
    pub amount_refunded: i64,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub receipt_email: Option<String>,
    pub balance_transaction: Option<String>,
    pub three_d_secure: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct RefundRecord {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub charge: String,
    pub payment_intent: String,
    pub payment_method: String,
    pub created: i64,
    pub reason: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub balance_transaction: String,
    pub reversal: bool,
}

/// Where a request came from, for the `request` field of the events it causes.
#[derive(Debug, Clone)]
pub(crate) struct RequestInfo {
    pub id: Option<String>,
    pub idempotency_key: Option<String>,
    /// 1 while a webhook endpoint is configured, as Stripe counts endpoints yet to be served.
    pub pending_webhooks: u32,
}
