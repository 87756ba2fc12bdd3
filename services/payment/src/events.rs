//! Payment's part in the checkout saga (docs/architecture.md §5): it consumes
//! `order.payment_requested` and `order.cancelled`, talks to Stripe, and emits `payment.*`
//! through the outbox.
//!
//! Charging an order is three steps, because Stripe cannot join a MySQL transaction:
//!
//! 1. one transaction records the delivery (inbox) and inserts the PENDING row unless the
//!    order has one (UNIQUE order_id), so every delivery of every copy of the request finds
//!    the same row and payment id;
//! 2. outside any transaction, Stripe is asked under the order's create key: a first call
//!    creates and confirms the PaymentIntent, every later call (a retry, a redelivery, a
//!    concurrent duplicate, a restarted instance after a crash at any point) gets the same
//!    intent back instead of a second charge;
//! 3. a second transaction, with the row locked, applies the answer through
//!    `domain::decide` and enqueues the resulting event, so the row and the event commit
//!    together and an outcome that is already recorded (by the webhook, or an earlier
//!    attempt) changes nothing and emits nothing.
//!
//! A crash between 2 and 3 leaves the row PENDING and the delivery unacked; the redelivery
//! runs 2 again and gets the first attempt's answer. Webhooks (see `webhook`) go through the
//! same step 3, so they and the charge path can race and still emit each outcome once.
//!
//! Cancellation marks the row (`cancel_requested_at`) and then settles: an open intent is
//! cancelled, a capture is refunded. If the charge call may still be in flight (PENDING
//! without an intent id), the charge path settles once it learns the outcome, and any
//! later outcome (a webhook, a late capture) settles again. If no payment was requested
//! yet, a CANCELLED tombstone row makes a late `order.payment_requested` charge nothing.

use prometheus::{IntCounterVec, Opts};
use shop_bus::consumer::{Handled, QueueSpec};
use shop_bus::outbox::{self, Relay};
use shop_bus::{inbox, new_event};
use shop_kit::{OrderId, PaymentId};
use shop_proto::shop::common::v1::Money;
use shop_proto::shop::events::v1::{self as ev, Envelope, envelope::Payload};
use sqlx::{MySqlConnection, MySqlPool};

use crate::domain::{
    self, CancelPlan, ChargeRequest, ChargeStep, Decision, Emit, Input, IntentOutcome, Status,
};
use crate::store::{self, PaymentRow, StoreError};
use crate::stripe::{CallError, Charge, Refund, Stripe};

/// The inbox name and queue of this service's consumer.
pub const CONSUMER: &str = "payment.orders";
/// The only provider so far.
pub const PROVIDER: &str = "stripe";
/// Settling a cancellation takes at most: cancel (or find it captured), refund, confirm.
const SETTLE_ROUNDS: usize = 4;
/// Stale payments resumed per sweep.
const STALE_BATCH: i64 = 50;

pub fn queue_spec() -> QueueSpec {
    shop_bus::topology::payment_orders()
}

#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    /// The event or the row can never be processed as it is.
    #[error("invalid: {0}")]
    Invalid(String),
    /// A cancellation could not be completed yet (the intent is still processing).
    #[error("not settled yet: {0}")]
    Unsettled(String),
    #[error(transparent)]
    Stripe(#[from] CallError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for SagaError {
    fn from(error: sqlx::Error) -> Self {
        SagaError::Store(StoreError::Database(error))
    }
}

impl SagaError {
    /// Worth trying again later (database or Stripe unavailable, not settled yet).
    pub fn is_transient(&self) -> bool {
        match self {
            // A row this build cannot read (an unknown status) reads the same next time.
            SagaError::Store(StoreError::Database(error)) => !shop_kit::mysql::is_unreadable(error),
            SagaError::Store(_)
            | SagaError::Unsettled(_)
            | SagaError::Stripe(CallError::Transient(_)) => true,
            SagaError::Invalid(_) | SagaError::Stripe(CallError::Permanent(_)) => false,
        }
    }
}

/// Saga counters in the instance's registry.
#[derive(Clone)]
pub struct SagaMetrics {
    /// `shop_payment_outcomes_total{outcome}`: ledger transitions by new status.
    outcomes: IntCounterVec,
    /// `shop_payment_deliveries_total{event, result}`: consumed events by what became of them.
    deliveries: IntCounterVec,
}

