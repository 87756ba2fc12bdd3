//! The live feed behind `orderUpdated`: one exclusive, auto-delete RabbitMQ queue per BFF
//! replica, bound to `order.#` and `payment.#`, fanned out in-process through a broadcast
//! channel of order ids. Subscribers re-read their order on a matching event, so the feed
//! only has to say "this order changed", and a missed event costs latency, not correctness
//! (subscriptions also re-read periodically).
//!
//! Exclusive and auto-delete because the feed is per replica and live-only: when a replica
//! goes away its queue goes with it, and no other replica needs its backlog.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use lapin::Channel;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use shop_bus::{Broker, BusError};
use shop_proto::shop::events::v1::envelope::Payload;
use tokio::sync::{Mutex, broadcast};

/// Routing keys whose events can change what a subscriber sees of an order.
pub const BINDINGS: [&str; 2] = ["order.#", "payment.#"];

/// Events buffered per subscriber; one that falls further behind re-reads its order.
const BUFFER: usize = 1024;

#[derive(Clone)]
pub struct Feed {
    tx: broadcast::Sender<Arc<str>>,
    broker: Broker,
    /// A queue bound at start-up, consumed by the first session of [`Feed::run`].
    bound: Arc<Mutex<Option<(Channel, String)>>>,
    /// A session holds a consumer on the broker right now (readiness asks).
    consuming: Arc<AtomicBool>,
}

/// Clears [`Feed::consuming`] however a session ends (an error returns early).
struct Consuming(Arc<AtomicBool>);

impl Drop for Consuming {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Feed {
    /// Declares and binds the queue right away (bounded in time), so events published after
    /// the BFF started are queued even before the consumer runs. When the broker is down the
    /// BFF starts anyway and [`Feed::run`] keeps trying.
    pub async fn start(broker: Broker) -> Self {
        let (tx, _) = broadcast::channel(BUFFER);
        let bound = match tokio::time::timeout(Duration::from_secs(5), bind(&broker)).await {
            Ok(Ok(bound)) => Some(bound),
            Ok(Err(error)) => {
                tracing::warn!(%error, "order feed not bound yet; will retry");
                None
            }
            Err(_) => {
                tracing::warn!("order feed: broker did not answer in time; will retry");
                None
            }
        };
        Self {
            tx,
            broker,
            bound: Arc::new(Mutex::new(bound)),
            consuming: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether events reach subscribers now: a consumer is registered on the feed's queue.
    pub fn is_consuming(&self) -> bool {
        self.consuming.load(Ordering::Acquire)
    }

    /// Order ids as their events arrive.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.tx.subscribe()
    }

    /// Consumes until `shutdown`, re-binding a fresh queue after a broker failure.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let mut attempt = 0u32;
        loop {
            let session = self.session();
            tokio::select! {
                () = &mut shutdown => break,
                outcome = session => {
                    match outcome {
                        Ok(()) => tracing::warn!("order feed ended; reconnecting"),
                        Err(error) => tracing::warn!(%error, "order feed failed; reconnecting"),
                    }
                    self.broker.reset().await;
                    let delay = Duration::from_millis(100u64 << attempt.min(6)).min(Duration::from_secs(5));
                    attempt = attempt.saturating_add(1);
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        tracing::info!("order feed stopped");
    }

    async fn session(&self) -> Result<(), BusError> {
        let taken = self.bound.lock().await.take();
        let (channel, queue) = match taken {
            Some(bound) => bound,
            None => bind(&self.broker).await?,
        };
        let mut deliveries = channel
            .basic_consume(
                queue.clone().into(),
                format!("bff-{}", uuid::Uuid::new_v4().simple()).into(),
                BasicConsumeOptions {
                    no_ack: true,
                    exclusive: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        self.consuming.store(true, Ordering::Release);
        let _consuming = Consuming(self.consuming.clone());
        tracing::info!(queue = %queue, "order feed consuming");
        while let Some(delivery) = deliveries.next().await {
            let delivery = delivery?;
            match shop_bus::decode(&delivery.data) {
                Ok(envelope) => {
                    if let Some(order_id) = envelope.payload.as_ref().and_then(order_id) {
                        // No receivers is fine: nobody is watching right now.
                        let _ = self.tx.send(Arc::from(order_id));
                    }
                }
                Err(error) => tracing::warn!(%error, "undecodable event on the order feed"),
            }
        }
        Ok(())
    }
}

/// A server-unique queue for this replica, bound to [`BINDINGS`].
async fn bind(broker: &Broker) -> Result<(Channel, String), BusError> {
    let channel = broker.channel().await?;
    let config = broker.config();
    let queue = format!(
        "{}bff.feed.{}",
        config.queue_prefix,
        uuid::Uuid::new_v4().simple()
    );
    channel
        .queue_declare(
            queue.clone().into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    for binding in BINDINGS {
        channel
            .queue_bind(
                queue.clone().into(),
                config.exchange.clone().into(),
                binding.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok((channel, queue))
}

/// The order an event is about (payment events are keyed by payment id, so read the payload).
pub fn order_id(payload: &Payload) -> Option<&str> {
    let id = match payload {
        Payload::OrderCreated(event) => &event.order_id,
        Payload::OrderPaymentRequested(event) => &event.order_id,
        Payload::OrderConfirmed(event) => &event.order_id,
        Payload::OrderCancelled(event) => &event.order_id,
        Payload::InventoryReserved(event) => &event.order_id,
        Payload::InventoryRejected(event) => &event.order_id,
        Payload::InventoryReleased(event) => &event.order_id,
        Payload::PaymentSucceeded(event) => &event.order_id,
        Payload::PaymentFailed(event) => &event.order_id,
        Payload::PaymentRequiresAction(event) => &event.order_id,
        Payload::PaymentRefunded(event) => &event.order_id,
        Payload::StockChanged(_) | Payload::ProductChanged(_) => return None,
    };
    Some(id.as_str()).filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_proto::shop::events::v1::{PaymentFailed, ProductChanged};

    #[test]
    fn payment_events_are_routed_by_their_order_id() {
        let failed = Payload::PaymentFailed(PaymentFailed {
            order_id: "o-1".into(),
            payment_id: "p-1".into(),
            ..Default::default()
        });
        assert_eq!(order_id(&failed), Some("o-1"));
        assert_eq!(
            order_id(&Payload::ProductChanged(ProductChanged::default())),
            None
        );
    }
}
