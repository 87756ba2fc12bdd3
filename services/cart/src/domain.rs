//! Cart values that can only hold valid data, and the pricing rule.
//!
//! Requests are parsed here once, at the edge: a [`CartRef`] names a cart the caller may
//! try to reach (a random guest UUID or a well-formed user id), a quantity is within the
//! configured [`Limits`], an [`IdempotencyKey`] is short and printable. Pricing
//! ([`price`]) is a pure function of the stored lines and what Product said about them, so
//! the money rules are unit-tested without any server.

use std::collections::HashMap;

use shop_kit::auth::Claims;
use shop_kit::{Currency, FieldViolations, Money, ServiceError, Sku};
use shop_proto::shop::cart::v1 as pb;

/// A cart must be priceable in one `BatchGetProducts` call, so `max_lines` may not exceed
/// the contract's batch limit.
pub const PRODUCT_BATCH_LIMIT: u32 = shop_proto::limits::PRODUCT_BATCH_MAX as u32;
pub const USER_ID_MAX_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(text: impl Into<String>) -> Invalid {
    Invalid(text.into())
}

/// A guest cart's id: a random (version 4) UUID; the id is the guest's only credential.
pub use shop_kit::GuestCartId;

/// A signed-in user's id as the User service issues it (a UUID today). Only checked for
/// shape: 1 to 64 characters of `A-Z a-z 0-9 - _`, which also keeps it safe inside a Redis
/// key. Whether the caller may use it is decided by [`CartRef::authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserId(String);

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let id = raw.trim();
        if id.is_empty() {
            return Err(invalid("is required"));
        }
        let well_formed = id.len() <= USER_ID_MAX_LEN
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if well_formed {
            Ok(Self(id.to_owned()))
        } else {
            Err(invalid(format!(
                "must be a user id: 1 to {USER_ID_MAX_LEN} characters of A-Z, a-z, 0-9, '-' or '_'"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which cart a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartRef {
    Guest(GuestCartId),
    User(UserId),
}

impl CartRef {
    /// Parses the request's `cart` field, recording problems under `field` (`cart`,
    /// `cart.guest_cart_id` or `cart.user_id`).
    pub fn parse(
        cart: Option<&pb::CartRef>,
        field: &str,
        violations: &mut FieldViolations,
    ) -> Option<Self> {
        use pb::cart_ref::Key;
        match cart.and_then(|cart| cart.key.as_ref()) {
            Some(Key::GuestCartId(id)) => violations
                .check(&format!("{field}.guest_cart_id"), GuestCartId::parse(id))
                .map(CartRef::Guest),
            Some(Key::UserId(id)) => violations
                .check(&format!("{field}.user_id"), UserId::parse(id))
                .map(CartRef::User),
            None => {
                violations.add(field, "set guest_cart_id or user_id");
                None
            }
        }
    }

    /// Guest carts are open to whoever holds the id; a user cart needs that user's token
    /// (or an admin's): UNAUTHENTICATED without one, PERMISSION_DENIED for anyone else.
    pub fn authorize(&self, claims: Option<&Claims>) -> Result<(), ServiceError> {
        match self {
            CartRef::Guest(_) => Ok(()),
            CartRef::User(user) => authorize_user(user, claims),
        }
    }

    /// The `Cart.id` clients see: the guest id itself, or `user:<user id>` so a user cart
    /// never shares an id with a guest cart in a client-side cache.
    pub fn cart_id(&self) -> String {
        match self {
            CartRef::Guest(id) => id.as_str().to_owned(),
            CartRef::User(user) => format!("user:{}", user.as_str()),
        }
    }

    pub fn user_id(&self) -> Option<&UserId> {
        match self {
            CartRef::Guest(_) => None,
            CartRef::User(user) => Some(user),
        }
    }

    /// For span fields: the kind only, because a guest id is a credential.
    pub fn kind(&self) -> &'static str {
        match self {
            CartRef::Guest(_) => "guest",
            CartRef::User(_) => "user",
        }
    }
}

impl CartRef {
    /// Span fields for a cart: its kind and, for a user cart, the user. A guest id is a
    /// credential and is never recorded.
    fn record(&self) {
        let span = tracing::Span::current();
        span.record("cart", self.kind());
        if let Some(user) = self.user_id() {
            span.record("user_id", user.as_str());
        }
    }

    /// Parses the request's `cart` and, once it names a cart, checks the caller may reach
    /// it: a caller who may not is told so before being told about other fields.
    fn parse_authorized(
        cart: Option<&pb::CartRef>,
        claims: Option<&Claims>,
        violations: &mut FieldViolations,
    ) -> Result<Option<Self>, ServiceError> {
        let cart = CartRef::parse(cart, "cart", violations);
        if let Some(cart) = &cart {
            cart.record();
            cart.authorize(claims)?;
        }
        Ok(cart)
    }
}

/// A request that names only a cart (GetCart, ClearCart), parsed and authorised.
pub fn parse_cart(
    cart: Option<&pb::CartRef>,
    claims: Option<&Claims>,
) -> Result<CartRef, ServiceError> {
    let mut violations = FieldViolations::new();
    let cart = CartRef::parse_authorized(cart, claims, &mut violations)?;
    violations.finish(|| cart)
}

/// An AddItem request that passed validation and authorisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddItem {
    pub cart: CartRef,
    pub sku: Sku,
    pub units: u32,
    pub key: Option<IdempotencyKey>,
}

impl AddItem {
    pub fn parse(
        request: &pb::AddItemRequest,
        limits: &Limits,
        claims: Option<&Claims>,
    ) -> Result<Self, ServiceError> {
        let mut v = FieldViolations::new();
        let cart = CartRef::parse_authorized(request.cart.as_ref(), claims, &mut v);
        let sku = v.check("sku", Sku::parse(&request.sku));
        let units = v.check("quantity", limits.units_to_add(request.quantity));
        let key = v.check(
            "idempotency_key",
            IdempotencyKey::parse_optional(&request.idempotency_key),
        );
        let cart = cart?;
        v.finish(|| {
            Some(AddItem {
                cart: cart?,
                sku: sku?,
                units: units?,
                key: key?,
            })
        })
    }
}

/// An UpdateItem request (a quantity of 0 removes the line), validated and authorised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateItem {
    pub cart: CartRef,
    pub sku: Sku,
    pub units: u32,
}

impl UpdateItem {
    pub fn parse(
        request: &pb::UpdateItemRequest,
        limits: &Limits,
        claims: Option<&Claims>,
    ) -> Result<Self, ServiceError> {
        let mut v = FieldViolations::new();
        let cart = CartRef::parse_authorized(request.cart.as_ref(), claims, &mut v);
        let sku = v.check("sku", Sku::parse(&request.sku));
        let units = v.check("quantity", limits.new_quantity(request.quantity));
        let cart = cart?;
        v.finish(|| {
            Some(UpdateItem {
                cart: cart?,
                sku: sku?,
                units: units?,
            })
        })
    }
}

/// A RemoveItem request, validated and authorised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveItem {
    pub cart: CartRef,
    pub sku: Sku,
}

