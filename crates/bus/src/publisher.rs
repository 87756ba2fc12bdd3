//! Publishing with publisher confirms: `publish` returns once RabbitMQ has the message
//! (persisted to a durable queue, or found unroutable), so a caller that got `Ok` may forget
//! it. A failed channel is dropped and the next publish reconnects.

use std::sync::Arc;

use lapin::Confirmation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use shop_proto::shop::events::v1::Envelope;
use tokio::sync::Mutex;

use crate::{BusError, broker::Broker, envelope, trace};

/// How many times one publish tries (reconnecting in between) before giving up.
const ATTEMPTS: u32 = 3;

#[derive(Clone)]
pub struct Publisher {
    broker: Broker,
    channel: Arc<Mutex<Option<Channel>>>,
}

/// A message as the outbox stores it: already encoded, with its original trace context.
pub struct Outgoing<'a> {
    pub event_id: &'a str,
    pub routing_key: &'a str,
    pub body: &'a [u8],
    pub headers: FieldTable,
}

impl Publisher {
    pub fn new(broker: Broker) -> Self {
        Self {
            broker,
            channel: Arc::new(Mutex::new(None)),
        }
    }

    /// Publishes `envelope` now, in the current trace.
    pub async fn publish(&self, envelope: &Envelope) -> Result<(), BusError> {
        let body = envelope::encode(envelope);
        self.publish_raw(Outgoing {
            event_id: &envelope.event_id,
            routing_key: &envelope.r#type,
            body: &body,
            headers: trace::current_headers(),
        })
        .await
    }

    pub async fn publish_raw(&self, message: Outgoing<'_>) -> Result<(), BusError> {
        self.publish_all(std::slice::from_ref(&message)).await
    }

    /// Publishes `messages` in order on one channel and waits for their confirms together.
    /// RabbitMQ confirms a persistent message only once it is on disk, and it writes the
    /// messages outstanding at that moment together: waiting for each confirm before sending
    /// the next made an outbox pass cost one round trip and one disk write per event, one
    /// after the other, so a backlog drained slowest exactly when it was longest. A failure
    /// sends the whole batch again, in the same order (consumers dedupe what the first try
    /// delivered).
    pub async fn publish_all(&self, messages: &[Outgoing<'_>]) -> Result<(), BusError> {
        let Some(first) = messages.first() else {
            return Ok(());
        };
        let mut last_error = None;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(crate::broker::backoff(attempt)).await;
            }
            match self.try_publish_all(messages).await {
                Ok(()) => return Ok(()),
                Err(error) => {
                    tracing::warn!(%error, attempt, routing_key = first.routing_key, messages = messages.len(), "publish failed");
                    *self.channel.lock().await = None;
                    if matches!(error, BusError::Amqp(_) | BusError::Timeout(_)) {
                        self.broker.reset().await;
                    }
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| BusError::Nacked(first.event_id.to_owned())))
    }

    async fn try_publish_all(&self, messages: &[Outgoing<'_>]) -> Result<(), BusError> {
        let mut guard = self.channel.lock().await;
        let channel = match guard.as_ref() {
            Some(channel) if channel.status().connected() => channel.clone(),
            _ => {
                let channel = self.broker.channel().await?;
                crate::broker::bounded(
                    "confirm.select",
                    channel.confirm_select(ConfirmSelectOptions::default()),
                )
                .await?;
                *guard = Some(channel.clone());
                channel
            }
        };
        drop(guard);
        let exchange = &self.broker.config().exchange;
        let confirmations = crate::broker::bounded("publish", async {
            let mut pending = Vec::with_capacity(messages.len());
            for message in messages {
                let properties = BasicProperties::default()
                    .with_message_id(message.event_id.to_owned().into())
                    .with_type(message.routing_key.to_owned().into())
                    .with_content_type("application/x-protobuf".into())
                    .with_delivery_mode(2)
                    .with_timestamp(chrono::Utc::now().timestamp() as u64)
                    .with_headers(message.headers.clone());
                pending.push(
                    channel
                        .basic_publish(
                            exchange.clone().into(),
                            message.routing_key.to_owned().into(),
                            BasicPublishOptions {
                                mandatory: true,
                                ..BasicPublishOptions::default()
                            },
                            message.body,
                            properties,
                        )
                        .await?,
                );
            }
            let mut confirmations = Vec::with_capacity(pending.len());
            for confirm in pending {
                confirmations.push(confirm.await?);
            }
            Ok::<_, lapin::Error>(confirmations)
        })
        .await?;
        for (message, confirmation) in messages.iter().zip(confirmations) {
            match confirmation {
                Confirmation::Ack(None) | Confirmation::NotRequested => {}
                Confirmation::Ack(Some(_returned)) => {
                    // No queue is bound for this key (yet): nobody is interested, which is
                    // not an error for the publisher.
                    tracing::debug!(routing_key = message.routing_key, "event had no subscriber");
                }
                Confirmation::Nack(_) => {
                    return Err(BusError::Nacked(message.event_id.to_owned()));
                }
            }
        }
        Ok(())
    }
}
