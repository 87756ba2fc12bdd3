//! The HTTP surface: `/graphql` (POST queries and mutations; GET serves GraphiQL in
//! development), `/graphql/ws` (subscriptions only, over `graphql-transport-ws` and the
//! legacy `graphql-ws`), `POST /auth/refresh` and `POST /auth/logout` (the browser's
//! session, from the HttpOnly refresh cookie), `/healthz`, and the web app at `/`. Metrics
//! and readiness are on the admin port ([`admin_router`]), which is never exposed publicly. Every response carries the security headers (CSP, nosniff, Referrer-Policy; HSTS in
//! production).
//!
//! Every /graphql request passes the gateway in this order: rate limit (per user, else per
//! address) → body limit → parse → depth and complexity limits (schema validation) →
//! execution under the request timeout → error sanitising. Each refusal is a GraphQL error
//! body with `extensions.code` and the fitting HTTP status, never a bare 500.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::Data;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql_axum::{GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use axum::Router;
use axum::body::Body;
use axum::extract::OriginalUri;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get, post};
use shop_kit::auth::TokenVerifier;
use tower::Layer as _;
use tower_http::services::ServeDir;
use tracing::Instrument as _;

use crate::BffConfig;
use crate::clients::Clients;
use crate::gateway::{BffMetrics, RateLimiter};
use crate::loaders::Loaders;
use crate::schema::{CookieSecure, MintedCart, ShopSchema};
use crate::viewer::{Auth, Viewer};
use crate::ws::{SubscriptionCounts, SubscriptionsOnly};

#[derive(Clone)]
pub struct AppState {
    pub schema: ShopSchema,
    pub clients: Clients,
    pub verifier: Arc<TokenVerifier>,
    pub limiter: Arc<RateLimiter>,
    pub subscriptions: Arc<SubscriptionCounts>,
    pub metrics: Arc<BffMetrics>,
    pub config: Arc<BffConfig>,
}

pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let mut router = Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphql/ws", get(websocket))
        .route("/auth/refresh", post(crate::session::refresh))
        .route("/auth/logout", post(crate::session::logout))
        .route("/healthz", get(|| async { "ok" }))
        // On the admin port only; here a 404, never the web app's page.
        .route("/metrics", any(no_such_endpoint))
        .route("/readyz", any(no_such_endpoint))
        // An API path that does not exist is an error, not the web app's page.
        .route("/graphql/{*rest}", any(no_such_endpoint))
        .route("/auth/{*rest}", any(no_such_endpoint))
        .with_state(state);
    let dist = Path::new(&config.web_dist);
    // Product images do not need the web app: an API-only BFF with SHOP_IMAGES_DIR serves them.
    let images = config
        .images_dir
        .as_deref()
        .map(str::trim)
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| dist.join("images"), std::path::PathBuf::from);
    router = router.nest_service(
        "/images",
        axum::middleware::map_response(cached(A_WEEK)).layer(ServeDir::new(images)),
    );
    if dist.is_dir() {
        // Vite names every asset by its content hash, so a cached copy can never be stale;
        // a missing one is a 404 (a stale page asking for an old bundle must fail loudly,
        // not receive index.html as JavaScript). The build writes `.br` and `.gz` beside
        // every asset (scripts/web.sh): served to the clients that accept them, at no CPU
        // cost per request.
        let assets = ServeDir::new(dist.join("assets"))
            .precompressed_br()
            .precompressed_gzip();
        router = router
            .nest_service(
                "/assets",
                axum::middleware::map_response(cached(IMMUTABLE)).layer(assets),
            )
            // A single-page app: the client routes a path without a file extension, so it
            // gets index.html; a missing file (`/favicon.ico`, `/robots.txt`) is a 404.
            .fallback_service(
                ServeDir::new(dist).fallback(get(app_route).with_state(dist.join("index.html"))),
            );
    }
    if let Some(cors) = crate::gateway::cors(&config.cors_allowed_origins) {
        router = router.layer(cors);
    }
    let production = config.is_production();
    router.layer(axum::middleware::map_response(
        move |request_host: RequestHost, response: Response| async move {
            security_headers(response, request_host.0.as_deref(), production)
        },
    ))
}

