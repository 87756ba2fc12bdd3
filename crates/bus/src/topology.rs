//! The saga's durable queues, in one place, and declared by every service that takes part
//! before it serves: a topic exchange drops messages no queue is bound for, so if Order
//! published `order.created` before Inventory had ever started, the order would wait
//! forever. With every participant declaring every saga queue, the first service up makes
//! sure no saga event can go unrouted.

use crate::BusError;
use crate::broker::Broker;
use crate::consumer::{self, QueueSpec};

/// Order reacts to stock and payment outcomes.
pub fn order_saga() -> QueueSpec {
    QueueSpec::new(
        "order.saga",
        &[
            "inventory.reserved",
            "inventory.rejected",
            "inventory.released",
            "payment.succeeded",
            "payment.failed",
            "payment.requires_action",
        ],
    )
}

/// Inventory reserves, commits and releases; it shortens a hold while the payment waits for
/// the customer (3-D Secure), so an abandoned authentication cannot hoard stock.
pub fn inventory_orders() -> QueueSpec {
    QueueSpec::new(
        "inventory.orders",
        &[
            "order.created",
            "order.confirmed",
            "order.cancelled",
            "payment.requires_action",
        ],
    )
}

/// Cart removes what was bought.
pub fn cart_orders() -> QueueSpec {
    QueueSpec::new("cart.orders", &["order.confirmed"])
}

/// Payment charges, refunds and cancels.
pub fn payment_orders() -> QueueSpec {
    QueueSpec::new(
        "payment.orders",
        &["order.payment_requested", "order.cancelled"],
    )
}

pub fn saga_queues() -> [QueueSpec; 4] {
    [
        order_saga(),
        inventory_orders(),
        cart_orders(),
        payment_orders(),
    ]
}

/// Declares every saga queue (idempotent). Services call it before serving; failures are
/// the caller's to log: the consumers declare their own queue again when they connect.
pub async fn declare_saga(broker: &Broker) -> Result<(), BusError> {
    let channel = broker.channel().await?;
    for spec in saga_queues() {
        consumer::declare(broker, &channel, &spec).await?;
    }
    let _ = channel.close(0, "topology declared".into()).await;
    Ok(())
}

/// [`declare_saga`] at start-up: a failure is logged, not fatal, because each consumer
/// declares its own queue again once the broker is reachable.
pub async fn ensure_saga(broker: &Broker) {
    if let Err(error) = declare_saga(broker).await {
        tracing::warn!(%error, "saga queues not declared yet; the consumers will retry");
    }
}

/// A process that talks to the broker, and so a RabbitMQ user of its own (`shop-<name>`):
/// the least-privilege table ([`crate::permissions`]) is built from what each one consumes
/// and publishes, so a queue or an event added here is granted to exactly its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Participant {
    Order,
    Inventory,
    Payment,
    Cart,
    Product,
    Bff,
}

impl Participant {
    pub const ALL: [Participant; 6] = [
        Participant::Order,
        Participant::Inventory,
        Participant::Payment,
        Participant::Cart,
        Participant::Product,
        Participant::Bff,
    ];

    /// The service's short name, as in `services/<name>` and the k8s objects.
    pub fn name(self) -> &'static str {
        match self {
            Participant::Order => "order",
            Participant::Inventory => "inventory",
            Participant::Payment => "payment",
            Participant::Cart => "cart",
            Participant::Product => "product",
            Participant::Bff => "bff",
        }
    }

    /// Its RabbitMQ user.
    pub fn user(self) -> String {
        format!("shop-{}", self.name())
    }

    /// The durable saga queue it consumes (with its retry and dead queues), if any.
    pub fn saga_queue(self) -> Option<QueueSpec> {
        match self {
            Participant::Order => Some(order_saga()),
            Participant::Inventory => Some(inventory_orders()),
            Participant::Payment => Some(payment_orders()),
            Participant::Cart => Some(cart_orders()),
            Participant::Product | Participant::Bff => None,
        }
    }

    /// The prefix of its per-replica queues (`<prefix>.<32 hex>`, exclusive, auto-delete),
    /// which it declares and binds itself, and the routing keys it binds them to.
    pub fn per_replica(self) -> Option<(&'static str, &'static [&'static str])> {
        match self {
            Participant::Product => Some((PRODUCT_CACHE, &["product.changed"])),
            Participant::Bff => Some((BFF_FEED, &["order.#", "payment.#"])),
            _ => None,
        }
    }

    /// The routing keys it may publish (docs/architecture.md §5's event catalog).
    pub fn publishes(self) -> Vec<&'static str> {
        ALL_ROUTING_KEYS
            .iter()
            .filter(|(_, owner)| *owner == self)
            .map(|(key, _)| *key)
            .collect()
    }
}

