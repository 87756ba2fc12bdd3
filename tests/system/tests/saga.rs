//! The checkout saga across the real Order, Inventory, Cart and Product services, the real
//! broker and databases: the invariants of DESIGN §5.

use std::time::Duration;

use shop_proto::shop::order::v1::{self as pb, CancelReason, OrderStatus};
use shop_system_tests::{Customer, Options, System, order_when};
use shop_testkit::with_token;

fn status(order: &pb::Order) -> OrderStatus {
    OrderStatus::try_from(order.status).unwrap_or(OrderStatus::Unspecified)
}

#[tokio::test]
async fn out_of_stock_cancels_the_order_and_holds_nothing() {
    let system = System::start().await.unwrap();
    system.stock_product("LAMP-1", 4000, 1).await.unwrap();
    system.stock_product("BULB-1", 300, 50).await.unwrap();
    let ann = Customer::new();
    system.add_to_cart(&ann, "LAMP-1", 2).await.unwrap();
    system.add_to_cart(&ann, "BULB-1", 4).await.unwrap();
    let order = system.checkout(&ann, "k", "pm_card_visa").await.unwrap();
    let cancelled = order_when(&system, &ann.token, &order.id, "the order cancelled", |o| {
        status(o) == OrderStatus::Cancelled
    })
    .await
    .unwrap();
    assert_eq!(cancelled.cancel_reason, CancelReason::OutOfStock as i32);
    assert_eq!(
        system.stock("LAMP-1").await.unwrap(),
        (1, 0, 1),
        "nothing held"
    );
    assert_eq!(
        system.stock("BULB-1").await.unwrap(),
        (50, 0, 50),
        "all lines or none"
    );
}

#[tokio::test]
async fn a_reserved_order_awaits_payment_and_cancelling_it_returns_the_stock() {
    let system = System::start().await.unwrap();
    let mut events = system.watch_events().await.unwrap();
    system.stock_product("MUG-9", 900, 5).await.unwrap();
    let ann = Customer::new();
    system.add_to_cart(&ann, "MUG-9", 2).await.unwrap();
    let order = system.checkout(&ann, "k", "pm_card_visa").await.unwrap();
    order_when(&system, &ann.token, &order.id, "awaiting payment", |o| {
        status(o) == OrderStatus::AwaitingPayment
    })
    .await
    .unwrap();
    events
        .next("order.payment_requested", &order.id)
        .await
        .unwrap();
    assert_eq!(system.stock("MUG-9").await.unwrap(), (5, 2, 3));

    system
        .orders()
        .await
        .unwrap()
        .cancel_order(with_token(
            pb::CancelOrderRequest {
                id: order.id.clone(),
                reason: String::new(),
            },
            &ann.token,
        ))
        .await
        .unwrap();
    events.next("inventory.released", &order.id).await.unwrap();
    assert_eq!(system.stock("MUG-9").await.unwrap(), (5, 0, 5));
}

#[tokio::test]
async fn an_unpaid_order_whose_reservation_expires_is_cancelled_and_its_stock_returns() {
    let system = System::start_with(Options {
        reservation_ttl_secs: 1,
        sweep_interval_secs: 1,
    })
    .await
    .unwrap();
    system.stock_product("TENT-9", 19900, 3).await.unwrap();
    let ann = Customer::new();
    system.add_to_cart(&ann, "TENT-9", 1).await.unwrap();
    // Nobody pays: the payment step never answers in this system.
    let order = system.checkout(&ann, "k", "pm_card_visa").await.unwrap();
    let cancelled = order_when(
        &system,
        &ann.token,
        &order.id,
        "the order cancelled by expiry",
        |o| status(o) == OrderStatus::Cancelled,
    )
    .await
    .unwrap();
    assert_eq!(
        cancelled.cancel_reason,
        CancelReason::ReservationExpired as i32
    );
    shop_testkit::wait_until(Duration::from_secs(10), "stock back", || async {
        (system.stock("TENT-9").await.ok()? == (3, 0, 3)).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn concurrent_buyers_never_oversell_scarce_stock() {
    let system = System::start().await.unwrap();
    system.stock_product("RARE-1", 5000, 5).await.unwrap();
    let buyers: Vec<Customer> = (0..20).map(|_| Customer::new()).collect();
    for buyer in &buyers {
        system.add_to_cart(buyer, "RARE-1", 1).await.unwrap();
    }
    let orders = futures::future::join_all(
        buyers
            .iter()
            .map(|buyer| system.checkout(buyer, "k", "pm_card_visa")),
    )
    .await;
    let mut settled = Vec::new();
    for (buyer, order) in buyers.iter().zip(orders) {
        let order = order.unwrap();
        settled.push(
            order_when(
                &system,
                &buyer.token,
                &order.id,
                "reserved or cancelled",
                |o| {
                    matches!(
                        status(o),
                        OrderStatus::AwaitingPayment | OrderStatus::Cancelled
                    )
                },
            )
            .await
            .unwrap(),
        );
    }
    let holding = settled
        .iter()
        .filter(|o| status(o) == OrderStatus::AwaitingPayment)
        .count();
    let refused = settled
        .iter()
        .filter(|o| o.cancel_reason == CancelReason::OutOfStock as i32)
        .count();
    assert_eq!((holding, refused), (5, 15));
    assert_eq!(system.stock("RARE-1").await.unwrap(), (5, 5, 0));
}