/// The request's `Host`, when it is a plain authority (for the CSP's WebSocket source).
struct RequestHost(Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestHost {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<axum::http::uri::Authority>().ok())
            .filter(|authority| {
                authority
                    .as_str()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
            })
            .map(|authority| authority.as_str().to_owned());
        Ok(Self(host))
    }
}

/// The web app's policy: everything from this origin only, images also as data: URLs and
/// from any https origin (an admin may point a product at a CDN; an image cannot run
/// script), the subscription's WebSocket to this host, never framed (clickjacking).
fn content_security_policy(host: Option<&str>, production: bool) -> String {
    let sockets = match (host, production) {
        (Some(host), true) => format!(" wss://{host}"),
        (Some(host), false) => format!(" ws://{host} wss://{host}"),
        (None, _) => String::new(),
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; \
         font-src 'self'; connect-src 'self'{sockets}; object-src 'none'; base-uri 'self'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// GraphiQL (development only) loads its bundle from a CDN and runs inline scripts.
const GRAPHIQL_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline' https://unpkg.com; \
     style-src 'self' 'unsafe-inline' https://unpkg.com; img-src 'self' data: https:; \
     font-src 'self' data: https://unpkg.com; connect-src 'self' ws: wss:; frame-ancestors 'none'";

fn security_headers(mut response: Response, host: Option<&str>, production: bool) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY)
        && let Ok(value) = HeaderValue::from_str(&content_security_policy(host, production))
    {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if production {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

async fn no_such_endpoint(OriginalUri(uri): OriginalUri) -> Response {
    refusal(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        &format!("no endpoint at {}", uri.path()),
    )
}

/// `Cache-Control` for content-hashed assets: a year, never revalidated.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `Cache-Control` for product images: a week. A catalog image is replaced by pointing the
/// product at a new URL (the seed names them by SKU), so a stale copy is at worst a week old
/// and never wrong for long; revalidation would cost a round trip per card.
const A_WEEK: &str = "public, max-age=604800";

/// Sets `policy` as the `Cache-Control` of a successful response (a 404 must not be cached
/// for a year).
fn cached<B>(
    policy: &'static str,
) -> impl Fn(http::Response<B>) -> std::future::Ready<http::Response<B>> + Clone {
    move |mut response| {
        if response.status().is_success() {
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
        }
        std::future::ready(response)
    }
}

/// The web app's page for a client-side route; revalidated on every load, so a deploy is
/// seen at once (the assets it names are cached for good).
async fn app_route(
    State(index): State<std::path::PathBuf>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let last = uri.path().rsplit('/').next().unwrap_or_default();
    if last.contains('.') {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    match tokio::fs::read(&index).await {
        Ok(page) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            page,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, path = %index.display(), "cannot read the web app's index.html");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the web app is not available",
            )
                .into_response()
        }
    }
}

/// A response whose body is a GraphQL error, for refusals before execution.
pub(crate) fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code } }]
    });
    (status, axum::Json(body)).into_response()
}

