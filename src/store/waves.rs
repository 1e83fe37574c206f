//! Planner and packing-floor state in Redis: the pending set, the planner lease, wave
//! commits, picks, packed parcels and cancellations of waved orders. Every step that
//! touches several keys is one script on the site's slot.

use std::collections::HashMap;

use redis::AsyncCommands;

use super::records::WaveRow;
use super::{keys, Store, StoreError};

pub const GROUP: &str = "planner";

/// What a wave commit writes; built by the planner shell.
pub struct WaveCommit<'a> {
    pub wave_id: &'a str,
    pub date: chrono::NaiveDate,
    pub released_ms: i64,
    pub pickup_ms: i64,
    pub doc: String,
    pub qty_total: u64,
    pub sku_qty: Vec<(String, u32)>,
    pub orders: Vec<WaveOrder>,
    /// (parcel id, parcel JSON).
    pub parcels: Vec<(String, String)>,
    /// The shipments this wave's parcels join (one per carrier pickup).
    pub shipments: Vec<ShipmentKey>,
    /// Per parcel (same order as `parcels`): 1 + the index of its shipment in `shipments`,
    /// 0 (or missing) for none.
    pub parcel_shipment: Vec<usize>,
    /// Parcels released before for the same buyer and pickup: (parcel id, why it no longer
    /// holds all of the buyer's orders, the later parcels' ids). Its hash's `sr` becomes
    /// the note, or gains `, ids` when it has one; a parcel that left Redis is not written.
    pub marks: Vec<(String, String, String)>,
}

/// One order a wave commit takes out of pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaveOrder {
    pub seller: String,
    pub order_id: String,
    /// Its session's label.
    pub session: String,
    pub parcel_id: String,
    /// From when it counts as at risk (ms): its deadline, or 0 when the wave's pickup is
    /// already after it (see [`super::keys::session_risk`]).
    pub risk_from_ms: i64,
}

/// A shipment a wave commit creates (if new) and adds parcels to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentKey {
    pub id: String,
    pub carrier: String,
    pub service: String,
    /// The carrier's pickup (it may differ from the wave's when the carrier has its own
    /// pickup times).
    pub pickup_ms: i64,
}

/// What [`Store::take_orders`] found of one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TakenOrder {
    /// Still `received`: pending now. Its stored data, unpacked (`None`: it cannot be).
    Pending(Option<String>),
    /// Stored, but no longer `received` (cancelled or waved): not pending.
    NotReceived,
    /// No data stored under its key: not pending.
    Missing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed,
    /// Some order left pending meanwhile (cancelled, or waved by someone else), or a
    /// shipment of the wave was handed over meanwhile: replan.
    Stale,
    /// Another planner holds the site now.
    Fenced,
    Exists,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickOutcome {
    Counted { picked: u64, total: u64 },
    Duplicate { picked: u64, total: u64 },
    Over { picked: u64, total: u64 },
    UnknownSku,
    NoWave,
}

/// What `packed.lua` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackOutcome {
    Packed,
    /// Already packed (or further).
    Duplicate,
    Cancelled,
    Replaced,
    /// An order of it was cancelled since the packer's view (`Pack::seen_ver`): the box
    /// holds what the parcel no longer ships.
    Changed,
    NoParcel,
    /// Not covered by picked units: (sku, units needed, units picked and not yet packed).
    NotPicked(Vec<(String, u64, u64)>),
}

/// One packed-parcel request.
pub struct Pack<'a> {
    pub parcel_id: &'a str,
    pub wave_id: &'a str,
    /// (seller, order_id, session label) of the parcel.
    pub orders: &'a [(String, String, String)],
    /// The parcel's lines (sku, qty).
    pub lines: &'a [(String, u32)],
    /// The packer confirmed packing units not (all) picked.
    pub confirm_unpicked: bool,
    pub station: &'a str,
    /// The parcel's `ver` the packer's view was read from (None: not checked).
    pub seen_ver: Option<&'a str>,
}

/// Pending fields read per `HSCAN` call (`Store::pending`).
const PENDING_SCAN: usize = 2_000;