impl RemoveItem {
    pub fn parse(
        request: &pb::RemoveItemRequest,
        claims: Option<&Claims>,
    ) -> Result<Self, ServiceError> {
        let mut v = FieldViolations::new();
        let cart = CartRef::parse_authorized(request.cart.as_ref(), claims, &mut v);
        let sku = v.check("sku", Sku::parse(&request.sku));
        let cart = cart?;
        v.finish(|| {
            Some(RemoveItem {
                cart: cart?,
                sku: sku?,
            })
        })
    }
}

/// A MergeCarts request: the guest cart to fold into the user's, validated and authorised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeCarts {
    pub guest: CartRef,
    pub user: CartRef,
}

impl MergeCarts {
    pub fn parse(
        request: &pb::MergeCartsRequest,
        claims: Option<&Claims>,
    ) -> Result<Self, ServiceError> {
        let mut v = FieldViolations::new();
        let guest = v.check("guest_cart_id", GuestCartId::parse(&request.guest_cart_id));
        let user = v.check("user_id", UserId::parse(&request.user_id));
        if let Some(user) = &user {
            tracing::Span::current().record("user_id", user.as_str());
            authorize_user(user, claims)?;
        }
        v.finish(|| {
            Some(MergeCarts {
                guest: CartRef::Guest(guest?),
                user: CartRef::User(user?),
            })
        })
    }
}

