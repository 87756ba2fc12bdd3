//! Consuming events with at-least-once delivery and bounded retries.
//!
//! For a queue `q` the topology is: `q` (durable, bound to the exchange by the consumer's
//! routing keys), one `q.retry.<delay>ms` per back-off step (messages wait there, then
//! dead-letter back to `q`) and `q.dead` (parked after the last attempt, for an operator to
//! inspect); the consumer forwards to those two through [`retry_exchange`], where each is
//! bound by its own name. Each retry queue has one queue-wide TTL, so its messages expire in the order
//! they arrived: with a single retry queue and per-message TTLs, RabbitMQ expires only the
//! head, and a message waiting 25 s would hold back one due in 200 ms. A
//! delivery is acked only after the handler returned, i.e. after its effect committed; the
//! retry or dead copy is confirmed by the broker before the original is acked, so a crash
//! at any point re-delivers rather than loses.

use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use futures::StreamExt as _;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel};
use shop_proto::shop::events::v1::Envelope;
use tracing::Instrument as _;

use crate::{BusError, broker::Broker, envelope, trace};

/// Every delivery any consumer of this process settled, by queue and outcome (`done`,
/// `retried`, `dead_lettered`, `dropped`): retries and dead letters are how a failing
/// dependency or a poison message first shows, so operators alert on them. One counter
/// per process, registered into each service's registry by [`register_metrics`].
static DELIVERIES: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    prometheus::IntCounterVec::new(
        prometheus::Opts::new(
            "bus_deliveries_total",
            "Event deliveries settled by this process's consumers, by queue and outcome",
        ),
        &["queue", "outcome"],
    )
    .expect("a constant, valid metric definition")
});

/// Exposes `shop_bus_deliveries_total` in `registry` (a service's `/metrics`).
pub fn register_metrics(registry: &prometheus::Registry) -> Result<(), prometheus::Error> {
    registry.register(Box::new(DELIVERIES.clone()))
}

fn count(spec: &QueueSpec, outcome: &str) {
    DELIVERIES
        .with_label_values(&[spec.name.as_str(), outcome])
        .inc();
}

/// What a handler made of an event.
#[derive(Debug)]
pub enum Handled {
    /// The effect is committed (or was already, for a duplicate): ack.
    Done,
    /// A transient failure (a dependency is down): try again after a back-off.
    Retry(String),
    /// The event can never be processed (malformed, violates an invariant): park it in
    /// `<queue>.dead` at once.
    Reject(String),
}

/// A consumer's queue and how it is driven.
#[derive(Debug, Clone)]
pub struct QueueSpec {
    /// E.g. `inventory.orders`; the broker config's prefix is prepended.
    pub name: String,
    /// Routing keys (topic patterns) bound to the queue, e.g. `order.created`.
    pub bindings: Vec<String>,
    /// Deliveries in flight at once; also how many handlers run concurrently.
    pub prefetch: u16,
    /// Attempts before a message is parked in `<queue>.dead`.
    pub max_attempts: u32,
    /// Delay before the first retry; doubles with each attempt.
    pub retry_delay: Duration,
    /// A private queue of this process (exclusive, deleted with its connection) for
    /// fan-out to every replica (cache invalidation, live subscriptions). It has no retry
    /// or dead queue: a failed handling is logged and dropped, and events published while
    /// the connection was down are missed, so such consumers must tolerate gaps.
    pub exclusive: bool,
}

impl QueueSpec {
    pub fn new(name: impl Into<String>, bindings: &[&str]) -> Self {
        Self {
            name: name.into(),
            bindings: bindings.iter().map(|b| (*b).to_owned()).collect(),
            prefetch: 16,
            max_attempts: 8,
            retry_delay: Duration::from_millis(200),
            exclusive: false,
        }
    }

    /// The back-off after failed attempt `attempt` (0-based): `retry_delay` doubling each
    /// time, capped at 2^10 times.
    pub fn retry_delay_after(&self, attempt: u32) -> Duration {
        self.retry_delay.saturating_mul(1 << attempt.min(10))
    }

