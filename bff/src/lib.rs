//! shop-bff: the storefront's only public entry point.
//!
//! A GraphQL API (async-graphql on axum) over the gRPC services: queries and mutations call
//! the services with deadlines and the caller's own access token, so every service still
//! decides authorisation itself (zero trust); DataLoaders batch the fan-out of lists into one
//! call per request; `orderUpdated` subscriptions are fed by one exclusive RabbitMQ queue per
//! replica. As the gateway it also enforces the limits a public endpoint needs: query depth
//! and complexity, body size, per-client rates, request timeouts and CORS.

pub mod clients;
pub mod errors;
pub mod feed;
pub mod gateway;
pub mod http;
pub mod loaders;
pub mod readiness;
pub mod schema;
pub mod session;
pub mod viewer;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use shop_bus::{Broker, BusConfig};
use shop_kit::auth::TokenVerifier;
use shop_kit::shutdown::Stop;
use shop_kit::{Assembled, Service};
use tokio::net::TcpListener;

pub use schema::{ShopSchema, schema_sdl};

/// Every field can be overridden as `SHOP_<FIELD>` (see `shop_kit::config`); the `amqp`
/// section as `SHOP_AMQP__<FIELD>`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct BffConfig {
    /// Where the storefront reaches us: /graphql, /graphql/ws, /auth, /healthz and the web app.
    pub http_addr: SocketAddr,
    /// The admin port for the cluster, never exposed publicly: `/metrics`, `/healthz`,
    /// `/readyz`. Unset: port 9100 on `http_addr`'s address, or port 0 (any free port)
    /// when `http_addr`'s port is 0, so tests and parallel instances never collide.
    pub admin_addr: Option<SocketAddr>,
    pub user_url: String,
    pub product_url: String,
    pub inventory_url: String,
    pub cart_url: String,
    pub order_url: String,
    /// Deadline of every gRPC call the BFF makes.
    pub upstream_deadline_ms: u64,
    /// Public key that verifies access tokens locally (inline PEM or a file path).
    pub jwt_public_key_pem: Option<String>,
    pub jwt_public_key_file: Option<String>,
    /// Origins allowed to call the API from a browser, comma-separated (one string, so
    /// `SHOP_CORS_ALLOWED_ORIGINS` can set it); empty allows none (same origin only), `*`
    /// allows any origin but then without credentials (cookies).
    pub cors_allowed_origins: String,
    /// Deepest selection set accepted (the introspection query GraphiQL sends needs ~13).
    pub max_depth: usize,
    /// Highest complexity accepted; connections count their children `first` times.
    pub max_complexity: usize,
    /// Largest request body accepted on /graphql.
    pub body_limit_bytes: usize,
    /// How long one query or mutation may take before the client gets a TIMEOUT error.
    pub request_timeout_ms: u64,
    /// Sustained requests per minute per client (user id if signed in, else IP address).
    pub rate_limit_per_minute: u32,
    /// Requests a client may burst above the sustained rate.
    pub rate_limit_burst: u32,
    /// The same for login, register and refreshToken, per IP address: much stricter, since
    /// these are what password guessing hammers.
    pub auth_rate_limit_per_minute: u32,
    pub auth_rate_limit_burst: u32,
    /// Proxies in front of the BFF that append to `X-Forwarded-For` (an ingress: 1). The
    /// client address is the entry that many hops from the right; 0 takes the TCP peer and
    /// ignores the header (anything left of the trusted entries is client-written).
    pub trusted_proxy_hops: usize,
    /// Rate-limit buckets each limiter tracks at most; keys beyond share one bucket.
    pub rate_limit_max_keys: usize,
    /// Live subscriptions one WebSocket connection may hold.
    pub ws_max_subscriptions_per_connection: usize,
    /// Live subscriptions one user (or, signed out, one address) may hold over all
    /// connections to this replica.
    pub ws_max_subscriptions_per_user: usize,
    /// The built web app; served at / when the directory exists.
    pub web_dist: String,
    /// Product images, served at /images (`SHOP_IMAGES_DIR`; `shop-seed` writes the demo
    /// catalog's there); `<web_dist>/images` when unset.
    pub images_dir: Option<String>,
    /// Serve GraphiQL on GET /graphql (development).
    pub graphiql: bool,
    /// Mark the cookies (guest cart, refresh token) `Secure` (production, behind HTTPS).
    pub cookie_secure: bool,
    /// `production` turns off GraphiQL, introspection and field suggestions, adds HSTS and
    /// refuses to start while a development default is left (see [`BffConfig::check`]).
    pub env: shop_kit::config::Environment,
    /// How often a live subscription re-reads its order even without an event: a backstop
    /// for events the feed could not deliver (broker reconnects).
    pub subscription_poll_secs: u64,
    pub amqp: BusConfig,
}

