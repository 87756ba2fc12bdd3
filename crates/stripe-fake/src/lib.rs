//! shop-stripe-fake: a small, stateful fake of the slice of the Stripe API that Payment uses.
//!
//! Stripe cannot be reached from the project's machines, and Stripe's own `stripe-mock` is
//! stateless (a confirmed PaymentIntent is not there on the next GET, and idempotency keys do
//! nothing), so the checkout saga could not be tested against it. This crate answers the same
//! HTTP requests Stripe does, with complete Stripe objects built from Stripe's published
//! fixtures, so the Payment service runs the very same `async-stripe` client code against it as
//! against Stripe; only the base URL differs.
//!
//! What it fakes (see `api` for the routes):
//! - PaymentIntents: create (optionally confirming), retrieve, confirm, cancel, list;
//! - refunds (full and partial), charges and events (retrieve);
//! - Stripe's test payment methods (`pm_card_visa` succeeds, `pm_card_chargeDeclined` is
//!   declined with `card_declined`, `pm_card_threeDSecure2Required` needs 3-D Secure, ...);
//! - `Idempotency-Key` with Stripe's semantics (replay, `idempotency_error`, per API key);
//! - webhooks signed exactly as Stripe signs them, retried with back-off.
//!
//! What tests get beyond Stripe: [`RunningFakeStripe`] starts the server in-process on port 0,
//! lists every object, completes or fails 3-D Secure, and re-points the webhook endpoint;
//! the same is reachable over HTTP under `/_fake/` for scripts. [`sign_webhook`] lets tests
//! craft signed payloads of their own.
// `objects` overlays a rendered PaymentIntent's fifty-odd fields with one `json!`, which
// recurses once per field: beyond the default limit of 128.
#![recursion_limit = "256"]

mod api;
mod authentication_page;
mod cards;
mod config;
mod error;
mod fake;
mod form;
mod idempotency;
mod ids;
mod objects;
mod records;
mod server;
mod store;
mod webhook;

pub use cards::TEST_PAYMENT_METHODS;
pub use config::FakeStripeConfig;
pub use error::FakeStripeError;
pub use server::{FakeStripe, RunningFakeStripe};
pub use store::AuthenticationOutcome;
pub use webhook::{WebhookDelivery, WebhookEndpoint, sign_webhook};

/// The API version the fake reports (in `Stripe-Version` and on events) when a request does
/// not name one: the version `async-stripe` 1.0.0-rc.10 is generated from.
pub const DEFAULT_API_VERSION: &str = "2026-09-30.endive";
