//! Carrier rate tables (from config) and cost estimates. Pure: no I/O, money in
//! [`Vnd`] (`rust_decimal`), never floats.
//!
//! The rules, per service:
//! - **zone**: same province / same region / other region, from the site's province to the
//!   buyer's (post-2025 provinces and their
//!   [`Region`](crate::domain::address::Region)).
//! - **freight**: `first` covers the first `first_weight_g` grams (and is the minimum
//!   charge, also for 0 g); every further started `step_g` grams costs `step`.
//!   501 g with 500/500 steps is one further step.
//! - **COD fee**: none when COD is 0; otherwise `max(COD × cod_fee_percent / 100,
//!   cod_fee_min)`, the percentage part **rounded up to whole đồng** (ceil).
//! - **volume discount** (per shipment): the best tier whose `min_parcels` ≤ the
//!   shipment's parcel count; its percent of the shipment's **freight** (not of COD fees or
//!   the pickup fee), **rounded down to whole đồng** (floor).
//! - **pickup fee**: once per pickup visit, i.e. once per shipment.
//!
//! Rounding is always to whole đồng and in the carrier's favour (the fee up, the
//! discount down), so no price is ever fractional. These choices are ours: confirm them
//! against a carrier's real tariff before relying on the estimates to the đồng. Table
//! prices are taken as final prices (VAT included). The table itself does not enforce the
//! weight and COD limits: `planner::limits::split` does, before pricing.
//!
//! Consolidation never costs more (what the property tests check): with non-negative
//! prices, discounts within 0–100 % and every zone satisfying
//! `first ≥ step × ⌈first_weight_g / step_g⌉` (the first step is at least as dear as the
//! same grams bought as further steps; [`ServiceRates::problems`] reports a table that is
//! not), freight is subadditive in weight, the COD fee is subadditive in COD (ceil and max
//! are), the discount only lowers the cost and the pickup fee is paid once instead of once
//! per order. Hence a shipment whose parcels each weigh at most the sum of their orders'
//! one-box weights costs at most what its orders cost one box and one pickup each.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::address::Province;
use crate::domain::money::{RawMoney, Vnd};
use crate::domain::schedule::TZ;

/// One service of a carrier (e.g. Viettel Post "VCN" express, "VTK" economy), as written in
/// config under `[[carriers.services]]`. Money may be written as an integer (`16500`) or a
/// decimal string (`"16500"`); percentages preferably as strings (`"0.8"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceRates {
    /// The carrier's service code, e.g. "VCN".
    pub code: String,
    #[serde(default)]
    pub name: String,
    /// Grams covered by the first price (and the minimum charge), e.g. 500.
    pub first_weight_g: u32,
    /// Each further started step of this many grams costs the zone's `step`, e.g. 500.
    /// 0 is treated as 1 g (and reported by [`ServiceRates::problems`]).
    pub step_g: u32,
    pub same_province: ZonePrice,
    pub same_region: ZonePrice,
    pub other_region: ZonePrice,
    /// Percent of the COD amount, e.g. 0.8 for 0.8 %. Negative counts as 0.
    #[serde(default, deserialize_with = "de_percent")]
    pub cod_fee_percent: Decimal,
    /// The least COD fee of a parcel that carries COD.
    #[serde(default, deserialize_with = "de_money")]
    pub cod_fee_min: Vnd,
    /// Per pickup visit: once per shipment.
    #[serde(default, deserialize_with = "de_money")]
    pub pickup_fee: Vnd,
    /// Per shipment, by its parcel count; the best applicable tier wins.
    #[serde(default)]
    pub volume_discounts: Vec<VolumeDiscount>,
    /// Heaviest parcel the service takes (packaging included).
    pub max_weight_g: u32,
    /// Largest COD amount of one parcel.
    #[serde(deserialize_with = "de_money")]
    pub max_cod: Vnd,
}

/// The price of the first weight step and of each further step, in one zone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ZonePrice {
    #[serde(deserialize_with = "de_money")]
    pub first: Vnd,
    #[serde(deserialize_with = "de_money")]
    pub step: Vnd,
}

/// `percent` off a shipment's freight when it has at least `min_parcels` parcels.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeDiscount {
    pub min_parcels: u32,
    /// Clamped to 0–100 when applied.
    #[serde(deserialize_with = "de_percent")]
    pub percent: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Zone {
    SameProvince,
    SameRegion,
    OtherRegion,
}

/// The zone of a parcel sent from `from` (the site) to `to` (the buyer).
pub fn zone(from: &Province, to: &Province) -> Zone {
    if from.code == to.code {
        Zone::SameProvince
    } else if from.region == to.region {
        Zone::SameRegion
    } else {
        Zone::OtherRegion
    }
}

