//! The day report of today's and tomorrow's shipments (business days by pickup, as
//! `GET /v1/sites/{site}/report` computes it): shipments, parcels, orders, cost, savings
//! from consolidation, and COD per seller. Labels: site, day (today | tomorrow), seller.

use crate::metric_names as names;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Duration, Utc};
use rust_decimal::prelude::ToPrimitive;

use crate::domain::money::Vnd;
use crate::domain::schedule::business_date;
use crate::domain::status::parcel_ships;
use crate::shipping::consolidate::{day_report, DayReport, ShipmentPlan};
use crate::shipping::service::load_shipment;
use crate::state::AppState;
use crate::store::StoreError;

/// The priced plan of each shipment of the last pass, with a fingerprint of what it was
/// priced from (carrier, service, pickup, and per parcel its id, version and whether it
/// ships): a shipment whose fingerprint is unchanged is not read and priced again. A
/// parcel's document only changes with its version (a repack), so the fingerprint reads
/// three small fields per parcel instead of every document. Holds the shipments of the
/// last pass only.
#[derive(Debug, Default)]
pub struct PlanCache(HashMap<(String, String), (u64, ShipmentPlan)>);

pub async fn refresh(
    state: &AppState,
    site: &str,
    now: DateTime<Utc>,
    cache: &mut PlanCache,
) -> Result<(), StoreError> {
    let today = business_date(now);
    let mut seen = HashSet::new();
    for (day, date) in [("today", today), ("tomorrow", today + Duration::days(1))] {
        let mut plans = Vec::new();
        for id in state.store.shipment_ids_of_day(site, date).await? {
            let print = fingerprint(state, site, &id).await?;
            let key = (site.to_owned(), id);
            match cache.0.get(&key) {
                Some((p, plan)) if *p == print => plans.push(plan.clone()),
                _ => {
                    if let Some(sh) = load_shipment(&state.shipping, site, &key.1).await? {
                        cache.0.insert(key.clone(), (print, sh.plan.clone()));
                        plans.push(sh.plan);
                    }
                }
            }
            seen.insert(key);
        }
        publish(state, site, day, &day_report(&plans));
    }
    cache.0.retain(|k, _| k.0 != site || seen.contains(k));
    Ok(())
}

/// What a shipment's price depends on, hashed.
async fn fingerprint(state: &AppState, site: &str, id: &str) -> Result<u64, StoreError> {
    let head = state.store.shipment_head(site, id).await?;
    let ids = state.store.shipment_parcel_ids(site, id).await?;
    let rows = state
        .store
        .parcel_fields(site, &ids, &["ver", "status", "pull"])
        .await?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for field in ["carrier", "service", "pickup_ms"] {
        head.get(field).hash(&mut h);
    }
    for (id, row) in ids.iter().zip(&rows) {
        let status = row.get(1).and_then(|s| s.as_deref()?.parse().ok());
        let pulled = row.get(2).is_some_and(Option::is_some);
        (id, row.first(), parcel_ships(status, pulled)).hash(&mut h);
    }
    Ok(h.finish())
}

fn vnd(v: Vnd) -> f64 {
    v.0.to_f64().unwrap_or(0.0)
}

fn publish(state: &AppState, site: &str, day: &'static str, r: &DayReport) {
    use metrics::gauge;
    let s = || site.to_owned();
    gauge!(names::DAY_SHIPMENTS, "site" => s(), "day" => day).set(r.shipments as f64);
    gauge!(names::DAY_PARCELS, "site" => s(), "day" => day).set(r.parcels as f64);
    gauge!(names::DAY_ORDERS, "site" => s(), "day" => day).set(r.orders as f64);
    gauge!(names::SHIPPING_COST_VND, "site" => s(), "day" => day).set(vnd(r.cost));
    gauge!(names::CONSOLIDATION_SAVINGS_VND, "site" => s(), "day" => day).set(vnd(r.savings));
    // Every configured seller of the site, so a seller without COD shows 0.
    for seller in state.config.sellers.iter().filter(|x| x.site == site) {
        let cod = r.cod_by_seller.get(&seller.id).copied().unwrap_or_default();
        gauge!(names::DAY_COD_VND, "site" => s(), "day" => day, "seller" => seller.id.clone())
            .set(vnd(cod));
    }
}
