//! Every `livepack_*` metric name, in one place. A leaf module (it names nothing else in the
//! crate) so every layer can use it; the `metrics` module re-exports it as `metrics::names`.
//! The dashboards and alert rules under `config/` use these names.

pub const ARCHIVE_ERRORS: &str = "livepack_archive_errors_total";
pub const ARCHIVE_FILES_EXPIRED: &str = "livepack_archive_files_expired_total";
pub const ARCHIVED_ORDERS: &str = "livepack_archived_orders_total";
pub const BOOKING_FAILURES: &str = "livepack_booking_failures_total";
pub const BOOKING_REJECTIONS: &str = "livepack_booking_rejections_total";
pub const BUILD_INFO: &str = "livepack_build_info";
pub const CAPACITY_MINUTES_DUE: &str = "livepack_capacity_minutes_due";
pub const CAPACITY_PACKERS_NEEDED: &str = "livepack_capacity_packers_needed";
pub const CARRIER_CANCELS: &str = "livepack_carrier_cancels_total";
pub const CARRIER_CANCELS_WAITING: &str = "livepack_carrier_cancels_waiting";
pub const CARRIER_LABELS: &str = "livepack_carrier_labels_total";
pub const CARRIER_QUOTES: &str = "livepack_carrier_quotes_total";
pub const CARRIER_WEBHOOKS: &str = "livepack_carrier_webhooks_total";
pub const COD_SETTLEMENT_ROWS: &str = "livepack_cod_settlement_rows_total";
pub const COD_UNPAID_OVERDUE_PARCELS: &str = "livepack_cod_unpaid_overdue_parcels";
pub const COD_UNPAID_OVERDUE_VND: &str = "livepack_cod_unpaid_overdue_vnd";
pub const CONSOLIDATION_SAVINGS_VND: &str = "livepack_consolidation_savings_vnd";
pub const DAY_COD_VND: &str = "livepack_day_cod_vnd";
pub const DAY_ORDERS: &str = "livepack_day_orders";
pub const DAY_PARCELS: &str = "livepack_day_parcels";
pub const DAY_SHIPMENTS: &str = "livepack_day_shipments";
pub const DEAD_LETTERS: &str = "livepack_dead_letters";
pub const HANDOVER_SCANS: &str = "livepack_handover_scans_total";
pub const HTTP_BODY_TIMEOUTS: &str = "livepack_http_body_timeouts_total";
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "livepack_http_request_duration_seconds";
pub const HTTP_REQUESTS: &str = "livepack_http_requests_total";
pub const INGEST_CLOSED: &str = "livepack_ingest_closed_total";
pub const INGEST_CONNECTIONS: &str = "livepack_ingest_connections";
pub const INGEST_FRAMES: &str = "livepack_ingest_frames_total";
/// Frames read and not yet answered, all connections (`ingest.global_inflight`).
pub const INGEST_INFLIGHT_FRAMES: &str = "livepack_ingest_inflight_frames";
/// Orders handed to Redis and not answered yet (`ingest.global_inflight_orders`).
pub const INGEST_INFLIGHT_ORDERS: &str = "livepack_ingest_inflight_orders";
pub const INGEST_NACKS: &str = "livepack_ingest_nacks_total";
pub const INGEST_REFUSED: &str = "livepack_ingest_refused_total";
pub const INGEST_REPLY_LATENCY_SECONDS: &str = "livepack_ingest_reply_latency_seconds";
/// Connections waiting for their peer to read replies (their writer is behind).
pub const INGEST_STALLED_CONNECTIONS: &str = "livepack_ingest_stalled_connections";
pub const ORDERS_AT_RISK: &str = "livepack_orders_at_risk";
pub const ORDERS_AT_RISK_SOON: &str = "livepack_orders_at_risk_soon";
pub const ORDERS_CANCELLED: &str = "livepack_orders_cancelled_total";
pub const ORDERS_DUPLICATE_CHANGED: &str = "livepack_orders_duplicate_changed_total";
pub const ORDERS_PACKED: &str = "livepack_orders_packed_total";
pub const ORDERS_RECEIVED: &str = "livepack_orders_received_total";
pub const PARCELS_BOOKED: &str = "livepack_parcels_booked_total";
pub const PARCELS_PACKED: &str = "livepack_parcels_packed_total";
pub const PARCELS_REPACKED: &str = "livepack_parcels_repacked_total";
pub const PARCELS_ROUTED: &str = "livepack_parcels_routed_total";
pub const PICKUP_PARCELS: &str = "livepack_pickup_parcels";
pub const PICKUP_TIME_LEFT_SECONDS: &str = "livepack_pickup_time_left_seconds";
pub const PICKUP_UNITS: &str = "livepack_pickup_units";
pub const PLANNER_DEAD_LETTERS: &str = "livepack_planner_dead_letters_total";
pub const PLANNER_LEADER: &str = "livepack_planner_leader";
pub const PLANNER_OLDEST_PENDING_AGE_SECONDS: &str = "livepack_planner_oldest_pending_age_seconds";
pub const PLANNER_PENDING_ORDERS: &str = "livepack_planner_pending_orders";
pub const REDIS_ERRORS: &str = "livepack_redis_errors_total";
pub const REDIS_UP: &str = "livepack_redis_up";
pub const SHIPMENTS_BOOKED: &str = "livepack_shipments_booked_total";
pub const SHIPMENTS_HANDED_OVER: &str = "livepack_shipments_handed_over_total";
pub const SHIPPING_COST_VND: &str = "livepack_shipping_cost_vnd";
pub const STATION_PIN_FAILURES: &str = "livepack_station_pin_failures_total";
pub const STATION_PIN_THROTTLED: &str = "livepack_station_pin_throttled_total";
pub const SUPERVISOR_PIN_FAILURES: &str = "livepack_supervisor_pin_failures_total";
pub const TABLET_STREAM_LAGGED: &str = "livepack_tablet_stream_lagged_total";
pub const TABLET_STREAMS: &str = "livepack_tablet_streams";
pub const UNITS_PICKED: &str = "livepack_units_picked_total";
pub const WAVE_ORDERS: &str = "livepack_wave_orders";
pub const WAVES_RELEASED: &str = "livepack_waves_released_total";

