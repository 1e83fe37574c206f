//! Synthetic livestream evenings for the property tests, the scenario tests and the
//! benchmark: several overlapping sessions, a few hero SKUs per seller with Zipf-like
//! popularity, bursts of orders after each product pitch, repeat buyers who add an order
//! a few minutes later, and optionally "whales" with more than a parcel's worth of orders.
//! Deterministic for a seed (a small built-in PRNG, no dependency).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::{OrderRef, PlanLine, PlanOrder};
use crate::domain::schedule::{due, SiteSchedule};

#[derive(Debug, Clone)]
pub struct SynthParams {
    pub orders: usize,
    pub sellers: usize,
    pub sessions: usize,
    pub heroes_per_seller: usize,
    pub tail_skus_per_seller: usize,
    /// Zipf exponent of hero popularity.
    pub zipf_s: f64,
    /// Share of orders placed by a buyer who already ordered in the session.
    pub repeat_rate: f64,
    /// Share of orders with more than one line.
    pub multi_line_rate: f64,
    /// Buyers with 21–60 orders each (counted in `orders`).
    pub whales: usize,
    /// The first session starts here; the last one ends at `start + span`.
    pub start: DateTime<Utc>,
    pub span: Duration,
    /// Minutes between product pitches within a session.
    pub pitch_every_minutes: i64,
    pub seed: u64,
}

