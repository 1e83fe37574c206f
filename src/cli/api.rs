//! `livepack cancel` and `livepack session` over the HTTP API (contract §2).

use std::time::Duration;

use serde_json::Value;

use super::i18n::{t, Msg};
use super::{
    http_base, segment, CancelArgs, SessionArgs, EXIT_INCOMPLETE, EXIT_OK, EXIT_SERVER, EXIT_USAGE,
};
use crate::domain::status::SessionState;

pub(crate) fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| e.to_string())
}

/// A 404's sentence: the server's "no such X" in the language in use.
pub(crate) fn not_found(server_message: &str) -> String {
    let what = match server_message.strip_prefix("no such ") {
        Some("session") => Msg::WhatSession,
        Some("order") => Msg::WhatOrder,
        Some("seller") => Msg::WhatSeller,
        Some("site") => Msg::WhatSite,
        Some("route") => Msg::WhatRoute,
        _ => return t(Msg::NotFound, &[("message", &server_message)]),
    };
    t(what, &[])
}

/// A failed request as an exit code and a message.
pub(crate) fn failure(status: u16, body: &Value) -> (i32, String) {
    let code = body["error"]["code"].as_str().unwrap_or("");
    let msg = super::i18n::api_error_text(code)
        .unwrap_or_else(|| body["error"]["message"].as_str().unwrap_or(code).to_owned());
    match status {
        401 => (EXIT_SERVER, t(Msg::TokenRefused, &[("status", &status)])),
        403 => (EXIT_SERVER, t(Msg::NotASellerToken, &[("status", &status)])),
        400 | 422 => (
            EXIT_USAGE,
            t(
                Msg::ServerRefused,
                &[("status", &status), ("message", &msg)],
            ),
        ),
        404 => (EXIT_INCOMPLETE, not_found(&msg)),
        _ => (
            EXIT_SERVER,
            t(Msg::ServerError, &[("status", &status), ("message", &msg)]),
        ),
    }
}

/// The innermost cause of an error ("Connection refused (os error 111)").
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let mut s = cur.to_string();
    if s.is_empty() {
        s = e.to_string();
    }
    s
}

/// Why a request got no answer, in the language in use: the usual causes in plain words
/// (with what to change), anything else as the system said it.
pub(crate) fn network_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return t(Msg::NetTimedOut, &[]);
    }
    let cause = root_cause(e);
    let known = [
        ("Connection refused", Msg::NetRefused),
        ("failed to lookup address", Msg::NetNoSuchHost),
        ("relative URL without a base", Msg::NetNoScheme),
        ("URL scheme is not allowed", Msg::NetBadScheme),
        ("InvalidContentType", Msg::NetNotTls),
        ("timed out", Msg::NetTimedOut),
    ];
    match known.iter().find(|(phrase, _)| cause.contains(phrase)) {
        Some((_, msg)) => t(*msg, &[]),
        None => cause,
    }
}

/// Sends a request to the service: its status and JSON body, or a sentence when there was
/// no answer, or when the answer came from something else than livepack (every answer of
/// the service carries `x-request-id`; another web server at a wrong `--url` does not, and
/// its 404 or 501 would otherwise read as "no such session" or a refused token).
pub(crate) async fn call(req: reqwest::RequestBuilder, url: &str) -> Result<(u16, Value), String> {
    let resp = req.send().await.map_err(|e| {
        let reason = network_reason(&e);
        t(Msg::Unreachable, &[("url", &url), ("reason", &reason)])
    })?;
    let status = resp.status().as_u16();
    // (A proxy in front of the service answers 502–504 itself while the service restarts:
    // that is the service being away, not a wrong address.)
    if !resp.headers().contains_key("x-request-id") && !(502..=504).contains(&status) {
        return Err(t(Msg::NotLivepack, &[("url", &url), ("status", &status)]));
    }
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    Ok((status, body))
}

