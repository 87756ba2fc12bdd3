//! One Payment service per test against its own MariaDB database, its own RabbitMQ exchange
//! and its own fake Stripe; the test acts as the Order service (publishes `order.*`) and
//! watches `payment.*` on a queue of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use shop_bus::consumer;
use shop_bus::{Broker, BusConfig, Publisher, new_event};
use shop_kit::auth::Role;
use shop_payment::store::{self, PaymentRow};
use shop_payment::{App, PaymentConfig, events};
use shop_proto::shop::common::v1::Money;
use shop_proto::shop::events::v1::{
    self as ev, Envelope, OrderCancelled, OrderPaymentRequested, envelope::Payload,
};
use shop_proto::shop::payment::v1::payment_service_client::PaymentServiceClient;
use shop_stripe_fake::{FakeStripe, FakeStripeConfig, RunningFakeStripe, WebhookEndpoint};
use shop_testkit::{RunningService, TestAmqp, TestMysql, token_for, wait_until};
use tokio::sync::watch;
use tonic::transport::Channel;

pub const API_KEY: &str = "sk_test_shopmesh_payment_tests";
pub const WEBHOOK_SECRET: &str = "whsec_shopmesh_payment_tests";
pub const VISA: &str = "pm_card_visa";
pub const DECLINED: &str = "pm_card_chargeDeclined";
pub const THREE_DS: &str = "pm_card_threeDSecure2Required";
/// The storefront origin the service is configured with (`storefront_url`).
pub const STOREFRONT: &str = "https://shop.example";
/// How long a test waits for something that should happen.
pub const DEADLINE: Duration = Duration::from_secs(20);

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub fn new_order_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn order_id_of(envelope: &Envelope) -> &str {
    match envelope.payload.as_ref() {
        Some(Payload::PaymentSucceeded(e)) => &e.order_id,
        Some(Payload::PaymentFailed(e)) => &e.order_id,
        Some(Payload::PaymentRequiresAction(e)) => &e.order_id,
        Some(Payload::PaymentRefunded(e)) => &e.order_id,
        Some(Payload::OrderPaymentRequested(e)) => &e.order_id,
        Some(Payload::OrderCancelled(e)) => &e.order_id,
        _ => "",
    }
}

/// `order.payment_requested` as Order publishes it.
pub fn payment_requested(
    order_id: &str,
    user_id: &str,
    amount_minor: i64,
    method: &str,
) -> Envelope {
    new_event(
        order_id,
        Payload::OrderPaymentRequested(OrderPaymentRequested {
            order_id: order_id.to_owned(),
            user_id: user_id.to_owned(),
            amount: Some(Money {
                amount_minor,
                currency: "EUR".into(),
            }),
            payment_method: method.to_owned(),
            idempotency_seed: order_id.to_owned(),
            payment_id: String::new(),
        }),
    )
}

pub fn order_cancelled(order_id: &str, payment_captured: bool) -> Envelope {
    new_event(
        order_id,
        Payload::OrderCancelled(OrderCancelled {
            order_id: order_id.to_owned(),
            user_id: "user-1".into(),
            reason: ev::CancelReason::CancelledByCustomer as i32,
            payment_captured,
        }),
    )
}

/// Test-side options for one harness.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Point the fake's webhooks at the service (off: only the charge path reports).
    pub webhooks: bool,
    /// Put a [`StripeGate`] between the service and the fake, closed.
    pub gated: bool,
    pub stripe_deadline_ms: u64,
    /// Run the stale-payment sweeper every second, treating every PENDING row as stale.
    pub sweep: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            webhooks: true,
            gated: false,
            stripe_deadline_ms: 5_000,
            sweep: false,
        }
    }
}

