//! The pure planning core: which pending orders of one site to release now, and how to
//! cut them into waves, parcels and pick lists.
//!
//! No I/O and no clock reads: the current instant is an argument. The result depends only
//! on the *set* of pending orders (any permutation of `pending` gives the identical plan):
//! every collection is put in a stable order before it is used, and hash maps are only
//! ever used for look-ups, never iterated into the output.
//!
//! The rules (issue 4):
//! - **buyer combining**: the pending orders of one buyer (same seller and `buyer_key`)
//!   form a group that is released together, packed in one wave and in parcels of at most
//!   `max_orders_per_parcel` orders. A group ships at its earliest order's pickup; an order
//!   whose own pickup is later joins it only while it can still be packed for that pickup
//!   (`now + min_pack ≤ pickup`); otherwise the group is split by pickup ("deadline" note).
//! - **release**: a group is released when one of its orders' sessions has ended (any, not
//!   all: `end_session` must release that session's orders in the very next call, and the
//!   buyer's other orders go with them), when `combine_window` has passed since its last
//!   arrival, when its oldest order has waited `max_hold`, when its pickup is under
//!   deadline pressure (see [`PickupForecast::under_pressure`]), when one of its orders
//!   cannot make its deadline anyway, or when it fills a parcel. A non-urgent release
//!   smaller than `wave_min` orders (per pickup) is held instead; with `fill_waves`
//!   (the default) one smaller than a whole wave is held while the pickup has slack, and
//!   an urgent release is topped up to whole waves with the orders that add the fewest
//!   pick lines (then the oldest).
//! - **capacity** counts the work of `pending` only: waves released earlier but not yet
//!   packed are not seen (a caller that knows of them can lower `packers` to match).
//! - **waves**: per pickup, single-SKU buyers apart from multi-SKU ones, clustered by
//!   shared SKUs (most popular first), earliest deadline first within a cluster, cut into
//!   balanced waves of at most `wave_max` orders without splitting a buyer.
//!
//! [`plan_fifo`] is the plain FIFO baseline the benchmark compares against.

mod build;
mod catalog;
pub mod fifo;
mod fx;
mod release;
mod schedule;
mod waves;

// Bench-only: the session generator and the quality replay ship only with the `bench`
// feature (`cargo bench --bench planner --features bench`) and in the lib's unit tests.
#[cfg(any(test, feature = "bench"))]
pub mod quality;
#[cfg(any(test, feature = "bench"))]
pub mod synth;

#[cfg(test)]
mod tests_fifo;
#[cfg(test)]
mod tests_prop;
#[cfg(test)]
mod tests_scenario;
#[cfg(test)]
mod tests_support;
#[cfg(test)]
mod tests_unit;

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub use fifo::plan_fifo;

/// The bin of a SKU that has none configured; listed last on pick lists.
pub const UNASSIGNED_BIN: &str = "UNASSIGNED";

/// Split reason: a buyer group with more orders than fit in one parcel.
pub fn split_reason_parcel(max_orders_per_parcel: usize) -> String {
    format!("over {max_orders_per_parcel} orders")
}
/// Split reason: a buyer group with more orders than fit in one wave.
pub const SPLIT_OVER_WAVE: &str = "over wave size";
/// Split reason: part of a buyer's orders cannot make the pickup the rest must make.
pub const SPLIT_DEADLINE: &str = "deadline";

