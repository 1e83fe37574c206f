//! Orders and sessions in Redis: the ingest write path and the read-backs.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use super::tombstones::DedupeWindow;
use super::{keys, Store, StoreError};
use crate::domain::address::Region;
use crate::domain::order::OrderWire;
use crate::domain::rfc3339;
use crate::domain::status::{OrderStatus, SessionState};

/// One accepted order as stored under `data` in its hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderData {
    pub seller: String,
    pub site: String,
    pub session: String,
    pub received_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub pickup_at: DateTime<Utc>,
    pub at_risk: bool,
    pub buyer_key: String,
    pub weight_g: u64,
    pub norm: Normalized,
    /// The ORDER as first accepted (canonical form).
    #[serde(deserialize_with = "owned_order")]
    pub order: OrderWire<'static>,
}

/// A stored record's ORDER, read owning its strings (the record's text is gone after).
fn owned_order<'de, D: serde::Deserializer<'de>>(d: D) -> Result<OrderWire<'static>, D::Error> {
    OrderWire::deserialize(d).map(OrderWire::into_owned)
}

/// The same record read for planning, borrowing its strings from the record's text instead
/// of owning them: the planner keeps a few and drops the rest (issue 20: `intake::readable`
/// was 10 % of the service's samples in the 300,000-order peak, most of it allocating and
/// dropping an owned [`OrderData`]; 16 % fewer instructions a record so). It takes the same
/// fields with the same types as [`OrderData`], so it accepts exactly the records that
/// [`OrderData`] accepts (a damaged one stays a poison entry), including those the planner
/// does not read. Its times are read by [`rfc3339::deserialize`], which accepts what
/// chrono's `Deserialize` does (about 1,800 instructions a time less on the planner's path).
#[derive(Debug, Deserialize)]
pub struct OrderDataRef<'a> {
    #[serde(borrow)]
    pub seller: Cow<'a, str>,
    #[serde(borrow)]
    pub site: Cow<'a, str>,
    #[serde(borrow)]
    pub session: Cow<'a, str>,
    #[serde(deserialize_with = "rfc3339::deserialize")]
    pub received_at: DateTime<Utc>,
    #[serde(deserialize_with = "rfc3339::deserialize")]
    pub deadline: DateTime<Utc>,
    #[serde(deserialize_with = "rfc3339::deserialize")]
    pub pickup_at: DateTime<Utc>,
    pub at_risk: bool,
    #[serde(borrow)]
    pub buyer_key: Cow<'a, str>,
    pub weight_g: u64,
    #[serde(borrow)]
    pub norm: NormalizedRef<'a>,
    #[serde(borrow)]
    pub order: OrderWire<'a>,
}

/// The one field of a stored record a cancel needs: the session to count it on.
#[derive(Debug, Deserialize)]
struct SessionOf {
    session: String,
}

/// [`Normalized`], borrowed (see [`OrderDataRef`]).
#[derive(Debug, Deserialize)]
pub struct NormalizedRef<'a> {
    #[serde(borrow)]
    pub phone: Cow<'a, str>,
    #[serde(borrow)]
    pub province: Cow<'a, str>,
    #[serde(borrow)]
    pub province_code: Cow<'a, str>,
    pub region: Region,
    #[serde(borrow)]
    pub ward: Cow<'a, str>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Normalized {
    pub phone: String,
    pub province: String,
    pub province_code: String,
    pub region: Region,
    pub ward: String,
}

/// An order ready to be written: its id, its record as stored ([`Store::stored_record`]:
/// packed, or its JSON when `redis.pack_documents` is off; written as it is) and content
/// digest.
pub struct StoreOrder {
    pub order_id: String,
    /// Empty: an order the service rejected, whose id is only checked ([`StoreOrder::check`]).
    pub data: Vec<u8>,
    pub digest: String,
}

