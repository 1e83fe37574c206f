//! Redis key names. Every key of a site carries the hash tag `{site}`, so every
//! multi-key script touches one Redis Cluster slot.

pub fn tag(site: &str) -> String {
    format!("lp:{{{site}}}")
}

/// Hash: one stored order (`data`, `st` status, `dg` digest, ids once known).
/// Built by concatenation rather than `format!`: ingest makes one per order (issue 20). So
/// are the other keys and fields made per order or parcel (a `format!` grows its string
/// part by part: about 800 instructions a key in the planner's profile).
pub fn order(site: &str, seller: &str, order_id: &str) -> String {
    OrderKey {
        site,
        seller,
        order_id,
    }
    .parts()
    .concat()
}

/// [`order`]'s key as a command argument, written into the command in place: ingest passes
/// one per order, and a string of its own cost an allocation and a copy more (issue 20).
pub struct OrderKey<'a> {
    pub site: &'a str,
    pub seller: &'a str,
    pub order_id: &'a str,
}

impl OrderKey<'_> {
    fn parts(&self) -> [&str; 6] {
        ["lp:{", self.site, "}:o:", self.seller, ":", self.order_id]
    }
}

impl redis::ToRedisArgs for OrderKey<'_> {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        use std::io::Write;
        let mut arg = out.writer_for_next_arg();
        for part in self.parts() {
            // Into the command's own buffer: writing to memory does not fail.
            let _ = arg.write_all(part.as_bytes());
        }
    }
}

/// Stream: what the site's planner has to look at (new orders, session ends, cancels).
pub fn stream(site: &str) -> String {
    format!("lp:{{{site}}}:in")
}

/// Hash: one livestream session's state and counters.
pub fn session(site: &str, seller: &str, label: &str) -> String {
    ["lp:{", site, "}:s:", seller, ":", label].concat()
}

/// A session's waved orders by the time each counts as at risk: a string of records appended
/// by each wave commit, one per wave that holds some of the session's orders, each
/// `wave|ms id,id…;ms id…` and a newline, each order id under the time (ms) from which it
/// counts as at risk (its deadline, or 0 when its wave's pickup was already after its deadline)
/// ([`super::risk`]). `GET /v1/sessions/{label}` reads it and looks up only the orders due by
/// now, not every wave of the site. About 28 bytes an order; an `APPEND` costs Redis less
/// than a sorted-set member a wave did (issue 20's twenty-second session).
pub fn session_risk(site: &str, seller: &str, label: &str) -> String {
    ["lp:{", site, "}:s:", seller, ":", label, ":riskl"].concat()
}

/// What builds from issue 20's fifteenth session to before its twenty-second kept instead of
/// [`session_risk`]: a sorted set of the same records, one member per wave, scored by the
/// earliest time in it. Still read (and pruned) until it expires with its session.
pub fn session_risk_waves(site: &str, seller: &str, label: &str) -> String {
    format!("lp:{{{site}}}:s:{seller}:{label}:riskw")
}

/// What builds before issue 20's fifteenth session kept instead of [`session_risk_waves`]: a sorted
/// set, order id scored by the same time. Still read (and pruned) until it expires with its
/// session.
pub fn session_risk_zset(site: &str, seller: &str, label: &str) -> String {
    format!("lp:{{{site}}}:s:{seller}:{label}:risk")
}

/// Set of `seller/label` of every session the site has seen.
pub fn sessions(site: &str) -> String {
    format!("lp:{{{site}}}:sessions")
}

/// A key that `/readyz` writes to prove Redis takes writes.
pub fn readyz() -> &'static str {
    "lp:readyz"
}

/// Set of `seller/label` of ended sessions (their orders are released at once).
pub fn ended(site: &str) -> String {
    format!("lp:{{{site}}}:ended")
}

/// Hash `seller/order_id` → `1`: stored, not yet in a wave (the planner reads the orders
/// themselves when it takes a site over).
pub fn pending(site: &str) -> String {
    format!("lp:{{{site}}}:pending")
}

/// Field of an order in the pending hash.
pub fn pending_field(seller: &str, order_id: &str) -> String {
    [seller, "/", order_id].concat()
}

/// The planner lease (holder id, with a TTL) and its fencing counter.
pub fn lease(site: &str) -> String {
    format!("lp:{{{site}}}:lease")
}

pub fn fence(site: &str) -> String {
    format!("lp:{{{site}}}:fence")
}

/// Stream of entries the planner could not process after 5 deliveries.
pub fn dead_letters(site: &str) -> String {
    format!("lp:{{{site}}}:dead")
}

