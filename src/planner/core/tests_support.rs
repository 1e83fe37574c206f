//! Fixtures and the invariant checker shared by the planner tests.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use super::*;
use crate::domain::schedule::{local_instant, SiteSchedule};

pub fn vn(date: (i32, u32, u32), h: u32, m: u32) -> DateTime<Utc> {
    local_instant(
        NaiveDate::from_ymd_opt(date.0, date.1, date.2).expect("date"),
        NaiveTime::from_hms_opt(h, m, 0).expect("time"),
    )
}

/// Saturday 21 November 2026.
pub const SAT: (i32, u32, u32) = (2026, 11, 21);
pub const SUN: (i32, u32, u32) = (2026, 11, 22);

pub fn site_schedule(sla_hours: u32) -> SiteSchedule {
    SiteSchedule {
        pickups: vec![
            NaiveTime::from_hms_opt(11, 0, 0).expect("time"),
            NaiveTime::from_hms_opt(17, 0, 0).expect("time"),
        ],
        sla_hours,
        min_pack_minutes: 30,
        same_day_cutoff: None,
    }
}

pub fn cfg() -> PlanConfig {
    PlanConfig {
        packers: 4,
        minutes_per_order: 1.5,
        minutes_per_line: 0.5,
        wave_min: 20,
        fill_waves: true,
        wave_max: 200,
        combine_window: Duration::seconds(300),
        max_hold: Duration::seconds(1800),
        max_orders_per_parcel: 20,
        safety_margin: Duration::minutes(10),
        min_pack: Duration::minutes(30),
        bins: BTreeMap::from([
            ("HONEY-500".to_owned(), "A-01".to_owned()),
            ("TEA-100".to_owned(), "A-02".to_owned()),
            ("RICE-5KG".to_owned(), "C-10".to_owned()),
        ]),
    }
}

/// An order with one line per (sku, qty), due by the site schedule.
pub fn order(
    seller: &str,
    id: &str,
    session: &str,
    buyer: &str,
    received_at: DateTime<Utc>,
    lines: &[(&str, u32)],
) -> PlanOrder {
    let d = crate::domain::schedule::due(&site_schedule(24), received_at, received_at);
    PlanOrder {
        id: OrderRef {
            seller: seller.into(),
            order_id: id.into(),
        },
        session: session.into(),
        buyer_key: buyer.into(),
        received_at,
        deadline: d.deadline,
        pickup_at: d.pickup_at,
        lines: lines
            .iter()
            .map(|(sku, qty)| PlanLine {
                sku: (*sku).into(),
                name: format!("name of {sku}"),
                qty: *qty,
            })
            .collect(),
        weight_g: 500,
    }
}

pub fn no_ended() -> HashSet<(String, String)> {
    HashSet::new()
}

pub fn shuffled(v: &[PlanOrder], seed: u64) -> Vec<PlanOrder> {
    let mut out = v.to_vec();
    let mut rng = synth::Rng::new(seed);
    for i in (1..out.len()).rev() {
        let j = rng.below(i + 1);
        out.swap(i, j);
    }
    out
}

fn is_split_reason(cfg: &PlanConfig, r: &str) -> bool {
    r == split_reason_parcel(build::parcel_cap(cfg)) || r == SPLIT_OVER_WAVE || r == SPLIT_DEADLINE
}

