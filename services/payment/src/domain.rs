//! The payment's state machine and the rules for charging an order, as pure functions.
//!
//! Three paths change a ledger row and they race by design: the charge path
//! (`order.payment_requested`), Stripe's webhooks (which often arrive before the charge call
//! has even returned) and the cancellation path (`order.cancelled`). None of them writes a
//! status itself. Each reports what Stripe said as an [`Input`], and [`decide`], called with
//! the row locked, says whether that moves the row and which event to emit. A status only
//! ever moves up [`Status::rank`], so a duplicate, replayed or late report changes nothing,
//! and each outcome is emitted once, by whichever path reported it first.
//!
//! What to ask Stripe next is decided here too ([`next_charge_step`], [`cancel_plan`]), as
//! are the Idempotency-Keys ([`stripe_key`]), which derive from the order alone: every
//! retry, redelivery, concurrent delivery or restarted instance sends the same key, so
//! Stripe creates one PaymentIntent per order and charges it at most once.

use std::fmt;

use shop_kit::{FieldViolations, Money, OrderId, PaymentId, PaymentMethod, ServiceError, paging};
use shop_proto::shop::events::v1 as ev;
use shop_proto::shop::payment::v1 as pb;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The row exists; the PaymentIntent may or may not exist yet, or is still processing.
    Pending,
    /// Waiting for the customer to authenticate (3-D Secure).
    RequiresAction,
    Succeeded,
    Failed,
    /// The intent was cancelled before capture, or the order was cancelled before a payment
    /// was ever requested (a tombstone).
    Cancelled,
    Refunded,
}

pub const ALL_STATUSES: [Status; 6] = [
    Status::Pending,
    Status::RequiresAction,
    Status::Succeeded,
    Status::Failed,
    Status::Cancelled,
    Status::Refunded,
];

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::RequiresAction => "REQUIRES_ACTION",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::Cancelled => "CANCELLED",
            Status::Refunded => "REFUNDED",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        ALL_STATUSES
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    /// How far along a payment is. Transitions never lower it. A capture outranks a
    /// failure: Stripe can still capture an intent we recorded as failed (the customer
    /// retried 3-D Secure in the browser), and money that was taken must be seen (and
    /// refunded), never hidden behind an earlier failure.
    pub fn rank(self) -> u8 {
        match self {
            Status::Pending => 0,
            Status::RequiresAction => 1,
            Status::Failed => 2,
            Status::Succeeded | Status::Cancelled => 3,
            Status::Refunded => 4,
        }
    }

    pub fn to_proto(self) -> pb::PaymentStatus {
        match self {
            Status::Pending => pb::PaymentStatus::Pending,
            Status::RequiresAction => pb::PaymentStatus::RequiresAction,
            Status::Succeeded => pb::PaymentStatus::Succeeded,
            Status::Failed => pb::PaymentStatus::Failed,
            Status::Cancelled => pb::PaymentStatus::Cancelled,
            Status::Refunded => pb::PaymentStatus::Refunded,
        }
    }

    pub fn from_proto(status: pb::PaymentStatus) -> Option<Status> {
        match status {
            pb::PaymentStatus::Unspecified => None,
            pb::PaymentStatus::Pending => Some(Status::Pending),
            pb::PaymentStatus::RequiresAction => Some(Status::RequiresAction),
            pb::PaymentStatus::Succeeded => Some(Status::Succeeded),
            pb::PaymentStatus::Failed => Some(Status::Failed),
            pb::PaymentStatus::Cancelled => Some(Status::Cancelled),
            pb::PaymentStatus::Refunded => Some(Status::Refunded),
        }
    }
}

shop_kit::text_column!(Status);

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a payment failed, as the provider said it, and whether the customer's payment
/// method was declined (which Order reports as PAYMENT_DECLINED).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: String,
    pub message: String,
    pub declined: bool,
}