impl Default for BffConfig {
    fn default() -> Self {
        Self {
            http_addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            admin_addr: None,
            user_url: "http://127.0.0.1:50051".into(),
            product_url: "http://127.0.0.1:50052".into(),
            inventory_url: "http://127.0.0.1:50053".into(),
            cart_url: "http://127.0.0.1:50054".into(),
            order_url: "http://127.0.0.1:50055".into(),
            upstream_deadline_ms: 3000,
            jwt_public_key_pem: None,
            jwt_public_key_file: None,
            cors_allowed_origins: "http://localhost:5173".into(),
            max_depth: 15,
            max_complexity: 1000,
            body_limit_bytes: 64 * 1024,
            request_timeout_ms: 10_000,
            rate_limit_per_minute: 600,
            rate_limit_burst: 100,
            auth_rate_limit_per_minute: 10,
            auth_rate_limit_burst: 5,
            trusted_proxy_hops: 0,
            rate_limit_max_keys: 100_000,
            ws_max_subscriptions_per_connection: 10,
            ws_max_subscriptions_per_user: 20,
            web_dist: "web/dist".into(),
            images_dir: None,
            graphiql: true,
            cookie_secure: false,
            env: shop_kit::config::Environment::default(),
            subscription_poll_secs: 10,
            amqp: BusConfig::default(),
        }
    }
}

/// The admin port (`/metrics`, `/readyz`) when none is configured.
pub const DEFAULT_ADMIN_PORT: u16 = 9100;

/// The CORS origin of the Vite dev server: the development default.
const DEV_ORIGIN: &str = "http://localhost:5173";

impl BffConfig {
    /// In production, refuses development defaults: GraphiQL on, cookies without `Secure`,
    /// a CORS list left at (or still naming) localhost, or `*`. An empty list is fine: the
    /// BFF serves the web app itself, same-origin.
    pub fn check(&self) -> anyhow::Result<()> {
        let origins = shop_kit::config::list(&self.cors_allowed_origins);
        let local_or_any = origins.iter().any(|origin| {
            *origin == "*"
                || *origin == DEV_ORIGIN
                || origin.contains("://localhost")
                || origin.contains("://127.")
                || origin.starts_with("http://")
        });
        self.env.refuse_dev_defaults(&[
            ("SHOP_GRAPHIQL", self.graphiql),
            ("SHOP_COOKIE_SECURE", !self.cookie_secure),
            ("SHOP_CORS_ALLOWED_ORIGINS", local_or_any),
        ])?;
        Ok(())
    }

    pub fn is_production(&self) -> bool {
        self.env.is_production()
    }

    /// The admin port's address: see [`BffConfig::admin_addr`].
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr.unwrap_or_else(|| {
            let port = if self.http_addr.port() == 0 {
                0
            } else {
                DEFAULT_ADMIN_PORT
            };
            SocketAddr::new(self.http_addr.ip(), port)
        })
    }

    /// Cookies are `Secure` when configured so, and always in production.
    pub fn secure_cookies(&self) -> bool {
        self.cookie_secure || self.is_production()
    }
}

/// The BFF as a process: `shop_kit::main::<App>()` runs it, `RunningService::start::<App>`
/// tests it.
pub struct App;

impl Service for App {
    const NAME: &'static str = "shop-bff";
    type Config = BffConfig;

    async fn build(config: BffConfig) -> anyhow::Result<Assembled> {
        let server = Server::build(config).await?;
        Ok(Assembled::new(
            server.addr(),
            server.admin_addr(),
            move |stop| server.run(stop),
        ))
    }
}

