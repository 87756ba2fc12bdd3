//! The CI gate of issue #9 §3: what one checkout costs, counted, not timed. Every number
//! here is exact on any machine, however loaded, and is the table in docs/benchmarks.md
//! "Counts per operation (CI gate)". A change that adds a call, a database command or a
//! message fails here; a change that removes one updates this file and that table together.
//!
//! Counted from what production exposes on each service's `/metrics` (`System::counters`):
//! gRPC calls served (`shop_grpc_server_handled_total`, without the test's health checks),
//! MongoDB commands (`shop_mongo_commands_total`: Product, Inventory) and broker deliveries
//! (`shop_bus_deliveries_total`); the events published, by type, through the test's own
//! queue on the system's exchange.
//!
//! MySQL (Order, Payment) is not gated: their outbox relays poll every 500 ms and tidy up
//! every 20 passes, so statement counts on the server (MariaDB `userstat` per user or
//! table, `SHOW STATUS`) move with the clock as well as with the checkout, and no counter
//! separates the two. docs/benchmarks.md lists the statements per checkout as read from the
//! code instead.
//!
//! Passes that run by the clock (the sweepers of Inventory, Order and Payment) are set to an
//! hour, and so is Product's cache TTL; a warm-up checkout before the measured one makes
//! sure the sweepers' start-up pass is over, every pool and channel is open and Product has
//! the checkout's products cached (as it has, in a shop, for anything in a cart: Cart read
//! them moments before). A cold Product cache adds one `find` on Product per checkout.

use std::collections::BTreeMap;
use std::time::Duration;

use shop_system_tests::{Customer, EventWatch, Options, System};

const TABLE: &str = "docs/benchmarks.md \"Counts per operation (CI gate)\"";

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs
        .iter()
        .map(|(key, n)| ((*key).to_owned(), *n))
        .collect()
}

/// A system whose clock-driven passes stay out of the measurement (see the module doc),
/// with MUG-1 and PAN-1 in stock and one checkout already done.
async fn warm_system() -> (System, EventWatch) {
    let system = System::start_with(Options {
        sweep_interval_secs: 3600,
        order_sweep_secs: 3600,
        product_cache_ttl_secs: 3600,
        ..Options::default()
    })
    .await
    .expect("system");
    let mut events = system.watch_events().await.expect("event watch");
    system
        .stock_product("MUG-1", 1250, 100)
        .await
        .expect("MUG-1 in stock");
    system
        .stock_product("PAN-1", 3000, 100)
        .await
        .expect("PAN-1 in stock");
    let warm = Customer::new();
    system
        .add_to_cart(&warm, "MUG-1", 1)
        .await
        .expect("warm-up cart");
    checkout_settled(
        &system,
        &mut events,
        &warm,
        "pm_card_visa",
        "order.confirmed",
        6,
    )
    .await;
    (system, events)
}

