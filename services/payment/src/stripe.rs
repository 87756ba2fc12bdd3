//! The Stripe calls Payment makes, through `async-stripe`, and the translation of Stripe's
//! answers into domain outcomes.
//!
//! Every call that can move money carries an `Idempotency-Key` derived from the order
//! (`domain::stripe_key`) and parameters derived from the ledger row alone, so a repeated
//! call is the same request and Stripe answers it with the first answer instead of acting
//! again. Each call makes exactly one HTTP attempt within the configured deadline; retrying
//! is the caller's business (the consumer's back-off, or Stripe resending a webhook), which
//! keeps a slow Stripe from holding a handler for longer than one deadline.
//!
//! A declined card is not an error here: it is an outcome (`IntentOutcome::Failed`). Only
//! "could not find out" ([`CallError::Transient`]) and "we sent something wrong"
//! ([`CallError::Permanent`]) are errors.

use std::collections::HashMap;
use std::time::Duration;

use stripe::StripeRequest as _;
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError};
use stripe_core::payment_intent::{
    CancelPaymentIntent, CancelPaymentIntentCancellationReason, CreatePaymentIntent,
    CreatePaymentIntentAutomaticPaymentMethods,
    CreatePaymentIntentAutomaticPaymentMethodsAllowRedirects, RetrievePaymentIntent,
};
use stripe_core::refund::CreateRefund;
use stripe_shared::{ApiErrors, PaymentIntent};

use crate::domain::{
    self, ErrorClass, Failure, IntentOutcome, IntentView, StripeCall, outcome_of, stripe_key,
};

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Stripe could not be asked or did not answer usefully; asking again later (same key)
    /// is safe.
    #[error("Stripe unavailable: {0}")]
    Transient(String),
    /// Stripe refused a request that cannot succeed as sent.
    #[error("Stripe refused the request: {0}")]
    Permanent(String),
}

/// What to charge: everything comes from the ledger row, so a retry sends identical
/// parameters (Stripe rejects a reused key with different ones).
#[derive(Debug, Clone)]
pub struct Charge<'a> {
    pub order_id: &'a str,
    pub payment_id: &'a str,
    pub amount_minor: i64,
    /// ISO 4217, upper case as the ledger keeps it; Stripe wants lower case.
    pub currency: &'a str,
    pub payment_method: &'a str,
}

/// The result of a refund request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refund {
    /// Stripe refunded (or, for a repeated key, had refunded) this amount.
    Refunded { amount_minor: i64 },
    /// Nothing was left to refund (refunded outside this service).
    AlreadyRefunded,
}

#[derive(Clone)]
pub struct Stripe {
    client: Client,
    /// The storefront origin 3-D Secure returns the shopper to (see
    /// `PaymentConfig::storefront_url`); `None` leaves the action to Stripe.js.
    storefront_origin: Option<String>,
}

fn idempotent(order_id: &str, call: StripeCall) -> Result<RequestStrategy, CallError> {
    IdempotencyKey::new(stripe_key(order_id, call))
        .map(RequestStrategy::Idempotent)
        .map_err(|error| CallError::Permanent(error.to_string()))
}

fn failure_of(error: &ApiErrors) -> Failure {
    Failure::from_stripe(
        error.type_.as_str(),
        error.code.as_ref().map(|code| code.as_str()),
        error.decline_code.as_deref(),
        error.message.as_deref(),
    )
}

pub fn intent_outcome(intent: &PaymentIntent) -> IntentOutcome {
    outcome_of(IntentView {
        id: intent.id.as_str(),
        status: intent.status.as_str(),
        client_secret: intent.client_secret.as_deref(),
        redirect_url: intent
            .next_action
            .as_ref()
            .and_then(|action| action.redirect_to_url.as_ref())
            .and_then(|redirect| redirect.url.as_deref()),
        last_error: intent.last_payment_error.as_deref().map(failure_of),
    })
}

fn describe(error: &ApiErrors, status: u16) -> String {
    format!(
        "{status} {} {}: {}",
        error.type_.as_str(),
        error.code.as_ref().map_or("", |code| code.as_str()),
        error.message.as_deref().unwrap_or("")
    )
}

/// Any error of a call whose Stripe refusals are not outcomes.
fn call_error(error: StripeError) -> CallError {
    match error {
        StripeError::Stripe(api, status) if domain::is_transient(status, api.type_.as_str()) => {
            CallError::Transient(describe(&api, status))
        }
        StripeError::Stripe(api, status) => CallError::Permanent(describe(&api, status)),
        other => CallError::Transient(other.to_string()),
    }
}

fn code_of(error: &ApiErrors) -> &str {
    error.code.as_ref().map_or("", |code| code.as_str())
}

