//! The store on its own, without HTTP: the state machine's main paths and the list pages.

use super::*;
use crate::records::RequestInfo;

fn store() -> Store {
    Store::new(Templates::load().unwrap(), "http://fake.test")
}

fn request() -> RequestInfo {
    RequestInfo {
        id: Some("req_test".into()),
        idempotency_key: None,
        pending_webhooks: 0,
    }
}

fn create(store: &Store, body: &str) -> Outcome {
    store.create_payment_intent(&Params::parse(body.as_bytes()), &request())
}

fn event_types(outcome: &Outcome) -> Vec<&str> {
    outcome
        .events
        .iter()
        .filter_map(|event| event["type"].as_str())
        .collect()
}

#[test]
fn a_visa_payment_succeeds_with_a_charge() {
    let store = store();
    let outcome = create(
        &store,
        "amount=1099&currency=USD&payment_method=pm_card_visa&confirm=true&metadata[order_id]=o1",
    );
    assert_eq!(
        event_types(&outcome),
        [
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded"
        ]
    );
    let pi = outcome.result.unwrap();
    assert_eq!(pi["status"], "succeeded");
    assert_eq!(pi["currency"], "usd");
    assert_eq!(pi["amount_received"], 1099);
    assert_eq!(pi["metadata"]["order_id"], "o1");
    assert!(pi["payment_method"].as_str().unwrap().starts_with("pm_"));
    let charge_id = pi["latest_charge"].as_str().unwrap();
    let charge = store
        .retrieve_charge(charge_id, &Params::default())
        .unwrap();
    assert_eq!(charge["status"], "succeeded");
    assert_eq!(charge["payment_intent"], pi["id"]);
    assert_eq!(charge["payment_method_details"]["card"]["last4"], "4242");
}

#[test]
fn a_declined_card_leaves_the_intent_awaiting_a_new_payment_method() {
    let store = store();
    let outcome = create(
        &store,
        "amount=500&currency=eur&payment_method=pm_card_chargeDeclined&confirm=true",
    );
    assert_eq!(
        event_types(&outcome),
        [
            "payment_intent.created",
            "charge.failed",
            "payment_intent.payment_failed"
        ]
    );
    let error = outcome.result.unwrap_err();
    assert_eq!(error.status, StatusCode::PAYMENT_REQUIRED);
    let body = error.body();
    assert_eq!(body["error"]["code"], "card_declined");
    assert_eq!(body["error"]["decline_code"], "generic_decline");
    let pi = &body["error"]["payment_intent"];
    assert_eq!(pi["status"], "requires_payment_method");
    assert_eq!(pi["payment_method"], Value::Null);
    assert_eq!(pi["last_payment_error"]["code"], "card_declined");
    assert_eq!(
        store.payment_intent(pi["id"].as_str().unwrap()).unwrap()["status"],
        "requires_payment_method"
    );
}

#[test]
fn three_d_secure_waits_for_the_customer_then_succeeds_or_fails() {
    let store = store();
    for (outcome, status) in [
        (AuthenticationOutcome::Succeed, "succeeded"),
        (AuthenticationOutcome::Fail, "requires_payment_method"),
    ] {
        let pi = create(
            &store,
            "amount=500&currency=usd&payment_method=pm_card_threeDSecure2Required&confirm=true",
        )
        .result
        .unwrap();
        assert_eq!(pi["status"], "requires_action");
        assert_eq!(pi["next_action"]["type"], "use_stripe_sdk");
        let id = pi["id"].as_str().unwrap();
        let done = store.authenticate(id, outcome, &request());
        assert_eq!(done.result.unwrap()["status"], status);
        // A second authentication has nothing to complete.
        assert!(store.authenticate(id, outcome, &request()).result.is_err());
    }
}

#[test]
fn off_session_payments_that_need_authentication_are_declined() {
    let store = store();
    let error = create(
        &store,
        "amount=500&currency=usd&payment_method=pm_card_authenticationRequired&confirm=true&off_session=true",
    )
    .result
    .unwrap_err();
    assert_eq!(error.body()["error"]["code"], "authentication_required");
}

#[test]
fn validation_errors_name_the_parameter_and_create_nothing() {
    let store = store();
    for (body, param) in [
        ("currency=usd", "amount"),
        ("amount=5", "currency"),
        ("amount=0&currency=usd", "amount"),
        (
            "amount=5&currency=usd&payment_method=pm_card_bogus",
            "payment_method",
        ),
        ("amount=5&currency=usd&colour=red", "colour"),
        ("amount=5&currency=usd&customer=cus_1", "customer"),
    ] {
        let error = create(&store, body).result.unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error.body()["error"]["param"], param, "{body}");
    }
    assert!(store.all_payment_intents().is_empty());
}

#[test]
fn refunds_are_bounded_by_what_was_charged() {
    let store = store();
    let pi = create(
        &store,
        "amount=1000&currency=usd&payment_method=pm_card_visa&confirm=true",
    )
    .result
    .unwrap();
    let id = pi["id"].as_str().unwrap();
    let refund = |body: String| store.create_refund(&Params::parse(body.as_bytes()), &request());
    let partial = refund(format!("payment_intent={id}&amount=300"))
        .result
        .unwrap();
    assert_eq!(partial["amount"], 300);
    let too_much = refund(format!("payment_intent={id}&amount=800"))
        .result
        .unwrap_err();
    assert_eq!(too_much.body()["error"]["code"], "amount_too_large");
    let rest = refund(format!("payment_intent={id}"));
    assert_eq!(event_types(&rest), ["charge.refunded", "refund.created"]);
    assert_eq!(rest.result.unwrap()["amount"], 700);
    let again = refund(format!("payment_intent={id}")).result.unwrap_err();
    assert_eq!(again.body()["error"]["code"], "charge_already_refunded");
    let charge = store
        .retrieve_charge(pi["latest_charge"].as_str().unwrap(), &Params::default())
        .unwrap();
    assert_eq!(charge["amount_refunded"], 1000);
    assert_eq!(charge["refunded"], true);
}

#[test]
fn cancel_only_before_success() {
    let store = store();
    let open = create(&store, "amount=100&currency=usd").result.unwrap();
    let canceled = store
        .cancel_payment_intent(
            open["id"].as_str().unwrap(),
            &Params::parse(b"cancellation_reason=abandoned"),
            &request(),
        )
        .result
        .unwrap();
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(canceled["cancellation_reason"], "abandoned");
    let paid = create(
        &store,
        "amount=100&currency=usd&payment_method=pm_card_visa&confirm=true",
    )
    .result
    .unwrap();
    let error = store
        .cancel_payment_intent(paid["id"].as_str().unwrap(), &Params::default(), &request())
        .result
        .unwrap_err();
    assert_eq!(
        error.body()["error"]["code"],
        "payment_intent_unexpected_state"
    );
}

#[test]
fn lists_page_newest_first() {
    let store = store();
    let ids: Vec<String> = (0..5)
        .map(|_| {
            create(&store, "amount=100&currency=usd").result.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let page = store
        .list_payment_intents(&Params::parse(b"limit=2"))
        .unwrap();
    assert_eq!(page["has_more"], true);
    assert_eq!(page["data"][0]["id"], ids[4].as_str());
    let next = store
        .list_payment_intents(&Params::parse(
            format!("limit=10&starting_after={}", ids[3]).as_bytes(),
        ))
        .unwrap();
    assert_eq!(next["data"].as_array().unwrap().len(), 3);
    assert_eq!(next["has_more"], false);
}
