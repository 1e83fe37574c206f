//! Bad input at scale over real sockets (issue 10): 10,000 malformed, oversized, deeply
//! nested, wrong-typed and unicode-trick frames from a few connections. Every frame gets
//! exactly one reply, the right one; the process never panics and keeps serving others.

use crate::common;
use crate::svc;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use svc::*;
use tokio_tungstenite::tungstenite::Message;

/// What the server must answer to one frame.
#[derive(Debug, Clone)]
enum Expect {
    /// `{"type":"error","seq":…,"code":…}`
    Error(Option<i64>, &'static str),
    Pong(i64),
    /// An ack whose results are these statuses (`accepted`) or rejection codes, in order.
    Results(i64, Vec<&'static str>),
}

fn text(s: impl Into<String>) -> Message {
    Message::Text(s.into().into())
}

fn mutated(i: i64, f: impl FnOnce(&mut Value)) -> String {
    let mut o = order(&format!("AB-{i}"), i as u64);
    f(&mut o);
    o.to_string()
}

fn order_frame(i: i64, order: &str) -> Message {
    text(format!(r#"{{"type":"order","seq":{i},"order":{order}}}"#))
}

fn rejected(i: i64, code: &'static str) -> Expect {
    Expect::Results(i, vec![code])
}

pub const CASES: usize = 38;

/// Bad frame number `k` (mod CASES), sent as frame `i` of connection `conn`.
fn case(k: usize, i: i64, conn: usize) -> (Message, Expect) {
    use Expect::*;
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    match k % CASES {
        0 => (
            text(format!("not json {i}")),
            Error(None, "malformed_frame"),
        ),
        1 => (text("[".repeat(10_000)), Error(None, "malformed_frame")),
        2 => (
            text(format!("{}1{}", r#"{"a":"#.repeat(5000), "}".repeat(5000))),
            Error(None, "malformed_frame"),
        ),
        3 => (order_frame(i, &deep(5000)), rejected(i, "invalid_type")),
        4 => (
            order_frame(
                i,
                &mutated(i, |o| o["note"] = json!("x")).replace(r#""x""#, &deep(5000)),
            ),
            rejected(i, "invalid_type"),
        ),
        5 => (
            text(format!(r#"{{"type":"ping","seq":"{i}"}}"#)),
            Error(None, "malformed_frame"),
        ),
        6 => (
            text(r#"{"type":"ping","seq":1e400}"#),
            Error(None, "malformed_frame"),
        ),
        7 => (
            text(format!(r#"{{"type":"ping","seq":{}}}"#, i64::MAX)),
            Pong(i64::MAX),
        ),
        8 => (
            text(r#"{"type":"ping","seq":99999999999999999999}"#),
            Error(None, "malformed_frame"),
        ),
        9 => (
            text(format!(r#"{{"type":7,"seq":{i}}}"#)),
            Error(Some(i), "malformed_frame"),
        ),
        10 => {
            // A JSON escape in `type` is still "order".
            let o = order(&format!("ESC-{conn}-{i}"), i as u64);
            let f = format!(r#"{{"type":"ord\u0065r","seq":{i},"order":{o}}}"#);
            (text(f), Results(i, vec!["accepted"]))
        }
        11 => (
            text(format!(r#"{{"type":"ping\u0000","seq":{i}}}"#)),
            Error(Some(i), "unknown_type"),
        ),
        12 => (
            text(format!(
                r#"{{"type":"orders","seq":{i},"orders":{{"a":1}}}}"#
            )),
            Error(Some(i), "invalid_type"),
        ),
        13 => (
            text(format!(r#"{{"type":"order","seq":{i}}}"#)),
            Error(Some(i), "missing_field"),
        ),
        14 => (
            order_frame(
                i,
                &mutated(i, |o| o["items"][0]["qty"] = json!(1))
                    .replace(r#""qty":1"#, r#""qty":99999999999999999999"#),
            ),
            rejected(i, "invalid_type"),
        ),
        15 => (
            order_frame(i, &mutated(i, |o| o["items"][0]["qty"] = json!(-5))),
            rejected(i, "invalid_qty"),
        ),
        16 => (
            order_frame(
                i,
                &mutated(i, |o| o["buyer"]["name"] = json!("Lan\u{0}\u{0}")),
            ),
            rejected(i, "invalid_name"),
        ),
        17 => (
            order_frame(i, &mutated(i, |o| o["order_id"] = json!("TT-\u{202e}1-TT"))),
            rejected(i, "invalid_order_id"),
        ),
        18 => (
            order_frame(i, &mutated(i, |o| o["order_id"] = json!("TT-\u{200b}1"))),
            rejected(i, "invalid_order_id"),
        ),
        19 => (
            order_frame(
                i,
                &mutated(i, |o| o["buyer"]["phone"] = json!("０９１２３４５６７８")),
            ),
            rejected(i, "invalid_phone"),
        ),
        20 => (
            order_frame(
                i,
                &mutated(i, |o| o["buyer"]["name"] = json!("SURROGATE"))
                    .replace("SURROGATE", r"\ud800"),
            ),
            rejected(i, "malformed_order"),
        ),
        21 => (
            Message::Binary(vec![0xff, 0xfe, 0xc0, 0x80, b'{'].into()),
            Error(None, "binary_frame"),
        ),
        22 => (
            text(format!(
                r#"{{"type":"cancel","seq":{i},"order_id":"{}"}}"#,
                "A".repeat(10_000)
            )),
            Error(Some(i), "invalid_order_id"),
        ),
        23 => (
            text(format!(
                r#"{{"type":"cancel","seq":{i},"order_id":"TT-1","reason":"buyer\u202e"}}"#
            )),
            Error(Some(i), "invalid_reason"),
        ),
        24 => (
            text(format!(
                r#"{{"type":"orders","seq":{i},"orders":[{}]}}"#,
                vec!["{}"; 501].join(",")
            )),
            Error(Some(i), "too_many_orders"),
        ),
        25 => (
            text(format!(
                r#"{{"type":"orders","seq":{i},"orders":[{}]}}"#,
                vec!["{}"; 30].join(",")
            )),
            Results(i, vec!["missing_field"; 30]),
        ),
        26 => (
            order_frame(i, &mutated(i, |o| o["cod_amount"] = json!("1".repeat(40)))),
            rejected(i, "money_too_large"),
        ),
        27 => (
            text(format!(r#"{{"type":"ping","seq":{i},"seq":{i}}}"#)),
            Error(None, "malformed_frame"),
        ),
        28 => (text(format!(r#"{{"type":"ping","seq":{i}}}"#)), Pong(i)),
        29 => (text(""), Error(None, "malformed_frame")),
        30 => (
            text(format!(r#"{{"seq":{i}}}"#)),
            Error(Some(i), "malformed_frame"),
        ),
        31 => (
            text(format!(r#"{{"type":"order","seq":{i},"order":null}}"#)),
            Error(Some(i), "missing_field"),
        ),
        32 => (
            order_frame(
                i,
                &mutated(i, |o| o["placed_at"] = json!("+99999-01-01T00:00:00+07:00")),
            ),
            rejected(i, "invalid_placed_at"),
        ),
        33 => (
            order_frame(
                i,
                &mutated(i, |o| o["items"] = json!(vec![o["items"][0].clone(); 101])),
            ),
            rejected(i, "too_many_items"),
        ),
        34 => (
            order_frame(i, &mutated(i, |o| o["items"][0]["unit_price"] = json!(1.5))),
            rejected(i, "invalid_type"),
        ),
        35 => (
            order_frame(
                i,
                &mutated(i, |o| o["buyer"]["name"] = json!("A".repeat(100_000))),
            ),
            rejected(i, "invalid_name"),
        ),
        36 => (order_frame(i, r#""x""#), rejected(i, "invalid_type")),
        _ => (
            text(format!("\u{feff}{{\"type\":\"ping\",\"seq\":{i}}}")),
            Error(None, "malformed_frame"),
        ),
    }
}

fn check(reply: &Value, exp: &Expect) -> Result<(), String> {
    let ok = match exp {
        Expect::Error(seq, code) => {
            reply["type"] == "error" && reply["seq"] == json!(seq) && reply["code"] == *code
        }
        Expect::Pong(seq) => reply["type"] == "pong" && reply["seq"] == *seq,
        Expect::Results(seq, want) => {
            let results = reply["results"].as_array().cloned().unwrap_or_default();
            reply["type"] == "ack"
                && reply["seq"] == *seq
                && results.len() == want.len()
                && results.iter().zip(want).all(|(r, w)| {
                    r["status"] == *w || (r["status"] == "rejected" && r["error"]["code"] == *w)
                })
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("expected {exp:?}, got {reply}"))
    }
}

/// Sends frames `from..to` of the case table on one connection (pipelined) and checks
/// that each got exactly one reply, the expected one, in order.
async fn abuse(ws: Ws, conn: usize, from: usize, to: usize) -> usize {
    let (mut tx, mut rx) = ws.split();
    let cases: Vec<(Message, Expect)> = (from..to).map(|k| case(k, k as i64, conn)).collect();
    let expects: Vec<Expect> = cases.iter().map(|c| c.1.clone()).collect();
    let sender = tokio::spawn(async move {
        for (m, _) in cases {
            tx.send(m).await.expect("server keeps reading");
        }
        tx
    });
    for (n, exp) in expects.iter().enumerate() {
        let reply = loop {
            let msg = tokio::time::timeout(Duration::from_secs(30), rx.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("conn {conn}: no reply to frame {} within 30 s", from + n)
                })
                .expect("open")
                .expect("no socket error");
            if let Message::Text(t) = msg {
                break serde_json::from_str::<Value>(t.as_str()).expect("replies are JSON");
            }
        };
        if let Err(e) = check(&reply, exp) {
            panic!(
                "conn {conn}, frame {} (case {}): {e}",
                from + n,
                (from + n) % CASES
            );
        }
    }
    let mut tx = sender.await.unwrap();
    // Exactly one reply per frame: nothing more comes after a ping's pong.
    tx.send(text(r#"{"type":"ping","seq":-1}"#)).await.unwrap();
    let last = loop {
        match rx.next().await {
            Some(Ok(Message::Text(t))) => break serde_json::from_str::<Value>(t.as_str()).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("conn {conn}: {other:?}"),
        }
    };
    assert_eq!(
        last,
        json!({"type": "pong", "seq": -1}),
        "conn {conn}: no stray replies"
    );
    expects.len()
}

async fn start(dir: &std::path::Path, log: &std::path::Path) -> Service {
    let redis_url = std::fs::read_to_string(dir.join("redis-url")).unwrap();
    let port = free_port();
    let config = write_config(
        dir,
        port,
        &redis_url,
        "",
        "[ingest]\nmax_orders_per_sec = 1000000\n",
    );
    let mut service = Service::start(&config, port, Some(log), "warn");
    service.ready(30).await;
    service
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_bad_frames_get_one_right_answer_each_and_others_are_served() {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("redis-url"), redis.url()).unwrap();
    let log = dir.path().join("livepack.log");
    let mut service = start(dir.path(), &log).await;
    let ws_base = service.ws();

    const CONNS: usize = 4;
    const PER_CONN: usize = 2_500;
    let mut tasks = Vec::new();
    for c in 0..CONNS {
        let url = format!("{ws_base}/v1/ingest?session=abuse-{c}");
        let ws = try_connect(&url, Some(TOKEN_B)).await.unwrap();
        tasks.push(tokio::spawn(abuse(ws, c, c * PER_CONN, (c + 1) * PER_CONN)));
    }
    // Meanwhile another seller pushes good orders and gets them acked.
    let cfg = livepack::client::ClientConfig::new(&ws_base, TOKEN_A, "good-seller");
    let good: Vec<Value> = (0..200).map(|i| order(&format!("GOOD-{i}"), i)).collect();
    let report = livepack::client::push(&cfg, good, None).await.unwrap();
    assert_eq!(
        report.accepted.len(),
        200,
        "a good seller is served during the abuse"
    );

    let mut frames = 0;
    for t in tasks {
        frames += t.await.expect("every frame answered right");
    }
    assert_eq!(frames, CONNS * PER_CONN);
    let health = reqwest::get(format!("{}/healthz", service.base()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(
        !stderr.contains("panicked"),
        "no panic in the service:\n{stderr}"
    );
    println!(
        "{frames} bad frames over {CONNS} connections: each answered once, as expected; no panic"
    );
    service.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_http_input_gets_the_json_error_shape_never_a_5xx() {
    use reqwest::Method as M;
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge = format!(r#"{{"site":"{}","pin":"1"}}"#, "x".repeat(3 * 1024 * 1024));
    let json = "application/json";
    // (method, path, token, (content type, body), expected status)
    type Case<'a> = (M, String, &'a str, Option<(&'a str, String)>, u16);
    let cases: Vec<Case> = vec![
        (M::PUT, "/v1/orders/x".into(), TOKEN_A, None, 405),
        (M::DELETE, "/healthz".into(), TOKEN_A, None, 405),
        (
            M::POST,
            "/v1/orders/x/cancel".into(),
            TOKEN_A,
            Some((json, r#"{"reason":{}}"#.into())),
            422,
        ),
        (
            M::POST,
            "/v1/orders/x/cancel".into(),
            TOKEN_A,
            Some(("text/plain", "x".into())),
            415,
        ),
        (
            M::POST,
            "/v1/station/session".into(),
            TOKEN_A,
            Some((json, "[[[[".into())),
            422,
        ),
        (
            M::POST,
            "/v1/station/session".into(),
            TOKEN_A,
            Some((json, deep)),
            422,
        ),
        (
            M::POST,
            "/v1/station/session".into(),
            TOKEN_A,
            Some((json, huge)),
            413,
        ),
        (
            M::POST,
            "/v1/station/session".into(),
            TOKEN_A,
            Some((json, r#"{"site":1}"#.into())),
            422,
        ),
        (M::GET, "/v1/orders/%FF%FE%00".into(), TOKEN_A, None, 400),
        (
            M::GET,
            format!("/v1/orders/{}", "A".repeat(5000)),
            TOKEN_A,
            None,
            404,
        ),
        (
            M::GET,
            format!("/v1/sites/{SITE}/waves?date=2026-13-45"),
            OPERATOR,
            None,
            400,
        ),
        (
            M::GET,
            format!("/v1/ingest?session={}", "a".repeat(100)),
            TOKEN_A,
            None,
            400,
        ),
        (M::GET, "/v1/ingest?session=ok".into(), TOKEN_A, None, 400),
        (M::GET, "/no/such/route".into(), TOKEN_A, None, 404),
    ];
    // No connection reuse: a case the server refuses before reading the body (413) closes its
    // connection, and a pooled client could send the next case on it as it closes.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for (method, path, token, body, want) in cases {
        let mut req = http
            .request(method.clone(), app.http(&path))
            .bearer_auth(token);
        if let Some((ct, b)) = body {
            req = req.header("content-type", ct).body(b);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            // Refused before the whole body was read: the server may close while we write.
            Err(e) if want == 413 && e.is_request() => continue,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let short: String = path.chars().take(60).collect();
        println!("{method} {short} -> {status} {body}");
        assert_eq!(status, want, "{method} {short}: {body}");
        assert_eq!(ct.as_deref(), Some("application/json"), "{method} {short}");
        assert!(
            body["error"]["code"].is_string(),
            "{method} {short}: {body}"
        );
    }
    // A carrier's settlement file may be larger than other bodies (32 MiB, not 2 MiB): one
    // of 2.9 MB is read whole (its rows unknown here).
    let mut csv = String::from("Mã vận đơn,Tiền thu hộ,Phí\n");
    for i in 0..120_000 {
        csv.push_str(&format!("X{i:09},100000,15000\n"));
    }
    assert!(csv.len() > 2 << 20);
    let resp = http
        .post(app.http("/v1/carriers/viettel-post/settlements"))
        .bearer_auth(OPERATOR)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["rows"], 120_000, "{}", body["error"]);
    app.stop().await;
}
