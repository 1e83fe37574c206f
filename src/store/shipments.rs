//! Shipments in Redis: the day's shipments of a site, their parcels, bookings and carrier
//! status updates.

use std::collections::HashMap;

use redis::AsyncCommands;

use super::{keys, Store, StoreError};
use crate::domain::status::ShipmentStatus;

/// A parcel's orders as (seller, order_id) — the keys a status change touches.
pub type OrderKeys<'a> = &'a [(String, String)];

impl Store {
    pub async fn shipment_ids_of_day(
        &self,
        site: &str,
        date: chrono::NaiveDate,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        self.bounded(
            "shipments",
            conn.zrange(keys::shipments_of_day(site, date), 0, -1),
        )
        .await
    }

    /// The site's shipments at one pickup time (every carrier's).
    pub async fn shipment_ids_at(
        &self,
        site: &str,
        pickup: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let ms = pickup.timestamp_millis();
        let date = crate::domain::schedule::business_date(pickup);
        let mut conn = self.conn();
        self.bounded(
            "shipments",
            conn.zrangebyscore(keys::shipments_of_day(site, date), ms, ms),
        )
        .await
    }

    /// Whether the shipment has left (handed over to the carrier): a parcel must not join
    /// it. One `HGET`.
    pub async fn shipment_departed(&self, site: &str, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let status: Option<String> = self
            .bounded("shipment", conn.hget(keys::shipment(site, id), "status"))
            .await?;
        Ok(status.as_deref() == Some(ShipmentStatus::HandedOver.as_str()))
    }

    /// Whether the shipment exists (one cheap call: a scan at the truck must not read the
    /// whole shipment).
    pub async fn shipment_exists(&self, site: &str, shipment_id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        self.bounded("shipment", conn.exists(keys::shipment(site, shipment_id)))
            .await
    }

    /// The shipment hash and its parcel ids (sorted).
    pub async fn shipment(
        &self,
        site: &str,
        shipment_id: &str,
    ) -> Result<(HashMap<String, String>, Vec<String>), StoreError> {
        let mut conn = self.conn();
        let (h, list, set): (HashMap<String, String>, Option<Vec<u8>>, Vec<String>) = self
            .bounded(
                "shipment",
                redis::pipe()
                    .atomic()
                    .hgetall(keys::shipment(site, shipment_id))
                    .get(keys::shipment_parcels(site, shipment_id))
                    .smembers(keys::shipment_parcel_set(site, shipment_id))
                    .query_async(&mut conn),
            )
            .await?;
        Ok((h, parcel_ids(site, list, set)))
    }

    /// A shipment's hash alone (status, carrier, service, pickup), without its parcel ids.
    pub async fn shipment_head(
        &self,
        site: &str,
        shipment_id: &str,
    ) -> Result<HashMap<String, String>, StoreError> {
        let mut conn = self.conn();
        self.bounded(
            "shipment",
            redis::cmd("HGETALL")
                .arg(keys::shipment(site, shipment_id))
                .query_async(&mut conn),
        )
        .await
    }

    /// A shipment's parcel ids, sorted.
    pub async fn shipment_parcel_ids(
        &self,
        site: &str,
        shipment_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        let (list, set): (Option<Vec<u8>>, Vec<String>) = self
            .bounded(
                "shipment",
                redis::pipe()
                    .atomic()
                    .get(keys::shipment_parcels(site, shipment_id))
                    .smembers(keys::shipment_parcel_set(site, shipment_id))
                    .query_async(&mut conn),
            )
            .await?;
        Ok(parcel_ids(site, list, set))
    }

    pub async fn set_shipment_status(
        &self,
        site: &str,
        shipment_id: &str,
        status: ShipmentStatus,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        self.bounded(
            "shipment",
            conn.hset(keys::shipment(site, shipment_id), "status", status.as_str()),
        )
        .await
    }

