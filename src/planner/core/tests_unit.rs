//! Focused tests of single rules.

use chrono::Duration;

use super::tests_support::*;
use super::*;

fn ids<'a>(v: impl IntoIterator<Item = &'a OrderRef>) -> Vec<&'a str> {
    v.into_iter().map(|r| r.order_id.as_str()).collect()
}

#[test]
fn from_site_copies_the_site_settings() {
    let c = crate::config::Config::from_toml("").expect("default config");
    let mut site = c.sites.first().expect("demo site").clone();
    site.packers = 7;
    site.minutes_per_order = 2.0;
    site.minutes_per_line = 0.25;
    site.wave_min = 5;
    site.wave_max = 50;
    site.combine_window_secs = 120;
    site.max_hold_secs = 600;
    site.min_pack_minutes = 45;
    let site = &site;
    let p = PlanConfig::from_site(site);
    assert_eq!(p.packers, 7);
    assert_eq!(p.minutes_per_order, 2.0);
    assert_eq!(p.minutes_per_line, 0.25);
    assert_eq!((p.wave_min, p.wave_max), (5, 50));
    assert_eq!(p.combine_window, Duration::seconds(120));
    assert_eq!(p.max_hold, Duration::seconds(600));
    assert_eq!(p.min_pack, Duration::minutes(45));
    assert_eq!(p.max_orders_per_parcel, 20);
    assert_eq!(p.safety_margin, Duration::minutes(10));
    assert_eq!(p.bin_of("HONEY-500"), "A-01");
    assert_eq!(p.bin_of("NOPE"), UNASSIGNED_BIN);
}

#[test]
fn pick_list_aggregates_per_sku_sorted_by_bin_unassigned_last() {
    let t = vn(SAT, 19, 0);
    let pending = vec![
        order(
            "s",
            "1",
            "live",
            "b1",
            t,
            &[("RICE-5KG", 1), ("HONEY-500", 2)],
        ),
        order(
            "s",
            "2",
            "live",
            "b2",
            t,
            &[("ZZ-NEW", 1), ("HONEY-500", 1)],
        ),
        order("s", "3", "live", "b3", t, &[("AA-NEW", 4), ("TEA-100", 1)]),
    ];
    let ended = HashSet::from([("s".to_owned(), "live".to_owned())]);
    let p = plan(&cfg(), &pending, &ended, t + Duration::minutes(1));
    assert_eq!(p.waves.len(), 1);
    let got: Vec<(&str, &str, u32)> = p.waves[0]
        .pick_list
        .iter()
        .map(|l| (l.bin.as_str(), l.sku.as_str(), l.qty))
        .collect();
    assert_eq!(
        got,
        vec![
            ("A-01", "HONEY-500", 3),
            ("A-02", "TEA-100", 1),
            ("C-10", "RICE-5KG", 1),
            (UNASSIGNED_BIN, "AA-NEW", 4),
            (UNASSIGNED_BIN, "ZZ-NEW", 1),
        ]
    );
    assert_eq!(p.waves[0].release_reason, ReleaseReason::SessionEnded);
}

#[test]
fn combine_window_holds_a_buyer_until_quiet_then_one_parcel() {
    let mut c = cfg();
    c.wave_min = 1;
    c.fill_waves = false;
    let t = vn(SAT, 19, 0);
    let pending = vec![
        order("s", "1", "live", "lan", t, &[("HONEY-500", 1)]),
        order(
            "s",
            "2",
            "live",
            "lan",
            t + Duration::minutes(4),
            &[("TEA-100", 1)],
        ),
    ];
    // 6 minutes after the first order, 2 after the last: still waiting.
    let p = plan(&c, &pending, &no_ended(), t + Duration::minutes(6));
    assert!(p.waves.is_empty());
    assert_eq!(ids(&p.held), vec!["1", "2"]);
    // 5 minutes after the last order: released together, one parcel.
    let p = plan(&c, &pending, &no_ended(), t + Duration::minutes(9));
    assert_eq!(p.waves.len(), 1);
    let w = &p.waves[0];
    assert_eq!(w.release_reason, ReleaseReason::CombineWindowElapsed);
    assert_eq!(w.parcels.len(), 1);
    assert_eq!(ids(w.parcels[0].orders.iter().copied()), vec!["1", "2"]);
    assert!(w.splits.is_empty());
}

