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
    /// Its position in the pool (for [`PoolSkus::of`]).
    n: usize,
    /// Copies of the unit's deadline and key, so sorting does not chase `unit`.
    deadline: chrono::DateTime<chrono::Utc>,
    key: usize,
    /// More than one distinct SKU.
    multi: bool,
    /// The smallest popularity ranks of its distinct SKUs, ascending, padded with MAX.
    sig: [u32; SIGNATURE_SKUS],
}

impl<'u, 'a> Keyed<'u, 'a> {
    fn new(unit: &'u Unit<'a>, n: usize, skus: &PoolSkus, rank: &[u32]) -> Self {
        let mut sig = [u32::MAX; SIGNATURE_SKUS];
        let mut first: Option<u32> = None;
        let mut multi = false;
        for &sku in skus.of(n) {
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
            n,
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

/// The waves of one pickup: `pieces` in wave order, wave `w` being
/// `pieces[ends[w - 1]..ends[w]]` (from 0 for the first).
pub(crate) struct Cut<'u> {
    pieces: Vec<Piece<'u>>,
    ends: Vec<usize>,
}

impl<'u> Cut<'u> {
    /// Each wave's buyer pieces, in order.
    pub(crate) fn waves(&self) -> impl Iterator<Item = &[Piece<'u>]> + '_ {
        self.ends.iter().scan(0, |start, &end| {
            let wave = self.pieces.get(*start..end);
            *start = end;
            wave
        })
    }
}

/// The waves of one pickup, each a list of buyer pieces.
///
/// The candidate cuts are wave ends over one sequence of pieces (singles, then multis),
/// so comparing them copies no pieces; only an arrival-order winner is re-laid out.
pub(crate) fn cut<'u>(
    cfg: &PlanConfig,
    all: &[&PlanOrder],
    catalog: &Catalog<'_>,
    pool: &[&'u Unit<'_>],
    walk_first: bool,
) -> Cut<'u> {
    let skus = PoolSkus::new(catalog, pool);
    let rank = popularity(catalog, &skus);
    let mut singles = Vec::new();
    let mut multis = Vec::new();
    for (n, u) in pool.iter().enumerate() {
        let k = Keyed::new(u, n, &skus, &rank);
        if k.multi {
            multis.push(k);
        } else {
            singles.push(k);
        }
    }
    singles.sort_unstable_by(Keyed::cmp);
    multis.sort_unstable_by(Keyed::cmp);

    // Singles, then multis: cut together, or apart at `split`.
    // `src`: per piece, its unit's pool position when it is the whole unit.
    let mut seq = Vec::with_capacity(singles.len() + multis.len());
    let mut src = Vec::with_capacity(seq.capacity());
    pieces(cfg, all, &singles, &mut seq, &mut src);
    let split = seq.len();
    pieces(cfg, all, &multis, &mut seq, &mut src);
    let lines_of = |seq: &[Piece<'_>], src: &[Option<usize>], ends: &[usize]| {
        pick_lines(catalog, &skus, seq, src, ends)
    };
    drop((singles, multis));
    let floor = cfg.wave_min.max(1);
    let n_single: usize = seq[..split].iter().map(Piece::len).sum();
    let n_multi: usize = seq[split..].iter().map(Piece::len).sum();
    let may_part = n_single >= floor && n_multi >= floor;
    let apart = |seq: &[Piece<'_>]| {
        let mut ends = balanced(cfg, &seq[..split]);
        ends.extend(balanced(cfg, &seq[split..]).into_iter().map(|e| e + split));
        ends
    };
    if !walk_first {
        let ends = if may_part {
            apart(&seq)
        } else {
            balanced(cfg, &seq)
        };
        return Cut { pieces: seq, ends };
    }
    let mut best = balanced(cfg, &seq);
    let mut best_lines = lines_of(&seq, &src, &best);
    if may_part {
        // Apart only when that walks less (it can cost a wave more).
        let ends = apart(&seq);
        let lines = lines_of(&seq, &src, &ends);
        if lines < best_lines {
            (best, best_lines) = (ends, lines);
        }
    }
    if best.len() > 1 {
        // Clustering by popular SKUs can still lose to plain arrival order when it cuts a
        // small release into waves: keep whichever walks less. Arrival order is by each
        // piece's smallest canonical index (ties, which disjoint pieces cannot have, by
        // position: a stable sort).
        let mut by_arrival: Vec<(Option<usize>, usize)> = seq
            .iter()
            .enumerate()
            .map(|(k, p)| (p.orders.iter().min().copied(), k))
            .collect();
        by_arrival.sort_unstable();
        let arrival: Vec<Piece<'u>> = by_arrival.iter().map(|&(_, k)| seq[k]).collect();
        let arrival_src: Vec<Option<usize>> = by_arrival.iter().map(|&(_, k)| src[k]).collect();
        let ends = balanced(cfg, &arrival);
        if lines_of(&arrival, &arrival_src, &ends) < best_lines {
            return Cut {
                pieces: arrival,
                ends,
            };
        }
    }
    Cut {
        pieces: seq,
        ends: best,
    }
}

/// Σ over waves of distinct SKUs: the pick lines the waves (`ends` over `seq`) would have.
/// `src[k]`: the pool position of piece `k`'s unit when the piece is all of it (its SKUs
/// are then read from `skus`).
fn pick_lines(
    catalog: &Catalog<'_>,
    skus: &PoolSkus,
    seq: &[Piece<'_>],
    src: &[Option<usize>],
    ends: &[usize],
) -> usize {
    let mut seen = vec![usize::MAX; catalog.len()];
    let mut lines = 0;
    let mut start = 0;
    for (w, &end) in ends.iter().enumerate() {
        let wave = seq.get(start..end).unwrap_or(&[]);
        let wave_src = src.get(start..end).unwrap_or(&[]);
        for (piece, &unit) in wave.iter().zip(wave_src) {
            let mut count = |sku: u32| {
                if let Some(s) = seen.get_mut(sku as usize) {
                    if *s != w {
                        *s = w;
                        lines += 1;
                    }
                }
            };
            match unit {
                Some(n) => skus.of(n).iter().for_each(|&sku| count(sku)),
                None => piece
                    .orders
                    .iter()
                    .flat_map(|&i| catalog.skus_of(i))
                    .for_each(|&sku| count(sku)),
            }
        }
        start = end;
    }
    lines
}

/// The SKU ids of each unit of a pool (its orders' lines, in order), gathered in one
/// pass: the passes over the pool then read one flat array instead of every order's
/// lines in the catalog.
struct PoolSkus {
    off: Vec<usize>,
    skus: Vec<u32>,
}

impl PoolSkus {
    fn new(catalog: &Catalog<'_>, pool: &[&Unit<'_>]) -> Self {
        let mut off = Vec::with_capacity(pool.len() + 1);
        let mut skus = Vec::with_capacity(pool.len() * 2);
        off.push(0);
        for u in pool {
            for &i in u.orders {
                skus.extend_from_slice(catalog.skus_of(i));
            }
            off.push(skus.len());
        }
        PoolSkus { off, skus }
    }

    /// The SKU ids of the unit at pool position `n`.
    fn of(&self, n: usize) -> &[u32] {
        match (self.off.get(n), self.off.get(n + 1)) {
            (Some(&a), Some(&b)) => self.skus.get(a..b).unwrap_or(&[]),
            _ => &[],
        }
    }

    fn len(&self) -> usize {
        self.off.len().saturating_sub(1)
    }
}

/// Positions in `pool` in SKU-cluster order: by the popularity ranks of their SKUs
/// (within the pool), then deadline, then identity.
pub(crate) fn cluster_order(catalog: &Catalog<'_>, pool: &[&Unit<'_>]) -> Vec<usize> {
    let skus = PoolSkus::new(catalog, pool);
    let rank = popularity(catalog, &skus);
    let mut keyed: Vec<Keyed<'_, '_>> = pool
        .iter()
        .enumerate()
        .map(|(n, u)| Keyed::new(u, n, &skus, &rank))
        .collect();
    keyed.sort_unstable_by(Keyed::cmp);
    keyed.into_iter().map(|k| k.n).collect()
}

