//! Live wave lists for tablets: one shared poller per site that has connected streams.
//!
//! The poller reads the site's waves from Redis about once a second and, when the list or
//! its progress changed, offers the new snapshot to every stream of that site with
//! `try_send` into a small bounded channel. A stream whose channel is full (a slow or
//! backgrounded tablet) is marked lagged and skipped; when it reads again it drains the
//! stale snapshots and gets one `refresh` event. So a client never makes the server hold
//! more than [`CLIENT_BUFFER`] shared snapshots for it, and never enters a reconnect loop.
//! The poller stops when its last stream is gone, and on shutdown.

use crate::metric_names as names;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::domain::schedule::business_date;
use crate::state::AppState;
use crate::store::records::WaveRow as StoredWave;

/// Snapshots a stream may have waiting before it counts as lagging.
pub const CLIENT_BUFFER: usize = 4;
/// How often a site's poller reads Redis.
pub const POLL_EVERY: Duration = Duration::from_millis(1000);

/// One wave as the tablet's list shows it (the same fields as `GET /v1/sites/{site}/waves`,
/// plus the business day it is listed under).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct WaveRow {
    pub wave_id: String,
    /// The business day (of its pickup) the wave is listed under.
    pub date: NaiveDate,
    /// picking | packing | done
    pub status: String,
    pub released_at: DateTime<Utc>,
    pub pickup_at: DateTime<Utc>,
    pub order_count: u64,
    pub parcel_count: u64,
    pub qty_total: u64,
    pub qty_picked: u64,
    pub parcels_packed: u64,
    /// The first counted pick (or pack); null: not started.
    #[schema(required = true)]
    pub started_at: Option<DateTime<Utc>>,
    /// The station that last picked, packed or undid in this wave.
    #[schema(required = true)]
    pub station: Option<String>,
    /// Units still to put back; parcels still to pull.
    pub put_back_count: u64,
    pub pull_count: u64,
}

/// The data of a `waves` event: the site's waves of today and tomorrow (business days,
/// Asia/Ho_Chi_Minh), by pickup time.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WaveFeed {
    pub site: String,
    pub dates: Vec<NaiveDate>,
    pub waves: Vec<WaveRow>,
}

impl WaveRow {
    /// The tablet's row of a stored wave, listed under `date`.
    pub fn new(date: NaiveDate, w: StoredWave) -> WaveRow {
        WaveRow {
            wave_id: w.wave_id,
            date,
            status: w.status,
            released_at: w.released_at,
            pickup_at: w.pickup_at,
            order_count: w.order_count,
            parcel_count: w.parcel_count,
            qty_total: w.qty_total,
            qty_picked: w.qty_picked,
            parcels_packed: w.parcels_packed,
            started_at: w.started_at,
            station: w.station,
            put_back_count: w.put_back_count,
            pull_count: w.pull_count,
        }
    }
}

/// The business days a tablet shows: today and tomorrow (evening orders go to the next
/// morning's pickup, and waves are listed under their pickup's day).
pub fn feed_dates(now: DateTime<Utc>) -> Vec<NaiveDate> {
    let today = business_date(now);
    match today.succ_opt() {
        Some(next) => vec![today, next],
        None => vec![today],
    }
}

