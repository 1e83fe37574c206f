//! Ingest guarantees against a real redis-server: every order acked is stored once.

use crate::common;

use std::collections::{HashMap, HashSet};

use common::*;
use futures_util::{SinkExt, StreamExt};
use livepack::store::keys;
use redis::AsyncCommands;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Sends every frame without waiting, reads every reply; returns replies in arrival order.
async fn burst(ws: Ws, frames: Vec<Value>) -> Vec<Value> {
    let n = frames.len();
    let (mut tx, mut rx) = ws.split();
    let sender = tokio::spawn(async move {
        for f in frames {
            tx.send(Message::Text(f.to_string().into())).await.unwrap();
        }
        tx
    });
    let mut replies = Vec::with_capacity(n);
    while replies.len() < n {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(30), rx.next())
            .await
            .expect("reply within 30 s")
            .expect("open")
            .expect("no error");
        if let Message::Text(t) = msg {
            replies.push(serde_json::from_str::<Value>(t.as_str()).unwrap());
        }
    }
    let _ = sender.await;
    replies
}

fn statuses(replies: &[Value]) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for r in replies {
        for res in r["results"].as_array().into_iter().flatten() {
            *out.entry(res["status"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_3000_is_acked_in_order_and_stored_once_and_resend_is_all_duplicate() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let frames: Vec<Value> = (0..3000)
        .map(|i| json!({"type": "order", "seq": i, "order": order(&format!("TT-{i}"), i)}))
        .collect();

    let replies = burst(connect(&app, TOKEN_A, "sat-market-1").await, frames.clone()).await;
    let seqs: Vec<i64> = replies.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (0..3000).collect::<Vec<_>>(),
        "one reply per frame, in order"
    );
    assert!(replies.iter().all(|r| r["type"] == "ack"));
    assert_eq!(statuses(&replies).get("accepted"), Some(&3000));
    assert_eq!(redis.order_keys(SITE).await.len(), 3000);
    assert_eq!(redis.stream_orders(SITE).await, 3000);

    let again = burst(connect(&app, TOKEN_A, "sat-market-1").await, frames).await;
    assert_eq!(statuses(&again).get("duplicate"), Some(&3000));
    assert_eq!(
        redis.order_keys(SITE).await.len(),
        3000,
        "nothing new stored"
    );
    assert_eq!(redis.stream_orders(SITE).await, 3000);

    let session: Value = reqwest::Client::new()
        .get(app.http("/v1/sessions/sat-market-1"))
        .bearer_auth(TOKEN_A)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["accepted"], 3000);
    assert_eq!(session["duplicate"], 3000);
    assert_eq!(session["state"], "live");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_connections_with_overlapping_ids_store_each_id_once() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let mut tasks = Vec::new();
    for c in 0..20u64 {
        let ws = connect(&app, TOKEN_A, "overlap").await;
        // Connection c sends ids c*50 .. c*50+200: each id is sent by up to 4 connections.
        let frames: Vec<Value> = (0..4)
            .map(|f| {
                let orders: Vec<Value> = (0..50)
                    .map(|k| {
                        let id = c * 50 + f * 50 + k;
                        order(&format!("OV-{id}"), id)
                    })
                    .collect();
                json!({"type": "orders", "seq": f, "orders": orders})
            })
            .collect();
        tasks.push(tokio::spawn(burst(ws, frames)));
    }
    let mut accepted = HashSet::new();
    let mut answered = 0;
    for t in tasks {
        let replies = t.await.unwrap();
        assert_eq!(replies.len(), 4, "every frame answered");
        for r in &replies {
            for res in r["results"].as_array().unwrap() {
                answered += 1;
                if res["status"] == "accepted" {
                    assert!(
                        accepted.insert(res["order_id"].as_str().unwrap().to_owned()),
                        "accepted twice"
                    );
                } else {
                    assert_eq!(res["status"], "duplicate");
                }
            }
        }
    }
    let distinct = 19 * 50 + 200;
    assert_eq!(answered, 20 * 200);
    assert_eq!(accepted.len(), distinct);
    assert_eq!(redis.order_keys(SITE).await.len(), distinct);
    assert_eq!(redis.stream_orders(SITE).await, distinct);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_contracts_answers_and_the_connection_survives() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let mut ws = connect(&app, TOKEN_A, "bad-input").await;

    ws.send(Message::Text("not json".into())).await.unwrap();
    let r = recv(&mut ws).await;
    assert_eq!(
        (r["type"].as_str(), r["seq"].is_null(), r["code"].as_str()),
        (Some("error"), true, Some("malformed_frame"))
    );

    send(
        &mut ws,
        &json!({"type": "order", "order": order("NO-SEQ", 1)}),
    )
    .await;
    let r = recv(&mut ws).await;
    assert_eq!(
        (r["seq"].is_null(), r["code"].as_str()),
        (true, Some("malformed_frame"))
    );

    send(&mut ws, &json!({"type": "dance", "seq": 1})).await;
    let r = recv(&mut ws).await;
    assert_eq!(
        (r["seq"].as_i64(), r["code"].as_str()),
        (Some(1), Some("unknown_type"))
    );

    let many: Vec<Value> = (0..600).map(|i| order(&format!("MANY-{i}"), i)).collect();
    send(
        &mut ws,
        &json!({"type": "orders", "seq": 2, "orders": many}),
    )
    .await;
    let r = recv(&mut ws).await;
    assert_eq!(
        (r["seq"].as_i64(), r["code"].as_str()),
        (Some(2), Some("too_many_orders"))
    );

    let mut o101 = order("ITEMS-101", 1);
    let item = o101["items"][0].clone();
    o101["items"] = json!(vec![item; 101]);
    let mut qty0 = order("QTY-0", 2);
    qty0["items"][0]["qty"] = json!(0);
    let mut neg = order("NEG", 3);
    neg["items"][0]["unit_price"] = json!("-185000");
    let mut phone = order("PHONE", 4);
    phone["buyer"]["phone"] = json!("12345");
    let good = order("GOOD-1", 5);
    send(
        &mut ws,
        &json!({"type": "orders", "seq": 3, "orders": [o101, qty0, neg, phone, good]}),
    )
    .await;
    let r = recv(&mut ws).await;
    assert_eq!(r["type"], "ack");
    let got: Vec<(String, String, String)> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["status"].as_str().unwrap().to_owned(),
                x["error"]["code"].as_str().unwrap_or("").to_owned(),
                x["error"]["field"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let want = [
        ("rejected", "too_many_items", "items"),
        ("rejected", "invalid_qty", "items[0].qty"),
        ("rejected", "negative_money", "items[0].unit_price"),
        ("rejected", "invalid_phone", "buyer.phone"),
        ("accepted", "", ""),
    ];
    assert_eq!(
        got,
        want.map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    );
    // A stored order sent again with content that would be rejected (a broken phone, a COD
    // no buyer pays) is a duplicate: `rejected` means not stored (contract §1), and it is.
    // A new order rejected the same way stays rejected; the session counts what was said.
    let mut again = order("GOOD-1", 5);
    again["buyer"]["phone"] = json!("123");
    let mut again_cod = order("GOOD-1", 5);
    again_cod["cod_amount"] = json!("999999999");
    let mut fresh = order("NEW-BAD", 6);
    fresh["buyer"]["phone"] = json!("123");
    send(
        &mut ws,
        &json!({"type": "orders", "seq": 4, "orders": [again, again_cod, fresh]}),
    )
    .await;
    let r = recv(&mut ws).await;
    let statuses: Vec<&str> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["duplicate", "duplicate", "rejected"], "{r}");
    // Checked ids among new orders: every answer still names its own order.
    let mut stale = order("GOOD-1", 5);
    stale["buyer"]["phone"] = json!("123");
    send(
        &mut ws,
        &json!({"type": "orders", "seq": 7, "orders": [order("MIX-1", 9), stale, order("MIX-2", 10)]}),
    )
    .await;
    let mixed = recv(&mut ws).await;
    let answers: Vec<(&str, &str)> = mixed["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["order_id"].as_str().unwrap(),
                x["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        answers,
        [
            ("MIX-1", "accepted"),
            ("GOOD-1", "duplicate"),
            ("MIX-2", "accepted")
        ],
        "{mixed}"
    );
    assert!(r["results"][0]["error"].is_null(), "{r}");
    assert_eq!(r["results"][2]["error"]["field"], "buyer.phone", "{r}");
    let (_, session) = app.client(TOKEN_A).get_json("/v1/sessions/bad-input").await;
    assert_eq!(
        (
            &session["accepted"],
            &session["duplicate"],
            &session["rejected"]
        ),
        (&json!(3), &json!(3), &json!(5)),
        "{session}"
    );

    // An order is an object (serde would read a struct from an array, by position), and a
    // frame says `order` or `orders`, not both (one of them would go unanswered).
    let positional = json!(["ARR-1", "tiktok", placed_at_minutes_ago(5)]);
    send(
        &mut ws,
        &json!({"type": "order", "seq": 5, "order": positional}),
    )
    .await;
    let r = recv(&mut ws).await;
    assert_eq!(
        (
            r["results"][0]["status"].as_str(),
            r["results"][0]["error"]["code"].as_str()
        ),
        (Some("rejected"), Some("invalid_type")),
        "{r}"
    );
    send(
        &mut ws,
        &json!({"type": "order", "seq": 6, "order": order("BOTH-1", 7), "orders": [order("BOTH-2", 8)]}),
    )
    .await;
    let r = recv(&mut ws).await;
    assert_eq!(
        (r["type"].as_str(), r["code"].as_str(), r["field"].as_str()),
        (Some("error"), Some("malformed_frame"), Some("orders")),
        "{r}"
    );

    ws.send(Message::Binary(vec![1u8, 2, 3].into()))
        .await
        .unwrap();
    let r = recv(&mut ws).await;
    assert_eq!(
        (r["type"].as_str(), r["code"].as_str()),
        (Some("error"), Some("binary_frame"))
    );

    send(&mut ws, &json!({"type": "ping", "seq": 9})).await;
    assert_eq!(
        recv(&mut ws).await,
        json!({"type": "pong", "seq": 9}),
        "connection still serves"
    );

    // Over 256 KiB: the connection is closed with 1009; what was accepted stays.
    let big = "x".repeat(300 * 1024);
    ws.send(Message::Text(
        format!("{{\"type\":\"ping\",\"seq\":10,\"pad\":\"{big}\"}}").into(),
    ))
    .await
    .unwrap();
    let closed = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Close(Some(f)))) => break u16::from(f.code),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(closed, 1009);
    assert_eq!(redis.order_keys(SITE).await.len(), 3);

    // The service still serves others.
    let mut other = connect(&app, TOKEN_B, "after-bad").await;
    send(&mut other, &json!({"type": "ping", "seq": 1})).await;
    assert_eq!(recv(&mut other).await["type"], "pong");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_needs_a_seller_token_and_a_valid_label() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let status = |e: tokio_tungstenite::tungstenite::Error| match e {
        tokio_tungstenite::tungstenite::Error::Http(r) => r.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    };
    let no_token = try_connect(&app.ws_url("s1"), None).await.unwrap_err();
    assert_eq!(status(no_token), 401);
    let wrong = try_connect(&app.ws_url("s1"), Some("demo-seller-nope-nope-nope"))
        .await
        .unwrap_err();
    assert_eq!(status(wrong), 401);
    let operator = try_connect(&app.ws_url("s1"), Some(OPERATOR))
        .await
        .unwrap_err();
    assert_eq!(
        status(operator),
        401,
        "the operator token is not a seller token"
    );
    let bad_label = try_connect(&app.ws_url("has%20space"), Some(TOKEN_A))
        .await
        .unwrap_err();
    assert_eq!(status(bad_label), 400);
    let long = "x".repeat(65);
    assert_eq!(
        status(
            try_connect(&app.ws_url(&long), Some(TOKEN_A))
                .await
                .unwrap_err()
        ),
        400
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_stored_after_redis_forgets_the_ingest_script() {
    // The ingest call is an EVALSHA built by hand: when Redis answers NOSCRIPT (a restart
    // without the script cache, or SCRIPT FLUSH), the script is loaded and the call re-run.
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let mut ws = connect(&app, TOKEN_A, "evening").await;
    let mut conn = crate::svc::redis_conn(&redis.url()).await;
    for (seq, id) in [(1, "F-1"), (2, "F-2")] {
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut conn)
            .await
            .unwrap();
        send(
            &mut ws,
            &json!({"type": "order", "seq": seq, "order": order(id, 1)}),
        )
        .await;
        let r = recv(&mut ws).await;
        assert_eq!(
            (r["type"].as_str(), r["results"][0]["status"].as_str()),
            (Some("ack"), Some("accepted")),
            "{r}"
        );
        let (status, stored) = app
            .client(TOKEN_A)
            .get_json(&format!("/v1/orders/{id}"))
            .await;
        assert_eq!(status, 200, "{stored}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_session_and_cancel_are_answered() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let mut ws = connect(&app, TOKEN_A, "evening").await;
    send(
        &mut ws,
        &json!({"type": "order", "seq": 1, "order": order("C-1", 1)}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["results"][0]["status"], "accepted");
    for seq in [2, 3] {
        send(
            &mut ws,
            &json!({"type": "cancel", "seq": seq, "order_id": "C-1", "reason": "buyer_cancelled"}),
        )
        .await;
        let r = recv(&mut ws).await;
        assert_eq!(
            (r["seq"].as_i64(), r["results"][0]["status"].as_str()),
            (Some(seq), Some("cancelled"))
        );
    }
    send(
        &mut ws,
        &json!({"type": "cancel", "seq": 4, "order_id": "NOPE"}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["results"][0]["status"], "unknown");
    // An id no order can have (dots alone: a URL dot segment) is an error naming it.
    send(
        &mut ws,
        &json!({"type": "cancel", "seq": 40, "order_id": ".."}),
    )
    .await;
    let r = recv(&mut ws).await;
    assert_eq!(
        (r["type"].as_str(), r["seq"].as_i64()),
        (Some("error"), Some(40)),
        "{r}"
    );
    assert_eq!(r["code"], "invalid_order_id", "{r}");
    send(&mut ws, &json!({"type": "end_session", "seq": 5})).await;
    let r = recv(&mut ws).await;
    assert_eq!(
        (r["type"].as_str(), r["seq"].as_i64()),
        (Some("ack"), Some(5))
    );
    let (_, session) = app.client(TOKEN_A).get_json("/v1/sessions/evening").await;
    assert_eq!(session["state"], "ended");
    let (_, order) = app.client(TOKEN_A).get_json("/v1/orders/C-1").await;
    assert_eq!(order["status"], "cancelled");
    // The HTTP route, as the frame: a malformed id is a 400 naming it, not `unknown`.
    for bad in ["a%20b", "%C3%A9", "...", &"x".repeat(65)] {
        let path = format!("/v1/orders/{bad}/cancel");
        let (status, r) = app.client(TOKEN_A).post_json(&path, json!({})).await;
        assert_eq!(status, 400, "{bad}: {r}");
        assert_eq!(r["error"]["code"], "invalid_order_id", "{bad}: {r}");
    }
    app.stop().await;
}

/// The same order sent twice on one connection without waiting: the first frame's copy is
/// `accepted` and stored, the later one `duplicate`, however small the later frame is (a
/// frame of one order behind a frame of 200 could reach Redis first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_behind_its_first_frame_never_overtakes_it() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let mut ws = connect(&app, TOKEN_A, "overtake").await;
    let trials = 20;
    for t in 0..trials {
        let orders: Vec<Value> = (0..200).map(|i| order(&format!("F{t}-{i}"), i)).collect();
        let mut changed = order(&format!("F{t}-199"), 199);
        changed["note"] = json!("changed");
        send(
            &mut ws,
            &json!({"type": "orders", "seq": 2 * t, "orders": orders}),
        )
        .await;
        send(
            &mut ws,
            &json!({"type": "order", "seq": 2 * t + 1, "order": changed}),
        )
        .await;
    }
    for t in 0..trials {
        let big = recv(&mut ws).await;
        assert_eq!(big["seq"], 2 * t, "{big}");
        assert_eq!(big["results"][199]["status"], "accepted", "trial {t}");
        let small = recv(&mut ws).await;
        assert_eq!(small["seq"], 2 * t + 1, "{small}");
        assert_eq!(
            small["results"][0]["status"], "duplicate",
            "trial {t}: {small}"
        );
        let (_, stored) = app
            .client(TOKEN_A)
            .get_json(&format!("/v1/orders/F{t}-199"))
            .await;
        assert_ne!(
            stored["order"]["note"], "changed",
            "trial {t}: the first version wins"
        );
    }
    app.stop().await;
}

/// `livepack_orders_cancelled_total` counts each order once, by frame or by HTTP: a repeated
/// cancel answers `cancelled` again, uncounted. (Its own site: the metric is per site and
/// the recorder is shared by the tests of this process.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_is_counted_once_however_it_came() {
    const HUB: &str = "cancel-count-hub";
    const SHOP: &str = "cancel-count-shop";
    const TOKEN: &str = "cancel-count-shop-token-0123456789";
    let redis = TestRedis::start().await;
    let extra = format!(
        "[operator]\ntoken = \"{OPERATOR}\"\n\
         [[sites]]\nid = \"{HUB}\"\nname = \"Cancel count hub\"\npickups = [\"11:00\", \"17:00\"]\n\
         station_pin = \"246813\"\ncarriers = [\"viettel-post\"]\nphone = \"02293888999\"\n\
         province = \"Ninh Bình\"\nward = \"Phường Hoa Lư\"\nstreet = \"Thôn Văn Lâm\"\n\
         [[sellers]]\nid = \"{SHOP}\"\nname = \"Shop\"\nsite = \"{HUB}\"\ntoken = \"{TOKEN}\"\n"
    );
    let app = TestApp::spawn_with(test_config(&redis.url(), &extra)).await;
    let counted = || async {
        let text = app.metrics_text().await;
        crate::svc::metric_sum(
            &text,
            "livepack_orders_cancelled_total",
            &[&format!("site=\"{HUB}\"")],
        )
    };
    let mut ws = connect(&app, TOKEN, "counted").await;
    send_accepted(&mut ws, &[order("K-1", 1), order("K-2", 2)]).await;
    for seq in [10, 11] {
        send(
            &mut ws,
            &json!({"type": "cancel", "seq": seq, "order_id": "K-1"}),
        )
        .await;
        assert_eq!(recv(&mut ws).await["results"][0]["status"], "cancelled");
    }
    assert_eq!(
        counted().await,
        1.0,
        "a repeated cancel frame is not counted again"
    );
    for _ in 0..2 {
        let (status, r) = app
            .client(TOKEN)
            .post_json("/v1/orders/K-2/cancel", json!({}))
            .await;
        assert_eq!(
            (status, r["status"].as_str()),
            (200, Some("cancelled")),
            "{r}"
        );
    }
    assert_eq!(
        counted().await,
        2.0,
        "two orders cancelled, each counted once"
    );
    // The session counts them too, once each, beside its accepted orders.
    let (status, s) = app.client(TOKEN).get_json("/v1/sessions/counted").await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(
        (s["accepted"].as_u64(), s["cancelled"].as_u64()),
        (Some(2), Some(2)),
        "{s}"
    );
    app.stop().await;
}

/// Frames sent without waiting for replies act in arrival order: a cancel right behind its
/// order finds the order stored (before, it could run first and answer `unknown`, and the
/// order was packed), and an order right behind a cancel of its id is not cancelled by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_frames_act_in_arrival_order() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let mut ws = connect(&app, TOKEN_A, "pipelined").await;
    let n = 40;
    for i in 0..n {
        let (p, q) = (format!("P-{i}"), format!("Q-{i}"));
        let frames = [
            json!({"type": "order", "seq": 4 * i, "order": order(&p, i)}),
            json!({"type": "cancel", "seq": 4 * i + 1, "order_id": p, "reason": "buyer_cancelled"}),
            json!({"type": "cancel", "seq": 4 * i + 2, "order_id": q}),
            json!({"type": "order", "seq": 4 * i + 3, "order": order(&q, 100 + i)}),
        ];
        for f in &frames {
            send(&mut ws, f).await;
        }
    }
    let want = ["accepted", "cancelled", "unknown", "accepted"];
    for seq in 0..4 * n {
        let r = recv(&mut ws).await;
        assert_eq!(r["seq"], seq, "{r}");
        let k = (seq % 4) as usize;
        assert_eq!(r["results"][0]["status"], want[k], "seq {seq}: {r}");
    }
    let client = app.client(TOKEN_A);
    for i in 0..n {
        let (_, p) = client.get_json(&format!("/v1/orders/P-{i}")).await;
        assert_eq!(p["status"], "cancelled", "{p}");
        let (_, q) = client.get_json(&format!("/v1/orders/Q-{i}")).await;
        assert_eq!(q["status"], "received", "{q}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_answers_in_flight_frames_then_closes_with_1001() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let mut ws = connect(&app, TOKEN_A, "closing").await;
    for i in 0..50 {
        send(
            &mut ws,
            &json!({"type": "order", "seq": i, "order": order(&format!("G-{i}"), i)}),
        )
        .await;
    }
    let first = recv(&mut ws).await;
    assert_eq!(first["seq"], 0);
    app.shutdown.cancel();
    let mut answered = 1;
    let code = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(15), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Text(t))) => {
                let r: Value = serde_json::from_str(t.as_str()).unwrap();
                assert_eq!(r["seq"], answered);
                assert_eq!(r["type"], "ack");
                answered += 1;
            }
            Some(Ok(Message::Close(Some(f)))) => break u16::from(f.code),
            Some(Ok(_)) => continue,
            other => panic!("expected replies then a close frame, got {other:?}"),
        }
    };
    assert_eq!(code, 1001);
    // Every frame the server read was answered; whatever it answered is stored.
    assert_eq!(redis.order_keys(SITE).await.len() as i64, answered);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(15), app.handle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_stored_packed_and_plain_read_back_the_same() {
    // `redis.pack_documents` (on by default) stores an order's record zstd-packed; off, as JSON.
    // Either kind reads back the same through the API, whichever setting the reader has, and
    // a resend of either is a plain duplicate (the digest is of the order, not the bytes).
    let redis = TestRedis::start().await;
    let packed = TestApp::spawn(&redis.url()).await;
    let plain = TestApp::spawn_with(test_config(&redis.url(), "pack_documents = false")).await;
    let placed = placed_at_minutes_ago(5);
    let frame = |seq: i64, id: &str| {
        let mut o = order(id, 7);
        o["placed_at"] = json!(placed);
        json!({"type": "order", "seq": seq, "order": o})
    };
    for (app, id) in [(&packed, "PK-1"), (&plain, "PL-1")] {
        let mut ws = connect(app, TOKEN_A, "evening").await;
        send(&mut ws, &frame(1, id)).await;
        assert_eq!(recv(&mut ws).await["results"][0]["status"], "accepted");
    }
    let mut c = redis.conn().await;
    let mut stored = Vec::new();
    for id in ["PK-1", "PL-1"] {
        let raw: Vec<u8> = c
            .hget(keys::order(SITE, SELLER_A, id), "data")
            .await
            .unwrap();
        stored.push(raw);
    }
    assert_eq!(
        stored[0][0], 0x06,
        "packed: the order tag (zstd, trained dictionary)"
    );
    assert_eq!(stored[1][0], b'{', "plain: JSON");
    assert!(
        stored[0].len() * 10 < stored[1].len() * 7,
        "packed {} bytes, plain {}",
        stored[0].len(),
        stored[1].len()
    );
    let view = |v: Value| {
        let mut o = v["order"].clone();
        o["order_id"] = Value::Null;
        json!({"order": o, "normalized": v["ship_to_normalized"], "seller": v["seller"]})
    };
    for app in [&packed, &plain] {
        let (s1, a) = app.client(TOKEN_A).get_json("/v1/orders/PK-1").await;
        let (s2, b) = app.client(TOKEN_A).get_json("/v1/orders/PL-1").await;
        assert_eq!((s1, s2), (200, 200), "{a} {b}");
        assert_eq!(a["order"]["order_id"], "PK-1");
        assert_eq!(a["order"]["buyer"], order("PK-1", 7)["buyer"], "{a}");
        assert_eq!(view(a), view(b));
    }
    for (app, id) in [(&plain, "PK-1"), (&packed, "PL-1")] {
        let mut ws = connect(app, TOKEN_A, "evening").await;
        send(&mut ws, &frame(2, id)).await;
        assert_eq!(recv(&mut ws).await["results"][0]["status"], "duplicate");
    }
    packed.stop().await;
    plain.stop().await;
}

/// A key's time to live in ms (-1: none, -2: no such key).
async fn pttl(c: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(c).await.unwrap()
}

/// The archiver expires a session once every order it accepted is archived, so a session
/// begun with none accepted (every order rejected, or resends of orders gone from Redis)
/// was never expired: it expires on its own 30 days on, unless an order is accepted into it
/// (reviewer P).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_of_no_accepted_order_expires_on_its_own() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let mut ws = connect(&app, TOKEN_A, "none-yet").await;
    let mut bad = order("NS-1", 1);
    bad["buyer"]["phone"] = json!("12");
    send(&mut ws, &json!({"type": "order", "seq": 1, "order": bad})).await;
    assert_eq!(recv(&mut ws).await["results"][0]["status"], "rejected");
    let key = keys::session(SITE, SELLER_A, "none-yet");
    let mut c = redis.conn().await;
    let ttl = pttl(&mut c, &key).await;
    assert!(ttl > 29 * 86_400_000, "{ttl}");
    send(
        &mut ws,
        &json!({"type": "order", "seq": 2, "order": order("NS-2", 2)}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["results"][0]["status"], "accepted");
    let ttl = pttl(&mut c, &key).await;
    assert_eq!(ttl, -1, "kept until its orders are archived");
    // Ended before anything reached it: the same.
    let mut ws = connect(&app, TOKEN_A, "never-used").await;
    send(&mut ws, &json!({"type": "end_session", "seq": 1})).await;
    assert_eq!(recv(&mut ws).await["type"], "ack");
    let key = keys::session(SITE, SELLER_A, "never-used");
    let ttl = pttl(&mut c, &key).await;
    assert!(ttl > 29 * 86_400_000, "{ttl}");
    app.stop().await;
}
