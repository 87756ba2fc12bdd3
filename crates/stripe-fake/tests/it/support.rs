//! A fake per test, a typed client pointed at it, and a webhook receiver that records what
//! it is sent (and can be told to fail).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use shop_stripe_fake::{FakeStripe, FakeStripeConfig, RunningFakeStripe};
use stripe::{ClientBuilder, StripeError};
use stripe_core::payment_intent::CreatePaymentIntent;
use stripe_shared::{ApiErrors, PaymentIntent, PaymentIntentAllowedPaymentMethodTypes};
use stripe_types::Currency;

pub const API_KEY: &str = "sk_test_shopmesh_fake_key";
pub const WEBHOOK_SECRET: &str = "whsec_shopmesh_fake_secret";

pub fn client_for(fake: &RunningFakeStripe, api_key: &str) -> stripe::Client {
    shop_kit::tls::install_crypto_provider();
    ClientBuilder::new(api_key)
        .url(fake.base_url())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// How many events of `event_type` the fake has recorded.
pub fn count_events(fake: &RunningFakeStripe, event_type: &str) -> usize {
    fake.events()
        .iter()
        .filter(|event| event["type"] == event_type)
        .count()
}

pub async fn start(config: FakeStripeConfig) -> (RunningFakeStripe, stripe::Client) {
    let fake = FakeStripe::start(config).await.expect("fake starts");
    let client = client_for(&fake, API_KEY);
    (fake, client)
}

pub async fn start_plain() -> (RunningFakeStripe, stripe::Client) {
    start(FakeStripeConfig::for_tests()).await
}

/// A fake sending webhooks to a fresh receiver.
pub async fn start_with_webhooks(
    fail_first: u32,
    max_attempts: u32,
) -> (RunningFakeStripe, stripe::Client, WebhookReceiver) {
    let receiver = WebhookReceiver::start(fail_first).await;
    let config = FakeStripeConfig {
        webhook_max_attempts: max_attempts,
        webhook_backoff_ms: 20,
        ..FakeStripeConfig::for_tests().with_webhook(receiver.url(), WEBHOOK_SECRET)
    };
    let (fake, client) = start(config).await;
    (fake, client, receiver)
}

pub fn metadata(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

/// Create-and-confirm, the way Payment charges an order.
pub async fn pay(
    client: &stripe::Client,
    amount: i64,
    payment_method: &str,
) -> Result<PaymentIntent, StripeError> {
    CreatePaymentIntent::new(amount, Currency::USD)
        .payment_method(payment_method)
        .allowed_payment_method_types(vec![PaymentIntentAllowedPaymentMethodTypes::Card])
        .confirm(true)
        .metadata(metadata(&[("order_id", "order-1")]))
        .send(client)
        .await
}

/// The Stripe error and HTTP status of a failed call.
pub fn stripe_error<T: std::fmt::Debug>(result: Result<T, StripeError>) -> (ApiErrors, u16) {
    match result {
        Err(StripeError::Stripe(error, status)) => (*error, status),
        other => panic!("expected an error from Stripe, got {other:?}"),
    }
}

#[derive(Debug, Clone)]
pub struct Received {
    pub signature: String,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("event JSON")
    }
}

#[derive(Default)]
struct Inbox {
    received: Mutex<Vec<Received>>,
    attempts: AtomicU32,
    fail_first: AtomicU32,
}

/// An HTTP endpoint standing in for Payment's webhook route.
pub struct WebhookReceiver {
    addr: SocketAddr,
    inbox: Arc<Inbox>,
    _server: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    /// Answers 500 to the first `fail_first` deliveries, then 200.
    pub async fn start(fail_first: u32) -> Self {
        let inbox = Arc::new(Inbox {
            fail_first: AtomicU32::new(fail_first),
            ..Inbox::default()
        });
        let app = Router::new()
            .route("/stripe/webhook", post(receive))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver serves");
        });
        Self {
            addr,
            inbox,
            _server: server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/stripe/webhook", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.inbox.received.lock().expect("inbox lock").clone()
    }

    pub fn attempts(&self) -> u32 {
        self.inbox.attempts.load(Ordering::SeqCst)
    }

    /// Waits (up to 10 s) for an accepted delivery of an event of `event_type` about `object_id`.
    pub async fn wait_for(&self, event_type: &str, object_id: &str) -> Received {
        let found = eventually(|| {
            self.received().into_iter().find(|received| {
                let event = received.json();
                event["type"] == event_type && event["data"]["object"]["id"] == object_id
            })
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "no {event_type} webhook for {object_id}; got {:?}",
                self.received()
                    .iter()
                    .map(|received| received.json()["type"].clone())
                    .collect::<Vec<_>>()
            )
        })
    }
}

async fn receive(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    inbox.attempts.fetch_add(1, Ordering::SeqCst);
    let fail = inbox
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(1)
        })
        .is_ok();
    if fail {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let signature = headers
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    inbox.received.lock().expect("inbox lock").push(Received {
        signature,
        body: String::from_utf8(body.to_vec()).expect("UTF-8 body"),
    });
    StatusCode::OK
}

/// Polls `check` every 20 ms for up to 10 s.
pub async fn eventually<T>(mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
