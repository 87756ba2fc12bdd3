//! Catalog pages from each replica's read model (`shop_product::cache`), against the MongoDB
//! stand-in and RabbitMQ: a warm page costs no MongoDB command (counted on the replica's
//! `/metrics`, as the CI gate counts), a change shows on every replica's pages once its
//! `product.changed` arrives (the TTLs here are ten minutes, so nothing expires meanwhile),
//! and a write racing page reads never leaves a stale page behind.
//!
//! Settling on events reads the process-wide `shop_bus_deliveries_total`, so these tests
//! count right under nextest (a process per test), the repo's runner.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::{config, eur, product, spawn};
use shop_kit::auth::Role;
use shop_proto::shop::product::v1::{self as pb, product_service_client::ProductServiceClient};
use shop_testkit::{
    RunningService, Scrape, TestAmqp, TestMongo, token_for, wait_until, with_token,
};
use tonic::Code;
use tonic::transport::Channel;

/// Longer than any test: only `product.changed` (or the replica's own write) can make a
/// page fresh again.
const TTL_SECS: u64 = 600;
const COMMANDS: &str = "shop_mongo_commands_total";

struct Replica {
    service: RunningService,
    client: ProductServiceClient<Channel>,
}

impl Replica {
    async fn start(mongo: &TestMongo, amqp: &TestAmqp) -> Self {
        let (service, client) = spawn(config(mongo, amqp, TTL_SECS)).await;
        Self { service, client }
    }

    async fn scrape(&self) -> Scrape {
        Scrape::of(self.service.admin_addr)
            .await
            .expect("the replica's /metrics")
    }

    async fn page(&self, request: &pb::ListProductsRequest) -> pb::ListProductsResponse {
        self.client
            .clone()
            .list_products(request.clone())
            .await
            .expect("a page")
            .into_inner()
    }

    /// The page and the MongoDB commands this replica sent for it, by command.
    async fn costed(
        &self,
        request: &pb::ListProductsRequest,
    ) -> (pb::ListProductsResponse, BTreeMap<String, u64>) {
        let before = self.scrape().await;
        let page = self.page(request).await;
        let cost = self.scrape().await.growth(&before, COMMANDS, "command");
        (page, cost)
    }
}

fn commands(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

struct Catalog {
    mongo: TestMongo,
    amqp: TestAmqp,
    admin: String,
    /// Writes made so far: each is one `product.changed` for every replica.
    writes: u64,
}

impl Catalog {
    async fn new() -> Self {
        Self {
            mongo: TestMongo::create().await.expect("test mongo"),
            amqp: TestAmqp::create().await.expect("test amqp"),
            admin: token_for(&uuid::Uuid::now_v7().to_string(), Role::Admin),
            writes: 0,
        }
    }

    async fn create(
        &mut self,
        on: &Replica,
        sku: &str,
        name: &str,
        price: i64,
        category: &str,
    ) -> pb::Product {
        self.writes += 1;
        let request = pb::CreateProductRequest {
            product: Some(pb::Product {
                description: format!("{name}, dimmable on request"),
                ..product(sku, name, price, category)
            }),
            idempotency_key: String::new(),
        };
        let created = on
            .client
            .clone()
            .create_product(with_token(request, &self.admin))
            .await
            .expect("create");
        created.into_inner().product.expect("product")
    }

    async fn set_price(&mut self, on: &Replica, id: &str, price: i64) {
        self.writes += 1;
        let request = pb::UpdateProductRequest {
            product: Some(pb::Product {
                id: id.into(),
                price: eur(price),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["price".into()],
            }),
            expected_version: 0,
        };
        on.client
            .clone()
            .update_product(with_token(request, &self.admin))
            .await
            .expect("update");
    }

    /// Waits until every replica has handled the `product.changed` of every write so far, so
    /// none arrives later and empties a page a test is about to read warm.
    async fn settled(&self, replicas: &[&Replica]) {
        let expected = self.writes * replicas.len() as u64;
        let probe = replicas[0];
        wait_until(
            Duration::from_secs(20),
            &format!("{expected} product.changed deliveries"),
            || async move {
                let handled: u64 = probe
                    .scrape()
                    .await
                    .by("shop_bus_deliveries_total", "queue")
                    .into_iter()
                    .filter(|(queue, _)| queue.contains("product.cache."))
                    .map(|(_, n)| n)
                    .sum();
                (handled >= expected).then_some(())
            },
        )
        .await
        .expect("events handled");
    }
}

/// The BFF's `products(first: 20, after:, category:, search:)`: 21 asked for, to know whether
/// there is a next page.
fn bff_page(category: &str, search: &str, token: &str) -> pb::ListProductsRequest {
    pb::ListProductsRequest {
        page_size: 21,
        page_token: token.into(),
        category: category.into(),
        search: search.into(),
        sort: 0,
        include_archived: false,
    }
}

fn by_price(token: &str) -> pb::ListProductsRequest {
    pb::ListProductsRequest {
        page_size: 5,
        page_token: token.into(),
        sort: pb::ProductSort::PriceAsc as i32,
        ..Default::default()
    }
}

fn names(page: &pb::ListProductsResponse) -> Vec<String> {
    page.products.iter().map(|p| p.name.clone()).collect()
}

fn prices(page: &pb::ListProductsResponse) -> Vec<(String, i64)> {
    page.products
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.price.as_ref().map_or(0, |m| m.amount_minor),
            )
        })
        .collect()
}

