//! What `/metrics` shows: Prometheus (OpenMetrics) text, through `prometheus-client`.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// The routes as they are labelled: a fixed set, so that no client can grow the series.
pub const ROUTES: &[&str] = &[
    "/render",
    "/preview",
    "/json",
    "/api/design/survey",
    "/healthz",
    "/metrics",
];

/// The label of a request's path: one of [`ROUTES`], or `other`.
pub fn route_label(path: &str) -> &'static str {
    ROUTES
        .iter()
        .find(|route| **route == path)
        .copied()
        .unwrap_or("other")
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

/// The flag cache's state, written by its refresher, read by nobody else.
#[derive(Clone, Default)]
pub struct FlagMetrics {
    /// 1 while the last refresh failed: the value served is the last known one, or the
    /// default when none was ever read.
    pub stale: Gauge,
    /// The value the service renders with (1: uploads on).
    pub enabled: Gauge,
    pub refresh_failures: Counter,
    /// Unix time of the last successful read (0: never).
    pub last_refresh: Gauge<f64, AtomicU64>,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub render_errors: Counter,
    pub flag: FlagMetrics,
}

impl Metrics {
    pub fn new(release: &str, flag_name: &str) -> Metrics {
        let mut registry = Registry::with_prefix("checkbox_render");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        // 100 µs to about 3.3 s.
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time from the request's head to the answer's head, by route",
            latency.clone(),
        );
        let render_errors = Counter::default();
        registry.register(
            "render_errors",
            "Survey markdown refused by the renderer (answered 400)",
            render_errors.clone(),
        );
        registry.register(
            "build",
            "The running build",
            Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION").to_owned()),
                ("release", release.to_owned()),
            ]),
        );
        let flag = FlagMetrics::default();
        let flags = registry.sub_registry_with_label(("flag".into(), flag_name.to_owned().into()));
        flags.register(
            "flag_cache_stale",
            "1 while the flag could not be read from Redis: the last known value (or the default) is served",
            flag.stale.clone(),
        );
        flags.register(
            "flag_enabled",
            "The flag's value the service renders with",
            flag.enabled.clone(),
        );
        flags.register(
            "flag_refresh_failures",
            "Failed reads of the flag from Redis",
            flag.refresh_failures.clone(),
        );
        flags.register(
            "flag_last_refresh_timestamp_seconds",
            "When the flag was last read from Redis (0: never)",
            flag.last_refresh.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            render_errors,
            flag,
        }
    }

    /// The OpenMetrics text of everything.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(8 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_paths_share_one_label() {
        assert_eq!(route_label("/render"), "/render");
        assert_eq!(route_label("/api/design/survey"), "/api/design/survey");
        assert_eq!(route_label("/render/x"), "other");
        assert_eq!(route_label("/../etc"), "other");
    }

    #[test]
    fn the_text_names_every_family() {
        let metrics = Metrics::new("r1", "surveyUploads");
        metrics
            .requests
            .get_or_create(&RequestLabels {
                route: "/render",
                status: 200,
            })
            .inc();
        let text = metrics.encode();
        for name in [
            "checkbox_render_http_requests_total{route=\"/render\",status=\"200\"} 1",
            "checkbox_render_build_info{version=",
            "checkbox_render_render_errors_total 0",
            "checkbox_render_flag_cache_stale{flag=\"surveyUploads\"} 0",
            "checkbox_render_flag_enabled{flag=\"surveyUploads\"} 0",
        ] {
            assert!(text.contains(name), "{name} missing in:\n{text}");
        }
    }
}
