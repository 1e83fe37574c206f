//! Shipments: every parcel that one carrier collects at one site at one pickup, for one
//! service, is one shipment, whichever seller packed it (sellers sharing a cooperative hub
//! share its pickups; each parcel keeps its seller and COD is totalled per seller). Pure;
//! money in [`Vnd`], never floats.
//!
//! Choices where the contract is silent:
//! - One shipment per (carrier, service, pickup). Its id is
//!   `S-{site}-{YYYYMMDD}-{HHMM}-{carrier}-{service}` with the pickup's date and time in
//!   Asia/Ho_Chi_Minh (see [`shipment_id`]): the service is part of the id because two
//!   services at one pickup are two shipments and need two ids.
//! - Costs use the rate table whose `code` equals the parcel's service; a service without
//!   one is priced with the carrier's first table (its name stays on the shipment); with no
//!   table at all every cost is 0. `rates` are one carrier's: pass the parcels of that
//!   carrier only (the carrier field still groups and names shipments).
//! - `unconsolidated_cost` prices each order of a parcel one box each (its weight
//!   including its own tare, its own COD) with its own pickup; a parcel that lists no
//!   orders counts as one order of its own weight and COD (and adds nothing to
//!   `order_count`). Both costs use the zone from the site's province to the parcel's.
//! - Output is sorted by pickup, carrier, service; parcel ids within a shipment sorted (by
//!   number: `domain::id_order`).
//!   The result does not depend on the order of `parcels` (parcel ids are expected to be
//!   unique; a repeated one is counted as given).
//! - When the planner chose each parcel's carrier from quotes (a site with several
//!   carriers), `estimated_cost` is the sum of those quotes (a parcel without one, e.g. a
//!   repacked one, counts at its rate-table price): what the carriers asked, not our table.
//!   `unconsolidated_cost` is then on the same basis: those quotes plus what the table says
//!   one box per order would add (builds before 2026-12-07 gave the table's one-box-each
//!   price, so a one-order shipment quoted above the table showed negative savings).
//! - `savings` = `unconsolidated_cost − estimated_cost`. It is never negative for a rate
//!   table without [`ServiceRates::problems`] when every parcel weighs at most the sum of
//!   its orders' one-box weights (see the proof sketch in [`super::rates`]); for any other
//!   table it is reported as computed, even negative.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::rates::{self, ServiceRates, Zone};
pub use super::rates::{rates_for, shipment_id};
use crate::domain::address::Province;
use crate::domain::money::Vnd;

/// A packed (or planned) parcel as shipping sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipParcel {
    pub parcel_id: String,
    pub seller: String,
    pub carrier: String,
    /// The service code, e.g. "VCN" (the carrier's `default_service` when the parcel has
    /// none).
    pub service: String,
    pub pickup_at: DateTime<Utc>,
    /// The buyer's province (post-2025).
    pub to: &'static Province,
    /// Items plus one tare.
    pub weight_g: u64,
    pub cod: Vnd,
    /// (order id, weight including its own tare as if boxed alone, COD).
    pub orders: Vec<(String, u64, Vnd)>,
    /// The chosen carrier's quote for this parcel, when the planner chose among several.
    pub quote: Option<Vnd>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentPlan {
    pub shipment_id: String,
    pub site: String,
    pub carrier: String,
    pub service: String,
    pub pickup_at: DateTime<Utc>,
    pub parcel_ids: Vec<String>,
    pub parcel_count: usize,
    pub order_count: usize,
    pub weight_g: u64,
    pub cod_total: Vnd,
    pub cod_by_seller: BTreeMap<String, Vnd>,
    /// Σ parcel costs − volume discount + one pickup fee.
    pub estimated_cost: Vnd,
    /// The same orders one box each, each with its own pickup.
    pub unconsolidated_cost: Vnd,
    pub savings: Vnd,
}

/// A day (or any set of shipments) summed up. Money in VND, decimal strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DayReport {
    pub orders: usize,
    pub parcels: usize,
    pub shipments: usize,
    #[schema(value_type = String)]
    pub cost: Vnd,
    #[schema(value_type = String)]
    pub unconsolidated_cost: Vnd,
    #[schema(value_type = String)]
    pub savings: Vnd,
    #[schema(value_type = String)]
    pub cod_total: Vnd,
    /// COD the carrier collects for each seller (seller id → VND).
    #[schema(value_type = BTreeMap<String, String>)]
    pub cod_by_seller: BTreeMap<String, Vnd>,
}

