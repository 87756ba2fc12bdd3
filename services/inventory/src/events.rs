//! Inventory's part in the checkout saga: `order.created` reserves all lines or none,
//! `order.confirmed` commits (holding the lines again when the payment outlived the
//! reservation, see [`reservations::commit_paid`]), `order.cancelled` releases; each outcome
//! is announced (`inventory.reserved` / `inventory.rejected` / `inventory.released`).
//!
//! MongoDB has no outbox here, so the rule is "effect first, then publish, and re-derive on
//! redelivery": every operation is idempotent per order and returns the reservation's
//! current state, so when a publish fails the handler asks for a retry, the redelivered
//! event finds the effect already done, and the announcement goes out again. Consumers of
//! these events tolerate the occasional duplicate.

use std::time::Duration;

use chrono::Utc;
use shop_bus::consumer::{Handled, QueueSpec};
use shop_bus::{Publisher, new_event};
use shop_kit::{FieldViolations, ServiceError};
use shop_proto::shop::events::v1::{self as ev, Envelope, envelope::Payload};

use crate::api::timestamp;
use crate::cache::StockCache;
use crate::domain::{OrderId, RejectionCode, ReleaseReason, ReservationLines, ReservationStatus};
use crate::reservations;
use crate::store::{ReservationDoc, Store};

pub fn queue_spec() -> QueueSpec {
    shop_bus::topology::inventory_orders()
}

/// Inventory's step of the checkout saga (the consumer of `inventory.orders`): what it
/// needs besides the store.
#[derive(Clone)]
pub struct Saga {
    pub store: Store,
    pub cache: StockCache,
    pub publisher: Publisher,
    pub reservation_ttl: Duration,
    /// How long stock stays held once the payment waits for the customer (3-D Secure): an
    /// order that is never authenticated gives its units back this soon, not after the full
    /// TTL, so a customer cannot hold stock by starting checkouts they never finish.
    pub action_reservation_ttl: chrono::Duration,
    pub max_lines: usize,
}

fn stock_lines(reservation: &ReservationDoc) -> Vec<ev::StockLine> {
    reservation
        .lines
        .iter()
        .map(|line| ev::StockLine {
            sku: line.sku.clone(),
            quantity: line.quantity,
        })
        .collect()
}

fn release_reason(reason: ReleaseReason) -> ev::ReleaseReason {
    match reason {
        ReleaseReason::Expired => ev::ReleaseReason::Expired,
        ReleaseReason::Admin => ev::ReleaseReason::Admin,
        ReleaseReason::OrderCancelled => ev::ReleaseReason::OrderCancelled,
    }
}

/// The announcement of a reservation's state, if that state is one the saga acts on.
pub fn announcement(reservation: &ReservationDoc) -> Option<Envelope> {
    let order_id = reservation.order_id.clone();
    let payload = match reservation.status {
        ReservationStatus::Reserved => Payload::InventoryReserved(ev::InventoryReserved {
            order_id: order_id.clone(),
            lines: stock_lines(reservation),
            expires_at: reservation.expires_at.map(timestamp),
        }),
        ReservationStatus::Rejected => Payload::InventoryRejected(ev::InventoryRejected {
            order_id: order_id.clone(),
            reasons: reservation
                .rejections
                .iter()
                .map(|rejection| ev::StockRejection {
                    sku: rejection.sku.clone(),
                    code: match rejection.code {
                        RejectionCode::OutOfStock => ev::RejectionCode::OutOfStock,
                        RejectionCode::UnknownSku => ev::RejectionCode::UnknownSku,
                    } as i32,
                    requested: rejection.requested,
                    available: rejection.available,
                })
                .collect(),
        }),
        ReservationStatus::Released => Payload::InventoryReleased(ev::InventoryReleased {
            order_id: order_id.clone(),
            reason: release_reason(
                reservation
                    .release_reason
                    .unwrap_or(ReleaseReason::OrderCancelled),
            ) as i32,
            lines: stock_lines(reservation),
        }),
        _ => return None,
    };
    Some(new_event(order_id, payload))
}

