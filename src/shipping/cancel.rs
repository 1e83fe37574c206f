//! Cancelling carrier orders of parcels that will not ship: a booked parcel replaced (repack
//! after a cancellation) or cancelled keeps a carrier order the driver would otherwise come
//! for. `repack.lua` queues every parcel that leaves the floor after packing or booking
//! (`keys::carrier_cancels`); one task per site works through the due entries:
//! - a tracking code: `CarrierClient::cancel`. Success (or "already cancelled") → `cancel_state`
//!   `cancelled`; the carrier's refusal (e.g. already picked up) → `refused`, final, counted and
//!   logged; a transient failure → `retrying`, next try after an exponential back-off with
//!   jitter (base × 2^attempts, capped at 5 minutes, × a random factor in [0.5, 1)).
//! - no tracking code: a booking of the parcel may still be in flight (its lock is held, or it
//!   started from a read taken just before the repack): looked at again for two minutes. Then,
//!   if a create call was ever sent for it (`book_sent`) its answer was lost (a timeout, a
//!   502, the service killed mid-call) and the carrier may hold an order for it: the same
//!   create is sent again, which every adapter answers with the order the carrier holds for
//!   the parcel's reference (creating it if it held none), and that code is cancelled like any
//!   other ([`resolve_sent`]). A refusal is final (`refused`, for staff to check the carrier's
//!   portal: an "already exists" naming no code reads the same). Else dropped (nothing to
//!   cancel).
//!
//! Bounded: at most [`BATCH`] parcels per site and round, one carrier call at a time per site,
//! a per-parcel lock so that several instances never cancel the same parcel at once.

use crate::metric_names as names;
use std::time::Duration;

use chrono::Utc;

use crate::shipping::booker::{self, BOOK_SENT};
use crate::shipping::carrier::CarrierError;
use crate::shipping::{service, Shipping};
use crate::store::StoreError;

/// Parcels looked at per round and site.
pub const BATCH: usize = 32;
/// A parcel without a tracking code is watched this long after it left the floor.
const WATCH_UNBOOKED_MS: i64 = 120_000;
/// One carrier call never takes longer than this.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(30);
/// After this many failed attempts the cancel is given up (`refused`) and alerted on.
pub const MAX_ATTEMPTS: u64 = 40;

/// Back-off before attempt `attempts + 1`: base × 2^attempts, capped at 5 minutes, times
/// `jitter` (a factor in [0.5, 1)).
pub fn backoff_ms(base_ms: u64, attempts: u64, jitter: f64) -> i64 {
    let exp = attempts.min(16) as u32;
    let full = base_ms
        .saturating_mul(2u64.saturating_pow(exp))
        .min(300_000) as f64;
    (full * jitter.clamp(0.5, 1.0)).max(1.0) as i64
}

/// The site's canceller: runs until shutdown.
pub async fn run(ship: Shipping, site: String) {
    let shutdown = ship.shutdown.clone();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        if let Err(e) = round(&ship, &site).await {
            tracing::warn!(site = %site, error = %e, "carrier cancel round failed");
        }
    }
}

/// One pass over the due entries. Returns how many parcels were looked at.
pub async fn round(ship: &Shipping, site: &str) -> Result<usize, StoreError> {
    let now = Utc::now().timestamp_millis();
    let due = ship.store.due_cancels(site, now, BATCH).await?;
    for id in &due {
        if ship.shutdown.is_cancelled() {
            break;
        }
        one(ship, site, id).await?;
    }
    if let Ok(n) = ship.store.cancels_waiting(site).await {
        metrics::gauge!(names::CARRIER_CANCELS_WAITING, "site" => site.to_owned()).set(n as f64);
    }
    Ok(due.len())
}

