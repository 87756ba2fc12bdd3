//! Reservations over real gRPC: Reserve, Commit, Release and their error cases, the
//! expiry sweeper, and recovery from a crash in the middle of a reservation.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::{reason, start, start_with, status_of, ttl_secs, violated_fields};
use chrono::Utc;
use shop_inventory::domain::{ReleaseReason, ReservationStatus};
use shop_inventory::store::{LedgerDoc, LedgerKind, LineDoc, ReservationDoc, bson_time};
use shop_inventory::sweeper;
use shop_proto::shop::inventory::v1 as pb;
use shop_testkit::{TestMongo, wait_until};
use tonic::Code;

use pb::ReservationStatus as S;

#[tokio::test]
async fn reserve_holds_every_line_until_commit_sells_them() {
    let h = start().await;
    h.set_stock("SKU-A", 10).await;
    h.set_stock("SKU-B", 5).await;

    let before = Utc::now();
    let reservation = h
        .reserve_with_ttl("order-1", &[("sku-b", 2), ("SKU-A", 3)], ttl_secs(120))
        .await
        .expect("reserve");
    assert_eq!(status_of(&reservation), S::Reserved);
    assert_eq!(reservation.order_id, "order-1");
    let lines: Vec<_> = reservation
        .lines
        .iter()
        .map(|l| (l.sku.as_str(), l.quantity))
        .collect();
    assert_eq!(
        lines,
        [("SKU-B", 2), ("SKU-A", 3)],
        "lines as requested, normalised"
    );
    assert!(reservation.rejections.is_empty());
    let expires = reservation.expires_at.unwrap().seconds;
    let expected = (before + chrono::Duration::seconds(120)).timestamp();
    assert!(
        (expected - 1..=expected + 5).contains(&expires),
        "{expires} vs {expected}"
    );

    let a = h.stock("SKU-A").await;
    assert_eq!((a.on_hand, a.reserved, a.available), (10, 3, 7));
    let b = h.stock("SKU-B").await;
    assert_eq!((b.on_hand, b.reserved, b.available), (5, 2, 3));

    let committed = h.commit("order-1").await.expect("commit");
    assert_eq!(status_of(&committed), S::Committed);
    let a = h.stock("SKU-A").await;
    assert_eq!((a.on_hand, a.reserved, a.available), (7, 0, 7));
    let b = h.stock("SKU-B").await;
    assert_eq!((b.on_hand, b.reserved, b.available), (3, 0, 3));

    // Committing again is a no-op, and a repeated Reserve returns the reservation as it is.
    let again = h.commit("order-1").await.expect("second commit");
    assert_eq!(status_of(&again), S::Committed);
    assert_eq!(h.stock("SKU-A").await.on_hand, 7);
    let repeat = h.reserve("order-1", &[("SKU-A", 1)]).await.unwrap();
    assert_eq!(status_of(&repeat), S::Committed);
    assert_eq!(repeat.lines.len(), 2);
    h.assert_books_balance(&BTreeMap::from([("SKU-A", 10), ("SKU-B", 5)]))
        .await;
}

#[tokio::test]
async fn reserve_without_ttl_uses_the_default() {
    let h = start().await;
    h.set_stock("SKU-A", 1).await;
    let before = Utc::now().timestamp();
    let reservation = h.reserve("order-1", &[("SKU-A", 1)]).await.unwrap();
    let expires = reservation.expires_at.unwrap().seconds;
    assert!(
        (before + 899..=before + 905).contains(&expires),
        "{expires}"
    );
}