impl Store {
    /// Takes or renews the site's planner lease; returns the fencing token while held.
    pub async fn lease(
        &self,
        site: &str,
        holder: &str,
        ttl_ms: u64,
    ) -> Result<Option<String>, StoreError> {
        let mut inv = self.inner.scripts.lease.prepare_invoke();
        inv.key(keys::lease(site))
            .key(keys::fence(site))
            .arg(holder)
            .arg(ttl_ms);
        let mut conn = self.conn();
        self.bounded("lease", inv.invoke_async(&mut conn)).await
    }

    /// Gives the lease up (graceful shutdown) so another instance takes over at once.
    pub async fn release_lease(&self, site: &str, holder: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let current: Option<String> = self.bounded("lease", conn.get(keys::lease(site))).await?;
        if current.as_deref() == Some(holder) {
            let _: () = self.bounded("lease", conn.del(keys::lease(site))).await?;
        }
        Ok(())
    }

    /// Adds stored orders to the pending set (only those still `received`) and acks the
    /// given stream entries (the batch's orders, cancels and session ends), atomically.
    /// `orders`: (seller, order_id). Returns, per order, whether it is pending now: an order
    /// read as `received` may have been cancelled since.
    ///
    /// Refused with a Redis error whose code is `FENCED` ([`is_fenced`]) when `fence` is no
    /// longer the site's fencing token.
    pub async fn absorb(
        &self,
        site: &str,
        fence: &str,
        entry_ids: &[String],
        orders: &[(&str, &str)],
    ) -> Result<Vec<bool>, StoreError> {
        let mut inv = self.inner.scripts.absorb.prepare_invoke();
        inv.key(keys::pending(site))
            .key(keys::stream(site))
            .key(keys::fence(site))
            .arg(GROUP)
            .arg(fence)
            .arg(entry_ids.len());
        for id in entry_ids {
            inv.arg(id);
        }
        for (seller, order_id) in orders {
            inv.key(keys::order(site, seller, order_id))
                .arg(keys::pending_field(seller, order_id));
        }
        let mut conn = self.conn();
        let pending: Vec<i64> = self.bounded("absorb", inv.invoke_async(&mut conn)).await?;
        Ok(pending.into_iter().map(|p| p == 1).collect())
    }

    /// Reads newly stored orders and puts those still `received` into the pending set, in
    /// one script (`take.lua`), without acking their stream entries (the caller acks those
    /// whose orders all turned out readable, with [`Store::absorb`]). `orders`: (seller,
    /// order_id). Per order, in order: see [`TakenOrder`].
    ///
    /// Refused with a Redis error whose code is `FENCED` ([`is_fenced`]) when `fence` is no
    /// longer the site's fencing token.
    pub async fn take_orders(
        &self,
        site: &str,
        fence: &str,
        orders: &[(&str, &str)],
    ) -> Result<Vec<TakenOrder>, StoreError> {
        let mut inv = self.inner.scripts.take.prepare_invoke();
        inv.key(keys::pending(site))
            .key(keys::fence(site))
            .arg(fence);
        for (seller, order_id) in orders {
            inv.key(keys::order(site, seller, order_id))
                .arg(keys::pending_field(seller, order_id));
        }
        let mut conn = self.conn();
        let raw: Vec<redis::Value> = self.bounded("take", inv.invoke_async(&mut conn)).await?;
        if raw.len() != orders.len() {
            return Err(StoreError::Corrupt(format!(
                "take: {} answers for {} orders",
                raw.len(),
                orders.len()
            )));
        }
        raw.into_iter()
            .map(|v| match v {
                redis::Value::BulkString(data) => {
                    Ok(TakenOrder::Pending(super::doc::unpack(data).ok()))
                }
                redis::Value::Int(0) => Ok(TakenOrder::NotReceived),
                // Lua's false: nil in RESP2, a boolean in RESP3.
                redis::Value::Nil | redis::Value::Boolean(false) => Ok(TakenOrder::Missing),
                other => Err(StoreError::Corrupt(format!("take: answered {other:?}"))),
            })
            .collect()
    }

