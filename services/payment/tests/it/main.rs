//! The Payment service against the real servers: MariaDB, RabbitMQ and the fake Stripe
//! (in-process, spoken to by the same `async-stripe` client as production). Each test acts as
//! the Order service, publishing `order.*` events, and watches the `payment.*` events,
//! the ledger and the fake's own records.

mod admin;
mod cancel;
mod charge;
mod restart;
mod support;
mod webhook;
