//! Turning a computed plan into committed waves: ids, wave and parcel documents, one
//! atomic script per wave.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::core::{Plan, WavePlan};
use super::records::{
    make_id, ParcelDoc, ParcelItem, ParcelOrder, PendingRecord, PickLineDoc, WaveDoc,
};
use super::shell::CommitStop;
use crate::domain::schedule::business_date;
use crate::store::keys::pending_field;
use crate::store::waves::{CommitOutcome, WaveCommit};
use crate::store::Store;

/// Commits every wave of `plan`; returns the pending fields that left pending. Stops at
/// the first stale or fenced commit (the caller reloads or steps down).
pub async fn commit_plan(
    store: &Store,
    site: &str,
    carrier: Option<&(String, String)>,
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
        let first_parcel = store
            .next_number(site, "parcel", date, wave.parcels.len() as u64)
            .await
            .map_err(CommitStop::Store)?;
        let wave_id = make_id('W', site, date, n_wave);
        let built = build(
            site,
            carrier,
            &wave_id,
            first_parcel,
            date,
            &wave,
            pending,
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

struct Built {
    doc: WaveDoc,
    sku_qty: Vec<(String, u32)>,
    orders: Vec<(String, String, String, String)>,
    parcels: Vec<(String, String)>,
}

#[allow(clippy::too_many_arguments)]
fn build(
    site: &str,
    carrier: Option<&(String, String)>,
    wave_id: &str,
    first_parcel: u64,
    date: chrono::NaiveDate,
    wave: &WavePlan,
    pending: &HashMap<String, PendingRecord>,
    now: DateTime<Utc>,
) -> Built {
    let mut orders = Vec::new();
    let mut parcels = Vec::new();
    let mut parcel_ids = Vec::new();
    for (n, p) in wave.parcels.iter().enumerate() {
        let parcel_id = make_id('P', site, date, first_parcel + n as u64);
        let recs: Vec<&PendingRecord> = p
            .orders
            .iter()
            .filter_map(|o| pending.get(&pending_field(&o.seller, &o.order_id)))
            .collect();
        let Some(first) = recs.first() else { continue };
        let doc = ParcelDoc {
            parcel_id: parcel_id.clone(),
            wave_id: wave_id.to_owned(),
            site: site.to_owned(),
            seller: p.seller.clone(),
            buyer_key: p.buyer_key.clone(),
            first_name: first.first_name.clone(),
            phone_masked: first.phone_masked.clone(),
            province: first.province.clone(),
            ward: first.ward.clone(),
            pickup_at: wave.pickup_at,
            orders: recs
                .iter()
                .map(|r| ParcelOrder {
                    order_id: r.plan.id.order_id.clone(),
                    session: r.plan.session.clone(),
                    cod_amount: r.cod_amount,
                    weight_g: r.plan.weight_g,
                    lines: r
                        .plan
                        .lines
                        .iter()
                        .map(|l| ParcelItem {
                            sku: l.sku.clone(),
                            name: l.name.clone(),
                            qty: l.qty,
                        })
                        .collect(),
                })
                .collect(),
            carrier: carrier.map(|c| c.0.clone()),
            service: carrier.map(|c| c.1.clone()),
        };
        for r in &recs {
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
    }
}
