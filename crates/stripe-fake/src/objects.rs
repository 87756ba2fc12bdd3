//! Stripe objects as JSON, built on Stripe's own canonical examples.
//!
//! `fixtures/objects.json` is the `payment_intent`, `charge`, `refund`, `event` and
//! `payment_method` entries of Stripe's `openapi/fixtures3.json` (MIT, see
//! `fixtures/README.md`). Each rendered object starts as a copy of its fixture, so it carries
//! every field a typed client requires, and then the fields the fake manages are overwritten.
//! Placeholder values in the fixtures that would be wrong for a plain card payment
//! (`next_action: {type: "type"}`, a transfer destination, an ACH source, ...) are reset to
//! what Stripe returns for one.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::cards::TestCard;
use crate::error::FakeStripeError;
use crate::records::{ChargeRecord, IntentRecord, PaymentMethodRecord, RefundRecord, RequestInfo};

const FIXTURES: &str = include_str!("../fixtures/objects.json");

/// Every test card expires at the end of this month and year.
const EXP_MONTH: i64 = 12;
const EXP_YEAR: i64 = 2034;

/// The parsed fixtures, one template per object type.
#[derive(Debug, Clone)]
pub(crate) struct Templates {
    payment_intent: Map<String, Value>,
    charge: Map<String, Value>,
    refund: Map<String, Value>,
    event: Map<String, Value>,
    payment_method: Map<String, Value>,
}

impl Templates {
    pub fn load() -> Result<Self, FakeStripeError> {
        let fixtures: Value = serde_json::from_str(FIXTURES)
            .map_err(|error| FakeStripeError::Fixtures(error.to_string()))?;
        let template = |name: &str| -> Result<Map<String, Value>, FakeStripeError> {
            fixtures
                .get("resources")
                .and_then(|resources| resources.get(name))
                .and_then(Value::as_object)
                .cloned()
                .ok_or_else(|| FakeStripeError::Fixtures(format!("no `{name}` resource")))
        };
        Ok(Self {
            payment_intent: template("payment_intent")?,
            charge: template("charge")?,
            refund: template("refund")?,
            event: template("event")?,
            payment_method: template("payment_method")?,
        })
    }

    pub fn payment_method(&self, pm: &PaymentMethodRecord) -> Value {
        let mut object = self.payment_method.clone();
        let card = pm.card;
        set(&mut object, "id", pm.id.as_str());
        set(&mut object, "created", pm.created);
        set(&mut object, "livemode", false);
        set(&mut object, "metadata", json!({}));
        set(&mut object, "customer", Value::Null);
        set(&mut object, "customer_account", Value::Null);
        set(&mut object, "allow_redisplay", "unspecified");
        set(&mut object, "type", "card");
        set(
            &mut object,
            "billing_details",
            json!({
                "address": {
                    "city": null, "country": null, "line1": null, "line2": null,
                    "postal_code": null, "state": null
                },
                "email": null, "name": null, "phone": null, "tax_id": null
            }),
        );
        if let Some(Value::Object(details)) = object.get_mut("card") {
            set(details, "brand", card.brand);
            set(details, "display_brand", card.brand);
            set(details, "last4", card.last4);
            set(details, "funding", card.funding);
            set(details, "country", card.country);
            set(details, "exp_month", EXP_MONTH);
            set(details, "exp_year", EXP_YEAR);
            set(details, "fingerprint", fingerprint(card));
            set(details, "generated_from", Value::Null);
            set(details, "wallet", Value::Null);
            set(
                details,
                "networks",
                json!({ "available": [card.brand], "preferred": null }),
            );
            set(
                details,
                "checks",
                json!({
                    "address_line1_check": null,
                    "address_postal_code_check": null,
                    "cvc_check": "unchecked"
                }),
            );
        }
        Value::Object(object)
    }

