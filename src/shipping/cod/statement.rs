//! COD statements, pure: a seller's parcels as the carriers reported them (webhooks and
//! settlement files) added up to expected, collected, fees, returned and net, with every
//! mismatch named. All amounts are whole đồng ([`Decimal`], printed as decimal strings).
//!
//! Rules (README "COD statements"):
//! - `expected`: the parcel's COD from its orders, except what came back: a returned parcel
//!   counts 0 (its COD goes to `returned`); a partially returned parcel counts what the
//!   carrier reported it collected (its webhook; without one, what its settlement paid),
//!   the rest goes to `returned`; a parcel whose carrier order was
//!   cancelled counts 0 (nothing will be collected, nothing comes back), as does one that no
//!   longer ships (its record's `expected` is 0: `cod::base_write`).
//! - `collected`: the settlement file's amount once one is uploaded, else the COD the carrier
//!   reported in a webhook for a delivered parcel.
//! - `fees`: the settlement's fee, else the webhook's; `net` = collected − fees.
//! - mismatches: `amount` (delivered, collected ≠ expected), `paid_not_delivered` (a
//!   settlement paid COD for a parcel not delivered as far as we know, or returned),
//!   `unpaid_overdue` (delivered, no transfer known, more than the carrier's schedule days
//!   ago).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::status::CarrierStatus;

/// One parcel's COD record as stored (`store::cod`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodRecord {
    pub parcel_id: String,
    pub seller: String,
    pub carrier: String,
    pub tracking: String,
    /// The pickup business day (the statement period counts parcels by it).
    pub day: Option<NaiveDate>,
    pub expected: Decimal,
    /// booked | handed_over | delivered | returned | cancelled_by_carrier
    pub status: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// COD the carrier reported in a webhook.
    pub reported: Option<Decimal>,
    pub fee: Option<Decimal>,
    pub transfer_date: Option<NaiveDate>,
    pub partial_return: bool,
    /// From a settlement file.
    pub settled: Option<Decimal>,
    pub settled_fee: Option<Decimal>,
    pub settled_date: Option<NaiveDate>,
    pub order_ids: Vec<String>,
}

