//! Property tests over generated livestream evenings: hero SKUs with Zipf-like popularity,
//! 5–15 % repeat buyers, several overlapping sessions, whales, random deadlines (short SLAs
//! make some orders miss every pickup), random settings and a random `now`.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use super::synth::{generate, SynthParams};
use super::tests_support::*;
use super::*;

#[derive(Debug, Clone)]
struct Case {
    cfg: PlanConfig,
    pending: Vec<PlanOrder>,
    ended: HashSet<(String, String)>,
    now: DateTime<Utc>,
    shuffle_seed: u64,
}

#[allow(clippy::too_many_arguments)]
fn case(
    seed: u64,
    orders: usize,
    sessions: usize,
    repeat_rate: f64,
    whales: usize,
    sla_hours: u32,
    now_minutes: i64,
    ended_mask: u8,
    settings: (usize, usize, usize, u32, i64, i64, i64),
) -> Case {
    let (wave_min, wave_max, parcel, packers, combine_s, hold_s, start_hour) = settings;
    let start = vn(SAT, u32::try_from(start_hour).unwrap_or(19), 0);
    let mut p = SynthParams::evening(orders, start, seed);
    p.sessions = sessions;
    p.repeat_rate = repeat_rate;
    p.whales = whales;
    let synth = generate(&p, &site_schedule(sla_hours));
    let now = start + Duration::minutes(now_minutes);
    let pending: Vec<PlanOrder> = synth
        .orders
        .into_iter()
        .filter(|o| o.received_at <= now)
        .collect();
    let ended = synth
        .sessions
        .iter()
        .enumerate()
        .filter(|(i, _)| ended_mask & (1 << (i % 8)) != 0)
        .map(|(_, s)| (s.seller.clone(), s.label.clone()))
        .collect();
    let mut cfg = cfg();
    cfg.wave_min = wave_min;
    cfg.wave_max = wave_max;
    cfg.max_orders_per_parcel = parcel;
    cfg.packers = packers;
    cfg.combine_window = Duration::seconds(combine_s);
    cfg.max_hold = Duration::seconds(hold_s);
    cfg.bins = synth.bins;
    Case {
        cfg,
        pending,
        ended,
        now,
        shuffle_seed: seed.rotate_left(17),
    }
}

fn cases() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        0usize..400,
        1usize..5,
        0.05f64..0.15,
        0usize..3,
        prop_oneof![3 => Just(24u32), 1 => 1u32..30],
        0i64..400,
        any::<u8>(),
        (
            0usize..40,
            1usize..80,
            prop_oneof![3 => Just(20usize), 1 => 1usize..8],
            1u32..8,
            0i64..900,
            60i64..3600,
            prop_oneof![Just(7i64), Just(10), Just(16), Just(19), Just(23)],
        ),
    )
        .prop_map(|(seed, n, s, r, w, sla, now, mask, settings)| {
            case(seed, n, s, r, w, sla, now, mask, settings)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    /// Every pending order in exactly one of (one wave, held); waves within bounds; parcels
    /// of one buyer within bounds; buyers split only with a note; pick lists equal the sum
    /// of the wave's lines; pickups and deadlines kept; ended sessions and old orders
    /// released; late orders flagged.
    #[test]
    fn plans_keep_their_promises(c in cases()) {
        let p = plan(&c.cfg, &c.pending, &c.ended, c.now);
        check_plan(&c.cfg, &c.pending, &c.ended, c.now, &p, true);
    }

    /// Any permutation of `pending` gives the identical plan.
    #[test]
    fn plans_are_deterministic(c in cases()) {
        let a = plan(&c.cfg, &c.pending, &c.ended, c.now);
        let other = shuffled(&c.pending, c.shuffle_seed);
        let b = plan(&c.cfg, &other, &c.ended, c.now);
        prop_assert_eq!(&a, &b);
        let a = plan_fifo(&c.cfg, &c.pending, &c.ended, c.now);
        let b = plan_fifo(&c.cfg, &other, &c.ended, c.now);
        prop_assert_eq!(&a, &b);
    }

    /// The FIFO baseline keeps the structural promises too (it is what the bench compares).
    #[test]
    fn fifo_plans_are_well_formed(c in cases()) {
        let p = plan_fifo(&c.cfg, &c.pending, &c.ended, c.now);
        check_plan(&c.cfg, &c.pending, &c.ended, c.now, &p, false);
    }

    /// Replanning after moving released orders out (as the shell does) never loses or
    /// duplicates an order, and a final call after every session ended releases the rest.
    #[test]
    fn replanning_drains_every_order_exactly_once(c in cases(), step in 1i64..20) {
        let mut pending = c.pending.clone();
        let mut released: HashSet<OrderRef> = HashSet::new();
        let mut now = c.now;
        for _ in 0..5 {
            let p = plan(&c.cfg, &pending, &c.ended, now);
            check_plan(&c.cfg, &pending, &c.ended, now, &p, true);
            for id in p.released() {
                prop_assert!(released.insert(id.clone()), "{:?} released twice", id);
            }
            let out: HashSet<OrderRef> = p.released().cloned().collect();
            drop(p);
            pending.retain(|o| !out.contains(&o.id));
            now += Duration::minutes(step);
        }
        let all: HashSet<(String, String)> = c
            .pending
            .iter()
            .map(|o| (o.id.seller.clone(), o.session.clone()))
            .collect();
        let p = plan(&c.cfg, &pending, &all, now);
        prop_assert!(p.held.is_empty());
        released.extend(p.released().cloned());
        let want: HashSet<OrderRef> = c.pending.iter().map(|o| o.id.clone()).collect();
        prop_assert_eq!(released, want);
    }
}