impl StoreOrder {
    /// A rejected order's id, to be checked, not stored: a known id is a duplicate
    /// (contract §1: a duplicate with different content is still `duplicate`), an unknown
    /// one stays rejected ([`IngestOutcome::Rejected`]).
    pub fn check(order_id: String) -> StoreOrder {
        StoreOrder {
            order_id,
            data: Vec::new(),
            digest: String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    Accepted,
    Duplicate,
    /// A duplicate whose content differs from the first version (which wins).
    DuplicateChanged,
    /// A checked id ([`StoreOrder::check`]) no order holds: the rejection stands.
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// Cancelled by this request.
    Cancelled,
    /// Cancelled before (answered `cancelled` too: a cancel is idempotent).
    AlreadyCancelled,
    TooLate,
    Unknown,
}

impl CancelOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelOutcome::Cancelled | CancelOutcome::AlreadyCancelled => "cancelled",
            CancelOutcome::TooLate => "too_late",
            CancelOutcome::Unknown => "unknown",
        }
    }
}

/// An order read back: what was stored and where it is now.
#[derive(Debug, Clone)]
pub struct OrderRecord {
    pub data: OrderData,
    pub status: OrderStatus,
    pub wave_id: Option<String>,
    pub parcel_id: Option<String>,
    pub shipment_id: Option<String>,
    /// Its parcel's pickup (the chosen carrier's, or the next one when the truck left
    /// early), once waved; the order's own `pickup_at` is the site's first it could make.
    pub parcel_pickup: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub state: SessionState,
    pub accepted: u64,
    pub duplicate: u64,
    pub rejected: u64,
    pub waved: u64,
    pub packed: u64,
    /// Orders of the session cancelled here (by a cancel frame, `POST …/cancel` or a push's
    /// platform-cancelled rows) while still in Redis.
    pub cancelled: u64,
}

fn count(h: &HashMap<String, String>, k: &str) -> u64 {
    h.get(k).and_then(|v| v.parse().ok()).unwrap_or(0)
}

impl Store {
    /// Stores a frame's valid orders in one round trip and counts its rejected ones. An
    /// order id held by a live order or by a tombstone (`window`) is a duplicate.
    /// Returns one outcome per order, in order. Acks must wait for this to succeed.
    pub async fn ingest(
        &self,
        site: &str,
        seller: &str,
        label: &str,
        rejected: usize,
        orders: &[&StoreOrder],
        window: &DedupeWindow,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        let script = &self.inner.scripts.ingest;
        let now = Utc::now().timestamp_millis();
        let buckets = window.live_buckets(now);
        let nkeys = 3 + buckets.len() + orders.len();
        // Each order: its key (site, seller and id in it), id, record and digest.
        let bytes: usize = orders
            .iter()
            .map(|o| 64 + site.len() + seller.len() + 2 * o.order_id.len() + o.data.len())
            .sum();
        let mut cmd = Store::evalsha(script, nkeys, nkeys + 5 + 3 * orders.len(), 512 + bytes);
        cmd.arg(keys::stream(site))
            .arg(keys::session(site, seller, label))
            .arg(keys::sessions(site));
        for b in &buckets {
            cmd.arg(DedupeWindow::key(site, seller, *b));
        }
        for o in orders {
            cmd.arg(keys::OrderKey {
                site,
                seller,
                order_id: &o.order_id,
            });
        }
        cmd.arg(seller)
            .arg(label)
            .arg(now)
            .arg(rejected)
            .arg(buckets.len());
        for o in orders {
            cmd.arg(&o.order_id).arg(&o.data).arg(&o.digest);
        }
        let mut conn = self.conn();
        let call = Store::run_script(&mut conn, script, &cmd);
        let stored = match self.bounded("ingest", call).await {
            Ok(codes) => self
                .wait_replicas(&mut conn, &keys::tag(site))
                .await
                .map_err(StoreError::after_write)
                .map(|()| codes),
            Err(e) => Err(e),
        };
        let codes: Vec<i64> = stored.inspect_err(|e| self.ingest_failed(site, seller, e))?;
        if codes.len() != orders.len() {
            return Err(StoreError::Corrupt(format!(
                "ingest script answered {} results for {} orders",
                codes.len(),
                orders.len()
            )));
        }
        Ok(codes
            .into_iter()
            .map(|c| match c {
                1 => IngestOutcome::Accepted,
                3 => IngestOutcome::DuplicateChanged,
                4 => IngestOutcome::Rejected,
                _ => IngestOutcome::Duplicate,
            })
            .collect())
    }