/// A built but not yet serving BFF: its ports are bound.
struct Server {
    listener: TcpListener,
    router: axum::Router,
    admin_listener: TcpListener,
    admin_router: axum::Router,
    readiness: shop_kit::admin::Readiness,
    upstreams: Vec<(&'static str, String)>,
    feed: feed::Feed,
    broker: Broker,
    stopping: tokio::sync::watch::Sender<bool>,
}

impl Server {
    async fn build(config: BffConfig) -> anyhow::Result<Self> {
        config.check()?;
        let public_pem = shop_kit::config::pem_from(
            config.jwt_public_key_pem.as_deref(),
            config.jwt_public_key_file.as_deref(),
            "jwt_public_key",
        )?;
        let verifier = TokenVerifier::from_pem(&public_pem)?;
        let clients = clients::Clients::connect(&config).context("gRPC clients")?;
        let metrics = Arc::new(gateway::BffMetrics::new().context("metrics")?);
        let broker = Broker::new(config.amqp.clone(), "shop-bff");
        // Bind the feed's queue before serving, so no event after start-up is missed.
        let feed = feed::Feed::start(broker.clone()).await;
        let (stopping, stop_rx) = tokio::sync::watch::channel(false);
        let auth_limiter = Arc::new(gateway::RateLimiter::new(
            config.auth_rate_limit_per_minute,
            config.auth_rate_limit_burst,
            config.rate_limit_max_keys,
        ));
        let limiter = Arc::new(gateway::RateLimiter::new(
            config.rate_limit_per_minute,
            config.rate_limit_burst,
            config.rate_limit_max_keys,
        ));
        for limiter in [&auth_limiter, &limiter] {
            limiter.spawn_retain(Duration::from_secs(30));
        }

        let schema = schema::build(
            &config,
            schema::SchemaData {
                clients: clients.clone(),
                feed: feed.clone(),
                stopping: stop_rx,
                poll_every: Duration::from_secs(config.subscription_poll_secs.max(1)),
                auth_limiter: auth_limiter.clone(),
                metrics: metrics.clone(),
            },
        );
        let state = http::AppState {
            schema,
            clients,
            verifier: Arc::new(verifier),
            limiter,
            subscriptions: Arc::new(ws::SubscriptionCounts::default()),
            metrics: metrics.clone(),
            config: Arc::new(config.clone()),
        };
        let readiness = shop_kit::admin::Readiness::default();
        let admin_router = http::admin_router(&metrics, readiness.clone());
        let admin_listener = TcpListener::bind(config.admin_addr())
            .await
            .with_context(|| format!("binding the admin port {}", config.admin_addr()))?;
        let upstreams = vec![
            ("user", config.user_url.clone()),
            ("product", config.product_url.clone()),
            ("inventory", config.inventory_url.clone()),
            ("cart", config.cart_url.clone()),
            ("order", config.order_url.clone()),
        ];
        let router = http::router(state);
        let listener = TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("binding {}", config.http_addr))?;
        Ok(Self {
            listener,
            router,
            admin_listener,
            admin_router,
            readiness,
            upstreams,
            feed,
            broker,
            stopping,
        })
    }

    fn addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The admin port (`/metrics`, `/healthz`, `/readyz`).
    fn admin_addr(&self) -> SocketAddr {
        self.admin_listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until `stop`; then ends live subscriptions, drains in-flight requests and
    /// closes the broker connection. `/readyz` turns 200 once the upstreams and the feed
    /// are up (see [`readiness`]) and 503 again as soon as shutdown starts.
    async fn run(self, stop: Stop) -> anyhow::Result<()> {
        let addr = self.addr();
        let admin_addr = self.admin_addr();
        let feed_task = tokio::spawn(self.feed.clone().run(stop.clone().wait()));
        let gate = tokio::spawn(readiness::gate(
            self.upstreams,
            self.feed.clone(),
            self.readiness.clone(),
        ));
        let admin = {
            let stop = stop.clone();
            let readiness = self.readiness.clone();
            tokio::spawn(
                axum::serve(self.admin_listener, self.admin_router)
                    .with_graceful_shutdown(async move {
                        stop.wait().await;
                        readiness.set(false);
                    })
                    .into_future(),
            )
        };
        let stopping = self.stopping;
        let graceful = async move {
            stop.wait().await;
            let _ = stopping.send(true);
        };
        tracing::info!(%addr, %admin_addr, "shop-bff serving");
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(graceful)
        .await;
        let _ = feed_task.await;
        gate.abort();
        if let Ok(Err(error)) = admin.await {
            tracing::warn!(%error, "admin port");
        }
        self.broker.close().await;
        tracing::info!("shop-bff drained");
        served.context("HTTP server")?;
        Ok(())
    }
}