/// Product's per-replica cache-invalidation queue prefix (`services/product/src/events.rs`).
pub const PRODUCT_CACHE: &str = "product.cache";
/// The BFF's per-replica order feed prefix (`bff/src/feed.rs`).
pub const BFF_FEED: &str = "bff.feed";

/// Who publishes each event: the payload's one owner. The match is exhaustive, so a new
/// event does not compile until it has an owner (and so a topic permission).
pub fn publisher_of(payload: &shop_proto::shop::events::v1::envelope::Payload) -> Participant {
    use shop_proto::shop::events::v1::envelope::Payload;
    match payload {
        Payload::OrderCreated(_)
        | Payload::OrderPaymentRequested(_)
        | Payload::OrderConfirmed(_)
        | Payload::OrderCancelled(_) => Participant::Order,
        Payload::InventoryReserved(_)
        | Payload::InventoryRejected(_)
        | Payload::InventoryReleased(_)
        | Payload::StockChanged(_) => Participant::Inventory,
        Payload::PaymentSucceeded(_)
        | Payload::PaymentFailed(_)
        | Payload::PaymentRequiresAction(_)
        | Payload::PaymentRefunded(_) => Participant::Payment,
        Payload::ProductChanged(_) => Participant::Product,
    }
}

/// Every routing key with its publisher; a test checks it against [`publisher_of`] and
/// [`crate::envelope::routing_key`] for every payload.
pub const ALL_ROUTING_KEYS: [(&str, Participant); 13] = [
    ("order.created", Participant::Order),
    ("order.payment_requested", Participant::Order),
    ("order.confirmed", Participant::Order),
    ("order.cancelled", Participant::Order),
    ("inventory.reserved", Participant::Inventory),
    ("inventory.rejected", Participant::Inventory),
    ("inventory.released", Participant::Inventory),
    ("stock.changed", Participant::Inventory),
    ("payment.succeeded", Participant::Payment),
    ("payment.failed", Participant::Payment),
    ("payment.requires_action", Participant::Payment),
    ("payment.refunded", Participant::Payment),
    ("product.changed", Participant::Product),
];

#[cfg(test)]
mod tests {
    use super::*;
    use shop_proto::shop::events::v1::envelope::Payload;

    #[test]
    fn the_catalog_names_every_event_with_its_publisher() {
        let all = [
            Payload::OrderCreated(Default::default()),
            Payload::OrderPaymentRequested(Default::default()),
            Payload::OrderConfirmed(Default::default()),
            Payload::OrderCancelled(Default::default()),
            Payload::InventoryReserved(Default::default()),
            Payload::InventoryRejected(Default::default()),
            Payload::InventoryReleased(Default::default()),
            Payload::StockChanged(Default::default()),
            Payload::PaymentSucceeded(Default::default()),
            Payload::PaymentFailed(Default::default()),
            Payload::PaymentRequiresAction(Default::default()),
            Payload::PaymentRefunded(Default::default()),
            Payload::ProductChanged(Default::default()),
        ];
        assert_eq!(all.len(), ALL_ROUTING_KEYS.len());
        for payload in &all {
            let entry = (crate::routing_key(payload), publisher_of(payload));
            assert!(ALL_ROUTING_KEYS.contains(&entry), "{entry:?}");
        }
    }
}
