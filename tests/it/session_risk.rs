//! A session's waved orders at risk (issue 20's fifteenth and twenty-second sessions): the
//! risk records the wave commit appends to the session's log
//! (`lp:{site}:s:{seller}:{label}:riskl`, one line per wave), the older builds' sorted sets
//! still read, pruning, and the planner's outlook once its queue is empty.

use crate::common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};

/// A session's waved orders at risk come from its log (one record per wave, `wave|ms id,id…`),
/// and still from the sorted sets older builds kept (the same records, one member per wave,
/// scored by its earliest time; before that one member per order); an order that can no
/// longer be at risk (cancelled) leaves all three at the next view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waved_orders_at_risk_read_from_the_log_and_the_older_sorted_sets() {
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

    // Stored as one record per wave in the session's log: every order once, under its time.
    let mut c = redis.conn().await;
    let key = format!("lp:{{{SITE}}}:s:{SELLER_A}:risk-day:riskl");
    let waves_key = format!("lp:{{{SITE}}}:s:{SELLER_A}:risk-day:riskw");
    let old_key = format!("lp:{{{SITE}}}:s:{SELLER_A}:risk-day:risk");
    let log = get(&mut c, &key).await.expect("the session's log");
    assert!(log.ends_with('\n'), "{log:?}");
    // (from when at risk, order id, its wave)
    let mut stored: Vec<(i64, String, String)> = Vec::new();
    for record in log.lines() {
        let (wave, groups) = record.split_once('|').expect("`wave|…`");
        assert!(wave.starts_with("W-"), "{record}");
        for group in groups.split(';') {
            let (ms, ids) = group.split_once(' ').expect("`ms id,id…`");
            let ms: i64 = ms.parse().unwrap();
            stored.extend(
                ids.split(',')
                    .map(|id| (ms, id.to_owned(), wave.to_owned())),
            );
        }
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

    // The same entries as the sorted set the oldest builds wrote (with each order's `w`, which
    // they also wrote): the same view.
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

    // Some in each of the three: RK-0 (overdue) and RK-3 (not yet) in one record of the log,
    // RK-2 (overdue) and RK-4 (not yet) in one member of the per-wave sorted set builds from
    // the fifteenth session to before the twenty-second wrote, RK-1 left in the oldest; the log and
    // the per-wave set expire (as the archiver leaves them).
    let entry = |id: &str| stored.iter().find(|(_, i, _)| i == id).unwrap().clone();
    let ((ms0, _, wave0), (ms2, _, wave2)) = (entry("RK-0"), entry("RK-2"));
    let (ms3, ms4) = (entry("RK-3").0, entry("RK-4").0);
    let _: i64 = redis::cmd("ZREM")
        .arg(&old_key)
        .arg(&["RK-0", "RK-2", "RK-3", "RK-4"][..])
        .query_async(&mut c)
        .await
        .unwrap();
    let _: i64 = redis::cmd("APPEND")
        .arg(&key)
        .arg(format!("{wave0}|{ms0} RK-0;{ms3} RK-3\n"))
        .query_async(&mut c)
        .await
        .unwrap();
    let _: i64 = redis::cmd("ZADD")
        .arg(&waves_key)
        .arg(ms2)
        .arg(format!("{wave2}|{ms2} RK-2;{ms4} RK-4"))
        .query_async(&mut c)
        .await
        .unwrap();
    for k in [&key, &waves_key] {
        let _: i64 = redis::cmd("PEXPIRE")
            .arg(k)
            .arg(3_600_000)
            .query_async(&mut c)
            .await
            .unwrap();
    }
    let (_, view) = client.get_json(path).await;
    assert_eq!(at_risk(&view), overdue, "{view}");

    // Cancelled orders leave the records at the next view, wherever they were.
    for id in ["RK-0", "RK-1", "RK-2"] {
        let (s, body) = client
            .post_json(
                &format!("/v1/orders/{id}/cancel"),
                json!({"reason": "buyer"}),
            )
            .await;
        assert_eq!(s, 200, "{id}: {body}");
    }
    eventually(30, "three cancelled orders no longer at risk", || async {
        client.get_json(path).await.1["at_risk_waved"] == 0
    })
    .await;
    // The log's record lost RK-0, the member RK-2 (scored by RK-4's time now); the expiries
    // stay.
    assert_eq!(
        get(&mut c, &key).await.as_deref(),
        Some(format!("{wave0}|{ms3} RK-3\n").as_str()),
        "the record replaced by what is left"
    );
    assert_eq!(
        with_scores(&mut c, &waves_key).await,
        [(format!("{wave2}|{ms4} RK-4"), ms4 as f64)],
        "the member replaced by what is left"
    );
    for k in [&key, &waves_key] {
        let ttl: i64 = redis::cmd("PTTL").arg(k).query_async(&mut c).await.unwrap();
        assert!(ttl > 0, "{k} keeps its expiry: {ttl}");
    }
    let score: Option<f64> = redis::AsyncCommands::zscore(&mut c, &old_key, "RK-1")
        .await
        .unwrap();
    assert_eq!(score, None, "pruned from the oldest sorted set too");
    app.stop().await;
}