impl SagaMetrics {
    pub fn register(registry: &prometheus::Registry) -> Result<Self, prometheus::Error> {
        let outcomes = IntCounterVec::new(
            Opts::new(
                "payment_outcomes_total",
                "Payments that reached a status, by status",
            ),
            &["outcome"],
        )?;
        let deliveries = IntCounterVec::new(
            Opts::new(
                "payment_deliveries_total",
                "Order events consumed, by event type and result (done, retry, reject)",
            ),
            &["event", "result"],
        )?;
        registry.register(Box::new(outcomes.clone()))?;
        registry.register(Box::new(deliveries.clone()))?;
        Ok(Self {
            outcomes,
            deliveries,
        })
    }
}

/// Which row an input is about.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Order(&'a str),
    /// A webhook's intent: the row that recorded it, or else the row its metadata names
    /// (the webhook can beat the charge call's answer, before the intent id is recorded).
    Intent {
        intent_id: &'a str,
        order_id: Option<&'a str>,
        payment_id: Option<&'a str>,
    },
}

/// Applies what Stripe says to the ledger, transactionally with the events it causes.
#[derive(Clone)]
pub struct Saga {
    pool: MySqlPool,
    relay: Relay,
    stripe: Stripe,
    metrics: SagaMetrics,
}

fn money(row: &PaymentRow, amount_minor: i64) -> Option<Money> {
    Some(Money {
        amount_minor,
        currency: row.currency.clone(),
    })
}

/// The event of a transition: aggregate = the payment, payload from the row and the input.
fn event_for(row: &PaymentRow, emit: Emit, input: &Input) -> Envelope {
    let order_id = row.order_id.clone();
    let payment_id = row.id.clone();
    let payload = match (emit, input) {
        (Emit::Succeeded, _) => Payload::PaymentSucceeded(ev::PaymentSucceeded {
            order_id,
            payment_id,
            amount: money(row, row.amount_minor),
            provider_payment_intent_id: row.provider_payment_intent_id.clone().unwrap_or_default(),
        }),
        (Emit::RequiresAction, input) => {
            let (client_secret, redirect_url) = match input {
                Input::Intent(IntentOutcome::RequiresAction {
                    client_secret,
                    redirect_url,
                    ..
                }) => (
                    client_secret.clone(),
                    redirect_url.clone().unwrap_or_default(),
                ),
                _ => (String::new(), String::new()),
            };
            Payload::PaymentRequiresAction(ev::PaymentRequiresAction {
                order_id,
                payment_id,
                client_secret,
                redirect_url,
            })
        }
        (Emit::Failed, _) => Payload::PaymentFailed(ev::PaymentFailed {
            order_id,
            payment_id,
            code: row.failure_code.clone().unwrap_or_default(),
            message: row.failure_message.clone().unwrap_or_default(),
            declined: matches!(
                input,
                Input::Intent(IntentOutcome::Failed { failure, .. }) if failure.declined
            ),
        }),
        (Emit::Refunded, input) => {
            let amount_minor = match input {
                Input::Refunded { amount_minor } => *amount_minor,
                Input::Intent(_) => row.refunded_minor,
            };
            Payload::PaymentRefunded(ev::PaymentRefunded {
                order_id,
                payment_id,
                amount: money(row, amount_minor),
            })
        }
    };
    new_event(&row.id, payload)
}

fn handled(result: &Result<(), SagaError>) -> Handled {
    match result {
        Ok(()) => Handled::Done,
        Err(error) if error.is_transient() => Handled::Retry(error.to_string()),
        Err(error) => {
            tracing::error!(%error, "event cannot be processed; dead-lettering it");
            Handled::Reject(error.to_string())
        }
    }
}

async fn locate(
    tx: &mut MySqlConnection,
    target: Target<'_>,
) -> Result<Option<PaymentRow>, StoreError> {
    match target {
        Target::Order(order_id) => store::lock_by_order(tx, order_id).await,
        Target::Intent {
            intent_id,
            order_id,
            payment_id,
        } => {
            if let Some(order_id) = store::order_of_intent(&mut *tx, intent_id).await? {
                return Ok(store::lock_by_order(tx, &order_id)
                    .await?
                    .filter(|row| row.provider_payment_intent_id.as_deref() == Some(intent_id)));
            }
            let Some(order_id) = order_id.and_then(|id| OrderId::parse(id).ok()) else {
                return Ok(None);
            };
            // Checked under the lock: the charge path may have recorded the intent meanwhile.
            Ok(store::lock_by_order(tx, order_id.as_str())
                .await?
                .filter(|row| {
                    payment_id == Some(row.id.as_str())
                        && row
                            .provider_payment_intent_id
                            .as_deref()
                            .is_none_or(|known| known == intent_id)
                }))
        }
    }
}

