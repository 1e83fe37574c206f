//! What the planner sees ahead, published for the API and for metrics: the capacity
//! forecast per pickup and the orders at risk of missing their deadline.

use crate::metric_names as names;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::core::{AtRisk, PickupForecast, Plan, WavePlan};
use crate::domain::schedule::TZ;
use crate::store::Store;

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Outlook {
    pub site: String,
    pub computed_at: Option<DateTime<Utc>>,
    pub pending: usize,
    pub held: usize,
    #[schema(value_type = Vec<Object>)]
    pub forecast: Vec<PickupForecast>,
    #[schema(value_type = Vec<Object>)]
    pub at_risk: Vec<AtRisk>,
}

/// Whether the outlook was written (a failure is retried by the next plan).
pub async fn publish(store: &Store, site: &str, plan: &Plan<'_>, now: DateTime<Utc>) -> bool {
    match prepare(site, plan, now) {
        Some(json) => store.put_outlook(site, &json).await.is_ok(),
        None => false,
    }
}

/// Sets the outlook's gauges and returns the outlook to write (`Store::put_outlook`), so a
/// caller can write it beside other work (the planner, beside the plan's commit).
pub fn prepare(site: &str, plan: &Plan<'_>, now: DateTime<Utc>) -> Option<String> {
    let pending = plan.held.len() + plan.waves.iter().map(WavePlan::order_count).sum::<usize>();
    let outlook = Outlook {
        site: site.to_owned(),
        computed_at: Some(now),
        pending,
        held: plan.held.len(),
        forecast: plan.forecast.clone(),
        at_risk: plan.at_risk.clone(),
    };
    metrics::gauge!(names::ORDERS_AT_RISK, "site" => site.to_owned())
        .set(plan.at_risk.len() as f64);
    for f in &plan.forecast {
        let pickup = f.pickup_at.with_timezone(&TZ).format("%H:%M").to_string();
        metrics::gauge!(names::CAPACITY_PACKERS_NEEDED, "site" => site.to_owned(), "pickup" => pickup.clone())
            .set(f64::from(f.packers_needed));
        metrics::gauge!(names::CAPACITY_MINUTES_DUE, "site" => site.to_owned(), "pickup" => pickup)
            .set(f.minutes_due);
    }
    serde_json::to_string(&outlook).ok()
}