/// String: the archiver lock of a site (value: the holder; expires unless renewed).
pub fn archiver_lock(site: &str) -> String {
    format!("lp:{{{site}}}:archiver")
}

/// Set of the business days (`YYYY-MM-DD`) whose orders are all archived.
pub fn archived_days(site: &str) -> String {
    format!("lp:{{{site}}}:archived")
}

/// String: the last business day (`YYYY-MM-DD`) of the site whose orders, and every earlier
/// day's, are all archived.
pub fn archived_through(site: &str) -> String {
    format!("lp:{{{site}}}:archived_through")
}

/// Hash: one wave (doc, status, progress, per-SKU totals `q:SKU` and picked `p:SKU`).
pub fn wave(site: &str, wave_id: &str) -> String {
    ["lp:{", site, "}:w:", wave_id].concat()
}

/// Set of pick ids already counted for a wave (idempotent picks); also the ids of unpicks
/// (`u:ID`), put-backs (`b:ID`) and unpacks (`x:ID`) of the wave.
pub fn wave_picks(site: &str, wave_id: &str) -> String {
    format!("lp:{{{site}}}:w:{wave_id}:picks")
}

/// Sorted set of a business day's waves, scored by release time (ms).
pub fn waves_of_day(site: &str, date: chrono::NaiveDate) -> String {
    format!("lp:{{{site}}}:waves:{}", date.format("%Y-%m-%d"))
}

/// Hash: one parcel (`data` JSON, `status`, `wave`).
pub fn parcel(site: &str, parcel_id: &str) -> String {
    ["lp:{", site, "}:p:", parcel_id].concat()
}

/// Counter for wave/parcel numbers of a day.
pub fn counter(site: &str, what: &str, date: chrono::NaiveDate) -> String {
    format!("lp:{{{site}}}:n:{what}:{}", date.format("%Y-%m-%d"))
}

/// JSON snapshot the planner writes each round: capacity forecast and at-risk orders.
pub fn outlook(site: &str) -> String {
    format!("lp:{{{site}}}:outlook")
}

/// A station (tablet) session: token → site.
pub fn station(token: &str) -> String {
    format!("lp:station:{token}")
}

/// Hash: sign-in attempts per client of a site's stations (`attempts:last_ms`).
pub fn pin_clients(site: &str) -> String {
    format!("lp:{{{site}}}:pinf")
}

/// Sign-in attempts at a site in the current minute (the site-wide slow-down).
pub fn pin_minute(site: &str) -> String {
    format!("lp:{{{site}}}:pinm")
}

/// Hash: one shipment (status, carrier, service, pickup).
pub fn shipment(site: &str, shipment_id: &str) -> String {
    format!("lp:{{{site}}}:sh:{shipment_id}")
}

/// String: a shipment's parcel ids, each followed by a newline, appended as waves commit and
/// repacks make new parcels (a parcel never leaves its shipment: a replaced one stays listed
/// with its status). An `APPEND` of a wave's ids costs Redis about a quarter of the time of
/// adding them to a set and half the memory (issue 20, twenty-third session:
/// load-tests/results/tail-2026-12-05-twentythird.md).
/// Whether a parcel is on a shipment is its document's `shipment_id` (`store/handover.rs`).
pub fn shipment_parcels(site: &str, shipment_id: &str) -> String {
    format!("lp:{{{site}}}:sh:{shipment_id}:plist")
}

/// Set of a shipment's parcel ids, as builds before issue 20's twenty-third session wrote
/// them: read beside [`shipment_parcels`] and deleted with the shipment, no longer written.
pub fn shipment_parcel_set(site: &str, shipment_id: &str) -> String {
    format!("lp:{{{site}}}:sh:{shipment_id}:parcels")
}

/// Sorted set of a business day's shipments, scored by pickup time (ms).
pub fn shipments_of_day(site: &str, date: chrono::NaiveDate) -> String {
    format!("lp:{{{site}}}:shipments:{}", date.format("%Y-%m-%d"))
}

/// Hash: carrier tracking code → parcel id (hand-over scans read a label's barcode).
pub fn tracking_index(site: &str) -> String {
    format!("lp:{{{site}}}:trk")
}

/// Sorted set of parcel ids whose carrier order may need cancelling (replaced or cancelled
/// after packing or booking), scored by when to look next (ms).
pub fn carrier_cancels(site: &str) -> String {
    format!("lp:{{{site}}}:cancels")
}

/// Held while one instance cancels a parcel's carrier order.
pub fn cancel_lock(site: &str, parcel_id: &str) -> String {
    format!("lp:{{{site}}}:p:{parcel_id}:cancel_lock")
}

