//! Cart's part in the checkout saga: when an order is confirmed, what it bought leaves the
//! buyer's cart (lines added after checkout stay). Redelivery is harmless: the Redis script
//! applies each event once.

use shop_bus::consumer::{Handled, QueueSpec};
use shop_proto::shop::events::v1::{Envelope, cart_ref, envelope::Payload};

use crate::domain::{CartRef, GuestCartId, UserId};
use crate::store::Store;

pub fn queue_spec() -> QueueSpec {
    shop_bus::topology::cart_orders()
}

/// Cart's step of the checkout saga (the consumer of `cart.orders`).
pub struct Saga {
    pub store: Store,
}

impl shop_bus::Handle for Saga {
    async fn handle(&self, envelope: Envelope) -> Handled {
        clear_ordered(&self.store, envelope).await
    }
}

async fn clear_ordered(store: &Store, envelope: Envelope) -> Handled {
    let Some(Payload::OrderConfirmed(confirmed)) = envelope.payload else {
        return Handled::Done;
    };
    let cart = match confirmed.cart.and_then(|cart| cart.key) {
        Some(cart_ref::Key::GuestCartId(id)) => GuestCartId::parse(&id).ok().map(CartRef::Guest),
        Some(cart_ref::Key::UserId(id)) => UserId::parse(&id).ok().map(CartRef::User),
        // Not bought from a cart: nothing to clear.
        None => return Handled::Done,
    };
    let Some(cart) = cart else {
        return Handled::Reject(format!(
            "order {} names an invalid cart",
            confirmed.order_id
        ));
    };
    let lines: Vec<(String, i64)> = confirmed
        .lines
        .into_iter()
        .map(|line| (line.sku, line.quantity))
        .collect();
    match store
        .subtract_ordered(
            &cart,
            &lines,
            &envelope.event_id,
            chrono::Utc::now().timestamp_millis(),
        )
        .await
    {
        Ok(applied) => {
            tracing::info!(order_id = %confirmed.order_id, applied, "ordered items left the cart");
            Handled::Done
        }
        Err(error) => Handled::Retry(error.to_string()),
    }
}
