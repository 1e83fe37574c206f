//! Business-day arithmetic in Asia/Ho_Chi_Minh: deadlines and carrier pickups.
//! Instants are UTC; days and pickup times are Vietnamese local time.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Asia::Ho_Chi_Minh;
use chrono_tz::Tz;

pub const TZ: Tz = Ho_Chi_Minh;

/// What the schedule needs to know about a site.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteSchedule {
    /// Sorted, deduplicated pickup times, every day.
    pub pickups: Vec<NaiveTime>,
    pub sla_hours: u32,
    pub min_pack_minutes: u32,
    /// Orders placed before this local time are due at that day's last pickup.
    pub same_day_cutoff: Option<NaiveTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// Packed by then, or the platform's SLA is missed.
    pub deadline: DateTime<Utc>,
    /// The pickup this order is packed for: the first one at least `min_pack_minutes`
    /// after it arrived. Never moved silently: when it is after the deadline the order is
    /// `at_risk`.
    pub pickup_at: DateTime<Utc>,
    pub at_risk: bool,
}

/// The business date (Vietnamese calendar day) of an instant.
pub fn business_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&TZ).date_naive()
}

/// A calendar day written exactly `YYYY-MM-DD` (four-digit year, two-digit month and day), as
/// the API's and the CLI's `date`, `from` and `to` take it; chrono's `%Y-%m-%d` alone also
/// reads `26-12-08` (year 26), `-2026-12-08` and `2026-12-8`.
pub fn parse_day(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    shape
        .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .flatten()
}

/// A Vietnamese local date and time as a UTC instant (Vietnam has no DST: always unique).
pub fn local_instant(date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    TZ.from_local_datetime(&date.and_time(time))
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&(date.and_time(time) - Duration::hours(7))))
}

/// Every pickup instant at or after `from`, in order (bounded: 400 days of pickups).
pub fn pickups_from(
    s: &SiteSchedule,
    from: DateTime<Utc>,
) -> impl Iterator<Item = DateTime<Utc>> + '_ {
    let first_day = business_date(from);
    (0..400)
        .flat_map(move |d| {
            let day = first_day + Duration::days(d);
            s.pickups.iter().map(move |t| local_instant(day, *t))
        })
        .filter(move |p| *p >= from)
}

pub fn due(s: &SiteSchedule, placed_at: DateTime<Utc>, received_at: DateTime<Utc>) -> Due {
    due_for_pickup(s, placed_at, first_pickup(s, received_at))
}

/// The first pickup an order received at `received_at` can make: the first one at least
/// `min_pack_minutes` later. The same for every order received at one instant: ingest asks
/// once per frame, not per order (issue 20: 2 % of ingest's instructions at 100 orders a
/// frame).
pub fn first_pickup(s: &SiteSchedule, received_at: DateTime<Utc>) -> DateTime<Utc> {
    let ready = received_at + Duration::minutes(i64::from(s.min_pack_minutes));
    // With at least one pickup a day, the iterator always yields; the fallback is for an
    // empty pickup list, which config validation refuses.
    pickups_from(s, ready).next().unwrap_or(ready)
}

/// [`due`] of an order whose pickup is known: [`first_pickup`] of when it was received.
pub fn due_for_pickup(s: &SiteSchedule, placed_at: DateTime<Utc>, pickup_at: DateTime<Utc>) -> Due {
    let mut deadline = placed_at + Duration::hours(i64::from(s.sla_hours));
    if let (Some(cutoff), Some(last)) = (s.same_day_cutoff, s.pickups.last()) {
        let local = placed_at.with_timezone(&TZ);
        if local.time() < cutoff {
            deadline = deadline.min(local_instant(local.date_naive(), *last));
        }
    }
    Due {
        deadline,
        pickup_at,
        at_risk: pickup_at > deadline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_day_takes_exactly_yyyy_mm_dd() {
        assert_eq!(
            parse_day("2026-12-08"),
            NaiveDate::from_ymd_opt(2026, 12, 8)
        );
        for bad in [
            "26-12-08",
            "-2026-12-08",
            "2026-12-8",
            "2026-2-03",
            "2026-02-30",
            "2026-13-01",
            " 2026-12-08",
            "2026/12/08",
            "",
            "2026-12-08T00:00",
            "\u{ff12}026-12-08",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }

    fn site() -> SiteSchedule {
        SiteSchedule {
            pickups: vec![
                NaiveTime::from_hms_opt(11, 0, 0).unwrap(),
                NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            ],
            sla_hours: 24,
            min_pack_minutes: 30,
            same_day_cutoff: None,
        }
    }

    fn vn(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn evening_order_goes_to_next_morning_pickup() {
        let d = due(
            &site(),
            vn("2026-11-21T20:15:02+07:00"),
            vn("2026-11-21T20:15:03+07:00"),
        );
        assert_eq!(d.pickup_at, vn("2026-11-22T11:00:00+07:00"));
        assert_eq!(d.deadline, vn("2026-11-22T20:15:02+07:00"));
        assert!(!d.at_risk);
    }

    #[test]
    fn min_pack_minutes_pushes_to_the_next_pickup() {
        let d = due(
            &site(),
            vn("2026-11-21T10:40:00+07:00"),
            vn("2026-11-21T10:40:00+07:00"),
        );
        assert_eq!(d.pickup_at, vn("2026-11-21T17:00:00+07:00"));
        let d = due(
            &site(),
            vn("2026-11-21T10:30:00+07:00"),
            vn("2026-11-21T10:30:00+07:00"),
        );
        assert_eq!(d.pickup_at, vn("2026-11-21T11:00:00+07:00"));
    }

    #[test]
    fn late_night_order_belongs_to_its_day_but_next_days_pickup() {
        let placed = vn("2026-11-21T23:50:00+07:00");
        assert_eq!(
            business_date(placed),
            NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()
        );
        assert_eq!(
            due(&site(), placed, placed).pickup_at,
            vn("2026-11-22T11:00:00+07:00")
        );
    }

    #[test]
    fn order_that_cannot_make_any_pickup_is_at_risk() {
        let mut s = site();
        s.sla_hours = 2;
        let d = due(
            &s,
            vn("2026-11-21T18:00:00+07:00"),
            vn("2026-11-21T18:00:00+07:00"),
        );
        assert!(d.at_risk);
        assert_eq!(d.pickup_at, vn("2026-11-22T11:00:00+07:00"));
    }

    #[test]
    fn same_day_cutoff_tightens_the_deadline() {
        let mut s = site();
        s.same_day_cutoff = NaiveTime::from_hms_opt(12, 0, 0);
        let d = due(
            &s,
            vn("2026-11-21T09:00:00+07:00"),
            vn("2026-11-21T09:00:00+07:00"),
        );
        assert_eq!(d.deadline, vn("2026-11-21T17:00:00+07:00"));
        assert_eq!(d.pickup_at, vn("2026-11-21T11:00:00+07:00"));
    }
}
