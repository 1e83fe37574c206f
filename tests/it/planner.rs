//! Planning end to end against real Redis: ingest → waves → picks → packed, with
//! cancellations before and after waving, and a planner killed mid-run.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

async fn api(
    app_addr: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    TestClient::new(app_addr, OPERATOR)
        .call(method, path, body)
        .await
}

/// Sends orders in frames of 100 and returns when all are acked.
async fn ingest(app: &TestApp, session: &str, orders: Vec<Value>) {
    let ws = connect(app, TOKEN_A, session).await;
    let (mut tx, mut rx) = ws.split();
    let frames: Vec<Value> = orders
        .chunks(100)
        .enumerate()
        .map(|(i, c)| json!({"type": "orders", "seq": i, "orders": c}))
        .collect();
    let n = frames.len();
    let sender = tokio::spawn(async move {
        for f in frames {
            tx.send(Message::Text(f.to_string().into())).await.unwrap();
        }
        tx
    });
    let mut acked = 0;
    while acked < n {
        let msg = tokio::time::timeout(Duration::from_secs(30), rx.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            let r: Value = serde_json::from_str(t.as_str()).unwrap();
            assert_eq!(r["type"], "ack", "{r}");
            assert!(
                r["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|x| x["status"] == "accepted"),
                "{r}"
            );
            acked += 1;
        }
    }
    let _ = sender.await;
}

async fn end_session(app: &TestApp, session: &str) {
    let mut ws = connect(app, TOKEN_A, session).await;
    send(&mut ws, &json!({"type": "end_session", "seq": 1})).await;
    assert_eq!(recv(&mut ws).await["type"], "ack");
}

/// Orders: ~10 % of buyers order twice or more.
fn orders(prefix: &str, n: u64) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let buyer = 100_000 + i + u64::from(i % 10 == 0);
            let mut o = order(&format!("{prefix}-{i}"), buyer);
            if i % 3 == 0 {
                o["items"][0]["sku"] = json!("TEA-SHAN-100");
            }
            o
        })
        .collect()
}

/// Every wave of the site over the next three business days: id → wave view.
async fn all_waves(addr: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for d in 0..3 {
        let date = vn_date(d);
        let (s, list) = api(
            addr,
            reqwest::Method::GET,
            &format!("/v1/sites/{SITE}/waves?date={date}"),
            None,
        )
        .await;
        assert_eq!(s, 200, "{list}");
        for w in list["waves"].as_array().unwrap() {
            let id = w["wave_id"].as_str().unwrap();
            let (s, view) = api(addr, reqwest::Method::GET, &format!("/v1/waves/{id}"), None).await;
            assert_eq!(s, 200);
            out.insert(id.to_owned(), view);
        }
    }
    out
}

async fn session_waved(addr: &str, session: &str) -> u64 {
    let path = format!("/v1/sessions/{session}?seller={SELLER_A}");
    api(addr, reqwest::Method::GET, &path, None).await.1["waved"]
        .as_u64()
        .unwrap_or(0)
}

