//! The dead-letter backlog, and the orders at risk close to their pickup: the planner's
//! outlook (`lp:{site}:outlook`) lists at-risk orders with their pickup; those whose
//! pickup is within the next hour (or past) and that are not packed yet are counted.

use crate::metric_names as names;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

use crate::domain::status::{OrderStatus, WaveStatus};
use crate::planner::core::AtRisk;
use crate::planner::outlook::Outlook;
use crate::state::AppState;
use crate::store::{OrderData, StoreError};

/// "Soon": the pickup is at most this far ahead.
pub const SOON: Duration = Duration::minutes(60);
/// At-risk orders looked up at most per refresh (a planner that far behind is already
/// alerting; the gauge then shows at least this many).
const MAX_LOOKUPS: usize = 2_000;

pub async fn refresh(state: &AppState, site: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    let dead = state.store.dead_letter_count(site).await?;
    metrics::gauge!(names::DEAD_LETTERS, "site" => site.to_owned()).set(dead as f64);
    let outlook: Option<Outlook> = state
        .store
        .outlook(site)
        .await?
        .and_then(|j| serde_json::from_str(&j).ok());
    let soon = match outlook {
        Some(o) => count_unpacked(state, site, &due_soon(&o.at_risk, now)).await?,
        None => 0,
    };
    metrics::gauge!(names::ORDERS_AT_RISK_SOON, "site" => site.to_owned()).set(soon as f64);
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
    status
        .and_then(|s| s.parse::<OrderStatus>().ok())
        .is_some_and(OrderStatus::is_unpacked)
}

/// At-risk orders listed at most per session (the count stays exact).
const MAX_LISTED: usize = 1_000;
/// Orders (and their waves) read per pipeline.
const CHUNK: usize = 500;

/// A waved, not yet packed order of a session that is at risk.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct WavedAtRisk {
    pub order_id: String,
    /// received | waved | picked
    pub status: String,
    /// `overdue` (its deadline has passed) or `deadline_before_pickup` (its wave's pickup,
    /// or every pickup it could make, is after its deadline).
    pub reason: String,
    pub pickup_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
}

/// Why a waved order is at risk, if it is: overdue, or its pickup is after its deadline
/// (the order's own `at_risk` flag, as `GET /v1/orders/{id}` shows it, counts too).
pub fn waved_risk(
    deadline: DateTime<Utc>,
    pickup: DateTime<Utc>,
    flagged: bool,
    now: DateTime<Utc>,
) -> Option<&'static str> {
    if deadline <= now {
        Some("overdue")
    } else if pickup > deadline || flagged {
        Some("deadline_before_pickup")
    } else {
        None
    }
}