    /// Takes orders out of the pending set (orders [`Store::take_orders`] put there whose
    /// data turned out unreadable). `fields`: `seller/order_id`.
    pub async fn unpend(&self, site: &str, fields: &[String]) -> Result<(), StoreError> {
        if fields.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let _: i64 = self
            .bounded("unpend", conn.hdel(keys::pending(site), fields))
            .await?;
        Ok(())
    }

    /// The fields (`seller/order_id`) of the site's pending orders, read [`PENDING_SCAN`] at
    /// a time (`HSCAN`): one `HKEYS` of 300,000 held Redis for 128 ms, every other site's
    /// ingest with it, when a planner took a site over after a restart. An order may be
    /// cancelled (leave pending) meanwhile, as it may after an `HKEYS`: the wave commit that
    /// names it is refused as stale and the planner reads pending again.
    pub async fn pending(&self, site: &str) -> Result<Vec<String>, StoreError> {
        let key = keys::pending(site);
        let mut fields = Vec::new();
        let mut cursor = 0u64;
        loop {
            let mut conn = self.conn();
            let (next, pairs): (u64, Vec<String>) = self
                .bounded(
                    "pending",
                    redis::cmd("HSCAN")
                        .arg(&key)
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(PENDING_SCAN)
                        .query_async(&mut conn),
                )
                .await?;
            fields.extend(pairs.into_iter().step_by(2));
            if next == 0 {
                break;
            }
            cursor = next;
        }
        // HSCAN may return a field twice (the hash rehashed during the scan).
        fields.sort_unstable();
        fields.dedup();
        Ok(fields)
    }

