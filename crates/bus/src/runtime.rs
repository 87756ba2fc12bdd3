//! The event side of a service, assembled and stopped in one place (docs/architecture.md §11).
//!
//! A service that talks to the broker declares what it does there (its outbox, the queues
//! it consumes with their [`Handle`]r, its periodic tasks) and hands its bound gRPC host to
//! [`Runtime::run`]. The order of start and stop is decided here once, because every copy
//! of it that lived in a service drifted:
//!
//! 1. a saga participant declares the saga queues before it serves its first call, so no
//!    event a request publishes is ever unrouted;
//! 2. relay, consumers and periodic tasks start, each with the same [`Stop`];
//! 3. on stop, the gRPC server drains first, then the periodic tasks finish their pass,
//!    then the consumers settle their in-flight deliveries; all of these write outbox rows,
//!    so only then does the relay make its final pass, and the broker connection closes
//!    last.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use shop_kit::Assembled;
use shop_kit::server::{GrpcHost, HostError};
use shop_kit::shutdown::Stop;
use sqlx::MySqlPool;

use crate::consumer::{self, Handled, QueueSpec};
use crate::outbox::Relay;
use crate::topology::Participant;
use crate::{Broker, BusConfig, Publisher};
use shop_proto::shop::events::v1::Envelope;

/// What a service does with each delivered event. One name for every participant (the
/// saga's coordinator, its steps, a cache that listens): the consumer acks, retries or
/// dead-letters according to the [`Handled`] it returns, and may deliver the same event
/// more than once, so an implementation is idempotent.
pub trait Handle: Send + Sync + 'static {
    fn handle(&self, envelope: Envelope) -> impl Future<Output = Handled> + Send;
}

/// How long a replica waits, at start, for a consumer that must hear everything published
/// after it serves (a per-replica cache invalidation queue); past it, it serves anyway and
/// says so, because a broker outage must not keep the service down.
pub const BOUND_BEFORE_SERVING: Duration = Duration::from_secs(5);

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;
type Starter = Box<dyn FnOnce(Broker, Stop) -> Started + Send>;
type PeriodicStarter = Box<dyn FnOnce(Stop) -> Task + Send>;

struct Started {
    task: Task,
    /// Resolves once the consumer's queue is bound (per-replica consumers only).
    bound: Option<tokio::sync::oneshot::Receiver<()>>,
}

/// A service's broker connection, outbox relay, consumers and periodic tasks.
pub struct Runtime {
    registry: prometheus::Registry,
    participant: Participant,
    broker: Broker,
    relay: Option<Relay>,
    consumers: Vec<(String, Starter)>,
    periodic: Vec<(&'static str, PeriodicStarter)>,
}

impl Runtime {
    /// Connects (lazily) as `participant`'s own RabbitMQ user and registers the consumer
    /// (and, with [`Runtime::outbox`], the relay) metrics in `host`'s registry.
    pub fn new(
        participant: Participant,
        config: &BusConfig,
        host: &GrpcHost,
    ) -> Result<Self, prometheus::Error> {
        let registry = host.metrics().registry().clone();
        consumer::register_metrics(&registry)?;
        Ok(Self {
            registry,
            participant,
            broker: Broker::new(config.clone(), participant.user()),
            relay: None,
            consumers: Vec::new(),
            periodic: Vec::new(),
        })
    }

    /// Publishes directly (with confirms), for a service without an outbox.
    pub fn publisher(&self) -> Publisher {
        Publisher::new(self.broker.clone())
    }

    /// The transactional outbox (and the consumers' inbox) in `pool`: creates both tables
    /// and returns the relay that the service's handlers write through. [`Runtime::run`]
    /// relays it in the background and makes its final pass at shutdown.
    pub async fn outbox(&mut self, pool: &MySqlPool) -> Result<Relay, crate::BusError> {
        crate::outbox::ensure_schema(pool).await?;
        crate::inbox::ensure_schema(pool).await?;
        let relay = Relay::new(pool.clone(), Publisher::new(self.broker.clone()))
            .with_metrics(&self.registry)?;
        self.relay = Some(relay.clone());
        Ok(relay)
    }

