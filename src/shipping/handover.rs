//! Hand-over at the truck: each label scanned puts its parcel on the truck; the shipment is
//! handed over once every ship-able parcel is loaded or left behind with a reason.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, NaiveTime, Utc};
use serde::Serialize;

use super::service::{Shipment, StoredParcel};
use crate::domain::rates::shipment_id;
use crate::domain::status::{CarrierStatus, FloorStatus};
use crate::shipping::choice::carrier_pickup;
use crate::shipping::Shipping;
use crate::store::handover::{HandOverOutcome, HandOverParcel, NextPickup, ScanOutcome};
use crate::store::records::site_of;
use crate::store::waves::ShipmentKey;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanResult {
    /// Now on the truck.
    Loaded,
    /// Scanned before: nothing changes.
    AlreadyLoaded,
    /// Must not go: cancelled, replaced or flagged to be pulled.
    Pull,
    /// A parcel of this site, but of another shipment.
    NotInShipment,
    /// Neither a tracking code nor a parcel id this site knows.
    Unknown,
}

impl ScanResult {
    /// Every result (metric labels come from this list only).
    pub const ALL: [ScanResult; 5] = [
        ScanResult::Loaded,
        ScanResult::AlreadyLoaded,
        ScanResult::Pull,
        ScanResult::NotInShipment,
        ScanResult::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ScanResult::Loaded => "loaded",
            ScanResult::AlreadyLoaded => "already_loaded",
            ScanResult::Pull => "pull",
            ScanResult::NotInShipment => "not_in_shipment",
            ScanResult::Unknown => "unknown",
        }
    }
}

/// Longest code a scan may carry (tracking codes and parcel ids are far shorter).
pub const MAX_CODE_LEN: usize = 100;
/// Longest reason for leaving a parcel behind, in characters.
pub const MAX_REASON_CHARS: usize = 200;

/// A parcel that goes on the truck: not cancelled, replaced, pulled, cancelled by the
/// carrier, or rejected by it (a final refusal: the box is set aside, its scan answers
/// `pull`; store/lua/scan.lua and handover.lua's `ships` say the same).
pub fn shipable(p: &StoredParcel) -> bool {
    p.ships()
        && p.floor_status != Some(FloorStatus::Replaced)
        && p.carrier_status != Some(CarrierStatus::CancelledByCarrier)
        && !p.rejected()
}

/// Ship-able parcels neither loaded nor left behind, in the shipment's order. A reason a
/// parcel carries from an earlier truck (it was left behind there and moved on to this
/// shipment) does not excuse it here: only this shipment's own hand-over leaves one behind.
pub fn missing(sh: &Shipment) -> Vec<String> {
    let left_here = |p: &StoredParcel| {
        p.left_behind.is_some() && sh.status == crate::domain::status::ShipmentStatus::HandedOver
    };
    sh.parcels
        .iter()
        .filter(|p| shipable(p) && !p.loaded && !left_here(p))
        .map(|p| p.doc.parcel_id.clone())
        .collect()
}

/// Ship-able parcels on the truck.
pub fn loaded_count(sh: &Shipment) -> usize {
    sh.parcels
        .iter()
        .filter(|p| shipable(p) && p.loaded)
        .count()
}

/// The parcel a scanned code names: the site's tracking index, then any parcel id of the
/// site. None: nothing known. (Constant work per scan: a truck of thousands of parcels is
/// scanned one label at a time, so a scan never reads the whole shipment.)
async fn resolve(
    ship: &Shipping,
    site: &str,
    shipment_id: &str,
    code: &str,
) -> Result<Option<String>, StoreError> {
    if let Some(id) = ship.store.parcel_of_tracking(site, code).await? {
        return Ok(Some(id));
    }
    if let Some(id) = parcel_id_as_scanned(site, code) {
        return Ok(Some(id));
    }
    // Typed, or from a scanner in caps lock: carriers' codes are upper case.
    let upper = code.to_ascii_uppercase();
    if upper != code {
        if let Some(id) = ship.store.parcel_of_tracking(site, &upper).await? {
            return Ok(Some(id));
        }
    }
    // Not indexed (the index is written just after a booking is recorded: a crash between
    // the two leaves it out): look through this shipment's tracking codes, the slow way.
    let ids = ship.store.shipment(site, shipment_id).await?.1;
    Ok(super::service::load_parcels(&ship.store, site, &ids)
        .await?
        .into_iter()
        .find(|p| p.tracking.as_deref() == Some(code))
        .map(|p| p.doc.parcel_id))
}

/// A parcel id of `site` as scanned, whatever the case of its letters (`p-…`, or all upper
/// case): `P-{site}-…` as the site writes it; `None` for any other code.
fn parcel_id_as_scanned(site: &str, code: &str) -> Option<String> {
    let prefix = format!("P-{site}-");
    let rest = code.get(prefix.len()..)?;
    if !code[..prefix.len()].eq_ignore_ascii_case(&prefix) {
        return None;
    }
    let id = format!("{prefix}{rest}");
    (site_of(&id, 'P') == Some(site)).then_some(id)
}

