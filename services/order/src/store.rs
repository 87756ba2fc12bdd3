//! MySQL persistence for orders and their lines. Persistence only; state changes are
//! decided in `domain` and applied by `api` and `events` inside transactions they own.

use chrono::{DateTime, SubsecRound as _, Utc};
use sqlx::{MySqlConnection, MySqlPool};

use crate::domain::{CancelReason, Status};

const ER_DUP_ENTRY: &str = "23000";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("an order with this idempotency key exists")]
    DuplicateKey,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub id: String,
    pub user_id: String,
    pub idempotency_key: String,
    pub request_hash: String,
    pub status: Status,
    pub cancel_reason: Option<CancelReason>,
    pub cancel_note: String,
    pub currency: String,
    pub total_minor: i64,
    pub ship_name: String,
    pub ship_line1: String,
    pub ship_line2: String,
    pub ship_city: String,
    pub ship_postal_code: String,
    pub ship_country: String,
    pub payment_method: String,
    pub payment_id: Option<String>,
    pub payment_client_secret: Option<String>,
    pub payment_redirect_url: Option<String>,
    pub cart_guest_id: Option<String>,
    pub cart_user_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LineRow {
    pub line_no: i32,
    pub sku: String,
    pub product_name: String,
    pub quantity: i64,
    pub unit_price_minor: i64,
}

/// An order with its lines, as the API returns it.
#[derive(Debug, Clone)]
pub struct OrderRecord {
    pub order: OrderRow,
    pub lines: Vec<LineRow>,
}

const COLUMNS: &str = "id, user_id, idempotency_key, request_hash, status, cancel_reason, \
    cancel_note, currency, total_minor, ship_name, ship_line1, ship_line2, ship_city, \
    ship_postal_code, ship_country, payment_method, payment_id, payment_client_secret, \
    payment_redirect_url, cart_guest_id, cart_user_id, created_at, updated_at, version";

pub fn now() -> DateTime<Utc> {
    // DATETIME(6) keeps microseconds; what we return must equal what a read returns.
    Utc::now().trunc_subsecs(6)
}

pub async fn insert(tx: &mut MySqlConnection, record: &OrderRecord) -> Result<(), StoreError> {
    let o = &record.order;
    sqlx::query(&format!(
        "INSERT INTO orders ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(&o.id)
    .bind(&o.user_id)
    .bind(&o.idempotency_key)
    .bind(&o.request_hash)
    .bind(o.status)
    .bind(o.cancel_reason)
    .bind(&o.cancel_note)
    .bind(&o.currency)
    .bind(o.total_minor)
    .bind(&o.ship_name)
    .bind(&o.ship_line1)
    .bind(&o.ship_line2)
    .bind(&o.ship_city)
    .bind(&o.ship_postal_code)
    .bind(&o.ship_country)
    .bind(&o.payment_method)
    .bind(&o.payment_id)
    .bind(&o.payment_client_secret)
    .bind(&o.payment_redirect_url)
    .bind(&o.cart_guest_id)
    .bind(&o.cart_user_id)
    .bind(o.created_at)
    .bind(o.updated_at)
    .bind(o.version)
    .execute(&mut *tx)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(ER_DUP_ENTRY) => {
            StoreError::DuplicateKey
        }
        _ => StoreError::Database(error),
    })?;
    for line in &record.lines {
        sqlx::query(
            "INSERT INTO order_lines (order_id, line_no, sku, product_name, quantity, unit_price_minor) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&o.id)
        .bind(line.line_no)
        .bind(&line.sku)
        .bind(&line.product_name)
        .bind(line.quantity)
        .bind(line.unit_price_minor)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

async fn lines(conn: &mut MySqlConnection, order_id: &str) -> Result<Vec<LineRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT line_no, sku, product_name, quantity, unit_price_minor FROM order_lines \
         WHERE order_id = ? ORDER BY line_no",
    )
    .bind(order_id)
    .fetch_all(conn)
    .await?)
}

async fn with_lines(
    conn: &mut MySqlConnection,
    order: Option<OrderRow>,
) -> Result<Option<OrderRecord>, StoreError> {
    match order {
        Some(order) => {
            let lines = lines(conn, &order.id).await?;
            Ok(Some(OrderRecord { order, lines }))
        }
        None => Ok(None),
    }
}

