//! Prometheus metrics: one process-wide recorder, rendered at `GET /metrics` (and on the
//! admin port when `server.admin_listen` is set).
//!
//! Labels come only from bounded sets: configured sites, sellers and carriers, a fixed
//! result/stage/type vocabulary, configured pickup times ("HH:MM"), route templates.
//! Never order ids, phones, raw paths or session labels.
//!
//! [`register`] creates every per-site and per-seller series at zero when the service
//! starts, so dashboards and alerts have data before the first event. Gauges whose truth
//! lives in Redis are refreshed by [`crate::observe`] on a timer, never per scrape.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::config::Config;

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
                    Matcher::Full("livepack_ingest_reply_latency_seconds".into()),
                    ACK_BUCKETS,
                )
                .ok()?
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?
                .set_buckets_for_metric(Matcher::Full("livepack_wave_orders".into()), WAVE_BUCKETS)
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
    gauge!("livepack_ingest_connections").set(0.0);
    gauge!("livepack_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    for kind in ["ack", "nack", "error"] {
        let _ = histogram!("livepack_ingest_reply_latency_seconds", "type" => kind);
    }
    for op in REDIS_OPS {
        for kind in ["unavailable", "reply"] {
            counter!("livepack_redis_errors_total", "op" => op, "kind" => kind).increment(0);
        }
    }
    for s in &config.sellers {
        for result in RESULTS {
            counter!("livepack_orders_received_total",
                "site" => s.site.clone(), "seller" => s.id.clone(), "result" => result)
            .increment(0);
        }
        counter!("livepack_orders_duplicate_changed_total",
            "site" => s.site.clone(), "seller" => s.id.clone())
        .increment(0);
        for reason in crate::ingest::REFUSALS {
            counter!("livepack_ingest_refused_total",
                "site" => s.site.clone(), "seller" => s.id.clone(), "reason" => reason)
            .increment(0);
        }
    }
    // Held budgets are counted up and down (never set), so services sharing a process
    // (tests) do not reset each other's.
    gauge!("livepack_ingest_inflight_frames").increment(0.0);
    gauge!("livepack_ingest_inflight_orders").increment(0.0);
    gauge!("livepack_ingest_stalled_connections").increment(0.0);
    for c in &config.carriers {
        for result in ["matched", "mismatched", "unknown"] {
            counter!("livepack_cod_settlement_rows_total", "carrier" => c.id.clone(), "result" => result)
                .increment(0);
        }
    }
    for site in &config.sites {
        let id = || site.id.clone();
        for name in [
            "livepack_ingest_nacks_total",
            "livepack_orders_cancelled_total",
            "livepack_waves_released_total",
            "livepack_units_picked_total",
            "livepack_parcels_packed_total",
            "livepack_orders_packed_total",
            "livepack_planner_dead_letters_total",
            "livepack_station_pin_failures_total",
            "livepack_station_pin_throttled_total",
            "livepack_supervisor_pin_failures_total",
        ] {
            counter!(name, "site" => id()).increment(0);
        }
        for name in [
            "livepack_planner_leader",
            "livepack_planner_pending_orders",
            "livepack_planner_oldest_pending_age_seconds",
            "livepack_orders_at_risk",
        ] {
            gauge!(name, "site" => id()).set(0.0);
        }
        let _ = histogram!("livepack_wave_orders", "site" => id());
        for t in site.pickup_times() {
            let pickup = t.format("%H:%M").to_string();
            for name in [
                "livepack_capacity_packers_needed",
                "livepack_capacity_minutes_due",
            ] {
                gauge!(name, "site" => id(), "pickup" => pickup.clone()).set(0.0);
            }
        }
        for result in crate::shipping::handover::ScanResult::ALL {
            counter!("livepack_handover_scans_total", "site" => id(), "result" => result.as_str())
                .increment(0);
        }
        counter!("livepack_shipments_handed_over_total", "site" => id()).increment(0);
        for reason in crate::ingest::CLOSES {
            counter!("livepack_ingest_closed_total", "site" => id(), "reason" => reason)
                .increment(0);
        }
        for retryable in ["true", "false"] {
            counter!("livepack_booking_failures_total", "site" => id(), "retryable" => retryable)
                .increment(0);
        }
        for carrier in &site.carriers {
            counter!("livepack_parcels_booked_total", "site" => id(), "carrier" => carrier.clone())
                .increment(0);
            counter!("livepack_shipments_booked_total", "site" => id(), "carrier" => carrier.clone())
                .increment(0);
            counter!("livepack_booking_rejections_total", "site" => id(), "carrier" => carrier.clone())
                .increment(0);
            for result in ["cancelled", "refused"] {
                counter!("livepack_carrier_cancels_total", "site" => id(), "carrier" => carrier.clone(), "result" => result)
                    .increment(0);
            }
            for name in [
                "livepack_cod_unpaid_overdue_parcels",
                "livepack_cod_unpaid_overdue_vnd",
            ] {
                gauge!(name, "site" => id(), "carrier" => carrier.clone()).set(0.0);
            }
        }
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "livepack_handover_scans_total",
        "Labels scanned at the truck, by site and result (loaded, already_loaded, pull, not_in_shipment, unknown)"
    );
    describe_counter!(
        "livepack_shipments_handed_over_total",
        "Shipments handed over to the carrier's driver, by site"
    );
    describe_counter!(
        "livepack_archive_files_expired_total",
        "Archive files deleted past retention.archive_days, by site"
    );
    describe_counter!(
        "livepack_http_body_timeouts_total",
        "HTTP requests answered 408: body not received within server.request_body_timeout_secs"
    );
    describe_gauge!(
        "livepack_build_info",
        "Always 1; the version label names the build"
    );
    // Ingest.
    describe_counter!(
        "livepack_orders_received_total",
        "Orders answered over the ingest, by site, seller and result (accepted, duplicate, rejected)"
    );
    describe_counter!(
        "livepack_orders_duplicate_changed_total",
        "Duplicates whose content differed from the first version"
    );
    describe_counter!("livepack_orders_cancelled_total", "Orders cancelled");
    describe_counter!(
        "livepack_booking_rejections_total",
        "Parcels the carrier refused to book (final, never retried), by site and carrier"
    );
    describe_histogram!(
        "livepack_ingest_reply_latency_seconds",
        Unit::Seconds,
        "Time from reading a frame to handing its reply to the socket, by reply type"
    );
    describe_gauge!(
        "livepack_ingest_connections",
        "Open ingest WebSocket connections"
    );
    describe_counter!("livepack_ingest_frames_total", "Ingest frames by type");
    describe_counter!(
        "livepack_ingest_refused_total",
        "Ingest handshakes refused before the upgrade, by site, seller and reason (global_limit: server.max_connections, seller_limit: ingest.max_connections_per_seller)"
    );
    describe_counter!(
        "livepack_ingest_closed_total",
        "Ingest connections the server closed, by site and reason (write_timeout: replies unwritable past ingest.write_timeout_secs, idle_timeout, too_big)"
    );
    describe_gauge!(
        "livepack_ingest_inflight_frames",
        "Frames whose replies are being computed, all connections (of ingest.global_inflight)"
    );
    describe_gauge!(
        "livepack_ingest_stalled_connections",
        "Ingest connections waiting for their peer to read replies (reading that peer is paused)"
    );
    describe_gauge!(
        "livepack_ingest_inflight_orders",
        "Orders sent to Redis and not answered yet, all connections (of ingest.global_inflight_orders)"
    );
    describe_counter!(
        "livepack_ingest_nacks_total",
        "Frames nacked because storage was unavailable"
    );
    // Planning.
    describe_gauge!(
        "livepack_planner_leader",
        "1 while this instance holds the site's planner lease"
    );
    describe_gauge!(
        "livepack_planner_pending_orders",
        "Orders stored but not yet in a wave (the leader's view; 0 elsewhere)"
    );
    describe_gauge!(
        "livepack_planner_oldest_pending_age_seconds",
        Unit::Seconds,
        "Age of the oldest order not yet in a wave (the leader's view; 0 elsewhere)"
    );
    describe_counter!(
        "livepack_planner_dead_letters_total",
        "Stream entries moved to the dead-letter stream"
    );
    describe_gauge!(
        "livepack_dead_letters",
        "Entries in the site's dead-letter stream (XLEN)"
    );
    describe_counter!("livepack_waves_released_total", "Waves released");
    describe_histogram!("livepack_wave_orders", "Orders per released wave");
    describe_gauge!(
        "livepack_orders_at_risk",
        "Pending orders whose deadline is at risk (planner outlook)"
    );
    describe_gauge!(
        "livepack_orders_at_risk_soon",
        "At-risk orders not yet packed whose pickup is within 60 minutes (or past)"
    );
    describe_gauge!(
        "livepack_capacity_packers_needed",
        "Packers needed to finish the work due by each pickup"
    );
    describe_gauge!(
        "livepack_capacity_minutes_due",
        "Packing minutes of pending orders planned for each pickup"
    );
    // Floor.
    describe_counter!("livepack_units_picked_total", "Units picked on the floor");
    describe_counter!("livepack_parcels_packed_total", "Parcels packed");
    describe_counter!("livepack_orders_packed_total", "Orders packed");
    describe_gauge!(
        "livepack_pickup_units",
        "Units in waves for the next occurrence of each pickup, by stage (waved, picked)"
    );
    describe_gauge!(
        "livepack_pickup_parcels",
        "Parcels in waves for the next occurrence of each pickup, by stage (waved, packed)"
    );
    describe_gauge!(
        "livepack_pickup_time_left_seconds",
        Unit::Seconds,
        "Seconds until the next occurrence of each pickup (negative up to an hour after it)"
    );
    // Shipping.
    describe_counter!(
        "livepack_parcels_booked_total",
        "Parcels booked with a carrier"
    );
    describe_counter!(
        "livepack_shipments_booked_total",
        "Shipments whose every parcel is booked"
    );
    describe_counter!("livepack_booking_failures_total", "Failed parcel bookings");
    describe_counter!(
        "livepack_carrier_webhooks_total",
        "Carrier status webhooks by result"
    );
    describe_gauge!(
        "livepack_day_shipments",
        "Shipments of a business day (by pickup; day = today | tomorrow)"
    );
    describe_gauge!("livepack_day_parcels", "Parcels shipping on a business day");
    describe_gauge!("livepack_day_orders", "Orders shipping on a business day");
    describe_gauge!(
        "livepack_consolidation_savings_vnd",
        "VND saved by consolidating a business day's parcels (vs one box and pickup per order)"
    );
    describe_gauge!(
        "livepack_shipping_cost_vnd",
        "Estimated carrier cost of a business day's shipments (VND)"
    );
    describe_gauge!(
        "livepack_day_cod_vnd",
        "Cash on delivery the carrier collects for a seller on a business day (VND)"
    );
    describe_counter!(
        "livepack_station_pin_failures_total",
        "Station sign-ins with a wrong PIN, by site"
    );
    describe_counter!(
        "livepack_supervisor_pin_failures_total",
        "Unpacks of booked parcels refused for a wrong supervisor PIN, by site"
    );
    describe_counter!(
        "livepack_station_pin_throttled_total",
        "Station sign-ins refused (429) because that client must back off, by site"
    );
    // Health.
    describe_counter!(
        "livepack_redis_errors_total",
        "Redis commands that failed, by op and kind (unavailable: connection, timeout, no master; reply: an error answer to that one command)"
    );
    describe_gauge!(
        "livepack_cod_unpaid_overdue_parcels",
        "Delivered COD parcels the carrier has not paid more than its cod_schedule_days after delivery"
    );
    describe_gauge!(
        "livepack_cod_unpaid_overdue_vnd",
        "COD (VND) of the delivered parcels unpaid past the carrier's schedule"
    );
    describe_counter!(
        "livepack_cod_settlement_rows_total",
        "Settlement file rows imported, by result: matched, mismatched (wrong amount or paid but not delivered), unknown (no such tracking code)"
    );
    describe_gauge!("livepack_redis_up", "1 when Redis answered the last PING");
    describe_histogram!(
        "livepack_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by route template, method, status class"
    );
    describe_counter!(
        "livepack_http_requests_total",
        "HTTP requests by route template, method, status class"
    );
    crate::observe::process::describe();
    describe_gauge!("livepack_tablet_streams", "Open tablet event streams");
    describe_counter!(
        "livepack_tablet_stream_lagged_total",
        "Tablet streams that fell behind"
    );
}

pub async fn render() -> String {
    install().map(|h| h.render()).unwrap_or_default()
}
