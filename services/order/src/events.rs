//! The Order service's part in the checkout saga: it applies state changes (from its own
//! RPCs and from inventory and payment events) in one transaction with the events they
//! cause (outbox) and, for consumed events, the inbox record that makes redelivery harmless.

use shop_bus::consumer::{Handled, QueueSpec};
use shop_bus::outbox::{self, Relay};
use shop_bus::{inbox, new_event};
use shop_proto::shop::events::v1::{self as ev, Envelope, envelope::Payload};
use sqlx::MySqlPool;

use crate::domain::{Decision, Emit, Input};
use crate::store::{self, OrderRecord, OrderRow, StoreError};

/// The inbox name of this service's saga consumer.
pub const CONSUMER: &str = "order.saga";

pub fn queue_spec() -> QueueSpec {
    shop_bus::topology::order_saga()
}

#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    #[error("order {0} not found")]
    NotFound(String),
    /// A payment event that does not describe this order's payment: never applied.
    #[error("payment event does not match order {order_id}: {mismatch}")]
    Mismatch {
        order_id: String,
        mismatch: PaymentMismatch,
    },
    #[error("refused: {0}")]
    Refused(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for SagaError {
    fn from(error: sqlx::Error) -> Self {
        SagaError::Store(StoreError::Database(error))
    }
}

/// Applies inputs to orders, transactionally with their outgoing events.
#[derive(Clone)]
pub struct Saga {
    pool: MySqlPool,
    relay: Relay,
    transitions: prometheus::IntCounterVec,
    mismatches: prometheus::IntCounterVec,
}

fn cart_ref(order: &OrderRow) -> Option<ev::CartRef> {
    use ev::cart_ref::Key;
    let key = match (&order.cart_guest_id, &order.cart_user_id) {
        (Some(guest), _) => Key::GuestCartId(guest.clone()),
        (None, Some(user)) => Key::UserId(user.clone()),
        (None, None) => return None,
    };
    Some(ev::CartRef { key: Some(key) })
}

fn money(order: &OrderRow, amount_minor: i64) -> shop_proto::shop::common::v1::Money {
    shop_proto::shop::common::v1::Money {
        amount_minor,
        currency: order.currency.clone(),
    }
}

fn event_lines(record: &OrderRecord) -> Vec<ev::OrderLine> {
    record
        .lines
        .iter()
        .map(|line| ev::OrderLine {
            sku: line.sku.clone(),
            quantity: line.quantity,
            unit_price: Some(money(&record.order, line.unit_price_minor)),
        })
        .collect()
}

/// `order.created`: everything Inventory needs to reserve.
pub fn order_created(record: &OrderRecord) -> Envelope {
    let order = &record.order;
    new_event(
        &order.id,
        Payload::OrderCreated(ev::OrderCreated {
            order_id: order.id.clone(),
            user_id: order.user_id.clone(),
            lines: event_lines(record),
            total: Some(money(order, order.total_minor)),
            cart: cart_ref(order),
        }),
    )
}

fn emitted(record: &OrderRecord, emit: Emit) -> Envelope {
    let order = &record.order;
    let payload = match emit {
        Emit::PaymentRequested => Payload::OrderPaymentRequested(ev::OrderPaymentRequested {
            order_id: order.id.clone(),
            user_id: order.user_id.clone(),
            amount: Some(money(order, order.total_minor)),
            payment_method: order.payment_method.clone(),
            // One payment per order: Payment derives its Stripe idempotency key from this.
            idempotency_seed: order.id.clone(),
            payment_id: order.payment_id.clone().unwrap_or_default(),
        }),
        Emit::Confirmed => Payload::OrderConfirmed(ev::OrderConfirmed {
            order_id: order.id.clone(),
            user_id: order.user_id.clone(),
            cart: cart_ref(order),
            lines: event_lines(record),
        }),
        Emit::Cancelled { payment_captured } => Payload::OrderCancelled(ev::OrderCancelled {
            order_id: order.id.clone(),
            user_id: order.user_id.clone(),
            reason: order
                .cancel_reason
                .map_or(0, |reason| reason.to_proto() as i32),
            payment_captured,
        }),
    };
    new_event(&order.id, payload)
}

/// What an event means for an order, and any payment details it brings.
struct Incoming {
    order_id: String,
    input: Input,
    payment_id: Option<String>,
    client_secret: Option<String>,
    /// The issuer's page for 3-D Secure; only web addresses are kept, since the storefront
    /// sends the shopper's browser there.
    redirect_url: Option<String>,
    /// What `payment.succeeded` says was captured.
    amount: Option<shop_proto::shop::common::v1::Money>,
}

/// Why a payment event was not taken as being about the order's payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentMismatch {
    #[error("payment id {got:?}, the order's payment is {expected:?}")]
    PaymentId { expected: String, got: String },
    #[error("amount {got} minor units, the order's total is {expected}")]
    Amount { expected: i64, got: i64 },
    #[error("currency {got:?}, the order's is {expected:?}")]
    Currency { expected: String, got: String },
}

