//! Logs and traces: one JSON line per event on stdout in the Elastic Common Schema (ECS),
//! filtered by `RUST_LOG`; OTLP export of traces and of the same log records when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set; and W3C trace-context propagation so one checkout is
//! one trace across HTTP, gRPC metadata and AMQP headers.
//!
//! Spans get OpenTelemetry ids even without an exporter, so every line written inside a span
//! carries `trace.id`/`span.id` and trace context still crosses process boundaries: a log
//! search by trace id works the same with or without a trace backend.

use std::fmt::Write as _;
use std::io::Write as _;

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord, SdkLoggerProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Keeps the trace and log pipelines alive; dropping it flushes what is still in the batch
/// queues, so `main` holds it until the server has drained.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    logs: Option<SdkLoggerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("failed to flush traces: {error}");
        }
        if let Some(logs) = self.logs.take()
            && let Err(error) = logs.shutdown()
        {
            eprintln!("failed to flush logs: {error}");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
    #[error("a global subscriber is already installed: {0}")]
    AlreadyInstalled(String),
}

/// The ECS `event.dataset` of a service's logs: what a Kibana data view or an Elasticsearch
/// query filters one service by (`shop-order.log`).
pub fn dataset(service_name: &str) -> String {
    format!("{service_name}.log")
}

/// Installs the global subscriber for `service_name`. Call once, first thing in `main`.
pub fn init(service_name: &'static str) -> Result<TelemetryGuard, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = EcsLayer::new(service_name, std::io::stdout).with_filter(filter());

    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|endpoint| !endpoint.is_empty());
    let resource = || {
        opentelemetry_sdk::Resource::builder()
            .with_service_name(service_name)
            .build()
    };
    let mut traces = SdkTracerProvider::builder().with_resource(resource());
    let mut log_provider = None;
    if endpoint.is_some() {
        traces = traces.with_batch_exporter(span_exporter()?);
        log_provider = Some(
            SdkLoggerProvider::builder()
                .with_resource(resource())
                .with_log_processor(Dataset(dataset(service_name)))
                .with_batch_exporter(log_exporter()?)
                .build(),
        );
    }
    let provider = traces.build();
    let trace_layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service_name))
        .with_filter(EnvFilter::new("info"));
    // The exporter's own HTTP client logs through `tracing` too; exporting those records
    // would feed the pipeline with itself.
    let otlp_logs = log_provider.as_ref().map(|logs| {
        OpenTelemetryTracingBridge::new(logs).with_filter(without_exporter_noise(filter()))
    });

    tracing_subscriber::registry()
        .with(logs)
        .with(trace_layer)
        .with(otlp_logs)
        .try_init()
        .map_err(|e| TelemetryError::AlreadyInstalled(e.to_string()))?;
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(TelemetryGuard {
        provider: Some(provider),
        logs: log_provider,
    })
}

/// `filter` with the OTLP exporter's own transport turned off.
fn without_exporter_noise(filter: EnvFilter) -> EnvFilter {
    ["hyper", "h2", "reqwest", "opentelemetry"]
        .iter()
        .fold(filter, |filter, target| {
            match format!("{target}=off").parse() {
                Ok(directive) => filter.add_directive(directive),
                Err(_) => filter,
            }
        })
}

/// OTLP/HTTP (protobuf) with a blocking client on the batch processor's own thread: it works
/// outside any runtime and during shutdown, unlike the async client.
fn span_exporter() -> Result<opentelemetry_otlp::SpanExporter, TelemetryError> {
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))
}

fn log_exporter() -> Result<opentelemetry_otlp::LogExporter, TelemetryError> {
    opentelemetry_otlp::LogExporter::builder()
        .with_http()
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))
}

/// Adds `event.dataset` to every exported log record, as the stdout line has it. The service
/// is also in the resource, but receivers that flatten records (a test tap, a log index
/// without resource mapping) keep only the record's own attributes.
#[derive(Debug)]
struct Dataset(String);

