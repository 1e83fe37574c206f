//! The durable booking queue: which parcels a booking was requested for, when the
//! background booker may try each next, and each parcel's `book_state`
//! (`pending | retrying | booked | rejected`) beside `book_attempts`, `next_try_ms`,
//! `book_error` and `tracking` on the parcel hash.

use std::sync::LazyLock;

use redis::AsyncCommands;

use super::{keys, Store, StoreError};
use crate::domain::status::BookState;

static REQUEST_BOOKING: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/request_booking.lua")));

impl Store {
    /// Marks `ids` as requested for booking and queues them at `due_ms`; `keep_schedule`
    /// leaves a parcel already queued (e.g. waiting out its back-off) where it is. Parcels
    /// that are booked, rejected, cancelled, replaced or to be pulled are skipped. Returns
    /// how many were queued.
    pub async fn request_booking(
        &self,
        site: &str,
        ids: &[String],
        due_ms: i64,
        keep_schedule: bool,
    ) -> Result<u64, StoreError> {
        let mut queued = 0;
        // Bounded script size: a shipment of thousands of parcels goes in slices.
        for chunk in ids.chunks(200) {
            let mut inv = REQUEST_BOOKING.prepare_invoke();
            inv.key(keys::booking_queue(site));
            for id in chunk {
                inv.key(keys::parcel(site, id));
            }
            inv.arg(due_ms).arg(if keep_schedule { "1" } else { "0" });
            for id in chunk {
                inv.arg(id);
            }
            let mut conn = self.conn();
            let n: u64 = self
                .bounded("request_booking", inv.invoke_async(&mut conn))
                .await?;
            queued += n;
        }
        Ok(queued)
    }

    /// Queued parcels whose time has come (earliest first), at most `limit`.
    pub async fn due_bookings(
        &self,
        site: &str,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        self.bounded(
            "booking_queue",
            redis::cmd("ZRANGE")
                .arg(keys::booking_queue(site))
                .arg("-inf")
                .arg(now_ms)
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(limit)
                .query_async(&mut conn),
        )
        .await
    }

    /// When the earliest queued parcel is due (ms), if any is queued.
    pub async fn next_booking_due(&self, site: &str) -> Result<Option<i64>, StoreError> {
        let mut conn = self.conn();
        let first: Vec<(String, f64)> = self
            .bounded(
                "booking_queue",
                conn.zrange_withscores(keys::booking_queue(site), 0, 0),
            )
            .await?;
        Ok(first.first().map(|(_, s)| *s as i64))
    }

    /// How many parcels wait in the site's booking queue.
    pub async fn booking_queue_len(&self, site: &str) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        self.bounded("booking_queue", conn.zcard(keys::booking_queue(site)))
            .await
    }

    /// Takes a parcel off the queue (booked, rejected, or no longer shipping).
    pub async fn unqueue_booking(&self, site: &str, parcel_id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        self.bounded(
            "booking_queue",
            conn.zrem(keys::booking_queue(site), parcel_id),
        )
        .await
    }

    /// Moves a queued parcel to `due_ms` (only if it is still queued).
    pub async fn postpone_booking(
        &self,
        site: &str,
        parcel_id: &str,
        due_ms: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        self.bounded(
            "booking_queue",
            redis::cmd("ZADD")
                .arg(keys::booking_queue(site))
                .arg("XX")
                .arg(due_ms)
                .arg(parcel_id)
                .query_async(&mut conn),
        )
        .await
    }

    /// A retryable failure: one more attempt counted, the reason kept, `retrying` until
    /// `next_try_ms`, when the booker takes it again.
    pub async fn record_booking_retry(
        &self,
        site: &str,
        parcel_id: &str,
        error: &str,
        next_try_ms: i64,
    ) -> Result<u64, StoreError> {
        let key = keys::parcel(site, parcel_id);
        let mut conn = self.conn();
        let (attempts, ()): (u64, ()) = self
            .bounded(
                "booking_retry",
                redis::pipe()
                    .atomic()
                    .hincr(&key, "book_attempts", 1)
                    .hset_multiple(
                        &key,
                        &[
                            ("book_error", error.to_owned()),
                            ("next_try_ms", next_try_ms.to_string()),
                            ("book_state", BookState::Retrying.as_str().to_owned()),
                        ],
                    )
                    .zadd(keys::booking_queue(site), parcel_id, next_try_ms)
                    .ignore()
                    .query_async(&mut conn),
            )
            .await?;
        Ok(attempts)
    }

    /// The carrier's fee quote for the parcel (VND), kept as `quote`.
    pub async fn set_parcel_quote(
        &self,
        site: &str,
        parcel_id: &str,
        quote: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        self.bounded(
            "quote",
            conn.hset(keys::parcel(site, parcel_id), "quote", quote),
        )
        .await
    }

    /// The carrier refused the parcel: final, never retried; its reason is kept.
    pub async fn record_booking_rejection(
        &self,
        site: &str,
        parcel_id: &str,
        error: &str,
    ) -> Result<u64, StoreError> {
        let key = keys::parcel(site, parcel_id);
        let mut conn = self.conn();
        let (attempts, ()): (u64, ()) = self
            .bounded(
                "booking_rejection",
                redis::pipe()
                    .atomic()
                    .hincr(&key, "book_attempts", 1)
                    .hset_multiple(
                        &key,
                        &[
                            ("book_error", error.to_owned()),
                            ("book_state", BookState::Rejected.as_str().to_owned()),
                        ],
                    )
                    .hdel(&key, "next_try_ms")
                    .ignore()
                    .zrem(keys::booking_queue(site), parcel_id)
                    .ignore()
                    .query_async(&mut conn),
            )
            .await?;
        Ok(attempts)
    }
}
