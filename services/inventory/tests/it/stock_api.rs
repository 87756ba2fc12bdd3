//! Stock records over real gRPC: SetStock, AdjustStock, GetStock, BatchGetStock and the
//! ledger, with their error cases, auth, and the hosting concerns every service shares.

use std::collections::BTreeMap;

use crate::support::{ADMIN_ID, Harness, reason, start, violated_fields};
use futures::StreamExt as _;
use shop_kit::auth::Role;
use shop_proto::shop::inventory::v1 as pb;
use shop_testkit::{http_get, token_for, with_token};
use tonic::Code;

fn adjust(sku: &str, delta: i64, key: &str) -> pb::AdjustStockRequest {
    pb::AdjustStockRequest {
        sku: sku.into(),
        delta,
        reason: "delivery PO-1".into(),
        idempotency_key: key.into(),
    }
}

#[tokio::test]
async fn set_stock_creates_then_replaces_the_count() {
    let h = start().await;
    let created = h
        .client
        .clone()
        .set_stock(h.admin(pb::SetStockRequest {
            sku: " widget-1 ".into(),
            on_hand: 7,
            reason: "stocktake 2025-11".into(),
        }))
        .await
        .expect("set stock")
        .into_inner()
        .stock
        .unwrap();
    assert_eq!(created.sku, "WIDGET-1");
    assert_eq!(
        (
            created.on_hand,
            created.reserved,
            created.available,
            created.version
        ),
        (7, 0, 7, 1)
    );
    assert!(created.updated_at.is_some());

    let replaced = h.set_stock("WIDGET-1", 3).await;
    assert_eq!(
        (replaced.on_hand, replaced.available, replaced.version),
        (3, 3, 2)
    );
    assert_eq!(h.stock("widget-1").await, replaced);

    let ledger = h.ledger("WIDGET-1", 0).await;
    let summary: Vec<_> = ledger
        .iter()
        .map(|e| (e.kind, e.on_hand_delta, e.on_hand_after, e.reason.as_str()))
        .collect();
    let set = pb::LedgerEntryKind::Set as i32;
    assert_eq!(
        summary,
        [(set, -4, 3, "test stock"), (set, 7, 7, "stocktake 2025-11")]
    );
    assert!(
        ledger
            .iter()
            .all(|e| e.actor_user_id == ADMIN_ID && e.order_id.is_empty())
    );
}

