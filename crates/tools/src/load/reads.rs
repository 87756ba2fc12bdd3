//! Scenario (a)/(b) of issue #9: one product by SKU with its stock, and a catalog page of 20
//! with stock, fetched three ways by the same generator in one run:
//! - `grpc`: the gRPC calls the BFF itself makes, straight from Rust (GetProduct then
//!   BatchGetStock of its SKU; ListProducts of 21, as the BFF asks one extra to know if
//!   there is a next page, then BatchGetStock of the 20 SKUs): the floor a gateway adds to;
//! - every GraphQL target (`--target name=URL`): the same query text, so the BFF and a peer
//!   (the Apollo server in bench/peers/apollo) answer identical requests.
//!
//! Each target runs closed loop (its throughput at a fixed concurrency), then open loop at
//! one common rate (by default half the slowest target's closed-loop throughput), so the
//! p99s are compared at equal offered load, not each at its own saturation.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::{Value, json};
use shop_proto::shop::inventory::v1::{
    BatchGetStockRequest, inventory_service_client::InventoryServiceClient,
};
use shop_proto::shop::product::v1::{
    GetProductRequest, ListProductsRequest, get_product_request,
    product_service_client::ProductServiceClient,
};
use tonic::transport::Channel;

use super::args::Args;
use super::driver::{self, Mode, Outcome, Plan};
use super::graphql::{GraphQl, field};
use super::{ratio, show_ratio};

/// The BFF's page size, and the catalog page of the issue.
pub(super) const PAGE: usize = 20;

pub const PRODUCT_QUERY: &str = "query BenchProduct($sku: String!) { product(sku: $sku) { id sku name price { amountMinor currency formatted } stock { available } } }";
pub const PAGE_QUERY: &str = "query BenchPage($first: Int!) { products(first: $first) { edges { cursor node { id sku name price { amountMinor currency formatted } stock { available } } } pageInfo { hasNextPage endCursor } } }";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// `{ __typename }`: the server's HTTP and GraphQL floor, no upstream call (GraphQL
    /// targets only).
    Typename,
    /// `product(sku:)` with `stock { available }`.
    Product,
    /// `products(first: 20)` with `stock { available }` on every node.
    Page,
}

impl Scenario {
    fn parse(raw: &str) -> anyhow::Result<Self> {
        match raw {
            "typename" => Ok(Self::Typename),
            "product" => Ok(Self::Product),
            "page" => Ok(Self::Page),
            other => anyhow::bail!("BAD_ARGUMENT: scenario {other:?} (typename, product or page)"),
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Typename => "{ __typename } (no upstream call)",
            Self::Product => "one product by SKU with its stock",
            Self::Page => "catalog page of 20 with stock",
        }
    }
}

/// Cloned per call (the clients are handles on shared channels and pools).
#[derive(Clone)]
enum Target {
    /// Call `i` uses channel pair `i mod n` (`--grpc-channels`).
    Grpc(Arc<Vec<GrpcClients>>),
    GraphQl(GraphQl),
}

#[derive(Clone)]
pub(super) struct GrpcClients {
    pub products: ProductServiceClient<Channel>,
    pub inventory: InventoryServiceClient<Channel>,
}

/// `channels` client pairs for Product and Inventory (SHOP_PRODUCT_URL, SHOP_INVENTORY_URL),
/// each on its own connection, and the URLs they reach.
pub(super) async fn grpc_clients(
    channels: usize,
    allow_remote: bool,
) -> anyhow::Result<(String, Vec<GrpcClients>)> {
    let product_url = shop_tools::product_url();
    let inventory_url = shop_tools::inventory_url();
    super::ensure_loopback(&product_url, allow_remote)?;
    super::ensure_loopback(&inventory_url, allow_remote)?;
    // One HTTP/2 connection serialises every call of the generator through one connection
    // task, which on a busy 2-core box made raw gRPC slower than the BFF in front of it
    // (p99 60 ms vs 13 ms); a few connections make it the floor it should be.
    anyhow::ensure!(
        (1..=64).contains(&channels),
        "BAD_ARGUMENT: --grpc-channels must be 1..=64"
    );
    let mut clients = Vec::with_capacity(channels);
    for _ in 0..channels {
        clients.push(GrpcClients {
            products: ProductServiceClient::new(shop_tools::connect(&product_url).await?),
            inventory: InventoryServiceClient::new(shop_tools::connect(&inventory_url).await?),
        });
    }
    Ok((format!("{product_url} + {inventory_url}"), clients))
}