/// Places `customer`'s order and waits until the saga has settled: `last` published and
/// `deliveries` broker deliveries settled by the services' consumers (so each has finished
/// its database work). Returns the events published meanwhile, by type (the system is
/// quiet otherwise: they are all this checkout's; payment events carry the payment's id,
/// not the order's, so they are not told apart by aggregate).
async fn checkout_settled(
    system: &System,
    events: &mut EventWatch,
    customer: &Customer,
    payment_method: &str,
    last: &str,
    deliveries: u64,
) -> BTreeMap<String, u64> {
    let before = system.counters().await.expect("counters");
    let order = system
        .checkout(customer, "k", payment_method)
        .await
        .expect("PlaceOrder");
    let mut published = BTreeMap::new();
    loop {
        let event = events
            .next_matching(&format!("{last} for {}", order.id), |_| true)
            .await
            .expect("the saga's events");
        *published.entry(event.r#type.clone()).or_insert(0) += 1;
        if event.r#type == last && event.aggregate_id == order.id {
            break;
        }
    }
    shop_testkit::wait_until(
        Duration::from_secs(20),
        &format!("{deliveries} deliveries settled, as {TABLE} says"),
        || async {
            let now = system.counters().await.ok()?;
            let settled: u64 = now.deliveries(&before).values().sum();
            (settled >= deliveries).then_some(())
        },
    )
    .await
    .expect("the saga settled");
    // An event published after `last` would show here.
    for event in events.drain(Duration::from_millis(300)).await {
        *published.entry(event.r#type).or_insert(0) += 1;
    }
    published
}

/// What one checkout cost, per kind of work, as `"<service> <method|command>" → n` (broker
/// deliveries by queue, events by type).
#[derive(Debug)]
struct Cost {
    published: BTreeMap<String, u64>,
    calls: BTreeMap<String, u64>,
    mongo: BTreeMap<String, u64>,
    deliveries: BTreeMap<String, u64>,
}

/// What ann's checkout of 2 × MUG-1 and 1 × PAN-1 (two lines) costs, paying with
/// `payment_method`, until `last` is published and `deliveries` are settled.
async fn checkout_cost(payment_method: &str, last: &str, deliveries: u64) -> Cost {
    let (system, mut events) = warm_system().await;
    let ann = Customer::new();
    for (sku, quantity) in [("MUG-1", 2), ("PAN-1", 1)] {
        system
            .add_to_cart(&ann, sku, quantity)
            .await
            .expect("ann's cart");
    }
    let before = system.counters().await.expect("counters");
    let published =
        checkout_settled(&system, &mut events, &ann, payment_method, last, deliveries).await;
    let after = system.counters().await.expect("counters");
    Cost {
        published,
        calls: after.calls(&before),
        mongo: after.mongo_commands(&before),
        deliveries: after.deliveries(&before),
    }
}

/// The gRPC calls of a PlaceOrder: Order reads the cart, and Cart prices its lines with one
/// batch read of the catalog. Everything after is events.
const PLACE_ORDER_CALLS: &[(&str, u64)] = &[
    ("order PlaceOrder", 1),
    ("cart GetCart", 1),
    ("product BatchGetProducts", 1),
];

#[tokio::test]
async fn a_confirmed_checkout_costs_exactly_what_the_table_says() {
    let cost = checkout_cost("pm_card_visa", "order.confirmed", 6).await;
    assert_eq!(
        cost.calls,
        counts(PLACE_ORDER_CALLS),
        "gRPC calls served per confirmed checkout ({TABLE}); {cost:?}"
    );
    assert_eq!(
        cost.published,
        counts(&[
            ("order.created", 1),
            ("inventory.reserved", 1),
            ("order.payment_requested", 1),
            ("payment.succeeded", 1),
            ("order.confirmed", 1),
        ]),
        "events published per confirmed checkout ({TABLE}); {cost:?}"
    );
    assert_eq!(
        cost.deliveries,
        counts(&[
            ("inventory.orders", 2),
            ("payment.orders", 1),
            ("order.saga", 2),
            ("cart.orders", 1),
        ]),
        "broker deliveries per confirmed checkout, by consuming queue ({TABLE}); {cost:?}"
    );
    assert_eq!(
        cost.mongo,
        counts(&[
            ("inventory findAndModify", 6),
            ("inventory insert", 3),
            ("inventory update", 1),
        ]),
        "MongoDB commands per confirmed checkout of two lines: Inventory's reservation and \
         commit (docs/inventory.md), none on Product with its cache warm ({TABLE}); {cost:?}"
    );
}

#[tokio::test]
async fn a_declined_checkout_costs_exactly_what_the_table_says() {
    let cost = checkout_cost("pm_card_chargeDeclined", "order.cancelled", 7).await;
    assert_eq!(
        cost.calls,
        counts(PLACE_ORDER_CALLS),
        "gRPC calls served per declined checkout ({TABLE}); {cost:?}"
    );
    assert_eq!(
        cost.published,
        counts(&[
            ("order.created", 1),
            ("inventory.reserved", 1),
            ("order.payment_requested", 1),
            ("payment.failed", 1),
            ("order.cancelled", 1),
            ("inventory.released", 1),
        ]),
        "events published per checkout cancelled by a declined card ({TABLE}); {cost:?}"
    );
    assert_eq!(
        cost.deliveries,
        counts(&[
            ("inventory.orders", 2),
            ("payment.orders", 2),
            ("order.saga", 3),
        ]),
        "broker deliveries per declined checkout, by consuming queue ({TABLE}); {cost:?}"
    );
    assert_eq!(
        cost.mongo,
        counts(&[
            ("inventory findAndModify", 6),
            ("inventory insert", 3),
            ("inventory update", 1),
        ]),
        "MongoDB commands per declined checkout of two lines: Inventory's reservation and \
         release (docs/inventory.md) ({TABLE}); {cost:?}"
    );
}
