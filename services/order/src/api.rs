//! `shop.order.v1.OrderService`: placing, reading and cancelling orders. Placing an order
//! takes its lines, names and prices from Cart's answer to GetCart, which Cart prices from
//! Product in that same call (never from the client, who sends no price), stores it with its
//! `order.created` event in one transaction, and returns PENDING; the saga does the rest.

use shop_kit::auth::{self, Claims};
use shop_kit::client::TracedChannel;
use shop_kit::{Money, OrderId, ServiceError, paging};
use shop_proto::shop::cart::v1::{
    CartLine, GetCartRequest, cart_service_client::CartServiceClient,
};
use shop_proto::shop::order::v1::{self as pb, order_service_server::OrderService};
use sqlx::MySqlPool;
use tonic::{Request, Response, Status};

use crate::domain::{CancelOrder, CheckoutCart, Input, PlaceOrder, Status as OrderStatus};
use crate::events::{self, Saga, SagaError};
use crate::store::{self, LineRow, ListQuery, OrderRecord, OrderRow, StoreError};

const DEFAULT_PAGE_SIZE: u32 = 20;
const MAX_PAGE_SIZE: u32 = 100;

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::DuplicateKey => ServiceError::AlreadyExists {
                reason: "IDEMPOTENCY_KEY_REUSED",
                message: "this idempotency key was used for a different checkout".into(),
            },
            StoreError::Database(error) => ServiceError::internal(error),
        }
    }
}

impl From<SagaError> for ServiceError {
    fn from(error: SagaError) -> Self {
        match error {
            SagaError::NotFound(id) => ServiceError::not_found("order", id),
            SagaError::Refused(reason) => ServiceError::FailedPrecondition {
                reason,
                message: "a confirmed order can no longer be cancelled".into(),
            },
            SagaError::Mismatch { order_id, mismatch } => {
                ServiceError::internal(anyhow::anyhow!("order {order_id}: {mismatch}"))
            }
            SagaError::Store(error) => error.into(),
        }
    }
}

/// What one customer may hold at once: unpaid orders reserve stock, so without caps one
/// account can take a product off sale (docs/architecture.md §5, issue #10 "stock hoarding").
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Orders PENDING or AWAITING_PAYMENT per user; one more is `TOO_MANY_OPEN_ORDERS`.
    pub max_open_orders_per_user: i64,
    /// Units of one SKU in one order; more is `LINE_QUANTITY_LIMIT`.
    pub max_units_per_sku: i64,
}

#[derive(Clone)]
pub struct OrderApi {
    pool: MySqlPool,
    saga: Saga,
    carts: CartServiceClient<TracedChannel>,
    limits: Limits,
}

/// Refuses a cart holding more than `max` units of a SKU (summed, should a SKU appear on
/// several lines). FAILED_PRECONDITION rather than INVALID_ARGUMENT: the quantities are the
/// cart's, not a field of the request, so the fix is to change the cart and check out again.
fn check_units_per_sku(quantities: &[(String, i64)], max: i64) -> Result<(), ServiceError> {
    let mut per_sku: Vec<(&str, i64)> = Vec::new();
    for (sku, quantity) in quantities {
        match per_sku.iter_mut().find(|(known, _)| known == sku) {
            Some((_, units)) => *units = units.saturating_add(*quantity),
            None => per_sku.push((sku, *quantity)),
        }
    }
    let over: Vec<String> = per_sku
        .iter()
        .filter(|(_, units)| *units > max)
        .map(|(sku, units)| format!("{sku} ({units})"))
        .collect();
    if over.is_empty() {
        return Ok(());
    }
    Err(ServiceError::FailedPrecondition {
        reason: "LINE_QUANTITY_LIMIT",
        message: format!(
            "at most {max} units of a product per order; reduce the quantity of {}",
            over.join(", ")
        ),
    })
}

fn too_many_open_orders(max: i64) -> ServiceError {
    ServiceError::FailedPrecondition {
        reason: "TOO_MANY_OPEN_ORDERS",
        message: format!(
            "you have {max} unpaid orders; pay or cancel one of them before placing another"
        ),
    }
}