impl CodRecord {
    pub fn from_hash(h: &HashMap<String, String>) -> Option<CodRecord> {
        let dec = |k: &str| h.get(k).and_then(|v| v.parse::<Decimal>().ok());
        let date = |k: &str| {
            h.get(k)
                .and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
        };
        Some(CodRecord {
            parcel_id: h.get("parcel")?.clone(),
            seller: h.get("seller")?.clone(),
            carrier: h.get("carrier").cloned().unwrap_or_default(),
            tracking: h.get("tracking").cloned().unwrap_or_default(),
            day: date("day"),
            expected: dec("expected").unwrap_or_default(),
            status: h.get("status").filter(|s| !s.is_empty()).cloned(),
            delivered_at: h
                .get("delivered_ms")
                .and_then(|v| v.parse::<i64>().ok())
                .and_then(DateTime::from_timestamp_millis),
            reported: dec("reported"),
            fee: dec("fee"),
            transfer_date: date("transfer_date"),
            partial_return: h.get("partial").is_some_and(|v| v == "1"),
            settled: dec("settled"),
            settled_fee: dec("settled_fee"),
            settled_date: date("settled_date"),
            order_ids: h
                .get("orders")
                .map(|v| v.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
        })
    }

    fn is(&self, status: &str) -> bool {
        self.status.as_deref() == Some(status)
    }

    /// What the carrier collected, as far as we know.
    pub fn collected(&self) -> Option<Decimal> {
        self.settled
            .or_else(|| self.reported.filter(|_| self.is("delivered")))
    }

    pub fn fee(&self) -> Option<Decimal> {
        self.settled_fee.or(self.fee)
    }

    /// When the COD was (or will be) transferred to the shop.
    pub fn transfer_date(&self) -> Option<NaiveDate> {
        self.settled_date.or(self.transfer_date)
    }

    /// Paid: a settlement row, or a transfer date from the carrier.
    pub fn paid(&self) -> bool {
        self.settled.is_some() || self.transfer_date.is_some()
    }

    /// (expected, returned) of this parcel, see the module rules.
    pub fn split(&self) -> (Decimal, Decimal) {
        // Cancelled with the carrier: nothing will be collected, nothing comes back.
        if self.is(CarrierStatus::CancelledByCarrier.as_str()) {
            return (Decimal::ZERO, Decimal::ZERO);
        }
        if self.is("returned") {
            return (Decimal::ZERO, self.expected);
        }
        // Partly returned: what the carrier reported it collected at the door (a webhook
        // amount below the parcel's COD), else what its settlement paid (no webhook amount,
        // or one that repeats the whole COD, as a carrier may). So a settlement that pays
        // less than the carrier reported collecting is an `amount` mismatch, not a larger
        // return.
        let kept = self
            .reported
            .filter(|c| self.is("delivered") && *c < self.expected)
            .or(self.settled);
        match kept {
            Some(c) if self.partial_return && c < self.expected => (c, self.expected - c),
            _ => (self.expected, Decimal::ZERO),
        }
    }

    /// The mismatch of this parcel on `today`, if any.
    pub fn mismatch(&self, today: NaiveDate, schedule_days: u32) -> Option<Mismatch> {
        if self.settled.is_some_and(|s| s > Decimal::ZERO) && !self.is("delivered") {
            return Some(Mismatch::PaidNotDelivered);
        }
        if !self.is("delivered") {
            return None;
        }
        if let Some(c) = self.collected() {
            if c != self.split().0 {
                return Some(Mismatch::Amount);
            }
        }
        let due = self
            .delivered_at
            .map(crate::domain::schedule::business_date)
            .and_then(|d| d.checked_add_days(chrono::Days::new(u64::from(schedule_days))));
        if !self.paid() && due.is_some_and(|due| today > due) {
            return Some(Mismatch::UnpaidOverdue);
        }
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mismatch {
    /// Delivered and collected ≠ expected.
    Amount,
    /// The carrier paid COD for a parcel we do not know as delivered (or that came back).
    PaidNotDelivered,
    /// Delivered, and no transfer past the carrier's schedule.
    UnpaidOverdue,
}

/// One parcel of a statement (contract §7).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatementRow {
    pub parcel_id: String,
    pub tracking: String,
    pub carrier: String,
    /// The parcel's pickup business day.
    #[schema(value_type = Option<String>, required = true)]
    pub day: Option<NaiveDate>,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub cod_amount: Decimal,
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, required = true)]
    pub collected: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, required = true)]
    pub fee: Option<Decimal>,
    pub status: String,
    #[schema(value_type = Option<String>, required = true)]
    pub transfer_date: Option<NaiveDate>,
    pub partial_return: bool,
    #[schema(required = true)]
    pub mismatch: Option<Mismatch>,
    /// The parcel's orders (for restocking when it came back).
    pub order_ids: Vec<String>,
}

/// A seller's COD statement for `from..=to` (contract §7).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Statement {
    pub seller: String,
    #[schema(value_type = String)]
    pub from: NaiveDate,
    #[schema(value_type = String)]
    pub to: NaiveDate,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub expected: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub collected: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub fees: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub returned: Decimal,
    /// collected − fees (negative when fees exceed what was collected).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub net: Decimal,
    pub parcels: Vec<StatementRow>,
}

