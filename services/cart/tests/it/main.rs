//! The Cart service over real gRPC, against real Redis (a key prefix per test) and a real
//! Product service (on the MongoDB stand-in, a database per test) that prices the carts.

use std::time::{Duration, Instant};

use fred::prelude::*;
use shop_cart::{App, CartConfig};
use shop_kit::Service as _;
use shop_kit::auth::Role;
use shop_proto::shop::cart::v1::{
    self as pb, cart_ref::Key, cart_service_client::CartServiceClient,
};
use shop_proto::shop::common::v1::Money;
use shop_proto::shop::product::v1::{
    self as product_pb, product_service_client::ProductServiceClient,
};
use shop_testkit::{
    RunningService, TestAmqp, TestMongo, TestRedis, reason, token_for, violated_fields, with_token,
};
use tonic::transport::Channel;
use tonic::{Code, Status};

const DAY_MS: i64 = 24 * 3600 * 1000;
const GUEST_TTL_MS: i64 = 7 * DAY_MS;
const USER_TTL_MS: i64 = 30 * DAY_MS;
/// Slack for TTL and clock assertions: generous, the TTLs are days.
const SLACK_MS: i64 = 60_000;

type CartResult = Result<pb::Cart, Status>;

struct Harness {
    cart: CartServiceClient<Channel>,
    products: ProductServiceClient<Channel>,
    redis: TestRedis,
    /// The configuration the cart runs with, to start more instances on the same keys.
    config: CartConfig,
    admin: String,
    product: Option<RunningService>,
    cart_service: RunningService,
    _mongo: TestMongo,
    /// Its own exchange, never the production `shop.events`.
    _amqp: TestAmqp,
}

async fn start() -> Harness {
    start_with(|_| {}).await
}

async fn start_with(tweak: impl FnOnce(&mut CartConfig)) -> Harness {
    let mongo = TestMongo::create().await.expect("test mongo");
    let redis = TestRedis::create().await.expect("test redis");
    let amqp = TestAmqp::create().await.expect("test amqp");
    let bus = amqp.bus_config();
    let product = RunningService::start::<shop_product::App>(shop_product::ProductConfig {
        host: shop_testkit::test_host(),
        mongo: mongo.config(),
        amqp: bus.clone(),
        ..Default::default()
    })
    .await
    .expect("product service starts");
    let products = ProductServiceClient::new(product.channel().await.expect("product serving"));

    let mut config = CartConfig {
        host: shop_testkit::test_host(),
        redis_url: redis.url.clone(),
        key_prefix: redis.prefix.clone(),
        amqp: bus.clone(),
        product_url: format!("http://{}", product.addr),
        ..CartConfig::default()
    };
    tweak(&mut config);
    let (cart_service, cart) = spawn_cart(config.clone()).await;
    Harness {
        cart,
        products,
        redis,
        config,
        admin: token_for(&uuid::Uuid::now_v7().to_string(), Role::Admin),
        product: Some(product),
        cart_service,
        _mongo: mongo,
        _amqp: amqp,
    }
}

async fn spawn_cart(config: CartConfig) -> (RunningService, CartServiceClient<Channel>) {
    let service = RunningService::start::<App>(config)
        .await
        .expect("cart service starts");
    let client = CartServiceClient::new(service.channel().await.expect("cart serving"));
    (service, client)
}

fn request<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    match token {
        Some(token) => with_token(message, token),
        None => tonic::Request::new(message),
    }
}

fn new_guest_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn guest(id: &str) -> Option<pb::CartRef> {
    Some(pb::CartRef {
        key: Some(Key::GuestCartId(id.to_owned())),
    })
}

fn user(id: &str) -> Option<pb::CartRef> {
    Some(pb::CartRef {
        key: Some(Key::UserId(id.to_owned())),
    })
}

fn money(amount_minor: i64, currency: &str) -> Option<Money> {
    Some(Money {
        amount_minor,
        currency: currency.into(),
    })
}