impl ServiceRates {
    pub fn zone_price(&self, zone: Zone) -> &ZonePrice {
        match zone {
            Zone::SameProvince => &self.same_province,
            Zone::SameRegion => &self.same_region,
            Zone::OtherRegion => &self.other_region,
        }
    }

    /// Freight of one parcel: the first step, plus `step` per further started `step_g`.
    pub fn freight(&self, zone: Zone, weight_g: u64) -> Vnd {
        let price = self.zone_price(zone);
        let over = weight_g.saturating_sub(u64::from(self.first_weight_g));
        let steps = over.div_ceil(u64::from(self.step_g.max(1)));
        let extra = price.step.0.saturating_mul(Decimal::from(steps));
        Vnd(price.first.0.saturating_add(extra))
    }

    /// COD fee of one parcel: 0 without COD, else the percentage (rounded up to whole
    /// đồng) but at least `cod_fee_min`.
    pub fn cod_fee(&self, cod: Vnd) -> Vnd {
        if cod.0 <= Decimal::ZERO {
            return Vnd::ZERO;
        }
        let percent = self.cod_fee_percent.max(Decimal::ZERO);
        // Dividing by 100 cannot overflow or panic.
        let fee = (cod.0.saturating_mul(percent) / Decimal::ONE_HUNDRED).ceil();
        Vnd(fee.max(self.cod_fee_min.0))
    }

    /// The discount percent (0–100) for a shipment of `parcels` parcels.
    pub fn discount_percent(&self, parcels: usize) -> Decimal {
        let parcels = u64::try_from(parcels).unwrap_or(u64::MAX);
        self.volume_discounts
            .iter()
            .filter(|d| u64::from(d.min_parcels) <= parcels)
            .map(|d| d.percent.clamp(Decimal::ZERO, Decimal::ONE_HUNDRED))
            .max()
            .unwrap_or(Decimal::ZERO)
    }

    /// What is wrong with this table, as `field: message` lines (empty when fine). Meant
    /// for config validation; the cost functions never panic on a bad table.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.code.trim().is_empty() {
            out.push("code: must not be empty".to_owned());
        }
        if self.step_g == 0 {
            out.push("step_g: must be at least 1".to_owned());
        }
        if self.max_weight_g == 0 {
            out.push("max_weight_g: must be at least 1".to_owned());
        }
        let percents = std::iter::once(("cod_fee_percent".to_owned(), self.cod_fee_percent));
        let tiers = self.volume_discounts.iter().enumerate();
        let tiers = tiers.map(|(i, d)| (format!("volume_discounts[{i}].percent"), d.percent));
        for (field, pct) in percents.chain(tiers) {
            if !(Decimal::ZERO..=Decimal::ONE_HUNDRED).contains(&pct) {
                out.push(format!("{field}: must be within 0–100"));
            }
        }
        let first_steps = u64::from(self.first_weight_g).div_ceil(u64::from(self.step_g.max(1)));
        for (name, zone) in [
            ("same_province", Zone::SameProvince),
            ("same_region", Zone::SameRegion),
            ("other_region", Zone::OtherRegion),
        ] {
            let p = self.zone_price(zone);
            if p.first.0 < p.step.0.saturating_mul(Decimal::from(first_steps)) {
                out.push(format!(
                    "{name}.first: below {first_steps} × step: combining orders could cost more than shipping them apart"
                ));
            }
        }
        out
    }
}

/// One parcel's cost: freight by weight steps plus the COD fee (whole đồng, see the module
/// doc for the rounding). No pickup fee and no volume discount: those are per shipment.
pub fn parcel_cost(r: &ServiceRates, zone: Zone, weight_g: u64, cod: Vnd) -> Vnd {
    Vnd(r.freight(zone, weight_g).0.saturating_add(r.cod_fee(cod).0))
}

/// One shipment's cost: Σ parcel costs − the volume discount on the freight + one pickup
/// fee. An empty shipment costs nothing (no visit).
pub fn shipment_cost(r: &ServiceRates, parcels: &[(Zone, u64, Vnd)]) -> Vnd {
    if parcels.is_empty() {
        return Vnd::ZERO;
    }
    let mut freight = Decimal::ZERO;
    let mut cod_fees = Decimal::ZERO;
    for &(zone, weight_g, cod) in parcels {
        freight = freight.saturating_add(r.freight(zone, weight_g).0);
        cod_fees = cod_fees.saturating_add(r.cod_fee(cod).0);
    }
    consolidated_cost(r, Vnd(freight), Vnd(cod_fees), parcels.len())
}