    /// Every distinct back-off a message of this queue can wait: one retry queue each.
    pub fn retry_delays(&self) -> Vec<Duration> {
        let mut delays: Vec<Duration> = (0..self.max_attempts.saturating_sub(1))
            .map(|attempt| self.retry_delay_after(attempt))
            .collect();
        delays.dedup();
        delays
    }

    /// A fan-out queue private to this process; see [`QueueSpec::exclusive`].
    pub fn per_replica(purpose: &str, bindings: &[&str]) -> Self {
        Self {
            exclusive: true,
            ..Self::new(
                format!("{purpose}.{}", uuid::Uuid::new_v4().simple()),
                bindings,
            )
        }
    }
}

/// The queue where a message of `queue` waits `delay` before it returns to `queue`.
pub fn retry_queue(queue: &str, delay: Duration) -> String {
    format!("{queue}.retry.{}ms", delay.as_millis())
}

/// The queue where a message of `queue` is parked after its last attempt.
pub fn dead_queue(queue: &str) -> String {
    format!("{queue}.dead")
}

/// The topic exchange a consumer re-publishes through to its own retry and dead queues
/// (bound by their names). Not the default exchange: write access to that one reaches every
/// queue by name, so a consumer could drop a forged `payment.succeeded` straight into
/// `order.saga`; here a topic permission limits each user to its own queues' names.
pub fn retry_exchange(exchange: &str) -> String {
    format!("{exchange}.retry")
}

const ATTEMPT_HEADER: &str = "x-shop-attempt";
const ERROR_HEADER: &str = "x-shop-last-error";

fn attempt_of(delivery: &Delivery) -> u32 {
    match delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|headers| headers.inner().get(ATTEMPT_HEADER))
    {
        Some(AMQPValue::LongUInt(n)) => *n,
        Some(AMQPValue::LongInt(n)) => (*n).max(0) as u32,
        Some(AMQPValue::LongLongInt(n)) => (*n).max(0) as u32,
        _ => 0,
    }
}

