//! The order's state machine (docs/architecture.md §5) and the values an order is made of.
//!
//! Every way an order can change, whether from an RPC or an event, goes through [`decide`],
//! a pure function: given the current status and what happened, it says the new status and
//! which events to emit. Duplicated and out-of-order events therefore cannot move an order
//! backwards or emit twice, and the whole table is unit-tested.

use sha2::Digest as _;
use shop_kit::auth::Claims;
use shop_kit::{
    FieldViolations, GuestCartId, IdempotencyKey, OrderId, PaymentMethod, ServiceError,
};
use shop_proto::shop::cart::v1::{CartRef, cart_ref};
use shop_proto::shop::common::v1 as common;
use shop_proto::shop::order::v1 as pb;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    AwaitingPayment,
    Confirmed,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::AwaitingPayment => "AWAITING_PAYMENT",
            Status::Confirmed => "CONFIRMED",
            Status::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        match text {
            "PENDING" => Some(Status::Pending),
            "AWAITING_PAYMENT" => Some(Status::AwaitingPayment),
            "CONFIRMED" => Some(Status::Confirmed),
            "CANCELLED" => Some(Status::Cancelled),
            _ => None,
        }
    }

    pub fn to_proto(self) -> pb::OrderStatus {
        match self {
            Status::Pending => pb::OrderStatus::Pending,
            Status::AwaitingPayment => pb::OrderStatus::AwaitingPayment,
            Status::Confirmed => pb::OrderStatus::Confirmed,
            Status::Cancelled => pb::OrderStatus::Cancelled,
        }
    }

    pub fn from_proto(status: pb::OrderStatus) -> Option<Status> {
        match status {
            pb::OrderStatus::Unspecified => None,
            pb::OrderStatus::Pending => Some(Status::Pending),
            pb::OrderStatus::AwaitingPayment => Some(Status::AwaitingPayment),
            pb::OrderStatus::Confirmed => Some(Status::Confirmed),
            pb::OrderStatus::Cancelled => Some(Status::Cancelled),
        }
    }
}

shop_kit::text_column!(Status);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    OutOfStock,
    PaymentDeclined,
    PaymentFailed,
    ReservationExpired,
    ByCustomer,
    ByAdmin,
}

impl CancelReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::OutOfStock => "OUT_OF_STOCK",
            CancelReason::PaymentDeclined => "PAYMENT_DECLINED",
            CancelReason::PaymentFailed => "PAYMENT_FAILED",
            CancelReason::ReservationExpired => "RESERVATION_EXPIRED",
            CancelReason::ByCustomer => "CANCELLED_BY_CUSTOMER",
            CancelReason::ByAdmin => "CANCELLED_BY_ADMIN",
        }
    }

    pub fn parse(text: &str) -> Option<CancelReason> {
        [
            CancelReason::OutOfStock,
            CancelReason::PaymentDeclined,
            CancelReason::PaymentFailed,
            CancelReason::ReservationExpired,
            CancelReason::ByCustomer,
            CancelReason::ByAdmin,
        ]
        .into_iter()
        .find(|reason| reason.as_str() == text)
    }

    pub fn to_proto(self) -> pb::CancelReason {
        match self {
            CancelReason::OutOfStock => pb::CancelReason::OutOfStock,
            CancelReason::PaymentDeclined => pb::CancelReason::PaymentDeclined,
            CancelReason::PaymentFailed => pb::CancelReason::PaymentFailed,
            CancelReason::ReservationExpired => pb::CancelReason::ReservationExpired,
            CancelReason::ByCustomer => pb::CancelReason::CancelledByCustomer,
            CancelReason::ByAdmin => pb::CancelReason::CancelledByAdmin,
        }
    }
}

shop_kit::text_column!(CancelReason);

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    StockReserved,
    StockRejected,
    ReservationExpired,
    PaymentSucceeded,
    PaymentFailed { declined: bool },
    PaymentRequiresAction,
    CancelRequested { by_admin: bool },
}

