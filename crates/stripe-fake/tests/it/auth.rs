//! Authentication and Stripe's error shape for requests Stripe would refuse outright.

use shop_stripe_fake::{FakeStripe, FakeStripeConfig};
use stripe_core::payment_intent::ListPaymentIntent;
use stripe_shared::ApiErrorsType;

use crate::support::{API_KEY, client_for, start_plain, stripe_error};

#[tokio::test]
async fn requests_without_a_valid_key_get_401() {
    let (fake, _client) = start_plain().await;
    let http = reqwest::Client::new();
    let url = format!("{}v1/payment_intents", fake.base_url());

    let response = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("amount=100&currency=usd")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("You did not provide an API key.")
    );
    assert!(fake.payment_intents().is_empty());

    for key in ["sk_live_0123456789abcdef", "pk_test_0123456789abcdef"] {
        let (error, status) =
            stripe_error(ListPaymentIntent::new().send(&client_for(&fake, key)).await);
        assert_eq!(status, 401, "{key}");
        assert_eq!(error.type_, ApiErrorsType::InvalidRequestError);
    }
    // HTTP Basic with the key as user name, as `curl -u sk_test_...:` sends it.
    let response = http
        .get(&url)
        .basic_auth(API_KEY, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn unknown_routes_answer_in_stripes_shape() {
    let (fake, _client) = start_plain().await;
    let response = reqwest::Client::new()
        .get(format!("{}v1/teapots", fake.base_url()))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Unrecognized request URL (GET: /v1/teapots)")
    );
}

#[tokio::test]
async fn stopping_releases_the_port() {
    let fake = FakeStripe::start(FakeStripeConfig::for_tests())
        .await
        .unwrap();
    let addr = fake.addr();
    let health = reqwest::get(format!("{}healthz", fake.base_url()))
        .await
        .unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    fake.stop().await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