async fn one(ship: &Shipping, site: &str, id: &str) -> Result<(), StoreError> {
    let Some(h) = ship
        .store
        .parcel_hashes(site, &[id.to_owned()])
        .await?
        .into_iter()
        .next()
        .filter(|h| !h.is_empty())
    else {
        return ship.store.drop_cancel(site, id).await;
    };
    let now = Utc::now().timestamp_millis();
    if matches!(
        h.get("cancel_state").map(String::as_str),
        Some("cancelled" | "refused")
    ) {
        return ship.store.drop_cancel(site, id).await;
    }
    let Some(tracking) = h.get("tracking").cloned() else {
        return watch_unbooked(ship, site, id, &h, now).await;
    };
    if h.get("cstatus").map(String::as_str) == Some("cancelled_by_carrier") {
        ship.store
            .record_cancel(site, id, "cancelled", None, None)
            .await?;
        return Ok(());
    }
    let carrier_id = carrier_of(&h);
    let Some(carrier) = ship.carriers.get(&carrier_id) else {
        // No client for it (config changed): look again later, never drop a live order.
        return ship.store.reschedule_cancel(site, id, now + 60_000).await;
    };
    if !h.contains_key("cancel_state") {
        ship.store
            .set_parcel_field(site, id, "cancel_state", "pending")
            .await?;
    }
    if !ship.store.lock_cancel(site, id, 60_000).await? {
        return ship.store.reschedule_cancel(site, id, now + 2_000).await;
    }
    let note = match h.get("replaced_by") {
        Some(new) => format!("Khách hủy đơn; đóng gói lại thành {new}"),
        None => "Khách hủy đơn".to_owned(),
    };
    let result = tokio::time::timeout(CANCEL_TIMEOUT, carrier.cancel(&tracking, &note)).await;
    let attempt = Attempt {
        site,
        id,
        carrier_id: &carrier_id,
        attempts: cancel_attempts(&h),
        now,
    };
    let outcome = record_outcome(ship, &attempt, result).await?;
    metrics::counter!(names::CARRIER_CANCELS, "site" => site.to_owned(), "carrier" => carrier_id.clone(), "result" => outcome)
        .increment(1);
    ship.store.unlock_cancel(site, id).await
}

/// A parcel without a tracking code: a booking of it in flight (its lock is held) is waited
/// for; one sent whose answer was lost is resolved ([`resolve_sent`]); otherwise it is
/// looked at again every two seconds until [`WATCH_UNBOOKED_MS`] after it left the floor,
/// then dropped (nothing to cancel).
async fn watch_unbooked(
    ship: &Shipping,
    site: &str,
    id: &str,
    h: &std::collections::HashMap<String, String>,
    now: i64,
) -> Result<(), StoreError> {
    let left = ["replaced_ms", "cancelled_ms"]
        .iter()
        .filter_map(|k| h.get(*k).and_then(|v| v.parse::<i64>().ok()))
        .max()
        .unwrap_or(0);
    if ship.store.booking_in_flight(site, id).await? {
        return ship.store.reschedule_cancel(site, id, now + 2_000).await;
    }
    // No attempt in flight (each holds the lock, and the next one finds the parcel no longer
    // ships): one that was sent and lost its answer can be resolved now, under the lock.
    let rejected = h.get("book_state").map(String::as_str) == Some("rejected");
    if h.contains_key(BOOK_SENT) && !rejected {
        return resolve_sent(ship, site, id, h, now).await;
    }
    if now - left < WATCH_UNBOOKED_MS {
        return ship.store.reschedule_cancel(site, id, now + 2_000).await;
    }
    ship.store.drop_cancel(site, id).await
}

/// The failed carrier cancels of a parcel hash so far.
fn cancel_attempts(h: &std::collections::HashMap<String, String>) -> u64 {
    h.get("cancel_attempts")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// What a failed carrier call (an error, or no answer within its time) is recorded as.
fn failure_message<T>(
    failed: Result<Result<T, CarrierError>, tokio::time::error::Elapsed>,
) -> String {
    match failed {
        Ok(Err(e)) => e.message().to_owned(),
        _ => "carrier timed out".to_owned(),
    }
}

/// The carrier of a parcel hash (its document's), or "".
fn carrier_of(h: &std::collections::HashMap<String, String>) -> String {
    h.get("data")
        .and_then(|d| serde_json::from_str::<crate::store::records::ParcelDoc>(d).ok())
        .and_then(|d| d.carrier)
        .unwrap_or_default()
}

/// A parcel that no longer ships, with a create call sent for it and no code recorded: asks
/// the carrier for its order by sending the same create again (under the parcel's booking
/// lock). A code found is kept on the parcel and cancelled by the next round; a refusal is
/// `refused` (staff check the carrier's portal); a failure is retried as a cancel is.
async fn resolve_sent(
    ship: &Shipping,
    site: &str,
    id: &str,
    h: &std::collections::HashMap<String, String>,
    now: i64,
) -> Result<(), StoreError> {
    let carrier_id = carrier_of(h);
    let (Some(carrier), Some(site_cfg)) = (ship.carriers.get(&carrier_id), ship.config.site(site))
    else {
        return ship.store.reschedule_cancel(site, id, now + 60_000).await;
    };
    let lock_ms = CANCEL_TIMEOUT.as_millis() as u64 + 10_000;
    let Some(token) = ship.store.lock_parcel(site, id, lock_ms).await? else {
        return ship.store.reschedule_cancel(site, id, now + 2_000).await;
    };
    let result = async {
        let Some(p) = service::load_parcels(&ship.store, site, &[id.to_owned()])
            .await?
            .into_iter()
            .next()
        else {
            return ship.store.drop_cancel(site, id).await;
        };
        if p.tracking.is_some() {
            // Recorded meanwhile: the next round cancels it.
            return ship.store.reschedule_cancel(site, id, now).await;
        }
        let cfg = ship.config.carriers.iter().find(|c| c.id == carrier_id);
        let req = booker::booking_request(ship, site_cfg, &p, cfg, "").await?;
        match tokio::time::timeout(CANCEL_TIMEOUT, carrier.book(&req)).await {
            Ok(Ok(found)) => {
                ship.store
                    .record_found_tracking(site, id, &found.tracking_code)
                    .await?;
                tracing::info!(site, parcel = %id, "carrier order found for a parcel that no longer ships: cancelling it");
                ship.store.reschedule_cancel(site, id, now).await
            }
            Ok(Err(e)) if !e.retryable() => {
                // Not proof that the carrier holds none: an "already exists" that names no
                // code reads the same. Final, kept for staff (the refused alert), never
                // dropped silently.
                let why = format!(
                    "a create call's answer was lost and the carrier now refuses it: check the \
                     carrier's portal for an order of {id} and cancel it there ({})",
                    e.message()
                );
                ship.store
                    .record_cancel(site, id, "refused", Some(&why), None)
                    .await?;
                tracing::warn!(site, parcel = %id, "a lost booking of a parcel that no longer ships could not be resolved: check the carrier's portal");
                metrics::counter!(names::CARRIER_CANCELS, "site" => site.to_owned(), "carrier" => carrier_id.clone(), "result" => "refused")
                    .increment(1);
                Ok(())
            }
            failed => {
                let attempt = Attempt {
                    site,
                    id,
                    carrier_id: &carrier_id,
                    attempts: cancel_attempts(h),
                    now,
                };
                record_failure(ship, &attempt, &failure_message(failed))
                    .await
                    .map(|_| ())
            }
        }
    }
    .await;
    let unlocked = ship.store.unlock_parcel(site, id, &token).await;
    result?;
    unlocked
}

/// One carrier cancel being made: of parcel `id`, after `attempts` failed ones, at `now`.
struct Attempt<'a> {
    site: &'a str,
    id: &'a str,
    carrier_id: &'a str,
    attempts: u64,
    now: i64,
}

