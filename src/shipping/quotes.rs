//! Carrier fee quotes for choosing a carrier per parcel, cached per (site, carrier,
//! destination province, weight step). The I/O edge of [`super::choice`].
//!
//! A quote asks the carrier's fee API for the **freight** of the dearest weight of the
//! parcel's step (e.g. 1 000 g for a 501–1 000 g parcel with 500 g steps), to the first
//! parcel's ward in the destination province, without COD or declared value: the key is the
//! province, so one answer serves every parcel to that province (a carrier's surcharge for a
//! remote ward is not told apart). (Builds before 2026-12-07 keyed it by zone — same
//! province, same region, other region — so one province's answer priced every other
//! province of the zone, and a parcel could go with a carrier that was not the cheapest for
//! its address.) A parcel's cost is that freight plus the carrier's COD fee
//! from its rate table. When the quote call fails (error or timeout) — or the carrier has no
//! fee API (the mock) — the parcel is priced from the rate table alone
//! ([`rates::parcel_cost`]); a failure is remembered for [`FAILURE_TTL`], for its key and for
//! the whole carrier, so a carrier that is down or slow is not asked again for every parcel
//! (the planner waits at most one quote timeout per carrier per [`FAILURE_TTL`]).
//!
//! The cache holds at most `max_entries` keys (the oldest is dropped first); a quote is
//! reused for `ttl`.

use crate::metric_names as names;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rust_decimal::Decimal;

use super::carrier::{BookingRequest, CarrierClient};
use super::rates::{self, ServiceRates, Zone};
use crate::domain::money::Vnd;

/// Every `result` of `livepack_carrier_quotes_total` (the series are made at zero at start).
pub const RESULTS: [&str; 8] = [
    "quoted",
    "no_fee_api",
    "refused",
    "failed",
    "timeout",
    "cached",
    "cached_failure",
    "carrier_down",
];

/// A failed quote is not retried for this long (the table prices meanwhile).
pub const FAILURE_TTL: Duration = Duration::from_secs(60);
/// Quotes are reused this long.
pub const QUOTE_TTL: Duration = Duration::from_secs(6 * 3600);
/// At most this many keys are cached.
pub const MAX_ENTRIES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QuoteKey {
    pub site: String,
    pub carrier: String,
    pub zone: Zone,
    /// The destination province, as sent in the quote.
    pub province: String,
    /// 0 for the first weight step, n for the n-th further step.
    pub step: u64,
}

/// The step of `weight_g` in a table and the heaviest weight of that step.
pub fn weight_step(r: &ServiceRates, weight_g: u64) -> (u64, u64) {
    let first = u64::from(r.first_weight_g);
    let step_g = u64::from(r.step_g.max(1));
    let steps = weight_g.saturating_sub(first).div_ceil(step_g);
    (
        steps,
        first.saturating_add(steps.saturating_mul(step_g)).max(1),
    )
}

/// A bounded cache of freight quotes (`None`: the last call failed).
#[derive(Debug)]
pub struct QuoteCache {
    entries: Mutex<HashMap<QuoteKey, (Instant, Option<Vnd>)>>,
    /// Carrier id → when its last quote call failed.
    down: Mutex<HashMap<String, Instant>>,
    max_entries: usize,
    ttl: Duration,
}

impl Default for QuoteCache {
    fn default() -> Self {
        QuoteCache::new(MAX_ENTRIES, QUOTE_TTL)
    }
}

