//! Order placement and the order's side of the saga, on the real services.

use shop_proto::shop::common::v1::Money;
use shop_proto::shop::events::v1::envelope::Payload;
use shop_proto::shop::order::v1::{self as pb, OrderStatus};
use shop_system_tests::{Customer, System};
use shop_testkit::with_token;
use tonic::Code;
use tonic_types::StatusExt as _;

fn place(customer: &Customer, key: &str) -> tonic::Request<pb::PlaceOrderRequest> {
    customer.checkout(key, "pm_card_visa")
}

/// `customer` cancels order `id`.
fn cancel(customer: &Customer, id: &str, reason: &str) -> tonic::Request<pb::CancelOrderRequest> {
    with_token(
        pb::CancelOrderRequest {
            id: id.into(),
            reason: reason.into(),
        },
        &customer.token,
    )
}

/// Checks out `customer`'s cart with `payment_method`: the PENDING order.
async fn checked_out(
    system: &System,
    customer: &Customer,
    key: &str,
    payment_method: &str,
) -> pb::Order {
    system
        .checkout(customer, key, payment_method)
        .await
        .expect("the order is placed")
}

async fn product(system: &System, sku: &str, price: i64, stock: i64) {
    system
        .stock_product(sku, price, stock)
        .await
        .expect("product with stock");
}

async fn add(system: &System, customer: &Customer, sku: &str, quantity: i64) {
    system
        .add_to_cart(customer, sku, quantity)
        .await
        .expect("added to the cart");
}

/// Empties the line of `sku` (the cart keeps an order's items until the order is paid).
async fn remove(system: &System, customer: &Customer, sku: &str) {
    use shop_proto::shop::cart::v1::RemoveItemRequest;
    system
        .carts()
        .await
        .expect("a cart client")
        .remove_item(with_token(
            RemoveItemRequest {
                cart: customer.cart(),
                sku: sku.into(),
            },
            &customer.token,
        ))
        .await
        .expect("removed from the cart");
}

fn user_cart(customer: &Customer) -> Option<shop_proto::shop::cart::v1::CartRef> {
    customer.cart()
}