pub async fn get(pool: &MySqlPool, id: &str) -> Result<Option<OrderRecord>, StoreError> {
    let mut conn = pool.acquire().await?;
    let order = sqlx::query_as(&format!("SELECT {COLUMNS} FROM orders WHERE id = ?"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    with_lines(&mut conn, order).await
}

pub async fn by_idempotency_key(
    pool: &MySqlPool,
    user_id: &str,
    key: &str,
) -> Result<Option<OrderRecord>, StoreError> {
    let mut conn = pool.acquire().await?;
    let order = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM orders WHERE user_id = ? AND idempotency_key = ?"
    ))
    .bind(user_id)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    with_lines(&mut conn, order).await
}

/// Serialises `user_id`'s checkouts until the transaction ends (the row is created on the
/// first one), so a count of their orders stays true until the new order is inserted.
pub async fn lock_user_checkouts(
    tx: &mut MySqlConnection,
    user_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO checkout_locks (user_id, locked_at) VALUES (?, ?) \
         ON DUPLICATE KEY UPDATE locked_at = VALUES(locked_at)",
    )
    .bind(user_id)
    .bind(now())
    .execute(tx)
    .await?;
    Ok(())
}

/// The user's orders not yet paid nor cancelled (PENDING or AWAITING_PAYMENT).
pub async fn count_open(tx: &mut MySqlConnection, user_id: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM orders WHERE user_id = ? \
         AND status IN ('PENDING', 'AWAITING_PAYMENT')",
    )
    .bind(user_id)
    .fetch_one(tx)
    .await?)
}

/// One of the user's open (PENDING or AWAITING_PAYMENT) orders that holds any of `skus`,
/// with the first such SKU, oldest order first.
pub async fn open_order_holding(
    tx: &mut MySqlConnection,
    user_id: &str,
    skus: &[&str],
) -> Result<Option<(String, String)>, StoreError> {
    if skus.is_empty() {
        return Ok(None);
    }
    let mut query = sqlx::QueryBuilder::new(
        "SELECT o.id, l.sku FROM orders o JOIN order_lines l ON l.order_id = o.id \
         WHERE o.user_id = ",
    );
    query
        .push_bind(user_id)
        .push(" AND o.status IN ('PENDING', 'AWAITING_PAYMENT') AND l.sku IN (");
    let mut separated = query.separated(", ");
    for sku in skus {
        separated.push_bind(*sku);
    }
    query.push(") ORDER BY o.created_at, l.line_no LIMIT 1");
    Ok(query
        .build_query_as::<(String, String)>()
        .fetch_optional(tx)
        .await?)
}

/// [`by_idempotency_key`] inside a transaction (after [`lock_user_checkouts`], it sees
/// what a concurrent checkout with the same key committed).
pub async fn by_idempotency_key_in(
    tx: &mut MySqlConnection,
    user_id: &str,
    key: &str,
) -> Result<Option<OrderRecord>, StoreError> {
    let order = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM orders WHERE user_id = ? AND idempotency_key = ?"
    ))
    .bind(user_id)
    .bind(key)
    .fetch_optional(&mut *tx)
    .await?;
    with_lines(tx, order).await
}

/// Reads the order and locks it until the transaction ends, so concurrent events and RPCs
/// on one order apply one after another.
pub async fn lock(tx: &mut MySqlConnection, id: &str) -> Result<Option<OrderRecord>, StoreError> {
    let order = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM orders WHERE id = ? FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    with_lines(tx, order).await
}

/// Writes the mutable part of `order` back and bumps its version.
pub async fn save_state(tx: &mut MySqlConnection, order: &mut OrderRow) -> Result<(), StoreError> {
    order.updated_at = now();
    order.version += 1;
    sqlx::query(
        "UPDATE orders SET status = ?, cancel_reason = ?, cancel_note = ?, payment_id = ?, \
         payment_client_secret = ?, payment_redirect_url = ?, updated_at = ?, version = ? \
         WHERE id = ?",
    )
    .bind(order.status)
    .bind(order.cancel_reason)
    .bind(&order.cancel_note)
    .bind(&order.payment_id)
    .bind(&order.payment_client_secret)
    .bind(&order.payment_redirect_url)
    .bind(order.updated_at)
    .bind(order.version)
    .bind(&order.id)
    .execute(tx)
    .await?;
    Ok(())
}

pub struct ListQuery<'a> {
    pub user_id: Option<&'a str>,
    pub status: Option<Status>,
    /// Ids are UUIDv7, so id order is creation order: newest first means `id < after`.
    pub before_id: Option<&'a str>,
    pub limit: i64,
}

