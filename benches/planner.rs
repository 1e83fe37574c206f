//! Planning time and plan quality of the wave planner (`planner::core::plan`) against
//! plain FIFO batching of the same wave size (`planner::core::plan_fifo`), on generated
//! livestream sessions: a few hero SKUs per seller with Zipf-like popularity, 10 % repeat
//! buyers, bursts after each product pitch, overlapping sessions.
//!
//! `cargo bench --bench planner --features bench` prints the quality table once (stderr, markdown), then
//! criterion's timings for 3,000, 100,000 and 300,000 pending orders.

use std::collections::HashSet;
use std::hint::black_box;
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

use livepack::domain::schedule::{local_instant, SiteSchedule};
use livepack::planner::core::quality::{replay, single_shot, PlanQuality, Planner};
use livepack::planner::core::synth::{generate, Synth, SynthParams};
use livepack::planner::core::{plan, plan_fifo, PlanConfig, PlanOrder};

/// The shipped binary's allocator (src/main.rs): with glibc malloc, allocating and freeing
/// the plan's strings took about half of a 300,000-order plan's time in this bench
/// (perf), which measured an allocator the service does not use.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn at(day: u32, h: u32, m: u32) -> DateTime<Utc> {
    local_instant(
        NaiveDate::from_ymd_opt(2026, 11, day).expect("date"),
        NaiveTime::from_hms_opt(h, m, 0).expect("time"),
    )
}

fn schedule() -> SiteSchedule {
    SiteSchedule {
        pickups: vec![
            NaiveTime::from_hms_opt(11, 0, 0).expect("time"),
            NaiveTime::from_hms_opt(17, 0, 0).expect("time"),
        ],
        sla_hours: 24,
        min_pack_minutes: 30,
        same_day_cutoff: None,
    }
}

fn config(synth: &Synth, packers: u32) -> PlanConfig {
    PlanConfig {
        packers,
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
        bins: synth.bins.clone(),
    }
}

/// Saturday 19:00–22:00; one seller per session, more of both for bigger hubs.
/// Packers scale with the orders (10 per 3,000) so that the plan is feasible.
fn hub_packers(orders: usize) -> u32 {
    u32::try_from((orders * 10 / 3_000).max(10)).unwrap_or(u32::MAX)
}

fn evening(orders: usize, seed: u64) -> Synth {
    // Bigger hubs: one more seller (and session) per 3,000 orders, at least 3.
    let mut p = SynthParams::evening(orders, at(21, 19, 0), seed);
    p.sessions = (orders / 3_000).max(3);
    p.sellers = p.sessions;
    generate(&p, &schedule())
}

fn all_ended(s: &Synth) -> HashSet<(String, String)> {
    s.sessions
        .iter()
        .map(|x| (x.seller.clone(), x.label.clone()))
        .collect()
}

/// p99 of the simulated time from an order's arrival to the plan that put it on a pick
/// list (replanning every `step`: includes up to one step of polling).
fn p99(waits: &mut [Duration]) -> String {
    if waits.is_empty() {
        return "–".into();
    }
    waits.sort_unstable();
    let i = ((waits.len() as f64 * 0.99).ceil() as usize).clamp(1, waits.len()) - 1;
    format!("{} min", waits[i].num_seconds() / 60)
}

fn replanned(
    planner: Planner,
    cfg: &PlanConfig,
    s: &Synth,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    step: Duration,
) -> (PlanQuality, String) {
    let (q, mut waits) = replay(planner, cfg, s, from, until, step);
    (q, p99(&mut waits))
}

fn row(scenario: &str, planner: &str, (q, wait): &(PlanQuality, String), total: usize) {
    eprintln!(
        "| {scenario} | {planner} | {} | {} | {:.3} | {:.3} | {:.1} % | {:.1} % | {wait} |",
        q.orders,
        q.waves,
        q.pick_lines_per_order(),
        q.parcels_per_order(),
        100.0 * q.pickup_by_deadline as f64 / total.max(1) as f64,
        100.0 * q.packed_in_time as f64 / total.max(1) as f64,
    );
}

fn once(q: PlanQuality) -> (PlanQuality, String) {
    (q, "–".into())
}