/// How many times a checkout's transaction runs when InnoDB keeps choosing it as a deadlock
/// victim (many users checking out at once insert into the same index ranges).
const PLACE_ATTEMPTS: u32 = 4;

/// What one run of the checkout transaction decided.
enum Placement {
    /// Inserted with its `order.created` event.
    Placed,
    /// A retry (same key) of an order that exists.
    Existing(Box<OrderRecord>),
    /// The user has this many unpaid orders, the cap or more.
    TooManyOpen(i64),
    /// An open order already holds one of the items.
    Held { order_id: String, sku: String },
}

pub fn to_proto(record: &OrderRecord) -> pb::Order {
    let o = &record.order;
    let money = |amount_minor| {
        Some(shop_proto::shop::common::v1::Money {
            amount_minor,
            currency: o.currency.clone(),
        })
    };
    pb::Order {
        id: o.id.clone(),
        user_id: o.user_id.clone(),
        status: o.status.to_proto() as i32,
        lines: record
            .lines
            .iter()
            .map(|line| pb::OrderLine {
                sku: line.sku.clone(),
                product_name: line.product_name.clone(),
                quantity: line.quantity,
                unit_price: money(line.unit_price_minor),
                line_total: money(line.unit_price_minor.saturating_mul(line.quantity)),
            })
            .collect(),
        total: money(o.total_minor),
        shipping_address: Some(shop_proto::shop::common::v1::Address {
            name: o.ship_name.clone(),
            line1: o.ship_line1.clone(),
            line2: o.ship_line2.clone(),
            city: o.ship_city.clone(),
            postal_code: o.ship_postal_code.clone(),
            country: o.ship_country.clone(),
        }),
        payment_method: o.payment_method.clone(),
        cancel_reason: o.cancel_reason.map_or(0, |r| r.to_proto() as i32),
        payment_client_secret: o.payment_client_secret.clone().unwrap_or_default(),
        // Only while the payment waits for the shopper: a spent page is no use to anyone.
        payment_redirect_url: o
            .payment_redirect_url
            .clone()
            .filter(|_| o.status == OrderStatus::AwaitingPayment)
            .unwrap_or_default(),
        created_at: Some(shop_kit::time::from_chrono(o.created_at)),
        updated_at: Some(shop_kit::time::from_chrono(o.updated_at)),
        version: o.version,
        cancel_note: o.cancel_note.clone(),
        payment_id: o.payment_id.clone().unwrap_or_default(),
    }
}

impl OrderApi {
    pub fn new(
        pool: MySqlPool,
        saga: Saga,
        carts: CartServiceClient<TracedChannel>,
        limits: Limits,
    ) -> Self {
        Self {
            pool,
            saga,
            carts,
            limits,
        }
    }

    /// One run of the checkout transaction: under the user's checkout lock (so a burst of
    /// parallel checkouts by one user is decided one after another), answer a retry with the
    /// order it placed, refuse past the open-order cap or items an open order holds, else
    /// insert the order and its `order.created` event.
    async fn try_place(
        &self,
        user_id: &str,
        key: &str,
        record: &OrderRecord,
    ) -> Result<Placement, StoreError> {
        let mut tx = self.pool.begin().await?;
        store::lock_user_checkouts(&mut tx, user_id).await?;
        // A retry of an order that exists (same key) is answered with it, even at the cap.
        if let Some(existing) = store::by_idempotency_key_in(&mut tx, user_id, key).await? {
            return Ok(Placement::Existing(Box::new(existing)));
        }
        let open = store::count_open(&mut tx, user_id).await?;
        if open >= self.limits.max_open_orders_per_user {
            return Ok(Placement::TooManyOpen(open));
        }
        // Units held by an order still waiting for its payment are not orderable twice: a
        // second order would hold the stock again and charge for it again.
        let skus: Vec<&str> = record.lines.iter().map(|line| line.sku.as_str()).collect();
        if let Some((order_id, sku)) = store::open_order_holding(&mut tx, user_id, &skus).await? {
            return Ok(Placement::Held { order_id, sku });
        }
        store::insert(&mut tx, record).await?;
        shop_bus::outbox::enqueue(&mut tx, &events::order_created(record)).await?;
        tx.commit().await?;
        Ok(Placement::Placed)
    }

