//! Which site keeps each seller's orders, as Redis remembers it: the hash `lp:bindings`
//! (`seller:<id>` → site id, `site:<id>` → `1`), outside every site's slot and only ever
//! read or written alone (one command, fine in a Redis Cluster).
//!
//! A seller's order ids, sessions and tombstones live under its site's keys, so a seller
//! moved to another site in the config would find none of them: its orders unknown to it,
//! and every resend accepted again at the new site, then planned and shipped twice
//! (reviewer P). A site removed from the config while it still has orders to plan leaves
//! them unplanned and unseen. Both are refused at start ([`Store::check_bindings`]),
//! naming the config field; a site with nothing left to plan may go.

use redis::streams::{StreamInfoGroupsReply, StreamInfoStreamReply};
use std::collections::HashMap;

use super::waves::GROUP;
use super::{keys, Store, StoreError};

/// The hash of bindings.
pub const KEY: &str = "lp:bindings";

/// A seller entry of the config: its index in `[[sellers]]`, id and site.
#[derive(Debug, Clone, Copy)]
pub struct SellerAt<'a> {
    pub index: usize,
    pub seller: &'a str,
    pub site: &'a str,
}

/// What the config would change that Redis's data cannot follow (one sentence each, naming
/// the field), from the bindings recorded and the config's; `open(site)` says whether a
/// site no longer configured still has orders to plan.
fn problems(
    recorded: &HashMap<String, String>,
    sellers: &[SellerAt<'_>],
    sites: &[&str],
    open: &HashMap<String, bool>,
) -> Vec<String> {
    let mut out = Vec::new();
    for s in sellers {
        if let Some(was) = recorded.get(&format!("seller:{}", s.seller)) {
            if was != s.site {
                out.push(format!(
                    "sellers[{}].site: seller '{}' has its orders at site '{was}' (Redis keeps \
                     its order ids there for the dedupe window); moved to '{}', its orders \
                     would be unknown to it and every resend accepted again. Keep site = \
                     \"{was}\", or add the shop at '{}' under a new seller id and token",
                    s.index, s.seller, s.site, s.site
                ));
            }
        }
    }
    let mut gone: Vec<&str> = recorded
        .keys()
        .filter_map(|k| k.strip_prefix("site:"))
        .filter(|site| !sites.contains(site))
        .collect();
    gone.sort_unstable();
    for site in gone {
        if open.get(site).copied().unwrap_or(true) {
            out.push(format!(
                "sites: site '{site}' is no longer configured but still has orders to plan \
                 in Redis; put its [[sites]] entry back until they are waved"
            ));
        }
    }
    out
}

impl Store {
    /// Checks the config's sellers and sites against the bindings Redis recorded (see the
    /// module doc): the refusals, or none after recording the config's bindings (and
    /// forgetting a removed site that had nothing left to plan).
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
        let mut open = HashMap::new();
        for site in recorded.keys().filter_map(|k| k.strip_prefix("site:")) {
            if !sites.contains(&site) {
                open.insert(site.to_owned(), self.has_orders_to_plan(site).await?);
            }
        }
        let refused = problems(&recorded, sellers, sites, &open);
        if !refused.is_empty() {
            return Ok(refused);
        }
        let mut set = redis::cmd("HSET");
        set.arg(KEY);
        for s in sellers {
            set.arg(format!("seller:{}", s.seller)).arg(s.site);
        }
        for site in sites {
            set.arg(format!("site:{site}")).arg("1");
        }
        if !sellers.is_empty() || !sites.is_empty() {
            let _: i64 = self.bounded("bindings", set.query_async(&mut conn)).await?;
        }
        let forget: Vec<String> = open.into_keys().map(|s| format!("site:{s}")).collect();
        if !forget.is_empty() {
            let _: i64 = self
                .bounded(
                    "bindings",
                    redis::cmd("HDEL")
                        .arg(KEY)
                        .arg(&forget)
                        .query_async(&mut conn),
                )
                .await?;
        }
        Ok(Vec::new())
    }

    /// Whether `site` has orders not yet waved: pending ones, or stream entries its planner
    /// has not read or not finished with.
    async fn has_orders_to_plan(&self, site: &str) -> Result<bool, StoreError> {
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
        Ok(group.pending > 0 || group.last_delivered_id != info.last_generated_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_moved_seller_and_a_removed_site_with_orders_are_refused_by_field() {
        let rec = recorded(&[
            ("seller:gao", "tam-diep"),
            ("seller:tra", "hoa-lu"),
            ("site:tam-diep", "1"),
            ("site:hoa-lu", "1"),
        ]);
        let sellers = [
            SellerAt {
                index: 0,
                seller: "tra",
                site: "hoa-lu",
            },
            SellerAt {
                index: 1,
                seller: "gao",
                site: "hoa-lu",
            },
        ];
        let open = HashMap::from([("tam-diep".to_owned(), true)]);
        let p = problems(&rec, &sellers, &["hoa-lu"], &open);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].starts_with("sellers[1].site: seller 'gao' has its orders at site 'tam-diep'"),
            "{p:?}"
        );
        assert!(
            p[1].starts_with("sites: site 'tam-diep' is no longer configured"),
            "{p:?}"
        );
        // Nothing left to plan there: the site may go (the seller still may not move).
        let open = HashMap::from([("tam-diep".to_owned(), false)]);
        assert_eq!(problems(&rec, &sellers, &["hoa-lu"], &open).len(), 1);
        // As configured, or new: nothing to say.
        let same = [
            SellerAt {
                index: 0,
                seller: "gao",
                site: "tam-diep",
            },
            SellerAt {
                index: 1,
                seller: "new",
                site: "hoa-lu",
            },
        ];
        assert!(problems(&rec, &same, &["hoa-lu", "tam-diep"], &HashMap::new()).is_empty());
    }
}
