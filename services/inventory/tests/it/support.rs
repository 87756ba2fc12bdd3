//! The Inventory service over real gRPC against the MongoDB stand-in, one fresh database
//! per test, plus the bookkeeping checks the concurrency tests share.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::TryStreamExt as _;
use mongodb::bson::{Document, doc};
use shop_inventory::domain::ReservationStatus;
use shop_inventory::store::{ReservationDoc, Store};
use shop_inventory::{App, InventoryConfig};
use shop_kit::auth::Role;
use shop_proto::shop::inventory::v1::{
    self as pb, inventory_service_client::InventoryServiceClient,
};
use shop_testkit::{RunningService, TestAmqp, TestMongo, token_for, with_token};
use tonic::transport::Channel;
use tonic::{Request, Status};

pub const ADMIN_ID: &str = "admin-1";

pub struct Harness {
    pub client: InventoryServiceClient<Channel>,
    pub service: RunningService,
    /// The service's own database, for what the API does not show (holds, raw documents)
    /// and for calling the sweeper directly.
    pub store: Store,
    pub mongo: TestMongo,
    pub admin_token: String,
    /// The test's own exchange: never the production `shop.events`, where a test
    /// Inventory would answer real orders (from a `just up` on the same broker).
    pub amqp: TestAmqp,
}

pub fn config(mongo: &TestMongo) -> InventoryConfig {
    InventoryConfig {
        host: shop_testkit::test_host(),
        mongo: mongo.config(),
        // Tests call the sweeper functions themselves with a chosen `now`; the background
        // sweeper only runs its start-up pass unless a test asks for it.
        sweep_interval_secs: 3600,
        ..InventoryConfig::default()
    }
}

pub async fn start_with(mongo: TestMongo, mut config: InventoryConfig) -> Harness {
    let amqp = TestAmqp::create().await.expect("test amqp");
    config.amqp = amqp.bus_config();
    let service = RunningService::start::<App>(config)
        .await
        .expect("inventory service starts");
    let client = InventoryServiceClient::new(service.channel().await.expect("service is serving"));
    Harness {
        client,
        service,
        store: Store::new(&mongo.database),
        mongo,
        admin_token: token_for(ADMIN_ID, Role::Admin),
        amqp,
    }
}

pub async fn start() -> Harness {
    let mongo = TestMongo::create().await.expect("test database");
    let config = config(&mongo);
    start_with(mongo, config).await
}

pub fn line(sku: &str, quantity: i64) -> pb::ReservationLine {
    pb::ReservationLine {
        sku: sku.into(),
        quantity,
    }
}

pub fn ttl_secs(seconds: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration { seconds, nanos: 0 })
}

pub use shop_testkit::reason;

/// The fields a refusal names, sorted.
pub fn violated_fields(status: &Status) -> Vec<String> {
    let mut fields = shop_testkit::violated_fields(status);
    fields.sort();
    fields
}

pub fn status_of(reservation: &pb::Reservation) -> pb::ReservationStatus {
    pb::ReservationStatus::try_from(reservation.status).expect("known status")
}

impl Harness {
    pub fn admin<T>(&self, message: T) -> Request<T> {
        with_token(message, &self.admin_token)
    }

    pub async fn set_stock(&self, sku: &str, on_hand: i64) -> pb::StockLevel {
        self.client
            .clone()
            .set_stock(self.admin(pb::SetStockRequest {
                sku: sku.into(),
                on_hand,
                reason: "test stock".into(),
            }))
            .await
            .expect("set stock")
            .into_inner()
            .stock
            .expect("stock")
    }

    pub async fn stock(&self, sku: &str) -> pb::StockLevel {
        self.client
            .clone()
            .get_stock(pb::GetStockRequest { sku: sku.into() })
            .await
            .expect("get stock")
            .into_inner()
            .stock
            .expect("stock")
    }

    pub async fn reserve_with_ttl(
        &self,
        order_id: &str,
        lines: &[(&str, i64)],
        ttl: Option<prost_types::Duration>,
    ) -> Result<pb::Reservation, Status> {
        self.client
            .clone()
            .reserve(self.admin(pb::ReserveRequest {
                order_id: order_id.into(),
                lines: lines.iter().map(|(sku, q)| line(sku, *q)).collect(),
                ttl,
            }))
            .await
            .map(|r| r.into_inner().reservation.expect("reservation"))
    }

    pub async fn reserve(
        &self,
        order_id: &str,
        lines: &[(&str, i64)],
    ) -> Result<pb::Reservation, Status> {
        self.reserve_with_ttl(order_id, lines, None).await
    }

    pub async fn commit(&self, order_id: &str) -> Result<pb::Reservation, Status> {
        self.client
            .clone()
            .commit(self.admin(pb::CommitRequest {
                order_id: order_id.into(),
            }))
            .await
            .map(|r| r.into_inner().reservation.expect("reservation"))
    }

