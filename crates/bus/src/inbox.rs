//! Deduplication of deliveries for MySQL consumers: record the event id in the same
//! transaction as the effect; a redelivery finds it and does nothing.

use sqlx::MySqlConnection;

/// Created by [`ensure_schema`]; one row per (consumer, event) ever processed.
pub const INBOX_TABLE: &str = "CREATE TABLE IF NOT EXISTS bus_inbox (
    consumer     VARCHAR(100) NOT NULL,
    event_id     VARCHAR(64)  NOT NULL,
    processed_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (consumer, event_id)
) ENGINE = InnoDB";

pub async fn ensure_schema(pool: &sqlx::MySqlPool) -> Result<(), sqlx::Error> {
    sqlx::query(INBOX_TABLE).execute(pool).await?;
    Ok(())
}

/// True the first time `consumer` sees `event_id` in a committed transaction. Call it inside
/// the effect's transaction: a concurrent duplicate blocks on the row until the first commits
/// and then sees `false`.
pub async fn first_delivery(
    tx: &mut MySqlConnection,
    consumer: &str,
    event_id: &str,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "INSERT IGNORE INTO bus_inbox (consumer, event_id, processed_at) VALUES (?, ?, ?)",
    )
    .bind(consumer)
    .bind(event_id)
    .bind(chrono::Utc::now())
    .execute(tx)
    .await?;
    Ok(result.rows_affected() == 1)
}