    /// Ends a session; returns false when it had ended already.
    pub async fn end_session(
        &self,
        site: &str,
        seller: &str,
        label: &str,
    ) -> Result<bool, StoreError> {
        let mut inv = self.inner.scripts.end_session.prepare_invoke();
        inv.key(keys::session(site, seller, label))
            .key(keys::stream(site))
            .key(keys::sessions(site))
            .key(keys::ended(site))
            .arg(seller)
            .arg(label)
            .arg(Utc::now().timestamp_millis());
        let mut conn = self.conn();
        let was_live: i64 = self
            .bounded("end_session", inv.invoke_async(&mut conn))
            .await?;
        self.wait_replicas(&mut conn, &keys::tag(site))
            .await
            .map_err(StoreError::after_write)?;
        Ok(was_live == 1)
    }

    /// Cancels an order. One that already left Redis (its tombstone within `dedupe`) answers
    /// as it finished: `cancelled` again if it was cancelled, else `too_late`.
    pub async fn cancel(
        &self,
        site: &str,
        seller: &str,
        order_id: &str,
        reason: &str,
        dedupe: &super::tombstones::DedupeWindow,
    ) -> Result<CancelOutcome, StoreError> {
        let order_key = keys::order(site, seller, order_id);
        let mut conn = self.conn();
        // The order's session, to count the cancel on it: read from its stored record first
        // (cancels are few; the script only counts a cancel that changes the order).
        let session = self.session_of(&order_key).await?;
        let mut inv = self.inner.scripts.cancel.prepare_invoke();
        inv.key(&order_key)
            .key(keys::stream(site))
            .key(keys::pending(site));
        if let Some(label) = &session {
            inv.key(keys::session(site, seller, label));
        }
        inv.arg(seller)
            .arg(order_id)
            .arg(reason)
            .arg(Utc::now().timestamp_millis());
        let out: String = self.bounded("cancel", inv.invoke_async(&mut conn)).await?;
        // Stored between the read and the script (a cancel racing its order from another
        // connection): counted on its session now.
        if out == "cancelled" && session.is_none() {
            if let Some(label) = self.session_of(&order_key).await? {
                let key = keys::session(site, seller, &label);
                let exists: bool = self.bounded("cancel", conn.exists(&key)).await?;
                if exists {
                    let _: i64 = self
                        .bounded("cancel", conn.hincr(&key, "cancelled", 1))
                        .await?;
                }
            }
        }
        self.wait_replicas(&mut conn, &keys::tag(site))
            .await
            .map_err(StoreError::after_write)?;
        Ok(match out.as_str() {
            "cancelled" => CancelOutcome::Cancelled,
            "already_cancelled" => CancelOutcome::AlreadyCancelled,
            "too_late" => CancelOutcome::TooLate,
            _ => match self.finished(site, seller, order_id, dedupe).await? {
                Some(true) => CancelOutcome::AlreadyCancelled,
                Some(false) => CancelOutcome::TooLate,
                None => CancelOutcome::Unknown,
            },
        })
    }

    /// The session label of the order stored under `order_key` (`None`: no such order, or
    /// a record that cannot be read).
    async fn session_of(&self, order_key: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn();
        let data: Option<Vec<u8>> = self.bounded("cancel", conn.hget(order_key, "data")).await?;
        Ok(data
            .filter(|d| !d.is_empty())
            .and_then(|d| super::doc::unpack(d).ok())
            .and_then(|json| serde_json::from_str::<SessionOf>(&json).ok())
            .map(|s| s.session))
    }