/// The prune script replaces the start of a session's log only if it is still what the view
/// read: records appended after the read stay behind the replacement; a start another view
/// changed meanwhile is left; a log pruned to nothing goes.
#[tokio::test]
async fn pruning_the_log_keeps_what_was_appended_after_the_read() {
    let redis = TestRedis::start().await;
    let mut c = redis.conn().await;
    let script = redis::Script::new(include_str!("../../src/store/lua/risk_prune.lua"));
    let key = format!("lp:{{{SITE}}}:s:{SELLER_A}:prune:riskl");
    let (waves, old) = (format!("{key}w"), format!("{key}o"));
    let sha = |s: &str| hex::encode(<sha1::Sha1 as sha1::Digest>::digest(s.as_bytes()));
    let prune = |read: &str, left: &str| {
        let mut inv = script.prepare_invoke();
        inv.key(&key)
            .key(&waves)
            .key(&old)
            .arg(0)
            .arg(read.len())
            .arg(sha(read))
            .arg(left);
        inv
    };
    let read = "W-1|5 A,B\nW-2|7 C\n";
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(read)
        .arg("PX")
        .arg(3_600_000)
        .query_async(&mut c)
        .await
        .unwrap();
    // A wave commits after the view read the log.
    let _: i64 = redis::cmd("APPEND")
        .arg(&key)
        .arg("W-3|9 D\n")
        .query_async(&mut c)
        .await
        .unwrap();
    let _: i64 = prune(read, "W-1|5 A\n").invoke_async(&mut c).await.unwrap();
    assert_eq!(
        get(&mut c, &key).await.as_deref(),
        Some("W-1|5 A\nW-3|9 D\n")
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(ttl > 0, "the log keeps its expiry: {ttl}");
    // A second view that read the log before the first pruned it: its start has changed (the
    // log is longer than what it read again, so only the SHA-1 tells).
    let _: i64 = redis::cmd("APPEND")
        .arg(&key)
        .arg("W-4|2 E\n")
        .query_async(&mut c)
        .await
        .unwrap();
    let now = "W-1|5 A\nW-3|9 D\nW-4|2 E\n";
    assert!(now.len() > read.len());
    let _: i64 = prune(read, "").invoke_async(&mut c).await.unwrap();
    assert_eq!(get(&mut c, &key).await.as_deref(), Some(now));
    // Pruned to nothing: the key goes.
    let _: i64 = prune(now, "").invoke_async(&mut c).await.unwrap();
    assert_eq!(get(&mut c, &key).await, None);
}

/// More than one prune call's worth (1,000 ids, 200 changed members a call; 2,203 finished
/// here): every finished order leaves all three keys, whatever the split.
#[tokio::test]
async fn pruning_more_than_one_call_s_worth_leaves_nothing_finished() {
    use livepack::store::keys;
    let redis = TestRedis::start().await;
    let cfg = livepack::Config::from_toml("").unwrap();
    let store = livepack::store::Store::connect(&cfg.redis, &redis.url())
        .await
        .unwrap();
    let mut c = redis.conn().await;
    let label = "multi";
    let (log_key, waves_key, old_key) = (
        keys::session_risk(SITE, SELLER_A, label),
        keys::session_risk_waves(SITE, SELLER_A, label),
        keys::session_risk_zset(SITE, SELLER_A, label),
    );
    let ids: Vec<String> = (0..1001).map(|i| format!("L-{i}")).collect();
    let log = format!("W-1|0 {}\nW-2|0 KEEP\n", ids.join(","));
    let _: () = redis::cmd("SET")
        .arg(&log_key)
        .arg(&log)
        .query_async(&mut c)
        .await
        .unwrap();
    let members: Vec<String> = (0..201).map(|i| format!("M-{i}")).collect();
    let mut zadd = redis::cmd("ZADD");
    zadd.arg(&waves_key);
    for (i, id) in members.iter().enumerate() {
        zadd.arg(0).arg(format!("W-m{i}|0 {id}"));
    }
    let _: i64 = zadd.query_async(&mut c).await.unwrap();
    let olds: Vec<String> = (0..1001).map(|i| format!("O-{i}")).collect();
    let mut zadd = redis::cmd("ZADD");
    zadd.arg(&old_key);
    for id in &olds {
        zadd.arg(0).arg(id);
    }
    let _: i64 = zadd.query_async(&mut c).await.unwrap();

    let now = chrono::Utc::now().timestamp_millis();
    let due = store
        .session_risk_due(SITE, SELLER_A, label, now)
        .await
        .unwrap();
    assert_eq!(due.orders.len(), 1001 + 1 + 201 + 1001);
    let finished: Vec<&str> = due
        .orders
        .iter()
        .map(|(id, _)| id.as_str())
        .filter(|id| *id != "KEEP")
        .collect();
    store
        .session_risk_forget(SITE, SELLER_A, label, &due, &finished)
        .await
        .unwrap();
    assert_eq!(get(&mut c, &log_key).await.as_deref(), Some("W-2|0 KEEP\n"));
    for k in [&waves_key, &old_key] {
        let n: i64 = redis::cmd("EXISTS")
            .arg(k)
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 0, "{k} emptied");
    }
    let again = store
        .session_risk_due(SITE, SELLER_A, label, now)
        .await
        .unwrap();
    assert_eq!(again.orders, [("KEEP".to_owned(), Some("W-2".to_owned()))]);
}

/// A string key's value (`None`: no such key).
async fn get(c: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query_async(c).await.unwrap()
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
