//! Starting and stopping the fake, and the handle tests hold while it runs.
//!
//! `FakeStripe::start(FakeStripeConfig::for_tests())` binds port 0 and serves in a background
//! task of the caller's runtime; the returned [`RunningFakeStripe`] gives the base URL for the
//! Stripe client and a view into (and some control over) the fake's state. Stopping it, or
//! dropping it, shuts the server down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api;
use crate::config::FakeStripeConfig;
use crate::error::FakeStripeError;
use crate::fake::Fake;
use crate::idempotency::IdempotencyKeys;
use crate::objects::Templates;
use crate::store::{AuthenticationOutcome, Store};
use crate::webhook::{WebhookDelivery, WebhookEndpoint, WebhookWorker, Webhooks};

/// Entry point: `FakeStripe::start(config)`.
#[derive(Debug)]
pub struct FakeStripe;

impl FakeStripe {
    /// Binds `config.addr` and starts serving.
    pub async fn start(config: FakeStripeConfig) -> Result<RunningFakeStripe, FakeStripeError> {
        let listener =
            TcpListener::bind(config.addr)
                .await
                .map_err(|source| FakeStripeError::Bind {
                    addr: config.addr,
                    source,
                })?;
        Self::start_on(listener, config).await
    }

    /// Serves on a listener the caller already bound (`config.addr` is ignored).
    pub async fn start_on(
        listener: TcpListener,
        config: FakeStripeConfig,
    ) -> Result<RunningFakeStripe, FakeStripeError> {
        let addr = listener.local_addr().map_err(FakeStripeError::Serve)?;
        let templates = Templates::load()?;
        let (webhooks, webhook_worker) =
            Webhooks::start(config.webhook_endpoint()?, config.retry_policy())?;
        let public_url = config
            .public_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map_or_else(|| format!("http://{addr}"), str::to_owned);
        let fake = Arc::new(Fake {
            store: Store::new(templates, public_url.trim_end_matches('/')),
            idempotency: IdempotencyKeys::default(),
            webhooks,
        });
        let app = api::router(fake.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(%addr, "fake Stripe listening");
        Ok(RunningFakeStripe {
            addr,
            fake,
            stop: Some(stop),
            server: Some(server),
            webhook_worker: Some(webhook_worker),
        })
    }
}

/// A running fake: where it is, what it holds, and how to stop it.
#[derive(Debug)]
pub struct RunningFakeStripe {
    addr: SocketAddr,
    fake: Arc<Fake>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    webhook_worker: Option<WebhookWorker>,
}

impl RunningFakeStripe {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>/`, the form `async_stripe`'s `ClientBuilder::url` wants (it
    /// appends `v1/...` to it directly, so the trailing slash matters).
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Every PaymentIntent, oldest first, as the API would return it.
    pub fn payment_intents(&self) -> Vec<Value> {
        self.fake.store.all_payment_intents()
    }

    pub fn payment_intent(&self, id: &str) -> Option<Value> {
        self.fake.store.payment_intent(id)
    }

    /// The intents whose `metadata[key]` is `value` (e.g. an order id), oldest first.
    pub fn payment_intents_with_metadata(&self, key: &str, value: &str) -> Vec<Value> {
        self.payment_intents()
            .into_iter()
            .filter(|pi| pi["metadata"][key] == value)
            .collect()
    }

    /// Every refund, oldest first.
    pub fn refunds(&self) -> Vec<Value> {
        self.fake.store.all_refunds()
    }

    /// Every event the fake has emitted, oldest first, whether or not webhooks are on.
    pub fn events(&self) -> Vec<Value> {
        self.fake.store.all_events()
    }

    /// Completes 3-D Secure for an intent in `requires_action`, as the customer would in the
    /// browser, and sends the resulting webhooks. Returns the updated intent.
    pub fn authenticate(
        &self,
        payment_intent_id: &str,
        outcome: AuthenticationOutcome,
    ) -> Result<Value, FakeStripeError> {
        Ok(self.fake.authenticate(payment_intent_id, outcome)?)
    }

    /// Sends later events to `endpoint` (or nowhere): the Payment service's webhook URL is
    /// often only known after the fake has started.
    pub fn set_webhook_endpoint(&self, endpoint: Option<WebhookEndpoint>) {
        self.fake.webhooks.set_endpoint(endpoint);
    }

    /// One record per event sent to a webhook endpoint, oldest first.
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.fake.webhooks.deliveries()
    }

    /// Stops accepting requests, lets in-flight ones finish, gives queued webhooks one last
    /// attempt, and returns how the server ended.
    pub async fn stop(mut self) -> Result<(), FakeStripeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = match self.server.take() {
            Some(server) => match server.await {
                Ok(result) => result.map_err(FakeStripeError::Serve),
                Err(error) => Err(FakeStripeError::Panicked(error.to_string())),
            },
            None => Ok(()),
        };
        if let Some(worker) = self.webhook_worker.take() {
            worker.stop().await;
        }
        served
    }
}

impl Drop for RunningFakeStripe {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Dropping the worker's handle tells it to stop too (it drains what is queued).
        drop(self.webhook_worker.take());
    }
}