/// [`shipment_cost`] from its sums: `freight` and `cod_fees` summed over `parcels`
/// parcels (at least one). For callers that keep those sums per shipment.
pub fn consolidated_cost(r: &ServiceRates, freight: Vnd, cod_fees: Vnd, parcels: usize) -> Vnd {
    let percent = r.discount_percent(parcels);
    let discount = (freight.0.saturating_mul(percent) / Decimal::ONE_HUNDRED).floor();
    Vnd(freight
        .0
        .saturating_sub(discount)
        .saturating_add(cod_fees.0)
        .saturating_add(r.pickup_fee.0))
}

/// The same orders one box and one pickup each: Σ (parcel cost + pickup fee), no volume
/// discount.
pub fn unconsolidated_cost(r: &ServiceRates, orders: &[(Zone, u64, Vnd)]) -> Vnd {
    let total = orders.iter().fold(Decimal::ZERO, |acc, &(zone, w, cod)| {
        acc.saturating_add(parcel_cost(r, zone, w, cod).0)
            .saturating_add(r.pickup_fee.0)
    });
    Vnd(total)
}

/// DEMO FIGURES, NOT VIETTEL POST'S TARIFF: a plausible table for its express ("VCN") and
/// economy ("VTK") services so the service runs and shows savings without set-up. Put the
/// carrier's contracted prices under `[[carriers.services]]` before quoting costs.
pub fn default_viettel_post_rates() -> Vec<ServiceRates> {
    let v = Vnd::from_i64;
    let zp = |(first, step): (i64, i64)| ZonePrice {
        first: v(first),
        step: v(step),
    };
    // (code, name, same province, same region, other region: (first 500 g, each 500 g))
    #[rustfmt::skip]
    let table = [
        ("VCN", "Chuyển phát nhanh (demo rates)", (16_500, 2_500), (25_000, 4_000), (32_000, 5_000)),
        ("VTK", "Tiết kiệm (demo rates)", (15_000, 2_000), (20_000, 3_000), (27_000, 4_000)),
    ];
    table
        .into_iter()
        .map(
            |(code, name, same_province, same_region, other_region)| ServiceRates {
                code: code.into(),
                name: name.into(),
                first_weight_g: 500,
                step_g: 500,
                same_province: zp(same_province),
                same_region: zp(same_region),
                other_region: zp(other_region),
                cod_fee_percent: Decimal::new(8, 1),
                cod_fee_min: v(5_000),
                pickup_fee: v(10_000),
                volume_discounts: [(20, 5), (50, 10), (100, 15)]
                    .into_iter()
                    .map(|(min_parcels, pct)| VolumeDiscount {
                        min_parcels,
                        percent: Decimal::from(pct),
                    })
                    .collect(),
                max_weight_g: 30_000,
                max_cod: v(20_000_000),
            },
        )
        .collect()
}

/// Money in config: an integer or a decimal string of whole, non-negative đồng.
fn de_money<'de, D: Deserializer<'de>>(d: D) -> Result<Vnd, D::Error> {
    let raw = RawMoney::deserialize(d)?;
    Vnd::parse(&raw.0).map_err(|e| serde::de::Error::custom(e.message()))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawPercent {
    Str(String),
    Int(i64),
    Float(f64),
}

/// A percentage in config: a decimal string ("0.8"), an integer, or a float literal read
/// through its shortest decimal form (0.8 → "0.8", never a binary approximation).
fn de_percent<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    let text = match RawPercent::deserialize(d)? {
        RawPercent::Str(s) => s,
        RawPercent::Int(i) => return Ok(Decimal::from(i)),
        RawPercent::Float(f) => f.to_string(),
    };
    Decimal::from_str(text.trim())
        .map_err(|_| serde::de::Error::custom("expected a percentage such as \"0.8\""))
}

/// `S-{site}-{YYYYMMDD}-{HHMM}-{carrier}-{service}`, date and time in Asia/Ho_Chi_Minh.
/// Characters of the service code outside `A-Z a-z 0-9 . _ -` become `_` (ids go in URLs).
pub fn shipment_id(site: &str, pickup_at: DateTime<Utc>, carrier: &str, service: &str) -> String {
    let local = pickup_at.with_timezone(&TZ).format("%Y%m%d-%H%M");
    let service: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("S-{site}-{local}-{carrier}-{service}")
}

