//! Prometheus metrics of one service instance: RED per RPC, plus whatever the service adds.
//!
//! Each instance owns its registry (not the process-global one), so several services spawned
//! in one test process keep separate, assertable counters.
//!
//! Exemplars: the `prometheus` crate (0.14) has no exemplar support and its encoders write
//! only the classic text format (and protobuf), which cannot carry them. Rather than move
//! every service's metrics to another crate, the latency histogram keeps, per series and
//! bucket, the trace id of the latest sampled call that landed there, and
//! [`Metrics::render_openmetrics`] writes the registry in the OpenMetrics text format with
//! those exemplars on the bucket lines. Prometheus asks for OpenMetrics in its `Accept`
//! header; [`openmetrics_when_asked`] answers it, anything else still gets the classic text.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::proto::{MetricFamily, MetricType};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// The content type of [`Metrics::render_openmetrics`].
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

const GRPC_LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

pub struct Metrics {
    registry: Registry,
    /// Calls completed, by `service`, `method` and gRPC `code` (e.g. `OK`, `InvalidArgument`).
    pub grpc_handled: IntCounterVec,
    /// Server-side latency, by `service` and `method`. Observe through
    /// [`Metrics::observe_grpc_latency`], which also keeps the exemplar.
    pub grpc_latency: HistogramVec,
    exemplars: Exemplars,
}

/// A process's own registry: every name prefixed `shop_`, and `app` a constant label, so
/// one Prometheus can scrape every service (and the BFF) apart.
pub fn app_registry(app: &str) -> Result<Registry, prometheus::Error> {
    let labels = std::iter::once(("app".to_owned(), app.to_owned())).collect();
    Registry::new_custom(Some("shop".to_owned()), Some(labels))
}

/// The Prometheus text exposition (0.0.4) of everything in `registry`.
pub fn render_text(registry: &Registry) -> String {
    let mut buffer = Vec::new();
    if let Err(error) = TextEncoder::new().encode(&registry.gather(), &mut buffer) {
        tracing::warn!(%error, "cannot encode metrics");
    }
    String::from_utf8(buffer).unwrap_or_default()
}

impl Metrics {
    /// `app` becomes a constant `app` label ([`app_registry`]).
    pub fn new(app: &str) -> Result<Self, prometheus::Error> {
        let registry = app_registry(app)?;
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
            .buckets(GRPC_LATENCY_BUCKETS.to_vec()),
            &["grpc_service", "grpc_method"],
        )?;
        registry.register(Box::new(grpc_handled.clone()))?;
        registry.register(Box::new(grpc_latency.clone()))?;
        Ok(Self {
            registry,
            grpc_handled,
            grpc_latency,
            exemplars: Exemplars::default(),
        })
    }

    /// Records one call's latency; `trace_id` (of a sampled call) becomes the exemplar of the
    /// bucket the value falls in, so a slow bucket in Grafana links to a trace of it.
    pub fn observe_grpc_latency(
        &self,
        service: &str,
        method: &str,
        seconds: f64,
        trace_id: Option<String>,
    ) {
        self.grpc_latency
            .with_label_values(&[service, method])
            .observe(seconds);
        if let Some(trace_id) = trace_id {
            self.exemplars.record(
                "shop_grpc_server_handling_seconds",
                &[("grpc_method", method), ("grpc_service", service)],
                bucket_index(&GRPC_LATENCY_BUCKETS, seconds),
                Exemplar {
                    trace_id,
                    value: seconds,
                    timestamp: unix_seconds(),
                },
            );
        }
    }

    /// Where services register their own counters (saga outcomes, outbox lag, ...).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Prometheus text exposition (0.0.4) of everything registered.
    pub fn render(&self) -> String {
        render_text(&self.registry)
    }

    /// The OpenMetrics 1.0 exposition of everything registered, with exemplars.
    pub fn render_openmetrics(&self) -> String {
        encode_openmetrics(&self.registry.gather(), &self.exemplars)
    }
}

/// Axum middleware in front of an admin router's `/metrics`: a scraper that accepts
/// OpenMetrics (Prometheus does) gets [`Metrics::render_openmetrics`]; every other request
/// goes on to the router unchanged.
pub async fn openmetrics_when_asked(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == "/metrics" && accepts_openmetrics(request.headers()) {
        return (
            [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
            metrics.render_openmetrics(),
        )
            .into_response();
    }
    next.run(request).await
}

/// Whether `Accept` lists OpenMetrics text with a non-zero quality.
pub fn accepts_openmetrics(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            parts.next() == Some("application/openmetrics-text")
                && !parts.any(|param| {
                    param
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f64>().ok())
                        .is_some_and(|q| q <= 0.0)
                })
        })
}