    pub async fn release(&self, order_id: &str) -> Result<pb::Reservation, Status> {
        self.client
            .clone()
            .release(self.admin(pb::ReleaseRequest {
                order_id: order_id.into(),
                reason: pb::ReleaseReason::OrderCancelled as i32,
            }))
            .await
            .map(|r| r.into_inner().reservation.expect("reservation"))
    }

    /// The whole ledger of `sku` through the API, page by page, newest first.
    pub async fn ledger(&self, sku: &str, page_size: i32) -> Vec<pb::StockLedgerEntry> {
        let mut entries = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = self
                .client
                .clone()
                .list_stock_ledger(self.admin(pb::ListStockLedgerRequest {
                    sku: sku.into(),
                    page_size,
                    page_token,
                }))
                .await
                .expect("list ledger")
                .into_inner();
            entries.extend(page.entries);
            if page.next_page_token.is_empty() {
                return entries;
            }
            page_token = page.next_page_token;
        }
    }

    /// The stock document as stored, bookkeeping arrays included.
    pub async fn raw_stock(&self, sku: &str) -> Document {
        self.mongo
            .database
            .collection::<Document>("stock")
            .find_one(doc! { "_id": sku })
            .await
            .expect("read stock document")
            .unwrap_or_else(|| panic!("stock document for {sku}"))
    }

    /// The hold tags on a SKU: one per reservation holding units of it.
    pub async fn holds(&self, sku: &str) -> BTreeSet<String> {
        self.raw_stock(sku)
            .await
            .get_array("holds")
            .map(|holds| {
                holds
                    .iter()
                    .filter_map(|h| h.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub async fn reservations(&self) -> Vec<ReservationDoc> {
        self.mongo
            .database
            .collection::<ReservationDoc>("reservations")
            .find(doc! {})
            .await
            .expect("query reservations")
            .try_collect()
            .await
            .expect("read reservations")
    }

    /// The books balance: for every SKU in `initial` (its on_hand before any sale),
    /// - reserved is exactly the units of live (RESERVED) reservations, and on_hand is the
    ///   initial count minus the units of COMMITTED ones;
    /// - available = on_hand - reserved >= 0;
    /// - the SKU carries exactly the hold tags of the live reservations that name it (so
    ///   no rejected, released or committed reservation left a partial hold behind);
    /// - the ledger has one entry per version with no gaps, its deltas sum to the current
    ///   counts, and its newest entry shows them.
    pub async fn assert_books_balance(&self, initial: &BTreeMap<&str, i64>) {
        let reservations = self.reservations().await;
        for (sku, initial_on_hand) in initial {
            let mut live_units = 0;
            let mut sold_units = 0;
            let mut live_holds = BTreeSet::new();
            for reservation in &reservations {
                let Some(line) = reservation.lines.iter().find(|l| l.sku == *sku) else {
                    continue;
                };
                match reservation.status {
                    ReservationStatus::Reserved => {
                        live_units += line.quantity;
                        live_holds.insert(reservation.hold_id.clone());
                    }
                    ReservationStatus::Committed => sold_units += line.quantity,
                    ReservationStatus::Rejected | ReservationStatus::Released => {}
                    other => panic!("{} left in state {other:?}", reservation.order_id),
                }
                assert!(
                    reservation.settled,
                    "{} is not settled",
                    reservation.order_id
                );
            }
            let level = self.stock(sku).await;
            assert_eq!(level.reserved, live_units, "{sku}: reserved");
            assert_eq!(
                level.on_hand,
                initial_on_hand - sold_units,
                "{sku}: on_hand"
            );
            assert_eq!(
                level.available,
                level.on_hand - level.reserved,
                "{sku}: available"
            );
            assert!(level.available >= 0, "{sku}: oversold: {level:?}");
            assert_eq!(self.holds(sku).await, live_holds, "{sku}: hold tags");

            let ledger = self
                .store
                .list_ledger(sku, None, 100_000)
                .await
                .expect("read ledger");
            let versions: Vec<i64> = ledger.iter().rev().map(|e| e.version).collect();
            assert_eq!(
                versions,
                (1..=level.version).collect::<Vec<_>>(),
                "{sku}: one ledger entry per version"
            );
            let on_hand: i64 = ledger.iter().map(|e| e.on_hand_delta).sum();
            let reserved: i64 = ledger.iter().map(|e| e.reserved_delta).sum();
            assert_eq!(
                (on_hand, reserved),
                (level.on_hand, level.reserved),
                "{sku}: ledger sums"
            );
            let newest = &ledger[0];
            assert_eq!(
                (newest.on_hand_after, newest.reserved_after),
                (level.on_hand, level.reserved),
                "{sku}: newest ledger entry"
            );
        }
    }
}

/// Tallies reservation outcomes by status name, for readable assertion failures.
pub fn tally<'a>(
    outcomes: impl IntoIterator<Item = &'a pb::Reservation>,
) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for reservation in outcomes {
        *counts
            .entry(status_of(reservation).as_str_name().to_owned())
            .or_insert(0) += 1;
    }
    counts
}
