//! What the planner sees ahead, published for the API and for metrics: the capacity
//! forecast per pickup and the orders at risk of missing their deadline.

use crate::metric_names as names;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::core::{AtRisk, PickupForecast, Plan, WavePlan};
use crate::domain::order::OrderRef;
use crate::domain::schedule::TZ;
use crate::store::Store;
use std::borrow::Borrow;

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Outlook {
    pub site: String,
    pub computed_at: Option<DateTime<Utc>>,
    pub pending: usize,
    pub held: usize,
    pub forecast: Vec<PickupForecast>,
    /// How many pending orders are at risk (`livepack_orders_at_risk`); `at_risk` lists the
    /// most urgent of them (by pickup, then deadline): at most [`MAX_AT_RISK_PER_SELLER`] of
    /// each seller, [`MAX_AT_RISK_LISTED`] in all. A seller's token reads its own count.
    #[serde(default)]
    pub at_risk_count: usize,
    /// At-risk orders per seller (sellers with none left out).
    #[serde(default)]
    pub at_risk_by_seller: std::collections::BTreeMap<String, usize>,
    /// At-risk orders per seller, then per session (what `livepack session` counts; the
    /// list may stop short of a session's orders).
    #[serde(default)]
    pub at_risk_by_session: BySession,
    pub at_risk: Vec<AtRisk>,
}

/// The at-risk orders an outlook lists at most (its counts are whole). A surge short of
/// packers makes every pending order at risk: listing 168,000 of them made a 27 MB string
/// whose every read (each wave view, the risk gauge's refresh) held Redis for about a
/// second, stalling every seller's ingest (reviewer Y1). About 3.5 MB at most now.
pub const MAX_AT_RISK_LISTED: usize = 20_000;
/// The at-risk orders of one seller an outlook lists at most: one seller's surge leaves
/// room for the others'.
pub const MAX_AT_RISK_PER_SELLER: usize = 1_000;

/// Counts per seller, then per session.
pub type BySession = std::collections::BTreeMap<String, std::collections::BTreeMap<String, usize>>;

/// What an outlook lists of its at-risk orders, and their counts.
struct Listed<'r, Id, S> {
    /// Those listed (most urgent first).
    shown: Vec<&'r AtRisk<Id, S>>,
    by_seller: std::collections::BTreeMap<String, usize>,
    by_session: BySession,
}

/// Of `at_risk` (most urgent first), those an outlook lists, and the counts per seller and
/// per session.
fn listed<Id: Borrow<OrderRef>, S: AsRef<str>>(at_risk: &[AtRisk<Id, S>]) -> Listed<'_, Id, S> {
    let mut per: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut per_session: std::collections::HashMap<(&str, &str), usize> =
        std::collections::HashMap::new();
    let mut shown = Vec::with_capacity(at_risk.len().min(MAX_AT_RISK_LISTED));
    for r in at_risk {
        let seller = r.id.borrow().seller.as_str();
        *per_session.entry((seller, r.session.as_ref())).or_default() += 1;
        let n = per.entry(seller).or_default();
        *n += 1;
        if *n <= MAX_AT_RISK_PER_SELLER && shown.len() < MAX_AT_RISK_LISTED {
            shown.push(r);
        }
    }
    let by_seller = per.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let mut by_session = BySession::new();
    for ((seller, session), n) in per_session {
        by_session
            .entry(seller.to_owned())
            .or_default()
            .insert(session.to_owned(), n);
    }
    Listed {
        shown,
        by_seller,
        by_session,
    }
}

/// Whether the outlook was written (a failure is retried by the next plan).
pub async fn publish(store: &Store, site: &str, plan: &Plan<'_>, now: DateTime<Utc>) -> bool {
    match prepare(site, plan, now) {
        Some(json) => store.put_outlook(site, &json).await.is_ok(),
        None => false,
    }
}

/// Sets the outlook's gauges and returns the outlook to write (`Store::put_outlook`), so a
/// caller can write it beside other work (the planner, beside the plan's commit).
pub fn prepare(site: &str, plan: &Plan<'_>, now: DateTime<Utc>) -> Option<String> {
    let pending = plan.held.len() + plan.waves.iter().map(WavePlan::order_count).sum::<usize>();
    metrics::gauge!(names::ORDERS_AT_RISK, "site" => site.to_owned())
        .set(plan.at_risk.len() as f64);
    for f in &plan.forecast {
        let pickup = f.pickup_at.with_timezone(&TZ).format("%H:%M").to_string();
        metrics::gauge!(names::CAPACITY_PACKERS_NEEDED, "site" => site.to_owned(), "pickup" => pickup.clone())
            .set(f64::from(f.packers_needed));
        metrics::gauge!(names::CAPACITY_MINUTES_DUE, "site" => site.to_owned(), "pickup" => pickup)
            .set(f.minutes_due);
    }
    outlook_json(
        site,
        now,
        pending,
        plan.held.len(),
        &plan.forecast,
        &plan.at_risk,
    )
}

