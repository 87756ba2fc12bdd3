//! Scenario (e) of issue #9, how cost grows with the catalog: the catalog page of 20 with
//! stock, through the BFF and as raw gRPC (one client by default: the cost of one page, not
//! queueing), at each catalog size of `--sizes` (grown with
//! [`shop_tools::bulk`] between sizes), on page 1 and on a deep page (`--deep-page`, 50).
//!
//! The deep page is reached the way a client reaches it: by following the cursor. Before the
//! timed run the generator walks pages 1..=49 once (BFF: `endCursor` into `after`; raw gRPC:
//! `next_page_token` of ListProducts with page size 20), keeps the cursor that ends page 49,
//! and then every timed call asks for the page after it. The walk is not timed.
//!
//! Seeding is part of the run's time budget (`--budget`): a size whose seeding would not
//! finish in what is left, at the rate seen so far, is skipped and the report says so.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use serde_json::{Value, json};
use shop_proto::shop::product::v1::ListProductsRequest;

use super::args::Args;
use super::driver::{self, Mode, Outcome, Plan};
use super::graphql::{GraphQl, field};
use super::reads::{GrpcClients, PAGE, check_page, grpc_clients, grpc_page};

/// `products(first: 20, after:)` with stock: page 1 sends `after: null`.
const PAGE_AFTER_QUERY: &str = "query BenchPageAfter($first: Int!, $after: String) { products(first: $first, after: $after) { edges { cursor node { id sku name price { amountMinor currency formatted } stock { available } } } pageInfo { hasNextPage endCursor } } }";

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Products in the catalog when measured.
    pub products: u64,
    pub target: String,
    pub page: u32,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize)]
pub struct Size {
    pub requested: u64,
    /// Products in the catalog after seeding (None: skipped).
    pub products: Option<u64>,
    pub inserted: u64,
    pub seed_seconds: f64,
    pub note: String,
}

