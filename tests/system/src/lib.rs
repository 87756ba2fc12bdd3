//! A whole shopmesh in one test process: every service spawned on port 0 against its own
//! MySQL database, Mongo database, Redis prefix and RabbitMQ exchange, wired together
//! exactly as `just up` wires the binaries. Tests talk to it over real gRPC and watch the
//! real event stream.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use shop_bus::{Broker, BusConfig};
use shop_kit::auth::Role;
use shop_proto::shop::cart::v1::cart_service_client::CartServiceClient;
use shop_proto::shop::inventory::v1::inventory_service_client::InventoryServiceClient;
use shop_proto::shop::order::v1::order_service_client::OrderServiceClient;
use shop_proto::shop::product::v1::product_service_client::ProductServiceClient;
pub use shop_testkit::EventWatch;
use shop_testkit::{RunningService, Scrape, TestAmqp, TestMongo, TestMysql, TestRedis, token_for};
use tonic::transport::Channel;

/// The backends one system uses, kept alive as long as the system.
pub struct Backends {
    pub mysql_order: TestMysql,
    pub mysql_payment: TestMysql,
    pub mongo: TestMongo,
    pub redis: TestRedis,
    pub amqp: TestAmqp,
}

impl Backends {
    pub async fn create() -> anyhow::Result<Self> {
        Ok(Self {
            mysql_order: TestMysql::create().await?,
            mysql_payment: TestMysql::create().await?,
            mongo: TestMongo::create().await?,
            redis: TestRedis::create().await?,
            amqp: TestAmqp::create().await?,
        })
    }

    pub fn bus_config(&self) -> BusConfig {
        self.amqp.bus_config()
    }
}

pub struct System {
    pub product: RunningService,
    pub inventory: RunningService,
    pub cart: RunningService,
    pub order: RunningService,
    /// `None` while a test has it stopped (see [`System::stop_payment`]).
    pub payment: Option<RunningService>,
    pub stripe: shop_stripe_fake::RunningFakeStripe,
    payment_config: shop_payment::PaymentConfig,
    pub backends: Backends,
}

const STRIPE_KEY: &str = "sk_test_shopmesh_system";
const STRIPE_WEBHOOK_SECRET: &str = "whsec_shopmesh_system";

fn url(service: &RunningService) -> String {
    format!("http://{}", service.addr)
}

/// Knobs a test may turn; the defaults are production's.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long Inventory holds stock for an unpaid order.
    pub reservation_ttl_secs: u64,
    /// How long Inventory holds stock once a payment waits for 3-D Secure.
    pub action_reservation_ttl_secs: u64,
    /// How often Inventory looks for expired reservations.
    pub sweep_interval_secs: u64,
    /// Order's own timeout for orders that never finish, and how often it looks.
    pub order_timeout_secs: u64,
    pub order_sweep_secs: u64,
    /// How long Product serves a product from its cache (dropped sooner on
    /// `product.changed`).
    pub product_cache_ttl_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            reservation_ttl_secs: 15 * 60,
            action_reservation_ttl_secs: 5 * 60,
            sweep_interval_secs: 15,
            order_timeout_secs: 20 * 60,
            order_sweep_secs: 30,
            product_cache_ttl_secs: 30,
        }
    }
}

impl System {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> anyhow::Result<Self> {
        let backends = Backends::create().await?;

        let product = RunningService::start::<shop_product::App>(shop_product::ProductConfig {
            host: shop_testkit::test_host(),
            mongo: backends.mongo.config_for("product"),
            amqp: backends.bus_config(),
            cache_ttl_secs: options.product_cache_ttl_secs,
            ..Default::default()
        })
        .await
        .context("product")?;

        let inventory =
            RunningService::start::<shop_inventory::App>(shop_inventory::InventoryConfig {
                host: shop_testkit::test_host(),
                mongo: backends.mongo.config_for("inventory"),
                amqp: backends.bus_config(),
                default_reservation_ttl_secs: options.reservation_ttl_secs,
                action_reservation_ttl_secs: options.action_reservation_ttl_secs,
                sweep_interval_secs: options.sweep_interval_secs,
                ..Default::default()
            })
            .await
            .context("inventory")?;

        let cart = RunningService::start::<shop_cart::App>(shop_cart::CartConfig {
            host: shop_testkit::test_host(),
            redis_url: backends.redis.url.clone(),
            key_prefix: backends.redis.prefix.clone(),
            amqp: backends.bus_config(),
            product_url: url(&product),
            ..Default::default()
        })
        .await
        .context("cart")?;

