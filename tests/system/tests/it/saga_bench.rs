//! Saga throughput and latency (placed → CONFIRMED), printed for docs/benchmarks.md.
//! A measurement, not a test: ignored by `just test`, run by `just bench-saga`.

use std::time::{Duration, Instant};

use shop_proto::shop::order::v1::OrderStatus;
use shop_system_tests::{Customer, System, order_when};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run with `just bench-saga`"]
async fn saga_throughput() {
    const ORDERS: usize = 60;
    let system = System::start().await.unwrap();
    system
        .stock_product("BENCH-1", 1500, 1_000_000)
        .await
        .unwrap();
    let buyers: Vec<Customer> = (0..ORDERS).map(|_| Customer::new()).collect();
    for buyer in &buyers {
        system.add_to_cart(buyer, "BENCH-1", 1).await.unwrap();
    }
    let started = Instant::now();
    let runs = buyers.iter().map(|buyer| {
        let system = &system;
        async move {
            let placed = Instant::now();
            let order = system
                .checkout(buyer, "bench", "pm_card_visa")
                .await
                .unwrap();
            order_when(system, &buyer.token, &order.id, "confirmed", |o| {
                o.status == OrderStatus::Confirmed as i32
            })
            .await
            .unwrap();
            placed.elapsed()
        }
    });
    let mut latencies: Vec<Duration> = futures::future::join_all(runs).await;
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    println!(
        "| {ORDERS} concurrent checkouts | {:.1} orders/s confirmed | p50 {} ms | p99 {} ms | wall {:.1} s |",
        ORDERS as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_millis(),
        pct(0.99).as_millis(),
        elapsed.as_secs_f64()
    );
}