/// Codes that mean "the customer's card said no" even when Stripe's error type is not
/// `card_error` (a failed 3-D Secure challenge is an `invalid_request_error`).
const DECLINE_CODES: &[&str] = &[
    "card_declined",
    "authentication_required",
    "payment_intent_authentication_failure",
    "expired_card",
    "incorrect_cvc",
    "incorrect_number",
    "invalid_cvc",
    "invalid_expiry_month",
    "invalid_expiry_year",
    "invalid_number",
    "card_decline_rate_limit_exceeded",
];

/// Widths of the ledger's failure columns.
const CODE_MAX: usize = 100;
const MESSAGE_MAX: usize = 500;

fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

impl Failure {
    /// From the fields of a Stripe error object (an API error or an intent's
    /// `last_payment_error`).
    pub fn from_stripe(
        error_type: &str,
        code: Option<&str>,
        decline_code: Option<&str>,
        message: Option<&str>,
    ) -> Failure {
        fn non_empty(text: Option<&str>) -> Option<&str> {
            text.map(str::trim).filter(|text| !text.is_empty())
        }
        let code = non_empty(code)
            .or(non_empty(decline_code))
            .or(non_empty(Some(error_type)))
            .unwrap_or("payment_failed");
        Failure {
            code: clip(code, CODE_MAX),
            message: clip(
                non_empty(message).unwrap_or("The payment could not be completed."),
                MESSAGE_MAX,
            ),
            declined: error_type == "card_error" || DECLINE_CODES.contains(&code),
        }
    }
}

/// What Stripe says about an order's PaymentIntent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentOutcome {
    /// Created, no outcome yet (`processing`, `requires_capture`, ...): a webhook will tell.
    Open {
        intent_id: String,
    },
    RequiresAction {
        intent_id: String,
        client_secret: String,
        /// Stripe's `next_action.redirect_to_url.url`: the issuer's page the shopper must
        /// visit; `None` when Stripe.js is to finish the action with the client secret.
        redirect_url: Option<String>,
    },
    Succeeded {
        intent_id: String,
    },
    /// `intent_id` is `None` when Stripe refused the request before creating an intent
    /// (e.g. an unknown payment method).
    Failed {
        intent_id: Option<String>,
        failure: Failure,
    },
    Canceled {
        intent_id: String,
    },
}

impl IntentOutcome {
    pub fn intent_id(&self) -> Option<&str> {
        match self {
            IntentOutcome::Open { intent_id }
            | IntentOutcome::RequiresAction { intent_id, .. }
            | IntentOutcome::Succeeded { intent_id }
            | IntentOutcome::Canceled { intent_id } => Some(intent_id),
            IntentOutcome::Failed { intent_id, .. } => intent_id.as_deref(),
        }
    }
}

/// The few fields of a PaymentIntent the rules look at, whether it came from an API
/// response or a webhook body.
#[derive(Debug, Clone)]
pub struct IntentView<'a> {
    pub id: &'a str,
    pub status: &'a str,
    pub client_secret: Option<&'a str>,
    /// `next_action.redirect_to_url.url`, when the next action is a redirect.
    pub redirect_url: Option<&'a str>,
    pub last_error: Option<Failure>,
}

pub fn outcome_of(intent: IntentView<'_>) -> IntentOutcome {
    let intent_id = intent.id.to_owned();
    match intent.status {
        "succeeded" => IntentOutcome::Succeeded { intent_id },
        "requires_action" => IntentOutcome::RequiresAction {
            intent_id,
            client_secret: intent.client_secret.unwrap_or_default().to_owned(),
            redirect_url: intent.redirect_url.map(str::to_owned),
        },
        "canceled" => IntentOutcome::Canceled { intent_id },
        // We always confirm with a payment method, so an intent that wants one again has
        // failed (declined, or 3-D Secure failed).
        "requires_payment_method" => IntentOutcome::Failed {
            intent_id: Some(intent_id),
            failure: intent.last_error.unwrap_or_else(|| {
                Failure::from_stripe(
                    "card_error",
                    Some("requires_payment_method"),
                    None,
                    Some("The payment method was not accepted."),
                )
            }),
        },
        _ => IntentOutcome::Open { intent_id },
    }
}