async fn seed(catalog: &mut Catalog, on: &Replica) -> Vec<pb::Product> {
    let mut created = Vec::new();
    for i in 0..30 {
        let category = if i % 2 == 0 { "kitchen" } else { "garden" };
        created.push(
            catalog
                .create(
                    on,
                    &format!("CP-{i:02}"),
                    &format!("Lamp {i:02}"),
                    100 + i,
                    category,
                )
                .await,
        );
    }
    created
}

#[tokio::test]
async fn a_second_identical_page_costs_no_mongo_command() {
    let mut catalog = Catalog::new().await;
    let replica = Replica::start(&catalog.mongo, &catalog.amqp).await;
    seed(&mut catalog, &replica).await;
    catalog.settled(&[&replica]).await;

    let first = bff_page("", "", "");
    let (cold, cost) = replica.costed(&first).await;
    assert_eq!(cost, commands(&[("find", 1)]), "a cold page is one find");
    assert_eq!(cold.products.len(), 21);
    let (warm, cost) = replica.costed(&first).await;
    assert_eq!(cost, commands(&[]), "a warm page costs no MongoDB command");
    assert_eq!(warm, cold, "the same page, token and all");

    // The next page, through the token the warm page carried: cold once, then warm.
    let second = bff_page("", "", &warm.next_page_token);
    let (cold, cost) = replica.costed(&second).await;
    assert_eq!(cost, commands(&[("find", 1)]));
    assert_eq!(cold.products.len(), 9);
    assert_eq!(cold.products[0].name, "Lamp 21");
    let (warm, cost) = replica.costed(&second).await;
    assert_eq!((warm, cost), (cold, commands(&[])));

    // Filters, sorts and searches are pages of their own, each warm on its second read.
    for request in [
        bff_page("kitchen", "", ""),
        bff_page("", "lamp", ""),
        bff_page("garden", "dimma", ""),
        by_price(""),
    ] {
        let (cold, _) = replica.costed(&request).await;
        let (warm, cost) = replica.costed(&request).await;
        assert_eq!(cost, commands(&[]), "{request:?} warm");
        assert_eq!(warm, cold, "{request:?}");
    }
    assert_eq!(
        replica
            .page(&bff_page("garden", "dimma", ""))
            .await
            .products
            .len(),
        15
    );

    // A warm cache does not make a hostile or foreign token acceptable.
    // A genuine token, of the unfiltered list.
    let foreign = replica.page(&first).await.next_page_token;
    for token in ["garbage", foreign.as_str()] {
        let status = replica
            .client
            .clone()
            .list_products(bff_page("garden", "", token))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }
}

/// A writer and a reader replica of one catalog, seeded through the writer, with every
/// seeding event handled.
async fn two_replicas() -> (Catalog, Replica, Replica, Vec<pb::Product>) {
    let mut catalog = Catalog::new().await;
    let writer = Replica::start(&catalog.mongo, &catalog.amqp).await;
    let reader = Replica::start(&catalog.mongo, &catalog.amqp).await;
    let products = seed(&mut catalog, &writer).await;
    catalog.settled(&[&writer, &reader]).await;
    (catalog, writer, reader, products)
}