        let order = RunningService::start::<shop_order::App>(shop_order::OrderConfig {
            host: shop_testkit::test_host(),
            database: shop_kit::mysql::DatabaseConfig::new(backends.mysql_order.url.clone(), 20),
            amqp: backends.bus_config(),
            cart_url: url(&cart),
            unfinished_timeout_secs: options.order_timeout_secs,
            sweep_interval_secs: options.order_sweep_secs,
            ..Default::default()
        })
        .await
        .context("order")?;

        let stripe =
            shop_stripe_fake::FakeStripe::start(shop_stripe_fake::FakeStripeConfig::for_tests())
                .await
                .context("fake stripe")?;
        let payment_config = shop_payment::PaymentConfig {
            host: shop_testkit::test_host(),
            database: shop_kit::mysql::DatabaseConfig::new(backends.mysql_payment.url.clone(), 20),
            amqp: backends.bus_config(),
            stripe_base_url: stripe.base_url(),
            stripe_api_key: STRIPE_KEY.into(),
            stripe_webhook_secret: STRIPE_WEBHOOK_SECRET.into(),
            ..Default::default()
        };
        let payment = start_payment(&payment_config, &stripe).await?;

        Ok(Self {
            product,
            inventory,
            cart,
            order,
            payment: Some(payment),
            stripe,
            payment_config,
            backends,
        })
    }

    /// Stops the Payment service (draining it, like a SIGTERM); events for it queue up.
    pub async fn stop_payment(&mut self) -> anyhow::Result<()> {
        if let Some(payment) = self.payment.take() {
            payment.stop().await?;
        }
        Ok(())
    }

    /// Starts the Payment service again on the same database and queue.
    pub async fn start_payment(&mut self) -> anyhow::Result<()> {
        if self.payment.is_none() {
            self.payment = Some(start_payment(&self.payment_config, &self.stripe).await?);
        }
        Ok(())
    }

    pub async fn products(&self) -> anyhow::Result<ProductServiceClient<Channel>> {
        Ok(ProductServiceClient::new(self.product.channel().await?))
    }

    pub async fn inventory(&self) -> anyhow::Result<InventoryServiceClient<Channel>> {
        Ok(InventoryServiceClient::new(self.inventory.channel().await?))
    }

    pub async fn carts(&self) -> anyhow::Result<CartServiceClient<Channel>> {
        Ok(CartServiceClient::new(self.cart.channel().await?))
    }

    pub async fn orders(&self) -> anyhow::Result<OrderServiceClient<Channel>> {
        Ok(OrderServiceClient::new(self.order.channel().await?))
    }

    /// Creates a product priced `price` EUR minor units with `stock` units on hand.
    pub async fn stock_product(&self, sku: &str, price: i64, stock: i64) -> anyhow::Result<()> {
        use shop_proto::shop::common::v1::Money;
        use shop_proto::shop::product::v1::{CreateProductRequest, Product};
        let admin = admin_token();
        self.products()
            .await?
            .create_product(shop_testkit::with_token(
                CreateProductRequest {
                    product: Some(Product {
                        sku: sku.into(),
                        name: format!("Product {sku}"),
                        price: Some(Money {
                            amount_minor: price,
                            currency: "EUR".into(),
                        }),
                        category: "test".into(),
                        ..Default::default()
                    }),
                    idempotency_key: String::new(),
                },
                &admin,
            ))
            .await?;
        self.set_stock(sku, stock).await
    }

    pub async fn set_stock(&self, sku: &str, on_hand: i64) -> anyhow::Result<()> {
        use shop_proto::shop::inventory::v1::SetStockRequest;
        self.inventory()
            .await?
            .set_stock(shop_testkit::with_token(
                SetStockRequest {
                    sku: sku.into(),
                    on_hand,
                    reason: "test".into(),
                },
                &admin_token(),
            ))
            .await?;
        Ok(())
    }

    /// (on_hand, reserved, available) of `sku`.
    pub async fn stock(&self, sku: &str) -> anyhow::Result<(i64, i64, i64)> {
        use shop_proto::shop::inventory::v1::GetStockRequest;
        let level = self
            .inventory()
            .await?
            .get_stock(GetStockRequest { sku: sku.into() })
            .await?
            .into_inner()
            .stock
            .context("stock level")?;
        Ok((level.on_hand, level.reserved, level.available))
    }

