//! PaymentIntents through the typed client: success, decline, 3-D Secure, confirm, cancel, list.

use shop_stripe_fake::AuthenticationOutcome;
use stripe::StripeRequest as _;
use stripe_core::charge::RetrieveCharge;
use stripe_core::payment_intent::{
    CancelPaymentIntent, ConfirmPaymentIntent, CreatePaymentIntent,
    CreatePaymentIntentAutomaticPaymentMethods,
    CreatePaymentIntentAutomaticPaymentMethodsAllowRedirects, ListPaymentIntent,
    RetrievePaymentIntent,
};
use stripe_shared::{
    ApiErrorsCode, ApiErrorsType, ChargeStatus, PaymentIntent,
    PaymentIntentAllowedPaymentMethodTypes, PaymentIntentStatus,
};
use stripe_types::{Currency, Expandable};

use crate::support::{metadata, pay, start_plain, start_with_webhooks, stripe_error};

/// Confirms the intent `id` with `payment_method`, which charges it at once.
async fn confirm_succeeds(
    client: &stripe::Client,
    id: &stripe_shared::PaymentIntentId,
    payment_method: &str,
) -> PaymentIntent {
    let confirmed = ConfirmPaymentIntent::new(id.clone())
        .payment_method(payment_method)
        .send(client)
        .await
        .expect("confirmed");
    assert_eq!(confirmed.status, PaymentIntentStatus::Succeeded);
    confirmed
}

#[tokio::test]
async fn a_visa_payment_succeeds_with_a_charge() {
    let (fake, client) = start_plain().await;
    let automatic = CreatePaymentIntentAutomaticPaymentMethods {
        enabled: true,
        allow_redirects: Some(CreatePaymentIntentAutomaticPaymentMethodsAllowRedirects::Never),
    };
    let pi = CreatePaymentIntent::new(1099, Currency::USD)
        .payment_method("pm_card_visa")
        .automatic_payment_methods(automatic)
        .confirm(true)
        .description("order order-7")
        .metadata(metadata(&[("order_id", "order-7")]))
        .send(&client)
        .await
        .expect("payment succeeds");

    assert_eq!(pi.status, PaymentIntentStatus::Succeeded);
    assert_eq!(pi.amount, 1099);
    assert_eq!(pi.amount_received, 1099);
    assert_eq!(pi.currency, Currency::USD);
    assert_eq!(pi.metadata["order_id"], "order-7");
    assert!(pi.id.as_str().starts_with("pi_"));
    assert!(
        pi.client_secret
            .as_deref()
            .unwrap()
            .starts_with(&format!("{}_secret_", pi.id.as_str()))
    );
    let charge_id = pi
        .latest_charge
        .as_ref()
        .expect("latest_charge")
        .id()
        .clone();

    let charge = RetrieveCharge::new(charge_id.clone())
        .send(&client)
        .await
        .expect("charge");
    assert_eq!(charge.status, ChargeStatus::Succeeded);
    assert!(charge.paid && charge.captured);
    assert_eq!(charge.amount, 1099);
    assert_eq!(charge.metadata["order_id"], "order-7");

    // Retrieve sees the same state; expansion embeds the charge.
    let again = RetrievePaymentIntent::new(pi.id.clone())
        .expand(vec!["latest_charge".to_owned()])
        .send(&client)
        .await
        .expect("retrieve");
    assert_eq!(again.status, PaymentIntentStatus::Succeeded);
    match again.latest_charge {
        Some(Expandable::Object(charge)) => assert_eq!(charge.id, charge_id),
        other => panic!("latest_charge was not expanded: {other:?}"),
    }

    // And the test handle agrees.
    let found = fake.payment_intents_with_metadata("order_id", "order-7");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], pi.id.as_str());
    fake.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn create_then_confirm_in_two_steps() {
    let (_fake, client) = start_plain().await;
    let pi = CreatePaymentIntent::new(2500, Currency::EUR)
        .allowed_payment_method_types(vec![PaymentIntentAllowedPaymentMethodTypes::Card])
        .send(&client)
        .await
        .unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresPaymentMethod);
    assert!(pi.latest_charge.is_none());

    let confirmed = confirm_succeeds(&client, &pi.id, "pm_card_mastercard").await;
    assert!(confirmed.latest_charge.is_some());

    // A succeeded intent cannot be confirmed again.
    let (error, status) =
        stripe_error(ConfirmPaymentIntent::new(pi.id.clone()).send(&client).await);
    assert_eq!(status, 400);
    assert_eq!(
        error.code,
        Some(ApiErrorsCode::PaymentIntentUnexpectedState)
    );
}