pub use crate::domain::order::OrderRef;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanLine {
    pub sku: String,
    pub name: String,
    pub qty: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOrder {
    pub id: OrderRef,
    /// Livestream label (scoped by `id.seller`).
    pub session: String,
    /// Same buyer (normalized phone and address) → same key.
    pub buyer_key: String,
    pub received_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    /// The first pickup it can make (precomputed by `domain::schedule::due`).
    pub pickup_at: DateTime<Utc>,
    pub lines: Vec<PlanLine>,
    pub weight_g: u64,
}

/// What the planner needs to know about a site.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanConfig {
    /// Packers on shift (0 is treated as 1).
    pub packers: u32,
    pub minutes_per_order: f64,
    pub minutes_per_line: f64,
    /// A non-urgent release smaller than this is held.
    pub wave_min: usize,
    /// While a pickup has slack, hold non-urgent releases until they fill whole waves
    /// (`wave_max`), so that live replanning walks no more than FIFO batching (issue 20;
    /// see [`schedule::release_floor`]). `false`: every ready group of at least
    /// `wave_min` orders goes at once.
    pub fill_waves: bool,
    /// Orders per wave at most (0 is treated as 1).
    pub wave_max: usize,
    /// While a session is live, a buyer's orders wait this long after the last one.
    pub combine_window: Duration,
    /// No order waits longer than this.
    pub max_hold: Duration,
    /// Orders per parcel at most (platforms combine at most 20).
    pub max_orders_per_parcel: usize,
    /// Released this much earlier than the packing work strictly needs.
    pub safety_margin: Duration,
    /// The site's `min_pack_minutes`: an order only joins an earlier pickup than its own
    /// while at least this much time is left before it.
    pub min_pack: Duration,
    /// SKU → bin location.
    pub bins: BTreeMap<String, String>,
}

impl PlanConfig {
    pub const DEFAULT_MAX_ORDERS_PER_PARCEL: usize = 20;
    pub const DEFAULT_SAFETY_MARGIN_MINUTES: i64 = 10;

    pub fn from_site(site: &crate::config::SiteConfig) -> Self {
        PlanConfig {
            packers: site.packers,
            minutes_per_order: site.minutes_per_order,
            minutes_per_line: site.minutes_per_line,
            wave_min: site.wave_min,
            fill_waves: site.fill_waves,
            wave_max: site.wave_max,
            combine_window: secs(site.combine_window_secs),
            max_hold: secs(site.max_hold_secs),
            max_orders_per_parcel: Self::DEFAULT_MAX_ORDERS_PER_PARCEL,
            safety_margin: Duration::minutes(Self::DEFAULT_SAFETY_MARGIN_MINUTES),
            min_pack: Duration::minutes(i64::from(site.min_pack_minutes)),
            bins: site.bins.clone(),
        }
    }

    /// Packing minutes of one order: `minutes_per_order + lines × minutes_per_line`.
    pub fn order_minutes(&self, order: &PlanOrder) -> f64 {
        let per_order = finite_non_negative(self.minutes_per_order);
        let per_line = finite_non_negative(self.minutes_per_line);
        per_order + per_line * order.lines.len() as f64
    }

    /// The bin of a SKU, `UNASSIGNED` when none is configured.
    pub fn bin_of(&self, sku: &str) -> &str {
        self.bins.get(sku).map_or(UNASSIGNED_BIN, String::as_str)
    }
}

/// Seconds from config as a duration, clamped to 100 years (never panics).
fn secs(s: u64) -> Duration {
    const CAP: i64 = 100 * 366 * 24 * 3600;
    Duration::seconds(i64::try_from(s).unwrap_or(CAP).min(CAP))
}

fn finite_non_negative(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 {
        x
    } else {
        0.0
    }
}

/// A plan borrows the pending orders it was made from: its parcels name them by
/// reference (cloning every id into a 300,000-order plan took a fifth of its time).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan<'a> {
    /// Released now, in the order packers should take them (pickup, then deadline).
    pub waves: Vec<WavePlan<'a>>,
    /// Pending orders not released this time, sorted.
    pub held: Vec<OrderRef>,
    /// Orders (released or held) that may miss their deadline, sorted by pickup; their ids
    /// borrowed from the plan's orders (in a surge short of packers every pending order is
    /// listed: copying 100,000 ids took 23 of the list's 57–61 ms, issue 20).
    pub at_risk: Vec<AtRisk<&'a OrderRef, &'a str>>,
    /// One entry per pickup that has pending orders, earliest first.
    pub forecast: Vec<PickupForecast>,
}

