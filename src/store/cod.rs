//! COD records in Redis (`cod_record.lua`): per parcel what the carrier reported about its
//! money, indexed per seller by day, the delivered-but-unpaid parcels per carrier, and the
//! parcels returned per business day. No buyer data: amounts, ids and tracking codes only.

use std::collections::HashMap;

use chrono::NaiveDate;
use redis::AsyncCommands;

use super::{keys, Store, StoreError};

/// One report to record (every money field optional).
#[derive(Debug, Clone, Default)]
pub struct CodWrite {
    pub parcel_id: String,
    pub seller: String,
    pub carrier: String,
    pub tracking: String,
    /// The parcel's pickup business day (its statement period).
    pub day: Option<NaiveDate>,
    /// COD of the parcel's orders, in đồng.
    pub expected: String,
    /// The parcel's carrier status as stored (booked | handed_over | delivered | returned | …).
    pub status: Option<String>,
    pub event_ms: i64,
    pub reported: Option<String>,
    pub fee: Option<String>,
    pub transfer_date: Option<NaiveDate>,
    pub partial_return: bool,
    pub settled: Option<String>,
    pub settled_fee: Option<String>,
    pub settled_date: Option<NaiveDate>,
    /// `settled_date` is the upload's day, the file naming none: it never replaces a day
    /// already recorded.
    pub settled_date_assumed: bool,
    /// How long the record is kept after its last report.
    pub keep_ms: i64,
    pub order_ids: Vec<String>,
}

fn day_score(d: NaiveDate) -> i64 {
    (d - NaiveDate::default()).num_days()
}

impl Store {
    /// Records a report; returns the parcel's stored status ("" when none).
    pub async fn record_cod(&self, site: &str, w: &CodWrite) -> Result<String, StoreError> {
        let day = w.day.unwrap_or_default();
        let event_day = crate::domain::schedule::business_date(
            chrono::DateTime::from_timestamp_millis(w.event_ms).unwrap_or_default(),
        );
        let date = |d: Option<NaiveDate>| {
            d.map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default()
        };
        let mut inv = self.inner.scripts.cod_record.prepare_invoke();
        inv.key(keys::cod(site, &w.parcel_id))
            .key(keys::cod_of_seller(site, &w.seller))
            .key(keys::cod_unpaid(site, &w.carrier))
            .key(keys::returns_of_day(site, event_day));
        inv.arg(&w.parcel_id)
            .arg(&w.seller)
            .arg(&w.carrier)
            .arg(&w.tracking)
            .arg(date(w.day))
            .arg(day_score(day))
            .arg(&w.expected)
            .arg(w.status.as_deref().unwrap_or(""))
            .arg(w.event_ms)
            .arg(w.reported.as_deref().unwrap_or(""))
            .arg(w.fee.as_deref().unwrap_or(""))
            .arg(date(w.transfer_date))
            .arg(if w.partial_return { "1" } else { "" })
            .arg(w.settled.as_deref().unwrap_or(""))
            .arg(w.settled_fee.as_deref().unwrap_or(""))
            .arg(date(w.settled_date))
            .arg(w.keep_ms.max(1))
            .arg(w.order_ids.join(" "))
            .arg(if w.settled_date_assumed { "1" } else { "" });
        let mut conn = self.conn();
        let out: String = self
            .bounded("cod_record", inv.invoke_async(&mut conn))
            .await?;
        self.wait_replicas(&mut conn, &keys::tag(site)).await?;
        Ok(out)
    }

    /// The parcel ids of a seller's statement whose day is within `from..=to`.
    pub async fn cod_parcels_of_seller(
        &self,
        site: &str,
        seller: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        self.bounded(
            "cod_read",
            conn.zrangebyscore(
                keys::cod_of_seller(site, seller),
                day_score(from),
                day_score(to),
            ),
        )
        .await
    }

    /// The COD records of `ids` (a missing record is an empty map), in order.
    pub async fn cod_records(
        &self,
        site: &str,
        ids: &[String],
    ) -> Result<Vec<HashMap<String, String>>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let mut pipe = redis::pipe();
            for id in chunk {
                pipe.hgetall(keys::cod(site, id));
            }
            let part: Vec<HashMap<String, String>> = self.read_pipe("cod_read", &pipe).await?;
            out.extend(part);
        }
        Ok(out)
    }

    /// Delivered parcels of `carrier` not paid yet, delivered before `before_ms`.
    pub async fn cod_unpaid_before(
        &self,
        site: &str,
        carrier: &str,
        before_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        self.bounded(
            "cod_read",
            conn.zrangebyscore(
                keys::cod_unpaid(site, carrier),
                "-inf",
                format!("({before_ms}"),
            ),
        )
        .await
    }

    /// The parcels the carrier returned on a business day (sorted).
    pub async fn returns_of_day(
        &self,
        site: &str,
        date: NaiveDate,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        let mut ids: Vec<String> = self
            .bounded("cod_read", conn.smembers(keys::returns_of_day(site, date)))
            .await?;
        ids.sort();
        Ok(ids)
    }
}
