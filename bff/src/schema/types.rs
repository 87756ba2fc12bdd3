//! The GraphQL object and input types (docs/architecture.md §6), as thin views over the protobuf
//! messages, so the wire types stay the single source of truth and nothing is copied twice.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use base64::Engine as _;
use shop_proto::shop::cart::v1 as cart_pb;
use shop_proto::shop::common::v1 as common_pb;
use shop_proto::shop::inventory::v1 as inventory_pb;
use shop_proto::shop::order::v1 as order_pb;
use shop_proto::shop::product::v1 as product_pb;
use shop_proto::shop::user::v1 as user_pb;

use crate::loaders::Loaders;

/// RFC 3339 in UTC, e.g. `2025-11-25T20:11:25.123Z`.
pub fn timestamp(ts: Option<&prost_types::Timestamp>) -> Option<String> {
    let ts = ts?;
    chrono::DateTime::from_timestamp(ts.seconds, ts.nanos.max(0) as u32)
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// An amount in minor units of an ISO 4217 currency, with a display form ("12.50 EUR").
#[derive(SimpleObject, Clone, Debug)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: String,
    /// Unambiguous and locale-free; the web app localises for display.
    pub formatted: String,
}

impl Money {
    /// A missing amount shows as zero in the shop's default currency rather than failing
    /// the whole object (an empty cart has nothing to sum).
    pub fn from_proto(money: Option<&common_pb::Money>) -> Self {
        let (amount_minor, currency) = money
            .map(|m| (m.amount_minor, m.currency.clone()))
            .unwrap_or((0, "EUR".to_owned()));
        let formatted = match shop_kit::Currency::parse(&currency) {
            Ok(parsed) => shop_kit::Money::new(amount_minor, parsed).to_string(),
            Err(_) => format!("{amount_minor} {currency}"),
        };
        Self {
            amount_minor,
            currency,
            formatted,
        }
    }
}

#[derive(InputObject, Clone, Debug)]
pub struct MoneyInput {
    pub amount_minor: i64,
    /// ISO 4217, e.g. "EUR".
    pub currency: String,
}

