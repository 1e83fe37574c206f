//! Gauges whose truth lives outside the request path, refreshed on a timer (never per
//! scrape): from Redis the dead-letter backlog,
//! orders at risk close to their pickup, floor progress per pickup and the day's
//! shipments with their consolidation savings, and delivered COD unpaid past schedule.
//! The process's own memory and CPU (`process`, read from /proc) are read at each scrape
//! instead (`metrics::render`).
//!
//! Every instance runs one refresher; the Redis-derived gauges are the same on each, so
//! dashboards aggregate them with `max by (site)`.

mod cod;
mod floor;
pub mod process;
pub mod risk;
mod shipping;

pub use risk::{session_at_risk, WavedAtRisk};

use crate::metric_names as names;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::state::AppState;

/// Default refresh period of the Redis-derived gauges.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// The day's shipments (priced again where a parcel changed) are refreshed every this many
/// ticks.
const SHIPPING_EVERY: u64 = 3;

static INTERVAL_MS: AtomicU64 = AtomicU64::new(DEFAULT_INTERVAL.as_millis() as u64);

/// Changes the refresh period for the whole process (tests use a short one).
pub fn set_interval(period: Duration) {
    INTERVAL_MS.store(period.as_millis().max(100) as u64, Ordering::Relaxed);
}

fn interval() -> Duration {
    Duration::from_millis(INTERVAL_MS.load(Ordering::Relaxed))
}

/// Starts the refresher; it stops when the service shuts down.
pub fn spawn(state: &AppState) {
    let state = state.clone();
    let tasks = state.tasks.clone();
    tasks.spawn(run(state));
}

async fn run(state: AppState) {
    let shutdown = state.shutdown.clone();
    let mut tick: u64 = 0;
    let mut plans = shipping::PlanCache::default();
    loop {
        let with_shipping = tick.is_multiple_of(SHIPPING_EVERY);
        refresh_redis(&state, with_shipping.then_some(&mut plans)).await;
        tick += 1;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval()) => {}
        }
    }
}

/// One pass over every configured site. Failures are logged at debug level (Redis errors
/// are already counted by the store) and leave the previous values in place.
async fn refresh_redis(state: &AppState, mut shipment_plans: Option<&mut shipping::PlanCache>) {
    let up = ping(state).await;
    metrics::gauge!(names::REDIS_UP).set(if up { 1.0 } else { 0.0 });
    if !up {
        return;
    }
    let now = chrono::Utc::now();
    for site in &state.config.sites {
        if state.shutdown.is_cancelled() {
            return;
        }
        let id = site.id.as_str();
        if let Err(e) = risk::refresh(state, id, now).await {
            tracing::debug!(site = %id, error = %e, "at-risk gauges not refreshed");
        }
        if let Err(e) = floor::refresh(state, site, now).await {
            tracing::debug!(site = %id, error = %e, "floor gauges not refreshed");
        }
        if let Some(plans) = shipment_plans.as_deref_mut() {
            if let Err(e) = shipping::refresh(state, id, now, plans).await {
                tracing::debug!(site = %id, error = %e, "shipping gauges not refreshed");
            }
            if let Err(e) = cod::refresh(state, id, now).await {
                tracing::debug!(site = %id, error = %e, "COD gauges not refreshed");
            }
        }
    }
}

async fn ping(state: &AppState) -> bool {
    state.store.ping().await.is_ok()
}