#[tokio::test]
async fn a_declined_card_surfaces_card_declined() {
    let (fake, client) = start_plain().await;
    let (error, status) = stripe_error(pay(&client, 1500, "pm_card_chargeDeclined").await);

    assert_eq!(status, 402);
    assert_eq!(error.type_, ApiErrorsType::CardError);
    assert_eq!(error.code, Some(ApiErrorsCode::CardDeclined));
    assert_eq!(error.decline_code.as_deref(), Some("generic_decline"));
    assert_eq!(error.message.as_deref(), Some("Your card was declined."));
    let pi = error.payment_intent.expect("the error carries the intent");
    assert_eq!(pi.status, PaymentIntentStatus::RequiresPaymentMethod);
    let last = pi.last_payment_error.expect("last_payment_error");
    assert_eq!(last.code, Some(ApiErrorsCode::CardDeclined));
    assert_eq!(last.decline_code.as_deref(), Some("generic_decline"));
    assert_eq!(
        last.payment_method
            .expect("the failed payment method")
            .card
            .unwrap()
            .last4,
        "0002"
    );

    // The fake remembers the failed attempt, and the customer can retry with another card.
    assert_eq!(
        fake.payment_intent(pi.id.as_str()).unwrap()["status"],
        "requires_payment_method"
    );
    let retried = confirm_succeeds(&client, &pi.id, "pm_card_visa").await;
    assert!(retried.last_payment_error.is_none());
}

#[tokio::test]
async fn three_d_secure_waits_for_the_customer_then_succeeds() {
    let (fake, client, receiver) = start_with_webhooks(0, 3).await;
    let pi = pay(&client, 4200, "pm_card_threeDSecure2Required")
        .await
        .unwrap();

    assert_eq!(pi.status, PaymentIntentStatus::RequiresAction);
    assert!(
        pi.client_secret
            .as_deref()
            .unwrap()
            .starts_with(&format!("{}_secret_", pi.id.as_str()))
    );
    assert_eq!(pi.next_action.as_ref().unwrap().type_, "use_stripe_sdk");
    assert!(pi.latest_charge.is_none());
    receiver
        .wait_for("payment_intent.requires_action", pi.id.as_str())
        .await;

    let done = fake
        .authenticate(pi.id.as_str(), AuthenticationOutcome::Succeed)
        .expect("authenticates");
    assert_eq!(done["status"], "succeeded");

    let pi = RetrievePaymentIntent::new(pi.id.clone())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::Succeeded);
    assert!(pi.next_action.is_none());
    let charge = RetrieveCharge::new(pi.latest_charge.as_ref().unwrap().id().clone())
        .send(&client)
        .await
        .unwrap();
    let card = charge.payment_method_details.unwrap().card.unwrap();
    assert!(
        card.three_d_secure.is_some(),
        "the charge records the 3-D Secure authentication"
    );
    receiver
        .wait_for("payment_intent.succeeded", pi.id.as_str())
        .await;
}

#[tokio::test]
async fn failed_authentication_over_http_needs_a_new_payment_method() {
    let (fake, client) = start_plain().await;
    let pi = pay(&client, 4200, "pm_card_authenticationRequired")
        .await
        .unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresAction);

    let url = format!(
        "{}_fake/payment_intents/{}/authenticate?outcome=fail",
        fake.base_url(),
        pi.id.as_str()
    );
    let response = reqwest::Client::new().post(url).send().await.unwrap();
    assert_eq!(response.status(), 200);

    let pi = RetrievePaymentIntent::new(pi.id.clone())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresPaymentMethod);
    assert!(pi.payment_method.is_none());
    assert_eq!(
        pi.last_payment_error.unwrap().code,
        Some(ApiErrorsCode::PaymentIntentAuthenticationFailure)
    );
}

#[tokio::test]
async fn off_session_payments_needing_authentication_are_declined() {
    let (_fake, client) = start_plain().await;
    let result = CreatePaymentIntent::new(900, Currency::USD)
        .payment_method("pm_card_threeDSecure2Required")
        .confirm(true)
        .error_on_requires_action(true)
        .send(&client)
        .await;
    let (error, status) = stripe_error(result);
    assert_eq!(status, 402);
    assert_eq!(error.code, Some(ApiErrorsCode::AuthenticationRequired));
}

#[tokio::test]
async fn cancel_before_payment_but_not_after() {
    let (_fake, client) = start_plain().await;
    let open = CreatePaymentIntent::new(700, Currency::USD)
        .send(&client)
        .await
        .unwrap();
    let canceled = CancelPaymentIntent::new(open.id.clone())
        .cancellation_reason(
            stripe_core::payment_intent::CancelPaymentIntentCancellationReason::Abandoned,
        )
        .send(&client)
        .await
        .unwrap();
    assert_eq!(canceled.status, PaymentIntentStatus::Canceled);
    assert!(canceled.canceled_at.is_some());

    let paid = pay(&client, 700, "pm_card_visa").await.unwrap();
    let (error, status) = stripe_error(
        CancelPaymentIntent::new(paid.id.clone())
            .send(&client)
            .await,
    );
    assert_eq!(status, 400);
    assert_eq!(
        error.code,
        Some(ApiErrorsCode::PaymentIntentUnexpectedState)
    );
}

