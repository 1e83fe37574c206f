//! The cheapest carrier per parcel. Pure: the caller gathers each carrier's pickup and cost
//! for the parcel (quotes at the edge, see [`super::quotes`]) and this picks one.
//!
//! Rules, in order:
//! 1. A site that pins a carrier gets it (when it is among the options), whatever the price.
//! 2. Among carriers whose pickup is at or before the parcel's deadline, the cheapest; a tie
//!    goes to the earlier pickup, then to the carrier listed first for the site.
//! 3. If no pickup makes the deadline, the earliest pickup (then the cheapest): the parcel is
//!    late anyway, and the planner already reports it at risk.

use chrono::{DateTime, NaiveTime, Utc};

use crate::domain::money::Vnd;
use crate::domain::schedule::{pickups_from, SiteSchedule};

/// One carrier a parcel could go with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierOption {
    pub carrier: String,
    /// When this carrier would collect the parcel.
    pub pickup_at: DateTime<Utc>,
    /// What it would cost (the carrier's quote, or the rate table when the quote failed).
    pub cost: Vnd,
    /// `cost` is the carrier's own quote (not the table fallback).
    pub quoted: bool,
}

/// The option the parcel goes with (an index into `options`), or `None` without options.
pub fn choose(
    options: &[CarrierOption],
    deadline: DateTime<Utc>,
    pin: Option<&str>,
) -> Option<usize> {
    if let Some(pin) = pin {
        if let Some(i) = options.iter().position(|o| o.carrier == pin) {
            return Some(i);
        }
    }
    let in_time = options
        .iter()
        .enumerate()
        .filter(|(_, o)| o.pickup_at <= deadline)
        .min_by(|(i, a), (j, b)| (a.cost, a.pickup_at, *i).cmp(&(b.cost, b.pickup_at, *j)));
    if let Some((i, _)) = in_time {
        return Some(i);
    }
    options
        .iter()
        .enumerate()
        .min_by(|(i, a), (j, b)| (a.pickup_at, a.cost, *i).cmp(&(b.pickup_at, b.cost, *j)))
        .map(|(i, _)| i)
}

/// A carrier's pickup for a parcel ready for the site pickup `ready`: its first pickup at or
/// after `ready` (`times`: that carrier's pickup times at the site, every day).
pub fn carrier_pickup(times: &[NaiveTime], ready: DateTime<Utc>) -> DateTime<Utc> {
    let schedule = SiteSchedule {
        pickups: times.to_vec(),
        sla_hours: 24,
        min_pack_minutes: 0,
        same_day_cutoff: None,
    };
    let first = pickups_from(&schedule, ready).next();
    first.unwrap_or(ready)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        // Vietnamese local time on 2026-12-02.
        Utc.with_ymd_and_hms(2026, 12, 2, h - 7, m, 0)
            .single()
            .unwrap()
    }
    fn opt(carrier: &str, pickup: DateTime<Utc>, cost: i64) -> CarrierOption {
        CarrierOption {
            carrier: carrier.into(),
            pickup_at: pickup,
            cost: Vnd::from_i64(cost),
            quoted: true,
        }
    }

    #[test]
    fn cheapest_that_makes_the_deadline() {
        let o = [
            opt("vtp", at(11, 0), 30_000),
            opt("ghtk", at(17, 0), 22_000),
            opt("ghn", at(11, 0), 25_000),
        ];
        assert_eq!(
            choose(&o, at(18, 0), None),
            Some(1),
            "ghtk is cheapest and in time"
        );
        assert_eq!(
            choose(&o, at(12, 0), None),
            Some(2),
            "ghtk's pickup is too late"
        );
        assert_eq!(
            choose(&o, at(11, 0), None),
            Some(2),
            "a pickup at the deadline makes it"
        );
        assert_eq!(
            choose(&o, at(10, 0), None),
            Some(2),
            "none in time: earliest, then cheapest"
        );
        assert_eq!(choose(&[], at(18, 0), None), None);
    }

    #[test]
    fn ties_and_pins() {
        let o = [
            opt("vtp", at(17, 0), 25_000),
            opt("ghtk", at(11, 0), 25_000),
            opt("ghn", at(11, 0), 25_000),
        ];
        assert_eq!(
            choose(&o, at(18, 0), None),
            Some(1),
            "same price: earlier pickup, then listed first"
        );
        assert_eq!(choose(&o, at(18, 0), Some("vtp")), Some(0));
        assert_eq!(
            choose(&o, at(10, 0), Some("vtp")),
            Some(0),
            "a pin wins even when late"
        );
        assert_eq!(
            choose(&o, at(18, 0), Some("gone")),
            Some(1),
            "an unknown pin is ignored"
        );
    }

    #[test]
    fn carrier_pickups_follow_the_ready_time() {
        let times = [
            NaiveTime::from_hms_opt(10, 30, 0).unwrap(),
            NaiveTime::from_hms_opt(16, 0, 0).unwrap(),
        ];
        assert_eq!(carrier_pickup(&times, at(11, 0)), at(16, 0));
        assert_eq!(carrier_pickup(&times, at(10, 30)), at(10, 30));
        let next_day = Utc
            .with_ymd_and_hms(2026, 12, 3, 3, 30, 0)
            .single()
            .unwrap();
        assert_eq!(carrier_pickup(&times, at(17, 0)), next_day);
    }
}