    /// `seller/label` of every ended session of the site.
    pub async fn ended_sessions(&self, site: &str) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        self.bounded("ended", conn.smembers(keys::ended(site)))
            .await
    }

    pub async fn commit_wave(
        &self,
        site: &str,
        fence: &str,
        c: &WaveCommit<'_>,
    ) -> Result<CommitOutcome, StoreError> {
        let mut inv = self.inner.scripts.commit_wave.prepare_invoke();
        inv.key(keys::pending(site))
            .key(keys::fence(site))
            .key(keys::wave(site, c.wave_id))
            .key(keys::waves_of_day(site, c.date));
        for o in &c.orders {
            inv.key(keys::order(site, &o.seller, &o.order_id));
        }
        for (parcel_id, _) in &c.parcels {
            inv.key(keys::parcel(site, parcel_id));
        }
        let sessions = super::risk::of_wave(c.wave_id, &c.orders);
        for e in &sessions {
            inv.key(keys::session(site, e.seller, e.session))
                .key(keys::session_risk(site, e.seller, e.session));
        }
        let date_of = |ms: i64| {
            crate::domain::schedule::business_date(
                chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default(),
            )
        };
        for sh in &c.shipments {
            inv.key(keys::shipment(site, &sh.id))
                .key(keys::shipment_parcels(site, &sh.id))
                .key(keys::shipments_of_day(site, date_of(sh.pickup_ms)));
        }
        for (parcel_id, _, _) in &c.marks {
            inv.key(keys::parcel(site, parcel_id));
        }
        inv.arg(fence)
            .arg(c.wave_id)
            .arg(c.released_ms)
            .arg(c.orders.len())
            .arg(c.parcels.len())
            .arg(
                self.document(c.doc.as_bytes(), super::doc::pack_wave)
                    .as_ref(),
            )
            .arg(c.pickup_ms)
            .arg(c.qty_total)
            .arg(c.sku_qty.len());
        for (sku, qty) in &c.sku_qty {
            inv.arg(sku).arg(qty);
        }
        for o in &c.orders {
            inv.arg(keys::pending_field(&o.seller, &o.order_id))
                .arg(&o.parcel_id);
        }
        for (parcel_id, json) in &c.parcels {
            inv.arg(parcel_id).arg(
                self.document(json.as_bytes(), super::doc::pack_parcel)
                    .as_ref(),
            );
        }
        inv.arg(c.shipments.len());
        for sh in &c.shipments {
            inv.arg(&sh.id)
                .arg(&sh.carrier)
                .arg(&sh.service)
                .arg(sh.pickup_ms)
                .arg(date_of(sh.pickup_ms).format("%Y-%m-%d").to_string());
        }
        for j in 0..c.parcels.len() {
            let x = c.parcel_shipment.get(j).copied().unwrap_or(0);
            inv.arg(if x <= c.shipments.len() { x } else { 0 });
        }
        inv.arg(sessions.len());
        for e in &sessions {
            inv.arg(e.orders).arg(&e.record);
        }
        inv.arg(c.marks.len());
        for (_, note, ids) in &c.marks {
            inv.arg(note).arg(ids);
        }
        let mut conn = self.conn();
        let out: String = self
            .bounded("commit_wave", inv.invoke_async(&mut conn))
            .await?;
        self.wait_replicas(&mut conn, &keys::tag(site)).await?;
        Ok(match out.as_str() {
            "ok" => CommitOutcome::Committed,
            "fenced" => CommitOutcome::Fenced,
            "exists" => CommitOutcome::Exists,
            // "stale", or "departed" (a shipment left meanwhile): replan.
            _ => CommitOutcome::Stale,
        })
    }

    /// A number for the next wave or parcel of the day (for readable ids).
    pub async fn next_number(
        &self,
        site: &str,
        what: &str,
        date: chrono::NaiveDate,
        n: u64,
    ) -> Result<u64, StoreError> {
        let key = keys::counter(site, what, date);
        let mut conn = self.conn();
        let (last, _): (u64, i64) = self
            .bounded(
                "counter",
                redis::pipe()
                    .atomic()
                    .incr(&key, n)
                    .expire(&key, 3 * 24 * 3600)
                    .query_async(&mut conn),
            )
            .await?;
        Ok(last - n + 1)
    }

    pub async fn wave_ids_of_day(
        &self,
        site: &str,
        date: chrono::NaiveDate,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        self.bounded("waves", conn.zrange(keys::waves_of_day(site, date), 0, -1))
            .await
    }

    pub async fn wave_hash(
        &self,
        site: &str,
        wave_id: &str,
    ) -> Result<HashMap<String, String>, StoreError> {
        let mut conn = self.conn();
        let raw: HashMap<String, Vec<u8>> = self
            .bounded("wave", conn.hgetall(keys::wave(site, wave_id)))
            .await?;
        super::doc::hash_text(raw)
    }

    pub async fn wave_hashes(
        &self,
        site: &str,
        wave_ids: &[String],
    ) -> Result<Vec<HashMap<String, String>>, StoreError> {
        let mut pipe = redis::pipe();
        for id in wave_ids {
            pipe.hgetall(keys::wave(site, id));
        }
        self.read_hashes("waves", &pipe).await
    }

    /// A wave's hash as a typed row; None when there is no such wave.
    pub async fn wave_row(&self, site: &str, wave_id: &str) -> Result<Option<WaveRow>, StoreError> {
        let h = self.wave_hash(site, wave_id).await?;
        Ok(WaveRow::from_hash(wave_id, &h))
    }

    /// The rows of the waves of `wave_ids` that exist, in the order asked.
    pub async fn wave_rows(
        &self,
        site: &str,
        wave_ids: &[String],
    ) -> Result<Vec<WaveRow>, StoreError> {
        let hashes = self.wave_hashes(site, wave_ids).await?;
        Ok(wave_ids
            .iter()
            .zip(&hashes)
            .filter_map(|(id, h)| WaveRow::from_hash(id, h))
            .collect())
    }

    /// Parcels in chunks, so one call never carries thousands of replies.
    pub async fn parcel_hashes(
        &self,
        site: &str,
        parcel_ids: &[String],
    ) -> Result<Vec<HashMap<String, String>>, StoreError> {
        let mut out = Vec::with_capacity(parcel_ids.len());
        for chunk in parcel_ids.chunks(256) {
            let mut pipe = redis::pipe();
            for id in chunk {
                pipe.hgetall(keys::parcel(site, id));
            }
            out.extend(self.read_hashes("parcels", &pipe).await?);
        }
        Ok(out)
    }

    /// `fields` of each parcel of `parcel_ids` (a missing field or parcel: `None`), in order,
    /// in chunks: what a scan over many parcels needs without their documents.
    pub async fn parcel_fields(
        &self,
        site: &str,
        parcel_ids: &[String],
        fields: &[&str],
    ) -> Result<Vec<Vec<Option<String>>>, StoreError> {
        let mut out = Vec::with_capacity(parcel_ids.len());
        for chunk in parcel_ids.chunks(1024) {
            let mut pipe = redis::pipe();
            for id in chunk {
                pipe.cmd("HMGET").arg(keys::parcel(site, id)).arg(fields);
            }
            let part: Vec<Vec<Option<String>>> = self.read_pipe("parcels", &pipe).await?;
            out.extend(part);
        }
        Ok(out)
    }

    /// `order_refs`: (seller, order_id) of the wave's orders (they become `picked` when the
    /// last unit is picked).
    pub async fn pick(
        &self,
        site: &str,
        op: &super::floor::FloorOp<'_>,
        order_refs: &[(String, String)],
    ) -> Result<PickOutcome, StoreError> {
        let mut inv = self.inner.scripts.pick.prepare_invoke();
        inv.key(keys::wave(site, op.wave_id))
            .key(keys::wave_picks(site, op.wave_id));
        for (seller, id) in order_refs {
            inv.key(keys::order(site, seller, id));
        }
        inv.arg(op.op_id)
            .arg(op.sku)
            .arg(op.qty)
            .arg(op.station)
            .arg(chrono::Utc::now().timestamp_millis());
        let mut conn = self.conn();
        let (code, picked, total): (String, u64, u64) =
            self.bounded("pick", inv.invoke_async(&mut conn)).await?;
        self.wait_replicas(&mut conn, &keys::tag(site)).await?;
        Ok(match code.as_str() {
            "ok" => PickOutcome::Counted { picked, total },
            "dup" => PickOutcome::Duplicate { picked, total },
            "over" => PickOutcome::Over { picked, total },
            "unknown_sku" => PickOutcome::UnknownSku,
            _ => PickOutcome::NoWave,
        })
    }

    /// Marks a parcel packed; see `packed.lua`.
    pub async fn packed(&self, site: &str, p: &Pack<'_>) -> Result<PackOutcome, StoreError> {
        let mut inv = self.inner.scripts.packed.prepare_invoke();
        inv.key(keys::parcel(site, p.parcel_id))
            .key(keys::wave(site, p.wave_id));
        for (seller, id, _) in p.orders {
            inv.key(keys::order(site, seller, id));
        }
        for (seller, _, label) in p.orders {
            inv.key(keys::session(site, seller, label));
        }
        inv.key(keys::audit(site))
            .arg(p.orders.len())
            .arg(chrono::Utc::now().timestamp_millis())
            .arg(if p.confirm_unpicked { "1" } else { "0" })
            .arg(p.station)
            .arg(keys::AUDIT_MAXLEN)
            .arg(p.lines.len());
        for (sku, qty) in p.lines {
            inv.arg(sku).arg(qty);
        }
        inv.arg(p.seen_ver.unwrap_or(""));
        let mut conn = self.conn();
        let out: String = self.bounded("packed", inv.invoke_async(&mut conn)).await?;
        self.wait_replicas(&mut conn, &keys::tag(site)).await?;
        Ok(match out.as_str() {
            "ok" => PackOutcome::Packed,
            "dup" => PackOutcome::Duplicate,
            "cancelled" => PackOutcome::Cancelled,
            "replaced" => PackOutcome::Replaced,
            "changed" => PackOutcome::Changed,
            s if s.starts_with("unpicked") => PackOutcome::NotPicked(
                s.split('\t')
                    .skip(1)
                    .filter_map(|m| {
                        let mut f = m.rsplitn(3, ':');
                        let avail = f.next()?.parse().ok()?;
                        let need = f.next()?.parse().ok()?;
                        Some((f.next()?.to_owned(), need, avail))
                    })
                    .collect(),
            ),
            _ => PackOutcome::NoParcel,
        })
    }
}