/// Events the order emits as a consequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    PaymentRequested,
    Confirmed,
    /// `payment_captured`: money was taken and must be refunded.
    Cancelled {
        payment_captured: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Move to `status` (possibly the same one) and emit `emit`.
    Apply {
        status: Status,
        cancel_reason: Option<CancelReason>,
        emit: Option<Emit>,
    },
    /// Nothing to do: a duplicate, or news that no longer matters.
    Ignore,
    /// The request is not allowed in this state (only RPC inputs are refused).
    Refuse(&'static str),
}

fn cancel(reason: CancelReason) -> Decision {
    Decision::Apply {
        status: Status::Cancelled,
        cancel_reason: Some(reason),
        emit: Some(Emit::Cancelled {
            payment_captured: false,
        }),
    }
}

pub fn decide(status: Status, input: Input) -> Decision {
    use Input::*;
    use Status::*;
    match (status, input) {
        (Pending, StockReserved) => Decision::Apply {
            status: AwaitingPayment,
            cancel_reason: None,
            emit: Some(Emit::PaymentRequested),
        },
        (Pending, StockRejected) => cancel(CancelReason::OutOfStock),
        (Pending | AwaitingPayment, ReservationExpired) => cancel(CancelReason::ReservationExpired),
        (AwaitingPayment, PaymentSucceeded) => Decision::Apply {
            status: Confirmed,
            cancel_reason: None,
            emit: Some(Emit::Confirmed),
        },
        (AwaitingPayment, PaymentFailed { declined: true }) => {
            cancel(CancelReason::PaymentDeclined)
        }
        (AwaitingPayment, PaymentFailed { declined: false }) => cancel(CancelReason::PaymentFailed),
        (AwaitingPayment, PaymentRequiresAction) => Decision::Apply {
            status: AwaitingPayment,
            cancel_reason: None,
            emit: None,
        },
        (Pending | AwaitingPayment, CancelRequested { by_admin }) => cancel(if by_admin {
            CancelReason::ByAdmin
        } else {
            CancelReason::ByCustomer
        }),
        // Money arrived for an order that was cancelled meanwhile: announce the cancellation
        // again, now with the capture, so Payment refunds it.
        (Cancelled, PaymentSucceeded) => Decision::Apply {
            status: Cancelled,
            cancel_reason: None,
            emit: Some(Emit::Cancelled {
                payment_captured: true,
            }),
        },
        // Paid after the reservation expired, and the units were sold meanwhile (Inventory
        // could not hold them again): the one way a confirmed order is undone, because
        // shipping goods that are not there is worse. The money goes back.
        (Confirmed, StockRejected) => Decision::Apply {
            status: Cancelled,
            cancel_reason: Some(CancelReason::OutOfStock),
            emit: Some(Emit::Cancelled {
                payment_captured: true,
            }),
        },
        (Confirmed, CancelRequested { .. }) => Decision::Refuse("ORDER_CONFIRMED"),
        (Cancelled, CancelRequested { .. }) => Decision::Ignore,
        _ => Decision::Ignore,
    }
}

/// A shipping address that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

fn required(value: &str, max: usize) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        Err("is required".into())
    } else if value.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else if value.chars().any(char::is_control) {
        Err("must not contain control characters".into())
    } else {
        Ok(value.to_owned())
    }
}

impl Address {
    /// Field names in violations are prefixed `shipping_address.`.
    pub fn parse(
        address: Option<&common::Address>,
        violations: &mut FieldViolations,
    ) -> Option<Address> {
        let Some(address) = address else {
            violations.add("shipping_address", "is required");
            return None;
        };
        let name = violations.check("shipping_address.name", required(&address.name, 200));
        let line1 = violations.check("shipping_address.line1", required(&address.line1, 200));
        let line2 = if address.line2.trim().is_empty() {
            Some(String::new())
        } else {
            violations.check("shipping_address.line2", required(&address.line2, 200))
        };
        let city = violations.check("shipping_address.city", required(&address.city, 100));
        let postal_code = violations.check(
            "shipping_address.postal_code",
            required(&address.postal_code, 20).and_then(|code| {
                if code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
                {
                    Ok(code)
                } else {
                    Err("must be letters, digits, spaces or '-'".into())
                }
            }),
        );
        let country = violations.check("shipping_address.country", {
            let country = address.country.trim().to_ascii_uppercase();
            if country.len() == 2 && country.chars().all(|c| c.is_ascii_uppercase()) {
                Ok(country)
            } else {
                Err("must be an ISO 3166-1 alpha-2 code such as DE")
            }
        });
        Some(Address {
            name: name?,
            line1: line1?,
            line2: line2?,
            city: city?,
            postal_code: postal_code?,
            country: country?,
        })
    }