    /// The order if the caller may see it; NOT_FOUND otherwise, so ids of other people's
    /// orders cannot be probed.
    async fn visible(&self, id: &OrderId, claims: &Claims) -> Result<OrderRecord, ServiceError> {
        match store::get(&self.pool, id.as_str()).await? {
            Some(record) if claims.may_act_for(&record.order.user_id) => Ok(record),
            _ => Err(ServiceError::not_found("order", id.as_str())),
        }
    }
}

/// The order's lines and total from the cart's priced lines. Cart priced them from Product
/// while answering this checkout's GetCart, so they are as current as a second Product read
/// would be, and they come from our own service, not the client. A line Cart marks archived
/// (or could not price: a SKU Product no longer knows) is refused, as is a cart whose prices
/// mix currencies; totals are recomputed here, with overflow checked.
fn order_lines(cart_lines: &[CartLine]) -> Result<(Vec<LineRow>, Money), ServiceError> {
    let mut lines = Vec::with_capacity(cart_lines.len());
    let mut totals = Vec::with_capacity(cart_lines.len());
    for (index, line) in cart_lines.iter().enumerate() {
        let unit_price = line
            .unit_price
            .as_ref()
            .filter(|_| !line.product_archived)
            .ok_or_else(|| ServiceError::FailedPrecondition {
                reason: "PRODUCT_UNAVAILABLE",
                message: format!("{} is no longer sold; remove it from the cart", line.sku),
            })?;
        let price = Money::from_proto(Some(unit_price)).map_err(ServiceError::internal)?;
        totals.push(
            price
                .checked_mul(line.quantity)
                .map_err(ServiceError::internal)?,
        );
        lines.push(LineRow {
            line_no: index as i32 + 1,
            sku: line.sku.clone(),
            product_name: line.product_name.clone(),
            quantity: line.quantity,
            unit_price_minor: price.amount_minor(),
        });
    }
    let currency = totals
        .first()
        .map(Money::currency)
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("no prices")))?;
    let total = Money::sum(currency, totals).map_err(|_| ServiceError::FailedPrecondition {
        reason: "MIXED_CURRENCIES",
        message: "the cart mixes currencies; check out one currency at a time".into(),
    })?;
    Ok((lines, total))
}

