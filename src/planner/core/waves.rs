//! Cutting the units released for one pickup into waves: single-SKU buyers apart from
//! multi-SKU ones, clustered by shared SKUs (most popular first), earliest deadline first
//! within a cluster, balanced waves of at most `wave_max` orders, buyers kept whole.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::build::{parcel_cap, wave_cap, Piece};
use super::release::Unit;
use super::{PlanConfig, ReleaseReason};

/// SKUs compared when clustering multi-SKU buyers (their most popular ones).
const SIGNATURE_SKUS: usize = 4;

struct Keyed<'u, 'a> {
    unit: &'u Unit<'a>,
    /// Ranks of the unit's distinct SKUs by popularity in the pool, ascending.
    ranks: Vec<u32>,
}

impl Keyed<'_, '_> {
    fn single(&self) -> bool {
        self.ranks.len() <= 1
    }

    fn cmp(&self, other: &Self) -> Ordering {
        let sig = |k: &Self| k.ranks.len().min(SIGNATURE_SKUS);
        self.ranks[..sig(self)]
            .cmp(&other.ranks[..sig(other)])
            .then_with(|| self.unit.deadline.cmp(&other.unit.deadline))
            .then_with(|| self.unit.seller.cmp(other.unit.seller))
            .then_with(|| self.unit.buyer.cmp(other.unit.buyer))
            .then_with(|| self.unit.pickup.cmp(&other.unit.pickup))
    }
}

/// The waves of one pickup, each a list of buyer pieces.
pub(crate) fn cut<'a>(cfg: &PlanConfig, pool: &[&Unit<'a>]) -> Vec<Vec<Piece<'a>>> {
    let rank = popularity(pool);
    let mut singles = Vec::new();
    let mut multis = Vec::new();
    for u in pool {
        let mut ranks: Vec<u32> = u
            .orders
            .iter()
            .flat_map(|o| o.lines.iter())
            .map(|l| rank.get(l.sku.as_str()).copied().unwrap_or(u32::MAX))
            .collect();
        ranks.sort_unstable();
        ranks.dedup();
        let k = Keyed { unit: u, ranks };
        if k.single() {
            singles.push(k);
        } else {
            multis.push(k);
        }
    }
    singles.sort_by(Keyed::cmp);
    multis.sort_by(Keyed::cmp);

    let singles = pieces(cfg, &singles);
    let multis = pieces(cfg, &multis);
    let floor = cfg.wave_min.max(1);
    let n_single: usize = singles.iter().map(Piece::len).sum();
    let n_multi: usize = multis.iter().map(Piece::len).sum();
    if n_single >= floor && n_multi >= floor {
        let mut out = balanced(cfg, singles);
        out.extend(balanced(cfg, multis));
        out
    } else {
        let mut all = singles;
        all.extend(multis);
        balanced(cfg, all)
    }
}

/// SKU → rank (0 = in the most units of the pool; ties by SKU).
fn popularity<'a>(pool: &[&Unit<'a>]) -> HashMap<&'a str, u32> {
    let mut count: HashMap<&'a str, u32> = HashMap::new();
    let mut seen: Vec<&'a str> = Vec::new();
    for u in pool {
        seen.clear();
        seen.extend(
            u.orders
                .iter()
                .flat_map(|o| o.lines.iter())
                .map(|l| l.sku.as_str()),
        );
        seen.sort_unstable();
        seen.dedup();
        for s in &seen {
            *count.entry(s).or_insert(0) += 1;
        }
    }
    let mut skus: Vec<(&'a str, u32)> = count.into_iter().collect();
    skus.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    skus.into_iter()
        .enumerate()
        .map(|(i, (s, _))| (s, u32::try_from(i).unwrap_or(u32::MAX)))
        .collect()
}

/// One piece per unit; a unit larger than a wave becomes several pieces of whole parcels.
fn pieces<'a>(cfg: &PlanConfig, keyed: &[Keyed<'_, 'a>]) -> Vec<Piece<'a>> {
    let wave = wave_cap(cfg);
    let cap = parcel_cap(cfg);
    let per = (wave / cap).max(1) * cap;
    let mut out = Vec::with_capacity(keyed.len());
    for k in keyed {
        let u = k.unit;
        let reason = u.reason.unwrap_or(ReleaseReason::CombineWindowElapsed);
        if u.len() <= wave {
            out.push(u.piece(reason));
            continue;
        }
        for chunk in u.orders.chunks(per) {
            let mut p = u.piece(reason);
            p.orders = chunk.to_vec();
            p.deadline = chunk.iter().map(|o| o.deadline).min().unwrap_or(u.deadline);
            p.split_over_wave = true;
            out.push(p);
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
        let close = size > 0 && (next > max || (next > target && next - target > target - size));
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
