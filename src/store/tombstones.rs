//! Tombstones: what keeps an order id known after its order left Redis.
//!
//! When the archiver lets an order expire (`retire.lua`, at `at`), it writes in the same
//! script a tombstone — field = order id, value = the first 8 hex digits of the content
//! digest (after its `x`, which digests since issue 20's thirty-second session start with) —
//! into a hash of the seller's (`lp:{site}:t:{seller}:{bucket}`). The bucket is
//! the period (30 days) in which the tombstone may be dropped, `at` + the dedupe window,
//! and the hash expires at that period's end: a tombstone lives from the retire until at
//! least `dedupe_days` after its order left Redis, at most one period longer. The ingest
//! script checks the live order and then the seller's buckets that can still hold a
//! tombstone (from now to now + hot period + window + one period: 5–6 at the defaults).
//! Every key carries the `{site}` hash tag (one Redis Cluster slot per site).

use super::keys;
use crate::config::RetentionConfig;

/// Bucket length with day-valued windows: fixed, so changing `dedupe_days` or
/// `hot_days` keeps every tombstone findable.
const PERIOD_MS: i64 = 30 * 86_400_000;

/// The dedupe window and the bucket arithmetic shared by the writer and the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupeWindow {
    /// How long an order stays in Redis after it finished (upper bound of `at` − now).
    pub hot_ms: i64,
    /// How long a tombstone lives after its order left Redis.
    pub dedupe_ms: i64,
    /// Bucket length.
    pub period_ms: i64,
}

impl DedupeWindow {
    pub fn from_config(cfg: &RetentionConfig) -> DedupeWindow {
        let dedupe_ms = cfg.dedupe_ms();
        DedupeWindow {
            hot_ms: cfg.hot_ms(),
            dedupe_ms,
            // A window in seconds (tests, drills) gets buckets of its own length.
            period_ms: match cfg.dedupe_secs {
                Some(_) => dedupe_ms.max(1000),
                None => PERIOD_MS,
            },
        }
    }

    /// The bucket (its start, ms since the epoch) and the bucket's expiry (ms) of the
    /// tombstone of an order that leaves Redis at `gone_at_ms`.
    pub fn bucket_for(&self, gone_at_ms: i64) -> (i64, i64) {
        let until = gone_at_ms.saturating_add(self.dedupe_ms);
        let start = until.div_euclid(self.period_ms) * self.period_ms;
        (start, start.saturating_add(self.period_ms))
    }

    /// Starts of every bucket that can hold a live tombstone at `now_ms`: an order leaves
    /// Redis at most the hot period after now, its tombstone lives the window after that
    /// (one period more as a margin for clocks and the config changing).
    pub fn live_buckets(&self, now_ms: i64) -> Vec<i64> {
        let first = now_ms.div_euclid(self.period_ms);
        let last = now_ms
            .saturating_add(self.hot_ms)
            .saturating_add(self.dedupe_ms)
            .saturating_add(self.period_ms)
            .div_euclid(self.period_ms);
        (first..=last).map(|b| b * self.period_ms).collect()
    }

    /// Key of a seller's bucket.
    pub fn key(site: &str, seller: &str, bucket_start_ms: i64) -> String {
        keys::tombstones(site, seller, bucket_start_ms / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> DedupeWindow {
        DedupeWindow::from_config(&RetentionConfig::default())
    }

    #[test]
    fn a_tombstone_lives_the_window_and_at_most_one_period_more() {
        let w = window();
        let gone = 1_800_000_000_000;
        let (start, expire) = w.bucket_for(gone);
        assert!(expire > gone + w.dedupe_ms);
        assert!(expire <= gone + w.dedupe_ms + w.period_ms);
        assert!(start <= gone + w.dedupe_ms);
    }

    #[test]
    fn the_reader_checks_every_bucket_a_writer_can_use() {
        let w = window();
        let now = 1_800_000_000_123;
        let live = w.live_buckets(now);
        assert!(live.len() <= 7, "{} buckets", live.len());
        // An order leaving now, or at the end of its hot period.
        for gone in [now - 1, now, now + w.hot_ms] {
            assert!(live.contains(&w.bucket_for(gone).0), "gone at {gone}");
        }
        // Written earlier (the order left Redis up to the window ago): still looked at
        // while the bucket lives.
        let (start, expire) = w.bucket_for(now - w.dedupe_ms + 1);
        assert!(expire > now);
        assert!(live.contains(&start));
    }

    #[test]
    fn a_window_in_seconds_gets_buckets_of_its_length() {
        let cfg = RetentionConfig {
            dedupe_secs: Some(3),
            hot_secs: Some(1),
            ..RetentionConfig::default()
        };
        let w = DedupeWindow::from_config(&cfg);
        assert_eq!(w.period_ms, 3000);
        let (_, expire) = w.bucket_for(10_000);
        assert!(expire > 13_000 && expire <= 16_000);
        assert!(w.live_buckets(10_000).len() <= 4);
    }

    #[test]
    fn keys_carry_the_site_hash_tag() {
        let k = DedupeWindow::key("hoa-lu-hub", "shop", 1_800_000_000_000);
        assert_eq!(k, "lp:{hoa-lu-hub}:t:shop:1800000000");
    }
}
