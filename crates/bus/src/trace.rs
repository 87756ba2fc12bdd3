//! W3C trace context in AMQP headers.

use lapin::types::{AMQPValue, FieldTable, ShortString};
use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

struct HeaderInjector<'a>(&'a mut FieldTable);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0
            .insert(ShortString::from(key), AMQPValue::LongString(value.into()));
    }
}

struct HeaderExtractor<'a>(&'a FieldTable);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match self.0.inner().get(key) {
            Some(AMQPValue::LongString(value)) => std::str::from_utf8(value.as_bytes()).ok(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.0.inner().keys().map(|key| key.as_str()).collect()
    }
}

/// Headers carrying the current span's trace context.
pub fn current_headers() -> FieldTable {
    let mut headers = FieldTable::default();
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(&mut headers));
    });
    headers
}

/// Headers carrying a stored `traceparent` (the outbox keeps the context of the request
/// that produced the event, so the relay's publish joins that trace).
pub fn headers_from_traceparent(traceparent: Option<&str>) -> FieldTable {
    let mut headers = FieldTable::default();
    if let Some(traceparent) = traceparent.filter(|t| !t.is_empty()) {
        headers.insert(
            ShortString::from("traceparent"),
            AMQPValue::LongString(traceparent.to_owned().into()),
        );
    }
    headers
}

/// The current span's `traceparent`, for storing with an outbox row.
pub fn current_traceparent() -> Option<String> {
    match current_headers().inner().get("traceparent") {
        Some(AMQPValue::LongString(value)) => std::str::from_utf8(value.as_bytes())
            .ok()
            .map(str::to_owned),
        _ => None,
    }
}

/// Makes `span` a child of the context in `headers`.
pub fn set_parent(span: &tracing::Span, headers: Option<&FieldTable>) {
    if let Some(headers) = headers {
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&HeaderExtractor(headers))
        });
        let _ = span.set_parent(parent);
    }
}