/// Reads the site's feed from Redis, as compact JSON.
pub async fn read_feed(state: &AppState, site: &str) -> Result<String, FeedError> {
    let dates = feed_dates(Utc::now());
    let mut waves = Vec::new();
    for &date in &dates {
        let ids = state.store.wave_ids_of_day(site, date).await?;
        let rows = state.store.wave_rows(site, &ids).await?;
        waves.extend(rows.into_iter().map(|w| WaveRow::new(date, w)));
    }
    waves.sort_by(|a, b| {
        (a.pickup_at, a.released_at, &a.wave_id).cmp(&(b.pickup_at, b.released_at, &b.wave_id))
    });
    let feed = WaveFeed {
        site: site.to_owned(),
        dates,
        waves,
    };
    Ok(serde_json::to_string(&feed)?)
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// What a connected stream reads from.
pub struct Subscription {
    pub rx: mpsc::Receiver<Arc<str>>,
    /// Set by the poller when the channel was full: the stream owes its client a `refresh`.
    pub lagged: Arc<AtomicBool>,
}

struct Client {
    tx: mpsc::Sender<Arc<str>>,
    lagged: Arc<AtomicBool>,
}

#[derive(Default)]
struct SiteFeed {
    clients: Vec<Client>,
    last: Option<Arc<str>>,
}

/// Every site's connected streams. One per router (so per running service).
#[derive(Default)]
pub struct Hub {
    sites: Mutex<HashMap<String, SiteFeed>>,
}

impl Hub {
    pub fn new() -> Hub {
        Hub::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, SiteFeed>> {
        // The map stays consistent even if a holder panicked: every update is one step.
        self.sites.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a stream for `site`; it gets the latest snapshot at once if there is one.
    /// Returns true when the site has no poller yet (the caller starts one).
    pub fn join(&self, site: &str) -> (Subscription, bool) {
        let (tx, rx) = mpsc::channel(CLIENT_BUFFER);
        let lagged = Arc::new(AtomicBool::new(false));
        let mut sites = self.lock();
        let start = !sites.contains_key(site);
        let feed = sites.entry(site.to_owned()).or_default();
        if let Some(last) = &feed.last {
            // A fresh channel has room.
            let _ = tx.try_send(last.clone());
        }
        feed.clients.push(Client {
            tx,
            lagged: lagged.clone(),
        });
        (Subscription { rx, lagged }, start)
    }

    /// Streams of `site` still connected.
    pub fn clients(&self, site: &str) -> usize {
        self.lock().get(site).map(|f| f.clients.len()).unwrap_or(0)
    }

    /// Offers a snapshot (None: the read failed, keep the last one) to the site's streams
    /// if it differs from the last one. Forgets closed streams. Returns false, and forgets
    /// the site, when no stream is left: its poller stops.
    pub fn publish(&self, site: &str, snapshot: Option<String>) -> bool {
        let mut sites = self.lock();
        let Some(feed) = sites.get_mut(site) else {
            return false;
        };
        feed.clients.retain(|c| !c.tx.is_closed());
        if feed.clients.is_empty() {
            sites.remove(site);
            return false;
        }
        let Some(snapshot) = snapshot else {
            return true;
        };
        if feed.last.as_deref() == Some(snapshot.as_str()) {
            return true;
        }
        let snapshot: Arc<str> = snapshot.into();
        feed.last = Some(snapshot.clone());
        for c in &feed.clients {
            if c.lagged.load(Ordering::Acquire) {
                continue;
            }
            if let Err(mpsc::error::TrySendError::Full(_)) = c.tx.try_send(snapshot.clone()) {
                c.lagged.store(true, Ordering::Release);
                metrics::counter!(names::TABLET_STREAM_LAGGED).increment(1);
            }
        }
        true
    }

    /// Forgets a site (its poller is stopping for shutdown).
    pub fn forget(&self, site: &str) {
        self.lock().remove(site);
    }

    /// A stream for `site`, starting the site's poller if it has none.
    pub fn subscribe(self: &Arc<Self>, state: &AppState, site: &str) -> Subscription {
        let (sub, start) = self.join(site);
        if start {
            let hub = self.clone();
            let st = state.clone();
            let site = site.to_owned();
            state
                .tasks
                .spawn(async move { poll_site(hub, st, site).await });
        }
        sub
    }
}

/// The site's poller: reads, publishes, until no stream is left or the service stops.
async fn poll_site(hub: Arc<Hub>, state: AppState, site: String) {
    tracing::debug!(%site, "tablet feed poller started");
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => {
                hub.forget(&site);
                return;
            }
            _ = tick.tick() => {}
        }
        let snapshot = match read_feed(&state, &site).await {
            Ok(s) => {
                if failing {
                    tracing::info!(%site, "tablet feed reads Redis again");
                }
                failing = false;
                Some(s)
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(%site, error = %e, "tablet feed cannot read waves");
                }
                failing = true;
                None
            }
        };
        if !hub.publish(&site, snapshot) {
            tracing::debug!(%site, "tablet feed poller stopped: no stream left");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_new_stream_gets_the_last_snapshot_and_unchanged_ones_are_not_resent() {
        let hub = Hub::new();
        let (mut a, start) = hub.join("s");
        assert!(start);
        assert!(hub.publish("s", Some("one".into())));
        assert!(hub.publish("s", Some("one".into())));
        assert!(hub.publish("s", None));
        assert_eq!(a.rx.try_recv().ok().as_deref(), Some("one"));
        assert!(
            a.rx.try_recv().is_err(),
            "an unchanged snapshot is not sent again"
        );
        let (mut b, start) = hub.join("s");
        assert!(!start, "one poller per site");
        assert_eq!(b.rx.try_recv().ok().as_deref(), Some("one"));
    }

    #[test]
    fn a_lagging_stream_is_skipped_not_buffered_and_owes_a_refresh() {
        let hub = Hub::new();
        let (mut slow, _) = hub.join("s");
        let (mut fast, _) = hub.join("s");
        for i in 0..100 {
            assert!(hub.publish("s", Some(format!("snap {i}"))));
            assert_eq!(
                fast.rx.try_recv().ok().as_deref(),
                Some(&*format!("snap {i}"))
            );
        }
        assert!(slow.lagged.load(Ordering::Acquire));
        let mut held = 0;
        while slow.rx.try_recv().is_ok() {
            held += 1;
        }
        assert_eq!(held, CLIENT_BUFFER, "never more than the small buffer");
    }

    #[test]
    fn the_poller_stops_when_the_last_stream_is_gone() {
        let hub = Hub::new();
        let (a, _) = hub.join("s");
        let (b, _) = hub.join("t");
        drop(a);
        assert!(!hub.publish("s", Some("x".into())));
        assert_eq!(hub.clients("s"), 0);
        let (_a2, start) = hub.join("s");
        assert!(start, "a new stream starts a new poller");
        assert!(hub.publish("t", Some("y".into())));
        drop(b);
    }

    #[test]
    fn tomorrow_is_listed_too() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 16, 30, 0).single();
        let dates = feed_dates(now.unwrap_or_default());
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day);
        // 16:30 UTC is 23:30 in Vietnam.
        assert_eq!(dates.first().copied(), d(11, 21));
        assert_eq!(dates.get(1).copied(), d(11, 22));
    }
}