#[test]
fn small_non_urgent_release_is_held_until_max_hold() {
    let t = vn(SAT, 19, 0);
    let pending: Vec<PlanOrder> = (0..5)
        .map(|i| {
            order(
                "s",
                &format!("{i}"),
                "live",
                &format!("b{i}"),
                t,
                &[("TEA-100", 1)],
            )
        })
        .collect();
    let p = plan(&cfg(), &pending, &no_ended(), t + Duration::minutes(10));
    assert!(p.waves.is_empty(), "5 < wave_min orders and nothing urgent");
    assert_eq!(p.held.len(), 5);
    let p = plan(&cfg(), &pending, &no_ended(), t + Duration::minutes(30));
    assert_eq!(p.waves.len(), 1);
    assert_eq!(p.waves[0].release_reason, ReleaseReason::MaxHold);
    assert!(p.held.is_empty());
}

#[test]
fn a_buyer_over_20_orders_is_split_into_parcels_of_the_same_wave() {
    let t = vn(SAT, 19, 0);
    let pending: Vec<PlanOrder> = (0..45)
        .map(|i| {
            order(
                "s",
                &format!("{i:02}"),
                "live",
                "whale",
                t,
                &[("HONEY-500", 1)],
            )
        })
        .collect();
    let p = plan(&cfg(), &pending, &no_ended(), t + Duration::seconds(10));
    assert_eq!(
        p.waves.len(),
        1,
        "a group of ≥ 20 orders is released at once"
    );
    let w = &p.waves[0];
    assert_eq!(w.release_reason, ReleaseReason::ParcelFull);
    let sizes: Vec<usize> = w.parcels.iter().map(|p| p.orders.len()).collect();
    assert_eq!(sizes, vec![20, 20, 5]);
    assert_eq!(
        w.splits,
        vec![SplitNote {
            seller: "s".into(),
            buyer_key: "whale".into(),
            reason: "over 20 orders".into()
        }]
    );
}

#[test]
fn a_buyer_larger_than_a_wave_is_split_over_waves_and_noted() {
    let mut c = cfg();
    c.wave_max = 50;
    let t = vn(SAT, 19, 0);
    let pending: Vec<PlanOrder> = (0..130)
        .map(|i| {
            order(
                "s",
                &format!("{i:03}"),
                "live",
                "whale",
                t,
                &[("HONEY-500", 1)],
            )
        })
        .collect();
    let p = plan(&c, &pending, &no_ended(), t + Duration::seconds(10));
    let sizes: Vec<usize> = p.waves.iter().map(WavePlan::order_count).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 130);
    assert!(sizes.iter().all(|s| *s <= 50), "{sizes:?}");
    for w in &p.waves {
        assert!(w.splits.iter().any(|s| s.reason == SPLIT_OVER_WAVE));
        assert!(w.parcels.iter().all(|p| p.orders.len() <= 20));
    }
}

#[test]
fn waves_are_balanced_and_bounded() {
    let mut c = cfg();
    c.wave_min = 1;
    c.fill_waves = false;
    let t = vn(SAT, 19, 0);
    let pending: Vec<PlanOrder> = (0..450)
        .map(|i| {
            order(
                "s",
                &format!("{i:03}"),
                "live",
                &format!("b{i}"),
                t,
                &[("TEA-100", 1)],
            )
        })
        .collect();
    let ended = HashSet::from([("s".to_owned(), "live".to_owned())]);
    let p = plan(&c, &pending, &ended, t + Duration::minutes(1));
    let sizes: Vec<usize> = p.waves.iter().map(WavePlan::order_count).collect();
    assert_eq!(sizes, vec![150, 150, 150]);
}

