//! The buyers whose parcels are already released for a pickup. A buyer who orders again
//! after the wave holding their parcel was released (a livestream's buyer adding to a cart
//! half an hour later) gets a parcel of their own for the same pickup: the first may be
//! picked, packed or booked by then. Both parcels then say why (`split_reason`), and their
//! labels read `k/n` (contract §6).
//!
//! The site's planner keeps this in memory, per pickup, from the waves it commits. The first
//! time a plan has a parcel for a pickup this planner has not seen (after a restart, or a
//! lease taken over from another instance), that pickup's parcels are read once from its
//! shipments. Pickups an hour past are forgotten.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::shipping::handover::shipable;
use crate::shipping::service::{load_parcels, StoredParcel};
use crate::store::{Store, StoreError};

/// Replacements followed from a released parcel to the one that ships now (a repack
/// replaces a parcel by one new parcel; each may be repacked again).
const MAX_REPACKS: usize = 8;

/// (seller, buyer key) → the buyer's parcels released for one pickup, in release order.
type Buyers = HashMap<(String, String), Vec<String>>;

#[derive(Debug, Default)]
pub struct Released {
    pickups: HashMap<i64, Buyers>,
}

impl Released {
    /// Forgets everything (the lease changed hands: another instance may have released
    /// waves meanwhile).
    pub fn clear(&mut self) {
        self.pickups.clear();
    }

    /// Forgets pickups more than an hour past: no wave is released for them any more.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        let before = now.timestamp_millis() - 3_600_000;
        self.pickups.retain(|&ms, _| ms >= before);
    }

    pub fn knows(&self, pickup_ms: i64) -> bool {
        self.pickups.contains_key(&pickup_ms)
    }

    /// Takes what [`load`] read for a pickup, unless this planner learned it meanwhile.
    pub fn insert_loaded(&mut self, pickup_ms: i64, buyers: Buyers) {
        self.pickups.entry(pickup_ms).or_insert(buyers);
    }

    /// The buyer's parcels released for the pickup so far.
    pub fn earlier(&self, pickup_ms: i64, seller: &str, buyer_key: &str) -> &[String] {
        self.pickups
            .get(&pickup_ms)
            .and_then(|b| b.get(&(seller.to_owned(), buyer_key.to_owned())))
            .map_or(&[], Vec::as_slice)
    }

    /// A parcel just released.
    pub fn add(&mut self, pickup_ms: i64, seller: &str, buyer_key: &str, parcel_id: &str) {
        self.pickups
            .entry(pickup_ms)
            .or_default()
            .entry((seller.to_owned(), buyer_key.to_owned()))
            .or_default()
            .push(parcel_id.to_owned());
    }
}

/// Every parcel of the site's shipments at `pickup`, by buyer.
pub async fn load(store: &Store, site: &str, pickup: DateTime<Utc>) -> Result<Buyers, StoreError> {
    let mut buyers = Buyers::new();
    for shipment in store.shipment_ids_at(site, pickup).await? {
        let ids = store.shipment_parcel_ids(site, &shipment).await?;
        for p in load_parcels(store, site, &ids).await? {
            if p.doc.pickup_at == pickup {
                buyers
                    .entry((p.doc.seller.clone(), p.doc.buyer_key.clone()))
                    .or_default()
                    .push(p.doc.parcel_id);
            }
        }
    }
    for ids in buyers.values_mut() {
        ids.sort_by(|a, b| crate::domain::id_order(a, b));
    }
    Ok(buyers)
}

/// The parcels that ship now in place of `released` (a parcel itself while it goes on the
/// truck, the parcel a repack replaced it with, none for a cancelled or rejected one), in
/// the order of the parcels of `released` they stand for (a repack's parcel where the one
/// it replaced was: a replaced early parcel is not the latest), without repeats.
pub async fn shipping_now(
    store: &Store,
    site: &str,
    released: &[String],
) -> Result<Vec<String>, StoreError> {
    // (index in `released`, parcel id)
    let mut found: Vec<(usize, String)> = Vec::new();
    let mut look: Vec<(usize, String)> = released.iter().cloned().enumerate().collect();
    for _ in 0..MAX_REPACKS {
        if look.is_empty() {
            break;
        }
        let ids: Vec<String> = look.iter().map(|(_, id)| id.clone()).collect();
        let loaded: HashMap<String, StoredParcel> = load_parcels(store, site, &ids)
            .await?
            .into_iter()
            .map(|p| (p.doc.parcel_id.clone(), p))
            .collect();
        let mut next = Vec::new();
        for (at, id) in look {
            let Some(p) = loaded.get(&id) else { continue };
            match successor(p) {
                Some(s) => next.push((at, s)),
                None if shipable(p) => found.push((at, id)),
                None => {}
            }
        }
        look = next;
    }
    found.sort_by_key(|(at, _)| *at);
    let mut out: Vec<String> = Vec::with_capacity(found.len());
    for (_, id) in found {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// The parcel a repack replaced `p` with, if it was replaced.
fn successor(p: &StoredParcel) -> Option<String> {
    p.replaced_by.clone().filter(|_| !p.ships())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buyer_s_released_parcels_are_kept_per_pickup_until_an_hour_past() {
        let t = |h: i64| DateTime::from_timestamp(h * 3_600, 0).unwrap();
        let mut r = Released::default();
        r.add(t(10).timestamp_millis(), "s", "b", "P-1");
        r.add(t(10).timestamp_millis(), "s", "b", "P-2");
        r.add(t(12).timestamp_millis(), "s", "b", "P-3");
        assert_eq!(
            r.earlier(t(10).timestamp_millis(), "s", "b"),
            ["P-1", "P-2"]
        );
        assert!(r.earlier(t(10).timestamp_millis(), "other", "b").is_empty());
        // What a load read never replaces what this planner learned meanwhile.
        r.insert_loaded(t(12).timestamp_millis(), Buyers::new());
        assert_eq!(r.earlier(t(12).timestamp_millis(), "s", "b"), ["P-3"]);
        r.prune(t(11) + chrono::Duration::minutes(1));
        assert!(!r.knows(t(10).timestamp_millis()));
        assert!(r.knows(t(12).timestamp_millis()));
        r.clear();
        assert!(!r.knows(t(12).timestamp_millis()));
    }
}