#[tokio::test]
async fn a_short_line_rejects_the_whole_order_and_names_every_short_line() {
    let h = start().await;
    h.set_stock("SKU-A", 10).await;
    h.set_stock("SKU-B", 1).await;
    h.set_stock("SKU-C", 5).await;

    let reservation = h
        .reserve(
            "order-1",
            &[
                ("SKU-C", 2),
                ("SKU-B", 3),
                ("SKU-A", 4),
                ("NEVER-STOCKED", 1),
            ],
        )
        .await
        .expect("a rejection is an answer, not an error");
    assert_eq!(status_of(&reservation), S::Rejected);
    assert!(reservation.expires_at.is_none());
    let rejections: Vec<_> = reservation
        .rejections
        .iter()
        .map(|r| {
            (
                r.sku.as_str(),
                pb::RejectionCode::try_from(r.code).unwrap(),
                r.requested,
                r.available,
            )
        })
        .collect();
    assert_eq!(
        rejections,
        [
            ("SKU-B", pb::RejectionCode::OutOfStock, 3, 1),
            ("NEVER-STOCKED", pb::RejectionCode::UnknownSku, 1, 0),
        ]
    );
    // Nothing is held, although SKU-A was held for a moment (it sorts first).
    for (sku, on_hand) in [("SKU-A", 10), ("SKU-B", 1), ("SKU-C", 5)] {
        let level = h.stock(sku).await;
        assert_eq!(
            (level.on_hand, level.reserved, level.available),
            (on_hand, 0, on_hand)
        );
    }
    h.assert_books_balance(&BTreeMap::from([("SKU-A", 10), ("SKU-B", 1), ("SKU-C", 5)]))
        .await;

    // The order's answer is settled: the same order id stays rejected even with stock now.
    h.set_stock("SKU-B", 10).await;
    let repeat = h.reserve("order-1", &[("SKU-B", 1)]).await.unwrap();
    assert_eq!(status_of(&repeat), S::Rejected);
    assert_eq!(repeat.rejections.len(), 2);
    // Committing or releasing it: there is nothing to sell; releasing is a no-op.
    let commit = h.commit("order-1").await.unwrap_err();
    assert_eq!(commit.code(), Code::FailedPrecondition);
    assert_eq!(reason(&commit).as_deref(), Some("RESERVATION_NOT_ACTIVE"));
    assert_eq!(status_of(&h.release("order-1").await.unwrap()), S::Rejected);
}

#[tokio::test]
async fn reserve_reports_every_invalid_field() {
    let h = start().await;
    let mut client = h.client.clone();
    let status = client
        .reserve(h.admin(pb::ReserveRequest {
            order_id: "has space".into(),
            lines: vec![
                crate::support::line("SKU-A", 1),
                crate::support::line("sku-a", 2),
                crate::support::line("x", 0),
            ],
            ttl: ttl_secs(3601),
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&status),
        [
            "lines[1].sku",
            "lines[2].quantity",
            "lines[2].sku",
            "order_id",
            "ttl"
        ]
    );

    let no_lines = client
        .reserve(h.admin(pb::ReserveRequest {
            order_id: "order-1".into(),
            lines: vec![],
            ttl: Some(prost_types::Duration {
                seconds: -5,
                nanos: 0,
            }),
        }))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&no_lines), ["lines", "ttl"]);

    let too_many = client
        .reserve(
            h.admin(pb::ReserveRequest {
                order_id: "order-1".into(),
                lines: (0..101)
                    .map(|i| crate::support::line(&format!("SKU-{i}"), 1))
                    .collect(),
                ttl: None,
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&too_many), ["lines"]);
    assert!(
        h.reservations().await.is_empty(),
        "nothing stored for bad requests"
    );
}

#[tokio::test]
async fn release_returns_the_units_once() {
    let h = start().await;
    h.set_stock("SKU-A", 4).await;
    h.reserve("order-1", &[("SKU-A", 3)]).await.unwrap();
    assert_eq!(h.stock("SKU-A").await.available, 1);

    let released = h
        .client
        .clone()
        .release(h.admin(pb::ReleaseRequest {
            order_id: "order-1".into(),
            reason: pb::ReleaseReason::Admin as i32,
        }))
        .await
        .expect("release")
        .into_inner()
        .reservation
        .unwrap();
    assert_eq!(status_of(&released), S::Released);
    assert_eq!(released.release_reason, pb::ReleaseReason::Admin as i32);
    assert_eq!(h.stock("SKU-A").await.available, 4);

    // A second release (even with another reason) changes nothing.
    let again = h.release("order-1").await.unwrap();
    assert_eq!(status_of(&again), S::Released);
    assert_eq!(again.release_reason, pb::ReleaseReason::Admin as i32);
    let level = h.stock("SKU-A").await;
    assert_eq!((level.reserved, level.available), (0, 4));

    let commit = h.commit("order-1").await.unwrap_err();
    assert_eq!(reason(&commit).as_deref(), Some("RESERVATION_NOT_ACTIVE"));
    h.assert_books_balance(&BTreeMap::from([("SKU-A", 4)]))
        .await;
}