/// Scans one code at the truck: `(parcel id, outcome)`; the id is None when unknown.
pub async fn scan(
    ship: &Shipping,
    site: &str,
    shipment_id: &str,
    code: &str,
) -> Result<(Option<String>, ScanOutcome), StoreError> {
    let Some(parcel_id) = resolve(ship, site, shipment_id, code).await? else {
        return Ok((None, ScanOutcome::Unknown));
    };
    let out = ship
        .store
        .scan_parcel(site, shipment_id, &parcel_id)
        .await?;
    let id = (out != ScanOutcome::Unknown).then_some(parcel_id);
    Ok((id, out))
}

/// Hands the shipment over with these parcels left behind (parcel id, reason); refused with
/// the missing parcels while any ship-able one is neither loaded nor left behind.
///
/// A ship-able parcel left behind goes on with the carrier's next pickup (the first after
/// this one whose shipment has not left): it moves to that shipment, its document naming
/// it, to be loaded there.
pub async fn hand_over(
    ship: &Shipping,
    sh: &Shipment,
    left_behind: &[(String, String)],
) -> Result<HandOverOutcome, StoreError> {
    let reason = |p: &StoredParcel| {
        left_behind
            .iter()
            .find(|(id, _)| *id == p.doc.parcel_id)
            .map(|(_, r)| r.as_str())
    };
    let next = if sh.parcels.iter().any(|p| p.ships() && reason(p).is_some()) {
        next_pickup(ship, sh).await?
    } else {
        None
    };
    let parcels: Vec<HandOverParcel<'_>> = sh
        .parcels
        .iter()
        .map(|p| HandOverParcel {
            parcel_id: &p.doc.parcel_id,
            wave_id: &p.doc.wave_id,
            orders: p
                .doc
                .orders
                .iter()
                .map(|o| (p.doc.seller.clone(), o.order_id.clone(), o.session.clone()))
                .collect(),
            left_behind: reason(p),
            next: next
                .as_ref()
                .filter(|_| p.ships() && reason(p).is_some())
                .map(|key| {
                    let mut doc = p.doc.clone();
                    doc.shipment_id = Some(key.id.clone());
                    doc.pickup_at = chrono::DateTime::from_timestamp_millis(key.pickup_ms)
                        .unwrap_or(doc.pickup_at);
                    NextPickup {
                        shipment: key.clone(),
                        doc: doc.to_json(),
                        ver: p.ver.clone(),
                    }
                }),
        })
        .collect();
    ship.store.hand_over(&sh.site, &sh.id, &parcels).await
}

/// The carrier's next pickup at the site after this shipment's whose shipment has not left
/// (`None`: the site or carrier is no longer configured, or none within
/// [`MOVES_PAST_DEPARTED`]: left-behind parcels then stay).
async fn next_pickup(ship: &Shipping, sh: &Shipment) -> Result<Option<ShipmentKey>, StoreError> {
    let Some(site) = ship.config.site(&sh.site) else {
        return Ok(None);
    };
    let times = site.carrier_pickup_times(&sh.carrier);
    // (Shipment ids name the minute: the next pickup is looked for a minute on.)
    let after = carrier_pickup(&times, sh.pickup_at + chrono::Duration::minutes(1));
    let (site, carrier, service) = (sh.site.as_str(), sh.carrier.as_str(), sh.service.as_str());
    let open = first_open_pickup(&ship.store, site, carrier, service, &times, after, None).await?;
    Ok(open.map(|at| ShipmentKey {
        id: shipment_id(site, at, carrier, service),
        carrier: carrier.to_owned(),
        service: service.to_owned(),
        pickup_ms: at.timestamp_millis(),
    }))
}

/// Departed pickups in a row looked past at most.
pub const MOVES_PAST_DEPARTED: usize = 32;

/// The first of a carrier's pickups (`times`, every day), from `at` on, whose shipment has not
/// left (handed over: the truck went, perhaps before its time); `None` past
/// [`MOVES_PAST_DEPARTED`] departed ones. `known` remembers what was asked (the planner's,
/// for one plan).
pub async fn first_open_pickup(
    store: &Store,
    site: &str,
    carrier: &str,
    service: &str,
    times: &[NaiveTime],
    mut at: DateTime<Utc>,
    known: Option<&Mutex<HashMap<String, bool>>>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    for _ in 0..MOVES_PAST_DEPARTED {
        let id = shipment_id(site, at, carrier, service);
        let cached = known.and_then(|k| k.lock().ok()?.get(&id).copied());
        let left = match cached {
            Some(left) => left,
            None => {
                let left = store.shipment_departed(site, &id).await?;
                if let Some(mut k) = known.and_then(|k| k.lock().ok()) {
                    k.insert(id, left);
                }
                left
            }
        };
        if !left {
            return Ok(Some(at));
        }
        // (Shipment ids name the minute: the next pickup is looked for a minute on.)
        at = carrier_pickup(times, at + chrono::Duration::minutes(1));
    }
    Ok(None)
}
