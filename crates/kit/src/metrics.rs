//! Prometheus metrics of one service instance: RED per RPC, plus whatever the service adds.
//!
//! Each instance owns its registry (not the process-global one), so several services spawned
//! in one test process keep separate, assertable counters.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    /// Calls completed, by `service`, `method` and gRPC `code` (e.g. `OK`, `InvalidArgument`).
    pub grpc_handled: IntCounterVec,
    /// Server-side latency, by `service` and `method`.
    pub grpc_latency: HistogramVec,
}

impl Metrics {
    /// `app` becomes a constant `app` label, so one Prometheus can scrape every service.
    pub fn new(app: &str) -> Result<Self, prometheus::Error> {
        let labels = std::iter::once(("app".to_owned(), app.to_owned())).collect();
        let registry = Registry::new_custom(Some("shop".to_owned()), Some(labels))?;
        let grpc_handled = IntCounterVec::new(
            Opts::new(
                "grpc_server_handled_total",
                "gRPC calls completed on the server",
            ),
            &["grpc_service", "grpc_method", "grpc_code"],
        )?;
        let grpc_latency = HistogramVec::new(
            HistogramOpts::new(
                "grpc_server_handling_seconds",
                "Time from request headers to response headers",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["grpc_service", "grpc_method"],
        )?;
        registry.register(Box::new(grpc_handled.clone()))?;
        registry.register(Box::new(grpc_latency.clone()))?;
        Ok(Self {
            registry,
            grpc_handled,
            grpc_latency,
        })
    }

    /// Where services register their own counters (saga outcomes, outbox lag, ...).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Prometheus text exposition of everything registered.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(%error, "cannot encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}
