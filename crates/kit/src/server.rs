//! Hosting a gRPC service the shopmesh way: bind both ports first (so tests can use port 0
//! and read the real address), then serve the service with health, reflection, the
//! [`GrpcLayer`](crate::grpc_layer::GrpcLayer) and the admin HTTP port, and drain on
//! shutdown.
//!
//! Health says NOT_SERVING until `serve` runs (stores are connected by then) and again as
//! soon as shutdown starts, so load balancers stop sending traffic before connections close.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic_health::ServingStatus;

use crate::admin::{self, Readiness};
use crate::auth::TokenVerifier;
use crate::grpc_layer::GrpcLayer;
use crate::metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("metrics registry: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC server: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("admin server: {0}")]
    Admin(std::io::Error),
}

/// Where a gRPC service listens and which access tokens it accepts: the same settings in
/// every service that verifies tokens, flattened into its configuration
/// (`#[serde(flatten)] host: HostConfig`), so they keep their flat names `SHOP_GRPC_ADDR`,
/// `SHOP_ADMIN_ADDR`, `SHOP_JWT_PUBLIC_KEY_PEM` and `SHOP_JWT_PUBLIC_KEY_FILE`.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct HostConfig {
    pub grpc_addr: SocketAddr,
    /// `/metrics`, health, and any admin routes (Payment's Stripe webhook).
    pub admin_addr: SocketAddr,
    /// PEM of the Ed25519 public key that verifies access tokens, inline or as a file (a
    /// mounted Kubernetes secret).
    pub jwt_public_key_pem: Option<String>,
    pub jwt_public_key_file: Option<String>,
}

impl HostConfig {
    /// All interfaces, on the service's default ports (docs/architecture.md §2).
    pub fn on_ports(grpc: u16, admin: u16) -> Self {
        Self {
            grpc_addr: SocketAddr::from(([0, 0, 0, 0], grpc)),
            admin_addr: SocketAddr::from(([0, 0, 0, 0], admin)),
            jwt_public_key_pem: None,
            jwt_public_key_file: None,
        }
    }

    /// Binds both ports and verifies tokens with the configured key; a missing or
    /// malformed key refuses to start.
    pub async fn bind(&self, app: &'static str) -> anyhow::Result<GrpcHost> {
        let verifier = crate::auth::load_verifier(
            self.jwt_public_key_pem.as_deref(),
            self.jwt_public_key_file.as_deref(),
        )?;
        Ok(GrpcHost::bind(app, self.grpc_addr, self.admin_addr)
            .await?
            .with_token_verifier(verifier))
    }
}

/// A bound, not yet serving, service instance.
pub struct GrpcHost {
    app: &'static str,
    grpc_listener: TcpListener,
    admin_listener: TcpListener,
    metrics: Arc<Metrics>,
    verifier: Option<Arc<TokenVerifier>>,
    admin_routes: axum::Router,
    routes: Routes,
    service_names: Vec<&'static str>,
    drain_deadline: Duration,
}

/// How long a shutdown waits for in-flight calls before cutting them. Below Kubernetes'
/// grace period (deploy/: 40 s, after a 10 s preStop pause), so the process still exits by
/// itself and flushes its traces; without it one open stream (a health `Watch`, say) would
/// hold the drain until SIGKILL.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(25);

