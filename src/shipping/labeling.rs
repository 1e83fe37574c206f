//! The shell around the label renderer: gathers what a label shows from the store (parcels,
//! their waves, the orders' receivers, the site, the carrier) and hands it to
//! [`super::label::render`]. Receiver names, phones and streets are read from the stored
//! orders here and go only onto the label, never into logs.

use std::collections::{HashMap, HashSet};

use futures_util::{stream, StreamExt, TryStreamExt};

use super::handover::shipable;
use super::label::{self, LabelData, LabelItem, LabelParty};
use super::service::{load_parcels, StoredParcel};
use crate::config::SiteConfig;
use crate::domain::address::normalize_province;
use crate::shipping::Shipping;
use crate::store::records::WaveDoc;
use crate::store::{Store, StoreError};

/// Orders read at once while assembling labels.
const ORDER_READS: usize = 16;

/// A wave document, or `None` when there is no such wave.
pub async fn wave_doc(
    store: &Store,
    site: &str,
    wave_id: &str,
) -> Result<Option<WaveDoc>, StoreError> {
    Ok(store.wave_row(site, wave_id).await?.and_then(|w| w.doc()))
}

/// Puts a shipment's parcels in pack-list order (see [`pack_list_order`]), reading their
/// waves: its labels and its manifest list them alike.
pub async fn in_pack_list_order(
    store: &Store,
    site: &str,
    parcels: &mut [StoredParcel],
) -> Result<(), StoreError> {
    let mut waves = HashMap::new();
    for p in parcels.iter() {
        if !waves.contains_key(&p.doc.wave_id) {
            if let Some(w) = wave_doc(store, site, &p.doc.wave_id).await? {
                waves.insert(p.doc.wave_id.clone(), w);
            }
        }
    }
    pack_list_order(parcels, &waves);
    Ok(())
}

/// Pack-list order: waves by release, then each wave's own parcel order; parcels of no known
/// wave last, by id.
pub fn pack_list_order(parcels: &mut [StoredParcel], waves: &HashMap<String, WaveDoc>) {
    let key = |p: &StoredParcel| {
        let wave = waves.get(&p.doc.wave_id);
        let released = wave
            .map(|w| w.released_at.timestamp_millis())
            .unwrap_or(i64::MAX);
        let pos = wave
            .and_then(|w| w.parcel_ids.iter().position(|id| *id == p.doc.parcel_id))
            .unwrap_or(usize::MAX);
        // Parcels of no known wave: by id as people read it (`-3` before `-13`).
        let id = &p.doc.parcel_id;
        let (head, number) = match id.rsplit_once('-') {
            Some((head, n)) => (head.to_owned(), n.parse::<u64>().ok()),
            None => (id.clone(), None),
        };
        (
            released,
            p.doc.wave_id.clone(),
            pos,
            head,
            number,
            id.clone(),
        )
    };
    parcels.sort_by_cached_key(key);
}

/// Labels for `parcels` (those for the truck only, in the order given: not cancelled,
/// replaced, to be pulled or rejected by the carrier).
pub async fn labels_for(
    ship: &Shipping,
    site: &str,
    parcels: &[StoredParcel],
) -> Result<Vec<LabelData>, StoreError> {
    let shipping: Vec<&StoredParcel> = parcels.iter().filter(|p| shipable(p)).collect();
    let Some(site_cfg) = ship.config.site(site) else {
        return Ok(Vec::new());
    };
    // k/n: the buyer's ship-able parcels for the same pickup: those of the same wave, and
    // those of the same shipments (a buyer who ordered again after a wave was released has
    // a parcel in a later wave).
    let wave_ids: HashSet<&str> = shipping.iter().map(|p| p.doc.wave_id.as_str()).collect();
    let shipment_ids: HashSet<&str> = shipping
        .iter()
        .filter_map(|p| p.doc.shipment_id.as_deref())
        .collect();
    let mut pool: Vec<String> = Vec::new();
    for wave_id in wave_ids {
        if let Some(w) = wave_doc(&ship.store, site, wave_id).await? {
            pool.extend(w.parcel_ids);
        }
    }
    for shipment_id in shipment_ids {
        pool.extend(ship.store.shipment_parcel_ids(site, shipment_id).await?);
    }
    pool.sort_by(|a, b| crate::domain::id_order(a, b));
    pool.dedup();
    let loaded = load_parcels(&ship.store, site, &pool).await?;
    // A repack's parcel takes the place of the one it replaces (its `k`), so the labels
    // already printed for the buyer's other parcels stay right: numbered by the first parcel
    // of each chain of repacks.
    let replaces: HashMap<&str, &str> = loaded
        .iter()
        .filter_map(|p| Some((p.doc.parcel_id.as_str(), p.replaces.as_deref()?)))
        .collect();
    let first_of = |id: &str| -> String {
        let mut at = id;
        for _ in 0..MAX_REPACKS {
            match replaces.get(at) {
                Some(before) => at = before,
                None => break,
            }
        }
        at.to_owned()
    };
    let mut ranked: HashMap<(String, String, i64), Vec<(String, String)>> = HashMap::new();
    for p in loaded.iter().filter(|p| shipable(p)) {
        let id = p.doc.parcel_id.clone();
        ranked
            .entry(sibling_key(p))
            .or_default()
            .push((first_of(&id), id));
    }
    let siblings: Siblings = ranked
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by(|a, b| crate::domain::id_order(&a.0, &b.0).then(a.1.cmp(&b.1)));
            (k, v.into_iter().map(|(_, id)| id).collect())
        })
        .collect();
    let sender = sender(site_cfg);
    let futures: Vec<_> = shipping
        .into_iter()
        .map(|p| one_label(ship, site, p, sender.clone(), &siblings))
        .collect();
    stream::iter(futures)
        .buffered(ORDER_READS)
        .try_collect()
        .await
}