/// What happened to a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Intent(IntentOutcome),
    Refunded { amount_minor: i64 },
}

impl Input {
    /// For logs: never the input itself, which may carry a client secret.
    pub fn kind(&self) -> &'static str {
        match self {
            Input::Intent(IntentOutcome::Open { .. }) => "intent open",
            Input::Intent(IntentOutcome::RequiresAction { .. }) => "intent requires action",
            Input::Intent(IntentOutcome::Succeeded { .. }) => "intent succeeded",
            Input::Intent(IntentOutcome::Failed { .. }) => "intent failed",
            Input::Intent(IntentOutcome::Canceled { .. }) => "intent canceled",
            Input::Refunded { .. } => "refunded",
        }
    }
}

/// The event a transition emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    Succeeded,
    RequiresAction,
    Failed,
    Refunded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Set `status` (the same one only to remember the intent id) and emit `emit`.
    Apply { status: Status, emit: Option<Emit> },
    /// A duplicate, or news that can no longer change anything.
    Ignore,
}

pub fn decide(status: Status, input: &Input) -> Decision {
    use IntentOutcome as O;
    use Status::*;
    let apply = |status, emit| Decision::Apply { status, emit };
    match (status, input) {
        (Pending, Input::Intent(O::Open { .. })) => apply(Pending, None),
        (Pending, Input::Intent(O::RequiresAction { .. })) => {
            apply(RequiresAction, Some(Emit::RequiresAction))
        }
        // A capture after a failure is real money: report it, so it is refunded.
        (Pending | RequiresAction | Failed, Input::Intent(O::Succeeded { .. })) => {
            apply(Succeeded, Some(Emit::Succeeded))
        }
        (Pending | RequiresAction, Input::Intent(O::Failed { .. })) => {
            apply(Failed, Some(Emit::Failed))
        }
        (Pending | RequiresAction, Input::Intent(O::Canceled { .. })) => apply(Cancelled, None),
        (Succeeded, Input::Refunded { .. }) => apply(Refunded, Some(Emit::Refunded)),
        _ => Decision::Ignore,
    }
}

/// Stripe keeps an idempotency key for 24 hours; after that the create key would create a
/// second PaymentIntent. A payment whose first create attempt is older than this (with a
/// margin for clocks) is never created again automatically.
pub const CREATE_KEY_WINDOW_SECS: i64 = 23 * 3600;

/// What the charge path does for a row it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeStep {
    /// Create and confirm the intent under the order's create key. Also after a crash: the
    /// same key returns the intent (and outcome) of the first attempt if there was one.
    Create,
    /// The intent exists but had no outcome yet: ask Stripe again.
    Refresh,
    /// An outcome is recorded, or the customer must act: nothing to charge.
    Nothing,
    /// An earlier attempt may have reached Stripe, but too long ago for its key to still
    /// protect a new one: an operator must look at Stripe first.
    TooLate,
}

/// `age_secs`: since the row (and so the first create attempt) was created.
pub fn next_charge_step(status: Status, intent_known: bool, age_secs: i64) -> ChargeStep {
    match (status, intent_known) {
        (Status::Pending, false) if age_secs > CREATE_KEY_WINDOW_SECS => ChargeStep::TooLate,
        (Status::Pending, false) => ChargeStep::Create,
        (Status::Pending, true) => ChargeStep::Refresh,
        _ => ChargeStep::Nothing,
    }
}

/// What a cancelled order needs done about its payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelPlan {
    /// Money was captured: refund it.
    Refund,
    /// An intent is open: cancel it so it can never be captured.
    CancelIntent,
    /// The charge call may be in flight and its intent is not known yet; the charge path
    /// settles the cancellation as soon as it learns the outcome.
    AwaitCharge,
    Nothing,
}