impl GrpcHost {
    /// Binds the gRPC and admin ports; port 0 picks a free one (see `grpc_addr`).
    pub async fn bind(
        app: &'static str,
        grpc_addr: SocketAddr,
        admin_addr: SocketAddr,
    ) -> Result<Self, HostError> {
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| HostError::Bind { addr, source })
        };
        Ok(Self {
            app,
            grpc_listener: bind(grpc_addr).await?,
            admin_listener: bind(admin_addr).await?,
            metrics: Arc::new(Metrics::new(app)?),
            verifier: None,
            admin_routes: axum::Router::new(),
            routes: Routes::default(),
            service_names: Vec::new(),
            drain_deadline: DRAIN_DEADLINE,
        })
    }

    /// Overrides [`DRAIN_DEADLINE`] (tests use a short one).
    pub fn with_drain_deadline(mut self, deadline: Duration) -> Self {
        self.drain_deadline = deadline;
        self
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The instance's registry, for service-specific metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Verify `authorization: Bearer` on every call and expose the claims to handlers.
    pub fn with_token_verifier(mut self, verifier: TokenVerifier) -> Self {
        self.verifier = Some(Arc::new(verifier));
        self
    }

    /// Extra admin HTTP routes (e.g. a webhook), served beside `/metrics`.
    pub fn with_admin_routes(mut self, routes: axum::Router) -> Self {
        self.admin_routes = self.admin_routes.merge(routes);
        self
    }

    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: tower::Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
                Error = Infallible,
            > + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.service_names.push(S::NAME);
        self.routes = self.routes.add_service(service);
        self
    }

    /// Serves until `shutdown` resolves, then reports NOT_SERVING and drains in-flight calls.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), HostError> {
        let (health, health_service) = tonic_health::server::health_reporter();
        let all_names = || std::iter::once("").chain(self.service_names.iter().copied());
        for name in all_names() {
            health
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
        // Advertise only what this instance serves, not every contract in the descriptor set.
        let advertised = self.service_names.iter().copied().chain([
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ]);
        let reflection = || {
            advertised.clone().fold(
                tonic_reflection::server::Builder::configure()
                    .register_encoded_file_descriptor_set(shop_proto::FILE_DESCRIPTOR_SET)
                    .register_encoded_file_descriptor_set(shop_proto::ERROR_DETAILS_DESCRIPTOR_SET)
                    .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                    .register_encoded_file_descriptor_set(
                        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
                    )
                    .register_encoded_file_descriptor_set(
                        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
                    ),
                |builder, name| builder.with_service_name(name),
            )
        };
        let reflection_v1 = reflection().build_v1()?;
        // grpcurl 1.8 only speaks v1alpha.
        let reflection_v1alpha = reflection().build_v1alpha()?;
        let routes = self
            .routes
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);

        let readiness = Readiness::default();
        // OpenMetrics (with exemplars) for a scraper that asks; see crate::metrics.
        let admin_router = admin::router(self.metrics.registry().clone(), readiness.clone())
            .merge(self.admin_routes)
            .layer(axum::middleware::from_fn_with_state(
                self.metrics.clone(),
                crate::metrics::openmetrics_when_asked,
            ));

        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = move || {
            let mut stop_rx = stop_rx.clone();
            async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            }
        };

        let grpc = tonic::transport::Server::builder()
            .layer(GrpcLayer::new(self.metrics.clone(), self.verifier.clone()))
            .add_routes(routes)
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.grpc_listener), stopped());
        let admin = axum::serve(self.admin_listener, admin_router)
            .with_graceful_shutdown(stopped())
            .into_future();
        let grpc = tokio::spawn(grpc);
        let admin = tokio::spawn(admin);

        for name in all_names() {
            health
                .set_service_status(name, ServingStatus::Serving)
                .await;
        }
        readiness.set(true);
        tracing::info!(app = self.app, "serving");

        shutdown.await;
        readiness.set(false);
        for name in all_names() {
            health
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
        let _ = stop_tx.send(true);
        let (mut grpc, mut admin) = (grpc, admin);
        let deadline = tokio::time::sleep(self.drain_deadline);
        tokio::pin!(deadline);
        let grpc_result = tokio::select! {
            result = &mut grpc => Some(result),
            () = &mut deadline => None,
        };
        let admin_result = tokio::select! {
            result = &mut admin => Some(result),
            () = &mut deadline => None,
        };
        if grpc_result.is_none() || admin_result.is_none() {
            tracing::warn!(
                app = self.app,
                deadline_ms = self.drain_deadline.as_millis() as u64,
                "calls still open at the drain deadline; cutting them"
            );
            grpc.abort();
            admin.abort();
        } else {
            tracing::info!(app = self.app, "drained");
        }
        match grpc_result {
            Some(Ok(result)) => result?,
            Some(Err(join)) => tracing::error!(error = %join, "gRPC server task failed"),
            None => {}
        }
        match admin_result {
            Some(Ok(result)) => result.map_err(HostError::Admin)?,
            Some(Err(join)) => tracing::error!(error = %join, "admin server task failed"),
            None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    #[tokio::test]
    async fn an_open_stream_cannot_hold_the_drain_past_its_deadline() {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let host = GrpcHost::bind("drain-test", any, any)
            .await
            .expect("bound")
            .with_drain_deadline(Duration::from_millis(300));
        let addr = host.grpc_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(host.serve(async move {
            let _ = stopped.await;
        }));

        // A health Watch is a stream the server never ends by itself.
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connected");
        let mut watch = HealthClient::new(channel)
            .watch(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .expect("watching")
            .into_inner();
        watch.message().await.expect("first status");

        let _ = stop.send(());
        let drained = tokio::time::timeout(Duration::from_secs(10), serving)
            .await
            .expect("serve returned although a stream was still open");
        drained.expect("joined").expect("served without error");
    }
}
