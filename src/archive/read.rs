//! Which orders a business day holds: those stored during it (the site stream's entry ids are
//! the times the orders were stored), read through the store.

use chrono::{NaiveDate, NaiveTime};

use crate::domain::schedule::local_instant;
use crate::store::{Store, StoreError};

/// Statuses after which nothing more happens to an order on our side.
pub const FINAL: [&str; 4] = ["handed_over", "delivered", "returned", "cancelled"];

/// Start and end (exclusive) of a business day, in ms since the epoch.
pub fn day_bounds_ms(date: NaiveDate) -> (i64, i64) {
    let start = local_instant(date, NaiveTime::MIN).timestamp_millis();
    let next = date.succ_opt().unwrap_or(date);
    (
        start,
        local_instant(next, NaiveTime::MIN).timestamp_millis(),
    )
}

/// (seller, order_id) of every order stored during business day `date`, in order.
pub async fn day_orders(
    store: &Store,
    site: &str,
    date: NaiveDate,
) -> Result<Vec<(String, String)>, StoreError> {
    let (start, end) = day_bounds_ms(date);
    store.orders_stored_between(site, start, end).await
}
