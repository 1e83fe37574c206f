//! The reads behind the gauges (the `observe` module): a liveness ping, wave progress fields and
//! order statuses. Each call is one pipeline; callers pass bounded slices (a few hundred).

use std::collections::{HashMap, HashSet};

use redis::AsyncCommands;

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
    /// ([`keys::session_risk`], and the sorted set builds before it kept,
    /// [`keys::session_risk_zset`]), earliest first.
    pub async fn session_risk_due(
        &self,
        site: &str,
        seller: &str,
        label: &str,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("ZRANGEBYSCORE")
            .arg(keys::session_risk_zset(site, seller, label))
            .arg("-inf")
            .arg(now_ms)
            .arg("WITHSCORES")
            .hgetall(keys::session_risk(site, seller, label));
        let mut conn = self.conn();
        let (old, by_wave): (Vec<(String, f64)>, HashMap<String, String>) = self
            .bounded("session_at_risk", pipe.query_async(&mut conn))
            .await?;
        let mut due: Vec<(i64, String)> = old.into_iter().map(|(id, ms)| (ms as i64, id)).collect();
        for value in by_wave.values() {
            for (ms, id) in super::risk::parse(value)? {
                if ms <= now_ms {
                    due.push((ms, id.to_owned()));
                }
            }
        }
        due.sort();
        let mut seen = HashSet::new();
        due.retain(|(_, id)| seen.insert(id.clone()));
        Ok(due.into_iter().map(|(_, id)| id).collect())
    }

    /// Drops orders that can never be at risk again (final statuses) from a session's risk
    /// entries, so later views do not read them. Not atomic with another view's pruning:
    /// at worst an entry pruned by one comes back from the other, and the next view prunes
    /// it again (nothing else writes a wave's field after its commit).
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
        let key = keys::session_risk(site, seller, label);
        let mut conn = self.conn();
        let by_wave: HashMap<String, String> =
            self.bounded("session_at_risk", conn.hgetall(&key)).await?;
        let gone: HashSet<&str> = order_ids.iter().copied().collect();
        let mut pipe = redis::pipe();
        pipe.cmd("ZREM")
            .arg(keys::session_risk_zset(site, seller, label))
            .arg(order_ids)
            .ignore();
        for (wave, value) in &by_wave {
            match super::risk::without(value, &gone)? {
                Some(left) if left == *value => {}
                Some(left) => {
                    pipe.hset(&key, wave, left).ignore();
                }
                None => {
                    pipe.hdel(&key, wave).ignore();
                }
            }
        }
        let () = self
            .bounded("session_at_risk", pipe.query_async(&mut conn))
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
                .arg("w")
                .arg("p");
        }
        let rows: Vec<(Option<String>, Option<String>, Option<String>)> =
            self.read_pipe("session_at_risk", &pipe).await?;
        // An order names its parcel, whose `wave` is the order's (builds before issue 20's
        // fifteenth session also stored `w` on the order).
        let mut pipe = redis::pipe();
        for (_, w, p) in &rows {
            if let (None, Some(p)) = (w, p) {
                pipe.hget(keys::parcel(site, p), "wave");
            }
        }
        let mut waves = self
            .read_pipe::<Option<String>>("session_at_risk", &pipe)
            .await?
            .into_iter();
        Ok(rows
            .into_iter()
            .map(|(st, w, p)| match (w, p) {
                (Some(w), _) => (st, Some(w)),
                (None, Some(_)) => (st, waves.next().flatten()),
                (None, None) => (st, None),
            })
            .collect())
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
