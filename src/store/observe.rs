//! The reads behind the gauges (the `observe` module): a liveness ping, wave progress fields and
//! order statuses, a session's risk records. Each call is one pipeline or a few bounded
//! script calls; callers pass bounded slices (a few hundred).

use std::collections::HashSet;
use std::sync::LazyLock;

use super::risk::Pruned;
use super::{keys, Store, StoreError};

static RISK_PRUNE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/risk_prune.lua")));

/// What [`Store::session_risk_due`] read: the due orders, earliest first, and the risk
/// records they came from (for [`Store::session_risk_forget`]).
#[derive(Debug, Default)]
pub struct RiskDue {
    /// Each due order's id and, when it came from a record kept per wave, that wave (`None`
    /// from the oldest sorted set, whose orders hold their wave in `w`).
    pub orders: Vec<(String, Option<String>)>,
    /// The session's log as read (bytes: one record that is not UTF-8 never hides the rest).
    log: Vec<u8>,
    /// The due members of the sorted set of records builds before the log kept.
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
    /// ([`keys::session_risk`], and what builds before it kept: [`keys::session_risk_waves`]
    /// and [`keys::session_risk_zset`]), earliest first. A record that does not parse is left
    /// out (and logged): one damaged record never hides the others.
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
            .arg(keys::session_risk_waves(site, seller, label))
            .arg("-inf")
            .arg(now_ms)
            .cmd("GET")
            .arg(keys::session_risk(site, seller, label));
        let mut conn = self.conn();
        type Read = (Vec<(String, f64)>, Vec<String>, Option<Vec<u8>>);
        let (old, members, log): Read = self
            .bounded("session_at_risk", pipe.query_async(&mut conn))
            .await?;
        let log = log.unwrap_or_default();
        let mut due: Vec<(i64, String, Option<String>)> = old
            .into_iter()
            .map(|(id, ms)| (ms as i64, id, None))
            .collect();
        let records = super::risk::records(&log).map(|r| {
            std::str::from_utf8(r)
                .map_err(|_| StoreError::Corrupt("a session risk record that is not UTF-8".into()))
        });
        for record in records.chain(members.iter().map(|m| Ok(m.as_str()))) {
            match record.and_then(super::risk::parse) {
                Ok((wave, entries)) => due.extend(
                    entries
                        .into_iter()
                        .filter(|(ms, _)| *ms <= now_ms)
                        .map(|(ms, id)| (ms, id.to_owned(), Some(wave.to_owned()))),
                ),
                Err(e) => tracing::warn!(site, error = %e, "a session risk record left out"),
            }
        }
        due.sort();
        let mut seen = HashSet::new();
        due.retain(|(_, id, _)| seen.insert(id.clone()));
        Ok(RiskDue {
            orders: due.into_iter().map(|(_, id, wave)| (id, wave)).collect(),
            log,
            members,
        })
    }

    /// Drops orders that can never be at risk again (final statuses) from the session's risk
    /// records that `due` read, so later views do not read them (`risk_prune.lua`). The log
    /// is replaced only if what was read is still its start (SHA-1): records appended since
    /// stay, and of two views pruning at once the second leaves it.
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
        // (length read, its SHA-1, what replaces it) when the log changes.
        let mut log = super::risk::prune_log(&due.log, &gone).map(|left| {
            let sha = hex::encode(<sha1::Sha1 as sha1::Digest>::digest(&due.log));
            (due.log.len(), sha, left)
        });
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
        let (key, waves, old) = (
            keys::session_risk(site, seller, label),
            keys::session_risk_waves(site, seller, label),
            keys::session_risk_zset(site, seller, label),
        );
        // The log in the first call; at most 1,000 ids and 200 members a call: no call holds
        // Redis for long.
        let (mut ids, mut members) = (finished.chunks(1000), changed.chunks(200));
        loop {
            let (some_ids, some_members, some_log) = (ids.next(), members.next(), log.take());
            if some_ids.is_none() && some_members.is_none() && some_log.is_none() {
                return Ok(());
            }
            let some_ids = some_ids.unwrap_or_default();
            let mut inv = RISK_PRUNE.prepare_invoke();
            inv.key(&key).key(&waves).key(&old).arg(some_ids.len());
            match &some_log {
                Some((len, sha, left)) => inv.arg(*len).arg(sha).arg(left),
                None => inv.arg(0).arg("").arg(""),
            };
            inv.arg(some_ids);
            for (member, left, score) in some_members.unwrap_or_default() {
                inv.arg(*member).arg(left).arg(*score);
            }
            let mut conn = self.conn();
            let _: i64 = self
                .bounded("session_at_risk", inv.invoke_async(&mut conn))
                .await?;
        }
    }

    /// `st` (status), `w` (wave id, written by builds before issue 20's fifteenth session)
    /// and `p` (parcel id, once waved) of a seller's orders, in order (`None`: not stored).
    pub async fn order_status_and_wave<S: AsRef<str>>(
        &self,
        site: &str,
        seller: &str,
        order_ids: &[S],
    ) -> Result<Vec<(Option<String>, Option<String>, Option<String>)>, StoreError> {
        let mut pipe = redis::pipe();
        for id in order_ids {
            pipe.cmd("HMGET")
                .arg(keys::order(site, seller, id.as_ref()))
                .arg("st")
                .arg("w")
                .arg("p");
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