    /// `latest_charge` and `payment_method` come in already rendered: an id, `null`, or the
    /// expanded object.
    pub fn payment_intent(
        &self,
        pi: &IntentRecord,
        latest_charge: Value,
        payment_method: Value,
    ) -> Value {
        let mut object = self.payment_intent.clone();
        set(&mut object, "id", pi.id.as_str());
        set(&mut object, "object", "payment_intent");
        match &pi.allowed_payment_method_types {
            Some(allowed) => set(&mut object, "allowed_payment_method_types", json!(allowed)),
            None => {
                object.remove("allowed_payment_method_types");
            }
        }
        set(&mut object, "amount", pi.amount);
        set(
            &mut object,
            "amount_capturable",
            0, // automatic capture only: nothing waits to be captured
        );
        set(&mut object, "amount_details", json!({ "tip": {} }));
        set(&mut object, "amount_received", pi.amount_received);
        set(&mut object, "application", Value::Null);
        set(&mut object, "application_fee_amount", Value::Null);
        set(
            &mut object,
            "automatic_payment_methods",
            match &pi.automatic_payment_methods {
                Some(automatic) => {
                    let mut value = json!({ "enabled": automatic.enabled });
                    if let Some(allow_redirects) = &automatic.allow_redirects {
                        value["allow_redirects"] = Value::from(allow_redirects.as_str());
                    }
                    value
                }
                None => Value::Null,
            },
        );
        set(&mut object, "canceled_at", pi.canceled_at);
        set(
            &mut object,
            "cancellation_reason",
            pi.cancellation_reason.clone(),
        );
        set(&mut object, "capture_method", pi.capture_method.as_str());
        set(&mut object, "client_secret", pi.client_secret.as_str());
        set(&mut object, "confirmation_method", "automatic");
        set(&mut object, "created", pi.created);
        set(&mut object, "currency", pi.currency.as_str());
        set(&mut object, "customer", Value::Null);
        set(&mut object, "customer_account", Value::Null);
        set(&mut object, "description", pi.description.clone());
        set(&mut object, "excluded_payment_method_types", Value::Null);
        set(
            &mut object,
            "last_payment_error",
            pi.last_payment_error.clone().unwrap_or(Value::Null),
        );
        set(&mut object, "latest_charge", latest_charge);
        set(&mut object, "livemode", false);
        set(&mut object, "managed_payments", Value::Null);
        set(&mut object, "metadata", json!(pi.metadata));
        set(
            &mut object,
            "next_action",
            pi.next_action.clone().unwrap_or(Value::Null),
        );
        set(&mut object, "on_behalf_of", Value::Null);
        set(&mut object, "payment_method", payment_method);
        set(
            &mut object,
            "payment_method_configuration_details",
            Value::Null,
        );
        set(
            &mut object,
            "payment_method_options",
            json!({
                "card": {
                    "installments": null,
                    "mandate_options": null,
                    "network": null,
                    "request_three_d_secure": "automatic"
                }
            }),
        );
        set(
            &mut object,
            "payment_method_types",
            json!(pi.payment_method_types),
        );
        set(&mut object, "processing", Value::Null);
        set(&mut object, "receipt_email", pi.receipt_email.clone());
        set(&mut object, "review", Value::Null);
        set(
            &mut object,
            "setup_future_usage",
            pi.setup_future_usage.clone(),
        );
        set(&mut object, "shipping", Value::Null);
        set(&mut object, "source", Value::Null);
        set(
            &mut object,
            "statement_descriptor",
            pi.statement_descriptor.clone(),
        );
        set(
            &mut object,
            "statement_descriptor_suffix",
            pi.statement_descriptor_suffix.clone(),
        );
        set(&mut object, "status", pi.status.as_str());
        set(&mut object, "transfer_data", Value::Null);
        set(&mut object, "transfer_group", Value::Null);
        Value::Object(object)
    }