/// One measured run of one target.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: Scenario,
    pub target: String,
    pub url: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A named ratio and whether it meets its target (if the issue sets one).
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    pub scenario: Scenario,
    pub name: String,
    pub value: f64,
    pub target: Option<String>,
    pub met: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub kind: &'static str,
    pub backend: String,
    pub concurrency: usize,
    pub duration_s: f64,
    pub rows: Vec<Row>,
    pub ratios: Vec<Ratio>,
}

pub const VALUED: &[&str] = &[
    "target",
    "scenarios",
    "concurrency",
    "duration",
    "warmup",
    "max-calls",
    "open-rate",
    "open-fraction",
    "max-in-flight",
    "grpc-channels",
    "json",
];
pub const SWITCHES: &[&str] = &["no-grpc", "allow-remote"];

/// `shop-load reads ...`: prints the markdown tables and writes the JSON report.
pub async fn main(raw: &[String]) -> anyhow::Result<()> {
    let args = Args::parse(raw, VALUED, SWITCHES)?;
    let allow_remote = args.switch("allow-remote");
    let concurrency: usize = args.get("concurrency", 16)?;
    anyhow::ensure!(
        (1..=1024).contains(&concurrency),
        "BAD_ARGUMENT: --concurrency must be 1..=1024"
    );
    let duration = args.seconds("duration", 10.0)?;
    let warmup = args.seconds("warmup", 3.0)?;
    let max_calls: u64 = args.get("max-calls", 10_000_000)?;
    let max_in_flight: usize = args.get("max-in-flight", 512)?;
    let open_fraction: f64 = args.get("open-fraction", 0.5)?;
    anyhow::ensure!(
        open_fraction > 0.0 && open_fraction <= 2.0,
        "BAD_ARGUMENT: --open-fraction must be in (0, 2]"
    );
    let open_rate: Option<f64> = match args.value("open-rate") {
        Some(_) => Some(args.get("open-rate", 0.0)?),
        None => None,
    };
    let scenarios = args
        .list("scenarios", &["product".to_owned(), "page".to_owned()])?
        .iter()
        .map(|s| Scenario::parse(s))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let mut targets: Vec<(String, String, Target)> = Vec::new();
    if !args.switch("no-grpc") {
        let channels: usize = args.get("grpc-channels", 4)?;
        let (url, clients) = grpc_clients(channels, allow_remote).await?;
        targets.push(("grpc".to_owned(), url, Target::Grpc(Arc::new(clients))));
    }
    let named: Vec<String> = if args.values("target").is_empty() {
        vec!["bff=http://127.0.0.1:8080/graphql".to_owned()]
    } else {
        args.values("target").to_vec()
    };
    for spec in named {
        let (name, url) = spec
            .split_once('=')
            .with_context(|| format!("BAD_ARGUMENT: --target {spec:?} is not name=URL"))?;
        targets.push((
            name.to_owned(),
            url.to_owned(),
            Target::GraphQl(GraphQl::new(url, allow_remote)?),
        ));
    }

    let skus = Arc::new(discover_skus(&targets).await?);
    let backend = super::backend();
    let mut rows = Vec::new();
    for &scenario in &scenarios {
        // Raw gRPC has no `__typename`: the floor is the GraphQL servers' own.
        let scenario_targets: Vec<&(String, String, Target)> = targets
            .iter()
            .filter(|(_, _, target)| {
                scenario != Scenario::Typename || matches!(target, Target::GraphQl(_))
            })
            .collect();
        let mut closed = Vec::new();
        for &(name, url, target) in &scenario_targets {
            let plan = Plan {
                mode: Mode::Closed { concurrency },
                duration,
                max_calls,
                drain: Duration::from_secs(10),
            };
            let outcome = driver::run_after_warmup(plan, warmup, || {
                op(target.clone(), scenario, skus.clone())
            })
            .await?;
            eprintln!(
                "shop-load: {} {name} {}: {:.0}/s p99 {:.1} ms, {} errors",
                scenario.title(),
                outcome.mode.label(),
                outcome.ok_per_s,
                outcome.p99_ms,
                outcome.errors
            );
            closed.push(Row {
                scenario,
                target: name.clone(),
                url: url.clone(),
                outcome,
            });
        }
        // One offered load for every target: half the slowest one's throughput by default.
        let slowest = closed
            .iter()
            .map(|row| row.outcome.ok_per_s)
            .fold(f64::INFINITY, f64::min);
        let rate = open_rate.unwrap_or((slowest * open_fraction).floor().max(1.0));
        let mut open = Vec::new();
        for &(name, url, target) in &scenario_targets {
            let plan = Plan {
                mode: Mode::Open {
                    rate,
                    max_in_flight,
                },
                duration,
                max_calls,
                drain: Duration::from_secs(10),
            };
            let outcome = driver::run(plan, op(target.clone(), scenario, skus.clone())).await?;
            eprintln!(
                "shop-load: {} {name} {}: p50 {:.1} ms p99 {:.1} ms, {} errors",
                scenario.title(),
                outcome.mode.label(),
                outcome.p50_ms,
                outcome.p99_ms,
                outcome.errors
            );
            open.push(Row {
                scenario,
                target: name.clone(),
                url: url.clone(),
                outcome,
            });
        }
        rows.extend(closed);
        rows.extend(open);
    }
    let ratios = ratios(&rows);
    let report = Report {
        kind: "reads",
        backend,
        concurrency,
        duration_s: duration.as_secs_f64(),
        rows,
        ratios,
    };
    print!("{}", markdown(&report));
    super::write_json(args.value("json"), &report)
}