impl PaymentMismatch {
    /// The `field` label of `shop_order_payment_mismatches_total`.
    pub fn field(&self) -> &'static str {
        match self {
            PaymentMismatch::PaymentId { .. } => "payment_id",
            PaymentMismatch::Amount { .. } => "amount",
            PaymentMismatch::Currency { .. } => "currency",
        }
    }
}

/// Checks a payment event against the order it names. Only Payment may move an order's
/// payment, and only for the payment Order asked for: the payment id must be the one Order
/// chose (sent in `order.payment_requested`), and a capture must be of the order's total in
/// its currency. An order from before Order chose ids (none recorded yet) is checked on the
/// amount only.
pub fn check_payment(
    order: &OrderRow,
    payment_id: Option<&str>,
    amount: Option<&shop_proto::shop::common::v1::Money>,
    input: Input,
) -> Result<(), PaymentMismatch> {
    if let (Some(expected), Some(got)) = (order.payment_id.as_deref(), payment_id)
        && expected != got
    {
        return Err(PaymentMismatch::PaymentId {
            expected: expected.to_owned(),
            got: got.to_owned(),
        });
    }
    if input == Input::PaymentSucceeded {
        let (got_amount, got_currency) = amount.map_or((0, ""), |money| {
            (money.amount_minor, money.currency.as_str())
        });
        if got_currency != order.currency {
            return Err(PaymentMismatch::Currency {
                expected: order.currency.clone(),
                got: got_currency.to_owned(),
            });
        }
        if got_amount != order.total_minor {
            return Err(PaymentMismatch::Amount {
                expected: order.total_minor,
                got: got_amount,
            });
        }
    }
    Ok(())
}

fn interpret(envelope: &Envelope) -> Option<Incoming> {
    let incoming = |order_id: &str, input| Incoming {
        order_id: order_id.to_owned(),
        input,
        payment_id: None,
        client_secret: None,
        redirect_url: None,
        amount: None,
    };
    match envelope.payload.as_ref()? {
        Payload::InventoryReserved(e) => Some(incoming(&e.order_id, Input::StockReserved)),
        Payload::InventoryRejected(e) => Some(incoming(&e.order_id, Input::StockRejected)),
        Payload::InventoryReleased(e) if e.reason == ev::ReleaseReason::Expired as i32 => {
            Some(incoming(&e.order_id, Input::ReservationExpired))
        }
        Payload::PaymentSucceeded(e) => Some(Incoming {
            payment_id: Some(e.payment_id.clone()),
            amount: Some(e.amount.clone().unwrap_or_default()),
            ..incoming(&e.order_id, Input::PaymentSucceeded)
        }),
        Payload::PaymentFailed(e) => Some(Incoming {
            payment_id: Some(e.payment_id.clone()),
            ..incoming(
                &e.order_id,
                Input::PaymentFailed {
                    declined: e.declined,
                },
            )
        }),
        Payload::PaymentRequiresAction(e) => Some(Incoming {
            payment_id: Some(e.payment_id.clone()),
            client_secret: Some(e.client_secret.clone()),
            redirect_url: Some(e.redirect_url.clone())
                .filter(|url| url.starts_with("https://") || url.starts_with("http://")),
            ..incoming(&e.order_id, Input::PaymentRequiresAction)
        }),
        _ => None,
    }
}

