//! The tests' view of the event bus: a private queue bound to the routing keys a test cares
//! about on its own exchange, fed to a channel. One implementation for every test that
//! asserts what a service published.

use std::time::Duration;

use anyhow::Context as _;
use shop_bus::consumer::{self, Handled, QueueSpec};
use shop_bus::{Broker, BusConfig};
use shop_proto::shop::events::v1::Envelope;
use tokio::sync::mpsc;

/// How long [`EventWatch::next`] waits for a matching event.
pub const EVENT_DEADLINE: Duration = Duration::from_secs(20);

/// Every event published on `bus`'s exchange with a routing key matching `bindings`, from
/// the moment [`EventWatch::start`] returns (its queue is declared and bound by then).
pub struct EventWatch {
    rx: mpsc::UnboundedReceiver<Envelope>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl EventWatch {
    pub async fn start(bus: &BusConfig, bindings: &[&str]) -> anyhow::Result<Self> {
        let broker = Broker::new(bus.clone(), "test-watch");
        let spec = QueueSpec::new(format!("watch-{}", uuid::Uuid::new_v4().simple()), bindings);
        let channel = broker.channel().await?;
        consumer::declare(&broker, &channel, &spec).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(consumer::run(
            broker,
            spec,
            move |envelope| {
                let _ = tx.send(envelope);
                async { Handled::Done }
            },
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(Self { rx, _stop: stop })
    }

    /// The next event of `event_type` about `aggregate_id`, skipping others.
    pub async fn next(&mut self, event_type: &str, aggregate_id: &str) -> anyhow::Result<Envelope> {
        self.next_matching(&format!("{event_type} for {aggregate_id}"), |envelope| {
            envelope.r#type == event_type && envelope.aggregate_id == aggregate_id
        })
        .await
    }

    /// The next event `wanted` accepts (described by `what` in the error), skipping others,
    /// within [`EVENT_DEADLINE`].
    pub async fn next_matching(
        &mut self,
        what: &str,
        wanted: impl Fn(&Envelope) -> bool,
    ) -> anyhow::Result<Envelope> {
        let deadline = tokio::time::Instant::now() + EVENT_DEADLINE;
        loop {
            let envelope = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .with_context(|| format!("no {what} within {EVENT_DEADLINE:?}"))?
                .context("event watch closed")?;
            if wanted(&envelope) {
                return Ok(envelope);
            }
        }
    }

    /// Every event received within `window`, for "nothing else happened" assertions.
    pub async fn drain(&mut self, window: Duration) -> Vec<Envelope> {
        let mut events = Vec::new();
        while let Ok(Some(envelope)) = tokio::time::timeout(window, self.rx.recv()).await {
            events.push(envelope);
        }
        events
    }
}