    /// Consumes `spec`'s durable queue with `handler`.
    pub fn consume(&mut self, spec: QueueSpec, handler: impl Handle) {
        self.add_consumer(spec, handler, false);
    }

    /// Consumes `spec` and serves only once its queue is bound (at most
    /// [`BOUND_BEFORE_SERVING`]): for a per-replica queue, whose events published before it
    /// is bound are not kept for it.
    pub fn consume_before_serving(&mut self, spec: QueueSpec, handler: impl Handle) {
        self.add_consumer(spec, handler, true);
    }

    fn add_consumer<H: Handle>(&mut self, spec: QueueSpec, handler: H, wait_bound: bool) {
        let name = spec.name.clone();
        let start = move |broker: Broker, stop: Stop| {
            let handler = std::sync::Arc::new(handler);
            let deliver = move |envelope: Envelope| {
                let handler = handler.clone();
                async move { handler.handle(envelope).await }
            };
            let (ready, bound) = if wait_bound {
                let (ready, bound) = tokio::sync::oneshot::channel();
                (Some(ready), Some(bound))
            } else {
                (None, None)
            };
            Started {
                task: Box::pin(consumer::run_signalling_ready(
                    broker,
                    spec,
                    deliver,
                    stop.wait(),
                    ready,
                )),
                bound,
            }
        };
        self.consumers.push((name, Box::new(start)));
    }

    /// Runs `pass` at start and then every `every` until stop (see [`Stop::every`]).
    pub fn every<F, Fut>(&mut self, name: &'static str, every: Duration, pass: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.periodic.push((
            name,
            Box::new(move |stop: Stop| Box::pin(stop.every(every, pass))),
        ));
    }

    /// The process: `host` served beside everything declared here, stopped in the order
    /// described in the module documentation.
    pub fn assemble(self, host: GrpcHost) -> Assembled {
        Assembled::new(
            host.grpc_addr(),
            host.admin_addr(),
            move |stop| async move { Ok(self.run(host, stop).await?) },
        )
    }

    async fn run(self, host: GrpcHost, stop: Stop) -> Result<(), HostError> {
        // Only the saga's participants may declare its queues (least privilege); Product's
        // per-replica listener binds its own queue.
        if self.participant.saga_queue().is_some() {
            crate::topology::ensure_saga(&self.broker).await;
        }
        let relay = self
            .relay
            .clone()
            .map(|relay| tokio::spawn(relay.run(stop.clone().wait())));
        let mut consumers = Vec::new();
        let mut bound = Vec::new();
        for (queue, start) in self.consumers {
            let started = start(self.broker.clone(), stop.clone());
            consumers.push((queue.clone(), tokio::spawn(started.task)));
            bound.extend(started.bound.map(|bound| (queue, bound)));
        }
        for (queue, bound) in bound {
            if tokio::time::timeout(BOUND_BEFORE_SERVING, bound)
                .await
                .is_err()
            {
                tracing::warn!(%queue, "serving before the queue is bound (broker down?)");
            }
        }
        let periodic: Vec<_> = self
            .periodic
            .into_iter()
            .map(|(name, start)| (name, tokio::spawn(start(stop.clone()))))
            .collect();

        let served = host.serve(stop.wait()).await;
        for (name, task) in periodic {
            if let Err(error) = task.await {
                tracing::error!(task = name, %error, "periodic task failed");
            }
        }
        for (queue, task) in consumers {
            if let Err(error) = task.await {
                tracing::error!(%queue, %error, "consumer task failed");
            }
        }
        if let (Some(task), Some(relay)) = (relay, &self.relay) {
            if let Err(error) = task.await {
                tracing::error!(%error, "outbox relay task failed");
            }
            relay.final_pass().await;
        }
        self.broker.close().await;
        served
    }
}
