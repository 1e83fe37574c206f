//! Turning a chosen list of buyer pieces into a [`WavePlan`]: parcels, the aggregated
//! pick list sorted by bin, split notes and the release reason.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{
    split_reason_parcel, ParcelPlan, PickLine, PlanConfig, PlanOrder, ReleaseReason, SplitNote,
    WavePlan, SPLIT_DEADLINE, SPLIT_OVER_WAVE, UNASSIGNED_BIN,
};

/// One buyer's orders that travel together in one wave (all of a group, or a part of it).
#[derive(Debug, Clone)]
pub(crate) struct Piece<'a> {
    pub seller: &'a str,
    pub buyer: &'a str,
    /// Sorted by (received_at, id).
    pub orders: Vec<&'a PlanOrder>,
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

pub(crate) fn wave(cfg: &PlanConfig, pickup: DateTime<Utc>, pieces: &[Piece<'_>]) -> WavePlan {
    let cap = parcel_cap(cfg);
    let total: usize = pieces.iter().map(Piece::len).sum();
    let mut orders = Vec::with_capacity(total);
    let mut parcels = Vec::new();
    let mut splits = Vec::new();
    let mut reason = ReleaseReason::CombineWindowElapsed;
    let mut deadline: Option<DateTime<Utc>> = None;
    let mut minutes = 0.0;
    // sku → (name, qty); the name is the first one met in wave order.
    let mut picks: BTreeMap<&str, (&str, u32)> = BTreeMap::new();

    for piece in pieces {
        reason = reason.min(piece.reason);
        deadline = Some(deadline.map_or(piece.deadline, |d| d.min(piece.deadline)));
        let mut note = |r: String| {
            splits.push(SplitNote {
                seller: piece.seller.to_owned(),
                buyer_key: piece.buyer.to_owned(),
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
        for chunk in piece.orders.chunks(cap) {
            parcels.push(ParcelPlan {
                seller: piece.seller.to_owned(),
                buyer_key: piece.buyer.to_owned(),
                orders: chunk.iter().map(|o| o.id.clone()).collect(),
                weight_g: chunk.iter().fold(0u64, |w, o| w.saturating_add(o.weight_g)),
            });
        }
        for o in &piece.orders {
            orders.push(o.id.clone());
            minutes += cfg.order_minutes(o);
            for l in &o.lines {
                let e = picks.entry(l.sku.as_str()).or_insert((l.name.as_str(), 0));
                e.1 = e.1.saturating_add(l.qty);
            }
        }
    }
    splits.sort();
    splits.dedup();

    WavePlan {
        pickup_at: pickup,
        deadline: deadline.unwrap_or(pickup),
        orders,
        parcels,
        pick_list: pick_list(cfg, picks),
        release_reason: reason,
        splits,
        minutes,
    }
}

/// Sorted by bin (UNASSIGNED last), then SKU.
fn pick_list(cfg: &PlanConfig, picks: BTreeMap<&str, (&str, u32)>) -> Vec<PickLine> {
    let mut lines: Vec<PickLine> = picks
        .into_iter()
        .map(|(sku, (name, qty))| PickLine {
            sku: sku.to_owned(),
            name: name.to_owned(),
            bin: cfg.bin_of(sku).to_owned(),
            qty,
        })
        .collect();
    lines.sort_by(|a, b| {
        (a.bin == UNASSIGNED_BIN, &a.bin, &a.sku).cmp(&(b.bin == UNASSIGNED_BIN, &b.bin, &b.sku))
    });
    lines
}

/// The pieces of one buyer group sorted for a wave: by (seller, buyer), orders by
/// (received_at, id). Used by the FIFO baseline, which combines buyers only by chance.
pub(crate) fn pieces_by_buyer<'a>(
    orders: &[&'a PlanOrder],
    reason: ReleaseReason,
) -> Vec<Piece<'a>> {
    let mut v: Vec<&PlanOrder> = orders.to_vec();
    v.sort_by(|a, b| {
        (&a.id.seller, &a.buyer_key, a.received_at, &a.id).cmp(&(
            &b.id.seller,
            &b.buyer_key,
            b.received_at,
            &b.id,
        ))
    });
    let mut out: Vec<Piece<'a>> = Vec::new();
    for o in v {
        match out.last_mut() {
            Some(p) if p.seller == o.id.seller && p.buyer == o.buyer_key => {
                p.deadline = p.deadline.min(o.deadline);
                p.orders.push(o);
            }
            _ => out.push(Piece {
                seller: &o.id.seller,
                buyer: &o.buyer_key,
                orders: vec![o],
                reason,
                deadline: o.deadline,
                split_deadline: false,
                split_over_wave: false,
            }),
        }
    }
    out
}
