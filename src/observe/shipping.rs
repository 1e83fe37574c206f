//! The day report of today's and tomorrow's shipments (business days by pickup, as
//! `GET /v1/sites/{site}/report` computes it): shipments, parcels, orders, cost, savings
//! from consolidation, and COD per seller. Labels: site, day (today | tomorrow), seller.

use crate::metric_names as names;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use rust_decimal::prelude::ToPrimitive;

use crate::domain::money::Vnd;
use crate::domain::schedule::business_date;
use crate::domain::status::parcel_ships;
use crate::shipping::consolidate::{day_report, DayReport, ParcelPart, ShipmentPlan};
use crate::shipping::service::{load_parcels, Pricing};
use crate::state::AppState;
use crate::store::StoreError;

/// What the last pass knew of each shipment: its hash's carrier, service and pickup, and
/// per parcel its version, whether it ships and its part of the shipment's price. A pass
/// reads three small fields of every parcel and the document only of a parcel that is new
/// or whose version changed (a parcel's document changes only with its version, e.g. a
/// repack); whether it ships is one of those fields. So a surge's shipments, which change
/// on every pass, are re-priced from the parcels added since the last pass, not re-read.
/// Holds the shipments of the last pass only: a few hundred bytes per parcel.
#[derive(Debug, Default)]
pub struct PlanCache(HashMap<(String, String), Known>);

#[derive(Debug, Default, PartialEq)]
struct Known {
    head: [Option<String>; 3],
    parcels: HashMap<String, KnownParcel>,
}

#[derive(Debug, PartialEq)]
struct KnownParcel {
    ver: Option<String>,
    ships: bool,
    /// Its document was read at this version (a pass whose read failed reads it again).
    read: bool,
    /// None until read, or when it has no known province (left out of the plan).
    part: Option<ParcelPart>,
}

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
            let key = (site.to_owned(), id);
            let known = cache.0.entry(key.clone()).or_default();
            if let Some(plan) = price(state, site, &key.1, known).await? {
                plans.push(plan);
            }
            seen.insert(key);
        }
        publish(state, site, day, &day_report(&plans));
    }
    cache.0.retain(|k, _| k.0 != site || seen.contains(k));
    Ok(())
}

/// Shipment `id`'s plan (without parcel ids), reading only what changed since `known`
/// (which it updates); none when the shipment has no hash.
async fn price(
    state: &AppState,
    site: &str,
    id: &str,
    known: &mut Known,
) -> Result<Option<ShipmentPlan>, StoreError> {
    let head = state.store.shipment_head(site, id).await?;
    if !head.contains_key("status") {
        return Ok(None);
    }
    let ids = state.store.shipment_parcel_ids(site, id).await?;
    let rows = state
        .store
        .parcel_fields(site, &ids, &["ver", "status", "pull"])
        .await?;
    let rows = ids.into_iter().zip(rows).map(|(id, row)| {
        let mut row = row.into_iter();
        let ver = row.next().flatten();
        let status = row.next().flatten().and_then(|s| s.parse().ok());
        let pull = row.next().flatten().is_some();
        (id, ver, parcel_ships(status, pull))
    });
    let to_read = known.update(head_of(&head), rows);
    let pricing = Pricing::of(&state.shipping, site, &head);
    for p in load_parcels(&state.store, site, &to_read).await? {
        if let Some(k) = known.parcels.get_mut(&p.doc.parcel_id) {
            k.part = pricing.part(&p);
        }
    }
    // Read (a parcel without a readable document stays out of the plan until it changes).
    for id in &to_read {
        if let Some(k) = known.parcels.get_mut(id) {
            k.read = true;
        }
    }
    let parts = known.parcels.values().filter(|k| k.ships);
    Ok(Some(pricing.plan(
        site,
        id,
        parts.filter_map(|k| k.part.as_ref()),
    )))
}

/// What the price depends on in a shipment's hash.
fn head_of(head: &HashMap<String, String>) -> [Option<String>; 3] {
    ["carrier", "service", "pickup_ms"].map(|f| head.get(f).cloned())
}

