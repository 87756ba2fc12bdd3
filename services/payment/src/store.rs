//! MySQL persistence of the payments ledger. Persistence only: which row changes how is
//! decided in `domain` and applied by `events` inside transactions it owns.

use chrono::{DateTime, SubsecRound as _, Utc};
use sqlx::{MySqlConnection, MySqlPool};

use crate::domain::Status;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row changed since it was locked: impossible while the lock is held, so this is a
    /// bug or a manual edit; the caller retries.
    #[error("payment {0} changed concurrently")]
    Conflict(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: String,
    pub order_id: String,
    pub user_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub status: Status,
    pub provider: String,
    pub provider_payment_intent_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub refunded_minor: i64,
    pub payment_method: String,
    pub cancel_requested_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    /// The checkout's trace, for events emitted outside it (see the migration).
    pub traceparent: Option<String>,
}

const COLUMNS: &str = "id, order_id, user_id, amount_minor, currency, status, provider, \
    provider_payment_intent_id, failure_code, failure_message, refunded_minor, payment_method, \
    cancel_requested_at, created_at, updated_at, version, traceparent";

pub fn now() -> DateTime<Utc> {
    // DATETIME(6) keeps microseconds; what we return must equal what a read returns.
    Utc::now().trunc_subsecs(6)
}

/// Inserts `row` unless its order already has one (then keeps that one; the caller reads
/// whichever it is with [`lock_by_order`]). The duplicate case takes an exclusive lock on
/// the existing row rather than the shared lock a failed plain INSERT takes, so concurrent
/// deliveries queue up behind each other instead of deadlocking when they lock it next.
pub async fn insert_or_keep(tx: &mut MySqlConnection, row: &PaymentRow) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO payments ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE id = id"
    ))
    .bind(&row.id)
    .bind(&row.order_id)
    .bind(&row.user_id)
    .bind(row.amount_minor)
    .bind(&row.currency)
    .bind(row.status)
    .bind(&row.provider)
    .bind(&row.provider_payment_intent_id)
    .bind(&row.failure_code)
    .bind(&row.failure_message)
    .bind(row.refunded_minor)
    .bind(&row.payment_method)
    .bind(row.cancel_requested_at)
    .bind(row.created_at)
    .bind(row.updated_at)
    .bind(row.version)
    .bind(&row.traceparent)
    .execute(tx)
    .await?;
    Ok(())
}

/// The order's payment, locked until the transaction ends, so the charge path, webhooks
/// and cancellations change one payment one after another.
pub async fn lock_by_order(
    tx: &mut MySqlConnection,
    order_id: &str,
) -> Result<Option<PaymentRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE order_id = ? FOR UPDATE"
    ))
    .bind(order_id)
    .fetch_optional(tx)
    .await?)
}

/// The order whose payment recorded Stripe intent `intent_id`. A plain read: callers then
/// lock the row by order (locking a missing intent id would take a gap lock).
pub async fn order_of_intent(
    tx: &mut MySqlConnection,
    intent_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT order_id FROM payments WHERE provider_payment_intent_id = ?")
            .bind(intent_id)
            .fetch_optional(tx)
            .await?,
    )
}

/// Writes the mutable part of `row` back if it is still at the version that was read, and
/// bumps the version.
pub async fn save(tx: &mut MySqlConnection, row: &mut PaymentRow) -> Result<(), StoreError> {
    let updated_at = now();
    let result = sqlx::query(
        "UPDATE payments SET status = ?, provider_payment_intent_id = ?, failure_code = ?, \
         failure_message = ?, refunded_minor = ?, cancel_requested_at = ?, updated_at = ?, \
         version = version + 1 WHERE id = ? AND version = ?",
    )
    .bind(row.status)
    .bind(&row.provider_payment_intent_id)
    .bind(&row.failure_code)
    .bind(&row.failure_message)
    .bind(row.refunded_minor)
    .bind(row.cancel_requested_at)
    .bind(updated_at)
    .bind(&row.id)
    .bind(row.version)
    .execute(tx)
    .await?;
    if result.rows_affected() != 1 {
        return Err(StoreError::Conflict(row.id.clone()));
    }
    row.updated_at = updated_at;
    row.version += 1;
    Ok(())
}

pub async fn get(pool: &MySqlPool, id: &str) -> Result<Option<PaymentRow>, StoreError> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE id = ?"))
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

pub async fn get_by_order(
    pool: &MySqlPool,
    order_id: &str,
) -> Result<Option<PaymentRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE order_id = ?"
    ))
    .bind(order_id)
    .fetch_optional(pool)
    .await?)
}

/// PENDING payments untouched since `updated_before` and created after `created_after`,
/// oldest first. Those cancelled before an intent was known are left out: only their
/// charge path (or Stripe's webhook) can tell whether a charge was ever made.
pub async fn stale_pending(
    pool: &MySqlPool,
    updated_before: DateTime<Utc>,
    created_after: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<PaymentRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE status = 'PENDING' AND updated_at < ? \
         AND created_at > ? \
         AND (cancel_requested_at IS NULL OR provider_payment_intent_id IS NOT NULL) \
         ORDER BY updated_at LIMIT ?"
    ))
    .bind(updated_before)
    .bind(created_after)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub struct ListQuery<'a> {
    pub status: Option<Status>,
    pub order_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    /// Ids are UUIDv7, so id order is creation order: newest first means `id < before_id`.
    pub before_id: Option<&'a str>,
    pub limit: i64,
}

pub async fn list(pool: &MySqlPool, query: ListQuery<'_>) -> Result<Vec<PaymentRow>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM payments WHERE 1 = 1");
    let filters = [
        (query.status.map(Status::as_str), " AND status = ?"),
        (query.order_id, " AND order_id = ?"),
        (query.user_id, " AND user_id = ?"),
        (query.before_id, " AND id < ?"),
    ];
    for (value, clause) in &filters {
        if value.is_some() {
            sql.push_str(clause);
        }
    }
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    let mut statement = sqlx::query_as::<_, PaymentRow>(&sql);
    for value in filters.iter().filter_map(|(value, _)| *value) {
        statement = statement.bind(value);
    }
    Ok(statement.bind(query.limit).fetch_all(pool).await?)
}
