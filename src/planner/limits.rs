//! Splitting one buyer's combined parcel by the carrier's limits: orders per parcel,
//! weight (packaging included) and COD. Pure; money in [`Vnd`], never floats.
//!
//! **First fit in input order**: orders are taken in the order given; each goes into the
//! first parcel opened so far that still has room for it (order count, weight with the
//! parcel's one tare, COD), else it opens a new parcel. An order is never cut: one whose
//! items plus tare alone exceed the weight limit, or whose COD alone exceeds the COD limit,
//! gets a parcel of its own, flagged (`oversize`, and a reason saying which limit), and no
//! other order joins it. The same input always gives the same parcels; each parcel lists
//! its orders' indexes ascending.
//!
//! Limits are taken literally (a weight limit of 0 makes every order oversize), except
//! `max_orders` 0, which is treated as 1.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::core::split_reason_parcel;
use crate::domain::money::Vnd;
use crate::domain::rates::ServiceRates;

/// Reason of a lone order whose items plus tare exceed the weight limit.
pub const REASON_ALONE_WEIGHT: &str = "order alone exceeds weight limit";
/// Reason of a lone order whose COD exceeds the COD limit.
pub const REASON_ALONE_COD: &str = "order alone exceeds COD limit";
/// Reason of a parcel of a buyer whose orders together exceed the COD limit.
pub const REASON_OVER_COD: &str = "over COD limit";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParcelLimits {
    /// Orders per parcel at most (platforms combine at most 20).
    pub max_orders: usize,
    /// Heaviest parcel, packaging included.
    pub max_weight_g: u64,
    /// Largest COD amount of a parcel.
    pub max_cod: Vnd,
    /// Packaging weight, once per parcel.
    pub tare_g: u64,
}

impl ParcelLimits {
    pub const DEFAULT_MAX_ORDERS: usize = 20;

    /// The limits of a carrier service: its weight and COD limits, 20 orders a parcel.
    pub fn for_service(r: &ServiceRates, tare_g: u64) -> ParcelLimits {
        ParcelLimits {
            max_orders: Self::DEFAULT_MAX_ORDERS,
            max_weight_g: u64::from(r.max_weight_g),
            max_cod: r.max_cod,
            tare_g,
        }
    }
}

/// One order of the buyer's group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPiece {
    pub order_id: String,
    /// Items only, without packaging (the parcel adds `tare_g` once).
    pub weight_g: u64,
    pub cod: Vnd,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitParcel {
    /// Indexes into the input, ascending.
    pub orders: Vec<usize>,
    /// Items of its orders plus one tare.
    pub weight_g: u64,
    pub cod: Vnd,
    /// None when the group fits in one parcel. A split group's parcels all carry why the
    /// group did not fit ("over 20 orders", "over 30000 g", "over COD limit", joined by
    /// ", " when several apply); a lone oversize order's parcel says which limit it
    /// exceeds alone ("order alone exceeds weight limit" / "... COD limit").
    pub reason: Option<String>,
    /// A single order over a limit by itself: the carrier may refuse it.
    pub oversize: bool,
}

/// Splits one buyer's orders (already grouped) into parcels within `limits`: every order
/// in exactly one parcel, whole. See the module doc for the (first-fit) rule.
pub fn split(limits: &ParcelLimits, orders: &[OrderPiece]) -> Vec<SplitParcel> {
    let max_orders = limits.max_orders.max(1);
    let mut parcels: Vec<SplitParcel> = Vec::new();
    for (i, o) in orders.iter().enumerate() {
        let alone_weight = o.weight_g.saturating_add(limits.tare_g);
        let over_weight = alone_weight > limits.max_weight_g;
        let over_cod = o.cod.0 > limits.max_cod.0;
        if over_weight || over_cod {
            let reason = if over_weight {
                REASON_ALONE_WEIGHT
            } else {
                REASON_ALONE_COD
            };
            parcels.push(SplitParcel {
                orders: vec![i],
                weight_g: alone_weight,
                cod: o.cod,
                reason: Some(reason.to_owned()),
                oversize: true,
            });
            continue;
        }
        let fits = |p: &SplitParcel| {
            !p.oversize
                && p.orders.len() < max_orders
                && p.weight_g.saturating_add(o.weight_g) <= limits.max_weight_g
                && p.cod.0.saturating_add(o.cod.0) <= limits.max_cod.0
        };
        match parcels.iter_mut().find(|p| fits(p)) {
            Some(p) => {
                p.orders.push(i);
                p.weight_g = p.weight_g.saturating_add(o.weight_g);
                p.cod = Vnd(p.cod.0.saturating_add(o.cod.0));
            }
            None => parcels.push(SplitParcel {
                orders: vec![i],
                weight_g: alone_weight,
                cod: o.cod,
                reason: None,
                oversize: false,
            }),
        }
    }
    if parcels.len() > 1 {
        let reason = group_reason(limits, max_orders, orders);
        for p in parcels.iter_mut().filter(|p| !p.oversize) {
            p.reason = Some(reason.clone());
        }
    }
    parcels
}