fn eur(amount_minor: i64) -> Option<Money> {
    money(amount_minor, "EUR")
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn millis(timestamp: &prost_types::Timestamp) -> i64 {
    timestamp.seconds * 1000 + i64::from(timestamp.nanos) / 1_000_000
}

/// (sku, quantity) of every line, in cart order.
fn lines(cart: &pb::Cart) -> Vec<(String, i64)> {
    cart.lines
        .iter()
        .map(|line| (line.sku.clone(), line.quantity))
        .collect()
}

fn expect_code(result: CartResult, code: Code) -> Status {
    match result {
        Ok(cart) => panic!("expected {code:?}, got a cart: {cart:?}"),
        Err(status) => {
            assert_eq!(status.code(), code, "{status:?}");
            status
        }
    }
}

impl Harness {
    fn guest_key(&self, id: &str) -> String {
        format!("{}cart:g:{id}", self.redis.prefix)
    }

    fn user_key(&self, id: &str) -> String {
        format!("{}cart:u:{id}", self.redis.prefix)
    }

    async fn pttl(&self, key: &str) -> i64 {
        self.redis.client.pttl(key).await.expect("PTTL")
    }

    /// Shortens a key's TTL, as if the cart had been left alone for days.
    async fn age(&self, key: &str) {
        let _: i64 = self
            .redis
            .client
            .pexpire(key, 5_000, None)
            .await
            .expect("PEXPIRE");
        assert!(self.pttl(key).await <= 5_000);
    }

    async fn sorted_keys(&self) -> Vec<String> {
        let mut keys = self.redis.keys().await.expect("scan keys");
        keys.sort();
        keys
    }

    async fn create_product(&self, sku: &str, price: Option<Money>) -> product_pb::Product {
        self.products
            .clone()
            .create_product(with_token(
                product_pb::CreateProductRequest {
                    product: Some(product_pb::Product {
                        sku: sku.into(),
                        name: format!("Product {sku}"),
                        price,
                        category: "misc".into(),
                        image_url: format!("/images/{sku}.jpg"),
                        ..Default::default()
                    }),
                    idempotency_key: String::new(),
                },
                &self.admin,
            ))
            .await
            .expect("create product")
            .into_inner()
            .product
            .expect("product")
    }

    async fn archive(&self, product: &product_pb::Product) {
        self.products
            .clone()
            .archive_product(with_token(
                product_pb::ArchiveProductRequest {
                    id: product.id.clone(),
                    expected_version: 0,
                },
                &self.admin,
            ))
            .await
            .expect("archive product");
    }

    async fn reprice(&self, product: &product_pb::Product, price: Option<Money>) {
        self.products
            .clone()
            .update_product(with_token(
                product_pb::UpdateProductRequest {
                    product: Some(product_pb::Product {
                        id: product.id.clone(),
                        price,
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["price".into()],
                    }),
                    expected_version: 0,
                },
                &self.admin,
            ))
            .await
            .expect("reprice product");
    }

    async fn get(&self, cart: Option<pb::CartRef>, token: Option<&str>) -> CartResult {
        self.get_on(&self.cart, cart, token).await
    }

    async fn get_on(
        &self,
        client: &CartServiceClient<Channel>,
        cart: Option<pb::CartRef>,
        token: Option<&str>,
    ) -> CartResult {
        let reply = client
            .clone()
            .get_cart(request(pb::GetCartRequest { cart }, token))
            .await?;
        Ok(reply.into_inner().cart.expect("cart"))
    }

    async fn add(
        &self,
        cart: Option<pb::CartRef>,
        sku: &str,
        quantity: i64,
        token: Option<&str>,
    ) -> CartResult {
        self.add_keyed(cart, sku, quantity, "", token).await
    }

    async fn add_keyed(
        &self,
        cart: Option<pb::CartRef>,
        sku: &str,
        quantity: i64,
        idempotency_key: &str,
        token: Option<&str>,
    ) -> CartResult {
        let reply = self
            .cart
            .clone()
            .add_item(request(
                pb::AddItemRequest {
                    cart,
                    sku: sku.into(),
                    quantity,
                    idempotency_key: idempotency_key.into(),
                },
                token,
            ))
            .await?;
        Ok(reply.into_inner().cart.expect("cart"))
    }

    async fn update(
        &self,
        cart: Option<pb::CartRef>,
        sku: &str,
        quantity: i64,
        token: Option<&str>,
    ) -> CartResult {
        let reply = self
            .cart
            .clone()
            .update_item(request(
                pb::UpdateItemRequest {
                    cart,
                    sku: sku.into(),
                    quantity,
                },
                token,
            ))
            .await?;
        Ok(reply.into_inner().cart.expect("cart"))
    }

    async fn remove(
        &self,
        cart: Option<pb::CartRef>,
        sku: &str,
        token: Option<&str>,
    ) -> CartResult {
        let reply = self
            .cart
            .clone()
            .remove_item(request(
                pb::RemoveItemRequest {
                    cart,
                    sku: sku.into(),
                },
                token,
            ))
            .await?;
        Ok(reply.into_inner().cart.expect("cart"))
    }

    async fn clear(&self, cart: Option<pb::CartRef>, token: Option<&str>) -> CartResult {
        let reply = self
            .cart
            .clone()
            .clear_cart(request(pb::ClearCartRequest { cart }, token))
            .await?;
        Ok(reply.into_inner().cart.expect("cart"))
    }

    async fn merge(&self, guest_cart_id: &str, user_id: &str, token: Option<&str>) -> CartResult {
        let reply = self
            .cart
            .clone()
            .merge_carts(request(
                pb::MergeCartsRequest {
                    guest_cart_id: guest_cart_id.into(),
                    user_id: user_id.into(),
                },
                token,
            ))
            .await?;
        Ok(reply.into_inner().cart.expect("cart"))
    }
}

#[tokio::test]
async fn a_guest_cart_goes_through_every_rpc_priced_by_product() {
    let h = start().await;
    h.create_product("MUG-1", eur(1299)).await;
    h.create_product("TEA-1", eur(450)).await;
    h.create_product("CUP-1", eur(800)).await;
    let id = new_guest_id();

    let empty = h.get(guest(&id), None).await.unwrap();
    assert_eq!(empty.id, id);
    assert!(empty.lines.is_empty());
    assert_eq!(empty.subtotal, eur(0));
    assert_eq!(empty.item_count, 0);
    assert!(empty.updated_at.is_none() && empty.expires_at.is_none());
    assert!(empty.user_id.is_empty());
    assert!(h.sorted_keys().await.is_empty(), "reading creates nothing");

    let before = now_ms();
    let cart = h.add(guest(&id), "MUG-1", 2, None).await.unwrap();
    assert_eq!(cart.id, id);
    let mug = &cart.lines[0];
    assert_eq!((mug.sku.as_str(), mug.quantity), ("MUG-1", 2));
    assert_eq!(mug.unit_price, eur(1299));
    assert_eq!(mug.line_total, eur(2598));
    assert_eq!(mug.product_name, "Product MUG-1");
    assert_eq!(mug.image_url, "/images/MUG-1.jpg");
    assert!(!mug.product_archived);
    assert_eq!(cart.subtotal, eur(2598));
    let updated_at = millis(cart.updated_at.as_ref().unwrap());
    assert!(updated_at >= before - 1000 && updated_at <= now_ms() + 1000);
    let expires_at = millis(cart.expires_at.as_ref().unwrap());
    assert!((expires_at - (before + GUEST_TTL_MS)).abs() < SLACK_MS);

    // SKUs are normalised; new lines go to the end, more units keep a line's place.
    h.add(guest(&id), " tea-1 ", 1, None).await.unwrap();
    let cart = h.add(guest(&id), "MUG-1", 1, None).await.unwrap();
    assert_eq!(lines(&cart), [("MUG-1".into(), 3), ("TEA-1".into(), 1)]);

    // UpdateItem is absolute and adds a missing line; 0 removes.
    let cart = h.update(guest(&id), "TEA-1", 4, None).await.unwrap();
    assert_eq!(lines(&cart), [("MUG-1".into(), 3), ("TEA-1".into(), 4)]);
    assert_eq!(cart.subtotal, eur(3 * 1299 + 4 * 450));
    assert_eq!(cart.item_count, 7);
    let cart = h.update(guest(&id), "cup-1", 1, None).await.unwrap();
    assert_eq!(lines(&cart).last().unwrap(), &("CUP-1".into(), 1));
    let cart = h.update(guest(&id), "MUG-1", 0, None).await.unwrap();
    assert_eq!(lines(&cart), [("TEA-1".into(), 4), ("CUP-1".into(), 1)]);

    // RemoveItem removes, and is a no-op for a line that is not there.
    let cart = h.remove(guest(&id), "CUP-1", None).await.unwrap();
    assert_eq!(lines(&cart), [("TEA-1".into(), 4)]);
    let again = h.remove(guest(&id), "CUP-1", None).await.unwrap();
    assert_eq!(lines(&again), lines(&cart));
    assert_eq!(again.updated_at, cart.updated_at, "nothing changed");

    // A removed SKU added again starts a new line at the end.
    let cart = h.add(guest(&id), "MUG-1", 1, None).await.unwrap();
    assert_eq!(lines(&cart), [("TEA-1".into(), 4), ("MUG-1".into(), 1)]);
    let read = h.get(guest(&id), None).await.unwrap();
    assert_eq!(read.lines, cart.lines);
    assert_eq!(read.subtotal, cart.subtotal);
    assert_eq!(read.updated_at, cart.updated_at);

    let cleared = h.clear(guest(&id), None).await.unwrap();
    assert!(cleared.lines.is_empty() && cleared.item_count == 0);
    assert_eq!(cleared.subtotal, eur(0));
    assert!(
        h.sorted_keys().await.is_empty(),
        "an empty cart is not stored"
    );
    assert!(h.get(guest(&id), None).await.unwrap().lines.is_empty());
    // Removing the last line also deletes the cart.
    h.add(guest(&id), "TEA-1", 1, None).await.unwrap();
    h.remove(guest(&id), "TEA-1", None).await.unwrap();
    assert!(h.sorted_keys().await.is_empty());

    let channel = shop_testkit::connect(h.cart_service.addr).await.unwrap();
    let services = shop_testkit::reflected_services(channel).await.unwrap();
    assert!(services.contains(&"shop.cart.v1.CartService".to_owned()));
}

#[tokio::test]
async fn bad_requests_are_invalid_argument_naming_every_field() {
    let h = start().await;
    let id = new_guest_id();

    let status = expect_code(h.get(None, None).await, Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["cart"]);
    let status = expect_code(
        h.get(Some(pb::CartRef { key: None }), None).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["cart"]);

    let status = expect_code(
        h.add_keyed(guest("cart-1"), "?", 0, "has space", None)
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(
        violated_fields(&status),
        ["cart.guest_cart_id", "sku", "quantity", "idempotency_key"]
    );
    for guessable in [
        uuid::Uuid::nil().to_string(),
        uuid::Uuid::now_v7().to_string(),
    ] {
        let status = expect_code(h.get(guest(&guessable), None).await, Code::InvalidArgument);
        assert_eq!(violated_fields(&status), ["cart.guest_cart_id"]);
    }
    let status = expect_code(h.get(user("a:b"), None).await, Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["cart.user_id"]);

    for quantity in [-1, 100, i64::MAX] {
        let status = expect_code(
            h.add(guest(&id), "MUG-1", quantity, None).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), ["quantity"], "{quantity}");
    }
    for quantity in [-1, 100] {
        let status = expect_code(
            h.update(guest(&id), "MUG-1", quantity, None).await,
            Code::InvalidArgument,
        );
        assert_eq!(violated_fields(&status), ["quantity"], "{quantity}");
    }
    let status = expect_code(
        h.add_keyed(guest(&id), "MUG-1", 1, &"k".repeat(129), None)
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["idempotency_key"]);
    let status = expect_code(h.remove(guest(&id), "", None).await, Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["sku"]);
    let status = expect_code(h.clear(None, None).await, Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["cart"]);
    let status = expect_code(h.merge("nope", "", None).await, Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["guest_cart_id", "user_id"]);

    assert!(h.sorted_keys().await.is_empty());
}

#[tokio::test]
async fn lines_and_quantities_stay_within_the_limits() {
    let h = start_with(|config| {
        config.max_lines = 2;
        config.max_quantity_per_line = 5;
    })
    .await;
    for sku in ["A-1", "B-1", "C-1"] {
        h.create_product(sku, eur(100)).await;
    }
    let id = new_guest_id();

    h.add(guest(&id), "A-1", 3, None).await.unwrap();
    let status = expect_code(
        h.add(guest(&id), "A-1", 3, None).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["quantity"]);
    assert!(
        status.message().contains("already has 3 units"),
        "{status:?}"
    );
    let cart = h.add(guest(&id), "A-1", 2, None).await.unwrap();
    assert_eq!(
        lines(&cart),
        [("A-1".into(), 5)],
        "exactly at the limit is fine"
    );

    h.add(guest(&id), "B-1", 1, None).await.unwrap();
    let status = expect_code(
        h.add(guest(&id), "C-1", 1, None).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["sku"]);
    let status = expect_code(
        h.update(guest(&id), "C-1", 1, None).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["sku"]);
    let status = expect_code(
        h.update(guest(&id), "B-1", 6, None).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["quantity"]);
    let cart = h.update(guest(&id), "B-1", 5, None).await.unwrap();
    assert_eq!(lines(&cart), [("A-1".into(), 5), ("B-1".into(), 5)]);
    assert_eq!(
        lines(&h.get(guest(&id), None).await.unwrap()),
        lines(&cart),
        "refused writes changed nothing"
    );
}

#[tokio::test]
async fn unknown_and_archived_products_cannot_be_added() {
    let h = start().await;
    let gone = h.create_product("GONE-1", eur(100)).await;
    h.archive(&gone).await;
    let id = new_guest_id();

    let status = expect_code(h.add(guest(&id), "NOPE-1", 1, None).await, Code::NotFound);
    assert!(status.message().contains("NOPE-1"));
    expect_code(
        h.update(guest(&id), "NOPE-1", 1, None).await,
        Code::NotFound,
    );
    let status = expect_code(
        h.add(guest(&id), "GONE-1", 1, None).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status).as_deref(), Some("PRODUCT_ARCHIVED"));
    let status = expect_code(
        h.update(guest(&id), "GONE-1", 1, None).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status).as_deref(), Some("PRODUCT_ARCHIVED"));
    assert!(h.sorted_keys().await.is_empty(), "nothing was written");
}