/// Adds up a seller's records. `schedule_days`: the carrier's COD payment schedule.
pub fn statement(
    seller: &str,
    from: NaiveDate,
    to: NaiveDate,
    records: &[CodRecord],
    today: NaiveDate,
    schedule_days: impl Fn(&str) -> u32,
) -> Statement {
    let mut rows: Vec<&CodRecord> = records
        .iter()
        .filter(|r| r.seller == seller && r.day.is_some_and(|d| d >= from && d <= to))
        .collect();
    // By pickup day, then parcel id as people read it (`-3` before `-13`).
    rows.sort_by(|a, b| {
        a.day
            .cmp(&b.day)
            .then_with(|| crate::domain::id_order(&a.parcel_id, &b.parcel_id))
    });
    let (mut expected, mut collected, mut fees, mut returned) =
        (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    let mut parcels = Vec::with_capacity(rows.len());
    for r in rows {
        let (e, back) = r.split();
        expected += e;
        returned += back;
        collected += r.collected().unwrap_or_default();
        fees += r.fee().unwrap_or_default();
        parcels.push(StatementRow {
            parcel_id: r.parcel_id.clone(),
            tracking: r.tracking.clone(),
            carrier: r.carrier.clone(),
            day: r.day,
            cod_amount: r.expected,
            collected: r.collected(),
            fee: r.fee(),
            status: r.status.clone().unwrap_or_else(|| "booked".into()),
            transfer_date: r.transfer_date(),
            partial_return: r.partial_return,
            mismatch: r.mismatch(today, schedule_days(&r.carrier)),
            order_ids: r.order_ids.clone(),
        });
    }
    Statement {
        seller: seller.to_owned(),
        from,
        to,
        expected,
        collected,
        fees,
        returned,
        net: collected - fees,
        parcels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn vnd(n: i64) -> Decimal {
        Decimal::from(n)
    }

    fn rec(id: &str, expected: i64, status: &str) -> CodRecord {
        CodRecord {
            parcel_id: id.into(),
            seller: "s1".into(),
            carrier: "vtp".into(),
            tracking: format!("T{id}"),
            day: Some(d("2026-12-01")),
            expected: vnd(expected),
            status: Some(status.into()),
            delivered_at: (status == "delivered").then(|| "2026-12-02T03:00:00Z".parse().unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn statement_math_to_the_dong() {
        // Delivered and settled right.
        let mut a = rec("A", 370_000, "delivered");
        a.reported = Some(vnd(370_000));
        a.settled = Some(vnd(370_000));
        a.settled_fee = Some(vnd(33_000));
        a.settled_date = Some(d("2026-12-05"));
        // Delivered, settled short by 10,000 (wrong amount).
        let mut b = rec("B", 250_000, "delivered");
        b.settled = Some(vnd(240_000));
        b.settled_fee = Some(vnd(22_000));
        // Partially returned: 120,000 of 400,000 collected.
        let mut c = rec("C", 400_000, "delivered");
        c.partial_return = true;
        c.reported = Some(vnd(120_000));
        c.fee = Some(vnd(41_000));
        c.transfer_date = Some(d("2026-12-06"));
        // Returned: excluded from expected, its return fee still counts.
        let mut r = rec("R", 199_000, "returned");
        r.fee = Some(vnd(15_000));
        // Delivered, never paid, long ago.
        let mut u = rec("U", 100_000, "delivered");
        u.reported = Some(vnd(100_000));
        // Another seller's parcel and one outside the period are not counted.
        let mut other = rec("O", 999_999, "delivered");
        other.seller = "s2".into();
        let mut late = rec("L", 888_888, "delivered");
        late.day = Some(d("2026-12-09"));

        // Cancelled with the carrier (the buyer cancelled after booking): never collected.
        let x = rec("X", 130_000, "cancelled_by_carrier");

        let all = [a, b, c, r, u, x, other, late];
        let s = statement(
            "s1",
            d("2026-12-01"),
            d("2026-12-08"),
            &all,
            d("2026-12-20"),
            |_| 15,
        );
        assert_eq!(s.parcels.len(), 6);
        assert_eq!(s.expected, vnd(370_000 + 250_000 + 120_000 + 100_000));
        assert_eq!(s.collected, vnd(370_000 + 240_000 + 120_000 + 100_000));
        assert_eq!(s.fees, vnd(33_000 + 22_000 + 41_000 + 15_000));
        assert_eq!(s.returned, vnd(280_000 + 199_000));
        assert_eq!(s.net, s.collected - s.fees);
        let m: Vec<_> = s
            .parcels
            .iter()
            .map(|p| (p.parcel_id.as_str(), p.mismatch))
            .collect();
        // U was delivered on 2026-12-02: due by 2026-12-17, overdue on 2026-12-20.
        assert_eq!(
            m,
            vec![
                ("A", None),
                ("B", Some(Mismatch::Amount)),
                ("C", None),
                ("R", None),
                ("U", Some(Mismatch::UnpaidOverdue)),
                ("X", None),
            ]
        );
        // U is unpaid, but not yet 15 days after delivery on 2026-12-10.
        let s = statement(
            "s1",
            d("2026-12-01"),
            d("2026-12-08"),
            &all,
            d("2026-12-10"),
            |_| 15,
        );
        assert!(s
            .parcels
            .iter()
            .all(|p| p.mismatch != Some(Mismatch::UnpaidOverdue)));
        // On the due day itself it is not overdue yet; the day after it is.
        let due = d("2026-12-17");
        let on = statement("s1", d("2026-12-01"), d("2026-12-08"), &all, due, |_| 15);
        assert_eq!(on.parcels[4].mismatch, None);
    }

    #[test]
    fn a_partial_return_settled_short_of_what_was_collected_is_a_mismatch() {
        // The carrier reported 120,000 of 400,000 collected (the rest came back)...
        let mut c = rec("C", 400_000, "delivered");
        c.partial_return = true;
        c.reported = Some(vnd(120_000));
        // ...and its settlement pays 100,000: 20,000 short, not 20,000 more returned.
        c.settled = Some(vnd(100_000));
        assert_eq!(c.split(), (vnd(120_000), vnd(280_000)));
        assert_eq!(c.mismatch(d("2026-12-03"), 15), Some(Mismatch::Amount));
        // Paid what was reported: no mismatch.
        c.settled = Some(vnd(120_000));
        assert_eq!(c.mismatch(d("2026-12-03"), 15), None);
        // No webhook amount, or one that repeats the whole COD: the settlement says what was
        // collected.
        for reported in [None, Some(vnd(400_000))] {
            c.reported = reported;
            c.settled = Some(vnd(100_000));
            assert_eq!(c.split(), (vnd(100_000), vnd(300_000)), "{reported:?}");
            assert_eq!(c.mismatch(d("2026-12-03"), 15), None, "{reported:?}");
        }
    }

    #[test]
    fn paid_but_not_delivered_and_a_paid_return_are_mismatches() {
        let mut t = rec("T", 50_000, "handed_over");
        t.settled = Some(vnd(50_000));
        assert_eq!(
            t.mismatch(d("2026-12-03"), 15),
            Some(Mismatch::PaidNotDelivered)
        );
        let mut r = rec("R", 50_000, "returned");
        r.settled = Some(vnd(50_000));
        assert_eq!(
            r.mismatch(d("2026-12-03"), 15),
            Some(Mismatch::PaidNotDelivered)
        );
        // A return settled at 0 (fee only) is fine.
        r.settled = Some(Decimal::ZERO);
        assert_eq!(r.mismatch(d("2026-12-03"), 15), None);
    }

    #[test]
    fn parcels_are_listed_by_day_then_by_their_number() {
        let mut later = rec("P-x-20261201-2", 1, "booked");
        later.day = Some(d("2026-12-02"));
        let records = [
            rec("P-x-20261201-13", 1, "booked"),
            later,
            rec("P-x-20261201-3", 1, "booked"),
        ];
        let s = statement(
            "s1",
            d("2026-12-01"),
            d("2026-12-02"),
            &records,
            d("2026-12-03"),
            |_| 15,
        );
        let ids: Vec<&str> = s.parcels.iter().map(|p| p.parcel_id.as_str()).collect();
        assert_eq!(ids, ["P-x-20261201-3", "P-x-20261201-13", "P-x-20261201-2"]);
    }

    #[test]
    fn webhook_amount_of_a_parcel_in_transit_is_not_collected() {
        let mut t = rec("T", 50_000, "handed_over");
        t.reported = Some(vnd(50_000));
        assert_eq!(t.collected(), None);
        assert_eq!(t.split(), (vnd(50_000), Decimal::ZERO));
    }

    #[test]
    fn records_round_trip_from_redis_hashes() {
        let h: HashMap<String, String> = [
            ("parcel", "P-1"),
            ("seller", "s1"),
            ("carrier", "vtp"),
            ("tracking", "T1"),
            ("day", "2026-12-01"),
            ("expected", "370000"),
            ("status", "delivered"),
            ("delivered_ms", "1764644400000"),
            ("reported", "370000"),
            ("partial", "1"),
            ("settled_date", "2026-12-05"),
            ("orders", "O-1 O-2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let r = CodRecord::from_hash(&h).unwrap();
        assert_eq!(r.expected, vnd(370_000));
        assert!(r.partial_return);
        assert_eq!(r.order_ids, vec!["O-1", "O-2"]);
        assert_eq!(r.transfer_date(), Some(d("2026-12-05")));
        assert!(CodRecord::from_hash(&HashMap::new()).is_none());
    }
}