impl LogProcessor for Dataset {
    fn emit(&self, record: &mut SdkLogRecord, _: &opentelemetry::InstrumentationScope) {
        use opentelemetry::logs::LogRecord as _;
        record.add_attribute("event.dataset", self.0.clone());
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(
        &self,
        _: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
}

/// ECS version the lines follow (<https://www.elastic.co/guide/en/ecs/current/>).
const ECS_VERSION: &str = "8.11.0";

/// Writes each event as one ECS JSON line: `@timestamp`, `log.level`, `message`,
/// `service.name`, `event.dataset`, `log.logger`, `trace.id`/`span.id` when written inside a
/// span, `error.message` for an `error` field, and the event's other fields as they are
/// named. Elasticsearch (and Filebeat/the collector in ECS mode) index these without a
/// pipeline; the trace id links a line to its trace in Tempo.
pub struct EcsLayer<W> {
    service: &'static str,
    dataset: String,
    writer: W,
}

impl<W> EcsLayer<W> {
    pub fn new(service: &'static str, writer: W) -> Self {
        Self {
            service,
            dataset: dataset(service),
            writer,
        }
    }
}

impl<S, W> Layer<S> for EcsLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_event(&self, event: &Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert(
            "@timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                .into(),
        );
        line.insert(
            "log.level".into(),
            metadata.level().as_str().to_ascii_lowercase().into(),
        );
        line.insert("message".into(), Value::String(String::new()));
        line.insert("service.name".into(), self.service.into());
        line.insert("event.dataset".into(), self.dataset.clone().into());
        line.insert("ecs.version".into(), ECS_VERSION.into());
        line.insert("log.logger".into(), metadata.target().into());
        if ctx.event_span(event).is_some() {
            // The OpenTelemetry layer makes an entered span's context current (context
            // activation), so this is the id the exported span has.
            let context = opentelemetry::Context::current();
            let span = context.span();
            let ids = span.span_context();
            if ids.is_valid() {
                line.insert("trace.id".into(), ids.trace_id().to_string().into());
                line.insert("span.id".into(), ids.span_id().to_string().into());
            }
        }
        event.record(&mut EcsVisitor(&mut line));

        let mut bytes = match serde_json::to_vec(&line) {
            Ok(bytes) => bytes,
            Err(_) => return,
        };
        bytes.push(b'\n');
        // One write per line, so lines from concurrent threads never interleave.
        let _ = self.writer.make_writer_for(metadata).write_all(&bytes);
    }
}

/// Event fields into ECS names: `message` as is, `error` as `error.message` (an `error`
/// value beside `error.*` objects would be a mapping conflict in Elasticsearch), `log.*`
/// fields the `log` crate bridge adds are dropped (they would shadow ECS's own).
struct EcsVisitor<'a>(&'a mut Map<String, Value>);

impl EcsVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = match field.name() {
            "error" | "err" => "error.message",
            name if name.starts_with("log.") => return,
            name => name,
        };
        self.0.insert(name.to_owned(), value);
    }
}

impl Visit for EcsVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    /// An error recorded as one (`error = &e as &dyn Error`): the message with its causes,
    /// outermost first, and the causes also as `error.stack_trace` lines.
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut message = value.to_string();
        let mut causes = String::new();
        let mut source = value.source();
        while let Some(cause) = source {
            let _ = write!(message, ": {cause}");
            let _ = writeln!(causes, "caused by: {cause}");
            source = cause.source();
        }
        self.put(field, message.into());
        if !causes.is_empty() && matches!(field.name(), "error" | "err") {
            self.0.insert("error.stack_trace".into(), causes.into());
        }
    }
}