#[derive(Clone, Debug, PartialEq)]
struct Exemplar {
    trace_id: String,
    value: f64,
    timestamp: f64,
}

/// The latest exemplar per (family, series, bucket). Bounded by the series the histogram
/// has times its buckets; a mutex is enough at one insert per RPC.
#[derive(Default)]
struct Exemplars(Mutex<HashMap<(String, String, usize), Exemplar>>);

impl Exemplars {
    /// `labels`: the series' own labels (not the registry's constant ones), sorted by name.
    fn record(&self, family: &str, labels: &[(&str, &str)], bucket: usize, exemplar: Exemplar) {
        if let Ok(mut map) = self.0.lock() {
            map.insert((family.to_owned(), series_key(labels), bucket), exemplar);
        }
    }

    fn get(&self, family: &str, series: &str, bucket: usize) -> Option<Exemplar> {
        let map = self.0.lock().ok()?;
        map.get(&(family.to_owned(), series.to_owned(), bucket))
            .cloned()
    }
}

fn series_key(labels: &[(&str, &str)]) -> String {
    let mut key = String::new();
    for (name, value) in labels {
        let _ = write!(key, "{name}={value:?},");
    }
    key
}

/// The first bucket whose upper bound holds `value`; `bounds.len()` is `+Inf`.
fn bucket_index(bounds: &[f64], value: f64) -> usize {
    bounds
        .iter()
        .position(|bound| value <= *bound)
        .unwrap_or(bounds.len())
}

fn unix_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs_f64())
        .unwrap_or_default()
}

fn number(value: f64) -> String {
    if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else if value.is_nan() {
        "NaN".to_owned()
    } else {
        format!("{value}")
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('\n', r"\n")
        .replace('"', r#"\""#)
}

/// `{a="1",b="2"}` with `extra` (e.g. `le`) appended; empty when there are no labels.
fn label_set(labels: &[(String, String)], extra: Option<(&str, &str)>) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .chain(extra)
        .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", pairs.join(","))
    }
}

