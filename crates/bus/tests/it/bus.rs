//! The bus against a real RabbitMQ (and MariaDB for the outbox and inbox): each test has its
//! own exchange and queue prefix.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use lapin::message::BasicGetMessage;
use lapin::options::BasicGetOptions;
use shop_bus::consumer::{self, Handled, QueueSpec};
use shop_bus::outbox::{self, Relay};
use shop_bus::{Broker, Publisher, inbox, new_event};
use shop_proto::shop::events::v1::envelope::Payload;
use shop_proto::shop::events::v1::{Envelope, OrderConfirmed};
use shop_testkit::{TestAmqp, TestMysql, wait_until};
use tokio::sync::mpsc;
use tracing::Instrument;

fn broker(amqp: &TestAmqp, name: &str) -> Broker {
    Broker::new(amqp.bus_config(), name)
}

fn confirmed(order_id: &str) -> Envelope {
    new_event(
        order_id,
        Payload::OrderConfirmed(OrderConfirmed {
            order_id: order_id.to_owned(),
            ..Default::default()
        }),
    )
}

fn spec(name: &str) -> QueueSpec {
    QueueSpec {
        retry_delay: Duration::from_millis(20),
        ..QueueSpec::new(name, &["order.*"])
    }
}

/// Starts a consumer whose handler forwards every envelope to the returned receiver and
/// answers with `decide(attempt_number)`.
fn consume(
    broker: &Broker,
    spec: QueueSpec,
    decide: impl Fn(u32) -> Handled + Send + Sync + 'static,
) -> (
    mpsc::UnboundedReceiver<Envelope>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let calls = Arc::new(AtomicU32::new(0));
    let decide = Arc::new(decide);
    tokio::spawn(consumer::run(
        broker.clone(),
        spec,
        move |envelope| {
            let tx = tx.clone();
            let calls = calls.clone();
            let decide = decide.clone();
            async move {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let _ = tx.send(envelope);
                decide(n)
            }
        },
        async move {
            let _ = stopped.await;
        },
    ));
    (rx, stop)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Envelope>) -> Envelope {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a delivery within 10 s")
        .expect("consumer alive")
}

/// Declares the consumer's queues before anything is published (a topic exchange drops
/// messages that no queue is bound for).
async fn declare(broker: &Broker, spec: &QueueSpec) {
    let channel = broker.channel().await.expect("a channel");
    consumer::declare(broker, &channel, spec)
        .await
        .expect("declared queues");
}

#[tokio::test]
async fn a_published_event_reaches_the_consumer_intact() {
    let amqp = TestAmqp::create().await.unwrap();
    let broker = broker(&amqp, "test");
    declare(&broker, &spec("roundtrip")).await;
    let (mut rx, _stop) = consume(&broker, spec("roundtrip"), |_| Handled::Done);
    let publisher = Publisher::new(broker.clone());
    let sent = confirmed("o-1");
    publisher.publish(&sent).await.unwrap();
    assert_eq!(next(&mut rx).await, sent);
}

#[tokio::test]
async fn failed_handling_is_retried_with_backoff_until_it_succeeds() {
    let amqp = TestAmqp::create().await.unwrap();
    let broker = broker(&amqp, "test");
    declare(&broker, &spec("retry")).await;
    let (mut rx, _stop) = consume(&broker, spec("retry"), |n| {
        if n < 2 {
            Handled::Retry("database down".into())
        } else {
            Handled::Done
        }
    });
    let sent = confirmed("o-2");
    Publisher::new(broker.clone()).publish(&sent).await.unwrap();
    for _ in 0..3 {
        assert_eq!(next(&mut rx).await.event_id, sent.event_id);
    }
    // Acked after the third attempt: nothing more arrives.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), rx.recv())
            .await
            .is_err()
    );
}

async fn delivered(rx: &mut mpsc::UnboundedReceiver<(String, u32)>) -> (String, u32) {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a delivery within 10 s")
        .expect("consumer alive")
}