impl<'a> Plan<'a> {
    /// Every released order, wave by wave.
    pub fn released(&self) -> impl Iterator<Item = &'a OrderRef> + '_ {
        self.waves.iter().flat_map(WavePlan::orders)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    /// An order's pickup is under deadline pressure, or it cannot make its deadline.
    DeadlinePressure,
    /// One of the orders' sessions has ended.
    SessionEnded,
    /// The oldest order has waited `max_hold`.
    MaxHold,
    /// A buyer group filled a parcel (`max_orders_per_parcel`): waiting cannot combine more.
    ParcelFull,
    /// A plain FIFO batch reached `wave_max` orders ([`plan_fifo`] only).
    WaveFull,
    /// `combine_window` has passed since the buyer's last order.
    CombineWindowElapsed,
}

impl ReleaseReason {
    /// Urgent releases go out even when smaller than `wave_min`.
    pub fn is_urgent(self) -> bool {
        matches!(
            self,
            ReleaseReason::DeadlinePressure | ReleaseReason::SessionEnded | ReleaseReason::MaxHold
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WavePlan<'a> {
    /// The pickup the wave is packed for: at or before each of its orders' `pickup_at`.
    pub pickup_at: DateTime<Utc>,
    /// The earliest deadline among its orders.
    pub deadline: DateTime<Utc>,
    /// Its orders in parcels; [`WavePlan::orders`] lists them parcel by parcel.
    pub parcels: Vec<ParcelPlan<'a>>,
    pub pick_list: Vec<PickLine>,
    /// The most pressing reason among its buyers'.
    pub release_reason: ReleaseReason,
    pub splits: Vec<SplitNote>,
    /// Estimated packing minutes (one packer).
    pub minutes: f64,
}

impl<'a> WavePlan<'a> {
    /// Its orders, parcel by parcel: the order they are packed in.
    pub fn orders(&self) -> impl Iterator<Item = &'a OrderRef> + '_ {
        self.parcels.iter().flat_map(|p| p.orders.iter().copied())
    }

    /// How many orders it holds.
    pub fn order_count(&self) -> usize {
        self.parcels.iter().map(|p| p.orders.len()).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParcelPlan<'a> {
    pub seller: &'a str,
    pub buyer_key: &'a str,
    pub orders: Vec<&'a OrderRef>,
    pub weight_g: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickLine {
    pub sku: String,
    pub name: String,
    pub bin: String,
    pub qty: u32,
}

/// Why a buyer's orders are not all in one parcel of this wave.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SplitNote {
    pub seller: String,
    pub buyer_key: String,
    /// "over 20 orders", "over wave size" or "deadline".
    pub reason: String,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AtRiskReason {
    /// Even the first pickup it can make is after its deadline.
    DeadlineBeforePickup,
    /// The packing work due by its pickup exceeds what the packers can do before it.
    NotEnoughCapacity,
}

/// An order at risk: in a plan its id and session are borrowed (`AtRisk<&OrderRef, &str>`),
/// in the outlook read back they are its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(
    bound = "",
    description = "A pending order at risk of missing its deadline."
)]
pub struct AtRisk<Id = OrderRef, S = String> {
    /// Which order (its seller and order id).
    #[schema(value_type = OrderRef)]
    pub id: Id,
    /// The session (livestream label) it came in with (absent in outlooks of builds before
    /// 2026-12-07: read as empty).
    #[serde(default)]
    #[schema(value_type = String)]
    pub session: S,
    pub reason: AtRiskReason,
    /// The pickup it is planned for.
    pub pickup_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
}

/// Capacity at one pickup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PickupForecast {
    pub pickup_at: DateTime<Utc>,
    /// Pending orders planned for this pickup.
    pub orders: usize,
    /// Their packing minutes.
    pub minutes_due: f64,
    /// Packing minutes due at this pickup and every earlier one still ahead: what the
    /// packers must finish by `pickup_at`.
    pub minutes_due_through: f64,
    /// Packers × minutes from now to the pickup (0 once it has passed).
    pub minutes_available: f64,
    /// Packers needed to finish `minutes_due_through` by the pickup (with less than a
    /// minute left, as if one minute were left).
    pub packers_needed: u32,
    /// `now ≥ pickup − lead time − safety margin`: everything for it is released.
    pub under_pressure: bool,
}

/// Plans one site: what to release now and how. `ended` holds the (seller, session label)
/// pairs whose sessions are over: their orders are released by this call.
pub fn plan<'a>(
    cfg: &PlanConfig,
    pending: &'a [PlanOrder],
    ended: &HashSet<(String, String)>,
    now: DateTime<Utc>,
) -> Plan<'a> {
    plan_refs(cfg, pending.iter(), ended, now)
}