    /// An order that left Redis: whether it was cancelled (its tombstone's mark), `None`
    /// when no live tombstone knows it.
    async fn finished(
        &self,
        site: &str,
        seller: &str,
        order_id: &str,
        dedupe: &super::tombstones::DedupeWindow,
    ) -> Result<Option<bool>, StoreError> {
        let mut pipe = redis::pipe();
        for bucket in dedupe.live_buckets(Utc::now().timestamp_millis()) {
            let key = super::tombstones::DedupeWindow::key(site, seller, bucket);
            pipe.cmd("HMGET")
                .arg(key)
                .arg(order_id)
                .arg(format!("c:{order_id}"));
        }
        let mut conn = self.conn();
        let found: Vec<(Option<String>, Option<String>)> = self
            .bounded("tombstone", pipe.query_async(&mut conn))
            .await?;
        if found.iter().any(|(_, c)| c.is_some()) {
            return Ok(Some(true));
        }
        Ok(found.iter().any(|(t, _)| t.is_some()).then_some(false))
    }

    pub async fn order(
        &self,
        site: &str,
        seller: &str,
        order_id: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let mut conn = self.conn();
        let h: HashMap<String, Vec<u8>> = self
            .bounded("order", conn.hgetall(keys::order(site, seller, order_id)))
            .await?;
        let h = super::doc::hash_text(h)?;
        let Some(data) = h.get("data") else {
            return Ok(None);
        };
        let data: OrderData =
            serde_json::from_str(data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let opt = |k: &str| h.get(k).filter(|v| !v.is_empty()).cloned();
        let parcel_id = opt("p");
        // Its wave is its parcel's `wave`, its shipment the parcel document's (builds before
        // issue 20's fifteenth session also stored `w` and `sh` on the order).
        let (mut wave_id, mut shipment_id) = (opt("w"), opt("sh"));
        let mut parcel_pickup = None;
        if let Some(p) = parcel_id.as_deref().filter(|_| wave_id.is_none()) {
            let (w, sh, doc): (Option<String>, Option<String>, Option<Vec<u8>>) = self
                .bounded(
                    "order",
                    redis::cmd("HMGET")
                        .arg(keys::parcel(site, p))
                        .arg("wave")
                        .arg("sh")
                        .arg("data")
                        .query_async(&mut conn),
                )
                .await?;
            // The parcel's document only for its shipment and pickup: one that does not unpack
            // leaves the order without them (and is logged), never fails the order's read.
            wave_id = w.filter(|v| !v.is_empty());
            let text = doc
                .map(super::doc::unpack)
                .transpose()
                .inspect_err(|e| tracing::warn!(site, error = %e, "a parcel document"))
                .ok()
                .flatten();
            shipment_id = super::records::parcel_shipment(sh.as_deref(), text.as_deref());
            parcel_pickup = text.as_deref().and_then(super::records::parcel_pickup);
        }
        Ok(Some(OrderRecord {
            data,
            status: match opt("st") {
                None => OrderStatus::Received,
                Some(st) => st
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("order {order_id}: {e}")))?,
            },
            wave_id,
            parcel_id,
            shipment_id,
            parcel_pickup,
        }))
    }

    pub async fn session(
        &self,
        site: &str,
        seller: &str,
        label: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let mut conn = self.conn();
        let h: HashMap<String, String> = self
            .bounded("session", conn.hgetall(keys::session(site, seller, label)))
            .await?;
        let Some(state) = h.get("state") else {
            return Ok(None);
        };
        let state: SessionState = state
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("session {label}: {e}")))?;
        Ok(Some(SessionRecord {
            state,
            accepted: count(&h, "accepted"),
            duplicate: count(&h, "duplicate"),
            rejected: count(&h, "rejected"),
            waved: count(&h, "waved"),
            packed: count(&h, "packed"),
            cancelled: count(&h, "cancelled"),
        }))
    }
}