impl Saga {
    /// Registers `shop_order_transitions_total{status, reason}` in `registry`: how orders
    /// move and end (CONFIRMED, or CANCELLED with why) is the saga's health at a glance.
    pub fn new(
        pool: MySqlPool,
        relay: Relay,
        registry: &prometheus::Registry,
    ) -> Result<Self, prometheus::Error> {
        let transitions = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "order_transitions_total",
                "Orders that moved to a status, by status and cancel reason",
            ),
            &["status", "reason"],
        )?;
        registry.register(Box::new(transitions.clone()))?;
        let mismatches = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "order_payment_mismatches_total",
                "Payment events refused because they do not match the order's payment, by \
                 the field that differed (a forged or misrouted event: investigate any)",
            ),
            &["field"],
        )?;
        registry.register(Box::new(mismatches.clone()))?;
        Ok(Self {
            pool,
            relay,
            transitions,
            mismatches,
        })
    }

    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    /// Applies `input` to the order (locked for the transaction). With `inbox`, the event
    /// is recorded as processed in the same transaction, and a duplicate does nothing.
    /// Returns the order as it is afterwards.
    pub async fn apply(
        &self,
        order_id: &str,
        input: Input,
        inbox_event: Option<&str>,
        note: impl FnOnce(&mut OrderRow),
    ) -> Result<OrderRecord, SagaError> {
        self.apply_checked(order_id, input, inbox_event, |_| Ok(()), note)
            .await
    }

    /// [`Saga::apply`], refusing the input unless `check` accepts the locked order (so the
    /// check sees the state the input would change, not an earlier one).
    async fn apply_checked(
        &self,
        order_id: &str,
        input: Input,
        inbox_event: Option<&str>,
        check: impl FnOnce(&OrderRow) -> Result<(), PaymentMismatch>,
        note: impl FnOnce(&mut OrderRow),
    ) -> Result<OrderRecord, SagaError> {
        let mut tx = self.pool.begin().await?;
        let first = match inbox_event {
            Some(event_id) => inbox::first_delivery(&mut tx, CONSUMER, event_id).await?,
            None => true,
        };
        let mut record = store::lock(&mut tx, order_id)
            .await?
            .ok_or_else(|| SagaError::NotFound(order_id.to_owned()))?;
        if !first {
            tx.rollback().await?;
            return Ok(record);
        }
        if let Err(mismatch) = check(&record.order) {
            tx.rollback().await?;
            return Err(SagaError::Mismatch {
                order_id: order_id.to_owned(),
                mismatch,
            });
        }
        let from = record.order.status;
        match crate::domain::decide(from, input) {
            Decision::Apply {
                status,
                cancel_reason,
                emit,
            } => {
                record.order.status = status;
                if let Some(reason) = cancel_reason {
                    record.order.cancel_reason = Some(reason);
                }
                if emit == Some(Emit::PaymentRequested) && record.order.payment_id.is_none() {
                    // Chosen here and sent to Payment, so a `payment.succeeded` with any
                    // other id cannot confirm the order (see `check_payment`).
                    record.order.payment_id = Some(shop_kit::PaymentId::generate().into_string());
                }
                note(&mut record.order);
                store::save_state(&mut tx, &mut record.order).await?;
                if let Some(emit) = emit {
                    outbox::enqueue(&mut tx, &emitted(&record, emit)).await?;
                }
                tx.commit().await?;
                self.relay.notify();
                if status != from {
                    let reason = cancel_reason.map_or("", |reason| reason.as_str());
                    self.transitions
                        .with_label_values(&[status.as_str(), reason])
                        .inc();
                }
                tracing::info!(order_id, status = status.as_str(), ?input, "order updated");
            }
            Decision::Ignore => {
                tx.commit().await?;
                tracing::debug!(order_id, ?input, "nothing to do");
            }
            Decision::Refuse(reason) => {
                tx.rollback().await?;
                return Err(SagaError::Refused(reason));
            }
        }
        Ok(record)
    }
}