#[tokio::test]
async fn a_product_archived_after_adding_stays_in_the_cart_priced_and_flagged() {
    let h = start().await;
    let mug = h.create_product("MUG-1", eur(1299)).await;
    h.create_product("TEA-1", eur(450)).await;
    let id = new_guest_id();
    h.add(guest(&id), "MUG-1", 2, None).await.unwrap();
    h.add(guest(&id), "TEA-1", 1, None).await.unwrap();

    h.archive(&mug).await;
    let cart = h.get(guest(&id), None).await.unwrap();
    assert_eq!(lines(&cart), [("MUG-1".into(), 2), ("TEA-1".into(), 1)]);
    assert!(cart.lines[0].product_archived);
    assert_eq!(cart.lines[0].unit_price, eur(1299));
    assert_eq!(cart.lines[0].line_total, eur(2598));
    assert!(!cart.lines[1].product_archived);
    assert_eq!(cart.subtotal, eur(2598 + 450));

    let status = expect_code(
        h.add(guest(&id), "MUG-1", 1, None).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status).as_deref(), Some("PRODUCT_ARCHIVED"));
    let cart = h.remove(guest(&id), "MUG-1", None).await.unwrap();
    assert_eq!(lines(&cart), [("TEA-1".into(), 1)]);
}

#[tokio::test]
async fn a_sku_the_catalog_no_longer_knows_is_shown_archived_and_unpriced() {
    let h = start().await;
    h.create_product("TEA-1", eur(450)).await;
    let id = new_guest_id();
    h.add(guest(&id), "TEA-1", 2, None).await.unwrap();
    // A line whose product has since vanished from the catalog (e.g. removed by hand).
    let _: i64 = h
        .redis
        .client
        .hset(
            h.guest_key(&id),
            [("q:GHOST-1", "3"), ("o:GHOST-1", "99"), ("seq", "99")],
        )
        .await
        .unwrap();

    let cart = h.get(guest(&id), None).await.unwrap();
    assert_eq!(lines(&cart), [("TEA-1".into(), 2), ("GHOST-1".into(), 3)]);
    let ghost = &cart.lines[1];
    assert!(ghost.product_archived);
    assert!(ghost.unit_price.is_none() && ghost.line_total.is_none());
    assert!(ghost.product_name.is_empty());
    assert_eq!(cart.subtotal, eur(900), "no price is invented for it");
    assert_eq!(cart.item_count, 5);

    let cart = h.remove(guest(&id), "GHOST-1", None).await.unwrap();
    assert_eq!(lines(&cart), [("TEA-1".into(), 2)]);
}

