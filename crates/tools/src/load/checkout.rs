//! Scenario (c) of issue #9: checkout through the public GraphQL API, as a shopper does it:
//! set the cart line (`updateCartItem`), `checkout` with `pm_card_visa` and a fresh
//! idempotency key, then poll `order(id)` until CONFIRMED (or CANCELLED: an error).
//!
//! Latency is from the checkout's *intended* start (a burst: the burst's start; open loop:
//! start + i / rate) to the moment the order became CONFIRMED, read from its `updatedAt`
//! (written by shop-order on this machine, so the same clock, in microseconds). It includes
//! any wait for a free shopper; the poll interval (`--poll-ms`) only delays noticing, so it
//! can be slow enough not to load the system much (each poll is a BFF request and a GetOrder).
//!
//! Shoppers are registered up front and lent out one checkout at a time: an order's items
//! cannot be ordered again while it is open (`ITEMS_AWAITING_PAYMENT`) and a user may hold at
//! most 3 open orders. A reused shopper orders another SKU each time, because the cart drops
//! what was bought on `order.confirmed`, asynchronously, and may not have done so yet.
//! Stock of the SKUs used is set high first (admin gRPC SetStock), so a run never sells out.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use serde_json::json;
use shop_proto::shop::inventory::v1::{
    SetStockRequest, inventory_service_client::InventoryServiceClient,
};
use shop_proto::shop::product::v1::{
    ListProductsRequest, product_service_client::ProductServiceClient,
};
use tokio::sync::{Mutex, mpsc};

use super::args::Args;
use super::driver::{self, Done, Mode, Outcome, Plan};
use super::graphql::{GraphQl, string_field};
use super::{ratio, show_ratio};

const REGISTER: &str =
    "mutation BenchRegister($input: RegisterInput!) { register(input: $input) { accessToken } }";
const SET_LINE: &str =
    "mutation BenchSetLine($sku: String!) { updateCartItem(sku: $sku, quantity: 1) { itemCount } }";
const CHECKOUT: &str =
    "mutation BenchCheckout($input: CheckoutInput!) { checkout(input: $input) { id status } }";
const CANCEL: &str =
    "mutation BenchCancel($id: ID!) { cancelOrder(id: $id, reason: \"bench timeout\") { status } }";
const CART: &str = "query BenchCart { cart { items { sku } } }";
const REMOVE: &str =
    "mutation BenchRemove($sku: String!) { removeFromCart(sku: $sku) { itemCount } }";
/// How long a shopper whose checkout failed sits out: a shopper that keeps failing fast
/// (an order stuck open) would otherwise absorb every call of a phase.
const FAILED_COOLDOWN: Duration = Duration::from_secs(1);
const ORDER: &str =
    "query BenchOrder($id: ID!) { order(id: $id) { status cancelReason updatedAt } }";
/// Units set on each checkout SKU before a run.
const BENCH_STOCK: i64 = 1_000_000;

struct Shopper {
    token: String,
    index: usize,
    uses: usize,
    /// Its last checkout did not end CONFIRMED (or was cut off), so its cart may still hold
    /// lines of an order that is open: emptied before the next checkout.
    dirty: bool,
}

/// Shoppers not currently checking out; a checkout waits here for one.
struct Pool {
    sender: mpsc::UnboundedSender<Shopper>,
    receiver: Mutex<mpsc::UnboundedReceiver<Shopper>>,
}

impl Pool {
    /// Waits for a free shopper, lent until the returned guard is dropped.
    async fn lend(&self) -> anyhow::Result<Lent<'_>> {
        let shopper = self
            .receiver
            .lock()
            .await
            .recv()
            .await
            .context("shopper pool closed")?;
        Ok(Lent {
            shopper: Some(shopper),
            pool: self,
        })
    }
}