impl Known {
    /// Takes this pass's head and parcels (id, version, ships); returns the parcels whose
    /// document must be read: new ones, those whose version changed or whose last read
    /// failed, every one when the head changed. Parcels no longer in the shipment are
    /// forgotten.
    fn update(
        &mut self,
        head: [Option<String>; 3],
        rows: impl Iterator<Item = (String, Option<String>, bool)>,
    ) -> Vec<String> {
        if self.head != head {
            self.head = head;
            self.parcels.clear();
        }
        let mut before = std::mem::take(&mut self.parcels);
        let mut to_read = Vec::new();
        for (id, ver, ships) in rows {
            let (read, part) = match before.remove(&id) {
                Some(k) if k.read && k.ver == ver => (true, k.part),
                _ => {
                    to_read.push(id.clone());
                    (false, None)
                }
            };
            let k = KnownParcel {
                ver,
                ships,
                read,
                part,
            };
            self.parcels.insert(id, k);
        }
        to_read
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &[(&str, &str, bool)]) -> impl Iterator<Item = (String, Option<String>, bool)> {
        let r: Vec<_> = r
            .iter()
            .map(|&(id, ver, ships)| (id.to_owned(), Some(ver.to_owned()), ships))
            .collect();
        r.into_iter()
    }
    fn head(pickup: &str) -> [Option<String>; 3] {
        [
            Some("viettel-post".into()),
            Some("VCN".into()),
            Some(pickup.into()),
        ]
    }

    #[test]
    fn a_pass_reads_only_new_parcels_and_changed_versions() {
        let mut k = Known::default();
        let first = k.update(head("1"), rows(&[("p1", "1", true), ("p2", "1", true)]));
        assert_eq!(first, ["p1", "p2"]);
        // Pretend both were read.
        for p in k.parcels.values_mut() {
            (p.read, p.part) = (true, Some(part()));
        }

        // p1 stops shipping (its version unchanged), p2 is repacked, p3 is new, nothing
        // else: only p2 and p3 are read, p1 keeps its part with its new flag.
        let next = k.update(
            head("1"),
            rows(&[("p1", "1", false), ("p2", "2", true), ("p3", "1", true)]),
        );
        assert_eq!(next, ["p2", "p3"]);
        assert!(!k.parcels["p1"].ships && k.parcels["p1"].part.is_some());
        assert!(k.parcels["p2"].part.is_none() && k.parcels["p3"].part.is_none());

        // A read that failed (p3 was never marked read) is tried again on the next pass.
        k.parcels.get_mut("p2").unwrap().read = true;
        let again = k.update(
            head("1"),
            rows(&[("p1", "1", false), ("p2", "2", true), ("p3", "1", true)]),
        );
        assert_eq!(again, ["p3"]);

        // A parcel gone from the shipment is forgotten; an unchanged pass reads nothing.
        k.parcels.get_mut("p3").unwrap().read = true;
        let same = k.update(head("1"), rows(&[("p1", "1", false), ("p3", "1", true)]));
        assert!(same.is_empty());
        assert_eq!(k.parcels.len(), 2);

        // A new pickup (or carrier, or service) re-prices every parcel.
        let moved = k.update(head("2"), rows(&[("p1", "1", false), ("p3", "1", true)]));
        assert_eq!(moved, ["p1", "p3"]);
    }

    fn part() -> ParcelPart {
        use crate::domain::address::normalize_province;
        use crate::shipping::consolidate::ShipParcel;
        let hn = normalize_province("Hà Nội").unwrap();
        let p = ShipParcel {
            parcel_id: "p".into(),
            seller: "s".into(),
            carrier: "viettel-post".into(),
            service: "VCN".into(),
            pickup_at: DateTime::<Utc>::default(),
            to: hn,
            weight_g: 500,
            cod: Vnd::from_i64(100_000),
            orders: Vec::new(),
            quote: None,
        };
        ParcelPart::of(None, hn, &p)
    }
}