    pub fn charge(&self, charge: &ChargeRecord) -> Value {
        let mut object = self.charge.clone();
        let card = charge.card;
        let succeeded = charge.failure.is_none();
        set(&mut object, "id", charge.id.as_str());
        set(&mut object, "object", "charge");
        set(&mut object, "amount", charge.amount);
        set(
            &mut object,
            "amount_captured",
            if succeeded { charge.amount } else { 0 },
        );
        set(&mut object, "amount_refunded", charge.amount_refunded);
        set(&mut object, "application", Value::Null);
        set(&mut object, "application_fee", Value::Null);
        set(&mut object, "application_fee_amount", Value::Null);
        set(
            &mut object,
            "balance_transaction",
            charge.balance_transaction.clone(),
        );
        set(
            &mut object,
            "billing_details",
            json!({
                "address": {
                    "city": null, "country": null, "line1": null, "line2": null,
                    "postal_code": null, "state": null
                },
                "email": null, "name": null, "phone": null, "tax_id": null
            }),
        );
        set(&mut object, "calculated_statement_descriptor", "SHOPMESH");
        set(&mut object, "captured", succeeded);
        set(&mut object, "created", charge.created);
        set(&mut object, "currency", charge.currency.as_str());
        set(&mut object, "customer", Value::Null);
        set(&mut object, "description", charge.description.clone());
        set(&mut object, "disputed", false);
        set(&mut object, "failure_balance_transaction", Value::Null);
        set(
            &mut object,
            "failure_code",
            charge.failure.map(|decline| decline.code),
        );
        set(
            &mut object,
            "failure_message",
            charge.failure.map(|decline| decline.message),
        );
        set(&mut object, "fraud_details", json!({}));
        set(&mut object, "livemode", false);
        set(&mut object, "metadata", json!(charge.metadata));
        set(&mut object, "on_behalf_of", Value::Null);
        set(
            &mut object,
            "outcome",
            match charge.failure {
                None => json!({
                    "advice_code": null,
                    "network_advice_code": null,
                    "network_decline_code": null,
                    "network_status": "approved_by_network",
                    "reason": null,
                    "risk_level": "normal",
                    "risk_score": 32,
                    "seller_message": "Payment complete.",
                    "type": "authorized"
                }),
                Some(decline) => json!({
                    "advice_code": null,
                    "network_advice_code": null,
                    "network_decline_code": null,
                    "network_status": "declined_by_network",
                    "reason": decline.outcome_reason,
                    "risk_level": "normal",
                    "risk_score": 32,
                    "seller_message": decline.seller_message,
                    "type": decline.outcome_type
                }),
            },
        );
        set(&mut object, "paid", succeeded);
        set(
            &mut object,
            "payment_intent",
            charge.payment_intent.as_str(),
        );
        set(
            &mut object,
            "payment_method",
            charge.payment_method.as_str(),
        );
        if let Some(Value::Object(details)) = object.get_mut("payment_method_details")
            && let Some(Value::Object(details)) = details.get_mut("card")
        {
            set(
                details,
                "amount_authorized",
                if succeeded {
                    Value::from(charge.amount)
                } else {
                    Value::Null
                },
            );
            set(details, "brand", card.brand);
            set(details, "country", card.country);
            set(details, "exp_month", EXP_MONTH);
            set(details, "exp_year", EXP_YEAR);
            set(details, "fingerprint", fingerprint(card));
            set(details, "funding", card.funding);
            set(details, "last4", card.last4);
            set(details, "network", card.brand);
            set(details, "installments", Value::Null);
            set(details, "wallet", Value::Null);
            set(details, "mandate", Value::Null);
            set(
                details,
                "checks",
                json!({
                    "address_line1_check": null,
                    "address_postal_code_check": null,
                    "cvc_check": null
                }),
            );
            set(
                details,
                "overcapture",
                json!({ "maximum_amount_capturable": charge.amount, "status": "unavailable" }),
            );
            set(
                details,
                "three_d_secure",
                if charge.three_d_secure {
                    json!({
                        "authentication_flow": "challenge",
                        "electronic_commerce_indicator": "05",
                        "exemption_indicator": null,
                        "result": "authenticated",
                        "result_reason": null,
                        "transaction_id": "fake-3ds-transaction",
                        "version": "2.2.0"
                    })
                } else {
                    Value::Null
                },
            );
        }
        set(&mut object, "receipt_email", charge.receipt_email.clone());
        set(&mut object, "receipt_number", Value::Null);
        set(&mut object, "receipt_url", Value::Null);
        set(
            &mut object,
            "refunded",
            succeeded && charge.amount_refunded >= charge.amount,
        );
        // Since API version 2022-11-15 `refunds` is only present when expanded.
        object.remove("refunds");
        set(&mut object, "review", Value::Null);
        set(&mut object, "shipping", Value::Null);
        set(&mut object, "source", Value::Null);
        set(&mut object, "source_transfer", Value::Null);
        set(&mut object, "statement_descriptor", Value::Null);
        set(&mut object, "statement_descriptor_suffix", Value::Null);
        set(
            &mut object,
            "status",
            if succeeded { "succeeded" } else { "failed" },
        );
        set(&mut object, "transfer_data", Value::Null);
        set(&mut object, "transfer_group", Value::Null);
        Value::Object(object)
    }

