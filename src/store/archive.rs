//! What retention (the `archive` module) reads from and writes to Redis: the site's archiver lock,
//! the days already archived, a business day's orders (from the site stream, whose entry ids
//! are the times the orders were stored), each order with its wave, parcel, shipment and
//! tracking code, and the script that lets archived orders expire (`lua/retire.lua`).

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use redis::streams::StreamRangeReply;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use super::tombstones::DedupeWindow;
use super::{keys, Store, StoreError};
use crate::domain::schedule::business_date;

static RETIRE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/retire.lua")));
static THROUGH: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/archived_through.lua")));
static RELOCK: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/archiver_relock.lua")));
/// Releases a lock its holder still holds (the archiver's, a parcel's booking lock).
pub(super) static UNLOCK: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/archiver_unlock.lua")));

/// Orders per pipeline of reads.
const CHUNK: usize = 256;
/// Stream entries per XRANGE page.
const PAGE: usize = 1000;
/// Orders per run of `retire.lua`.
const RETIRE_CHUNK: usize = 64;

/// One archived order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchiveLine {
    pub site: String,
    pub business_date: NaiveDate,
    pub seller: String,
    pub order_id: String,
    /// Status when archived: handed_over | delivered | returned | cancelled (or, for an
    /// order still open `max_open_days` after its day, whatever it was then).
    pub status: String,
    /// When the order reached `status`, when known.
    pub status_at: Option<DateTime<Utc>>,
    pub wave_id: Option<String>,
    pub parcel_id: Option<String>,
    pub shipment_id: Option<String>,
    pub tracking_code: Option<String>,
    /// The carrier's last status of the parcel.
    pub carrier_status: Option<String>,
    pub cancel_reason: Option<String>,
    pub archived_at: DateTime<Utc>,
    /// The order as stored: the ORDER as first accepted plus normalized fields, session,
    /// deadline and pickup.
    pub data: serde_json::Value,
}

/// A line to archive, and the keys that expire with it.
pub struct Loaded {
    pub line: ArchiveLine,
    related: Vec<String>,
}

fn ms_time(v: Option<&String>) -> Option<DateTime<Utc>> {
    v.and_then(|s| s.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis)
}

/// A non-empty field of a hash.
fn opt(h: &HashMap<String, String>, k: &str) -> Option<String> {
    h.get(k).filter(|v| !v.is_empty()).cloned()
}

/// The distinct values, first occurrence first.
fn distinct(mut ids: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.retain(|i| seen.insert(i.clone()));
    ids
}

