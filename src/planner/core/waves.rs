//! Cutting the units released for one pickup into waves: single-SKU buyers apart from
//! multi-SKU ones, clustered by shared SKUs (most popular first), earliest deadline first
//! within a cluster, balanced waves of at most `wave_max` orders, buyers kept whole.

use std::cmp::Ordering;

use super::build::{parcel_cap, wave_cap, Piece};
use super::catalog::Catalog;
use super::release::Unit;
use super::{PlanConfig, PlanOrder, ReleaseReason};

/// SKUs compared when clustering multi-SKU buyers (their most popular ones).
const SIGNATURE_SKUS: usize = 4;

struct Keyed<'u, 'a> {
    unit: &'u Unit<'a>,
    /// Copies of the unit's deadline and key, so sorting does not chase `unit`.
    deadline: chrono::DateTime<chrono::Utc>,
    key: usize,
    /// More than one distinct SKU.
    multi: bool,
    /// The smallest popularity ranks of its distinct SKUs, ascending, padded with MAX.
    sig: [u32; SIGNATURE_SKUS],
}

impl<'u, 'a> Keyed<'u, 'a> {
    fn new(unit: &'u Unit<'a>, catalog: &Catalog<'_>, rank: &[u32]) -> Self {
        let mut sig = [u32::MAX; SIGNATURE_SKUS];
        let mut first: Option<u32> = None;
        let mut multi = false;
        for &sku in unit.orders.iter().flat_map(|&i| catalog.skus_of(i)) {
            let r = rank.get(sku as usize).copied().unwrap_or(u32::MAX);
            match first {
                None => first = Some(r),
                Some(f) if f != r => multi = true,
                Some(_) => {}
            }
            // Insert r into the sorted, distinct `sig` when it is among the smallest.
            if sig.contains(&r) {
                continue;
            }
            if let Some(pos) = sig.iter().position(|&x| r < x) {
                sig[pos..].rotate_right(1);
                sig[pos] = r;
            }
        }
        Keyed {
            unit,
            deadline: unit.deadline,
            key: unit.key,
            multi,
            sig,
        }
    }

    fn cmp(&self, other: &Self) -> Ordering {
        self.sig
            .cmp(&other.sig)
            .then_with(|| self.deadline.cmp(&other.deadline))
            .then_with(|| self.key.cmp(&other.key))
    }
}

/// The waves of one pickup, each a list of buyer pieces.
pub(crate) fn cut<'u>(
    cfg: &PlanConfig,
    all: &[&PlanOrder],
    catalog: &Catalog<'_>,
    pool: &[&'u Unit<'_>],
    walk_first: bool,
) -> Vec<Vec<Piece<'u>>> {
    let rank = popularity(catalog, pool);
    let mut singles = Vec::new();
    let mut multis = Vec::new();
    for u in pool {
        let k = Keyed::new(u, catalog, &rank);
        if k.multi {
            multis.push(k);
        } else {
            singles.push(k);
        }
    }
    singles.sort_unstable_by(Keyed::cmp);
    multis.sort_unstable_by(Keyed::cmp);

    let singles = pieces(cfg, all, &singles);
    let multis = pieces(cfg, all, &multis);
    let floor = cfg.wave_min.max(1);
    let n_single: usize = singles.iter().map(Piece::len).sum();
    let n_multi: usize = multis.iter().map(Piece::len).sum();
    if !walk_first {
        return if n_single >= floor && n_multi >= floor {
            let mut out = balanced(cfg, singles);
            out.extend(balanced(cfg, multis));
            out
        } else {
            let mut all_pieces = singles;
            all_pieces.extend(multis);
            balanced(cfg, all_pieces)
        };
    }
    let mut together = singles.clone();
    together.extend(multis.iter().cloned());
    let mut arrival = together.clone();
    let mut best = balanced(cfg, together);
    let mut best_lines = pick_lines(catalog, &best);
    if n_single >= floor && n_multi >= floor {
        // Apart only when that walks less (it can cost a wave more).
        let mut apart = balanced(cfg, singles);
        apart.extend(balanced(cfg, multis));
        let lines = pick_lines(catalog, &apart);
        if lines < best_lines {
            (best, best_lines) = (apart, lines);
        }
    }
    if best.len() > 1 {
        // Clustering by popular SKUs can still lose to plain arrival order when it cuts a
        // small release into waves: keep whichever walks less.
        arrival.sort_by_key(|p| p.orders.iter().min().copied());
        let arrival = balanced(cfg, arrival);
        if pick_lines(catalog, &arrival) < best_lines {
            best = arrival;
        }
    }
    best
}