#[tokio::test]
async fn set_stock_refuses_less_than_is_reserved() {
    let h = start().await;
    h.set_stock("SKU-A", 10).await;
    h.reserve("order-1", &[("SKU-A", 6)]).await.unwrap();

    let status = h
        .client
        .clone()
        .set_stock(h.admin(pb::SetStockRequest {
            sku: "SKU-A".into(),
            on_hand: 5,
            reason: String::new(),
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status).as_deref(), Some("INSUFFICIENT_STOCK"));

    // Exactly the reserved units is fine: nothing is left to sell.
    let level = h.set_stock("SKU-A", 6).await;
    assert_eq!((level.on_hand, level.reserved, level.available), (6, 6, 0));
}

#[tokio::test]
async fn set_stock_reports_every_invalid_field() {
    let h = start().await;
    let status = h
        .client
        .clone()
        .set_stock(h.admin(pb::SetStockRequest {
            sku: "not a sku".into(),
            on_hand: -1,
            reason: "two\nlines".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["on_hand", "reason", "sku"]);
}

#[tokio::test]
async fn writes_are_for_admins_and_reads_are_public() {
    let h = start().await;
    h.set_stock("SKU-A", 1).await;
    let set = || pb::SetStockRequest {
        sku: "SKU-A".into(),
        on_hand: 5,
        reason: String::new(),
    };
    let mut client = h.client.clone();

    let anonymous = client.set_stock(set()).await.unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    let customer = token_for("customer-1", Role::Customer);
    let denied = client
        .set_stock(with_token(set(), &customer))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let garbage = client
        .set_stock(with_token(set(), "not.a.jwt"))
        .await
        .unwrap_err();
    assert_eq!(garbage.code(), Code::Unauthenticated);

    // Every other write and the ledger likewise.
    let adjust = client
        .adjust_stock(with_token(adjust("SKU-A", 1, "k"), &customer))
        .await
        .unwrap_err();
    let reserve = client
        .reserve(with_token(pb::ReserveRequest::default(), &customer))
        .await
        .unwrap_err();
    let commit = client
        .commit(pb::CommitRequest {
            order_id: "o".into(),
        })
        .await
        .unwrap_err();
    let release = client
        .release(with_token(pb::ReleaseRequest::default(), &customer))
        .await
        .unwrap_err();
    let ledger = client
        .list_stock_ledger(with_token(
            pb::ListStockLedgerRequest {
                sku: "SKU-A".into(),
                ..Default::default()
            },
            &customer,
        ))
        .await
        .unwrap_err();
    for status in [&adjust, &reserve, &release, &ledger] {
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }
    assert_eq!(commit.code(), Code::Unauthenticated);

    // Reads need no token.
    assert_eq!(h.stock("SKU-A").await.on_hand, 1);
    let batch = client
        .batch_get_stock(pb::BatchGetStockRequest {
            skus: vec!["SKU-A".into()],
        })
        .await
        .expect("anonymous batch read");
    assert_eq!(batch.into_inner().levels.len(), 1);
}

#[tokio::test]
async fn adjust_stock_applies_a_key_once_per_sku() {
    let h = start().await;
    h.set_stock("SKU-A", 10).await;
    h.set_stock("SKU-B", 10).await;
    let mut client = h.client.clone();

    let first = client
        .adjust_stock(h.admin(adjust("sku-a", 5, "po-1")))
        .await
        .expect("adjust")
        .into_inner()
        .stock
        .unwrap();
    assert_eq!((first.on_hand, first.available, first.version), (15, 15, 2));

    // Something else changes the SKU; the retry still answers with the first result.
    h.set_stock("SKU-A", 20).await;
    let retry = client
        .adjust_stock(h.admin(adjust("SKU-A", 5, "po-1")))
        .await
        .expect("retry")
        .into_inner()
        .stock
        .unwrap();
    assert_eq!(retry, first);
    assert_eq!(
        h.stock("SKU-A").await.on_hand,
        20,
        "the delta was not applied again"
    );

    // The same key on another SKU is another adjustment.
    let other = client
        .adjust_stock(h.admin(adjust("SKU-B", 5, "po-1")))
        .await
        .unwrap()
        .into_inner()
        .stock
        .unwrap();
    assert_eq!(other.on_hand, 15);

    // Reusing a key for a different change is a client bug, not a retry.
    let reused = client
        .adjust_stock(h.admin(adjust("SKU-A", -5, "po-1")))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&reused).as_deref(), Some("IDEMPOTENCY_KEY_REUSED"));

    let adjustments: Vec<_> = h
        .ledger("SKU-A", 0)
        .await
        .into_iter()
        .filter(|e| e.kind == pb::LedgerEntryKind::Adjust as i32)
        .collect();
    assert_eq!(adjustments.len(), 1);
    assert_eq!(adjustments[0].reason, "delivery PO-1");
    assert_eq!(adjustments[0].actor_user_id, ADMIN_ID);
    assert_eq!(adjustments[0].on_hand_delta, 5);
}

#[tokio::test]
async fn concurrent_duplicates_of_an_adjustment_apply_once() {
    let h = start().await;
    h.set_stock("SKU-A", 10).await;
    let results: Vec<_> = futures::stream::iter(0..16)
        .map(|_| {
            let mut client = h.client.clone();
            let request = h.admin(adjust("SKU-A", 3, "delivery-77"));
            async move { client.adjust_stock(request).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for result in &results {
        let level = result.as_ref().expect("every duplicate succeeds").get_ref();
        assert_eq!(level.stock.as_ref().unwrap().on_hand, 13);
    }
    assert_eq!(h.stock("SKU-A").await.on_hand, 13);
    h.assert_books_balance(&BTreeMap::from([("SKU-A", 13)]))
        .await;
}

#[tokio::test]
async fn adjust_stock_errors() {
    let h = start().await;
    h.set_stock("SKU-A", 10).await;
    h.reserve("order-1", &[("SKU-A", 8)]).await.unwrap();
    let mut client = h.client.clone();

    let invalid = client
        .adjust_stock(h.admin(pb::AdjustStockRequest {
            sku: "x".into(),
            delta: 0,
            reason: " ".into(),
            idempotency_key: String::new(),
        }))
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&invalid),
        ["delta", "idempotency_key", "reason", "sku"]
    );

    let unknown = client
        .adjust_stock(h.admin(adjust("NEVER-STOCKED", 1, "k1")))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    // 2 available: removing 3 would leave on_hand below the 8 reserved.
    let too_many = client
        .adjust_stock(h.admin(adjust("SKU-A", -3, "breakage-1")))
        .await
        .unwrap_err();
    assert_eq!(too_many.code(), Code::FailedPrecondition);
    assert_eq!(reason(&too_many).as_deref(), Some("INSUFFICIENT_STOCK"));
    // A refused change did not use up its key.
    h.release("order-1").await.unwrap();
    let level = client
        .adjust_stock(h.admin(adjust("SKU-A", -3, "breakage-1")))
        .await
        .expect("allowed once the stock is free")
        .into_inner()
        .stock
        .unwrap();
    assert_eq!((level.on_hand, level.reserved, level.available), (7, 0, 7));
}

#[tokio::test]
async fn get_stock_normalises_and_reports_unknown_skus() {
    let h = start().await;
    h.set_stock("SKU-A", 4).await;
    assert_eq!(h.stock(" sku-a").await.sku, "SKU-A");
    let mut client = h.client.clone();
    let unknown = client
        .get_stock(pb::GetStockRequest {
            sku: "NEVER-STOCKED".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let invalid = client
        .get_stock(pb::GetStockRequest { sku: "?".into() })
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&invalid), ["sku"]);
}

#[tokio::test]
async fn batch_get_stock_answers_found_and_unknown_skus_in_one_call() {
    let h = start().await;
    h.set_stock("SKU-A", 4).await;
    h.set_stock("SKU-B", 0).await;
    let mut client = h.client.clone();
    let batch = |skus: &[&str]| pb::BatchGetStockRequest {
        skus: skus.iter().map(|s| (*s).to_owned()).collect(),
    };

    for round in 0..2 {
        // The second round is answered from the display cache.
        let reply = client
            .batch_get_stock(batch(&["sku-a", "SKU-B", "SKU-A", "NOPE-1"]))
            .await
            .expect("batch")
            .into_inner();
        let mut levels: Vec<_> = reply
            .levels
            .iter()
            .map(|l| (l.sku.as_str(), l.available))
            .collect();
        levels.sort();
        assert_eq!(levels, [("SKU-A", 4), ("SKU-B", 0)], "round {round}");
        assert_eq!(reply.not_found_skus, ["NOPE-1"], "round {round}");
    }

    // A change on this replica shows at once despite the cache.
    h.set_stock("SKU-A", 9).await;
    h.reserve("order-1", &[("SKU-A", 2)]).await.unwrap();
    h.set_stock("NOPE-1", 1).await;
    let reply = client
        .batch_get_stock(batch(&["SKU-A", "NOPE-1"]))
        .await
        .unwrap()
        .into_inner();
    let mut levels: Vec<_> = reply
        .levels
        .iter()
        .map(|l| (l.sku.as_str(), l.on_hand, l.reserved, l.available))
        .collect();
    levels.sort();
    assert_eq!(levels, [("NOPE-1", 1, 0, 1), ("SKU-A", 9, 2, 7)]);
    assert!(reply.not_found_skus.is_empty());

    let empty = client
        .batch_get_stock(batch(&[]))
        .await
        .unwrap()
        .into_inner();
    assert!(empty.levels.is_empty() && empty.not_found_skus.is_empty());

    let invalid = client
        .batch_get_stock(batch(&["SKU-A", "bad sku"]))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&invalid), ["skus[1]"]);

    let too_many: Vec<String> = (0..201).map(|i| format!("SKU-{i}")).collect();
    let status = client
        .batch_get_stock(pb::BatchGetStockRequest { skus: too_many })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["skus"]);
    // Duplicates do not count against the cap.
    let duplicates = vec!["SKU-A".to_owned(); 500];
    client
        .batch_get_stock(pb::BatchGetStockRequest { skus: duplicates })
        .await
        .expect("500 copies of one SKU are one SKU");
}

