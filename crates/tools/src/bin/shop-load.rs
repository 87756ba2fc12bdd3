//! `shop-load`: the load generator of issue #9 (`just bench` drives it; `just load` runs the
//! original catalog and reservation rows).
//!
//! ```text
//! shop-load reads    [--target NAME=URL]... [--no-grpc] [--scenarios product,page]
//!                    [--concurrency 16] [--duration 10] [--warmup 3] [--max-calls N]
//!                    [--open-rate R | --open-fraction 0.5] [--max-in-flight 512] [--grpc-channels 4] [--json FILE]
//! shop-load checkout [--url http://127.0.0.1:8080/graphql] [--burst 100] [--rates 20,50,100]
//!                    [--duration 30] [--shoppers 300] [--poll-ms 200] [--skus 64]
//!                    [--order-timeout 30] [--mariadb-commits N] [--json FILE] [--no-restock]
//! shop-load startup  --process NAME=PID... [--port-base 31100] [--rounds 3] [--timeout 30]
//!                    [--log-dir DIR] [--json FILE]
//! shop-load growth   [--sizes 1000,10000,100000] [--bff URL] [--concurrency 4] [--duration 8]
//!                    [--warmup 2] [--deep-page 50] [--budget 600] [--json FILE]   (default x1)
//! shop-load [catalog|reserve|all] [seconds] [concurrency]     (closed-loop gRPC rows)
//! ```
//! Every command refuses targets off loopback unless `--allow-remote` is given. Tables go to
//! stdout as markdown rows for docs/benchmarks.md, progress to stderr, JSON to `--json`.
//! `reads` defaults to raw gRPC (SHOP_PRODUCT_URL, SHOP_INVENTORY_URL) and the BFF as
//! `bff=http://127.0.0.1:8080/graphql`; a target named `bff` is compared with every other.

#[path = "../load/mod.rs"]
mod load;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use shop_proto::shop::inventory::v1::{
    ReleaseReason, ReleaseRequest, ReservationLine, ReservationStatus, ReserveRequest,
    SetStockRequest, inventory_service_client::InventoryServiceClient,
};
use shop_proto::shop::product::v1::{
    BatchGetProductsRequest, ListProductsRequest, product_service_client::ProductServiceClient,
};
use shop_tools::{admin_token, authorized, connect, env_or, inventory_url, product_url};
use tonic::transport::Channel;

const LOAD_SKUS: usize = 50;

const USAGE: &str =
    "usage: shop-load reads [--target NAME=URL]... [--no-grpc] [--scenarios product,page] \
[--concurrency N] [--duration S] [--warmup S] [--max-calls N] [--open-rate R | --open-fraction F] \
[--max-in-flight N] [--grpc-channels 4] [--json FILE] [--allow-remote]
       shop-load checkout [--url URL] [--burst N] [--rates R1,R2] [--duration S] [--shoppers N] \
[--poll-ms MS] [--skus N] [--order-timeout S] [--mariadb-commits N] [--json FILE] [--no-restock] [--allow-remote]
       shop-load startup --process NAME=PID... [--port-base P] [--rounds N] [--timeout S] [--log-dir DIR] [--json FILE]
       shop-load growth [--sizes 1000,10000,100000] [--bff URL] [--concurrency N] [--duration S] [--warmup S] \
[--max-calls N] [--deep-page 50] [--grpc-channels 4] [--budget S] [--json FILE] [--allow-remote]
       shop-load [catalog|reserve|all] [seconds] [concurrency]";

struct Outcome {
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

impl Outcome {
    fn row(&self, name: &str, concurrency: usize) -> String {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let pct = |p: f64| -> f64 {
            if sorted.is_empty() {
                return 0.0;
            }
            let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
            sorted[index].as_secs_f64() * 1000.0
        };
        format!(
            "| {name} | {concurrency} | {} | {:.0} | {:.1} | {:.1} | {} |",
            sorted.len(),
            sorted.len() as f64 / self.elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99),
            self.errors
        )
    }
}

/// Runs `op` from `concurrency` workers for `duration`; each worker gets its index and a
/// per-call counter so operations can vary their input.
async fn drive<F, Fut>(duration: Duration, concurrency: usize, op: F) -> Outcome
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let op = op.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0;
                let mut call = 0;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match op(worker, call).await {
                        Ok(()) => latencies.push(t.elapsed()),
                        Err(_) => errors += 1,
                    }
                    call += 1;
                }
                (latencies, errors)
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcome = Outcome {
        latencies: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for worker in workers {
        if let Ok((latencies, errors)) = worker.await {
            outcome.latencies.extend(latencies);
            outcome.errors += errors;
        }
    }
    outcome.elapsed = started.elapsed();
    outcome
}