pub fn cancel_plan(status: Status, intent_known: bool) -> CancelPlan {
    match (status, intent_known) {
        (Status::Succeeded, _) => CancelPlan::Refund,
        (Status::Pending | Status::RequiresAction, true) => CancelPlan::CancelIntent,
        (Status::Pending | Status::RequiresAction, false) => CancelPlan::AwaitCharge,
        // A failed intent is left as it is: should it still be captured, that capture
        // moves the row to SUCCEEDED and the cancellation refunds it.
        (Status::Failed | Status::Cancelled | Status::Refunded, _) => CancelPlan::Nothing,
    }
}

/// The Stripe calls that change money, each with its own key per order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripeCall {
    Create,
    Cancel,
    Refund,
}

/// `Idempotency-Key` of `call` for `order_id`: derived from the order and nothing else, so
/// every attempt at the same call for the same order is the same request to Stripe.
pub fn stripe_key(order_id: &str, call: StripeCall) -> String {
    let call = match call {
        StripeCall::Create => "create",
        StripeCall::Cancel => "cancel",
        StripeCall::Refund => "refund",
    };
    format!("order-{order_id}-{call}")
}

/// How the charge path treats a Stripe error answer to "create and confirm".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Stripe or the network is having a moment (5xx, 429, 409 key in use) or our
    /// credentials are wrong: try again later under the same key.
    Retry,
    /// The payment cannot succeed (declined, invalid payment method, amount refused).
    PaymentFailed,
    /// We sent something inconsistent (the same key with other parameters): a bug.
    Bug,
}

pub fn classify_create_error(http_status: u16, error_type: &str) -> ErrorClass {
    match (http_status, error_type) {
        (_, "idempotency_error") => ErrorClass::Bug,
        (409 | 429, _) | (500.., _) | (_, "api_error" | "rate_limit_error") => ErrorClass::Retry,
        (401 | 403, _) | (_, "authentication_error") => ErrorClass::Retry,
        (_, "card_error" | "invalid_request_error") => ErrorClass::PaymentFailed,
        _ => ErrorClass::Retry,
    }
}

/// True for Stripe errors worth retrying on any call.
pub fn is_transient(http_status: u16, error_type: &str) -> bool {
    classify_create_error(http_status, error_type) == ErrorClass::Retry
}

/// A validated `order.payment_requested`: what one charge is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub order_id: OrderId,
    pub user_id: String,
    pub amount: Money,
    pub payment_method: PaymentMethod,
    /// The id Order chose for this payment and will check `payment.succeeded` against;
    /// `None` from an Order that predates the field (Payment then picks one).
    pub payment_id: Option<PaymentId>,
}

impl ChargeRequest {
    /// `Err` explains why the event can never be charged (it is dead-lettered).
    pub fn parse(event: &ev::OrderPaymentRequested) -> Result<ChargeRequest, String> {
        let order_id = OrderId::parse(&event.order_id).map_err(|e| format!("order_id {e}"))?;
        let user_id = event.user_id.trim();
        if user_id.is_empty() || user_id.len() > 64 {
            return Err("user_id must be 1 to 64 characters".into());
        }
        let amount = Money::from_proto(event.amount.as_ref())
            .and_then(Money::positive)
            .map_err(|e| format!("amount: {e}"))?;
        let payment_method = PaymentMethod::parse(&event.payment_method)
            .map_err(|e| format!("payment_method {e}"))?;
        let payment_id = if event.payment_id.trim().is_empty() {
            None
        } else {
            Some(PaymentId::parse(&event.payment_id).map_err(|e| format!("payment_id {e}"))?)
        };
        Ok(ChargeRequest {
            order_id,
            user_id: user_id.to_owned(),
            amount,
            payment_method,
            payment_id,
        })
    }
}

