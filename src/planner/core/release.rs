//! Buyer groups, release decisions and the assembled [`Plan`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::build::{self, Piece};
use super::schedule::{self, Loads};
use super::{waves, EndedSessions, Plan, PlanConfig, PlanOrder, ReleaseReason};

/// A buyer's pending orders that ship at one pickup: the whole buyer group, or (when
/// some orders cannot make the group's earliest pickup) the part that ships at this one.
#[derive(Debug)]
pub(crate) struct Unit<'a> {
    pub seller: &'a str,
    pub buyer: &'a str,
    pub pickup: DateTime<Utc>,
    /// Sorted by (received_at, id).
    pub orders: Vec<&'a PlanOrder>,
    pub deadline: DateTime<Utc>,
    pub first_received: DateTime<Utc>,
    pub last_received: DateTime<Utc>,
    pub minutes: f64,
    /// The buyer's pending orders were split over several pickups.
    pub split_deadline: bool,
    /// Why it is released now; `None`: it waits.
    pub reason: Option<ReleaseReason>,
}

impl<'a> Unit<'a> {
    fn new(
        cfg: &PlanConfig,
        pickup: DateTime<Utc>,
        mut orders: Vec<&'a PlanOrder>,
    ) -> Option<Self> {
        orders.sort_by(|a, b| (a.received_at, &a.id).cmp(&(b.received_at, &b.id)));
        let first = *orders.first()?;
        let mut u = Unit {
            seller: &first.id.seller,
            buyer: &first.buyer_key,
            pickup,
            deadline: first.deadline,
            first_received: first.received_at,
            last_received: first.received_at,
            minutes: 0.0,
            split_deadline: false,
            reason: None,
            orders: Vec::new(),
        };
        for o in &orders {
            u.deadline = u.deadline.min(o.deadline);
            u.last_received = u.last_received.max(o.received_at);
            u.minutes += cfg.order_minutes(o);
        }
        u.orders = orders;
        Some(u)
    }

    pub(crate) fn len(&self) -> usize {
        self.orders.len()
    }

    pub(crate) fn piece(&self, reason: ReleaseReason) -> Piece<'a> {
        Piece {
            seller: self.seller,
            buyer: self.buyer,
            orders: self.orders.clone(),
            reason,
            deadline: self.deadline,
            split_deadline: self.split_deadline,
            split_over_wave: false,
        }
    }
}

/// Groups orders by buyer (seller, buyer_key) and splits a group by pickup where its later
/// orders can no longer be packed for its earliest pickup.
pub(crate) fn units<'a>(
    cfg: &PlanConfig,
    orders: &[&'a PlanOrder],
    now: DateTime<Utc>,
) -> Vec<Unit<'a>> {
    let mut v: Vec<&'a PlanOrder> = orders.to_vec();
    v.sort_by(|a, b| {
        (
            &a.id.seller,
            &a.buyer_key,
            a.pickup_at,
            a.received_at,
            &a.id,
        )
            .cmp(&(
                &b.id.seller,
                &b.buyer_key,
                b.pickup_at,
                b.received_at,
                &b.id,
            ))
    });
    let ready = now
        .checked_add_signed(cfg.min_pack)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let mut out = Vec::new();
    let mut rest = v.as_slice();
    while let Some(first) = rest.first() {
        let same = rest
            .iter()
            .take_while(|o| o.id.seller == first.id.seller && o.buyer_key == first.buyer_key)
            .count();
        let (group, tail) = rest.split_at(same);
        rest = tail;
        let before = out.len();
        let mut g = group;
        while let Some(head) = g.first() {
            let pickup = head.pickup_at;
            // Later orders join while they can still be packed for this pickup.
            let take = if ready <= pickup {
                g.len()
            } else {
                g.iter().take_while(|o| o.pickup_at == pickup).count()
            };
            let (unit, next) = g.split_at(take.max(1));
            g = next;
            if let Some(u) = Unit::new(cfg, pickup, unit.to_vec()) {
                out.push(u);
            }
        }
        if out.len() - before > 1 {
            for u in &mut out[before..] {
                u.split_deadline = true;
            }
        }
    }
    out
}

fn decide(
    cfg: &PlanConfig,
    u: &Unit<'_>,
    under_pressure: bool,
    ended: &EndedSessions<'_>,
    now: DateTime<Utc>,
) -> Option<ReleaseReason> {
    if under_pressure || u.deadline < u.pickup {
        Some(ReleaseReason::DeadlinePressure)
    } else if u.orders.iter().any(|o| ended.has_ended(o)) {
        Some(ReleaseReason::SessionEnded)
    } else if now - u.first_received >= cfg.max_hold {
        Some(ReleaseReason::MaxHold)
    } else if u.len() >= cfg.max_orders_per_parcel.max(1) {
        Some(ReleaseReason::ParcelFull)
    } else if now - u.last_received >= cfg.combine_window {
        Some(ReleaseReason::CombineWindowElapsed)
    } else {
        None
    }
}

pub(crate) fn plan_released(
    cfg: &PlanConfig,
    orders: &[&PlanOrder],
    ended: &EndedSessions<'_>,
    now: DateTime<Utc>,
) -> Plan {
    let mut units = units(cfg, orders, now);
    let mut loads = Loads::default();
    for u in &units {
        loads.add(u.pickup, u.len(), u.minutes);
    }
    let forecast = schedule::forecast(cfg, &loads, now);

    // Per pickup: the units released now.
    let mut pools: BTreeMap<DateTime<Utc>, Vec<usize>> = BTreeMap::new();
    for (i, u) in units.iter_mut().enumerate() {
        let pressure = schedule::entry(&forecast, u.pickup).is_some_and(|f| f.under_pressure);
        u.reason = decide(cfg, u, pressure, ended, now);
        if u.reason.is_some() {
            pools.entry(u.pickup).or_default().push(i);
        }
    }

    let mut released = vec![false; units.len()];
    let mut waves_out = Vec::new();
    for (pickup, idx) in pools {
        let urgent = idx
            .iter()
            .any(|&i| units[i].reason.is_some_and(ReleaseReason::is_urgent));
        let count: usize = idx.iter().map(|&i| units[i].len()).sum();
        if !urgent && count < cfg.wave_min {
            continue;
        }
        let pool: Vec<&Unit<'_>> = idx.iter().map(|&i| &units[i]).collect();
        let mut pickup_waves: Vec<_> = waves::cut(cfg, &pool)
            .into_iter()
            .map(|pieces| build::wave(cfg, pickup, &pieces))
            .collect();
        pickup_waves.sort_by(|a, b| (a.deadline, &a.orders).cmp(&(b.deadline, &b.orders)));
        waves_out.extend(pickup_waves);
        for &i in &idx {
            released[i] = true;
        }
    }

    let mut held = Vec::new();
    let mut at_risk = Vec::new();
    for (u, rel) in units.iter().zip(&released) {
        for o in &u.orders {
            if !rel {
                held.push(o.id.clone());
            }
            if let Some(r) = schedule::at_risk(o, u.pickup, &forecast) {
                at_risk.push(r);
            }
        }
    }
    held.sort();
    schedule::sort_at_risk(&mut at_risk);

    Plan {
        waves: waves_out,
        held,
        at_risk,
        forecast,
    }
}