impl shop_bus::Handle for Saga {
    /// At-least-once in, exactly-once effect.
    async fn handle(&self, envelope: Envelope) -> Handled {
        let Some(incoming) = interpret(&envelope) else {
            return Handled::Done;
        };
        let Incoming {
            order_id,
            input,
            payment_id,
            client_secret,
            redirect_url,
            amount,
        } = incoming;
        let result = self
            .apply_checked(
                &order_id,
                input,
                Some(&envelope.event_id),
                |order| check_payment(order, payment_id.as_deref(), amount.as_ref(), input),
                |order| {
                    // Only an order from before Order chose payment ids learns it here.
                    if order.payment_id.is_none() {
                        order.payment_id = payment_id.clone().filter(|id| !id.is_empty());
                    }
                    match input {
                        Input::PaymentRequiresAction => {
                            order.payment_client_secret = client_secret;
                            order.payment_redirect_url = redirect_url;
                        }
                        Input::PaymentSucceeded | Input::PaymentFailed { .. } => {
                            order.payment_client_secret = None;
                            order.payment_redirect_url = None;
                        }
                        _ => {}
                    }
                },
            )
            .await;
        match result {
            Ok(_) => Handled::Done,
            Err(SagaError::NotFound(id)) => Handled::Reject(format!("unknown order {id}")),
            Err(SagaError::Refused(reason)) => Handled::Reject(reason.to_owned()),
            // Parked in the dead-letter queue with the reason, never retried: the same event
            // would mismatch again. The order stays as it is.
            Err(SagaError::Mismatch { order_id, mismatch }) => {
                self.mismatches.with_label_values(&[mismatch.field()]).inc();
                tracing::error!(
                    %order_id,
                    event_id = %envelope.event_id,
                    event_type = %envelope.r#type,
                    %mismatch,
                    "payment event does not match the order: refused, not applied"
                );
                Handled::Reject(format!(
                    "{} for order {order_id} refused: {mismatch}",
                    envelope.r#type
                ))
            }
            // Our own row holds a value this build cannot read: it reads the same next time.
            Err(SagaError::Store(StoreError::Database(error)))
                if shop_kit::mysql::is_unreadable(&error) =>
            {
                Handled::Reject(error.to_string())
            }
            Err(SagaError::Store(error)) => Handled::Retry(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Status;
    use shop_proto::shop::common::v1::Money;

    fn order(payment_id: Option<&str>) -> OrderRow {
        let now = store::now();
        OrderRow {
            id: "o1".into(),
            user_id: "u1".into(),
            idempotency_key: "k".into(),
            request_hash: String::new(),
            status: Status::AwaitingPayment,
            cancel_reason: None,
            cancel_note: String::new(),
            currency: "EUR".into(),
            total_minor: 7000,
            ship_name: String::new(),
            ship_line1: String::new(),
            ship_line2: String::new(),
            ship_city: String::new(),
            ship_postal_code: String::new(),
            ship_country: String::new(),
            payment_method: "pm_card_visa".into(),
            payment_id: payment_id.map(str::to_owned),
            payment_client_secret: None,
            payment_redirect_url: None,
            cart_guest_id: None,
            cart_user_id: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    fn eur(amount_minor: i64, currency: &str) -> Money {
        Money {
            amount_minor,
            currency: currency.into(),
        }
    }

    #[test]
    fn only_the_orders_own_payment_of_its_total_matches() {
        let known = order(Some("p1"));
        let succeeded = |order: &OrderRow, id: &str, money: Option<Money>| {
            check_payment(order, Some(id), money.as_ref(), Input::PaymentSucceeded)
                .map_err(|mismatch| mismatch.field())
        };
        assert_eq!(succeeded(&known, "p1", Some(eur(7000, "EUR"))), Ok(()));
        assert_eq!(
            succeeded(&known, "p2", Some(eur(7000, "EUR"))),
            Err("payment_id")
        );
        assert_eq!(
            succeeded(&known, "p1", Some(eur(6999, "EUR"))),
            Err("amount")
        );
        assert_eq!(
            succeeded(&known, "p1", Some(eur(7000, "USD"))),
            Err("currency")
        );
        assert_eq!(succeeded(&known, "p1", None), Err("currency"));
        // An order from before Order chose payment ids is still checked on the amount.
        let legacy = order(None);
        assert_eq!(succeeded(&legacy, "p9", Some(eur(7000, "EUR"))), Ok(()));
        assert_eq!(succeeded(&legacy, "p9", Some(eur(1, "EUR"))), Err("amount"));
        // Other payment events carry no amount but must name the order's payment.
        let failed = Input::PaymentFailed { declined: true };
        assert!(check_payment(&known, Some("p1"), None, failed).is_ok());
        assert!(check_payment(&known, Some("p2"), None, failed).is_err());
        assert!(check_payment(&known, None, None, Input::StockReserved).is_ok());
    }
}
