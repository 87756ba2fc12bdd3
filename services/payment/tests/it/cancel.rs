//! `order.cancelled`: captured money is refunded once, an open intent is cancelled, a late
//! payment request for a cancelled order charges nothing, and a capture that arrives after
//! a failure is refunded.

use shop_proto::shop::events::v1::envelope::Payload;
use shop_stripe_fake::AuthenticationOutcome;

use crate::support::{
    API_KEY, DECLINED, Harness, THREE_DS, VISA, new_order_id, order_cancelled, payment_requested,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_payment_is_refunded_once() {
    let mut h = Harness::start().await;
    let order_id = new_order_id();
    h.publish(&payment_requested(&order_id, "user-1", 1500, VISA))
        .await;
    h.events.next("payment.succeeded", &order_id).await;

    h.publish(&order_cancelled(&order_id, true)).await;
    let event = h.events.next("payment.refunded", &order_id).await;
    let Some(Payload::PaymentRefunded(refunded)) = event.payload else {
        panic!("not a PaymentRefunded: {event:?}");
    };
    assert_eq!(refunded.amount.expect("amount").amount_minor, 1500);
    let row = h.wait_for_status(&order_id, "REFUNDED").await;
    assert_eq!(row.refunded_minor, 1500);
    assert_eq!(refunded.payment_id, row.id);
    let intent_id = row.provider_payment_intent_id.clone().expect("intent id");
    let refunds = h.refunds_of(&intent_id);
    assert_eq!(refunds.len(), 1, "{refunds:#?}");
    assert_eq!(refunds[0]["amount"], 1500);

    // Order announcing the cancellation again (or a redelivery) refunds nothing more.
    h.publish(&order_cancelled(&order_id, true)).await;
    h.wait_for_deliveries("order.cancelled", 2).await;
    assert_eq!(h.refunds_of(&intent_id).len(), 1);
    assert_eq!(h.emitted("payment.refunded", &order_id).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_during_3d_secure_cancels_the_intent() {
    let mut h = Harness::start().await;
    let order_id = new_order_id();
    h.publish(&payment_requested(&order_id, "user-1", 800, THREE_DS))
        .await;
    h.events.next("payment.requires_action", &order_id).await;

    h.publish(&order_cancelled(&order_id, false)).await;
    let row = h.wait_for_status(&order_id, "CANCELLED").await;
    let intent_id = row.provider_payment_intent_id.expect("intent id");
    assert_eq!(
        h.fake.payment_intent(&intent_id).expect("the intent")["status"],
        "canceled"
    );
    // The customer can no longer complete the payment.
    assert!(
        h.fake
            .authenticate(&intent_id, AuthenticationOutcome::Succeed)
            .is_err()
    );
    assert_eq!(h.emitted("payment.succeeded", &order_id).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_payment_request_for_a_cancelled_order_charges_nothing() {
    let h = Harness::start().await;
    let order_id = new_order_id();
    // Events of one order can be handled out of order (retries, concurrent handlers).
    h.publish(&order_cancelled(&order_id, false)).await;
    let tombstone = h.wait_for_status(&order_id, "CANCELLED").await;
    assert_eq!(tombstone.amount_minor, 0);

    h.publish(&payment_requested(&order_id, "user-1", 2000, VISA))
        .await;
    h.wait_for_deliveries("order.payment_requested", 1).await;
    assert!(h.intents_for(&order_id).is_empty(), "nothing was charged");
    let row = h.ledger(&order_id).await.expect("the tombstone");
    assert_eq!(row, tombstone);
    for kind in [
        "payment.succeeded",
        "payment.failed",
        "payment.requires_action",
    ] {
        assert_eq!(h.emitted(kind, &order_id).await, 0, "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_after_a_decline_is_reported_and_refunded() {
    let mut h = Harness::start().await;
    let order_id = new_order_id();
    h.publish(&payment_requested(&order_id, "user-1", 2500, DECLINED))
        .await;
    h.events.next("payment.failed", &order_id).await;
    // Order cancels the order on the failure.
    h.publish(&order_cancelled(&order_id, false)).await;
    h.wait_for_deliveries("order.cancelled", 1).await;
    let row = h.wait_for_status(&order_id, "FAILED").await;
    assert!(row.cancel_requested_at.is_some());
    let intent_id = row.provider_payment_intent_id.expect("intent id");

    // The customer tries another card on the same intent in the browser (Stripe.js).
    let response = reqwest::Client::new()
        .post(format!(
            "{}v1/payment_intents/{intent_id}/confirm",
            h.fake.base_url()
        ))
        .bearer_auth(API_KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("payment_method={VISA}"))
        .send()
        .await
        .expect("confirmed");
    assert_eq!(response.status(), 200);

    // Stripe's webhook reports the capture; the order is cancelled, so it is refunded.
    h.events.next("payment.succeeded", &order_id).await;
    h.events.next("payment.refunded", &order_id).await;
    let row = h.wait_for_status(&order_id, "REFUNDED").await;
    assert_eq!(row.refunded_minor, 2500);
    assert_eq!(row.failure_code, None);
    assert_eq!(h.refunds_of(&intent_id).len(), 1);
}