/// Groups a site's parcels into shipments, one per (carrier, service, pickup), with their
/// consolidated and one-box-each costs. See the module doc for the details.
pub fn consolidate(
    site: &str,
    site_province: &Province,
    rates: &[ServiceRates],
    parcels: &[ShipParcel],
) -> Vec<ShipmentPlan> {
    let mut groups: BTreeMap<(DateTime<Utc>, &str, &str), Vec<&ShipParcel>> = BTreeMap::new();
    for p in parcels {
        groups
            .entry((p.pickup_at, p.carrier.as_str(), p.service.as_str()))
            .or_default()
            .push(p);
    }
    groups
        .into_iter()
        .map(|((pickup_at, carrier, service), mut members)| {
            // Ids by number (`-9` before `-10`), as every other list of ids.
            members.sort_by(|a, b| {
                crate::domain::id_order(&a.parcel_id, &b.parcel_id)
                    .then_with(|| a.key().cmp(&b.key()))
            });
            plan_one(
                site,
                site_province,
                rates,
                pickup_at,
                carrier,
                service,
                &members,
            )
        })
        .collect()
}

type ParcelKey<'a> = (
    &'a str,
    &'a str,
    &'a str,
    u64,
    Vnd,
    &'a [(String, u64, Vnd)],
);

impl ShipParcel {
    /// Sort key: the parcel id, then every other field (for repeated ids), so the result
    /// never depends on input order.
    fn key(&self) -> ParcelKey<'_> {
        let p = self;
        (
            &p.parcel_id,
            &p.seller,
            p.to.code,
            p.weight_g,
            p.cod,
            &p.orders,
        )
    }
}

fn plan_one(
    site: &str,
    site_province: &Province,
    rates: &[ServiceRates],
    pickup_at: DateTime<Utc>,
    carrier: &str,
    service: &str,
    members: &[&ShipParcel],
) -> ShipmentPlan {
    let table = rates_for(rates, service);
    let mut totals = ShipmentTotals::default();
    for p in members {
        totals.add(&ParcelPart::of(table, site_province, p));
    }
    let id = shipment_id(site, pickup_at, carrier, service);
    let mut plan = ShipmentPlan::empty(&id, site, carrier, service, pickup_at);
    plan.parcel_ids = members.iter().map(|p| p.parcel_id.clone()).collect();
    totals.fill(table, &mut plan);
    plan
}

impl ShipmentPlan {
    /// A shipment with no parcels: nothing to pay, nothing collected.
    pub fn empty(
        shipment_id: &str,
        site: &str,
        carrier: &str,
        service: &str,
        pickup_at: DateTime<Utc>,
    ) -> ShipmentPlan {
        ShipmentPlan {
            shipment_id: shipment_id.to_owned(),
            site: site.to_owned(),
            carrier: carrier.to_owned(),
            service: service.to_owned(),
            pickup_at,
            parcel_ids: Vec::new(),
            parcel_count: 0,
            order_count: 0,
            weight_g: 0,
            cod_total: Vnd::ZERO,
            cod_by_seller: BTreeMap::new(),
            estimated_cost: Vnd::ZERO,
            unconsolidated_cost: Vnd::ZERO,
            savings: Vnd::ZERO,
        }
    }
}

/// What one parcel adds to its shipment: its counts and COD, and its share of both costs.
/// A shipment's plan is the sum of its parcels' parts ([`ShipmentTotals`]), so a caller
/// that keeps the parts (the day-report gauges) re-prices a shipment by reading only the
/// parcels that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParcelPart {
    seller: String,
    orders: usize,
    weight_g: u64,
    cod: Vnd,
    freight: Decimal,
    cod_fee: Decimal,
    /// Its quote, else its rate-table price (freight + COD fee).
    own_cost: Decimal,
    quoted: bool,
    /// Its orders one box and one pickup each (the parcel itself when it lists none).
    unconsolidated: Decimal,
}

