//! How good a set of waves is for the packing staff: walking (pick lines per order),
//! combining (parcels per order) and punctuality. Used by the benchmark and tests to
//! compare [`super::plan`] with [`super::plan_fifo`].

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{OrderRef, PlanConfig, PlanOrder, WavePlan};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanQuality {
    pub orders: usize,
    pub waves: usize,
    /// Σ over waves of pick-list lines.
    pub pick_lines: usize,
    pub parcels: usize,
    /// Orders whose wave's pickup is not after their deadline.
    pub pickup_by_deadline: usize,
    /// Orders whose wave is also packed by its pickup (see [`PackingSim`]); only filled
    /// by [`PackingSim::quality`].
    pub packed_in_time: usize,
}

impl PlanQuality {
    pub fn pick_lines_per_order(&self) -> f64 {
        ratio(self.pick_lines, self.orders)
    }
    pub fn parcels_per_order(&self) -> f64 {
        ratio(self.parcels, self.orders)
    }
    pub fn pickup_by_deadline_fraction(&self) -> f64 {
        ratio(self.pickup_by_deadline, self.orders)
    }
    pub fn packed_in_time_fraction(&self) -> f64 {
        ratio(self.packed_in_time, self.orders)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Measures waves over the orders they came from (orders not found count as on time).
pub fn measure<'w>(
    waves: impl IntoIterator<Item = &'w WavePlan<'w>>,
    orders: &[PlanOrder],
) -> PlanQuality {
    let deadlines: HashMap<&OrderRef, DateTime<Utc>> =
        orders.iter().map(|o| (&o.id, o.deadline)).collect();
    let mut q = PlanQuality::default();
    for w in waves {
        q.waves += 1;
        q.orders += w.order_count();
        q.pick_lines += w.pick_list.len();
        q.parcels += w.parcels.len();
        q.pickup_by_deadline += w
            .orders()
            .filter(|id| deadlines.get(id).is_none_or(|d| w.pickup_at <= *d))
            .count();
    }
    q
}

/// A packing floor: `packers` work through released waves in the order they are
/// released, a wave taking `minutes / packers`. An order is packed in time when its wave
/// is finished by the wave's pickup, and that pickup is not after its deadline.
#[derive(Debug, Clone)]
pub struct PackingSim<'o> {
    packers: f64,
    free_at: Option<DateTime<Utc>>,
    deadlines: HashMap<&'o OrderRef, DateTime<Utc>>,
    quality: PlanQuality,
}

impl<'o> PackingSim<'o> {
    pub fn new(cfg: &PlanConfig, orders: &'o [PlanOrder]) -> Self {
        PackingSim {
            packers: f64::from(cfg.packers.max(1)),
            free_at: None,
            deadlines: orders.iter().map(|o| (&o.id, o.deadline)).collect(),
            quality: PlanQuality::default(),
        }
    }

    /// A wave released at `at`.
    pub fn release(&mut self, at: DateTime<Utc>, w: &WavePlan<'_>) {
        let start = self.free_at.map_or(at, |f| f.max(at));
        let ms = (w.minutes / self.packers * 60_000.0).clamp(0.0, 1e15) as i64;
        let finish = start
            .checked_add_signed(chrono::Duration::milliseconds(ms))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.free_at = Some(finish);
        let q = &mut self.quality;
        q.waves += 1;
        q.orders += w.order_count();
        q.pick_lines += w.pick_list.len();
        q.parcels += w.parcels.len();
        for id in w.orders() {
            let by_deadline = self.deadlines.get(id).is_none_or(|d| w.pickup_at <= *d);
            if by_deadline {
                q.pickup_by_deadline += 1;
                if finish <= w.pickup_at {
                    q.packed_in_time += 1;
                }
            }
        }
    }

    pub fn quality(&self) -> &PlanQuality {
        &self.quality
    }
}

/// A planner: [`super::plan`] or [`super::plan_fifo`].
pub type Planner = for<'a> fn(
    &PlanConfig,
    &'a [PlanOrder],
    &std::collections::HashSet<(String, String)>,
    DateTime<Utc>,
) -> super::Plan<'a>;

/// Plans once at `now` with every session of `synth` ended; the waves go to the floor at
/// `now`.
pub fn single_shot(
    planner: Planner,
    cfg: &PlanConfig,
    synth: &super::synth::Synth,
    now: DateTime<Utc>,
) -> PlanQuality {
    let ended = synth
        .sessions
        .iter()
        .map(|x| (x.seller.clone(), x.label.clone()))
        .collect();
    let p = planner(cfg, &synth.orders, &ended, now);
    let mut sim = PackingSim::new(cfg, &synth.orders);
    for w in &p.waves {
        sim.release(now, w);
    }
    sim.quality().clone()
}

/// Replans every `step` from `from` to `until` as the shell does: arrived orders in,
/// released orders out, each session ended from its end on. Also returns, per released
/// order, the time from its arrival to the plan that put it on a pick list.
pub fn replay(
    planner: Planner,
    cfg: &PlanConfig,
    synth: &super::synth::Synth,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    step: chrono::Duration,
) -> (PlanQuality, Vec<chrono::Duration>) {
    let orders = &synth.orders;
    let mut pending: Vec<PlanOrder> = Vec::new();
    let mut fed = 0;
    let mut sim = PackingSim::new(cfg, orders);
    let mut waits = Vec::with_capacity(orders.len());
    let mut now = from;
    while now <= until {
        while fed < orders.len() && orders[fed].received_at <= now {
            pending.push(orders[fed].clone());
            fed += 1;
        }
        let ended = synth
            .sessions
            .iter()
            .filter(|x| x.end <= now)
            .map(|x| (x.seller.clone(), x.label.clone()))
            .collect();
        let p = planner(cfg, &pending, &ended, now);
        for w in &p.waves {
            sim.release(now, w);
        }
        let out: std::collections::HashSet<OrderRef> = p.released().cloned().collect();
        drop(p);
        pending.retain(|o| {
            let gone = out.contains(&o.id);
            if gone {
                waits.push(now - o.received_at);
            }
            !gone
        });
        now += step;
    }
    (sim.quality().clone(), waits)
}