fn quality_table() {
    eprintln!();
    eprintln!("Plan quality, planner vs plain FIFO batching (wave_max 200), generated sessions:");
    eprintln!();
    eprintln!("| scenario | planner | orders waved | waves | pick lines / order | parcels / order | wave pickup ≤ deadline | packed by pickup (sim) | p99 arrival → pick list (sim) |");
    eprintln!("|---|---|---|---|---|---|---|---|---|");

    // 1. Saturday evening, 3 sessions, 3,000 orders, planned once after the streams.
    let s = evening(3_000, 11);
    let cfg = config(&s, hub_packers(3_000));
    let n = s.orders.len();
    let now = at(21, 22, 0);
    let name = "evening 19–22h, 3k orders, planned at 22:00";
    row(
        name,
        "wave planner",
        &once(single_shot(plan, &cfg, &s, now)),
        n,
    );
    row(
        name,
        "FIFO",
        &once(single_shot(plan_fifo, &cfg, &s, now)),
        n,
    );

    // 2. The same evening replanned every 3 minutes.
    let (from, until, step) = (at(21, 19, 0), at(22, 1, 0), Duration::minutes(3));
    let name = "evening, replanned every 3 min";
    row(
        name,
        "wave planner (defaults: wave_min 20, fill_waves)",
        &replanned(plan, &cfg, &s, from, until, step),
        n,
    );
    let mut eager = cfg.clone();
    eager.fill_waves = false;
    row(
        name,
        "wave planner (wave_min 20, fill_waves off: before issue 20)",
        &replanned(plan, &eager, &s, from, until, step),
        n,
    );
    row(
        name,
        "FIFO",
        &replanned(plan_fifo, &cfg, &s, from, until, step),
        n,
    );

    // 3. A Saturday-morning flash sale 08:00–10:30 for the 11:00 pickup, 6 packers.
    let mut p = SynthParams::evening(500, at(21, 8, 0), 12);
    p.span = Duration::minutes(150);
    let s = generate(&p, &schedule());
    let cfg = config(&s, 6);
    let mut eager = cfg.clone();
    eager.fill_waves = false;
    let n = s.orders.len();
    let (from, until) = (at(21, 8, 0), at(21, 17, 0));
    let name = "morning sale 08–10:30h, 500 orders, 6 packers, replanned every 3 min";
    row(
        name,
        "wave planner (defaults)",
        &replanned(plan, &cfg, &s, from, until, step),
        n,
    );
    row(
        name,
        "wave planner (fill_waves off: before issue 20)",
        &replanned(plan, &eager, &s, from, until, step),
        n,
    );
    row(
        name,
        "FIFO",
        &replanned(plan_fifo, &cfg, &s, from, until, step),
        n,
    );
    eprintln!();
    eprintln!("pick lines / order: Σ over waves of pick-list lines ÷ orders (walking);");
    eprintln!("parcels / order: combining (FIFO combines a buyer only within one wave);");
    eprintln!("packed by pickup: packers work through waves in release order from the");
    eprintln!("release instant, wave done by its pickup and pickup ≤ deadline.");
    eprintln!();

    for n in [3_000usize, 100_000, 300_000] {
        let s = evening(n, 5);
        let cfg = config(&s, hub_packers(n));
        let ended = all_ended(&s);
        let (wall, cpu) = (Instant::now(), thread_cpu());
        let p = plan(&cfg, &s.orders, &ended, at(21, 22, 0));
        let (wall, cpu) = (wall.elapsed(), thread_cpu().saturating_sub(cpu));
        let (waves, held, at_risk) = (p.waves.len(), p.held.len(), p.at_risk.len());
        let dropped = Instant::now();
        drop(p);
        eprintln!(
            "one plan of {n} pending orders: {wall:.1?} wall, {cpu:.1?} CPU ({waves} waves, \
             {held} held, {at_risk} at risk); dropping the plan: {:.1?}",
            dropped.elapsed()
        );
    }
    eprintln!();
}

/// CPU time of this thread: the machine may be shared, wall time then overstates.
fn thread_cpu() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes into it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

fn bench_plan(c: &mut Criterion) {
    quality_table();
    let mut g = c.benchmark_group("plan");
    g.sample_size(10);
    for n in [3_000usize, 100_000, 300_000] {
        let s = evening(n, 5);
        let cfg = config(&s, hub_packers(n));
        let ended = all_ended(&s);
        let live = HashSet::new();
        let end = at(21, 22, 0);
        let mid = at(21, 21, 0);
        let arrived: Vec<PlanOrder> = s
            .orders
            .iter()
            .filter(|o| o.received_at <= mid)
            .cloned()
            .collect();
        g.bench_with_input(BenchmarkId::new("after_sessions", n), &n, |b, _| {
            b.iter(|| plan(&cfg, black_box(&s.orders), &ended, end))
        });
        // Mid-evening, sessions live: most orders are released (window passed), some held.
        g.bench_with_input(BenchmarkId::new("live_sessions", n), &n, |b, _| {
            b.iter(|| plan(&cfg, black_box(&arrived), &live, mid))
        });
        if n == 300_000 {
            // The same plan, timed by this thread's CPU clock: on a shared machine wall
            // time also counts the moments another process had the core.
            g.bench_with_input(BenchmarkId::new("after_sessions_cpu", n), &n, |b, _| {
                b.iter_custom(|iters| {
                    let mut spent = std::time::Duration::ZERO;
                    for _ in 0..iters {
                        let start = thread_cpu();
                        drop(black_box(plan(&cfg, black_box(&s.orders), &ended, end)));
                        spent += thread_cpu().saturating_sub(start);
                    }
                    spent
                })
            });
        }
        if n == 3_000 {
            g.bench_with_input(BenchmarkId::new("fifo_after_sessions", n), &n, |b, _| {
                b.iter(|| plan_fifo(&cfg, black_box(&s.orders), &ended, end))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench_plan);
criterion_main!(benches);