impl ParcelPart {
    /// `table`: the rate table of the parcel's service (see [`rates_for`]); none prices
    /// everything at 0 (its quote still counts).
    pub fn of(
        table: Option<&ServiceRates>,
        site_province: &Province,
        p: &ShipParcel,
    ) -> ParcelPart {
        let z = rates::zone(site_province, p.to);
        let (freight, cod_fee, unconsolidated) = match table {
            Some(r) => {
                let one_each: Vec<(Zone, u64, Vnd)> = if p.orders.is_empty() {
                    vec![(z, p.weight_g, p.cod)]
                } else {
                    p.orders.iter().map(|&(_, w, cod)| (z, w, cod)).collect()
                };
                (
                    r.freight(z, p.weight_g).0,
                    r.cod_fee(p.cod).0,
                    rates::unconsolidated_cost(r, &one_each).0,
                )
            }
            None => (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO),
        };
        ParcelPart {
            seller: p.seller.clone(),
            orders: p.orders.len(),
            weight_g: p.weight_g,
            cod: p.cod,
            freight,
            cod_fee,
            own_cost: p.quote.map_or(freight.saturating_add(cod_fee), |q| q.0),
            quoted: p.quote.is_some(),
            unconsolidated,
        }
    }
}

/// The sums of a shipment's [`ParcelPart`]s, in any order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipmentTotals {
    parcels: usize,
    orders: usize,
    weight_g: u64,
    cod_total: Decimal,
    cod_by_seller: BTreeMap<String, Vnd>,
    freight: Decimal,
    cod_fees: Decimal,
    own_costs: Decimal,
    quoted: bool,
    unconsolidated: Decimal,
}

impl ShipmentTotals {
    pub fn add(&mut self, p: &ParcelPart) {
        self.parcels += 1;
        self.orders += p.orders;
        self.weight_g = self.weight_g.saturating_add(p.weight_g);
        self.cod_total = self.cod_total.saturating_add(p.cod.0);
        match self.cod_by_seller.get_mut(&p.seller) {
            Some(c) => *c = Vnd(c.0.saturating_add(p.cod.0)),
            None => {
                self.cod_by_seller.insert(p.seller.clone(), p.cod);
            }
        }
        self.freight = self.freight.saturating_add(p.freight);
        self.cod_fees = self.cod_fees.saturating_add(p.cod_fee);
        self.own_costs = self.own_costs.saturating_add(p.own_cost);
        self.quoted |= p.quoted;
        self.unconsolidated = self.unconsolidated.saturating_add(p.unconsolidated);
    }

    /// Writes the counts, COD and both costs into `plan`. `estimated_cost`: the sum of the
    /// parcels' own prices when any was quoted, else the table's consolidated price (Σ
    /// freight − volume discount + Σ COD fees + one pickup fee); 0 without a table or
    /// without parcels.
    pub fn fill(self, table: Option<&ServiceRates>, plan: &mut ShipmentPlan) {
        let by_table = match table {
            Some(r) if self.parcels > 0 => {
                let (freight, fees) = (Vnd(self.freight), Vnd(self.cod_fees));
                rates::consolidated_cost(r, freight, fees, self.parcels)
            }
            _ => Vnd::ZERO,
        };
        // Quoted: what the carriers asked, and one box per order priced on the same basis
        // (the quotes plus what the table says one box each would add), so `savings` is
        // never the gap between a quote and our table.
        let (estimated, unconsolidated) = if self.quoted {
            let extra = self.unconsolidated.saturating_sub(by_table.0);
            (Vnd(self.own_costs), self.own_costs.saturating_add(extra))
        } else {
            (by_table, self.unconsolidated)
        };
        plan.parcel_count = self.parcels;
        plan.order_count = self.orders;
        plan.weight_g = self.weight_g;
        plan.cod_total = Vnd(self.cod_total);
        plan.cod_by_seller = self.cod_by_seller;
        plan.estimated_cost = estimated;
        plan.unconsolidated_cost = Vnd(unconsolidated);
        plan.savings = Vnd(unconsolidated.saturating_sub(estimated.0));
    }
}