    /// A short lock so two instances never book the same parcel at once: its holder's token
    /// when taken. [`Self::unlock_parcel`] releases it only for that holder (a lock that
    /// expired under a slow holder and was taken by another stays the other's).
    pub async fn lock_parcel(
        &self,
        site: &str,
        parcel_id: &str,
        ttl_ms: u64,
    ) -> Result<Option<String>, StoreError> {
        let token = format!("{:016x}", rand::random::<u64>());
        let mut conn = self.conn();
        let got: Option<String> = self
            .bounded(
                "lock",
                redis::cmd("SET")
                    .arg(format!("{}:lock", keys::parcel(site, parcel_id)))
                    .arg(&token)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut conn),
            )
            .await?;
        Ok(got.map(|_| token))
    }

    /// Releases the parcel's lock if `token`'s holder still holds it.
    pub async fn unlock_parcel(
        &self,
        site: &str,
        parcel_id: &str,
        token: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let _: i64 = self
            .bounded(
                "lock",
                super::archive::UNLOCK
                    .key(format!("{}:lock", keys::parcel(site, parcel_id)))
                    .arg(token)
                    .invoke_async(&mut conn),
            )
            .await?;
        Ok(())
    }

    /// Keeps the tracking code of a carrier order found for a parcel that no longer ships
    /// (its booking's answer was lost, then the parcel was cancelled or replaced), so the
    /// canceller cancels it: the code only (an order of the parcel may be in its
    /// replacement, whose status is not this booking's), kept if the parcel has one already.
    /// Returns the parcel's tracking code.
    pub async fn record_found_tracking(
        &self,
        site: &str,
        parcel_id: &str,
        tracking: &str,
    ) -> Result<String, StoreError> {
        let key = keys::parcel(site, parcel_id);
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset_nx(&key, "tracking", tracking)
            .ignore()
            .hget(&key, "tracking");
        let (code,): (String,) = self.bounded("parcel", pipe.query_async(&mut conn)).await?;
        self.index_tracking(site, &code, parcel_id).await?;
        self.wait_replicas(&mut conn, &keys::tag(site)).await?;
        Ok(code)
    }

    /// Records a booking; returns the parcel's tracking code (the first one, if it was
    /// booked already).
    pub async fn record_booking(
        &self,
        site: &str,
        parcel_id: &str,
        orders: OrderKeys<'_>,
        tracking: &str,
        fee: Option<&str>,
    ) -> Result<String, StoreError> {
        let mut inv = self.inner.scripts.booked.prepare_invoke();
        inv.key(keys::parcel(site, parcel_id));
        for (seller, id) in orders {
            inv.key(keys::order(site, seller, id));
        }
        inv.arg(tracking)
            .arg(fee.unwrap_or(""))
            .arg(chrono::Utc::now().timestamp_millis());
        let mut conn = self.conn();
        let (_, code): (String, String) =
            self.bounded("booked", inv.invoke_async(&mut conn)).await?;
        // Hand-over scans read a label's tracking code back to its parcel.
        self.index_tracking(site, &code, parcel_id).await?;
        self.wait_replicas(&mut conn, &keys::tag(site)).await?;
        Ok(code)
    }

    /// Moves a booked parcel forward (handed_over, delivered, returned, …); see
    /// `carrier_status.lua`.
    pub async fn carrier_status(
        &self,
        site: &str,
        parcel_id: &str,
        orders: OrderKeys<'_>,
        status: &str,
        carrier_code: Option<i64>,
        carrier_text: &str,
    ) -> Result<String, StoreError> {
        let mut inv = self.inner.scripts.carrier_status.prepare_invoke();
        inv.key(keys::parcel(site, parcel_id));
        for (seller, id) in orders {
            inv.key(keys::order(site, seller, id));
        }
        inv.arg(status)
            .arg(carrier_code.map(|c| c.to_string()).unwrap_or_default())
            .arg(carrier_text)
            .arg(chrono::Utc::now().timestamp_millis())
            .arg(parcel_id);
        let mut conn = self.conn();
        let out: String = self
            .bounded("carrier_status", inv.invoke_async(&mut conn))
            .await?;
        self.wait_replicas(&mut conn, &keys::tag(site)).await?;
        Ok(out)
    }
}

/// A shipment's parcel ids, sorted: its list's lines (`keys::shipment_parcels`) and its set's
/// members (builds before the list). An id that is not UTF-8 is left out and logged (never
/// written: ids are ASCII), so it never hides the others.
fn parcel_ids(site: &str, list: Option<Vec<u8>>, set: Vec<String>) -> Vec<String> {
    let mut ids = set;
    for line in list.as_deref().unwrap_or_default().split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        match std::str::from_utf8(line) {
            Ok(id) => ids.push(id.to_owned()),
            Err(_) => tracing::warn!(
                site,
                "a shipment's parcel list holds an id that is not UTF-8"
            ),
        }
    }
    ids.sort_unstable_by(|a, b| crate::domain::id_order(a, b));
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::parcel_ids;

    #[test]
    fn a_shipments_parcels_are_its_lists_lines_and_its_sets_members() {
        let list = b"P-h-20261205-3\nP-h-20261205-1\n\xff\xfe\nP-h-20261205-2\n".to_vec();
        let set = vec!["P-h-20261204-9".to_owned(), "P-h-20261205-1".to_owned()];
        assert_eq!(
            parcel_ids("h", Some(list), set),
            [
                "P-h-20261204-9",
                "P-h-20261205-1",
                "P-h-20261205-2",
                "P-h-20261205-3"
            ]
        );
        assert!(parcel_ids("h", None, Vec::new()).is_empty());
    }
}