/// Every structural promise a plan makes; panics with a message on the first broken one.
/// `core_rules`: also the buyer-combining and release rules (not for the FIFO baseline).
pub fn check_plan(
    cfg: &PlanConfig,
    pending: &[PlanOrder],
    ended: &HashSet<(String, String)>,
    now: DateTime<Utc>,
    plan: &Plan,
    core_rules: bool,
) {
    let by_id: HashMap<&OrderRef, &PlanOrder> = pending.iter().map(|o| (&o.id, o)).collect();
    let wave_max = cfg.wave_max.max(1);
    let cap = build::parcel_cap(cfg);

    // Every pending order in exactly one of (one wave, held).
    let mut seen: HashMap<&OrderRef, Option<usize>> = HashMap::new();
    for (wi, w) in plan.waves.iter().enumerate() {
        assert!(w.order_count() > 0, "empty wave");
        for id in w.orders() {
            assert!(by_id.contains_key(id), "wave order {id:?} was not pending");
            assert!(seen.insert(id, Some(wi)).is_none(), "{id:?} twice");
        }
    }
    for id in &plan.held {
        assert!(seen.insert(id, None).is_none(), "{id:?} waved and held");
    }
    assert_eq!(
        seen.len(),
        by_id.len(),
        "an order is neither waved nor held"
    );

    for w in &plan.waves {
        assert!(w.order_count() <= wave_max, "wave of {}", w.order_count());
        // Parcels hold the wave's orders, one buyer each, at most `cap` orders.
        for p in &w.parcels {
            assert!(!p.orders.is_empty() && p.orders.len() <= cap, "parcel size");
            let mut weight = 0;
            for id in &p.orders {
                let o = by_id[id];
                assert_eq!(
                    (o.id.seller.as_str(), o.buyer_key.as_str()),
                    (p.seller, p.buyer_key)
                );
                weight += o.weight_g;
            }
            assert_eq!(weight, p.weight_g);
        }
        // Pickup and deadline kept.
        for id in w.orders() {
            assert!(
                w.pickup_at <= by_id[id].pickup_at,
                "released past its pickup"
            );
            assert!(w.deadline <= by_id[id].deadline);
        }
        // Pick list: Σ lines per SKU, bins, sorted with UNASSIGNED last.
        let mut want: BTreeMap<&str, u32> = BTreeMap::new();
        for id in w.orders() {
            for l in &by_id[id].lines {
                *want.entry(&l.sku).or_insert(0) += l.qty;
            }
        }
        let got: BTreeMap<&str, u32> = w
            .pick_list
            .iter()
            .map(|l| (l.sku.as_str(), l.qty))
            .collect();
        assert_eq!(got.len(), w.pick_list.len(), "duplicate SKU on a pick list");
        assert_eq!(want, got, "pick list quantities");
        for l in &w.pick_list {
            assert_eq!(l.bin, cfg.bin_of(&l.sku));
        }
        let keys: Vec<_> = w
            .pick_list
            .iter()
            .map(|l| (l.bin == UNASSIGNED_BIN, l.bin.clone(), l.sku.clone()))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "pick list not sorted by bin");
    }

    // At risk: every order planned past its deadline is listed, once.
    let mut risk = HashSet::new();
    for r in &plan.at_risk {
        assert!(risk.insert(r.id), "{:?} at risk twice", r.id);
        assert_eq!(r.deadline, by_id[r.id].deadline);
    }
    for (wi, w) in plan.waves.iter().enumerate() {
        for id in w.orders() {
            if w.pickup_at > by_id[id].deadline {
                assert!(risk.contains(id), "{id:?} (wave {wi}) silently late");
            }
        }
    }
    let fc: usize = plan.forecast.iter().map(|f| f.orders).sum();
    assert_eq!(
        fc,
        by_id.len(),
        "forecast does not count every pending order"
    );
    assert!(plan
        .forecast
        .windows(2)
        .all(|w| w[0].pickup_at < w[1].pickup_at));

    if !core_rules {
        return;
    }
    // A buyer in several waves (or waved and held), or in several parcels: noted.
    let mut buyer_waves: BTreeMap<(&str, &str), BTreeSet<Option<usize>>> = BTreeMap::new();
    for (id, w) in &seen {
        let o = by_id[id];
        buyer_waves
            .entry((&o.id.seller, &o.buyer_key))
            .or_default()
            .insert(*w);
    }
    for ((seller, buyer), ws) in &buyer_waves {
        let waves: Vec<usize> = ws.iter().flatten().copied().collect();
        let parcels: usize = waves
            .iter()
            .map(|&wi| {
                plan.waves[wi]
                    .parcels
                    .iter()
                    .filter(|p| p.seller == *seller && p.buyer_key == *buyer)
                    .count()
            })
            .sum();
        if ws.len() > 1 || parcels > 1 {
            let noted = waves.iter().any(|&wi| {
                plan.waves[wi].splits.iter().any(|s| {
                    s.seller == *seller && s.buyer_key == *buyer && is_split_reason(cfg, &s.reason)
                })
            });
            assert!(noted, "buyer {seller}/{buyer} split without a note: {ws:?}");
        }
    }
    // end_session and max_hold release; urgent orders are never held.
    for o in pending {
        let held = seen.get(&o.id).is_some_and(Option::is_none);
        if held {
            assert!(
                !ended.contains(&(o.id.seller.clone(), o.session.clone())),
                "{:?}: its session ended but it is held",
                o.id
            );
            assert!(
                now - o.received_at < cfg.max_hold,
                "{:?} held past max_hold",
                o.id
            );
        }
    }
}