    pub fn to_proto(&self) -> common::Address {
        common::Address {
            name: self.name.clone(),
            line1: self.line1.clone(),
            line2: self.line2.clone(),
            city: self.city.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
        }
    }
}

/// The cart a checkout draws from, checked against the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckoutCart {
    Guest(GuestCartId),
    /// Always the caller's own id: nobody checks out someone else's cart.
    User(String),
}

impl CheckoutCart {
    fn parse(
        cart: Option<&CartRef>,
        claims: &Claims,
        violations: &mut FieldViolations,
    ) -> Option<CheckoutCart> {
        match cart.and_then(|c| c.key.as_ref()) {
            Some(cart_ref::Key::GuestCartId(id)) => violations
                .check("cart.guest_cart_id", GuestCartId::parse(id))
                .map(CheckoutCart::Guest),
            Some(cart_ref::Key::UserId(id)) if id.trim() == claims.sub => {
                Some(CheckoutCart::User(claims.sub.clone()))
            }
            Some(cart_ref::Key::UserId(_)) => {
                violations.add("cart.user_id", "must be your own user id");
                None
            }
            None => {
                violations.add("cart", "is required");
                None
            }
        }
    }

    pub fn to_proto(&self) -> CartRef {
        CartRef {
            key: Some(match self {
                CheckoutCart::Guest(id) => cart_ref::Key::GuestCartId(id.as_str().to_owned()),
                CheckoutCart::User(id) => cart_ref::Key::UserId(id.clone()),
            }),
        }
    }
}

/// A PlaceOrder request that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOrder {
    pub idempotency_key: IdempotencyKey,
    pub cart: CheckoutCart,
    pub address: Address,
    pub payment_method: PaymentMethod,
}

impl PlaceOrder {
    pub fn parse(request: &pb::PlaceOrderRequest, claims: &Claims) -> Result<Self, ServiceError> {
        let mut violations = FieldViolations::new();
        let idempotency_key = violations.check(
            "idempotency_key",
            IdempotencyKey::parse(&request.idempotency_key),
        );
        let cart = CheckoutCart::parse(request.cart.as_ref(), claims, &mut violations);
        let address = Address::parse(request.shipping_address.as_ref(), &mut violations);
        let payment_method = violations.check(
            "payment_method",
            PaymentMethod::parse(&request.payment_method),
        );
        violations.finish(|| {
            Some(PlaceOrder {
                idempotency_key: idempotency_key?,
                cart: cart?,
                address: address?,
                payment_method: payment_method?,
            })
        })
    }

