//! The day report of today's and tomorrow's shipments (business days by pickup, as
//! `GET /v1/sites/{site}/report` computes it): shipments, parcels, orders, cost, savings
//! from consolidation, and COD per seller. Labels: site, day (today | tomorrow), seller.

use crate::metric_names as names;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::prelude::ToPrimitive;

use crate::domain::money::Vnd;
use crate::domain::schedule::business_date;
use crate::shipping::consolidate::{day_report, DayReport};
use crate::shipping::service::load_shipment;
use crate::state::AppState;
use crate::store::StoreError;

pub async fn refresh(state: &AppState, site: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    let today = business_date(now);
    for (day, date) in [("today", today), ("tomorrow", today + Duration::days(1))] {
        let mut plans = Vec::new();
        for id in state.store.shipment_ids_of_day(site, date).await? {
            if let Some(sh) = load_shipment(&state.shipping, site, &id).await? {
                plans.push(sh.plan);
            }
        }
        publish(state, site, day, &day_report(&plans));
    }
    Ok(())
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
