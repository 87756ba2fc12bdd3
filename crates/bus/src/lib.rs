//! shop-bus: the integration-event backbone of the checkout saga, on RabbitMQ.
//!
//! - One durable topic exchange (`shop.events` by default); routing key = event type
//!   (`order.created`, ...). The body is a protobuf `shop.events.v1.Envelope`; AMQP
//!   `message_id` is the event id and the headers carry W3C `traceparent`, so a consumer's
//!   span continues the publisher's trace.
//! - [`Publisher`]: persistent, `mandatory` messages with publisher confirms; a call returns
//!   only once the broker has taken responsibility for the message, and reconnects after the
//!   broker or the connection went away.
//! - [`consumer`]: a durable queue per consumer, prefetch, ack only after the handler's
//!   effect is committed, retries with back-off through `<queue>.retry.<delay>ms` (one TTL
//!   queue per back-off step, dead-lettering back), and `<queue>.dead` after the last
//!   attempt, both reached through the topic exchange `<exchange>.retry`. Delivery is at least
//!   once, so handlers are idempotent ([`inbox`] helps MySQL services dedupe by event id).
//! - [`outbox`]: a transactional outbox for MySQL services: the event row commits with the
//!   state change, and a relay publishes rows in order and marks them sent.
//! - [`runtime`]: a service's broker connection, outbox relay, consumers and periodic tasks,
//!   started and stopped in one order decided once; [`Handle`] is what every consumer runs.
//! - [`permissions`]: least privilege, one RabbitMQ user per service, derived from
//!   [`topology`]; the `shop-rabbitmq` bin renders it for development and for the AKS overlay
//!   and declares the topology as the administrator.

pub mod broker;
pub mod consumer;
pub mod envelope;
pub mod inbox;
pub mod outbox;
pub mod permissions;
pub mod publisher;
pub mod runtime;
pub mod topology;
pub mod trace;

pub use broker::{Broker, BusConfig};
pub use consumer::{Handled, QueueSpec};
pub use envelope::{decode, new_event, routing_key};
pub use publisher::Publisher;
pub use runtime::{Handle, Runtime};

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("broker: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the broker refused the message (nack) for {0}")]
    Nacked(String),
    #[error("cannot decode envelope: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("envelope without payload")]
    EmptyEnvelope,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The broker did not answer in time (a half-dead connection answers nothing): the
    /// caller resets the connection and retries instead of waiting forever.
    #[error("the broker did not answer {0} within {timeout:?}", timeout = broker::BROKER_TIMEOUT)]
    Timeout(&'static str),
}