#[tokio::test]
async fn currencies_are_never_mixed_in_a_subtotal() {
    let h = start().await;
    h.create_product("USD-1", money(500, "USD")).await;
    let mug = h.create_product("MUG-1", eur(1299)).await;
    h.create_product("TEA-1", eur(450)).await;
    let id = new_guest_id();

    let status = expect_code(
        h.add(guest(&id), "USD-1", 1, None).await,
        Code::FailedPrecondition,
    );
    assert_eq!(reason(&status).as_deref(), Some("CURRENCY_MISMATCH"));

    h.add(guest(&id), "MUG-1", 1, None).await.unwrap();
    h.add(guest(&id), "TEA-1", 1, None).await.unwrap();
    h.reprice(&mug, money(1500, "USD")).await;
    let status = expect_code(h.get(guest(&id), None).await, Code::FailedPrecondition);
    assert_eq!(reason(&status).as_deref(), Some("CURRENCY_MISMATCH"));
    assert!(status.message().contains("MUG-1"));
    // The customer can still take the offending line out.
    let cart = h.remove(guest(&id), "MUG-1", None).await.unwrap();
    assert_eq!(cart.subtotal, eur(450));
}

#[tokio::test]
async fn a_user_cart_is_only_open_to_its_owner_and_admins() {
    let h = start().await;
    h.create_product("MUG-1", eur(1299)).await;
    let owner = uuid::Uuid::now_v7().to_string();
    let owner_token = token_for(&owner, Role::Customer);
    let stranger = token_for(&uuid::Uuid::now_v7().to_string(), Role::Customer);

    let cart = h
        .add(user(&owner), "MUG-1", 1, Some(&owner_token))
        .await
        .unwrap();
    assert_eq!(cart.id, format!("user:{owner}"));
    assert_eq!(cart.user_id, owner);
    let expires_at = millis(cart.expires_at.as_ref().unwrap());
    assert!((expires_at - (now_ms() + USER_TTL_MS)).abs() < SLACK_MS);

    let guest_id = new_guest_id();
    for (token, code) in [
        (None, Code::Unauthenticated),
        (Some("not-a-jwt"), Code::Unauthenticated),
        (Some(stranger.as_str()), Code::PermissionDenied),
    ] {
        let target = || user(&owner);
        expect_code(h.get(target(), token).await, code);
        expect_code(h.add(target(), "MUG-1", 1, token).await, code);
        expect_code(h.update(target(), "MUG-1", 5, token).await, code);
        expect_code(h.remove(target(), "MUG-1", token).await, code);
        expect_code(h.clear(target(), token).await, code);
        expect_code(h.merge(&guest_id, &owner, token).await, code);
    }
    let cart = h.get(user(&owner), Some(&owner_token)).await.unwrap();
    assert_eq!(lines(&cart), [("MUG-1".into(), 1)], "nothing changed");

    let as_admin = h
        .update(user(&owner), "MUG-1", 3, Some(&h.admin))
        .await
        .unwrap();
    assert_eq!(lines(&as_admin), [("MUG-1".into(), 3)]);

    // A guest cart needs nothing but its id, whoever calls.
    h.add(guest(&guest_id), "MUG-1", 1, None).await.unwrap();
    let seen = h.get(guest(&guest_id), Some(&stranger)).await.unwrap();
    assert_eq!(lines(&seen), [("MUG-1".into(), 1)]);
}