/// Repacks followed back at most (a chain longer than any floor makes).
const MAX_REPACKS: usize = 64;

/// (seller, buyer key, pickup ms) → the buyer's ship-able parcels for that pickup, by id
/// (a repack's parcel by the id of the first parcel it replaces).
type Siblings = HashMap<(String, String, i64), Vec<String>>;

fn sibling_key(p: &StoredParcel) -> (String, String, i64) {
    (
        p.doc.seller.clone(),
        p.doc.buyer_key.clone(),
        p.doc.pickup_at.timestamp_millis(),
    )
}

async fn one_label(
    ship: &Shipping,
    site: &str,
    p: &StoredParcel,
    sender: LabelParty,
    siblings: &Siblings,
) -> Result<LabelData, StoreError> {
    let receiver = receiver(&ship.store, site, p).await?;
    let part = siblings
        .get(&sibling_key(p))
        .filter(|ids| ids.len() > 1)
        .and_then(|ids| {
            let k = ids.iter().position(|id| *id == p.doc.parcel_id)?;
            Some((k + 1, ids.len()))
        });
    Ok(label_data(ship, p, sender, receiver, part))
}

fn sender(site: &SiteConfig) -> LabelParty {
    LabelParty {
        name: site.name.clone(),
        phone: site.phone.clone(),
        street: site.street.clone(),
        ward: site.ward.clone(),
        province: normalize_province(&site.province)
            .map(|p| p.name.to_owned())
            .unwrap_or_else(|| site.province.clone()),
    }
}

/// The receiver as the first order has it: full name and phone, street and ward as typed,
/// the province normalized after 2025. Falls back to what the parcel keeps (given name,
/// masked phone) if the order is gone.
async fn receiver(store: &Store, site: &str, p: &StoredParcel) -> Result<LabelParty, StoreError> {
    let province = |raw: &str| {
        normalize_province(raw)
            .map(|p| p.name.to_owned())
            .unwrap_or_else(|| raw.to_owned())
    };
    if let Some(first) = p.doc.orders.first() {
        if let Some(rec) = store.order(site, &p.doc.seller, &first.order_id).await? {
            let o = &rec.data.order;
            return Ok(LabelParty {
                name: o.buyer.name.trim().to_owned(),
                phone: rec.data.norm.phone.clone(),
                street: o.ship_to.street.trim().to_owned(),
                ward: o.ship_to.ward.trim().to_owned(),
                province: province(&rec.data.norm.province),
            });
        }
    }
    Ok(LabelParty {
        name: p.doc.first_name.clone(),
        phone: p.doc.phone_masked.clone(),
        street: String::new(),
        ward: p.doc.ward.clone(),
        province: province(&p.doc.province),
    })
}

fn label_data(
    ship: &Shipping,
    p: &StoredParcel,
    sender: LabelParty,
    receiver: LabelParty,
    part: Option<(usize, usize)>,
) -> LabelData {
    let carrier_id = p.doc.carrier.clone().unwrap_or_default();
    let cfg = ship.config.carriers.iter().find(|c| c.id == carrier_id);
    let kind = cfg.map(|c| c.kind);
    let service = p
        .doc
        .service
        .clone()
        .or_else(|| cfg.map(|c| c.service()))
        .unwrap_or_default();
    let table_name = cfg.and_then(|c| {
        c.rates()
            .into_iter()
            .find(|r| r.code == service)
            .map(|r| r.name)
    });
    LabelData {
        parcel_id: p.doc.parcel_id.clone(),
        tracking: p.tracking.clone(),
        carrier: match kind {
            None => carrier_id,
            Some(kind) => label::carrier_display_name(kind),
        },
        service: label::service_display(kind, &service, table_name.as_deref()),
        sender,
        receiver,
        cod: p.doc.cod_amount().0,
        weight_g: p.doc.weight_g(),
        items: p
            .doc
            .items()
            .into_iter()
            .map(|i| LabelItem {
                name: i.name,
                qty: i.qty,
            })
            .collect(),
        order_count: p.doc.orders.len(),
        part,
        pickup_at: p.doc.pickup_at,
    }
}
