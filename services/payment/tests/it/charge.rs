//! Charging on `order.payment_requested`: success, decline, 3-D Secure, and one charge
//! however often (and however concurrently) the request arrives.

use shop_proto::shop::events::v1::envelope::Payload;
use shop_stripe_fake::AuthenticationOutcome;
use shop_testkit::wait_until;

use crate::support::{
    DEADLINE, DECLINED, Harness, STOREFRONT, THREE_DS, VISA, new_order_id, payment_requested,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visa_payment_succeeds_with_one_intent() {
    let mut h = Harness::start().await;
    let order_id = new_order_id();
    h.publish(&payment_requested(&order_id, "user-1", 1250, VISA))
        .await;

    let event = h.events.next("payment.succeeded", &order_id).await;
    let Some(Payload::PaymentSucceeded(succeeded)) = event.payload else {
        panic!("not a PaymentSucceeded: {event:?}");
    };
    let row = h.wait_for_status(&order_id, "SUCCEEDED").await;
    assert_eq!(
        event.aggregate_id, row.id,
        "payment events are about the payment"
    );
    assert_eq!(succeeded.payment_id, row.id);
    let amount = succeeded.amount.expect("amount");
    assert_eq!(
        (amount.amount_minor, amount.currency.as_str()),
        (1250, "EUR")
    );

    let intents = h.intents_for(&order_id);
    assert_eq!(intents.len(), 1, "{intents:#?}");
    let intent = &intents[0];
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(intent["amount"], 1250);
    assert_eq!(intent["currency"], "eur");
    assert_eq!(intent["metadata"]["payment_id"], row.id.as_str());
    assert_eq!(
        succeeded.provider_payment_intent_id,
        intent["id"].as_str().unwrap()
    );
    assert_eq!(
        row.provider_payment_intent_id.as_deref(),
        intent["id"].as_str()
    );
    assert_eq!((row.amount_minor, row.currency.as_str()), (1250, "EUR"));
    assert_eq!(row.payment_method, VISA);
    assert_eq!(row.user_id, "user-1");

    // Stripe's webhook reports the same success: accepted, and it changes nothing.
    wait_until(DEADLINE, "the succeeded webhook delivered", || async {
        h.fake
            .webhook_deliveries()
            .into_iter()
            .find(|d| d.event_type == "payment_intent.succeeded" && d.delivered)
    })
    .await
    .unwrap();
    assert_eq!(h.emitted("payment.succeeded", &order_id).await, 1);
    assert_eq!(
        h.metric("shop_payment_outcomes_total", &[("outcome", "succeeded")])
            .await,
        1.0
    );
    h.stop_service().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_fails_as_declined() {
    let mut h = Harness::start().await;
    let order_id = new_order_id();
    h.publish(&payment_requested(&order_id, "user-1", 990, DECLINED))
        .await;

    let event = h.events.next("payment.failed", &order_id).await;
    let Some(Payload::PaymentFailed(failed)) = event.payload else {
        panic!("not a PaymentFailed: {event:?}");
    };
    assert!(failed.declined);
    assert_eq!(failed.code, "card_declined");
    assert_eq!(failed.message, "Your card was declined.");
    let row = h.wait_for_status(&order_id, "FAILED").await;
    assert_eq!(failed.payment_id, row.id);
    assert_eq!(row.failure_code.as_deref(), Some("card_declined"));
    let intents = h.intents_for(&order_id);
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0]["status"], "requires_payment_method");
    assert_eq!(
        row.provider_payment_intent_id.as_deref(),
        intents[0]["id"].as_str()
    );

    // A payment method Stripe does not know fails too, but is not a decline.
    let unknown_order = new_order_id();
    h.publish(&payment_requested(
        &unknown_order,
        "user-1",
        990,
        "pm_card_nonsense",
    ))
    .await;
    let event = h.events.next("payment.failed", &unknown_order).await;
    let Some(Payload::PaymentFailed(failed)) = event.payload else {
        panic!("not a PaymentFailed: {event:?}");
    };
    assert!(!failed.declined);
    assert_eq!(failed.code, "resource_missing");
    let row = h.wait_for_status(&unknown_order, "FAILED").await;
    assert_eq!(row.provider_payment_intent_id, None);
    assert!(h.intents_for(&unknown_order).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_redelivered_requests_charge_once() {
    let mut h = Harness::start().await;
    let order_id = new_order_id();
    // The same message five times (redeliveries) ...
    let request = payment_requested(&order_id, "user-1", 4200, VISA);
    for _ in 0..5 {
        h.publish(&request).await;
    }
    // ... and five more copies with their own event ids, all at once (Order retrying).
    let copies: Vec<_> = (0..5)
        .map(|_| payment_requested(&order_id, "user-1", 4200, VISA))
        .collect();
    futures::future::join_all(copies.iter().map(|copy| h.publish(copy))).await;

    h.events.next("payment.succeeded", &order_id).await;
    h.wait_for_deliveries("order.payment_requested", 10).await;

    let intents = h.intents_for(&order_id);
    assert_eq!(intents.len(), 1, "one PaymentIntent: {intents:#?}");
    let intent_id = intents[0]["id"].as_str().unwrap();
    let charges = h
        .fake
        .events()
        .into_iter()
        .filter(|e| {
            e["type"] == "charge.succeeded" && e["data"]["object"]["payment_intent"] == intent_id
        })
        .count();
    assert_eq!(charges, 1, "one charge");
    assert_eq!(h.emitted("payment.succeeded", &order_id).await, 1);
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payments WHERE order_id = ?")
        .bind(&order_id)
        .fetch_one(&h.mysql.pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_d_secure_waits_for_the_customer_then_the_webhook_completes_it() {
    let mut h = Harness::start().await;
    let order_id = new_order_id();
    h.publish(&payment_requested(&order_id, "user-1", 3100, THREE_DS))
        .await;

    let event = h.events.next("payment.requires_action", &order_id).await;
    let Some(Payload::PaymentRequiresAction(action)) = event.payload else {
        panic!("not a PaymentRequiresAction: {event:?}");
    };
    let row = h.wait_for_status(&order_id, "REQUIRES_ACTION").await;
    let intents = h.intents_for(&order_id);
    assert_eq!(intents.len(), 1);
    assert_eq!(intents[0]["status"], "requires_action");
    assert_eq!(
        action.client_secret,
        intents[0]["client_secret"].as_str().unwrap()
    );
    assert_eq!(action.payment_id, row.id);
    // The shopper is sent to the issuer's page, which brings them back to the order.
    assert_eq!(
        intents[0]["next_action"]["redirect_to_url"]["return_url"],
        format!("{STOREFRONT}/orders/{order_id}")
    );
    assert_eq!(
        action.redirect_url,
        intents[0]["next_action"]["redirect_to_url"]["url"]
            .as_str()
            .unwrap()
    );
    assert!(action.redirect_url.contains("/_fake/3ds/"), "{action:?}");

    // A redelivered request while the customer authenticates changes nothing.
    h.publish(&payment_requested(&order_id, "user-1", 3100, THREE_DS))
        .await;
    h.wait_for_deliveries("order.payment_requested", 2).await;
    assert_eq!(h.intents_for(&order_id).len(), 1);
    assert_eq!(h.emitted("payment.requires_action", &order_id).await, 1);

    // The customer completes 3-D Secure; only Stripe's webhook can tell the service.
    let intent_id = intents[0]["id"].as_str().unwrap();
    h.fake
        .authenticate(intent_id, AuthenticationOutcome::Succeed)
        .expect("authenticated");
    let event = h.events.next("payment.succeeded", &order_id).await;
    let Some(Payload::PaymentSucceeded(succeeded)) = event.payload else {
        panic!("not a PaymentSucceeded: {event:?}");
    };
    assert_eq!(succeeded.provider_payment_intent_id, intent_id);
    h.wait_for_status(&order_id, "SUCCEEDED").await;
    assert_eq!(h.emitted("payment.succeeded", &order_id).await, 1);
}

/// Stripe's webhooks carry no trace context, yet what they make Payment emit belongs to the
/// checkout: payment.succeeded after 3-D Secure is published in the trace of the
/// order.payment_requested that started the payment, so one checkout stays one trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_outcome_is_published_in_the_checkout_trace() {
    use tracing::Instrument as _;

    shop_testkit::init_tracing();
    let mut h = Harness::start().await;
    let order_id = new_order_id();
    let checkout_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    h.publish(&payment_requested(&order_id, "user-1", 3100, THREE_DS))
        .instrument(shop_testkit::span_in_trace(&format!(
            "00-{checkout_trace}-00f067aa0ba902b7-01"
        )))
        .await;
    h.events.next("payment.requires_action", &order_id).await;

    let intent_id = h.intents_for(&order_id)[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.fake
        .authenticate(&intent_id, AuthenticationOutcome::Succeed)
        .expect("authenticated");
    h.events.next("payment.succeeded", &order_id).await;

    let traceparents: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT traceparent FROM bus_outbox WHERE routing_key IN \
         ('payment.requires_action', 'payment.succeeded') ORDER BY id",
    )
    .fetch_all(&h.mysql.pool)
    .await
    .unwrap();
    assert_eq!(traceparents.len(), 2, "{traceparents:?}");
    for traceparent in &traceparents {
        let traceparent = traceparent.as_deref().unwrap_or_default();
        assert!(
            traceparent.contains(checkout_trace),
            "published outside the checkout's trace: {traceparent:?}"
        );
    }
}
