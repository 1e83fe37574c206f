//! Buyer groups, release decisions and the assembled [`Plan`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::build;
use super::catalog::{Buyer, Catalog, Facts, Table};
use super::schedule::{self, Loads};
use super::{waves, EndedSessions, Plan, PlanConfig, PlanOrder, ReleaseReason};

/// A buyer's pending orders that ship at one pickup: the whole buyer group, or (when
/// some orders cannot make the group's earliest pickup) the part that ships at this one.
#[derive(Debug)]
pub(crate) struct Unit<'a> {
    pub pickup: DateTime<Utc>,
    /// Indices into the canonical orders, sorted by (pickup_at, received_at, index).
    pub orders: &'a [usize],
    /// The smallest of `orders`: a stable identity for tie-breaks.
    pub key: usize,
    pub deadline: DateTime<Utc>,
    pub first_received: DateTime<Utc>,
    pub last_received: DateTime<Utc>,
    pub minutes: f64,
    /// One of its orders' sessions has ended.
    pub ended: bool,
    /// The buyer's pending orders were split over several pickups.
    pub split_deadline: bool,
    /// Why it is released now; `None`: it waits.
    pub reason: Option<ReleaseReason>,
}

impl<'a> Unit<'a> {
    /// Reads only `facts`: the orders themselves (seller, buyer) are read when the waves
    /// are built, from the first order of each piece.
    fn new(facts: &Facts, pickup: DateTime<Utc>, idx: &'a [usize]) -> Option<Self> {
        let head = *idx.first()?;
        let mut u = Unit {
            pickup,
            orders: idx,
            key: usize::MAX,
            deadline: facts[head].deadline,
            first_received: facts[head].received,
            last_received: facts[head].received,
            minutes: 0.0,
            ended: false,
            split_deadline: false,
            reason: None,
        };
        for &i in idx {
            u.key = u.key.min(i);
            u.deadline = u.deadline.min(facts[i].deadline);
            u.first_received = u.first_received.min(facts[i].received);
            u.last_received = u.last_received.max(facts[i].received);
            u.minutes += facts[i].minutes;
            u.ended |= facts[i].ended;
        }
        Some(u)
    }

    pub(crate) fn len(&self) -> usize {
        self.orders.len()
    }
}

/// Canonical order indices grouped by buyer (seller, buyer_key), each buyer's orders by
/// (pickup_at, received_at, index), with a group number per position. Buyers come in the
/// order of a hash of their key (then the key itself): deterministic, and integer sorting
/// instead of string sorting; strings are only compared within runs of equal hashes.
/// `buyers` and `facts` are per canonical order ([`Table`]).
pub(crate) fn by_buyer(buyers: &[Buyer<'_>], facts: &Facts) -> (Vec<usize>, Vec<u32>) {
    // Sort keys copied next to each index: the sort never chases pointers.
    let mut keyed: Vec<(u64, DateTime<Utc>, DateTime<Utc>, usize)> = buyers
        .iter()
        .enumerate()
        .map(|(i, b)| (b.hash, facts[i].pickup, facts[i].received, i))
        .collect();
    keyed.sort_unstable();
    let mut ix: Vec<usize> = keyed.iter().map(|k| k.3).collect();
    let mut group = Vec::with_capacity(ix.len());
    let mut g = 0u32;
    let mut start = 0;
    while start < keyed.len() {
        let h = keyed[start].0;
        let end = start + keyed[start..].iter().take_while(|k| k.0 == h).count();
        let run = &mut ix[start..end];
        let first = &buyers[run[0]];
        // A run of one is one buyer: its strings need not be read again.
        if run.len() == 1 || run[1..].iter().all(|&i| buyers[i].same(first)) {
            group.extend(std::iter::repeat_n(g, run.len()));
            g = g.wrapping_add(1);
        } else {
            // A hash shared by different buyers: order that run by the key itself.
            run.sort_by(|&a, &b| {
                let (x, y) = (&buyers[a], &buyers[b]);
                let (fx, fy) = (&facts[a], &facts[b]);
                (x.seller, x.key, fx.pickup, fx.received, a).cmp(&(
                    y.seller,
                    y.key,
                    fy.pickup,
                    fy.received,
                    b,
                ))
            });
            for k in 0..run.len() {
                if k > 0 && !buyers[run[k]].same(&buyers[run[k - 1]]) {
                    g = g.wrapping_add(1);
                }
                group.push(g);
            }
            g = g.wrapping_add(1);
        }
        start = end;
    }
    (ix, group)
}

/// Buyer groups (runs of [`by_buyer`]), split by pickup where a group's later orders can
/// no longer be packed for its earliest pickup.
pub(crate) fn units<'a>(
    cfg: &PlanConfig,
    facts: &Facts,
    (ix, group): (&'a [usize], &[u32]),
    now: DateTime<Utc>,
) -> Vec<Unit<'a>> {
    let ready = now
        .checked_add_signed(cfg.min_pack)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let mut out = Vec::with_capacity(ix.len());
    let mut at = 0;
    while at < ix.len() {
        let same = group[at..]
            .iter()
            .take_while(|&&g| g == group[at])
            .count()
            .max(1);
        let end = (at + same).min(ix.len());
        let before = out.len();
        let mut g = &ix[at..end];
        at = end;
        while let Some(&first) = g.first() {
            let pickup = facts[first].pickup;
            // Later orders join while they can still be packed for this pickup.
            let take = if ready <= pickup {
                g.len()
            } else {
                g.iter().take_while(|&&i| facts[i].pickup == pickup).count()
            };
            let (unit, next) = g.split_at(take.max(1));
            g = next;
            out.extend(Unit::new(facts, pickup, unit));
        }
        if out.len() - before > 1 {
            for u in &mut out[before..] {
                u.split_deadline = true;
            }
        }
    }
    out
}