/// Reads W3C `traceparent`/`tracestate` from HTTP headers (gRPC metadata are HTTP/2 headers).
pub struct HeaderExtractor<'a>(pub &'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Writes W3C trace context into HTTP headers or gRPC metadata.
pub struct HeaderInjector<'a>(pub &'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Makes `span` a child of the trace context carried by `headers`, if any.
pub fn set_parent_from_headers(span: &tracing::Span, headers: &http::HeaderMap) {
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(headers))
    });
    let _ = span.set_parent(parent);
}

/// Adds the current span's trace context to outgoing headers.
pub fn inject_current(headers: &mut http::HeaderMap) {
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(headers));
    });
}

/// A tonic client interceptor that propagates the current trace into the call's metadata.
/// Use with `XServiceClient::with_interceptor(channel, shop_kit::telemetry::propagate)`.
pub fn propagate(mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    let mut headers = http::HeaderMap::new();
    inject_current(&mut headers);
    for (name, value) in &headers {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(name.as_str().as_bytes()),
            value.to_str().map(tonic::metadata::MetadataValue::try_from),
        ) && let Ok(value) = value
        {
            request.metadata_mut().insert(key, value);
        }
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TraceContextExt as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    /// Collects what the layer writes, one `Vec<u8>` for the whole test.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;

        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    impl Buffer {
        fn lines(&self) -> Vec<Map<String, Value>> {
            let bytes = self.0.lock().expect("buffer").clone();
            String::from_utf8(bytes)
                .expect("UTF-8")
                .lines()
                .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
                .collect()
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("checkout failed")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn lines_are_ecs_and_carry_the_ids_of_the_span_they_are_written_in() {
        let buffer = Buffer::default();
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(EcsLayer::new("shop-test", buffer.clone()))
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let (trace_id, span_id) = tracing::subscriber::with_default(subscriber, || {
            tracing::info!("outside any span");
            let span = tracing::info_span!("checkout");
            let ids = {
                let context = span.context();
                let otel = context.span();
                let ids = otel.span_context();
                (ids.trace_id().to_string(), ids.span_id().to_string())
            };
            span.in_scope(|| {
                let error = Outer(std::io::Error::other("broker gone"));
                tracing::warn!(
                    error = &error as &dyn std::error::Error,
                    order_id = 7_u64,
                    "cannot place"
                );
                tracing::debug!(%error, "again, displayed");
            });
            ids
        });

        let lines = buffer.lines();
        assert_eq!(lines.len(), 3, "{lines:?}");
        for line in &lines {
            for key in [
                "@timestamp",
                "log.level",
                "message",
                "service.name",
                "event.dataset",
            ] {
                assert!(line.contains_key(key), "{key} missing from {line:?}");
            }
            assert_eq!(line["service.name"], "shop-test");
            assert_eq!(line["event.dataset"], "shop-test.log");
            chrono::DateTime::parse_from_rfc3339(line["@timestamp"].as_str().expect("a string"))
                .expect("@timestamp is RFC 3339");
        }

        let outside = &lines[0];
        assert_eq!(outside["message"], "outside any span");
        assert_eq!(outside["log.level"], "info");
        assert!(!outside.contains_key("trace.id") && !outside.contains_key("span.id"));

        let inside = &lines[1];
        assert_eq!(trace_id.len(), 32);
        assert_eq!(inside["trace.id"], trace_id.as_str());
        assert_eq!(inside["span.id"], span_id.as_str());
        assert_eq!(inside["log.level"], "warn");
        assert_eq!(inside["message"], "cannot place");
        assert_eq!(inside["order_id"], 7);
        assert_eq!(inside["error.message"], "checkout failed: broker gone");
        assert_eq!(inside["error.stack_trace"], "caused by: broker gone\n");
        assert!(
            !inside.contains_key("error"),
            "a bare `error` would clash with error.*"
        );

        let displayed = &lines[2];
        assert_eq!(displayed["trace.id"], trace_id.as_str());
        assert_eq!(displayed["error.message"], "checkout failed");
    }
}
