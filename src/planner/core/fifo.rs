//! The plain FIFO baseline: pending orders in arrival order, cut into waves of `wave_max`.
//! A full batch is released at once; the last, partial batch waits until one of its orders
//! is urgent (session ended, held `max_hold`, deadline pressure). A wave ships at its
//! earliest order's pickup. Same-buyer orders are combined only when they happen to fall
//! in the same wave. Used by the benchmark and tests as the thing to beat.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::build::{self, wave_cap, Piece};
use super::catalog::Table;
use super::fx::FxMap;
use super::schedule::{self, Loads};
use super::{canonical, EndedSessions, Plan, PlanConfig, PlanOrder, ReleaseReason};

pub fn plan_fifo<'a>(
    cfg: &PlanConfig,
    pending: &'a [PlanOrder],
    ended: &HashSet<(String, String)>,
    now: DateTime<Utc>,
) -> Plan<'a> {
    let ended = EndedSessions::new(ended);
    let all = canonical(pending);
    // Canonical order is arrival order.
    let arrival: Vec<usize> = (0..all.len()).collect();

    let mut loads = Loads::default();
    for o in &all {
        loads.add(o.pickup_at, 1, cfg.order_minutes(o));
    }
    let forecast = schedule::forecast(cfg, &loads, now);

    let mut waves = Vec::new();
    let mut held_ix = Vec::new();
    let mut risky = Vec::new();
    let table = Table::new(cfg, &all, &ended);
    let mut scratch = build::Scratch::new(&table);
    let max = wave_cap(cfg);
    for chunk in arrival.chunks(max) {
        let reason = if chunk.len() == max {
            Some(ReleaseReason::WaveFull)
        } else {
            urgent(cfg, &all, chunk, &forecast, &ended, now)
        };
        let pickup = chunk.iter().map(|&i| all[i].pickup_at).min().unwrap_or(now);
        match reason {
            Some(reason) => {
                let groups = by_buyer(&all, chunk);
                let pieces: Vec<Piece<'_>> = groups
                    .iter()
                    .map(|g| Piece {
                        orders: g,
                        reason,
                        deadline: g.iter().map(|&i| all[i].deadline).min().unwrap_or(pickup),
                        split_deadline: false,
                        split_over_wave: false,
                    })
                    .collect();
                waves.push(build::wave(cfg, &all, &mut scratch, pickup, &pieces));
                risky.extend(chunk.iter().map(|&i| (i, pickup)));
            }
            None => {
                held_ix.extend_from_slice(chunk);
                risky.extend(chunk.iter().map(|&i| (i, all[i].pickup_at)));
            }
        }
    }
    let mut held: Vec<_> = held_ix.into_iter().map(|i| all[i].id.clone()).collect();
    held.sort_unstable();
    let at_risk = schedule::at_risk_list(&all, risky, &forecast);
    Plan {
        waves,
        held,
        at_risk,
        forecast,
    }
}

/// A chunk's orders by buyer, buyers in order of their first order in the chunk.
fn by_buyer(all: &[&PlanOrder], chunk: &[usize]) -> Vec<Vec<usize>> {
    let mut group_of: FxMap<(&str, &str), usize> = FxMap::default();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &i in chunk {
        let o = all[i];
        let next = groups.len();
        let g = *group_of
            .entry((o.id.seller.as_str(), o.buyer_key.as_str()))
            .or_insert(next);
        match groups.get_mut(g) {
            Some(v) => v.push(i),
            None => groups.push(vec![i]),
        }
    }
    groups
}

fn urgent(
    cfg: &PlanConfig,
    all: &[&PlanOrder],
    chunk: &[usize],
    forecast: &[super::PickupForecast],
    ended: &EndedSessions<'_>,
    now: DateTime<Utc>,
) -> Option<ReleaseReason> {
    let mut orders = chunk.iter().map(|&i| all[i]);
    if orders.any(|o| {
        o.deadline < o.pickup_at
            || schedule::entry(forecast, o.pickup_at).is_some_and(|f| f.under_pressure)
    }) {
        Some(ReleaseReason::DeadlinePressure)
    } else if chunk.iter().any(|&i| ended.has_ended(all[i])) {
        Some(ReleaseReason::SessionEnded)
    } else if chunk
        .iter()
        .any(|&i| now - all[i].received_at >= cfg.max_hold)
    {
        Some(ReleaseReason::MaxHold)
    } else {
        None
    }
}