#[tokio::test]
async fn lists_page_newest_first() {
    let (_fake, client) = start_plain().await;
    let mut ids = Vec::new();
    for amount in [100, 200, 300] {
        ids.push(pay(&client, amount, "pm_card_visa").await.unwrap().id);
    }
    let page = ListPaymentIntent::new()
        .limit(2)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(page.data.len(), 2);
    assert!(page.has_more);
    assert_eq!(page.data[0].id, ids[2]);
    assert_eq!(page.url, "/v1/payment_intents");

    let rest = ListPaymentIntent::new()
        .starting_after(page.data[1].id.as_str())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(rest.data.len(), 1);
    assert_eq!(rest.data[0].id, ids[0]);
    assert!(!rest.has_more);
}

#[tokio::test]
async fn unknown_objects_are_resource_missing() {
    let (fake, client) = start_plain().await;
    let (error, status) = stripe_error(pay(&client, 100, "pm_card_nonsense").await);
    assert_eq!(status, 400);
    assert_eq!(error.code, Some(ApiErrorsCode::ResourceMissing));
    assert_eq!(error.param.as_deref(), Some("payment_method"));
    assert!(fake.payment_intents().is_empty(), "nothing was created");

    let (error, status) = stripe_error(
        RetrievePaymentIntent::new("pi_doesnotexist")
            .send(&client)
            .await,
    );
    assert_eq!(status, 404);
    assert_eq!(error.code, Some(ApiErrorsCode::ResourceMissing));
}

#[tokio::test]
async fn parameters_the_fake_does_not_model_are_refused() {
    let (_fake, client) = start_plain().await;
    let (error, status) = stripe_error(
        CreatePaymentIntent::new(100, Currency::USD)
            .customer("cus_123")
            .send(&client)
            .await,
    );
    assert_eq!(status, 400);
    assert_eq!(error.param.as_deref(), Some("customer"));
    // `customize` is how Payment sets per-request options; it reaches the fake unchanged.
    let pi = CreatePaymentIntent::new(100, Currency::USD)
        .customize()
        .send(&client)
        .await
        .unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresPaymentMethod);
}

/// With a `return_url` the customer authenticates on a page (Stripe's `redirect_to_url`), and
/// the page sends the browser back to the shop with the outcome, as Stripe's does.
#[tokio::test]
async fn three_d_secure_on_a_page_returns_the_customer_to_the_shop() {
    let (fake, client) = start_plain().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (button, status, final_status) in [
        ("succeed", "succeeded", "succeeded"),
        ("fail", "failed", "requires_payment_method"),
    ] {
        let pi = CreatePaymentIntent::new(4200, Currency::EUR)
            .payment_method("pm_card_threeDSecure2Required")
            .allowed_payment_method_types(vec![PaymentIntentAllowedPaymentMethodTypes::Card])
            .return_url("https://shop.example/orders/o-1?from=3ds")
            .confirm(true)
            .send(&client)
            .await
            .unwrap();
        assert_eq!(pi.status, PaymentIntentStatus::RequiresAction);
        let next = pi.next_action.as_ref().unwrap();
        assert_eq!(next.type_, "redirect_to_url");
        let redirect = next.redirect_to_url.as_ref().unwrap();
        assert_eq!(
            redirect.return_url.as_deref(),
            Some("https://shop.example/orders/o-1?from=3ds")
        );
        let page_url = redirect.url.clone().unwrap();
        assert_eq!(
            page_url,
            format!("{}_fake/3ds/{}", fake.base_url(), pi.id.as_str())
        );

        let page = http.get(&page_url).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("Complete authentication") && html.contains("Fail authentication"));
        assert!(html.contains("42.00 EUR"), "{html}");

        let back = http
            .post(&page_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("outcome={button}"))
            .send()
            .await
            .unwrap();
        assert_eq!(back.status(), 303);
        let location = back.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(
            location,
            format!(
                "https://shop.example/orders/o-1?from=3ds&payment_intent={id}&payment_intent_client_secret={secret}&redirect_status={status}",
                id = pi.id.as_str(),
                secret = pi.client_secret.as_deref().unwrap(),
            )
        );
        assert_eq!(
            fake.payment_intent(pi.id.as_str()).unwrap()["status"],
            final_status
        );

        // Spent: the page is gone, and a second submit changes nothing.
        assert_eq!(http.get(&page_url).send().await.unwrap().status(), 404);
    }
    // A forged id is reflected escaped, never as markup.
    let forged = http
        .get(format!("{}_fake/3ds/%3Cscript%3E", fake.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 404);
    assert!(!forged.text().await.unwrap().contains("<script>"));
}

#[tokio::test]
async fn a_return_url_must_be_a_web_address() {
    let (_fake, client) = start_plain().await;
    let result = CreatePaymentIntent::new(900, Currency::USD)
        .payment_method("pm_card_threeDSecure2Required")
        .return_url("javascript:alert(1)")
        .confirm(true)
        .send(&client)
        .await;
    let (error, status) = stripe_error(result);
    assert_eq!(status, 400);
    assert_eq!(error.param.as_deref(), Some("return_url"));
}
