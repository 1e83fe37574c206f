//! The wave and parcel documents kept in Redis (the `data` field of a wave's and a parcel's
//! hash), as typed rows: the planner writes them, shipping and the edges read them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::money::Vnd;
use crate::domain::order::OrderRef;

/// A pick-list line as stored (quantities live in the wave hash, so cancellations can
/// change them atomically).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PickLineDoc {
    pub sku: String,
    pub name: String,
    pub bin: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WaveDoc {
    pub wave_id: String,
    pub site: String,
    pub date: NaiveDate,
    pub released_at: DateTime<Utc>,
    pub pickup_at: DateTime<Utc>,
    pub release_reason: String,
    pub pick_list: Vec<PickLineDoc>,
    pub parcel_ids: Vec<String>,
    pub orders: Vec<OrderRef>,
    /// Why a buyer's orders were split, if they were.
    #[serde(default)]
    pub splits: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ParcelItem {
    pub sku: String,
    pub name: String,
    pub qty: u32,
    #[serde(default)]
    pub unit_price: Vnd,
    /// Grams per unit.
    #[serde(default)]
    pub weight_g: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParcelOrder {
    pub order_id: String,
    pub session: String,
    pub cod_amount: Vnd,
    pub weight_g: u64,
    /// The order's deadline (`placed_at` + the site's SLA); absent in parcels made before
    /// 2026-12.
    #[serde(default)]
    pub deadline: Option<DateTime<Utc>>,
    pub lines: Vec<ParcelItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParcelDoc {
    pub parcel_id: String,
    pub wave_id: String,
    pub site: String,
    pub seller: String,
    pub buyer_key: String,
    pub first_name: String,
    pub phone_masked: String,
    pub province: String,
    pub ward: String,
    pub pickup_at: DateTime<Utc>,
    pub orders: Vec<ParcelOrder>,
    pub carrier: Option<String>,
    pub service: Option<String>,
    /// The consolidated pickup this parcel leaves with.
    #[serde(default)]
    pub shipment_id: Option<String>,
    /// Packaging weight of this box (grams).
    #[serde(default)]
    pub tare_g: u64,
    /// Why a buyer's orders were split over several parcels, if they were.
    #[serde(default)]
    pub split_reason: Option<String>,
    /// One order alone over a carrier limit: the carrier may refuse it.
    #[serde(default)]
    pub oversize: bool,
    /// What the chosen carrier asks for this parcel, when the planner chose among a site's
    /// carriers: its freight quote plus its COD fee (or its rate table's price when the
    /// quote failed). See `shipping::quotes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<Vnd>,
}

impl ParcelDoc {
    pub fn cod_amount(&self) -> Vnd {
        self.orders
            .iter()
            .fold(Vnd::ZERO, |acc, o| Vnd(acc.0 + o.cod_amount.0))
    }

    /// Items plus packaging.
    pub fn weight_g(&self) -> u64 {
        self.orders.iter().map(|o| o.weight_g).sum::<u64>() + self.tare_g
    }

    /// Declared goods value: Σ qty × unit price.
    pub fn value(&self) -> Vnd {
        self.orders
            .iter()
            .flat_map(|o| &o.lines)
            .fold(Vnd::ZERO, |acc, l| {
                Vnd(acc.0 + l.unit_price.0 * rust_decimal::Decimal::from(l.qty))
            })
    }

    /// Items over all orders, per SKU.
    pub fn items(&self) -> Vec<ParcelItem> {
        let mut out: Vec<ParcelItem> = Vec::new();
        for line in self.orders.iter().flat_map(|o| &o.lines) {
            match out.iter_mut().find(|i| i.sku == line.sku) {
                Some(i) => i.qty += line.qty,
                None => out.push(line.clone()),
            }
        }
        out
    }
}

/// Wave and parcel ids carry their site so `GET /v1/waves/{id}` finds the keys, and their
/// pickup day with its year so they are unique across years: `W-{site}-{YYYYMMDD}-{n}`,
/// `P-{site}-{YYYYMMDD}-{n}` (ids made before 2026-12 read `W-{site}-{MMDD}-{n}`).
pub fn make_id(kind: char, site: &str, date: NaiveDate, n: u64) -> String {
    format!("{kind}-{site}-{}-{n}", date.format("%Y%m%d"))
}

/// The site of a wave or parcel id, old (`MMDD`) or new (`YYYYMMDD`) form (None when the
/// id is not of that form).
pub fn site_of(id: &str, kind: char) -> Option<&str> {
    let rest = id.strip_prefix(kind)?.strip_prefix('-')?;
    let mut parts = rest.rsplitn(3, '-');
    let n = parts.next()?;
    let day = parts.next()?;
    let site = parts.next()?;
    let ok = !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
        && (day.len() == 4 || day.len() == 8)
        && day.bytes().all(|b| b.is_ascii_digit())
        && crate::config::is_valid_id(site);
    ok.then_some(site)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_site() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let id = make_id('W', "hoa-lu-hub", d, 7);
        assert_eq!(id, "W-hoa-lu-hub-20261121-7");
        assert_eq!(site_of(&id, 'W'), Some("hoa-lu-hub"));
        // Ids made before the year was part of them still resolve.
        assert_eq!(site_of("W-hoa-lu-hub-1121-7", 'W'), Some("hoa-lu-hub"));
        assert_eq!(site_of("P-hoa-lu-hub-1121-12", 'P'), Some("hoa-lu-hub"));
        assert_eq!(site_of("P-hoa-lu-hub-261121-12", 'P'), None);
        assert_eq!(site_of(&id, 'P'), None);
        assert_eq!(site_of("W-x", 'W'), None);
        assert_eq!(site_of("W-Bad Site-1121-1", 'W'), None);
    }

    #[test]
    fn the_same_day_of_another_year_is_another_id() {
        let a = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let b = NaiveDate::from_ymd_opt(2027, 11, 21).unwrap();
        assert_ne!(make_id('P', "hub", a, 1), make_id('P', "hub", b, 1));
        assert_eq!(make_id('P', "hub", b, 1), "P-hub-20271121-1");
    }
}
