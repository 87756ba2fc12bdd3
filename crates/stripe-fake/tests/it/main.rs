//! The fake, proved with the client the Payment service uses: `async-stripe` 1.0.0-rc.10
//! pointed at the fake's base URL, exactly as it would be pointed at Stripe.

mod auth;
mod idempotency;
mod payments;
mod refunds;
mod support;
mod webhooks;