/// Why the whole group does not fit in one parcel.
fn group_reason(limits: &ParcelLimits, max_orders: usize, orders: &[OrderPiece]) -> String {
    let weight = orders
        .iter()
        .fold(limits.tare_g, |acc, o| acc.saturating_add(o.weight_g));
    let cod = orders
        .iter()
        .fold(Decimal::ZERO, |acc, o| acc.saturating_add(o.cod.0));
    let mut reasons = Vec::new();
    if orders.len() > max_orders {
        reasons.push(split_reason_parcel(max_orders));
    }
    if weight > limits.max_weight_g {
        reasons.push(format!("over {} g", limits.max_weight_g));
    }
    if cod > limits.max_cod.0 {
        reasons.push(REASON_OVER_COD.to_owned());
    }
    // Only oversize orders force a split of a group that fits by its totals, and those
    // make the totals exceed a limit too; this fallback is never expected.
    if reasons.is_empty() {
        reasons.push("over carrier limits".to_owned());
    }
    reasons.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits() -> ParcelLimits {
        ParcelLimits {
            max_orders: 20,
            max_weight_g: 30_000,
            max_cod: Vnd::from_i64(20_000_000),
            tare_g: 100,
        }
    }
    fn piece(id: usize, weight_g: u64, cod: i64) -> OrderPiece {
        OrderPiece {
            order_id: format!("TT-{id}"),
            weight_g,
            cod: Vnd::from_i64(cod),
        }
    }

    #[test]
    fn a_small_group_is_one_parcel_without_reason() {
        let orders = [piece(0, 650, 370_000), piece(1, 1_300, 0)];
        let got = split(&limits(), &orders);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].orders, [0, 1]);
        assert_eq!(got[0].weight_g, 2_050);
        assert_eq!(got[0].cod, Vnd::from_i64(370_000));
        assert_eq!(got[0].reason, None);
        assert!(split(&limits(), &[]).is_empty());
    }

    #[test]
    fn splits_by_each_limit_with_its_reason() {
        let l = limits();
        let many: Vec<_> = (0..45).map(|i| piece(i, 100, 0)).collect();
        let got = split(&l, &many);
        let sizes: Vec<_> = got.iter().map(|p| p.orders.len()).collect();
        assert_eq!(sizes, [20, 20, 5]);
        assert!(got
            .iter()
            .all(|p| p.reason.as_deref() == Some("over 20 orders")));

        // 12 + 12 kg fit (24.1 kg), the third 12 kg does not: first fit puts the 5 kg
        // order back into the first parcel.
        let heavy = [
            piece(0, 12_000, 0),
            piece(1, 12_000, 0),
            piece(2, 12_000, 0),
            piece(3, 5_000, 0),
        ];
        let got = split(&l, &heavy);
        assert_eq!(
            got.iter().map(|p| p.orders.clone()).collect::<Vec<_>>(),
            [vec![0, 1, 3], vec![2]]
        );
        assert_eq!(got[0].weight_g, 29_100);
        assert!(got
            .iter()
            .all(|p| p.reason.as_deref() == Some("over 30000 g")));

        let cod = [piece(0, 500, 15_000_000), piece(1, 500, 6_000_000)];
        let got = split(&l, &cod);
        assert_eq!(got.len(), 2);
        assert!(got
            .iter()
            .all(|p| p.reason.as_deref() == Some(REASON_OVER_COD)));

        let both: Vec<_> = (0..21).map(|i| piece(i, 2_000, 1_000_000)).collect();
        let got = split(&l, &both);
        let want = "over 20 orders, over 30000 g, over COD limit";
        assert!(got.iter().all(|p| p.reason.as_deref() == Some(want)));
    }

    #[test]
    fn a_lone_oversize_order_gets_its_own_flagged_parcel() {
        let l = limits();
        let orders = [
            piece(0, 500, 0),
            piece(1, 29_950, 0),
            piece(2, 100, 25_000_000),
            piece(3, 400, 0),
        ];
        let got = split(&l, &orders);
        let shape: Vec<_> = got.iter().map(|p| (p.orders.clone(), p.oversize)).collect();
        assert_eq!(
            shape,
            [(vec![0, 3], false), (vec![1], true), (vec![2], true)]
        );
        assert_eq!(got[1].reason.as_deref(), Some(REASON_ALONE_WEIGHT));
        assert_eq!(got[1].weight_g, 30_050);
        assert_eq!(got[2].reason.as_deref(), Some(REASON_ALONE_COD));
        assert_eq!(
            got[0].reason.as_deref(),
            Some("over 30000 g, over COD limit")
        );
        // Exactly at the limit is not over it.
        let exact = split(&l, &[piece(0, 29_900, 20_000_000)]);
        assert_eq!((exact[0].oversize, exact[0].reason.clone()), (false, None));
        let zero = ParcelLimits { max_orders: 0, ..l };
        assert_eq!(split(&zero, &[piece(0, 1, 0), piece(1, 1, 0)]).len(), 2);
    }

    fn arb_case() -> impl Strategy<Value = (ParcelLimits, Vec<OrderPiece>)> {
        let lim = (1usize..25, 1u64..40_000, 0i64..30_000_000, 0u64..500).prop_map(
            |(max_orders, max_weight_g, cod, tare_g)| ParcelLimits {
                max_orders,
                max_weight_g,
                max_cod: Vnd::from_i64(cod),
                tare_g,
            },
        );
        let order = (0u64..35_000, 0i64..25_000_000, any::<bool>());
        let orders = prop::collection::vec(order, 0..60).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (w, cod, round))| {
                    piece(i, w, if round { cod / 1000 * 1000 } else { cod })
                })
                .collect()
        });
        (lim, orders)
    }

    proptest! {
        #[test]
        fn split_is_a_partition_within_limits((l, orders) in arb_case()) {
            let got = split(&l, &orders);
            let mut seen = vec![0usize; orders.len()];
            for p in &got {
                prop_assert!(!p.orders.is_empty());
                prop_assert!(p.orders.windows(2).all(|w| w[0] < w[1]));
                for &i in &p.orders {
                    seen[i] += 1;
                }
                let w = p.orders.iter().map(|&i| orders[i].weight_g).sum::<u64>() + l.tare_g;
                let cod: Decimal = p.orders.iter().map(|&i| orders[i].cod.0).sum();
                prop_assert_eq!(p.weight_g, w);
                prop_assert_eq!(p.cod.0, cod);
                if p.oversize {
                    prop_assert_eq!(p.orders.len(), 1);
                    prop_assert!(w > l.max_weight_g || cod > l.max_cod.0);
                    prop_assert!(p.reason.is_some());
                } else {
                    prop_assert!(p.orders.len() <= l.max_orders);
                    prop_assert!(w <= l.max_weight_g);
                    prop_assert!(cod <= l.max_cod.0);
                    prop_assert_eq!(p.reason.is_some(), got.len() > 1);
                }
            }
            prop_assert!(seen.iter().all(|&n| n == 1));
            let total_w: u64 = got.iter().map(|p| p.weight_g).sum();
            let items: u64 = orders.iter().map(|o| o.weight_g).sum();
            prop_assert_eq!(total_w, items + l.tare_g * got.len() as u64);
            let total_cod: Decimal = got.iter().map(|p| p.cod.0).sum();
            prop_assert_eq!(total_cod, orders.iter().map(|o| o.cod.0).sum::<Decimal>());
            prop_assert_eq!(split(&l, &orders), got);
        }
    }
}
