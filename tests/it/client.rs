//! `livepack::client` against the real service (own redis-server per test), plus a fault
//! proxy that cuts connections and a scripted fake server for protocol faults.

use livepack::store::keys;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use livepack::client::{push, sample_order, ClientConfig, ClientError, Progress};
use livepack::Config;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

use crate::common::{eventually, scan_keys, TestApp, TestRedis, SITE, TOKEN_A, TOKEN_B};

/// The service in-process on its own redis-server, with short Redis and retry limits.
struct Service {
    redis: TestRedis,
    app: TestApp,
}

impl Service {
    async fn start() -> Service {
        let redis = TestRedis::start().await;
        let toml = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[redis]\nurl = \"{}\"\ncommand_timeout_ms = 1000\n\
             [ingest]\nnack_retry_after_ms = 100\n",
            redis.url()
        );
        let config = Config::from_toml(&toml).expect("test config");
        let app = TestApp::spawn_with(config).await;
        Service { redis, app }
    }

    fn client(&self, token: &str, session: &str) -> ClientConfig {
        client_for(&format!("ws://{}", self.app.addr), token, session)
    }

    async fn conn(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.redis.url()).unwrap();
        client.get_multiplexed_async_connection().await.unwrap()
    }

    /// Stored order hashes of the site (SCAN).
    async fn stored_orders(&self) -> usize {
        let pattern = format!("{}:o:*", keys::tag(SITE));
        scan_keys(&mut self.conn().await, &pattern).await.len()
    }

    /// Orders the site stream names, plus its other entries (a session's end is one).
    async fn stream_len(&self) -> usize {
        let mut c = self.conn().await;
        let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(keys::stream(SITE))
            .arg("-")
            .arg("+")
            .query_async(&mut c)
            .await
            .unwrap();
        entries
            .ids
            .iter()
            .map(|e| match livepack::store::stream::decode(e) {
                livepack::store::stream::Entry::Orders { order_ids, .. } => order_ids.len(),
                _ => 1,
            })
            .sum()
    }

    async fn stop(mut self) {
        self.app.stop().await;
        self.redis.redis.stop().await;
    }
}

fn client_for(url: &str, token: &str, session: &str) -> ClientConfig {
    let mut c = ClientConfig::new(url, token, session);
    c.backoff_min = Duration::from_millis(20);
    c.backoff_max = Duration::from_millis(500);
    c.reply_timeout = Duration::from_secs(10);
    c.max_attempts_per_order = 200;
    c
}