impl Stripe {
    /// A client for `base_url` (`https://api.stripe.com/` in production); every attempt
    /// is bounded by `deadline`.
    pub fn new(
        api_key: &str,
        base_url: &str,
        deadline: Duration,
        storefront_origin: Option<String>,
    ) -> Result<Self, StripeError> {
        // The client builds its HTTPS connector now, which needs the process's rustls
        // provider chosen (see shop_kit::tls).
        shop_kit::tls::install_crypto_provider();
        let client = ClientBuilder::new(api_key)
            .url(base_url)
            .timeout(deadline)
            .app_info("shopmesh-payment", None, None)
            .build()?;
        Ok(Self {
            client,
            storefront_origin,
        })
    }

    /// Creates and confirms the order's PaymentIntent (create key). A second call for the
    /// same order returns the first call's intent and outcome.
    pub async fn create_and_confirm(
        &self,
        charge: &Charge<'_>,
    ) -> Result<IntentOutcome, CallError> {
        let Ok(currency) = charge
            .currency
            .to_ascii_lowercase()
            .parse::<stripe_types::Currency>();
        let metadata = HashMap::from([
            ("order_id".to_owned(), charge.order_id.to_owned()),
            ("payment_id".to_owned(), charge.payment_id.to_owned()),
        ]);
        let mut request = CreatePaymentIntent::new(charge.amount_minor, currency)
            .payment_method(charge.payment_method)
            // Server-side confirmation and no redirect-based payment methods; 3-D Secure still
            // comes back as requires_action: a redirect to the issuer's page when a return URL
            // is set, else for Stripe.js to finish with the client secret.
            .automatic_payment_methods(CreatePaymentIntentAutomaticPaymentMethods {
                enabled: true,
                allow_redirects: Some(
                    CreatePaymentIntentAutomaticPaymentMethodsAllowRedirects::Never,
                ),
            })
            .confirm(true)
            .description(format!("shopmesh order {}", charge.order_id))
            .metadata(metadata);
        if let Some(origin) = &self.storefront_origin {
            request = request.return_url(format!("{origin}/orders/{}", charge.order_id));
        }
        let result = request
            .customize()
            .request_strategy(idempotent(charge.order_id, StripeCall::Create)?)
            .send(&self.client)
            .await;
        match result {
            Ok(intent) => Ok(intent_outcome(&intent)),
            Err(StripeError::Stripe(api, status)) => {
                match domain::classify_create_error(status, api.type_.as_str()) {
                    ErrorClass::PaymentFailed => Ok(IntentOutcome::Failed {
                        intent_id: api
                            .payment_intent
                            .as_ref()
                            .map(|intent| intent.id.as_str().to_owned()),
                        failure: failure_of(&api),
                    }),
                    ErrorClass::Retry => Err(CallError::Transient(describe(&api, status))),
                    ErrorClass::Bug => Err(CallError::Permanent(describe(&api, status))),
                }
            }
            Err(other) => Err(CallError::Transient(other.to_string())),
        }
    }

    /// The intent as it is now.
    pub async fn retrieve(&self, intent_id: &str) -> Result<IntentOutcome, CallError> {
        RetrievePaymentIntent::new(intent_id)
            .send(&self.client)
            .await
            .map(|intent| intent_outcome(&intent))
            .map_err(call_error)
    }

    /// Cancels the order's open intent (cancel key). If it can no longer be cancelled
    /// (it succeeded meanwhile, or is already cancelled), returns what it is instead.
    pub async fn cancel(
        &self,
        order_id: &str,
        intent_id: &str,
    ) -> Result<IntentOutcome, CallError> {
        let result = CancelPaymentIntent::new(intent_id)
            .cancellation_reason(CancelPaymentIntentCancellationReason::Abandoned)
            .customize()
            .request_strategy(idempotent(order_id, StripeCall::Cancel)?)
            .send(&self.client)
            .await;
        match result {
            Ok(intent) => Ok(intent_outcome(&intent)),
            Err(StripeError::Stripe(api, _))
                if code_of(&api) == "payment_intent_unexpected_state" =>
            {
                self.retrieve(intent_id).await
            }
            Err(error) => Err(call_error(error)),
        }
    }

    /// Refunds everything captured on the order's intent (refund key).
    pub async fn refund(
        &self,
        order_id: &str,
        payment_id: &str,
        intent_id: &str,
    ) -> Result<Refund, CallError> {
        let metadata = HashMap::from([
            ("order_id".to_owned(), order_id.to_owned()),
            ("payment_id".to_owned(), payment_id.to_owned()),
        ]);
        let result = CreateRefund::new()
            .payment_intent(intent_id)
            .metadata(metadata)
            .customize()
            .request_strategy(idempotent(order_id, StripeCall::Refund)?)
            .send(&self.client)
            .await;
        match result {
            Ok(refund) => Ok(Refund::Refunded {
                amount_minor: refund.amount,
            }),
            Err(StripeError::Stripe(api, _)) if code_of(&api) == "charge_already_refunded" => {
                Ok(Refund::AlreadyRefunded)
            }
            Err(error) => Err(call_error(error)),
        }
    }
}
