//! Refunds: full or partial, never more than a successful charge has left unrefunded.

use axum::http::StatusCode;
use serde_json::Value;

use super::params::{metadata, positive_amount, unmodelled};
use super::transaction::Tx;
use crate::error::ApiError;
use crate::form::Params;
use crate::ids::{now, object_id};
use crate::records::{IntentStatus, RefundRecord};

impl Tx<'_> {
    pub(super) fn create_refund(&mut self, params: &Params) -> Result<Value, ApiError> {
        unmodelled(params)?;
        params.only(&[
            "payment_intent",
            "charge",
            "amount",
            "reason",
            "metadata",
            "instructions_email",
            "expand",
        ])?;
        let reason = params.choice(
            "reason",
            &["duplicate", "fraudulent", "requested_by_customer"],
        )?;
        let metadata = metadata(params)?;
        let amount = positive_amount(params)?;
        let charge_id = match (params.str("payment_intent"), params.str("charge")) {
            (None, None) => {
                return Err(ApiError::invalid_request(
                    "One of the following params should be provided for this request: payment_intent or charge.",
                )
                .code("parameter_missing"));
            }
            (Some(intent_id), charge) => {
                let intent =
                    self.state
                        .intent(intent_id, "payment_intent", StatusCode::BAD_REQUEST)?;
                let latest = intent
                    .latest_charge
                    .as_ref()
                    .filter(|_| intent.status == IntentStatus::Succeeded)
                    .cloned()
                    .ok_or_else(|| {
                        ApiError::invalid_request(format!(
                            "This PaymentIntent ({intent_id}) does not have a successful charge to refund."
                        ))
                        .code("charge_not_refundable")
                        .param("payment_intent")
                    })?;
                if charge.is_some_and(|charge| charge != latest) {
                    return Err(ApiError::invalid_request(
                        "The charge does not belong to this PaymentIntent.",
                    )
                    .param("charge"));
                }
                latest
            }
            (None, Some(charge)) => charge.to_owned(),
        };
        let charge = self.state.charges.get_mut(&charge_id).ok_or_else(|| {
            ApiError::no_such("charge", &charge_id, "charge", StatusCode::BAD_REQUEST)
        })?;
        if charge.failure.is_some() {
            return Err(ApiError::invalid_request(format!(
                "Charge {charge_id} has no successful payment to refund."
            ))
            .code("charge_not_refundable"));
        }
        let remaining = charge.amount - charge.amount_refunded;
        if remaining <= 0 {
            return Err(ApiError::invalid_request(format!(
                "Charge {charge_id} has already been refunded."
            ))
            .code("charge_already_refunded"));
        }
        let amount = amount.unwrap_or(remaining);
        if amount > remaining {
            return Err(ApiError::invalid_request(format!(
                "Refund amount ({}) is greater than unrefunded amount on charge ({})",
                format_amount(amount, &charge.currency),
                format_amount(remaining, &charge.currency)
            ))
            .code("amount_too_large")
            .param("amount"));
        }
        let reversal = charge.amount_refunded == 0 && amount == charge.amount;
        charge.amount_refunded += amount;
        let refund = RefundRecord {
            id: object_id("re"),
            amount,
            currency: charge.currency.clone(),
            charge: charge.id.clone(),
            payment_intent: charge.payment_intent.clone(),
            payment_method: charge.payment_method.clone(),
            created: now(),
            reason,
            metadata,
            balance_transaction: object_id("txn"),
            reversal,
        };
        let charge_json = self.templates.charge(charge);
        let refund_json = self.templates.refund(&refund);
        self.state.refund_order.push(refund.id.clone());
        self.state.refunds.insert(refund.id.clone(), refund);
        self.emit("charge.refunded", charge_json);
        self.emit("refund.created", refund_json.clone());
        Ok(refund_json)
    }
}

/// Amounts in messages as Stripe writes them: `usd 10.00`, `jpy 500`.
fn format_amount(amount: i64, currency: &str) -> String {
    const ZERO_DECIMAL: &[&str] = &[
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ];
    if ZERO_DECIMAL.contains(&currency) {
        format!("{currency} {amount}")
    } else {
        format!("{currency} {}.{:02}", amount / 100, amount % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_messages() {
        assert_eq!(format_amount(1050, "usd"), "usd 10.50");
        assert_eq!(format_amount(500, "jpy"), "jpy 500");
    }
}