/// The rate table for `service`: its own, else the first one (None without any table).
pub fn rates_for<'a>(rates: &'a [ServiceRates], service: &str) -> Option<&'a ServiceRates> {
    rates.iter().find(|r| r.code == service).or(rates.first())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::address::normalize_province;

    fn prov(name: &str) -> &'static Province {
        normalize_province(name).expect("known province")
    }
    fn v(n: i64) -> Vnd {
        Vnd::from_i64(n)
    }
    fn vcn() -> ServiceRates {
        default_viettel_post_rates().remove(0)
    }

    /// (grams, VCN same-province freight): 500 g first step, 500 g further steps.
    #[rustfmt::skip]
    const WEIGHT_CASES: [(u64, i64); 8] = [
        (0, 16_500), (1, 16_500), (500, 16_500), (501, 19_000), (1000, 19_000),
        (1001, 21_500), (1500, 21_500), (30_000, 16_500 + 59 * 2_500),
    ];

    /// (COD, fee) at 0.8 %, at least 5 000, the percentage rounded up to whole đồng.
    #[rustfmt::skip]
    const COD_CASES: [(i64, i64); 8] = [
        (0, 0), (1, 5_000),
        (370_000, 5_000),      // 2 960 < min
        (625_000, 5_000),      // exactly 5 000
        (625_001, 5_001),      // 5 000.008 → rounded up
        (1_000_000, 8_000),
        (1_234_567, 9_877),    // 9 876.536 → 9 877
        (20_000_000, 160_000), // at max_cod
    ];

    #[test]
    fn zones_from_ninh_binh() {
        let nb = prov("Ninh Bình");
        // Nam Định merged into Ninh Bình in 2025; Thanh Hóa is central.
        #[rustfmt::skip]
        let cases = [
            ("Ninh Bình", Zone::SameProvince), ("Nam Định", Zone::SameProvince),
            ("Hà Nội", Zone::SameRegion), ("Hải Phòng", Zone::SameRegion),
            ("Thanh Hóa", Zone::OtherRegion), ("Hồ Chí Minh", Zone::OtherRegion),
        ];
        for (to, want) in cases {
            assert_eq!(zone(nb, prov(to)), want, "{to}");
        }
        assert_eq!(zone(prov("HCM"), prov("Cần Thơ")), Zone::SameRegion);
    }

    #[test]
    fn weight_steps_at_exact_boundaries() {
        let r = vcn();
        for (w, want) in WEIGHT_CASES {
            assert_eq!(r.freight(Zone::SameProvince, w), v(want), "{w} g");
        }
        assert_eq!(parcel_cost(&r, Zone::SameRegion, 501, Vnd::ZERO), v(29_000));
        assert_eq!(r.freight(Zone::OtherRegion, 1000), v(37_000));
        let mut odd = r.clone();
        (odd.first_weight_g, odd.step_g) = (1000, 250);
        assert_eq!(odd.freight(Zone::SameProvince, 1001), v(19_000));
        assert_eq!(odd.freight(Zone::SameProvince, 1251), v(21_500));
        odd.step_g = 0; // reported by problems(), priced per gram, never a panic
        assert_eq!(odd.freight(Zone::SameProvince, 1002), v(21_500));
        assert!(odd.problems().iter().any(|p| p.starts_with("step_g")));
    }

    #[test]
    fn cod_fee_minimum_percent_and_rounding() {
        let r = vcn(); // 0.8 %, at least 5 000
        for (cod, want) in COD_CASES {
            assert_eq!(r.cod_fee(v(cod)), v(want), "cod {cod}");
        }
        let cost = parcel_cost(&r, Zone::SameProvince, 800, v(1_234_567));
        assert_eq!(cost, v(19_000 + 9_877));
        assert_eq!(cost.0.fract(), Decimal::ZERO);
    }

    #[test]
    fn volume_discount_thresholds_and_one_pickup_fee() {
        let r = vcn(); // 5 % from 20, 10 % from 50, 15 % from 100; pickup 10 000
        let one = (Zone::SameProvince, 500, Vnd::ZERO); // 16 500 each
        let cost = |n: usize| shipment_cost(&r, &vec![one; n]);
        assert_eq!(shipment_cost(&r, &[]), Vnd::ZERO);
        assert_eq!(cost(1), v(16_500 + 10_000));
        assert_eq!(cost(2), v(33_000 + 10_000));
        assert_eq!(cost(19), v(19 * 16_500 + 10_000));
        assert_eq!(cost(20), v(330_000 - 16_500 + 10_000)); // 5 %
        assert_eq!(cost(49), v(808_500 - 40_425 + 10_000)); // still 5 %
        assert_eq!(cost(50), v(825_000 - 82_500 + 10_000)); // 10 %
        assert_eq!(cost(100), v(1_650_000 - 247_500 + 10_000)); // 15 %

        // Discount on freight only, rounded down; COD fees are not discounted.
        let p = [(Zone::SameRegion, 501, v(1_000_000)); 21]; // 29 000 + 8 000 each
        let freight = Decimal::from(21 * 29_000);
        let discount = (freight * Decimal::new(5, 2)).floor(); // 30 450
        let want = freight - discount + Decimal::from(21 * 8_000 + 10_000);
        assert_eq!(shipment_cost(&r, &p), Vnd(want));
        let mut frac = r.clone();
        frac.volume_discounts = vec![VolumeDiscount {
            min_parcels: 1,
            percent: Decimal::new(33, 1), // 3.3 % of 16 500 = 544.5 → 544
        }];
        assert_eq!(shipment_cost(&frac, &[one]), v(16_500 - 544 + 10_000));
    }

    #[test]
    fn unconsolidated_pays_one_pickup_per_order() {
        let r = vcn();
        let orders = [
            (Zone::SameProvince, 700, v(370_000)),  // 19 000 + 5 000
            (Zone::OtherRegion, 300, Vnd::ZERO),    // 32 000
            (Zone::SameRegion, 1200, v(1_000_000)), // 33 000 + 8 000
        ];
        let want = 24_000 + 32_000 + 41_000 + 3 * 10_000;
        assert_eq!(unconsolidated_cost(&r, &orders), v(want));
        assert_eq!(unconsolidated_cost(&r, &[]), Vnd::ZERO);
        // The same three as one shipment: one pickup fee, no discount below 20 parcels.
        assert_eq!(shipment_cost(&r, &orders), v(want - 2 * 10_000));
    }

    #[test]
    fn demo_tables_are_sound_and_round_trip() {
        let all = default_viettel_post_rates();
        let codes: Vec<_> = all.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(codes, ["VCN", "VTK"]);
        for r in &all {
            assert!(r.problems().is_empty(), "{}: {:?}", r.code, r.problems());
            assert!(r.name.contains("demo"));
            let json = serde_json::to_string(r).expect("json");
            let back: ServiceRates = serde_json::from_str(&json).expect("json back");
            assert_eq!(&back, r);
        }
        let mut bad = vcn();
        bad.same_region.first = v(3_000); // cheaper than one 4 000 step
        bad.volume_discounts[0].percent = Decimal::from(120);
        assert_eq!(bad.problems().len(), 2, "{:?}", bad.problems());
    }

    #[test]
    fn deserializes_from_toml_config() {
        use figment::providers::{Format, Toml};
        let toml = r#"
            [[services]]
            code = "VCN"
            name = "Express"
            first_weight_g = 500
            step_g = 500
            same_province = { first = 16500, step = "2500" }
            same_region = { first = 25000, step = 4000 }
            other_region = { first = "32000", step = 5000 }
            cod_fee_percent = 0.8
            cod_fee_min = 5000
            pickup_fee = "10000"
            volume_discounts = [{ min_parcels = 20, percent = "5" }, { min_parcels = 50, percent = 10 }]
            max_weight_g = 30000
            max_cod = 20000000
        "#;
        #[derive(Deserialize)]
        struct Wrap {
            services: Vec<ServiceRates>,
        }
        let parse = |t: &str| {
            figment::Figment::from(Toml::string(t))
                .extract::<Wrap>()
                .map_err(|e| e.to_string())
        };
        let mut want = vcn();
        want.name = "Express".into();
        want.volume_discounts.truncate(2);
        assert_eq!(parse(toml).expect("toml").services, [want]);
        // Fees, percent and discounts are optional (0 / none).
        let optional = ["cod_fee", "pickup_fee", "volume_discounts"];
        let lines = toml
            .lines()
            .filter(|l| !optional.iter().any(|o| l.contains(o)));
        let minimal = parse(&lines.collect::<Vec<_>>().join("\n")).expect("minimal toml");
        let m = &minimal.services[0];
        assert_eq!(
            (m.cod_fee_percent, m.cod_fee_min, m.pickup_fee),
            (Decimal::ZERO, Vnd::ZERO, Vnd::ZERO)
        );
        assert!(m.volume_discounts.is_empty());
        for bad in [
            toml.replace("max_cod = 20000000", "max_cod = 20000000\nsurcharge = 1"),
            toml.replace("cod_fee_min = 5000", "cod_fee_min = -5"),
            toml.replace("cod_fee_min = 5000", "cod_fee_min = \"5000.5\""),
        ] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
    }
}
