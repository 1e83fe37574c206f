//! The wave and parcel documents kept in Redis (the `data` field of a wave's and a parcel's
//! hash), as typed rows: the planner writes them, shipping and the edges read them.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::money::Vnd;
use crate::domain::order::{Item, OrderRef};
use crate::store::{field_ms as ms, field_u64 as num};

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
    /// This document's JSON, byte for byte as serde_json writes it: its [`ParcelParts`]
    /// written by [`ParcelParts::to_json`], as the planner writes a new parcel's (the tests
    /// compare the two writers on any document).
    pub fn to_json(&self) -> String {
        let parts = ParcelParts {
            parcel_id: &self.parcel_id,
            wave_id: &self.wave_id,
            site: &self.site,
            seller: &self.seller,
            buyer_key: &self.buyer_key,
            first_name: &self.first_name,
            phone_masked: &self.phone_masked,
            province: &self.province,
            ward: &self.ward,
            pickup_at: self.pickup_at,
            carrier: self.carrier.as_deref(),
            service: self.service.as_deref(),
            shipment_id: self.shipment_id.as_deref(),
            tare_g: self.tare_g,
            split_reason: self.split_reason.as_deref(),
            oversize: self.oversize,
            quote: self.quote,
        };
        parts.to_json(self.orders.iter().map(|o| ParcelOrderParts {
            order_id: &o.order_id,
            session: &o.session,
            cod_amount: o.cod_amount,
            weight_g: o.weight_g,
            deadline: o.deadline,
            lines: o.lines.iter().map(|l| Item {
                sku: &l.sku,
                name: &l.name,
                qty: l.qty,
                unit_price: l.unit_price,
                weight_g: l.weight_g,
            }),
        }))
    }

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

/// A parcel document's members other than its orders, borrowed: from a [`ParcelDoc`], or
/// from what the planner holds, which then writes a new parcel's JSON without building a
/// `ParcelDoc` (issue 20: cloning every string of every parcel into one, only to write it
/// and drop it, was about 5 % of the service's CPU in the 300,000-order peak).
pub struct ParcelParts<'a> {
    pub parcel_id: &'a str,
    pub wave_id: &'a str,
    pub site: &'a str,
    pub seller: &'a str,
    pub buyer_key: &'a str,
    pub first_name: &'a str,
    pub phone_masked: &'a str,
    pub province: &'a str,
    pub ward: &'a str,
    pub pickup_at: DateTime<Utc>,
    pub carrier: Option<&'a str>,
    pub service: Option<&'a str>,
    pub shipment_id: Option<&'a str>,
    pub tare_g: u64,
    pub split_reason: Option<&'a str>,
    pub oversize: bool,
    pub quote: Option<Vnd>,
}

/// One order of a parcel document, borrowed ([`ParcelOrder`]'s members); `lines` yields
/// its lines as an order's validated [`Item`]s (the members of a [`ParcelItem`]).
pub struct ParcelOrderParts<'a, L> {
    pub order_id: &'a str,
    pub session: &'a str,
    pub cod_amount: Vnd,
    pub weight_g: u64,
    pub deadline: Option<DateTime<Utc>>,
    pub lines: L,
}