/// SKU id → rank (0 = in the most units of the pool; ties by SKU); MAX when not in it.
fn popularity(catalog: &Catalog<'_>, skus: &PoolSkus) -> Vec<u32> {
    let mut count = vec![0u32; catalog.len()];
    // The last unit that counted a SKU, so a unit counts each of its SKUs once.
    let mut last = vec![usize::MAX; catalog.len()];
    for n in 0..skus.len() {
        for &sku in skus.of(n) {
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

/// One piece per unit, appended to `out`; a unit larger than a wave becomes several
/// pieces of whole parcels.
fn pieces<'u>(
    cfg: &PlanConfig,
    all: &[&PlanOrder],
    keyed: &[Keyed<'u, '_>],
    out: &mut Vec<Piece<'u>>,
    src: &mut Vec<Option<usize>>,
) {
    let wave = wave_cap(cfg);
    let cap = parcel_cap(cfg);
    let per = (wave / cap).max(1) * cap;
    for k in keyed {
        let u = k.unit;
        let piece = |orders: &'u [usize], deadline, split_over_wave| Piece {
            orders,
            reason: u.reason.unwrap_or(ReleaseReason::CombineWindowElapsed),
            deadline,
            split_deadline: u.split_deadline,
            split_over_wave,
        };
        if u.len() <= wave {
            out.push(piece(u.orders, u.deadline, false));
            src.push(Some(k.n));
            continue;
        }
        for chunk in u.orders.chunks(per) {
            let deadline = chunk
                .iter()
                .map(|&i| all[i].deadline)
                .min()
                .unwrap_or(u.deadline);
            out.push(piece(chunk, deadline, true));
            src.push(None);
        }
    }
}

/// Cuts a sequence into waves of at most `wave_max` orders, near `ceil(n / ceil(n /
/// wave_max))` each, never splitting a piece: the end (exclusive) of each wave in `seq`.
fn balanced(cfg: &PlanConfig, seq: &[Piece<'_>]) -> Vec<usize> {
    let max = wave_cap(cfg);
    let n: usize = seq.iter().map(Piece::len).sum();
    if n == 0 {
        return Vec::new();
    }
    let waves = n.div_ceil(max);
    let target = n.div_ceil(waves);
    let mut ends = Vec::with_capacity(waves + 1);
    let mut size = 0usize;
    for (k, p) in seq.iter().enumerate() {
        let len = p.len();
        let next = size + len;
        let close = size > 0
            && (next > max || (next > target && next - target > target.saturating_sub(size)));
        if close {
            ends.push(k);
            size = 0;
        }
        size += len;
    }
    ends.push(seq.len());
    ends
}