impl Saga {
    pub fn new(pool: MySqlPool, relay: Relay, stripe: Stripe, metrics: SagaMetrics) -> Self {
        Self {
            pool,
            relay,
            stripe,
            metrics,
        }
    }

    #[tracing::instrument(skip_all, fields(order_id = %event.order_id, payment_id))]
    async fn on_payment_requested(
        &self,
        event_id: &str,
        event: &ev::OrderPaymentRequested,
    ) -> Result<(), SagaError> {
        let request = ChargeRequest::parse(event).map_err(SagaError::Invalid)?;
        let now = store::now();
        let fresh = PaymentRow {
            // Order checks `payment.succeeded` against the id it chose.
            id: request
                .payment_id
                .clone()
                .unwrap_or_else(PaymentId::generate)
                .into_string(),
            order_id: request.order_id.as_str().to_owned(),
            user_id: request.user_id.clone(),
            amount_minor: request.amount.amount_minor(),
            currency: request.amount.currency().code().to_owned(),
            status: Status::Pending,
            provider: PROVIDER.to_owned(),
            provider_payment_intent_id: None,
            failure_code: None,
            failure_message: None,
            refunded_minor: 0,
            payment_method: request.payment_method.as_str().to_owned(),
            cancel_requested_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
            traceparent: shop_bus::trace::current_traceparent(),
        };
        let mut tx = self.pool.begin().await?;
        let first = inbox::first_delivery(&mut tx, CONSUMER, event_id).await?;
        store::insert_or_keep(&mut tx, &fresh).await?;
        let row = store::lock_by_order(&mut tx, request.order_id.as_str())
            .await?
            .ok_or_else(|| SagaError::Invalid("payment row vanished".into()))?;
        tx.commit().await?;
        // The id alone no longer tells (Order chooses it, so every delivery brings the same).
        let created = row.id == fresh.id && row.created_at == fresh.created_at;
        tracing::Span::current().record("payment_id", row.id.as_str());
        if !created
            && row.status != Status::Cancelled
            && (
                row.amount_minor,
                row.currency.as_str(),
                row.payment_method.as_str(),
            ) != (
                fresh.amount_minor,
                fresh.currency.as_str(),
                fresh.payment_method.as_str(),
            )
        {
            tracing::warn!(
                "a repeated payment request differs from the first; the first one is charged"
            );
        }
        tracing::info!(first, created, status = %row.status, "payment requested");
        self.charge(row).await
    }

    /// Step 2 and 3 for a row found (or created) by a payment request, or by the sweeper.
    async fn charge(&self, row: PaymentRow) -> Result<(), SagaError> {
        let status = row.status;
        let age_secs = (store::now() - row.created_at).num_seconds();
        let outcome = match (
            domain::next_charge_step(status, row.provider_payment_intent_id.is_some(), age_secs),
            row.provider_payment_intent_id.as_deref(),
        ) {
            (ChargeStep::TooLate, _) => {
                return Err(SagaError::Invalid(format!(
                    "payment {} has been PENDING for {age_secs} s without a known intent, \
                     longer than Stripe keeps its create key: check Stripe for an intent with \
                     metadata order_id={} before charging again",
                    row.id, row.order_id
                )));
            }
            (ChargeStep::Create, _) => Some(
                self.stripe
                    .create_and_confirm(&Charge {
                        order_id: &row.order_id,
                        payment_id: &row.id,
                        amount_minor: row.amount_minor,
                        currency: &row.currency,
                        payment_method: &row.payment_method,
                    })
                    .await?,
            ),
            (ChargeStep::Refresh, Some(intent_id)) => Some(self.stripe.retrieve(intent_id).await?),
            _ => None,
        };
        let row = match outcome {
            Some(outcome) => self
                .apply(Target::Order(&row.order_id), Input::Intent(outcome))
                .await?
                .unwrap_or(row),
            None => row,
        };
        self.settle_if_cancelled(row).await
    }

