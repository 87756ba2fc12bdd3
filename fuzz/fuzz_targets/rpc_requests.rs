//! Every service turns a request into a command in its `domain` module before touching a
//! store, so that parse step is where whatever a caller sends first meets shopmesh. Here the
//! fuzzer's bytes are a request as it arrives on the wire, and every parse step runs as each
//! kind of caller (none, a customer, an admin). Whatever the bytes, nothing panics and a
//! refusal is one the caller can act on: INVALID_ARGUMENT naming at least one field,
//! NOT_FOUND, FAILED_PRECONDITION, PERMISSION_DENIED or UNAUTHENTICATED, never INTERNAL or
//! UNKNOWN (docs/architecture.md's error rule, TEAM quality bar).
//!
//! The input: the first byte picks the RPC (modulo the table in `RPCS`), the rest is that
//! RPC's request message in protobuf, decoded with prost exactly as tonic would; bytes that
//! do not decode are what tonic refuses before any service code runs, so they are skipped.
//!
//! RPCs with no parse step of their own, and why they need none here:
//! - Cart GetCart, ClearCart: `parse_cart`, covered (selectors 0 and 4).
//! - Inventory GetStock, BatchGetStock, Commit, ListStockLedger; Order GetOrder; Product
//!   GetProduct, BatchGetProducts, ArchiveProduct; User GetUser: each checks a single id or
//!   SKU inline with `Sku::parse` / `OrderId::parse` / `ProductId::parse` / `UserId::parse`,
//!   which the `sku` target and shop-kit's id tests cover, and maps the refusal to
//!   INVALID_ARGUMENT with `ServiceError::invalid`.
//! - Order ListOrders, Product ListProducts / ListCategories: paging and filters, whose
//!   page tokens the `page_token` target covers and whose page sizes go through
//!   `shop_kit::paging::page_size` (exercised here through ListPayments).
//! - User Refresh, Logout, GetMe: no fields but an opaque refresh token (looked up by its
//!   hash, never parsed) or the caller's own claims.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use prost::Message;
use shop_kit::ServiceError;
use shop_kit::auth::{Claims, Role};
use shop_proto::shop::cart::v1 as cart_pb;
use shop_proto::shop::inventory::v1 as inventory_pb;
use shop_proto::shop::order::v1 as order_pb;
use shop_proto::shop::payment::v1 as payment_pb;
use shop_proto::shop::product::v1 as product_pb;
use shop_proto::shop::user::v1 as user_pb;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The callers every request is parsed for. Cart and Order compare `sub` with the ids in
/// the request, so the seeds use this customer's id to reach the accepting paths.
fn claims(sub: &str, role: Role) -> Claims {
    Claims {
        sub: sub.into(),
        email: "shopper@example.com".into(),
        role,
        iss: String::new(),
        aud: String::new(),
        iat: 0,
        exp: 0,
        jti: String::new(),
    }
}

static CUSTOMER: LazyLock<Claims> = LazyLock::new(|| claims("u-1", Role::Customer));
static ADMIN: LazyLock<Claims> = LazyLock::new(|| claims("admin-1", Role::Admin));

/// The limits the services run with by default, taken from their own config defaults.
static CART_LIMITS: LazyLock<shop_cart::domain::Limits> = LazyLock::new(|| {
    let config = shop_cart::CartConfig::default();
    shop_cart::domain::Limits::new(config.max_lines, config.max_quantity_per_line)
        .expect("the default cart limits are valid")
});
static RESERVE_LIMITS: LazyLock<shop_inventory::domain::ReserveLimits> = LazyLock::new(|| {
    let config = shop_inventory::InventoryConfig::default();
    shop_inventory::domain::ReserveLimits {
        max_lines: config.max_reservation_lines,
        default_ttl: Duration::from_secs(config.default_reservation_ttl_secs),
        max_ttl: Duration::from_secs(config.max_reservation_ttl_secs),
    }
});
/// ChangePassword checks the new password against the account's email.
static EMAIL: LazyLock<shop_user::domain::Email> = LazyLock::new(|| {
    shop_user::domain::Email::parse("shopper@example.com").expect("a valid email")
});

/// Decodes `bytes` as `M`, or skips the input as tonic would refuse it.
fn decode<M: Message + Default>(bytes: &[u8]) -> Option<M> {
    M::decode(bytes).ok()
}

/// One parse step's outcome, reduced to what the invariant looks at.
fn check<T>(rpc: &str, outcome: Result<T, ServiceError>) {
    let Err(error) = outcome else {
        return;
    };
    let status = Status::from(error);
    match status.code() {
        Code::InvalidArgument => {
            let details = status.get_error_details();
            let named = details
                .bad_request()
                .is_some_and(|bad| !bad.field_violations.is_empty());
            assert!(
                named,
                "{rpc}: INVALID_ARGUMENT without a field violation: {status:?}"
            );
        }
        Code::NotFound
        | Code::FailedPrecondition
        | Code::PermissionDenied
        | Code::Unauthenticated => {}
        code => panic!("{rpc}: a request refused with {code:?}: {status:?}"),
    }
}