#[tokio::test]
async fn a_long_back_off_does_not_hold_back_a_short_one() {
    let amqp = TestAmqp::create().await.unwrap();
    let broker = broker(&amqp, "test");
    let spec = QueueSpec {
        retry_delay: Duration::from_millis(100),
        ..spec("backoff")
    };
    declare(&broker, &spec).await;
    // Deliveries as (order id, how many times that order was seen before).
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, u32)>();
    let seen = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(consumer::run(
        broker.clone(),
        spec,
        move |envelope| {
            let (tx, seen) = (tx.clone(), seen.clone());
            async move {
                let order = envelope.aggregate_id.clone();
                let n = {
                    let mut seen = seen.lock().expect("lock");
                    let count = seen.entry(order.clone()).or_insert(0u32);
                    *count += 1;
                    *count - 1
                };
                let _ = tx.send((order.clone(), n));
                // "o-slow" fails four times (its last back-off is 800 ms), "o-quick" once.
                let failures = if order == "o-slow" { 4 } else { 1 };
                if n < failures {
                    Handled::Retry("not yet".into())
                } else {
                    Handled::Done
                }
            }
        },
        async move {
            let _ = stopped.await;
        },
    ));
    let publisher = Publisher::new(broker.clone());
    publisher.publish(&confirmed("o-slow")).await.unwrap();
    while delivered(&mut rx).await != ("o-slow".to_owned(), 3) {}
    // o-slow now waits 800 ms for its fifth attempt; o-quick's one retry waits 100 ms and
    // must not queue up behind it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    publisher.publish(&confirmed("o-quick")).await.unwrap();
    let mut order = Vec::new();
    for _ in 0..3 {
        order.push(delivered(&mut rx).await);
    }
    assert_eq!(
        order,
        [
            ("o-quick".to_owned(), 0),
            ("o-quick".to_owned(), 1),
            ("o-slow".to_owned(), 4)
        ]
    );
}

#[tokio::test]
async fn a_message_that_keeps_failing_is_parked_in_the_dead_queue() {
    let amqp = TestAmqp::create().await.unwrap();
    let broker = broker(&amqp, "test");
    let spec = QueueSpec {
        max_attempts: 3,
        ..spec("dead")
    };
    declare(&broker, &spec).await;
    let (mut rx, _stop) = consume(&broker, spec, |_| Handled::Retry("always fails".into()));
    let sent = confirmed("o-3");
    Publisher::new(broker.clone()).publish(&sent).await.unwrap();
    for _ in 0..3 {
        next(&mut rx).await;
    }
    let parked = first_in(&amqp, &broker, "dead.dead").await;
    assert_eq!(
        shop_bus::decode(&parked.delivery.data).unwrap().event_id,
        sent.event_id
    );
    // Counted once the parked copy is confirmed, a moment after it is in the queue.
    wait_until(
        Duration::from_secs(5),
        "the dead letter counted",
        || async { (deliveries("dead", "dead_lettered") == 1).then_some(()) },
    )
    .await
    .unwrap();
    assert_eq!(deliveries("dead", "retried"), 2);
    assert_eq!(deliveries("dead", "done"), 0);
}

/// The first message in `queue` (under the test's prefix), waited for (up to 5 s) and taken.
async fn first_in(amqp: &TestAmqp, broker: &Broker, queue: &str) -> BasicGetMessage {
    let channel = broker.channel().await.expect("a channel");
    let queue = format!("{}{queue}", amqp.queue_prefix);
    wait_until(Duration::from_secs(5), "a message in the queue", || {
        let channel = channel.clone();
        let queue = queue.clone();
        async move {
            channel
                .basic_get(queue.into(), BasicGetOptions { no_ack: true })
                .await
                .ok()
                .flatten()
        }
    })
    .await
    .expect("a message in the queue")
}

/// `shop_bus_deliveries_total{queue, outcome}` as a service's `/metrics` would show it.
fn deliveries(queue: &str, outcome: &str) -> u64 {
    let registry = prometheus::Registry::new_custom(Some("shop".into()), None).expect("registry");
    consumer::register_metrics(&registry).expect("registered");
    registry
        .gather()
        .iter()
        .filter(|family| family.name() == "shop_bus_deliveries_total")
        .flat_map(|family| family.get_metric())
        .filter(|metric| {
            let label = |name: &str| {
                metric
                    .get_label()
                    .iter()
                    .find(|pair| pair.name() == name)
                    .map(|pair| pair.value().to_owned())
            };
            label("queue").as_deref() == Some(queue) && label("outcome").as_deref() == Some(outcome)
        })
        .map(|metric| metric.get_counter().get_value() as u64)
        .sum()
}

#[tokio::test]
async fn undecodable_messages_go_straight_to_the_dead_queue() {
    let amqp = TestAmqp::create().await.unwrap();
    let broker = broker(&amqp, "test");
    declare(&broker, &spec("garbage")).await;
    let (mut rx, _stop) = consume(&broker, spec("garbage"), |_| Handled::Done);
    let publisher = Publisher::new(broker.clone());
    publisher
        .publish_raw(shop_bus::publisher::Outgoing {
            event_id: "bad-1",
            routing_key: "order.created",
            body: b"\xff\xff not protobuf",
            headers: Default::default(),
        })
        .await
        .unwrap();
    let good = confirmed("o-4");
    publisher.publish(&good).await.unwrap();
    assert_eq!(
        next(&mut rx).await.event_id,
        good.event_id,
        "the handler never saw the garbage"
    );
    first_in(&amqp, &broker, "garbage.dead").await;
}