pub async fn list(pool: &MySqlPool, query: ListQuery<'_>) -> Result<Vec<OrderRecord>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM orders WHERE 1 = 1");
    if query.user_id.is_some() {
        sql.push_str(" AND user_id = ?");
    }
    if query.status.is_some() {
        sql.push_str(" AND status = ?");
    }
    if query.before_id.is_some() {
        sql.push_str(" AND id < ?");
    }
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    let mut statement = sqlx::query_as::<_, OrderRow>(&sql);
    if let Some(user_id) = query.user_id {
        statement = statement.bind(user_id);
    }
    if let Some(status) = query.status {
        statement = statement.bind(status);
    }
    if let Some(before_id) = query.before_id {
        statement = statement.bind(before_id);
    }
    let mut conn = pool.acquire().await?;
    let orders = statement.bind(query.limit).fetch_all(&mut *conn).await?;
    let mut records = Vec::with_capacity(orders.len());
    for order in orders {
        let lines = lines(&mut conn, &order.id).await?;
        records.push(OrderRecord { order, lines });
    }
    Ok(records)
}

/// Orders still PENDING or AWAITING_PAYMENT whose last change is older than `before`: the
/// candidates of the unpaid-order timeout.
pub async fn stale_unfinished(
    pool: &MySqlPool,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM orders WHERE status IN ('PENDING', 'AWAITING_PAYMENT') \
         AND updated_at < ? ORDER BY updated_at LIMIT ?",
    )
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

    fn record(id: &str) -> OrderRecord {
        let now = now();
        OrderRecord {
            order: OrderRow {
                id: id.into(),
                user_id: "u1".into(),
                idempotency_key: "k1".into(),
                request_hash: "h".into(),
                status: Status::Pending,
                cancel_reason: None,
                cancel_note: String::new(),
                currency: "EUR".into(),
                total_minor: 100,
                ship_name: "Ann".into(),
                ship_line1: "1 Main St".into(),
                ship_line2: String::new(),
                ship_city: "Berlin".into(),
                ship_postal_code: "10115".into(),
                ship_country: "DE".into(),
                payment_method: "pm_card_visa".into(),
                payment_id: None,
                payment_client_secret: None,
                payment_redirect_url: None,
                cart_guest_id: None,
                cart_user_id: Some("u1".into()),
                created_at: now,
                updated_at: now,
                version: 1,
            },
            lines: vec![],
        }
    }

    #[tokio::test]
    async fn statuses_are_stored_as_their_text_and_unknown_text_is_an_error() {
        let db = shop_testkit::TestMysql::create()
            .await
            .expect("test database");
        MIGRATOR.run(&db.pool).await.expect("migrations");
        let id = shop_kit::OrderId::generate();
        let mut tx = db.pool.begin().await.expect("begin");
        let mut placed = record(id.as_str());
        insert(&mut tx, &placed).await.expect("insert");
        placed.order.status = Status::Cancelled;
        placed.order.cancel_reason = Some(CancelReason::ByAdmin);
        save_state(&mut tx, &mut placed.order).await.expect("save");
        tx.commit().await.expect("commit");

        let stored: (String, Option<String>) =
            sqlx::query_as("SELECT status, cancel_reason FROM orders WHERE id = ?")
                .bind(id.as_str())
                .fetch_one(&db.pool)
                .await
                .expect("raw read");
        assert_eq!(
            stored,
            (
                "CANCELLED".to_owned(),
                Some("CANCELLED_BY_ADMIN".to_owned())
            )
        );
        let read = get(&db.pool, id.as_str())
            .await
            .expect("read")
            .expect("found");
        assert_eq!(read.order.status, Status::Cancelled);
        assert_eq!(read.order.cancel_reason, Some(CancelReason::ByAdmin));

        // Not ours to guess: an order in a state this build does not know is not PENDING.
        sqlx::query("UPDATE orders SET status = 'SHIPPED' WHERE id = ?")
            .bind(id.as_str())
            .execute(&db.pool)
            .await
            .expect("raw update");
        let error = get(&db.pool, id.as_str())
            .await
            .expect_err("unknown status read");
        assert!(
            format!("{error}").contains("unknown Status \"SHIPPED\""),
            "{error}"
        );
        let status: tonic::Status = shop_kit::ServiceError::from(error).into();
        assert_eq!(status.code(), tonic::Code::Internal);
    }
}
