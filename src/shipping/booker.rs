//! Booking that survives the carrier: a booking request (manual or automatic) marks its
//! parcels `pending` and queues them in Redis (`store::booking`); one background booker per
//! site takes every queued parcel whose time has come, books it (bounded concurrency, a
//! per-attempt time limit, the per-parcel lock so no two instances book a parcel at once) and
//! either settles it (`booked`, or `rejected`: final, never retried, its reason kept and
//! counted) or schedules the next try with exponential back-off and jitter (`retrying`).
//! The queue lives in Redis, so a restart (or another instance) carries on where this one
//! stopped; a request wakes the booker at once.

use crate::metric_names as names;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use rand::Rng;
use tokio::sync::Notify;

use super::carrier::CarrierError;
use super::service::{self, ParcelBooking, StoredParcel};
use crate::config::{CarrierConfig, Config, SiteConfig};
use crate::domain::status::{BookOutcome, BookState};
use crate::shipping::Shipping;
use crate::store::StoreError;

/// The parcel hash field set (to the time, ms) before each create call to the carrier.
pub const BOOK_SENT: &str = "book_sent";

/// Parcels one site's booker books at once.
pub const CONCURRENCY: usize = 8;
/// The booker looks at its queue at least this often (a request wakes it sooner).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// A parcel locked by another booking attempt is looked at again this much later.
const LOCKED_RETRY_MS: i64 = 1_000;
/// The lock outlives an attempt by this much (store round trips around the carrier call).
const LOCK_MARGIN_MS: u64 = 10_000;

/// One wake-up per site.
#[derive(Debug, Default)]
pub struct Wakers(HashMap<String, Arc<Notify>>);

impl Wakers {
    pub fn new(config: &Config) -> Self {
        Wakers(
            config
                .sites
                .iter()
                .map(|s| (s.id.clone(), Arc::new(Notify::new())))
                .collect(),
        )
    }

    /// Wakes the site's booker now (or as soon as it next waits).
    pub fn wake(&self, site: &str) {
        if let Some(n) = self.0.get(site) {
            n.notify_one();
        }
    }

    fn get(&self, site: &str) -> Arc<Notify> {
        self.0.get(site).cloned().unwrap_or_default()
    }
}

/// Starts one booker per site under `ship.tasks`; each stops on `ship.shutdown`.
pub fn spawn_all(ship: &Shipping) {
    for site in &ship.config.sites {
        ship.tasks.spawn(run(ship.clone(), site.id.clone()));
    }
}

/// Requests booking of `ids` (durably) and wakes the site's booker. `keep_schedule`: a
/// parcel already queued keeps its next try (the automatic window asks every round).
pub async fn request(
    ship: &Shipping,
    site: &str,
    ids: &[String],
    due_ms: i64,
    keep_schedule: bool,
) -> Result<u64, StoreError> {
    let n = ship
        .store
        .request_booking(site, ids, due_ms, keep_schedule)
        .await?;
    if n > 0 {
        ship.booker_wake.wake(site);
    }
    Ok(n)
}

/// The wait before try number `attempts + 1` after `attempts` failures: base × 2^(attempts−1)
/// capped at `cap`, then a random point in its upper half ("equal jitter": never hammers
/// sooner than half the back-off, and parcels that failed together spread out).
pub fn backoff_ms(base_ms: u64, cap_ms: u64, attempts: u64, rng: &mut impl Rng) -> i64 {
    let exp = attempts.saturating_sub(1).min(30) as u32;
    let full = base_ms
        .max(1)
        .saturating_mul(1u64 << exp)
        .min(cap_ms.max(base_ms.max(1)));
    let half = full / 2;
    (half + rng.random_range(0..=full - half)) as i64
}

pub(crate) fn carrier_config<'a>(ship: &'a Shipping, id: &str) -> Option<&'a CarrierConfig> {
    ship.config.carriers.iter().find(|c| c.id == id)
}

fn attempt_timeout(cfg: Option<&CarrierConfig>) -> Duration {
    Duration::from_millis(cfg.map_or(8_000, |c| c.attempt_timeout_ms).max(100))
}