fn decide(
    cfg: &PlanConfig,
    u: &Unit<'_>,
    under_pressure: bool,
    now: DateTime<Utc>,
) -> Option<ReleaseReason> {
    if under_pressure || u.deadline < u.pickup {
        Some(ReleaseReason::DeadlinePressure)
    } else if u.ended {
        Some(ReleaseReason::SessionEnded)
    } else if now - u.first_received >= cfg.max_hold {
        Some(ReleaseReason::MaxHold)
    } else if u.len() >= cfg.max_orders_per_parcel.max(1) {
        Some(ReleaseReason::ParcelFull)
    } else if now - u.last_received >= cfg.combine_window {
        Some(ReleaseReason::CombineWindowElapsed)
    } else {
        None
    }
}

/// Of the units of one pickup that may go now (`idx`), those released: every urgent one,
/// and the others only as far as they fill whole waves — or all of them once they reach
/// the pickup's release `floor` ([`schedule::release_floor`]) when it is below a wave.
/// Units that complete a wave are taken oldest first; when urgent (or full-parcel) units go
/// already, those that add none of their SKUs come first, in SKU-cluster order, unless
/// taking the oldest alone releases as many orders and leaves fewer pick lines between what
/// goes and what stays (issue 20: the free units first could strand diverse orders whose
/// later wave walked more than FIFO's). In a pool of at most [`FEWEST_POOL`] units a third
/// fill, [`fewest_new_skus`], replaces that choice when it releases as many orders and
/// leaves at least [`FEWEST_GAIN`] lines fewer (issue 20, twenty-sixth session).
fn chosen(
    cfg: &PlanConfig,
    catalog: &Catalog<'_>,
    units: &[Unit<'_>],
    idx: Vec<usize>,
    waiting: Vec<usize>,
    floor: usize,
) -> Vec<usize> {
    let max = build::wave_cap(cfg);
    if !cfg.fill_waves {
        let urgent = idx
            .iter()
            .any(|&i| units[i].reason.is_some_and(ReleaseReason::is_urgent));
        let count: usize = idx.iter().map(|&i| units[i].len()).sum();
        return if urgent || count >= floor {
            idx
        } else {
            Vec::new()
        };
    }
    // A full parcel goes at once too (waiting cannot combine more).
    let (must, may): (Vec<usize>, Vec<usize>) = idx.into_iter().partition(|&i| {
        units[i]
            .reason
            .is_some_and(|r| r.is_urgent() || r == ReleaseReason::ParcelFull)
    });
    let must_n: usize = must.iter().map(|&i| units[i].len()).sum();
    let may_n: usize = may.iter().map(|&i| units[i].len()).sum();
    let total = must_n + may_n;
    if total >= floor && floor < max {
        let mut all = must;
        all.extend(may);
        return all;
    }
    let waves = must_n.div_ceil(max).max(total / max);
    let take = waves * max;
    let out = must;
    let size = must_n;
    // An urgent wave that the released units cannot fill takes units still combining
    // too (a later order of theirs then travels in a later parcel).
    // SKUs already on the released units' pick lists: units adding none of theirs come
    // first, in SKU-cluster order (they cost no walking), then the rest oldest first; or
    // the oldest alone, when that leaves fewer pick lines (below).
    let sources = [may, waiting];
    let groups = &sources[..if take > total { 2 } else { 1 }];
    if size >= take || groups.iter().all(Vec::is_empty) {
        // Nothing can be added: the released units' SKUs need not be looked up.
        return out;
    }
    // Per group: its units, and their positions oldest first (what has waited longest
    // would soon force a wave anyway).
    let pools: Vec<(Vec<&Unit<'_>>, Vec<usize>)> = groups
        .iter()
        .map(|group| {
            let pool: Vec<&Unit<'_>> = group.iter().map(|&i| &units[i]).collect();
            let mut oldest: Vec<usize> = (0..pool.len()).collect();
            oldest.sort_by_key(|&k| (pool[k].first_received, pool[k].key));
            (pool, oldest)
        })
        .collect();
    // The release, how many orders it holds, its units taken (per group, by position) and
    // how many SKUs it walks; free units first (in SKU-cluster order) or by age alone.
    let fill = |free_first: bool| {
        let mut out = out.clone();
        let mut size = size;
        let mut covered = vec![false; catalog.len()];
        for &i in &out {
            cover(catalog, &mut covered, &units[i]);
        }
        let mut taken: Vec<Vec<bool>> = pools.iter().map(|(p, _)| vec![false; p.len()]).collect();
        for ((group, (pool, oldest)), taken) in groups.iter().zip(&pools).zip(&mut taken) {
            if size >= take {
                break;
            }
            let order = if free_first {
                waves::cluster_order(catalog, pool)
            } else {
                Vec::new()
            };
            for (free_only, order) in [(true, &order), (false, oldest)] {
                for &k in order {
                    let u = pool[k];
                    let len = u.len();
                    if taken[k] {
                        continue;
                    }
                    let free = || {
                        u.orders
                            .iter()
                            .flat_map(|&i| catalog.skus_of(i))
                            .all(|&sku| covered.get(sku as usize).copied().unwrap_or(false))
                    };
                    if free_only && !free() {
                        continue;
                    }
                    if size + len <= take || (len >= max && size < take) {
                        size += len;
                        taken[k] = true;
                        out.push(group[k]);
                        cover(catalog, &mut covered, u);
                    }
                }
            }
        }
        let going = covered.iter().filter(|&&c| c).count();
        (out, size, taken, going)
    };
    let (clustered, clustered_n, clustered_taken, clustered_going) = fill(true);
    // With nothing released yet no unit is free of new SKUs: both fills are oldest first.
    if out.is_empty() {
        return clustered;
    }
    let (by_age, by_age_n, by_age_taken, by_age_going) = fill(false);
    // Lines now and lines left: the SKUs of what goes plus those of what stays (it will
    // need its own lines later).
    let staying = |taken: &[Vec<bool>]| {
        let mut staying = vec![false; catalog.len()];
        for ((pool, _), taken) in pools.iter().zip(taken) {
            for (u, _) in pool.iter().zip(taken).filter(|(_, &t)| !t) {
                cover(catalog, &mut staying, u);
            }
        }
        staying.iter().filter(|&&c| c).count()
    };
    let few = pools.iter().map(|(p, _)| p.len()).sum::<usize>() <= FEWEST_POOL;
    // As many orders either way and different units: the fill that leaves fewer lines
    // (ties keep the first fill); else the one that holds more orders.
    let tie = by_age_n == clustered_n && by_age_taken != clustered_taken;
    if !tie && !few {
        return if by_age_n > clustered_n {
            by_age
        } else {
            clustered
        };
    }
    let by_age_lines = by_age_going + staying(&by_age_taken);
    let clustered_lines = clustered_going + staying(&clustered_taken);
    let by_age_first = if tie {
        by_age_lines < clustered_lines
    } else {
        by_age_n > clustered_n
    };
    let (pick, pick_n, pick_lines) = if by_age_first {
        (by_age, by_age_n, by_age_lines)
    } else {
        (clustered, clustered_n, clustered_lines)
    };
    if !few {
        return pick;
    }
    // Only as many orders as that choice (one holding more is not taken either: the rule
    // compares lines at equal sizes).
    let (fewest, fewest_n, fewest_taken, fewest_going) =
        fewest_new_skus(catalog, units, &pools, (out, size), groups, (take, max));
    if fewest_n == pick_n && fewest_going + staying(&fewest_taken) + FEWEST_GAIN <= pick_lines {
        fewest
    } else {
        pick
    }
}

/// The most units (of what may go, and of what still combines when the release takes from
/// it too) for which [`chosen`] also tries [`fewest_new_skus`]: a hub's live pool is
/// hundreds of units, and a backlog of 300,000 orders keeps the two fills above. At 2,000
/// units, one live plan took about 4 ms instead of 2 (a scratch measurement, release build:
/// `load-tests/results/planner-2026-12-05-twentysixth.md`).
const FEWEST_POOL: usize = 2_000;

/// [`fewest_new_skus`]' fill is taken when it leaves at least this many fewer lines (what
/// goes plus what stays) than the other fills' choice. Chosen on the 72-evening scan
/// (`tests_fifo.rs`, issue 20's twenty-sixth session): with 1 or 2, two days of 600 orders
/// replanned every 10 minutes walked more than FIFO; with 3 no day walked more than before,
/// 34 walked less, and the 72 together 1.9 % fewer lines (30,508 → 29,942).
const FEWEST_GAIN: usize = 3;

/// The release `(out, size)` (units, orders) topped up towards `take` orders from each
/// group's pool in turn (`groups`: the units' indices, `pools`: the units), each step
/// with the unit that adds the fewest SKUs not yet going (then the oldest, then the lowest
/// key), as the other fills stopping once `take` is reached.
/// Returns the release, its orders, the units taken (per group, by position) and how many
/// SKUs it walks. Per unit its SKUs not yet going are counted once and kept up to date
/// through each SKU's units, so a step is a pop from an ordered queue, not a search.
fn fewest_new_skus(
    catalog: &Catalog<'_>,
    units: &[Unit<'_>],
    pools: &[(Vec<&Unit<'_>>, Vec<usize>)],
    (mut out, mut size): (Vec<usize>, usize),
    groups: &[Vec<usize>],
    (take, max): (usize, usize),
) -> (Vec<usize>, usize, Vec<Vec<bool>>, usize) {
    let mut covered = vec![false; catalog.len()];
    for &i in &out {
        cover(catalog, &mut covered, &units[i]);
    }
    let mut taken: Vec<Vec<bool>> = pools.iter().map(|(p, _)| vec![false; p.len()]).collect();
    for ((group, (pool, _)), taken) in groups.iter().zip(pools).zip(&mut taken) {
        if size >= take {
            break;
        }
        let skus: Vec<Vec<u32>> = pool.iter().map(|u| distinct_skus(catalog, u)).collect();
        let mut holders: Vec<Vec<usize>> = vec![Vec::new(); catalog.len()];
        let mut adds: Vec<usize> = vec![0; pool.len()];
        for (k, unit_skus) in skus.iter().enumerate() {
            for &sku in unit_skus {
                if !covered.get(sku as usize).copied().unwrap_or(true) {
                    adds[k] += 1;
                    holders[sku as usize].push(k);
                }
            }
        }
        // Units by (SKUs added, age); a unit too large for what is left of `take` never
        // fits later (`size` only grows) and leaves the queue.
        let entry = |k: usize, adds: usize| (adds, pool[k].first_received, pool[k].key, k);
        let mut queue: BTreeSet<_> = (0..pool.len()).map(|k| entry(k, adds[k])).collect();
        while size < take {
            let Some((_, _, _, k)) = queue.pop_first() else {
                break;
            };
            let len = pool[k].len();
            if size + len > take && len < max {
                continue;
            }
            size += len;
            taken[k] = true;
            out.push(group[k]);
            for &sku in &skus[k] {
                if let Some(c) = covered.get_mut(sku as usize).filter(|c| !**c) {
                    *c = true;
                    for &h in &holders[sku as usize] {
                        if queue.remove(&entry(h, adds[h])) {
                            queue.insert(entry(h, adds[h] - 1));
                        }
                        adds[h] -= 1;
                    }
                }
            }
        }
    }
    let going = covered.iter().filter(|&&c| c).count();
    (out, size, taken, going)
}

/// A unit's SKUs, each once.
fn distinct_skus(catalog: &Catalog<'_>, u: &Unit<'_>) -> Vec<u32> {
    let mut skus: Vec<u32> = u
        .orders
        .iter()
        .flat_map(|&i| catalog.skus_of(i))
        .copied()
        .collect();
    skus.sort_unstable();
    skus.dedup();
    skus
}

fn cover(catalog: &Catalog<'_>, covered: &mut [bool], u: &Unit<'_>) {
    for &i in u.orders {
        for &sku in catalog.skus_of(i) {
            if let Some(c) = covered.get_mut(sku as usize) {
                *c = true;
            }
        }
    }
}

pub(crate) fn plan_released<'a>(
    cfg: &PlanConfig,
    orders: &[&'a PlanOrder],
    ended: &EndedSessions<'_>,
    now: DateTime<Utc>,
) -> Plan<'a> {
    let table = Table::new(cfg, orders, ended);
    let (catalog, facts) = (&table.catalog, &table.facts);
    let (ix, group) = by_buyer(&table.buyers, facts);
    let mut units = units(cfg, facts, (&ix, &group), now);
    let mut loads = Loads::default();
    for u in &units {
        loads.add(u.pickup, u.len(), u.minutes);
    }
    let forecast = schedule::forecast(cfg, &loads, now);

    // Per pickup: the units released now.
    let mut pools: BTreeMap<DateTime<Utc>, Vec<usize>> = BTreeMap::new();
    // Per pickup: the units still combining (they may complete an urgent wave).
    let mut waiting: BTreeMap<DateTime<Utc>, Vec<usize>> = BTreeMap::new();
    for (i, u) in units.iter_mut().enumerate() {
        let pressure = schedule::entry(&forecast, u.pickup).is_some_and(|f| f.under_pressure);
        u.reason = decide(cfg, u, pressure, now);
        if u.reason.is_some() {
            pools.entry(u.pickup).or_default().push(i);
        } else {
            waiting.entry(u.pickup).or_default().push(i);
        }
    }
    let mut released = vec![false; units.len()];
    let mut waves_out = Vec::new();
    let mut scratch = build::Scratch::new(&table);
    for (pickup, idx) in pools {
        let idle = waiting.remove(&pickup).unwrap_or_default();
        let floor = schedule::release_floor(cfg, &forecast, pickup, now);
        let idx = chosen(cfg, catalog, &units, idx, idle, floor);
        if idx.is_empty() {
            continue;
        }
        let pool: Vec<&Unit<'_>> = idx.iter().map(|&i| &units[i]).collect();
        // Short of packers, smaller waves get more done by the pickup than less walking.
        let walk_first = cfg.fill_waves
            && !schedule::entry(&forecast, pickup).is_some_and(schedule::short_of_capacity);
        let cut = waves::cut(cfg, orders, catalog, &pool, walk_first);
        let mut pickup_waves: Vec<_> = cut
            .waves()
            .map(|pieces| build::wave(cfg, orders, &mut scratch, pickup, pieces))
            .collect();
        pickup_waves.sort_by(|a, b| {
            a.deadline
                .cmp(&b.deadline)
                .then_with(|| a.orders().cmp(b.orders()))
        });
        waves_out.extend(pickup_waves);
        for &i in &idx {
            released[i] = true;
        }
    }
    let mut held_ix = Vec::new();
    let mut planned: Vec<DateTime<Utc>> = facts.iter().map(|f| f.pickup).collect();
    for (u, rel) in units.iter().zip(&released) {
        for &i in u.orders {
            if !rel {
                held_ix.push(i);
            }
            if let Some(p) = planned.get_mut(i) {
                *p = u.pickup;
            }
        }
    }
    let risky = planned
        .into_iter()
        .enumerate()
        .filter(|&(i, p)| schedule::risk_of_at(facts[i].deadline, p, &forecast).is_some())
        .collect();
    let at_risk = schedule::at_risk_list(orders, risky, &forecast);
    let mut held: Vec<_> = held_ix.into_iter().map(|i| orders[i].id.clone()).collect();
    held.sort_unstable();
    Plan {
        waves: waves_out,
        held,
        at_risk,
        forecast,
    }
}