/// Declares `q`, `q.retry` and `q.dead` and binds `q`; idempotent.
pub async fn declare(
    broker: &Broker,
    channel: &Channel,
    spec: &QueueSpec,
) -> Result<String, BusError> {
    let config = broker.config();
    let queue = format!("{}{}", config.queue_prefix, spec.name);
    let mut common = FieldTable::default();
    if config.queue_expires_secs > 0 {
        let millis = config
            .queue_expires_secs
            .saturating_mul(1000)
            .min(u64::from(u32::MAX));
        common.insert(
            ShortString::from("x-expires"),
            AMQPValue::LongUInt(millis as u32),
        );
    }
    if spec.exclusive {
        let private = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(queue.clone().into(), private, FieldTable::default())
            .await?;
        bind(broker, channel, &queue, spec).await?;
        return Ok(queue);
    }
    if broker.provisioned() {
        // Least privilege: an operator declared the queues, their retry and dead queues and
        // the bindings; this user may only consume and forward, so check the queue exists.
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(queue.clone().into(), passive, FieldTable::default())
            .await?;
        return Ok(queue);
    }
    let retries = retry_exchange(&config.exchange);
    crate::broker::declare_topic_exchange(channel, &retries, false).await?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.clone().into(), durable, common.clone())
        .await?;
    let mut parked = Vec::new();
    for delay in spec.retry_delays() {
        let mut retry_args = common.clone();
        retry_args.insert(
            ShortString::from("x-dead-letter-exchange"),
            AMQPValue::LongString(String::new().into()),
        );
        retry_args.insert(
            ShortString::from("x-dead-letter-routing-key"),
            AMQPValue::LongString(queue.clone().into()),
        );
        let ttl_ms = u32::try_from(delay.as_millis()).unwrap_or(u32::MAX);
        retry_args.insert(
            ShortString::from("x-message-ttl"),
            AMQPValue::LongUInt(ttl_ms),
        );
        let retry = retry_queue(&queue, delay);
        channel
            .queue_declare(retry.clone().into(), durable, retry_args)
            .await?;
        parked.push(retry);
    }
    let dead = dead_queue(&queue);
    channel
        .queue_declare(dead.clone().into(), durable, common)
        .await?;
    parked.push(dead);
    bind(broker, channel, &queue, spec).await?;
    for name in parked {
        channel
            .queue_bind(
                name.clone().into(),
                retries.clone().into(),
                name.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(queue)
}

async fn bind(
    broker: &Broker,
    channel: &Channel,
    queue: &str,
    spec: &QueueSpec,
) -> Result<(), BusError> {
    for binding in &spec.bindings {
        channel
            .queue_bind(
                queue.to_owned().into(),
                broker.config().exchange.clone().into(),
                binding.clone().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

/// Consumes `spec`'s queue with `handler` until `shutdown` resolves, reconnecting (with
/// back-off) whenever the broker or the connection goes away. In-flight handlers finish
/// before it returns.
pub async fn run<H, Fut>(
    broker: Broker,
    spec: QueueSpec,
    handler: H,
    shutdown: impl Future<Output = ()> + Send,
) where
    H: Fn(Envelope) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Handled> + Send + 'static,
{
    run_signalling_ready(broker, spec, handler, shutdown, None).await;
}

/// [`run`], telling `ready` once the queue is bound and consumed for the first time: a
/// per-replica consumer must not miss events published after its replica starts serving.
pub async fn run_signalling_ready<H, Fut>(
    broker: Broker,
    spec: QueueSpec,
    handler: H,
    shutdown: impl Future<Output = ()> + Send,
    mut ready: Option<tokio::sync::oneshot::Sender<()>>,
) where
    H: Fn(Envelope) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Handled> + Send + 'static,
{
    let handler = Arc::new(handler);
    let permits = Arc::new(tokio::sync::Semaphore::new(usize::from(
        spec.prefetch.max(1),
    )));
    tokio::pin!(shutdown);
    let mut attempt = 0u32;
    loop {
        let session = consume_session(&broker, &spec, handler.clone(), permits.clone(), &mut ready);
        tokio::select! {
            () = &mut shutdown => break,
            outcome = session => {
                match outcome {
                    Ok(()) => tracing::warn!(queue = %spec.name, "consumer stream ended; reconnecting"),
                    Err(error) => tracing::warn!(queue = %spec.name, %error, "consumer failed; reconnecting"),
                }
                broker.reset().await;
                let delay = crate::broker::backoff(attempt);
                attempt = attempt.saturating_add(1);
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    // Wait for handlers still running, so their acks (or redeliveries) are settled.
    let _ = permits.acquire_many(u32::from(spec.prefetch.max(1))).await;
    tracing::info!(queue = %spec.name, "consumer stopped");
}

async fn consume_session<H, Fut>(
    broker: &Broker,
    spec: &QueueSpec,
    handler: Arc<H>,
    permits: Arc<tokio::sync::Semaphore>,
    ready: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<(), BusError>
where
    H: Fn(Envelope) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Handled> + Send + 'static,
{
    let channel = broker.channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let queue = declare(broker, &channel, spec).await?;
    channel
        .basic_qos(spec.prefetch, BasicQosOptions::default())
        .await?;
    let mut deliveries = channel
        .basic_consume(
            queue.clone().into(),
            format!("{}-{}", spec.name, uuid::Uuid::new_v4().simple()).into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue = %queue, "consuming");
    if let Some(ready) = ready.take() {
        let _ = ready.send(());
    }
    while let Some(delivery) = deliveries.next().await {
        let delivery = delivery?;
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| BusError::Nacked("consumer closed".into()))?;
        let handler = handler.clone();
        let channel = channel.clone();
        let queue = queue.clone();
        let spec = spec.clone();
        let exchange = broker.config().exchange.clone();
        tokio::spawn(async move {
            if let Err(error) = process(
                &channel,
                &exchange,
                &queue,
                &spec,
                delivery,
                handler.as_ref(),
            )
            .await
            {
                // The delivery stays unacked and comes back when the channel closes.
                tracing::warn!(%error, queue = %queue, "could not settle a delivery");
            }
            drop(permit);
        });
    }
    Ok(())
}

async fn process<H, Fut>(
    channel: &Channel,
    exchange: &str,
    queue: &str,
    spec: &QueueSpec,
    delivery: Delivery,
    handler: &H,
) -> Result<(), BusError>
where
    H: Fn(Envelope) -> Fut,
    Fut: Future<Output = Handled>,
{
    let routing_key = delivery.routing_key.as_str().to_owned();
    let span = tracing::info_span!(
        "amqp.consume",
        otel.name = %format!("{routing_key} process"),
        otel.kind = "consumer",
        messaging.system = "rabbitmq",
        messaging.destination = %queue,
        messaging.rabbitmq.routing_key = %routing_key,
        messaging.message.id = tracing::field::Empty,
    );
    trace::set_parent(&span, delivery.properties.headers().as_ref());
    let attempt = attempt_of(&delivery);
    let retries = retry_exchange(exchange);
    let outcome = match envelope::decode(&delivery.data) {
        Ok(envelope) => {
            span.record("messaging.message.id", envelope.event_id.as_str());
            handler(envelope).instrument(span.clone()).await
        }
        Err(error) => Handled::Reject(format!("undecodable message: {error}")),
    };
    // The outcome is settled inside the span (never `span.enter()` across an await: a guard
    // held over a yield leaks the span into whatever task the worker polls next).
    async {
        match outcome {
            Handled::Done => {
                // One line per event a saga participant took in, inside the consume span, so
                // an operator finds it by the checkout's trace id; a per-replica feed (every
                // event, every replica) would only repeat them.
                if spec.exclusive {
                    tracing::debug!(attempt, "event handled");
                } else {
                    tracing::info!(attempt, "event handled");
                }
                count(spec, "done");
            }
            Handled::Retry(reason) | Handled::Reject(reason) if spec.exclusive => {
                tracing::warn!(%reason, "dropping an event a per-replica consumer could not handle");
                count(spec, "dropped");
            }
            Handled::Retry(reason) if attempt + 1 < spec.max_attempts => {
                let delay = spec.retry_delay_after(attempt);
                tracing::warn!(attempt, %reason, delay_ms = delay.as_millis() as u64, "handler failed; will retry");
                forward(
                    channel,
                    &retries,
                    &retry_queue(queue, delay),
                    &delivery,
                    attempt + 1,
                    &reason,
                )
                .await?;
                count(spec, "retried");
            }
            Handled::Retry(reason) | Handled::Reject(reason) => {
                tracing::error!(attempt, %reason, "message parked in the dead-letter queue");
                forward(
                    channel,
                    &retries,
                    &dead_queue(queue),
                    &delivery,
                    attempt + 1,
                    &reason,
                )
                .await?;
                count(spec, "dead_lettered");
            }
        }
        delivery.acker.ack(BasicAckOptions::default()).await?;
        Ok(())
    }
    .instrument(span)
    .await
}

/// Re-publishes a delivery to its queue `target` (through `exchange`, where `target` is
/// bound by its own name) with its attempt count, and waits for the broker's confirm. An
/// unroutable copy (binding missing) is an error, so the original stays unacked.
async fn forward(
    channel: &Channel,
    exchange: &str,
    target: &str,
    delivery: &Delivery,
    attempt: u32,
    reason: &str,
) -> Result<(), BusError> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(
        ShortString::from(ATTEMPT_HEADER),
        AMQPValue::LongUInt(attempt),
    );
    let reason: String = reason.chars().take(500).collect();
    headers.insert(
        ShortString::from(ERROR_HEADER),
        AMQPValue::LongString(reason.into()),
    );
    let properties: BasicProperties = delivery.properties.clone().with_headers(headers);
    let confirmation = crate::broker::bounded("forward", async {
        channel
            .basic_publish(
                exchange.to_owned().into(),
                target.to_owned().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &delivery.data,
                properties,
            )
            .await?
            .await
    })
    .await?;
    match confirmation {
        lapin::Confirmation::Nack(_) => Err(BusError::Nacked(target.to_owned())),
        lapin::Confirmation::Ack(Some(_)) => {
            Err(BusError::Nacked(format!("{target} (unroutable)")))
        }
        lapin::Confirmation::Ack(None) | lapin::Confirmation::NotRequested => Ok(()),
    }
}
