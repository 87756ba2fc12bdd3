//! `Idempotency-Key` as Stripe defines it, driven through the typed client's
//! `RequestStrategy::Idempotent`, plus the raw headers a replay carries.

use stripe::{IdempotencyKey, RequestStrategy, StripeRequest as _};
use stripe_core::payment_intent::CreatePaymentIntent;
use stripe_shared::{ApiErrorsType, PaymentIntent};
use stripe_types::Currency;

use crate::support::{API_KEY, client_for, count_events, metadata, start_plain, stripe_error};

fn order_payment(amount: i64, method: &str) -> CreatePaymentIntent {
    CreatePaymentIntent::new(amount, Currency::USD)
        .payment_method(method)
        .confirm(true)
        .metadata(metadata(&[("order_id", "order-42")]))
}

async fn send_with_key(
    client: &stripe::Client,
    request: &CreatePaymentIntent,
    key: &str,
) -> Result<PaymentIntent, stripe::StripeError> {
    request
        .customize()
        .request_strategy(RequestStrategy::Idempotent(
            IdempotencyKey::new(key).expect("valid idempotency key"),
        ))
        .send(client)
        .await
}

#[tokio::test]
async fn the_same_request_with_the_same_key_is_replayed() {
    let (fake, client) = start_plain().await;
    let request = order_payment(1000, "pm_card_visa");
    let first = send_with_key(&client, &request, "order-42").await.unwrap();
    let second = send_with_key(&client, &request, "order-42").await.unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(fake.payment_intents().len(), 1);
    assert_eq!(
        count_events(&fake, "charge.succeeded"),
        1,
        "one charge however often the request is sent"
    );
}

#[tokio::test]
async fn a_replay_is_byte_for_byte_and_marked() {
    let (fake, _client) = start_plain().await;
    let http = reqwest::Client::new();
    let send = |key: &'static str, body: &'static str| {
        http.post(format!("{}v1/payment_intents", fake.base_url()))
            .bearer_auth(API_KEY)
            .header("idempotency-key", key)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let body = "amount=1000&currency=usd&payment_method=pm_card_visa&confirm=true";
    let first = send("raw-1", body).await.unwrap();
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_request_id = first.headers()["request-id"].to_str().unwrap().to_owned();
    let first_body = first.bytes().await.unwrap();

    // Same parameters in another order are the same request.
    let reordered = "confirm=true&payment_method=pm_card_visa&currency=usd&amount=1000";
    let second = send("raw-1", reordered).await.unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(
        second.headers()["original-request"],
        first_request_id.as_str()
    );
    assert_eq!(second.headers()["idempotency-key"], "raw-1");
    assert_eq!(second.bytes().await.unwrap(), first_body);

    // A decline is saved and replayed too (no second charge attempt).
    let declined = "amount=1000&currency=usd&payment_method=pm_card_chargeDeclined&confirm=true";
    let first = send("raw-2", declined).await.unwrap();
    assert_eq!(first.status(), 402);
    let first_body = first.bytes().await.unwrap();
    let second = send("raw-2", declined).await.unwrap();
    assert_eq!(second.status(), 402);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(second.bytes().await.unwrap(), first_body);
    assert_eq!(fake.payment_intents().len(), 2);
}

#[tokio::test]
async fn the_same_key_with_other_parameters_is_an_idempotency_error() {
    let (fake, client) = start_plain().await;
    send_with_key(&client, &order_payment(1000, "pm_card_visa"), "order-43")
        .await
        .unwrap();
    let (error, status) = stripe_error(
        send_with_key(&client, &order_payment(1001, "pm_card_visa"), "order-43").await,
    );
    assert_eq!(status, 400);
    assert_eq!(error.type_, ApiErrorsType::IdempotencyError);
    assert!(error.message.unwrap().contains("same parameters"));
    assert_eq!(fake.payment_intents().len(), 1);
}

#[tokio::test]
async fn concurrent_identical_requests_create_one_intent() {
    let (fake, client) = start_plain().await;
    let request = order_payment(5000, "pm_card_visa");
    let attempts = (0..20).map(|_| send_with_key(&client, &request, "order-44"));
    let results = futures::future::join_all(attempts).await;

    let ids: Vec<String> = results
        .into_iter()
        .map(|result| {
            result
                .expect("every attempt succeeds")
                .id
                .as_str()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 20);
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one intent for all: {ids:?}"
    );
    assert_eq!(fake.payment_intents().len(), 1);
    assert_eq!(count_events(&fake, "payment_intent.created"), 1);
}

#[tokio::test]
async fn keys_belong_to_one_api_key() {
    let (fake, client) = start_plain().await;
    let other = client_for(&fake, "sk_test_another_account");
    let request = order_payment(1000, "pm_card_visa");
    let mine = send_with_key(&client, &request, "shared-key")
        .await
        .unwrap();
    let theirs = send_with_key(&other, &request, "shared-key").await.unwrap();
    assert_ne!(mine.id, theirs.id);
    assert_eq!(fake.payment_intents().len(), 2);
}

#[tokio::test]
async fn a_rejected_request_can_be_corrected_under_the_same_key() {
    let (fake, client) = start_plain().await;
    let (_, status) = stripe_error(
        send_with_key(&client, &order_payment(1000, "pm_card_typo"), "order-45").await,
    );
    assert_eq!(status, 400);
    let pi = send_with_key(&client, &order_payment(1000, "pm_card_visa"), "order-45")
        .await
        .expect("nothing was saved for the invalid request");
    assert_eq!(fake.payment_intents().len(), 1);
    assert_eq!(fake.payment_intents()[0]["id"], pi.id.as_str());
}
