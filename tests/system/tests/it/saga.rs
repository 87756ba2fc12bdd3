//! The checkout saga across the real Order, Inventory, Cart and Product services, the real
//! broker and databases: the invariants of docs/architecture.md §5.

use std::time::Duration;

use shop_proto::shop::order::v1::{self as pb, CancelReason, OrderStatus};
use shop_system_tests::{Customer, Options, System, order_when};
use shop_testkit::with_token;

fn status(order: &pb::Order) -> OrderStatus {
    OrderStatus::try_from(order.status).unwrap_or(OrderStatus::Unspecified)
}

/// A new customer who puts `quantity` of `sku` in the cart and checks out with
/// `payment_method`: the customer and the PENDING order.
async fn buys(
    system: &System,
    sku: &str,
    quantity: i64,
    payment_method: &str,
) -> (Customer, pb::Order) {
    let customer = Customer::new();
    system
        .add_to_cart(&customer, sku, quantity)
        .await
        .expect("added to the cart");
    let order = system
        .checkout(&customer, "k", payment_method)
        .await
        .expect("the order is placed");
    (customer, order)
}

/// `count` new customers, each with one unit of `sku` in the cart.
async fn shoppers(system: &System, count: usize, sku: &str) -> Vec<Customer> {
    let buyers: Vec<Customer> = (0..count).map(|_| Customer::new()).collect();
    for buyer in &buyers {
        system
            .add_to_cart(buyer, sku, 1)
            .await
            .expect("added to the cart");
    }
    buyers
}

/// Waits (up to 10 s) until `sku`'s stock is `(on_hand, reserved, available)`.
async fn stock_becomes(system: &System, sku: &str, wanted: (i64, i64, i64), what: &str) {
    shop_testkit::wait_until(Duration::from_secs(10), what, || async {
        (system.stock(sku).await.ok()? == wanted).then_some(())
    })
    .await
    .expect("the stock reaches the wanted levels");
}