/// The caller must be `user` or an admin.
pub fn authorize_user(user: &UserId, claims: Option<&Claims>) -> Result<(), ServiceError> {
    let claims = claims
        .ok_or_else(|| ServiceError::Unauthenticated("an access token is required".into()))?;
    if claims.may_act_for(user.as_str()) {
        Ok(())
    } else {
        Err(ServiceError::PermissionDenied(
            "a user's cart is only open to that user".into(),
        ))
    }
}

/// How big a cart may grow. Checked by the Redis scripts themselves (see `store`), because a
/// check before the write would race with concurrent writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_lines: u32,
    pub max_quantity_per_line: u32,
}

impl Limits {
    pub fn new(max_lines: u32, max_quantity_per_line: u32) -> Result<Self, Invalid> {
        if !(1..=PRODUCT_BATCH_LIMIT).contains(&max_lines) {
            return Err(invalid(format!(
                "max_lines must be 1 to {PRODUCT_BATCH_LIMIT} (one Product batch prices a cart)"
            )));
        }
        // Far below 2^53, so quantities stay exact as Lua numbers.
        if !(1..=1_000_000).contains(&max_quantity_per_line) {
            return Err(invalid("max_quantity_per_line must be 1 to 1000000"));
        }
        Ok(Self {
            max_lines,
            max_quantity_per_line,
        })
    }

    /// Units to add: positive and not more than a whole line may hold. Whether the line's
    /// new total fits is only known inside the write.
    pub fn units_to_add(&self, raw: i64) -> Result<u32, Invalid> {
        if raw <= 0 {
            return Err(invalid("must be positive"));
        }
        self.within_line(raw)
    }

    /// A line's new quantity: 0 (remove) up to the per-line limit.
    pub fn new_quantity(&self, raw: i64) -> Result<u32, Invalid> {
        if raw < 0 {
            return Err(invalid("must not be negative (0 removes the line)"));
        }
        self.within_line(raw)
    }

    fn within_line(&self, raw: i64) -> Result<u32, Invalid> {
        u32::try_from(raw)
            .ok()
            .filter(|quantity| *quantity <= self.max_quantity_per_line)
            .ok_or_else(|| {
                invalid(format!(
                    "must be at most {} units per line",
                    self.max_quantity_per_line
                ))
            })
    }
}

/// AddItem's optional retry key (the rule every service shares: printable ASCII without
/// spaces, at most 128 characters; an empty string means "no key").
pub use shop_kit::IdempotencyKey;

/// What Product says about a SKU, as far as a cart cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    pub name: String,
    pub image_url: String,
    pub price: Money,
    pub archived: bool,
}

/// AddItem (and UpdateItem when it adds units) only accepts products that can be bought:
/// known (NOT_FOUND), not archived (FAILED_PRECONDITION `PRODUCT_ARCHIVED`) and priced in
/// the shop's currency (FAILED_PRECONDITION `CURRENCY_MISMATCH`).
pub fn ensure_purchasable(
    sku: &str,
    entry: Option<&CatalogEntry>,
    currency: Currency,
) -> Result<(), ServiceError> {
    let entry = entry.ok_or_else(|| ServiceError::not_found("product", sku))?;
    if entry.archived {
        return Err(ServiceError::FailedPrecondition {
            reason: "PRODUCT_ARCHIVED",
            message: format!("product {sku} is archived and can no longer be added to a cart"),
        });
    }
    if entry.price.currency() != currency {
        return Err(currency_mismatch(sku, entry.price.currency(), currency));
    }
    Ok(())
}