#[tokio::test]
async fn the_ledger_pages_newest_first_and_records_who_and_why() {
    let h = start().await;
    h.set_stock("SKU-A", 10).await; // v1
    let mut client = h.client.clone();
    client
        .adjust_stock(h.admin(adjust("SKU-A", 2, "k1")))
        .await
        .unwrap(); // v2
    h.reserve("order-1", &[("SKU-A", 3)]).await.unwrap(); // v3
    h.commit("order-1").await.unwrap(); // v4
    h.reserve("order-2", &[("SKU-A", 1)]).await.unwrap(); // v5
    h.release("order-2").await.unwrap(); // v6

    let mut pages = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_stock_ledger(h.admin(pb::ListStockLedgerRequest {
                sku: "sku-a".into(),
                page_size: 4,
                page_token,
            }))
            .await
            .unwrap()
            .into_inner();
        pages.push(page.entries.len());
        let done = page.next_page_token.is_empty();
        page_token = page.next_page_token;
        if done {
            break;
        }
    }
    assert_eq!(pages, [4, 2]);

    let entries = h.ledger("SKU-A", 0).await;
    use pb::LedgerEntryKind as K;
    let rows: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                K::try_from(e.kind).unwrap(),
                e.on_hand_delta,
                e.reserved_delta,
                e.on_hand_after,
                e.reserved_after,
                e.order_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (K::Release, 0, -1, 9, 0, "order-2"),
            (K::Reserve, 0, 1, 9, 1, "order-2"),
            (K::Commit, -3, -3, 9, 0, "order-1"),
            (K::Reserve, 0, 3, 12, 3, "order-1"),
            (K::Adjust, 2, 0, 12, 0, ""),
            (K::Set, 10, 0, 10, 0, ""),
        ]
    );
    let ids: std::collections::HashSet<_> = entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), entries.len(), "ids are unique");
    for entry in &entries {
        let by_admin = matches!(K::try_from(entry.kind).unwrap(), K::Set | K::Adjust);
        assert_eq!(entry.actor_user_id.is_empty(), !by_admin, "{entry:?}");
        assert!(entry.occurred_at.is_some());
    }
    assert_eq!(
        h.ledger("SKU-A", 1).await,
        entries,
        "page size 1 sees the same history"
    );
}