/// Tests run on a multi-threaded runtime, so that when a test ends (or fails) the service
/// keeps running on the workers while the harness drops and finishes what it has in flight,
/// instead of freezing mid-transaction. Fields drop in order: the service is told to stop
/// first.
pub struct Harness {
    service: Option<RunningService>,
    pub mysql: TestMysql,
    pub fake: RunningFakeStripe,
    pub gate: Option<StripeGate>,
    pub events: EventWatch,
    publisher: Publisher,
    options: Options,
    bus: BusConfig,
    // Dropped last: deletes the exchange.
    _amqp: TestAmqp,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        let mysql = TestMysql::create().await.expect("a MySQL database");
        let amqp = TestAmqp::create().await.expect("a RabbitMQ exchange");
        let fake = FakeStripe::start(FakeStripeConfig::for_tests())
            .await
            .expect("the fake Stripe starts");
        let gate = if options.gated {
            Some(StripeGate::start(fake.base_url()).await)
        } else {
            None
        };
        let bus = amqp.bus_config();
        // The service's queue must exist before anything is published to it (a topic
        // exchange drops what no queue is bound for); the service declares the same.
        let broker = Broker::new(bus.clone(), "test-order");
        let channel = broker.channel().await.expect("a channel");
        consumer::declare(&broker, &channel, &events::queue_spec())
            .await
            .expect("the payment queue");
        let events = EventWatch::start(&bus).await;
        let mut harness = Self {
            mysql,
            fake,
            gate,
            events,
            publisher: Publisher::new(broker),
            service: None,
            options,
            bus,
            _amqp: amqp,
        };
        harness.start_service().await;
        harness
    }

    /// 3-D Secure returns the shopper to this storefront's order page.
    pub fn config(&self) -> PaymentConfig {
        let stripe_base_url = match &self.gate {
            Some(gate) => gate.base_url(),
            None => self.fake.base_url(),
        };
        PaymentConfig {
            env: Default::default(),
            host: shop_testkit::test_host(),
            database: shop_kit::mysql::DatabaseConfig::new(self.mysql.url.clone(), 5),
            amqp: self.bus.clone(),
            stripe_base_url,
            stripe_api_key: API_KEY.into(),
            stripe_webhook_secret: WEBHOOK_SECRET.into(),
            stripe_deadline_ms: self.options.stripe_deadline_ms,
            pending_sweep_secs: u64::from(self.options.sweep),
            pending_stale_secs: 0,
            storefront_url: Some(STOREFRONT.into()),
        }
    }

    /// Starts (or restarts) the service and waits until it serves.
    pub async fn start_service(&mut self) {
        assert!(self.service.is_none(), "already running");
        let service = RunningService::start::<App>(self.config())
            .await
            .expect("payment starts");
        service.channel().await.expect("payment serves");
        if self.options.webhooks {
            self.fake.set_webhook_endpoint(Some(
                WebhookEndpoint::new(
                    format!("http://{}/stripe/webhook", service.admin_addr),
                    WEBHOOK_SECRET,
                )
                .expect("a webhook endpoint"),
            ));
        }
        self.service = Some(service);
    }

    /// Stops the service as SIGTERM would, and waits until it has drained.
    pub async fn stop_service(&mut self) {
        self.fake.set_webhook_endpoint(None);
        if let Some(service) = self.service.take() {
            service.stop().await.expect("payment stops cleanly");
        }
    }

    fn service(&self) -> &RunningService {
        self.service.as_ref().expect("the service is running")
    }

    pub fn webhook_url(&self) -> String {
        self.service().admin_url("/stripe/webhook")
    }

    pub async fn publish(&self, envelope: &Envelope) {
        self.publisher.publish(envelope).await.expect("published");
    }

    pub async fn admin(&self) -> PaymentServiceClient<Channel> {
        PaymentServiceClient::new(self.service().channel().await.expect("a channel"))
    }

    pub fn admin_token() -> String {
        token_for("admin-1", Role::Admin)
    }

    pub async fn ledger(&self, order_id: &str) -> Option<PaymentRow> {
        store::get_by_order(&self.mysql.pool, order_id)
            .await
            .expect("ledger read")
    }

    /// Waits until the order's payment has `status`.
    pub async fn wait_for_status(&self, order_id: &str, status: &str) -> PaymentRow {
        let reached = wait_until(
            DEADLINE,
            &format!("payment of {order_id} to be {status}"),
            || async {
                self.ledger(order_id)
                    .await
                    .filter(|row| row.status == status)
            },
        )
        .await;
        match reached {
            Ok(row) => row,
            Err(error) => panic!(
                "{error}; it is {:?}",
                self.ledger(order_id).await.map(|row| row.status)
            ),
        }
    }

    /// The fake's PaymentIntents for the order.
    pub fn intents_for(&self, order_id: &str) -> Vec<serde_json::Value> {
        self.fake
            .payment_intents_with_metadata("order_id", order_id)
    }

    /// The fake's refunds of an intent.
    pub fn refunds_of(&self, intent_id: &str) -> Vec<serde_json::Value> {
        self.fake
            .refunds()
            .into_iter()
            .filter(|refund| refund["payment_intent"] == intent_id)
            .collect()
    }

    /// Events of `routing_key` about `order_id` the service has committed to its outbox
    /// (published or not): the exact count of what it emitted.
    pub async fn emitted(&self, routing_key: &str, order_id: &str) -> usize {
        let payloads: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT payload FROM bus_outbox WHERE routing_key = ?")
                .bind(routing_key)
                .fetch_all(&self.mysql.pool)
                .await
                .expect("outbox read");
        payloads
            .iter()
            .filter_map(|payload| shop_bus::decode(payload).ok())
            .filter(|envelope| order_id_of(envelope) == order_id)
            .count()
    }

    /// A sample of the service's metric `name` whose labels include all of `labels`.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let (status, text) = shop_testkit::http_get(self.service().admin_addr, "/metrics")
            .await
            .expect("metrics");
        assert_eq!(status, 200);
        text.lines()
            .filter(|line| line.starts_with(&format!("{name}{{")))
            .find(|line| {
                labels
                    .iter()
                    .all(|(key, value)| line.contains(&format!("{key}=\"{value}\"")))
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits until the service has finished `count` deliveries of `event` (each redelivery
    /// of a message counts once it is done).
    pub async fn wait_for_deliveries(&self, event: &str, count: u32) {
        wait_until(DEADLINE, &format!("{count} handled {event}"), || async {
            let done = self
                .metric(
                    "shop_payment_deliveries_total",
                    &[("event", event), ("result", "done")],
                )
                .await;
            (done >= f64::from(count)).then_some(())
        })
        .await
        .expect("deliveries handled");
    }

    /// POSTs a webhook body with a `Stripe-Signature` header (if any); returns the status.
    pub async fn post_webhook(&self, body: &str, signature: Option<&str>) -> u16 {
        let mut request = reqwest::Client::new()
            .post(self.webhook_url())
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(signature) = signature {
            request = request.header("stripe-signature", signature);
        }
        request
            .send()
            .await
            .expect("webhook answered")
            .status()
            .as_u16()
    }
}

/// Every `payment.*` event, in arrival order.
pub struct EventWatch(shop_testkit::EventWatch);

impl EventWatch {
    async fn start(bus: &BusConfig) -> Self {
        Self(
            shop_testkit::EventWatch::start(bus, &["payment.#"])
                .await
                .expect("the watch queue"),
        )
    }

    /// The next event of `event_type` about `order_id`, skipping others.
    pub async fn next(&mut self, event_type: &str, order_id: &str) -> Envelope {
        self.0
            .next_matching(&format!("{event_type} for order {order_id}"), |envelope| {
                envelope.r#type == event_type && order_id_of(envelope) == order_id
            })
            .await
            .expect("the event in time")
    }
}

/// An HTTP relay in front of the fake Stripe that holds requests while closed, like a
/// Stripe that is very slow to answer. A held request is forwarded when the gate opens,
/// even if the caller has given up waiting: Stripe acts on a request it received whether
/// or not anyone reads the answer.
pub struct StripeGate {
    addr: SocketAddr,
    state: Arc<GateState>,
}

struct GateState {
    upstream: String,
    open: watch::Sender<bool>,
    held: AtomicUsize,
    client: reqwest::Client,
}

impl StripeGate {
    /// Starts closed.
    pub async fn start(upstream: String) -> Self {
        let state = Arc::new(GateState {
            upstream: upstream.trim_end_matches('/').to_owned(),
            open: watch::channel(false).0,
            held: AtomicUsize::new(0),
            client: reqwest::Client::new(),
        });
        let app = axum::Router::new()
            .fallback(relay)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(any_port())
            .await
            .expect("bind the gate");
        let addr = listener.local_addr().expect("gate address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn open(&self) {
        self.state.open.send_replace(true);
    }

    /// Requests waiting at the gate.
    pub fn held(&self) -> usize {
        self.state.held.load(Ordering::SeqCst)
    }
}

async fn relay(
    State(state): State<Arc<GateState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Forwarded by a task of its own, so it goes through even if this request is dropped.
    let forwarded = tokio::spawn(async move {
        state.held.fetch_add(1, Ordering::SeqCst);
        let _ = state.open.subscribe().wait_for(|open| *open).await;
        state.held.fetch_sub(1, Ordering::SeqCst);
        let path = uri.path_and_query().map_or("/", |path| path.as_str());
        let mut request = state
            .client
            .request(method, format!("{}{path}", state.upstream))
            .body(body);
        for (name, value) in &headers {
            if name != header::HOST && name != header::CONTENT_LENGTH {
                request = request.header(name, value);
            }
        }
        let response = request.send().await?;
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let body = response.bytes().await?;
        Ok::<_, reqwest::Error>((status, content_type, body))
    });
    match forwarded.await {
        Ok(Ok((status, content_type, body))) => {
            let mut response = (status, body).into_response();
            if let Some(content_type) = content_type {
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, content_type);
            }
            response
        }
        _ => StatusCode::BAD_GATEWAY.into_response(),
    }
}
