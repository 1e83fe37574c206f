//! Cancellation of a waved order (`repack.lua`): out of the pick list and its parcel, or, when
//! the parcel is packed or booked, the parcel replaced by a new one holding the surviving
//! orders. And the queue of carrier orders to cancel that such parcels leave behind.

use std::sync::LazyLock;

use redis::AsyncCommands;

use super::{keys, Store, StoreError};

static REPACK: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/repack.lua")));

/// What `repack.lua` needs: computed by the planner from the parcel at version `parcel_ver`.
pub struct Unwave<'a> {
    pub wave_id: &'a str,
    pub parcel_id: &'a str,
    pub seller: &'a str,
    pub order_id: &'a str,
    pub session: &'a str,
    pub parcel_ver: &'a str,
    pub wave_ver: &'a str,
    /// The parcel's JSON without the order ('' when no order is left).
    pub remaining: &'a str,
    /// The replacement parcel's id and JSON ('' until the script asked for one).
    pub new_id: &'a str,
    pub new_parcel: &'a str,
    /// The wave's JSON with the new parcel in its pack list.
    pub new_wave: &'a str,
    pub shipment_id: Option<&'a str>,
    /// (order_id, session label) of the parcel's other orders.
    pub survivors: &'a [(String, String)],
    /// The cancelled order's lines: (sku, qty).
    pub lines: &'a [(String, u32)],
    /// Every line of the parcel (all its orders): (sku, qty).
    pub parcel_lines: &'a [(String, u32)],
}

/// The script's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnwaveOutcome {
    /// The order left an open parcel (or its empty parcel was cancelled).
    Removed,
    /// The packed or booked parcel was replaced by a new one.
    Replaced,
    /// The packed or booked parcel lost its last order.
    Cancelled,
    /// A repack is needed: call again with a new parcel id.
    NeedId,
    /// Already done (a second delivery of the cancellation).
    Done,
    /// The parcel or wave changed meanwhile: recompute and call again.
    Retry,
    NotWaved,
}

impl UnwaveOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            UnwaveOutcome::Removed => "removed",
            UnwaveOutcome::Replaced => "replaced",
            UnwaveOutcome::Cancelled => "cancelled",
            UnwaveOutcome::NeedId => "need_id",
            UnwaveOutcome::Done => "done",
            UnwaveOutcome::Retry => "retry",
            UnwaveOutcome::NotWaved => "not_waved",
        }
    }
}

impl Store {
    /// Takes a cancelled order out of its wave; see `repack.lua`.
    pub async fn unwave(&self, site: &str, u: &Unwave<'_>) -> Result<UnwaveOutcome, StoreError> {
        let parcel = keys::parcel(site, u.parcel_id);
        let wave = keys::wave(site, u.wave_id);
        let mut inv = REPACK.prepare_invoke();
        inv.key(&wave)
            .key(&parcel)
            .key(keys::order(site, u.seller, u.order_id))
            .key(keys::session(site, u.seller, u.session))
            .key(format!("{parcel}:lock"))
            .key(if u.new_id.is_empty() {
                parcel.clone()
            } else {
                keys::parcel(site, u.new_id)
            });
        match u.shipment_id {
            Some(sh) => inv
                .key(keys::shipment(site, sh))
                .key(keys::shipment_parcels(site, sh)),
            None => inv.key(&wave).key(&wave),
        };
        inv.key(keys::carrier_cancels(site));
        for (order_id, _) in u.survivors {
            inv.key(keys::order(site, u.seller, order_id));
        }
        for (_, label) in u.survivors {
            inv.key(keys::session(site, u.seller, label));
        }
        // Documents as they are stored; '' (none) stays '' for the script.
        let doc = |json: &str, pack: fn(&[u8]) -> Vec<u8>| match json {
            "" => Vec::new(),
            json => self.document(json.as_bytes(), pack).into_owned(),
        };
        let parcel = super::doc::pack_parcel;
        inv.arg(u.order_id)
            .arg(u.parcel_ver)
            .arg(u.wave_ver)
            .arg(doc(u.remaining, parcel))
            .arg(u.new_id)
            .arg(doc(u.new_parcel, parcel))
            .arg(doc(u.new_wave, super::doc::pack_wave))
            .arg(chrono::Utc::now().timestamp_millis())
            .arg(u.shipment_id.unwrap_or(""))
            .arg(u.survivors.len())
            .arg(u.lines.len());
        for (sku, qty) in u.lines {
            inv.arg(sku).arg(qty);
        }
        inv.arg(u.parcel_lines.len());
        for (sku, qty) in u.parcel_lines {
            inv.arg(sku).arg(qty);
        }
        let mut conn = self.conn();
        let out: String = self.bounded("unwave", inv.invoke_async(&mut conn)).await?;
        self.wait_replicas(&mut conn, &keys::tag(site)).await?;
        Ok(match out.as_str() {
            "removed" => UnwaveOutcome::Removed,
            "replaced" => UnwaveOutcome::Replaced,
            "cancelled" => UnwaveOutcome::Cancelled,
            "need_id" => UnwaveOutcome::NeedId,
            "done" => UnwaveOutcome::Done,
            "retry" => UnwaveOutcome::Retry,
            _ => UnwaveOutcome::NotWaved,
        })
    }