#[test]
fn single_sku_buyers_are_waved_apart_from_multi_sku_ones_and_by_sku() {
    let mut c = cfg();
    c.wave_min = 10;
    c.fill_waves = false;
    c.wave_max = 20;
    let t = vn(SAT, 19, 0);
    let mut pending = Vec::new();
    for i in 0..60 {
        let lines: &[(&str, u32)] = match i % 3 {
            0 => &[("HONEY-500", 1)],
            1 => &[("TEA-100", 1)],
            _ => &[("HONEY-500", 1), ("TEA-100", 1)],
        };
        pending.push(order(
            "s",
            &format!("{i:02}"),
            "live",
            &format!("b{i}"),
            t,
            lines,
        ));
    }
    let ended = HashSet::from([("s".to_owned(), "live".to_owned())]);
    let p = plan(&c, &pending, &ended, t + Duration::minutes(1));
    assert_eq!(p.waves.len(), 3);
    for w in &p.waves {
        assert_eq!(w.order_count(), 20);
        let skus: Vec<&str> = w.pick_list.iter().map(|l| l.sku.as_str()).collect();
        // Each wave is one kind: all honey, all tea, or all honey+tea.
        let lines: usize = w.pick_list.len();
        assert!(lines <= 2, "{skus:?}");
    }
    let single_line_waves = p.waves.iter().filter(|w| w.pick_list.len() == 1).count();
    assert_eq!(single_line_waves, 2);
}

#[test]
fn deadline_pressure_releases_everything_for_the_pickup() {
    let t = vn(SAT, 9, 0);
    // 3 orders for the 11:00 pickup, 2.0 min each; lead = 6/4 = 1.5 min, safety 10 min.
    let pending: Vec<PlanOrder> = (0..3)
        .map(|i| {
            order(
                "s",
                &format!("{i}"),
                "live",
                &format!("b{i}"),
                t,
                &[("TEA-100", 1)],
            )
        })
        .collect();
    let quiet = t + Duration::minutes(1);
    let p = plan(&cfg(), &pending, &no_ended(), quiet);
    assert!(p.waves.is_empty());
    assert!(!p.forecast[0].under_pressure);
    let p = plan(&cfg(), &pending, &no_ended(), vn(SAT, 10, 48));
    assert!(!p.forecast[0].under_pressure, "11:00 − 1.5 − 10 = 10:48:30");
    let p = plan(&cfg(), &pending, &no_ended(), vn(SAT, 10, 49));
    assert!(p.forecast[0].under_pressure);
    assert_eq!(p.waves.len(), 1);
    assert_eq!(p.waves[0].release_reason, ReleaseReason::DeadlinePressure);
    assert_eq!(p.waves[0].pickup_at, vn(SAT, 11, 0));
}

#[test]
fn forecast_counts_work_and_packers_needed() {
    let t = vn(SAT, 10, 0);
    let mut pending: Vec<PlanOrder> = (0..300)
        .map(|i| {
            order(
                "s",
                &format!("{i:03}"),
                "live",
                &format!("b{i}"),
                t,
                &[("TEA-100", 1)],
            )
        })
        .collect();
    for o in &mut pending {
        o.pickup_at = vn(SAT, 11, 0);
    }
    pending.push(order(
        "s",
        "late",
        "live",
        "x",
        vn(SAT, 10, 45),
        &[("TEA-100", 1)],
    ));
    let p = plan(&cfg(), &pending, &no_ended(), t);
    assert_eq!(p.forecast.len(), 2);
    let f = &p.forecast[0];
    assert_eq!(f.pickup_at, vn(SAT, 11, 0));
    assert_eq!(f.orders, 300);
    assert!((f.minutes_due - 600.0).abs() < 1e-6);
    assert!((f.minutes_available - 240.0).abs() < 1e-6);
    assert_eq!(f.packers_needed, 10);
    assert!(f.under_pressure);
    let g = &p.forecast[1];
    assert_eq!(g.pickup_at, vn(SAT, 17, 0));
    assert!((g.minutes_due_through - 602.0).abs() < 1e-6);
    assert_eq!(g.packers_needed, 2);
    // The 11:00 orders are short of capacity, released now and flagged.
    let risky: Vec<_> = p
        .at_risk
        .iter()
        .filter(|r| r.reason == AtRiskReason::NotEnoughCapacity)
        .collect();
    assert_eq!(risky.len(), 300);
    assert_eq!(p.released().count(), 300);
}