#[tokio::test]
async fn an_order_is_priced_from_the_catalog_and_announced() {
    let system = System::start().await.unwrap();
    let mut events = system.watch_events().await.unwrap();
    product(&system, "MUG-1", 1250, 10).await;
    product(&system, "PAN-1", 3000, 10).await;
    let ann = Customer::new();
    add(&system, &ann, "MUG-1", 2).await;
    add(&system, &ann, "PAN-1", 1).await;

    let order = system
        .orders()
        .await
        .unwrap()
        .place_order(place(&ann, "k1"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(order.user_id, ann.id);
    assert_eq!(
        order.total,
        Some(Money {
            amount_minor: 5500,
            currency: "EUR".into()
        })
    );
    assert_eq!(order.lines.len(), 2);
    assert_eq!(order.lines[0].product_name, "Product MUG-1");

    let created = events.next("order.created", &order.id).await.unwrap();
    let Some(Payload::OrderCreated(created)) = created.payload else {
        panic!("payload")
    };
    assert_eq!(created.lines.len(), 2);
    assert_eq!(created.total.unwrap().amount_minor, 5500);
}

#[tokio::test]
async fn one_idempotency_key_places_one_order_even_concurrently() {
    let system = System::start().await.unwrap();
    product(&system, "MUG-2", 1000, 10).await;
    let ann = Customer::new();
    add(&system, &ann, "MUG-2", 1).await;
    let orders = system.orders().await.unwrap();
    let attempts = (0..10).map(|_| {
        let mut orders = orders.clone();
        let request = place(&ann, "same-key");
        async move { orders.place_order(request).await }
    });
    let results = futures::future::join_all(attempts).await;
    let ids: std::collections::HashSet<String> = results
        .into_iter()
        .map(|r| {
            r.expect("every attempt succeeds")
                .into_inner()
                .order
                .unwrap()
                .id
        })
        .collect();
    assert_eq!(ids.len(), 1);

    let mut other = place(&ann, "same-key");
    other.get_mut().payment_method = "pm_card_mastercard".into();
    let reused = orders.clone().place_order(other).await.unwrap_err();
    assert_eq!(reused.code(), Code::AlreadyExists);
}

#[tokio::test]
async fn bad_checkouts_are_refused_with_reasons() {
    let system = System::start().await.unwrap();
    let ann = Customer::new();
    let mut orders = system.orders().await.unwrap();

    let empty = orders
        .place_order(with_token(pb::PlaceOrderRequest::default(), &ann.token))
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert_eq!(
        shop_testkit::violated_fields(&empty),
        [
            "idempotency_key",
            "cart",
            "shipping_address",
            "payment_method"
        ]
    );

    let bob = Customer::new();
    let mut foreign = place(&ann, "k");
    foreign.get_mut().cart = user_cart(&bob);
    assert_eq!(
        shop_testkit::violated_fields(&orders.place_order(foreign).await.unwrap_err()),
        ["cart.user_id"]
    );

    let nothing_in_cart = orders.place_order(place(&ann, "k2")).await.unwrap_err();
    assert_eq!(nothing_in_cart.code(), Code::FailedPrecondition);
    assert_eq!(
        nothing_in_cart
            .get_error_details()
            .error_info()
            .unwrap()
            .reason,
        "CART_EMPTY"
    );

    let anonymous = orders
        .place_order(pb::PlaceOrderRequest::default())
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn orders_are_private_and_listed_newest_first() {
    let system = System::start().await.unwrap();
    let ann = Customer::new();
    let bob = Customer::new();
    let mut orders = system.orders().await.unwrap();
    let mut placed = Vec::new();
    for i in 0..3 {
        // Other items each time: an order still in flight holds its items.
        product(&system, &format!("MUG-3{i}"), 1000, 100).await;
        if i > 0 {
            remove(&system, &ann, &format!("MUG-3{}", i - 1)).await;
        }
        add(&system, &ann, &format!("MUG-3{i}"), 1).await;
        placed.push(
            checked_out(&system, &ann, &format!("k{i}"), "pm_card_visa")
                .await
                .id,
        );
    }
    let by_bob = orders
        .get_order(with_token(
            pb::GetOrderRequest {
                id: placed[0].clone(),
            },
            &bob.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(by_bob.code(), Code::NotFound);
    let cancel_by_bob = orders
        .cancel_order(cancel(&bob, &placed[0], ""))
        .await
        .unwrap_err();
    assert_eq!(cancel_by_bob.code(), Code::NotFound);

    let first = orders
        .list_orders(with_token(
            pb::ListOrdersRequest {
                page_size: 2,
                ..Default::default()
            },
            &ann.token,
        ))
        .await
        .unwrap()
        .into_inner();
    let second = orders
        .list_orders(with_token(
            pb::ListOrdersRequest {
                page_size: 2,
                page_token: first.next_page_token.clone(),
                ..Default::default()
            },
            &ann.token,
        ))
        .await
        .unwrap()
        .into_inner();
    let listed: Vec<String> = first
        .orders
        .iter()
        .chain(&second.orders)
        .map(|o| o.id.clone())
        .collect();
    placed.reverse();
    assert_eq!(listed, placed);
    assert!(second.next_page_token.is_empty());
    let bobs = orders
        .list_orders(with_token(pb::ListOrdersRequest::default(), &bob.token))
        .await
        .unwrap()
        .into_inner();
    assert!(bobs.orders.is_empty());
    let snooping = orders
        .list_orders(with_token(
            pb::ListOrdersRequest {
                user_id: ann.id.clone(),
                ..Default::default()
            },
            &bob.token,
        ))
        .await
        .unwrap_err();
    assert_eq!(snooping.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_customer_cancels_an_unpaid_order_once() {
    let system = System::start().await.unwrap();
    let mut events = system.watch_events().await.unwrap();
    product(&system, "MUG-4", 1000, 10).await;
    let ann = Customer::new();
    add(&system, &ann, "MUG-4", 1).await;
    let mut orders = system.orders().await.unwrap();
    // Unpaid for good: 3-D Secure is never completed, so the order stays cancellable.
    let order = checked_out(&system, &ann, "k", "pm_card_threeDSecure2Required").await;
    for _ in 0..2 {
        let cancelled = orders
            .cancel_order(cancel(&ann, &order.id, "changed my mind"))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap();
        assert_eq!(cancelled.status, OrderStatus::Cancelled as i32);
        assert_eq!(
            cancelled.cancel_reason,
            pb::CancelReason::CancelledByCustomer as i32
        );
        assert_eq!(cancelled.cancel_note, "changed my mind");
    }
    events.next("order.cancelled", &order.id).await.unwrap();
    let again: Vec<_> = events.drain(std::time::Duration::from_millis(700)).await;
    assert!(
        !again
            .iter()
            .any(|e| e.r#type == "order.cancelled" && e.aggregate_id == order.id),
        "cancelling twice announces once"
    );
}

/// The ErrorInfo reason of a refusal.
fn reason(status: &tonic::Status) -> String {
    shop_testkit::reason(status).unwrap_or_default()
}

#[tokio::test]
async fn a_fourth_unpaid_order_is_refused_until_one_is_cancelled() {
    let system = System::start().await.unwrap();
    let ann = Customer::new();
    let mut orders = system.orders().await.unwrap();
    let mut placed = Vec::new();
    for i in 0..4 {
        product(&system, &format!("MUG-5{i}"), 1000, 100).await;
    }
    for i in 0..3 {
        // 3-D Secure is never completed: every order stays unpaid, holding its unit. Each
        // order is of other items (the same items could not be ordered twice).
        if i > 0 {
            remove(&system, &ann, &format!("MUG-5{}", i - 1)).await;
        }
        add(&system, &ann, &format!("MUG-5{i}"), 1).await;
        let order = checked_out(
            &system,
            &ann,
            &format!("k{i}"),
            "pm_card_threeDSecure2Required",
        )
        .await;
        placed.push(order.id);
    }
    remove(&system, &ann, "MUG-52").await;
    add(&system, &ann, "MUG-53", 1).await;
    let refused = orders
        .place_order(ann.checkout("k3", "pm_card_threeDSecure2Required"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert_eq!(reason(&refused), "TOO_MANY_OPEN_ORDERS");
    assert!(refused.message().contains("unpaid orders"), "{refused:?}");

    // A retry of an order that exists is still answered with that order.
    let replay = checked_out(&system, &ann, "k1", "pm_card_threeDSecure2Required").await;
    assert_eq!(replay.id, placed[1]);
    // Another customer is not affected.
    let bob = Customer::new();
    add(&system, &bob, "MUG-50", 1).await;
    orders.place_order(place(&bob, "k0")).await.unwrap();

    orders
        .cancel_order(cancel(&ann, &placed[0], ""))
        .await
        .unwrap();
    orders
        .place_order(ann.checkout("k3", "pm_card_threeDSecure2Required"))
        .await
        .expect("one unpaid order fewer makes room for another");
}

#[tokio::test]
async fn items_of_an_order_awaiting_payment_cannot_be_ordered_again() {
    let system = System::start().await.unwrap();
    product(&system, "MUG-8", 1000, 100).await;
    product(&system, "PAN-8", 2000, 100).await;
    let ann = Customer::new();
    add(&system, &ann, "MUG-8", 1).await;
    let mut orders = system.orders().await.unwrap();
    let first = checked_out(&system, &ann, "first", "pm_card_threeDSecure2Required").await;

    // The same items again (the cart keeps them until the order is paid), even beside new
    // ones: refused, naming the order that holds them.
    add(&system, &ann, "PAN-8", 1).await;
    let refused = orders
        .place_order(ann.checkout("second", "pm_card_visa"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert_eq!(reason(&refused), "ITEMS_AWAITING_PAYMENT");
    assert!(
        refused.message().contains(&first.id) && refused.message().contains("MUG-8"),
        "{refused:?}"
    );

    // Other items are orderable; so are the same items once the first order is cancelled.
    remove(&system, &ann, "MUG-8").await;
    orders
        .place_order(ann.checkout("third", "pm_card_threeDSecure2Required"))
        .await
        .expect("items no open order holds");
    orders
        .cancel_order(cancel(&ann, &first.id, ""))
        .await
        .unwrap();
    remove(&system, &ann, "PAN-8").await;
    add(&system, &ann, "MUG-8", 1).await;
    orders
        .place_order(ann.checkout("fourth", "pm_card_visa"))
        .await
        .expect("the cancelled order holds nothing");
}

// Several worker threads, so the checkouts truly overlap: on one thread the check-then-insert
// race without the user's checkout lock showed only now and then. The same cart checked out
// 8 times at once: the lock makes the second and later see the first order's items.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_parallel_checkouts_of_one_cart_places_one_order() {
    let system = System::start().await.unwrap();
    product(&system, "MUG-6", 1000, 100).await;
    let ann = Customer::new();
    add(&system, &ann, "MUG-6", 1).await;
    let orders = system.orders().await.unwrap();
    let results = futures::future::join_all((0..8).map(|i| {
        let mut orders = orders.clone();
        let request = ann.checkout(&format!("burst-{i}"), "pm_card_threeDSecure2Required");
        async move { orders.place_order(request).await }
    }))
    .await;
    let mut placed = 0;
    for result in results {
        match result {
            Ok(_) => placed += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                assert_eq!(reason(&status), "ITEMS_AWAITING_PAYMENT");
            }
        }
    }
    assert_eq!(placed, 1, "exactly one order holds the cart's items");
    let listed = system
        .orders()
        .await
        .unwrap()
        .list_orders(with_token(pb::ListOrdersRequest::default(), &ann.token))
        .await
        .unwrap()
        .into_inner()
        .orders;
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn more_units_of_a_product_than_an_order_may_hold_are_refused() {
    let system = System::start().await.unwrap();
    product(&system, "MUG-7", 1000, 100).await;
    product(&system, "PAN-7", 3000, 100).await;
    let ann = Customer::new();
    add(&system, &ann, "PAN-7", 1).await;
    add(&system, &ann, "MUG-7", 11).await;
    let mut orders = system.orders().await.unwrap();
    let refused = orders.place_order(place(&ann, "k")).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert_eq!(reason(&refused), "LINE_QUANTITY_LIMIT");
    assert!(refused.message().contains("MUG-7 (11)"), "{refused:?}");
    assert!(!refused.message().contains("PAN-7"), "{refused:?}");
    let listed = orders
        .list_orders(with_token(pb::ListOrdersRequest::default(), &ann.token))
        .await
        .unwrap()
        .into_inner()
        .orders;
    assert!(listed.is_empty(), "nothing was placed");
    assert_eq!(system.stock("MUG-7").await.unwrap(), (100, 0, 100));

    // At the cap is fine.
    let bob = Customer::new();
    add(&system, &bob, "MUG-7", 10).await;
    orders.place_order(place(&bob, "k")).await.unwrap();
}

/// Calls Product has completed, summed over methods and status codes, from its /metrics.
async fn product_calls(system: &System) -> u64 {
    shop_testkit::Scrape::of(system.product.admin_addr)
        .await
        .expect("Product's metrics")
        .sum("shop_grpc_server_handled_total", &[])
}

#[tokio::test]
async fn a_checkout_reads_the_catalog_once() {
    let system = System::start().await.unwrap();
    product(&system, "MUG-1", 1250, 10).await;
    product(&system, "PAN-1", 3000, 10).await;
    let ann = Customer::new();
    add(&system, &ann, "MUG-1", 2).await;
    add(&system, &ann, "PAN-1", 1).await;

    let before = product_calls(&system).await;
    let order = checked_out(&system, &ann, "k1", "pm_card_visa").await;
    let after = product_calls(&system).await;

    // Cart prices the lines for Order's GetCart with one BatchGetProducts; Order takes them
    // as priced instead of asking Product again.
    assert_eq!(after - before, 1, "Product calls for one PlaceOrder");
    assert_eq!(order.total.map(|t| t.amount_minor), Some(5500));
    let lines: Vec<_> = order
        .lines
        .iter()
        .map(|l| {
            (
                l.sku.as_str(),
                l.product_name.as_str(),
                l.quantity,
                l.unit_price.as_ref().map(|p| p.amount_minor),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("MUG-1", "Product MUG-1", 2, Some(1250)),
            ("PAN-1", "Product PAN-1", 1, Some(3000))
        ]
    );
}

#[tokio::test]
async fn a_cart_holding_an_archived_product_is_not_checked_out() {
    use shop_proto::shop::product::v1::{
        ArchiveProductRequest, GetProductRequest, get_product_request,
    };
    let system = System::start().await.unwrap();
    product(&system, "MUG-1", 1250, 10).await;
    product(&system, "OLD-1", 900, 10).await;
    let ann = Customer::new();
    add(&system, &ann, "MUG-1", 1).await;
    add(&system, &ann, "OLD-1", 1).await;
    let mut products = system.products().await.unwrap();
    let old = products
        .get_product(GetProductRequest {
            key: Some(get_product_request::Key::Sku("OLD-1".into())),
        })
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap();
    products
        .archive_product(with_token(
            ArchiveProductRequest {
                id: old.id,
                expected_version: 0,
            },
            &shop_system_tests::admin_token(),
        ))
        .await
        .unwrap();

    let refused = system
        .orders()
        .await
        .unwrap()
        .place_order(place(&ann, "k1"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "PRODUCT_UNAVAILABLE");
    assert!(refused.message().contains("OLD-1"), "{refused:?}");

    remove(&system, &ann, "OLD-1").await;
    let order = system.checkout(&ann, "k2", "pm_card_visa").await.unwrap();
    assert_eq!(order.total.map(|t| t.amount_minor), Some(1250));
}
