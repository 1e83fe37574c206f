//! The dead-letter backlog, and the orders at risk close to their pickup: the planner's
//! outlook (`lp:{site}:outlook`) lists at-risk orders with their pickup; those whose
//! pickup is within the next hour (or past) and that are not packed yet are counted.

use chrono::{DateTime, Duration, Utc};

use crate::planner::core::AtRisk;
use crate::planner::outlook::Outlook;
use crate::state::AppState;
use crate::store::{keys, StoreError};

/// "Soon": the pickup is at most this far ahead.
pub const SOON: Duration = Duration::minutes(60);
/// At-risk orders looked up at most per refresh (a planner that far behind is already
/// alerting; the gauge then shows at least this many).
const MAX_LOOKUPS: usize = 2_000;

pub async fn refresh(state: &AppState, site: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    let dead = state.store.dead_letter_count(site).await?;
    metrics::gauge!("livepack_dead_letters", "site" => site.to_owned()).set(dead as f64);
    let outlook: Option<Outlook> = state
        .store
        .outlook(site)
        .await?
        .and_then(|j| serde_json::from_str(&j).ok());
    let soon = match outlook {
        Some(o) => count_unpacked(state, site, &due_soon(&o.at_risk, now)).await?,
        None => 0,
    };
    metrics::gauge!("livepack_orders_at_risk_soon", "site" => site.to_owned()).set(soon as f64);
    Ok(())
}

/// At-risk orders whose pickup is at most [`SOON`] ahead.
pub fn due_soon(at_risk: &[AtRisk], now: DateTime<Utc>) -> Vec<&AtRisk> {
    at_risk
        .iter()
        .filter(|r| r.pickup_at - now <= SOON)
        .take(MAX_LOOKUPS)
        .collect()
}

/// Orders still to be packed: stored, waved or picked (not packed, shipped or cancelled).
pub fn unpacked(status: Option<&str>) -> bool {
    matches!(status, Some("received" | "waved" | "picked"))
}

async fn count_unpacked(
    state: &AppState,
    site: &str,
    orders: &[&AtRisk],
) -> Result<usize, StoreError> {
    let mut n = 0;
    for chunk in orders.chunks(500) {
        let mut pipe = redis::pipe();
        for r in chunk {
            pipe.hget(keys::order(site, &r.id.seller, &r.id.order_id), "st");
        }
        let mut conn = state.store.conn();
        let st: Vec<Option<String>> = state
            .store
            .bounded("at_risk", pipe.query_async(&mut conn))
            .await?;
        n += st.iter().filter(|s| unpacked(s.as_deref())).count();
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::core::{AtRiskReason, OrderRef};

    fn risk(id: &str, pickup_in_min: i64, now: DateTime<Utc>) -> AtRisk {
        AtRisk {
            id: OrderRef {
                seller: "s".into(),
                order_id: id.into(),
            },
            reason: AtRiskReason::NotEnoughCapacity,
            pickup_at: now + Duration::minutes(pickup_in_min),
            deadline: now + Duration::minutes(pickup_in_min),
        }
    }

    #[test]
    fn soon_means_within_the_hour_or_past() {
        let now = Utc::now();
        let all = [risk("a", -10, now), risk("b", 60, now), risk("c", 61, now)];
        let ids: Vec<&str> = due_soon(&all, now)
            .iter()
            .map(|r| r.id.order_id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn packed_and_cancelled_orders_are_no_longer_at_risk() {
        assert!(unpacked(Some("received")) && unpacked(Some("waved")) && unpacked(Some("picked")));
        for done in ["packed", "booked", "handed_over", "cancelled"] {
            assert!(!unpacked(Some(done)));
        }
        assert!(!unpacked(None));
    }
}