fn orders(prefix: &str, n: u64) -> Vec<Value> {
    (0..n)
        .map(|i| sample_order(&format!("{prefix}-{i}"), i * 37 + 11))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_thousands_then_repush_is_all_duplicate() {
    let svc = Service::start().await;
    let a = orders("TT-A", 2000);
    let b = orders("TT-B", 2000);

    let mut one = svc.client(TOKEN_A, "live-single");
    one.orders_per_frame = 1;
    let report = push(&one, a.clone(), None).await.expect("push succeeds");
    assert_eq!(report.accepted.len(), 2000, "{:?}", report.rejected.first());
    assert!(report.duplicate.is_empty() && report.rejected.is_empty());
    assert_eq!(report.frames_sent, 2000);
    assert_eq!(report.ack_latencies_us.len(), 2000);
    assert_eq!(
        report.accepted[17], "TT-A-17",
        "ids come back in input order"
    );

    let mut batched = svc.client(TOKEN_B, "live-batched");
    batched.orders_per_frame = 100;
    batched.end_session = true;
    let calls = AtomicU64::new(0);
    let last = std::sync::Mutex::new(Progress::default());
    let progress = |p: Progress| {
        calls.fetch_add(1, Ordering::Relaxed);
        *last.lock().unwrap() = p;
    };
    let report = push(&batched, b, Some(&progress))
        .await
        .expect("push succeeds");
    assert_eq!(report.accepted.len(), 2000);
    assert_eq!(report.frames_sent, 21, "20 frames of 100 and end_session");
    assert!(report.session_ended);
    assert!(calls.load(Ordering::Relaxed) >= 20);
    let p = *last.lock().unwrap();
    assert_eq!(
        (p.sent, p.acked, p.rejected, p.total),
        (2000, 2000, 0, 2000)
    );

    let mut again = svc.client(TOKEN_A, "live-single");
    again.orders_per_frame = 100;
    let report = push(&again, a, None).await.expect("push succeeds");
    assert_eq!(report.duplicate.len(), 2000);
    assert!(report.accepted.is_empty());

    assert_eq!(svc.stored_orders().await, 4000);
    assert_eq!(
        svc.stream_len().await,
        4000 + 1,
        "each order named once, plus the session end"
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_orders_are_rejected_with_their_field() {
    let svc = Service::start().await;
    let mut batch = orders("TT-R", 10);
    batch[3]["buyer"]["phone"] = "12345".into();
    batch[5].as_object_mut().unwrap().remove("order_id");
    for per_frame in [1, 4] {
        let mut cfg = svc.client(TOKEN_A, &format!("live-rej-{per_frame}"));
        cfg.orders_per_frame = per_frame;
        let report = push(&cfg, batch.clone(), None)
            .await
            .expect("push succeeds");
        assert_eq!(report.rejected.len(), 2, "{:?}", report.rejected);
        let (id, why) = &report.rejected[0];
        assert_eq!(
            (id.as_str(), why.code.as_str(), why.field.as_str()),
            ("TT-R-3", "invalid_phone", "buyer.phone")
        );
        let (id, why) = &report.rejected[1];
        assert_eq!((id.as_str(), why.field.as_str()), ("#5", "order_id"));
        assert_eq!(report.stored(), 8);
    }
    assert_eq!(svc.stored_orders().await, 8);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_and_bad_label_fail_without_retrying() {
    let svc = Service::start().await;
    let bad_token = svc.client("not-a-token", "live-1");
    match push(&bad_token, orders("TT-X", 1), None).await {
        Err(ClientError::Handshake { status: 401, .. }) => {}
        other => panic!("expected a 401, got {other:?}"),
    }
    let bad_label = svc.client(TOKEN_A, "no spaces allowed");
    match push(&bad_label, orders("TT-X", 1), None).await {
        Err(ClientError::Handshake { status: 400, .. }) => {}
        other => panic!("expected a 400, got {other:?}"),
    }
    let mut bad_cfg = svc.client(TOKEN_A, "live-1");
    bad_cfg.orders_per_frame = 501;
    assert!(matches!(
        push(&bad_cfg, vec![], None).await,
        Err(ClientError::Config(_))
    ));
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_a_redis_restart_and_stores_each_order_once() {
    let svc = Service::start().await;
    let Service { mut redis, app } = svc;
    redis.redis.kill();
    eventually(10, "redis to die", || async {
        !redis.redis.is_alive().await
    })
    .await;

    let nacks = Arc::new(AtomicU64::new(0));
    let seen = nacks.clone();
    let restarter = tokio::spawn(async move {
        eventually(30, "a nack", || {
            let nacked = seen.load(Ordering::Relaxed) > 0;
            async move { nacked }
        })
        .await;
        redis.redis.start_again().await.expect("redis restarts");
        redis
    });
    let mut cfg = client_for(&format!("ws://{}", app.addr), TOKEN_A, "live-restart");
    cfg.orders_per_frame = 50;
    cfg.end_session = true;
    let progress = |p: Progress| nacks.store(p.nacks, Ordering::Relaxed);
    let report = push(&cfg, orders("TT-Z", 2000), Some(&progress))
        .await
        .expect("push finishes");
    let redis = restarter.await.unwrap();
    assert!(report.nacks > 0);
    assert_eq!(report.stored(), 2000);
    assert!(report.rejected.is_empty());
    assert!(report.session_ended);

    let svc = Service { redis, app };
    assert_eq!(svc.stored_orders().await, 2000);
    assert_eq!(svc.stream_len().await, 2000 + 1);
    svc.stop().await;
}

/// Forwards TCP to `upstream` and cuts each connection after about `budget` bytes from the
/// server (so replies are lost, sometimes mid-frame).
async fn cutting_proxy(upstream: SocketAddr, budget: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut n = 0usize;
        while let Ok((client, _)) = listener.accept().await {
            n += 1;
            let Ok(server) = TcpStream::connect(upstream).await else {
                continue;
            };
            let limit = budget + (n * 7919) % budget;
            tokio::spawn(async move {
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                };
                let down = async {
                    let mut buf = vec![0u8; 4096];
                    let mut left = limit;
                    while left > 0 {
                        match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(k) => {
                                let k = k.min(left);
                                if cw.write_all(&buf[..k]).await.is_err() {
                                    break;
                                }
                                left -= k;
                            }
                        }
                    }
                };
                tokio::select! { _ = up => {}, _ = down => {} }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_connections_cut_mid_stream() {
    let svc = Service::start().await;
    let proxy = cutting_proxy(svc.app.addr, 12_000).await;
    let mut cfg = client_for(&format!("ws://{proxy}"), TOKEN_A, "live-cut");
    cfg.orders_per_frame = 20;
    cfg.window = 8;
    let report = push(&cfg, orders("TT-C", 2000), None)
        .await
        .expect("push finishes");
    assert!(report.reconnects > 0, "the proxy cut connections");
    assert_eq!(report.stored(), 2000);
    assert!(report.rejected.is_empty());
    assert_eq!(svc.stored_orders().await, 2000);
    assert_eq!(svc.stream_len().await, 2000);
    svc.stop().await;
}

/// A fake server: the first connection gets a garbage reply, the second a nack for its
/// first frame; after that every order is acked (in `orders` frames).
async fn scripted_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut conn_no = 0;
        while let Ok((tcp, _)) = listener.accept().await {
            conn_no += 1;
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                continue;
            };
            let mut frame_no = 0;
            while let Some(Ok(Message::Text(t))) = ws.next().await {
                frame_no += 1;
                let f: Value = serde_json::from_str(t.as_str()).unwrap();
                let seq = f["seq"].clone();
                let reply = match (conn_no, frame_no) {
                    (1, _) => serde_json::json!({"type": "ack", "seq": "garbage"}),
                    (2, 1) => {
                        serde_json::json!({"type": "nack", "seq": seq, "retry_after_ms": 30, "reason": "x"})
                    }
                    _ if f["type"] == "end_session" => {
                        serde_json::json!({"type": "ack", "seq": seq, "results": []})
                    }
                    _ => {
                        let results: Vec<Value> = f["orders"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|o| serde_json::json!({"order_id": o["order_id"], "status": "accepted"}))
                            .collect();
                        serde_json::json!({"type": "ack", "seq": seq, "results": results})
                    }
                };
                if ws.send(Message::text(reply.to_string())).await.is_err() {
                    break;
                }
            }
        }
    });
    addr
}

#[tokio::test]
async fn garbage_replies_and_nacks_are_survived() {
    let addr = scripted_server().await;
    let mut cfg = client_for(&format!("ws://{addr}"), "t", "live-fake");
    cfg.orders_per_frame = 10;
    cfg.end_session = true;
    let report = push(&cfg, orders("TT-F", 95), None)
        .await
        .expect("push finishes");
    assert_eq!(report.accepted.len(), 95);
    assert_eq!(report.nacks, 1);
    assert!(report.reconnects >= 1);
    assert!(report.session_ended);
}

#[tokio::test]
async fn an_unreachable_server_ends_in_gave_up() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut cfg = client_for(&format!("ws://{addr}"), "t", "live-gone");
    cfg.max_attempts_per_order = 3;
    cfg.backoff_max = Duration::from_millis(50);
    match push(&cfg, orders("TT-G", 2), None).await {
        Err(ClientError::GaveUp { unfinished }) => assert_eq!(unfinished, ["TT-G-0", "TT-G-1"]),
        other => panic!("expected GaveUp, got {other:?}"),
    }
}

/// Orders count as sent once their frame is out, before any reply: a server that reads
/// every frame and answers none still sees the progress (what a Ctrl-C of `livepack push`
/// reports) say all of them sent, none stored.
#[tokio::test]
async fn progress_counts_orders_sent_before_their_reply() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (got_tx, mut got_rx) = tokio::sync::mpsc::channel::<()>(64);
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        while let Some(Ok(Message::Text(_))) = ws.next().await {
            if got_tx.send(()).await.is_err() {
                break;
            }
        }
    });
    let mut cfg = client_for(&format!("ws://{addr}"), "t", "live-silent");
    cfg.orders_per_frame = 1;
    cfg.window = 8;
    cfg.reply_timeout = Duration::from_secs(60);
    let last = std::sync::Mutex::new(Progress::default());
    let progress = |p: Progress| *last.lock().unwrap() = p;
    let pushing = push(&cfg, orders("TT-S", 3), Some(&progress));
    let seen = async {
        for _ in 0..3 {
            got_rx.recv().await.expect("the server reads three frames");
        }
        // The three frames reached the server: the progress said so when they were sent.
        let p = *last.lock().unwrap();
        (p.sent, p.acked, p.unanswered)
    };
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::select! {
            r = pushing => panic!("the push ended without replies: {r:?}"),
            s = seen => s,
        }
    })
    .await
    .expect("three frames within 30 s");
    assert_eq!(outcome, (3, 0, 3));
    server.abort();
}
