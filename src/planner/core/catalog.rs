//! SKUs as small integers: one pass over the canonical orders gives every line its SKU id,
//! so clustering and pick lists never touch the SKU strings again (the planner's hot paths
//! stay within a few flat arrays, which matters at 100,000+ pending orders).

use chrono::{DateTime, Utc};

use super::fx::FxMap;
use super::{EndedSessions, PlanConfig, PlanOrder};

pub(crate) struct Catalog<'a> {
    /// SKU id → SKU, ids in order of first appearance in the canonical orders.
    pub skus: Vec<&'a str>,
    /// Per canonical order `i`: its lines' SKU ids are `line_sku[line_off[i]..line_off[i+1]]`.
    line_off: Vec<usize>,
    line_sku: Vec<u32>,
    /// Parallel to `line_sku`: the line's quantity.
    line_qty: Vec<u32>,
}

impl<'a> Catalog<'a> {
    pub(crate) fn new(all: &[&'a PlanOrder]) -> Self {
        let mut id_of: FxMap<&'a str, u32> = FxMap::default();
        let mut skus: Vec<&'a str> = Vec::new();
        let mut line_off = Vec::with_capacity(all.len() + 1);
        let mut line_sku = Vec::with_capacity(all.len() * 2);
        let mut line_qty = Vec::with_capacity(all.len() * 2);
        line_off.push(0);
        for o in all {
            for l in &o.lines {
                let next = u32::try_from(skus.len()).unwrap_or(u32::MAX);
                let id = *id_of.entry(l.sku.as_str()).or_insert_with(|| {
                    skus.push(l.sku.as_str());
                    next
                });
                line_sku.push(id);
                line_qty.push(l.qty);
            }
            line_off.push(line_sku.len());
        }
        Catalog {
            skus,
            line_off,
            line_sku,
            line_qty,
        }
    }

    /// The SKU ids of canonical order `i`'s lines, in line order.
    pub(crate) fn skus_of(&self, i: usize) -> &[u32] {
        match (self.line_off.get(i), self.line_off.get(i + 1)) {
            (Some(&a), Some(&b)) => self.line_sku.get(a..b).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// (SKU id, qty) of canonical order `i`'s lines, in line order.
    pub(crate) fn lines_of(&self, i: usize) -> impl Iterator<Item = (u32, u32)> + '_ {
        let range = match (self.line_off.get(i), self.line_off.get(i + 1)) {
            (Some(&a), Some(&b)) => a..b,
            _ => 0..0,
        };
        let skus = self.line_sku.get(range.clone()).unwrap_or(&[]);
        let qtys = self.line_qty.get(range).unwrap_or(&[]);
        skus.iter().copied().zip(qtys.iter().copied())
    }

    pub(crate) fn len(&self) -> usize {
        self.skus.len()
    }
}

/// The fields of one order that planning reads again and again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fact {
    pub pickup: DateTime<Utc>,
    pub received: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub minutes: f64,
    pub weight: u64,
    /// Its session has ended.
    pub ended: bool,
}

/// [`Fact`]s of the canonical orders, one cache line each, filled in one sequential pass,
/// so the later passes in buyer or SKU order do not chase pointers into the orders.
pub(crate) struct Facts(Vec<Fact>);

impl Facts {
    pub(crate) fn new(cfg: &PlanConfig, all: &[&PlanOrder], ended: &EndedSessions<'_>) -> Self {
        let any_ended = !ended.is_empty();
        Facts(
            all.iter()
                .map(|o| Fact {
                    pickup: o.pickup_at,
                    received: o.received_at,
                    deadline: o.deadline,
                    minutes: cfg.order_minutes(o),
                    weight: o.weight_g,
                    ended: any_ended && ended.has_ended(o),
                })
                .collect(),
        )
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Fact> {
        self.0.iter()
    }
}

impl std::ops::Index<usize> for Facts {
    type Output = Fact;
    fn index(&self, i: usize) -> &Fact {
        &self.0[i]
    }
}