impl Store {
    /// The planner's latest outlook (forecast and at-risk), kept 10 minutes.
    pub async fn put_outlook(&self, site: &str, json: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        self.bounded("outlook", conn.set_ex(keys::outlook(site), json, 600))
            .await
    }

    pub async fn outlook(&self, site: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn();
        self.bounded("outlook", conn.get(keys::outlook(site))).await
    }
}

/// How sign-in attempts are throttled: each client may try `free_attempts` times, then
/// waits `backoff_base_ms` × 2^(attempts − free), at most `backoff_cap_ms`, between tries;
/// its count is forgotten after `remember_secs` without a try, or on its right PIN.
#[derive(Debug, Clone)]
pub struct PinPolicy {
    pub free_attempts: u64,
    pub backoff_base_ms: u64,
    pub backoff_cap_ms: u64,
    pub remember_secs: u64,
}

/// One counted (or refused) sign-in attempt.
#[derive(Debug, Clone, Copy)]
pub struct PinAttempt {
    /// This client's attempts so far, this one included; 0 = refused, back off.
    pub attempts: u64,
    /// When refused: how long the client must still wait (ms).
    pub wait_ms: u64,
    /// Attempts at the whole site in the current minute.
    pub site_minute: u64,
}

/// Station sessions and PIN throttling.
impl Store {
    pub async fn station_session(&self, token: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn();
        self.bounded("station", conn.get(keys::station(token)))
            .await
    }