/// A shopper on loan. Dropping it gives the shopper back, also when the checkout future is
/// dropped at the drain deadline, so a phase that overran never shrinks the next one's pool.
struct Lent<'a> {
    shopper: Option<Shopper>,
    pool: &'a Pool,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(shopper) = self.shopper.take() {
            // The receiver lives as long as the pool, so this cannot fail.
            let _ = self.pool.sender.send(shopper);
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub phase: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// confirmed/s ÷ MariaDB's single-row durable commits/s, when measured.
    pub vs_mariadb_commits: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub kind: &'static str,
    pub backend: String,
    pub url: String,
    pub shoppers: usize,
    pub poll_ms: u64,
    pub mariadb_commits_per_s: Option<f64>,
    pub rows: Vec<Row>,
}

pub const VALUED: &[&str] = &[
    "url",
    "burst",
    "rates",
    "duration",
    "shoppers",
    "poll-ms",
    "skus",
    "order-timeout",
    "mariadb-commits",
    "json",
];
pub const SWITCHES: &[&str] = &["allow-remote", "no-restock"];

/// `shop-load checkout ...`.
pub async fn main(raw: &[String]) -> anyhow::Result<()> {
    let args = Args::parse(raw, VALUED, SWITCHES)?;
    let allow_remote = args.switch("allow-remote");
    let url = args
        .value("url")
        .unwrap_or("http://127.0.0.1:8080/graphql")
        .to_owned();
    let client = GraphQl::new(&url, allow_remote)?;
    let burst: u64 = args.get("burst", 100)?;
    let rates: Vec<f64> = args.list("rates", &[20.0, 50.0, 100.0])?;
    anyhow::ensure!(
        rates.iter().all(|rate| *rate > 0.0 && *rate <= 10_000.0),
        "BAD_ARGUMENT: --rates must be in (0, 10000] per second"
    );
    let duration = args.seconds("duration", 30.0)?;
    let shoppers: usize = args.get("shoppers", 300)?;
    anyhow::ensure!(
        (1..=10_000).contains(&shoppers),
        "BAD_ARGUMENT: --shoppers must be 1..=10000"
    );
    let poll = Duration::from_millis(args.get("poll-ms", 200)?);
    anyhow::ensure!(
        poll >= Duration::from_millis(5),
        "BAD_ARGUMENT: --poll-ms must be at least 5"
    );
    let sku_count: usize = args.get("skus", 64)?;
    let order_timeout = args.seconds("order-timeout", 30.0)?;
    let mariadb: Option<f64> = match args.value("mariadb-commits") {
        Some(_) => Some(args.get("mariadb-commits", 0.0)?),
        None => None,
    };

    let skus = Arc::new(stock_skus(sku_count, !args.switch("no-restock"), allow_remote).await?);
    let pool = Arc::new(register(&client, shoppers).await?);
    let context = Arc::new(Checkout {
        client,
        pool,
        skus,
        poll,
        order_timeout,
        run: uuid::Uuid::now_v7().simple().to_string(),
        next_key: AtomicU64::new(0),
    });

    let mut phases: Vec<(String, Plan)> = Vec::new();
    if burst > 0 {
        phases.push((
            format!("burst of {burst}"),
            Plan {
                mode: Mode::Open {
                    rate: f64::INFINITY,
                    max_in_flight: burst as usize,
                },
                duration: Duration::from_secs(1),
                max_calls: burst,
                drain: order_timeout + Duration::from_secs(30),
            },
        ));
    }
    for rate in rates {
        phases.push((
            format!("open {rate:.0}/s for {:.0} s", duration.as_secs_f64()),
            Plan {
                mode: Mode::Open {
                    rate,
                    max_in_flight: 10_000,
                },
                duration,
                max_calls: (rate * duration.as_secs_f64()).ceil() as u64,
                drain: order_timeout + Duration::from_secs(5),
            },
        ));
    }
    let mut rows = Vec::new();
    for (phase, plan) in phases {
        let context = context.clone();
        let outcome = driver::run(plan, move |call| {
            let context = context.clone();
            async move { context.one(call).await }
        })
        .await?;
        eprintln!(
            "shop-load: checkout {phase}: {:.1} confirmed/s, p50 {:.0} ms p99 {:.0} ms, {} errors",
            outcome.ok_per_s, outcome.p50_ms, outcome.p99_ms, outcome.errors
        );
        rows.push(Row {
            phase,
            vs_mariadb_commits: ratio(outcome.ok_per_s, mariadb.unwrap_or(0.0)),
            outcome,
        });
        // Let the saga's tail (cart clearing, relays) settle before the next phase.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let report = Report {
        kind: "checkout",
        backend: super::backend(),
        url,
        shoppers,
        poll_ms: poll.as_millis() as u64,
        mariadb_commits_per_s: mariadb,
        rows,
    };
    print!("{}", markdown(&report));
    super::write_json(args.value("json"), &report)
}