#[tokio::test]
async fn consumers_and_publishers_recover_when_the_connection_drops() {
    let amqp = TestAmqp::create().await.unwrap();
    let consumer_broker = broker(&amqp, "consumer");
    declare(&consumer_broker, &spec("reconnect")).await;
    let (mut rx, _stop) = consume(&consumer_broker, spec("reconnect"), |_| Handled::Done);
    let publisher_broker = broker(&amqp, "publisher");
    let publisher = Publisher::new(publisher_broker.clone());
    let first = confirmed("o-5");
    publisher.publish(&first).await.unwrap();
    assert_eq!(next(&mut rx).await.event_id, first.event_id);

    // Both sides lose their connections.
    consumer_broker.reset().await;
    publisher_broker.reset().await;

    let second = confirmed("o-6");
    publisher
        .publish(&second)
        .await
        .expect("the publisher reconnects");
    assert_eq!(
        next(&mut rx).await.event_id,
        second.event_id,
        "the consumer reconnects"
    );
}

#[tokio::test]
async fn the_outbox_publishes_committed_events_in_order_and_never_rolled_back_ones() {
    let amqp = TestAmqp::create().await.unwrap();
    let db = TestMysql::create().await.unwrap();
    outbox::ensure_schema(&db.pool).await.unwrap();
    let broker = broker(&amqp, "test");
    let spec = QueueSpec {
        prefetch: 1,
        ..spec("outbox")
    };
    declare(&broker, &spec).await;
    let (mut rx, _stop) = consume(&broker, spec, |_| Handled::Done);

    let mut committed = Vec::new();
    for i in 0..30 {
        let envelope = confirmed(&format!("o-{i}"));
        let mut tx = db.pool.begin().await.unwrap();
        outbox::enqueue(&mut tx, &envelope).await.unwrap();
        if i % 10 == 5 {
            tx.rollback().await.unwrap();
        } else {
            tx.commit().await.unwrap();
            committed.push(envelope.event_id);
        }
    }
    let relay = Relay::new(db.pool.clone(), Publisher::new(broker.clone()));
    let (stop_relay, relay_stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(relay.clone().run(async move {
        let _ = relay_stopped.await;
    }));
    relay.notify();

    let mut received = Vec::new();
    for _ in 0..committed.len() {
        received.push(next(&mut rx).await.event_id);
    }
    assert_eq!(
        received, committed,
        "every committed event, in commit order"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_err(),
        "no rolled-back event"
    );
    let unpublished: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM bus_outbox WHERE published_at IS NULL")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(unpublished, 0);
    let _ = stop_relay.send(());
    running.await.unwrap();
}

/// Whether the inbox lets `event_id` through to `consumer` (its first delivery there).
async fn admits(tx: &mut sqlx::MySqlConnection, consumer: &str, event_id: &str) -> bool {
    inbox::first_delivery(tx, consumer, event_id)
        .await
        .expect("the inbox answers")
}

#[tokio::test]
async fn the_inbox_admits_each_event_once_per_consumer() {
    let db = TestMysql::create().await.unwrap();
    inbox::ensure_schema(&db.pool).await.unwrap();
    let mut tx = db.pool.begin().await.unwrap();
    assert!(admits(&mut tx, "order", "e-1").await);
    assert!(!admits(&mut tx, "order", "e-1").await);
    assert!(admits(&mut tx, "payment", "e-1").await);
    tx.commit().await.unwrap();

    // A rolled-back effect does not count as processed.
    let mut tx = db.pool.begin().await.unwrap();
    assert!(admits(&mut tx, "order", "e-2").await);
    tx.rollback().await.unwrap();
    let mut tx = db.pool.begin().await.unwrap();
    assert!(admits(&mut tx, "order", "e-2").await);
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn the_trace_context_travels_in_the_message_headers() {
    use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bus-test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let amqp = TestAmqp::create().await.unwrap();
    let broker = broker(&amqp, "test");
    let spec = spec("traced");
    declare(&broker, &spec).await;
    let span = tracing::info_span!("checkout");
    let trace_id = span.context().span().span_context().trace_id();
    assert_ne!(trace_id, opentelemetry::trace::TraceId::INVALID);
    Publisher::new(broker.clone())
        .publish(&confirmed("o-trace"))
        .instrument(span.clone())
        .await
        .unwrap();

    let message = first_in(&amqp, &broker, "traced").await;
    let headers = message.delivery.properties.headers().clone().unwrap();
    let traceparent = match headers.inner().get("traceparent") {
        Some(lapin::types::AMQPValue::LongString(value)) => {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        }
        other => panic!("no traceparent header: {other:?}"),
    };
    assert!(
        traceparent.contains(&trace_id.to_string()),
        "{traceparent} carries trace {trace_id}"
    );
}
