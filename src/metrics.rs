//! Prometheus metrics: one process-wide recorder, rendered at `GET /metrics`.
//! Labels come only from bounded sets (site, seller, result, route template).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Ack latencies are milliseconds; HTTP a bit wider.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Installs the global recorder once per process (tests start many services in one
/// process; they share it, as any process-wide metrics would).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "livepack_orders_received_total",
        "Orders received over the ingest, by result"
    );
    describe_counter!(
        "livepack_orders_duplicate_changed_total",
        "Duplicates whose content differed from the first version"
    );
    describe_counter!("livepack_orders_cancelled_total", "Orders cancelled");
    describe_histogram!(
        "livepack_ingest_reply_latency_seconds",
        Unit::Seconds,
        "Time from reading a frame to handing its reply to the socket"
    );
    describe_gauge!(
        "livepack_ingest_connections",
        "Open ingest WebSocket connections"
    );
    describe_counter!("livepack_ingest_frames_total", "Ingest frames by type");
    describe_counter!(
        "livepack_ingest_nacks_total",
        "Frames nacked because storage was unavailable"
    );
    describe_counter!(
        "livepack_redis_errors_total",
        "Redis commands that failed or timed out"
    );
    describe_histogram!(
        "livepack_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by route template"
    );
    describe_counter!(
        "livepack_http_requests_total",
        "HTTP requests by route template, method, status class"
    );
}

pub async fn render() -> String {
    install().map(|h| h.render()).unwrap_or_default()
}