/// The RPCs with a parse step, in selector order (the seeds' first bytes depend on it).
const RPCS: &[&str] = &[
    "cart.GetCart",
    "cart.AddItem",
    "cart.UpdateItem",
    "cart.RemoveItem",
    "cart.ClearCart",
    "cart.MergeCarts",
    "inventory.SetStock",
    "inventory.AdjustStock",
    "inventory.Reserve",
    "inventory.Release",
    "order.PlaceOrder",
    "order.CancelOrder",
    "payment.GetPayment",
    "payment.ListPayments",
    "product.CreateProduct",
    "product.UpdateProduct",
    "user.Register",
    "user.Login",
    "user.ChangePassword",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let index = usize::from(selector) % RPCS.len();
    let rpc = RPCS[index];
    let callers = [None, Some(&*CUSTOMER), Some(&*ADMIN)];
    match index {
        0 => {
            let Some(r) = decode::<cart_pb::GetCartRequest>(body) else {
                return;
            };
            for c in callers {
                check(rpc, shop_cart::domain::parse_cart(r.cart.as_ref(), c));
            }
        }
        1 => {
            let Some(r) = decode::<cart_pb::AddItemRequest>(body) else {
                return;
            };
            for c in callers {
                check(rpc, shop_cart::domain::AddItem::parse(&r, &CART_LIMITS, c));
            }
        }
        2 => {
            let Some(r) = decode::<cart_pb::UpdateItemRequest>(body) else {
                return;
            };
            for c in callers {
                check(
                    rpc,
                    shop_cart::domain::UpdateItem::parse(&r, &CART_LIMITS, c),
                );
            }
        }
        3 => {
            let Some(r) = decode::<cart_pb::RemoveItemRequest>(body) else {
                return;
            };
            for c in callers {
                check(rpc, shop_cart::domain::RemoveItem::parse(&r, c));
            }
        }
        4 => {
            let Some(r) = decode::<cart_pb::ClearCartRequest>(body) else {
                return;
            };
            for c in callers {
                check(rpc, shop_cart::domain::parse_cart(r.cart.as_ref(), c));
            }
        }
        5 => {
            let Some(r) = decode::<cart_pb::MergeCartsRequest>(body) else {
                return;
            };
            for c in callers {
                check(rpc, shop_cart::domain::MergeCarts::parse(&r, c));
            }
        }
        6 => {
            let Some(r) = decode::<inventory_pb::SetStockRequest>(body) else {
                return;
            };
            check(rpc, shop_inventory::domain::SetStock::parse(&r));
        }
        7 => {
            let Some(r) = decode::<inventory_pb::AdjustStockRequest>(body) else {
                return;
            };
            check(rpc, shop_inventory::domain::AdjustStock::parse(&r));
        }
        8 => {
            let Some(r) = decode::<inventory_pb::ReserveRequest>(body) else {
                return;
            };
            check(
                rpc,
                shop_inventory::domain::Reserve::parse(&r, *RESERVE_LIMITS),
            );
        }
        9 => {
            let Some(r) = decode::<inventory_pb::ReleaseRequest>(body) else {
                return;
            };
            check(rpc, shop_inventory::domain::Release::parse(&r));
        }
        10 => {
            let Some(r) = decode::<order_pb::PlaceOrderRequest>(body) else {
                return;
            };
            for c in [&*CUSTOMER, &*ADMIN] {
                check(rpc, shop_order::domain::PlaceOrder::parse(&r, c));
            }
        }
        11 => {
            let Some(r) = decode::<order_pb::CancelOrderRequest>(body) else {
                return;
            };
            check(rpc, shop_order::domain::CancelOrder::parse(&r));
        }
        12 => {
            let Some(r) = decode::<payment_pb::GetPaymentRequest>(body) else {
                return;
            };
            check(rpc, shop_payment::domain::GetPayment::parse(&r));
        }
        13 => {
            let Some(r) = decode::<payment_pb::ListPaymentsRequest>(body) else {
                return;
            };
            check(
                rpc,
                shop_payment::domain::ListPayments::parse(
                    &r,
                    shop_payment::api::DEFAULT_PAGE_SIZE,
                    shop_payment::api::MAX_PAGE_SIZE,
                ),
            );
        }
        14 => {
            let Some(r) = decode::<product_pb::CreateProductRequest>(body) else {
                return;
            };
            check(rpc, shop_product::domain::CreateProduct::parse(&r));
        }
        15 => {
            let Some(r) = decode::<product_pb::UpdateProductRequest>(body) else {
                return;
            };
            check(rpc, shop_product::domain::UpdateProduct::parse(&r));
        }
        16 => {
            let Some(r) = decode::<user_pb::RegisterRequest>(body) else {
                return;
            };
            check(rpc, shop_user::domain::Register::parse(r));
        }
        17 => {
            let Some(r) = decode::<user_pb::LoginRequest>(body) else {
                return;
            };
            check(rpc, shop_user::domain::Login::parse(r));
        }
        18 => {
            let Some(r) = decode::<user_pb::ChangePasswordRequest>(body) else {
                return;
            };
            check(rpc, shop_user::domain::ChangePassword::parse(r, &EMAIL));
        }
        _ => unreachable!("the selector is taken modulo RPCS.len()"),
    }
});
