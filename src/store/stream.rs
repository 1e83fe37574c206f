//! The site stream as the planner reads it: a consumer group that is created when missing
//! (also after it vanished), entries claimed from a dead consumer, poison entries moved to
//! a dead-letter stream.

/// A stream entry as read (the planner handles them without touching Redis types itself).
pub use redis::streams::StreamId;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamClaimReply, StreamPendingCountReply,
    StreamReadOptions, StreamReadReply,
};
use redis::AsyncCommands;

use super::waves::GROUP;
use super::{keys, Store, StoreError};

/// One stream entry, decoded to what the planner acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Orders of one seller stored by one ingest call, in the order they were accepted:
    /// `id` names one, `ids` up to [`ORDERS_PER_ENTRY`] separated by spaces (issue 20: one
    /// `XADD` per ten orders of a frame instead of one per order).
    Orders {
        seller: String,
        order_ids: Vec<String>,
    },
    Cancel {
        seller: String,
        order_id: String,
    },
    SessionEnded {
        seller: String,
        label: String,
    },
    /// Not decodable: retried, then dead-lettered.
    Poison,
}

fn text(e: &StreamId, k: &str) -> Option<String> {
    e.get::<String>(k)
}

/// Order ids the ingest script lists in one stream entry at most (`ingest.lua` writes a
/// frame's accepted orders in entries of this many: a batch of entries the planner reads
/// holds at most this many times as many orders).
pub const ORDERS_PER_ENTRY: usize = 10;

pub fn decode(e: &StreamId) -> Entry {
    let seller = text(e, "s");
    match (text(e, "t").as_deref(), seller) {
        (Some("o"), Some(seller)) => match (text(e, "id"), text(e, "ids")) {
            (Some(order_id), None) => Entry::Orders {
                seller,
                order_ids: vec![order_id],
            },
            (None, Some(ids)) => {
                let order_ids: Vec<String> = ids.split(' ').map(str::to_owned).collect();
                if order_ids.iter().any(String::is_empty) || order_ids.len() > ORDERS_PER_ENTRY {
                    Entry::Poison
                } else {
                    Entry::Orders { seller, order_ids }
                }
            }
            _ => Entry::Poison,
        },
        (Some("c"), Some(seller)) => match text(e, "id") {
            Some(order_id) => Entry::Cancel { seller, order_id },
            None => Entry::Poison,
        },
        (Some("e"), Some(seller)) => match text(e, "l") {
            Some(label) => Entry::SessionEnded { seller, label },
            None => Entry::Poison,
        },
        _ => Entry::Poison,
    }
}

fn is_nogroup(e: &StoreError) -> bool {
    matches!(e, StoreError::Redis(r) if r.code() == Some("NOGROUP") || r.to_string().contains("NOGROUP"))
}

impl Store {
    /// Creates the planner's consumer group (and the stream) if missing.
    pub async fn ensure_group(&self, site: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let r: Result<(), StoreError> = self
            .bounded(
                "xgroup",
                conn.xgroup_create_mkstream(keys::stream(site), GROUP, "0"),
            )
            .await;
        match r {
            Err(StoreError::Redis(e)) if e.to_string().contains("BUSYGROUP") => Ok(()),
            other => other,
        }
    }

