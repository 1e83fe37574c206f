//! Which site keeps each seller's orders, as Redis remembers it: the hash `lp:bindings`
//! (`seller:<id>` → site id, `site:<id>` → `1`), outside every site's slot and only ever
//! read or written alone (one command or one script of that key: fine in a Redis Cluster).
//!
//! A seller's order ids, sessions and tombstones live under its site's keys, so a seller
//! moved to another site in the config would find none of them: its orders unknown to it,
//! and every resend accepted again at the new site, then planned and shipped twice
//! (reviewer P). A site removed from the config while Redis still holds its orders leaves
//! them unplanned, unarchived (buyers' data kept for good) and unseen by carriers' webhooks
//! and COD statements. Both are refused at start ([`Store::check_bindings`]), naming the
//! config field. The record is written by one script (`bindings.lua`) that refuses a move
//! and records in one step; a site is never forgotten (each start looks again at every
//! recorded site the config lacks: a few commands each), and a seller stays bound to its
//! site (a new seller id moves a shop; `HDEL lp:bindings seller:<id>` forgets one on purpose).

use chrono::{TimeZone, Utc};
use redis::streams::{StreamInfoGroupsReply, StreamInfoStreamReply};
use std::collections::HashMap;
use std::sync::LazyLock;

use super::waves::GROUP;
use super::{keys, Store, StoreError};

/// The hash of bindings.
pub const KEY: &str = "lp:bindings";

static SCRIPT: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("lua/bindings.lua")));

/// A seller entry of the config: its index in `[[sellers]]`, id and site.
#[derive(Debug, Clone, Copy)]
pub struct SellerAt<'a> {
    pub index: usize,
    pub seller: &'a str,
    pub site: &'a str,
}

/// The refusal of a seller moved from site `was` (naming its config field).
fn moved(s: &SellerAt<'_>, was: &str) -> String {
    format!(
        "sellers[{}].site: seller '{}' has its orders at site '{was}' (Redis keeps its order ids \
         there for the dedupe window); moved to '{}', its orders would be unknown to it and \
         every resend accepted again. Keep site = \"{was}\", or add the shop at '{}' under a \
         new seller id and token",
        s.index, s.seller, s.site, s.site
    )
}

/// The refusal of a site no longer configured that still holds orders.
fn dropped(site: &str) -> String {
    format!(
        "sites: site '{site}' is no longer configured but Redis still holds its orders (to \
         plan, or not yet archived: buyers' data, parcels that carriers' webhooks and COD \
         statements name); put its [[sites]] entry back until they are archived"
    )
}

/// The recorded sites the config lacks, sorted.
fn removed_sites<'a>(recorded: &'a HashMap<String, String>, sites: &[&str]) -> Vec<&'a str> {
    let mut gone: Vec<&str> = recorded
        .keys()
        .filter_map(|k| k.strip_prefix("site:"))
        .filter(|site| !sites.contains(site))
        .collect();
    gone.sort_unstable();
    gone
}

impl Store {
    /// Checks the config's sellers and sites against the bindings Redis recorded (see the
    /// module doc): the refusals, or none after recording the config's bindings.
    pub async fn check_bindings(
        &self,
        sellers: &[SellerAt<'_>],
        sites: &[&str],
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn();
        let recorded: HashMap<String, String> = self
            .bounded(
                "bindings",
                redis::cmd("HGETALL").arg(KEY).query_async(&mut conn),
            )
            .await?;
        let mut refused = Vec::new();
        for site in removed_sites(&recorded, sites) {
            if self.holds_orders(site).await? {
                refused.push(dropped(site));
            }
        }
        let mut inv = SCRIPT.prepare_invoke();
        inv.key(KEY).arg(sellers.len());
        for s in sellers {
            inv.arg(s.seller).arg(s.site);
        }
        for site in sites {
            inv.arg(*site);
        }
        if refused.is_empty() {
            let out: Vec<String> = self
                .bounded("bindings", inv.invoke_async(&mut conn))
                .await?;
            for pair in out.chunks(2) {
                if let (Some(s), [_, was]) = (sellers.iter().find(|s| s.seller == pair[0]), pair) {
                    refused.push(moved(s, was));
                }
            }
        } else {
            // Said together with the sites' refusals, from what was read.
            for s in sellers {
                if let Some(was) = recorded.get(&format!("seller:{}", s.seller)) {
                    if was != s.site {
                        refused.push(moved(s, was));
                    }
                }
            }
        }
        Ok(refused)
    }

    /// Whether Redis still holds orders of `site`: pending ones, stream entries its planner
    /// has not read or not finished with, or orders of a day after the last one archived.
    async fn holds_orders(&self, site: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let pending: u64 = self
            .bounded(
                "bindings",
                redis::cmd("HLEN")
                    .arg(keys::pending(site))
                    .query_async(&mut conn),
            )
            .await?;
        if pending > 0 {
            return Ok(true);
        }
        let stream = keys::stream(site);
        let exists: u64 = self
            .bounded(
                "bindings",
                redis::cmd("EXISTS").arg(&stream).query_async(&mut conn),
            )
            .await?;
        if exists == 0 {
            return Ok(false);
        }
        let info: StreamInfoStreamReply = self
            .bounded(
                "bindings",
                redis::cmd("XINFO")
                    .arg("STREAM")
                    .arg(&stream)
                    .query_async(&mut conn),
            )
            .await?;
        let groups: StreamInfoGroupsReply = self
            .bounded(
                "bindings",
                redis::cmd("XINFO")
                    .arg("GROUPS")
                    .arg(&stream)
                    .query_async(&mut conn),
            )
            .await?;
        let Some(group) = groups.groups.iter().find(|g| g.name == GROUP) else {
            // Never read by a planner: everything in it is still to plan.
            return Ok(info.length > 0);
        };
        if group.pending > 0 || group.last_delivered_id != info.last_generated_id {
            return Ok(true);
        }
        // Planned: still held until the day of its newest entry is archived.
        let newest_ms = info
            .last_generated_id
            .split('-')
            .next()
            .and_then(|ms| ms.parse::<i64>().ok())
            .unwrap_or(0);
        if newest_ms == 0 {
            return Ok(false);
        }
        let newest_day = Utc
            .timestamp_millis_opt(newest_ms)
            .single()
            .map(crate::domain::schedule::business_date);
        let through = self.archived_through(site).await?;
        Ok(match (newest_day, through) {
            (Some(day), Some(through)) => day > through,
            _ => true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_field_and_removed_sites_are_the_recorded_ones_not_configured() {
        let rec: HashMap<String, String> = [
            ("seller:gao", "tam-diep"),
            ("site:tam-diep", "1"),
            ("site:hoa-lu", "1"),
            ("site:an-khanh", "1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(removed_sites(&rec, &["hoa-lu"]), ["an-khanh", "tam-diep"]);
        assert!(removed_sites(&rec, &["hoa-lu", "tam-diep", "an-khanh", "new"]).is_empty());
        let s = SellerAt {
            index: 1,
            seller: "gao",
            site: "hoa-lu",
        };
        assert!(moved(&s, "tam-diep")
            .starts_with("sellers[1].site: seller 'gao' has its orders at site 'tam-diep'"));
        assert!(dropped("tam-diep").starts_with("sites: site 'tam-diep' is no longer configured"));
    }
}