    #[tracing::instrument(skip_all, fields(order_id = %event.order_id, payment_id))]
    async fn on_order_cancelled(
        &self,
        event_id: &str,
        event: &ev::OrderCancelled,
    ) -> Result<(), SagaError> {
        let order_id = OrderId::parse(&event.order_id)
            .map_err(|e| SagaError::Invalid(format!("order_id {e}")))?
            .into_string();
        let now = store::now();
        // Recorded only if no payment was requested (yet): a late request finds it and
        // charges nothing.
        let tombstone = PaymentRow {
            id: PaymentId::generate().into_string(),
            order_id: order_id.clone(),
            user_id: event.user_id.trim().chars().take(64).collect(),
            amount_minor: 0,
            currency: String::new(),
            status: Status::Cancelled,
            provider: PROVIDER.to_owned(),
            provider_payment_intent_id: None,
            failure_code: None,
            failure_message: None,
            refunded_minor: 0,
            payment_method: String::new(),
            cancel_requested_at: Some(now),
            created_at: now,
            updated_at: now,
            version: 1,
            traceparent: None,
        };
        let mut tx = self.pool.begin().await?;
        let first = inbox::first_delivery(&mut tx, CONSUMER, event_id).await?;
        store::insert_or_keep(&mut tx, &tombstone).await?;
        let mut row = store::lock_by_order(&mut tx, &order_id)
            .await?
            .ok_or_else(|| SagaError::Invalid("payment row vanished".into()))?;
        let created = row.id == tombstone.id;
        if row.cancel_requested_at.is_none() {
            row.cancel_requested_at = Some(now);
            store::save(&mut tx, &mut row).await?;
        }
        tx.commit().await?;
        tracing::Span::current().record("payment_id", row.id.as_str());
        if created {
            self.metrics
                .outcomes
                .with_label_values(&["cancelled"])
                .inc();
        }
        tracing::info!(
            first,
            tombstone = created,
            status = %row.status,
            payment_captured = event.payment_captured,
            "order cancelled"
        );
        self.settle_if_cancelled(row).await
    }

    /// Drives PENDING payments that nothing has moved for `stale_after`: their request was
    /// dead-lettered (Stripe down for longer than the consumer's retries) or their outcome
    /// never arrived (a lost webhook). The same keys make this safe beside a consumer or
    /// another replica doing the same. Returns how many payments it looked at.
    pub async fn resume_stale(&self, stale_after: chrono::Duration) -> Result<usize, SagaError> {
        let now = store::now();
        let rows = store::stale_pending(
            &self.pool,
            now - stale_after,
            now - chrono::Duration::seconds(domain::CREATE_KEY_WINDOW_SECS),
            STALE_BATCH,
        )
        .await?;
        for row in &rows {
            let (payment_id, order_id) = (row.id.clone(), row.order_id.clone());
            match self.charge(row.clone()).await {
                Ok(()) => tracing::info!(%payment_id, %order_id, "stale payment resumed"),
                Err(error) => {
                    tracing::warn!(%payment_id, %order_id, %error, "stale payment not resumed yet");
                }
            }
        }
        Ok(rows.len())
    }

