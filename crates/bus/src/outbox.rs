//! The transactional outbox for MySQL services.
//!
//! A service writes its state change and the event in one transaction ([`enqueue`]); the
//! [`Relay`] publishes unsent rows in id order and marks them sent. A crash between publish
//! and mark re-publishes (consumers dedupe by event id); nothing committed is ever lost, and
//! nothing rolled back is ever published. Replicas lock the head of the outbox while
//! relaying, so events of one service leave in commit order.

use std::sync::Arc;
use std::time::Duration;

use prometheus::IntGauge;
use shop_proto::shop::events::v1::Envelope;
use sqlx::{MySqlConnection, MySqlPool};
use tokio::sync::Notify;

use crate::publisher::{Outgoing, Publisher};
use crate::{BusError, envelope, trace};

pub const OUTBOX_TABLE: &str = "CREATE TABLE IF NOT EXISTS bus_outbox (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_id     VARCHAR(64)  NOT NULL,
    routing_key  VARCHAR(100) NOT NULL,
    payload      LONGBLOB     NOT NULL,
    traceparent  VARCHAR(128) NULL,
    created_at   DATETIME(6)  NOT NULL,
    published_at DATETIME(6)  NULL,
    UNIQUE KEY bus_outbox_event (event_id),
    KEY bus_outbox_unpublished (published_at, id)
) ENGINE = InnoDB";

/// Rows relayed per transaction.
const BATCH: i64 = 100;
/// How often the relay looks even when nobody notified it (another replica's writes, or a
/// notification lost in a crash).
const POLL: Duration = Duration::from_millis(500);
/// Published rows are kept this long for debugging, then deleted.
const RETENTION_HOURS: i64 = 24;

pub async fn ensure_schema(pool: &MySqlPool) -> Result<(), sqlx::Error> {
    sqlx::query(OUTBOX_TABLE).execute(pool).await?;
    Ok(())
}

/// Adds `envelope` to the outbox inside the caller's transaction, with the current trace
/// context so the eventual publish joins the request's trace.
pub async fn enqueue(tx: &mut MySqlConnection, envelope: &Envelope) -> Result<(), sqlx::Error> {
    enqueue_in_trace(tx, envelope, trace::current_traceparent()).await
}

/// [`enqueue`] in a trace the caller names (a W3C `traceparent`): for events emitted while
/// handling something that carries no trace of its own, such as a provider's webhook, that
/// belong to the trace of the flow that started it.
pub async fn enqueue_in_trace(
    tx: &mut MySqlConnection,
    envelope: &Envelope,
    traceparent: Option<String>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO bus_outbox (event_id, routing_key, payload, traceparent, created_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&envelope.event_id)
    .bind(&envelope.r#type)
    .bind(envelope::encode(envelope))
    .bind(traceparent)
    .bind(chrono::Utc::now())
    .execute(tx)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    event_id: String,
    routing_key: String,
    payload: Vec<u8>,
    traceparent: Option<String>,
}

/// Publishes the outbox. Cheap to clone; `notify()` after a commit wakes it at once.
#[derive(Clone)]
pub struct Relay {
    pool: MySqlPool,
    publisher: Publisher,
    wake: Arc<Notify>,
    pending: Option<IntGauge>,
}

impl Relay {
    pub fn new(pool: MySqlPool, publisher: Publisher) -> Self {
        Self {
            pool,
            publisher,
            wake: Arc::new(Notify::new()),
            pending: None,
        }
    }

    /// Registers `shop_outbox_pending` (unpublished rows after each pass) in `registry`.
    pub fn with_metrics(
        mut self,
        registry: &prometheus::Registry,
    ) -> Result<Self, prometheus::Error> {
        let gauge = IntGauge::new("outbox_pending", "Outbox rows not yet published")?;
        registry.register(Box::new(gauge.clone()))?;
        self.pending = Some(gauge);
        Ok(self)
    }

    /// Wakes the relay (call after committing a transaction that enqueued events).
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Publishes up to one batch; returns how many rows it sent.
    pub async fn relay_once(&self) -> Result<usize, BusError> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, event_id, routing_key, payload, traceparent FROM bus_outbox \
             WHERE published_at IS NULL ORDER BY id LIMIT ? FOR UPDATE",
        )
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.rollback().await?;
            return Ok(0);
        }
        let messages: Vec<Outgoing<'_>> = rows
            .iter()
            .map(|row| Outgoing {
                event_id: &row.event_id,
                routing_key: &row.routing_key,
                body: &row.payload,
                headers: trace::headers_from_traceparent(row.traceparent.as_deref()),
            })
            .collect();
        self.publisher.publish_all(&messages).await?;
        let ids: Vec<String> = rows.iter().map(|row| row.id.to_string()).collect();
        sqlx::query(&format!(
            "UPDATE bus_outbox SET published_at = ? WHERE id IN ({})",
            ids.join(",")
        ))
        .bind(chrono::Utc::now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.len())
    }

    /// One more pass after shutdown, for rows that handlers committed while the relay was
    /// stopping; what still fails is published by the next start.
    pub async fn final_pass(&self) {
        if let Err(error) = self.relay_once().await {
            tracing::warn!(%error, "final outbox pass failed; the next start publishes it");
        }
    }

    async fn housekeeping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM bus_outbox WHERE published_at < ? LIMIT 1000")
            .bind(chrono::Utc::now() - chrono::Duration::hours(RETENTION_HOURS))
            .execute(&self.pool)
            .await?;
        if let Some(gauge) = &self.pending {
            let pending: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM bus_outbox WHERE published_at IS NULL")
                    .fetch_one(&self.pool)
                    .await?;
            gauge.set(pending);
        }
        Ok(())
    }

    /// Relays until `shutdown`, backing off while the broker or database is unavailable.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        let mut failures = 0u32;
        let mut passes = 0u64;
        loop {
            let wait = match self.relay_once().await {
                Ok(sent) if sent as i64 == BATCH => Duration::ZERO,
                Ok(_) => {
                    failures = 0;
                    POLL
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(%error, failures, "outbox relay failed; backing off");
                    crate::broker::backoff(failures)
                }
            };
            passes += 1;
            if passes % 20 == 1
                && let Err(error) = self.housekeeping().await
            {
                tracing::warn!(%error, "outbox housekeeping failed");
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        tracing::info!("outbox relay stopped");
    }
}
