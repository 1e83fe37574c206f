//! Hand-over at the truck in Redis: scans that put parcels on the truck, the tracking-code
//! index the scans read, and the all-or-nothing hand-over of a shipment.

use std::sync::LazyLock;

use redis::AsyncCommands;

use super::{keys, Store, StoreError};

static SCAN: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/scan.lua")));
static HANDOVER: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/handover.lua")));

/// What a scan did (see `scan.lua`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanOutcome {
    Loaded,
    /// Loaded, though no station marked it packed (its box may not hold all its items).
    LoadedUnpacked,
    AlreadyLoaded,
    Pull,
    NotInShipment,
    Unknown,
    /// The shipment has left and this parcel was not on it.
    Closed,
}

/// One parcel of a hand-over: id, its orders' (seller, order id), and a left-behind reason.
pub struct HandOverParcel<'a> {
    pub parcel_id: &'a str,
    /// Its wave (a parcel handed over without being marked packed counts as packed there).
    pub wave_id: &'a str,
    /// Its orders' (seller, order id, session label).
    pub orders: Vec<(String, String, String)>,
    pub left_behind: Option<&'a str>,
    /// Where a ship-able parcel left behind goes on (its carrier's next pickup).
    pub next: Option<NextPickup>,
}

/// A parcel's move to the next pickup's shipment, made from the parcel as read.
pub struct NextPickup {
    pub shipment: super::waves::ShipmentKey,
    /// Its document (JSON) naming that shipment and pickup.
    pub doc: String,
    /// The parcel's `ver` the document was made from: the move is refused (`Stale`) if the
    /// parcel changed since (a repack meanwhile), or if that shipment has left meanwhile.
    pub ver: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandOverOutcome {
    Done {
        handed_over: u64,
        /// The parcels listed with a reason that still ship (one that no longer does is
        /// not left behind).
        left_behind: Vec<String>,
    },
    /// A repeat: the first hand-over's answer (`None` for a shipment handed over by a build
    /// that did not record it).
    AlreadyHandedOver(Option<FirstHandOver>),
    Missing(Vec<String>),
    /// Parcels listed as left behind but scanned onto the truck: nothing is handed over
    /// (the hand-over names them rather than take them off the truck's record).
    LoadedLeftBehind(Vec<String>),
    /// Parcels to go on the truck that hold an order cancelled since they were waved, not
    /// yet replaced by the planner's repack: nothing is handed over.
    Repacking(Vec<String>),
    /// Parcels that no longer ship (replaced, cancelled) still on the truck: scanned onto
    /// it and not yet confirmed pulled off. Nothing is handed over.
    PullFirst(Vec<String>),
    /// The shipment's parcels changed since they were read: read them again.
    Stale,
}

/// What the first hand-over of a shipment answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstHandOver {
    pub handed_over: u64,
    /// The parcels listed as left behind (in the shipment's order; the API sorts them).
    pub left_behind: Vec<String>,
}

impl Store {
    /// The parcel a carrier tracking code belongs to.
    pub async fn parcel_of_tracking(
        &self,
        site: &str,
        tracking: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn();
        self.bounded(
            "tracking_index",
            conn.hget(keys::tracking_index(site), tracking),
        )
        .await
    }

    /// [`Store::parcel_of_tracking`] of many codes, in order, a thousand a command (a
    /// settlement file names tens of thousands).
    pub async fn parcels_of_tracking(
        &self,
        site: &str,
        codes: &[&str],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let mut out = Vec::with_capacity(codes.len());
        let mut conn = self.conn();
        for chunk in codes.chunks(1000) {
            let part: Vec<Option<String>> = self
                .bounded(
                    "tracking_index",
                    redis::cmd("HMGET")
                        .arg(keys::tracking_index(site))
                        .arg(chunk)
                        .query_async(&mut conn),
                )
                .await?;
            out.extend(part);
        }
        Ok(out)
    }

    /// Indexes a parcel's tracking code (written once a booking is recorded).
    pub(super) async fn index_tracking(
        &self,
        site: &str,
        tracking: &str,
        parcel_id: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        self.bounded(
            "tracking_index",
            conn.hset(keys::tracking_index(site), tracking, parcel_id),
        )
        .await
    }