#[tokio::test]
async fn ledger_errors() {
    let h = start().await;
    h.set_stock("SKU-A", 1).await;
    h.set_stock("SKU-A", 2).await;
    h.set_stock("SKU-B", 1).await;
    let mut client = h.client.clone();
    let list = |sku: &str, page_size: i32, page_token: &str| {
        h.admin(pb::ListStockLedgerRequest {
            sku: sku.into(),
            page_size,
            page_token: page_token.into(),
        })
    };
    let unknown = client
        .list_stock_ledger(list("NEVER-STOCKED", 0, ""))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let bad_sku = client.list_stock_ledger(list("", 0, "")).await.unwrap_err();
    assert_eq!(violated_fields(&bad_sku), ["sku"]);
    let negative = client
        .list_stock_ledger(list("SKU-A", -1, ""))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&negative), ["page_size"]);
    let garbage = client
        .list_stock_ledger(list("SKU-A", 0, "%%%"))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&garbage), ["page_token"]);

    let first = client
        .list_stock_ledger(list("SKU-A", 1, ""))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.next_page_token.is_empty());
    let foreign = client
        .list_stock_ledger(list("SKU-B", 1, &first.next_page_token))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&foreign), ["page_token"]);
}

#[tokio::test]
async fn indexes_exist_and_a_restart_keeps_everything() {
    let h = start().await;
    h.set_stock("SKU-A", 5).await;
    h.reserve("order-1", &[("SKU-A", 2)]).await.unwrap();
    let mut names = Vec::new();
    for collection in ["reservations", "stock_ledger"] {
        names.extend(
            h.mongo
                .database
                .collection::<mongodb::bson::Document>(collection)
                .list_index_names()
                .await
                .unwrap(),
        );
    }
    names.sort();
    assert_eq!(
        names,
        [
            "_id_",
            "_id_",
            "announced",
            "settled_updated_at",
            "sku_version",
            "status_expires_at",
            "status_updated_at"
        ]
    );

    // A second start-up on the same database re-creates the indexes without complaint.
    let Harness { service, mongo, .. } = h;
    service.stop().await.expect("clean shutdown");
    let config = crate::support::config(&mongo);
    let h = crate::support::start_with(mongo, config).await;
    let level = h.stock("SKU-A").await;
    assert_eq!((level.on_hand, level.reserved), (5, 2));
    assert_eq!(
        crate::support::status_of(&h.reserve("order-1", &[("SKU-A", 2)]).await.unwrap()),
        pb::ReservationStatus::Reserved
    );
}

#[tokio::test]
async fn health_reflection_and_metrics_are_served() {
    let h = start().await;
    h.set_stock("SKU-A", 1).await;
    let _ = h
        .client
        .clone()
        .get_stock(pb::GetStockRequest { sku: "?".into() })
        .await;

    let services = shop_testkit::reflected_services(h.service.channel().await.unwrap())
        .await
        .expect("reflection v1alpha");
    for expected in [
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "shop.inventory.v1.InventoryService",
    ] {
        assert!(
            services.iter().any(|s| s == expected),
            "{expected} in {services:?}"
        );
    }
    let (status, body) = http_get(h.service.admin_addr, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    let count = |method: &str, code: &str| {
        body.lines()
            .find(|line| {
                line.starts_with("shop_grpc_server_handled_total")
                    && line.contains(&format!("grpc_method=\"{method}\""))
                    && line.contains(&format!("grpc_code=\"{code}\""))
            })
            .map(|line| line.rsplit(' ').next().unwrap_or("").to_owned())
    };
    assert_eq!(count("SetStock", "OK").as_deref(), Some("1"), "{body}");
    assert_eq!(
        count("GetStock", "InvalidArgument").as_deref(),
        Some("1"),
        "{body}"
    );
    assert_eq!(
        http_get(h.service.admin_addr, "/readyz").await.unwrap().0,
        200
    );
}
