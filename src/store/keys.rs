//! Redis key names. Every key of a site carries the hash tag `{site}`, so every
//! multi-key script touches one Redis Cluster slot.

pub fn tag(site: &str) -> String {
    format!("lp:{{{site}}}")
}

/// Hash: one stored order (`data`, `st` status, `dg` digest, ids once known).
pub fn order(site: &str, seller: &str, order_id: &str) -> String {
    format!("lp:{{{site}}}:o:{seller}:{order_id}")
}

/// Stream: what the site's planner has to look at (new orders, session ends, cancels).
pub fn stream(site: &str) -> String {
    format!("lp:{{{site}}}:in")
}

/// Hash: one livestream session's state and counters.
pub fn session(site: &str, seller: &str, label: &str) -> String {
    format!("lp:{{{site}}}:s:{seller}:{label}")
}

/// Set of `seller/label` of every session the site has seen.
pub fn sessions(site: &str) -> String {
    format!("lp:{{{site}}}:sessions")
}

/// A key that `/readyz` writes to prove Redis takes writes.
pub fn readyz() -> &'static str {
    "lp:readyz"
}