impl ParcelParts<'_> {
    /// Appends the document's JSON, byte for byte as serde_json writes a [`ParcelDoc`] (the
    /// tests compare the two on any document), written by hand (issue 20: through serde
    /// this took about 4 % of the service's CPU in the 300,000-order peak). The pickup time
    /// (formatted again only when it changes, per thread) and amounts with a fraction are
    /// still written by serde_json; deadlines by [`crate::domain::rfc3339::text`] (chrono's
    /// path, through serde's `collect_str`, cost about 2,000 instructions a parcel).
    pub fn write_json<'o, L>(
        &self,
        orders: impl IntoIterator<Item = ParcelOrderParts<'o, L>>,
        out: &mut Vec<u8>,
    ) -> serde_json::Result<()>
    where
        L: IntoIterator<Item = Item<'o>>,
    {
        use crate::domain::json::{write_key, write_member, write_str, write_uint, LastJson};
        use crate::domain::rfc3339;
        fn opt_str(out: &mut Vec<u8>, key: &str, v: Option<&str>) {
            out.push(b',');
            write_key(out, key);
            match v {
                Some(s) => write_str(out, s),
                None => out.extend_from_slice(b"null"),
            }
        }
        fn by_serde<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) -> serde_json::Result<()> {
            serde_json::to_writer(&mut *out, v)
        }
        // An amount in whole đồng (all of them, in practice) is its digits in quotes, as
        // rust_decimal writes it; anything else is written by serde.
        fn amount(out: &mut Vec<u8>, v: &Vnd) -> serde_json::Result<()> {
            use rust_decimal::prelude::ToPrimitive;
            match v.0.to_u64() {
                Some(n) if v.0.scale() == 0 && !v.0.is_sign_negative() => {
                    out.push(b'"');
                    write_uint(out, n);
                    out.push(b'"');
                    Ok(())
                }
                _ => by_serde(out, v),
            }
        }
        // A parcel's pickup is most often the one before it (its wave's, or its carrier's
        // within the wave): formatted again only when it changes, per thread. (`Utc`: equal
        // times are the same text.)
        fn pickup(out: &mut Vec<u8>, t: &DateTime<Utc>) -> serde_json::Result<()> {
            thread_local! {
                static LAST: std::cell::RefCell<LastJson<DateTime<Utc>>> =
                    const { std::cell::RefCell::new(LastJson::new()) };
            }
            LAST.with(|last| last.borrow_mut().write(out, *t))
        }
        out.push(b'{');
        for (n, (key, v)) in [
            ("parcel_id", self.parcel_id),
            ("wave_id", self.wave_id),
            ("site", self.site),
            ("seller", self.seller),
            ("buyer_key", self.buyer_key),
            ("first_name", self.first_name),
            ("phone_masked", self.phone_masked),
            ("province", self.province),
            ("ward", self.ward),
        ]
        .into_iter()
        .enumerate()
        {
            if n > 0 {
                out.push(b',');
            }
            write_member(out, key, v);
        }
        out.push(b',');
        write_key(out, "pickup_at");
        pickup(out, &self.pickup_at)?;
        out.extend_from_slice(b",\"orders\":[");
        for (n, o) in orders.into_iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.push(b'{');
            write_member(out, "order_id", o.order_id);
            out.push(b',');
            write_member(out, "session", o.session);
            out.push(b',');
            write_key(out, "cod_amount");
            amount(out, &o.cod_amount)?;
            out.push(b',');
            write_key(out, "weight_g");
            write_uint(out, o.weight_g);
            out.push(b',');
            write_key(out, "deadline");
            match &o.deadline {
                Some(t) => write_str(out, &rfc3339::text(t, &mut [0u8; rfc3339::MAX])),
                None => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(b",\"lines\":[");
            for (k, l) in o.lines.into_iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                out.push(b'{');
                write_member(out, "sku", l.sku);
                out.push(b',');
                write_member(out, "name", l.name);
                out.push(b',');
                write_key(out, "qty");
                write_uint(out, u64::from(l.qty));
                out.push(b',');
                write_key(out, "unit_price");
                amount(out, &l.unit_price)?;
                out.push(b',');
                write_key(out, "weight_g");
                write_uint(out, u64::from(l.weight_g));
                out.push(b'}');
            }
            out.extend_from_slice(b"]}");
        }
        out.push(b']');
        opt_str(out, "carrier", self.carrier);
        opt_str(out, "service", self.service);
        opt_str(out, "shipment_id", self.shipment_id);
        out.push(b',');
        write_key(out, "tare_g");
        write_uint(out, self.tare_g);
        opt_str(out, "split_reason", self.split_reason);
        out.extend_from_slice(if self.oversize {
            b",\"oversize\":true"
        } else {
            b",\"oversize\":false"
        });
        if let Some(quote) = &self.quote {
            out.push(b',');
            write_key(out, "quote");
            amount(out, quote)?;
        }
        out.push(b'}');
        Ok(())
    }

    /// [`ParcelParts::write_json`] as a string; empty if serde_json failed on a part (not
    /// seen: as `serde_json::to_string(…).unwrap_or_default()` before it).
    pub fn to_json<'o, L>(
        &self,
        orders: impl IntoIterator<Item = ParcelOrderParts<'o, L>>,
    ) -> String
    where
        L: IntoIterator<Item = Item<'o>>,
    {
        let mut out = Vec::with_capacity(1024);
        match self.write_json(orders, &mut out) {
            // JSON written from strings and serde_json's output: UTF-8.
            Ok(()) => super::doc::utf8(out).unwrap_or_default(),
            Err(_) => String::new(),
        }
    }
}