impl QuoteCache {
    pub fn new(max_entries: usize, ttl: Duration) -> Self {
        QuoteCache {
            entries: Mutex::new(HashMap::new()),
            down: Mutex::new(HashMap::new()),
            max_entries: max_entries.max(1),
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<QuoteKey, (Instant, Option<Vnd>)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Some(Some(freight))` cached, `Some(None)` a recent failure, `None` ask the carrier.
    pub fn get(&self, key: &QuoteKey) -> Option<Option<Vnd>> {
        let map = self.lock();
        let (at, v) = map.get(key)?;
        let ttl = if v.is_some() {
            self.ttl
        } else {
            FAILURE_TTL.min(self.ttl)
        };
        (at.elapsed() < ttl).then_some(*v)
    }

    pub fn put(&self, key: QuoteKey, value: Option<Vnd>) {
        let mut map = self.lock();
        if !map.contains_key(&key) && map.len() >= self.max_entries {
            let oldest = map
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        map.insert(key, (Instant::now(), value));
    }

    /// The carrier's last quote call failed less than [`FAILURE_TTL`] ago.
    pub fn is_down(&self, carrier: &str) -> bool {
        let down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        down.get(carrier)
            .is_some_and(|at| at.elapsed() < FAILURE_TTL)
    }

    /// Records the outcome of a quote call to `carrier` (bounded: one entry per carrier id
    /// from config).
    pub fn mark(&self, carrier: &str, failed: bool) {
        let mut down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        if failed {
            let was_down = down
                .get(carrier)
                .is_some_and(|at| at.elapsed() < FAILURE_TTL);
            if !was_down {
                tracing::warn!(
                    carrier,
                    for_secs = FAILURE_TTL.as_secs(),
                    "a fee quote failed or timed out: this carrier's parcels are priced from its rate table, for every destination, until the time is up"
                );
            }
            down.insert(carrier.to_owned(), Instant::now());
        } else {
            down.remove(carrier);
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What one parcel would cost with one carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priced {
    pub cost: Vnd,
    /// From the carrier's quote (else the rate table).
    pub quoted: bool,
}

/// Prices a parcel with one carrier: its cached or fresh freight quote plus the table's COD
/// fee, else the table. `template` carries the sender, the receiver's province and ward and
/// the service; weight, COD and value are set here.
#[allow(clippy::too_many_arguments)]
pub async fn price(
    cache: &QuoteCache,
    site: &str,
    carrier_id: &str,
    client: &CarrierClient,
    table: &ServiceRates,
    zone: Zone,
    weight_g: u64,
    cod: Vnd,
    template: &BookingRequest,
    timeout: Duration,
) -> Priced {
    let (step, upper) = weight_step(table, weight_g);
    let key = QuoteKey {
        site: site.to_owned(),
        carrier: carrier_id.to_owned(),
        zone,
        province: template.receiver.province.clone(),
        step,
    };
    let freight = match cache.get(&key) {
        Some(v) => {
            metrics::counter!(names::CARRIER_QUOTES, "carrier" => carrier_id.to_owned(), "result" => if v.is_some() { "cached" } else { "cached_failure" }).increment(1);
            v
        }
        None if cache.is_down(carrier_id) => {
            metrics::counter!(names::CARRIER_QUOTES, "carrier" => carrier_id.to_owned(), "result" => "carrier_down").increment(1);
            None
        }
        None => {
            let req = BookingRequest {
                weight_g: upper,
                cod: Decimal::ZERO,
                value: Decimal::ZERO,
                ..template.clone()
            };
            let answer = tokio::time::timeout(timeout, client.quote(&req)).await;
            let (v, result) = match answer {
                Ok(Some(Ok(d))) if !d.is_sign_negative() => (Some(Vnd(d.round())), "quoted"),
                Ok(None) => (None, "no_fee_api"),
                Ok(Some(Err(e))) if !e.retryable() => (None, "refused"),
                Ok(Some(_)) => (None, "failed"),
                Err(_) => (None, "timeout"),
            };
            metrics::counter!(names::CARRIER_QUOTES, "carrier" => carrier_id.to_owned(), "result" => result).increment(1);
            if result != "no_fee_api" {
                cache.put(key, v);
                // Only an outage (not a refusal of one address) stops quoting the carrier.
                cache.mark(carrier_id, matches!(result, "failed" | "timeout"));
            }
            v
        }
    };
    match freight {
        Some(f) => Priced {
            cost: Vnd(f.0.saturating_add(table.cod_fee(cod).0)),
            quoted: true,
        },
        None => Priced {
            cost: rates::parcel_cost(table, zone, weight_g, cod),
            quoted: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(step: u64) -> QuoteKey {
        QuoteKey {
            site: "hub".into(),
            carrier: "ghtk".into(),
            zone: Zone::SameRegion,
            province: "Hà Nội".into(),
            step,
        }
    }

    #[test]
    fn steps_round_up_to_the_dearest_weight() {
        let r = rates::default_viettel_post_rates().remove(0); // 500 g, then 500 g steps
        assert_eq!(weight_step(&r, 0), (0, 500));
        assert_eq!(weight_step(&r, 500), (0, 500));
        assert_eq!(weight_step(&r, 501), (1, 1000));
        assert_eq!(weight_step(&r, 1450), (2, 1500));
    }

    #[test]
    fn the_cache_is_bounded_and_forgets_failures_sooner() {
        let c = QuoteCache::new(3, Duration::from_secs(3600));
        for s in 0..5 {
            c.put(key(s), Some(Vnd::from_i64(1000 + s as i64)));
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(&key(0)), None, "the oldest went first");
        assert_eq!(c.get(&key(4)), Some(Some(Vnd::from_i64(1004))));
        c.put(key(9), None);
        assert_eq!(c.get(&key(9)), Some(None));
        let short = QuoteCache::new(3, Duration::ZERO);
        short.put(key(1), Some(Vnd::from_i64(1)));
        assert_eq!(short.get(&key(1)), None, "expired");
    }
}