    /// Identifies what a checkout asked for, so a reused idempotency key with a different
    /// request is told apart from a retry.
    pub fn request_hash(&self) -> String {
        let cart = match &self.cart {
            CheckoutCart::Guest(id) => format!("guest:{}", id.as_str()),
            CheckoutCart::User(id) => format!("user:{id}"),
        };
        let address = &self.address;
        let text = format!(
            "{cart}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            address.name,
            address.line1,
            address.line2,
            address.city,
            address.postal_code,
            address.country,
            self.payment_method
        );
        sha2::Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The longest note a canceller may leave.
pub const CANCEL_NOTE_MAX: usize = 500;

/// A CancelOrder request that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelOrder {
    pub id: OrderId,
    pub note: String,
}

impl CancelOrder {
    pub fn parse(request: &pb::CancelOrderRequest) -> Result<Self, ServiceError> {
        let mut violations = FieldViolations::new();
        let id = violations.check("id", OrderId::parse(&request.id));
        let note = request.reason.trim().to_owned();
        if note.chars().count() > CANCEL_NOTE_MAX {
            violations.add(
                "reason",
                format!("must be at most {CANCEL_NOTE_MAX} characters"),
            );
        }
        violations.finish(|| Some(CancelOrder { id: id?, note }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_INPUTS: [Input; 8] = [
        Input::StockReserved,
        Input::StockRejected,
        Input::ReservationExpired,
        Input::PaymentSucceeded,
        Input::PaymentFailed { declined: true },
        Input::PaymentFailed { declined: false },
        Input::PaymentRequiresAction,
        Input::CancelRequested { by_admin: false },
    ];

    #[test]
    fn the_happy_path() {
        let Decision::Apply { status, emit, .. } = decide(Status::Pending, Input::StockReserved)
        else {
            panic!()
        };
        assert_eq!(
            (status, emit),
            (Status::AwaitingPayment, Some(Emit::PaymentRequested))
        );
        let Decision::Apply { status, emit, .. } = decide(status, Input::PaymentSucceeded) else {
            panic!()
        };
        assert_eq!((status, emit), (Status::Confirmed, Some(Emit::Confirmed)));
    }

    #[test]
    fn cancellations_carry_their_reason() {
        let reason = |status, input| match decide(status, input) {
            Decision::Apply {
                status: Status::Cancelled,
                cancel_reason,
                ..
            } => cancel_reason,
            _ => None,
        };
        assert_eq!(
            reason(Status::Pending, Input::StockRejected),
            Some(CancelReason::OutOfStock)
        );
        assert_eq!(
            reason(
                Status::AwaitingPayment,
                Input::PaymentFailed { declined: true }
            ),
            Some(CancelReason::PaymentDeclined)
        );
        assert_eq!(
            reason(Status::AwaitingPayment, Input::ReservationExpired),
            Some(CancelReason::ReservationExpired)
        );
        assert_eq!(
            reason(Status::Pending, Input::CancelRequested { by_admin: true }),
            Some(CancelReason::ByAdmin)
        );
    }

    #[test]
    fn only_unsellable_stock_undoes_a_confirmed_order_and_cancelled_never_moves() {
        for input in ALL_INPUTS {
            match decide(Status::Confirmed, input) {
                Decision::Apply {
                    status,
                    cancel_reason,
                    emit,
                } => {
                    assert_eq!(
                        input,
                        Input::StockRejected,
                        "{input:?} moved a confirmed order"
                    );
                    assert_eq!(status, Status::Cancelled);
                    assert_eq!(cancel_reason, Some(CancelReason::OutOfStock));
                    assert_eq!(
                        emit,
                        Some(Emit::Cancelled {
                            payment_captured: true
                        }),
                        "the payment is refunded"
                    );
                }
                Decision::Refuse(reason) => assert_eq!(reason, "ORDER_CONFIRMED"),
                Decision::Ignore => {}
            }
            match decide(Status::Cancelled, input) {
                Decision::Apply { status, emit, .. } => {
                    assert_eq!(status, Status::Cancelled);
                    assert_eq!(
                        input,
                        Input::PaymentSucceeded,
                        "only a late capture re-emits"
                    );
                    assert_eq!(
                        emit,
                        Some(Emit::Cancelled {
                            payment_captured: true
                        })
                    );
                }
                Decision::Refuse(_) => panic!("{input:?} refused on a cancelled order"),
                Decision::Ignore => {}
            }
        }
    }

    #[test]
    fn events_out_of_order_are_ignored() {
        assert_eq!(
            decide(Status::Pending, Input::PaymentSucceeded),
            Decision::Ignore
        );
        assert_eq!(
            decide(Status::AwaitingPayment, Input::StockReserved),
            Decision::Ignore
        );
        assert_eq!(
            decide(Status::AwaitingPayment, Input::StockRejected),
            Decision::Ignore
        );
    }

    #[test]
    fn addresses_and_payment_methods_are_validated() {
        let mut violations = FieldViolations::new();
        let address = Address::parse(
            Some(&common::Address {
                name: "Ann".into(),
                line1: "1 Main St".into(),
                line2: " ".into(),
                city: "Berlin".into(),
                postal_code: "10115".into(),
                country: "de".into(),
            }),
            &mut violations,
        );
        assert!(violations.is_empty());
        assert_eq!(address.unwrap().country, "DE");

        let mut violations = FieldViolations::new();
        let bad = common::Address {
            country: "Germany".into(),
            ..Default::default()
        };
        assert!(Address::parse(Some(&bad), &mut violations).is_none());
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "shipping_address.name",
                "shipping_address.line1",
                "shipping_address.city",
                "shipping_address.postal_code",
                "shipping_address.country"
            ]
        );
    }

    fn claims(sub: &str) -> Claims {
        Claims::unsigned(sub, "", shop_kit::auth::Role::Customer)
    }

    fn checkout() -> pb::PlaceOrderRequest {
        pb::PlaceOrderRequest {
            idempotency_key: "k-1".into(),
            cart: Some(CartRef {
                key: Some(cart_ref::Key::UserId("u1".into())),
            }),
            shipping_address: Some(common::Address {
                name: "Ann".into(),
                line1: "1 Main St".into(),
                line2: String::new(),
                city: "Berlin".into(),
                postal_code: "10115".into(),
                country: "DE".into(),
            }),
            payment_method: "pm_card_visa".into(),
        }
    }

    fn violated(error: ServiceError) -> Vec<(String, String)> {
        let ServiceError::InvalidArgument(violations) = error else {
            panic!("{error:?} is not INVALID_ARGUMENT")
        };
        violations
            .iter()
            .map(|v| (v.field.clone(), v.description.clone()))
            .collect()
    }

    #[test]
    fn a_checkout_is_parsed_into_a_command() {
        let command = PlaceOrder::parse(&checkout(), &claims("u1")).unwrap();
        assert_eq!(command.idempotency_key.as_str(), "k-1");
        assert_eq!(command.cart, CheckoutCart::User("u1".into()));
        assert_eq!(command.payment_method.as_str(), "pm_card_visa");
        assert_eq!(command.request_hash().len(), 64);
    }

    #[test]
    fn a_checkout_reports_every_bad_field_at_once() {
        let request = pb::PlaceOrderRequest {
            idempotency_key: " ".into(),
            cart: Some(CartRef {
                key: Some(cart_ref::Key::GuestCartId("not-a-uuid".into())),
            }),
            payment_method: "visa".into(),
            ..checkout()
        };
        let fields: Vec<_> = violated(PlaceOrder::parse(&request, &claims("u1")).unwrap_err())
            .into_iter()
            .map(|(field, _)| field)
            .collect();
        assert_eq!(
            fields,
            ["idempotency_key", "cart.guest_cart_id", "payment_method"]
        );
        let someone_elses = pb::PlaceOrderRequest {
            cart: Some(CartRef {
                key: Some(cart_ref::Key::UserId("u2".into())),
            }),
            ..checkout()
        };
        assert_eq!(
            violated(PlaceOrder::parse(&someone_elses, &claims("u1")).unwrap_err()),
            [(
                "cart.user_id".to_owned(),
                "must be your own user id".to_owned()
            )]
        );
    }

    #[test]
    fn a_cancellation_names_a_bad_order_id() {
        let request = pb::CancelOrderRequest {
            id: "order-1".into(),
            reason: "x".repeat(CANCEL_NOTE_MAX + 1),
        };
        let fields: Vec<_> = violated(CancelOrder::parse(&request).unwrap_err())
            .into_iter()
            .map(|(field, _)| field)
            .collect();
        assert_eq!(fields, ["id", "reason"]);
        let id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        let command = CancelOrder::parse(&pb::CancelOrderRequest {
            id: id.to_uppercase(),
            reason: " changed my mind ".into(),
        })
        .unwrap();
        assert_eq!(
            (command.id.as_str(), command.note.as_str()),
            (id, "changed my mind")
        );
    }
}
