//! "Never worse than FIFO": on generated livestream days, the wave planner with the
//! default settings walks no more (pick lines per order) and packs at least as many
//! orders by their pickup as plain FIFO batching — planned once after the streams, and
//! replanned every few minutes while they are live (what the shell does). A correctness
//! property of the plans, not a timing.

use chrono::Duration;

use super::quality::{replay, single_shot, PlanQuality};
use super::synth::{generate, Synth, SynthParams};
use super::tests_support::*;
use super::*;

/// The shipped defaults (config/default.toml), with `packers` and the synth's bins.
fn defaults(synth: &Synth, packers: u32) -> PlanConfig {
    let mut c = cfg();
    c.packers = packers;
    c.wave_min = 20;
    c.wave_max = 200;
    c.combine_window = Duration::seconds(300);
    c.max_hold = Duration::seconds(1800);
    c.bins = synth.bins.clone();
    c
}

/// Prints the comparison; the reason it is worse than FIFO, if it is.
fn not_worse(name: &str, ours: &PlanQuality, fifo: &PlanQuality) -> Option<String> {
    eprintln!(
        "{name}: planner {} waves {:.3} lines/order {} packed {} lines | \
         FIFO {} waves {:.3} lines/order {} packed {} lines",
        ours.waves,
        ours.pick_lines_per_order(),
        ours.packed_in_time,
        ours.pick_lines,
        fifo.waves,
        fifo.pick_lines_per_order(),
        fifo.packed_in_time,
        fifo.pick_lines
    );
    let worse = ours.orders != fifo.orders
        || ours.pick_lines * fifo.orders > fifo.pick_lines * ours.orders
        || ours.packed_in_time < fifo.packed_in_time;
    worse.then(|| format!("{name}: {ours:?} vs FIFO {fifo:?}"))
}

fn assert_none_worse(failures: Vec<Option<String>>) {
    let failures: Vec<String> = failures.into_iter().flatten().collect();
    assert!(
        failures.is_empty(),
        "worse than FIFO:\n{}",
        failures.join("\n")
    );
}

/// An evening of `orders` (one seller and session per 3,000, at least 3) from 19:00.
fn evening(orders: usize, seed: u64) -> Synth {
    let mut p = SynthParams::evening(orders, vn(SAT, 19, 0), seed);
    p.sessions = (orders / 3_000).max(3);
    p.sellers = p.sessions;
    generate(&p, &site_schedule(24))
}

#[test]
fn evening_planned_once_and_replanned_live_is_never_worse_than_fifo() {
    let mut failures = Vec::new();
    // Not yet: 1,500 orders (seeds 3 and 4) replanned every 3 min walk up to 2 lines more
    // than FIFO over the evening (the README's planner section, and the scan below).
    // 600 orders seed 2 walked more every 10 min until an urgent release's top-up could take
    // the oldest alone (issue 20, twenty-third session).
    for (orders, seed) in [(3_000, 11), (3_000, 4), (600, 7), (600, 2)] {
        let s = evening(orders, seed);
        let c = defaults(&s, u32::try_from((orders / 300).max(10)).unwrap_or(10));
        let now = vn(SAT, 22, 0);
        failures.push(not_worse(
            &format!("evening {orders} seed {seed}, once"),
            &single_shot(plan, &c, &s, now),
            &single_shot(plan_fifo, &c, &s, now),
        ));
        for minutes in [3, 10] {
            let (from, until, step) = (vn(SAT, 19, 0), vn(SAT, 22, 1), Duration::minutes(minutes));
            failures.push(not_worse(
                &format!("evening {orders} seed {seed}, replanned every {minutes} min"),
                &replay(plan, &c, &s, from, until, step).0,
                &replay(plan_fifo, &c, &s, from, until, step).0,
            ));
        }
    }
    assert_none_worse(failures);
}

#[test]
fn morning_sale_replanned_live_is_never_worse_than_fifo() {
    let mut failures = Vec::new();
    for (orders, packers, seed) in [(500, 6, 12), (400, 4, 5), (800, 10, 9)] {
        let mut p = SynthParams::evening(orders, vn(SAT, 8, 0), seed);
        p.span = Duration::minutes(150);
        let s = generate(&p, &site_schedule(24));
        let c = defaults(&s, packers);
        let (from, until, step) = (vn(SAT, 8, 0), vn(SAT, 17, 0), Duration::minutes(3));
        failures.push(not_worse(
            &format!("morning {orders} orders {packers} packers seed {seed}"),
            &replay(plan, &c, &s, from, until, step).0,
            &replay(plan_fifo, &c, &s, from, until, step).0,
        ));
    }
    assert_none_worse(failures);
}

/// The scan behind the README's planner section: 72 evenings (600, 1,500 and 3,000 orders,
/// seeds 1–12, replanned every 3 and every 10 minutes). Only the two known days may walk
/// more than FIFO (by at most 0.002 pick lines an order; a third, 1,500 orders seed 11,
/// walks less since issue 20's twenty-sixth session: 377 lines against FIFO's 394). Slow
/// unoptimized: `cargo test --release --lib -- --ignored scan_of_72_evenings`.
#[test]
#[ignore]
fn scan_of_72_evenings_walks_no_more_than_fifo_but_on_two_known_days() {
    let known = [(1_500, 3, 3), (1_500, 4, 3)];
    let mut failures = Vec::new();
    for orders in [600usize, 1_500, 3_000] {
        for seed in 1..=12u64 {
            let s = evening(orders, seed);
            let c = defaults(&s, u32::try_from((orders / 300).max(10)).unwrap_or(10));
            for minutes in [3, 10] {
                let (from, until, step) =
                    (vn(SAT, 19, 0), vn(SAT, 22, 1), Duration::minutes(minutes));
                let ours = replay(plan, &c, &s, from, until, step).0;
                let fifo = replay(plan_fifo, &c, &s, from, until, step).0;
                let name = format!("evening {orders} seed {seed}, replanned every {minutes} min");
                match not_worse(&name, &ours, &fifo) {
                    Some(_) if known.contains(&(orders, seed, minutes)) => {
                        // At most 3 lines more over the evening (0.002 an order), as
                        // many orders, as many packed by the pickup.
                        eprintln!(
                            "{name}: {} lines against FIFO's {}",
                            ours.pick_lines, fifo.pick_lines
                        );
                        assert_eq!(ours.orders, fifo.orders, "{name}");
                        assert!(ours.pick_lines <= fifo.pick_lines + 3, "{name}");
                        assert!(ours.packed_in_time >= fifo.packed_in_time, "{name}");
                    }
                    other => failures.push(other),
                }
            }
        }
    }
    assert_none_worse(failures);
}