/// The shipment a parcel leaves with: the `sh` field that builds before issue 20's fifteenth
/// session also wrote on its hash, else its document's `shipment_id` (both always agreed).
pub(crate) fn parcel_shipment(sh: Option<&str>, data: Option<&str>) -> Option<String> {
    #[derive(Deserialize)]
    struct Shipment {
        #[serde(default)]
        shipment_id: Option<String>,
    }
    sh.filter(|s| !s.is_empty()).map(str::to_owned).or_else(|| {
        serde_json::from_str::<Shipment>(data?)
            .ok()?
            .shipment_id
            .filter(|s| !s.is_empty())
    })
}

/// The pickup a parcel's document names (`None`: not a parcel document).
pub(crate) fn parcel_pickup(data: &str) -> Option<DateTime<Utc>> {
    #[derive(Deserialize)]
    struct Pickup {
        pickup_at: DateTime<Utc>,
    }
    serde_json::from_str::<Pickup>(data)
        .ok()
        .map(|p| p.pickup_at)
}

/// Wave and parcel ids carry their site so `GET /v1/waves/{id}` finds the keys, and their
/// pickup day with its year so they are unique across years: `W-{site}-{YYYYMMDD}-{n}`,
/// `P-{site}-{YYYYMMDD}-{n}` (ids made before 2026-12 read `W-{site}-{MMDD}-{n}`).
pub fn make_id(kind: char, site: &str, date: NaiveDate, n: u64) -> String {
    IdPrefix::new(kind, site, date).id(n)
}

/// What every id of one kind, site and day starts with, formatted once: a wave's parcels
/// are numbered from it (chrono's `format` per parcel was 0.7 % of the service's samples in
/// issue 20's 300,000-order peak).
pub struct IdPrefix(String);

impl IdPrefix {
    pub fn new(kind: char, site: &str, date: NaiveDate) -> IdPrefix {
        IdPrefix(format!("{kind}-{site}-{}-", date.format("%Y%m%d")))
    }

    /// The id numbered `n`.
    pub fn id(&self, n: u64) -> String {
        use std::fmt::Write as _;
        let mut id = String::with_capacity(self.0.len() + 20);
        id.push_str(&self.0);
        let _ = write!(id, "{n}"); // writing to a String does not fail
        id
    }
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

/// A wave's hash (`keys::wave`) as one typed row: its progress counters, its per-SKU
/// counters (`q:`, `p:`, `b:`, `k:` SKU fields) and its document (`data`). Read with
/// [`Store::wave_row`](crate::store::Store::wave_row) and
/// [`Store::wave_rows`](crate::store::Store::wave_rows).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WaveRow {
    pub wave_id: String,
    /// picking | packing | done
    pub status: String,
    pub released_at: DateTime<Utc>,
    pub pickup_at: DateTime<Utc>,
    pub order_count: u64,
    pub parcel_count: u64,
    pub qty_total: u64,
    pub qty_picked: u64,
    pub parcels_packed: u64,
    /// The first counted pick (or pack); None: nobody has started the wave yet.
    pub started_at: Option<DateTime<Utc>>,
    /// The station that last picked, packed or undid in this wave.
    pub station: Option<String>,
    /// Units still to put back, over every SKU (Σ `b:SKU`).
    pub put_back_count: u64,
    /// Parcels still to pull off the floor (`pulls_open`).
    pub pull_count: u64,
    /// Per SKU: its counters.
    skus: HashMap<String, SkuCounts>,
    /// The `data` field, parsed on demand by [`WaveRow::doc`].
    data: Option<String>,
}

/// The counters of one SKU of a wave, as stored (unreadable: 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SkuCounts {
    /// The SKU has a quantity field (`q:SKU`): it is on the wave's pick list.
    pub listed: bool,
    /// Units to pick (`q:`), picked (`p:`), to put back (`b:`), packed (`k:`).
    pub qty: i64,
    pub picked: i64,
    pub put_back: i64,
    pub packed: i64,
}

impl SkuCounts {
    /// Picked units not yet in packed parcels (`p:SKU` − `k:SKU`).
    pub fn available(&self) -> i64 {
        self.picked - self.packed
    }
}