/// Waits (up to 30 s) until `customer`'s order `id` is `wanted`; the order then.
async fn in_status(
    system: &System,
    customer: &Customer,
    id: &str,
    wanted: OrderStatus,
) -> pb::Order {
    order_when(system, &customer.token, id, &format!("{wanted:?}"), |o| {
        status(o) == wanted
    })
    .await
    .expect("the order reaches the wanted status")
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
    let cancelled = in_status(&system, &ann, &order.id, OrderStatus::Cancelled).await;
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
    // 3-D Secure is never completed: the order waits for payment, holding its stock.
    let (ann, order) = buys(&system, "MUG-9", 2, "pm_card_threeDSecure2Required").await;
    in_status(&system, &ann, &order.id, OrderStatus::AwaitingPayment).await;
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

/// An order whose customer never completes 3-D Secure, in a system whose options `expire`
/// makes its reservation expire within a second: it is cancelled as expired and its stock
/// returns.
async fn an_unpaid_order_expires(expire: impl FnOnce(&mut Options)) {
    let mut options = Options {
        sweep_interval_secs: 1,
        ..Options::default()
    };
    expire(&mut options);
    let system = System::start_with(options)
        .await
        .expect("the system starts");
    system
        .stock_product("TENT-9", 19900, 3)
        .await
        .expect("product with stock");
    let (ann, order) = buys(&system, "TENT-9", 1, "pm_card_threeDSecure2Required").await;
    let cancelled = in_status(&system, &ann, &order.id, OrderStatus::Cancelled).await;
    assert_eq!(
        cancelled.cancel_reason,
        CancelReason::ReservationExpired as i32
    );
    stock_becomes(&system, "TENT-9", (3, 0, 3), "stock back").await;
}

#[tokio::test]
async fn an_unpaid_order_whose_reservation_expires_is_cancelled_and_its_stock_returns() {
    an_unpaid_order_expires(|options| options.reservation_ttl_secs = 1).await;
}

#[tokio::test]
async fn concurrent_buyers_never_oversell_scarce_stock() {
    let system = System::start().await.unwrap();
    system.stock_product("RARE-1", 5000, 5).await.unwrap();
    let buyers = shoppers(&system, 20, "RARE-1").await;
    let orders = futures::future::join_all(
        buyers
            .iter()
            .map(|buyer| system.checkout(buyer, "k", "pm_card_threeDSecure2Required")),
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

async fn cart_lines(system: &System, customer: &Customer) -> usize {
    use shop_proto::shop::cart::v1::GetCartRequest;
    system
        .carts()
        .await
        .expect("cart client")
        .get_cart(with_token(
            GetCartRequest {
                cart: customer.cart(),
            },
            &customer.token,
        ))
        .await
        .expect("the cart")
        .into_inner()
        .cart
        .map_or(0, |cart| cart.lines.len())
}

fn succeeded_intents(system: &System, order_id: &str) -> usize {
    system
        .stripe
        .payment_intents_with_metadata("order_id", order_id)
        .iter()
        .filter(|intent| intent["status"] == "succeeded")
        .count()
}

#[tokio::test]
async fn a_paid_order_is_confirmed_its_stock_sold_and_its_cart_cleared() {
    let system = System::start().await.unwrap();
    system.stock_product("CHAIR-1", 12900, 4).await.unwrap();
    let (ann, order) = buys(&system, "CHAIR-1", 2, "pm_card_visa").await;
    let confirmed = in_status(&system, &ann, &order.id, OrderStatus::Confirmed).await;
    assert!(!confirmed.payment_id.is_empty());
    assert_eq!(
        succeeded_intents(&system, &order.id),
        1,
        "exactly one charge"
    );
    shop_testkit::wait_until(
        Duration::from_secs(10),
        "stock sold and cart cleared",
        || async {
            let sold = system.stock("CHAIR-1").await.ok()? == (2, 0, 2);
            (sold && cart_lines(&system, &ann).await == 0).then_some(())
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_declined_card_cancels_the_order_and_returns_the_stock() {
    let system = System::start().await.unwrap();
    system.stock_product("BIKE-1", 49900, 2).await.unwrap();
    let (ann, order) = buys(&system, "BIKE-1", 1, "pm_card_chargeDeclined").await;
    let cancelled = in_status(&system, &ann, &order.id, OrderStatus::Cancelled).await;
    assert_eq!(
        cancelled.cancel_reason,
        CancelReason::PaymentDeclined as i32
    );
    stock_becomes(&system, "BIKE-1", (2, 0, 2), "stock back").await;
    assert_eq!(succeeded_intents(&system, &order.id), 0);
    assert_eq!(
        cart_lines(&system, &ann).await,
        1,
        "a failed checkout keeps the cart"
    );
}

#[tokio::test]
async fn three_d_secure_waits_for_the_customer_then_confirms() {
    let system = System::start().await.unwrap();
    system.stock_product("WATCH-1", 25000, 1).await.unwrap();
    let (ann, order) = buys(&system, "WATCH-1", 1, "pm_card_threeDSecure2Required").await;
    let waiting = order_when(&system, &ann.token, &order.id, "a client secret", |o| {
        !o.payment_client_secret.is_empty()
    })
    .await
    .unwrap();
    assert_eq!(status(&waiting), OrderStatus::AwaitingPayment);
    let intents = system
        .stripe
        .payment_intents_with_metadata("order_id", &order.id);
    let intent_id = intents[0]["id"].as_str().unwrap().to_owned();
    system
        .stripe
        .authenticate(&intent_id, shop_stripe_fake::AuthenticationOutcome::Succeed)
        .unwrap();
    let confirmed = in_status(&system, &ann, &order.id, OrderStatus::Confirmed).await;
    assert!(confirmed.payment_client_secret.is_empty());
    assert_eq!(succeeded_intents(&system, &order.id), 1);
}

/// Checks out `quantity` units of `sku` with a card that needs 3-D Secure and waits until
/// the order awaits the customer's authentication; returns the order and its PaymentIntent.
async fn awaiting_authentication(
    system: &System,
    customer: &Customer,
    sku: &str,
    quantity: i64,
) -> (pb::Order, String) {
    system
        .add_to_cart(customer, sku, quantity)
        .await
        .expect("add to cart");
    let order = system
        .checkout(customer, "k", "pm_card_threeDSecure2Required")
        .await
        .expect("checkout");
    order_when(system, &customer.token, &order.id, "a client secret", |o| {
        !o.payment_client_secret.is_empty()
    })
    .await
    .expect("the order awaits authentication");
    let intents = system
        .stripe
        .payment_intents_with_metadata("order_id", &order.id);
    let intent_id = intents[0]["id"].as_str().expect("intent id").to_owned();
    (order, intent_id)
}

#[tokio::test]
async fn a_payment_that_outlives_its_reservation_still_sells_units_left() {
    let system = System::start().await.unwrap();
    system.stock_product("KETTLE-1", 4500, 2).await.unwrap();
    let ann = Customer::new();
    let (order, intent_id) = awaiting_authentication(&system, &ann, "KETTLE-1", 1).await;
    assert_eq!(system.expire_reservations_unannounced().await.unwrap(), 1);
    assert_eq!(
        system.stock("KETTLE-1").await.unwrap(),
        (2, 0, 2),
        "the unit went back on sale"
    );

    // The customer authenticates before the Order service hears of the expiry.
    system
        .stripe
        .authenticate(&intent_id, shop_stripe_fake::AuthenticationOutcome::Succeed)
        .unwrap();
    in_status(&system, &ann, &order.id, OrderStatus::Confirmed).await;
    stock_becomes(&system, "KETTLE-1", (1, 0, 1), "the paid unit sold").await;
    assert_eq!(succeeded_intents(&system, &order.id), 1);
    assert!(system.stripe.refunds().is_empty(), "nothing refunded");
}

#[tokio::test]
async fn a_payment_that_outlives_its_reservation_after_a_sell_out_is_cancelled_and_refunded() {
    let system = System::start().await.unwrap();
    system.stock_product("SOFA-1", 89900, 1).await.unwrap();
    let ann = Customer::new();
    let (late, intent_id) = awaiting_authentication(&system, &ann, "SOFA-1", 1).await;
    assert_eq!(system.expire_reservations_unannounced().await.unwrap(), 1);

    // Meanwhile Bob buys the last unit.
    let bob = Customer::new();
    system.add_to_cart(&bob, "SOFA-1", 1).await.unwrap();
    let sold = system.checkout(&bob, "k", "pm_card_visa").await.unwrap();
    in_status(&system, &bob, &sold.id, OrderStatus::Confirmed).await;

    // Ann's payment lands now: her order cannot be filled, so it is cancelled and refunded.
    system
        .stripe
        .authenticate(&intent_id, shop_stripe_fake::AuthenticationOutcome::Succeed)
        .unwrap();
    let cancelled = in_status(&system, &ann, &late.id, OrderStatus::Cancelled).await;
    assert_eq!(cancelled.cancel_reason, CancelReason::OutOfStock as i32);
    let refund = shop_testkit::wait_until(Duration::from_secs(15), "ann's refund", || async {
        system
            .stripe
            .refunds()
            .into_iter()
            .find(|refund| refund["payment_intent"] == intent_id.as_str())
    })
    .await
    .unwrap();
    assert_eq!(refund["amount"], 89900, "all of it");
    // One unit, sold once (Bob's sale commits a moment after his order shows CONFIRMED).
    shop_testkit::wait_until(Duration::from_secs(20), "bob's sale committed", || async {
        (system.stock("SOFA-1").await.ok()? == (0, 0, 0)).then_some(())
    })
    .await
    .unwrap();

    // Operators see it: two confirmations, one of them undone for lack of stock.
    let (_, metrics) = shop_testkit::http_get(system.order.admin_addr, "/metrics")
        .await
        .unwrap();
    let sample = |labels: &str| {
        metrics
            .lines()
            .find(|line| line.starts_with(&format!("shop_order_transitions_total{{{labels}")))
            .and_then(|line| line.rsplit(' ').next())
            .map(str::to_owned)
    };
    assert_eq!(
        sample(r#"reason="",status="CONFIRMED""#).as_deref(),
        Some("2"),
        "{metrics}"
    );
    assert_eq!(
        sample(r#"reason="OUT_OF_STOCK",status="CANCELLED""#).as_deref(),
        Some("1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_hundred_buyers_for_twenty_units_get_twenty_orders_and_twenty_charges() {
    let system = System::start().await.unwrap();
    system.stock_product("DROP-1", 9900, 20).await.unwrap();
    let buyers: Vec<Customer> = (0..100).map(|_| Customer::new()).collect();
    for chunk in buyers.chunks(20) {
        futures::future::join_all(
            chunk
                .iter()
                .map(|buyer| system.add_to_cart(buyer, "DROP-1", 1)),
        )
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()
        .unwrap();
    }
    let orders = futures::future::join_all(
        buyers
            .iter()
            .map(|buyer| system.checkout(buyer, "k", "pm_card_visa")),
    )
    .await;
    let mut finals = Vec::new();
    for (buyer, order) in buyers.iter().zip(orders) {
        let order = order.unwrap();
        finals.push(
            order_when(&system, &buyer.token, &order.id, "a final state", |o| {
                matches!(status(o), OrderStatus::Confirmed | OrderStatus::Cancelled)
            })
            .await
            .unwrap(),
        );
    }
    let confirmed: Vec<_> = finals
        .iter()
        .filter(|o| status(o) == OrderStatus::Confirmed)
        .collect();
    let out_of_stock = finals
        .iter()
        .filter(|o| o.cancel_reason == CancelReason::OutOfStock as i32)
        .count();
    assert_eq!((confirmed.len(), out_of_stock), (20, 80));
    let charges: usize = confirmed
        .iter()
        .map(|o| succeeded_intents(&system, &o.id))
        .sum();
    assert_eq!(charges, 20);
    assert_eq!(
        system.stripe.payment_intents().len(),
        20,
        "no intent for a rejected order"
    );
    stock_becomes(&system, "DROP-1", (0, 0, 0), "all sold").await;
}

#[tokio::test]
async fn orders_placed_while_payment_is_down_complete_when_it_returns() {
    let mut system = System::start().await.unwrap();
    system.stock_product("LAMP-7", 3000, 10).await.unwrap();
    system.stop_payment().await.unwrap();
    let buyers: Vec<Customer> = (0..3).map(|_| Customer::new()).collect();
    let mut orders = Vec::new();
    for buyer in &buyers {
        system.add_to_cart(buyer, "LAMP-7", 1).await.unwrap();
        let order = system.checkout(buyer, "k", "pm_card_visa").await.unwrap();
        in_status(&system, buyer, &order.id, OrderStatus::AwaitingPayment).await;
        orders.push(order);
    }
    system.start_payment().await.unwrap();
    for (buyer, order) in buyers.iter().zip(&orders) {
        in_status(&system, buyer, &order.id, OrderStatus::Confirmed).await;
        assert_eq!(succeeded_intents(&system, &order.id), 1);
    }
}

#[tokio::test]
async fn every_order_completes_when_broker_connections_drop_under_load() {
    let system = System::start().await.unwrap();
    system.stock_product("FLOW-1", 1000, 100).await.unwrap();
    let buyers = shoppers(&system, 12, "FLOW-1").await;
    let placing = futures::future::join_all(
        buyers
            .iter()
            .map(|buyer| system.checkout(buyer, "k", "pm_card_visa")),
    );
    let dropping = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        system.drop_broker_connections().await
    };
    let (orders, dropped) = tokio::join!(placing, dropping);
    assert!(
        dropped.unwrap() > 0,
        "the system's connections were dropped"
    );
    for (buyer, order) in buyers.iter().zip(orders) {
        let order = order.unwrap();
        in_status(&system, buyer, &order.id, OrderStatus::Confirmed).await;
        assert_eq!(succeeded_intents(&system, &order.id), 1);
    }
    // Inventory commits each sale on order.confirmed, a moment after the order shows it.
    shop_testkit::wait_until(Duration::from_secs(20), "every sale committed", || async {
        (system.stock("FLOW-1").await.ok()? == (88, 0, 88)).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn an_order_that_never_finishes_is_timed_out_by_order_itself() {
    // Inventory would hold the stock for 15 minutes; Order gives up after one second, as
    // it would if Inventory's expiry event had been lost.
    let system = System::start_with(Options {
        order_timeout_secs: 1,
        order_sweep_secs: 1,
        ..Options::default()
    })
    .await
    .unwrap();
    system.stock_product("SLOW-1", 5000, 2).await.unwrap();
    let (ann, order) = buys(&system, "SLOW-1", 1, "pm_card_threeDSecure2Required").await;
    let cancelled = in_status(&system, &ann, &order.id, OrderStatus::Cancelled).await;
    assert_eq!(
        cancelled.cancel_reason,
        CancelReason::ReservationExpired as i32
    );
    shop_testkit::wait_until(
        Duration::from_secs(10),
        "stock back and the intent cancelled",
        || async {
            let back = system.stock("SLOW-1").await.ok()? == (2, 0, 2);
            let intents = system
                .stripe
                .payment_intents_with_metadata("order_id", &order.id);
            let cancelled = intents.iter().all(|intent| intent["status"] == "canceled");
            (back && cancelled).then_some(())
        },
    )
    .await
    .unwrap();
}

/// The `shop_order_payment_mismatches_total{field}` sample, 0 before the first.
async fn payment_mismatches(system: &System, field: &str) -> u64 {
    let (_, metrics) = shop_testkit::http_get(system.order.admin_addr, "/metrics")
        .await
        .expect("order metrics");
    let label = format!("field=\"{field}\"");
    metrics
        .lines()
        .filter(|line| line.starts_with("shop_order_payment_mismatches_total{"))
        .find(|line| line.contains(&label))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_payment_succeeded_that_does_not_match_the_order_never_confirms_it() {
    use shop_proto::shop::common::v1::Money;
    use shop_proto::shop::events::v1::{self as ev, envelope::Payload};

    let system = System::start().await.unwrap();
    system.stock_product("SAFE-1", 7000, 2).await.unwrap();
    let ann = Customer::new();
    let (order, intent_id) = awaiting_authentication(&system, &ann, "SAFE-1", 1).await;
    let waiting = order_when(&system, &ann.token, &order.id, "a payment id", |o| {
        !o.payment_id.is_empty()
    })
    .await
    .unwrap();
    let genuine_id = waiting.payment_id.clone();

    let forger = shop_bus::Publisher::new(system.broker("forger"));
    let forged = |payment_id: &str, amount_minor: i64, currency: &str| {
        shop_bus::new_event(
            payment_id,
            Payload::PaymentSucceeded(ev::PaymentSucceeded {
                order_id: order.id.clone(),
                payment_id: payment_id.to_owned(),
                amount: Some(Money {
                    amount_minor,
                    currency: currency.to_owned(),
                }),
                provider_payment_intent_id: "pi_forged".into(),
            }),
        )
    };
    let someone_elses = uuid::Uuid::now_v7().to_string();
    for (field, event) in [
        ("amount", forged(&genuine_id, 1, "EUR")),
        ("currency", forged(&genuine_id, 7000, "USD")),
        ("payment_id", forged(&someone_elses, 7000, "EUR")),
    ] {
        forger.publish(&event).await.unwrap();
        // Refused and counted, or (the bug) applied: whichever shows first.
        let order_now = shop_testkit::wait_until(
            Duration::from_secs(20),
            &format!("the forged event ({field}) handled"),
            || async {
                let current = order_when(&system, &ann.token, &order.id, "read", |_| true)
                    .await
                    .ok()?;
                (payment_mismatches(&system, field).await == 1
                    || status(&current) != OrderStatus::AwaitingPayment)
                    .then_some(current)
            },
        )
        .await
        .unwrap();
        assert_eq!(
            status(&order_now),
            OrderStatus::AwaitingPayment,
            "a payment.succeeded with the wrong {field} moved the order"
        );
        assert_eq!(order_now.payment_id, genuine_id);
    }

    // The genuine payment still confirms it.
    system
        .stripe
        .authenticate(&intent_id, shop_stripe_fake::AuthenticationOutcome::Succeed)
        .unwrap();
    let confirmed = in_status(&system, &ann, &order.id, OrderStatus::Confirmed).await;
    assert_eq!(confirmed.payment_id, genuine_id);
    assert_eq!(succeeded_intents(&system, &order.id), 1);
}

#[tokio::test]
async fn a_reservation_awaiting_3d_secure_expires_at_the_shorter_ttl() {
    // The full TTL (15 min) would outlast the test many times over; the one for a payment
    // that waits for the customer is 1 s here.
    an_unpaid_order_expires(|options| options.action_reservation_ttl_secs = 1).await;
}
