//! `shop-seed` (`just seed`): loads the demo catalog into Product and its stock into
//! Inventory, and writes each product's picture where the BFF serves `/images`
//! (`SHOP_IMAGES_DIR`, `.run/images` as `just up` sets it). Idempotent: products are created
//! with an idempotency key per SKU (a re-run finds them), stock is set absolutely, and a
//! picture is rewritten only when it differs.
//!
//! `shop-seed --bulk N` then grows the catalog to N products with synthetic ones written
//! straight into the services' collections (`shop_tools::bulk`: batched insertMany, for the
//! growth benchmark of issue #9; not a way to load a real catalog).

use anyhow::Context as _;
use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressStyle};
use shop_proto::shop::common::v1::Money;
use shop_proto::shop::inventory::v1::{
    SetStockRequest, inventory_service_client::InventoryServiceClient,
};
use shop_proto::shop::product::v1::{
    CreateProductRequest, Product, product_service_client::ProductServiceClient,
};
use shop_tools::catalog::{DemoProduct, demo_catalog};
use shop_tools::{admin_token, authorized, connect, inventory_url, product_url};

/// In flight at once: enough to hide latency, few enough not to swamp a laptop's database.
const CONCURRENCY: usize = 8;

#[derive(Default)]
struct Tally {
    created: usize,
    existing: usize,
}

async fn seed_one(
    mut products: ProductServiceClient<tonic::transport::Channel>,
    mut inventory: InventoryServiceClient<tonic::transport::Channel>,
    token: &str,
    item: DemoProduct,
) -> anyhow::Result<bool> {
    let request = CreateProductRequest {
        product: Some(Product {
            sku: item.sku.clone(),
            name: item.name.clone(),
            description: item.description.clone(),
            price: Some(Money {
                amount_minor: item.price_minor,
                currency: item.currency.to_owned(),
            }),
            category: item.category.to_owned(),
            image_url: item.image_url.clone(),
            attributes: item.attributes.iter().cloned().collect(),
            ..Default::default()
        }),
        idempotency_key: format!("seed-{}", item.sku),
    };
    let created = match products.create_product(authorized(request, token)?).await {
        Ok(_) => true,
        // Created by hand or by an older seed without a key: leave it as it is.
        Err(status) if status.code() == tonic::Code::AlreadyExists => false,
        Err(status) => return Err(status).with_context(|| format!("creating {}", item.sku)),
    };
    let stocked = inventory
        .set_stock(authorized(
            SetStockRequest {
                sku: item.sku.clone(),
                on_hand: item.stock,
                reason: "demo seed".into(),
            },
            token,
        )?)
        .await;
    match stocked {
        Ok(_) => {}
        // A shop in use: open orders hold more units than the demo amount. Inventory is
        // right to refuse; re-seeding leaves that SKU's stock as the shop has it.
        Err(status) if status.code() == tonic::Code::FailedPrecondition => {
            eprintln!("kept the stock of {}: {}", item.sku, status.message());
        }
        Err(status) => return Err(status).with_context(|| format!("stocking {}", item.sku)),
    }
    Ok(created)
}

/// `--bulk N` from the command line, if given.
fn bulk_total() -> anyhow::Result<Option<u64>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(None),
        [flag, n] if flag == "--bulk" => {
            let n: u64 = n
                .parse()
                .with_context(|| format!("BAD_ARGUMENT: --bulk {n:?} is not a number"))?;
            anyhow::ensure!(
                (1..=1_000_000).contains(&n),
                "BAD_ARGUMENT: --bulk must be 1..=1000000 products"
            );
            Ok(Some(n))
        }
        _ => anyhow::bail!("BAD_ARGUMENT: usage: shop-seed [--bulk N]"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bulk = bulk_total()?;
    let token = admin_token().await?;
    let products = ProductServiceClient::new(connect(&product_url()).await?);
    let inventory = InventoryServiceClient::new(connect(&inventory_url()).await?);
    let catalog = demo_catalog();
    let images_dir = std::env::var_os("SHOP_IMAGES_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| std::path::PathBuf::from(".run/images"), Into::into);
    let pictures = shop_tools::illustration::write_all(&images_dir, &catalog)
        .with_context(|| format!("writing product pictures to {}", images_dir.display()))?;
    println!(
        "product pictures: {} in {} ({pictures} written)",
        catalog.len(),
        images_dir.display()
    );

    let bar = ProgressBar::new(catalog.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} seeding [{bar:40}] {pos}/{len} products ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let mut results = futures::stream::iter(catalog)
        .map(|item| seed_one(products.clone(), inventory.clone(), &token, item))
        .buffer_unordered(CONCURRENCY);
    let mut tally = Tally::default();
    while let Some(result) = results.next().await {
        if result? {
            tally.created += 1;
        } else {
            tally.existing += 1;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    // A retried create with the same key answers like the first one, so "created" counts
    // products this or an earlier seed made; "kept" ones existed without a seed key.
    println!(
        "catalog seeded: {} products with stock ({} from the demo catalog, {} kept as they were)",
        tally.created + tally.existing,
        tally.created,
        tally.existing
    );
    if let Some(total) = bulk {
        let target = shop_tools::bulk::Target::connect().await?;
        let grown = target
            .grow_to(total, None, |count| {
                if count % 10_000 == 0 {
                    println!("bulk catalog: {count} products");
                }
            })
            .await?;
        println!(
            "bulk catalog: {} products ({} synthetic inserted in {:.1} s, insertMany of {})",
            grown.after,
            grown.inserted,
            grown.seconds,
            shop_tools::bulk::BATCH
        );
    }
    Ok(())
}
