//! Scenarios with fixed instants (no clock): a Saturday at one site with pickups 11:00 and
//! 17:00 (Asia/Ho_Chi_Minh), driven the way the shell drives the core.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use super::quality::{measure, PackingSim};
use super::synth::{generate, SynthParams};
use super::tests_support::*;
use super::*;
use crate::domain::schedule::{business_date, due};

type Planner =
    for<'a> fn(&PlanConfig, &'a [PlanOrder], &HashSet<(String, String)>, DateTime<Utc>) -> Plan<'a>;
type Ends = Vec<((String, String), DateTime<Utc>)>;

/// Calls the planner every `step` from `from` to `until`, feeding it the orders that have
/// arrived and moving released orders out of `pending`, as the shell does. `ends` says
/// when each (seller, session) gets its `end_session`.
struct Sim<'a> {
    cfg: PlanConfig,
    orders: &'a [PlanOrder],
    ends: Ends,
    planner: Planner,
    /// Check the core's rules on every plan (not for the FIFO baseline).
    core_rules: bool,
}

/// One call: its instant, what was pending just before it, the ended sessions and what
/// its plan released.
struct Call {
    now: DateTime<Utc>,
    pending_before: Vec<PlanOrder>,
    ended: HashSet<(String, String)>,
    released: Vec<OrderRef>,
}

/// A call with its plan (which borrows the call's pending orders).
struct Tick<'c> {
    now: DateTime<Utc>,
    /// Pending just before the call.
    pending_before: &'c [PlanOrder],
    plan: Plan<'c>,
}

impl Sim<'_> {
    /// The calls with their plans, planned again from each call's pending orders (a plan
    /// borrows them); each must release what the call's plan released.
    fn ticks<'c>(&self, calls: &'c [Call]) -> Vec<Tick<'c>> {
        calls
            .iter()
            .map(|c| {
                let plan = (self.planner)(&self.cfg, &c.pending_before, &c.ended, c.now);
                assert!(
                    plan.released().eq(c.released.iter()),
                    "planned again at {}, a different release",
                    c.now
                );
                Tick {
                    now: c.now,
                    pending_before: &c.pending_before,
                    plan,
                }
            })
            .collect()
    }

    fn run(&self, from: DateTime<Utc>, until: DateTime<Utc>, step: Duration) -> Vec<Call> {
        let mut pending: Vec<PlanOrder> = Vec::new();
        let mut fed = 0;
        let mut ticks = Vec::new();
        let mut now = from;
        while now <= until {
            while fed < self.orders.len() && self.orders[fed].received_at <= now {
                pending.push(self.orders[fed].clone());
                fed += 1;
            }
            let ended: HashSet<(String, String)> = self
                .ends
                .iter()
                .filter(|(_, at)| *at <= now)
                .map(|(s, _)| s.clone())
                .collect();
            let before = pending.clone();
            let plan = (self.planner)(&self.cfg, &before, &ended, now);
            check_plan(&self.cfg, &before, &ended, now, &plan, self.core_rules);
            let released: Vec<OrderRef> = plan.released().cloned().collect();
            drop(plan);
            let out: HashSet<&OrderRef> = released.iter().collect();
            pending.retain(|o| !out.contains(&o.id));
            drop(out);
            ticks.push(Call {
                now,
                pending_before: before,
                ended,
                released,
            });
            now += step;
        }
        ticks
    }
}

fn saturday_evening() -> (Vec<PlanOrder>, Ends, PlanConfig) {
    let mut p = SynthParams::evening(1200, vn(SAT, 19, 0), 2026);
    p.whales = 1;
    let synth = generate(&p, &site_schedule(24));
    // Sessions: live-0 19:00–21:00, live-1 19:30–21:30, live-2 20:00–22:00. The seller of
    // live-2 ends it early, at 21:30; live-1's end_session comes late, at 21:45.
    let labels: Vec<_> = synth.sessions.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, vec!["live-0", "live-1", "live-2"]);
    let s2 = &synth.sessions[2];
    let cut = vn(SAT, 21, 30);
    let orders: Vec<PlanOrder> = synth
        .orders
        .iter()
        .filter(|o| !(o.session == s2.label && o.received_at > cut))
        .cloned()
        .collect();
    let ends = vec![
        (
            (synth.sessions[0].seller.clone(), "live-0".into()),
            vn(SAT, 21, 0),
        ),
        (
            (synth.sessions[1].seller.clone(), "live-1".into()),
            vn(SAT, 21, 45),
        ),
        ((s2.seller.clone(), "live-2".into()), cut),
    ];
    let mut c = cfg();
    c.packers = 8;
    c.bins = synth.bins;
    (orders, ends, c)
}

