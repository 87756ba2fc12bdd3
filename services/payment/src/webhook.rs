//! `POST /stripe/webhook` on the admin port: Stripe's PaymentIntent events, verified and
//! applied to the ledger.
//!
//! The charge path already gets an answer from Stripe, but not every outcome arrives that
//! way: 3-D Secure finishes in the customer's browser long after the charge call returned
//! `requires_action`, and only the webhook reports it. `payment_intent.succeeded` and
//! `payment_intent.payment_failed` go through the same locked, forward-only step as the
//! charge path (`Saga::on_stripe_intent`), so when both report an outcome it is recorded
//! and emitted once. Every other event type is acknowledged and ignored.
//!
//! Verification is Stripe's scheme (<https://docs.stripe.com/webhooks#verify-manually>):
//! `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, any
//! `v1` may match (secret rotation), compared in constant time, and `t` must be within five
//! minutes of now so a captured request cannot be replayed later. The raw body is verified
//! before anything parses it.
//!
//! Answers: 400 for anything wrong with the request (Stripe shows it on the dashboard), 200
//! for everything accepted or deliberately ignored, and 500 only for "could not record it
//! now", which makes Stripe send it again; bad input never causes a 500.
//!
//! Bodies are read with serde_json into just the fields used, not into `async-stripe`'s
//! typed events: the typed parse fails on objects of an API version newer than the SDK,
//! which would turn events we need into 400s over fields we never read.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use prometheus::{IntCounterVec, Opts};
use serde::Deserialize;
use sha2::Sha256;

use crate::domain::{Failure, IntentOutcome, IntentView, outcome_of};
use crate::events::Saga;

pub const PATH: &str = "/stripe/webhook";
/// How old (or how far in the future) a signature's timestamp may be.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("Stripe-Signature must be `t=<timestamp>,v1=<signature>`")]
    Malformed,
    #[error("no signature matches the payload")]
    Mismatch,
    #[error("the signature's timestamp {0} is outside the tolerance")]
    Stale(i64),
}

/// Verifies a `Stripe-Signature` header for `payload` at time `now` (Unix seconds).
pub fn verify_signature(
    header: &str,
    payload: &[u8],
    secret: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) if timestamp.is_none() => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                );
            }
            Some(("t", _)) => return Err(SignatureError::Malformed),
            Some(("v1", value)) => signatures.push(value),
            // v0 (legacy test-mode) and future schemes are ignored, as Stripe's libraries do.
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        // HMAC takes keys of any length.
        return Err(SignatureError::Mismatch);
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    let matches = signatures.iter().any(|signature| {
        hex::decode(signature).is_ok_and(|bytes| mac.clone().verify_slice(&bytes).is_ok())
    });
    if !matches {
        return Err(SignatureError::Mismatch);
    }
    if now.abs_diff(timestamp) > TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::Stale(timestamp));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct IntentObject {
    id: String,
    status: String,
    client_secret: Option<String>,
    #[serde(default)]
    metadata: HashMap<String, String>,
    last_payment_error: Option<ErrorObject>,
}

#[derive(Debug, Deserialize)]
struct ErrorObject {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    decline_code: Option<String>,
    message: Option<String>,
}

/// A signed body, read into what the ledger acts on. Pure (no clock, no database), so the
/// parsing of outside input can be tested and fuzzed on its own (`fuzz/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub id: String,
    pub kind: String,
    /// What a `payment_intent.succeeded` or `payment_intent.payment_failed` event reports;
    /// `None` for every other type, which is acknowledged and ignored.
    pub intent: Option<IntentReport>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentReport {
    pub intent_id: String,
    pub status: String,
    pub outcome: IntentOutcome,
    /// The intent's outcome is the one the event type announces; events arrive late and out
    /// of order, so one may describe an intent that has moved on.
    pub as_announced: bool,
    pub order_id: Option<String>,
    pub payment_id: Option<String>,
}

/// Why a signed body is refused with 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("signed webhook body is not a Stripe event: {0}")]
    NotAnEvent(String),
    #[error("{kind} event {id} without a PaymentIntent: {reason}")]
    NotAnIntent {
        id: String,
        kind: String,
        reason: String,
    },
}

impl EventError {
    /// The answer's text, the same for every body refused for the same reason.
    fn answer(&self) -> &'static str {
        match self {
            Self::NotAnEvent(_) => "not a Stripe event",
            Self::NotAnIntent { .. } => "not a PaymentIntent",
        }
    }
}