/// The session's orders that are in a wave not done, not packed yet, and at risk
/// ([`waved_risk`]); with the total count.
///
/// Only the orders the session's risk records ([`crate::store::keys::session_risk`]) say are
/// due by `now` are read — those whose deadline has passed or whose wave's pickup was after
/// it when waved — not every wave of the site: the cost follows the session, not the site.
pub async fn session_at_risk(
    state: &AppState,
    site: &str,
    seller: &str,
    label: &str,
    now: DateTime<Utc>,
) -> Result<(usize, Vec<WavedAtRisk>), StoreError> {
    let due = state
        .store
        .session_risk_due(site, seller, label, now.timestamp_millis())
        .await?;
    let mut count = 0;
    let mut listed = Vec::new();
    let mut finished: Vec<&str> = Vec::new();
    for chunk in due.orders.chunks(CHUNK) {
        // Status (and the wave of an order the older sorted set listed) first: packed,
        // shipped and cancelled orders (most of an old session's due orders) cost two small
        // fields, not their documents. An entry kept per wave names its wave itself.
        let chunk_ids: Vec<&str> = chunk.iter().map(|(id, _)| id.as_str()).collect();
        let rows = state
            .store
            .order_status_and_wave(site, seller, &chunk_ids)
            .await?;
        let unpacked_ids: Vec<(&String, String, String, Option<String>)> = chunk
            .iter()
            .zip(rows)
            .filter_map(|((id, entry_wave), (st, wave, parcel))| {
                let status = st.unwrap_or_else(|| OrderStatus::Received.as_str().into());
                let parsed = status.parse::<OrderStatus>().ok();
                if parsed.is_some_and(OrderStatus::is_final) {
                    finished.push(id);
                }
                parsed.is_some_and(OrderStatus::is_unpacked).then_some((
                    id,
                    status,
                    entry_wave.clone().or(wave)?,
                    parcel.filter(|p| !p.is_empty()),
                ))
            })
            .collect();
        let ids: Vec<&str> = unpacked_ids.iter().map(|(id, ..)| id.as_str()).collect();
        let data = state.store.order_data_of(site, seller, &ids).await?;
        // (order id, status, data, wave id, parcel id) of the orders still to be packed.
        let open: Vec<(&String, String, OrderData, String, Option<String>)> = unpacked_ids
            .into_iter()
            .zip(data)
            .filter_map(|((id, status, wave, parcel), data)| {
                let d = serde_json::from_str::<OrderData>(&data?).ok()?;
                (d.session == label).then_some((id, status, d, wave, parcel))
            })
            .collect();
        let mut waves: Vec<String> = open.iter().map(|(.., w, _)| w.clone()).collect();
        waves.sort_unstable();
        waves.dedup();
        let fields = state
            .store
            .wave_fields(site, &waves, &["status", "pickup_ms"])
            .await?;
        let pickup_of: HashMap<&str, DateTime<Utc>> = waves
            .iter()
            .zip(fields)
            .filter_map(|(w, f)| {
                let [status, pickup] = <[Option<String>; 2]>::try_from(f).ok()?;
                if status?.parse::<WaveStatus>().ok() == Some(WaveStatus::Done) {
                    return None;
                }
                let ms = pickup?.parse::<i64>().ok()?;
                Some((w.as_str(), DateTime::from_timestamp_millis(ms)?))
            })
            .collect();
        // Where each ships now: its parcel's pickup, which a hand-over moves on to the next
        // truck when the parcel is left behind (the wave keeps the pickup it was planned for).
        let mut parcels: Vec<String> = open.iter().filter_map(|(.., p)| p.clone()).collect();
        parcels.sort_unstable();
        parcels.dedup();
        let parcel_pickup: HashMap<String, DateTime<Utc>> =
            crate::shipping::service::load_parcels(&state.store, site, &parcels)
                .await?
                .into_iter()
                .map(|p| (p.doc.parcel_id, p.doc.pickup_at))
                .collect();
        for (id, status, d, wave, parcel) in open {
            let Some(wave_pickup) = pickup_of.get(wave.as_str()).copied() else {
                continue;
            };
            let pickup = parcel
                .and_then(|p| parcel_pickup.get(&p).copied())
                .unwrap_or(wave_pickup);
            if let Some(reason) = waved_risk(d.deadline, pickup, d.at_risk, now) {
                count += 1;
                if listed.len() < MAX_LISTED {
                    listed.push(WavedAtRisk {
                        order_id: id.clone(),
                        status,
                        reason: reason.into(),
                        pickup_at: pickup,
                        deadline: d.deadline,
                    });
                }
            }
        }
    }
    // Once, after every chunk. Best effort: a view never fails for its clean-up (the next view
    // prunes again).
    if let Err(e) = state
        .store
        .session_risk_forget(site, seller, label, &due, &finished)
        .await
    {
        tracing::warn!(site, error = %e, "could not prune a session's risk records");
    }
    listed.sort_by(|a, b| (a.deadline, &a.order_id).cmp(&(b.deadline, &b.order_id)));
    Ok((count, listed))
}

/// A parcel's badges on the packing floor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParcelRisk {
    /// Not packed, and: one of its orders is at risk by [`waved_risk`] (overdue, or its
    /// pickup is after its deadline), or the planner's outlook lists one of them, or its
    /// pickup time has passed.
    pub at_risk: bool,
    /// Not packed, and an order's deadline has passed ([`waved_risk`] `overdue`).
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
    let reason = deadline.and_then(|d| waved_risk(d, pickup, false, now));
    ParcelRisk {
        at_risk: reason.is_some() || listed || now >= pickup,
        overdue: reason == Some("overdue"),
    }
}

async fn count_unpacked(
    state: &AppState,
    site: &str,
    orders: &[&AtRisk],
) -> Result<usize, StoreError> {
    let mut n = 0;
    for chunk in orders.chunks(500) {
        let refs: Vec<(&str, &str)> = chunk
            .iter()
            .map(|r| (r.id.seller.as_str(), r.id.order_id.as_str()))
            .collect();
        let st = state.store.order_statuses(site, &refs).await?;
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
            session: "live-1".into(),
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
        let missed_pickup = r(true, now - h, Some(now + h * 3), false);
        assert!(missed_pickup.at_risk && !missed_pickup.overdue);
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
    fn a_waved_order_is_at_risk_when_overdue_or_its_pickup_is_late() {
        let now = Utc::now();
        let h = Duration::hours(1);
        assert_eq!(waved_risk(now - h, now + h, false, now), Some("overdue"));
        assert_eq!(
            waved_risk(now + h, now + h * 2, false, now),
            Some("deadline_before_pickup")
        );
        assert_eq!(
            waved_risk(now + h * 3, now + h, true, now),
            Some("deadline_before_pickup")
        );
        assert_eq!(waved_risk(now + h * 3, now + h, false, now), None);
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
