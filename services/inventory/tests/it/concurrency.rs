//! The promises that only show under concurrency, over real gRPC against the MongoDB
//! stand-in: no oversell, all-or-nothing under contention, one reservation per order
//! however many duplicates race, and one winner between Commit and Release. Every test
//! ends by checking that the books balance (see `Harness::assert_books_balance`).

use std::collections::BTreeMap;

use crate::support::{reason, start, status_of, tally};
use futures::StreamExt as _;
use shop_proto::shop::inventory::v1 as pb;
use tonic::{Code, Status};

use pb::ReservationStatus as S;

/// Requests in flight at once: enough to contend, not so many that the slow stand-in
/// turns the test into a load test.
const CONCURRENCY: usize = 32;

#[tokio::test]
async fn two_hundred_buyers_for_a_hundred_units() {
    let h = start().await;
    h.set_stock("HOT-1", 100).await;
    let outcomes: Vec<Result<pb::Reservation, Status>> = futures::stream::iter(0..200)
        .map(|i| {
            let h = &h;
            async move { h.reserve(&format!("order-{i}"), &[("HOT-1", 1)]).await }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let outcomes: Vec<pb::Reservation> = outcomes
        .into_iter()
        .map(|outcome| outcome.expect("every reserve gets an answer"))
        .collect();
    let counts = tally(&outcomes);
    assert_eq!(
        counts.get("RESERVATION_STATUS_RESERVED"),
        Some(&100),
        "{counts:?}"
    );
    assert_eq!(
        counts.get("RESERVATION_STATUS_REJECTED"),
        Some(&100),
        "{counts:?}"
    );
    for rejected in outcomes.iter().filter(|r| status_of(r) == S::Rejected) {
        assert_eq!(rejected.rejections.len(), 1);
        let rejection = &rejected.rejections[0];
        assert_eq!(rejection.code, pb::RejectionCode::OutOfStock as i32);
        assert_eq!((rejection.requested, rejection.available), (1, 0));
    }
    let level = h.stock("HOT-1").await;
    assert_eq!(
        (level.on_hand, level.reserved, level.available),
        (100, 100, 0)
    );
    h.assert_books_balance(&BTreeMap::from([("HOT-1", 100)]))
        .await;
}

/// Order `i`'s lines: two or three of the four SKUs, one to three units each, so that
/// orders overlap in every combination.
fn lines_of(i: usize) -> Vec<(&'static str, i64)> {
    const SKUS: [&str; 4] = ["MIX-A", "MIX-B", "MIX-C", "MIX-D"];
    let count = 2 + i % 2;
    (0..count)
        .map(|k| {
            (
                SKUS[(i + k * (1 + i % 3)) % 4],
                1 + ((i * 7 + k * 3) % 3) as i64,
            )
        })
        .fold(Vec::new(), |mut lines, (sku, quantity)| {
            if !lines.iter().any(|(s, _)| *s == sku) {
                lines.push((sku, quantity));
            }
            lines
        })
}

#[tokio::test]
async fn overlapping_multi_line_reservations_are_all_or_nothing() {
    let h = start().await;
    let initial = BTreeMap::from([("MIX-A", 12), ("MIX-B", 12), ("MIX-C", 12), ("MIX-D", 12)]);
    for (sku, on_hand) in &initial {
        h.set_stock(sku, *on_hand).await;
    }

    // Wave 1: 80 orders contend for 48 units.
    let wave = |range: std::ops::Range<usize>| {
        let h = &h;
        futures::stream::iter(range).map(move |i| async move {
            let lines = lines_of(i);
            let reservation = h
                .reserve(&format!("order-{i}"), &lines)
                .await
                .expect("reserve");
            (i, reservation)
        })
    };
    let first: Vec<(usize, pb::Reservation)> =
        wave(0..80).buffer_unordered(CONCURRENCY).collect().await;
    let counts = tally(first.iter().map(|(_, r)| r));
    assert!(
        counts.contains_key("RESERVATION_STATUS_RESERVED")
            && counts.contains_key("RESERVATION_STATUS_REJECTED"),
        "the wave should contend: {counts:?}"
    );
    for (i, reservation) in &first {
        match status_of(reservation) {
            S::Reserved => assert!(reservation.rejections.is_empty()),
            S::Rejected => assert!(!reservation.rejections.is_empty(), "order-{i}"),
            other => panic!("order-{i} ended {other:?}"),
        }
    }
    h.assert_books_balance(&initial).await;

    // Wave 2: commit half of the winners and release the other half while 40 new orders
    // compete for whatever the releases give back.
    let winners: Vec<usize> = first
        .iter()
        .filter(|(_, r)| status_of(r) == S::Reserved)
        .map(|(i, _)| *i)
        .collect();
    let settle = futures::stream::iter(winners.clone())
        .map(|i| {
            let h = &h;
            async move {
                let order_id = format!("order-{i}");
                let outcome = if i % 2 == 0 {
                    h.commit(&order_id).await
                } else {
                    h.release(&order_id).await
                };
                outcome.expect("commit or release");
            }
        })
        .buffer_unordered(CONCURRENCY / 2)
        .collect::<Vec<()>>();
    let second = wave(80..120)
        .buffer_unordered(CONCURRENCY / 2)
        .collect::<Vec<_>>();
    let (_, second) = tokio::join!(settle, second);
    for (i, reservation) in &second {
        assert!(
            matches!(status_of(reservation), S::Reserved | S::Rejected),
            "order-{i}: {reservation:?}"
        );
    }
    h.assert_books_balance(&initial).await;

    // Finally release everything still held: nothing may stay reserved.
    for (i, reservation) in &second {
        if status_of(reservation) == S::Reserved {
            h.release(&format!("order-{i}")).await.unwrap();
        }
    }
    for sku in initial.keys() {
        let level = h.stock(sku).await;
        assert_eq!(
            (level.reserved, level.available),
            (0, level.on_hand),
            "{sku}"
        );
    }
    h.assert_books_balance(&initial).await;
}

#[tokio::test]
async fn concurrent_duplicates_of_one_order_make_one_reservation() {
    let h = start().await;
    h.set_stock("SKU-A", 5).await;
    h.set_stock("SKU-B", 5).await;
    // Duplicates need not even agree on the lines: the first one in decides.
    let outcomes: Vec<pb::Reservation> = futures::stream::iter(0..20)
        .map(|i| {
            let h = &h;
            async move {
                let lines: &[(&str, i64)] = if i % 2 == 0 {
                    &[("SKU-A", 2)]
                } else {
                    &[("SKU-B", 3)]
                };
                h.reserve("order-dup", lines).await.expect("reserve")
            }
        })
        .buffer_unordered(20)
        .collect()
        .await;
    let first = &outcomes[0];
    assert_eq!(status_of(first), S::Reserved);
    for outcome in &outcomes {
        assert_eq!(outcome, first, "every duplicate sees the one reservation");
    }
    assert_eq!(h.reservations().await.len(), 1);
    let (a, b) = (h.stock("SKU-A").await, h.stock("SKU-B").await);
    assert_eq!(
        a.reserved + b.reserved,
        first.lines[0].quantity,
        "stock taken once"
    );
    assert_eq!(a.version + b.version, 3, "one hold after the two sets");
    h.assert_books_balance(&BTreeMap::from([("SKU-A", 5), ("SKU-B", 5)]))
        .await;
}

#[tokio::test]
async fn commit_and_release_racing_have_one_winner() {
    let h = start().await;
    h.set_stock("SKU-A", 20).await;
    h.set_stock("SKU-B", 20).await;
    for round in 0..6 {
        let order_id = format!("order-{round}");
        h.reserve(&order_id, &[("SKU-A", 2), ("SKU-B", 1)])
            .await
            .unwrap();
        let attempts: Vec<(bool, Result<pb::Reservation, Status>)> = futures::stream::iter(0..12)
            .map(|k| {
                let (h, order_id) = (&h, &order_id);
                async move {
                    let commit = k % 2 == 0;
                    let outcome = if commit {
                        h.commit(order_id).await
                    } else {
                        h.release(order_id).await
                    };
                    (commit, outcome)
                }
            })
            .buffer_unordered(12)
            .collect()
            .await;
        let committed = attempts
            .iter()
            .any(|(commit, outcome)| *commit && outcome.is_ok());
        let released = attempts
            .iter()
            .any(|(commit, outcome)| !*commit && outcome.is_ok());
        assert!(
            committed != released,
            "round {round}: exactly one side wins"
        );
        for (commit, outcome) in &attempts {
            match (commit, outcome) {
                (true, Ok(r)) => assert_eq!(status_of(r), S::Committed),
                (false, Ok(r)) => assert_eq!(status_of(r), S::Released),
                (true, Err(status)) => {
                    assert_eq!(status.code(), Code::FailedPrecondition);
                    assert_eq!(reason(status).as_deref(), Some("RESERVATION_NOT_ACTIVE"));
                }
                (false, Err(status)) => {
                    assert_eq!(status.code(), Code::FailedPrecondition);
                    assert_eq!(reason(status).as_deref(), Some("RESERVATION_COMMITTED"));
                }
            }
        }
    }
    h.assert_books_balance(&BTreeMap::from([("SKU-A", 20), ("SKU-B", 20)]))
        .await;
}

/// order.cancelled may overtake order.created: whichever lands first, the order ends
/// RELEASED with nothing held.
#[tokio::test]
async fn release_racing_reserve_of_the_same_order_holds_nothing() {
    let h = start().await;
    h.set_stock("SKU-A", 50).await;
    for round in 0..10 {
        let order_id = format!("order-{round}");
        let (reserved, released) =
            tokio::join!(h.reserve(&order_id, &[("SKU-A", 1)]), h.release(&order_id));
        let reserved = reserved.expect("reserve");
        let released = released.expect("release");
        assert_eq!(status_of(&released), S::Released, "round {round}");
        assert!(
            matches!(status_of(&reserved), S::Reserved | S::Released),
            "round {round}: {reserved:?}"
        );
        let after = h.reserve(&order_id, &[("SKU-A", 1)]).await.unwrap();
        assert_eq!(status_of(&after), S::Released, "round {round}");
    }
    let level = h.stock("SKU-A").await;
    assert_eq!((level.reserved, level.available), (0, 50));
    h.assert_books_balance(&BTreeMap::from([("SKU-A", 50)]))
        .await;
}
