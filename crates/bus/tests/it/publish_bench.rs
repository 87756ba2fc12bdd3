//! Publishing N events one confirm at a time against all confirms in flight together
//! ([`Publisher::publish_all`], what the outbox relay does per batch), paired in one run
//! against the real RabbitMQ. A measurement, not a test: ignored, run with
//! `cargo nextest run -p shop-bus --run-ignored only --no-capture confirms`.

use std::time::Instant;

use shop_bus::publisher::Outgoing;
use shop_bus::{Broker, Publisher, envelope, new_event};
use shop_proto::shop::events::v1::OrderConfirmed;
use shop_proto::shop::events::v1::envelope::Payload;
use shop_testkit::TestAmqp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --run-ignored only --no-capture confirms"]
async fn confirms_one_at_a_time_versus_together() {
    const EVENTS: usize = 200;
    const ROUNDS: usize = 3;
    let amqp = TestAmqp::create().await.unwrap();
    let broker = Broker::new(amqp.bus_config(), "bench");
    // A durable queue bound to the events, so every confirm waits for the disk.
    let spec = shop_bus::consumer::QueueSpec::new("bench.confirms", &["order.*"]);
    let channel = broker.channel().await.unwrap();
    shop_bus::consumer::declare(&broker, &channel, &spec)
        .await
        .unwrap();
    let publisher = Publisher::new(broker.clone());
    let events: Vec<_> = (0..EVENTS)
        .map(|i| {
            let event = new_event(
                format!("o-{i}"),
                Payload::OrderConfirmed(OrderConfirmed {
                    order_id: format!("o-{i}"),
                    ..Default::default()
                }),
            );
            let body = envelope::encode(&event);
            (event, body)
        })
        .collect();
    let outgoing = || -> Vec<Outgoing<'_>> {
        events
            .iter()
            .map(|(event, body)| Outgoing {
                event_id: &event.event_id,
                routing_key: &event.r#type,
                body,
                headers: Default::default(),
            })
            .collect()
    };
    publisher.publish_all(&outgoing()[..1]).await.unwrap();
    for round in 0..ROUNDS {
        let started = Instant::now();
        for message in outgoing() {
            publisher.publish_raw(message).await.unwrap();
        }
        let serial = started.elapsed();
        let started = Instant::now();
        publisher.publish_all(&outgoing()).await.unwrap();
        let together = started.elapsed();
        println!(
            "| round {round} | {EVENTS} events | one confirm at a time {:.0} ms ({:.0}/s) | all in flight {:.0} ms ({:.0}/s) |",
            serial.as_secs_f64() * 1000.0,
            EVENTS as f64 / serial.as_secs_f64(),
            together.as_secs_f64() * 1000.0,
            EVENTS as f64 / together.as_secs_f64(),
        );
    }
    broker.close().await;
}
