//! Client-side load balancing (issue #11 item 1) over real gRPC: two Product replicas behind one
//! client, built the way every service builds its clients (`shop_kit::client::traced_channel`
//! with the comma list `scripts/up.sh` hands out). Each replica's own `/metrics` says how many
//! calls it served. A replica killed under load loses no read (reads are retried on the other),
//! a write is never sent twice, and a replica that listens again gets calls again.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use shop_kit::auth::Role;
use shop_kit::client::{TracedChannel, traced_channel};
use shop_product::{App, ProductConfig};
use shop_proto::shop::product::v1::{self as pb, product_service_client::ProductServiceClient};
use shop_testkit::{RunningService, Scrape, TestAmqp, TestMongo, token_for, with_token};

const DEADLINE: Duration = Duration::from_secs(2);

/// A replica in a Tokio runtime of its own, so that killing it drops its listener and every
/// open connection at once, mid-call, as `kill -9` of a process does: no drain, no GOAWAY.
struct Replica {
    runtime: Option<tokio::runtime::Runtime>,
    service: Option<RunningService>,
    grpc_addr: SocketAddr,
    admin_addr: SocketAddr,
}

impl Replica {
    async fn start(config: ProductConfig) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let service = runtime
            .spawn(RunningService::start::<App>(config))
            .await
            .context("replica start panicked")??;
        service.channel().await?; // SERVING
        Ok(Self {
            runtime: Some(runtime),
            grpc_addr: service.addr,
            admin_addr: service.admin_addr,
            service: Some(service),
        })
    }

    fn kill(&mut self) {
        drop(self.service.take());
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// Calls of `method` this replica answered OK, from its own metrics.
    async fn served(&self, method: &str) -> anyhow::Result<u64> {
        Ok(Scrape::of(self.admin_addr).await?.sum(
            "shop_grpc_server_handled_total",
            &[("grpc_method", method), ("grpc_code", "OK")],
        ))
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

fn config(mongo: &TestMongo, amqp: &TestAmqp, grpc_addr: SocketAddr) -> ProductConfig {
    ProductConfig {
        host: shop_kit::server::HostConfig {
            grpc_addr,
            ..shop_testkit::test_host()
        },
        mongo: mongo.config(),
        amqp: amqp.bus_config(),
        ..ProductConfig::default()
    }
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn balanced(addrs: &[SocketAddr]) -> anyhow::Result<ProductServiceClient<TracedChannel>> {
    let urls: Vec<String> = addrs.iter().map(|addr| format!("http://{addr}")).collect();
    Ok(ProductServiceClient::new(traced_channel(
        &urls.join(","),
        DEADLINE,
    )?))
}

fn get(id: &str) -> pb::GetProductRequest {
    pb::GetProductRequest {
        key: Some(pb::get_product_request::Key::Id(id.to_owned())),
    }
}

fn create(sku: &str, admin: &str) -> tonic::Request<pb::CreateProductRequest> {
    with_token(
        pb::CreateProductRequest {
            product: Some(pb::Product {
                sku: sku.into(),
                name: format!("Balanced {sku}"),
                description: "served by whichever replica".into(),
                price: Some(shop_proto::shop::common::v1::Money {
                    amount_minor: 1299,
                    currency: "EUR".into(),
                }),
                category: "outdoor".into(),
                ..Default::default()
            }),
            idempotency_key: String::new(),
        },
        admin,
    )
}

/// One read, alternating between the two read RPCs the BFF's catalog pages use.
async fn read(
    client: &mut ProductServiceClient<TracedChannel>,
    id: &str,
    n: usize,
) -> Result<(), tonic::Status> {
    if n.is_multiple_of(2) {
        client.get_product(get(id)).await.map(drop)
    } else {
        client
            .list_products(pb::ListProductsRequest {
                page_size: 10,
                ..Default::default()
            })
            .await
            .map(drop)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_reads_and_a_killed_one_loses_none() -> anyhow::Result<()> {
    let mongo = TestMongo::create().await?;
    let amqp = TestAmqp::create().await?;
    let a = Replica::start(config(&mongo, &amqp, any_port())).await?;
    let mut b = Replica::start(config(&mongo, &amqp, any_port())).await?;
    let admin = token_for(&uuid::Uuid::now_v7().to_string(), Role::Admin);
    let mut client = balanced(&[a.grpc_addr, b.grpc_addr])?;
    let id = client
        .create_product(create("LB-1", &admin))
        .await?
        .into_inner()
        .product
        .context("created product")?
        .id;

    // 1. Both replicas serve: round robin gives each half, as their own counters show.
    for _ in 0..40 {
        client.get_product(get(&id)).await?;
    }
    let (on_a, on_b) = (a.served("GetProduct").await?, b.served("GetProduct").await?);
    assert_eq!(on_a + on_b, 40, "a {on_a}, b {on_b}");
    assert!(
        on_a >= 10 && on_b >= 10,
        "unevenly spread: a {on_a}, b {on_b}"
    );

    // 2. Four readers keep reading; B dies (kill -9 style) after 150 reads, mid-call.
    let done = Arc::new(AtomicUsize::new(0));
    let stop_at = 450;
    let mut readers = Vec::new();
    for reader in 0..4 {
        let (mut client, id, done) = (client.clone(), id.clone(), Arc::clone(&done));
        readers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut n = reader;
            while done.fetch_add(1, Ordering::Relaxed) < stop_at {
                if let Err(status) = read(&mut client, &id, n).await {
                    failures.push(status);
                }
                n += 1;
            }
            failures
        }));
    }
    while done.load(Ordering::Relaxed) < 150 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    b.kill();
    let killed_at = done.load(Ordering::Relaxed);
    let mut failures = Vec::new();
    for reader in readers {
        failures.extend(reader.await?);
    }
    assert!(failures.is_empty(), "reads lost: {failures:?}");
    assert!(
        killed_at < stop_at - 100,
        "B was killed too late to matter (after {killed_at} reads)"
    );
    // Everything after the kill was A's.
    let a_now = a.served("GetProduct").await? + a.served("ListProducts").await?;
    assert!(
        a_now >= on_a + (stop_at - killed_at) as u64,
        "A served {a_now}, killed after {killed_at} of {stop_at}"
    );

    // 3. A write is never sent twice: to a dead address first in turn, it fails UNAVAILABLE
    //    and A never sees it; a read in the same place is retried on A.
    let dead = {
        let listener = std::net::TcpListener::bind(any_port())?;
        listener.local_addr()?
    };
    let creates_before = a.served("CreateProduct").await?;
    let mut dead_first = balanced(&[dead, a.grpc_addr])?;
    let refused = dead_first
        .create_product(create("LB-2", &admin))
        .await
        .expect_err("the write went to the dead address");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert_eq!(a.served("CreateProduct").await?, creates_before);
    let mut dead_first = balanced(&[dead, a.grpc_addr])?;
    dead_first.get_product(get(&id)).await?;

    // 4. B back on its address: the client notices within a few probes and sends it calls.
    let b_addr = b.grpc_addr;
    drop(b);
    let b = Replica::start(config(&mongo, &amqp, b_addr)).await?;
    let started = Instant::now();
    while b.served("GetProduct").await? == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the restarted replica got no calls"
        );
        client.get_product(get(&id)).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