/// [`plan`] over borrowed orders (the planner shell plans its pending mirror in place
/// instead of cloning 300,000 orders into a slice). Same plan for the same set of orders.
pub fn plan_refs<'a>(
    cfg: &PlanConfig,
    pending: impl IntoIterator<Item = &'a PlanOrder>,
    ended: &HashSet<(String, String)>,
    now: DateTime<Utc>,
) -> Plan<'a> {
    let orders = canonical(pending);
    let ended = EndedSessions::new(ended);
    release::plan_released(cfg, &orders, &ended, now)
}

/// Borrowed view of the ended sessions, for allocation-free look-ups.
pub(crate) struct EndedSessions<'a>(fx::FxSet<(&'a str, &'a str)>);

impl<'a> EndedSessions<'a> {
    pub(crate) fn new(ended: &'a HashSet<(String, String)>) -> Self {
        EndedSessions(
            ended
                .iter()
                .map(|(s, l)| (s.as_str(), l.as_str()))
                .collect(),
        )
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn has_ended(&self, order: &PlanOrder) -> bool {
        self.0
            .contains(&(order.id.seller.as_str(), order.session.as_str()))
    }
}

/// The pending orders in a stable order that depends only on their content, one per id:
/// sorted by a hash of the id (cheap to compare), then by every field, so a duplicated id
/// keeps the same version whatever the input order. Not id order: outputs that promise id
/// order sort themselves.
pub(crate) fn canonical<'a>(
    pending: impl IntoIterator<Item = &'a PlanOrder>,
) -> Vec<&'a PlanOrder> {
    let mut v: Vec<(u64, &PlanOrder)> = pending.into_iter().map(|o| (id_hash(&o.id), o)).collect();
    v.sort_unstable_by(|(ha, a), (hb, b)| ha.cmp(hb).then_with(|| full_cmp(a, b)));
    v.dedup_by(|later, first| later.0 == first.0 && later.1.id == first.1.id);
    // Arrival order (ties by position) from here on: it follows how pending orders are
    // usually laid out in memory.
    let mut out: Vec<(DateTime<Utc>, usize, &PlanOrder)> = v
        .into_iter()
        .enumerate()
        .map(|(i, (_, o))| (o.received_at, i, o))
        .collect();
    out.sort_unstable_by_key(|(t, i, _)| (*t, *i));
    out.into_iter().map(|(_, _, o)| o).collect()
}

fn id_hash(id: &OrderRef) -> u64 {
    fx::hash_pair(&id.seller, &id.order_id)
}

fn full_cmp(a: &PlanOrder, b: &PlanOrder) -> std::cmp::Ordering {
    a.id.cmp(&b.id)
        .then_with(|| a.received_at.cmp(&b.received_at))
        .then_with(|| a.pickup_at.cmp(&b.pickup_at))
        .then_with(|| a.deadline.cmp(&b.deadline))
        .then_with(|| a.session.cmp(&b.session))
        .then_with(|| a.buyer_key.cmp(&b.buyer_key))
        .then_with(|| a.weight_g.cmp(&b.weight_g))
        .then_with(|| line_key(a).cmp(&line_key(b)))
}

fn line_key(o: &PlanOrder) -> Vec<(&str, &str, u32)> {
    o.lines
        .iter()
        .map(|l| (l.sku.as_str(), l.name.as_str(), l.qty))
        .collect()
}