/// The general rate limit's refusal (429 with `Retry-After`), counted, wherever a client
/// reaches it: a GraphQL request, a WebSocket upgrade, a session refresh.
pub(crate) fn rate_limited(state: &AppState) -> Response {
    state
        .metrics
        .rate_limited
        .with_label_values(&["request"])
        .inc();
    let mut response = refusal(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        "too many requests; slow down",
    );
    if let Ok(value) = state.limiter.retry_after_secs().to_string().parse() {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

pub(crate) fn viewer(
    state: &AppState,
    headers: &HeaderMap,
    authorization: Option<&str>,
    peer: SocketAddr,
) -> Viewer {
    Viewer::from_parts(
        &state.verifier,
        authorization,
        headers,
        crate::gateway::client_ip(state.config.trusted_proxy_hops, headers, peer),
    )
}

/// One GraphQL operation, in a server span that continues the caller's W3C trace.
async fn graphql(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let span = tracing::info_span!("graphql", otel.kind = "server", otel.name = "POST /graphql");
    shop_kit::telemetry::set_parent_from_headers(&span, &headers);
    execute(state, peer, headers, body).instrument(span).await
}

async fn execute(state: AppState, peer: SocketAddr, headers: HeaderMap, body: Body) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let viewer = viewer(&state, &headers, authorization, peer);
    if !state.limiter.check(&viewer.client_key()) {
        return rate_limited(&state);
    }

    let limit = state.config.body_limit_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return too_large(limit);
    }
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return too_large(limit);
    };
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(_) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "the body must be a JSON GraphQL request: {\"query\": ..., \"variables\": {...}}",
            );
        }
    };
    // The client names its operation; a bounded copy is enough for a log line.
    let operation: String = request
        .operation_name
        .as_deref()
        .unwrap_or("anonymous")
        .chars()
        .take(64)
        .collect();
    let request = request
        .data(viewer)
        .data(Loaders::new(&state.clients))
        .data(MintedCart::default())
        .data(CookieSecure(state.config.secure_cookies()));

    let started = Instant::now();
    let timeout = Duration::from_millis(state.config.request_timeout_ms.max(1));
    let Ok(mut response) = tokio::time::timeout(timeout, state.schema.execute(request)).await
    else {
        state
            .metrics
            .operations
            .with_label_values(&["timeout"])
            .inc();
        return refusal(
            StatusCode::GATEWAY_TIMEOUT,
            "TIMEOUT",
            "the request took too long; try again",
        );
    };
    state
        .metrics
        .latency
        .observe(started.elapsed().as_secs_f64());
    crate::errors::sanitize(&mut response);
    let outcome = if response.errors.is_empty() {
        "ok"
    } else {
        "error"
    };
    state.metrics.operations.with_label_values(&[outcome]).inc();
    let mut codes = Vec::new();
    for error in &response.errors {
        if let Some(async_graphql::Value::String(code)) =
            error.extensions.as_ref().and_then(|e| e.get("code"))
        {
            state
                .metrics
                .errors
                .with_label_values(&[code.as_str()])
                .inc();
            codes.push(code.as_str());
        }
    }
    // One line per operation, inside its span: what an operator finds by a checkout's trace id.
    tracing::info!(
        operation = %operation,
        outcome,
        error_codes = %codes.join(","),
        duration_ms = started.elapsed().as_millis() as u64,
        "graphql operation"
    );
    GraphQLResponse::from(response).into_response()
}

fn too_large(limit: usize) -> Response {
    refusal(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        &format!("the request body must be at most {limit} bytes"),
    )
}

async fn graphiql(State(state): State<AppState>) -> Response {
    if !state.config.graphiql || state.config.is_production() {
        return refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_REQUEST",
            "send GraphQL requests as POST",
        );
    }
    (
        [(header::CONTENT_SECURITY_POLICY, GRAPHIQL_CSP)],
        Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql/ws")
                .finish(),
        ),
    )
        .into_response()
}

/// Subscriptions. The access token comes in the `connection_init` payload
/// (`{"Authorization": "Bearer …"}`), since browsers cannot set headers on a WebSocket;
/// an `Authorization` header on the upgrade is accepted too.
async fn websocket(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let ip = crate::gateway::client_ip(state.config.trusted_proxy_hops, &headers, peer);
    if !state.limiter.check(&crate::gateway::ip_key(ip)) {
        return rate_limited(&state);
    }
    let executor = SubscriptionsOnly::new(
        state.schema.clone(),
        state.subscriptions.clone(),
        state.config.ws_max_subscriptions_per_connection.max(1),
        state.config.ws_max_subscriptions_per_user.max(1),
    );
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, executor, protocol)
                .on_connection_init(move |payload| async move {
                    let from_payload = ["Authorization", "authorization"]
                        .iter()
                        .find_map(|key| payload.get(*key).and_then(|value| value.as_str()))
                        .map(str::to_owned);
                    let from_header = headers
                        .get(header::AUTHORIZATION)
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_owned);
                    let authorization = from_payload.or(from_header);
                    let viewer = viewer(&state, &headers, authorization.as_deref(), peer);
                    if matches!(viewer.auth, Auth::Invalid) {
                        return Err(crate::errors::unauthenticated());
                    }
                    let mut data = Data::default();
                    data.insert(Loaders::new(&state.clients));
                    data.insert(viewer);
                    Ok(data)
                })
                .serve()
        })
}

/// The admin port: `/metrics` (Prometheus text), `/healthz` (liveness), `/readyz` (503
/// until the upstreams and the order feed are up, and again once shutdown starts; see
/// [`crate::readiness`]): the services' admin routes over the BFF's own registry.
pub fn admin_router(metrics: &BffMetrics, readiness: shop_kit::admin::Readiness) -> Router {
    shop_kit::admin::router(metrics.registry().clone(), readiness)
}