#[tokio::test]
async fn merging_sums_quantities_caps_them_keeps_order_and_deletes_the_guest_cart() {
    let h = start_with(|config| config.max_quantity_per_line = 5).await;
    for sku in ["A-1", "B-1", "C-1"] {
        h.create_product(sku, eur(100)).await;
    }
    let owner = uuid::Uuid::now_v7().to_string();
    let token = token_for(&owner, Role::Customer);
    let guest_id = new_guest_id();
    h.add(user(&owner), "A-1", 2, Some(&token)).await.unwrap();
    h.add(user(&owner), "B-1", 1, Some(&token)).await.unwrap();
    h.add(guest(&guest_id), "C-1", 3, None).await.unwrap();
    h.add(guest(&guest_id), "B-1", 5, None).await.unwrap();
    h.age(&h.user_key(&owner)).await;

    let merged = h.merge(&guest_id, &owner, Some(&token)).await.unwrap();
    assert_eq!(
        lines(&merged),
        [("A-1".into(), 2), ("B-1".into(), 5), ("C-1".into(), 3)],
        "B-1 summed to 6 and capped at 5; C-1 appended"
    );
    assert_eq!(merged.user_id, owner);
    assert_eq!(merged.subtotal, eur(1000));
    assert_eq!(
        h.sorted_keys().await,
        [h.user_key(&owner)],
        "the guest cart is gone"
    );
    assert!(h.pttl(&h.user_key(&owner)).await > USER_TTL_MS - SLACK_MS);
    assert!(
        h.get(guest(&guest_id), None)
            .await
            .unwrap()
            .lines
            .is_empty()
    );

    // A retry finds no guest cart and changes nothing.
    let again = h.merge(&guest_id, &owner, Some(&token)).await.unwrap();
    assert_eq!(lines(&again), lines(&merged));
    assert_eq!(again.updated_at, merged.updated_at);

    // Admins may merge for a user.
    let other_guest = new_guest_id();
    h.add(guest(&other_guest), "A-1", 1, None).await.unwrap();
    let by_admin = h.merge(&other_guest, &owner, Some(&h.admin)).await.unwrap();
    assert_eq!(lines(&by_admin)[0], ("A-1".into(), 3));
}

