//! The canonical orders as flat per-order arrays, filled in one sequential pass
//! ([`Table::new`]): SKUs as small integers (clustering and pick lists never touch the SKU
//! strings again), the facts planning reads again and again, and each order's buyer. The
//! planner's later passes visit the orders in buyer or SKU-cluster order; they read these
//! dense arrays instead of the orders (whose strings and lines are scattered over the heap),
//! which matters at 100,000+ pending orders.

use chrono::{DateTime, Utc};

use super::fx::{self, FxMap};
use super::{EndedSessions, PlanConfig, PlanOrder};

/// Everything planning reads of the canonical orders, read from each order once.
pub(crate) struct Table<'a> {
    pub catalog: Catalog<'a>,
    pub facts: Facts,
    /// Per canonical order: its buyer.
    pub buyers: Vec<Buyer<'a>>,
}

/// One order's buyer: (seller, buyer_key), borrowed, and a hash of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Buyer<'a> {
    pub hash: u64,
    pub seller: &'a str,
    pub key: &'a str,
}

impl<'a> Buyer<'a> {
    fn of(o: &'a PlanOrder) -> Self {
        let (seller, key) = (o.id.seller.as_str(), o.buyer_key.as_str());
        Buyer {
            hash: fx::hash_pair(seller, key),
            seller,
            key,
        }
    }

    /// Same seller and buyer key (the hash aside).
    pub(crate) fn same(&self, other: &Self) -> bool {
        self.seller == other.seller && self.key == other.key
    }
}

impl<'a> Table<'a> {
    /// One pass over `all` in its order (arrival order: how pending orders are usually laid
    /// out in memory), each order's struct, strings and lines read while they are cached.
    pub(crate) fn new(cfg: &PlanConfig, all: &[&'a PlanOrder], ended: &EndedSessions<'_>) -> Self {
        let mut catalog = Catalog::with_capacity(all.len());
        let mut facts = Vec::with_capacity(all.len());
        let mut buyers = Vec::with_capacity(all.len());
        let any_ended = !ended.is_empty();
        for o in all {
            buyers.push(Buyer::of(o));
            facts.push(Fact::of(cfg, o, any_ended && ended.has_ended(o)));
            catalog.push(o);
        }
        Table {
            catalog,
            facts: Facts(facts),
            buyers,
        }
    }
}

pub(crate) struct Catalog<'a> {
    /// SKU → SKU id.
    id_of: FxMap<&'a str, u32>,
    /// SKU id → SKU, ids in order of first appearance in the canonical orders.
    pub skus: Vec<&'a str>,
    /// Per canonical order `i`: its lines' SKU ids are `line_sku[line_off[i]..line_off[i+1]]`.
    line_off: Vec<usize>,
    line_sku: Vec<u32>,
    /// Parallel to `line_sku`: the line's quantity.
    line_qty: Vec<u32>,
}

impl<'a> Catalog<'a> {
    fn with_capacity(orders: usize) -> Self {
        let mut line_off = Vec::with_capacity(orders + 1);
        line_off.push(0);
        Catalog {
            id_of: FxMap::default(),
            skus: Vec::new(),
            line_off,
            line_sku: Vec::with_capacity(orders * 2),
            line_qty: Vec::with_capacity(orders * 2),
        }
    }

    /// The next canonical order's lines.
    fn push(&mut self, o: &'a PlanOrder) {
        for l in &o.lines {
            let next = u32::try_from(self.skus.len()).unwrap_or(u32::MAX);
            let skus = &mut self.skus;
            let id = *self.id_of.entry(l.sku.as_str()).or_insert_with(|| {
                skus.push(l.sku.as_str());
                next
            });
            self.line_sku.push(id);
            self.line_qty.push(l.qty);
        }
        self.line_off.push(self.line_sku.len());
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

impl Fact {
    fn of(cfg: &PlanConfig, o: &PlanOrder, ended: bool) -> Self {
        Fact {
            pickup: o.pickup_at,
            received: o.received_at,
            deadline: o.deadline,
            minutes: cfg.order_minutes(o),
            weight: o.weight_g,
            ended,
        }
    }
}

/// [`Fact`]s of the canonical orders, one cache line each, so the later passes in buyer or
/// SKU order do not chase pointers into the orders.
pub(crate) struct Facts(Vec<Fact>);

impl Facts {
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