impl WaveRow {
    /// The row of a wave's hash; None when the hash is empty (no such wave).
    pub fn from_hash(wave_id: &str, h: &HashMap<String, String>) -> Option<WaveRow> {
        if h.is_empty() {
            return None;
        }
        let mut skus: HashMap<String, SkuCounts> = HashMap::new();
        let mut put_back_count = 0;
        for (k, v) in h {
            let Some((kind, sku)) = k.split_once(':') else {
                continue;
            };
            let n = v.parse::<i64>().unwrap_or(0);
            let c = match kind {
                "q" | "p" | "b" | "k" => skus.entry(sku.to_owned()).or_default(),
                _ => continue,
            };
            match kind {
                "q" => {
                    c.listed = true;
                    c.qty = n;
                }
                "p" => c.picked = n,
                "b" => {
                    c.put_back = n;
                    put_back_count += n.max(0) as u64;
                }
                _ => c.packed = n,
            }
        }
        Some(WaveRow {
            wave_id: wave_id.to_owned(),
            status: h.get("status").cloned().unwrap_or_default(),
            released_at: ms(h, "released_ms"),
            pickup_at: ms(h, "pickup_ms"),
            order_count: num(h, "order_count"),
            parcel_count: num(h, "parcel_count"),
            qty_total: num(h, "qty_total"),
            qty_picked: num(h, "qty_picked"),
            parcels_packed: num(h, "parcels_packed"),
            started_at: h.contains_key("started_ms").then(|| ms(h, "started_ms")),
            station: h.get("station").cloned(),
            put_back_count,
            pull_count: num(h, "pulls_open"),
            skus,
            data: h.get("data").cloned(),
        })
    }

    /// The wave document; None when missing or unreadable.
    pub fn doc(&self) -> Option<WaveDoc> {
        self.data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
    }

    /// The counters of `sku` (all 0 and not listed when the wave has none).
    pub fn sku(&self, sku: &str) -> SkuCounts {
        self.skus.get(sku).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn time(secs: i64, nanos: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(1_796_000_000 + secs, nanos).unwrap()
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[A-Za-z0-9 \\-\"\\\\\u{0}-\u{1f}à-ỹ]{0,16}"
        ]
    }

    fn vnd() -> impl Strategy<Value = Vnd> {
        use rust_decimal::Decimal;
        let negative_zero = {
            let mut z = Decimal::ZERO;
            z.set_sign_negative(true);
            z
        };
        prop_oneof![
            (-20_000_000_000_000i64..20_000_000_000_000, 0u32..3)
                .prop_map(|(n, scale)| Decimal::new(n, scale)),
            (0i64..1000).prop_map(Decimal::from),
            Just(Decimal::ZERO),
            Just(negative_zero),
            Just(Decimal::from(u64::MAX)),
            Just(Decimal::MAX),
            Just(Decimal::new(18_500_000, 2)),
        ]
        .prop_map(Vnd)
    }

    fn item() -> impl Strategy<Value = ParcelItem> {
        (text(), text(), any::<u32>(), vnd(), any::<u32>()).prop_map(
            |(sku, name, qty, unit_price, weight_g)| ParcelItem {
                sku,
                name,
                qty,
                unit_price,
                weight_g,
            },
        )
    }

    fn order() -> impl Strategy<Value = ParcelOrder> {
        (
            text(),
            text(),
            vnd(),
            any::<u64>(),
            // Deadlines of every fraction width (none, 3, 6, 9 digits), and of years outside
            // 0–9999 (written by chrono).
            proptest::option::of((
                prop_oneof![
                    4 => -100_000i64..100_000,
                    1 => -70_000_000_000i64..-62_200_000_000,
                    1 => 253_500_000_000i64..260_000_000_000,
                ],
                prop_oneof![
                    Just(0u32),
                    (0u32..1000).prop_map(|n| n * 1_000_000),
                    (0u32..1_000_000).prop_map(|n| n * 1_000),
                    0u32..1_000_000_000,
                ],
            )),
            proptest::collection::vec(item(), 0..4),
        )
            .prop_map(
                |(order_id, session, cod_amount, weight_g, deadline, lines)| ParcelOrder {
                    order_id,
                    session,
                    cod_amount,
                    weight_g,
                    deadline: deadline.map(|(s, n)| time(s, n)),
                    lines,
                },
            )
    }

    fn parcel() -> impl Strategy<Value = ParcelDoc> {
        (
            proptest::collection::vec(text(), 9),
            (-100_000i64..100_000, 0u32..1_000_000_000),
            proptest::collection::vec(order(), 0..4),
            proptest::collection::vec(proptest::option::of(text()), 4),
            any::<u64>(),
            any::<bool>(),
            proptest::option::of(vnd()),
        )
            .prop_map(|(t, (secs, nanos), orders, opt, tare_g, oversize, quote)| {
                ParcelDoc {
                    parcel_id: t[0].clone(),
                    wave_id: t[1].clone(),
                    site: t[2].clone(),
                    seller: t[3].clone(),
                    buyer_key: t[4].clone(),
                    first_name: t[5].clone(),
                    phone_masked: t[6].clone(),
                    province: t[7].clone(),
                    ward: t[8].clone(),
                    pickup_at: time(secs, nanos),
                    orders,
                    carrier: opt[0].clone(),
                    service: opt[1].clone(),
                    shipment_id: opt[2].clone(),
                    tare_g,
                    split_reason: opt[3].clone(),
                    oversize,
                    quote,
                }
            })
    }

    #[test]
    fn a_pickup_formatted_before_is_written_again_as_serde_json_writes_it() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let doc = proptest::strategy::ValueTree::current(&parcel().new_tree(&mut runner).unwrap());
        for (secs, nanos) in [(0, 0), (0, 0), (60, 5), (0, 0), (60, 5), (60, 6)] {
            let doc = ParcelDoc {
                pickup_at: time(secs, nanos),
                ..doc.clone()
            };
            assert_eq!(doc.to_json(), serde_json::to_string(&doc).unwrap());
        }
    }

