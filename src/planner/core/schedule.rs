//! Capacity per pickup: the packing work due, the lead time it needs (worked backwards
//! from the last pickup), deadline pressure, the forecast and the at-risk orders.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{AtRisk, AtRiskReason, OrderRef, PickupForecast, PlanConfig, PlanOrder};

/// Work due at each pickup: orders and packing minutes.
#[derive(Debug, Default)]
pub(crate) struct Loads(BTreeMap<DateTime<Utc>, (usize, f64)>);

impl Loads {
    pub(crate) fn add(&mut self, pickup: DateTime<Utc>, orders: usize, minutes: f64) {
        let e = self.0.entry(pickup).or_insert((0, 0.0));
        e.0 += orders;
        e.1 += minutes;
    }
}

/// Minutes from `now` to `t` (negative once `t` has passed).
pub(crate) fn minutes_between(now: DateTime<Utc>, t: DateTime<Utc>) -> f64 {
    (t - now).num_milliseconds() as f64 / 60_000.0
}

/// One forecast entry per pickup with work, earliest first.
///
/// Deadline pressure works backwards from the last pickup: the work for pickup k must be
/// finished by pickup k and before the work of later pickups has to start, so its latest
/// start is `min(pickup_k, start_{k+1}) − minutes_k / packers`. A pickup is under pressure
/// once `now ≥ latest start − safety_margin`: with a single pickup that is the issue's
/// `pickup − lead − safety_margin`, and with several it is never later.
pub(crate) fn forecast(cfg: &PlanConfig, loads: &Loads, now: DateTime<Utc>) -> Vec<PickupForecast> {
    let packers = f64::from(cfg.packers.max(1));
    let safety = cfg.safety_margin.num_milliseconds() as f64 / 60_000.0;
    let entries: Vec<(DateTime<Utc>, usize, f64)> =
        loads.0.iter().map(|(p, (n, m))| (*p, *n, *m)).collect();

    let mut latest_start = vec![0.0f64; entries.len()];
    let mut finish_by = f64::INFINITY;
    for (k, (pickup, _, minutes)) in entries.iter().enumerate().rev() {
        finish_by = finish_by.min(minutes_between(now, *pickup));
        let start = finish_by - minutes / packers;
        latest_start[k] = start;
        finish_by = start;
    }

    let mut through = 0.0f64;
    let mut out = Vec::with_capacity(entries.len());
    for (k, (pickup, orders, minutes)) in entries.into_iter().enumerate() {
        let left = minutes_between(now, pickup);
        let due_through = if left > 0.0 {
            through += minutes;
            through
        } else {
            minutes
        };
        let needed = if due_through <= 0.0 {
            0.0
        } else {
            (due_through / left.max(1.0)).ceil()
        };
        out.push(PickupForecast {
            pickup_at: pickup,
            orders,
            minutes_due: minutes,
            minutes_due_through: due_through,
            minutes_available: packers * left.max(0.0),
            packers_needed: if needed >= f64::from(u32::MAX) {
                u32::MAX
            } else {
                needed as u32
            },
            under_pressure: latest_start[k] <= safety,
        });
    }
    out
}

/// The smallest non-urgent release for `pickup` (orders): a release smaller than this
/// waits. Walking per order falls with wave size, so while waiting costs nothing a
/// release waits to fill a whole wave (`wave_max`): that is when, even after holding
/// for `max_hold` and then packing a whole wave more than is pending, the pickup would
/// still be met with the safety margin. Otherwise the floor is fed as it goes, in waves
/// of what the packers pack in twice `max_hold` (never under `wave_min`). Without
/// `fill_waves`: `wave_min`.
pub(crate) fn release_floor(
    cfg: &PlanConfig,
    forecast: &[PickupForecast],
    pickup: DateTime<Utc>,
    now: DateTime<Utc>,
) -> usize {
    let max = cfg.wave_max.max(1);
    let min = cfg.wave_min.clamp(1, max);
    if !cfg.fill_waves {
        return min;
    }
    let Some(f) = entry(forecast, pickup) else {
        return min;
    };
    let packers = f64::from(cfg.packers.max(1));
    let per_order = if f.orders > 0 {
        f.minutes_due / f.orders as f64
    } else {
        0.0
    };
    let hold = cfg.max_hold.num_milliseconds() as f64 / 60_000.0;
    let safety = cfg.safety_margin.num_milliseconds() as f64 / 60_000.0;
    let left = minutes_between(now, pickup);
    let full_wave = max as f64 * per_order;
    if hold + (f.minutes_due_through + full_wave) / packers + safety <= left {
        return max;
    }
    if per_order <= 0.0 {
        return min;
    }
    let fed = (2.0 * packers * hold / per_order).floor();
    if fed >= max as f64 {
        max
    } else {
        (fed as usize).clamp(min, max)
    }
}

/// Looks up a pickup's forecast entry.
pub(crate) fn entry(forecast: &[PickupForecast], pickup: DateTime<Utc>) -> Option<&PickupForecast> {
    forecast
        .binary_search_by(|f| f.pickup_at.cmp(&pickup))
        .ok()
        .and_then(|i| forecast.get(i))
}

pub(crate) fn short_of_capacity(f: &PickupForecast) -> bool {
    f.minutes_due_through > f.minutes_available + 1e-9
}

/// Why an order planned for `pickup` may miss its deadline, if it may.
pub(crate) fn risk_of(
    order: &PlanOrder,
    pickup: DateTime<Utc>,
    forecast: &[PickupForecast],
) -> Option<AtRiskReason> {
    risk_of_at(order.deadline, pickup, forecast)
}

pub(crate) fn risk_of_at(
    deadline: DateTime<Utc>,
    pickup: DateTime<Utc>,
    forecast: &[PickupForecast],
) -> Option<AtRiskReason> {
    if pickup > deadline {
        Some(AtRiskReason::DeadlineBeforePickup)
    } else if entry(forecast, pickup).is_some_and(short_of_capacity) {
        Some(AtRiskReason::NotEnoughCapacity)
    } else {
        None
    }
}

/// The at-risk entries of (canonical index, planned pickup) pairs, sorted by pickup,
/// deadline and id.
pub(crate) fn at_risk_list<'a>(
    all: &[&'a PlanOrder],
    planned: Vec<(usize, DateTime<Utc>)>,
    forecast: &[PickupForecast],
) -> Vec<AtRisk<&'a OrderRef, &'a str>> {
    let mut v: Vec<(DateTime<Utc>, DateTime<Utc>, usize, AtRiskReason)> = planned
        .into_iter()
        .filter_map(|(i, pickup)| {
            let o = all[i];
            risk_of(o, pickup, forecast).map(|r| (pickup, o.deadline, i, r))
        })
        .collect();
    v.sort_unstable_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| all[a.2].id.cmp(&all[b.2].id))
    });
    v.into_iter()
        .map(|(pickup, deadline, i, reason)| AtRisk {
            id: &all[i].id,
            session: all[i].session.as_str(),
            reason,
            pickup_at: pickup,
            deadline,
        })
        .collect()
}
