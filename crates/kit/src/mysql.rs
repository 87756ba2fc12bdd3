//! Connecting a MySQL-backed service: create its database when missing (so a fresh MariaDB
//! needs no manual step), then apply its embedded sqlx migrations before serving.

use std::time::Duration;

use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};

#[derive(Debug, thiserror::Error)]
pub enum MysqlError {
    #[error("cannot reach MySQL: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// SQLSTATE of "Deadlock found when trying to get lock; try restarting transaction".
const DEADLOCK: &str = "40001";

/// InnoDB picked this transaction as a deadlock victim and rolled it back: running it again
/// from the start is the documented remedy (concurrent inserts into one index range, e.g.
/// checkouts of many users at once, can lock each other in a circle).
pub fn is_deadlock(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some(DEADLOCK))
}

pub async fn connect_and_migrate(
    url: &str,
    max_connections: u32,
    migrator: &Migrator,
) -> Result<MySqlPool, MysqlError> {
    if !sqlx::MySql::database_exists(url)
        .await
        .map_err(MysqlError::Connect)?
    {
        // Two replicas racing here is fine: the loser's "exists" error is ignored and both
        // go on to migrate, which sqlx serialises with a lock.
        if let Err(error) = sqlx::MySql::create_database(url).await {
            tracing::warn!(%error, "create database (another instance may have won)");
        }
    }
    let pool = MySqlPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(MysqlError::Connect)?;
    migrator.run(&pool).await?;
    Ok(pool)
}