/// Reads a body whose signature has been verified.
pub fn read_event(body: &[u8]) -> Result<WebhookEvent, EventError> {
    let event: Event =
        serde_json::from_slice(body).map_err(|error| EventError::NotAnEvent(error.to_string()))?;
    let wanted: fn(&IntentOutcome) -> bool = match event.kind.as_str() {
        "payment_intent.succeeded" => |o| matches!(o, IntentOutcome::Succeeded { .. }),
        "payment_intent.payment_failed" => |o| matches!(o, IntentOutcome::Failed { .. }),
        _ => {
            return Ok(WebhookEvent {
                id: event.id,
                kind: event.kind,
                intent: None,
            });
        }
    };
    let mut intent: IntentObject = match serde_json::from_value(event.data.object) {
        Ok(intent) => intent,
        Err(error) => {
            return Err(EventError::NotAnIntent {
                id: event.id,
                kind: event.kind,
                reason: error.to_string(),
            });
        }
    };
    let outcome = outcome_of(IntentView {
        id: &intent.id,
        status: &intent.status,
        client_secret: intent.client_secret.as_deref(),
        // Only succeeded and failed intents get this far, and they have no next action.
        redirect_url: None,
        last_error: intent.last_payment_error.as_ref().map(|error| {
            Failure::from_stripe(
                error.kind.as_deref().unwrap_or_default(),
                error.code.as_deref(),
                error.decline_code.as_deref(),
                error.message.as_deref(),
            )
        }),
    });
    Ok(WebhookEvent {
        id: event.id,
        kind: event.kind,
        intent: Some(IntentReport {
            as_announced: wanted(&outcome),
            outcome,
            order_id: intent.metadata.remove("order_id"),
            payment_id: intent.metadata.remove("payment_id"),
            intent_id: intent.id,
            status: intent.status,
        }),
    })
}

#[derive(Clone)]
struct WebhookState {
    saga: Saga,
    secret: Arc<str>,
    /// `shop_payment_webhooks_total{result}`.
    received: IntCounterVec,
}

/// The webhook route, to mount on the admin port. Registers its counter in `registry`.
pub fn router(
    saga: Saga,
    secret: &str,
    registry: &prometheus::Registry,
) -> Result<Router, prometheus::Error> {
    let received = IntCounterVec::new(
        Opts::new(
            "payment_webhooks_total",
            "Stripe webhook requests, by result (applied, ignored, unknown, rejected, failed)",
        ),
        &["result"],
    )?;
    registry.register(Box::new(received.clone()))?;
    Ok(Router::new()
        .route(PATH, post(receive))
        .with_state(WebhookState {
            saga,
            secret: Arc::from(secret),
            received,
        }))
}