/// The JSON of the [`Outlook`] of these parts, byte for byte as serde_json writes it (the
/// tests compare the two), written by hand from the plan's lists without copying them
/// (issue 20): in a surge short of packers every pending order is at risk, and the copy
/// and serde's outlook of 100,000 of them (17.6 MB) took 57–71 ms alone on one core, up to
/// 230 ms of the planner's task in the 300,000-order peak, before each plan's commit began
/// (by hand: 4–13 ms alone). An entry's times often repeat the entry's before it (the list
/// is sorted by pickup, then deadline), so a time is formatted (by serde_json) once per run
/// of equal values.
fn outlook_json<Id: Borrow<OrderRef>, S: AsRef<str>>(
    site: &str,
    now: DateTime<Utc>,
    pending: usize,
    held: usize,
    forecast: &[PickupForecast],
    at_risk: &[AtRisk<Id, S>],
) -> Option<String> {
    use crate::domain::json::{write_key, write_member, write_uint, LastJson};
    let mut out = Vec::with_capacity(512 + at_risk.len().min(MAX_AT_RISK_LISTED) * 176);
    out.push(b'{');
    write_member(&mut out, "site", site);
    out.push(b',');
    write_key(&mut out, "computed_at");
    serde_json::to_writer(&mut out, &now).ok()?;
    out.push(b',');
    write_key(&mut out, "pending");
    write_uint(&mut out, pending as u64);
    out.push(b',');
    write_key(&mut out, "held");
    write_uint(&mut out, held as u64);
    out.push(b',');
    write_key(&mut out, "forecast");
    serde_json::to_writer(&mut out, forecast).ok()?;
    out.push(b',');
    write_key(&mut out, "at_risk_count");
    write_uint(&mut out, at_risk.len() as u64);
    let Listed {
        shown,
        by_seller,
        by_session,
    } = listed(at_risk);
    out.push(b',');
    write_key(&mut out, "at_risk_by_seller");
    serde_json::to_writer(&mut out, &by_seller).ok()?;
    out.push(b',');
    write_key(&mut out, "at_risk_by_session");
    serde_json::to_writer(&mut out, &by_session).ok()?;
    out.extend_from_slice(b",\"at_risk\":[");
    let (mut reason, mut pickup, mut deadline) =
        (LastJson::new(), LastJson::new(), LastJson::new());
    for (n, r) in shown.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let id = r.id.borrow();
        out.extend_from_slice(b"{\"id\":{");
        write_member(&mut out, "seller", &id.seller);
        out.push(b',');
        write_member(&mut out, "order_id", &id.order_id);
        out.extend_from_slice(b"},");
        write_member(&mut out, "session", r.session.as_ref());
        out.extend_from_slice(b",\"reason\":");
        reason.write(&mut out, r.reason).ok()?;
        out.extend_from_slice(b",\"pickup_at\":");
        pickup.write(&mut out, r.pickup_at).ok()?;
        out.extend_from_slice(b",\"deadline\":");
        deadline.write(&mut out, r.deadline).ok()?;
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    // Every piece is JSON text: UTF-8.
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::core::AtRiskReason;
    use chrono::TimeZone;

    fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(1_796_000_000 + secs, nanos).unwrap()
    }

    fn risk(
        seller: &str,
        id: &str,
        reason: AtRiskReason,
        pickup: DateTime<Utc>,
        deadline: DateTime<Utc>,
    ) -> AtRisk {
        AtRisk {
            id: OrderRef {
                seller: seller.into(),
                order_id: id.into(),
            },
            // Escapes in the session too (the property test's ids have them).
            session: format!("live-{id}"),
            reason,
            pickup_at: pickup,
            deadline,
        }
    }

    #[test]
    fn the_outlook_is_written_as_serde_json_writes_it() {
        let forecast = [PickupForecast {
            pickup_at: at(3600, 0),
            orders: 3,
            minutes_due: 4.5,
            minutes_due_through: 4.5,
            minutes_available: 0.0,
            packers_needed: 2,
            under_pressure: true,
        }];
        let (p1, p2) = (at(3600, 0), at(7200, 0));
        let at_risk = [
            risk(
                "mat-ong",
                "TT-1",
                AtRiskReason::NotEnoughCapacity,
                p1,
                at(100, 0),
            ),
            risk(
                "mat-ong",
                "TT-2",
                AtRiskReason::NotEnoughCapacity,
                p1,
                at(100, 0),
            ),
            risk(
                "mat-ong",
                "TT-\"3\\",
                AtRiskReason::DeadlineBeforePickup,
                p1,
                at(100, 5),
            ),
            risk(
                "trà",
                "Đơn-4\u{1}",
                AtRiskReason::DeadlineBeforePickup,
                p2,
                at(100, 123_000_000),
            ),
            risk(
                "trà",
                "TT-5",
                AtRiskReason::NotEnoughCapacity,
                p2,
                at(-5, 999_999_999),
            ),
        ];
        let now = at(1, 500);
        for (site, forecast, at_risk) in [
            ("hoa-lu-hub", &forecast[..], &at_risk[..]),
            ("hub \"x\"", &[][..], &[][..]),
        ] {
            let by_serde = serde_json::to_string(&Outlook {
                site: site.into(),
                computed_at: Some(now),
                pending: 7,
                held: 2,
                forecast: forecast.to_vec(),
                at_risk_count: at_risk.len(),
                at_risk_by_seller: listed(at_risk).by_seller,
                at_risk_by_session: listed(at_risk).by_session,
                at_risk: at_risk.to_vec(),
            })
            .unwrap();
            let by_hand = outlook_json(site, now, 7, 2, forecast, at_risk).unwrap();
            assert_eq!(by_hand, by_serde);
            // As a plan holds them: ids borrowed.
            let borrowed: Vec<AtRisk<&OrderRef, &str>> = at_risk
                .iter()
                .map(|r| AtRisk {
                    id: &r.id,
                    session: r.session.as_str(),
                    reason: r.reason,
                    pickup_at: r.pickup_at,
                    deadline: r.deadline,
                })
                .collect();
            let by_hand = outlook_json(site, now, 7, 2, forecast, &borrowed).unwrap();
            assert_eq!(by_hand, by_serde);
            let back: Outlook = serde_json::from_str(&by_hand).unwrap();
            assert_eq!(back.at_risk, at_risk);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_outlook_is_written_as_serde_json_writes_it(
            site in proptest::prelude::any::<String>(),
            entries in proptest::collection::vec(
                (
                    proptest::prelude::any::<String>(),
                    "[A-Z\\-0-9\"\\\\\u{0}-\u{1f}à-ỹ]{0,12}",
                    proptest::prelude::any::<bool>(),
                    0i64..3,
                    0i64..4,
                    proptest::prop_oneof![proptest::strategy::Just(0u32), 0u32..1_000_000_000],
                ),
                0..40,
            ),
            pending in 0usize..1_000_000,
        ) {
            let at_risk: Vec<AtRisk> = entries
                .into_iter()
                .map(|(seller, id, late, pickup, deadline, nanos)| {
                    let reason = if late {
                        AtRiskReason::DeadlineBeforePickup
                    } else {
                        AtRiskReason::NotEnoughCapacity
                    };
                    // A few distinct times, some repeating, some with a fraction.
                    risk(&seller, &id, reason, at(pickup * 3600, 0), at(deadline * 60, nanos))
                })
                .collect();
            let now = at(0, 7);
            let by_serde = serde_json::to_string(&Outlook {
                site: site.clone(),
                computed_at: Some(now),
                pending,
                held: pending / 2,
                forecast: Vec::new(),
                at_risk_count: at_risk.len(),
                at_risk_by_seller: listed(&at_risk).by_seller,
                at_risk_by_session: listed(&at_risk).by_session,
                at_risk: at_risk.clone(),
            })
            .unwrap();
            let by_hand = outlook_json(&site, now, pending, pending / 2, &[], &at_risk).unwrap();
            proptest::prop_assert_eq!(by_hand, by_serde);
        }
    }

    #[test]
    fn an_outlook_lists_the_most_urgent_at_risk_orders_of_each_seller_and_counts_them_all() {
        // One seller's surge first (most urgent), then another's few.
        let n = MAX_AT_RISK_PER_SELLER + 5;
        let entry = |seller: &str, i: usize| {
            let i = i64::try_from(i).unwrap();
            risk(
                seller,
                &format!("TT-{i}"),
                AtRiskReason::NotEnoughCapacity,
                at(3600 + i, 0),
                at(100, 0),
            )
        };
        let mut at_risk: Vec<AtRisk> = (0..n).map(|i| entry("mat-ong", i)).collect();
        at_risk.extend((n..n + 3).map(|i| entry("tra", i)));
        let json = outlook_json("hoa-lu-hub", at(0, 0), n + 3, 0, &[], &at_risk).unwrap();
        let back: Outlook = serde_json::from_str(&json).unwrap();
        assert_eq!(back.at_risk_count, n + 3);
        assert_eq!(back.at_risk_by_seller["mat-ong"], n);
        assert_eq!(back.at_risk_by_seller["tra"], 3);
        // Counted per session too (each entry here its own session), listed or not.
        assert_eq!(back.at_risk_by_session["mat-ong"].len(), n);
        assert_eq!(back.at_risk_by_session["mat-ong"]["live-TT-0"], 1);
        assert_eq!(back.at_risk_by_session["tra"][&format!("live-TT-{n}")], 1);
        assert_eq!(
            back.at_risk[..MAX_AT_RISK_PER_SELLER],
            at_risk[..MAX_AT_RISK_PER_SELLER]
        );
        assert_eq!(back.at_risk[MAX_AT_RISK_PER_SELLER..], at_risk[n..]);
    }
}