/// How long a manual request for `parcels` parcels leaves them to the caller's own first
/// pass before the background booker may take them: enough for the pass to reach each one
/// when every attempt takes its whole time limit, at most [`MAX_FIRST_PASS_MS`] (the caller
/// reschedules or settles each parcel as it tries it, so this only matters if it dies).
pub fn first_pass_lease_ms(ship: &Shipping, carrier: &str, parcels: usize) -> i64 {
    let one = attempt_timeout(carrier_config(ship, carrier)).as_millis() as i64;
    let rounds = parcels.div_ceil(CONCURRENCY).max(1) as i64;
    (one.saturating_mul(rounds) + LOCK_MARGIN_MS as i64).min(MAX_FIRST_PASS_MS)
}

/// The longest a manual request's parcels wait for its first pass (see above).
const MAX_FIRST_PASS_MS: i64 = 300_000;

fn outcome(
    id: &str,
    status: BookOutcome,
    tracking: Option<String>,
    error: Option<String>,
) -> ParcelBooking {
    ParcelBooking {
        parcel_id: id.to_owned(),
        status,
        tracking_code: tracking,
        error,
    }
}

/// One booking attempt of one parcel, whatever asked for it: under the parcel's lock,
/// re-reads the parcel (another instance may have settled it meanwhile), books it with its
/// carrier within the attempt time limit and records the result with its `book_state`.
pub async fn attempt(
    ship: &Shipping,
    site: &SiteConfig,
    parcel_id: &str,
    carrier_hint: &str,
    service_hint: &str,
) -> Result<ParcelBooking, StoreError> {
    let cfg = carrier_config(ship, carrier_hint);
    // The locked part asks a quote (up to half the attempt's limit) and then books (up to
    // the limit): the lock outlives both.
    let lock_ms = attempt_timeout(cfg).as_millis() as u64 * 3 / 2 + LOCK_MARGIN_MS;
    let Some(token) = ship.store.lock_parcel(&site.id, parcel_id, lock_ms).await? else {
        return Ok(outcome(
            parcel_id,
            BookOutcome::Skipped,
            None,
            Some("being booked".into()),
        ));
    };
    let out = attempt_locked(ship, site, parcel_id, carrier_hint, service_hint).await;
    let unlocked = ship.store.unlock_parcel(&site.id, parcel_id, &token).await;
    let out = out?;
    unlocked?;
    Ok(out)
}

async fn attempt_locked(
    ship: &Shipping,
    site: &SiteConfig,
    parcel_id: &str,
    carrier_hint: &str,
    service_hint: &str,
) -> Result<ParcelBooking, StoreError> {
    let Some(p) = service::load_parcels(&ship.store, &site.id, &[parcel_id.to_owned()])
        .await?
        .into_iter()
        .next()
    else {
        ship.store.unqueue_booking(&site.id, parcel_id).await?;
        return Ok(outcome(
            parcel_id,
            BookOutcome::Skipped,
            None,
            Some("no such parcel".into()),
        ));
    };
    // A cancelled or replaced parcel is not `booked`, whatever tracking code it kept.
    if !p.ships() {
        ship.store.unqueue_booking(&site.id, parcel_id).await?;
        return Ok(outcome(
            parcel_id,
            BookOutcome::Skipped,
            None,
            Some("cancelled or to be pulled".into()),
        ));
    }
    if let Some(t) = &p.tracking {
        ship.store.unqueue_booking(&site.id, parcel_id).await?;
        return Ok(outcome(
            parcel_id,
            BookOutcome::Booked,
            Some(t.clone()),
            None,
        ));
    }
    if p.book_state == Some(BookState::Rejected) {
        ship.store.unqueue_booking(&site.id, parcel_id).await?;
        return Ok(outcome(
            parcel_id,
            BookOutcome::Rejected,
            None,
            p.book_error.clone(),
        ));
    }
    let carrier_id = p
        .doc
        .carrier
        .clone()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| carrier_hint.to_owned());
    let cfg = carrier_config(ship, &carrier_id);
    let Some(carrier) = ship.carriers.get(&carrier_id) else {
        // A configuration problem, not the parcel's: keep it queued for when it is fixed.
        let next = Utc::now().timestamp_millis() + 60_000;
        ship.store
            .record_booking_retry(&site.id, parcel_id, "no such carrier configured", next)
            .await?;
        return Ok(outcome(
            parcel_id,
            BookOutcome::Retrying,
            None,
            Some("no such carrier configured".into()),
        ));
    };
    let req = booking_request(ship, site, &p, cfg, service_hint).await?;
    let limit = attempt_timeout(cfg);
    if p.quote.is_none() {
        // The carrier's own fee, kept beside our estimate; best effort, never blocks booking.
        if let Ok(Some(Ok(q))) = tokio::time::timeout(limit / 2, carrier.quote(&req)).await {
            ship.store
                .set_parcel_quote(&site.id, parcel_id, &q.to_string())
                .await?;
        }
    }
    // From here the carrier may create an order whatever this process learns of it (a lost
    // answer, a crash): a parcel cancelled or replaced before a code is recorded is then
    // asked of the carrier again by the canceller (`cancel::resolve_sent`).
    ship.store
        .set_parcel_field(
            &site.id,
            parcel_id,
            BOOK_SENT,
            &Utc::now().timestamp_millis().to_string(),
        )
        .await?;
    let result = match tokio::time::timeout(limit, carrier.book(&req)).await {
        Ok(r) => r,
        Err(_) => Err(CarrierError::unavailable(format!(
            "carrier did not answer within {} ms",
            limit.as_millis()
        ))),
    };
    record(ship, site, &p, &carrier_id, cfg, result).await
}