type Answer = (StatusCode, &'static str);

async fn receive(State(state): State<WebhookState>, headers: HeaderMap, body: Bytes) -> Answer {
    let answer = handle(&state, &headers, &body).await;
    let result = match answer {
        (StatusCode::OK, "applied") => "applied",
        (StatusCode::OK, "unknown payment") => "unknown",
        (StatusCode::OK, _) => "ignored",
        (StatusCode::BAD_REQUEST, _) => "rejected",
        _ => "failed",
    };
    state.received.with_label_values(&[result]).inc();
    answer
}

#[tracing::instrument(skip_all, fields(event_id, event_type))]
async fn handle(state: &WebhookState, headers: &HeaderMap, body: &[u8]) -> Answer {
    let Some(signature) = headers
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok())
    else {
        tracing::warn!("webhook without Stripe-Signature");
        return (StatusCode::BAD_REQUEST, "missing Stripe-Signature");
    };
    let now = chrono::Utc::now().timestamp();
    if let Err(error) = verify_signature(signature, body, &state.secret, now) {
        tracing::warn!(%error, "webhook signature rejected");
        return (StatusCode::BAD_REQUEST, "invalid signature");
    }
    let event = match read_event(body) {
        Ok(event) => event,
        Err(error) => {
            tracing::warn!(%error, "signed webhook body refused");
            return (StatusCode::BAD_REQUEST, error.answer());
        }
    };
    let span = tracing::Span::current();
    span.record("event_id", event.id.as_str());
    span.record("event_type", event.kind.as_str());
    let Some(intent) = event.intent else {
        return (StatusCode::OK, "ignored");
    };
    if !intent.as_announced {
        tracing::info!(status = %intent.status, "event does not match the intent's status; ignored");
        return (StatusCode::OK, "ignored");
    }
    let order_id = intent.order_id.as_deref();
    let payment_id = intent.payment_id.as_deref();
    match state
        .saga
        .on_stripe_intent(intent.outcome, order_id, payment_id)
        .await
    {
        Ok(true) => (StatusCode::OK, "applied"),
        Ok(false) => {
            tracing::info!(intent_id = %intent.intent_id, "webhook for an intent that is not ours");
            (StatusCode::OK, "unknown payment")
        }
        Err(error) if error.is_transient() => {
            tracing::warn!(%error, "webhook not applied; Stripe will resend it");
            (StatusCode::INTERNAL_SERVER_ERROR, "try again")
        }
        Err(error) => {
            tracing::error!(%error, "webhook applied only in part");
            (StatusCode::OK, "applied")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";

    fn sign(payload: &[u8], timestamp: i64, secret: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(payload);
        format!(
            "t={timestamp},v1={}",
            hex::encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn a_correct_signature_verifies() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(body, 1_700_000_000, SECRET);
        assert_eq!(
            verify_signature(&header, body, SECRET, 1_700_000_010),
            Ok(())
        );
        // Extra schemes and a rotated-out signature beside the good one are fine.
        let rotated = format!("{header},v1=00ff,v0=abc");
        assert_eq!(
            verify_signature(&rotated, body, SECRET, 1_700_000_010),
            Ok(())
        );
    }

    #[test]
    fn tampering_another_secret_or_garbage_is_rejected() {
        let body = br#"{"id":"evt_1","amount":100}"#;
        let header = sign(body, 1_700_000_000, SECRET);
        let now = 1_700_000_000;
        assert_eq!(
            verify_signature(&header, br#"{"id":"evt_1","amount":1}"#, SECRET, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(&header, body, "whsec_other", now),
            Err(SignatureError::Mismatch)
        );
        for garbage in [
            "",
            "t=1700000000",
            "v1=abcd",
            "t=x,v1=abcd",
            "nonsense",
            "t=1,t=2,v1=ab",
        ] {
            assert_eq!(
                verify_signature(garbage, body, SECRET, now),
                Err(SignatureError::Malformed),
                "{garbage:?}"
            );
        }
        assert_eq!(
            verify_signature("t=1700000000,v1=zz", body, SECRET, now),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn old_or_future_timestamps_are_rejected() {
        let body = b"{}";
        let header = sign(body, 1_700_000_000, SECRET);
        assert!(verify_signature(&header, body, SECRET, 1_700_000_300).is_ok());
        assert_eq!(
            verify_signature(&header, body, SECRET, 1_700_000_301),
            Err(SignatureError::Stale(1_700_000_000))
        );
        assert_eq!(
            verify_signature(&header, body, SECRET, 1_699_999_000),
            Err(SignatureError::Stale(1_700_000_000))
        );
    }

    #[test]
    fn bodies_read_into_what_the_ledger_acts_on() {
        let succeeded = br#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":
            {"id":"pi_1","status":"succeeded","metadata":{"order_id":"o1","payment_id":"p1"}}}}"#;
        let event = read_event(succeeded).unwrap();
        let intent = event.intent.unwrap();
        assert!(intent.as_announced);
        assert_eq!(intent.order_id.as_deref(), Some("o1"));
        assert_eq!(intent.payment_id.as_deref(), Some("p1"));
        let late = br#"{"id":"evt_2","type":"payment_intent.payment_failed","data":{"object":
            {"id":"pi_1","status":"succeeded"}}}"#;
        assert!(!read_event(late).unwrap().intent.unwrap().as_announced);
        let other = br#"{"id":"evt_3","type":"charge.succeeded","data":{"object":{}}}"#;
        assert_eq!(read_event(other).unwrap().intent, None);
        let no_intent = br#"{"id":"evt_4","type":"payment_intent.succeeded","data":{"object":{}}}"#;
        assert_eq!(
            read_event(no_intent).unwrap_err().answer(),
            "not a PaymentIntent"
        );
        assert_eq!(
            read_event(b"[]").unwrap_err().answer(),
            "not a Stripe event"
        );
    }
}