async fn catalog_rows(duration: Duration, concurrency: usize) -> anyhow::Result<Vec<String>> {
    let products = ProductServiceClient::new(connect(&product_url()).await?);
    // The SKUs to batch over: the seeded catalog's first pages.
    let mut skus = Vec::new();
    let mut token = String::new();
    while skus.len() < 200 {
        let page = products
            .clone()
            .list_products(ListProductsRequest {
                page_size: 100,
                page_token: token.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        skus.extend(page.products.into_iter().map(|p| p.sku));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    anyhow::ensure!(
        skus.len() >= 50,
        "need at least 50 products: run `just seed` first"
    );
    let skus = Arc::new(skus);
    let categories = [
        "kitchen", "outdoor", "home", "office", "garden", "toys", "audio", "apparel",
    ];

    let list = {
        let products = products.clone();
        drive(duration, concurrency, move |worker, call| {
            let mut products = products.clone();
            let category = if call % 2 == 0 {
                String::new()
            } else {
                categories[(worker + call) % categories.len()].to_owned()
            };
            async move {
                products
                    .list_products(ListProductsRequest {
                        page_size: 20,
                        category,
                        ..Default::default()
                    })
                    .await?;
                Ok(())
            }
        })
        .await
    };
    let search = {
        let products = products.clone();
        drive(duration, concurrency, move |worker, call| {
            let mut products = products.clone();
            let search =
                ["camp", "mug", "classic lamp", "deluxe", "wood"][(worker + call) % 5].to_owned();
            async move {
                products
                    .list_products(ListProductsRequest {
                        page_size: 20,
                        search,
                        ..Default::default()
                    })
                    .await?;
                Ok(())
            }
        })
        .await
    };
    let batch = {
        let products = products.clone();
        drive(duration, concurrency, move |worker, call| {
            let mut products = products.clone();
            let start = (worker * 7 + call * 13) % (skus.len() - 50);
            let batch: Vec<String> = skus[start..start + 50].to_vec();
            async move {
                products
                    .batch_get_products(BatchGetProductsRequest {
                        ids: vec![],
                        skus: batch,
                    })
                    .await?;
                Ok(())
            }
        })
        .await
    };
    Ok(vec![
        list.row("ListProducts(page_size 20, half by category)", concurrency),
        search.row("ListProducts(page_size 20, search)", concurrency),
        batch.row("BatchGetProducts(50 SKUs)", concurrency),
    ])
}

async fn reserve_rows(duration: Duration, concurrency: usize) -> anyhow::Result<Vec<String>> {
    let token = Arc::new(admin_token().await?);
    let inventory: InventoryServiceClient<Channel> =
        InventoryServiceClient::new(connect(&inventory_url()).await?);
    for i in 0..LOAD_SKUS {
        inventory
            .clone()
            .set_stock(authorized(
                SetStockRequest {
                    sku: format!("LOAD-{i:04}"),
                    on_hand: 10_000_000,
                    reason: "load test".into(),
                },
                &token,
            )?)
            .await
            .context("stocking load SKUs")?;
    }
    let reserved = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let outcome = {
        let inventory = inventory.clone();
        let token = token.clone();
        let reserved = reserved.clone();
        drive(duration, concurrency, move |worker, call| {
            let mut inventory = inventory.clone();
            let token = token.clone();
            let reserved = reserved.clone();
            async move {
                let order_id = uuid::Uuid::now_v7().to_string();
                let line = ReservationLine {
                    sku: format!("LOAD-{:04}", (worker * 31 + call) % LOAD_SKUS),
                    quantity: 1,
                };
                let reply = inventory
                    .reserve(authorized(
                        ReserveRequest {
                            order_id: order_id.clone(),
                            lines: vec![line],
                            ttl: Some(prost_types::Duration {
                                seconds: 600,
                                nanos: 0,
                            }),
                        },
                        &token,
                    )?)
                    .await?
                    .into_inner();
                anyhow::ensure!(
                    reply.reservation.map(|r| r.status) == Some(ReservationStatus::Reserved as i32),
                    "reservation not held"
                );
                if let Ok(mut reserved) = reserved.lock() {
                    reserved.push(order_id);
                }
                Ok(())
            }
        })
        .await
    };
    // Give the units back (not timed).
    let order_ids = reserved.lock().map(|ids| ids.clone()).unwrap_or_default();
    for order_id in order_ids {
        let _ = inventory
            .clone()
            .release(authorized(
                ReleaseRequest {
                    order_id,
                    reason: ReleaseReason::Admin as i32,
                },
                &token,
            )?)
            .await;
    }
    Ok(vec![
        outcome.row("Reserve(1 line, 50 hot SKUs)", concurrency),
    ])
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("reads") => return load::reads::main(&args[1..]).await,
        Some("checkout") => return load::checkout::main(&args[1..]).await,
        Some("startup") => return load::startup::main(&args[1..]).await,
        Some("growth") => return load::growth::main(&args[1..]).await,
        Some("-h" | "--help" | "help") => {
            println!("{}", USAGE);
            return Ok(());
        }
        _ => {}
    }
    // The legacy rows only ever load the default loopback services.
    for url in [product_url(), inventory_url()] {
        load::ensure_loopback(&url, false)?;
    }
    let what = args.first().map_or("all", String::as_str).to_owned();
    anyhow::ensure!(
        matches!(what.as_str(), "all" | "catalog" | "reserve"),
        "BAD_ARGUMENT: unknown command {what:?}\n{USAGE}"
    );
    let seconds: u64 = args
        .get(1)
        .map_or(Ok(10), |s| s.parse())
        .context("seconds")?;
    let concurrency: usize = args
        .get(2)
        .map_or(Ok(16), |s| s.parse())
        .context("concurrency")?;
    let duration = Duration::from_secs(seconds);

    println!(
        "<!-- shop-load {what} {seconds}s x{concurrency}; MongoDB: {} -->",
        env_or(
            "SHOP_MONGODB_URI",
            "SecantusDB stand-in at 127.0.0.1:27017 (`just up` default)"
        )
    );
    println!("| operation | concurrency | calls | calls/s | p50 ms | p99 ms | errors |");
    println!("|---|---|---|---|---|---|---|");
    if what == "all" || what == "catalog" {
        for row in catalog_rows(duration, concurrency).await? {
            println!("{row}");
        }
    }
    if what == "all" || what == "reserve" {
        for row in reserve_rows(duration, concurrency).await? {
            println!("{row}");
        }
    }
    Ok(())
}