/// The create request of parcel `p`: its service (the parcel's, else `service_hint`, else
/// the carrier's default) and the full receiver read from its orders.
pub(super) async fn booking_request(
    ship: &Shipping,
    site: &SiteConfig,
    p: &StoredParcel,
    cfg: Option<&CarrierConfig>,
    service_hint: &str,
) -> Result<super::carrier::BookingRequest, StoreError> {
    let service = p
        .doc
        .service
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| Some(service_hint.to_owned()).filter(|s| !s.is_empty()))
        .or_else(|| cfg.map(CarrierConfig::service))
        .unwrap_or_default();
    service::with_receiver(
        &ship.store,
        &site.id,
        p,
        service::request(site, p, &service),
    )
    .await
}

async fn record(
    ship: &Shipping,
    site: &SiteConfig,
    p: &StoredParcel,
    carrier_id: &str,
    cfg: Option<&CarrierConfig>,
    result: Result<super::carrier::Booking, CarrierError>,
) -> Result<ParcelBooking, StoreError> {
    let id = p.doc.parcel_id.as_str();
    let labels = [
        ("site", site.id.clone()),
        ("carrier", carrier_id.to_owned()),
    ];
    match result {
        Ok(booking) => {
            let fee = booking.fee.map(|f| f.to_string());
            let code = ship
                .store
                .record_booking(
                    &site.id,
                    id,
                    &p.order_keys(),
                    &booking.tracking_code,
                    fee.as_deref(),
                )
                .await?;
            ship.store.unqueue_booking(&site.id, id).await?;
            metrics::counter!(names::PARCELS_BOOKED, &labels).increment(1);
            Ok(outcome(id, BookOutcome::Booked, Some(code), None))
        }
        Err(CarrierError::Rejected { message }) => {
            ship.store
                .record_booking_rejection(&site.id, id, &message)
                .await?;
            metrics::counter!(names::BOOKING_REJECTIONS, &labels).increment(1);
            metrics::counter!(names::BOOKING_FAILURES, "site" => site.id.clone(), "retryable" => "false").increment(1);
            // The carrier's text may echo the receiver's address: kept on the parcel (staff
            // see it), not logged.
            tracing::warn!(site = %site.id, parcel = %id, carrier = %carrier_id, "carrier rejected the parcel; not retried");
            Ok(outcome(id, BookOutcome::Rejected, None, Some(message)))
        }
        Err(CarrierError::Unavailable { message }) => {
            let attempts = p.book_attempts + 1;
            let wait = backoff_ms(
                cfg.map_or(1_000, |c| c.retry_base_ms),
                cfg.map_or(60_000, |c| c.retry_cap_ms),
                attempts,
                &mut rand::rng(),
            );
            let next = Utc::now().timestamp_millis() + wait;
            ship.store
                .record_booking_retry(&site.id, id, &message, next)
                .await?;
            metrics::counter!(names::BOOKING_FAILURES, "site" => site.id.clone(), "retryable" => "true").increment(1);
            tracing::info!(site = %site.id, parcel = %id, attempts, retry_in_ms = wait, "booking failed; will retry");
            Ok(outcome(id, BookOutcome::Retrying, None, Some(message)))
        }
    }
}