#[test]
fn saturday_three_sessions_end_session_releases_the_rest_in_the_next_call() {
    let (orders, ends, c) = saturday_evening();
    let sim = Sim {
        cfg: c.clone(),
        orders: &orders,
        ends: ends.clone(),
        planner: super::plan,
        core_rules: true,
    };
    let calls = sim.run(vn(SAT, 19, 0), vn(SUN, 0, 30), Duration::minutes(3));
    let ticks = sim.ticks(&calls);

    // Every order released exactly once, none left.
    let mut released: HashMap<OrderRef, DateTime<Utc>> = HashMap::new();
    for t in &ticks {
        for id in t.plan.released() {
            assert!(released.insert(id.clone(), t.now).is_none(), "{id:?} twice");
        }
    }
    assert_eq!(released.len(), orders.len());
    let last = ticks.last().expect("ticks");
    assert!(last.plan.held.is_empty());

    // end_session of live-2 at 21:30: its remaining orders go in that very call.
    let (s2, cut) = &ends[2];
    let t = ticks.iter().find(|t| t.now >= *cut).expect("21:30 tick");
    assert_eq!(t.now, *cut);
    let waiting = t
        .pending_before
        .iter()
        .filter(|o| (o.id.seller.clone(), o.session.clone()) == *s2)
        .count();
    assert!(waiting > 0, "live-2 had orders waiting at 21:30");
    for o in orders.iter().filter(|o| o.session == s2.1) {
        assert!(
            released[&o.id] <= *cut,
            "{:?} still waiting after end_session",
            o.id
        );
    }
    assert!(t
        .plan
        .waves
        .iter()
        .any(|w| w.release_reason == ReleaseReason::SessionEnded));
    // Before the end, live-2 orders were held for combining.
    assert!(ticks
        .iter()
        .filter(|t| t.now < *cut)
        .any(|t| !t.plan.held.is_empty()));

    // Orders from 19:00–22:00 go to Sunday's 11:00 pickup, nobody at risk, waves bounded.
    let all_waves: Vec<&WavePlan> = ticks.iter().flat_map(|t| t.plan.waves.iter()).collect();
    for w in &all_waves {
        assert_eq!(w.pickup_at, vn(SUN, 11, 0));
        assert!(w.order_count() <= c.wave_max);
    }
    assert!(ticks.iter().all(|t| t.plan.at_risk.is_empty()));
    let f = &ticks[20].plan.forecast;
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].pickup_at, vn(SUN, 11, 0));
    assert!(f[0].packers_needed >= 1 && !f[0].under_pressure);

    // Repeat buyers were combined: fewer parcels than orders, and better than FIFO.
    let ours = measure(all_waves.iter().copied(), &orders);
    assert!(ours.parcels < ours.orders, "{ours:?}");
    let fifo = Sim {
        planner: super::plan_fifo,
        core_rules: false,
        ..sim
    };
    let fifo_calls = fifo.run(vn(SAT, 19, 0), vn(SUN, 0, 30), Duration::minutes(3));
    let fifo_ticks = fifo.ticks(&fifo_calls);
    let theirs = measure(fifo_ticks.iter().flat_map(|t| t.plan.waves.iter()), &orders);
    assert_eq!(theirs.orders, orders.len());
    assert!(ours.parcels < theirs.parcels, "{ours:?} vs {theirs:?}");
    // Released every few minutes (waves of ≥ wave_min), the pools are too small for SKU
    // clustering to pay: single-shot planning shows it (next test and the bench).
}

#[test]
fn after_the_evening_sku_clustering_and_combining_beat_fifo() {
    let (orders, ends, c) = saturday_evening();
    let ended: HashSet<(String, String)> = ends.into_iter().map(|(s, _)| s).collect();
    let now = vn(SAT, 22, 0);
    let ours = plan(&c, &orders, &ended, now);
    check_plan(&c, &orders, &ended, now, &ours, true);
    assert!(ours.held.is_empty());
    let theirs = plan_fifo(&c, &orders, &ended, now);
    let (q, f) = (
        measure(&ours.waves, &orders),
        measure(&theirs.waves, &orders),
    );
    assert_eq!((q.orders, f.orders), (orders.len(), orders.len()));
    assert!(
        q.pick_lines_per_order() < 0.8 * f.pick_lines_per_order(),
        "{q:?} vs {f:?}"
    );
    assert!(q.parcels < f.parcels, "{q:?} vs {f:?}");
    assert_eq!(q.pickup_by_deadline, orders.len());
}

