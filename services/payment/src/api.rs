//! `shop.payment.v1.PaymentService`: the admins' read-only view of the ledger. Payments are
//! created and moved only by the saga and Stripe's webhooks, never over this API, so no RPC
//! can charge or refund anything. Every RPC requires the admin role.

use serde::{Deserialize, Serialize};
use shop_kit::{ServiceError, auth, paging};
use shop_proto::shop::common::v1::Money;
use shop_proto::shop::payment::v1::{self as pb, payment_service_server::PaymentService};
use sqlx::MySqlPool;
use tonic::{Request, Response, Status};

use crate::domain::{GetPayment, ListPayments};
use crate::store::{self, ListQuery, PaymentRow, StoreError};

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        ServiceError::internal(error)
    }
}

pub fn to_proto(row: &PaymentRow) -> pb::Payment {
    let money = |amount_minor| {
        Some(Money {
            amount_minor,
            currency: row.currency.clone(),
        })
    };
    pb::Payment {
        id: row.id.clone(),
        order_id: row.order_id.clone(),
        user_id: row.user_id.clone(),
        amount: money(row.amount_minor),
        status: row.status.to_proto() as i32,
        provider: row.provider.clone(),
        provider_payment_intent_id: row.provider_payment_intent_id.clone().unwrap_or_default(),
        failure_code: row.failure_code.clone().unwrap_or_default(),
        failure_message: row.failure_message.clone().unwrap_or_default(),
        refunded_amount: money(row.refunded_minor),
        created_at: Some(shop_kit::time::from_chrono(row.created_at)),
        updated_at: Some(shop_kit::time::from_chrono(row.updated_at)),
        payment_method: row.payment_method.clone(),
    }
}

/// A ListPayments page token: where the last page ended and the filters it was for, so a
/// token cannot silently be reused with other filters.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    before: String,
    filters: String,
}

#[derive(Clone)]
pub struct PaymentApi {
    pool: MySqlPool,
}

impl PaymentApi {
    pub fn new(pool: MySqlPool) -> Self {
        Self { pool }
    }
}

#[tonic::async_trait]
impl PaymentService for PaymentApi {
    #[tracing::instrument(skip_all, fields(payment_id, order_id))]
    async fn get_payment(
        &self,
        request: Request<pb::GetPaymentRequest>,
    ) -> Result<Response<pb::GetPaymentResponse>, Status> {
        auth::require_admin(&request)?;
        let span = tracing::Span::current();
        let row = match GetPayment::parse(request.get_ref())? {
            GetPayment::Id(id) => {
                span.record("payment_id", id.as_str());
                store::get(&self.pool, id.as_str())
                    .await
                    .map_err(ServiceError::from)?
                    .ok_or_else(|| ServiceError::not_found("payment", id.into_string()))?
            }
            GetPayment::Order(order_id) => {
                span.record("order_id", order_id.as_str());
                store::get_by_order(&self.pool, order_id.as_str())
                    .await
                    .map_err(ServiceError::from)?
                    .ok_or_else(|| {
                        ServiceError::not_found("payment of order", order_id.into_string())
                    })?
            }
        };
        Ok(Response::new(pb::GetPaymentResponse {
            payment: Some(to_proto(&row)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_payments(
        &self,
        request: Request<pb::ListPaymentsRequest>,
    ) -> Result<Response<pb::ListPaymentsResponse>, Status> {
        auth::require_admin(&request)?;
        let request = request.into_inner();
        let query = ListPayments::parse(&request, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let filters = query.filters();
        let page_size = query.page_size;
        let before = match paging::decode_token::<Cursor>(&request.page_token)? {
            Some(cursor) if cursor.filters == filters => Some(cursor.before),
            Some(_) => {
                return Err(ServiceError::invalid(
                    "page_token",
                    "was issued for other filters; start again without a token",
                )
                .into());
            }
            None => None,
        };
        let mut rows = store::list(
            &self.pool,
            ListQuery {
                status: query.status,
                order_id: query.order_id.as_ref().map(|id| id.as_str()),
                user_id: query.user_id.as_deref(),
                before_id: before.as_deref(),
                limit: i64::from(page_size) + 1,
            },
        )
        .await
        .map_err(ServiceError::from)?;
        let next_page_token = if rows.len() > page_size as usize {
            rows.truncate(page_size as usize);
            rows.last()
                .map(|last| {
                    paging::encode_token(&Cursor {
                        before: last.id.clone(),
                        filters: filters.clone(),
                    })
                })
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListPaymentsResponse {
            payments: rows.iter().map(to_proto).collect(),
            next_page_token,
        }))
    }
}