#[tokio::test]
async fn a_change_on_one_replica_shows_on_the_pages_of_another_after_its_event() {
    let (mut catalog, writer, reader, products) = two_replicas().await;

    // The reader holds these pages warm (for ten minutes by its TTL).
    let first = bff_page("", "", "");
    let cheapest = by_price("");
    // Inside a word: only a vocabulary read after the change expands it to "sconce".
    let search = bff_page("", "scon", "");
    for request in [&first, &cheapest, &search] {
        reader.page(request).await;
        assert_eq!(reader.costed(request).await.1, commands(&[]), "warm");
    }
    assert_eq!(names(&reader.page(&first).await)[0], "Lamp 00");
    assert_eq!(
        prices(&reader.page(&cheapest).await)[0],
        ("Lamp 00".into(), 100)
    );
    assert!(reader.page(&search).await.products.is_empty());

    // The writer makes Lamp 00 the dearest, adds a product that sorts first by name and
    // a word the reader's vocabulary does not have yet.
    catalog.set_price(&writer, &products[0].id, 99_999).await;
    catalog
        .create(&writer, "SC-1", "Aardvark Sconce", 50, "lighting")
        .await;
    // The writer's own pages show it at once...
    assert_eq!(names(&writer.page(&first).await)[0], "Aardvark Sconce");
    // ...and the reader's once the events arrive, long before any TTL.
    wait_until(
        Duration::from_secs(10),
        "the reader's pages after product.changed",
        || async {
            let first = names(&reader.page(&first).await);
            let cheapest = prices(&reader.page(&cheapest).await);
            let search = names(&reader.page(&search).await);
            (first.first().map(String::as_str) == Some("Aardvark Sconce")
                && cheapest[0] == ("Aardvark Sconce".to_owned(), 50)
                && cheapest[1] == ("Lamp 01".to_owned(), 101)
                && search == ["Aardvark Sconce"])
            .then_some(())
        },
    )
    .await
    .expect("within the event's delivery, not the TTL");
    // Lamp 00 is now last by price: its page shows the new price.
    let mut token = String::new();
    let mut last = None;
    loop {
        let page = reader.page(&by_price(&token)).await;
        last = page.products.last().cloned().or(last);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let last = last.expect("a last product");
    assert_eq!(
        (last.name.as_str(), last.price.map(|m| m.amount_minor)),
        ("Lamp 00", Some(99_999))
    );
    // Archiving leaves every replica's pages too.
    catalog.writes += 1;
    writer
        .client
        .clone()
        .archive_product(with_token(
            pb::ArchiveProductRequest {
                id: products[1].id.clone(),
                expected_version: 0,
            },
            &catalog.admin,
        ))
        .await
        .expect("archive");
    wait_until(
        Duration::from_secs(10),
        "the archived product to leave the reader's pages",
        || async {
            let cheapest = prices(&reader.page(&cheapest).await);
            (cheapest[1] == ("Lamp 02".to_owned(), 102)).then_some(())
        },
    )
    .await
    .expect("within the event's delivery");
    // Once the events are in, the new pages are warm again.
    catalog.settled(&[&writer, &reader]).await;
    reader.page(&cheapest).await;
    assert_eq!(reader.costed(&cheapest).await.1, commands(&[]));
}

/// Readers hammer the same page while its first product's price changes: after each write
/// returns, the writer's next read has the new price (no page read before the write
/// outlives it), and the other replica has it once the event is in and keeps it.
#[tokio::test]
async fn a_write_racing_page_reads_never_leaves_a_stale_page() {
    let (mut catalog, writer, reader, products) = two_replicas().await;
    let target = products[0].id.clone();
    let request = by_price("");
    let stop = tokio::sync::watch::channel(false);
    let mut hammers = Vec::new();
    for replica in [&writer, &reader] {
        for _ in 0..3 {
            let mut client = replica.client.clone();
            let request = request.clone();
            let mut stopped = stop.1.clone();
            hammers.push(tokio::spawn(async move {
                let mut reads = 0_u64;
                while !*stopped.borrow_and_update() {
                    if client.list_products(request.clone()).await.is_ok() {
                        reads += 1;
                    }
                }
                reads
            }));
        }
    }
    let price_of = |page: &pb::ListProductsResponse| {
        page.products
            .iter()
            .find(|p| p.id == target)
            .and_then(|p| p.price.as_ref().map(|m| m.amount_minor))
    };
    for round in 1..=12_i64 {
        // Always the cheapest, so always on the page.
        let price = 99 - round;
        catalog.set_price(&writer, &target, price).await;
        assert_eq!(
            price_of(&writer.page(&request).await),
            Some(price),
            "round {round}: the writer's own page right after its write"
        );
        wait_until(
            Duration::from_secs(10),
            &format!("round {round}: the other replica's page"),
            || async { (price_of(&reader.page(&request).await) == Some(price)).then_some(()) },
        )
        .await
        .expect("after the event");
        // Nothing older comes back later, from either replica.
        for replica in [&writer, &reader] {
            assert_eq!(price_of(&replica.page(&request).await), Some(price));
        }
    }
    stop.0.send(true).expect("hammers listening");
    let mut reads = 0;
    for hammer in hammers {
        reads += hammer.await.expect("hammer");
    }
    assert!(reads > 0, "the readers raced the writes");
    // Quiet now: every replica serves the last price, from memory.
    catalog.settled(&[&writer, &reader]).await;
    for replica in [&writer, &reader] {
        let (page, _) = replica.costed(&request).await;
        assert_eq!(price_of(&page), Some(87));
        let (page, cost) = replica.costed(&request).await;
        assert_eq!((price_of(&page), cost), (Some(87), commands(&[])));
    }
}
