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
        overlay(
            &mut object,
            json!({
                "id": pm.id.as_str(),
                "created": pm.created,
                "livemode": false,
                "metadata": {},
                "customer": null,
                "customer_account": null,
                "allow_redisplay": "unspecified",
                "type": "card",
                "billing_details": {
                    "address": {
                        "city": null, "country": null, "line1": null, "line2": null,
                        "postal_code": null, "state": null
                    },
                    "email": null, "name": null, "phone": null, "tax_id": null
                },
            }),
        );
        if let Some(Value::Object(details)) = object.get_mut("card") {
            overlay(
                details,
                json!({
                    "brand": card.brand,
                    "display_brand": card.brand,
                    "last4": card.last4,
                    "funding": card.funding,
                    "country": card.country,
                    "exp_month": EXP_MONTH,
                    "exp_year": EXP_YEAR,
                    "fingerprint": fingerprint(card),
                    "generated_from": null,
                    "wallet": null,
                    "networks": { "available": [card.brand], "preferred": null },
                    "checks": {
                        "address_line1_check": null,
                        "address_postal_code_check": null,
                        "cvc_check": "unchecked"
                    },
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
        overlay(
            &mut object,
            json!({
                "id": pi.id.as_str(),
                "object": "payment_intent",
                "amount": pi.amount,
                "amount_capturable": 0,  // automatic capture only: nothing waits to be captured
                "amount_details": { "tip": {} },
                "amount_received": pi.amount_received,
                "application": null,
                "application_fee_amount": null,
                "automatic_payment_methods": match &pi.automatic_payment_methods {
                    Some(automatic) => {
                        let mut value = json!({ "enabled": automatic.enabled });
                        if let Some(allow_redirects) = &automatic.allow_redirects {
                            value["allow_redirects"] = Value::from(allow_redirects.as_str());
                        }
                        value
                    }
                    None => Value::Null,
                },
                "canceled_at": pi.canceled_at,
                "cancellation_reason": pi.cancellation_reason.clone(),
                "capture_method": pi.capture_method.as_str(),
                "client_secret": pi.client_secret.as_str(),
                "confirmation_method": "automatic",
                "created": pi.created,
                "currency": pi.currency.as_str(),
                "customer": null,
                "customer_account": null,
                "description": pi.description.clone(),
                "excluded_payment_method_types": null,
                "last_payment_error": pi.last_payment_error.clone().unwrap_or(Value::Null),
                "latest_charge": latest_charge,
                "livemode": false,
                "managed_payments": null,
                "metadata": pi.metadata,
                "next_action": pi.next_action.clone().unwrap_or(Value::Null),
                "on_behalf_of": null,
                "payment_method": payment_method,
                "payment_method_configuration_details": null,
                "payment_method_options": {
                    "card": {
                        "installments": null,
                        "mandate_options": null,
                        "network": null,
                        "request_three_d_secure": "automatic"
                    }
                },
                "payment_method_types": pi.payment_method_types,
                "processing": null,
                "receipt_email": pi.receipt_email.clone(),
                "review": null,
                "setup_future_usage": pi.setup_future_usage.clone(),
                "shipping": null,
                "source": null,
                "statement_descriptor": pi.statement_descriptor.clone(),
                "statement_descriptor_suffix": pi.statement_descriptor_suffix.clone(),
                "status": pi.status.as_str(),
                "transfer_data": null,
                "transfer_group": null,
            }),
        );
        match &pi.allowed_payment_method_types {
            Some(allowed) => set(&mut object, "allowed_payment_method_types", json!(allowed)),
            None => {
                object.remove("allowed_payment_method_types");
            }
        }
        Value::Object(object)
    }

    pub fn charge(&self, charge: &ChargeRecord) -> Value {
        let mut object = self.charge.clone();
        let card = charge.card;
        let succeeded = charge.failure.is_none();
        overlay(
            &mut object,
            json!({
                "id": charge.id.as_str(),
                "object": "charge",
                "amount": charge.amount,
                "amount_captured": if succeeded { charge.amount } else { 0 },
                "amount_refunded": charge.amount_refunded,
                "application": null,
                "application_fee": null,
                "application_fee_amount": null,
                "balance_transaction": charge.balance_transaction.clone(),
                "billing_details": {
                    "address": {
                        "city": null, "country": null, "line1": null, "line2": null,
                        "postal_code": null, "state": null
                    },
                    "email": null, "name": null, "phone": null, "tax_id": null
                },
                "calculated_statement_descriptor": "SHOPMESH",
                "captured": succeeded,
                "created": charge.created,
                "currency": charge.currency.as_str(),
                "customer": null,
                "description": charge.description.clone(),
                "disputed": false,
                "failure_balance_transaction": null,
                "failure_code": charge.failure.map(|decline| decline.code),
                "failure_message": charge.failure.map(|decline| decline.message),
                "fraud_details": {},
                "livemode": false,
                "metadata": charge.metadata,
                "on_behalf_of": null,
                "outcome": match charge.failure {
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
                "paid": succeeded,
                "payment_intent": charge.payment_intent.as_str(),
                "payment_method": charge.payment_method.as_str(),
            }),
        );
        if let Some(Value::Object(details)) = object.get_mut("payment_method_details")
            && let Some(Value::Object(details)) = details.get_mut("card")
        {
            overlay(
                details,
                json!({
                    "amount_authorized": if succeeded {
                        Value::from(charge.amount)
                    } else {
                        Value::Null
                    },
                    "brand": card.brand,
                    "country": card.country,
                    "exp_month": EXP_MONTH,
                    "exp_year": EXP_YEAR,
                    "fingerprint": fingerprint(card),
                    "funding": card.funding,
                    "last4": card.last4,
                    "network": card.brand,
                    "installments": null,
                    "wallet": null,
                    "mandate": null,
                    "checks": {
                        "address_line1_check": null,
                        "address_postal_code_check": null,
                        "cvc_check": null
                    },
                    "overcapture": { "maximum_amount_capturable": charge.amount, "status": "unavailable" },
                    "three_d_secure": if charge.three_d_secure {
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
                }),
            );
        }
        overlay(
            &mut object,
            json!({
                "receipt_email": charge.receipt_email.clone(),
                "receipt_number": null,
                "receipt_url": null,
                "refunded": succeeded && charge.amount_refunded >= charge.amount,
                "review": null,
                "shipping": null,
                "source": null,
                "source_transfer": null,
                "statement_descriptor": null,
                "statement_descriptor_suffix": null,
                "status": if succeeded { "succeeded" } else { "failed" },
                "transfer_data": null,
                "transfer_group": null,
            }),
        );
        // Since API version 2022-11-15 `refunds` is only present when expanded.
        object.remove("refunds");
        Value::Object(object)
    }

    pub fn refund(&self, refund: &RefundRecord) -> Value {
        let mut object = self.refund.clone();
        overlay(
            &mut object,
            json!({
                "id": refund.id.as_str(),
                "object": "refund",
                "amount": refund.amount,
                "balance_transaction": refund.balance_transaction.as_str(),
                "charge": refund.charge.as_str(),
                "created": refund.created,
                "currency": refund.currency.as_str(),
                "customer": null,
                "customer_account": null,
                "destination_details": {
                    "card": {
                        // A full refund right after the charge is a reversal; anything else a refund.
                        "type": if refund.reversal { "reversal" } else { "refund" }
                    },
                    "type": "card"
                },
                "metadata": refund.metadata,
                "payment_intent": refund.payment_intent.as_str(),
                "payment_method": refund.payment_method.as_str(),
                "reason": refund.reason.clone(),
                "receipt_number": null,
                "source_transfer_reversal": null,
                "status": "succeeded",
                "transfer_reversal": null,
            }),
        );
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
        overlay(
            &mut event,
            json!({
                "id": id,
                "object": "event",
                // Stripe renders events in the account's API version, whatever the request asked for.
                "api_version": crate::DEFAULT_API_VERSION,
                "created": created,
                "data": { "object": object },
                "livemode": false,
                "pending_webhooks": pending_webhooks,
                "request": { "id": request.id, "idempotency_key": request.idempotency_key },
                "type": type_,
            }),
        );
        Value::Object(event)
    }
}

fn set(object: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    object.insert(key.to_owned(), value.into());
}

/// Overwrites (or adds) every field of `fields`, a JSON object, in `object`.
fn overlay(object: &mut Map<String, Value>, fields: Value) {
    if let Value::Object(fields) = fields {
        object.extend(fields);
    }
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