impl Size {
    /// A size not measured, and why (said on stderr as well).
    fn skipped(requested: u64, note: String) -> Self {
        eprintln!("shop-load: growth {requested}: {note}");
        Self {
            requested,
            products: None,
            inserted: 0,
            seed_seconds: 0.0,
            note,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub kind: &'static str,
    pub backend: String,
    pub concurrency: usize,
    pub duration_s: f64,
    pub deep_page: u32,
    pub sizes: Vec<Size>,
    pub rows: Vec<Row>,
}

pub const VALUED: &[&str] = &[
    "sizes",
    "bff",
    "concurrency",
    "duration",
    "warmup",
    "max-calls",
    "deep-page",
    "grpc-channels",
    "budget",
    "json",
];
pub const SWITCHES: &[&str] = &["allow-remote"];

#[derive(Clone)]
enum Via {
    Grpc(Arc<Vec<GrpcClients>>),
    Bff(GraphQl),
}

/// `shop-load growth ...`.
pub async fn main(raw: &[String]) -> anyhow::Result<()> {
    let args = Args::parse(raw, VALUED, SWITCHES)?;
    let started = Instant::now();
    let allow_remote = args.switch("allow-remote");
    let sizes: Vec<u64> = args.list("sizes", &[1_000, 10_000, 100_000])?;
    anyhow::ensure!(
        !sizes.is_empty() && sizes.iter().all(|n| (1..=1_000_000).contains(n)),
        "BAD_ARGUMENT: --sizes must be 1..=1000000 products each"
    );
    let concurrency: usize = args.get("concurrency", 1)?;
    anyhow::ensure!(
        (1..=256).contains(&concurrency),
        "BAD_ARGUMENT: --concurrency must be 1..=256"
    );
    let duration = args.seconds("duration", 8.0)?;
    let warmup = args.seconds("warmup", 2.0)?;
    let max_calls: u64 = args.get("max-calls", 1_000_000)?;
    let deep_page: u32 = args.get("deep-page", 50)?;
    anyhow::ensure!(
        (2..=500).contains(&deep_page),
        "BAD_ARGUMENT: --deep-page must be 2..=500"
    );
    let budget = args.seconds("budget", 600.0)?;
    let bff_url = args
        .value("bff")
        .unwrap_or("http://127.0.0.1:8080/graphql")
        .to_owned();
    let bff = GraphQl::new(&bff_url, allow_remote)?;
    let (_, clients) = grpc_clients(args.get("grpc-channels", 4)?, allow_remote).await?;
    let grpc = Arc::new(clients);
    let catalog = shop_tools::bulk::Target::connect().await?;

    let mut report = Report {
        kind: "growth",
        backend: super::backend(),
        concurrency,
        duration_s: duration.as_secs_f64(),
        deep_page,
        sizes: Vec::new(),
        rows: Vec::new(),
    };
    // Seeding rate seen so far (products/s), to tell whether the next size fits the budget.
    let mut rate: Option<f64> = None;
    // What measuring one size costs, beyond seeding: four runs with warm-ups, and the walks.
    let measuring = (duration + warmup) * 4 + Duration::from_secs(30);
    for &requested in &sizes {
        let have = catalog.count().await?;
        let left = budget.saturating_sub(started.elapsed());
        if let Some(rate) = rate {
            let needed = Duration::from_secs_f64(requested.saturating_sub(have) as f64 / rate);
            if needed + measuring > left {
                let note = format!(
                    "skipped: seeding {} more products at {rate:.0}/s needs ~{:.0} s, {:.0} s of the budget left",
                    requested.saturating_sub(have),
                    needed.as_secs_f64(),
                    left.as_secs_f64()
                );
                report.sizes.push(Size::skipped(requested, note));
                super::write_json(args.value("json"), &report)?;
                continue;
            }
        }
        eprintln!("shop-load: growth: seeding to {requested} products (have {have})");
        // Seeding may use the budget but for one size's measurements: what it reaches by
        // then is measured and named, instead of the run overrunning and losing every size.
        let seed_deadline = (started + budget).checked_sub(measuring);
        let grown = catalog
            .grow_to(requested, seed_deadline, |count| {
                if count % 10_000 == 0 {
                    eprintln!("shop-load: growth: {count} products");
                }
            })
            .await?;
        if !grown.complete && grown.inserted == 0 {
            let note = "skipped: no time left in the budget (--budget) to seed more".to_owned();
            report.sizes.push(Size::skipped(requested, note));
            break;
        }
        if grown.inserted > 0 && grown.seconds > 0.0 {
            rate = Some(grown.inserted as f64 / grown.seconds);
        }
        eprintln!(
            "shop-load: growth: {} products ({} inserted in {:.1} s)",
            grown.after, grown.inserted, grown.seconds
        );
        let mut note = format!(
            "{} bulk products inserted in {:.1} s ({:.0}/s, insertMany of {})",
            grown.inserted,
            grown.seconds,
            rate.unwrap_or(0.0),
            shop_tools::bulk::BATCH
        );
        if !grown.complete {
            note.push_str(&format!(
                "; seeding stopped at {} of {requested} products: the time budget (--budget) ran out, measured at that size",
                grown.after
            ));
            eprintln!("shop-load: growth: {note}");
        }
        // A deep page no client can reach (a walk that fails, e.g. every page over the
        // server's time limit) is a finding, not a reason to drop the size's other rows.
        let mut deep = |walked: anyhow::Result<String>, target: &str| match walked {
            Ok(cursor) => Some(cursor),
            Err(error) => {
                let error = format!("{error:#}");
                eprintln!("shop-load: growth: {target} page {deep_page} not reached: {error}");
                note.push_str(&format!("; {target} page {deep_page} not reached: {error}"));
                None
            }
        };
        let deep_ok = grown.after >= u64::from(deep_page) * PAGE as u64;
        let (bff_deep, grpc_deep) = if deep_ok {
            (
                deep(bff_cursor(&bff, deep_page - 1).await, "BFF"),
                deep(grpc_token(&grpc[0], deep_page - 1).await, "raw gRPC"),
            )
        } else {
            (None, None)
        };
        report.sizes.push(Size {
            requested,
            products: Some(grown.after),
            inserted: grown.inserted,
            seed_seconds: grown.seconds,
            note,
        });
        let runs: Vec<(&str, u32, Via, Option<String>)> = vec![
            ("grpc", 1, Via::Grpc(grpc.clone()), Some(String::new())),
            ("bff", 1, Via::Bff(bff.clone()), Some(String::new())),
            ("grpc", deep_page, Via::Grpc(grpc.clone()), grpc_deep),
            ("bff", deep_page, Via::Bff(bff.clone()), bff_deep),
        ];
        for (target, page, via, cursor) in runs {
            let Some(cursor) = cursor else { continue };
            let cursor = Arc::new(cursor);
            let plan = Plan {
                mode: Mode::Closed { concurrency },
                duration,
                max_calls,
                drain: Duration::from_secs(30),
            };
            let outcome =
                driver::run_after_warmup(plan, warmup, || op(via.clone(), cursor.clone())).await?;
            eprintln!(
                "shop-load: growth {} products, {target} page {page}: {:.1}/s p50 {:.1} ms p99 {:.1} ms, {} errors",
                grown.after, outcome.ok_per_s, outcome.p50_ms, outcome.p99_ms, outcome.errors
            );
            report.rows.push(Row {
                products: grown.after,
                target: target.to_owned(),
                page,
                outcome,
            });
        }
        // After every size, so a run cut short still leaves what it measured.
        super::write_json(args.value("json"), &report)?;
        if !grown.complete {
            break;
        }
    }
    print!("{}", markdown(&report));
    super::write_json(args.value("json"), &report)
}

/// One timed call: the page after `cursor` (empty: page 1), checked like the reads scenario.
fn op(via: Via, cursor: Arc<String>) -> impl Fn(u64) -> driver::BoxedCall + Send + Sync + 'static {
    move |call| {
        let via = via.clone();
        let cursor = cursor.clone();
        Box::pin(async move {
            match via {
                Via::Grpc(clients) => {
                    let pair = clients[(call as usize) % clients.len()].clone();
                    grpc_page(pair.products, pair.inventory, cursor.to_string()).await?;
                }
                Via::Bff(client) => {
                    let after = (!cursor.is_empty()).then(|| cursor.to_string());
                    let data = client
                        .call(
                            PAGE_AFTER_QUERY,
                            json!({ "first": PAGE, "after": after }),
                            None,
                        )
                        .await?;
                    check_page(&data)?;
                }
            }
            Ok(None)
        })
    }
}

/// The BFF's `endCursor` after `pages` pages of 20, followed one by one.
async fn bff_cursor(bff: &GraphQl, pages: u32) -> anyhow::Result<String> {
    let mut after: Option<String> = None;
    for page in 1..=pages {
        let data = bff
            .call(
                PAGE_AFTER_QUERY,
                json!({ "first": PAGE, "after": after }),
                None,
            )
            .await
            .with_context(|| format!("walking the BFF's pages: page {page}"))?;
        let end = field(&data, "/products/pageInfo/endCursor")?
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("page {page} has no endCursor"))?;
        anyhow::ensure!(
            data.pointer("/products/pageInfo/hasNextPage") == Some(&Value::Bool(true)),
            "the catalog ends at page {page}"
        );
        after = Some(end);
    }
    after.context("no pages walked")
}

