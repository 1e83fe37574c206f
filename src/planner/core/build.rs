//! Turning a chosen list of buyer pieces into a [`WavePlan`]: parcels, the aggregated
//! pick list sorted by bin, split notes and the release reason.

use chrono::{DateTime, Utc};

use super::catalog::Table;
use super::{
    split_reason_parcel, ParcelPlan, PickLine, PlanConfig, PlanLine, PlanOrder, ReleaseReason,
    SplitNote, WavePlan, SPLIT_DEADLINE, SPLIT_OVER_WAVE, UNASSIGNED_BIN,
};

/// One buyer's orders that travel together in one wave (all of a group, or a part of it).
/// Its seller and buyer are those of its first order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Piece<'u> {
    /// Indices into the canonical orders (a buyer's: by pickup_at, received_at, index);
    /// never empty.
    pub orders: &'u [usize],
    pub reason: ReleaseReason,
    pub deadline: DateTime<Utc>,
    /// The buyer's orders are split because some cannot make this pickup.
    pub split_deadline: bool,
    /// The buyer's orders are split because they do not fit in one wave.
    pub split_over_wave: bool,
}

impl Piece<'_> {
    pub(crate) fn len(&self) -> usize {
        self.orders.len()
    }
}

/// Orders per parcel: `max_orders_per_parcel`, never more than a wave, at least 1.
pub(crate) fn parcel_cap(cfg: &PlanConfig) -> usize {
    cfg.max_orders_per_parcel.max(1).min(wave_cap(cfg))
}

/// Orders per wave: `wave_max`, at least 1.
pub(crate) fn wave_cap(cfg: &PlanConfig) -> usize {
    cfg.wave_max.max(1)
}

/// Per-plan scratch space for pick lists: a slot per SKU id, reset after every wave.
pub(crate) struct Scratch<'c, 'a> {
    table: &'c Table<'a>,
    slot: Vec<usize>,
}

impl<'c, 'a> Scratch<'c, 'a> {
    pub(crate) fn new(table: &'c Table<'a>) -> Self {
        Scratch {
            table,
            slot: vec![usize::MAX; table.catalog.len()],
        }
    }
}

/// `all` and `scratch`'s table are the same canonical orders.
pub(crate) fn wave<'a>(
    cfg: &PlanConfig,
    all: &[&'a PlanOrder],
    scratch: &mut Scratch<'_, 'a>,
    pickup: DateTime<Utc>,
    pieces: &[Piece<'_>],
) -> WavePlan<'a> {
    debug_assert_eq!(
        all.len(),
        scratch.table.buyers.len(),
        "one table row per order"
    );
    let cap = parcel_cap(cfg);
    let mut parcels = Vec::with_capacity(pieces.len());
    let mut splits = Vec::new();
    let mut reason = ReleaseReason::CombineWindowElapsed;
    let mut deadline: Option<DateTime<Utc>> = None;
    let mut minutes = 0.0;
    // (sku id, first line met in wave order: its name is used, qty).
    let mut picks: Vec<(u32, &PlanLine, u32)> = Vec::new();

    for piece in pieces {
        reason = reason.min(piece.reason);
        deadline = Some(deadline.map_or(piece.deadline, |d| d.min(piece.deadline)));
        let Some(&head) = piece.orders.first() else {
            continue;
        };
        // The piece's buyer from the table, a dense array: reading the order itself here
        // would be a cache miss per piece (pieces come in SKU-cluster order).
        let first = &scratch.table.buyers[head];
        let (seller, buyer) = (first.seller, first.key);
        let mut note = |r: String| {
            splits.push(SplitNote {
                seller: seller.to_owned(),
                buyer_key: buyer.to_owned(),
                reason: r,
            })
        };
        if piece.len() > cap {
            note(split_reason_parcel(cap));
        }
        if piece.split_over_wave {
            note(SPLIT_OVER_WAVE.to_owned());
        }
        if piece.split_deadline {
            note(SPLIT_DEADLINE.to_owned());
        }
        // One pass over each parcel's orders: its ids and weight, the wave's minutes and
        // pick lines (each order's facts and lines are fetched once).
        for chunk in piece.orders.chunks(cap) {
            let mut ids = Vec::with_capacity(chunk.len());
            let mut weight_g = 0u64;
            for &i in chunk {
                let fact = &scratch.table.facts[i];
                weight_g = weight_g.saturating_add(fact.weight);
                minutes += fact.minutes;
                let order: &'a PlanOrder = all[i];
                ids.push(&order.id);
                for (j, (sku, qty)) in scratch.table.catalog.lines_of(i).enumerate() {
                    match scratch.slot.get_mut(sku as usize) {
                        Some(s) if *s != usize::MAX => {
                            if let Some(p) = picks.get_mut(*s) {
                                p.2 = p.2.saturating_add(qty);
                            }
                        }
                        Some(s) => {
                            if let Some(line) = all[i].lines.get(j) {
                                *s = picks.len();
                                picks.push((sku, line, qty));
                            }
                        }
                        None => {}
                    }
                }
            }
            parcels.push(ParcelPlan {
                seller,
                buyer_key: buyer,
                orders: ids,
                weight_g,
            });
        }
    }
    for p in &picks {
        if let Some(s) = scratch.slot.get_mut(p.0 as usize) {
            *s = usize::MAX;
        }
    }
    splits.sort();
    splits.dedup();

    WavePlan {
        pickup_at: pickup,
        deadline: deadline.unwrap_or(pickup),
        parcels,
        pick_list: pick_list(cfg, picks),
        release_reason: reason,
        splits,
        minutes,
    }
}

/// Sorted by bin (UNASSIGNED last), then SKU.
fn pick_list(cfg: &PlanConfig, picks: Vec<(u32, &PlanLine, u32)>) -> Vec<PickLine> {
    let mut lines: Vec<PickLine> = picks
        .into_iter()
        .map(|(_, line, qty)| PickLine {
            sku: line.sku.clone(),
            name: line.name.clone(),
            bin: cfg.bin_of(&line.sku).to_owned(),
            qty,
        })
        .collect();
    lines.sort_by(|a, b| {
        (a.bin == UNASSIGNED_BIN, &a.bin, &a.sku).cmp(&(b.bin == UNASSIGNED_BIN, &b.bin, &b.sku))
    });
    lines
}
