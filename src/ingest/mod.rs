//! `GET /v1/ingest?session=LABEL`: the sellers' WebSocket (contract §1).
//! Authentication and the label are checked before the upgrade, so strangers never get a
//! socket.

mod conn;
pub mod frame;
mod process;

use crate::metric_names as names;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::OwnedSemaphorePermit;

use crate::config::{Config, SellerConfig};
use crate::state::AppState;
use crate::web::auth::seller_from_headers;
use crate::web::error::{ApiError, ErrorCode};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct IngestQuery {
    /// The livestream session label: 1–64 of `A-Z a-z 0-9 . _ -`.
    #[param(required = true)]
    pub session: Option<String>,
}

/// Opens the ingest WebSocket for one livestream session.
#[utoipa::path(get, path = "/v1/ingest", params(IngestQuery), tag = "ingest",
    security(("seller_token" = [])),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol of contract §1"),
        (status = 400, description = "Bad session label or not a WebSocket request", body = crate::web::error::ErrorBody),
        (status = 401, description = "Missing or wrong seller token", body = crate::web::error::ErrorBody),
        (status = 429, description = "This seller has `ingest.max_connections_per_seller` open connections", body = crate::web::error::ErrorBody),
        (status = 503, description = "Too many open connections", body = crate::web::error::ErrorBody),
    ))]
pub async fn handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<IngestQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(seller) = seller_from_headers(&state, &headers) else {
        return ApiError::unauthorized().into_response();
    };
    let label = match q.session {
        Some(l) if crate::domain::is_label(&l) => l,
        _ => {
            return ApiError::bad_request(
                ErrorCode::InvalidSession,
                "query parameter `session`: 1–64 of A-Z a-z 0-9 . _ -",
            )
            .into_response()
        }
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            return ApiError::bad_request(ErrorCode::NotWebsocket, e.body_text()).into_response()
        }
    };
    let guard = match admit(&state, seller) {
        Ok(guard) => guard,
        Err(refusal) => return refusal,
    };
    let ctx = conn_ctx(&state, seller, label);
    let limits = conn_limits(&state.config);
    let cfg = &state.config;
    let tasks = state.tasks.clone();
    let conn_tasks = state.tasks.clone();
    let shutdown = state.shutdown.clone();
    let slots = state.ingest_slots.clone();
    // A 16 KiB read buffer (the default is 128 KiB, allocated per connection up front): an
    // idle seller connection then costs tens of KiB, not 130; bigger frames still arrive whole
    // (the buffer is refilled), up to `max_frame_bytes`.
    ws.read_buffer_size(16 * 1024)
        .max_message_size(cfg.ingest.max_frame_bytes)
        .max_frame_size(cfg.ingest.max_frame_bytes)
        .on_upgrade(move |socket| {
            tasks.track_future(async move {
                let span = tracing::info_span!("ingest", site = %ctx.site, seller = %ctx.seller);
                let _guard = guard;
                tracing::Instrument::instrument(
                    async move {
                        tracing::debug!("ingest connection open");
                        conn::serve(socket, ctx, limits, slots, conn_tasks, shutdown).await;
                        tracing::debug!("ingest connection closed");
                    },
                    span,
                )
                .await
            })
        })
}

/// Counts the connection against `server.max_connections` and the seller's
/// `ingest.max_connections_per_seller`; the refusal (503 or 429) when either is reached.
#[allow(clippy::result_large_err)] // the refusal is the response itself, built once per refused upgrade
fn admit(state: &AppState, seller: &SellerConfig) -> Result<ConnGuard, Response> {
    let cfg = &state.config;
    let open = state.connections.fetch_add(1, Ordering::SeqCst);
    if open >= cfg.server.max_connections {
        state.connections.fetch_sub(1, Ordering::SeqCst);
        refused(&seller.site, &seller.id, "global_limit");
        return Err(ApiError::unavailable(
            ErrorCode::TooManyConnections,
            "too many open ingest connections",
        )
        .into_response());
    }
    let mut guard = ConnGuard {
        state: state.clone(),
        seller: None,
    };
    ConnGuard::gauge(open + 1);
    // Per seller: one shop's runaway tool (or a leaked token) cannot take every connection.
    let cap = cfg.ingest.max_connections_per_seller;
    if let Some(count) = state.seller_connections.get(&seller.id) {
        if count.fetch_add(1, Ordering::SeqCst) >= cap {
            count.fetch_sub(1, Ordering::SeqCst);
            refused(&seller.site, &seller.id, "seller_limit");
            // Debug only: a client retrying in a loop must not flood the log (the counter
            // shows it).
            tracing::debug!(seller = %seller.id, limit = cap, "ingest connection refused: seller at its connection limit");
            let mut resp = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::TooManySellerConnections,
                format!(
                    "this seller already has {cap} open ingest connections \
                     (ingest.max_connections_per_seller = {cap}); close one or send more \
                     orders per frame"
                ),
            )
            .into_response();
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
            return Err(resp);
        }
        guard.seller = Some(seller.id.clone());
    }
    Ok(guard)
}

