//! One AMQP connection per process, re-established on demand: every publisher and consumer
//! asks the broker for a channel, and the first one to find the connection gone reconnects.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lapin::options::ExchangeDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::Mutex;

use crate::BusError;

/// Where the broker is and which exchange carries the events. Every service embeds it as
/// its `amqp` config section (`SHOP_AMQP__URL`, `SHOP_AMQP__EXCHANGE`, ...). Tests use their
/// own exchange and queue prefix so they can share one RabbitMQ.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct BusConfig {
    pub url: String,
    pub exchange: String,
    /// Prepended to every queue name this process declares (empty in production).
    pub queue_prefix: String,
    /// Delete idle queues after this many seconds (tests only); 0 keeps them forever.
    pub queue_expires_secs: u64,
    /// Declare the exchanges, durable queues and bindings (an administrator's user, tests).
    /// `false` under least privilege (`crate::permissions`): an operator provisioned them and
    /// this process only checks they exist. A user refused the declaration falls back to
    /// checking anyway, but the broker then logs (and lapin reports) a refused channel.
    pub declare_topology: bool,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned(),
            exchange: "shop.events".to_owned(),
            queue_prefix: String::new(),
            queue_expires_secs: 0,
            declare_topology: true,
        }
    }
}

#[derive(Clone)]
pub struct Broker {
    config: Arc<BusConfig>,
    connection: Arc<Mutex<Option<Connection>>>,
    name: String,
    /// Set by `declare_topology: false`, or once the broker refused this process's user the
    /// right to declare the exchange: under least privilege (`crate::permissions`) the topology is provisioned by an
    /// operator, and the process only checks it exists (passive declares) from then on.
    provisioned: Arc<AtomicBool>,
}

impl Broker {
    /// `name` shows in RabbitMQ's connection list (e.g. `shop-order`).
    pub fn new(config: BusConfig, name: impl Into<String>) -> Self {
        let provisioned = !config.declare_topology;
        Self {
            config: Arc::new(config),
            connection: Arc::new(Mutex::new(None)),
            name: name.into(),
            provisioned: Arc::new(AtomicBool::new(provisioned)),
        }
    }

    pub fn config(&self) -> &BusConfig {
        &self.config
    }

    /// Whether the exchange and the durable queues are provisioned by an operator (this
    /// process's user may not configure them), so they are checked, never declared.
    pub fn provisioned(&self) -> bool {
        self.provisioned.load(Ordering::Relaxed)
    }

    /// A fresh channel on a live connection (connecting first if needed), with the exchange
    /// declared (or, when the user may not configure it, checked to exist), so callers never
    /// publish into a missing exchange.
    pub async fn channel(&self) -> Result<Channel, BusError> {
        let channel = self.open_channel().await?;
        if self.provisioned() {
            self.check_exchange(&channel).await?;
            return Ok(channel);
        }
        match self.declare_exchange(&channel).await {
            Ok(()) => Ok(channel),
            Err(error) if is_access_refused(&error) => {
                // The refusal closed the channel; a least-privilege user finds the exchange
                // provisioned, and only an operator may change its definition.
                tracing::info!(exchange = %self.config.exchange, "no configure permission on the exchange: using the provisioned topology");
                self.provisioned.store(true, Ordering::Relaxed);
                let channel = self.open_channel().await?;
                self.check_exchange(&channel).await?;
                Ok(channel)
            }
            Err(error) => Err(error),
        }
    }

    async fn open_channel(&self) -> Result<Channel, BusError> {
        let mut guard = self.connection.lock().await;
        let usable = guard
            .as_ref()
            .is_some_and(|connection| connection.status().connected());
        if !usable {
            // The queue prefix in the name tells tests' connections apart in the broker's list.
            let label = format!("{} {}", self.name, self.config.queue_prefix)
                .trim()
                .to_owned();
            let properties = ConnectionProperties::default().with_connection_name(label.into());
            let connection =
                bounded("connect", Connection::connect(&self.config.url, properties)).await?;
            tracing::info!(broker = %redact(&self.config.url), "connected to RabbitMQ");
            *guard = Some(connection);
        }
        let channel = match guard.as_ref() {
            Some(connection) => bounded("channel.open", connection.create_channel()).await,
            None => {
                return Err(BusError::Amqp(
                    lapin::ErrorKind::InvalidConnectionState(lapin::ConnectionState::Closed).into(),
                ));
            }
        };
        match channel {
            Ok(channel) => Ok(channel),
            Err(error) => {
                *guard = None;
                Err(error)
            }
        }
    }

    async fn declare_exchange(&self, channel: &Channel) -> Result<(), BusError> {
        declare_topic_exchange(channel, &self.config.exchange, false).await
    }

    async fn check_exchange(&self, channel: &Channel) -> Result<(), BusError> {
        declare_topic_exchange(channel, &self.config.exchange, true).await
    }

    /// Forgets the connection so the next `channel()` reconnects (after a failure).
    pub async fn reset(&self) {
        let forget = async {
            if let Some(connection) = self.connection.lock().await.take() {
                let _ = connection.close(0, "reset".into()).await;
            }
        };
        if tokio::time::timeout(BROKER_TIMEOUT, forget).await.is_err() {
            tracing::warn!(broker = %redact(&self.config.url), "closing the connection timed out; dropped");
        }
    }

    /// Closes the connection on shutdown.
    pub async fn close(&self) {
        self.reset().await;
    }
}

/// Longest any one broker operation (connect, open a channel, declare, publish and confirm,
/// close) may take. Without it a connection that died without a TCP reset leaves callers,
/// and with them a service's shutdown, waiting forever.
pub const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// `op` within [`BROKER_TIMEOUT`], or [`BusError::Timeout`] naming `what`.
pub(crate) async fn bounded<T, E: Into<BusError>>(
    what: &'static str,
    op: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, BusError> {
    match tokio::time::timeout(BROKER_TIMEOUT, op).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(BusError::Timeout(what)),
    }
}

/// Declares (or with `passive`, only checks) a durable topic exchange.
pub(crate) async fn declare_topic_exchange(
    channel: &Channel,
    name: &str,
    passive: bool,
) -> Result<(), BusError> {
    bounded(
        "exchange.declare",
        channel.exchange_declare(
            name.to_owned().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                passive,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        ),
    )
    .await
}

/// The broker answered 403 ACCESS_REFUSED: the user lacks a permission (a topic or resource
/// permission of `crate::permissions`), which no retry will change.
pub fn is_access_refused(error: &BusError) -> bool {
    use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
    match error {
        BusError::Amqp(error) => match error.kind() {
            lapin::ErrorKind::ProtocolError(amqp) => matches!(
                amqp.kind(),
                AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED)
            ),
            _ => false,
        },
        _ => false,
    }
}

/// The URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Back-off for reconnect loops: 100 ms doubling to 5 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(6))).min(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_and_backoff_is_capped() {
        assert_eq!(
            redact("amqp://guest:secret@host:5672/%2f"),
            "amqp://***@host:5672/%2f"
        );
        assert_eq!(redact("amqp://host"), "amqp://host");
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(20), Duration::from_secs(5));
    }
}