#[tokio::test]
async fn merging_a_missing_guest_cart_is_a_no_op() {
    let h = start().await;
    h.create_product("A-1", eur(100)).await;
    let owner = uuid::Uuid::now_v7().to_string();
    let token = token_for(&owner, Role::Customer);

    let empty = h
        .merge(&new_guest_id(), &owner, Some(&token))
        .await
        .unwrap();
    assert!(empty.lines.is_empty() && empty.updated_at.is_none());
    assert!(h.sorted_keys().await.is_empty(), "no user cart was created");

    let cart = h.add(user(&owner), "A-1", 2, Some(&token)).await.unwrap();
    let merged = h
        .merge(&new_guest_id(), &owner, Some(&token))
        .await
        .unwrap();
    assert_eq!(lines(&merged), lines(&cart));
    assert_eq!(merged.updated_at, cart.updated_at);
}

#[tokio::test]
async fn merging_into_a_full_user_cart_drops_the_guest_lines_that_do_not_fit() {
    let h = start_with(|config| config.max_lines = 3).await;
    for sku in ["A-1", "B-1", "C-1", "D-1"] {
        h.create_product(sku, eur(100)).await;
    }
    let owner = uuid::Uuid::now_v7().to_string();
    let token = token_for(&owner, Role::Customer);
    let guest_id = new_guest_id();
    h.add(user(&owner), "A-1", 1, Some(&token)).await.unwrap();
    h.add(user(&owner), "B-1", 1, Some(&token)).await.unwrap();
    h.add(guest(&guest_id), "C-1", 1, None).await.unwrap();
    h.add(guest(&guest_id), "D-1", 1, None).await.unwrap();
    h.add(guest(&guest_id), "A-1", 4, None).await.unwrap();

    let merged = h.merge(&guest_id, &owner, Some(&token)).await.unwrap();
    assert_eq!(
        lines(&merged),
        [("A-1".into(), 5), ("B-1".into(), 1), ("C-1".into(), 1)],
        "lines already in the cart always merge; new ones while there is room, oldest first"
    );
    assert_eq!(h.sorted_keys().await, [h.user_key(&owner)]);
}