/// The SKUs every target cycles through: the first 100 of the catalog.
async fn discover_skus(targets: &[(String, String, Target)]) -> anyhow::Result<Vec<String>> {
    let Some((name, _, target)) = targets.first() else {
        anyhow::bail!("BAD_ARGUMENT: no target to load");
    };
    let skus: Vec<String> = match target {
        Target::Grpc(grpc) => grpc
            .first()
            .context("no gRPC channel")?
            .products
            .clone()
            .list_products(ListProductsRequest {
                page_size: 100,
                ..Default::default()
            })
            .await
            .context("listing the catalog over gRPC (is the stack up?)")?
            .into_inner()
            .products
            .into_iter()
            .map(|product| product.sku)
            .collect(),
        Target::GraphQl(client) => {
            let data = client
                .call(PAGE_QUERY, json!({ "first": 100 }), None)
                .await
                .with_context(|| format!("listing the catalog through {name}"))?;
            page_skus(&data)
        }
    };
    anyhow::ensure!(
        skus.len() >= PAGE,
        "NOT_SEEDED: the catalog has {} products, the page scenario needs {PAGE}: run shop-seed",
        skus.len()
    );
    Ok(skus)
}

/// One call of `scenario` against `target`; call `i` asks for SKU `i mod n`.
fn op(
    target: Target,
    scenario: Scenario,
    skus: Arc<Vec<String>>,
) -> impl Fn(u64) -> driver::BoxedCall + Send + Sync + 'static {
    move |call| {
        let target = target.clone();
        let sku = skus[(call as usize) % skus.len()].clone();
        Box::pin(async move {
            let pick = |grpc: &Vec<GrpcClients>| grpc[(call as usize) % grpc.len()].clone();
            match (target, scenario) {
                (Target::Grpc(grpc), Scenario::Product) => {
                    let grpc = pick(&grpc);
                    grpc_product(grpc.products, grpc.inventory, sku).await?
                }
                (Target::Grpc(grpc), Scenario::Page) => {
                    let grpc = pick(&grpc);
                    grpc_page(grpc.products, grpc.inventory, String::new()).await?
                }
                (Target::Grpc(_), Scenario::Typename) => {
                    anyhow::bail!("raw gRPC has no {{ __typename }}")
                }
                (Target::GraphQl(client), Scenario::Typename) => {
                    let data = client.call("{ __typename }", json!({}), None).await?;
                    field(&data, "/__typename")?;
                }
                (Target::GraphQl(client), Scenario::Product) => {
                    let data = client
                        .call(PRODUCT_QUERY, json!({ "sku": sku }), None)
                        .await?;
                    field(&data, "/product/stock/available")?;
                }
                (Target::GraphQl(client), Scenario::Page) => {
                    let data = client
                        .call(PAGE_QUERY, json!({ "first": PAGE }), None)
                        .await?;
                    check_page(&data)?;
                }
            }
            // Timed by the return: the reply is the completion.
            Ok(None)
        })
    }
}

