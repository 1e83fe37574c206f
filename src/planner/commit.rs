//! Turning a computed plan into committed waves: ids, wave and parcel documents, one
//! atomic script per wave.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::core::{Plan, WavePlan};
use super::limits::{split, OrderPiece, ParcelLimits};
use super::records::{
    make_id, ParcelDoc, ParcelItem, ParcelOrder, PendingRecord, PickLineDoc, WaveDoc,
};
use super::shell::CommitStop;
use crate::domain::rates::shipment_id;
use crate::domain::schedule::business_date;
use crate::store::keys::pending_field;
use crate::store::waves::{CommitOutcome, WaveCommit};
use crate::store::Store;

/// Commits every wave of `plan`; returns the pending fields that left pending. Stops at
/// the first stale or fenced commit (the caller reloads or steps down).
pub async fn commit_plan(
    store: &Store,
    site: &str,
    carrier: Option<&ShipCtx>,
    fence: &str,
    pending: &HashMap<String, PendingRecord>,
    plan: Plan,
    now: DateTime<Utc>,
) -> Result<Vec<String>, CommitStop> {
    let mut committed = Vec::new();
    for wave in plan.waves {
        // Waves are listed under their pickup's business day: the day staff pack them for.
        let date = business_date(wave.pickup_at);
        let fields: Vec<String> = wave
            .orders
            .iter()
            .map(|o| pending_field(&o.seller, &o.order_id))
            .collect();
        let n_wave = store
            .next_number(site, "wave", date, 1)
            .await
            .map_err(CommitStop::Store)?;
        let wave_id = make_id('W', site, date, n_wave);
        let boxes = boxes(carrier, &wave, pending);
        let first_parcel = store
            .next_number(site, "parcel", date, boxes.len() as u64)
            .await
            .map_err(CommitStop::Store)?;
        let built = build(
            site,
            carrier,
            &wave_id,
            first_parcel,
            date,
            &wave,
            &boxes,
            now,
        );
        let commit = WaveCommit {
            wave_id: &wave_id,
            date,
            released_ms: now.timestamp_millis(),
            pickup_ms: wave.pickup_at.timestamp_millis(),
            doc: serde_json::to_string(&built.doc).unwrap_or_default(),
            qty_total: built.sku_qty.iter().map(|(_, q)| u64::from(*q)).sum(),
            sku_qty: built.sku_qty,
            orders: built.orders,
            parcels: built.parcels,
            shipment: built.shipment.map(|s| (s.id, s.carrier, s.service)),
        };
        match store
            .commit_wave(site, fence, &commit)
            .await
            .map_err(CommitStop::Store)?
        {
            CommitOutcome::Committed => {
                metrics::counter!("livepack_waves_released_total", "site" => site.to_owned())
                    .increment(1);
                metrics::histogram!("livepack_wave_orders", "site" => site.to_owned())
                    .record(fields.len() as f64);
                tracing::info!(site, wave = %wave_id, orders = fields.len(), reason = ?wave.release_reason, "wave released");
                committed.extend(fields);
            }
            CommitOutcome::Stale | CommitOutcome::Exists => return Err(CommitStop::Stale),
            CommitOutcome::Fenced => return Err(CommitStop::Fenced),
        }
    }
    Ok(committed)
}

/// The carrier a site's parcels go with, and its limits.
#[derive(Debug, Clone)]
pub struct ShipCtx {
    pub carrier: String,
    pub service: String,
    pub limits: ParcelLimits,
}

/// One box: a buyer's orders (or part of them, split by the carrier's limits).
struct Box<'a> {
    recs: Vec<&'a PendingRecord>,
    reason: Option<String>,
    oversize: bool,
}

/// The planner's buyer parcels, split further where the carrier's weight or COD limit
/// requires (every order in exactly one box).
fn boxes<'a>(
    ship: Option<&ShipCtx>,
    wave: &WavePlan,
    pending: &'a HashMap<String, PendingRecord>,
) -> Vec<Box<'a>> {
    let mut out = Vec::new();
    for p in &wave.parcels {
        let recs: Vec<&PendingRecord> = p
            .orders
            .iter()
            .filter_map(|o| pending.get(&pending_field(&o.seller, &o.order_id)))
            .collect();
        let Some(ship) = ship else {
            out.push(Box {
                recs,
                reason: None,
                oversize: false,
            });
            continue;
        };
        let pieces: Vec<OrderPiece> = recs
            .iter()
            .map(|r| OrderPiece {
                order_id: r.plan.id.order_id.clone(),
                weight_g: r.plan.weight_g,
                cod: r.cod_amount,
            })
            .collect();
        for sp in split(&ship.limits, &pieces) {
            out.push(Box {
                recs: sp
                    .orders
                    .iter()
                    .filter_map(|i| recs.get(*i).copied())
                    .collect(),
                reason: sp.reason,
                oversize: sp.oversize,
            });
        }
    }
    out.retain(|b| !b.recs.is_empty());
    out
}