fn currency_mismatch(sku: &str, found: Currency, shop: Currency) -> ServiceError {
    ServiceError::FailedPrecondition {
        reason: "CURRENCY_MISMATCH",
        message: format!(
            "product {sku} is priced in {found} but the shop sells in {shop}; remove the line"
        ),
    }
}

/// One stored line: what Redis keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub sku: String,
    pub quantity: i64,
}

/// A line with its current price. `unit_price`/`line_total` are `None` only for a SKU the
/// catalog no longer knows: such a line is shown as archived and unpriced rather than
/// dropped (the customer sees it went away) or priced at zero (a wrong price).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    pub sku: String,
    pub quantity: i64,
    pub unit_price: Option<Money>,
    pub line_total: Option<Money>,
    pub product_name: String,
    pub image_url: String,
    pub product_archived: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedCart {
    pub lines: Vec<PricedLine>,
    /// Sum of the priced line totals (archived products included: their lines still
    /// show a price, and checkout refuses the cart until they are removed).
    pub subtotal: Money,
    /// Sum of every line's quantity, priced or not.
    pub item_count: i64,
}

fn overflow() -> ServiceError {
    ServiceError::internal(anyhow::anyhow!("cart total out of range"))
}

/// Prices `lines` (in cart order) from `catalog` (keyed by SKU).
///
/// The shop sells in one currency (as the Product contract says): a line priced in any
/// other currency fails the whole cart with FAILED_PRECONDITION `CURRENCY_MISMATCH` instead
/// of being summed into a meaningless subtotal or silently left out. Overflow is checked.
pub fn price(
    lines: &[Line],
    catalog: &HashMap<String, CatalogEntry>,
    currency: Currency,
) -> Result<PricedCart, ServiceError> {
    let mut priced = Vec::with_capacity(lines.len());
    let mut subtotal = Money::zero(currency);
    let mut item_count: i64 = 0;
    for line in lines {
        item_count = item_count.checked_add(line.quantity).ok_or_else(overflow)?;
        let Some(entry) = catalog.get(&line.sku) else {
            priced.push(PricedLine {
                sku: line.sku.clone(),
                quantity: line.quantity,
                unit_price: None,
                line_total: None,
                product_name: String::new(),
                image_url: String::new(),
                product_archived: true,
            });
            continue;
        };
        if entry.price.currency() != currency {
            return Err(currency_mismatch(
                &line.sku,
                entry.price.currency(),
                currency,
            ));
        }
        let line_total = entry
            .price
            .checked_mul(line.quantity)
            .map_err(|_| overflow())?;
        subtotal = subtotal.checked_add(line_total).map_err(|_| overflow())?;
        priced.push(PricedLine {
            sku: line.sku.clone(),
            quantity: line.quantity,
            unit_price: Some(entry.price),
            line_total: Some(line_total),
            product_name: entry.name.clone(),
            image_url: entry.image_url.clone(),
            product_archived: entry.archived,
        });
    }
    Ok(PricedCart {
        lines: priced,
        subtotal,
        item_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_kit::auth::Role;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    fn entry(amount: i64, currency: &str, archived: bool) -> CatalogEntry {
        CatalogEntry {
            name: "Mug".into(),
            image_url: "/mug.jpg".into(),
            price: Money::new(amount, Currency::parse(currency).unwrap()),
            archived,
        }
    }

    fn line(sku: &str, quantity: i64) -> Line {
        Line {
            sku: sku.into(),
            quantity,
        }
    }

    fn claims(sub: &str, role: Role) -> Claims {
        Claims::unsigned(sub, "a@b.c", role)
    }

    #[test]
    fn guest_ids_must_be_random_uuids() {
        let id = GuestCartId::parse(" 8C4C1C1E-3F1D-4B52-9D7A-0C6F0E8A2B11 ").unwrap();
        assert_eq!(id.as_str(), "8c4c1c1e-3f1d-4b52-9d7a-0c6f0e8a2b11");
        assert_eq!(format!("{id:?}"), "GuestCartId(***)");
        for bad in [
            "",
            "cart-1",
            "00000000-0000-0000-0000-000000000000",
            &uuid::Uuid::now_v7().to_string(),
        ] {
            assert!(GuestCartId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn user_ids_are_key_safe() {
        assert_eq!(UserId::parse(" u_1-A ").unwrap().as_str(), "u_1-A");
        for bad in ["", "a:b", "a b", "ü", &"x".repeat(65)] {
            assert!(UserId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cart_refs_report_the_field_at_fault() {
        use pb::cart_ref::Key;
        let mut v = FieldViolations::new();
        assert!(CartRef::parse(None, "cart", &mut v).is_none());
        let bad = pb::CartRef {
            key: Some(Key::GuestCartId("nope".into())),
        };
        assert!(CartRef::parse(Some(&bad), "cart", &mut v).is_none());
        let fields: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["cart", "cart.guest_cart_id"]);
        let user = pb::CartRef {
            key: Some(Key::UserId("u1".into())),
        };
        let parsed = CartRef::parse(Some(&user), "cart", &mut v).unwrap();
        assert_eq!(parsed.cart_id(), "user:u1");
    }

    #[test]
    fn user_carts_are_for_their_owner_and_admins() {
        let cart = CartRef::User(UserId::parse("u1").unwrap());
        assert!(matches!(
            cart.authorize(None),
            Err(ServiceError::Unauthenticated(_))
        ));
        assert!(matches!(
            cart.authorize(Some(&claims("u2", Role::Customer))),
            Err(ServiceError::PermissionDenied(_))
        ));
        assert!(cart.authorize(Some(&claims("u1", Role::Customer))).is_ok());
        assert!(cart.authorize(Some(&claims("u2", Role::Admin))).is_ok());
        let guest = CartRef::Guest(GuestCartId::generate());
        assert!(guest.authorize(None).is_ok());
    }

    #[test]
    fn quantities_respect_the_limits() {
        let limits = Limits::new(3, 10).unwrap();
        assert_eq!(limits.units_to_add(10), Ok(10));
        for bad in [0, -1, 11, i64::MAX] {
            assert!(limits.units_to_add(bad).is_err(), "{bad}");
        }
        assert_eq!(limits.new_quantity(0), Ok(0));
        assert!(limits.new_quantity(-1).is_err());
        assert!(limits.new_quantity(11).is_err());
        assert!(Limits::new(0, 1).is_err());
        assert!(Limits::new(PRODUCT_BATCH_LIMIT + 1, 1).is_err());
        assert!(Limits::new(1, 0).is_err());
    }

    fn violated(error: ServiceError) -> Vec<String> {
        let ServiceError::InvalidArgument(violations) = error else {
            panic!("{error:?} is not INVALID_ARGUMENT")
        };
        violations.iter().map(|v| v.field.clone()).collect()
    }

    #[test]
    fn add_item_is_parsed_into_a_command_with_an_optional_key() {
        let limits = Limits::new(3, 10).unwrap();
        let guest = pb::CartRef {
            key: Some(pb::cart_ref::Key::GuestCartId(
                GuestCartId::generate().as_str().to_owned(),
            )),
        };
        let request = pb::AddItemRequest {
            cart: Some(guest.clone()),
            sku: "a-1".into(),
            quantity: 2,
            idempotency_key: "  ".into(),
        };
        let command = AddItem::parse(&request, &limits, None).unwrap();
        assert_eq!((command.sku.as_str(), command.units), ("A-1", 2));
        assert_eq!(command.key, None);
        let bad = pb::AddItemRequest {
            cart: None,
            sku: String::new(),
            quantity: 0,
            idempotency_key: "a b".into(),
        };
        assert_eq!(
            violated(AddItem::parse(&bad, &limits, None).unwrap_err()),
            ["cart", "sku", "quantity", "idempotency_key"]
        );
    }

    #[test]
    fn a_stranger_is_refused_before_being_told_about_other_fields() {
        let limits = Limits::new(3, 10).unwrap();
        let request = pb::AddItemRequest {
            cart: Some(pb::CartRef {
                key: Some(pb::cart_ref::Key::UserId("u1".into())),
            }),
            sku: String::new(),
            quantity: 0,
            idempotency_key: String::new(),
        };
        let stranger = claims("u2", Role::Customer);
        assert!(matches!(
            AddItem::parse(&request, &limits, Some(&stranger)),
            Err(ServiceError::PermissionDenied(_))
        ));
        let merge = pb::MergeCartsRequest {
            guest_cart_id: "nope".into(),
            user_id: "u1".into(),
        };
        assert!(matches!(
            MergeCarts::parse(&merge, Some(&stranger)),
            Err(ServiceError::PermissionDenied(_))
        ));
        assert_eq!(
            violated(MergeCarts::parse(&merge, Some(&claims("u1", Role::Customer))).unwrap_err()),
            ["guest_cart_id"]
        );
    }

    #[test]
    fn only_known_active_products_in_the_shop_currency_can_be_added() {
        assert!(ensure_purchasable("A1", Some(&entry(100, "EUR", false)), eur()).is_ok());
        assert!(matches!(
            ensure_purchasable("A1", None, eur()),
            Err(ServiceError::NotFound { .. })
        ));
        assert!(matches!(
            ensure_purchasable("A1", Some(&entry(100, "EUR", true)), eur()),
            Err(ServiceError::FailedPrecondition {
                reason: "PRODUCT_ARCHIVED",
                ..
            })
        ));
        assert!(matches!(
            ensure_purchasable("A1", Some(&entry(100, "USD", false)), eur()),
            Err(ServiceError::FailedPrecondition {
                reason: "CURRENCY_MISMATCH",
                ..
            })
        ));
    }

    #[test]
    fn pricing_sums_priced_lines_and_keeps_unknown_ones_unpriced() {
        let catalog = HashMap::from([
            ("A1".to_owned(), entry(250, "EUR", false)),
            ("B2".to_owned(), entry(1000, "EUR", true)),
        ]);
        let cart = price(
            &[line("A1", 3), line("GONE", 2), line("B2", 1)],
            &catalog,
            eur(),
        )
        .unwrap();
        assert_eq!(cart.subtotal, Money::new(1750, eur()));
        assert_eq!(cart.item_count, 6);
        let skus: Vec<_> = cart.lines.iter().map(|l| l.sku.as_str()).collect();
        assert_eq!(skus, ["A1", "GONE", "B2"], "cart order is kept");
        assert_eq!(cart.lines[0].line_total, Some(Money::new(750, eur())));
        assert!(cart.lines[1].unit_price.is_none() && cart.lines[1].product_archived);
        assert!(cart.lines[2].product_archived);
        assert_eq!(cart.lines[2].unit_price, Some(Money::new(1000, eur())));

        let empty = price(&[], &catalog, eur()).unwrap();
        assert_eq!(empty.subtotal, Money::zero(eur()));
    }

    #[test]
    fn pricing_refuses_mixed_currencies_and_overflow() {
        let catalog = HashMap::from([
            ("A1".to_owned(), entry(250, "EUR", false)),
            ("U1".to_owned(), entry(250, "USD", false)),
            ("BIG".to_owned(), entry(i64::MAX / 2, "EUR", false)),
        ]);
        assert!(matches!(
            price(&[line("A1", 1), line("U1", 1)], &catalog, eur()),
            Err(ServiceError::FailedPrecondition {
                reason: "CURRENCY_MISMATCH",
                ..
            })
        ));
        assert!(matches!(
            price(&[line("BIG", 3)], &catalog, eur()),
            Err(ServiceError::Internal(_))
        ));
    }
}
