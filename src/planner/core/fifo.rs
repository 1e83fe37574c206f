//! The plain FIFO baseline: pending orders in arrival order, cut into waves of `wave_max`.
//! A full batch is released at once; the last, partial batch waits until one of its orders
//! is urgent (session ended, held `max_hold`, deadline pressure). A wave ships at its
//! earliest order's pickup. Same-buyer orders are combined only when they happen to fall
//! in the same wave. Used by the benchmark and tests as the thing to beat.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::build::{self, wave_cap};
use super::schedule::{self, Loads};
use super::{canonical, EndedSessions, Plan, PlanConfig, PlanOrder, ReleaseReason};

pub fn plan_fifo(
    cfg: &PlanConfig,
    pending: &[PlanOrder],
    ended: &HashSet<(String, String)>,
    now: DateTime<Utc>,
) -> Plan {
    let ended = EndedSessions::new(ended);
    let mut orders = canonical(pending);
    orders.sort_by(|a, b| (a.received_at, &a.id).cmp(&(b.received_at, &b.id)));

    let mut loads = Loads::default();
    for o in &orders {
        loads.add(o.pickup_at, 1, cfg.order_minutes(o));
    }
    let forecast = schedule::forecast(cfg, &loads, now);

    let mut waves = Vec::new();
    let mut held = Vec::new();
    let mut at_risk = Vec::new();
    let max = wave_cap(cfg);
    for chunk in orders.chunks(max) {
        let reason = if chunk.len() == max {
            Some(ReleaseReason::WaveFull)
        } else {
            urgent(cfg, chunk, &forecast, &ended, now)
        };
        let pickup = chunk.iter().map(|o| o.pickup_at).min().unwrap_or(now);
        match reason {
            Some(reason) => {
                let pieces = build::pieces_by_buyer(chunk, reason);
                waves.push(build::wave(cfg, pickup, &pieces));
                at_risk.extend(
                    chunk
                        .iter()
                        .filter_map(|o| schedule::at_risk(o, pickup, &forecast)),
                );
            }
            None => {
                held.extend(chunk.iter().map(|o| o.id.clone()));
                at_risk.extend(
                    chunk
                        .iter()
                        .filter_map(|o| schedule::at_risk(o, o.pickup_at, &forecast)),
                );
            }
        }
    }
    held.sort();
    schedule::sort_at_risk(&mut at_risk);
    Plan {
        waves,
        held,
        at_risk,
        forecast,
    }
}

fn urgent(
    cfg: &PlanConfig,
    chunk: &[&PlanOrder],
    forecast: &[super::PickupForecast],
    ended: &EndedSessions<'_>,
    now: DateTime<Utc>,
) -> Option<ReleaseReason> {
    if chunk.iter().any(|o| {
        o.deadline < o.pickup_at
            || schedule::entry(forecast, o.pickup_at).is_some_and(|f| f.under_pressure)
    }) {
        Some(ReleaseReason::DeadlinePressure)
    } else if chunk.iter().any(|o| ended.has_ended(o)) {
        Some(ReleaseReason::SessionEnded)
    } else if chunk.iter().any(|o| now - o.received_at >= cfg.max_hold) {
        Some(ReleaseReason::MaxHold)
    } else {
        None
    }
}
