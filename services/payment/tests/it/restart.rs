//! A Payment service that stops in the middle of the saga resumes where it stopped: the
//! durable queue redelivers, and the order's create key makes Stripe hand back the intent
//! of the interrupted attempt instead of charging again.

use shop_payment::store::{self, PaymentRow};
use shop_testkit::wait_until;

use crate::support::{DEADLINE, Harness, Options, VISA, new_order_id, payment_requested};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_published_while_the_service_is_down_is_charged_when_it_is_back() {
    let mut h = Harness::start().await;
    h.stop_service().await;
    let order_id = new_order_id();
    h.publish(&payment_requested(&order_id, "user-1", 1800, VISA))
        .await;
    assert!(h.ledger(&order_id).await.is_none());

    h.start_service().await;
    h.events.next("payment.succeeded", &order_id).await;
    h.wait_for_status(&order_id, "SUCCEEDED").await;
    assert_eq!(h.intents_for(&order_id).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_while_stripe_is_charging_it_resumes_with_the_same_intent() {
    // No webhooks: only the charge path can finish the payment after the restart.
    let mut h = Harness::start_with(Options {
        webhooks: false,
        gated: true,
        stripe_deadline_ms: 1_000,
        ..Options::default()
    })
    .await;
    let order_id = new_order_id();
    h.publish(&payment_requested(&order_id, "user-1", 2700, VISA))
        .await;

    // The row is PENDING and the create call is on its way to a Stripe that does not answer.
    let gate = h.gate.as_ref().expect("gated");
    wait_until(DEADLINE, "the create call to be held", || async {
        (gate.held() >= 1).then_some(())
    })
    .await
    .unwrap();
    let pending = h.wait_for_status(&order_id, "PENDING").await;
    assert_eq!(pending.provider_payment_intent_id, None);

    // Stopping waits at most one Stripe deadline; the delivery goes back to the queue.
    h.stop_service().await;
    assert_eq!(h.ledger(&order_id).await.expect("row").status, "PENDING");

    // Stripe gets the request after all and charges the card, but nobody hears the answer.
    h.gate.as_ref().expect("gated").open();
    wait_until(DEADLINE, "the charge at Stripe", || async {
        h.intents_for(&order_id)
            .into_iter()
            .find(|intent| intent["status"] == "succeeded")
    })
    .await
    .unwrap();
    assert_eq!(h.ledger(&order_id).await.expect("row").status, "PENDING");

    // Back up: the redelivered request replays the create call and finds that charge.
    h.start_service().await;
    let event = h.events.next("payment.succeeded", &order_id).await;
    let row = h.wait_for_status(&order_id, "SUCCEEDED").await;
    assert_eq!(row.id, pending.id, "the same payment");
    assert_eq!(event.aggregate_id, row.id);
    let intents = h.intents_for(&order_id);
    assert_eq!(intents.len(), 1, "one PaymentIntent: {intents:#?}");
    assert_eq!(
        row.provider_payment_intent_id.as_deref(),
        intents[0]["id"].as_str()
    );
    assert_eq!(h.emitted("payment.succeeded", &order_id).await, 1);
}

/// A PENDING row as step 1 of the charge path leaves it, `age` ago.
fn pending(order_id: &str, age: chrono::Duration) -> PaymentRow {
    let at = store::now() - age;
    PaymentRow {
        id: uuid::Uuid::now_v7().to_string(),
        order_id: order_id.to_owned(),
        user_id: "user-1".into(),
        amount_minor: 3300,
        currency: "EUR".into(),
        status: shop_payment::domain::Status::Pending,
        provider: "stripe".into(),
        provider_payment_intent_id: None,
        failure_code: None,
        failure_message: None,
        refunded_minor: 0,
        payment_method: VISA.into(),
        cancel_requested_at: None,
        created_at: at,
        updated_at: at,
        version: 1,
        traceparent: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_resumes_payments_the_bus_gave_up_on() {
    let mut h = Harness::start_with(Options {
        sweep: true,
        ..Options::default()
    })
    .await;
    // Rows whose order.payment_requested was dead-lettered after step 1.
    let abandoned = new_order_id();
    let cancelled = new_order_id();
    let ancient = new_order_id();
    let mut cancelled_row = pending(&cancelled, chrono::Duration::minutes(10));
    cancelled_row.cancel_requested_at = Some(store::now());
    let mut tx = h.mysql.pool.begin().await.unwrap();
    for row in [
        pending(&ancient, chrono::Duration::days(2)),
        cancelled_row,
        pending(&abandoned, chrono::Duration::minutes(10)),
    ] {
        store::insert_or_keep(&mut tx, &row).await.unwrap();
    }
    tx.commit().await.unwrap();

    h.events.next("payment.succeeded", &abandoned).await;
    h.wait_for_status(&abandoned, "SUCCEEDED").await;
    assert_eq!(h.intents_for(&abandoned).len(), 1);
    // Left alone: the order was cancelled before an intent was known, or Stripe may have
    // forgotten the create key by now.
    for order_id in [&cancelled, &ancient] {
        assert_eq!(h.ledger(order_id).await.unwrap().status, "PENDING");
        assert!(h.intents_for(order_id).is_empty());
    }
    h.stop_service().await;
}
