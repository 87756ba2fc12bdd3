//! Webhooks: signed as Stripe signs them (verified by async-stripe's own verifier and by an
//! independent HMAC), typed-decodable, and retried when the endpoint fails.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use shop_stripe_fake::{WebhookEndpoint, sign_webhook};
use stripe_core::refund::CreateRefund;
use stripe_webhook::{EventObject, EventType, Webhook};

use crate::support::{
    WEBHOOK_SECRET, WebhookReceiver, eventually, pay, start_plain, start_with_webhooks,
};

/// Checks `Stripe-Signature: t=...,v1=...` against the body by hand.
fn verify_by_hand(header: &str, body: &str, secret: &str) {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = Some(value.to_owned()),
            Some(("v1", value)) => signature = Some(value.to_owned()),
            _ => panic!("unexpected part {part:?} in {header:?}"),
        }
    }
    let timestamp = timestamp.expect("t=");
    let age = chrono_like_now() - timestamp.parse::<i64>().expect("numeric t=");
    assert!((0..60).contains(&age), "fresh timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    assert_eq!(
        signature.expect("v1="),
        hex::encode(mac.finalize().into_bytes())
    );
}

fn chrono_like_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

#[tokio::test]
async fn events_are_signed_like_stripe_and_decode_as_typed_events() {
    let (_fake, client, receiver) = start_with_webhooks(0, 3).await;
    let pi = pay(&client, 1099, "pm_card_visa").await.unwrap();

    let delivery = receiver
        .wait_for("payment_intent.succeeded", pi.id.as_str())
        .await;
    verify_by_hand(&delivery.signature, &delivery.body, WEBHOOK_SECRET);

    let event = Webhook::construct_event(&delivery.body, &delivery.signature, WEBHOOK_SECRET)
        .expect("async-stripe accepts the signature and the payload");
    assert_eq!(event.type_, EventType::PaymentIntentSucceeded);
    assert!(event.id.as_str().starts_with("evt_"));
    assert!(!event.livemode);
    match event.data.object {
        EventObject::PaymentIntentSucceeded(intent) => {
            assert_eq!(intent.id, pi.id);
            assert_eq!(intent.metadata["order_id"], "order-1");
        }
        other => panic!("unexpected object {other:?}"),
    }
    assert!(
        Webhook::construct_event(&delivery.body, &delivery.signature, "whsec_wrong").is_err(),
        "another secret does not verify"
    );
    let tampered = delivery.body.replace("1099", "1");
    assert!(Webhook::construct_event(&tampered, &delivery.signature, WEBHOOK_SECRET).is_err());
}

#[tokio::test]
async fn every_kind_of_event_decodes() {
    let (fake, client, receiver) = start_with_webhooks(0, 3).await;
    let paid = pay(&client, 1000, "pm_card_visa").await.unwrap();
    let (error, _) =
        crate::support::stripe_error(pay(&client, 1000, "pm_card_chargeDeclined").await);
    let declined = error.payment_intent.unwrap();
    let three_ds = pay(&client, 1000, "pm_card_threeDSecure2Required")
        .await
        .unwrap();
    stripe_core::payment_intent::CancelPaymentIntent::new(three_ds.id.clone())
        .send(&client)
        .await
        .unwrap();
    let refund = CreateRefund::new()
        .payment_intent(paid.id.as_str())
        .amount(400)
        .send(&client)
        .await
        .unwrap();

    receiver
        .wait_for("payment_intent.payment_failed", declined.id.as_str())
        .await;
    receiver
        .wait_for("payment_intent.canceled", three_ds.id.as_str())
        .await;
    receiver
        .wait_for("refund.created", refund.id.as_str())
        .await;
    let expected = fake.events().len();
    let all = eventually(|| {
        let received = receiver.received();
        (received.len() == expected).then_some(received)
    })
    .await
    .expect("every event delivered");

    let mut types = Vec::new();
    for delivery in all {
        let event = Webhook::construct_event(&delivery.body, &delivery.signature, WEBHOOK_SECRET)
            .unwrap_or_else(|error| panic!("{error}: {}", delivery.body));
        assert!(
            !matches!(event.data.object, EventObject::Unknown(_)),
            "{} decoded as Unknown",
            event.type_
        );
        types.push(event.type_.to_string());
    }
    for expected in [
        "payment_intent.created",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.requires_action",
        "payment_intent.canceled",
        "charge.succeeded",
        "charge.failed",
        "charge.refunded",
        "refund.created",
    ] {
        assert!(
            types.iter().any(|seen| seen == expected),
            "no {expected} in {types:?}"
        );
    }
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_back_off() {
    let (fake, client, receiver) = start_with_webhooks(2, 5).await;
    let pi = pay(&client, 1000, "pm_card_visa").await.unwrap();
    receiver
        .wait_for("payment_intent.succeeded", pi.id.as_str())
        .await;
    let deliveries = eventually(|| {
        let deliveries = fake.webhook_deliveries();
        deliveries
            .iter()
            .all(|delivery| delivery.delivered)
            .then_some(deliveries)
    })
    .await
    .expect("all delivered in the end");
    assert_eq!(
        deliveries
            .iter()
            .map(|delivery| delivery.attempts)
            .sum::<u32>(),
        deliveries.len() as u32 + 2,
        "exactly the two refused attempts were repeated: {deliveries:?}"
    );
}

#[tokio::test]
async fn deliveries_give_up_after_the_last_attempt() {
    let (fake, client, receiver) = start_with_webhooks(u32::MAX, 3).await;
    pay(&client, 1000, "pm_card_visa").await.unwrap();
    let events = fake.events().len();
    let deliveries = eventually(|| {
        let deliveries = fake.webhook_deliveries();
        (deliveries.len() == events && deliveries.iter().all(|delivery| delivery.attempts == 3))
            .then_some(deliveries)
    })
    .await
    .expect("three attempts each");
    assert!(deliveries.iter().all(|delivery| !delivery.delivered));
    assert!(
        deliveries
            .iter()
            .all(|delivery| delivery.last_status == Some(500))
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        receiver.attempts(),
        3 * events as u32,
        "no attempt beyond the third"
    );
}

#[tokio::test]
async fn the_endpoint_can_be_set_after_start() {
    let (fake, client) = start_plain().await;
    pay(&client, 1000, "pm_card_visa").await.unwrap();
    assert!(
        fake.webhook_deliveries().is_empty(),
        "no endpoint, no deliveries"
    );

    let receiver = WebhookReceiver::start(0).await;
    fake.set_webhook_endpoint(Some(
        WebhookEndpoint::new(receiver.url(), WEBHOOK_SECRET).unwrap(),
    ));
    let pi = pay(&client, 2000, "pm_card_visa").await.unwrap();
    receiver
        .wait_for("payment_intent.succeeded", pi.id.as_str())
        .await;
}

#[test]
fn sign_webhook_matches_async_stripes_test_header() {
    let payload = r#"{"id":"evt_1","object":"event"}"#;
    assert_eq!(
        sign_webhook(WEBHOOK_SECRET, payload, 1_700_000_000),
        Webhook::generate_test_header(payload, WEBHOOK_SECRET, Some(1_700_000_000))
    );
}
