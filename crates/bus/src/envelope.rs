//! Building and reading integration events: every event is an `Envelope` whose `type` is
//! derived from its payload, so a routing key can never disagree with the body.

use prost::Message as _;
use shop_proto::shop::events::v1::{Envelope, envelope::Payload};

use crate::BusError;

/// The routing key (and `Envelope.type`) of a payload, as listed in docs/architecture.md §5.
pub fn routing_key(payload: &Payload) -> &'static str {
    match payload {
        Payload::OrderCreated(_) => "order.created",
        Payload::OrderPaymentRequested(_) => "order.payment_requested",
        Payload::OrderConfirmed(_) => "order.confirmed",
        Payload::OrderCancelled(_) => "order.cancelled",
        Payload::InventoryReserved(_) => "inventory.reserved",
        Payload::InventoryRejected(_) => "inventory.rejected",
        Payload::InventoryReleased(_) => "inventory.released",
        Payload::StockChanged(_) => "stock.changed",
        Payload::PaymentSucceeded(_) => "payment.succeeded",
        Payload::PaymentFailed(_) => "payment.failed",
        Payload::PaymentRequiresAction(_) => "payment.requires_action",
        Payload::PaymentRefunded(_) => "payment.refunded",
        Payload::ProductChanged(_) => "product.changed",
    }
}

/// A new event about `aggregate_id` (an order id, a SKU, ...), with a fresh UUIDv7 id.
pub fn new_event(aggregate_id: impl Into<String>, payload: Payload) -> Envelope {
    Envelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        r#type: routing_key(&payload).to_owned(),
        occurred_at: Some(shop_kit::time::from_chrono(chrono::Utc::now())),
        aggregate_id: aggregate_id.into(),
        payload: Some(payload),
    }
}

pub fn encode(envelope: &Envelope) -> Vec<u8> {
    envelope.encode_to_vec()
}

/// Decodes a message body; an envelope without payload is malformed (dead-lettered).
pub fn decode(body: &[u8]) -> Result<Envelope, BusError> {
    let envelope = Envelope::decode(body)?;
    if envelope.payload.is_none() {
        return Err(BusError::EmptyEnvelope);
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_proto::shop::events::v1::OrderConfirmed;

    #[test]
    fn the_type_follows_the_payload_and_round_trips() {
        let envelope = new_event(
            "order-1",
            Payload::OrderConfirmed(OrderConfirmed::default()),
        );
        assert_eq!(envelope.r#type, "order.confirmed");
        assert_eq!(decode(&encode(&envelope)).unwrap(), envelope);
        assert!(matches!(
            decode(&encode(&Envelope::default())),
            Err(BusError::EmptyEnvelope)
        ));
        assert!(decode(b"\xff\xff\xff").is_err());
    }
}
