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

/// Inventory reserves, commits and releases.
pub fn inventory_orders() -> QueueSpec {
    QueueSpec::new(
        "inventory.orders",
        &["order.created", "order.confirmed", "order.cancelled"],
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