async fn grpc_product(
    mut products: ProductServiceClient<Channel>,
    mut inventory: InventoryServiceClient<Channel>,
    sku: String,
) -> anyhow::Result<()> {
    let product = products
        .get_product(GetProductRequest {
            key: Some(get_product_request::Key::Sku(sku)),
        })
        .await?
        .into_inner()
        .product
        .context("GetProduct without a product")?;
    inventory
        .batch_get_stock(BatchGetStockRequest {
            skus: vec![product.sku],
        })
        .await?;
    Ok(())
}

/// The BFF's page of 20 made by hand: ListProducts of 21 from `page_token` (empty: the
/// first page), then the stock of the 20.
pub(super) async fn grpc_page(
    mut products: ProductServiceClient<Channel>,
    mut inventory: InventoryServiceClient<Channel>,
    page_token: String,
) -> anyhow::Result<()> {
    let page = products
        .list_products(ListProductsRequest {
            page_size: (PAGE + 1) as i32,
            page_token,
            ..Default::default()
        })
        .await?
        .into_inner();
    let skus: Vec<String> = page
        .products
        .into_iter()
        .take(PAGE)
        .map(|product| product.sku)
        .collect();
    anyhow::ensure!(skus.len() == PAGE, "page of {} products", skus.len());
    inventory
        .batch_get_stock(BatchGetStockRequest { skus })
        .await?;
    Ok(())
}

/// Every GraphQL target against raw gRPC, and the target named `bff` against every other
/// GraphQL target, with the targets where it sets one. A target is never "met" by
/// a run with errors: a server that fails fast is not fast.
fn ratios(rows: &[Row]) -> Vec<Ratio> {
    let mut out = Vec::new();
    let find = |scenario: Scenario, target: &str, closed: bool| {
        rows.iter().find(|row| {
            row.scenario == scenario
                && row.target == target
                && matches!(row.outcome.mode, Mode::Closed { .. }) == closed
        })
    };
    let mut scenarios: Vec<Scenario> = rows.iter().map(|row| row.scenario).collect();
    scenarios.dedup();
    for scenario in scenarios {
        let names: Vec<&str> = rows
            .iter()
            .filter(|row| {
                row.scenario == scenario && matches!(row.outcome.mode, Mode::Closed { .. })
            })
            .map(|row| row.target.as_str())
            .collect();
        if let Some(raw) = find(scenario, "grpc", true) {
            for name in names.iter().filter(|name| **name != "grpc") {
                if let Some(row) = find(scenario, name, true) {
                    let value = ratio(row.outcome.ok_per_s, raw.outcome.ok_per_s);
                    let clean = row.outcome.errors == 0 && raw.outcome.errors == 0;
                    let (target, met) = if *name == "bff" && scenario == Scenario::Page {
                        (Some("≥ 0.25".to_owned()), Some(clean && value >= 0.25))
                    } else {
                        (None, None)
                    };
                    out.push(Ratio {
                        scenario,
                        name: format!("{name}/raw gRPC throughput"),
                        value,
                        target,
                        met,
                    });
                }
            }
        }
        let Some(bff) = find(scenario, "bff", true) else {
            continue;
        };
        for name in names
            .iter()
            .filter(|name| !matches!(**name, "grpc" | "bff"))
        {
            let (Some(peer), Some(bff_open), Some(peer_open)) = (
                find(scenario, name, true),
                find(scenario, "bff", false),
                find(scenario, name, false),
            ) else {
                continue;
            };
            let value = ratio(bff.outcome.ok_per_s, peer.outcome.ok_per_s);
            let clean = [bff, peer, bff_open, peer_open]
                .iter()
                .all(|row| row.outcome.errors == 0);
            let p99_ok = clean
                && bff.outcome.p99_ms <= peer.outcome.p99_ms
                && bff_open.outcome.p99_ms <= peer_open.outcome.p99_ms;
            // The target is for the catalog reads; the floor is context.
            let judged = scenario != Scenario::Typename;
            out.push(Ratio {
                scenario,
                name: format!("bff/{name} throughput (closed loop)"),
                value,
                target: judged.then(|| "≥ 5 at ≤ p99".to_owned()),
                met: judged.then_some(value >= 5.0 && p99_ok),
            });
            out.push(Ratio {
                scenario,
                name: format!(
                    "bff/{name} p99 at the same offered load ({})",
                    bff_open.outcome.mode.label()
                ),
                value: ratio(bff_open.outcome.p99_ms, peer_open.outcome.p99_ms),
                target: judged.then(|| "≤ 1".to_owned()),
                met: judged.then_some(clean && bff_open.outcome.p99_ms <= peer_open.outcome.p99_ms),
            });
        }
    }
    out
}