/// The site's background booker: takes due parcels off the queue, up to [`CONCURRENCY`] at
/// once, until shutdown.
pub async fn run(ship: Shipping, site: String) {
    let Some(site_cfg) = ship.config.site(&site).cloned() else {
        return;
    };
    let site_cfg = Arc::new(site_cfg);
    let wake = ship.booker_wake.get(&site);
    let shutdown = ship.shutdown.clone();
    let mut inflight = FuturesUnordered::new();
    let mut busy: HashSet<String> = HashSet::new();
    let mut touched: HashSet<String> = HashSet::new();
    loop {
        let mut wait = IDLE_POLL;
        if inflight.len() < CONCURRENCY {
            let now = Utc::now().timestamp_millis();
            match ship.store.due_bookings(&site, now, CONCURRENCY * 4).await {
                Ok(ids) => {
                    for id in ids {
                        if inflight.len() >= CONCURRENCY {
                            break;
                        }
                        if busy.insert(id.clone()) {
                            inflight.push(queued_attempt(ship.clone(), site_cfg.clone(), id));
                        }
                    }
                }
                Err(e) => tracing::warn!(site = %site, error = %e, "booking queue unreadable"),
            }
            if let Ok(Some(due)) = ship.store.next_booking_due(&site).await {
                let ms = due - Utc::now().timestamp_millis();
                if ms > 0 {
                    wait =
                        wait.min(Duration::from_millis(ms as u64).max(Duration::from_millis(20)));
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            Some((id, res)) = inflight.next(), if !inflight.is_empty() => {
                busy.remove(&id);
                match res {
                    Ok(Some(shipment)) => { touched.insert(shipment); }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(site = %site, parcel = %id, error = %e, "booking attempt not recorded"),
                }
            }
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
        if inflight.is_empty() && !touched.is_empty() {
            for shipment in std::mem::take(&mut touched) {
                if let Err(e) = service::settle_shipment(&ship, &site, &shipment).await {
                    tracing::warn!(site = %site, shipment = %shipment, error = %e, "shipment status not updated");
                }
            }
        }
    }
}

/// One queued parcel: returns its id and, when it got booked, its shipment (to settle).
async fn queued_attempt(
    ship: Shipping,
    site: Arc<SiteConfig>,
    id: String,
) -> (String, Result<Option<String>, StoreError>) {
    let res = async {
        let Some(p) = service::load_parcels(&ship.store, &site.id, std::slice::from_ref(&id))
            .await?
            .into_iter()
            .next()
        else {
            ship.store.unqueue_booking(&site.id, &id).await?;
            return Ok(None);
        };
        let carrier = p.doc.carrier.clone().unwrap_or_default();
        let service = p.doc.service.clone().unwrap_or_default();
        let out = attempt(&ship, &site, &id, &carrier, &service).await?;
        if out.status == BookOutcome::Skipped && out.error.as_deref() == Some("being booked") {
            let later = Utc::now().timestamp_millis() + LOCKED_RETRY_MS;
            ship.store.postpone_booking(&site.id, &id, later).await?;
        }
        Ok(if out.status == BookOutcome::Booked {
            p.doc.shipment_id.clone()
        } else {
            None
        })
    }
    .await;
    (id, res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let first = backoff_ms(1_000, 60_000, 1, &mut rng);
            assert!((500..=1_000).contains(&first), "{first}");
            let fourth = backoff_ms(1_000, 60_000, 4, &mut rng);
            assert!((4_000..=8_000).contains(&fourth), "{fourth}");
            let late = backoff_ms(1_000, 60_000, 40, &mut rng);
            assert!((30_000..=60_000).contains(&late), "{late}");
        }
        let spread: HashSet<i64> = (0..50)
            .map(|_| backoff_ms(1_000, 60_000, 3, &mut rng))
            .collect();
        assert!(spread.len() > 10, "jitter spreads retries: {spread:?}");
    }
}
