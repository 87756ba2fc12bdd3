//! What a shopmesh process is, declared once (docs/architecture.md §11).
//!
//! A service states its name, its configuration, how it is built and how it runs; the
//! process around it (runtime, telemetry, configuration loading, the stop signal, the
//! start-up log line) is [`main`], and the testkit starts the same value in-process with
//! `RunningService::start::<S>(config)`. So a binary and a test run one code path, and a
//! change to how processes start is made here, not in seven `main.rs` files.

use std::future::Future;
use std::net::SocketAddr;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::shutdown::Stop;

/// One shopmesh process: a gRPC service, or the BFF.
pub trait Service: Sized + Send + 'static {
    /// The process name in logs, traces and metrics, e.g. `shop-order`.
    const NAME: &'static str;

    /// Loaded by [`crate::config::load`]: defaults, then the TOML file, then `SHOP_*`.
    type Config: DeserializeOwned + Serialize + Default + Send + 'static;

    /// Connects to what the service needs and binds its ports (port 0 picks a free one),
    /// without serving yet: a caller learns the bound addresses before traffic arrives.
    fn build(config: Self::Config) -> impl Future<Output = anyhow::Result<Self>> + Send;

    /// Where clients call it: gRPC for a service, HTTP (GraphQL) for the BFF.
    fn addr(&self) -> SocketAddr;

    /// Health, readiness and `/metrics`.
    fn admin_addr(&self) -> SocketAddr;

    /// Serves until `stop`, then drains in-flight work and releases connections, so a
    /// SIGTERM loses nothing that was accepted.
    fn run(self, stop: Stop) -> impl Future<Output = anyhow::Result<()>> + Send;
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
        let service = S::build(config).await?;
        tracing::info!(
            addr = %service.addr(),
            admin = %service.admin_addr(),
            "{} started",
            S::NAME
        );
        service.run(Stop::on(crate::shutdown::signal())).await
    })
}