#[tokio::test]
async fn expiry_is_set_per_kind_and_refreshed_by_every_write() {
    let h = start().await;
    h.create_product("A-1", eur(100)).await;
    h.create_product("B-1", eur(100)).await;
    let id = new_guest_id();
    let key = h.guest_key(&id);
    let fresh = |pttl: i64, ttl: i64| pttl > ttl - SLACK_MS && pttl <= ttl;

    h.add(guest(&id), "A-1", 1, None).await.unwrap();
    assert!(fresh(h.pttl(&key).await, GUEST_TTL_MS));
    h.age(&key).await;
    h.add(guest(&id), "B-1", 1, None).await.unwrap();
    assert!(fresh(h.pttl(&key).await, GUEST_TTL_MS), "AddItem refreshes");
    h.age(&key).await;
    h.update(guest(&id), "B-1", 3, None).await.unwrap();
    assert!(
        fresh(h.pttl(&key).await, GUEST_TTL_MS),
        "UpdateItem refreshes"
    );
    h.age(&key).await;
    h.remove(guest(&id), "B-1", None).await.unwrap();
    assert!(
        fresh(h.pttl(&key).await, GUEST_TTL_MS),
        "RemoveItem refreshes"
    );
    h.age(&key).await;
    h.remove(guest(&id), "NOT-THERE", None).await.unwrap();
    assert!(
        fresh(h.pttl(&key).await, GUEST_TTL_MS),
        "so does a RemoveItem that finds nothing to remove"
    );
    h.age(&key).await;
    h.get(guest(&id), None).await.unwrap();
    assert!(h.pttl(&key).await <= 5_000, "reading does not refresh");
    let cart = h.get(guest(&id), None).await.unwrap();
    let expires_in = millis(cart.expires_at.as_ref().unwrap()) - now_ms();
    assert!(expires_in <= 5_000 + 1000, "expires_at follows the TTL");

    let owner = uuid::Uuid::now_v7().to_string();
    let token = token_for(&owner, Role::Customer);
    h.add(user(&owner), "A-1", 1, Some(&token)).await.unwrap();
    let user_key = h.user_key(&owner);
    assert!(fresh(h.pttl(&user_key).await, USER_TTL_MS));
    h.age(&user_key).await;
    h.update(user(&owner), "A-1", 2, Some(&token))
        .await
        .unwrap();
    assert!(fresh(h.pttl(&user_key).await, USER_TTL_MS));

    // Every key the service wrote has a TTL.
    for key in h.sorted_keys().await {
        assert!(h.pttl(&key).await > 0, "{key} has no TTL");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_to_one_line_all_count() {
    let h = start().await;
    h.create_product("MUG-1", eur(100)).await;
    let id = new_guest_id();
    let adds = (0..50).map(|_| {
        let client = h.cart.clone();
        let id = id.clone();
        tokio::spawn(async move {
            client
                .clone()
                .add_item(pb::AddItemRequest {
                    cart: guest(&id),
                    sku: "MUG-1".into(),
                    quantity: 1,
                    idempotency_key: String::new(),
                })
                .await
        })
    });
    for outcome in futures::future::join_all(adds).await {
        outcome.expect("task").expect("add");
    }
    let cart = h.get(guest(&id), None).await.unwrap();
    assert_eq!(lines(&cart), [("MUG-1".into(), 50)]);
    assert_eq!(cart.subtotal, eur(5000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_applies_an_add_once() {
    let h = start().await;
    h.create_product("MUG-1", eur(100)).await;
    let id = new_guest_id();

    let first = h
        .add_keyed(guest(&id), "MUG-1", 2, "k1", None)
        .await
        .unwrap();
    assert_eq!(lines(&first), [("MUG-1".into(), 2)]);
    let retry = h
        .add_keyed(guest(&id), "MUG-1", 2, "k1", None)
        .await
        .unwrap();
    assert_eq!(
        lines(&retry),
        [("MUG-1".into(), 2)],
        "the retry is not applied"
    );
    let other = h
        .add_keyed(guest(&id), "MUG-1", 2, "k2", None)
        .await
        .unwrap();
    assert_eq!(
        lines(&other),
        [("MUG-1".into(), 4)],
        "another key is another add"
    );
    let status = expect_code(
        h.add_keyed(guest(&id), "MUG-1", 3, "k1", None).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["idempotency_key"]);

    let idem_key = format!("{}:idem:k1", h.guest_key(&id));
    assert!(h.sorted_keys().await.contains(&idem_key));
    let pttl = h.pttl(&idem_key).await;
    assert!(pttl > 540_000 && pttl <= 600_000, "{pttl}");

    // Concurrent retries of one add still apply it once.
    let racers = (0..10).map(|_| {
        let client = h.cart.clone();
        let id = id.clone();
        tokio::spawn(async move {
            client
                .clone()
                .add_item(pb::AddItemRequest {
                    cart: guest(&id),
                    sku: "MUG-1".into(),
                    quantity: 1,
                    idempotency_key: "k3".into(),
                })
                .await
        })
    });
    for outcome in futures::future::join_all(racers).await {
        outcome.expect("task").expect("add");
    }
    let cart = h.get(guest(&id), None).await.unwrap();
    assert_eq!(lines(&cart), [("MUG-1".into(), 5)]);

    // A refused add records nothing: the key still works for a valid request.
    let status = expect_code(
        h.add_keyed(guest(&id), "MUG-1", 99, "k4", None).await,
        Code::InvalidArgument,
    );
    assert_eq!(violated_fields(&status), ["quantity"]);
    let cart = h
        .add_keyed(guest(&id), "MUG-1", 1, "k4", None)
        .await
        .unwrap();
    assert_eq!(lines(&cart), [("MUG-1".into(), 6)]);
}

#[tokio::test]
async fn a_product_outage_is_unavailable_never_a_wrong_price() {
    let mut h = start().await;
    h.create_product("MUG-1", eur(1299)).await;
    let id = new_guest_id();
    h.add(guest(&id), "MUG-1", 2, None).await.unwrap();
    let stored_before = h.sorted_keys().await;

    h.product.take().unwrap().stop().await.unwrap();

    expect_code(h.get(guest(&id), None).await, Code::Unavailable);
    expect_code(h.add(guest(&id), "MUG-1", 1, None).await, Code::Unavailable);
    let fields: Vec<(String, String)> = h
        .redis
        .client
        .hgetall::<std::collections::HashMap<String, String>, _>(h.guest_key(&id))
        .await
        .unwrap()
        .into_iter()
        .filter(|(field, _)| field.starts_with("q:"))
        .collect();
    assert_eq!(
        fields,
        [("q:MUG-1".into(), "2".into())],
        "the refused add wrote nothing"
    );
    assert_eq!(h.sorted_keys().await, stored_before);

    // An empty cart needs no prices: it is served while Product is down.
    let cleared = h.clear(guest(&id), None).await.unwrap();
    assert!(cleared.lines.is_empty());
    assert!(
        h.get(guest(&new_guest_id()), None)
            .await
            .unwrap()
            .lines
            .is_empty()
    );
}

#[tokio::test]
async fn a_product_service_that_is_not_there_or_hangs_is_unavailable_within_the_deadline() {
    let h = start().await;
    h.create_product("MUG-1", eur(1299)).await;
    let id = new_guest_id();
    h.add(guest(&id), "MUG-1", 2, None).await.unwrap();

    // Nothing listens on this port any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    // This one accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();

    for product_url in [
        format!("http://127.0.0.1:{closed_port}"),
        format!("http://{silent_addr}"),
    ] {
        let mut config = h.config.clone();
        config.product_url = product_url.clone();
        config.product_deadline_ms = 300;
        let (_service, client) = spawn_cart(config).await;
        let started = Instant::now();
        let status = expect_code(h.get_on(&client, guest(&id), None).await, Code::Unavailable);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{product_url}: took {:?}",
            started.elapsed()
        );
        assert!(status.message().contains("catalog"), "{status:?}");
        let other = new_guest_id();
        let status = client
            .clone()
            .add_item(pb::AddItemRequest {
                cart: guest(&other),
                sku: "MUG-1".into(),
                quantity: 1,
                idempotency_key: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{product_url}");
        assert!(!h.sorted_keys().await.contains(&h.guest_key(&other)));
    }
    drop(silent);
}

#[tokio::test]
async fn start_up_fails_fast_without_redis_or_with_a_bad_configuration() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let base = CartConfig {
        host: shop_testkit::test_host(),
        redis_url: std::env::var("SHOP_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        ..CartConfig::default()
    };
    let started = Instant::now();
    let no_redis = App::build(CartConfig {
        redis_url: format!("redis://127.0.0.1:{closed_port}"),
        ..base.clone()
    })
    .await;
    assert!(no_redis.is_err());
    assert!(started.elapsed() < Duration::from_secs(15));

    for bad in [
        CartConfig {
            max_lines: 0,
            ..base.clone()
        },
        CartConfig {
            max_lines: 201,
            ..base.clone()
        },
        CartConfig {
            currency: "euro".into(),
            ..base.clone()
        },
        CartConfig {
            guest_ttl_secs: 0,
            ..base.clone()
        },
        CartConfig {
            host: shop_kit::server::HostConfig {
                jwt_public_key_pem: None,
                ..base.host.clone()
            },
            ..base.clone()
        },
    ] {
        assert!(App::build(bad).await.is_err());
    }
}
