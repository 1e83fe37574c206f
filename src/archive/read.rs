//! What the archive reads from Redis: a business day's orders (from the site stream, whose
//! entry ids are the times the orders were stored) and each order with its wave, parcel,
//! shipment and tracking code; and the script that lets archived orders expire.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use redis::streams::StreamRangeReply;

use super::ArchiveLine;
use crate::domain::schedule::{business_date, local_instant};
use crate::store::tombstones::DedupeWindow;
use crate::store::{keys, Store, StoreError};

/// Statuses after which nothing more happens to an order on our side.
pub const FINAL: [&str; 4] = ["handed_over", "delivered", "returned", "cancelled"];

const CHUNK: usize = 256;

static RETIRE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("retire.lua")));

/// Start and end (exclusive) of a business day, in ms since the epoch.
pub fn day_bounds_ms(date: NaiveDate) -> (i64, i64) {
    let start = local_instant(date, NaiveTime::MIN).timestamp_millis();
    let next = date.succ_opt().unwrap_or(date);
    (
        start,
        local_instant(next, NaiveTime::MIN).timestamp_millis(),
    )
}

/// (seller, order_id) of every order stored during business day `date`, in order.
pub async fn day_orders(
    store: &Store,
    site: &str,
    date: NaiveDate,
) -> Result<Vec<(String, String)>, StoreError> {
    let (start, end) = day_bounds_ms(date);
    let mut out = Vec::new();
    let mut from = format!("{start}-0");
    let last = format!("{}", end - 1);
    loop {
        let mut conn = store.conn();
        let reply: StreamRangeReply = store
            .bounded(
                "archive_xrange",
                redis::cmd("XRANGE")
                    .arg(keys::stream(site))
                    .arg(&from)
                    .arg(&last)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut conn),
            )
            .await?;
        let n = reply.ids.len();
        for e in &reply.ids {
            if e.get::<String>("t").as_deref() == Some("o") {
                if let (Some(s), Some(id)) = (e.get::<String>("s"), e.get::<String>("id")) {
                    out.push((s, id));
                }
            }
        }
        match reply.ids.last() {
            Some(e) if n == 1000 => from = format!("({}", e.id),
            _ => return Ok(out),
        }
    }
}

/// `st` and `ar` (archived at) of orders; `None` status: the order is gone.
pub async fn states(
    store: &Store,
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
        let mut conn = store.conn();
        let part: Vec<(Option<String>, Option<String>)> = store
            .bounded("archive_states", pipe.query_async(&mut conn))
            .await?;
        out.extend(part);
    }
    Ok(out)
}

async fn hashes(
    store: &Store,
    keys: &[String],
) -> Result<Vec<HashMap<String, String>>, StoreError> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(CHUNK) {
        let mut pipe = redis::pipe();
        for k in chunk {
            pipe.hgetall(k);
        }
        let mut conn = store.conn();
        let part: Vec<HashMap<String, String>> = store
            .bounded("archive_read", pipe.query_async(&mut conn))
            .await?;
        out.extend(part);
    }
    Ok(out)
}

fn ms_time(v: Option<&String>) -> Option<DateTime<Utc>> {
    v.and_then(|s| s.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis)
}

/// A line to archive, and the keys that expire with it.
pub struct Loaded {
    pub line: ArchiveLine,
    pub related: Vec<String>,
}

/// Each order still in Redis with its wave, parcel, shipment and tracking code.
pub async fn load(
    store: &Store,
    site: &str,
    date: NaiveDate,
    refs: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<Vec<Loaded>, StoreError> {
    let order_keys: Vec<String> = refs
        .iter()
        .map(|(s, id)| keys::order(site, s, id))
        .collect();
    let orders = hashes(store, &order_keys).await?;
    let opt = |h: &HashMap<String, String>, k: &str| h.get(k).filter(|v| !v.is_empty()).cloned();
    let mut parcel_ids: Vec<String> = orders.iter().filter_map(|h| opt(h, "p")).collect();
    let mut wave_ids: Vec<String> = orders.iter().filter_map(|h| opt(h, "w")).collect();
    for ids in [&mut parcel_ids, &mut wave_ids] {
        let mut seen = HashSet::new();
        ids.retain(|i| seen.insert(i.clone()));
    }
    let parcel_keys: Vec<String> = parcel_ids.iter().map(|p| keys::parcel(site, p)).collect();
    let wave_keys: Vec<String> = wave_ids.iter().map(|w| keys::wave(site, w)).collect();
    let parcels: HashMap<&String, HashMap<String, String>> = parcel_ids
        .iter()
        .zip(hashes(store, &parcel_keys).await?)
        .collect();
    let waves: HashMap<&String, HashMap<String, String>> = wave_ids
        .iter()
        .zip(hashes(store, &wave_keys).await?)
        .collect();
    let mut out = Vec::new();
    for ((seller, order_id), h) in refs.iter().zip(&orders) {
        let Some(data) = h.get("data") else { continue };
        let data: serde_json::Value =
            serde_json::from_str(data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let status = opt(h, "st").unwrap_or_else(|| "received".into());
        let (wave_id, parcel_id) = (opt(h, "w"), opt(h, "p"));
        let parcel = parcel_id.as_ref().and_then(|p| parcels.get(p));
        let shipment_id = opt(h, "sh").or_else(|| parcel.and_then(|p| opt(p, "sh")));
        let status_at = match status.as_str() {
            "cancelled" => ms_time(h.get("cancelled_ms")),
            s => parcel.and_then(|p| ms_time(p.get(&format!("{s}_ms")))),
        };
        let mut related = vec![keys::session(
            site,
            seller,
            data["session"].as_str().unwrap_or_default(),
        )];
        if let Some(p) = &parcel_id {
            related.push(keys::parcel(site, p));
        }
        if let Some(w) = &wave_id {
            related.push(keys::wave(site, w));
            related.push(keys::wave_picks(site, w));
            let pickup = waves.get(w).and_then(|h| ms_time(h.get("pickup_ms")));
            if let Some(day) = pickup.map(business_date) {
                related.push(keys::waves_of_day(site, day));
                related.push(keys::shipments_of_day(site, day));
            }
        }
        if let Some(s) = &shipment_id {
            related.push(keys::shipment(site, s));
            related.push(keys::shipment_parcels(site, s));
        }
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
/// outlives it by the dedupe window (`store::tombstones`).
pub async fn retire(
    store: &Store,
    site: &str,
    loaded: &[Loaded],
    window: &DedupeWindow,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut done = 0;
    for chunk in loaded.chunks(64) {
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
        let mut conn = store.conn();
        let n: u64 = store
            .bounded("archive_retire", inv.invoke_async(&mut conn))
            .await?;
        done += n;
    }
    Ok(done)
}

/// Drops stream entries older than `before_ms` (their orders expired long ago).
pub async fn trim_stream(store: &Store, site: &str, before_ms: i64) -> Result<(), StoreError> {
    let mut conn = store.conn();
    let _: i64 = store
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
