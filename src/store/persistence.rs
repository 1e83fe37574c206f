//! Start-up check of an external Redis: is an acked order on disk? (`appendonly yes`.) Refuses to
//! start on a Redis that says AOF is off unless `redis.allow_volatile`; warns where it cannot
//! tell (CONFIG renamed or forbidden, as on managed services, or Redis not reachable yet).

use std::time::Duration;

use crate::config::RedisConfig;

/// What one node said about its persistence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persistence {
    /// `CONFIG GET appendonly` = yes (with its `appendfsync` when readable).
    Aof { appendfsync: String },
    /// `CONFIG GET appendonly` = no: a restart loses everything since the last RDB snapshot.
    Off,
    /// CONFIG unavailable; `INFO persistence` says `aof_enabled:{0}`.
    InfoOnly { aof_enabled: bool },
    /// Both forbidden (a managed Redis): the reason.
    Unknown(String),
    /// Not reachable (no connection, or no answer in time): the reason.
    Unreachable(String),
}

/// The node URLs in `redis.url` (comma-separated for a cluster), with a scheme.
fn nodes(url: &str) -> Vec<String> {
    url.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.contains("://") {
            true => s.to_owned(),
            false => format!("redis://{s}"),
        })
        .collect()
}

/// `url` without its user and password, for messages.
pub fn shown(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

fn bulk_pair(v: &redis::Value) -> Option<String> {
    match v {
        redis::Value::Array(kv) => match kv.as_slice() {
            [_, redis::Value::BulkString(b)] => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        },
        redis::Value::Map(kv) => match kv.as_slice() {
            [(_, redis::Value::BulkString(b))] => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        },
        _ => None,
    }
}

/// Asks one node.
pub async fn probe(url: &str, limit: Duration) -> Persistence {
    let ask = async {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let mut c = match client.get_multiplexed_async_connection().await {
            Ok(c) => c,
            Err(e) => return Ok(Persistence::Unreachable(e.to_string())),
        };
        let aof: Result<redis::Value, _> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("appendonly")
            .query_async(&mut c)
            .await;
        match aof.ok().as_ref().and_then(bulk_pair).as_deref() {
            Some("yes") => {
                let fsync: Result<redis::Value, _> = redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("appendfsync")
                    .query_async(&mut c)
                    .await;
                let appendfsync = fsync.ok().as_ref().and_then(bulk_pair).unwrap_or_default();
                return Ok(Persistence::Aof { appendfsync });
            }
            Some("no") => return Ok(Persistence::Off),
            _ => {}
        }
        let info: String = redis::cmd("INFO")
            .arg("persistence")
            .query_async(&mut c)
            .await
            .map_err(|e| format!("CONFIG GET and INFO persistence refused: {e}"))?;
        match info
            .lines()
            .find_map(|l| l.trim().strip_prefix("aof_enabled:"))
        {
            Some(v) => Ok(Persistence::InfoOnly {
                aof_enabled: v.trim() == "1",
            }),
            None => Err("INFO persistence has no aof_enabled".to_owned()),
        }
    };
    match tokio::time::timeout(limit, ask).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => Persistence::Unknown(e),
        Err(_) => Persistence::Unreachable(format!("no answer within {limit:?}")),
    }
}

/// Checks every node named in `url` (an external Redis). `Err` (a message for the operator)
/// when a node has AOF off and `cfg.allow_volatile` is false; otherwise logs what it found
/// and answers whether every node was reached (`false`: look again later, see
/// [`recheck_until_verified`]).
pub async fn check(cfg: &RedisConfig, url: &str) -> Result<bool, String> {
    let mut reached = true;
    let limit = Duration::from_millis(cfg.command_timeout_ms.max(1000));
    let list = nodes(url);
    if list.len() > 1 && cfg.replicas == 0 {
        tracing::warn!(
            "redis.replicas = 0 on a Redis Cluster: an ack does not wait for a replica, so a \
             master lost before it replicated loses its last acked orders; set redis.replicas = 1"
        );
    }
    for node in &list {
        let at = shown(node);
        match probe(node, limit).await {
            Persistence::Aof { appendfsync } => {
                tracing::info!(node = %at, appendfsync = %appendfsync, "redis persistence: appendonly yes");
                if appendfsync == "no" {
                    tracing::warn!(node = %at, "appendfsync no: the OS decides when acked orders reach the disk (up to ~30 s on power loss)");
                }
            }
            Persistence::Off if cfg.allow_volatile => {
                tracing::warn!(node = %at, "redis has appendonly no: acked orders do not survive a Redis restart (allowed by redis.allow_volatile / --allow-volatile)");
            }
            Persistence::Off => {
                return Err(format!(
                    "redis at {at} has appendonly no: an acked order would not survive a Redis \
                     restart. Turn AOF on (`appendonly yes` in redis.conf, or `CONFIG SET \
                     appendonly yes`), or start with `livepack serve --allow-volatile` \
                     (redis.allow_volatile = true, LIVEPACK__REDIS__ALLOW_VOLATILE=true) to run \
                     without it on purpose"
                ));
            }
            Persistence::InfoOnly { aof_enabled: true } => {
                tracing::info!(node = %at, "redis persistence: aof_enabled (INFO; CONFIG not allowed)");
            }
            Persistence::InfoOnly { aof_enabled: false } => {
                tracing::warn!(node = %at, "CONFIG is not allowed here and INFO persistence says aof_enabled:0: unless this managed Redis persists another way, acked orders do not survive a Redis restart");
            }
            Persistence::Unknown(why) => {
                tracing::warn!(node = %at, reason = %why, "could not check that redis has AOF on; make sure it has appendonly yes");
            }
            Persistence::Unreachable(why) => {
                tracing::warn!(node = %at, reason = %why, "redis is not reachable yet: no order is acked until it is, and its AOF is checked");
                reached = false;
            }
        }
    }
    Ok(reached)
}

/// How often [`recheck_until_verified`] asks again.
const RECHECK: Duration = Duration::from_secs(2);

/// For a Redis that was not reachable at start: asks again until every node answers, then
/// lifts the store's gate (ingest nacks, `/readyz` is 503, until then), unless a node has AOF
/// off (and `redis.allow_volatile` is false): the gate then stays shut, as the start would
/// have refused, with the reason logged and shown by `/readyz`, until AOF is turned on.
pub async fn recheck_until_verified(
    cfg: RedisConfig,
    url: String,
    store: super::Store,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut told = String::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(RECHECK) => {}
        }
        match check(&cfg, &url).await {
            Ok(true) => {
                tracing::info!("redis reached and its persistence checked: orders are acked again");
                store.set_unverified(None);
                return;
            }
            Ok(false) => {}
            Err(msg) => {
                if msg != told {
                    tracing::error!("{msg}");
                    told.clone_from(&msg);
                }
                store.set_unverified(Some(msg));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_lists_and_shown_urls() {
        assert_eq!(
            nodes("redis://a:1, b:2,"),
            vec!["redis://a:1".to_owned(), "redis://b:2".to_owned()]
        );
        assert_eq!(shown("redis://:secret@h:6379/0"), "redis://h:6379/0");
        assert_eq!(shown("rediss://u:p@h:1"), "rediss://h:1");
        assert_eq!(shown("redis://h:1"), "redis://h:1");
    }
}