/// Each live order in exactly one parcel of exactly one wave; no cancelled order on any
/// parcel; pick lists add up to the parcels' items.
fn check_waves(
    waves: &BTreeMap<String, Value>,
    live: &BTreeSet<String>,
    cancelled: &BTreeSet<String>,
) {
    let mut seen = BTreeSet::new();
    for (id, w) in waves {
        let mut per_sku: BTreeMap<String, u64> = BTreeMap::new();
        for p in w["parcels"].as_array().unwrap() {
            if p["status"] == "cancelled" {
                continue;
            }
            for o in p["order_ids"].as_array().unwrap() {
                let o = o.as_str().unwrap().to_owned();
                assert!(
                    !cancelled.contains(&o),
                    "cancelled order {o} still in parcel of {id}"
                );
                assert!(seen.insert(o.clone()), "order {o} in two parcels");
            }
            for i in p["items"].as_array().unwrap() {
                *per_sku
                    .entry(i["sku"].as_str().unwrap().to_owned())
                    .or_default() += i["qty"].as_u64().unwrap();
            }
        }
        let pick: BTreeMap<String, u64> = w["pick_list"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["qty"].as_u64().unwrap() > 0)
            .map(|l| {
                (
                    l["sku"].as_str().unwrap().to_owned(),
                    l["qty"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(pick, per_sku, "pick list of {id} equals its parcels' items");
        let bins: Vec<&str> = w["pick_list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["bin"].as_str().unwrap())
            .collect();
        let mut sorted = bins.clone();
        sorted.sort_by_key(|b| (*b == "UNASSIGNED", b.to_string()));
        assert_eq!(bins, sorted, "pick list sorted by bin, UNASSIGNED last");
    }
    assert_eq!(&seen, live, "every live order in exactly one wave");
}

/// The seller cancels one of its orders (the buyer changed their mind).
async fn seller_cancels(app: &TestApp, order_id: &str) {
    let (code, r) = app
        .client(TOKEN_A)
        .post_json(
            &format!("/v1/orders/{order_id}/cancel"),
            json!({"reason": "buyer_cancelled"}),
        )
        .await;
    assert_eq!(r["status"], "cancelled", "{order_id}: {code} {r}");
}

fn planner_config(redis_url: &str, enabled: bool) -> livepack::Config {
    test_config(redis_url, &format!("[planner]\nenabled = {enabled}\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_orders_with_cancellations_end_session_waves_and_packing() {
    let redis = TestRedis::start().await;
    // Ingest with no planner running, cancel 2.5 % before any wave exists.
    let quiet = TestApp::spawn_with(planner_config(&redis.url(), false)).await;
    let all = orders("SAT", 3000);
    ingest(&quiet, "sat-live", all.clone()).await;
    let mut cancelled = BTreeSet::new();
    for i in (0..3000).step_by(40) {
        let id = format!("SAT-{i}");
        let (s, r) = api(
            &quiet.addr.to_string(),
            reqwest::Method::POST,
            &format!("/v1/orders/{id}/cancel"),
            None,
        )
        .await;
        assert_eq!(
            (s, r["error"]["code"].as_str()),
            (403, Some("seller_only")),
            "operator cannot cancel"
        );
        seller_cancels(&quiet, &id).await;
        cancelled.insert(id);
    }
    quiet.stop().await;

    let app = TestApp::spawn_with(planner_config(&redis.url(), true)).await;
    let addr = app.addr.to_string();
    let live_count = 3000 - cancelled.len() as u64;
    let started = Instant::now();
    end_session(&app, "sat-live").await;
    eventually(20, "every live order waved after end_session", || {
        let addr = addr.clone();
        async move { session_waved(&addr, "sat-live").await == live_count }
    })
    .await;
    eprintln!(
        "end_session → all {live_count} orders waved in {:?}",
        started.elapsed()
    );

    // Cancel 2.5 % more, now that they are waved.
    for i in (20..3000).step_by(40) {
        let id = format!("SAT-{i}");
        seller_cancels(&app, &id).await;
        cancelled.insert(id);
    }
    let live: BTreeSet<String> = all
        .iter()
        .map(|o| o["order_id"].as_str().unwrap().to_owned())
        .filter(|id| !cancelled.contains(id))
        .collect();
    eventually(20, "cancelled orders leave their waves", || {
        let addr = addr.clone();
        let n = live.len() as u64;
        async move { session_waved(&addr, "sat-live").await == n }
    })
    .await;
    let waves = all_waves(&addr).await;
    assert!(!waves.is_empty());
    check_waves(&waves, &live, &cancelled);

    // The floor: pick every line of the first wave (a resent pick counts once), pack every parcel.
    let (wave_id, wave) = waves.iter().next().unwrap();
    let line = &wave["pick_list"][0];
    let (sku, qty) = (line["sku"].as_str().unwrap(), line["qty"].as_u64().unwrap());
    let over = api(
        &addr,
        reqwest::Method::POST,
        &format!("/v1/waves/{wave_id}/picks"),
        Some(json!({"pick_id": "over-1", "sku": sku, "qty": qty + 1})),
    )
    .await;
    assert_eq!(
        (over.0, over.1["error"]["code"].as_str()),
        (409, Some("over_pick"))
    );
    for (n, l) in wave["pick_list"].as_array().unwrap().iter().enumerate() {
        let body = json!({"pick_id": format!("pick-{n}"), "sku": l["sku"], "qty": l["qty"]});
        for expect in ["counted", "duplicate"] {
            let (s, r) = api(
                &addr,
                reqwest::Method::POST,
                &format!("/v1/waves/{wave_id}/picks"),
                Some(body.clone()),
            )
            .await;
            assert_eq!((s, r["result"].as_str()), (200, Some(expect)), "{r}");
        }
    }
    let (_, after) = api(
        &addr,
        reqwest::Method::GET,
        &format!("/v1/waves/{wave_id}"),
        None,
    )
    .await;
    assert_eq!(after["status"], "packing");
    assert_eq!(after["qty_picked"], after["qty_total"]);
    let mut packed_orders = Vec::new();
    for p in after["parcels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == "open")
    {
        let id = p["parcel_id"].as_str().unwrap();
        for _ in 0..2 {
            let (s, r) = api(
                &addr,
                reqwest::Method::POST,
                &format!("/v1/parcels/{id}/packed"),
                None,
            )
            .await;
            assert_eq!((s, r["status"].as_str()), (200, Some("packed")));
        }
        packed_orders.extend(
            p["order_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o.as_str().unwrap().to_owned()),
        );
    }
    let (_, done) = api(
        &addr,
        reqwest::Method::GET,
        &format!("/v1/waves/{wave_id}"),
        None,
    )
    .await;
    assert_eq!(done["status"], "done");
    for id in &packed_orders {
        let (_, o) = api(
            &addr,
            reqwest::Method::GET,
            &format!("/v1/orders/{id}?seller={SELLER_A}"),
            None,
        )
        .await;
        assert_eq!(o["status"], "packed");
        assert_eq!(o["wave_id"].as_str(), Some(wave_id.as_str()));
    }
    let (_, s) = api(
        &addr,
        reqwest::Method::GET,
        &format!("/v1/sessions/sat-live?seller={SELLER_A}"),
        None,
    )
    .await;
    assert_eq!(s["packed"].as_u64(), Some(packed_orders.len() as u64));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planner_killed_mid_run_and_restarted_still_waves_each_order_once() {
    let redis = TestRedis::start().await;
    let quiet = TestApp::spawn_with(planner_config(&redis.url(), false)).await;
    let all = orders("KP", 3000);
    ingest(&quiet, "kp", all.clone()).await;
    end_session(&quiet, "kp").await;

    // A planner in its own process, killed (SIGKILL) as soon as it has committed a wave.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("p.toml");
    // Small waves, so that the kill lands between commits.
    let site = r#"
[[sites]]
id = "hoa-lu-hub"
name = "HTX Hoa Lư packing hub"
pickups = ["11:00", "17:00"]
station_pin = "246813"
carriers = ["viettel-post"]
province = "Ninh Bình"
wave_min = 5
wave_max = 20
"#;
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[redis]\nurl = \"{}\"\n{site}",
            redis.url()
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
        .env("LIVEPACK_CONFIG", &cfg)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let qaddr = quiet.addr.to_string();
    eventually(30, "the first waves committed", || {
        let a = qaddr.clone();
        async move { session_waved(&a, "kp").await > 0 }
    })
    .await;
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let waved_at_kill = session_waved(&qaddr, "kp").await;
    quiet.stop().await;

    // Another instance takes the site over once the dead holder's lease expires.
    let app = TestApp::spawn_with(planner_config(&redis.url(), true)).await;
    let addr = app.addr.to_string();
    eventually(30, "every order waved after the takeover", || {
        let a = addr.clone();
        async move { session_waved(&a, "kp").await == 3000 }
    })
    .await;
    eprintln!("waved before the kill: {waved_at_kill} of 3000");
    let live: BTreeSet<String> = all
        .iter()
        .map(|o| o["order_id"].as_str().unwrap().to_owned())
        .collect();
    check_waves(&all_waves(&addr).await, &live, &BTreeSet::new());
    app.stop().await;
}

/// A planner that died holding read-ahead entries leaves them delivered but not acked; the
/// next holder claims them all at once (here 1,001 entries naming 10,000 orders, ten an
/// entry: more than one Lua call can take, so a batch's orders go to several absorb
/// scripts) and must still wave every order once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_claiming_ten_thousand_unacked_entries_waves_every_order_once() {
    let (redis, all) = ended_backlog("RA", "ra", 10_000).await;

    // The dead planner: every entry delivered to it, none acked.
    let delivered = deliver_to_dead_consumer(&redis).await;
    assert_eq!(
        delivered.len(),
        1_001,
        "10,000 orders ten an entry, and the session's end"
    );

    let app = TestApp::spawn_with(planner_config(&redis.url(), true)).await;
    each_waved_once_and_acked(&redis, &app, "ra", &all).await;
    app.stop().await;
}

/// An entry naming several orders, one of them unreadable (here never stored): its other
/// orders are waved all the same, and the entry is retried, then dead-lettered whole,
/// leaving nothing unacked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_naming_an_unreadable_order_still_waves_its_other_orders() {
    let redis = TestRedis::start().await;
    let quiet = TestApp::spawn_with(planner_config(&redis.url(), false)).await;
    let all = orders("UE", 3);
    ingest(&quiet, "ue", all.clone()).await;
    let stream = livepack::store::keys::stream(SITE);
    let mut c = redis.conn().await;
    let _: () = redis::pipe()
        .del(&stream)
        .ignore()
        .cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg(&["t", "o", "s", SELLER_A, "ids", "UE-0 UE-GONE UE-1 UE-2"])
        .ignore()
        .query_async(&mut c)
        .await
        .unwrap();
    end_session(&quiet, "ue").await;
    quiet.stop().await;

    let app = TestApp::spawn_with(planner_config(&redis.url(), true)).await;
    each_waved_once(&app, "ue", &all).await;
    let dead = livepack::store::keys::dead_letters(SITE);
    eventually(60, "the entry dead-lettered", || {
        let (mut c, dead) = (c.clone(), dead.clone());
        async move {
            redis::AsyncCommands::xlen::<_, u64>(&mut c, &dead)
                .await
                .unwrap_or(0)
                == 1
        }
    })
    .await;
    let entries: redis::streams::StreamRangeReply = redis::AsyncCommands::xrange_all(&mut c, &dead)
        .await
        .unwrap();
    assert_eq!(
        entries.ids[0].get::<String>("ids").as_deref(),
        Some("UE-0 UE-GONE UE-1 UE-2")
    );
    assert_eq!(unacked(&redis).await, 0, "every entry acked");
    app.stop().await;
}

/// A batch of orders alone read by a running planner is taken (one script reads and
/// absorbs its orders): an entry naming an order never stored, or one whose stored data is
/// damaged (not JSON, or packed and cut short), is retried, then dead-lettered, its
/// readable orders pending and waved all the same; a damaged order does not stay in Redis'
/// pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_taken_whole_dead_letters_entries_naming_unreadable_orders() {
    let redis = TestRedis::start().await;
    let quiet = TestApp::spawn_with(planner_config(&redis.url(), false)).await;
    let all = orders("TU", 5);
    ingest(&quiet, "tu", all.clone()).await;
    quiet.stop().await;
    let stream = livepack::store::keys::stream(SITE);
    let mut c = redis.conn().await;
    // TU-3 and TU-4 are stored, but their data is damaged; TU-GONE was never stored.
    let _: () = redis::pipe()
        .hset(
            livepack::store::keys::order(SITE, SELLER_A, "TU-3"),
            "data",
            "{not json",
        )
        .ignore()
        .hset(
            livepack::store::keys::order(SITE, SELLER_A, "TU-4"),
            "data",
            &b"\x06 a packed order cut short"[..],
        )
        .ignore()
        .del(&stream)
        .ignore()
        .cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg(&["t", "o", "s", SELLER_A, "ids", "TU-0 TU-GONE TU-1"])
        .ignore()
        .cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg(&["t", "o", "s", SELLER_A, "ids", "TU-2 TU-3"])
        .ignore()
        .cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg(&["t", "o", "s", SELLER_A, "id", "TU-4"])
        .ignore()
        .query_async(&mut c)
        .await
        .unwrap();

    let app = TestApp::spawn_with(planner_config(&redis.url(), true)).await;
    let dead = livepack::store::keys::dead_letters(SITE);
    eventually(60, "the three entries dead-lettered", || {
        let (mut c, dead) = (c.clone(), dead.clone());
        async move {
            redis::AsyncCommands::xlen::<_, u64>(&mut c, &dead)
                .await
                .unwrap_or(0)
                == 3
        }
    })
    .await;
    assert_eq!(unacked(&redis).await, 0, "every entry acked");
    let in_pending: Vec<String> =
        redis::AsyncCommands::hkeys(&mut c, livepack::store::keys::pending(SITE))
            .await
            .unwrap();
    for id in ["TU-3", "TU-4"] {
        let damaged = livepack::store::keys::pending_field(SELLER_A, id);
        assert!(
            !in_pending.contains(&damaged),
            "a damaged order is not left pending: {in_pending:?}"
        );
    }
    // Ended now: every readable order is waved (its entries dead-lettered or not).
    end_session(&app, "tu").await;
    each_waved_once(&app, "tu", &all[..3]).await;
    app.stop().await;
}

/// A backlog of entries naming orders alone, read new by a planner that was not running:
/// each full batch is taken while the next is read, and that one, orders alone too, is
/// taken beside it (a round's read-ahead); every order waved once, every entry acked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_orders_alone_is_taken_beside_the_batch_before_and_waved_once() {
    let redis = TestRedis::start().await;
    let quiet = TestApp::spawn_with(planner_config(&redis.url(), false)).await;
    let all = orders("TB", 3_500);
    ingest(&quiet, "tb", all.clone()).await;
    quiet.stop().await;
    // 3,500 entries: the first two batches of 1,000 hold orders alone.
    one_entry_per_order(&redis).await;

    let app = TestApp::spawn_with(planner_config(&redis.url(), true)).await;
    end_session(&app, "tb").await;
    each_waved_once_and_acked(&redis, &app, "tb", &all).await;
    app.stop().await;
}

/// The take script over more orders than one Lua `unpack` takes: per order its data when
/// it is pending now (`None` when the data cannot be unpacked), `NotReceived` for one
/// cancelled since it was stored, `Missing` for one never stored; refused, changing
/// nothing, for a planner whose fencing token is stale. `unpend` takes an order out again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn take_puts_orders_still_received_in_pending_and_answers_their_data() {
    use livepack::store::waves::TakenOrder;
    let redis = TestRedis::start().await;
    let quiet = TestApp::spawn_with(planner_config(&redis.url(), false)).await;
    ingest(&quiet, "tk", orders("TK", 1_200)).await;
    seller_cancels(&quiet, "TK-1").await;
    quiet.stop().await;

    let store = store_of(&redis).await;
    let mut c = redis.conn().await;
    let _: () = redis::pipe()
        .set(livepack::store::keys::fence(SITE), "7")
        .ignore()
        .hset(
            livepack::store::keys::order(SITE, SELLER_A, "TK-5"),
            "data",
            &b"\x06 a packed order cut short"[..],
        )
        .ignore()
        .query_async(&mut c)
        .await
        .unwrap();
    let mut ids: Vec<String> = (0..1_200).map(|i| format!("TK-{i}")).collect();
    ids.push("TK-GONE".into());
    let refs: Vec<(&str, &str)> = ids.iter().map(|o| (SELLER_A, o.as_str())).collect();
    let pending = livepack::store::keys::pending(SITE);
    let refused = store.take_orders(SITE, "6", &refs).await.unwrap_err();
    assert!(livepack::store::waves::is_fenced(&refused), "{refused}");
    let n: usize = redis::AsyncCommands::hlen(&mut c, &pending).await.unwrap();
    assert_eq!(n, 0, "nothing pending by a fenced planner");

    let got = store.take_orders(SITE, "7", &refs).await.unwrap();
    assert_eq!(got.len(), 1_201);
    for (i, id) in [(0, "TK-0"), (1_199, "TK-1199")] {
        let TakenOrder::Pending(Some(json)) = &got[i] else {
            panic!("{id} is pending with its data: {:?}", got[i]);
        };
        let data: Value = serde_json::from_str(json).unwrap();
        assert_eq!(data["order"]["order_id"], id);
    }
    assert_eq!(got[1], TakenOrder::NotReceived, "cancelled since");
    assert_eq!(
        got[5],
        TakenOrder::Pending(None),
        "its data cannot be unpacked"
    );
    assert_eq!(got[1_200], TakenOrder::Missing, "never stored");
    let taken = got
        .iter()
        .filter(|o| matches!(o, TakenOrder::Pending(_)))
        .count();
    assert_eq!(taken, 1_199);
    let n: usize = redis::AsyncCommands::hlen(&mut c, &pending).await.unwrap();
    assert_eq!(n, 1_199, "every order still received is pending");
    let field = |id| livepack::store::keys::pending_field(SELLER_A, id);
    let cancelled: bool = redis::AsyncCommands::hexists(&mut c, &pending, field("TK-1"))
        .await
        .unwrap();
    assert!(!cancelled, "a cancelled order is not pending");

    store.unpend(SITE, &[field("TK-5")]).await.unwrap();
    let n: usize = redis::AsyncCommands::hlen(&mut c, &pending).await.unwrap();
    assert_eq!(n, 1_198);
    let left: bool = redis::AsyncCommands::hexists(&mut c, &pending, field("TK-5"))
        .await
        .unwrap();
    assert!(!left, "unpend takes the order out");
}

/// A fresh Redis holding `n` orders of an ended session, taken in with no planner running:
/// a backlog for the planner that starts next.
async fn ended_backlog(prefix: &str, session: &str, n: u64) -> (TestRedis, Vec<Value>) {
    let redis = TestRedis::start().await;
    let quiet = TestApp::spawn_with(planner_config(&redis.url(), false)).await;
    let all = orders(prefix, n);
    ingest(&quiet, session, all.clone()).await;
    end_session(&quiet, session).await;
    quiet.stop().await;
    (redis, all)
}

/// Waits until every order of `session` (all of `all`) is waved, then checks each is in
/// exactly one wave and no stream entry is left unacked.
async fn each_waved_once_and_acked(redis: &TestRedis, app: &TestApp, session: &str, all: &[Value]) {
    each_waved_once(app, session, all).await;
    assert_eq!(unacked(redis).await, 0, "every entry acked");
}

/// Waits until every order of `session` (all of `all`) is waved, then checks each is in
/// exactly one wave.
async fn each_waved_once(app: &TestApp, session: &str, all: &[Value]) {
    let addr = app.addr.to_string();
    let n = all.len() as u64;
    eventually(90, "every order waved", || {
        let (a, s) = (addr.clone(), session.to_owned());
        async move { session_waved(&a, &s).await == n }
    })
    .await;
    let live: BTreeSet<String> = all
        .iter()
        .map(|o| o["order_id"].as_str().unwrap().to_owned())
        .collect();
    check_waves(&all_waves(&addr).await, &live, &BTreeSet::new());
}

/// Entries of the site stream delivered to some planner and not acked.
async fn unacked(redis: &TestRedis) -> usize {
    let mut c = redis.conn().await;
    let pel: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
        .arg(livepack::store::keys::stream(SITE))
        .arg(livepack::store::waves::GROUP)
        .query_async(&mut c)
        .await
        .unwrap();
    pel.count()
}

/// Writes the site stream again with one entry per order (the form builds before issue
/// 20's twenty-fifth session wrote, and a frame's order alone still takes), in order; no
/// consumer group exists yet.
async fn one_entry_per_order(redis: &TestRedis) {
    let stream = livepack::store::keys::stream(SITE);
    let mut c = redis.conn().await;
    let entries: redis::streams::StreamRangeReply =
        redis::AsyncCommands::xrange_all(&mut c, &stream)
            .await
            .unwrap();
    let mut pipe = redis::pipe();
    pipe.del(&stream).ignore();
    for e in &entries.ids {
        let livepack::store::stream::Entry::Orders { seller, order_ids } =
            livepack::store::stream::decode(e)
        else {
            panic!("only orders expected: {e:?}");
        };
        for id in &order_ids {
            pipe.cmd("XADD")
                .arg(&stream)
                .arg("*")
                .arg(&["t", "o", "s", &seller, "id", id])
                .ignore();
        }
    }
    let _: () = pipe.query_async(&mut c).await.unwrap();
}

/// Creates the planner's group and delivers every entry of the site's stream to a consumer
/// that never acks (a planner that died); returns the entry ids in stream order.
async fn deliver_to_dead_consumer(redis: &TestRedis) -> Vec<String> {
    let stream = livepack::store::keys::stream(SITE);
    let group = livepack::store::waves::GROUP;
    let mut c = redis.conn().await;
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&stream)
        .arg(group)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(&mut c)
        .await
        .unwrap();
    let read: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(group)
        .arg("dead-planner")
        .arg("COUNT")
        .arg(100_000)
        .arg("STREAMS")
        .arg(&stream)
        .arg(">")
        .query_async(&mut c)
        .await
        .unwrap();
    read.keys
        .into_iter()
        .flat_map(|k| k.ids)
        .map(|e| e.id)
        .collect()
}

async fn store_of(redis: &TestRedis) -> livepack::store::Store {
    let cfg = livepack::Config::from_toml("").unwrap();
    livepack::store::Store::connect(&cfg.redis, &redis.url())
        .await
        .unwrap()
}

/// The absorb script over more ids than one Lua `unpack` takes: every entry acked, and per
/// order whether it is pending now (an order cancelled after the planner read it is not);
/// refused, changing nothing, for a planner whose fencing token is stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absorb_acks_thousands_of_entries_and_leaves_out_orders_cancelled_since() {
    let redis = TestRedis::start().await;
    let quiet = TestApp::spawn_with(planner_config(&redis.url(), false)).await;
    ingest(&quiet, "ab", orders("AB", 8_200)).await;
    one_entry_per_order(&redis).await;
    let ids = deliver_to_dead_consumer(&redis).await;
    assert_eq!(ids.len(), 8_200);
    // Cancelled after the planner read it: stored as cancelled, its cancel entry later.
    seller_cancels(&quiet, "AB-7").await;
    quiet.stop().await;

    let store = store_of(&redis).await;
    let order_ids: Vec<String> = (0..8_200).map(|i| format!("AB-{i}")).collect();
    let refs: Vec<(&str, &str)> = order_ids.iter().map(|o| (SELLER_A, o.as_str())).collect();
    let mut c = redis.conn().await;
    let _: () = redis::cmd("SET")
        .arg(livepack::store::keys::fence(SITE))
        .arg("7")
        .query_async(&mut c)
        .await
        .unwrap();
    // A planner whose token is stale changes nothing.
    let refused = store.absorb(SITE, "6", &ids, &refs).await.unwrap_err();
    assert!(livepack::store::waves::is_fenced(&refused), "{refused}");
    assert_eq!(
        unacked(&redis).await,
        8_200,
        "nothing acked by a fenced planner"
    );

    let pending = store.absorb(SITE, "7", &ids, &refs).await.unwrap();
    assert_eq!(pending.len(), 8_200);
    let not_pending: Vec<&str> = order_ids
        .iter()
        .zip(&pending)
        .filter(|(_, p)| !**p)
        .map(|(o, _)| o.as_str())
        .collect();
    assert_eq!(not_pending, ["AB-7"]);

    assert_eq!(
        unacked(&redis).await,
        0,
        "all 8,200 entries acked (Lua's unpack takes 8,000 at most)"
    );
    let in_pending: usize = redis::cmd("HLEN")
        .arg(livepack::store::keys::pending(SITE))
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(in_pending, 8_199);
}

/// While the planner holds entries read ahead, a claim takes only the stale entries before
/// them, in stream order (the held ones look idle too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_before_held_entries_takes_only_the_earlier_ones_in_order() {
    let redis = TestRedis::start().await;
    let quiet = TestApp::spawn_with(planner_config(&redis.url(), false)).await;
    ingest(&quiet, "cb", orders("CB", 1_200)).await;
    quiet.stop().await;
    one_entry_per_order(&redis).await;
    let ids = deliver_to_dead_consumer(&redis).await;
    assert_eq!(ids.len(), 1_200);

    let store = store_of(&redis).await;
    let held_from = &ids[1_100];
    let claimed = store
        .claim_stale_before(SITE, "me", 0, held_from)
        .await
        .unwrap();
    let claimed: Vec<&str> = claimed.iter().map(|e| e.id.as_str()).collect();
    let expected: Vec<&str> = ids[..1_100].iter().map(String::as_str).collect();
    assert_eq!(
        claimed, expected,
        "the 1,100 before the held ones, in order"
    );
    let mut c = redis.conn().await;
    let left: redis::streams::StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(livepack::store::keys::stream(SITE))
        .arg(livepack::store::waves::GROUP)
        .arg("-")
        .arg("+")
        .arg(1_000)
        .arg("dead-planner")
        .query_async(&mut c)
        .await
        .unwrap();
    let left: Vec<&str> = left.ids.iter().map(|p| p.id.as_str()).collect();
    let expected: Vec<&str> = ids[1_100..].iter().map(String::as_str).collect();
    assert_eq!(left, expected, "the held ones stay where they were");
}

/// Another instance takes the lease again and again while the planner works through a
/// backlog (as after a stall longer than the lease): the planner's commits are fenced, its
/// read-ahead dropped, and each time it gets the site back it reloads and claims. Every
/// order still ends in exactly one wave, and no entry is left unacked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_lost_again_and_again_mid_backlog_still_wave_every_order_once() {
    use redis::AsyncCommands;
    let (redis, all) = ended_backlog("LL", "ll", 12_000).await;

    let app = TestApp::spawn_with(planner_config(&redis.url(), true)).await;
    let addr = app.addr.to_string();
    // The thief: what another instance's lease script does once the lease has lapsed.
    let lease = livepack::store::keys::lease(SITE);
    let fence = livepack::store::keys::fence(SITE);
    let mut c = redis.conn().await;
    let mut mid_backlog = 0;
    for _ in 0..8 {
        // Once the planner holds the site again, let it work a moment, then take it.
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let holder: Option<String> = c.get(&lease).await.unwrap();
            if holder.is_some_and(|h| h != "thief") {
                break;
            }
            assert!(
                Instant::now() < until,
                "the planner never took the site back"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        if session_waved(&addr, "ll").await < 12_000 {
            mid_backlog += 1;
        }
        let _: () = c.del(&lease).await.unwrap();
        let _: () = c.pset_ex(&lease, "thief", 300).await.unwrap();
        let _: i64 = c.incr(&fence, 1).await.unwrap();
    }
    assert!(
        mid_backlog > 0,
        "no theft happened while orders were still unwaved"
    );
    each_waved_once_and_acked(&redis, &app, "ll", &all).await;
    app.stop().await;
}

/// A site's pending orders are read in `HSCAN` pages (one `HKEYS` of 300,000 held Redis for
/// 128 ms): every field once, across many pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_orders_are_read_whole_in_pages() {
    let redis = TestRedis::start().await;
    let store = store_of(&redis).await;
    assert!(store.pending(SITE).await.unwrap().is_empty());
    let mut c = redis.conn().await;
    let want: Vec<String> = (0..9_001)
        .map(|i| livepack::store::keys::pending_field(SELLER_A, &format!("P-{i}")))
        .collect();
    for chunk in want.chunks(1_000) {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(livepack::store::keys::pending(SITE));
        for f in chunk {
            cmd.arg(f).arg("1");
        }
        let _: i64 = cmd.query_async(&mut c).await.unwrap();
    }
    let mut got = store.pending(SITE).await.unwrap();
    got.sort();
    let mut want = want;
    want.sort();
    assert_eq!(got.len(), 9_001);
    assert_eq!(got, want);
}