/// Every name above.
pub const ALL: [&str; 65] = [
    ARCHIVE_ERRORS,
    ARCHIVE_FILES_EXPIRED,
    ARCHIVED_ORDERS,
    BOOKING_FAILURES,
    BOOKING_REJECTIONS,
    BUILD_INFO,
    CAPACITY_MINUTES_DUE,
    CAPACITY_PACKERS_NEEDED,
    CARRIER_CANCELS,
    CARRIER_CANCELS_WAITING,
    CARRIER_LABELS,
    CARRIER_QUOTES,
    CARRIER_WEBHOOKS,
    COD_SETTLEMENT_ROWS,
    COD_UNPAID_OVERDUE_PARCELS,
    COD_UNPAID_OVERDUE_VND,
    CONSOLIDATION_SAVINGS_VND,
    DAY_COD_VND,
    DAY_ORDERS,
    DAY_PARCELS,
    DAY_SHIPMENTS,
    DEAD_LETTERS,
    HANDOVER_SCANS,
    HTTP_BODY_TIMEOUTS,
    HTTP_REQUEST_DURATION_SECONDS,
    HTTP_REQUESTS,
    INGEST_CLOSED,
    INGEST_CONNECTIONS,
    INGEST_FRAMES,
    INGEST_INFLIGHT_FRAMES,
    INGEST_INFLIGHT_ORDERS,
    INGEST_NACKS,
    INGEST_REFUSED,
    INGEST_REPLY_LATENCY_SECONDS,
    INGEST_STALLED_CONNECTIONS,
    ORDERS_AT_RISK,
    ORDERS_AT_RISK_SOON,
    ORDERS_CANCELLED,
    ORDERS_DUPLICATE_CHANGED,
    ORDERS_PACKED,
    ORDERS_RECEIVED,
    PARCELS_BOOKED,
    PARCELS_PACKED,
    PARCELS_REPACKED,
    PARCELS_ROUTED,
    PICKUP_PARCELS,
    PICKUP_TIME_LEFT_SECONDS,
    PICKUP_UNITS,
    PLANNER_DEAD_LETTERS,
    PLANNER_LEADER,
    PLANNER_OLDEST_PENDING_AGE_SECONDS,
    PLANNER_PENDING_ORDERS,
    REDIS_ERRORS,
    REDIS_UP,
    SHIPMENTS_BOOKED,
    SHIPMENTS_HANDED_OVER,
    SHIPPING_COST_VND,
    STATION_PIN_FAILURES,
    STATION_PIN_THROTTLED,
    SUPERVISOR_PIN_FAILURES,
    TABLET_STREAM_LAGGED,
    TABLET_STREAMS,
    UNITS_PICKED,
    WAVE_ORDERS,
    WAVES_RELEASED,
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_prefixed() {
        let mut seen = HashSet::new();
        for n in super::ALL {
            assert!(n.starts_with("livepack_"), "{n}");
            assert!(seen.insert(n), "duplicate metric name {n}");
        }
    }
}
