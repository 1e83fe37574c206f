//! Floor progress per pickup: for the next occurrence of each configured pickup time
//! (today's until an hour after it, then tomorrow's), the units and parcels of its waves,
//! how many are picked and packed, and the time left. Labels: site, pickup ("HH:MM").

use crate::metric_names as names;
use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveTime, Utc};

use crate::config::SiteConfig;
use crate::domain::schedule::{business_date, local_instant};
use crate::state::AppState;
use crate::store::StoreError;

/// A pickup still counts as "next" until this long after it (late trucks, last parcels).
const GRACE: Duration = Duration::hours(1);

/// Totals of the waves of one pickup.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub units: u64,
    pub units_picked: u64,
    pub parcels: u64,
    pub parcels_packed: u64,
}

/// The instant of the next occurrence of `time` (local), as seen at `now`.
pub fn next_occurrence(time: NaiveTime, now: DateTime<Utc>) -> DateTime<Utc> {
    let today = business_date(now);
    let at = local_instant(today, time);
    if at >= now - GRACE {
        at
    } else {
        local_instant(today + Duration::days(1), time)
    }
}

pub async fn refresh(
    state: &AppState,
    site: &SiteConfig,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let occurrences: Vec<(String, DateTime<Utc>)> = site
        .pickup_times()
        .into_iter()
        .map(|t| (t.format("%H:%M").to_string(), next_occurrence(t, now)))
        .collect();
    let by_pickup = progress_by_pickup(state, &site.id, now).await?;
    for (label, at) in occurrences {
        let p = by_pickup
            .get(&at.timestamp_millis())
            .copied()
            .unwrap_or_default();
        let g = |name: &'static str, stage: &'static str, v: u64| {
            metrics::gauge!(name, "site" => site.id.clone(), "pickup" => label.clone(), "stage" => stage)
                .set(v as f64);
        };
        g(names::PICKUP_UNITS, "waved", p.units);
        g(names::PICKUP_UNITS, "picked", p.units_picked);
        g(names::PICKUP_PARCELS, "waved", p.parcels);
        g(names::PICKUP_PARCELS, "packed", p.parcels_packed);
        let left = (at - now).num_milliseconds() as f64 / 1000.0;
        metrics::gauge!(names::PICKUP_TIME_LEFT_SECONDS, "site" => site.id.clone(), "pickup" => label)
            .set(left);
    }
    Ok(())
}

const FIELDS: [&str; 5] = [
    "pickup_ms",
    "qty_total",
    "qty_picked",
    "parcel_count",
    "parcels_packed",
];

/// Wave totals of today's and tomorrow's pickups, by pickup instant (ms).
async fn progress_by_pickup(
    state: &AppState,
    site: &str,
    now: DateTime<Utc>,
) -> Result<HashMap<i64, Progress>, StoreError> {
    let today = business_date(now);
    let mut ids = state.store.wave_ids_of_day(site, today).await?;
    ids.extend(
        state
            .store
            .wave_ids_of_day(site, today + Duration::days(1))
            .await?,
    );
    let mut out: HashMap<i64, Progress> = HashMap::new();
    for chunk in ids.chunks(256) {
        let rows = state.store.wave_fields(site, chunk, &FIELDS).await?;
        for row in rows {
            let row: Vec<Option<i64>> = row
                .iter()
                .map(|v| v.as_deref().and_then(|v| v.parse().ok()))
                .collect();
            add_wave(&mut out, &row);
        }
    }
    Ok(out)
}

/// Adds one wave's `FIELDS` to its pickup's totals (a wave without a pickup is skipped).
pub fn add_wave(out: &mut HashMap<i64, Progress>, row: &[Option<i64>]) {
    let n = |i: usize| row.get(i).copied().flatten().unwrap_or(0).max(0) as u64;
    let Some(Some(pickup)) = row.first() else {
        return;
    };
    let p = out.entry(*pickup).or_default();
    p.units += n(1);
    p.units_picked += n(2);
    p.parcels += n(3);
    p.parcels_packed += n(4);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn the_next_occurrence_stays_today_until_an_hour_after() {
        // 2026-11-21 16:30 in Vietnam (UTC+7).
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 9, 30, 0).unwrap();
        let at5 = next_occurrence(t(17, 0), now);
        assert_eq!(at5, Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap());
        // 11:00 was 5.5 h ago: tomorrow's.
        let at11 = next_occurrence(t(11, 0), now);
        assert_eq!(at11, Utc.with_ymd_and_hms(2026, 11, 22, 4, 0, 0).unwrap());
        // 17:45 local: 17:00 passed 45 minutes ago, still the one being finished.
        let later = Utc.with_ymd_and_hms(2026, 11, 21, 10, 45, 0).unwrap();
        assert_eq!(next_occurrence(t(17, 0), later), at5);
    }

    #[test]
    fn waves_add_up_per_pickup() {
        let mut out = HashMap::new();
        add_wave(&mut out, &[Some(1), Some(10), Some(4), Some(3), Some(1)]);
        add_wave(&mut out, &[Some(1), Some(5), None, Some(2), Some(2)]);
        add_wave(&mut out, &[None, Some(99), Some(99), Some(9), Some(9)]);
        assert_eq!(
            out[&1],
            Progress {
                units: 15,
                units_picked: 4,
                parcels: 5,
                parcels_packed: 3
            }
        );
        assert_eq!(out.len(), 1);
    }
}
