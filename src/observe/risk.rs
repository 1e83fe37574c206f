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

/// A parcel's badges on the packing floor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParcelRisk {
    /// Not packed, and: overdue, or a pickup that misses an order's deadline (the
    /// planner's rule), or listed at risk in the planner's outlook.
    pub at_risk: bool,
    /// Not packed, and its pickup time or an order's deadline has passed.
    pub overdue: bool,
}

/// The badges of a parcel: `unpacked` (its floor status is still open), its `pickup`, the
/// earliest `deadline` of its orders (if known), whether the outlook lists one of them.
pub fn parcel_risk(
    now: DateTime<Utc>,
    unpacked: bool,
    pickup: DateTime<Utc>,
    deadline: Option<DateTime<Utc>>,
    listed: bool,
) -> ParcelRisk {
    if !unpacked {
        return ParcelRisk::default();
    }
    let overdue = now >= pickup || deadline.is_some_and(|d| now >= d);
    let misses = deadline.is_some_and(|d| crate::planner::core::pickup_misses_deadline(d, pickup));
    ParcelRisk {
        at_risk: overdue || misses || listed,
        overdue,
    }
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
    fn parcel_badges() {
        let now = Utc::now();
        let h = Duration::hours(1);
        let r = |unpacked, pickup, deadline, listed| {
            parcel_risk(now, unpacked, pickup, deadline, listed)
        };
        assert_eq!(
            r(true, now + h, Some(now + h * 3), false),
            ParcelRisk::default()
        );
        let late = r(true, now - h, Some(now + h * 3), false);
        assert!(late.overdue && late.at_risk);
        let past_deadline = r(true, now + h, Some(now - h), false);
        assert!(past_deadline.overdue && past_deadline.at_risk);
        let misses = r(true, now + h * 2, Some(now + h), false);
        assert!(misses.at_risk && !misses.overdue);
        assert!(r(true, now + h, None, true).at_risk);
        assert_eq!(
            r(false, now - h, Some(now - h), true),
            ParcelRisk::default()
        );
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
