//! Prometheus metrics: one process-wide recorder, rendered at `GET /metrics` (and on the
//! admin port when `server.admin_listen` is set).
//!
//! Labels come only from bounded sets: configured sites, sellers and carriers, a fixed
//! result/stage/type vocabulary, configured pickup times ("HH:MM"), route templates.
//! Never order ids, phones, raw paths or session labels.
//!
//! [`register`] creates every per-site and per-seller series at zero when the service
//! starts, so dashboards and alerts have data before the first event. Gauges whose truth
//! lives in Redis are refreshed by [`crate::observe`] on a timer, never per scrape (the
//! process's own figures, read from /proc, are read at each scrape).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::config::Config;
pub use crate::metric_names as names;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Ingest replies take well under a millisecond to tens of milliseconds: fine buckets
/// there (the ack-latency alert threshold, 250 ms, is a bucket bound).
const ACK_BUCKETS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1,
    0.15, 0.25, 0.5, 1.0, 2.5,
];

/// HTTP handlers (and anything else measured in seconds) are wider.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Orders per wave: `wave_min` 20 and `wave_max` 200 by default.
const WAVE_BUCKETS: &[f64] = &[
    1.0, 5.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 500.0,
];

/// Order outcomes on the ingest (`result` label of `livepack_orders_received_total`).
pub const RESULTS: [&str; 3] = ["accepted", "duplicate", "rejected"];

/// Redis operations created at zero (the ones on the ingest and planner hot paths), so
/// the error panels and alerts have a series before the first error.
const REDIS_OPS: [&str; 8] = [
    "ingest",
    "absorb",
    "commit_wave",
    "xreadgroup",
    "lease",
    "pick",
    "packed",
    "readyz",
];