    pub fn refund(&self, refund: &RefundRecord) -> Value {
        let mut object = self.refund.clone();
        set(&mut object, "id", refund.id.as_str());
        set(&mut object, "object", "refund");
        set(&mut object, "amount", refund.amount);
        set(
            &mut object,
            "balance_transaction",
            refund.balance_transaction.as_str(),
        );
        set(&mut object, "charge", refund.charge.as_str());
        set(&mut object, "created", refund.created);
        set(&mut object, "currency", refund.currency.as_str());
        set(&mut object, "customer", Value::Null);
        set(&mut object, "customer_account", Value::Null);
        set(
            &mut object,
            "destination_details",
            json!({
                "card": {
                    // A full refund right after the charge is a reversal; anything else a refund.
                    "type": if refund.reversal { "reversal" } else { "refund" }
                },
                "type": "card"
            }),
        );
        set(&mut object, "metadata", json!(refund.metadata));
        set(
            &mut object,
            "payment_intent",
            refund.payment_intent.as_str(),
        );
        set(
            &mut object,
            "payment_method",
            refund.payment_method.as_str(),
        );
        set(&mut object, "reason", refund.reason.clone());
        set(&mut object, "receipt_number", Value::Null);
        set(&mut object, "source_transfer_reversal", Value::Null);
        set(&mut object, "status", "succeeded");
        set(&mut object, "transfer_reversal", Value::Null);
        Value::Object(object)
    }

    pub fn event(
        &self,
        id: &str,
        type_: &str,
        object: Value,
        created: i64,
        request: &RequestInfo,
        pending_webhooks: u32,
    ) -> Value {
        let mut event = self.event.clone();
        set(&mut event, "id", id);
        set(&mut event, "object", "event");
        // Stripe renders events in the account's API version, whatever the request asked for.
        set(&mut event, "api_version", crate::DEFAULT_API_VERSION);
        set(&mut event, "created", created);
        set(&mut event, "data", json!({ "object": object }));
        set(&mut event, "livemode", false);
        set(&mut event, "pending_webhooks", pending_webhooks);
        set(
            &mut event,
            "request",
            json!({ "id": request.id, "idempotency_key": request.idempotency_key }),
        );
        set(&mut event, "type", type_);
        Value::Object(event)
    }
}

fn set(object: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    object.insert(key.to_owned(), value.into());
}

/// A stable per-card fingerprint, as Stripe gives the same card the same fingerprint.
fn fingerprint(card: &TestCard) -> String {
    let digest = Sha256::digest(card.token.as_bytes());
    hex::encode(digest).chars().take(16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_fixtures_parse() {
        let templates = Templates::load().unwrap();
        assert_eq!(templates.payment_intent["object"], "payment_intent");
        assert_eq!(templates.charge["object"], "charge");
        assert_eq!(templates.refund["object"], "refund");
        assert_eq!(templates.event["object"], "event");
        assert_eq!(templates.payment_method["object"], "payment_method");
    }
}