/// Which payment a GetPayment request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetPayment {
    Id(PaymentId),
    Order(OrderId),
}

impl GetPayment {
    pub fn parse(request: &pb::GetPaymentRequest) -> Result<Self, ServiceError> {
        use pb::get_payment_request::Key;
        let mut violations = FieldViolations::new();
        let command = match &request.key {
            Some(Key::Id(id)) => violations.check("id", PaymentId::parse(id)).map(Self::Id),
            Some(Key::OrderId(id)) => violations
                .check("order_id", OrderId::parse(id))
                .map(Self::Order),
            None => {
                violations.add("key", "set either id or order_id");
                None
            }
        };
        violations.finish(|| command)
    }
}

/// A ListPayments request that passed validation (the page token is checked against these
/// filters by the API, which issued it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPayments {
    pub page_size: u32,
    pub status: Option<Status>,
    pub order_id: Option<OrderId>,
    pub user_id: Option<String>,
}

impl ListPayments {
    pub fn parse(
        request: &pb::ListPaymentsRequest,
        default_page_size: u32,
        max_page_size: u32,
    ) -> Result<Self, ServiceError> {
        let mut violations = FieldViolations::new();
        let page_size = violations.check(
            "page_size",
            paging::page_size(request.page_size, default_page_size, max_page_size),
        );
        let status = violations.check(
            "status",
            pb::PaymentStatus::try_from(request.status)
                .map(Status::from_proto)
                .map_err(|_| "is not a payment status"),
        );
        let order_id = violations.check(
            "order_id",
            match request.order_id.trim() {
                "" => Ok(None),
                raw => OrderId::parse(raw).map(Some),
            },
        );
        let user_id = Some(request.user_id.trim())
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        violations.finish(|| {
            Some(ListPayments {
                page_size: page_size?,
                status: status?,
                order_id: order_id?,
                user_id,
            })
        })
    }

