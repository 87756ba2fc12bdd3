//! The admin gRPC view of the ledger: GetPayment and ListPayments, with their auth and
//! argument errors.

use shop_kit::auth::Role;
use shop_proto::shop::payment::v1::{
    self as pb, GetPaymentRequest, ListPaymentsRequest, get_payment_request::Key,
};
use shop_testkit::{token_for, with_token};
use tonic::Code;

use crate::support::{DECLINED, Harness, VISA, new_order_id, payment_requested};

fn by_order(order_id: &str) -> GetPaymentRequest {
    GetPaymentRequest {
        key: Some(Key::OrderId(order_id.to_owned())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_read_the_ledger_and_nobody_else_does() {
    let h = Harness::start().await;
    let orders = [
        (new_order_id(), "user-a", VISA),
        (new_order_id(), "user-b", VISA),
        (new_order_id(), "user-a", DECLINED),
    ];
    // One after another, so creation order (and so list order) is known.
    for (order_id, user, method) in &orders {
        h.publish(&payment_requested(order_id, user, 1000, method))
            .await;
        let status = if *method == VISA {
            "SUCCEEDED"
        } else {
            "FAILED"
        };
        h.wait_for_status(order_id, status).await;
    }
    let mut client = h.admin().await;
    let admin = Harness::admin_token();

    let payment = client
        .get_payment(with_token(by_order(&orders[0].0), &admin))
        .await
        .expect("get by order")
        .into_inner()
        .payment
        .expect("payment");
    assert_eq!(payment.order_id, orders[0].0);
    assert_eq!(payment.user_id, "user-a");
    assert_eq!(payment.status, pb::PaymentStatus::Succeeded as i32);
    assert_eq!(payment.provider, "stripe");
    assert!(payment.provider_payment_intent_id.starts_with("pi_"));
    assert_eq!(payment.amount.as_ref().map(|m| m.amount_minor), Some(1000));
    assert_eq!(
        payment
            .refunded_amount
            .as_ref()
            .map(|m| (m.amount_minor, m.currency.as_str())),
        Some((0, "EUR"))
    );
    assert_eq!(payment.payment_method, VISA);
    let by_id = client
        .get_payment(with_token(
            GetPaymentRequest {
                key: Some(Key::Id(payment.id.clone())),
            },
            &admin,
        ))
        .await
        .expect("get by id")
        .into_inner()
        .payment;
    assert_eq!(by_id.as_ref(), Some(&payment));
    let failed = client
        .get_payment(with_token(by_order(&orders[2].0), &admin))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(failed.status, pb::PaymentStatus::Failed as i32);
    assert_eq!(failed.failure_code, "card_declined");
    assert!(!failed.failure_message.is_empty());

    // Errors.
    let get = |request: tonic::Request<GetPaymentRequest>| {
        let mut client = client.clone();
        async move {
            match client.get_payment(request).await {
                Ok(_) => Code::Ok,
                Err(status) => status.code(),
            }
        }
    };
    assert_eq!(
        get(with_token(by_order(&new_order_id()), &admin)).await,
        Code::NotFound
    );
    assert_eq!(
        get(with_token(by_order("order-1"), &admin)).await,
        Code::InvalidArgument
    );
    assert_eq!(
        get(with_token(GetPaymentRequest { key: None }, &admin)).await,
        Code::InvalidArgument
    );
    let customer = token_for("user-a", Role::Customer);
    assert_eq!(
        get(with_token(by_order(&orders[0].0), &customer)).await,
        Code::PermissionDenied,
        "not even for the customer's own payment"
    );
    assert_eq!(
        get(tonic::Request::new(by_order(&orders[0].0))).await,
        Code::Unauthenticated
    );
    assert_eq!(
        get(with_token(by_order(&orders[0].0), "not-a-token")).await,
        Code::Unauthenticated
    );

    // Listing: newest first, keyset pages, filters.
    let list = |request: ListPaymentsRequest, token: &str| {
        let mut client = client.clone();
        let request = with_token(request, token);
        async move { client.list_payments(request).await.map(|r| r.into_inner()) }
    };
    let first = list(
        ListPaymentsRequest {
            page_size: 2,
            ..Default::default()
        },
        &admin,
    )
    .await
    .unwrap();
    let order_ids = |page: &pb::ListPaymentsResponse| -> Vec<String> {
        page.payments.iter().map(|p| p.order_id.clone()).collect()
    };
    assert_eq!(
        order_ids(&first),
        [orders[2].0.clone(), orders[1].0.clone()]
    );
    assert!(!first.next_page_token.is_empty());
    let second = list(
        ListPaymentsRequest {
            page_size: 2,
            page_token: first.next_page_token.clone(),
            ..Default::default()
        },
        &admin,
    )
    .await
    .unwrap();
    assert_eq!(order_ids(&second), [orders[0].0.clone()]);
    assert!(second.next_page_token.is_empty());

    let of_user_a = list(
        ListPaymentsRequest {
            user_id: "user-a".into(),
            ..Default::default()
        },
        &admin,
    )
    .await
    .unwrap();
    assert_eq!(
        order_ids(&of_user_a),
        [orders[2].0.clone(), orders[0].0.clone()]
    );
    let failed_only = list(
        ListPaymentsRequest {
            status: pb::PaymentStatus::Failed as i32,
            ..Default::default()
        },
        &admin,
    )
    .await
    .unwrap();
    assert_eq!(order_ids(&failed_only), [orders[2].0.clone()]);
    let one_order = list(
        ListPaymentsRequest {
            order_id: orders[1].0.clone(),
            user_id: "user-b".into(),
            ..Default::default()
        },
        &admin,
    )
    .await
    .unwrap();
    assert_eq!(order_ids(&one_order), [orders[1].0.clone()]);

    let refused = |request: ListPaymentsRequest, token: String| {
        let list = &list;
        async move { list(request, &token).await.expect_err("refused").code() }
    };
    assert_eq!(
        refused(
            ListPaymentsRequest {
                page_size: 2,
                page_token: first.next_page_token.clone(),
                status: pb::PaymentStatus::Failed as i32,
                ..Default::default()
            },
            admin.clone()
        )
        .await,
        Code::InvalidArgument,
        "a token is only valid with its own filters"
    );
    for bad in [
        ListPaymentsRequest {
            page_token: "garbage".into(),
            ..Default::default()
        },
        ListPaymentsRequest {
            page_size: -1,
            ..Default::default()
        },
        ListPaymentsRequest {
            status: 99,
            ..Default::default()
        },
        ListPaymentsRequest {
            order_id: "nope".into(),
            ..Default::default()
        },
    ] {
        assert_eq!(
            refused(bad.clone(), admin.clone()).await,
            Code::InvalidArgument,
            "{bad:?}"
        );
    }
    assert_eq!(
        refused(ListPaymentsRequest::default(), customer.clone()).await,
        Code::PermissionDenied
    );
}