struct Checkout {
    client: GraphQl,
    pool: Arc<Pool>,
    skus: Arc<Vec<String>>,
    poll: Duration,
    order_timeout: Duration,
    run: String,
    next_key: AtomicU64,
}

impl Checkout {
    /// One checkout by a lent shopper, who goes back to the pool whatever happened.
    async fn one(&self, _call: u64) -> anyhow::Result<Done> {
        let mut lent = self.pool.lend().await?;
        let shopper = lent.shopper.as_mut().context("lent shopper missing")?;
        let sku = &self.skus[(shopper.index + shopper.uses * 7) % self.skus.len()];
        shopper.uses += 1;
        let token = shopper.token.clone();
        let was_dirty = shopper.dirty;
        // Dirty until this checkout is CONFIRMED, also if it is cut off mid-way.
        shopper.dirty = true;
        let result = async {
            if was_dirty {
                self.empty_cart(&token).await?;
            }
            self.checkout(&token, sku).await
        }
        .await;
        if result.is_ok() {
            if let Some(shopper) = lent.shopper.as_mut() {
                shopper.dirty = false;
            }
        } else {
            tokio::time::sleep(FAILED_COOLDOWN).await;
        }
        result
    }

    /// Removes every line of the shopper's cart.
    async fn empty_cart(&self, token: &str) -> anyhow::Result<()> {
        let cart = self
            .client
            .call(CART, json!({}), Some(token))
            .await
            .context("cart")?;
        let skus: Vec<String> = cart
            .pointer("/cart/items")
            .and_then(serde_json::Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.get("sku")?.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for sku in skus {
            self.client
                .call(REMOVE, json!({ "sku": sku }), Some(token))
                .await
                .context("removeFromCart")?;
        }
        Ok(())
    }

    async fn checkout(&self, token: &str, sku: &str) -> anyhow::Result<Done> {
        self.client
            .call(SET_LINE, json!({ "sku": sku }), Some(token))
            .await
            .context("updateCartItem")?;
        let key = format!(
            "bench-{}-{}",
            self.run,
            self.next_key.fetch_add(1, Ordering::Relaxed)
        );
        let input = json!({
            "paymentMethod": "pm_card_visa",
            "idempotencyKey": key,
            "shippingAddress": {
                "name": "Bench Shopper", "line1": "1 Load St", "city": "Berlin",
                "postalCode": "10115", "country": "DE"
            }
        });
        let placed = self
            .client
            .call(CHECKOUT, json!({ "input": input }), Some(token))
            .await
            .context("checkout")?;
        let id = string_field(&placed, "/checkout/id")?;
        let deadline = Instant::now() + self.order_timeout;
        loop {
            tokio::time::sleep(self.poll).await;
            let data = self
                .client
                .call(ORDER, json!({ "id": id }), Some(token))
                .await
                .context("order")?;
            match string_field(&data, "/order/status")?.as_str() {
                "CONFIRMED" => return Ok(confirmed_at(&data)),
                "CANCELLED" => {
                    let reason = data
                        .pointer("/order/cancelReason")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("no reason");
                    anyhow::bail!("order CANCELLED: {reason}");
                }
                _ if Instant::now() >= deadline => {
                    // Free its items and the shopper's open-order slot for later checkouts.
                    let _ = self
                        .client
                        .call(CANCEL, json!({ "id": id }), Some(token))
                        .await;
                    anyhow::bail!("order not CONFIRMED within {:?}", self.order_timeout)
                }
                _ => {}
            }
        }
    }
}

/// When the order was confirmed by the server's clock (`updatedAt` of the CONFIRMED order),
/// or `None` (timed by the poll that saw it) when the reply has no usable timestamp.
fn confirmed_at(data: &serde_json::Value) -> Done {
    let raw = data.pointer("/order/updatedAt")?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(std::time::SystemTime::from)
}

/// The first `count` catalog SKUs, each stocked with [`BENCH_STOCK`] units (admin gRPC)
/// unless `restock` is off (a short run against someone's dev stack: its stock stays).
async fn stock_skus(
    count: usize,
    restock: bool,
    allow_remote: bool,
) -> anyhow::Result<Vec<String>> {
    anyhow::ensure!(
        (1..=100).contains(&count),
        "BAD_ARGUMENT: --skus must be 1..=100"
    );
    let product_url = shop_tools::product_url();
    let inventory_url = shop_tools::inventory_url();
    super::ensure_loopback(&product_url, allow_remote)?;
    super::ensure_loopback(&inventory_url, allow_remote)?;
    super::ensure_loopback(&shop_tools::user_url(), allow_remote)?;
    let skus: Vec<String> = ProductServiceClient::new(shop_tools::connect(&product_url).await?)
        .list_products(ListProductsRequest {
            page_size: count as i32,
            ..Default::default()
        })
        .await
        .context("listing the catalog (is the stack up and seeded?)")?
        .into_inner()
        .products
        .into_iter()
        .map(|product| product.sku)
        .collect();
    anyhow::ensure!(
        !skus.is_empty(),
        "NOT_SEEDED: the catalog is empty: run shop-seed"
    );
    if !restock {
        return Ok(skus);
    }
    let token = shop_tools::admin_token().await?;
    let inventory = InventoryServiceClient::new(shop_tools::connect(&inventory_url).await?);
    for sku in &skus {
        inventory
            .clone()
            .set_stock(shop_tools::authorized(
                SetStockRequest {
                    sku: sku.clone(),
                    on_hand: BENCH_STOCK,
                    reason: "shop-load checkout benchmark".into(),
                },
                &token,
            )?)
            .await
            .with_context(|| format!("stocking {sku}"))?;
    }
    Ok(skus)
}

/// Registers `count` shoppers through GraphQL, a few at a time (password hashing is
/// deliberately slow and bounded in shop-user; a busy answer is retried).
async fn register(client: &GraphQl, count: usize) -> anyhow::Result<Pool> {
    let started = Instant::now();
    let run = uuid::Uuid::now_v7().simple().to_string();
    let (sender, receiver) = mpsc::unbounded_channel();
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (client, next, sender, run) =
            (client.clone(), next.clone(), sender.clone(), run.clone());
        workers.spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed) as usize;
                if index >= count {
                    return Ok::<(), anyhow::Error>(());
                }
                let input = json!({
                    "email": format!("bench-{run}-{index}@example.com"),
                    "password": "bench shopper password",
                    "name": format!("Bench {index}"),
                });
                let mut attempt = 0;
                let token = loop {
                    attempt += 1;
                    match client
                        .call(REGISTER, json!({ "input": input }), None)
                        .await
                        .and_then(|data| string_field(&data, "/register/accessToken"))
                    {
                        Ok(token) => break token,
                        Err(error) if attempt >= 5 => {
                            return Err(error.context(format!(
                                "registering shopper {index} (the bench stack raises \
                                 SHOP_AUTH_RATE_LIMIT_*; a stock BFF allows 5 at once)"
                            )));
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(200 * attempt)).await,
                    }
                };
                let _ = sender.send(Shopper {
                    token,
                    index,
                    uses: 0,
                    dirty: false,
                });
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined??;
    }
    eprintln!(
        "shop-load: registered {count} shoppers in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(Pool {
        sender,
        receiver: Mutex::new(receiver),
    })
}