/// What every frame of the connection is processed with.
fn conn_ctx(state: &AppState, seller: &SellerConfig, label: String) -> Arc<process::Ctx> {
    let cfg = &state.config;
    let site = seller.site.clone();
    let schedule = state.schedule(&site);
    let metrics = process::ConnMetrics::new(&site, &seller.id);
    Arc::new(process::Ctx {
        store: state.store.clone(),
        site,
        seller: seller.id.clone(),
        label,
        schedule,
        max_skew: chrono::Duration::minutes(cfg.ingest.max_clock_skew_minutes),
        dedupe: crate::store::tombstones::DedupeWindow::from_config(&cfg.retention),
        retry_after_ms: cfg.ingest.nack_retry_after_ms,
        order_budget: state.order_budget.clone(),
        seller_budget: state
            .seller_order_budgets
            .get(&seller.id)
            .cloned()
            .unwrap_or_else(|| {
                let share = cfg.ingest.seller_share();
                Arc::new(tokio::sync::Semaphore::new(share))
            }),
        seller_share: u32::try_from(cfg.ingest.seller_share()).unwrap_or(u32::MAX),
        budget_wait: Duration::from_millis(cfg.redis.command_timeout_ms),
        metrics,
    })
}

fn conn_limits(cfg: &Config) -> conn::Limits {
    conn::Limits {
        window: cfg.ingest.window,
        max_orders_per_frame: cfg.ingest.max_orders_per_frame,
        max_orders_per_sec: cfg.ingest.max_orders_per_sec,
        max_inflight_orders: cfg.ingest.max_inflight_orders,
        idle: Duration::from_secs(cfg.ingest.idle_timeout_secs),
        write_timeout: Duration::from_secs(cfg.ingest.write_timeout_secs),
    }
}

/// Counts an open connection for its whole life (also when the upgrade never completes),
/// in all and for its seller.
struct ConnGuard {
    state: AppState,
    seller: Option<String>,
}

impl ConnGuard {
    fn gauge(n: usize) {
        metrics::gauge!(names::INGEST_CONNECTIONS).set(n as f64);
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let n = self.state.connections.fetch_sub(1, Ordering::SeqCst) - 1;
        Self::gauge(n);
        if let Some(count) = self
            .seller
            .as_ref()
            .and_then(|s| self.state.seller_connections.get(s))
        {
            count.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Why a handshake was refused before the upgrade (`reason` label).
pub const REFUSALS: [&str; 2] = ["global_limit", "seller_limit"];

fn refused(site: &str, seller: &str, reason: &'static str) {
    metrics::counter!(names::INGEST_REFUSED,
        "site" => site.to_owned(), "seller" => seller.to_owned(), "reason" => reason)
    .increment(1);
}

/// Why the server closed an ingest connection (`reason` label).
pub const CLOSES: [&str; 6] = [
    "write_timeout",
    "idle_timeout",
    "too_big",
    "invalid_utf8",
    "protocol_error",
    "storage_unknown",
];

fn closed(site: &str, reason: &'static str) {
    metrics::counter!(names::INGEST_CLOSED, "site" => site.to_owned(), "reason" => reason)
        .increment(1);
}

/// A share of a global ingest budget (frames in flight, orders at Redis), shown in a gauge
/// while held. Held only while a frame's reply is being computed, never while it waits
/// for its connection to write it.
/// The gauge is a handle the connection took once (issue 20: looking it up by name for
/// each frame, twice, was about 1 % of the service's CPU at one order a frame).
pub(crate) struct Held {
    _permit: OwnedSemaphorePermit,
    gauge: metrics::Gauge,
    n: u32,
}

impl Held {
    pub(crate) fn new(permit: OwnedSemaphorePermit, gauge: &metrics::Gauge) -> Self {
        let n = permit.num_permits() as u32;
        gauge.increment(f64::from(n));
        Held {
            _permit: permit,
            gauge: gauge.clone(),
            n,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.gauge.decrement(f64::from(self.n));
    }
}
