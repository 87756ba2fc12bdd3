//! Time per search over the demo catalog (`shop_tools::catalog`, 256 products) on whatever
//! `SHOP_TEST_MONGODB_URI` points at, for the figures in docs/catalog.md. Ignored: it
//! measures, it checks nothing. Bounded: a fixed number of rounds, a few seconds in all.
//!
//! `cargo nextest run -p shop-product --run-ignored only --no-capture search_timing`

use std::time::{Duration, Instant};

use crate::support::{config, spawn};
use shop_kit::auth::Role;
use shop_product::ProductConfig;
use shop_proto::shop::common::v1::Money;
use shop_proto::shop::product::v1::{self as pb, product_service_client::ProductServiceClient};
use shop_testkit::{TestAmqp, TestMongo, token_for, with_token};
use tonic::transport::Channel;

const ROUNDS: usize = 40;
/// Whole words, prefixes, words inside words, typos, description and SKU words, two terms,
/// nothing at all; the empty search is the unsearched first page, for comparison.
const SEARCHES: &[&str] = &[
    "",
    "lamp",
    "camp",
    "mug",
    "classic kettle",
    "kit-01",
    "blue",
    "lamps",
    "haedlamp",
    "xylophone",
];

async fn search(client: &mut ProductServiceClient<Channel>, text: &str, page_size: i32) -> usize {
    client
        .list_products(pb::ListProductsRequest {
            search: text.into(),
            page_size,
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner()
        .products
        .len()
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Prints hits, median and 90th percentile per search and the median over all of them.
async fn measure(client: &mut ProductServiceClient<Channel>, label: &str) {
    println!("\n{label}: ms per ListProducts (page of 20), {ROUNDS} rounds");
    println!(
        "{:<16} {:>5} {:>8} {:>8}",
        "search", "hits", "median", "p90"
    );
    let mut searched = Vec::new();
    for text in SEARCHES {
        let hits = search(client, text, 100).await;
        let mut times: Vec<Duration> = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let started = Instant::now();
            search(client, text, 20).await;
            times.push(started.elapsed());
        }
        times.sort();
        println!(
            "{:<16} {hits:>5} {:>8.2} {:>8.2}",
            format!("{text:?}"),
            millis(times[ROUNDS / 2]),
            millis(times[ROUNDS * 9 / 10])
        );
        if !text.is_empty() {
            searched.extend(times);
        }
    }
    searched.sort();
    println!(
        "all searches: median {:.2} ms, p90 {:.2} ms",
        millis(searched[searched.len() / 2]),
        millis(searched[searched.len() * 9 / 10])
    );
}

#[tokio::test]
#[ignore = "a measurement for docs/catalog.md, not a check"]
async fn search_timing_over_the_demo_catalog() {
    let mongo = TestMongo::create().await.expect("test mongo");
    let amqp = TestAmqp::create().await.expect("test amqp");
    // Pages are not cached here: every round is the query, not a lookup in memory.
    let (_service, mut client) = spawn(ProductConfig {
        page_cache_bytes: 0,
        ..config(&mongo, &amqp, ProductConfig::default().cache_ttl_secs)
    })
    .await;
    let admin = token_for(&uuid::Uuid::now_v7().to_string(), Role::Admin);
    let catalog = shop_tools::catalog::demo_catalog();
    for product in &catalog {
        client
            .create_product(with_token(
                pb::CreateProductRequest {
                    product: Some(pb::Product {
                        sku: product.sku.clone(),
                        name: product.name.clone(),
                        description: product.description.clone(),
                        price: Some(Money {
                            amount_minor: product.price_minor,
                            currency: product.currency.into(),
                        }),
                        category: product.category.into(),
                        image_url: product.image_url.clone(),
                        attributes: product.attributes.iter().cloned().collect(),
                        ..Default::default()
                    }),
                    idempotency_key: String::new(),
                },
                &admin,
            ))
            .await
            .expect("seed a product");
    }
    let vocabulary: std::collections::BTreeSet<String> = catalog
        .iter()
        .flat_map(|p| {
            shop_product::domain::product_words(&p.name, &p.description, &p.sku, p.category)
        })
        .collect();
    println!(
        "seeded {} products, {} distinct words",
        catalog.len(),
        vocabulary.len()
    );
    measure(&mut client, "vocabulary reused (default, 5 s)").await;
    // SEARCH_SUMMARY_TTL_START
    let (_fresh, mut fresh) = spawn(ProductConfig {
        search_summary_ttl_secs: 0,
        page_cache_bytes: 0,
        ..config(&mongo, &amqp, ProductConfig::default().cache_ttl_secs)
    })
    .await;
    measure(&mut fresh, "vocabulary read for every search (worst case)").await;
    // SEARCH_SUMMARY_TTL_END
}

/// What expanding a term costs in memory for a vocabulary the size a 100k-product catalog
/// might have (200k distinct words, the cap): no database involved.
#[test]
#[ignore = "a measurement for docs/catalog.md, not a check"]
fn expansion_timing_over_a_large_vocabulary() {
    use shop_product::search::{MAX_VOCABULARY, Vocabulary};
    // Pseudo-words of 4 to 11 letters from a fixed mixer, so every run is the same.
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let words: Vec<String> = (0..MAX_VOCABULARY)
        .map(|_| {
            let length = 4 + (next() % 8) as usize;
            (0..length)
                .map(|_| char::from(b'a' + (next() % 26) as u8))
                .collect()
        })
        .collect();
    let live = words.iter().cloned().collect();
    let vocabulary = Vocabulary::new(words, &live);
    println!("\nvocabulary of {} words", vocabulary.len());
    for term in ["lamp", "headlamp", "haedlamp", "zzqqxx"] {
        let started = Instant::now();
        let expanded = vocabulary.expand(term, false).len();
        let first = started.elapsed();
        let started = Instant::now();
        vocabulary.expand(term, false);
        println!(
            "{term:<10} {expanded:>3} words, {:.1} ms, again (remembered) {:.3} ms",
            millis(first),
            millis(started.elapsed())
        );
    }
}
