//! The reads behind the gauges (the `observe` module): a liveness ping, wave progress fields and
//! order statuses. Each call is one pipeline; callers pass bounded slices (a few hundred).

use super::{keys, Store, StoreError};

impl Store {
    /// `PING`: Redis answers (the `redis_up` gauge).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let _: String = self
            .bounded("ping", redis::cmd("PING").query_async(&mut conn))
            .await?;
        Ok(())
    }

    /// `fields` of each wave of `wave_ids` (a missing field or wave: `None`), in order.
    pub async fn wave_fields(
        &self,
        site: &str,
        wave_ids: &[String],
        fields: &[&str],
    ) -> Result<Vec<Vec<Option<String>>>, StoreError> {
        let mut pipe = redis::pipe();
        for id in wave_ids {
            pipe.cmd("HMGET").arg(keys::wave(site, id)).arg(fields);
        }
        self.read_pipe("floor", &pipe).await
    }

    /// The ids of a session's waved orders that count as at risk by `now_ms`
    /// ([`keys::session_risk`]), earliest first.
    pub async fn session_risk_due(
        &self,
        site: &str,
        seller: &str,
        label: &str,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        self.bounded(
            "session_at_risk",
            redis::cmd("ZRANGEBYSCORE")
                .arg(keys::session_risk(site, seller, label))
                .arg("-inf")
                .arg(now_ms)
                .query_async(&mut conn),
        )
        .await
    }

    /// Drops orders that can never be at risk again (final statuses) from a session's risk
    /// set, so later views do not read them.
    pub async fn session_risk_forget(
        &self,
        site: &str,
        seller: &str,
        label: &str,
        order_ids: &[&str],
    ) -> Result<(), StoreError> {
        if order_ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let _removed: i64 = self
            .bounded(
                "session_at_risk",
                redis::cmd("ZREM")
                    .arg(keys::session_risk(site, seller, label))
                    .arg(order_ids)
                    .query_async(&mut conn),
            )
            .await?;
        Ok(())
    }

    /// `st` (status) and `w` (wave id) of a seller's orders, in order (`None`: not stored).
    pub async fn order_status_and_wave<S: AsRef<str>>(
        &self,
        site: &str,
        seller: &str,
        order_ids: &[S],
    ) -> Result<Vec<(Option<String>, Option<String>)>, StoreError> {
        let mut pipe = redis::pipe();
        for id in order_ids {
            pipe.cmd("HMGET")
                .arg(keys::order(site, seller, id.as_ref()))
                .arg("st")
                .arg("w");
        }
        self.read_pipe("session_at_risk", &pipe).await
    }

    /// `data` of a seller's orders, in order (`None`: not stored).
    pub async fn order_data_of<S: AsRef<str>>(
        &self,
        site: &str,
        seller: &str,
        order_ids: &[S],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let mut pipe = redis::pipe();
        for id in order_ids {
            pipe.hget(keys::order(site, seller, id.as_ref()), "data");
        }
        let raw: Vec<Option<Vec<u8>>> = self.read_pipe("session_at_risk", &pipe).await?;
        raw.into_iter()
            .map(|d| d.map(super::doc::unpack).transpose())
            .collect()
    }

    /// `st` (status) of orders given as (seller, order id), in order (`None`: none stored).
    pub async fn order_statuses(
        &self,
        site: &str,
        orders: &[(&str, &str)],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let mut pipe = redis::pipe();
        for (seller, id) in orders {
            pipe.hget(keys::order(site, seller, id), "st");
        }
        self.read_pipe("at_risk", &pipe).await
    }
}