/// Sorted set of the site's parcels whose booking was requested and is not settled yet
/// (member parcel id, score: when the background booker may try it next, ms).
pub fn booking_queue(site: &str) -> String {
    format!("lp:{{{site}}}:bookq")
}

/// Hash: a seller's tombstones (order id → short digest) of orders that left Redis, in
/// the bucket starting at `bucket_start_secs` (see `store::tombstones`).
pub fn tombstones(site: &str, seller: &str, bucket_start_secs: i64) -> String {
    format!("lp:{{{site}}}:t:{seller}:{bucket_start_secs}")
}

/// Stream: who undid or confirmed what on the packing floor (unpick, unpack, put-back, pull,
/// a pack before pick), capped at [`AUDIT_MAXLEN`] entries.
pub fn audit(site: &str) -> String {
    format!("lp:{{{site}}}:audit")
}

/// Entries kept in a site's audit stream.
pub const AUDIT_MAXLEN: u64 = 10_000;

/// Hash / counter of supervisor-PIN attempts (same throttle as the station PIN).
pub fn supervisor_pin_clients(site: &str) -> String {
    format!("lp:{{{site}}}:spinf")
}

pub fn supervisor_pin_minute(site: &str) -> String {
    format!("lp:{{{site}}}:spinm")
}

/// Hash: what the carrier reported about one parcel's money (COD statements; no buyer data):
/// seller, carrier, tracking, day, expected COD, status, webhook and settlement amounts.
pub fn cod(site: &str, parcel_id: &str) -> String {
    format!("lp:{{{site}}}:cod:p:{parcel_id}")
}

/// Sorted set of a seller's parcels in COD statements, scored by their day (days since
/// 1970-01-01 of the parcel's pickup business day).
pub fn cod_of_seller(site: &str, seller: &str) -> String {
    format!("lp:{{{site}}}:cod:s:{seller}")
}

/// Sorted set of a carrier's delivered parcels whose COD is not paid yet, scored by when
/// they were delivered (ms).
pub fn cod_unpaid(site: &str, carrier: &str) -> String {
    format!("lp:{{{site}}}:cod:unpaid:{carrier}")
}

/// Set of the parcels the carrier returned to the site on a business day (restocking).
pub fn returns_of_day(site: &str, date: chrono::NaiveDate) -> String {
    format!("lp:{{{site}}}:returns:{}", date.format("%Y-%m-%d"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_order_key_is_the_documented_layout() {
        assert_eq!(
            super::order("hoa-lu-hub", "mat-ong-tam-diep", "TT-1:2"),
            "lp:{hoa-lu-hub}:o:mat-ong-tam-diep:TT-1:2"
        );
    }

    /// The keys built by concatenation: the layouts stored since before they were.
    #[test]
    fn concatenated_keys_keep_their_layouts() {
        let (site, seller) = ("hoa-lu-hub", "mat-ong-tam-diep");
        assert_eq!(
            super::session(site, seller, "s-1"),
            "lp:{hoa-lu-hub}:s:mat-ong-tam-diep:s-1"
        );
        assert_eq!(
            super::session_risk(site, seller, "s-1"),
            "lp:{hoa-lu-hub}:s:mat-ong-tam-diep:s-1:riskl"
        );
        assert_eq!(
            super::pending_field(seller, "TT-1"),
            "mat-ong-tam-diep/TT-1"
        );
        assert_eq!(
            super::parcel(site, "P-hoa-lu-hub-20261206-7"),
            "lp:{hoa-lu-hub}:p:P-hoa-lu-hub-20261206-7"
        );
        assert_eq!(super::wave(site, "W-1"), "lp:{hoa-lu-hub}:w:W-1");
    }

    /// Ingest writes the key into its command in place: the same bytes as the key's string,
    /// as one argument between its neighbours.
    #[test]
    fn an_order_key_argument_is_the_key() {
        let key = super::OrderKey {
            site: "hoa-lu-hub",
            seller: "mật-ong",
            order_id: "TT-1:2",
        };
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg("before").arg(&key).arg("after");
        let args: Vec<Vec<u8>> = cmd
            .args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => b.to_vec(),
                _ => b"(not a plain argument)".to_vec(),
            })
            .collect();
        let want = super::order("hoa-lu-hub", "mật-ong", "TT-1:2");
        assert_eq!(
            args,
            [&b"EVALSHA"[..], b"before", want.as_bytes(), b"after"]
        );
        assert_eq!(redis::ToRedisArgs::to_redis_args(&key), [want.into_bytes()]);
    }
}