    /// Scans `parcel_id` onto the truck of `shipment_id` (idempotent, atomic).
    pub async fn scan_parcel(
        &self,
        site: &str,
        shipment_id: &str,
        parcel_id: &str,
    ) -> Result<ScanOutcome, StoreError> {
        let parcel = keys::parcel(site, parcel_id);
        let mut conn = self.conn();
        // On this shipment: its document's `shipment_id` (or the `sh` field of parcels
        // written before issue 20's fifteenth session), set when the parcel is made (a
        // repack makes a new parcel on the same shipment) and changed only when a hand-over
        // moves it on, left behind, to the next pickup: read before the script.
        let (sh, doc): (Option<String>, Option<Vec<u8>>) = self
            .bounded(
                "scan",
                redis::cmd("HMGET")
                    .arg(&parcel)
                    .arg("sh")
                    .arg("data")
                    .query_async(&mut conn),
            )
            .await?;
        if sh.is_none() && doc.is_none() {
            return Ok(ScanOutcome::Unknown);
        }
        // (A document that does not unpack is an error only when no `sh` names the shipment.)
        let named = sh.as_deref().is_some_and(|s| !s.is_empty());
        let text = match doc.map(super::doc::unpack).transpose() {
            Ok(text) => text,
            Err(_) if named => None,
            Err(e) => return Err(e),
        };
        if super::records::parcel_shipment(sh.as_deref(), text.as_deref()).as_deref()
            != Some(shipment_id)
        {
            return Ok(ScanOutcome::NotInShipment);
        }
        // Its orders: one the seller cancelled meanwhile (answered `cancelled`) makes the
        // parcel scan `pull` at once, before the planner's repack replaces it (as the
        // hand-over refuses it, `repack_pending`).
        let orders: Vec<String> = text
            .as_deref()
            .and_then(|t| serde_json::from_str::<super::records::ParcelDoc>(t).ok())
            .map(|d| {
                d.orders
                    .iter()
                    .map(|o| keys::order(site, &d.seller, &o.order_id))
                    .collect()
            })
            .unwrap_or_default();
        let mut inv = SCAN.prepare_invoke();
        inv.key(&parcel).key(keys::shipment(site, shipment_id));
        for o in &orders {
            inv.key(o);
        }
        inv.arg(chrono::Utc::now().timestamp_millis());
        let out: String = self.bounded("scan", inv.invoke_async(&mut conn)).await?;
        let outcome = match out.as_str() {
            "loaded" => ScanOutcome::Loaded,
            "loaded_unpacked" => ScanOutcome::LoadedUnpacked,
            "already_loaded" => ScanOutcome::AlreadyLoaded,
            "pull" => ScanOutcome::Pull,
            "unknown" => ScanOutcome::Unknown,
            "closed" => ScanOutcome::Closed,
            other => return Err(StoreError::Corrupt(format!("scan.lua answered {other}"))),
        };
        if matches!(outcome, ScanOutcome::Loaded | ScanOutcome::LoadedUnpacked) {
            self.wait_replicas(&mut conn, &keys::tag(site)).await?;
        }
        Ok(outcome)
    }

    /// Hands the shipment over, or names the ship-able parcels neither loaded nor left
    /// behind (nothing changes then).
    pub async fn hand_over(
        &self,
        site: &str,
        shipment_id: &str,
        parcels: &[HandOverParcel<'_>],
    ) -> Result<HandOverOutcome, StoreError> {
        let mut inv = HANDOVER.prepare_invoke();
        inv.key(keys::shipment(site, shipment_id))
            .key(keys::shipment_parcels(site, shipment_id))
            .key(keys::shipment_parcel_set(site, shipment_id))
            .arg(chrono::Utc::now().timestamp_millis())
            .arg(parcels.len());
        for p in parcels {
            inv.key(keys::parcel(site, p.parcel_id));
            for (seller, id, _) in &p.orders {
                inv.key(keys::order(site, seller, id));
            }
            inv.key(keys::wave(site, p.wave_id));
            for (seller, _, session) in &p.orders {
                inv.key(keys::session(site, seller, session));
            }
            inv.arg(p.parcel_id)
                .arg(p.orders.len())
                .arg(p.left_behind.unwrap_or(""));
            match &p.next {
                Some(NextPickup {
                    shipment: sh,
                    doc,
                    ver,
                }) => {
                    let date = crate::domain::schedule::business_date(
                        chrono::DateTime::from_timestamp_millis(sh.pickup_ms).unwrap_or_default(),
                    );
                    inv.key(keys::shipment(site, &sh.id))
                        .key(keys::shipment_parcels(site, &sh.id))
                        .key(keys::shipments_of_day(site, date))
                        .arg(&*self.document(doc.as_bytes(), super::doc::pack_parcel))
                        .arg(&sh.id)
                        .arg(&sh.carrier)
                        .arg(&sh.service)
                        .arg(sh.pickup_ms)
                        .arg(date.format("%Y-%m-%d").to_string())
                        .arg(ver);
                }
                None => {
                    inv.arg("").arg("").arg("").arg("").arg("").arg("").arg("");
                }
            }
        }
        let mut conn = self.conn();
        let out: Vec<redis::Value> = self
            .bounded("hand_over", inv.invoke_async(&mut conn))
            .await?;
        let texts: Vec<String> = out
            .iter()
            .map(|v| match v {
                redis::Value::Int(n) => Ok(n.to_string()),
                v => redis::from_redis_value::<String>(v.clone()),
            })
            .collect::<Result<_, _>>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        match texts.split_first() {
            Some((tag, rest)) if tag == "ok" => {
                self.wait_replicas(&mut conn, &keys::tag(site)).await?;
                Ok(HandOverOutcome::Done {
                    handed_over: rest.first().and_then(|n| n.parse().ok()).unwrap_or(0),
                    left_behind: rest.get(1..).unwrap_or_default().to_vec(),
                })
            }
            Some((tag, rest)) if tag == "dup" => Ok(HandOverOutcome::AlreadyHandedOver(
                rest.split_first().and_then(|(n, ids)| {
                    Some(FirstHandOver {
                        handed_over: n.parse().ok()?,
                        left_behind: ids.to_vec(),
                    })
                }),
            )),
            Some((tag, rest)) if tag == "missing" => Ok(HandOverOutcome::Missing(rest.to_vec())),
            Some((tag, rest)) if tag == "loaded" => {
                Ok(HandOverOutcome::LoadedLeftBehind(rest.to_vec()))
            }
            Some((tag, rest)) if tag == "repack" => Ok(HandOverOutcome::Repacking(rest.to_vec())),
            Some((tag, rest)) if tag == "pull" => Ok(HandOverOutcome::PullFirst(rest.to_vec())),
            Some((tag, _)) if tag == "stale" => Ok(HandOverOutcome::Stale),
            _ => Err(StoreError::Corrupt("handover.lua answered nothing".into())),
        }
    }
}
