//! Webhooks: events POSTed to the configured endpoint, signed exactly as Stripe signs them,
//! delivered in the background and retried with bounded back-off.
//!
//! Signature (https://docs.stripe.com/webhooks#verify-manually): header
//! `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, computed
//! afresh for every attempt. Events are attempted once each in the order they happened (so a
//! test sees `payment_intent.created` before `payment_intent.succeeded`); an event whose
//! attempt fails is retried by its own task, so one broken delivery does not hold up the rest.
//! Stripe does not promise ordering, and neither does a retried delivery here.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use crate::error::FakeStripeError;

/// How long one delivery attempt may take before it counts as failed.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long stopping the fake waits for queued first attempts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The `Stripe-Signature` header value for `payload` sent at `timestamp` (Unix seconds).
///
/// Public so the Payment service's tests can craft signed (and wrongly signed) payloads for
/// its webhook endpoint without going through the fake.
pub fn sign_webhook(secret: &str, payload: impl AsRef<[u8]>, timestamp: i64) -> String {
    let signature = hmac_sha256_hex(secret.as_bytes(), timestamp, payload.as_ref());
    format!("t={timestamp},v1={signature}")
}

fn hmac_sha256_hex(secret: &[u8], timestamp: i64, payload: &[u8]) -> String {
    // HMAC accepts keys of any length (longer ones are hashed), so this cannot fail.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret) else {
        unreachable!("HMAC-SHA256 takes keys of any length");
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
}

/// Bounded exponential back-off for webhook deliveries (Stripe retries for days; a test
/// fixture must give up quickly).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub max_attempts: u32,
    pub first_backoff: Duration,
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based), capped at 30 s.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.first_backoff
            .saturating_mul(factor)
            .min(Duration::from_secs(30))
    }
}

/// Where events go and the secret they are signed with.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub url: String,
    pub secret: String,
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl WebhookEndpoint {
    pub fn new(url: impl Into<String>, secret: impl Into<String>) -> Result<Self, FakeStripeError> {
        let url = url.into();
        let secret = secret.into();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(FakeStripeError::Config(format!(
                "the webhook URL must be http(s), not `{url}`"
            )));
        }
        if secret.is_empty() {
            return Err(FakeStripeError::Config(
                "the webhook signing secret must not be empty".into(),
            ));
        }
        Ok(Self { url, secret })
    }
}

/// The fate of one event's delivery, for tests to inspect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookDelivery {
    pub event_id: String,
    pub event_type: String,
    pub url: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// A 2xx answer was received.
    pub delivered: bool,
    /// The HTTP status of the latest attempt, if the endpoint answered at all.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

#[derive(Debug)]
struct Shared {
    endpoint: RwLock<Option<WebhookEndpoint>>,
    deliveries: Mutex<Vec<WebhookDelivery>>,
    client: reqwest::Client,
    policy: RetryPolicy,
}

/// One event on its way: its record index, the endpoint at the time, the body.
struct Job {
    index: usize,
    endpoint: WebhookEndpoint,
    body: Arc<Vec<u8>>,
}

/// The sending side, shared by the API handlers and the test handle.
#[derive(Debug, Clone)]
pub(crate) struct Webhooks {
    shared: Arc<Shared>,
    queue: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("index", &self.index).finish()
    }
}

/// The background task that delivers; stop it to drain and end.
#[derive(Debug)]
pub(crate) struct WebhookWorker {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Webhooks {
    pub fn start(
        endpoint: Option<WebhookEndpoint>,
        policy: RetryPolicy,
    ) -> Result<(Self, WebhookWorker), FakeStripeError> {
        let client = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .user_agent("Stripe/1.0 (+https://stripe.com/docs/webhooks)")
            .build()
            .map_err(FakeStripeError::WebhookClient)?;
        let shared = Arc::new(Shared {
            endpoint: RwLock::new(endpoint),
            deliveries: Mutex::new(Vec::new()),
            client,
            policy,
        });
        let (queue, jobs) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(deliver_all(shared.clone(), jobs, stopped));
        Ok((Self { shared, queue }, WebhookWorker { stop, task }))
    }

    pub fn enabled(&self) -> bool {
        self.endpoint().is_some()
    }

