//! The reads behind the gauges (the `observe` module): a liveness ping, wave progress fields and
//! order statuses, a session's risk entries. Each call is one pipeline or a few bounded
//! script calls; callers pass bounded slices (a few hundred).

use std::collections::HashSet;
use std::sync::LazyLock;

use super::risk::Pruned;
use super::{keys, Store, StoreError};

static RISK_PRUNE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/risk_prune.lua")));

/// What [`Store::session_risk_due`] read: the due orders, earliest first, and the risk
/// entries they came from (for [`Store::session_risk_forget`]).
#[derive(Debug, Default)]
pub struct RiskDue {
    /// Each due order's id and, when it came from an entry kept per wave, that wave (`None`
    /// from the older sorted set, whose orders hold their wave in `w`).
    pub orders: Vec<(String, Option<String>)>,
    members: Vec<String>,
}

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
    /// [`keys::session_risk_zset`]), earliest first. A member that does not parse is left out
    /// (and logged): one damaged entry never hides the others.
    pub async fn session_risk_due(
        &self,
        site: &str,
        seller: &str,
        label: &str,
        now_ms: i64,
    ) -> Result<RiskDue, StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("ZRANGEBYSCORE")
            .arg(keys::session_risk_zset(site, seller, label))
            .arg("-inf")
            .arg(now_ms)
            .arg("WITHSCORES")
            .cmd("ZRANGEBYSCORE")
            .arg(keys::session_risk(site, seller, label))
            .arg("-inf")
            .arg(now_ms);
        let mut conn = self.conn();
        let (old, members): (Vec<(String, f64)>, Vec<String>) = self
            .bounded("session_at_risk", pipe.query_async(&mut conn))
            .await?;
        let mut due: Vec<(i64, String, Option<String>)> = old
            .into_iter()
            .map(|(id, ms)| (ms as i64, id, None))
            .collect();
        for member in &members {
            match super::risk::parse(member) {
                Ok((wave, entries)) => due.extend(
                    entries
                        .into_iter()
                        .filter(|(ms, _)| *ms <= now_ms)
                        .map(|(ms, id)| (ms, id.to_owned(), Some(wave.to_owned()))),
                ),
                Err(e) => tracing::warn!(site, error = %e, "a session risk entry left out"),
            }
        }
        due.sort();
        let mut seen = HashSet::new();
        due.retain(|(_, id, _)| seen.insert(id.clone()));
        Ok(RiskDue {
            orders: due.into_iter().map(|(_, id, wave)| (id, wave)).collect(),
            members,
        })
    }

    /// Drops orders that can never be at risk again (final statuses) from the session's risk
    /// entries that `due` read, so later views do not read them (`risk_prune.lua`).
    pub async fn session_risk_forget(
        &self,
        site: &str,
        seller: &str,
        label: &str,
        due: &RiskDue,
        finished: &[&str],
    ) -> Result<(), StoreError> {
        if finished.is_empty() {
            return Ok(());
        }
        let gone: HashSet<&str> = finished.iter().copied().collect();
        // (member, what replaces it ('' none), its score) of each member that changes.
        let changed: Vec<(&str, String, i64)> = due
            .members
            .iter()
            .filter_map(|m| match super::risk::prune(m, &gone).ok()? {
                Pruned::Unchanged => None,
                Pruned::Empty => Some((m.as_str(), String::new(), 0)),
                Pruned::Left { member, score } => Some((m.as_str(), member, score)),
            })
            .collect();
        let (key, old) = (
            keys::session_risk(site, seller, label),
            keys::session_risk_zset(site, seller, label),
        );
        // At most 1,000 ids and 200 members a call: no call holds Redis for long.
        let (mut ids, mut members) = (finished.chunks(1000), changed.chunks(200));
        loop {
            let (some_ids, some_members) = (ids.next(), members.next());
            if some_ids.is_none() && some_members.is_none() {
                return Ok(());
            }
            let some_ids = some_ids.unwrap_or_default();
            let mut inv = RISK_PRUNE.prepare_invoke();
            inv.key(&key).key(&old).arg(some_ids.len()).arg(some_ids);
            for (member, left, score) in some_members.unwrap_or_default() {
                inv.arg(*member).arg(left).arg(*score);
            }
            let mut conn = self.conn();
            let _: i64 = self
                .bounded("session_at_risk", inv.invoke_async(&mut conn))
                .await?;
        }
    }

    /// `st` (status) and `w` (wave id, written by builds before issue 20's fifteenth session)
    /// of a seller's orders, in order (`None`: not stored).
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