#[test]
fn a_late_night_order_belongs_to_saturday_and_ships_sunday_at_eleven() {
    let placed = vn(SAT, 23, 50);
    let sched = site_schedule(24);
    let d = due(&sched, placed, placed);
    assert_eq!(
        business_date(placed),
        chrono::NaiveDate::from_ymd_opt(2026, 11, 21).expect("date")
    );
    assert_eq!(d.pickup_at, vn(SUN, 11, 0));
    let o = order(
        "s",
        "night",
        "late-show",
        "owl",
        placed,
        &[("HONEY-500", 1)],
    );
    assert_eq!(o.pickup_at, vn(SUN, 11, 0));
    let pending = vec![o];
    // Alone and not urgent: held for combining, then as a small release…
    let p = plan(&cfg(), &pending, &no_ended(), vn(SAT, 23, 51));
    assert_eq!(p.held.len(), 1);
    let p = plan(&cfg(), &pending, &no_ended(), vn(SUN, 0, 10));
    assert_eq!(p.held.len(), 1);
    // …until max_hold (30 min): released for Sunday 11:00.
    let p = plan(&cfg(), &pending, &no_ended(), vn(SUN, 0, 20));
    assert_eq!(p.waves.len(), 1);
    assert_eq!(p.waves[0].release_reason, ReleaseReason::MaxHold);
    assert_eq!(p.waves[0].pickup_at, vn(SUN, 11, 0));
    assert!(p.at_risk.is_empty());
    assert_eq!(p.forecast[0].pickup_at, vn(SUN, 11, 0));
}

#[test]
fn an_order_that_cannot_make_any_pickup_is_released_and_at_risk() {
    // A 2-hour SLA at 18:00: deadline 20:00, first pickup Sunday 11:00.
    let sched = site_schedule(2);
    let placed = vn(SAT, 18, 0);
    let d = due(&sched, placed, placed);
    let mut o = order("s", "rush", "flash", "b", placed, &[("TEA-100", 1)]);
    o.deadline = d.deadline;
    o.pickup_at = d.pickup_at;
    let pending = [o];
    let p = plan(&cfg(), &pending, &no_ended(), vn(SAT, 18, 1));
    assert_eq!(
        p.at_risk,
        vec![AtRisk {
            id: &OrderRef {
                seller: "s".into(),
                order_id: "rush".into()
            },
            session: "flash",
            reason: AtRiskReason::DeadlineBeforePickup,
            pickup_at: vn(SUN, 11, 0),
            deadline: vn(SAT, 20, 0),
        }]
    );
    // Released at once (nothing to wait for), never moved to another pickup silently.
    assert_eq!(p.waves.len(), 1);
    assert_eq!(p.waves[0].release_reason, ReleaseReason::DeadlinePressure);
    assert_eq!(p.waves[0].pickup_at, vn(SUN, 11, 0));
}

#[test]
fn saturday_morning_surge_short_of_packers_is_flagged_with_packers_needed() {
    // 400 orders between 09:00 and 10:00 for the 11:00 pickup, 4 packers.
    let mut p = SynthParams::evening(400, vn(SAT, 9, 0), 7);
    p.span = Duration::hours(1);
    p.sessions = 1;
    let synth = generate(&p, &site_schedule(24));
    let mut c = cfg();
    c.bins = synth.bins;
    let now = vn(SAT, 10, 0);
    let pending: Vec<PlanOrder> = synth
        .orders
        .into_iter()
        .filter(|o| o.received_at <= now)
        .collect();
    let plan = plan(&c, &pending, &no_ended(), now);
    check_plan(&c, &pending, &no_ended(), now, &plan, true);
    let f = &plan.forecast[0];
    assert_eq!(f.pickup_at, vn(SAT, 11, 0));
    assert!(f.minutes_due > f.minutes_available, "{f:?}");
    assert!(f.packers_needed > c.packers, "{f:?}");
    assert!(f.under_pressure);
    let at_11: Vec<_> = pending
        .iter()
        .filter(|o| o.pickup_at == f.pickup_at)
        .collect();
    assert_eq!(
        plan.at_risk
            .iter()
            .filter(|r| r.reason == AtRiskReason::NotEnoughCapacity)
            .count(),
        at_11.len()
    );
    // Everything for 11:00 is released now, earliest deadlines first.
    for o in &at_11 {
        assert!(!plan.held.contains(&o.id));
    }
    // Some of it can still be packed in time by the 4 packers.
    let mut sim = PackingSim::new(&c, &pending);
    for w in &plan.waves {
        sim.release(now, w);
    }
    assert!(sim.quality().packed_in_time > 0);
}
