//! What a shopmesh process is, declared once (docs/architecture.md §11).
//!
//! A service states its name, its configuration, how it is built and how it runs; the
//! process around it (runtime, telemetry, configuration loading, the stop signal, the
//! start-up log line) is [`main`], and the testkit starts the same value in-process with
//! `RunningService::start::<S>(config)`. So a binary and a test run one code path, and a
//! change to how processes start is made here, not in seven `main.rs` files.

use std::future::Future;
use std::net::SocketAddr;

use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::server::GrpcHost;
use crate::shutdown::Stop;

/// One shopmesh process: a gRPC service, or the BFF. A service only says what it is made
/// of ([`Service::build`]); running, draining and closing are the [`Assembled`] value's.
pub trait Service: Send + 'static {
    /// The process name in logs, traces and metrics, e.g. `shop-order`.
    const NAME: &'static str;

    /// Loaded by [`crate::config::load`]: defaults, then the TOML file, then `SHOP_*`.
    type Config: DeserializeOwned + Serialize + Default + Send + 'static;

    /// Connects to what the service needs and binds its ports (port 0 picks a free one),
    /// without serving yet: a caller learns the bound addresses before traffic arrives.
    fn build(config: Self::Config) -> impl Future<Output = anyhow::Result<Assembled>> + Send;
}

type Run = Box<dyn FnOnce(Stop) -> BoxFuture<'static, anyhow::Result<()>> + Send>;

/// A built process with its ports bound, not yet serving.
pub struct Assembled {
    addr: SocketAddr,
    admin_addr: SocketAddr,
    run: Run,
}

impl Assembled {
    /// `run` serves until its [`Stop`], then drains in-flight work, so a SIGTERM loses
    /// nothing that was accepted.
    pub fn new<F>(
        addr: SocketAddr,
        admin_addr: SocketAddr,
        run: impl FnOnce(Stop) -> F + Send + 'static,
    ) -> Self
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        Self {
            addr,
            admin_addr,
            run: Box::new(move |stop| Box::pin(run(stop))),
        }
    }

    /// A gRPC host and nothing else beside it (User).
    pub fn serving(host: GrpcHost) -> Self {
        Self::new(
            host.grpc_addr(),
            host.admin_addr(),
            |stop: Stop| async move { Ok(host.serve(stop.wait()).await?) },
        )
    }

    /// Closes `resource` (a pool, a client) once the process has drained, whether or not
    /// serving ended in an error.
    pub fn then_close(self, resource: impl Future<Output = ()> + Send + 'static) -> Self {
        let Self {
            addr,
            admin_addr,
            run,
        } = self;
        Self::new(addr, admin_addr, move |stop| async move {
            let served = run(stop).await;
            resource.await;
            served
        })
    }

    /// Where clients call it: gRPC for a service, HTTP (GraphQL) for the BFF.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Health, readiness and `/metrics`.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    pub async fn run(self, stop: Stop) -> anyhow::Result<()> {
        (self.run)(stop).await
    }
}

/// The whole `main` of a service binary: `fn main() -> anyhow::Result<()> { shop_kit::main::<S>() }`.
///
/// Telemetry is set up before the configuration is read, so a refused setting is logged
/// in the same format (and to the same collector) as everything else; its guard is
/// dropped inside the runtime, after `run`, so the last spans and logs are flushed.
pub fn main<S: Service>() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let _telemetry = crate::telemetry::init(S::NAME)?;
        let config: S::Config = crate::config::load()?;
        let process = S::build(config).await?;
        tracing::info!(
            addr = %process.addr(),
            admin = %process.admin_addr(),
            "{} started",
            S::NAME
        );
        process.run(Stop::on(crate::shutdown::signal())).await
    })
}