/// Records what the carrier answered; returns the `result` label of the counter.
async fn record_outcome(
    ship: &Shipping,
    a: &Attempt<'_>,
    result: Result<Result<(), CarrierError>, tokio::time::error::Elapsed>,
) -> Result<&'static str, StoreError> {
    let (site, id) = (a.site, a.id);
    match result {
        Ok(Ok(())) => {
            ship.store
                .record_cancel(site, id, "cancelled", None, None)
                .await?;
            tracing::info!(site, parcel = %id, "carrier order cancelled");
            // A COD statement that lists it already stops expecting its COD now.
            crate::shipping::cod::refresh_record(ship, site, id).await?;
            Ok("cancelled")
        }
        Ok(Err(e)) if !e.retryable() => {
            ship.store
                .record_cancel(site, id, "refused", Some(e.message()), None)
                .await?;
            // The carrier's text may echo the receiver: kept on the parcel, not logged.
            tracing::warn!(site, parcel = %id, "carrier refused to cancel the order: pull the parcel at hand-over");
            Ok("refused")
        }
        failed => record_failure(ship, a, &failure_message(failed)).await,
    }
}

/// A transient failure: retried after a back-off, or given up after [`MAX_ATTEMPTS`].
async fn record_failure(
    ship: &Shipping,
    a: &Attempt<'_>,
    message: &str,
) -> Result<&'static str, StoreError> {
    let (site, id) = (a.site, a.id);
    if a.attempts + 1 >= MAX_ATTEMPTS {
        ship.store
            .record_cancel(
                site,
                id,
                "refused",
                Some(&format!("gave up after {MAX_ATTEMPTS} attempts: {message}")),
                None,
            )
            .await?;
        tracing::warn!(site, parcel = %id, "carrier cancel given up");
        return Ok("refused");
    }
    let base = ship
        .config
        .carriers
        .iter()
        .find(|c| c.id == a.carrier_id)
        .map_or(2_000, |c| c.retry_base_ms);
    let next = a.now + backoff_ms(base, a.attempts, rand::random_range(0.5..1.0));
    ship.store
        .record_cancel(site, id, "retrying", Some(message), Some(next))
        .await?;
    Ok("failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        assert_eq!(backoff_ms(1_000, 0, 1.0), 1_000);
        assert_eq!(backoff_ms(1_000, 3, 1.0), 8_000);
        assert_eq!(backoff_ms(1_000, 3, 0.5), 4_000);
        assert_eq!(backoff_ms(1_000, 30, 1.0), 300_000);
        assert_eq!(backoff_ms(1_000, 2, 7.0), 4_000, "jitter factor clamped");
    }
}