/// Before a push: the service answers and takes the token. Reads the session (a new
/// session is a 404, which is fine). Exit code and sentence when it cannot go on.
pub(crate) async fn preflight(url: &str, token: &str, session: &str) -> Result<(), (i32, String)> {
    let http = client().map_err(|e| (EXIT_SERVER, e))?;
    let base = http_base(url);
    let req = http
        .get(format!("{base}/v1/sessions/{}", segment(session)))
        .bearer_auth(token);
    match call(req, url).await {
        Err(e) => Err((EXIT_SERVER, e)),
        Ok((200 | 404, _)) => Ok(()),
        // The service is up but cannot serve now (e.g. Redis down): the push retries.
        Ok((500..=599, _)) => Ok(()),
        // The operator's token: it reads sessions only for a named seller, and never pushes.
        Ok((400, body)) if body["error"]["code"] == "missing_seller" => {
            Err((EXIT_SERVER, t(Msg::NotASellerToken, &[("status", &400)])))
        }
        Ok((status, body)) => {
            let (_, msg) = failure(status, &body);
            Err((EXIT_SERVER, msg))
        }
    }
}

/// Cancels one order: its status (`cancelled`, `too_late`, `unknown`), or why not.
pub(crate) async fn cancel_one(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    order_id: &str,
    reason: Option<&str>,
) -> Result<String, (i32, String)> {
    let url = format!("{base}/v1/orders/{}/cancel", segment(order_id));
    let body = match reason {
        Some(r) => serde_json::json!({ "reason": r }),
        None => serde_json::json!({}),
    };
    match call(http.post(url).bearer_auth(token).json(&body), base).await {
        Err(e) => Err((EXIT_SERVER, e)),
        Ok((200, body)) => Ok(body["status"].as_str().unwrap_or("?").to_owned()),
        Ok((status, body)) => Err(failure(status, &body)),
    }
}

fn status_text(status: &str) -> String {
    match status {
        "cancelled" => t(Msg::StatusCancelled, &[]),
        "too_late" => t(Msg::StatusTooLate, &[]),
        "unknown" => t(Msg::StatusUnknown, &[]),
        other => other.to_owned(),
    }
}

pub async fn run_cancel(args: CancelArgs) -> i32 {
    super::i18n::init(args.lang);
    // Told before connecting: a mistyped reason is the seller's to fix, server up or down.
    if args
        .reason
        .as_deref()
        .is_some_and(|r| !crate::domain::is_label(r))
    {
        eprintln!("livepack cancel: {}", t(Msg::ApiInvalidReason, &[]));
        return EXIT_USAGE;
    }
    let http = match client() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("livepack cancel: {e}");
            return EXIT_SERVER;
        }
    };
    let base = http_base(&args.url);
    match cancel_one(
        &http,
        &base,
        &args.token,
        &args.order_id,
        args.reason.as_deref(),
    )
    .await
    {
        Err((code, msg)) => {
            eprintln!("livepack cancel: {msg}");
            code
        }
        Ok(status) => {
            println!(
                "{}",
                t(
                    Msg::CancelResult,
                    &[("id", &args.order_id), ("status", &status_text(&status))]
                )
            );
            match status.as_str() {
                "cancelled" => EXIT_OK,
                "too_late" => {
                    eprintln!("{}", t(Msg::CancelTooLate, &[]));
                    EXIT_INCOMPLETE
                }
                _ => EXIT_INCOMPLETE,
            }
        }
    }
}