impl Store {
    /// Takes the site's archiver lock for `ttl`; false when another holder has it. A lock
    /// already `holder`'s is taken again (renewed): a `SET` that timed out on our side may
    /// still have run once Redis woke up, leaving the lock to us without our knowing, and
    /// the site unarchived until it expired (reviewer P).
    pub async fn archiver_lock(
        &self,
        site: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let got: Option<String> = self
            .bounded(
                "archive_lock",
                redis::cmd("SET")
                    .arg(keys::archiver_lock(site))
                    .arg(holder)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl.as_millis() as u64)
                    .query_async(&mut conn),
            )
            .await?;
        if got.is_some() {
            return Ok(true);
        }
        self.archiver_relock(site, holder, ttl).await
    }

    /// Renews the lock for `ttl` while `holder` still holds it.
    pub async fn archiver_relock(
        &self,
        site: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let n: i64 = self
            .bounded(
                "archive_lock",
                RELOCK
                    .key(keys::archiver_lock(site))
                    .arg(holder)
                    .arg(ttl.as_millis() as u64)
                    .invoke_async(&mut conn),
            )
            .await?;
        Ok(n == 1)
    }

    /// Releases the lock if `holder` still holds it.
    pub async fn archiver_unlock(&self, site: &str, holder: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let _: i64 = self
            .bounded(
                "archive_lock",
                UNLOCK
                    .key(keys::archiver_lock(site))
                    .arg(holder)
                    .invoke_async(&mut conn),
            )
            .await?;
        Ok(())
    }

    /// The last business day whose orders (and every earlier day's) are all archived.
    pub async fn archived_through(&self, site: &str) -> Result<Option<NaiveDate>, StoreError> {
        let mut conn = self.conn();
        let at: Option<String> = self
            .bounded("archive_done", conn.get(keys::archived_through(site)))
            .await?;
        Ok(at.and_then(|d| d.parse().ok()))
    }

    /// Records `date` as the last day all archived (only ever moves forward).
    pub async fn set_archived_through(
        &self,
        site: &str,
        date: NaiveDate,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let _: i64 = self
            .bounded(
                "archive_done",
                THROUGH
                    .key(keys::archived_through(site))
                    .arg(date.to_string())
                    .invoke_async(&mut conn),
            )
            .await?;
        Ok(())
    }

    /// Every business day recorded as archived (`YYYY-MM-DD`), in no order.
    pub async fn archived_days(&self, site: &str) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        self.bounded("archive_done", conn.smembers(keys::archived_days(site)))
            .await
    }

    /// Records a business day as archived.
    pub async fn add_archived_day(&self, site: &str, date: NaiveDate) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let _: i64 = self
            .bounded(
                "archive_done",
                conn.sadd(keys::archived_days(site), date.to_string()),
            )
            .await?;
        Ok(())
    }

    /// When the oldest entry still in the site stream was stored (ms since the epoch).
    pub async fn first_stream_ms(&self, site: &str) -> Result<Option<i64>, StoreError> {
        let mut conn = self.conn();
        let reply: StreamRangeReply = self
            .bounded(
                "archive_xrange",
                redis::cmd("XRANGE")
                    .arg(keys::stream(site))
                    .arg("-")
                    .arg("+")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(&mut conn),
            )
            .await?;
        Ok(reply
            .ids
            .first()
            .and_then(|e| e.id.split('-').next()?.parse::<i64>().ok()))
    }

    /// (seller, order_id) of every order stored in `[start_ms, end_ms)`, in order.
    pub async fn orders_stored_between(
        &self,
        site: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        let mut from = format!("{start_ms}-0");
        let last = format!("{}", end_ms - 1);
        loop {
            let mut conn = self.conn();
            let reply: StreamRangeReply = self
                .bounded(
                    "archive_xrange",
                    redis::cmd("XRANGE")
                        .arg(keys::stream(site))
                        .arg(&from)
                        .arg(&last)
                        .arg("COUNT")
                        .arg(PAGE)
                        .query_async(&mut conn),
                )
                .await?;
            let n = reply.ids.len();
            for e in &reply.ids {
                if let super::stream::Entry::Orders { seller, order_ids } = super::stream::decode(e)
                {
                    out.extend(order_ids.into_iter().map(|id| (seller.clone(), id)));
                }
            }
            match reply.ids.last() {
                Some(e) if n == PAGE => from = format!("({}", e.id),
                _ => return Ok(out),
            }
        }
    }

    /// `st` (status) and `ar` (archived at) of orders; `None` status: the order is gone.
    pub async fn archive_states(
        &self,
        site: &str,
        refs: &[(String, String)],
    ) -> Result<Vec<(Option<String>, Option<String>)>, StoreError> {
        let mut out = Vec::with_capacity(refs.len());
        for chunk in refs.chunks(CHUNK) {
            let mut pipe = redis::pipe();
            for (seller, id) in chunk {
                pipe.cmd("HMGET")
                    .arg(keys::order(site, seller, id))
                    .arg("st")
                    .arg("ar");
            }
            let part: Vec<(Option<String>, Option<String>)> =
                self.read_pipe("archive_states", &pipe).await?;
            out.extend(part);
        }
        Ok(out)
    }

    async fn archive_hashes(
        &self,
        keys: &[String],
    ) -> Result<Vec<HashMap<String, String>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(CHUNK) {
            let mut pipe = redis::pipe();
            for k in chunk {
                pipe.hgetall(k);
            }
            out.extend(self.read_hashes("archive_read", &pipe).await?);
        }
        Ok(out)
    }

    /// Each order of `refs` still in Redis with its wave, parcel, shipment and tracking code,
    /// as a line of business day `date` archived at `now`.
    pub async fn load_for_archive(
        &self,
        site: &str,
        date: NaiveDate,
        refs: &[(String, String)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Loaded>, StoreError> {
        let order_keys: Vec<String> = refs
            .iter()
            .map(|(s, id)| keys::order(site, s, id))
            .collect();
        let orders = self.archive_hashes(&order_keys).await?;
        let parcel_ids = distinct(orders.iter().filter_map(|h| opt(h, "p")).collect());
        let parcel_keys: Vec<String> = parcel_ids.iter().map(|p| keys::parcel(site, p)).collect();
        let parcels: HashMap<&String, HashMap<String, String>> = parcel_ids
            .iter()
            .zip(self.archive_hashes(&parcel_keys).await?)
            .collect();
        // An order names its parcel; its wave is the parcel's `wave`, its shipment the parcel
        // document's (builds before issue 20's fifteenth session also stored `w` and `sh` on
        // the order, and `sh` on the parcel).
        let wave_of = |h: &HashMap<String, String>| {
            opt(h, "w").or_else(|| parcels.get(&opt(h, "p")?).and_then(|p| opt(p, "wave")))
        };
        let wave_ids = distinct(orders.iter().filter_map(wave_of).collect());
        let wave_keys: Vec<String> = wave_ids.iter().map(|w| keys::wave(site, w)).collect();
        let waves: HashMap<&String, HashMap<String, String>> = wave_ids
            .iter()
            .zip(self.archive_hashes(&wave_keys).await?)
            .collect();
        let mut out = Vec::new();
        for ((seller, order_id), h) in refs.iter().zip(&orders) {
            let Some(data) = h.get("data") else { continue };
            let data: serde_json::Value =
                serde_json::from_str(data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let status = opt(h, "st").unwrap_or_else(|| "received".into());
            let (wave_id, parcel_id) = (wave_of(h), opt(h, "p"));
            let parcel = parcel_id.as_ref().and_then(|p| parcels.get(p));
            let shipment_id = opt(h, "sh").or_else(|| {
                let p = parcel?;
                super::records::parcel_shipment(
                    p.get("sh").map(String::as_str),
                    p.get("data").map(String::as_str),
                )
            });
            let status_at = match status.as_str() {
                "cancelled" => ms_time(h.get("cancelled_ms")),
                s => parcel.and_then(|p| ms_time(p.get(&format!("{s}_ms")))),
            };
            let session = data["session"].as_str().unwrap_or_default();
            let wave_pickup = |w: &String| waves.get(w).and_then(|h| ms_time(h.get("pickup_ms")));
            let related = related_keys(
                site,
                seller,
                session,
                parcel_id.as_deref(),
                wave_id.as_ref().map(|w| (w.as_str(), wave_pickup(w))),
                shipment_id.as_deref(),
            );
            out.push(Loaded {
                line: ArchiveLine {
                    site: site.to_owned(),
                    business_date: date,
                    seller: seller.clone(),
                    order_id: order_id.clone(),
                    status,
                    status_at,
                    wave_id,
                    parcel_id,
                    shipment_id,
                    tracking_code: parcel.and_then(|p| opt(p, "tracking")),
                    carrier_status: parcel.and_then(|p| opt(p, "cstatus")),
                    cancel_reason: opt(h, "cancel_reason"),
                    archived_at: now,
                    data,
                },
                related,
            });
        }
        Ok(out)
    }

    /// Marks archived orders and sets their expiry: `hot_ms` after they reached their final
    /// status (or after `now` when that time is unknown); writes each one's tombstone, which
    /// outlives it by the dedupe window (`store::tombstones`). Returns the orders marked.
    pub async fn retire_archived(
        &self,
        site: &str,
        loaded: &[Loaded],
        window: &DedupeWindow,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut done = 0;
        for chunk in loaded.chunks(RETIRE_CHUNK) {
            let mut inv = RETIRE.prepare_invoke();
            inv.arg(now.timestamp_millis());
            for l in chunk {
                let from = l.line.status_at.unwrap_or(now).timestamp_millis();
                // Never before now: the order leaves Redis at the latest of the two.
                let at = from.saturating_add(window.hot_ms);
                let (bucket, tomb_at) = window.bucket_for(at.max(now.timestamp_millis()));
                inv.key(keys::order(site, &l.line.seller, &l.line.order_id))
                    .key(DedupeWindow::key(site, &l.line.seller, bucket));
                for k in &l.related {
                    inv.key(k);
                }
                inv.arg(l.related.len())
                    .arg(at)
                    .arg(&l.line.order_id)
                    .arg(tomb_at);
            }
            let mut conn = self.conn();
            let n: u64 = self
                .bounded("archive_retire", inv.invoke_async(&mut conn))
                .await?;
            done += n;
        }
        Ok(done)
    }

    /// Drops stream entries older than `before_ms` (their orders expired long ago).
    pub async fn trim_stream_before(&self, site: &str, before_ms: i64) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let _: i64 = self
            .bounded(
                "archive_trim",
                redis::cmd("XTRIM")
                    .arg(keys::stream(site))
                    .arg("MINID")
                    .arg("~")
                    .arg(before_ms.max(0))
                    .query_async(&mut conn),
            )
            .await?;
        Ok(())
    }
}

/// The keys that expire with an archived order: its session and the session's risk records
/// (`riskl`, and the older `riskw` and `risk`), parcel, wave (its pick ids and, by the wave's
/// pickup day, the day's wave and shipment indexes), shipment and its parcel list (and the
/// set earlier builds wrote).
fn related_keys(
    site: &str,
    seller: &str,
    session: &str,
    parcel_id: Option<&str>,
    wave: Option<(&str, Option<DateTime<Utc>>)>,
    shipment_id: Option<&str>,
) -> Vec<String> {
    let mut related = vec![
        keys::session(site, seller, session),
        keys::session_risk(site, seller, session),
        keys::session_risk_waves(site, seller, session),
        keys::session_risk_zset(site, seller, session),
    ];
    if let Some(p) = parcel_id {
        related.push(keys::parcel(site, p));
    }
    if let Some((w, pickup)) = wave {
        related.push(keys::wave(site, w));
        related.push(keys::wave_picks(site, w));
        if let Some(day) = pickup.map(business_date) {
            related.push(keys::waves_of_day(site, day));
            related.push(keys::shipments_of_day(site, day));
        }
    }
    if let Some(s) = shipment_id {
        related.push(keys::shipment(site, s));
        related.push(keys::shipment_parcels(site, s));
        related.push(keys::shipment_parcel_set(site, s));
    }
    related
}