    pub async fn add_to_cart(
        &self,
        customer: &Customer,
        sku: &str,
        quantity: i64,
    ) -> anyhow::Result<()> {
        use shop_proto::shop::cart::v1::AddItemRequest;
        self.carts()
            .await?
            .add_item(shop_testkit::with_token(
                AddItemRequest {
                    cart: customer.cart(),
                    sku: sku.into(),
                    quantity,
                    idempotency_key: String::new(),
                },
                &customer.token,
            ))
            .await?;
        Ok(())
    }

    /// Checks out `customer`'s cart with `payment_method`; returns the PENDING order.
    pub async fn checkout(
        &self,
        customer: &Customer,
        key: &str,
        payment_method: &str,
    ) -> anyhow::Result<shop_proto::shop::order::v1::Order> {
        self.orders()
            .await?
            .place_order(customer.checkout(key, payment_method))
            .await?
            .into_inner()
            .order
            .context("order")
    }

    /// Closes every RabbitMQ connection of this system from the broker's side (as a broker
    /// restart or a network cut would); returns how many it closed.
    pub async fn drop_broker_connections(&self) -> anyhow::Result<usize> {
        let prefix = self.backends.amqp.queue_prefix.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
            let listing = std::process::Command::new("rabbitmqctl")
                .args(["-q", "list_connections", "pid", "client_properties"])
                .output()
                .context("running rabbitmqctl")?;
            let listing = String::from_utf8_lossy(&listing.stdout);
            let mut closed = 0;
            for line in listing.lines().filter(|line| line.contains(&prefix)) {
                let Some(pid) = line.split_whitespace().next() else {
                    continue;
                };
                let status = std::process::Command::new("rabbitmqctl")
                    .args(["-q", "close_connection", pid, "test: connection dropped"])
                    .status()?;
                if status.success() {
                    closed += 1;
                }
            }
            Ok(closed)
        })
        .await?
    }

    /// A broker handle on this system's exchange, to publish events as another service would.
    /// Releases every reservation as if its TTL had run out, without the
    /// `inventory.released` notice the background sweeper sends: the moment a late payment
    /// races that notice. Returns how many were released.
    pub async fn expire_reservations_unannounced(&self) -> anyhow::Result<usize> {
        let mongo = &self.backends.mongo;
        let database = mongo.client.database(&format!("{}_inventory", mongo.name));
        let store = shop_inventory::store::Store::new(&database);
        let far_future = chrono::Utc::now() + chrono::Duration::days(1);
        Ok(shop_inventory::sweeper::release_expired(&store, far_future)
            .await?
            .len())
    }

    pub fn broker(&self, name: &str) -> Broker {
        Broker::new(self.backends.bus_config(), name)
    }

    /// Every event published on this system's exchange from now on: the test's view of
    /// the saga.
    pub async fn watch_events(&self) -> anyhow::Result<EventWatch> {
        EventWatch::start(&self.backends.bus_config(), &["#"]).await
    }

    /// Every running service's counters now, for "what did this operation cost" tests.
    pub async fn counters(&self) -> anyhow::Result<Counters> {
        let mut services = vec![
            ("product", &self.product),
            ("inventory", &self.inventory),
            ("cart", &self.cart),
            ("order", &self.order),
        ];
        services.extend(self.payment.as_ref().map(|payment| ("payment", payment)));
        let mut scrapes = BTreeMap::new();
        for (name, service) in services {
            let scrape = Scrape::of(service.admin_addr)
                .await
                .with_context(|| format!("{name}'s /metrics"))?;
            scrapes.insert(name, scrape);
        }
        Ok(Counters(scrapes))
    }
}