/// Installs the global recorder once per process (tests start many services in one
/// process; they share it, as any process-wide metrics would).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(names::INGEST_REPLY_LATENCY_SECONDS.into()),
                    ACK_BUCKETS,
                )
                .ok()?
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?
                .set_buckets_for_metric(Matcher::Full(names::WAVE_ORDERS.into()), WAVE_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

/// Creates every series of the configured sites, sellers and carriers at zero.
pub fn register(config: &Config) {
    use metrics::{counter, gauge, histogram};
    gauge!(names::INGEST_CONNECTIONS).set(0.0);
    gauge!(names::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    // `unknown`: no reply, the connection closed (Redis may have stored the frame).
    for kind in ["ack", "nack", "error", "unknown"] {
        let _ = histogram!(names::INGEST_REPLY_LATENCY_SECONDS, "type" => kind);
    }
    for op in REDIS_OPS {
        for kind in ["unavailable", "reply"] {
            counter!(names::REDIS_ERRORS, "op" => op, "kind" => kind).increment(0);
        }
    }
    for s in &config.sellers {
        for result in RESULTS {
            counter!(names::ORDERS_RECEIVED,
                "site" => s.site.clone(), "seller" => s.id.clone(), "result" => result)
            .increment(0);
        }
        counter!(names::ORDERS_DUPLICATE_CHANGED,
            "site" => s.site.clone(), "seller" => s.id.clone())
        .increment(0);
        for reason in crate::ingest::REFUSALS {
            counter!(names::INGEST_REFUSED,
                "site" => s.site.clone(), "seller" => s.id.clone(), "reason" => reason)
            .increment(0);
        }
    }
    // Held budgets are counted up and down (never set), so services sharing a process
    // (tests) do not reset each other's.
    gauge!(names::INGEST_INFLIGHT_FRAMES).increment(0.0);
    gauge!(names::INGEST_INFLIGHT_ORDERS).increment(0.0);
    gauge!(names::INGEST_STALLED_CONNECTIONS).increment(0.0);
    for c in &config.carriers {
        for result in crate::shipping::quotes::RESULTS {
            counter!(names::CARRIER_QUOTES, "carrier" => c.id.clone(), "result" => result)
                .increment(0);
        }
        for result in ["matched", "mismatched", "unknown"] {
            counter!(names::COD_SETTLEMENT_ROWS, "carrier" => c.id.clone(), "result" => result)
                .increment(0);
        }
    }
    for site in &config.sites {
        let id = || site.id.clone();
        for name in [
            names::INGEST_NACKS,
            names::ORDERS_CANCELLED,
            names::WAVES_RELEASED,
            names::UNITS_PICKED,
            names::PARCELS_PACKED,
            names::ORDERS_PACKED,
            names::PLANNER_DEAD_LETTERS,
            names::STATION_PIN_FAILURES,
            names::STATION_PIN_THROTTLED,
            names::SUPERVISOR_PIN_FAILURES,
            names::ARCHIVED_ORDERS,
            names::ARCHIVE_FILES_EXPIRED,
            names::ARCHIVE_ERRORS,
        ] {
            counter!(name, "site" => id()).increment(0);
        }
        for outcome in ["replaced", "cancelled"] {
            counter!(names::PARCELS_REPACKED, "site" => id(), "outcome" => outcome).increment(0);
        }
        for name in [
            names::PLANNER_LEADER,
            names::PLANNER_PENDING_ORDERS,
            names::PLANNER_OLDEST_PENDING_AGE_SECONDS,
            names::ORDERS_AT_RISK,
        ] {
            gauge!(name, "site" => id()).set(0.0);
        }
        let _ = histogram!(names::WAVE_ORDERS, "site" => id());
        for t in site.pickup_times() {
            let pickup = t.format("%H:%M").to_string();
            for name in [names::CAPACITY_PACKERS_NEEDED, names::CAPACITY_MINUTES_DUE] {
                gauge!(name, "site" => id(), "pickup" => pickup.clone()).set(0.0);
            }
        }
        for result in crate::shipping::handover::ScanResult::ALL {
            counter!(names::HANDOVER_SCANS, "site" => id(), "result" => result.as_str())
                .increment(0);
        }
        counter!(names::SHIPMENTS_HANDED_OVER, "site" => id()).increment(0);
        for reason in crate::ingest::CLOSES {
            counter!(names::INGEST_CLOSED, "site" => id(), "reason" => reason).increment(0);
        }
        for retryable in ["true", "false"] {
            counter!(names::BOOKING_FAILURES, "site" => id(), "retryable" => retryable)
                .increment(0);
        }
        for carrier in &site.carriers {
            counter!(names::PARCELS_ROUTED, "site" => id(), "carrier" => carrier.clone())
                .increment(0);
            counter!(names::PARCELS_BOOKED, "site" => id(), "carrier" => carrier.clone())
                .increment(0);
            counter!(names::SHIPMENTS_BOOKED, "site" => id(), "carrier" => carrier.clone())
                .increment(0);
            counter!(names::BOOKING_REJECTIONS, "site" => id(), "carrier" => carrier.clone())
                .increment(0);
            for result in ["cancelled", "refused"] {
                counter!(names::CARRIER_CANCELS, "site" => id(), "carrier" => carrier.clone(), "result" => result)
                    .increment(0);
            }
            for name in [
                names::COD_UNPAID_OVERDUE_PARCELS,
                names::COD_UNPAID_OVERDUE_VND,
            ] {
                gauge!(name, "site" => id(), "carrier" => carrier.clone()).set(0.0);
            }
        }
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        names::HANDOVER_SCANS,
        "Labels scanned at the truck, by site and result (loaded, already_loaded, pull, not_in_shipment, unknown)"
    );
    describe_counter!(
        names::SHIPMENTS_HANDED_OVER,
        "Shipments handed over to the carrier's driver, by site"
    );
    describe_counter!(
        names::ARCHIVE_FILES_EXPIRED,
        "Archive files deleted past retention.archive_days, by site"
    );
    describe_counter!(
        names::HTTP_BODY_TIMEOUTS,
        "HTTP requests answered 408: body not received within server.request_body_timeout_secs"
    );
    describe_gauge!(
        names::BUILD_INFO,
        "Always 1; the version label names the build"
    );
    // Ingest.
    describe_counter!(
        names::ORDERS_RECEIVED,
        "Orders answered over the ingest, by site, seller and result (accepted, duplicate, rejected)"
    );
    describe_counter!(
        names::ORDERS_DUPLICATE_CHANGED,
        "Duplicates whose content differed from the first version"
    );
    describe_counter!(names::ORDERS_CANCELLED, "Orders cancelled");
    describe_counter!(
        names::BOOKING_REJECTIONS,
        "Parcels the carrier refused to book (final, never retried), by site and carrier"
    );
    describe_histogram!(
        names::INGEST_REPLY_LATENCY_SECONDS,
        Unit::Seconds,
        "Time from reading a frame to handing its reply to the socket, by reply type"
    );
    describe_gauge!(
        names::INGEST_CONNECTIONS,
        "Open ingest WebSocket connections"
    );
    describe_counter!(
        names::INGEST_FRAMES,
        "Ingest frames by type (orders: `order` and `orders` frames alike; invalid; too_big; cancel; end_session)"
    );
    describe_counter!(
        names::INGEST_REFUSED,
        "Ingest handshakes refused before the upgrade, by site, seller and reason (global_limit: server.max_connections, seller_limit: ingest.max_connections_per_seller)"
    );
    describe_counter!(
        names::INGEST_CLOSED,
        "Ingest connections the server closed, by site and reason (write_timeout: replies unwritable past ingest.write_timeout_secs, idle_timeout, too_big)"
    );
    describe_gauge!(
        names::INGEST_INFLIGHT_FRAMES,
        "Frames whose replies are being computed, all connections (of ingest.global_inflight)"
    );
    describe_gauge!(
        names::INGEST_STALLED_CONNECTIONS,
        "Ingest connections waiting for their peer to read replies (reading that peer is paused)"
    );
    describe_gauge!(
        names::INGEST_INFLIGHT_ORDERS,
        "Orders sent to Redis and not answered yet, all connections (of ingest.global_inflight_orders)"
    );
    describe_counter!(
        names::INGEST_NACKS,
        "Frames nacked because storage was unavailable"
    );
    // Planning.
    describe_gauge!(
        names::PLANNER_LEADER,
        "1 while this instance holds the site's planner lease"
    );
    describe_gauge!(
        names::PLANNER_PENDING_ORDERS,
        "Orders stored but not yet in a wave (the leader's view; 0 elsewhere)"
    );
    describe_gauge!(
        names::PLANNER_OLDEST_PENDING_AGE_SECONDS,
        Unit::Seconds,
        "Age of the oldest order not yet in a wave (the leader's view; 0 elsewhere)"
    );
    describe_counter!(
        names::PLANNER_DEAD_LETTERS,
        "Stream entries moved to the dead-letter stream"
    );
    describe_gauge!(
        names::DEAD_LETTERS,
        "Entries in the site's dead-letter stream (XLEN)"
    );
    describe_counter!(names::WAVES_RELEASED, "Waves released");
    describe_histogram!(names::WAVE_ORDERS, "Orders per released wave");
    describe_gauge!(
        names::ORDERS_AT_RISK,
        "Pending orders whose deadline is at risk (planner outlook)"
    );
    describe_gauge!(
        names::ORDERS_AT_RISK_SOON,
        "At-risk orders not yet packed whose pickup is within 60 minutes (or past)"
    );
    describe_gauge!(
        names::CAPACITY_PACKERS_NEEDED,
        "Packers needed to finish the work due by each pickup"
    );
    describe_gauge!(
        names::CAPACITY_MINUTES_DUE,
        "Packing minutes of pending orders planned for each pickup"
    );
    // Floor.
    describe_counter!(names::UNITS_PICKED, "Units picked on the floor");
    describe_counter!(names::PARCELS_PACKED, "Parcels packed");
    describe_counter!(names::ORDERS_PACKED, "Orders packed");
    describe_gauge!(
        names::PICKUP_UNITS,
        "Units in waves for the next occurrence of each pickup, by stage (waved, picked)"
    );
    describe_gauge!(
        names::PICKUP_PARCELS,
        "Parcels in waves for the next occurrence of each pickup, by stage (waved, packed)"
    );
    describe_gauge!(
        names::PICKUP_TIME_LEFT_SECONDS,
        Unit::Seconds,
        "Seconds until the next occurrence of each pickup (negative up to an hour after it)"
    );
    // Shipping.
    describe_counter!(names::PARCELS_BOOKED, "Parcels booked with a carrier");
    describe_counter!(
        names::SHIPMENTS_BOOKED,
        "Shipments whose every parcel is booked"
    );
    describe_counter!(names::BOOKING_FAILURES, "Failed parcel bookings");
    describe_counter!(names::CARRIER_WEBHOOKS, "Carrier status webhooks by result");
    describe_gauge!(
        names::DAY_SHIPMENTS,
        "Shipments of a business day (by pickup; day = today | tomorrow)"
    );
    describe_gauge!(names::DAY_PARCELS, "Parcels shipping on a business day");
    describe_gauge!(names::DAY_ORDERS, "Orders shipping on a business day");
    describe_gauge!(
        names::CONSOLIDATION_SAVINGS_VND,
        "VND saved by consolidating a business day's parcels (vs one box and pickup per order)"
    );
    describe_gauge!(
        names::SHIPPING_COST_VND,
        "Estimated carrier cost of a business day's shipments (VND)"
    );
    describe_gauge!(
        names::DAY_COD_VND,
        "Cash on delivery the carrier collects for a seller on a business day (VND)"
    );
    describe_counter!(
        names::STATION_PIN_FAILURES,
        "Station sign-ins with a wrong PIN, by site"
    );
    describe_counter!(
        names::SUPERVISOR_PIN_FAILURES,
        "Unpacks of booked parcels refused for a wrong supervisor PIN, by site"
    );
    describe_counter!(
        names::STATION_PIN_THROTTLED,
        "Station sign-ins refused (429) because that client must back off, by site"
    );
    // Health.
    describe_counter!(
        names::REDIS_ERRORS,
        "Redis commands that failed, by op and kind (unavailable: connection, timeout, no master; reply: an error answer to that one command)"
    );
    describe_gauge!(
        names::COD_UNPAID_OVERDUE_PARCELS,
        "Delivered COD parcels the carrier has not paid more than its cod_schedule_days after delivery"
    );
    describe_gauge!(
        names::COD_UNPAID_OVERDUE_VND,
        "COD (VND) of the delivered parcels unpaid past the carrier's schedule"
    );
    describe_counter!(
        names::COD_SETTLEMENT_ROWS,
        "Settlement file rows imported, by result: matched, mismatched (wrong amount or paid but not delivered), unknown (no such tracking code)"
    );
    describe_gauge!(names::REDIS_UP, "1 when Redis answered the last PING");
    describe_histogram!(
        names::HTTP_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "HTTP request latency by route template, method, status class"
    );
    describe_counter!(
        names::HTTP_REQUESTS,
        "HTTP requests by route template, method, status class"
    );
    crate::observe::process::describe();
    describe_gauge!(names::TABLET_STREAMS, "Open tablet event streams");
    describe_counter!(
        names::CARRIER_CANCELS,
        "Carrier orders cancelled after a late cancellation or repack, by result"
    );
    describe_gauge!(
        names::CARRIER_CANCELS_WAITING,
        "Carrier orders still to be cancelled (queued, or waiting to retry)"
    );
    describe_counter!(
        names::TABLET_STREAM_LAGGED,
        "Tablet streams that fell behind"
    );
}

/// Every metric, in Prometheus' text format (no credentials; the admin port serves it too).
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, body = String, content_type = "text/plain; version=0.0.4",
        description = "Prometheus text format: livepack_* metrics")))]
pub async fn render() -> String {
    // The process's figures as of this scrape (a few reads of /proc).
    crate::observe::process::refresh();
    install().map(|h| h.render()).unwrap_or_default()
}