#[tokio::test]
async fn a_committed_reservation_cannot_be_released() {
    let h = start().await;
    h.set_stock("SKU-A", 4).await;
    h.reserve("order-1", &[("SKU-A", 3)]).await.unwrap();
    h.commit("order-1").await.unwrap();
    let status = h.release("order-1").await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status).as_deref(), Some("RESERVATION_COMMITTED"));
    let level = h.stock("SKU-A").await;
    assert_eq!((level.on_hand, level.reserved, level.available), (1, 0, 1));
}

#[tokio::test]
async fn releasing_an_unknown_order_leaves_a_tombstone_that_a_late_reserve_respects() {
    let h = start().await;
    h.set_stock("SKU-A", 4).await;
    let tombstone = h.release("order-late").await.expect("release of nothing");
    assert_eq!(status_of(&tombstone), S::Released);
    assert_eq!(
        tombstone.release_reason,
        pb::ReleaseReason::OrderCancelled as i32
    );
    assert!(tombstone.lines.is_empty());

    // order.created arrives after order.cancelled: nothing may be held.
    let late = h.reserve("order-late", &[("SKU-A", 2)]).await.unwrap();
    assert_eq!(status_of(&late), S::Released);
    assert_eq!(h.stock("SKU-A").await.available, 4);
    let commit = h.commit("order-late").await.unwrap_err();
    assert_eq!(reason(&commit).as_deref(), Some("RESERVATION_NOT_ACTIVE"));
}

#[tokio::test]
async fn commit_and_release_errors() {
    let h = start().await;
    let unknown = h.commit("never-reserved").await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let invalid = h.commit("").await.unwrap_err();
    assert_eq!(violated_fields(&invalid), ["order_id"]);

    let mut client = h.client.clone();
    for (raw, what) in [
        (pb::ReleaseReason::Unspecified as i32, "unspecified"),
        (pb::ReleaseReason::Expired as i32, "expired"),
        (99, "unknown"),
    ] {
        let status = client
            .release(h.admin(pb::ReleaseRequest {
                order_id: "order-1".into(),
                reason: raw,
            }))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["reason"], "{what}");
    }
    let status = client
        .release(h.admin(pb::ReleaseRequest {
            order_id: "a b".into(),
            reason: pb::ReleaseReason::Admin as i32,
        }))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["order_id"]);
}

#[tokio::test]
async fn the_sweeper_releases_an_expired_reservation_exactly_once() {
    let h = start().await;
    h.set_stock("SKU-A", 5).await;
    h.set_stock("SKU-B", 5).await;
    h.reserve_with_ttl("order-1", &[("SKU-A", 2), ("SKU-B", 1)], ttl_secs(60))
        .await
        .unwrap();
    h.reserve_with_ttl("order-2", &[("SKU-A", 1)], ttl_secs(600))
        .await
        .unwrap();

    let now = Utc::now();
    assert!(
        sweeper::release_expired(&h.store, now)
            .await
            .unwrap()
            .is_empty()
    );

    let later = now + chrono::Duration::seconds(61);
    let released = sweeper::release_expired(&h.store, later).await.unwrap();
    assert_eq!(released.len(), 1, "{released:?}");
    assert_eq!(released[0].order_id, "order-1");
    assert_eq!(released[0].reason, ReleaseReason::Expired);
    assert_eq!(
        released[0].lines,
        [
            LineDoc {
                sku: "SKU-A".into(),
                quantity: 2
            },
            LineDoc {
                sku: "SKU-B".into(),
                quantity: 1
            }
        ]
    );
    assert!(
        sweeper::release_expired(&h.store, later)
            .await
            .unwrap()
            .is_empty()
    );

    let a = h.stock("SKU-A").await;
    assert_eq!((a.reserved, a.available), (1, 4), "order-2 still holds one");
    assert_eq!(h.stock("SKU-B").await.available, 5);
    let expired = h.reserve("order-1", &[("SKU-A", 2)]).await.unwrap();
    assert_eq!(status_of(&expired), S::Released);
    assert_eq!(expired.release_reason, pb::ReleaseReason::Expired as i32);
    let commit = h.commit("order-1").await.unwrap_err();
    assert_eq!(reason(&commit).as_deref(), Some("RESERVATION_NOT_ACTIVE"));
    h.assert_books_balance(&BTreeMap::from([("SKU-A", 5), ("SKU-B", 5)]))
        .await;
}