impl MoneyInput {
    pub fn to_proto(&self) -> common_pb::Money {
        common_pb::Money {
            amount_minor: self.amount_minor,
            currency: self.currency.clone(),
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Role {
    Customer,
    Admin,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct User {
    pub id: ID,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: Option<String>,
}

impl From<user_pb::User> for User {
    fn from(user: user_pb::User) -> Self {
        Self {
            id: ID(user.id),
            email: user.email,
            name: user.name,
            role: if user.role == user_pb::Role::Admin as i32 {
                Role::Admin
            } else {
                Role::Customer
            },
            created_at: timestamp(user.created_at.as_ref()),
        }
    }
}

/// What register, login and refreshToken return: keep `refreshToken` somewhere safe; send
/// `accessToken` as `Authorization: Bearer` until it expires, then refresh.
#[derive(SimpleObject, Clone, Debug)]
pub struct AuthPayload {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub user: User,
}

#[derive(InputObject, Clone, Debug)]
pub struct RegisterInput {
    pub email: String,
    pub password: String,
    pub name: String,
}

/// A SKU's stock: `available = onHand - reserved`.
#[derive(SimpleObject, Clone, Debug)]
pub struct StockLevel {
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
}

impl From<inventory_pb::StockLevel> for StockLevel {
    fn from(level: inventory_pb::StockLevel) -> Self {
        Self {
            sku: level.sku,
            on_hand: level.on_hand,
            reserved: level.reserved,
            available: level.available,
        }
    }
}

/// A catalog item. `stock` resolves through a DataLoader: a page of products costs one
/// Inventory call.
pub struct Product(pub product_pb::Product);

#[Object]
impl Product {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn sku(&self) -> &str {
        &self.0.sku
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn price(&self) -> Money {
        Money::from_proto(self.0.price.as_ref())
    }
    async fn category(&self) -> &str {
        &self.0.category
    }
    async fn image_url(&self) -> &str {
        &self.0.image_url
    }
    /// Archived products stay visible in carts and orders but cannot be bought.
    async fn archived(&self) -> bool {
        self.0.archived
    }
    /// Incremented on every change.
    async fn version(&self) -> i64 {
        self.0.version
    }
    async fn created_at(&self) -> Option<String> {
        timestamp(self.0.created_at.as_ref())
    }
    async fn updated_at(&self) -> Option<String> {
        timestamp(self.0.updated_at.as_ref())
    }
    /// Current stock; a SKU never stocked shows as zero.
    async fn stock(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<StockLevel>> {
        let level = ctx
            .data::<Loaders>()?
            .stock
            .load_one(self.0.sku.clone())
            .await?;
        Ok(level.map(StockLevel::from))
    }
}

#[derive(InputObject, Clone, Debug)]
pub struct ProductInput {
    pub sku: String,
    pub name: String,
    #[graphql(default)]
    pub description: String,
    pub price: MoneyInput,
    #[graphql(default)]
    pub category: String,
    #[graphql(default)]
    pub image_url: String,
}

/// Only the fields given are changed.
#[derive(InputObject, Clone, Debug, Default)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub price: Option<MoneyInput>,
    pub category: Option<String>,
    pub image_url: Option<String>,
}

/// Relay paging info.
#[derive(SimpleObject, Clone, Debug)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

#[derive(SimpleObject)]
pub struct ProductEdge {
    pub cursor: String,
    pub node: Product,
}

#[derive(SimpleObject)]
pub struct ProductConnection {
    pub edges: Vec<ProductEdge>,
    pub page_info: PageInfo,
}

/// A category of the catalog with how many listed products it has, for the category
/// filter.
#[derive(SimpleObject, Clone, Debug)]
pub struct CategoryCount {
    /// The slug that `products(category:)` filters by, e.g. "kitchen".
    pub slug: String,
    /// Non-archived products in it; at least 1.
    pub product_count: i32,
}

/// A guest's or a user's cart, priced at current prices.
pub struct Cart(pub cart_pb::Cart);

#[Object]
impl Cart {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn items(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CartItem>> {
        let lookahead = ctx.look_ahead();
        let product = lookahead.field("product");
        if product.exists() {
            let loaders = ctx.data::<Loaders>()?;
            let skus: Vec<String> = self.0.lines.iter().map(|line| line.sku.clone()).collect();
            if product.field("stock").exists() {
                futures::join!(
                    crate::loaders::prime(&loaders.products, skus.clone()),
                    crate::loaders::prime(&loaders.stock, skus)
                );
            } else {
                crate::loaders::prime(&loaders.products, skus).await;
            }
        }
        Ok(self.0.lines.iter().cloned().map(CartItem).collect())
    }
    async fn subtotal(&self) -> Money {
        Money::from_proto(self.0.subtotal.as_ref())
    }
    /// Units in the cart (the badge on the cart icon).
    async fn item_count(&self) -> i64 {
        self.0.item_count
    }
    async fn updated_at(&self) -> Option<String> {
        timestamp(self.0.updated_at.as_ref())
    }
    /// When an untouched cart is dropped.
    async fn expires_at(&self) -> Option<String> {
        timestamp(self.0.expires_at.as_ref())
    }
}

pub struct CartItem(pub cart_pb::CartLine);

#[Object]
impl CartItem {
    async fn sku(&self) -> &str {
        &self.0.sku
    }
    async fn quantity(&self) -> i64 {
        self.0.quantity
    }
    async fn unit_price(&self) -> Money {
        Money::from_proto(self.0.unit_price.as_ref())
    }
    async fn line_total(&self) -> Money {
        Money::from_proto(self.0.line_total.as_ref())
    }
    async fn product_name(&self) -> &str {
        &self.0.product_name
    }
    /// The product was archived after it was added: remove the line before checkout.
    async fn product_archived(&self) -> bool {
        self.0.product_archived
    }
    /// Through a DataLoader: a cart costs one Product call, however many lines.
    async fn product(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Product>> {
        Ok(ctx
            .data::<Loaders>()?
            .products
            .load_one(self.0.sku.clone())
            .await?
            .flatten()
            .map(Product))
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum OrderStatus {
    Pending,
    AwaitingPayment,
    Confirmed,
    Cancelled,
}

impl OrderStatus {
    pub fn from_proto(status: i32) -> Self {
        match order_pb::OrderStatus::try_from(status) {
            Ok(order_pb::OrderStatus::AwaitingPayment) => Self::AwaitingPayment,
            Ok(order_pb::OrderStatus::Confirmed) => Self::Confirmed,
            Ok(order_pb::OrderStatus::Cancelled) => Self::Cancelled,
            _ => Self::Pending,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Confirmed | Self::Cancelled)
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum CancelReason {
    OutOfStock,
    PaymentDeclined,
    PaymentFailed,
    ReservationExpired,
    CancelledByCustomer,
    CancelledByAdmin,
}

impl CancelReason {
    pub fn from_proto(reason: i32) -> Option<Self> {
        use order_pb::CancelReason as R;
        match R::try_from(reason).ok()? {
            R::Unspecified => None,
            R::OutOfStock => Some(Self::OutOfStock),
            R::PaymentDeclined => Some(Self::PaymentDeclined),
            R::PaymentFailed => Some(Self::PaymentFailed),
            R::ReservationExpired => Some(Self::ReservationExpired),
            R::CancelledByCustomer => Some(Self::CancelledByCustomer),
            R::CancelledByAdmin => Some(Self::CancelledByAdmin),
        }
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct Address {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

#[derive(InputObject, Clone, Debug)]
pub struct AddressInput {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, e.g. "DE".
    pub country: String,
}

impl AddressInput {
    pub fn to_proto(&self) -> common_pb::Address {
        common_pb::Address {
            name: self.name.clone(),
            line1: self.line1.clone(),
            line2: self.line2.clone().unwrap_or_default(),
            city: self.city.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
        }
    }
}

#[derive(InputObject, Clone, Debug)]
pub struct CheckoutInput {
    /// A Stripe PaymentMethod id, e.g. "pm_card_visa".
    pub payment_method: String,
    /// Chosen per checkout attempt and reused on its retries, so a retry never orders twice.
    pub idempotency_key: String,
    pub shipping_address: AddressInput,
}

#[derive(SimpleObject, Clone, Debug)]
pub struct OrderLine {
    pub sku: String,
    pub product_name: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub line_total: Money,
}

/// An order, as it stands; follow it live with `orderUpdated`.
pub struct Order(pub order_pb::Order);

impl Order {
    pub fn current_status(&self) -> OrderStatus {
        OrderStatus::from_proto(self.0.status)
    }
}

#[Object]
impl Order {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn status(&self) -> OrderStatus {
        OrderStatus::from_proto(self.0.status)
    }
    async fn lines(&self) -> Vec<OrderLine> {
        self.0
            .lines
            .iter()
            .map(|line| OrderLine {
                sku: line.sku.clone(),
                product_name: line.product_name.clone(),
                quantity: line.quantity,
                unit_price: Money::from_proto(line.unit_price.as_ref()),
                line_total: Money::from_proto(line.line_total.as_ref()),
            })
            .collect()
    }
    async fn total(&self) -> Money {
        Money::from_proto(self.0.total.as_ref())
    }
    /// Why the order was cancelled (`OUT_OF_STOCK`, `PAYMENT_DECLINED`, ...); null otherwise.
    async fn cancel_reason(&self) -> Option<CancelReason> {
        CancelReason::from_proto(self.0.cancel_reason)
    }
    async fn cancel_note(&self) -> Option<&str> {
        Some(self.0.cancel_note.as_str()).filter(|note| !note.is_empty())
    }
    async fn payment_method(&self) -> &str {
        &self.0.payment_method
    }
    /// Set while the payment needs customer action (3-D Secure): hand it to Stripe.js.
    async fn payment_client_secret(&self) -> Option<&str> {
        Some(self.0.payment_client_secret.as_str()).filter(|secret| !secret.is_empty())
    }
    /// Set while the order is AWAITING_PAYMENT and the shopper must authenticate the
    /// payment (3-D Secure) on their card issuer's page: send the browser here; it comes
    /// back to `/orders/{id}` with the outcome.
    async fn payment_action_url(&self) -> Option<&str> {
        Some(self.0.payment_redirect_url.as_str()).filter(|url| !url.is_empty())
    }
    async fn shipping_address(&self) -> Option<Address> {
        self.0.shipping_address.as_ref().map(|a| Address {
            name: a.name.clone(),
            line1: a.line1.clone(),
            line2: Some(a.line2.clone()).filter(|line| !line.is_empty()),
            city: a.city.clone(),
            postal_code: a.postal_code.clone(),
            country: a.country.clone(),
        })
    }
    async fn created_at(&self) -> Option<String> {
        timestamp(self.0.created_at.as_ref())
    }
    async fn updated_at(&self) -> Option<String> {
        timestamp(self.0.updated_at.as_ref())
    }
    /// Incremented on every change.
    async fn version(&self) -> i64 {
        self.0.version
    }
}

#[derive(SimpleObject)]
pub struct OrderEdge {
    pub cursor: String,
    pub node: Order,
}

#[derive(SimpleObject)]
pub struct OrderConnection {
    pub edges: Vec<OrderEdge>,
    pub page_info: PageInfo,
}

/// A Relay cursor over AIP page tokens: "the page starting at `token`, after skipping
/// `skip` items", so every edge (not only the last) is a valid `after`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    #[serde(rename = "t")]
    pub token: String,
    #[serde(rename = "s")]
    pub skip: u32,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// BAD_USER_INPUT on `after` for anything this API did not issue.
    pub fn decode(raw: &str) -> async_graphql::Result<Self> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|json| serde_json::from_slice::<Cursor>(&json).ok())
            .filter(|cursor| cursor.skip <= MAX_PAGE)
            .ok_or_else(|| crate::errors::bad_input("after", "is not a cursor from this API"))
    }
}

/// The most items one connection page may ask for.
pub const MAX_PAGE: u32 = 100;
/// `first` when not given.
pub const DEFAULT_PAGE: u32 = 20;

/// Validates `first`.
pub fn page_size(first: Option<i32>) -> async_graphql::Result<u32> {
    match first {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE as i32).contains(&n) => Ok(n as u32),
        Some(_) => Err(crate::errors::bad_input(
            "first",
            format!("must be between 1 and {MAX_PAGE}"),
        )),
    }
}

/// Cuts one page of `items` fetched from `cursor` (with `skip` already included in the
/// fetch) into Relay edges.
pub fn paginate<T>(
    cursor: &Cursor,
    mut items: Vec<T>,
    first: u32,
    next_page_token: String,
) -> (Vec<(String, T)>, PageInfo) {
    let skip = (cursor.skip as usize).min(items.len());
    items.drain(..skip);
    let more_in_this_fetch = items.len() > first as usize;
    items.truncate(first as usize);
    let count = items.len();
    let edges: Vec<(String, T)> = items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let edge_cursor =
                if index + 1 == count && !more_in_this_fetch && !next_page_token.is_empty() {
                    Cursor {
                        token: next_page_token.clone(),
                        skip: 0,
                    }
                } else {
                    Cursor {
                        token: cursor.token.clone(),
                        skip: cursor.skip + index as u32 + 1,
                    }
                };
            (edge_cursor.encode(), item)
        })
        .collect();
    let has_next_page = more_in_this_fetch || !next_page_token.is_empty();
    let end_cursor = edges.last().map(|(cursor, _)| cursor.clone());
    (
        edges,
        PageInfo {
            has_next_page,
            end_cursor,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_formatted() {
        let money = Money::from_proto(Some(&common_pb::Money {
            amount_minor: 1250,
            currency: "EUR".into(),
        }));
        assert_eq!(money.formatted, "12.50 EUR");
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_bad_input() {
        let cursor = Cursor {
            token: "abc".into(),
            skip: 3,
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(Cursor::decode("%%").is_err());
        assert!(page_size(Some(0)).is_err());
        assert!(page_size(Some(101)).is_err());
        assert_eq!(page_size(None).unwrap(), DEFAULT_PAGE);
    }

    #[test]
    fn every_edge_cursor_resumes_after_its_item() {
        let start = Cursor {
            token: String::new(),
            skip: 0,
        };
        let (edges, info) = paginate(&start, vec![1, 2, 3], 2, "next".into());
        assert_eq!(edges.len(), 2);
        assert!(info.has_next_page);
        let second = Cursor::decode(&edges[1].0).unwrap();
        assert_eq!(
            second,
            Cursor {
                token: String::new(),
                skip: 2
            }
        );
        let (edges, info) = paginate(&start, vec![1, 2], 2, "next".into());
        assert_eq!(Cursor::decode(&edges[1].0).unwrap().token, "next");
        assert!(info.has_next_page);
        let (_, info) = paginate(&start, vec![1], 2, String::new());
        assert!(!info.has_next_page);
    }
}
