//! The tower layer in front of every gRPC service: trace context in, auth claims in, RED
//! metrics (with trace exemplars) and one log line per call out. Handlers stay free of
//! cross-cutting code.
//!
//! Health checks (`grpc.health.v1.Health`) are probes, not work: kubelet and the compose
//! healthcheck call them every few seconds per pod, so they get no span (no trace started,
//! none exported) and no log line; they are still counted in the metrics.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use opentelemetry::trace::TraceContextExt as _;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

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

/// The probe service: see the module docs.
const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

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
        let probe = service == HEALTH_SERVICE;
        let span = if probe {
            tracing::Span::none()
        } else {
            tracing::info_span!(
            "grpc.server",
            otel.name = %request.uri().path().trim_start_matches('/'),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            )
        };
        if !probe {
            telemetry::set_parent_from_headers(&span, request.headers());
        }

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
                // A probe runs in no span of its own: record nothing on whichever is current.
                let current = if probe {
                    tracing::Span::none()
                } else {
                    tracing::Span::current()
                };
                current.record("rpc.grpc.status_code", code as i32);
                if !matches!(code, tonic::Code::Ok) {
                    current.record("otel.status_code", "ERROR");
                }
                layer
                    .metrics
                    .grpc_handled
                    .with_label_values(&[service.as_str(), method.as_str(), &code_label(code)])
                    .inc();
                let elapsed = started.elapsed();
                layer.metrics.observe_grpc_latency(
                    &service,
                    &method,
                    elapsed.as_secs_f64(),
                    sampled_trace_id(&current),
                );
                if !probe {
                    log_call(&service, &method, code, elapsed);
                }
                response
            }
            .instrument(span),
        )
    }
}

/// The trace id of `span` when it is sampled (exported): only such a trace can be opened
/// from an exemplar.
fn sampled_trace_id(span: &tracing::Span) -> Option<String> {
    if span.is_none() {
        return None;
    }
    let context = span.context();
    let otel = context.span();
    let ids = otel.span_context();
    (ids.is_valid() && ids.is_sampled()).then(|| ids.trace_id().to_string())
}

/// One line per call, inside the call's span (so it carries the trace id): the request log
/// Elasticsearch searches by trace, method or code. Codes that mean the server failed are
/// warnings; the caller's own mistakes (InvalidArgument, NotFound, ...) are not.
fn log_call(service: &str, method: &str, code: tonic::Code, elapsed: std::time::Duration) {
    let duration_ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
    let code = code_label(code);
    if server_fault(&code) {
        tracing::warn!(
            rpc.service = service,
            rpc.method = method,
            rpc.grpc.status_code = code.as_str(),
            event.duration = duration_ns,
            "gRPC call failed"
        );
    } else {
        tracing::info!(
            rpc.service = service,
            rpc.method = method,
            rpc.grpc.status_code = code.as_str(),
            event.duration = duration_ns,
            "gRPC call handled"
        );
    }
}

fn server_fault(code: &str) -> bool {
    matches!(
        code,
        "Unknown" | "Internal" | "Unavailable" | "DataLoss" | "DeadlineExceeded" | "Unimplemented"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    use tower::{Layer as _, Service as _, ServiceExt as _};
    use tracing_subscriber::layer::SubscriberExt as _;

    #[tokio::test]
    async fn probes_start_no_trace_and_a_call_leaves_its_trace_as_the_exemplar() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let _default = tracing::subscriber::set_default(subscriber);
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );

        let metrics = Arc::new(Metrics::new("test").expect("metrics"));
        let mut service = GrpcLayer::new(metrics.clone(), None).layer(tower::service_fn(
            |_: http::Request<()>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(tonic::body::Body::empty()))
            },
        ));
        for path in [
            "/grpc.health.v1.Health/Check",
            "/grpc.health.v1.Health/Watch",
            "/shop.x.v1.X/Get",
        ] {
            // A probe that arrives with trace context must not continue that trace either.
            let request = http::Request::builder()
                .uri(path)
                .header(
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                )
                .body(())
                .expect("request");
            service
                .ready()
                .await
                .expect("ready")
                .call(request)
                .await
                .expect("answered");
        }
        provider.force_flush().expect("flushed");

        let spans = exporter.get_finished_spans().expect("spans");
        let names: Vec<&str> = spans.iter().map(|span| span.name.as_ref()).collect();
        assert_eq!(names, ["shop.x.v1.X/Get"], "only the real call is a span");
        let trace_id = spans[0].span_context.trace_id().to_string();
        assert_eq!(
            trace_id, "4bf92f3577b34da6a3ce929d0e0e4736",
            "continues the caller's trace"
        );

        assert_eq!(
            metrics
                .grpc_handled
                .with_label_values(&["grpc.health.v1.Health", "Check", "OK"])
                .get(),
            1,
            "probes are still counted"
        );
        let exposition = metrics.render_openmetrics();
        let exemplars: Vec<&str> = exposition
            .lines()
            .filter(|line| line.contains("# {trace_id="))
            .collect();
        assert_eq!(exemplars.len(), 1, "{exposition}");
        assert!(exemplars[0].contains(r#"grpc_service="shop.x.v1.X""#));
        assert!(exemplars[0].contains(&format!(r#"# {{trace_id="{trace_id}"}}"#)));
    }

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
