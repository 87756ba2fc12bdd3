//! Real trace ids in a test process, for tests that prove trace context travels (through an
//! outbox row, a message header, a webhook). Without an OpenTelemetry layer every span's
//! context is empty and such a test could not fail.

use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TracerProvider as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Installs, once for the whole process, test logs (`RUST_LOG` tunes them) plus an
/// OpenTelemetry layer (spans get ids; nothing is exported) and the W3C propagator.
/// Every service the testkit starts calls it too, so it does not matter which test of a
/// `cargo test` process comes first: all of them see trace ids.
pub fn init_tracing() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(install);
}

fn install() {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_test_writer())
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(filter)
        .try_init();
}

struct Traceparent<'a>(&'a str);

impl Extractor for Traceparent<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

/// A span that continues the trace of a W3C `traceparent`, as if a caller had sent it:
/// work instrumented with it carries that trace id. Needs [`init_tracing`].
pub fn span_in_trace(traceparent: &str) -> tracing::Span {
    let span = tracing::info_span!("test caller");
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&Traceparent(traceparent))
    });
    let _ = span.set_parent(parent);
    span
}