/// Maps an operation's error to the consumer's decision: bad data is parked, the rest is
/// retried.
fn outcome(error: ServiceError) -> Handled {
    match error {
        ServiceError::InvalidArgument(_)
        | ServiceError::NotFound { .. }
        | ServiceError::FailedPrecondition { .. } => Handled::Reject(error.to_string()),
        other => Handled::Retry(other.to_string()),
    }
}

impl Saga {
    async fn announce(&self, reservation: &ReservationDoc) -> Handled {
        self.cache
            .invalidate(
                &reservation
                    .lines
                    .iter()
                    .map(|line| line.sku.clone())
                    .collect::<Vec<_>>(),
            )
            .await;
        let Some(envelope) = announcement(reservation) else {
            return Handled::Done;
        };
        match self.publisher.publish(&envelope).await {
            Ok(()) => Handled::Done,
            Err(error) => Handled::Retry(format!("announcing {}: {error}", envelope.r#type)),
        }
    }
}

impl shop_bus::Handle for Saga {
    async fn handle(&self, envelope: Envelope) -> Handled {
        let now = Utc::now();
        match envelope.payload {
            Some(Payload::OrderCreated(created)) => {
                let mut violations = FieldViolations::new();
                let order_id = violations.check("order_id", OrderId::parse(&created.order_id));
                let lines = ReservationLines::parse(
                    created
                        .lines
                        .iter()
                        .map(|line| (line.sku.as_str(), line.quantity)),
                    self.max_lines,
                    &mut violations,
                );
                let (Some(order_id), Some(lines)) = (order_id, lines) else {
                    return Handled::Reject(format!("malformed order.created: {violations:?}"));
                };
                match reservations::reserve(
                    &self.store,
                    &order_id,
                    &lines,
                    self.reservation_ttl,
                    now,
                )
                .await
                {
                    Ok(reservation) => self.announce(&reservation).await,
                    Err(error) => outcome(error),
                }
            }
            Some(Payload::OrderConfirmed(confirmed)) => {
                let Ok(order_id) = OrderId::parse(&confirmed.order_id) else {
                    return Handled::Reject("malformed order.confirmed".into());
                };
                match reservations::commit_paid(&self.store, &order_id, self.reservation_ttl, now)
                    .await
                {
                    // Sold: nothing to announce (the order is already CONFIRMED).
                    Ok(reservation) if reservation.status == ReservationStatus::Committed => {
                        self.cache
                            .invalidate(
                                &reservation
                                    .lines
                                    .iter()
                                    .map(|line| line.sku.clone())
                                    .collect::<Vec<_>>(),
                            )
                            .await;
                        Handled::Done
                    }
                    // Paid too late and sold out meanwhile: `inventory.rejected` makes the
                    // Order service cancel and refund.
                    Ok(reservation) => self.announce(&reservation).await,
                    Err(error) => outcome(error),
                }
            }
            Some(Payload::OrderCancelled(cancelled)) => {
                let Ok(order_id) = OrderId::parse(&cancelled.order_id) else {
                    return Handled::Reject("malformed order.cancelled".into());
                };
                match reservations::release(
                    &self.store,
                    &order_id,
                    ReleaseReason::OrderCancelled,
                    now,
                )
                .await
                {
                    Ok(reservation) => self.announce(&reservation).await,
                    Err(error) => outcome(error),
                }
            }
            Some(Payload::PaymentRequiresAction(action)) => {
                let Ok(order_id) = OrderId::parse(&action.order_id) else {
                    return Handled::Reject("malformed payment.requires_action".into());
                };
                let until = now + self.action_reservation_ttl;
                match self
                    .store
                    .shorten_reservation(order_id.as_str(), until, now)
                    .await
                {
                    Ok(Some(_)) => {
                        tracing::info!(
                            order_id = order_id.as_str(),
                            expires_at = %until,
                            "payment awaits the customer: reservation shortened"
                        );
                        Handled::Done
                    }
                    // Already shorter, or no longer held: the expiry path needs nothing new.
                    Ok(None) => Handled::Done,
                    Err(error) => Handled::Retry(format!("shortening the reservation: {error}")),
                }
            }
            _ => Handled::Done,
        }
    }
}