/// The tables for docs/benchmarks.md.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "\n**MongoDB backend: {}** · reads, {} s per run after warm-up, closed loop x{}\n\n",
        report.backend, report.duration_s, report.concurrency
    ));
    out.push_str(
        "| scenario | target | load | calls | ok/s | p50 ms | p99 ms | p99.9 ms | max ms | errors | ÷ raw gRPC (ok/s) | backend |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for row in &report.rows {
        let raw = report.rows.iter().find(|r| {
            r.scenario == row.scenario
                && r.target == "grpc"
                && std::mem::discriminant(&r.outcome.mode)
                    == std::mem::discriminant(&row.outcome.mode)
        });
        let vs_raw = match (raw, row.outcome.mode) {
            (Some(raw), Mode::Closed { .. }) => {
                show_ratio(ratio(row.outcome.ok_per_s, raw.outcome.ok_per_s))
            }
            _ => "–".to_owned(),
        };
        let o = &row.outcome;
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} | {} |\n",
            row.scenario.title(),
            row.target,
            o.mode.label(),
            o.calls,
            o.ok_per_s,
            o.p50_ms,
            o.p99_ms,
            o.p999_ms,
            o.max_ms,
            o.errors,
            vs_raw,
            report.backend,
        ));
    }
    out.push_str("\n| scenario | ratio | value | target | met |\n|---|---|---|---|---|\n");
    for r in &report.ratios {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.scenario.title(),
            r.name,
            show_ratio(r.value),
            r.target.as_deref().unwrap_or("–"),
            match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "–",
            }
        ));
    }
    out.push_str(&super::errors_seen(report.rows.iter().map(|row| {
        let label = format!(
            "{} / {} / {}",
            row.scenario.title(),
            row.target,
            row.outcome.mode.label()
        );
        (label, &row.outcome)
    })));
    out
}

/// A `products` reply counts only when it is a whole page with stock on its last product.
pub(super) fn check_page(data: &Value) -> anyhow::Result<()> {
    let edges = field(data, "/products/edges")?
        .as_array()
        .map_or(0, Vec::len);
    anyhow::ensure!(edges == PAGE, "page of {edges} products, not {PAGE}");
    field(
        data,
        &format!("/products/edges/{}/node/stock/available", PAGE - 1),
    )?;
    Ok(())
}

/// The SKUs of a `products` reply, in page order.
fn page_skus(data: &Value) -> Vec<String> {
    data.pointer("/products/edges")
        .and_then(Value::as_array)
        .map(|edges| {
            edges
                .iter()
                .filter_map(|edge| edge.pointer("/node/sku")?.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