#[tokio::test]
async fn commit_racing_expiry_has_one_winner() {
    for round in 0..4 {
        let h = start().await;
        h.set_stock("SKU-A", 5).await;
        h.reserve_with_ttl("order-1", &[("SKU-A", 2)], ttl_secs(1))
            .await
            .unwrap();
        let later = Utc::now() + chrono::Duration::seconds(5);
        let (commit, swept) = tokio::join!(
            h.commit("order-1"),
            sweeper::release_expired(&h.store, later)
        );
        let swept = swept.unwrap();
        match commit {
            Ok(reservation) => {
                assert_eq!(status_of(&reservation), S::Committed);
                assert!(swept.is_empty(), "round {round}");
            }
            Err(status) => {
                assert_eq!(reason(&status).as_deref(), Some("RESERVATION_NOT_ACTIVE"));
                assert_eq!(swept.len(), 1, "round {round}");
            }
        }
        h.assert_books_balance(&BTreeMap::from([("SKU-A", 5)]))
            .await;
    }
}

#[tokio::test]
async fn the_background_sweeper_releases_expired_reservations() {
    let mongo = TestMongo::create().await.unwrap();
    let config = shop_inventory::InventoryConfig {
        sweep_interval_secs: 1,
        ..crate::support::config(&mongo)
    };
    let h = start_with(mongo, config).await;
    h.set_stock("SKU-A", 3).await;
    h.reserve_with_ttl("order-1", &[("SKU-A", 3)], ttl_secs(1))
        .await
        .unwrap();
    assert_eq!(h.stock("SKU-A").await.available, 0);
    let released = wait_until(
        Duration::from_secs(15),
        "the sweeper to release order-1",
        || async {
            let reservation = h.store.get_reservation("order-1").await.ok()??;
            (reservation.status == ReservationStatus::Released).then_some(reservation)
        },
    )
    .await
    .unwrap();
    assert_eq!(released.release_reason, Some(ReleaseReason::Expired));
    wait_until(Duration::from_secs(5), "the units to come back", || async {
        (h.stock("SKU-A").await.available == 3).then_some(())
    })
    .await
    .unwrap();
}

