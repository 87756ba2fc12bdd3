//! Refunds, full and partial, bounded by what was charged.

use stripe_core::charge::RetrieveCharge;
use stripe_core::refund::{CreateRefund, RetrieveRefund};
use stripe_shared::ApiErrorsCode;

use crate::support::{pay, start_plain, stripe_error};

#[tokio::test]
async fn a_full_refund_returns_everything() {
    let (fake, client) = start_plain().await;
    let pi = pay(&client, 1099, "pm_card_visa").await.unwrap();

    let refund = CreateRefund::new()
        .payment_intent(pi.id.as_str())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(refund.amount, 1099);
    assert_eq!(refund.status.as_deref(), Some("succeeded"));
    assert_eq!(refund.payment_intent.as_ref().unwrap().id(), &pi.id);

    let again = RetrieveRefund::new(refund.id.clone())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(again.id, refund.id);
    assert_eq!(again.amount, 1099);

    let charge = RetrieveCharge::new(pi.latest_charge.unwrap().id().clone())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(charge.amount_refunded, 1099);
    assert!(charge.refunded);
    assert_eq!(fake.refunds().len(), 1);
}

#[tokio::test]
async fn partial_refunds_add_up_to_the_charge() {
    let (_fake, client) = start_plain().await;
    let pi = pay(&client, 1000, "pm_card_visa").await.unwrap();
    let refund = |amount: Option<i64>| {
        let mut request = CreateRefund::new().payment_intent(pi.id.as_str());
        if let Some(amount) = amount {
            request = request.amount(amount);
        }
        request
    };

    let first = refund(Some(300)).send(&client).await.unwrap();
    assert_eq!(first.amount, 300);
    let (error, status) = stripe_error(refund(Some(701)).send(&client).await);
    assert_eq!(status, 400);
    assert_eq!(error.code, Some(ApiErrorsCode::AmountTooLarge));
    let rest = refund(None).send(&client).await.unwrap();
    assert_eq!(rest.amount, 700, "no amount refunds what is left");
    let (error, _) = stripe_error(refund(Some(1)).send(&client).await);
    assert_eq!(error.code, Some(ApiErrorsCode::ChargeAlreadyRefunded));

    let charge = RetrieveCharge::new(pi.latest_charge.unwrap().id().clone())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(charge.amount_refunded, 1000);
}

#[tokio::test]
async fn an_unpaid_intent_has_nothing_to_refund() {
    let (_fake, client) = start_plain().await;
    let (error, _) = stripe_error(pay(&client, 1000, "pm_card_chargeDeclined").await);
    let pi = error.payment_intent.unwrap();
    let (error, status) = stripe_error(
        CreateRefund::new()
            .payment_intent(pi.id.as_str())
            .send(&client)
            .await,
    );
    assert_eq!(status, 400);
    assert_eq!(error.param.as_deref(), Some("payment_intent"));

    let (error, status) = stripe_error(RetrieveRefund::new("re_missing").send(&client).await);
    assert_eq!(status, 404);
    assert_eq!(error.code, Some(ApiErrorsCode::ResourceMissing));
}