    proptest! {
        #[test]
        fn any_parcel_document_is_written_as_serde_json_writes_it(doc in parcel()) {
            let by_serde = serde_json::to_string(&doc).unwrap();
            prop_assert_eq!(doc.to_json(), by_serde);
        }
    }

    #[test]
    fn a_parcels_shipment_from_its_document_or_the_older_field() {
        let doc = r#"{"parcel_id":"P-h-20261205-1","shipment_id":"S-h-20261205-1100-ghn-std"}"#;
        let none = r#"{"parcel_id":"P-h-20261205-1","shipment_id":null}"#;
        let older = r#"{"parcel_id":"P-h-20261205-1"}"#;
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            parcel_shipment(None, Some(doc)),
            s("S-h-20261205-1100-ghn-std")
        );
        assert_eq!(parcel_shipment(Some("S-old"), Some(older)), s("S-old"));
        assert_eq!(
            parcel_shipment(Some(""), Some(doc)),
            s("S-h-20261205-1100-ghn-std")
        );
        assert_eq!(parcel_shipment(None, Some(none)), None);
        assert_eq!(parcel_shipment(None, Some(older)), None);
        assert_eq!(parcel_shipment(None, Some("not json")), None);
        assert_eq!(parcel_shipment(None, None), None);
    }

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

    #[test]
    fn a_wave_hash_reads_as_one_row() {
        assert_eq!(
            WaveRow::from_hash("W-hub-20261121-1", &HashMap::new()),
            None
        );
        let h: HashMap<String, String> = [
            ("status", "picking"),
            ("released_ms", "1763700000000"),
            ("order_count", "3"),
            ("qty_total", "7"),
            ("qty_picked", "-2"),
            ("station", "pack-1"),
            ("pulls_open", "1"),
            ("q:A", "4"),
            ("p:A", "3"),
            ("k:A", "1"),
            ("b:A", "2"),
            ("b:B", "x"),
            ("b:C", "-5"),
            ("data", "not json"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let w = WaveRow::from_hash("W-hub-20261121-1", &h).unwrap();
        assert_eq!(w.wave_id, "W-hub-20261121-1");
        assert_eq!(w.status, "picking");
        assert_eq!(w.released_at.timestamp_millis(), 1763700000000);
        assert_eq!(w.pickup_at.timestamp_millis(), 0);
        assert_eq!((w.order_count, w.qty_total, w.qty_picked), (3, 7, 0));
        assert_eq!(w.started_at, None);
        assert_eq!(w.station.as_deref(), Some("pack-1"));
        assert_eq!((w.put_back_count, w.pull_count), (2, 1));
        let a = w.sku("A");
        assert!(a.listed);
        assert_eq!((a.qty, a.picked, a.packed, a.put_back), (4, 3, 1, 2));
        assert_eq!(a.available(), 2);
        assert!(!w.sku("B").listed);
        assert_eq!(w.sku("Z"), SkuCounts::default());
        assert!(w.doc().is_none());
    }
}
