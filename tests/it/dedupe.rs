//! Idempotency that outlives retention (contract §8): an order id once accepted is never
//! accepted again as new, even after its data left Redis — the archiver leaves a tombstone
//! (`lp:{site}:t:{seller}:{bucket}`: order id → short digest) that lives
//! `retention.dedupe_days` after the order is gone; `placed_at` older than that window is
//! rejected with `placed_at_too_old`. And what a tombstone costs in Redis memory.

use crate::common;
use livepack::store::keys;

use common::*;
use livepack::store::tombstones::DedupeWindow;
use redis::AsyncCommands;
use serde_json::{json, Value};

async fn api(addr: &str, token: &str, method: reqwest::Method, path: &str) -> (u16, String) {
    let resp = reqwest::Client::new()
        .request(method, format!("http://{addr}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// The changed-duplicate counter of seller A.
async fn changed_duplicates(addr: &str) -> f64 {
    let (_, text) = api(addr, OPERATOR, reqwest::Method::GET, "/metrics").await;
    text.lines()
        .find(|l| {
            l.starts_with("livepack_orders_duplicate_changed_total{")
                && l.contains(&format!("seller=\"{SELLER_A}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Seller A's `dedupe` session as `GET /v1/sessions/{label}` answers it.
async fn dedupe_session(addr: &str) -> Value {
    let (_, body) = api(
        addr,
        OPERATOR,
        reqwest::Method::GET,
        &format!("/v1/sessions/dedupe?seller={SELLER_A}"),
    )
    .await;
    serde_json::from_str(&body).unwrap()
}

/// Sends one `orders` frame and returns its results.
async fn send_orders(ws: &mut Ws, seq: i64, orders: &[Value]) -> Vec<Value> {
    send(ws, &json!({"type": "orders", "seq": seq, "orders": orders})).await;
    let reply = recv(ws).await;
    assert_eq!(reply["type"], "ack", "{reply}");
    assert_eq!(reply["seq"], seq);
    reply["results"].as_array().unwrap().clone()
}

fn statuses(results: &[Value]) -> Vec<String> {
    results
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_owned())
        .collect()
}

/// Cancels orders (a final status: the archiver archives them and lets them expire).
async fn cancel_all(addr: &str, ids: &[&str]) {
    for id in ids {
        let path = format!("/v1/orders/{id}/cancel");
        let (s, body) = api(addr, TOKEN_A, reqwest::Method::POST, &path).await;
        assert_eq!(s, 200, "cancel {id}: {body}");
    }
}

fn retention(extra: &str, archive: &std::path::Path) -> String {
    format!(
        "[retention]\nhot_secs = 1\nscan_secs = 1\narchive_dir = \"{}\"\n{extra}",
        archive.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_id_resent_after_its_retention_is_a_duplicate_and_not_stored_again() {
    // Reads a process-wide counter of a seller other areas' services also count.
    if in_own_process(
        module_path!(),
        "an_order_id_resent_after_its_retention_is_a_duplicate_and_not_stored_again",
    )
    .await
    {
        return;
    }
    let redis = TestRedis::start().await;
    let archive = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(test_config(&redis.url(), &retention("", archive.path()))).await;
    let addr = app.addr.to_string();
    let ids = ["DD-0", "DD-1", "DD-2", "DD-3"];
    let first: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| order(id, i as u64))
        .collect();
    let mut ws = connect(&app, TOKEN_A, "dedupe").await;
    assert_eq!(
        statuses(&send_orders(&mut ws, 1, &first).await),
        ["accepted"; 4]
    );
    cancel_all(&addr, &ids).await;

    // Archived, then gone from Redis one hot second later; the tombstones stay.
    eventually(30, "every order expired from Redis", || async {
        redis.order_keys(SITE).await.is_empty()
    })
    .await;
    let tombs = redis.keys_like(&format!("{}:t:*", keys::tag(SITE))).await;
    assert_eq!(tombs.len(), 1, "one bucket: {tombs:?}");
    let bucket = &tombs[0];
    // Cluster-safe: the site's hash tag, like every key the ingest script touches.
    assert!(
        bucket.starts_with(&format!("{}:t:{SELLER_A}:", keys::tag(SITE))),
        "{bucket}"
    );
    let mut c = redis.conn().await;
    let mut held: std::collections::HashMap<String, String> = c.hgetall(bucket).await.unwrap();
    // Each was cancelled: marked so beside its tombstone.
    for id in ids {
        assert_eq!(
            held.remove(&format!("c:{id}")).as_deref(),
            Some("1"),
            "{held:?}"
        );
    }
    assert_eq!(held.len(), 4);
    // The first 8 hex digits of the digest, after its mark.
    assert!(
        held.values().all(|v| v.len() == 9 && v.starts_with('x')),
        "{held:?}"
    );
    // It lives the 90-day window after the order left, at most one 30-day bucket more.
    let ttl: i64 = c.pttl(bucket).await.unwrap();
    let day = 86_400_000i64;
    assert!(ttl > 90 * day - 60_000 && ttl <= 120 * day, "pttl {ttl}");

    // Cancelling one again, by HTTP or by frame, answers `cancelled` as before it left
    // (not `unknown`, which a seller's tool reads as "never arrived").
    let (s, body) = api(
        &addr,
        TOKEN_A,
        reqwest::Method::POST,
        "/v1/orders/DD-0/cancel",
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("\"cancelled\""), "{body}");
    send(
        &mut ws,
        &json!({"type": "cancel", "seq": 90, "order_id": "DD-1"}),
    )
    .await;
    let r = recv(&mut ws).await;
    assert_eq!(r["results"][0]["status"], "cancelled", "{r}");
    let (_, body) = api(
        &addr,
        TOKEN_A,
        reqwest::Method::POST,
        "/v1/orders/NEVER-1/cancel",
    )
    .await;
    assert!(body.contains("\"unknown\""), "{body}");

    let stream_before = redis.stream_orders(SITE).await;
    let changed_before = changed_duplicates(&addr).await;
    // The same order (the seller's tool replays its backlog), and one with other content.
    let mut changed = first[1].clone();
    changed["note"] = json!("gọi trước khi giao");
    let nine = order("DD-9", 9);
    let again = send_orders(&mut ws, 2, &[first[0].clone(), changed, nine.clone()]).await;
    assert_eq!(statuses(&again), ["duplicate", "duplicate", "accepted"]);
    assert_eq!(again[0]["order_id"], "DD-0");

    // Nothing of the old ids was stored again: no order hash, no stream entry (so the
    // planner never sees them), only the new order's.
    assert_eq!(redis.stream_orders(SITE).await, stream_before + 1);
    for id in ["DD-0", "DD-1"] {
        let key = keys::order(SITE, SELLER_A, id);
        let exists: bool = c.exists(&key).await.unwrap();
        assert!(!exists, "{key} stored again");
        let (s, _) = api(
            &addr,
            TOKEN_A,
            reqwest::Method::GET,
            &format!("/v1/orders/{id}"),
        )
        .await;
        assert_eq!(s, 404);
    }
    let pending: Vec<String> = c.hkeys(keys::pending(SITE)).await.unwrap();
    assert!(
        pending
            .iter()
            .all(|f| !f.ends_with("/DD-0") && !f.ends_with("/DD-1")),
        "{pending:?}"
    );
    let changed_after = changed_duplicates(&addr).await;
    assert_eq!(
        changed_after - changed_before,
        1.0,
        "the changed resend is counted"
    );
    let session = dedupe_session(&addr).await;
    // The session's hash left Redis with its orders: its counters start again.
    assert_eq!(session["accepted"], 1, "{session}");
    assert_eq!(session["duplicate"], 2, "{session}");

    // One frame mixing every case the script tells apart while the seller has tombstones:
    // a live order (same content; also tombstoned with another digest), a tombstone (same
    // content), a new order sent twice in the frame, a live order with other content, a
    // tombstone with other content, and a tombstone resent again.
    // DD-9 is live; a tombstone of it with another digest must not win over the live order.
    let _: () = c.hset(bucket, "DD-9", "00000000").await.unwrap();
    let mut changed9 = nine.clone();
    changed9["note"] = json!("khác");
    let ten = order("DD-10", 10);
    let mut changed3 = first[3].clone();
    changed3["note"] = json!("khác");
    let mixed = send_orders(
        &mut ws,
        3,
        &[
            nine,
            first[2].clone(),
            ten.clone(),
            ten,
            changed9,
            changed3,
            first[0].clone(),
        ],
    )
    .await;
    assert_eq!(
        statuses(&mixed),
        [
            "duplicate",
            "duplicate",
            "accepted",
            "duplicate",
            "duplicate",
            "duplicate",
            "duplicate"
        ]
    );
    assert_eq!(redis.stream_orders(SITE).await, stream_before + 2);
    // Exactly the two with other content count as changed (a tombstone compared the wrong
    // way round would count the same-content ones instead: 4).
    assert_eq!(changed_duplicates(&addr).await - changed_before, 3.0);
    let session = dedupe_session(&addr).await;
    assert_eq!(session["accepted"], 2, "{session}");
    assert_eq!(session["duplicate"], 8, "{session}");

    // Digests an older build stored (SHA-256's hex digits, no mark) are of another kind: a
    // resend with other content compared with one counts as unchanged, live or tombstoned.
    let key10 = keys::order(SITE, SELLER_A, "DD-10");
    let _: () = c
        .hset(&key10, "dg", "0123456789abcdef01234567")
        .await
        .unwrap();
    let _: () = c.hset(bucket, "DD-2", "0123abcd").await.unwrap();
    let mut changed10 = order("DD-10", 10);
    changed10["note"] = json!("khác nữa");
    let mut changed2 = first[2].clone();
    changed2["note"] = json!("khác nữa");
    let older = send_orders(&mut ws, 4, &[changed10, changed2]).await;
    assert_eq!(statuses(&older), ["duplicate", "duplicate"]);
    assert_eq!(changed_duplicates(&addr).await - changed_before, 3.0);

    // Another seller's order with the same id is its own.
    let mut other = connect(&app, TOKEN_B, "dedupe-b").await;
    assert_eq!(
        statuses(&send_orders(&mut other, 1, &[order("DD-0", 1)]).await),
        ["accepted"]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placed_at_older_than_the_dedupe_window_is_rejected_naming_the_field() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn_with(test_config(
        &redis.url(),
        "[planner]\nenabled = false\n[retention]\ndedupe_days = 30\n",
    ))
    .await;
    let mut ws = connect(&app, TOKEN_A, "too-old").await;
    let mut old = order("OLD-1", 1);
    old["placed_at"] = json!(placed_at_minutes_ago(31 * 24 * 60));
    let mut recent = order("OLD-2", 2);
    recent["placed_at"] = json!(placed_at_minutes_ago(29 * 24 * 60));
    let results = send_orders(&mut ws, 1, &[old, recent]).await;
    assert_eq!(statuses(&results), ["rejected", "accepted"]);
    assert_eq!(results[0]["order_id"], "OLD-1");
    assert_eq!(results[0]["error"]["code"], "placed_at_too_old");
    assert_eq!(results[0]["error"]["field"], "placed_at");
    assert!(
        results[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("30 days"),
        "{}",
        results[0]
    );
    assert_eq!(
        redis.order_keys(SITE).await.len(),
        1,
        "the old one is not stored"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tombstone_expires_after_the_dedupe_window() {
    let redis = TestRedis::start().await;
    let archive = tempfile::tempdir().unwrap();
    // A 4-second window (a drill setting): the tombstone's bucket expires 4–8 s after
    // the order left Redis.
    let extra = retention("dedupe_secs = 4\n", archive.path());
    let app = TestApp::spawn_with(test_config(&redis.url(), &extra)).await;
    let addr = app.addr.to_string();
    let fresh = |id: &str| {
        let mut o = order(id, 3);
        o["placed_at"] = json!(placed_at_minutes_ago(0));
        o
    };
    let mut ws = connect(&app, TOKEN_A, "window").await;
    assert_eq!(
        statuses(&send_orders(&mut ws, 1, &[fresh("WIN-1")]).await),
        ["accepted"]
    );
    cancel_all(&addr, &["WIN-1"]).await;
    let pattern = format!("{}:t:{SELLER_A}:*", keys::tag(SITE));
    eventually(30, "the tombstone is written", || async {
        !redis.keys_like(&pattern).await.is_empty()
    })
    .await;
    let bucket = redis.keys_like(&pattern).await.remove(0);
    let mut c = redis.conn().await;
    let ttl: i64 = c.pttl(&bucket).await.unwrap();
    // Order expiry (≤ 1 s hot) + 4 s window, rounded up to the 4 s bucket.
    assert!(ttl > 0 && ttl <= 9_000, "pttl {ttl}");
    eventually(30, "the order and then its tombstone expired", || async {
        redis.order_keys(SITE).await.is_empty() && redis.keys_like(&pattern).await.is_empty()
    })
    .await;
    // Past the window the id is no longer known: a fresh order with it is new.
    assert_eq!(
        statuses(&send_orders(&mut ws, 2, &[fresh("WIN-1")]).await),
        ["accepted"]
    );
    app.stop().await;
}

/// Bytes per tombstone: `MEMORY USAGE` of a bucket holding 10,000 (order ids like the
/// platforms' and 8-hex-digit digests, as `retire.lua` writes them) ÷ 10,000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_per_tombstone() {
    const N: usize = 10_000;
    let redis = TestRedis::start().await;
    let mut c = redis.conn().await;
    let key = DedupeWindow::key(SITE, SELLER_A, 1_800_000_000_000);
    for chunk in (0..N).collect::<Vec<_>>().chunks(1000) {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(&key);
        for i in chunk {
            cmd.arg(format!("TT-5792301{i:05}"))
                .arg(format!("{:08x}", (*i as u32).wrapping_mul(2_654_435_761)));
        }
        let _: i64 = cmd.query_async(&mut c).await.unwrap();
    }
    let _: bool = c.pexpire(&key, 86_400_000).await.unwrap();
    let bytes: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(&key)
        .arg("SAMPLES")
        .arg(0)
        .query_async(&mut c)
        .await
        .unwrap();
    let per = bytes as f64 / N as f64;
    eprintln!(
        "bytes per tombstone: {per:.1} ({bytes} bytes for {N} in one bucket, order ids of 15 characters)"
    );
    // A tombstone lives from the retire (the order's hot period still running) to the
    // window after the order left, rounded up to its 30-day bucket: ≈ 30 + 90 + 15 days.
    eprintln!(
        "  per million order ids: {:.0} MiB; 800 streams x 3,000 orders (2.4 M) kept ~135 days: {:.0} MiB",
        per * 1e6 / (1u64 << 20) as f64,
        per * 2.4e6 / (1u64 << 20) as f64
    );
    assert!(per < 128.0, "a tombstone costs {per:.1} bytes");
}

/// A seller moved to another site in the config would find none of its orders there (their
/// ids live under the old site's keys): every resend accepted again, then planned and
/// shipped twice (reviewer P). The service refuses to start so, naming the field; and a
/// config without a site that still has orders to plan. As before, it starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seller_moved_to_another_site_or_a_site_dropped_with_orders_to_plan_is_refused() {
    const OTHER: &str = "tam-diep-ws";
    const GAO: (&str, &str) = ("gao-st25", "seller-gao-st25-token-0001");
    let redis = TestRedis::start().await;
    // `gao_at`: the site of seller gao, None: gao and site OTHER left out.
    let config = |gao_at: Option<&str>| {
        let mut s = format!("[planner]\nenabled = false\n[operator]\ntoken = \"{OPERATOR}\"\n");
        let sites: &[&str] = if gao_at.is_some() {
            &[SITE, OTHER]
        } else {
            &[SITE]
        };
        for site in sites {
            s.push_str(&format!(
                "[[sites]]\nid = \"{site}\"\nname = \"{site}\"\npickups = [\"11:00\", \"17:00\"]\n\
                 station_pin = \"246813\"\ncarriers = [\"viettel-post\"]\nphone = \"02293888999\"\n\
                 province = \"Ninh Bình\"\nward = \"Phường Hoa Lư\"\nstreet = \"Thôn Văn Lâm\"\n"
            ));
        }
        s.push_str(&format!(
            "[[sellers]]\nid = \"{SELLER_A}\"\nname = \"a\"\nsite = \"{SITE}\"\ntoken = \"{TOKEN_A}\"\n"
        ));
        if let Some(at) = gao_at {
            s.push_str(&format!(
                "[[sellers]]\nid = \"{}\"\nname = \"gao\"\nsite = \"{at}\"\ntoken = \"{}\"\n",
                GAO.0, GAO.1
            ));
        }
        test_config(&redis.url(), &s)
    };
    let push = |app: &TestApp| {
        let url = app.ws_url("gao-1");
        async move {
            let mut ws = try_connect(&url, Some(GAO.1)).await.unwrap();
            send(
                &mut ws,
                &json!({"type": "order", "seq": 1, "order": order("G-1", 7)}),
            )
            .await;
            recv(&mut ws).await["results"][0]["status"].clone()
        }
    };
    let app = TestApp::spawn_with(config(Some(OTHER))).await;
    await_ready(&app.http(""), 15).await;
    assert_eq!(push(&app).await, "accepted");
    app.stop().await;

    let refused = |app: TestApp| async move {
        let out = tokio::time::timeout(std::time::Duration::from_secs(20), app.handle)
            .await
            .expect("the start ends")
            .expect("not a panic");
        match out {
            Err(livepack::RunError::Bindings(why)) => why,
            other => panic!("refused at start: {other:?}"),
        }
    };
    let why = refused(TestApp::spawn_with(config(Some(SITE))).await).await;
    assert!(
        why.contains("sellers[1].site") && why.contains(OTHER),
        "{why}"
    );
    let why = refused(TestApp::spawn_with(config(None)).await).await;
    assert!(why.starts_with(&format!("sites: site '{OTHER}'")), "{why}");

    // As before: it starts, and the order is the one stored.
    let app = TestApp::spawn_with(config(Some(OTHER))).await;
    await_ready(&app.http(""), 15).await;
    assert_eq!(push(&app).await, "duplicate");
    app.stop().await;
}