struct Built {
    doc: WaveDoc,
    sku_qty: Vec<(String, u32)>,
    orders: Vec<(String, String, String, String)>,
    parcels: Vec<(String, String)>,
    shipment: Option<ShipmentRef>,
}

/// The shipment a wave's parcels join (one carrier, one pickup).
pub struct ShipmentRef {
    pub id: String,
    pub carrier: String,
    pub service: String,
}

fn parcel_order(r: &PendingRecord) -> ParcelOrder {
    ParcelOrder {
        order_id: r.plan.id.order_id.clone(),
        session: r.plan.session.clone(),
        cod_amount: r.cod_amount,
        weight_g: r.plan.weight_g,
        deadline: Some(r.plan.deadline),
        lines: r
            .plan
            .lines
            .iter()
            .map(|l| {
                let info = r.items.iter().find(|i| i.sku == l.sku);
                ParcelItem {
                    sku: l.sku.clone(),
                    name: l.name.clone(),
                    qty: l.qty,
                    unit_price: info.map(|i| i.unit_price).unwrap_or_default(),
                    weight_g: info.map(|i| i.weight_g).unwrap_or(0),
                }
            })
            .collect(),
    }
}

#[allow(clippy::too_many_arguments)]
fn build(
    site: &str,
    ship: Option<&ShipCtx>,
    wave_id: &str,
    first_parcel: u64,
    date: chrono::NaiveDate,
    wave: &WavePlan,
    boxes: &[Box<'_>],
    now: DateTime<Utc>,
) -> Built {
    let shipment = ship.map(|s| ShipmentRef {
        id: shipment_id(site, wave.pickup_at, &s.carrier, &s.service),
        carrier: s.carrier.clone(),
        service: s.service.clone(),
    });
    let mut orders = Vec::new();
    let mut parcels = Vec::new();
    let mut parcel_ids = Vec::new();
    for (n, b) in boxes.iter().enumerate() {
        let parcel_id = make_id('P', site, date, first_parcel + n as u64);
        let Some(first) = b.recs.first() else {
            continue;
        };
        let doc = ParcelDoc {
            parcel_id: parcel_id.clone(),
            wave_id: wave_id.to_owned(),
            site: site.to_owned(),
            seller: first.plan.id.seller.clone(),
            buyer_key: first.plan.buyer_key.clone(),
            first_name: first.first_name.clone(),
            phone_masked: first.phone_masked.clone(),
            province: first.province.clone(),
            ward: first.ward.clone(),
            pickup_at: wave.pickup_at,
            orders: b.recs.iter().map(|r| parcel_order(r)).collect(),
            carrier: ship.map(|s| s.carrier.clone()),
            service: ship.map(|s| s.service.clone()),
            shipment_id: shipment.as_ref().map(|s| s.id.clone()),
            tare_g: ship.map(|s| s.limits.tare_g).unwrap_or(0),
            split_reason: b.reason.clone(),
            oversize: b.oversize,
        };
        for r in &b.recs {
            orders.push((
                r.plan.id.seller.clone(),
                r.plan.id.order_id.clone(),
                r.plan.session.clone(),
                parcel_id.clone(),
            ));
        }
        parcels.push((
            parcel_id.clone(),
            serde_json::to_string(&doc).unwrap_or_default(),
        ));
        parcel_ids.push(parcel_id);
    }
    let mut sku_qty: BTreeMap<String, u32> = BTreeMap::new();
    for line in &wave.pick_list {
        *sku_qty.entry(line.sku.clone()).or_default() += line.qty;
    }
    Built {
        doc: WaveDoc {
            wave_id: wave_id.to_owned(),
            site: site.to_owned(),
            date,
            released_at: now,
            pickup_at: wave.pickup_at,
            release_reason: format!("{:?}", wave.release_reason),
            pick_list: wave
                .pick_list
                .iter()
                .map(|l| PickLineDoc {
                    sku: l.sku.clone(),
                    name: l.name.clone(),
                    bin: l.bin.clone(),
                })
                .collect(),
            parcel_ids,
            orders: wave.orders.clone(),
            splits: wave
                .splits
                .iter()
                .map(|s| format!("{}: {}", s.buyer_key, s.reason))
                .collect(),
        },
        sku_qty: sku_qty.into_iter().collect(),
        orders,
        parcels,
        shipment,
    }
}