/// The services' counters at one moment ([`System::counters`]); two of them tell what
/// happened in between, as `"<service> <method|command|queue>" → n` maps that a test
/// compares whole, so an added call shows by name.
pub struct Counters(BTreeMap<&'static str, Scrape>);

const HANDLED: &str = "shop_grpc_server_handled_total";

impl Counters {
    /// `metric` grown since `before`, by the value of its label `by`, per service.
    pub fn growth(&self, before: &Counters, metric: &str, by: &str) -> BTreeMap<String, u64> {
        let mut grown = BTreeMap::new();
        for (service, now) in &self.0 {
            let Some(earlier) = before.0.get(service) else {
                continue;
            };
            for (key, n) in now.growth(earlier, metric, by) {
                grown.insert(format!("{service} {key}"), n);
            }
        }
        grown
    }

    /// gRPC calls served since `before` (`shop_grpc_server_handled_total`, any status), by
    /// method, without the health checks a test's new channels make.
    pub fn calls(&self, before: &Counters) -> BTreeMap<String, u64> {
        let mut calls = BTreeMap::new();
        for (service, now) in &self.0 {
            let Some(earlier) = before.0.get(service) else {
                continue;
            };
            let health = ("grpc_service", "grpc.health.v1.Health");
            for (method, n) in now.growth(earlier, HANDLED, "grpc_method") {
                let probes = now.sum(HANDLED, &[health, ("grpc_method", &method)])
                    - earlier.sum(HANDLED, &[health, ("grpc_method", &method)]);
                if n > probes {
                    calls.insert(format!("{service} {method}"), n - probes);
                }
            }
        }
        calls
    }

    /// MongoDB commands sent since `before` (`shop_mongo_commands_total`), by command.
    pub fn mongo_commands(&self, before: &Counters) -> BTreeMap<String, u64> {
        self.growth(before, "shop_mongo_commands_total", "command")
    }

    /// Broker deliveries settled since `before` (`shop_bus_deliveries_total`), by queue.
    /// The bus counts them per process (`shop_bus::consumer`) and a [`System`] runs in one
    /// process, so Order's registry shows every service's consumers; the test's own
    /// `watch-*` queues ([`EventWatch`]) are left out.
    pub fn deliveries(&self, before: &Counters) -> BTreeMap<String, u64> {
        let (Some(now), Some(then)) = (self.0.get("order"), before.0.get("order")) else {
            return BTreeMap::new();
        };
        now.growth(then, "shop_bus_deliveries_total", "queue")
            .into_iter()
            .filter(|(queue, _)| !queue.starts_with("watch-"))
            .collect()
    }
}

/// Starts Payment (on new ports) and points the fake Stripe's webhooks at it.
async fn start_payment(
    config: &shop_payment::PaymentConfig,
    stripe: &shop_stripe_fake::RunningFakeStripe,
) -> anyhow::Result<RunningService> {
    let payment = RunningService::start::<shop_payment::App>(config.clone())
        .await
        .context("payment")?;
    let webhook = format!("http://{}/stripe/webhook", payment.admin_addr);
    stripe.set_webhook_endpoint(Some(shop_stripe_fake::WebhookEndpoint::new(
        &webhook,
        STRIPE_WEBHOOK_SECRET,
    )?));
    Ok(payment)
}

/// A customer identity (random user id) and its access token.
pub struct Customer {
    pub id: String,
    pub token: String,
}

impl Customer {
    pub fn new() -> Self {
        let id = uuid::Uuid::now_v7().to_string();
        let token = token_for(&id, Role::Customer);
        Self { id, token }
    }

    /// This customer's own cart.
    pub fn cart(&self) -> Option<shop_proto::shop::cart::v1::CartRef> {
        use shop_proto::shop::cart::v1::{CartRef, cart_ref};
        Some(CartRef {
            key: Some(cart_ref::Key::UserId(self.id.clone())),
        })
    }

    /// A PlaceOrder request for this customer's cart, as the storefront sends it.
    pub fn checkout(
        &self,
        key: &str,
        payment_method: &str,
    ) -> tonic::Request<shop_proto::shop::order::v1::PlaceOrderRequest> {
        shop_testkit::with_token(
            shop_proto::shop::order::v1::PlaceOrderRequest {
                idempotency_key: key.into(),
                cart: self.cart(),
                shipping_address: Some(shop_proto::shop::common::v1::Address {
                    name: "Ann Lee".into(),
                    line1: "1 Main Street".into(),
                    line2: String::new(),
                    city: "Berlin".into(),
                    postal_code: "10115".into(),
                    country: "DE".into(),
                }),
                payment_method: payment_method.into(),
            },
            &self.token,
        )
    }
}

impl Default for Customer {
    fn default() -> Self {
        Self::new()
    }
}

pub fn admin_token() -> String {
    token_for(&uuid::Uuid::now_v7().to_string(), Role::Admin)
}

/// Polls the order (as `token`) until `done` holds for it (deadline 30 s).
pub async fn order_when(
    system: &System,
    token: &str,
    order_id: &str,
    what: &str,
    done: impl Fn(&shop_proto::shop::order::v1::Order) -> bool,
) -> anyhow::Result<shop_proto::shop::order::v1::Order> {
    let orders = system.orders().await?;
    shop_testkit::wait_until(Duration::from_secs(30), what, || {
        let mut orders = orders.clone();
        let request = shop_testkit::with_token(
            shop_proto::shop::order::v1::GetOrderRequest {
                id: order_id.to_owned(),
            },
            token,
        );
        let done = &done;
        async move {
            let order = orders.get_order(request).await.ok()?.into_inner().order?;
            done(&order).then_some(order)
        }
    })
    .await
}