pub async fn run_session(args: SessionArgs) -> i32 {
    super::i18n::init(args.lang);
    // No session can have such a label (as `push` says it): the rule, not "no such session".
    if !crate::domain::is_label(&args.label) {
        eprintln!("livepack session: {}", t(Msg::BadLabel, &[]));
        return EXIT_USAGE;
    }
    let http = match client() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("livepack session: {e}");
            return EXIT_SERVER;
        }
    };
    let base = http_base(&args.url);
    let url = format!("{base}/v1/sessions/{}", segment(&args.label));
    let session = match call(http.get(url).bearer_auth(&args.token), &base).await {
        Err(e) => {
            eprintln!("livepack session: {e}");
            return EXIT_SERVER;
        }
        Ok((200, body)) => body,
        Ok((status, body)) => {
            let (code, msg) = failure(status, &body);
            eprintln!("livepack session {}: {msg}", args.label);
            return code;
        }
    };
    let site = args
        .site
        .clone()
        .or_else(|| session["site"].as_str().map(str::to_owned));
    let outlook = match &site {
        None => Err(t(Msg::PassSite, &[])),
        Some(site) => {
            let url = format!("{base}/v1/sites/{}/outlook", segment(site));
            match call(http.get(url).bearer_auth(&args.token), &base).await {
                Ok((200, outlook)) => Ok(at_risk_of(
                    &outlook,
                    session["seller"].as_str(),
                    &args.label,
                )),
                Ok((status, body)) => Err(t(
                    Msg::OutlookUnreadable,
                    &[("why", &failure(status, &body).1)],
                )),
                Err(e) => Err(e),
            }
        }
    };
    let at_risk = merge_at_risk(&session, outlook);
    if args.json {
        let mut out = session.clone();
        if let Ok(list) = &at_risk {
            out["at_risk"] = Value::Array(list.listed.clone());
        }
        println!("{out}");
        return EXIT_OK;
    }
    print!("{}", render(&session, &at_risk));
    EXIT_OK
}

/// A session's at-risk orders: those listed, and how many more there are (the server
/// lists the most urgent; its counts are whole).
#[derive(Debug, Default)]
struct AtRiskList {
    listed: Vec<Value>,
    unlisted: u64,
}

/// The session's at-risk orders: those the server lists for the session (waved and not
/// packed: overdue, or no pickup before their deadline) and the session's entries of the
/// site's outlook (not waved yet), once each. When the outlook cannot be read, the
/// server's list still counts (and the reason is kept for the table).
fn merge_at_risk(
    session: &Value,
    outlook: Result<AtRiskList, String>,
) -> Result<AtRiskList, String> {
    let waved: Option<AtRiskList> = session["at_risk_orders"].as_array().map(|list| {
        let total = session["at_risk_waved"].as_u64().unwrap_or(0);
        AtRiskList {
            listed: list.clone(),
            unlisted: total.saturating_sub(list.len() as u64),
        }
    });
    match (waved, outlook) {
        (Some(mut all), Ok(pending)) => {
            for r in pending.listed {
                let id = r["id"]["order_id"].as_str();
                if !all.listed.iter().any(|w| w["order_id"].as_str() == id) {
                    all.listed.push(r);
                }
            }
            all.unlisted += pending.unlisted;
            Ok(all)
        }
        (Some(all), Err(_)) if !all.listed.is_empty() || all.unlisted > 0 => Ok(all),
        (_, Err(e)) => Err(e),
        (None, Ok(pending)) => Ok(pending),
    }
}

/// The session's entries of the site's at-risk list (the outlook covers the whole site),
/// and how many more of the session's the outlook counts than it lists (it lists at most
/// 1,000 of a seller). An outlook of a build before 2026-12-07 names no session: then the
/// seller's entries.
fn at_risk_of(outlook: &Value, seller: Option<&str>, label: &str) -> AtRiskList {
    let listed: Vec<Value> = outlook["at_risk"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| seller.is_none() || r["id"]["seller"].as_str() == seller)
        .filter(|r| r["session"].as_str().is_none_or(|s| s == label))
        .cloned()
        .collect();
    let counted = seller
        .and_then(|seller| outlook["at_risk_by_session"][seller][label].as_u64())
        .unwrap_or(0);
    AtRiskList {
        unlisted: counted.saturating_sub(listed.len() as u64),
        listed,
    }
}

fn risk_reason_text(reason: &str) -> String {
    match reason {
        "overdue" => t(Msg::WhyOverdue, &[]),
        "deadline_before_pickup" => t(Msg::WhyDeadlineBeforePickup, &[]),
        "not_enough_capacity" => t(Msg::WhyNotEnoughCapacity, &[]),
        other => other.to_owned(),
    }
}

/// An at-risk order's status in the language in use (it is not packed yet).
fn order_status_text(status: &str) -> String {
    match status {
        "received" => t(Msg::OrderReceived, &[]),
        "waved" => t(Msg::OrderWaved, &[]),
        "picked" => t(Msg::OrderPicked, &[]),
        other => other.to_owned(),
    }
}