#[tonic::async_trait]
impl OrderService for OrderApi {
    #[tracing::instrument(skip_all, fields(user_id, order_id))]
    async fn place_order(
        &self,
        request: Request<pb::PlaceOrderRequest>,
    ) -> Result<Response<pb::PlaceOrderResponse>, Status> {
        let claims = auth::claims(&request)?.clone();
        tracing::Span::current().record("user_id", claims.sub.as_str());
        let authorization = request.metadata().get("authorization").cloned();
        let command = PlaceOrder::parse(request.get_ref(), &claims)?;
        let hash = command.request_hash();
        let PlaceOrder {
            idempotency_key: key,
            cart,
            address,
            payment_method,
        } = command;
        let key = key.into_string();

        let replay = |existing: OrderRecord| -> Result<Response<pb::PlaceOrderResponse>, Status> {
            if existing.order.request_hash == hash {
                Ok(Response::new(pb::PlaceOrderResponse {
                    order: Some(to_proto(&existing)),
                }))
            } else {
                Err(ServiceError::from(StoreError::DuplicateKey).into())
            }
        };
        if let Some(existing) = store::by_idempotency_key(&self.pool, &claims.sub, &key)
            .await
            .map_err(ServiceError::from)?
        {
            return replay(existing);
        }

        let mut cart_request = Request::new(GetCartRequest {
            cart: Some(cart.to_proto()),
        });
        if let Some(authorization) = authorization {
            cart_request
                .metadata_mut()
                .insert("authorization", authorization);
        }
        let cart_lines = self
            .carts
            .clone()
            .get_cart(cart_request)
            .await
            .map_err(|status| ServiceError::from_upstream("the cart", status))?
            .into_inner()
            .cart
            .map(|cart| cart.lines)
            .unwrap_or_default();
        if cart_lines.is_empty() {
            return Err(ServiceError::FailedPrecondition {
                reason: "CART_EMPTY",
                message: "the cart is empty".into(),
            }
            .into());
        }
        let quantities: Vec<(String, i64)> = cart_lines
            .iter()
            .map(|line| (line.sku.clone(), line.quantity))
            .collect();
        check_units_per_sku(&quantities, self.limits.max_units_per_sku)?;
        let (lines, total) = order_lines(&cart_lines)?;

        let now = store::now();
        let record = OrderRecord {
            order: OrderRow {
                id: OrderId::generate().into_string(),
                user_id: claims.sub.clone(),
                idempotency_key: key.clone(),
                request_hash: hash.clone(),
                status: OrderStatus::Pending,
                cancel_reason: None,
                cancel_note: String::new(),
                currency: total.currency().code().to_owned(),
                total_minor: total.amount_minor(),
                ship_name: address.name,
                ship_line1: address.line1,
                ship_line2: address.line2,
                ship_city: address.city,
                ship_postal_code: address.postal_code,
                ship_country: address.country,
                payment_method: payment_method.into_string(),
                payment_id: None,
                payment_client_secret: None,
                payment_redirect_url: None,
                cart_guest_id: match &cart {
                    CheckoutCart::Guest(id) => Some(id.as_str().to_owned()),
                    CheckoutCart::User(_) => None,
                },
                cart_user_id: match &cart {
                    CheckoutCart::User(id) => Some(id.clone()),
                    CheckoutCart::Guest(_) => None,
                },
                created_at: now,
                updated_at: now,
                version: 1,
            },
            lines,
        };
        tracing::Span::current().record("order_id", record.order.id.as_str());

        let mut attempt = 0;
        let placement = loop {
            attempt += 1;
            match self.try_place(&claims.sub, &key, &record).await {
                Err(StoreError::Database(error))
                    if attempt < PLACE_ATTEMPTS && shop_kit::mysql::is_deadlock(&error) =>
                {
                    tracing::info!(
                        attempt,
                        "checkout transaction chosen as deadlock victim; retrying"
                    );
                }
                other => break other.map_err(ServiceError::from)?,
            }
        };
        match placement {
            Placement::Placed => {}
            Placement::Existing(existing) => return replay(*existing),
            Placement::TooManyOpen(open) => {
                tracing::warn!(open, "checkout refused: too many open orders");
                return Err(too_many_open_orders(self.limits.max_open_orders_per_user).into());
            }
            Placement::Held { order_id, sku } => {
                tracing::info!(
                    held_by = %order_id,
                    %sku,
                    "checkout refused: items in an open order"
                );
                return Err(ServiceError::FailedPrecondition {
                    reason: "ITEMS_AWAITING_PAYMENT",
                    message: format!(
                        "order {order_id} already holds {sku} and is waiting for its payment; \
                         complete or cancel that order before ordering these items again"
                    ),
                }
                .into());
            }
        }
        self.saga.relay().notify();
        tracing::info!(total = %total, lines = record.lines.len(), "order placed");
        Ok(Response::new(pb::PlaceOrderResponse {
            order: Some(to_proto(&record)),
        }))
    }