    /// Up to `limit` parcel ids whose carrier cancellation is due at `now_ms`.
    pub async fn due_cancels(
        &self,
        site: &str,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        self.bounded(
            "cancels",
            conn.zrangebyscore_limit(
                keys::carrier_cancels(site),
                "-inf",
                now_ms,
                0,
                limit as isize,
            ),
        )
        .await
    }

    /// Looks at the parcel again at `at_ms`.
    pub async fn reschedule_cancel(
        &self,
        site: &str,
        parcel_id: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        self.bounded(
            "cancels",
            conn.zadd(keys::carrier_cancels(site), parcel_id, at_ms),
        )
        .await
    }

    /// Nothing more to do with this parcel's carrier order.
    pub async fn drop_cancel(&self, site: &str, parcel_id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        self.bounded("cancels", conn.zrem(keys::carrier_cancels(site), parcel_id))
            .await
    }

    /// Number of parcels waiting for a carrier cancellation.
    pub async fn cancels_waiting(&self, site: &str) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        self.bounded("cancels", conn.zcard(keys::carrier_cancels(site)))
            .await
    }

    /// Takes the per-parcel cancel lock (one instance calls the carrier at a time).
    pub async fn lock_cancel(
        &self,
        site: &str,
        parcel_id: &str,
        ttl_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let got: Option<String> = self
            .bounded(
                "lock",
                redis::cmd("SET")
                    .arg(keys::cancel_lock(site, parcel_id))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut conn),
            )
            .await?;
        Ok(got.is_some())
    }

    pub async fn unlock_cancel(&self, site: &str, parcel_id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        self.bounded("lock", conn.del(keys::cancel_lock(site, parcel_id)))
            .await
    }

    /// Whether a booking of the parcel is in flight (its booking lock is held).
    pub async fn booking_in_flight(&self, site: &str, parcel_id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        self.bounded(
            "lock",
            conn.exists(format!("{}:lock", keys::parcel(site, parcel_id))),
        )
        .await
    }

    /// Records the outcome of a carrier cancellation: `state` cancelled | refused | retrying,
    /// with the carrier's message and (retrying) when to try next. Final states leave the
    /// queue; a retry is rescheduled. Returns the attempts so far.
    pub async fn record_cancel(
        &self,
        site: &str,
        parcel_id: &str,
        state: &str,
        error: Option<&str>,
        next_try_ms: Option<i64>,
    ) -> Result<u64, StoreError> {
        let key = keys::parcel(site, parcel_id);
        let now = chrono::Utc::now().timestamp_millis();
        let mut fields: Vec<(&str, String)> = vec![("cancel_state", state.to_owned())];
        if let Some(e) = error {
            fields.push(("cancel_error", e.to_owned()));
        }
        match next_try_ms {
            Some(t) => fields.push(("cancel_next_ms", t.to_string())),
            None => fields.push(("cancel_done_ms", now.to_string())),
        }
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hincr(&key, "cancel_attempts", 1)
            .hset_multiple(&key, &fields)
            .ignore();
        match next_try_ms {
            Some(t) => pipe
                .zadd(keys::carrier_cancels(site), parcel_id, t)
                .ignore(),
            None => pipe.zrem(keys::carrier_cancels(site), parcel_id).ignore(),
        };
        if next_try_ms.is_some() {
            pipe.hdel(&key, "cancel_done_ms").ignore();
        } else {
            pipe.hdel(&key, "cancel_next_ms").ignore();
        }
        let mut conn = self.conn();
        let (attempts,): (u64,) = self.bounded("cancel", pipe.query_async(&mut conn)).await?;
        self.wait_replicas(&mut conn, &keys::tag(site)).await?;
        Ok(attempts)
    }

    /// Sets a parcel hash field (the canceller notes `cancel_state` = `pending` on a parcel
    /// whose tracking code arrived after it was replaced).
    pub async fn set_parcel_field(
        &self,
        site: &str,
        parcel_id: &str,
        field: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        self.bounded(
            "parcel",
            conn.hset(keys::parcel(site, parcel_id), field, value),
        )
        .await
    }
}
