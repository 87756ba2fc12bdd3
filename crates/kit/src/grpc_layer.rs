//! The tower layer in front of every gRPC service: trace context in, auth claims in, RED
//! metrics out. Handlers stay free of cross-cutting code.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use tracing::Instrument;

use crate::auth::TokenVerifier;
use crate::metrics::Metrics;
use crate::telemetry;

#[derive(Clone)]
pub struct GrpcLayer {
    metrics: Arc<Metrics>,
    verifier: Option<Arc<TokenVerifier>>,
}

impl GrpcLayer {
    pub fn new(metrics: Arc<Metrics>, verifier: Option<Arc<TokenVerifier>>) -> Self {
        Self { metrics, verifier }
    }
}

impl<S> tower::Layer<S> for GrpcLayer {
    type Service = GrpcMiddleware<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMiddleware {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct GrpcMiddleware<S> {
    inner: S,
    layer: GrpcLayer,
}

/// `/shop.user.v1.UserService/Register` → (`shop.user.v1.UserService`, `Register`).
fn split_path(path: &str) -> (String, String) {
    let trimmed = path.trim_start_matches('/');
    match trimmed.split_once('/') {
        Some((service, method)) => (service.to_owned(), method.to_owned()),
        None => (trimmed.to_owned(), String::new()),
    }
}

/// The gRPC status of a response whose status is already known from its headers (errors
/// are "trailers-only"); a successful unary call reports OK in trailers, so absence is OK.
fn status_code(headers: &http::HeaderMap) -> tonic::Code {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from_i32)
}

/// Prometheus-friendly code names: `OK`, `InvalidArgument`, ...
fn code_label(code: tonic::Code) -> String {
    match code {
        tonic::Code::Ok => "OK".to_owned(),
        other => format!("{other:?}"),
    }
}

impl<S, ReqBody> tower::Service<http::Request<ReqBody>> for GrpcMiddleware<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        // Take the service that was driven to readiness; leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();

        let (service, method) = split_path(request.uri().path());
        let span = tracing::info_span!(
            "grpc.server",
            otel.name = %request.uri().path().trim_start_matches('/'),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        telemetry::set_parent_from_headers(&span, request.headers());

        let rejection = match (&layer.verifier, request.headers().get("authorization")) {
            (Some(verifier), Some(header)) => match header
                .to_str()
                .map_err(|_| crate::ServiceError::Unauthenticated("malformed authorization".into()))
                .and_then(|value| verifier.verify_bearer(value))
            {
                Ok(claims) => {
                    request.extensions_mut().insert(claims);
                    None
                }
                Err(error) => Some(tonic::Status::from(error)),
            },
            _ => None,
        };

        Box::pin(
            async move {
                let started = Instant::now();
                let response = match rejection {
                    Some(status) => Ok(status.into_http()),
                    None => inner.call(request).await,
                };
                let code = match &response {
                    Ok(response) => status_code(response.headers()),
                    Err(_) => tonic::Code::Unknown,
                };
                let current = tracing::Span::current();
                current.record("rpc.grpc.status_code", code as i32);
                if !matches!(code, tonic::Code::Ok) {
                    current.record("otel.status_code", "ERROR");
                }
                layer
                    .metrics
                    .grpc_handled
                    .with_label_values(&[service.as_str(), method.as_str(), &code_label(code)])
                    .inc();
                layer
                    .metrics
                    .grpc_latency
                    .with_label_values(&[service.as_str(), method.as_str()])
                    .observe(started.elapsed().as_secs_f64());
                response
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_grpc_paths() {
        assert_eq!(
            split_path("/shop.user.v1.UserService/Register"),
            ("shop.user.v1.UserService".to_owned(), "Register".to_owned())
        );
    }

    #[test]
    fn reads_trailers_only_status() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(status_code(&headers), tonic::Code::Ok);
        headers.insert("grpc-status", http::HeaderValue::from_static("3"));
        assert_eq!(status_code(&headers), tonic::Code::InvalidArgument);
        assert_eq!(code_label(tonic::Code::InvalidArgument), "InvalidArgument");
    }
}
