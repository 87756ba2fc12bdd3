//! `POST /stripe/webhook`: only correctly signed, fresh events are applied; everything else
//! is a 400 that changes nothing, and events the service does not use are acknowledged.

use serde_json::json;
use shop_stripe_fake::sign_webhook;

use crate::support::{Harness, THREE_DS, WEBHOOK_SECRET, new_order_id, payment_requested};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_are_rejected_and_change_nothing() {
    let mut h = Harness::start().await;
    let order_id = new_order_id();
    h.publish(&payment_requested(&order_id, "user-1", 700, THREE_DS))
        .await;
    h.events.next("payment.requires_action", &order_id).await;
    let row = h.wait_for_status(&order_id, "REQUIRES_ACTION").await;

    // A "payment_intent.succeeded" for the waiting intent, as a forger would send it.
    let mut intent = h.intents_for(&order_id).remove(0);
    intent["status"] = json!("succeeded");
    let forged = json!({
        "id": "evt_forged",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": { "object": intent },
    })
    .to_string();

    assert_eq!(h.post_webhook(&forged, None).await, 400, "no signature");
    let wrong_secret = sign_webhook("whsec_guessed", &forged, now());
    assert_eq!(h.post_webhook(&forged, Some(&wrong_secret)).await, 400);
    let for_other_body = sign_webhook(WEBHOOK_SECRET, "{}", now());
    assert_eq!(h.post_webhook(&forged, Some(&for_other_body)).await, 400);
    let replayed = sign_webhook(WEBHOOK_SECRET, &forged, now() - 600);
    assert_eq!(h.post_webhook(&forged, Some(&replayed)).await, 400, "stale");
    assert_eq!(h.post_webhook(&forged, Some("t=1,v1=zz")).await, 400);
    assert_eq!(h.post_webhook(&forged, Some("garbage")).await, 400);

    // Signed but not an event, or not a PaymentIntent: still 400, never 500.
    let not_json = "not json";
    let signed = sign_webhook(WEBHOOK_SECRET, not_json, now());
    assert_eq!(h.post_webhook(not_json, Some(&signed)).await, 400);
    let not_intent = json!({
        "id": "evt_x", "type": "payment_intent.succeeded", "data": { "object": { "id": 5 } }
    })
    .to_string();
    let signed = sign_webhook(WEBHOOK_SECRET, &not_intent, now());
    assert_eq!(h.post_webhook(&not_intent, Some(&signed)).await, 400);

    // Correctly signed events the service does not use, or for intents it does not know,
    // are acknowledged (so Stripe stops resending them) and ignored.
    let other_type = json!({
        "id": "evt_c", "type": "customer.created", "data": { "object": { "id": "cus_1" } }
    })
    .to_string();
    let signed = sign_webhook(WEBHOOK_SECRET, &other_type, now());
    assert_eq!(h.post_webhook(&other_type, Some(&signed)).await, 200);
    let unknown_intent = json!({
        "id": "evt_u",
        "type": "payment_intent.succeeded",
        "data": { "object": {
            "id": "pi_not_ours", "object": "payment_intent", "status": "succeeded",
            "metadata": { "order_id": new_order_id() }
        } },
    })
    .to_string();
    let signed = sign_webhook(WEBHOOK_SECRET, &unknown_intent, now());
    assert_eq!(h.post_webhook(&unknown_intent, Some(&signed)).await, 200);

    let after = h.ledger(&order_id).await.expect("the payment");
    assert_eq!(after.status, "REQUIRES_ACTION");
    assert_eq!(after.version, row.version, "not even touched");
    assert_eq!(h.emitted("payment.succeeded", &order_id).await, 0);
    assert_eq!(
        h.metric("shop_payment_webhooks_total", &[("result", "rejected")])
            .await,
        8.0
    );
}