/// Sums shipments up: counts, both costs, savings and COD per seller.
pub fn day_report(shipments: &[ShipmentPlan]) -> DayReport {
    let add = |a: Vnd, b: Vnd| Vnd(a.0.saturating_add(b.0));
    let mut r = DayReport {
        shipments: shipments.len(),
        ..DayReport::default()
    };
    for s in shipments {
        r.orders += s.order_count;
        r.parcels += s.parcel_count;
        r.cost = add(r.cost, s.estimated_cost);
        r.unconsolidated_cost = add(r.unconsolidated_cost, s.unconsolidated_cost);
        r.savings = add(r.savings, s.savings);
        r.cod_total = add(r.cod_total, s.cod_total);
        for (seller, cod) in &s.cod_by_seller {
            let e = r.cod_by_seller.entry(seller.clone()).or_default();
            *e = add(*e, *cod);
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::address::{normalize_province, provinces};
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn prov(name: &str) -> &'static Province {
        normalize_province(name).expect("known province")
    }
    fn v(n: i64) -> Vnd {
        Vnd::from_i64(n)
    }
    /// 11:00 (h = 4) or 17:00 (h = 10) on 2026-11-21, Vietnamese time.
    fn pickup(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, h, 0, 0)
            .single()
            .expect("instant")
    }
    const TARE: u64 = 100;

    /// A parcel of orders with the given item weights and COD, tare added once to the
    /// parcel and once to each order's one-box weight.
    #[rustfmt::skip]
    fn parcel(id: &str, seller: &str, service: &str, h: u32, to: &str, orders: &[(u64, i64)]) -> ShipParcel {
        ShipParcel {
            parcel_id: id.into(),
            seller: seller.into(),
            carrier: "viettel-post".into(),
            service: service.into(),
            pickup_at: pickup(h),
            to: prov(to),
            weight_g: orders.iter().map(|o| o.0).sum::<u64>() + TARE,
            cod: v(orders.iter().map(|o| o.1).sum()),
            orders: orders
                .iter()
                .enumerate()
                .map(|(i, &(w, c))| (format!("{id}-o{i}"), w + TARE, v(c)))
                .collect(),
            quote: None,
        }
    }

    #[test]
    fn a_quoted_shipment_s_savings_compare_like_with_like() {
        let rates = rates::default_viettel_post_rates();
        let nb = prov("Ninh Bình");
        let mo = "mat-ong-tam-diep";
        // One order, quoted far above the table: one box each is the same box, so nothing
        // is saved (the old basis showed the quote's gap to the table as a loss).
        let mut one = parcel("P-1", mo, "VCN", 4, "Hà Nội", &[(650, 0)]);
        one.quote = Some(v(85_000));
        let got = consolidate("hoa-lu-hub", nb, &rates, &[one.clone()]);
        assert_eq!(got[0].estimated_cost, v(85_000));
        assert!(
            got[0].unconsolidated_cost.0 >= got[0].estimated_cost.0,
            "{:?}",
            got[0]
        );
        let unquoted = consolidate(
            "hoa-lu-hub",
            nb,
            &rates,
            &[ShipParcel { quote: None, ..one }],
        );
        assert_eq!(got[0].savings, unquoted[0].savings, "the table's savings");
        // Three orders in one quoted box: the table's savings of one box over three.
        let mut three = parcel(
            "P-2",
            mo,
            "VCN",
            4,
            "Hà Nội",
            &[(650, 0), (650, 0), (650, 0)],
        );
        three.quote = Some(v(30_000));
        let got = consolidate("hoa-lu-hub", nb, &rates, &[three.clone()]);
        let table = consolidate(
            "hoa-lu-hub",
            nb,
            &rates,
            &[ShipParcel {
                quote: None,
                ..three
            }],
        );
        assert_eq!(got[0].estimated_cost, v(30_000));
        assert_eq!(got[0].savings, table[0].savings);
        assert!(got[0].savings.0 > Decimal::ZERO);
    }

    #[test]
    fn a_shipment_s_parcel_ids_are_in_number_order() {
        let rates = rates::default_viettel_post_rates();
        let mo = "mat-ong-tam-diep";
        let parcels: Vec<ShipParcel> = ["P-h-20261121-10", "P-h-20261121-9", "P-h-20261121-100"]
            .iter()
            .map(|id| parcel(id, mo, "VCN", 4, "Hà Nội", &[(300, 0)]))
            .collect();
        let got = consolidate("hoa-lu-hub", prov("Ninh Bình"), &rates, &parcels);
        assert_eq!(
            got[0].parcel_ids,
            ["P-h-20261121-9", "P-h-20261121-10", "P-h-20261121-100"]
        );
    }

    #[test]
    fn shared_hub_one_shipment_per_carrier_service_pickup() {
        let rates = rates::default_viettel_post_rates();
        let nb = prov("Ninh Bình");
        let (mo, ts) = ("mat-ong-tam-diep", "tra-shan-tuyet");
        #[rustfmt::skip]
        let parcels = vec![
            parcel("P-2", ts, "VCN", 4, "Hà Nội", &[(300, 200_000)]),
            parcel("P-1", mo, "VCN", 4, "Nam Định", &[(650, 370_000), (650, 0)]),
            parcel("P-3", mo, "VTK", 4, "HCM", &[(1_300, 0)]),
            parcel("P-4", mo, "VCN", 10, "Ninh Bình", &[(200, 0)]),
        ];
        let got = consolidate("hoa-lu-hub", nb, &rates, &parcels);
        let ids: Vec<_> = got.iter().map(|s| s.shipment_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "S-hoa-lu-hub-20261121-1100-viettel-post-VCN",
                "S-hoa-lu-hub-20261121-1100-viettel-post-VTK",
                "S-hoa-lu-hub-20261121-1700-viettel-post-VCN",
            ]
        );
        let s = &got[0];
        assert_eq!(s.parcel_ids, ["P-1", "P-2"]);
        assert_eq!((s.parcel_count, s.order_count, s.weight_g), (2, 3, 1_800));
        assert_eq!(s.cod_total, v(570_000));
        let by_seller: Vec<_> = s.cod_by_seller.clone().into_iter().collect();
        assert_eq!(
            by_seller,
            [(mo.into(), v(370_000)), (ts.into(), v(200_000))]
        );
        // P-1: same province 1 400 g → 16 500 + 2 × 2 500, COD fee 5 000 (minimum);
        // P-2: same region 400 g → 25 000, COD fee 5 000; one 10 000 pickup.
        assert_eq!(
            s.estimated_cost,
            v(21_500 + 5_000 + 25_000 + 5_000 + 10_000)
        );
        // Alone: 750 g → 19 000 + 5 000, 750 g → 19 000, 400 g → 25 000 + 5 000,
        // three pickups.
        assert_eq!(s.unconsolidated_cost, v(24_000 + 19_000 + 30_000 + 30_000));
        assert_eq!(s.savings, v(103_000 - 66_500));
        assert_eq!(got[1].estimated_cost, v(27_000 + 2 * 4_000 + 10_000)); // VTK other region

        let day = day_report(&got);
        assert_eq!((day.orders, day.parcels, day.shipments), (5, 4, 3));
        assert_eq!(day.cod_total, v(570_000));
        assert_eq!(day.cod_by_seller[mo], v(370_000));
        let cost: Decimal = got.iter().map(|s| s.estimated_cost.0).sum();
        assert_eq!(day.cost, Vnd(cost));
        assert_eq!(day.savings.0, day.unconsolidated_cost.0 - day.cost.0);
        assert_eq!(day_report(&[]), DayReport::default());
    }

    #[test]
    fn quoted_parcels_cost_their_quotes() {
        let rates = rates::default_viettel_post_rates();
        let mut a = parcel("P-1", "s", "VCN", 4, "Hà Nội", &[(300, 0)]);
        let mut b = parcel("P-2", "s", "VCN", 4, "HCM", &[(800, 0), (200, 0)]);
        let c = parcel("P-3", "s", "VCN", 4, "Ninh Bình", &[(300, 0)]);
        (a.quote, b.quote) = (Some(v(21_000)), Some(v(33_500)));
        let got = consolidate("hub", prov("Ninh Bình"), &rates, &[a.clone(), b.clone()]);
        assert_eq!(got[0].estimated_cost, v(54_500), "the sum of quotes");
        // Table one box each: 25 000 (400 g) + 37 000 (900 g) + 32 000 (300 g), three pickups
        // (124 000), against the table's 77 000 for the two boxes on one truck: one box each
        // adds 47 000 to what the carriers asked.
        let unquoted = [a.clone(), b.clone()].map(|p| ShipParcel { quote: None, ..p });
        let table = consolidate("hub", prov("Ninh Bình"), &rates, &unquoted);
        assert_eq!(
            (table[0].estimated_cost, table[0].unconsolidated_cost),
            (v(77_000), v(94_000 + 30_000))
        );
        assert_eq!(got[0].unconsolidated_cost, v(54_500 + 47_000));
        assert_eq!(got[0].savings, table[0].savings);
        // An unquoted parcel among quoted ones counts at its table price.
        let got = consolidate("hub", prov("Ninh Bình"), &rates, &[a, b, c]);
        assert_eq!(got[0].estimated_cost, v(54_500 + 16_500));
    }

    #[test]
    fn unknown_service_falls_back_and_no_rates_cost_nothing() {
        let rates = rates::default_viettel_post_rates();
        let p = [parcel("P-1", "s", "SCOD", 4, "Hà Nội", &[(300, 0)])];
        let got = consolidate("hub", prov("Ninh Bình"), &rates, &p);
        assert_eq!(got[0].service, "SCOD");
        assert_eq!(got[0].estimated_cost, v(25_000 + 10_000)); // VCN prices
        let none = consolidate("hub", prov("Ninh Bình"), &[], &p);
        assert_eq!(none[0].estimated_cost, Vnd::ZERO);
        assert_eq!(none[0].savings, Vnd::ZERO);
        let id = shipment_id("hub", pickup(4), "ghn", "a b/ç");
        assert_eq!(id, "S-hub-20261121-1100-ghn-a_b__");
        assert!(consolidate("hub", prov("Ninh Bình"), &rates, &[]).is_empty());
    }

    #[test]
    fn a_table_with_a_cheap_first_step_can_make_combining_dearer() {
        // first 0, step 1 000 per 500 g, no pickup fee: problems() flags it, and two
        // 500 g one-box orders (0 each) combine into a 900 g parcel that costs 1 000.
        let mut r = rates::default_viettel_post_rates().remove(0);
        (r.same_province.first, r.same_province.step) = (Vnd::ZERO, v(1_000));
        r.pickup_fee = Vnd::ZERO;
        assert!(!r.problems().is_empty());
        #[rustfmt::skip]
        let p = [parcel("P-1", "s", "VCN", 4, "Ninh Bình", &[(400, 0), (400, 0)])];
        let got = consolidate("hub", prov("Ninh Bình"), &[r], &p);
        assert_eq!(got[0].estimated_cost, v(1_000));
        assert_eq!(got[0].unconsolidated_cost, Vnd::ZERO);
        assert_eq!(got[0].savings, v(-1_000));
    }

    /// Rate tables that satisfy `ServiceRates::problems()`: first ≥ step × first steps.
    fn arb_rates() -> impl Strategy<Value = ServiceRates> {
        let zone = (0i64..10_000, 0i64..30_000);
        (
            (1u32..2_000, 1u32..1_000),
            [zone.clone(), zone.clone(), zone],
            (0i64..300, 0i64..20_000, 0i64..20_000),
            prop::collection::vec((0u32..30, 0i64..=100), 0..4),
        )
            .prop_map(|((f, s), zones, (pct, min, pick), tiers)| {
                let first_steps = i64::from(f.div_ceil(s));
                let zp = |(step, extra): (i64, i64)| rates::ZonePrice {
                    first: v(step * first_steps + extra),
                    step: v(step),
                };
                let [a, b, c] = zones;
                ServiceRates {
                    code: "VCN".into(),
                    name: String::new(),
                    first_weight_g: f,
                    step_g: s,
                    same_province: zp(a),
                    same_region: zp(b),
                    other_region: zp(c),
                    cod_fee_percent: Decimal::new(pct, 2),
                    cod_fee_min: v(min),
                    pickup_fee: v(pick),
                    volume_discounts: tiers
                        .into_iter()
                        .map(|(m, p)| rates::VolumeDiscount {
                            min_parcels: m,
                            percent: Decimal::from(p),
                        })
                        .collect(),
                    max_weight_g: 30_000,
                    max_cod: v(20_000_000),
                }
            })
    }

    fn arb_parcels() -> impl Strategy<Value = Vec<ShipParcel>> {
        let order = (0u64..8_000, 0i64..3_000_000);
        let one = (
            0usize..3, // seller
            0usize..2, // carrier
            0usize..3, // service (the third has no table)
            0u32..3,   // pickup
            0usize..34,
            prop::collection::vec(order, 1..6),
        );
        prop::collection::vec(one, 0..40).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (s, c, sv, h, to, orders))| {
                    let (seller, service) = (["a", "b", "c"][s], ["VCN", "VTK", "X"][sv]);
                    let mut p = parcel(
                        &format!("P-{i}"),
                        seller,
                        service,
                        4 + 6 * h,
                        "Huế",
                        &orders,
                    );
                    p.carrier = ["viettel-post", "ghn"][c].into();
                    p.to = &provinces()[to];
                    p
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn consolidation_partitions_and_never_costs_more(
            parcels in arb_parcels(),
            custom in arb_rates(),
            use_demo in any::<bool>(),
        ) {
            let rates = if use_demo { rates::default_viettel_post_rates() } else { vec![custom] };
            let site = prov("Ninh Bình");
            let got = consolidate("hub", site, &rates, &parcels);
            let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
            let mut keys = Vec::new();
            for s in &got {
                keys.push((s.pickup_at, s.carrier.clone(), s.service.clone()));
                prop_assert_eq!(s.parcel_count, s.parcel_ids.len());
                let members: Vec<&ShipParcel> = s.parcel_ids.iter()
                    .filter_map(|id| parcels.iter().find(|p| &p.parcel_id == id))
                    .collect();
                prop_assert_eq!(members.len(), s.parcel_count);
                for p in &members {
                    *seen.entry(p.parcel_id.as_str()).or_default() += 1;
                    prop_assert_eq!((p.pickup_at, &p.carrier, &p.service), (s.pickup_at, &s.carrier, &s.service));
                }
                let cod: Decimal = members.iter().map(|p| p.cod.0).sum();
                prop_assert_eq!(s.cod_total.0, cod);
                prop_assert_eq!(s.cod_by_seller.values().map(|c| c.0).sum::<Decimal>(), cod);
                prop_assert_eq!(s.order_count, members.iter().map(|p| p.orders.len()).sum::<usize>());
                prop_assert_eq!(s.weight_g, members.iter().map(|p| p.weight_g).sum::<u64>());
                prop_assert!(s.estimated_cost.0 <= s.unconsolidated_cost.0,
                    "{} > {}", s.estimated_cost, s.unconsolidated_cost);
                prop_assert_eq!(s.savings.0, s.unconsolidated_cost.0 - s.estimated_cost.0);
                prop_assert_eq!(s.estimated_cost.0.fract(), Decimal::ZERO);
                // The sums of the parcels' parts price exactly as the rate functions do.
                let zone = |p: &ShipParcel| rates::zone(site, p.to);
                let boxes: Vec<_> = members.iter().map(|p| (zone(p), p.weight_g, p.cod)).collect();
                let one_each: Vec<_> = members.iter().flat_map(|p| {
                    let own = [(zone(p), p.weight_g, p.cod)];
                    let orders = p.orders.iter().map(|&(_, w, c)| (zone(p), w, c));
                    own.into_iter().filter(|_| p.orders.is_empty()).chain(orders)
                }).collect();
                let r = rates_for(&rates, &s.service).expect("a table");
                prop_assert_eq!(s.estimated_cost, rates::shipment_cost(r, &boxes));
                prop_assert_eq!(s.unconsolidated_cost, rates::unconsolidated_cost(r, &one_each));
            }
            prop_assert_eq!(seen.len(), parcels.len());
            prop_assert!(seen.values().all(|&n| n == 1));
            let mut sorted = keys.clone();
            sorted.sort();
            sorted.dedup();
            prop_assert_eq!(&sorted, &keys, "one shipment per key, in key order");
            let mut reversed = parcels.clone();
            reversed.reverse();
            prop_assert_eq!(consolidate("hub", site, &rates, &reversed), got.clone());
            let day = day_report(&got);
            prop_assert_eq!(day.parcels, parcels.len());
            prop_assert_eq!(day.savings.0, day.unconsolidated_cost.0 - day.cost.0);
            prop_assert_eq!(day.cod_by_seller.values().map(|c| c.0).sum::<Decimal>(),
                parcels.iter().map(|p| p.cod.0).sum::<Decimal>());
        }
    }
}