    pub async fn put_station_session(
        &self,
        token: &str,
        site: &str,
        ttl_secs: u64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        self.bounded("station", conn.set_ex(keys::station(token), site, ttl_secs))
            .await
    }

    pub async fn drop_station_session(&self, token: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        self.bounded("station", conn.del(keys::station(token)))
            .await
    }

    /// Counts one sign-in attempt of `client` at `site` before its PIN is judged; see
    /// `lua/pin.lua` and [`PinAttempt`].
    pub async fn pin_attempt(
        &self,
        site: &str,
        client: &str,
        policy: &PinPolicy,
    ) -> Result<PinAttempt, StoreError> {
        self.throttled_attempt(
            keys::pin_clients(site),
            keys::pin_minute(site),
            client,
            policy,
        )
        .await
    }

    /// A right PIN: forgets this client's count (only this client's).
    pub async fn pin_success(&self, site: &str, client: &str) -> Result<(), StoreError> {
        self.throttle_forget(keys::pin_clients(site), client).await
    }

    /// One attempt on a PIN throttle (`lua/pin.lua`): per-client counts in `clients_key`, the
    /// site's attempts this minute in `minute_key`. The station and the supervisor PIN each
    /// have their own pair of keys.
    pub(super) async fn throttled_attempt(
        &self,
        clients_key: String,
        minute_key: String,
        client: &str,
        policy: &PinPolicy,
    ) -> Result<PinAttempt, StoreError> {
        let mut inv = self.inner.scripts.pin.prepare_invoke();
        inv.key(clients_key)
            .key(minute_key)
            .arg(client)
            .arg(chrono::Utc::now().timestamp_millis())
            .arg(policy.free_attempts)
            .arg(policy.backoff_base_ms)
            .arg(policy.backoff_cap_ms)
            .arg(policy.remember_secs);
        let mut conn = self.conn();
        let (attempts, wait_ms, site_minute): (u64, u64, u64) =
            self.bounded("pin", inv.invoke_async(&mut conn)).await?;
        Ok(PinAttempt {
            attempts,
            wait_ms,
            site_minute,
        })
    }

    /// Forgets `client`'s count on a PIN throttle.
    pub(super) async fn throttle_forget(
        &self,
        clients_key: String,
        client: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        self.bounded("pin", conn.hdel(clients_key, client)).await
    }

    /// An operator's unlock: forgets every client's count at `site`. Returns how many.
    pub async fn pin_unlock(&self, site: &str) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        let (n, _): (u64, u64) = self
            .bounded(
                "pin",
                redis::pipe()
                    .hlen(keys::pin_clients(site))
                    .del(keys::pin_clients(site))
                    .query_async(&mut conn),
            )
            .await?;
        Ok(n)
    }
}

/// Whether a script refused a planner whose fencing token is stale (`FENCED`).
pub fn is_fenced(e: &StoreError) -> bool {
    matches!(e, StoreError::Redis(r) if r.code() == Some("FENCED"))
}