    /// New entries for this consumer; recreates the group if it disappeared.
    pub async fn read_new(
        &self,
        site: &str,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<StreamId>, StoreError> {
        for _ in 0..2 {
            let mut conn = self.conn();
            let opts = StreamReadOptions::default()
                .group(GROUP, consumer)
                .count(count);
            let r: Result<StreamReadReply, StoreError> = self
                .bounded(
                    "xreadgroup",
                    conn.xread_options(&[keys::stream(site)], &[">"], &opts),
                )
                .await;
            match r {
                Ok(reply) => return Ok(reply.keys.into_iter().flat_map(|k| k.ids).collect()),
                Err(e) if is_nogroup(&e) => {
                    tracing::warn!(site, "planner consumer group was missing: recreating it");
                    self.ensure_group(site).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Vec::new())
    }

    /// Entries delivered to some consumer but not acked for `min_idle_ms`, claimed for
    /// `consumer` (their delivery count goes up).
    pub async fn claim_stale(
        &self,
        site: &str,
        consumer: &str,
        min_idle_ms: u64,
    ) -> Result<Vec<StreamId>, StoreError> {
        let mut out = Vec::new();
        let mut start = "0-0".to_owned();
        for _ in 0..100 {
            let mut conn = self.conn();
            let reply: StreamAutoClaimReply = self
                .bounded(
                    "xautoclaim",
                    conn.xautoclaim_options(
                        keys::stream(site),
                        GROUP,
                        consumer,
                        min_idle_ms,
                        &start,
                        StreamAutoClaimOptions::default().count(500),
                    ),
                )
                .await?;
            out.extend(reply.claimed);
            if reply.next_stream_id == "0-0" {
                break;
            }
            start = reply.next_stream_id;
        }
        Ok(out)
    }

    /// Like [`Store::claim_stale`], but only entries whose ids are below `before`: the
    /// planner holds later entries read ahead, which look idle too and must not be claimed
    /// (they would be handled twice). In stream order; up to 50,000.
    pub async fn claim_stale_before(
        &self,
        site: &str,
        consumer: &str,
        min_idle_ms: u64,
        before: &str,
    ) -> Result<Vec<StreamId>, StoreError> {
        let mut out = Vec::new();
        let mut start = "-".to_owned();
        for _ in 0..100 {
            let mut conn = self.conn();
            let stale: StreamPendingCountReply = self
                .bounded(
                    "xpending",
                    redis::cmd("XPENDING")
                        .arg(keys::stream(site))
                        .arg(GROUP)
                        .arg("IDLE")
                        .arg(min_idle_ms)
                        .arg(&start)
                        .arg(format!("({before}"))
                        .arg(500)
                        .query_async(&mut conn),
                )
                .await?;
            let Some(last) = stale.ids.last() else { break };
            start = format!("({}", last.id);
            let full = stale.ids.len() == 500;
            let ids: Vec<&str> = stale.ids.iter().map(|p| p.id.as_str()).collect();
            let claimed: StreamClaimReply = self
                .bounded(
                    "xclaim",
                    conn.xclaim(keys::stream(site), GROUP, consumer, min_idle_ms, &ids),
                )
                .await?;
            out.extend(claimed.ids);
            if !full {
                break;
            }
        }
        Ok(out)
    }

    /// How many times an entry was delivered.
    pub async fn deliveries(&self, site: &str, id: &str) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let reply: StreamPendingCountReply = self
            .bounded(
                "xpending",
                conn.xpending_count(keys::stream(site), GROUP, id, id, 1),
            )
            .await?;
        Ok(reply.ids.first().map(|p| p.times_delivered).unwrap_or(0))
    }

    /// Moves an entry to the site's dead-letter stream and acks it, atomically.
    pub async fn dead_letter(&self, site: &str, e: &StreamId, why: &str) -> Result<(), StoreError> {
        let fields: Vec<(String, String)> = e
            .map
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    redis::from_redis_value::<String>(v.clone()).unwrap_or_default(),
                )
            })
            .collect();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XADD")
            .arg(keys::dead_letters(site))
            .arg("MAXLEN")
            .arg("~")
            .arg(10_000)
            .arg("*")
            .arg("entry")
            .arg(&e.id)
            .arg("why")
            .arg(why)
            .arg(&fields)
            .ignore()
            .xack(keys::stream(site), GROUP, &[&e.id])
            .ignore();
        let mut conn = self.conn();
        self.bounded("dead_letter", pipe.query_async::<()>(&mut conn))
            .await
    }

    pub async fn dead_letter_count(&self, site: &str) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        self.bounded("xlen", conn.xlen(keys::dead_letters(site)))
            .await
    }

    /// (data JSON, status) of orders, in one round trip. Data that cannot be unpacked is
    /// read as missing: that order is unreadable, not the whole batch (the planner
    /// dead-letters its entry after retries instead of failing every read of the batch).
    pub async fn order_data(
        &self,
        site: &str,
        refs: &[(String, String)],
    ) -> Result<Vec<(Option<String>, Option<String>)>, StoreError> {
        let mut pipe = redis::pipe();
        for (seller, id) in refs {
            pipe.cmd("HMGET")
                .arg(keys::order(site, seller, id))
                .arg("data")
                .arg("st");
        }
        let raw: Vec<(Option<Vec<u8>>, Option<String>)> =
            self.read_pipe("order_data", &pipe).await?;
        raw.into_iter()
            .map(|(d, st)| Ok((d.and_then(|d| super::doc::unpack(d).ok()), st)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fields: &[(&str, &str)]) -> StreamId {
        StreamId {
            id: "1-0".into(),
            map: fields
                .iter()
                .map(|(k, v)| {
                    (
                        (*k).to_owned(),
                        redis::Value::BulkString(v.as_bytes().to_vec()),
                    )
                })
                .collect(),
            ..Default::default()
        }
    }

    fn orders(seller: &str, ids: &[&str]) -> Entry {
        Entry::Orders {
            seller: seller.into(),
            order_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn an_order_entry_names_one_order_or_several_in_order() {
        let one = entry(&[("t", "o"), ("s", "tea"), ("id", "TT-1")]);
        assert_eq!(decode(&one), orders("tea", &["TT-1"]));
        let three = entry(&[("t", "o"), ("s", "tea"), ("ids", "TT-3 TT-1 TT-2")]);
        assert_eq!(decode(&three), orders("tea", &["TT-3", "TT-1", "TT-2"]));
        let ten: Vec<String> = (0..ORDERS_PER_ENTRY).map(|i| format!("A-{i}")).collect();
        let full = entry(&[("t", "o"), ("s", "tea"), ("ids", &ten.join(" "))]);
        let refs: Vec<&str> = ten.iter().map(String::as_str).collect();
        assert_eq!(decode(&full), orders("tea", &refs));
    }

    #[test]
    fn an_order_entry_that_is_not_exactly_one_of_the_two_forms_is_poison() {
        for fields in [
            &[("t", "o"), ("s", "tea")][..],
            &[("t", "o"), ("s", "tea"), ("id", "A"), ("ids", "A B")],
            &[("t", "o"), ("s", "tea"), ("ids", "")],
            &[("t", "o"), ("s", "tea"), ("ids", "A  B")],
            &[("t", "o"), ("s", "tea"), ("ids", "A B ")],
            &[("t", "o"), ("ids", "A B")],
            &[("t", "z"), ("s", "tea"), ("id", "A")],
        ] {
            assert_eq!(decode(&entry(fields)), Entry::Poison, "{fields:?}");
        }
        let eleven: Vec<String> = (0..=ORDERS_PER_ENTRY).map(|i| format!("A-{i}")).collect();
        let over = entry(&[("t", "o"), ("s", "tea"), ("ids", &eleven.join(" "))]);
        assert_eq!(decode(&over), Entry::Poison);
    }

    #[test]
    fn the_ingest_script_writes_as_many_ids_an_entry_as_the_reader_takes() {
        let line = format!("local per_entry = {ORDERS_PER_ENTRY}\n");
        assert!(
            super::super::INGEST_LUA.contains(&line),
            "ingest.lua: {line}"
        );
    }
}