/// The checkout table for docs/benchmarks.md.
pub fn markdown(report: &Report) -> String {
    let mut out = format!(
        "\n**MongoDB backend: {}** · checkout through GraphQL at {}, {} shoppers, order polled every {} ms; \
         latency = intended start → the order's CONFIRMED `updatedAt` (server clock, same machine)\n\n",
        report.backend, report.url, report.shoppers, report.poll_ms
    );
    let reference = report
        .mariadb_commits_per_s
        .map_or("not measured".to_owned(), |rate| format!("{rate:.0}/s"));
    out.push_str(&format!(
        "| phase | checkouts | confirmed | confirmed/s | p50 ms | p99 ms | max ms | errors | ÷ MariaDB commits ({reference}) | backend |\n"
    ));
    out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for row in &report.rows {
        let o = &row.outcome;
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.0} | {:.0} | {:.0} | {} | {} | {} |\n",
            row.phase,
            o.calls,
            o.ok,
            o.ok_per_s,
            o.p50_ms,
            o.p99_ms,
            o.max_ms,
            o.errors + o.abandoned,
            show_ratio(row.vs_mariadb_commits),
            report.backend,
        ));
    }
    if let Some(at_50) = report
        .rows
        .iter()
        .find(|row| row.phase.starts_with("open 50/s"))
    {
        let ratio_met = at_50.vs_mariadb_commits >= 0.02;
        let p99_met = at_50.outcome.p99_ms < 500.0 && at_50.outcome.errors == 0;
        out.push_str(&format!(
            "\nTargets at 50/s: confirmed/s ÷ MariaDB commits ≥ 0.02: {} ({}); p99 < 500 ms with no errors: {} ({:.0} ms, {} errors)\n",
            if ratio_met { "met" } else { "**not met**" },
            show_ratio(at_50.vs_mariadb_commits),
            if p99_met { "met" } else { "**not met**" },
            at_50.outcome.p99_ms,
            at_50.outcome.errors,
        ));
    }
    out.push_str(&super::errors_seen(
        report
            .rows
            .iter()
            .map(|row| (row.phase.clone(), &row.outcome)),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkout dropped mid-flight (the drain deadline) still gives its shopper back, so
    /// the next phase has the whole pool.
    #[tokio::test]
    async fn a_dropped_checkout_returns_its_shopper() -> anyhow::Result<()> {
        let (sender, receiver) = mpsc::unbounded_channel();
        sender.send(Shopper {
            token: "t".into(),
            index: 0,
            uses: 0,
            dirty: false,
        })?;
        let pool = Pool {
            sender,
            receiver: Mutex::new(receiver),
        };
        let stuck = async {
            let _lent = pool.lend().await?;
            std::future::pending::<()>().await;
            anyhow::Ok(())
        };
        let timed_out = tokio::time::timeout(Duration::from_millis(20), stuck).await;
        assert!(timed_out.is_err(), "the checkout was cut off");
        let again = tokio::time::timeout(Duration::from_millis(100), pool.lend()).await;
        assert!(matches!(again, Ok(Ok(_))), "the shopper came back");
        Ok(())
    }

    #[test]
    fn confirmation_time_is_the_orders_updated_at() {
        let data =
            json!({ "order": { "status": "CONFIRMED", "updatedAt": "2026-11-30T00:12:51.405Z" } });
        let at = confirmed_at(&data).expect("parsed");
        let millis = at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        assert_eq!(millis, 1_795_997_571_405);
        assert!(confirmed_at(&json!({ "order": { "updatedAt": null } })).is_none());
    }
}