impl SynthParams {
    /// Three overlapping sessions of three sellers over three hours from `start`.
    pub fn evening(orders: usize, start: DateTime<Utc>, seed: u64) -> Self {
        SynthParams {
            orders,
            sellers: 3,
            sessions: 3,
            heroes_per_seller: 5,
            tail_skus_per_seller: 30,
            zipf_s: 1.1,
            repeat_rate: 0.10,
            multi_line_rate: 0.3,
            whales: 0,
            start,
            span: Duration::hours(3),
            pitch_every_minutes: 10,
            seed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthSession {
    pub seller: String,
    pub label: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Synth {
    /// Sorted by (received_at, id).
    pub orders: Vec<PlanOrder>,
    pub sessions: Vec<SynthSession>,
    /// Bins of the hero SKUs and most tail SKUs (every 7th tail SKU has none).
    pub bins: BTreeMap<String, String>,
}

/// splitmix64.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5851_F42D_4C95_7F2D)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in 0..n (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Exponential with the given mean.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let w: Vec<f64> = (1..=n).map(|k| 1.0 / (k as f64).powf(s)).collect();
    let total: f64 = w.iter().sum();
    let mut acc = 0.0;
    w.iter()
        .map(|x| {
            acc += x / total;
            acc
        })
        .collect()
}

fn pick_cdf(rng: &mut Rng, cdf: &[f64]) -> usize {
    let u = rng.unit();
    cdf.partition_point(|c| *c < u)
        .min(cdf.len().saturating_sub(1))
}

fn hero(seller: usize, h: usize) -> String {
    format!("S{seller}-HERO-{h}")
}
fn tail(seller: usize, t: usize) -> String {
    format!("S{seller}-ITEM-{t:02}")
}
fn weight_of(sku: &str) -> u64 {
    200 + sku
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        % 1000
}

struct Ctx<'p> {
    p: &'p SynthParams,
    cdf: Vec<f64>,
}

impl Ctx<'_> {
    fn sku(&self, rng: &mut Rng, seller: usize, pitched: usize) -> String {
        if rng.chance(0.12) && self.p.tail_skus_per_seller > 0 {
            tail(seller, rng.below(self.p.tail_skus_per_seller))
        } else if rng.chance(0.5) {
            hero(seller, pitched)
        } else {
            hero(seller, pick_cdf(rng, &self.cdf))
        }
    }

    fn lines(&self, rng: &mut Rng, seller: usize, pitched: usize) -> Vec<PlanLine> {
        let n = if rng.chance(self.p.multi_line_rate) {
            2 + rng.below(3)
        } else {
            1
        };
        let mut skus: Vec<String> = Vec::with_capacity(n);
        for _ in 0..n * 3 {
            if skus.len() == n {
                break;
            }
            let s = self.sku(rng, seller, pitched);
            if !skus.contains(&s) {
                skus.push(s);
            }
        }
        skus.into_iter()
            .map(|sku| {
                let qty = match rng.below(10) {
                    0..=6 => 1,
                    7 | 8 => 2,
                    _ => 3,
                };
                PlanLine {
                    name: format!("Sản phẩm {sku}"),
                    sku,
                    qty,
                }
            })
            .collect()
    }
}

pub fn generate(p: &SynthParams, sched: &SiteSchedule) -> Synth {
    let mut rng = Rng::new(p.seed);
    let sellers = p.sellers.max(1);
    let heroes = p.heroes_per_seller.max(1);
    let ctx = Ctx {
        p,
        cdf: zipf_cdf(heroes, p.zipf_s),
    };
    let n_sessions = p.sessions.max(1);
    let span_ms = p.span.num_milliseconds().max(60_000);
    let len_ms = if n_sessions > 1 {
        span_ms * 2 / 3
    } else {
        span_ms
    };
    let sessions: Vec<SynthSession> = (0..n_sessions)
        .map(|i| {
            let offset = if n_sessions > 1 {
                (span_ms - len_ms) * i as i64 / (n_sessions as i64 - 1)
            } else {
                0
            };
            let start = p.start + Duration::milliseconds(offset);
            SynthSession {
                seller: format!("seller-{}", i % sellers),
                label: format!("live-{i}"),
                start,
                end: start + Duration::milliseconds(len_ms),
            }
        })
        .collect();
    let pitch_ms = p.pitch_every_minutes.max(1) * 60_000;
    let pitches = (len_ms / pitch_ms).max(1) as usize;

    // (buyer, session, arrival) of every order so far, for repeat buyers.
    let mut placed: Vec<(usize, usize, DateTime<Utc>)> = Vec::with_capacity(p.orders);
    let mut orders = Vec::with_capacity(p.orders);
    let mut buyers = 0usize;
    let mut whale_left: Vec<usize> = (0..p.whales).map(|_| 21 + rng.below(40)).collect();

    for k in 0..p.orders {
        let s_idx;
        let buyer;
        let at;
        let pitched;
        if let Some(w) = whale_left.iter().position(|n| *n > 0) {
            whale_left[w] -= 1;
            s_idx = w % n_sessions;
            buyer = usize::MAX - w;
            let ss = &sessions[s_idx];
            at = ss.start + Duration::milliseconds((rng.unit() * len_ms as f64) as i64);
            pitched = rng.below(heroes);
        } else if !placed.is_empty() && rng.chance(p.repeat_rate) {
            let (b, s, prev) = placed[rng.below(placed.len())];
            s_idx = s;
            buyer = b;
            let later = Duration::milliseconds((rng.exp(180.0) * 1000.0) as i64);
            at = (prev + later).min(sessions[s].end);
            pitched = rng.below(heroes);
        } else {
            s_idx = rng.below(n_sessions);
            buyer = buyers;
            buyers += 1;
            let j = rng.below(pitches);
            let ss = &sessions[s_idx];
            let after = Duration::milliseconds((rng.exp(90.0) * 1000.0) as i64);
            at = (ss.start + Duration::milliseconds(j as i64 * pitch_ms) + after).min(ss.end);
            pitched = j % heroes;
        }
        placed.push((buyer, s_idx, at));
        let ss = &sessions[s_idx];
        let seller = s_idx % sellers;
        let lines = ctx.lines(&mut rng, seller, pitched);
        let placed_at = at - Duration::seconds(rng.below(20) as i64);
        let d = due(sched, placed_at, at);
        orders.push(PlanOrder {
            id: OrderRef {
                seller: ss.seller.clone(),
                order_id: format!("TT-{k:09}"),
            },
            session: ss.label.clone(),
            buyer_key: format!("buyer-{buyer:x}"),
            received_at: at,
            deadline: d.deadline,
            pickup_at: d.pickup_at,
            weight_g: lines
                .iter()
                .map(|l| weight_of(&l.sku) * u64::from(l.qty))
                .sum(),
            lines,
        });
    }
    orders.sort_by(|a, b| (a.received_at, &a.id).cmp(&(b.received_at, &b.id)));

    let mut bins = BTreeMap::new();
    for s in 0..sellers {
        for h in 0..heroes {
            bins.insert(hero(s, h), format!("A-{s}-{h:02}"));
        }
        for t in 0..p.tail_skus_per_seller {
            if t % 7 != 3 {
                bins.insert(tail(s, t), format!("B-{s}-{t:02}"));
            }
        }
    }
    Synth {
        orders,
        sessions,
        bins,
    }
}