    /// A PaymentIntent event from Stripe (already verified). Returns false when the intent
    /// is not one of this ledger's payments.
    #[tracing::instrument(skip_all, fields(intent_id = outcome.intent_id().unwrap_or_default()))]
    pub async fn on_stripe_intent(
        &self,
        outcome: IntentOutcome,
        order_id: Option<&str>,
        payment_id: Option<&str>,
    ) -> Result<bool, SagaError> {
        let Some(intent_id) = outcome.intent_id().map(str::to_owned) else {
            return Ok(false);
        };
        let target = Target::Intent {
            intent_id: &intent_id,
            order_id,
            payment_id,
        };
        match self.apply(target, Input::Intent(outcome)).await? {
            Some(row) => {
                self.settle_if_cancelled(row).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Step 3: applies `input` to the target row (locked) through `domain::decide`, with
    /// its event, in one transaction. Returns the row as it is afterwards, or `None` when
    /// there is no such row.
    pub async fn apply(
        &self,
        target: Target<'_>,
        input: Input,
    ) -> Result<Option<PaymentRow>, SagaError> {
        let mut tx = self.pool.begin().await?;
        let Some(mut row) = locate(&mut tx, target).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let reported = match &input {
            Input::Intent(outcome) => outcome.intent_id(),
            Input::Refunded { .. } => None,
        };
        if let (Some(known), Some(reported)) = (row.provider_payment_intent_id.as_deref(), reported)
            && known != reported
        {
            tracing::error!(
                payment_id = %row.id,
                known,
                reported,
                "Stripe reported another intent for this payment; ignored"
            );
            tx.rollback().await?;
            return Ok(Some(row));
        }
        let status = row.status;
        let Decision::Apply { status: next, emit } = domain::decide(status, &input) else {
            tx.rollback().await?;
            tracing::debug!(
                payment_id = %row.id,
                status = %row.status,
                input = input.kind(),
                "nothing to do"
            );
            return Ok(Some(row));
        };
        let before = row.clone();
        row.status = next;
        if row.provider_payment_intent_id.is_none() {
            row.provider_payment_intent_id = reported.map(str::to_owned);
        }
        match &input {
            Input::Intent(IntentOutcome::Failed { failure, .. }) => {
                row.failure_code = Some(failure.code.clone());
                row.failure_message = Some(failure.message.clone());
            }
            // A capture after a recorded failure: the failure is history, not the state.
            Input::Intent(IntentOutcome::Succeeded { .. }) => {
                row.failure_code = None;
                row.failure_message = None;
            }
            Input::Refunded { amount_minor } => {
                row.refunded_minor = row.refunded_minor.saturating_add(*amount_minor);
            }
            Input::Intent(_) => {}
        }
        if row == before {
            tx.rollback().await?;
            return Ok(Some(row));
        }
        store::save(&mut tx, &mut row).await?;
        if let Some(emit) = emit {
            // In the checkout's trace even when a webhook (which has none) brought the news.
            let traceparent = row
                .traceparent
                .clone()
                .or_else(shop_bus::trace::current_traceparent);
            outbox::enqueue_in_trace(&mut tx, &event_for(&row, emit, &input), traceparent).await?;
        }
        tx.commit().await?;
        self.relay.notify();
        if next != status {
            self.metrics
                .outcomes
                .with_label_values(&[&next.as_str().to_ascii_lowercase()])
                .inc();
        }
        tracing::info!(
            payment_id = %row.id,
            order_id = %row.order_id,
            from = status.as_str(),
            to = next.as_str(),
            input = input.kind(),
            ?emit,
            "payment updated"
        );
        Ok(Some(row))
    }

    /// If the order was cancelled, makes sure no money stays taken: cancels an open
    /// intent, refunds a capture. Idempotent (the cancel and refund keys derive from the
    /// order), so every path that learns something new about a cancelled order calls it.
    async fn settle_if_cancelled(&self, row: PaymentRow) -> Result<(), SagaError> {
        if row.cancel_requested_at.is_none() {
            return Ok(());
        }
        let mut row = row;
        for _ in 0..SETTLE_ROUNDS {
            let status = row.status;
            let intent_id = row.provider_payment_intent_id.clone();
            let input = match (domain::cancel_plan(status, intent_id.is_some()), intent_id) {
                (CancelPlan::Nothing | CancelPlan::AwaitCharge, _) => return Ok(()),
                (CancelPlan::Refund, Some(intent_id)) => {
                    match self
                        .stripe
                        .refund(&row.order_id, &row.id, &intent_id)
                        .await?
                    {
                        Refund::Refunded { amount_minor } => Input::Refunded { amount_minor },
                        Refund::AlreadyRefunded => Input::Refunded {
                            amount_minor: row.amount_minor.saturating_sub(row.refunded_minor),
                        },
                    }
                }
                (CancelPlan::CancelIntent, Some(intent_id)) => {
                    Input::Intent(self.stripe.cancel(&row.order_id, &intent_id).await?)
                }
                (CancelPlan::Refund | CancelPlan::CancelIntent, None) => {
                    return Err(SagaError::Invalid(format!(
                        "payment {} is {} without a PaymentIntent",
                        row.id, row.status
                    )));
                }
            };
            row = self
                .apply(Target::Order(&row.order_id), input)
                .await?
                .ok_or_else(|| SagaError::Invalid("payment row vanished".into()))?;
        }
        Err(SagaError::Unsettled(format!(
            "payment {} is still {} after cancelling",
            row.id, row.status
        )))
    }
}

impl shop_bus::Handle for Saga {
    /// At-least-once in, at most one charge out.
    async fn handle(&self, envelope: Envelope) -> Handled {
        let (event, result) = match &envelope.payload {
            Some(Payload::OrderPaymentRequested(event)) => (
                "order.payment_requested",
                self.on_payment_requested(&envelope.event_id, event).await,
            ),
            Some(Payload::OrderCancelled(event)) => (
                "order.cancelled",
                self.on_order_cancelled(&envelope.event_id, event).await,
            ),
            _ => return Handled::Done,
        };
        let handled = handled(&result);
        let label = match handled {
            Handled::Done => "done",
            Handled::Retry(_) => "retry",
            Handled::Reject(_) => "reject",
        };
        self.metrics
            .deliveries
            .with_label_values(&[event, label])
            .inc();
        handled
    }
}
