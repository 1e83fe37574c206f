//! A session's waved orders at risk (issue 20's fifteenth session): the risk entries the wave
//! commit writes (`lp:{site}:s:{seller}:{label}:riskw`, one sorted-set member per wave), the
//! older builds' sorted set still read, pruning, and the planner's outlook once its queue is
//! empty.

use crate::common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};

/// A session's waved orders at risk come from its risk entries (one sorted-set member per
/// wave, `wave|ms id,id…`, scored by its earliest time), and still from the sorted set of one
/// member per order that builds before issue 20's fifteenth session kept; an order that can
/// no longer be at risk (cancelled) leaves both at the next view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waved_orders_at_risk_read_from_the_risk_entries_and_the_old_sorted_set() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn_with(test_config(&redis.url(), "[planner]\nenabled = true\n")).await;
    // Three placed 30 hours ago (past their 24-hour deadline), two fresh.
    let orders: Vec<Value> = (0..5)
        .map(|i| {
            let mut o = order(&format!("RK-{i}"), 700 + i);
            if i < 3 {
                o["placed_at"] = placed_at_minutes_ago(30 * 60).into();
            }
            o
        })
        .collect();
    push_session(&app, TOKEN_A, "risk-day", &orders, 5).await;
    let path = "/v1/sessions/risk-day";
    let client = app.client(TOKEN_A);
    eventually(60, "all five waved", || async {
        client.get_json(path).await.1["waved"] == 5
    })
    .await;
    // The queue is empty: the outlook no longer lists what the last plan waved.
    let operator = app.client(OPERATOR);
    eventually(10, "an outlook of nothing pending", || async {
        let (s, o) = operator
            .get_json(&format!("/v1/sites/{SITE}/outlook"))
            .await;
        s == 200 && o["pending"] == 0 && o["at_risk"].as_array().is_some_and(Vec::is_empty)
    })
    .await;
    let at_risk = |v: &Value| -> BTreeSet<String> {
        v["at_risk_orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["order_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let overdue: BTreeSet<String> = (0..3).map(|i| format!("RK-{i}")).collect();
    let (s, view) = client.get_json(path).await;
    assert_eq!(s, 200, "{view}");
    assert_eq!(view["at_risk_waved"], 3, "{view}");
    assert_eq!(at_risk(&view), overdue);

    // Stored as one member per wave: every order once, under its time; the member's score is
    // its earliest time.
    let mut c = redis.conn().await;
    let key = format!("lp:{{{SITE}}}:s:{SELLER_A}:risk-day:riskw");
    let old_key = format!("lp:{{{SITE}}}:s:{SELLER_A}:risk-day:risk");
    let members = with_scores(&mut c, &key).await;
    assert!(!members.is_empty());
    // (from when at risk, order id, its wave)
    let mut stored: Vec<(i64, String, String)> = Vec::new();
    for (member, score) in &members {
        let (wave, groups) = member.split_once('|').expect("`wave|…`");
        assert!(wave.starts_with("W-"), "{member}");
        let mut earliest = i64::MAX;
        for group in groups.split(';') {
            let (ms, ids) = group.split_once(' ').expect("`ms id,id…`");
            let ms: i64 = ms.parse().unwrap();
            earliest = earliest.min(ms);
            stored.extend(
                ids.split(',')
                    .map(|id| (ms, id.to_owned(), wave.to_owned())),
            );
        }
        assert_eq!(*score as i64, earliest, "{member}");
    }
    stored.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        stored
            .iter()
            .map(|(_, id, _)| id.as_str())
            .collect::<Vec<_>>(),
        ["RK-0", "RK-1", "RK-2", "RK-3", "RK-4"]
    );
    let now_ms = chrono::Utc::now().timestamp_millis();
    for (ms, id, _) in &stored {
        assert_eq!(*ms <= now_ms, overdue.contains(id), "{id} at {ms}");
    }

    // The same entries as the sorted set older builds wrote (with each order's `w`, which they
    // also wrote): the same view.
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    let mut zadd = redis::cmd("ZADD");
    zadd.arg(&old_key);
    for (ms, id, wave) in &stored {
        zadd.arg(*ms).arg(id);
        let _: i64 = redis::cmd("HSET")
            .arg(format!("lp:{{{SITE}}}:o:{SELLER_A}:{id}"))
            .arg("w")
            .arg(wave)
            .query_async(&mut c)
            .await
            .unwrap();
    }
    let _: i64 = zadd.query_async(&mut c).await.unwrap();
    let (_, view) = client.get_json(path).await;
    assert_eq!(view["at_risk_waved"], 3, "{view}");
    assert_eq!(at_risk(&view), overdue);

    // Some in each: RK-0 (overdue) and RK-3 (not yet) back in one wave member, under their
    // times, the rest in the sorted set; the key expires (as the archiver leaves it).
    let ms_of = |id: &str| stored.iter().find(|(_, i, _)| i == id).unwrap().0;
    let (ms0, ms3) = (ms_of("RK-0"), ms_of("RK-3"));
    let wave0 = &stored.iter().find(|(_, i, _)| i == "RK-0").unwrap().2;
    let _: i64 = redis::cmd("ZREM")
        .arg(&old_key)
        .arg("RK-0")
        .arg("RK-3")
        .query_async(&mut c)
        .await
        .unwrap();
    let _: i64 = redis::cmd("ZADD")
        .arg(&key)
        .arg(ms0)
        .arg(format!("{wave0}|{ms0} RK-0;{ms3} RK-3"))
        .query_async(&mut c)
        .await
        .unwrap();
    let _: i64 = redis::cmd("PEXPIRE")
        .arg(&key)
        .arg(3_600_000)
        .query_async(&mut c)
        .await
        .unwrap();
    let (_, view) = client.get_json(path).await;
    assert_eq!(at_risk(&view), overdue, "{view}");

    // Cancelled orders leave the entries at the next view, wherever they were.
    for id in ["RK-0", "RK-1"] {
        let (s, body) = client
            .post_json(
                &format!("/v1/orders/{id}/cancel"),
                json!({"reason": "buyer"}),
            )
            .await;
        assert_eq!(s, 200, "{id}: {body}");
    }
    eventually(30, "two cancelled orders no longer at risk", || async {
        client.get_json(path).await.1["at_risk_waved"] == 1
    })
    .await;
    // The wave member lost RK-0: RK-3 is left, scored by its own time; the expiry stays.
    let members = with_scores(&mut c, &key).await;
    assert_eq!(
        members,
        [(format!("{wave0}|{ms3} RK-3"), ms3 as f64)],
        "the member replaced by what is left"
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(ttl > 0, "the key keeps its expiry: {ttl}");
    let score: Option<f64> = redis::AsyncCommands::zscore(&mut c, &old_key, "RK-1")
        .await
        .unwrap();
    assert_eq!(score, None, "pruned from the sorted set too");
    let left: Vec<String> = redis::AsyncCommands::zrange(&mut c, &old_key, 0, -1)
        .await
        .unwrap();
    assert_eq!(left, ["RK-2", "RK-4"].map(String::from));
    app.stop().await;
}

/// Every member of a sorted set with its score, lowest first.
async fn with_scores(c: &mut redis::aio::MultiplexedConnection, key: &str) -> Vec<(String, f64)> {
    redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(c)
        .await
        .unwrap()
}
