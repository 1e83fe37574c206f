//! A client that sends a request head and then trickles (or stalls) its body is answered 408
//! once `server.request_body_timeout_secs` has passed; whole bodies are served as before.

use crate::common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Everything the server sends until it closes the connection (bounded wait).
async fn read_all(tcp: &mut tokio::net::TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut out))
        .await
        .expect("the server answers and closes within 20 s")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_body_is_answered_408() {
    let redis = TestRedis::start().await;
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nrequest_body_timeout_secs = 1\n[redis]\nurl = \"{}\"\n[planner]\nenabled = false\n",
        redis.url()
    );
    let config = livepack::Config::from_toml(&toml).unwrap();
    let app = TestApp::spawn_with(config).await;

    // Head sent, 10 of 100 body bytes, then nothing.
    let mut stalled = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /v1/station/session HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"site\":\"h",
        app.addr
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    // A chunked body: its first chunk, then nothing.
    let mut trickle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /v1/orders/X-1/cancel HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n1\r\n{{\r\n",
        app.addr
    );
    trickle.write_all(head.as_bytes()).await.unwrap();

    // Meanwhile a whole request is served as usual (wrong PIN: 401, not 408).
    let resp = reqwest::Client::new()
        .post(app.http("/v1/station/session"))
        .json(&serde_json::json!({"site": SITE, "pin": "000000"}))
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status().as_u16(), 408);
    assert!(resp.status().is_client_error(), "{}", resp.status());

    for mut conn in [stalled, trickle] {
        let answer = read_all(&mut conn).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
        assert!(answer.contains("within 1 s"), "{answer}");
    }
    // A head declaring more than the limit (2 MiB) is answered 413 at once, its body unsent.
    let mut big = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /v1/station/session HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 99999999999\r\n\r\n{{}}",
        app.addr
    );
    big.write_all(head.as_bytes()).await.unwrap();
    let answer = read_all(&mut big).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("\"code\":\"payload_too_large\""),
        "{answer}"
    );
    // GETs (no body) are untouched.
    let health = reqwest::get(app.http("/healthz")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    app.stop().await;
}
