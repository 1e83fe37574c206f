//! SKUs as small integers: one pass over the canonical orders gives every line its SKU id,
//! so clustering and pick lists never touch the SKU strings again (the planner's hot paths
//! stay within a few flat arrays, which matters at 100,000+ pending orders).

use super::fx::FxMap;
use super::PlanOrder;

pub(crate) struct Catalog<'a> {
    /// SKU id → SKU, ids in order of first appearance in the canonical orders.
    pub skus: Vec<&'a str>,
    /// Per canonical order `i`: its lines' SKU ids are `line_sku[line_off[i]..line_off[i+1]]`.
    line_off: Vec<usize>,
    line_sku: Vec<u32>,
}

impl<'a> Catalog<'a> {
    pub(crate) fn new(all: &[&'a PlanOrder]) -> Self {
        let mut id_of: FxMap<&'a str, u32> = FxMap::default();
        let mut skus: Vec<&'a str> = Vec::new();
        let mut line_off = Vec::with_capacity(all.len() + 1);
        let mut line_sku = Vec::with_capacity(all.len() * 2);
        line_off.push(0);
        for o in all {
            for l in &o.lines {
                let next = u32::try_from(skus.len()).unwrap_or(u32::MAX);
                let id = *id_of.entry(l.sku.as_str()).or_insert_with(|| {
                    skus.push(l.sku.as_str());
                    next
                });
                line_sku.push(id);
            }
            line_off.push(line_sku.len());
        }
        Catalog {
            skus,
            line_off,
            line_sku,
        }
    }

    /// The SKU ids of canonical order `i`'s lines, in line order.
    pub(crate) fn skus_of(&self, i: usize) -> &[u32] {
        match (self.line_off.get(i), self.line_off.get(i + 1)) {
            (Some(&a), Some(&b)) => self.line_sku.get(a..b).unwrap_or(&[]),
            _ => &[],
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.skus.len()
    }
}