#[test]
fn a_buyer_whose_later_order_cannot_make_the_early_pickup_is_split_and_noted() {
    let mut c = cfg();
    c.wave_min = 1;
    c.fill_waves = false;
    let a = order("s", "a", "live", "lan", vn(SAT, 10, 20), &[("TEA-100", 1)]);
    let b = order("s", "b", "live", "lan", vn(SAT, 10, 40), &[("TEA-100", 1)]);
    assert_eq!(a.pickup_at, vn(SAT, 11, 0));
    assert_eq!(b.pickup_at, vn(SAT, 17, 0));
    // At 10:52 the 11:00 pickup is too close for b: a goes alone (deadline pressure)
    // for 11:00, b for 17:00 in another wave; both waves say why.
    let pending = vec![a.clone(), b.clone()];
    let p = plan(&c, &pending, &no_ended(), vn(SAT, 10, 52));
    assert_eq!(p.waves.len(), 2);
    assert_eq!(ids(p.waves[0].orders()), vec!["a"]);
    assert_eq!(p.waves[0].pickup_at, vn(SAT, 11, 0));
    assert_eq!(p.waves[0].release_reason, ReleaseReason::DeadlinePressure);
    assert_eq!(ids(p.waves[1].orders()), vec!["b"]);
    assert_eq!(p.waves[1].pickup_at, vn(SAT, 17, 0));
    for w in &p.waves {
        assert_eq!(w.splits.len(), 1);
        assert_eq!(w.splits[0].reason, SPLIT_DEADLINE);
    }
    check_plan(&c, &pending, &no_ended(), vn(SAT, 10, 52), &p, true);
    // Earlier, with time to pack both for 11:00, they stay together.
    let mut early_b = b;
    early_b.received_at = vn(SAT, 10, 25);
    let pending = [a, early_b];
    let p = plan(&c, &pending, &no_ended(), vn(SAT, 10, 30));
    assert_eq!(p.waves.len(), 1);
    assert_eq!(p.waves[0].parcels.len(), 1);
    assert_eq!(p.waves[0].pickup_at, vn(SAT, 11, 0));
}

#[test]
fn duplicate_ids_are_planned_once() {
    let t = vn(SAT, 19, 0);
    let o = order("s", "1", "live", "b", t, &[("TEA-100", 1)]);
    let ended = HashSet::from([("s".to_owned(), "live".to_owned())]);
    let pending = [o.clone(), o];
    let p = plan(&cfg(), &pending, &ended, t + Duration::minutes(1));
    assert_eq!(p.released().count(), 1);
}

#[test]
fn fifo_cuts_in_arrival_order_and_holds_the_partial_batch() {
    let mut c = cfg();
    c.wave_max = 4;
    let t = vn(SAT, 19, 0);
    let pending: Vec<PlanOrder> = (0..10)
        .map(|i| {
            let at = t + Duration::seconds(i64::from(10 - i));
            order(
                "s",
                &format!("{i}"),
                "live",
                &format!("b{}", i % 3),
                at,
                &[("TEA-100", 1)],
            )
        })
        .collect();
    let p = plan_fifo(&c, &pending, &no_ended(), t + Duration::minutes(1));
    assert_eq!(p.waves.len(), 2);
    assert_eq!(ids(p.waves[0].orders()).len(), 4);
    let mut first: Vec<&str> = ids(p.waves[0].orders());
    first.sort();
    assert_eq!(first, vec!["6", "7", "8", "9"]);
    assert_eq!(ids(&p.held), vec!["0", "1"]);
    assert_eq!(p.waves[0].release_reason, ReleaseReason::WaveFull);
    check_plan(&c, &pending, &no_ended(), t, &p, false);
}