    fn endpoint(&self) -> Option<WebhookEndpoint> {
        self.shared
            .endpoint
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn set_endpoint(&self, endpoint: Option<WebhookEndpoint>) {
        *self
            .shared
            .endpoint
            .write()
            .unwrap_or_else(PoisonError::into_inner) = endpoint;
    }

    /// Queues `events` for the current endpoint; without one they are only recorded as events.
    pub fn enqueue(&self, events: Vec<Value>) {
        let Some(endpoint) = self.endpoint() else {
            return;
        };
        for event in events {
            let body = match serde_json::to_vec_pretty(&event) {
                Ok(body) => Arc::new(body),
                Err(error) => {
                    tracing::error!(%error, "cannot serialise an event");
                    continue;
                }
            };
            let index = {
                let mut deliveries = self.shared.lock_deliveries();
                deliveries.push(WebhookDelivery {
                    event_id: event["id"].as_str().unwrap_or_default().to_owned(),
                    event_type: event["type"].as_str().unwrap_or_default().to_owned(),
                    url: endpoint.url.clone(),
                    attempts: 0,
                    delivered: false,
                    last_status: None,
                    last_error: None,
                });
                deliveries.len() - 1
            };
            let job = Job {
                index,
                endpoint: endpoint.clone(),
                body,
            };
            if self.queue.send(job).is_err() {
                tracing::warn!("webhook worker has stopped; event not delivered");
            }
        }
    }

    pub fn deliveries(&self) -> Vec<WebhookDelivery> {
        self.shared.lock_deliveries().clone()
    }
}

impl Shared {
    fn lock_deliveries(&self) -> std::sync::MutexGuard<'_, Vec<WebhookDelivery>> {
        self.deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// One attempt; true when the endpoint answered 2xx.
    async fn attempt(&self, job: &Job) -> bool {
        let timestamp = crate::ids::now();
        let signature = sign_webhook(&job.endpoint.secret, job.body.as_slice(), timestamp);
        let result = self
            .client
            .post(&job.endpoint.url)
            .header("content-type", "application/json; charset=utf-8")
            .header("cache-control", "no-cache")
            .header("stripe-signature", signature)
            .body(job.body.as_ref().clone())
            .send()
            .await;
        let (status, error) = match result {
            Ok(response) => {
                let status = response.status();
                let error = (!status.is_success()).then(|| format!("HTTP {status}"));
                (Some(status.as_u16()), error)
            }
            Err(error) => (None, Some(error.to_string())),
        };
        let delivered = error.is_none();
        let mut deliveries = self.lock_deliveries();
        if let Some(record) = deliveries.get_mut(job.index) {
            record.attempts += 1;
            record.delivered = delivered;
            record.last_status = status;
            if let Some(error) = &error {
                tracing::warn!(event = %record.event_id, url = %record.url, attempt = record.attempts, %error, "webhook delivery failed");
            }
            record.last_error = error;
        }
        delivered
    }
}

async fn deliver_all(
    shared: Arc<Shared>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut retries = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => break,
            job = jobs.recv() => match job {
                Some(job) => {
                    if !shared.attempt(&job).await && shared.policy.max_attempts > 1 {
                        retries.spawn(retry(shared.clone(), job));
                    }
                }
                None => break,
            },
            Some(_) = retries.join_next(), if !retries.is_empty() => {}
        }
    }
    // Stopping: give what is queued one attempt each, within a bound; abandon retries.
    let drain = async {
        while let Ok(job) = jobs.try_recv() {
            shared.attempt(&job).await;
        }
    };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        tracing::warn!("gave up draining webhook deliveries");
    }
    retries.abort_all();
}

/// Attempts 2..=max_attempts, waiting `policy.backoff(n)` after failed attempt n.
async fn retry(shared: Arc<Shared>, job: Job) {
    for attempt in 1..shared.policy.max_attempts {
        tokio::time::sleep(shared.policy.backoff(attempt)).await;
        if shared.attempt(&job).await {
            return;
        }
    }
}

impl WebhookWorker {
    /// Stops delivering: queued events get one last attempt, pending retries are dropped.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::error!(%error, "webhook worker failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_stripe() {
        // HMAC-SHA256("whsec_test", "1700000000.{}") computed independently (Python hmac).
        let header = sign_webhook("whsec_test", "{}", 1_700_000_000);
        assert_eq!(
            header,
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }

    #[test]
    fn endpoints_need_an_http_url_and_a_secret() {
        assert!(WebhookEndpoint::new("http://127.0.0.1:1/hook", "whsec_x").is_ok());
        assert!(WebhookEndpoint::new("ftp://x", "whsec_x").is_err());
        assert!(WebhookEndpoint::new("http://x", "").is_err());
        let debug = format!("{:?}", WebhookEndpoint::new("http://x", "whsec_x").unwrap());
        assert!(!debug.contains("whsec_x"));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 5,
            first_backoff: Duration::from_millis(100),
        };
        assert_eq!(policy.backoff(1), Duration::from_millis(100));
        assert_eq!(policy.backoff(3), Duration::from_millis(400));
        assert_eq!(policy.backoff(40), Duration::from_secs(30));
    }
}