/// ListProducts' `next_page_token` after `pages` pages of 20.
async fn grpc_token(clients: &GrpcClients, pages: u32) -> anyhow::Result<String> {
    let mut token = String::new();
    for page in 1..=pages {
        let reply = clients
            .products
            .clone()
            .list_products(ListProductsRequest {
                page_size: PAGE as i32,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .with_context(|| format!("walking ListProducts: page {page}"))?
            .into_inner();
        anyhow::ensure!(
            !reply.next_page_token.is_empty(),
            "the catalog ends at page {page}"
        );
        token = reply.next_page_token;
    }
    Ok(token)
}

/// The growth table for docs/benchmarks.md.
pub fn markdown(report: &Report) -> String {
    let mut out = format!(
        "\n**MongoDB backend: {}** · catalog page of 20 with stock by catalog size, closed loop x{}, {} s per run after warm-up; page {} reached by following the cursor (not timed)\n\n",
        report.backend, report.concurrency, report.duration_s, report.deep_page
    );
    out.push_str("| products | target | page | calls | ok/s | p50 ms | p99 ms | max ms | errors | p50 ÷ p50 at the smallest size |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for row in &report.rows {
        let smallest = report
            .rows
            .iter()
            .find(|r| r.target == row.target && r.page == row.page);
        // No successful call: no latency to compare (a p50 of 0 would read as "free").
        let growth = smallest
            .filter(|s| row.outcome.ok > 0 && s.outcome.ok > 0)
            .map(|s| super::show_ratio(super::ratio(row.outcome.p50_ms, s.outcome.p50_ms)))
            .unwrap_or_else(|| "–".to_owned());
        let o = &row.outcome;
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} |\n",
            row.products,
            if row.target == "bff" {
                "BFF (GraphQL)"
            } else {
                "raw gRPC"
            },
            row.page,
            o.calls,
            o.ok_per_s,
            o.p50_ms,
            o.p99_ms,
            o.max_ms,
            o.errors,
            growth
        ));
    }
    out.push_str("\n| size asked | products | seeding |\n|---|---|---|\n");
    for size in &report.sizes {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            size.requested,
            size.products
                .map_or_else(|| "–".to_owned(), |n| n.to_string()),
            size.note
        ));
    }
    out.push_str(&super::errors_seen(report.rows.iter().map(|row| {
        let label = format!(
            "{} products / {} / page {}",
            row.products, row.target, row.page
        );
        (label, &row.outcome)
    })));
    out
}