#[test]
fn buyers_sharing_a_hash_are_still_grouped_apart() {
    let t = vn(SAT, 19, 0);
    // Seller "s": buyers b0, b1, b2; seller "t" reuses the key b1 (another buyer).
    let pending: Vec<PlanOrder> = (0..16)
        .map(|i| {
            let at = t + Duration::seconds(i64::from((i * 7) % 5));
            let (seller, buyer) = if i < 12 {
                ("s", format!("b{}", i % 3))
            } else {
                ("t", "b1".to_owned())
            };
            order(
                seller,
                &format!("{i:02}"),
                "live",
                &buyer,
                at,
                &[("TEA-100", 1)],
            )
        })
        .collect();
    let all = canonical(&pending);
    let ended = no_ended();
    let ended = EndedSessions::new(&ended);
    let table = catalog::Table::new(&cfg(), &all, &ended);
    // Every buyer hashes to 0: the run must be split by the key itself.
    let colliding: Vec<catalog::Buyer<'_>> = table
        .buyers
        .iter()
        .map(|b| catalog::Buyer { hash: 0, ..*b })
        .collect();
    let (ix, group) = release::by_buyer(&colliding, &table.facts);
    assert_eq!(ix.len(), 16);
    let mut seen: Vec<(u32, &str, &str)> = ix
        .iter()
        .zip(&group)
        .map(|(&i, &g)| (g, all[i].id.seller.as_str(), all[i].buyer_key.as_str()))
        .collect();
    seen.dedup();
    assert_eq!(
        seen,
        vec![
            (0, "s", "b0"),
            (1, "s", "b1"),
            (2, "s", "b2"),
            (3, "t", "b1")
        ]
    );
    // Within a buyer: by (pickup_at, received_at, canonical index).
    for (k, pair) in ix.windows(2).enumerate() {
        if group[k] == group[k + 1] {
            let (a, b) = (all[pair[0]], all[pair[1]]);
            assert!(
                (a.pickup_at, a.received_at, pair[0]) < (b.pickup_at, b.received_at, pair[1]),
                "buyer order at {k}"
            );
        }
    }
    let (_, normal) = release::by_buyer(&table.buyers, &table.facts);
    let mut distinct = normal.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 4);
}

/// An urgent order (`u0`, SKU A, held 31 minutes at `now`: MaxHold) and two rounds of one
/// order of each of `skus` (buyers `b-p{round}{k}`, arrived 10 minutes later and on, their
/// combine window passed), for waves of `wave_max`.
fn top_up_day(wave_max: usize, skus: &[&str]) -> (PlanConfig, Vec<PlanOrder>, DateTime<Utc>) {
    let t = vn(SAT, 19, 0);
    let mut c = cfg();
    c.wave_max = wave_max;
    c.wave_min = 1;
    let mut pending = vec![order("s", "u0", "live", "b-u0", t, &[("A", 1)])];
    for round in 0..2i64 {
        for (k, sku) in skus.iter().enumerate() {
            let at = t + Duration::minutes(10 + round * skus.len() as i64 + k as i64);
            let id = format!("p{round}{k}");
            pending.push(order("s", &id, "live", &format!("b-{id}"), at, &[(sku, 1)]));
        }
    }
    (c, pending, t + Duration::minutes(31))
}

/// An urgent order topped up to a wave from a small pool: oldest first would take seven
/// single-SKU orders of seven SKUs and leave their seven repeat SKUs for later (8 lines now,
/// 7 later); the fewest-new-SKUs fill takes pairs of the same SKU (5 lines now, 4 later).
#[test]
fn an_urgent_top_up_from_a_small_pool_takes_the_orders_adding_fewest_skus() {
    let (c, pending, now) = top_up_day(8, &["B", "C", "D", "E", "F", "G", "I"]);
    let p = plan(&c, &pending, &no_ended(), now);
    check_plan(&c, &pending, &no_ended(), now, &p, true);
    let mut released = ids(p.released());
    released.sort_unstable();
    // u0, then B, C, D (each SKU twice) and the first E.
    assert_eq!(
        released,
        ["p00", "p01", "p02", "p03", "p10", "p11", "p12", "u0"]
    );
    let lines: usize = p.waves.iter().map(|w| w.pick_list.len()).sum();
    assert_eq!(lines, 5, "A, B, C, D, E");
    assert_eq!(p.held.len(), 7);
}

/// The same top-up where the fewest-new-SKUs fill would leave only 2 lines fewer (5 against
/// 7 between what goes and what stays): under `FEWEST_GAIN`, so the oldest go.
#[test]
fn an_urgent_top_up_keeps_the_oldest_when_fewest_new_skus_gains_under_three_lines() {
    let (c, pending, now) = top_up_day(4, &["B", "C", "D"]);
    let p = plan(&c, &pending, &no_ended(), now);
    check_plan(&c, &pending, &no_ended(), now, &p, true);
    let mut released = ids(p.released());
    released.sort_unstable();
    // Fewest new SKUs would take p00, p10 (both B) and p01 instead of p02.
    assert_eq!(released, ["p00", "p01", "p02", "u0"]);
    assert_eq!(p.held.len(), 3);
}
