//! Least privilege on the real RabbitMQ: a fresh vhost gets the users and permissions of
//! `shop_bus::permissions` (through `rabbitmqctl import_definitions`, as scripts/deps.sh
//! applies them), the topology is declared by the administrator, and then each service's user
//! does its own part and is refused everything else. Users and vhost are unique per run and
//! removed afterwards.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use shop_bus::broker::is_access_refused;
use shop_bus::consumer::{self, Handled, retry_exchange};
use shop_bus::permissions::{self, EXCHANGE};
use shop_bus::publisher::Outgoing;
use shop_bus::topology::{self, Participant};
use shop_bus::{Broker, BusConfig, BusError, Publisher};
use shop_testkit::wait_until;

/// A vhost with one user per participant, each granted its row of the table.
struct Fixture {
    vhost: String,
    admin_url: String,
    urls: HashMap<Participant, String>,
    users: Vec<String>,
}

fn rabbitmqctl(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("rabbitmqctl").args(args).output()?;
    anyhow::ensure!(
        output.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

impl Fixture {
    /// `None` (after saying so loudly) when rabbitmqctl cannot manage the local broker.
    async fn create() -> anyhow::Result<Option<Self>> {
        if rabbitmqctl(&["-q", "status"]).is_err() {
            eprintln!(
                "\n!!!!! SKIPPED: rabbitmqctl is unavailable here, so the RabbitMQ permission \
                 table was NOT tested against the broker !!!!!\n"
            );
            return Ok(None);
        }
        let base = std::env::var("SHOP_TEST_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
        let (scheme, rest) = base.split_once("://").expect("an amqp URL");
        let (credentials, host) = rest.split_once('@').expect("credentials in the URL");
        let host = host.split('/').next().unwrap_or(host);
        let admin = credentials.split(':').next().unwrap_or("guest");
        let run = uuid::Uuid::new_v4().simple().to_string();
        let vhost = format!("shop-perm-{}", &run[..12]);
        let url = |credentials: &str| format!("{scheme}://{credentials}@{host}/{vhost}");

        let mut users_json = Vec::new();
        let mut permissions_json = vec![serde_json::json!({
            "user": admin, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"
        })];
        let mut topics_json = Vec::new();
        let mut urls = HashMap::new();
        let mut users = Vec::new();
        for grant in permissions::table(EXCHANGE) {
            // The table's user names are global to the broker: this run's carry a suffix.
            let user = format!("{}-{}", grant.user, &run[..12]);
            let password = uuid::Uuid::new_v4().simple().to_string();
            users_json.push(serde_json::json!({"name": user, "password": password, "tags": ""}));
            permissions_json.push(serde_json::json!({
                "user": user, "vhost": vhost, "configure": grant.configure,
                "write": grant.write, "read": grant.read
            }));
            for (exchange, write, read) in &grant.topics {
                topics_json.push(serde_json::json!({
                    "user": user, "vhost": vhost, "exchange": exchange, "write": write, "read": read
                }));
            }
            urls.insert(grant.participant, url(&format!("{user}:{password}")));
            users.push(user);
        }
        let definitions = serde_json::json!({
            "vhosts": [{"name": vhost}],
            "users": users_json,
            "permissions": permissions_json,
            "topic_permissions": topics_json,
        });
        let file = std::env::temp_dir().join(format!("{vhost}.json"));
        std::fs::write(&file, definitions.to_string())?;
        let fixture = Self {
            admin_url: url(credentials),
            vhost,
            urls,
            users,
        };
        let imported = rabbitmqctl(&["-q", "import_definitions", &file.to_string_lossy()]);
        let _ = std::fs::remove_file(&file);
        imported?;
        // The import is asynchronous: wait until every user can log in to the vhost.
        for url in fixture.urls.values() {
            wait_until(
                Duration::from_secs(20),
                "the imported user can log in",
                || async {
                    let connection = Connection::connect(url, ConnectionProperties::default())
                        .await
                        .ok()?;
                    let _ = connection.close(0, "probe".into()).await;
                    Some(())
                },
            )
            .await?;
        }
        Ok(Some(fixture))
    }

    fn broker(&self, participant: Participant) -> Broker {
        Broker::new(
            BusConfig {
                url: self.urls[&participant].clone(),
                // As deployed (scripts/up.sh, the AKS overlay): the topology is provisioned.
                declare_topology: false,
                ..BusConfig::default()
            },
            participant.user(),
        )
    }

    fn admin(&self) -> Broker {
        Broker::new(
            BusConfig {
                url: self.admin_url.clone(),
                ..BusConfig::default()
            },
            "admin",
        )
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = rabbitmqctl(&["-q", "delete_vhost", &self.vhost]);
        for user in &self.users {
            let _ = rabbitmqctl(&["-q", "delete_user", user]);
        }
    }
}

async fn publish(broker: &Broker, routing_key: &str) -> Result<(), BusError> {
    let envelope = shop_bus::new_event(
        "o-1",
        shop_proto::shop::events::v1::envelope::Payload::OrderCreated(Default::default()),
    );
    let body = shop_bus::envelope::encode(&envelope);
    Publisher::new(broker.clone())
        .publish_raw(Outgoing {
            event_id: &envelope.event_id,
            routing_key,
            body: &body,
            headers: FieldTable::default(),
        })
        .await
}

fn refused<T: std::fmt::Debug>(outcome: Result<T, lapin::Error>, what: &str) {
    match outcome {
        Err(error) => assert!(
            is_access_refused(&BusError::Amqp(error.clone())),
            "{what}: refused, but not for access: {error}"
        ),
        Ok(value) => panic!("{what}: allowed ({value:?}), must be ACCESS_REFUSED"),
    }
}

/// One raw publish with confirms on a fresh channel of `broker`'s user.
async fn raw_publish(
    broker: &Broker,
    exchange: &str,
    routing_key: &str,
) -> Result<(), lapin::Error> {
    let connection =
        Connection::connect(&broker.config().url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let outcome = async {
        channel
            .basic_publish(
                exchange.to_owned().into(),
                routing_key.to_owned().into(),
                BasicPublishOptions::default(),
                b"forged",
                BasicProperties::default(),
            )
            .await?
            .await?;
        // A refusal closes the channel asynchronously: a round trip surfaces it.
        channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map(|_| ())
    }
    .await;
    let _ = connection.close(0, "done".into()).await;
    outcome
}

#[tokio::test]
async fn each_service_user_does_its_own_part_and_nothing_else() {
    let Some(fixture) = Fixture::create().await.expect("the permission fixture") else {
        return;
    };
    // The administrator provisions the topology, as scripts/up.sh and the AKS overlay do.
    let admin = fixture.admin();
    topology::declare_saga(&admin)
        .await
        .expect("the topology, declared by the admin");
    assert!(!admin.provisioned());

    // Each consumer finds its queue (the services' own start-up path) and may consume it.
    for participant in Participant::ALL {
        let broker = fixture.broker(participant);
        let channel = broker
            .channel()
            .await
            .expect("a channel for every service user");
        // The exchanges are the administrator's: no service user may declare (or delete) them.
        refused(
            channel
                .exchange_delete(EXCHANGE.into(), Default::default())
                .await,
            &format!("{participant:?} deletes the exchange"),
        );
        let channel = broker.channel().await.expect("a fresh channel");
        if let Some(spec) = participant.saga_queue() {
            consumer::declare(&broker, &channel, &spec)
                .await
                .unwrap_or_else(|error| panic!("{participant:?} checks its own queue: {error}"));
            channel
                .basic_consume(
                    spec.name.clone().into(),
                    "probe".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .unwrap_or_else(|error| panic!("{participant:?} consumes its own queue: {error}"));
        }
        // Services check every saga queue at start-up (passive, no permission needed).
        topology::declare_saga(&broker)
            .await
            .unwrap_or_else(|error| panic!("{participant:?} checks the saga topology: {error}"));
        // ...and publish every routing key they own.
        for key in participant.publishes() {
            publish(&broker, key)
                .await
                .unwrap_or_else(|error| panic!("{participant:?} publishes {key}: {error}"));
        }
        broker.close().await;
    }

    // A user left to declare the topology is refused, and falls back to checking it.
    let probing = Broker::new(
        BusConfig {
            url: fixture.urls[&Participant::Order].clone(),
            ..BusConfig::default()
        },
        "probe",
    );
    probing
        .channel()
        .await
        .expect("a channel after the refused declare");
    assert!(probing.provisioned());
    publish(&probing, "order.created")
        .await
        .expect("publishing after the fallback");
    probing.close().await;

    // Per-replica queues: the BFF declares and binds its feed and sees Order's events.
    let bff = fixture.broker(Participant::Bff);
    let feed = shop_bus::QueueSpec::per_replica(topology::BFF_FEED, &["order.#", "payment.#"]);
    let channel = bff.channel().await.expect("a BFF channel");
    let feed_queue = consumer::declare(&bff, &channel, &feed)
        .await
        .expect("the BFF binds its per-replica feed");
    let product = fixture.broker(Participant::Product);
    let product_channel = product.channel().await.expect("a Product channel");
    consumer::declare(
        &product,
        &product_channel,
        &shop_bus::QueueSpec::per_replica(topology::PRODUCT_CACHE, &["product.changed"]),
    )
    .await
    .expect("Product binds its per-replica cache queue");

    // Forged events: Cart and Order may not publish Payment's outcome, the BFF nothing.
    let cart = fixture.broker(Participant::Cart);
    let order = fixture.broker(Participant::Order);
    for (who, broker) in [("cart", &cart), ("order", &order), ("bff", &bff)] {
        let error = publish(broker, "payment.succeeded")
            .await
            .expect_err(&format!("{who} must not publish payment.succeeded"));
        assert!(is_access_refused(&error), "{who}: {error}");
    }
    let error = publish(&bff, "order.created")
        .await
        .expect_err("the BFF publishes nothing");
    assert!(is_access_refused(&error), "bff: {error}");
    // Nor around the topic permission: straight into Order's queue by the default exchange,
    // or through the retry exchange with another queue's retry name.
    refused(
        raw_publish(&cart, "", "order.saga").await,
        "cart -> default exchange",
    );
    refused(
        raw_publish(&order, "", "order.saga").await,
        "order -> default exchange",
    );
    refused(
        raw_publish(&cart, &retry_exchange(EXCHANGE), "order.saga.retry.200ms").await,
        "cart -> order's retry queue",
    );
    refused(
        raw_publish(&bff, &retry_exchange(EXCHANGE), "order.saga.dead").await,
        "bff -> retry exchange",
    );

    // Another service's queue: no consuming, declaring, deleting or binding.
    for (who, broker, queue) in [
        ("order", &order, "inventory.orders"),
        ("cart", &cart, "payment.orders"),
        ("bff", &bff, "order.saga"),
        ("product", &product, "cart.orders"),
    ] {
        let connection = Connection::connect(&broker.config().url, ConnectionProperties::default())
            .await
            .expect("a connection");
        let channel = connection.create_channel().await.expect("a channel");
        refused(
            channel
                .basic_consume(
                    queue.into(),
                    "thief".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await,
            &format!("{who} consumes {queue}"),
        );
        let channel = connection.create_channel().await.expect("a channel");
        refused(
            channel
                .queue_declare(
                    queue.into(),
                    QueueDeclareOptions {
                        durable: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await,
            &format!("{who} declares {queue}"),
        );
        let channel = connection.create_channel().await.expect("a channel");
        refused(
            channel
                .queue_delete(queue.into(), QueueDeleteOptions::default())
                .await,
            &format!("{who} deletes {queue}"),
        );
        let channel = connection.create_channel().await.expect("a channel");
        refused(
            channel
                .queue_bind(
                    queue.into(),
                    EXCHANGE.into(),
                    "#".into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await,
            &format!("{who} binds {queue}"),
        );
        let _ = connection.close(0, "done".into()).await;
    }
    // The BFF may not bind even its own queue to events it has no business seeing.
    let channel = bff.channel().await.expect("a BFF channel");
    refused(
        channel
            .queue_bind(
                feed_queue.into(),
                EXCHANGE.into(),
                "inventory.#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await,
        "bff binds inventory.#",
    );
    drop(product_channel);
    product.close().await;
    bff.close().await;
    cart.close().await;
    order.close().await;
}

#[tokio::test]
async fn a_least_privilege_consumer_retries_through_its_own_retry_queue() {
    let Some(fixture) = Fixture::create().await.expect("the permission fixture") else {
        return;
    };
    topology::declare_saga(&fixture.admin())
        .await
        .expect("the topology");
    let cart = fixture.broker(Participant::Cart);
    let calls = Arc::new(AtomicU32::new(0));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let counted = calls.clone();
    let consumer = tokio::spawn(consumer::run(
        cart.clone(),
        topology::cart_orders(),
        move |_envelope| {
            let counted = counted.clone();
            async move {
                if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                    Handled::Retry("redis down".into())
                } else {
                    Handled::Done
                }
            }
        },
        async move {
            let _ = stopped.await;
        },
    ));
    let order = fixture.broker(Participant::Order);
    publish(&order, "order.confirmed")
        .await
        .expect("Order publishes order.confirmed");
    wait_until(Duration::from_secs(15), "the retried delivery", || {
        let calls = calls.clone();
        async move { (calls.load(Ordering::SeqCst) >= 2).then_some(()) }
    })
    .await
    .expect("Cart's retry went through cart.orders.retry.200ms and back");
    let _ = stop.send(());
    consumer.await.expect("the consumer stops");
    order.close().await;
    cart.close().await;
}