/// Σ over waves of distinct SKUs: the pick lines the waves would have.
fn pick_lines(catalog: &Catalog<'_>, waves: &[Vec<Piece<'_>>]) -> usize {
    let mut seen = vec![usize::MAX; catalog.len()];
    let mut lines = 0;
    for (w, pieces) in waves.iter().enumerate() {
        for &i in pieces.iter().flat_map(|p| p.orders.iter()) {
            for &sku in catalog.skus_of(i) {
                if let Some(s) = seen.get_mut(sku as usize) {
                    if *s != w {
                        *s = w;
                        lines += 1;
                    }
                }
            }
        }
    }
    lines
}

/// Positions in `pool` in SKU-cluster order: by the popularity ranks of their SKUs
/// (within the pool), then deadline, then identity.
pub(crate) fn cluster_order(catalog: &Catalog<'_>, pool: &[&Unit<'_>]) -> Vec<usize> {
    let rank = popularity(catalog, pool);
    let mut keyed: Vec<(Keyed<'_, '_>, usize)> = pool
        .iter()
        .enumerate()
        .map(|(n, u)| (Keyed::new(u, catalog, &rank), n))
        .collect();
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    keyed.into_iter().map(|(_, n)| n).collect()
}

/// SKU id → rank (0 = in the most units of the pool; ties by SKU); MAX when not in it.
fn popularity(catalog: &Catalog<'_>, pool: &[&Unit<'_>]) -> Vec<u32> {
    let mut count = vec![0u32; catalog.len()];
    // The last unit that counted a SKU, so a unit counts each of its SKUs once.
    let mut last = vec![usize::MAX; catalog.len()];
    for (n, u) in pool.iter().enumerate() {
        for &sku in u.orders.iter().flat_map(|&i| catalog.skus_of(i)) {
            let k = sku as usize;
            if let (Some(c), Some(l)) = (count.get_mut(k), last.get_mut(k)) {
                if *l != n {
                    *l = n;
                    *c += 1;
                }
            }
        }
    }
    let mut skus: Vec<(u32, u32)> = count
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(k, c)| (u32::try_from(k).unwrap_or(u32::MAX), *c))
        .collect();
    skus.sort_unstable_by(|a, b| {
        b.1.cmp(&a.1).then_with(|| {
            let name = |k: u32| catalog.skus.get(k as usize).copied().unwrap_or("");
            name(a.0).cmp(name(b.0))
        })
    });
    let mut rank = vec![u32::MAX; catalog.len()];
    for (r, (k, _)) in skus.into_iter().enumerate() {
        if let Some(x) = rank.get_mut(k as usize) {
            *x = u32::try_from(r).unwrap_or(u32::MAX);
        }
    }
    rank
}

/// One piece per unit; a unit larger than a wave becomes several pieces of whole parcels.
fn pieces<'u>(cfg: &PlanConfig, all: &[&PlanOrder], keyed: &[Keyed<'u, '_>]) -> Vec<Piece<'u>> {
    let wave = wave_cap(cfg);
    let cap = parcel_cap(cfg);
    let per = (wave / cap).max(1) * cap;
    let mut out = Vec::with_capacity(keyed.len());
    for k in keyed {
        let u = k.unit;
        let piece = |orders: &'u [usize], deadline, split_over_wave| Piece {
            seller: u.seller,
            buyer: u.buyer,
            orders,
            reason: u.reason.unwrap_or(ReleaseReason::CombineWindowElapsed),
            deadline,
            split_deadline: u.split_deadline,
            split_over_wave,
        };
        if u.len() <= wave {
            out.push(piece(u.orders, u.deadline, false));
            continue;
        }
        for chunk in u.orders.chunks(per) {
            let deadline = chunk
                .iter()
                .map(|&i| all[i].deadline)
                .min()
                .unwrap_or(u.deadline);
            out.push(piece(chunk, deadline, true));
        }
    }
    out
}

/// Cuts a sequence into waves of at most `wave_max` orders, near `ceil(n / ceil(n /
/// wave_max))` each, never splitting a piece.
fn balanced<'a>(cfg: &PlanConfig, seq: Vec<Piece<'a>>) -> Vec<Vec<Piece<'a>>> {
    let max = wave_cap(cfg);
    let n: usize = seq.iter().map(Piece::len).sum();
    if n == 0 {
        return Vec::new();
    }
    let waves = n.div_ceil(max);
    let target = n.div_ceil(waves);
    let mut out: Vec<Vec<Piece<'a>>> = Vec::with_capacity(waves);
    let mut cur: Vec<Piece<'a>> = Vec::new();
    let mut size = 0usize;
    for p in seq {
        let len = p.len();
        let next = size + len;
        let close = size > 0
            && (next > max || (next > target && next - target > target.saturating_sub(size)));
        if close {
            out.push(std::mem::take(&mut cur));
            size = 0;
        }
        size += len;
        cur.push(p);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}