/// A Reserve that crashed after holding one line leaves a PENDING reservation and a held
/// unit behind; the sweeper returns the unit and forgets the attempt, and the order can
/// then be reserved afresh.
#[tokio::test]
async fn an_interrupted_reserve_is_rolled_back() {
    let h = start().await;
    h.set_stock("SKU-A", 5).await;
    h.set_stock("SKU-B", 5).await;
    let crashed_at = Utc::now() - chrono::Duration::minutes(5);
    let attempt = ReservationDoc {
        order_id: "order-1".into(),
        hold_id: "crashed-attempt".into(),
        status: ReservationStatus::Pending,
        lines: vec![
            LineDoc {
                sku: "SKU-A".into(),
                quantity: 2,
            },
            LineDoc {
                sku: "SKU-B".into(),
                quantity: 1,
            },
        ],
        rejections: vec![],
        expires_at: None,
        release_reason: None,
        settled: false,
        created_at: bson_time(crashed_at),
        updated_at: bson_time(crashed_at),
        announced: None,
    };
    assert!(h.store.insert_reservation(&attempt).await.unwrap());
    // It held SKU-A (and wrote the ledger), then died before SKU-B.
    let held = h
        .store
        .hold("SKU-A", 2, "crashed-attempt", crashed_at)
        .await
        .unwrap()
        .expect("held");
    let mut entry = LedgerDoc::movement(&held, LedgerKind::Reserve, 0, 2);
    entry.order_id = "order-1".into();
    h.store.append_ledger(&entry).await.unwrap();
    assert_eq!(h.stock("SKU-A").await.available, 3);

    // Not yet stale as of a moment after the crash.
    let early = sweeper::recover_interrupted(&h.store, crashed_at + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(early, sweeper::Recovery::default());

    let recovery = sweeper::recover_interrupted(&h.store, Utc::now())
        .await
        .unwrap();
    assert_eq!(recovery.abandoned, 1);
    assert!(h.store.get_reservation("order-1").await.unwrap().is_none());
    let a = h.stock("SKU-A").await;
    assert_eq!((a.reserved, a.available), (0, 5));
    assert!(h.holds("SKU-A").await.is_empty());

    let fresh = h
        .reserve("order-1", &[("SKU-A", 2), ("SKU-B", 1)])
        .await
        .unwrap();
    assert_eq!(status_of(&fresh), S::Reserved);
    h.assert_books_balance(&BTreeMap::from([("SKU-A", 5), ("SKU-B", 5)]))
        .await;
}

/// A Commit that crashed after marking the reservation COMMITTED but before selling every
/// line is finished by the next caller or by the sweeper, each line exactly once.
#[tokio::test]
async fn an_interrupted_settlement_is_completed() {
    let h = start().await;
    h.set_stock("SKU-A", 5).await;
    h.set_stock("SKU-B", 5).await;
    h.reserve("order-1", &[("SKU-A", 2), ("SKU-B", 1)])
        .await
        .unwrap();
    h.reserve("order-2", &[("SKU-A", 1)]).await.unwrap();
    let now = Utc::now();
    for order in ["order-1", "order-2"] {
        let reservation = h.store.get_reservation(order).await.unwrap().unwrap();
        h.store
            .mark_committed(order, &reservation.hold_id, now)
            .await
            .unwrap()
            .expect("committed");
    }
    // order-1's commit had sold SKU-A when it died.
    let order_1 = h.store.get_reservation("order-1").await.unwrap().unwrap();
    let sold = h
        .store
        .sell("SKU-A", 2, &order_1.hold_id, now)
        .await
        .unwrap()
        .expect("sold");
    let mut entry = LedgerDoc::movement(&sold, LedgerKind::Commit, -2, -2);
    entry.order_id = "order-1".into();
    h.store.append_ledger(&entry).await.unwrap();

    // A retried Commit finishes order-1.
    assert_eq!(status_of(&h.commit("order-1").await.unwrap()), S::Committed);
    let b = h.stock("SKU-B").await;
    assert_eq!((b.on_hand, b.reserved), (4, 0));
    // The sweeper finishes order-2 once the grace period has passed.
    let later = now + chrono::Duration::minutes(5);
    let recovery = sweeper::recover_interrupted(&h.store, later).await.unwrap();
    assert_eq!(recovery.settled, 1);
    let a = h.stock("SKU-A").await;
    assert_eq!((a.on_hand, a.reserved, a.available), (2, 0, 2));
    h.assert_books_balance(&BTreeMap::from([("SKU-A", 5), ("SKU-B", 5)]))
        .await;
}

/// An expiry whose announcement never went out (the replica crashed between the release and
/// the publish, or the broker was down) is announced by the next sweep, once.
#[tokio::test]
async fn an_unannounced_expiry_is_announced_by_the_next_sweep_once() {
    use shop_proto::shop::events::v1::envelope::Payload;

    let h = start().await;
    h.set_stock("SKU-A", 3).await;
    h.reserve_with_ttl("order-1", &[("SKU-A", 2)], ttl_secs(60))
        .await
        .unwrap();

    let mut events = shop_testkit::EventWatch::start(&h.amqp.bus_config(), &["inventory.released"])
        .await
        .unwrap();

    // The release happens; its announcement is lost (release_expired publishes nothing).
    let later = Utc::now() + chrono::Duration::seconds(61);
    assert_eq!(
        sweeper::release_expired(&h.store, later)
            .await
            .unwrap()
            .len(),
        1
    );
    let publisher = shop_bus::Publisher::new(shop_bus::Broker::new(h.amqp.bus_config(), "test"));
    assert_eq!(
        sweeper::announce_expiries(&h.store, &publisher)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        sweeper::announce_expiries(&h.store, &publisher)
            .await
            .unwrap(),
        0,
        "announced once"
    );

    let event = events.next("inventory.released", "order-1").await.unwrap();
    let Some(Payload::InventoryReleased(released)) = event.payload else {
        panic!("not inventory.released: {event:?}");
    };
    assert_eq!(
        released.reason,
        shop_proto::shop::events::v1::ReleaseReason::Expired as i32
    );
    assert_eq!(released.lines.len(), 1);
    assert!(
        events.drain(Duration::from_millis(500)).await.is_empty(),
        "nothing else"
    );
}