/// A time of the API (RFC 3339, UTC) as the hub reads it: Vietnam time, `HH:MM dd/mm`.
fn vn_time(at: Option<&str>) -> String {
    match at.and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()) {
        Some(t) => t
            .with_timezone(&crate::domain::schedule::TZ)
            .format("%H:%M %d/%m")
            .to_string(),
        None => at.unwrap_or("?").to_owned(),
    }
}

fn render(session: &Value, at_risk: &Result<AtRiskList, String>) -> String {
    let n = |k: &str| session[k].as_u64().unwrap_or(0);
    let raw = session["state"].as_str().unwrap_or("?");
    let state = match raw.parse() {
        Ok(SessionState::Live) => t(Msg::StateLive, &[]),
        Ok(SessionState::Ended) => t(Msg::StateEnded, &[]),
        Err(_) => raw.to_owned(),
    };
    let mut s = t(
        Msg::SessionTitle,
        &[
            ("label", &session["label"].as_str().unwrap_or("?")),
            ("state", &state),
            ("seller", &session["seller"].as_str().unwrap_or("?")),
        ],
    );
    s.push('\n');
    for (k, label) in [
        ("accepted", Msg::LabelAccepted),
        ("duplicate", Msg::LabelDuplicate),
        ("rejected", Msg::LabelRejected),
        ("waved", Msg::LabelWaved),
        ("packed", Msg::LabelPacked),
        ("cancelled", Msg::LabelCancelled),
    ] {
        s.push_str(&format!("  {:<12}{:>8}\n", t(label, &[]), n(k)));
    }
    let label = t(Msg::LabelAtRisk, &[]);
    match at_risk {
        Ok(AtRiskList {
            listed: list,
            unlisted,
        }) => {
            let total = list.len() as u64 + unlisted;
            s.push_str(&format!("  {label:<12}{total:>8}\n"));
            let rows: Vec<[String; 3]> = list
                .iter()
                .map(|r| {
                    // Server entries carry `order_id` and `status`; outlook entries `id`.
                    let id = r["order_id"]
                        .as_str()
                        .or_else(|| r["id"]["order_id"].as_str())
                        .unwrap_or("?");
                    [
                        id.to_owned(),
                        order_status_text(r["status"].as_str().unwrap_or("received")),
                        risk_reason_text(r["reason"].as_str().unwrap_or("?")),
                    ]
                })
                .collect();
            // Columns aligned: each padded to its longest (in characters).
            let width = |c: usize| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
            let (wi, ws, ww) = (width(0), width(1), width(2));
            for (r, [id, status, why]) in list.iter().zip(&rows) {
                s.push_str(&format!(
                    "    {}\n",
                    t(
                        Msg::AtRiskLine,
                        &[
                            ("id", &format!("{id:<wi$}")),
                            ("status", &format!("{status:<ws$}")),
                            ("why", &format!("{why:<ww$}")),
                            ("pickup", &vn_time(r["pickup_at"].as_str())),
                            ("deadline", &vn_time(r["deadline"].as_str())),
                        ]
                    )
                ));
            }
            if *unlisted > 0 {
                let n = unlisted.to_string();
                s.push_str(&format!("    {}\n", t(Msg::AtRiskUnlisted, &[("n", &n)])));
            }
        }
        Err(why) => s.push_str(&format!("  {label:<12}{:>8}   ({why})\n", "?")),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn session_table_with_the_sellers_at_risk_orders() {
        let session = json!({"label":"live-1","seller":"a","state":"live","accepted":3,
            "duplicate":1,"rejected":0,"waved":2,"packed":1});
        let outlook = json!({"at_risk":[
            {"id":{"seller":"a","order_id":"TT-1"},"session":"live-1","reason":"not_enough_capacity",
             "pickup_at":"2026-11-22T10:00:00Z","deadline":"2026-11-22T13:00:00Z"},
            {"id":{"seller":"a","order_id":"TT-9"},"session":"other","reason":"x",
             "pickup_at":"","deadline":""},
            {"id":{"seller":"b","order_id":"X"},"session":"live-1","reason":"x","pickup_at":"",
             "deadline":""}],
            "at_risk_by_session":{"a":{"live-1":1,"other":1},"b":{"live-1":1}}});
        // Only this session's orders (not the seller's other sessions', not another
        // seller's session of the same name).
        let list = at_risk_of(&outlook, Some("a"), "live-1");
        assert_eq!(list.listed.len(), 1);
        assert_eq!(list.unlisted, 0);
        let s = render(&session, &Ok(list));
        assert!(s.contains("accepted           3"), "{s}");
        assert!(s.contains("at-risk            1"), "{s}");
        assert!(!s.contains("more, not listed"), "{s}");
        assert!(
            s.contains("TT-1  received  not enough packing capacity"),
            "{s}"
        );
        // Times as the hub reads them: Vietnam time.
        assert!(
            s.contains("pickup 17:00 22/11  deadline 20:00 22/11"),
            "{s}"
        );
        let s = render(&session, &Err("pass --site".into()));
        assert!(s.contains("(pass --site"), "{s}");
    }

    #[test]
    fn waved_at_risk_orders_from_the_server_count_once() {
        let session = json!({"label":"l","seller":"a","state":"ended","at_risk_orders":[
            {"order_id":"TT-1","status":"waved","reason":"overdue",
             "pickup_at":"2026-11-22T10:00:00Z","deadline":"2026-11-21T13:00:00Z"}]});
        let pending = AtRiskList {
            listed: vec![
                json!({"id":{"seller":"a","order_id":"TT-1"},"reason":"x"}),
                json!({"id":{"seller":"a","order_id":"TT-2"},"reason":"not_enough_capacity"}),
            ],
            unlisted: 0,
        };
        let list = merge_at_risk(&session, Ok(pending)).unwrap();
        assert_eq!(list.listed.len(), 2);
        let s = render(&session, &Ok(list));
        assert!(s.contains("at-risk            2"), "{s}");
        // Columns aligned across ids, statuses and reasons of different lengths.
        assert!(s.contains("TT-1  waved     overdue"), "{s}");
        assert!(
            s.contains("TT-2  received  not enough packing capacity"),
            "{s}"
        );
        let at = |id: &str| {
            let line = s.lines().find(|l| l.contains(id)).unwrap();
            line[..line.find("pickup").unwrap()].chars().count()
        };
        assert_eq!(at("TT-1"), at("TT-2"), "{s}");
        // Without the outlook, the server's waved list still counts.
        let list = merge_at_risk(&session, Err("no site".into())).unwrap();
        assert_eq!(list.listed.len(), 1);
    }

    #[test]
    fn at_risk_orders_counted_beyond_the_listed_ones_are_said() {
        // The server lists 1 of 3 waved ones; the outlook 1 of the session's 1,500 pending.
        let session = json!({"label":"l","seller":"a","state":"ended","at_risk_waved":3,
            "at_risk_orders":[{"order_id":"TT-1","status":"waved","reason":"overdue"}]});
        let outlook = json!({"at_risk":[
            {"id":{"seller":"a","order_id":"TT-2"},"session":"l","reason":"not_enough_capacity"}],
            "at_risk_by_session":{"a":{"l":1500}}});
        let pending = at_risk_of(&outlook, Some("a"), "l");
        assert_eq!(pending.unlisted, 1499);
        let list = merge_at_risk(&session, Ok(pending)).unwrap();
        assert_eq!((list.listed.len(), list.unlisted), (2, 1501));
        let s = render(&session, &Ok(list));
        assert!(s.contains("at-risk         1503"), "{s}");
        assert!(s.contains("and 1501 more, not listed"), "{s}");
        // An outlook of an older build names no session: the seller's entries count.
        let old = json!({"at_risk":[{"id":{"seller":"a","order_id":"TT-3"},"reason":"x"}]});
        assert_eq!(at_risk_of(&old, Some("a"), "l").listed.len(), 1);
    }
}
