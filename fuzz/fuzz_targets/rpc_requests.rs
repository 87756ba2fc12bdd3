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
use shop_cart::domain as cart;
use shop_inventory::domain as inventory;
use shop_kit::ServiceError;
use shop_kit::auth::{Claims, Role};
use shop_order::domain as order;
use shop_payment::domain as payment;
use shop_product::domain as product;
use shop_proto::shop::cart::v1 as cart_pb;
use shop_proto::shop::user::v1 as user_pb;
use shop_user::domain as user;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The callers every request is parsed for. Cart and Order compare `sub` with the ids in
/// the request, so the seeds use this customer's id to reach the accepting paths.
fn claims(sub: &str, role: Role) -> Claims {
    Claims::unsigned(sub, "shopper@example.com", role)
}

static CUSTOMER: LazyLock<Claims> = LazyLock::new(|| claims("u-1", Role::Customer));
static ADMIN: LazyLock<Claims> = LazyLock::new(|| claims("admin-1", Role::Admin));

/// The limits the services run with by default, taken from their own config defaults.
static CART_LIMITS: LazyLock<cart::Limits> = LazyLock::new(|| {
    let config = shop_cart::CartConfig::default();
    cart::Limits::new(config.max_lines, config.max_quantity_per_line)
        .expect("the default cart limits are valid")
});
static RESERVE_LIMITS: LazyLock<inventory::ReserveLimits> = LazyLock::new(|| {
    let config = shop_inventory::InventoryConfig::default();
    inventory::ReserveLimits {
        max_lines: config.max_reservation_lines,
        default_ttl: Duration::from_secs(config.default_reservation_ttl_secs),
        max_ttl: Duration::from_secs(config.max_reservation_ttl_secs),
    }
});
/// ChangePassword checks the new password against the account's email.
static EMAIL: LazyLock<user::Email> =
    LazyLock::new(|| user::Email::parse("shopper@example.com").expect("a valid email"));

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

/// Decodes `body` as `M` and checks what `parse` makes of it, or skips the input as tonic
/// would refuse it.
fn parsed<M: Message + Default, T>(
    rpc: &str,
    body: &[u8],
    parse: impl Fn(&M) -> Result<T, ServiceError>,
) {
    if let Ok(request) = M::decode(body) {
        check(rpc, parse(&request));
    }
}

/// [`parsed`], once for each caller in `callers`.
fn parsed_by_each<M: Message + Default, C: Copy, T>(
    rpc: &str,
    body: &[u8],
    callers: &[C],
    parse: impl Fn(&M, C) -> Result<T, ServiceError>,
) {
    if let Ok(request) = M::decode(body) {
        for &caller in callers {
            check(rpc, parse(&request, caller));
        }
    }
}

/// Every kind of caller: none, a customer, an admin.
static CALLERS: LazyLock<[Option<&'static Claims>; 3]> =
    LazyLock::new(|| [None, Some(&*CUSTOMER), Some(&*ADMIN)]);

/// One RPC's parse step under the invariant: its name and what runs it on a request body.
type Rpc = (&'static str, fn(&str, &[u8]));

/// The RPCs with a parse step, in selector order (the seeds' first bytes depend on it).
const RPCS: &[Rpc] = &[
    ("cart.GetCart", |rpc, body| {
        parsed_by_each(rpc, body, &*CALLERS, |r: &cart_pb::GetCartRequest, c| {
            cart::parse_cart(r.cart.as_ref(), c)
        })
    }),
    ("cart.AddItem", |rpc, body| {
        parsed_by_each(rpc, body, &*CALLERS, |r, c| {
            cart::AddItem::parse(r, &CART_LIMITS, c)
        })
    }),
    ("cart.UpdateItem", |rpc, body| {
        parsed_by_each(rpc, body, &*CALLERS, |r, c| {
            cart::UpdateItem::parse(r, &CART_LIMITS, c)
        })
    }),
    ("cart.RemoveItem", |rpc, body| {
        parsed_by_each(rpc, body, &*CALLERS, cart::RemoveItem::parse)
    }),
    ("cart.ClearCart", |rpc, body| {
        parsed_by_each(rpc, body, &*CALLERS, |r: &cart_pb::ClearCartRequest, c| {
            cart::parse_cart(r.cart.as_ref(), c)
        })
    }),
    ("cart.MergeCarts", |rpc, body| {
        parsed_by_each(rpc, body, &*CALLERS, cart::MergeCarts::parse)
    }),
    ("inventory.SetStock", |rpc, body| {
        parsed(rpc, body, inventory::SetStock::parse)
    }),
    ("inventory.AdjustStock", |rpc, body| {
        parsed(rpc, body, inventory::AdjustStock::parse)
    }),
    ("inventory.Reserve", |rpc, body| {
        parsed(rpc, body, |r| inventory::Reserve::parse(r, *RESERVE_LIMITS))
    }),
    ("inventory.Release", |rpc, body| {
        parsed(rpc, body, inventory::Release::parse)
    }),
    ("order.PlaceOrder", |rpc, body| {
        parsed_by_each(rpc, body, &[&*CUSTOMER, &*ADMIN], order::PlaceOrder::parse)
    }),
    ("order.CancelOrder", |rpc, body| {
        parsed(rpc, body, order::CancelOrder::parse)
    }),
    ("payment.GetPayment", |rpc, body| {
        parsed(rpc, body, payment::GetPayment::parse)
    }),
    ("payment.ListPayments", |rpc, body| {
        parsed(rpc, body, |r| {
            payment::ListPayments::parse(
                r,
                shop_payment::api::DEFAULT_PAGE_SIZE,
                shop_payment::api::MAX_PAGE_SIZE,
            )
        })
    }),
    ("product.CreateProduct", |rpc, body| {
        parsed(rpc, body, product::CreateProduct::parse)
    }),
    ("product.UpdateProduct", |rpc, body| {
        parsed(rpc, body, product::UpdateProduct::parse)
    }),
    ("user.Register", |rpc, body| {
        parsed(rpc, body, |r: &user_pb::RegisterRequest| {
            user::Register::parse(r.clone())
        })
    }),
    ("user.Login", |rpc, body| {
        parsed(rpc, body, |r: &user_pb::LoginRequest| {
            user::Login::parse(r.clone())
        })
    }),
    ("user.ChangePassword", |rpc, body| {
        parsed(rpc, body, |r: &user_pb::ChangePasswordRequest| {
            user::ChangePassword::parse(r.clone(), &EMAIL)
        })
    }),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let (rpc, parse_step) = RPCS[usize::from(selector) % RPCS.len()];
    parse_step(rpc, body);
});