/// OpenMetrics 1.0 text of `families`: counters as `<name>_total` under a family named
/// without the suffix (a counter not named `*_total` is written as `unknown`, so its sample
/// keeps its name), histograms with their `+Inf` bucket and exemplars, `# EOF` last.
fn encode_openmetrics(families: &[MetricFamily], exemplars: &Exemplars) -> String {
    let mut out = String::new();
    for family in families {
        let name = family.name();
        let (family_name, kind) = match family.get_field_type() {
            MetricType::COUNTER => match name.strip_suffix("_total") {
                Some(stem) => (stem, "counter"),
                None => (name, "unknown"),
            },
            MetricType::GAUGE => (name, "gauge"),
            MetricType::HISTOGRAM => (name, "histogram"),
            MetricType::SUMMARY => (name, "summary"),
            MetricType::UNTYPED => continue,
        };
        let _ = writeln!(out, "# TYPE {family_name} {kind}");
        if !family.help().is_empty() {
            let _ = writeln!(out, "# HELP {family_name} {}", escape(family.help()));
        }
        for metric in family.get_metric() {
            let labels: Vec<(String, String)> = metric
                .get_label()
                .iter()
                .map(|pair| (pair.name().to_owned(), pair.value().to_owned()))
                .collect();
            let plain = label_set(&labels, None);
            match family.get_field_type() {
                MetricType::COUNTER => {
                    let _ = writeln!(
                        out,
                        "{name}{plain} {}",
                        number(metric.get_counter().get_value())
                    );
                }
                MetricType::GAUGE => {
                    let _ = writeln!(
                        out,
                        "{name}{plain} {}",
                        number(metric.get_gauge().get_value())
                    );
                }
                // The crate has no untyped metric to register; nothing to write.
                MetricType::UNTYPED => {}
                MetricType::SUMMARY => {
                    let summary = metric.get_summary();
                    for quantile in summary.get_quantile() {
                        let q = number(quantile.quantile());
                        let set = label_set(&labels, Some(("quantile", &q)));
                        let _ = writeln!(out, "{name}{set} {}", number(quantile.value()));
                    }
                    let _ = writeln!(out, "{name}_sum{plain} {}", number(summary.sample_sum()));
                    let _ = writeln!(out, "{name}_count{plain} {}", summary.sample_count());
                }
                MetricType::HISTOGRAM => {
                    let histogram = metric.get_histogram();
                    // Exemplars are keyed by the series' own labels; the registry's constant
                    // `app` label is on every series alike.
                    let own: Vec<(&str, &str)> = labels
                        .iter()
                        .filter(|(label, _)| label != "app")
                        .map(|(label, value)| (label.as_str(), value.as_str()))
                        .collect();
                    let series = series_key(&own);
                    let buckets = histogram.get_bucket();
                    let bounds = buckets
                        .iter()
                        .map(|bucket| (bucket.upper_bound(), bucket.cumulative_count()))
                        .filter(|(bound, _)| bound.is_finite())
                        .chain(std::iter::once((
                            f64::INFINITY,
                            histogram.get_sample_count(),
                        )));
                    for (index, (bound, count)) in bounds.enumerate() {
                        let le = number(bound);
                        let set = label_set(&labels, Some(("le", &le)));
                        let _ = write!(out, "{name}_bucket{set} {count}");
                        if let Some(exemplar) = exemplars.get(name, &series, index) {
                            let _ = write!(
                                out,
                                " # {{trace_id=\"{}\"}} {} {:.3}",
                                escape(&exemplar.trace_id),
                                number(exemplar.value),
                                exemplar.timestamp
                            );
                        }
                        out.push('\n');
                    }
                    let _ = writeln!(
                        out,
                        "{name}_sum{plain} {}",
                        number(histogram.get_sample_sum())
                    );
                    let _ = writeln!(out, "{name}_count{plain} {}", histogram.get_sample_count());
                }
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_carries_the_exemplar_on_the_bucket_the_value_fell_in() {
        let metrics = Metrics::new("test").expect("metrics");
        metrics
            .grpc_handled
            .with_label_values(&["shop.x.v1.X", "Get", "OK"])
            .inc();
        metrics.observe_grpc_latency(
            "shop.x.v1.X",
            "Get",
            0.003,
            Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
        );
        metrics.observe_grpc_latency("shop.x.v1.X", "Get", 0.2, None);
        metrics.observe_grpc_latency(
            "shop.x.v1.X",
            "Get",
            9.0,
            Some("00f067aa0ba902b700f067aa0ba902b7".into()),
        );

        let text = metrics.render_openmetrics();
        let line = |prefix: &str| {
            text.lines()
                .find(|line| line.starts_with(prefix))
                .unwrap_or_else(|| panic!("no line {prefix} in\n{text}"))
                .to_owned()
        };
        assert!(
            text.contains("# TYPE shop_grpc_server_handled counter\n"),
            "{text}"
        );
        assert_eq!(
            line("shop_grpc_server_handled_total{"),
            r#"shop_grpc_server_handled_total{grpc_code="OK",grpc_method="Get",grpc_service="shop.x.v1.X",app="test"} 1"#
        );
        let bucket = |le: &str| {
            line(&format!(
                r#"shop_grpc_server_handling_seconds_bucket{{grpc_method="Get",grpc_service="shop.x.v1.X",app="test",le="{le}"}}"#
            ))
        };
        assert!(
            bucket("0.005")
                .contains(r#"} 1 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 0.003 "#),
            "{}",
            bucket("0.005")
        );
        assert!(
            !bucket("0.25").contains('#'),
            "an unsampled call leaves no exemplar"
        );
        assert!(bucket("0.0025").ends_with("} 0"));
        assert!(
            bucket("+Inf").contains(r#"} 3 # {trace_id="00f067aa0ba902b700f067aa0ba902b7"} 9 "#),
            "{}",
            bucket("+Inf")
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn only_a_scraper_that_asks_gets_openmetrics() {
        let accept = |value: &'static str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(header::ACCEPT, http::HeaderValue::from_static(value));
            accepts_openmetrics(&headers)
        };
        // Prometheus 2.x and 3.x scrape headers.
        assert!(accept(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        ));
        assert!(accept(
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=0.0.4;q=0.2"
        ));
        assert!(!accept("text/plain;version=0.0.4"));
        assert!(!accept("application/openmetrics-text;q=0"));
        assert!(!accepts_openmetrics(&http::HeaderMap::new()));
    }
}