    #[tracing::instrument(skip_all, fields(order_id = %request.get_ref().id))]
    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::GetOrderResponse>, Status> {
        let claims = auth::claims(&request)?.clone();
        let id = OrderId::parse(&request.get_ref().id)
            .map_err(|e| ServiceError::invalid("id", e.to_string()))?;
        let record = self.visible(&id, &claims).await?;
        Ok(Response::new(pb::GetOrderResponse {
            order: Some(to_proto(&record)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        let claims = auth::claims(&request)?.clone();
        let request = request.into_inner();
        let page_size = paging::page_size(request.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let user_filter = request.user_id.trim();
        let user_id = if claims.is_admin() {
            (!user_filter.is_empty()).then(|| user_filter.to_owned())
        } else if user_filter.is_empty() || user_filter == claims.sub {
            Some(claims.sub.clone())
        } else {
            return Err(ServiceError::PermissionDenied(
                "only admins may list other users' orders".into(),
            )
            .into());
        };
        let status = match pb::OrderStatus::try_from(request.status) {
            Ok(status) => OrderStatus::from_proto(status),
            Err(_) => return Err(ServiceError::invalid("status", "unknown order status").into()),
        };
        let before: Option<String> = paging::decode_token(&request.page_token)?;
        let mut records = store::list(
            &self.pool,
            ListQuery {
                user_id: user_id.as_deref(),
                status,
                before_id: before.as_deref(),
                limit: i64::from(page_size) + 1,
            },
        )
        .await
        .map_err(ServiceError::from)?;
        let next_page_token = if records.len() > page_size as usize {
            records.truncate(page_size as usize);
            records
                .last()
                .map(|last| paging::encode_token(&last.order.id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListOrdersResponse {
            orders: records.iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(order_id = %request.get_ref().id))]
    async fn cancel_order(
        &self,
        request: Request<pb::CancelOrderRequest>,
    ) -> Result<Response<pb::CancelOrderResponse>, Status> {
        let claims = auth::claims(&request)?.clone();
        let CancelOrder { id, note } = CancelOrder::parse(request.get_ref())?;
        let record = self.visible(&id, &claims).await?;
        let by_admin = claims.sub != record.order.user_id;
        let updated = self
            .saga
            .apply(
                &record.order.id,
                Input::CancelRequested { by_admin },
                None,
                |order| order.cancel_note = note,
            )
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(pb::CancelOrderResponse {
            order: Some(to_proto(&updated)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_of_a_sku_are_counted_across_lines() {
        let lines = |list: &[(&str, i64)]| -> Vec<(String, i64)> {
            list.iter().map(|(s, q)| ((*s).to_owned(), *q)).collect()
        };
        assert!(check_units_per_sku(&lines(&[("A", 10), ("B", 10)]), 10).is_ok());
        let Err(ServiceError::FailedPrecondition { reason, message }) =
            check_units_per_sku(&lines(&[("A", 6), ("B", 1), ("A", 5)]), 10)
        else {
            panic!("11 units of A passed");
        };
        assert_eq!(reason, "LINE_QUANTITY_LIMIT");
        assert!(
            message.contains("A (11)") && !message.contains("B ("),
            "{message}"
        );
    }

    fn line(sku: &str, quantity: i64, amount_minor: i64, currency: &str) -> CartLine {
        let money = |amount_minor| {
            Some(shop_proto::shop::common::v1::Money {
                amount_minor,
                currency: currency.into(),
            })
        };
        CartLine {
            sku: sku.into(),
            quantity,
            unit_price: money(amount_minor),
            line_total: money(amount_minor * quantity),
            product_name: format!("Product {sku}"),
            ..Default::default()
        }
    }

    fn refusal(result: Result<(Vec<LineRow>, Money), ServiceError>) -> &'static str {
        match result {
            Err(ServiceError::FailedPrecondition { reason, .. }) => reason,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn an_order_takes_the_carts_prices_and_sums_them_itself() {
        let mut b = line("B", 3, 250, "EUR");
        // Only the unit price counts: the total is the order's own arithmetic.
        b.line_total = None;
        let (lines, total) = order_lines(&[line("A", 2, 1299, "EUR"), b]).unwrap();
        assert_eq!(total.amount_minor(), 2 * 1299 + 3 * 250);
        assert_eq!(total.currency().code(), "EUR");
        let rows: Vec<_> = lines
            .iter()
            .map(|l| (l.line_no, l.sku.as_str(), l.quantity, l.unit_price_minor))
            .collect();
        assert_eq!(rows, [(1, "A", 2, 1299), (2, "B", 3, 250)]);
        assert_eq!(lines[1].product_name, "Product B");
    }

    #[test]
    fn archived_unpriced_and_mixed_currency_carts_are_refused() {
        let mut archived = line("B", 1, 250, "EUR");
        archived.product_archived = true;
        assert_eq!(
            refusal(order_lines(&[line("A", 1, 100, "EUR"), archived])),
            "PRODUCT_UNAVAILABLE"
        );
        let mut unknown = line("C", 1, 0, "EUR");
        unknown.unit_price = None;
        assert_eq!(refusal(order_lines(&[unknown])), "PRODUCT_UNAVAILABLE");
        assert_eq!(
            refusal(order_lines(&[
                line("A", 1, 100, "EUR"),
                line("B", 1, 100, "USD")
            ])),
            "MIXED_CURRENCIES"
        );
    }
}