    /// The filters a page token is bound to.
    pub fn filters(&self) -> String {
        format!(
            "{}|{}|{}",
            self.status.map_or("", Status::as_str),
            self.order_id.as_ref().map_or("", OrderId::as_str),
            self.user_id.as_deref().unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(declined: bool) -> Failure {
        Failure {
            code: "card_declined".into(),
            message: "no".into(),
            declined,
        }
    }

    fn all_inputs() -> Vec<Input> {
        let id = || "pi_1".to_owned();
        vec![
            Input::Intent(IntentOutcome::Open { intent_id: id() }),
            Input::Intent(IntentOutcome::RequiresAction {
                intent_id: id(),
                client_secret: "s".into(),
                redirect_url: None,
            }),
            Input::Intent(IntentOutcome::Succeeded { intent_id: id() }),
            Input::Intent(IntentOutcome::Failed {
                intent_id: Some(id()),
                failure: failure(true),
            }),
            Input::Intent(IntentOutcome::Failed {
                intent_id: None,
                failure: failure(false),
            }),
            Input::Intent(IntentOutcome::Canceled { intent_id: id() }),
            Input::Refunded { amount_minor: 100 },
        ]
    }

    #[test]
    fn statuses_round_trip() {
        for status in ALL_STATUSES {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            assert_eq!(Status::from_proto(status.to_proto()), Some(status));
        }
        assert_eq!(Status::parse("pending"), None);
        assert_eq!(Status::from_proto(pb::PaymentStatus::Unspecified), None);
    }

    #[test]
    fn no_transition_ever_moves_backwards_or_emits_for_nothing() {
        for status in ALL_STATUSES {
            for input in all_inputs() {
                if let Decision::Apply { status: to, emit } = decide(status, &input) {
                    assert!(
                        to.rank() >= status.rank(),
                        "{status:?} -> {to:?} on {input:?}"
                    );
                    if to == status {
                        assert_eq!(emit, None, "a non-move must not emit ({input:?})");
                        assert_eq!(status, Status::Pending, "only PENDING remembers an intent");
                    }
                }
            }
        }
    }

    #[test]
    fn each_outcome_is_emitted_once_however_often_it_is_reported() {
        for input in all_inputs() {
            let mut status = Status::Pending;
            let mut emitted = Vec::new();
            for _ in 0..3 {
                if let Decision::Apply { status: to, emit } = decide(status, &input) {
                    status = to;
                    emitted.extend(emit);
                }
            }
            assert!(emitted.len() <= 1, "{input:?} emitted {emitted:?}");
        }
    }

    #[test]
    fn the_happy_paths() {
        let succeeded = Input::Intent(IntentOutcome::Succeeded {
            intent_id: "pi".into(),
        });
        assert_eq!(
            decide(Status::Pending, &succeeded),
            Decision::Apply {
                status: Status::Succeeded,
                emit: Some(Emit::Succeeded)
            }
        );
        let action = Input::Intent(IntentOutcome::RequiresAction {
            intent_id: "pi".into(),
            client_secret: "pi_secret".into(),
            redirect_url: Some("https://hooks.stripe.com/3ds".into()),
        });
        assert_eq!(
            decide(Status::Pending, &action),
            Decision::Apply {
                status: Status::RequiresAction,
                emit: Some(Emit::RequiresAction)
            }
        );
        assert_eq!(
            decide(Status::RequiresAction, &succeeded),
            Decision::Apply {
                status: Status::Succeeded,
                emit: Some(Emit::Succeeded)
            }
        );
        assert_eq!(
            decide(Status::Succeeded, &Input::Refunded { amount_minor: 5 }),
            Decision::Apply {
                status: Status::Refunded,
                emit: Some(Emit::Refunded)
            }
        );
    }

    #[test]
    fn late_news_is_ignored_but_a_late_capture_is_not() {
        let failed = Input::Intent(IntentOutcome::Failed {
            intent_id: Some("pi".into()),
            failure: failure(true),
        });
        let succeeded = Input::Intent(IntentOutcome::Succeeded {
            intent_id: "pi".into(),
        });
        assert_eq!(decide(Status::Succeeded, &failed), Decision::Ignore);
        assert_eq!(decide(Status::Refunded, &succeeded), Decision::Ignore);
        assert_eq!(decide(Status::Cancelled, &succeeded), Decision::Ignore);
        assert_eq!(
            decide(Status::Pending, &Input::Refunded { amount_minor: 1 }),
            Decision::Ignore
        );
        assert_eq!(
            decide(Status::Failed, &succeeded),
            Decision::Apply {
                status: Status::Succeeded,
                emit: Some(Emit::Succeeded)
            }
        );
    }

    #[test]
    fn charge_and_cancel_steps() {
        assert_eq!(
            next_charge_step(Status::Pending, false, 0),
            ChargeStep::Create
        );
        assert_eq!(
            next_charge_step(Status::Pending, true, 0),
            ChargeStep::Refresh
        );
        let day = 24 * 3600;
        assert_eq!(
            next_charge_step(Status::Pending, false, day),
            ChargeStep::TooLate,
            "a create key Stripe has forgotten must not be reused"
        );
        assert_eq!(
            next_charge_step(Status::Pending, true, day),
            ChargeStep::Refresh
        );
        for status in [
            Status::RequiresAction,
            Status::Succeeded,
            Status::Failed,
            Status::Cancelled,
            Status::Refunded,
        ] {
            assert_eq!(next_charge_step(status, true, 0), ChargeStep::Nothing);
            assert_eq!(next_charge_step(status, false, 0), ChargeStep::Nothing);
        }
        assert_eq!(cancel_plan(Status::Succeeded, true), CancelPlan::Refund);
        assert_eq!(
            cancel_plan(Status::RequiresAction, true),
            CancelPlan::CancelIntent
        );
        assert_eq!(cancel_plan(Status::Pending, true), CancelPlan::CancelIntent);
        assert_eq!(cancel_plan(Status::Pending, false), CancelPlan::AwaitCharge);
        assert_eq!(cancel_plan(Status::Failed, true), CancelPlan::Nothing);
        assert_eq!(cancel_plan(Status::Refunded, true), CancelPlan::Nothing);
    }

    #[test]
    fn keys_derive_from_the_order_only() {
        let order = "0190a0a0-0000-7000-8000-000000000001";
        assert_eq!(
            stripe_key(order, StripeCall::Create),
            format!("order-{order}-create")
        );
        assert_eq!(
            stripe_key(order, StripeCall::Refund),
            format!("order-{order}-refund")
        );
        assert_ne!(
            stripe_key(order, StripeCall::Create),
            stripe_key(order, StripeCall::Cancel)
        );
        assert!(stripe_key(order, StripeCall::Create).len() <= 255);
    }

    #[test]
    fn stripe_errors_are_classified() {
        use ErrorClass::*;
        assert_eq!(classify_create_error(402, "card_error"), PaymentFailed);
        assert_eq!(
            classify_create_error(400, "invalid_request_error"),
            PaymentFailed
        );
        assert_eq!(classify_create_error(400, "idempotency_error"), Bug);
        assert_eq!(classify_create_error(409, "invalid_request_error"), Retry);
        assert_eq!(classify_create_error(429, "rate_limit_error"), Retry);
        assert_eq!(classify_create_error(500, "api_error"), Retry);
        assert_eq!(classify_create_error(503, "invalid_request_error"), Retry);
        assert_eq!(classify_create_error(401, "invalid_request_error"), Retry);
        assert!(!is_transient(402, "card_error"));
    }

    #[test]
    fn failures_say_whether_the_card_was_declined() {
        let declined = Failure::from_stripe(
            "card_error",
            Some("card_declined"),
            Some("generic_decline"),
            Some("Your card was declined."),
        );
        assert_eq!(declined.code, "card_declined");
        assert!(declined.declined);
        let three_ds = Failure::from_stripe(
            "invalid_request_error",
            Some("payment_intent_authentication_failure"),
            None,
            None,
        );
        assert!(three_ds.declined);
        assert!(!three_ds.message.is_empty());
        let missing = Failure::from_stripe(
            "invalid_request_error",
            Some("resource_missing"),
            None,
            Some("No such PaymentMethod"),
        );
        assert!(!missing.declined);
        let bare = Failure::from_stripe("api_error", None, Some(""), None);
        assert_eq!(bare.code, "api_error");
        let long = Failure::from_stripe("card_error", Some(&"x".repeat(300)), None, None);
        assert_eq!(long.code.len(), CODE_MAX);
    }

    #[test]
    fn intents_map_to_outcomes() {
        let view = |status| IntentView {
            id: "pi_1",
            status,
            client_secret: Some("pi_1_secret_x"),
            redirect_url: None,
            last_error: None,
        };
        assert_eq!(
            outcome_of(view("succeeded")),
            IntentOutcome::Succeeded {
                intent_id: "pi_1".into()
            }
        );
        assert_eq!(
            outcome_of(view("requires_action")),
            IntentOutcome::RequiresAction {
                intent_id: "pi_1".into(),
                client_secret: "pi_1_secret_x".into(),
                redirect_url: None,
            }
        );
        assert!(matches!(
            outcome_of(view("requires_payment_method")),
            IntentOutcome::Failed { intent_id: Some(_), failure } if failure.declined
        ));
        assert!(matches!(
            outcome_of(view("processing")),
            IntentOutcome::Open { .. }
        ));
        assert!(matches!(
            outcome_of(view("canceled")),
            IntentOutcome::Canceled { .. }
        ));
        assert_eq!(outcome_of(view("succeeded")).intent_id(), Some("pi_1"));
    }

    #[test]
    fn payment_requests_are_validated() {
        let good = ev::OrderPaymentRequested {
            order_id: "0190A0A0-0000-7000-8000-000000000001".into(),
            user_id: "u1".into(),
            amount: Some(shop_proto::shop::common::v1::Money {
                amount_minor: 1250,
                currency: "EUR".into(),
            }),
            payment_method: "pm_card_visa".into(),
            idempotency_seed: String::new(),
            payment_id: String::new(),
        };
        let parsed = ChargeRequest::parse(&good).unwrap();
        assert_eq!(
            parsed.order_id.as_str(),
            "0190a0a0-0000-7000-8000-000000000001"
        );
        assert_eq!(parsed.amount.amount_minor(), 1250);
        assert_eq!(
            parsed.payment_id, None,
            "an older Order leaves the id to Payment"
        );
        let chosen = ChargeRequest::parse(&ev::OrderPaymentRequested {
            payment_id: "0190A0A0-0000-7000-8000-0000000000FF".into(),
            ..good.clone()
        })
        .unwrap();
        assert_eq!(
            chosen.payment_id.as_ref().map(PaymentId::as_str),
            Some("0190a0a0-0000-7000-8000-0000000000ff")
        );

        let bad = |change: fn(&mut ev::OrderPaymentRequested)| {
            let mut event = good.clone();
            change(&mut event);
            ChargeRequest::parse(&event).unwrap_err()
        };
        assert!(bad(|e| e.order_id = "order-1".into()).starts_with("order_id"));
        assert!(bad(|e| e.user_id = " ".into()).starts_with("user_id"));
        assert!(bad(|e| e.amount = None).starts_with("amount"));
        assert!(bad(|e| e.amount.as_mut().unwrap().amount_minor = 0).starts_with("amount"));
        assert!(bad(|e| e.amount.as_mut().unwrap().currency = "eur".into()).starts_with("amount"));
        assert!(bad(|e| e.payment_method = "card".into()).starts_with("payment_method"));
        assert!(bad(|e| e.payment_id = "pay-1".into()).starts_with("payment_id"));
    }

    fn violated(error: ServiceError) -> Vec<String> {
        let ServiceError::InvalidArgument(violations) = error else {
            panic!("{error:?} is not INVALID_ARGUMENT")
        };
        violations.iter().map(|v| v.field.clone()).collect()
    }

    #[test]
    fn admin_requests_name_the_field_of_a_bad_id() {
        use pb::get_payment_request::Key;
        let get = |key| GetPayment::parse(&pb::GetPaymentRequest { key });
        assert_eq!(
            violated(get(Some(Key::Id("pay-1".into()))).unwrap_err()),
            ["id"]
        );
        assert_eq!(
            violated(get(Some(Key::OrderId("order-1".into()))).unwrap_err()),
            ["order_id"]
        );
        assert_eq!(violated(get(None).unwrap_err()), ["key"]);
        let id = "0190a0a0-0000-7000-8000-000000000001";
        assert_eq!(
            get(Some(Key::OrderId(id.to_uppercase()))).unwrap(),
            GetPayment::Order(OrderId::parse(id).unwrap())
        );

        let list = ListPayments::parse(
            &pb::ListPaymentsRequest {
                status: 99,
                order_id: "nope".into(),
                page_size: -1,
                ..Default::default()
            },
            20,
            100,
        );
        assert_eq!(
            violated(list.unwrap_err()),
            ["page_size", "status", "order_id"]
        );
        let list = ListPayments::parse(
            &pb::ListPaymentsRequest {
                status: pb::PaymentStatus::Refunded as i32,
                order_id: id.into(),
                ..Default::default()
            },
            20,
            100,
        )
        .unwrap();
        assert_eq!(list.page_size, 20);
        assert_eq!(list.filters(), format!("REFUNDED|{id}|"));
    }
}
