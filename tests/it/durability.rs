//! Durability modes (issue 10): `redis.replicas = N` makes every ack wait for `WAIT N`, so
//! an acked order is on a replica too; with the replica gone, frames are not acked: the
//! connection closes without a reply (the write is on the primary, so no nack either).

use crate::common;
use crate::svc;
use livepack::store::keys;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use livepack::client::push;
use redis::AsyncCommands;
use serde_json::{json, Value};
use svc::*;
use tokio_tungstenite::tungstenite::Message;

async fn info_field(url: &str, field: &str) -> String {
    let mut c = redis_conn(url).await;
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut c)
        .await
        .unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or("")
        .trim()
        .to_owned()
}

async fn wait_link_up(primary: &str, replica: &str) {
    eventually(30, "replica in sync", || async {
        info_field(replica, "master_link_status").await == "up"
            && info_field(primary, "connected_slaves").await == "1"
    })
    .await;
}

/// One frame with one order on a fresh connection: its reply and how long it took.
async fn one_frame(app: &TestApp, o: &Value) -> (Value, Duration) {
    let mut ws = connect(app, TOKEN_A, "replicated").await;
    let t = Instant::now();
    send(&mut ws, &json!({"type": "order", "seq": 1, "order": o})).await;
    let r = recv(&mut ws).await;
    (r, t.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_wait_for_a_replica_and_stop_without_one() {
    let (primary, _d1) = redis_with(|_| {}).await;
    let port = primary.port().to_string();
    let (mut replica, _d2) = redis_with(|o| {
        o.extra_args = vec!["--replicaof".into(), "127.0.0.1".into(), port.clone()];
    })
    .await;
    let (p_url, r_url) = (primary.url(), replica.url());
    wait_link_up(&p_url, &r_url).await;

    let mut config = test_config(&p_url, "");
    config.redis.replicas = 1;
    config.redis.replicas_timeout_ms = 500;
    config.planner.enabled = false;
    let app = TestApp::spawn_with(config).await;
    let base = format!("http://{}", app.addr);

    // With the replica up: acked, and already on the replica when acked.
    let orders: Vec<Value> = (0..300).map(|i| order(&format!("RP-{i}"), i)).collect();
    let mut cfg = livepack::client::ClientConfig::new(&base, TOKEN_A, "replicated");
    cfg.orders_per_frame = 10;
    let report = push(&cfg, orders, None).await.expect("push with WAIT 1");
    assert_eq!(report.accepted.len(), 300);
    let mut lat = report.ack_latencies_us.clone();
    lat.sort_unstable();
    println!(
        "replicas = 1: 300 orders in 30 pipelined frames acked, reply p50 {} µs, max {} µs",
        lat[lat.len() / 2],
        lat[lat.len() - 1]
    );
    let mut rc = redis_conn(&r_url).await;
    for i in (0..300).step_by(37) {
        let n: u64 = rc
            .exists(keys::order(SITE, SELLER_A, &format!("RP-{i}")))
            .await
            .unwrap();
        assert_eq!(n, 1, "acked RP-{i} is on the replica");
    }

    // Replica gone: WAIT 1 cannot be satisfied within 500 ms. The write is on the primary
    // only: not acked, and not nacked either (a nack says nothing was stored): the connection
    // closes (1011) without a reply, and the client resends.
    replica.kill();
    eventually(10, "primary sees no replica", || async {
        info_field(&p_url, "connected_slaves").await == "0"
    })
    .await;
    let lonely = order("RP-LONELY", 9999);
    let mut ws = connect(&app, TOKEN_A, "replicated").await;
    let t = Instant::now();
    send(
        &mut ws,
        &json!({"type": "order", "seq": 1, "order": lonely}),
    )
    .await;
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an answer within 10 s")
        {
            Some(Ok(Message::Close(c))) => break c,
            Some(Ok(Message::Text(t))) => panic!("no reply for a frame on the primary only: {t}"),
            Some(Ok(_)) => continue,
            other => panic!("a close frame, got {other:?}"),
        }
    };
    let took = t.elapsed();
    println!("replica down: {close:?} after {took:?}");
    assert_eq!(close.map(|c| u16::from(c.code)), Some(1011));
    assert!(
        took < Duration::from_secs(3),
        "closed in {took:?}, not hung"
    );
    let ready = reqwest::get(format!("{base}/readyz"))
        .await
        .unwrap()
        .status();
    assert_eq!(ready, 503, "/readyz: not ready while acks cannot be given");
    // The write itself did reach the primary (WAIT cannot undo it): a resend is a duplicate.
    let mut pc = redis_conn(&p_url).await;
    let on_primary: u64 = pc
        .exists(keys::order(SITE, SELLER_A, "RP-LONELY"))
        .await
        .unwrap();
    println!(
        "unconfirmed order present on the primary: {}",
        on_primary == 1
    );

    // Replica back: it resyncs, and the resend is acked (duplicate: stored by the first try).
    replica.start_again().await.expect("replica restarts");
    wait_link_up(&p_url, &r_url).await;
    await_ready(&base, 10).await;
    let (r, took) = one_frame(&app, &lonely).await;
    println!("replica back: {r} after {took:?}");
    assert_eq!(r["type"], "ack", "{r}");
    let status = r["results"][0]["status"].as_str().unwrap();
    assert!(status == "accepted" || status == "duplicate", "{r}");
    let mut rc = redis_conn(&r_url).await;
    let n: u64 = rc
        .exists(keys::order(SITE, SELLER_A, "RP-LONELY"))
        .await
        .unwrap();
    assert_eq!(n, 1, "once acked, the order is on the replica");
    app.stop().await;
}

/// An external Redis without AOF would lose acked orders on a restart: `serve` refuses it,
/// naming the way out; `--allow-volatile` starts anyway (with a warning).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_an_external_redis_without_aof_unless_allowed() {
    let (volatile, dir) = redis_with(|o| {
        o.extra_args = vec!["--appendonly".into(), "no".into()];
    })
    .await;
    let port = free_port();
    let config = write_config(dir.path(), port, &volatile.url(), "", "");
    let log = dir.path().join("refused.log");
    let mut svc = Service::start(&config, port, Some(&log), "info");
    let status = tokio::time::timeout(Duration::from_secs(30), svc.child.wait())
        .await
        .expect("livepack exits on a Redis without AOF")
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains("appendonly no"), "{said}");
    assert!(said.contains("--allow-volatile"), "{said}");

    let log = dir.path().join("allowed.log");
    let mut svc =
        Service::start_with_args(&config, port, Some(&log), "info", &["--allow-volatile"]);
    svc.ready(30).await;
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains("appendonly no"), "a warning: {said}");
    svc.terminate().await;

    // The same Redis with AOF turned on: no flag needed.
    let mut c = redis_conn(&volatile.url()).await;
    aof_on(&mut c).await;
    let mut svc = Service::start(&config, port, None, "info");
    svc.ready(30).await;
    svc.terminate().await;
}

/// Where CONFIG is forbidden (managed Redis), the check reads `INFO persistence` and only warns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_config_the_check_reads_info_and_warns() {
    use livepack::store::persistence::{check, probe, Persistence};
    let limit = Duration::from_secs(5);
    for aof in ["yes", "no"] {
        let (r, _dir) = redis_with(|o| {
            o.extra_args = vec!["--appendonly".into(), aof.into()];
        })
        .await;
        let mut c = redis_conn(&r.url()).await;
        let _: () = redis::cmd("ACL")
            .arg(&[
                "SETUSER",
                "app",
                "on",
                ">app-pass",
                "~*",
                "&*",
                "+@all",
                "-config",
            ])
            .query_async(&mut c)
            .await
            .unwrap();
        let full = probe(&r.url(), limit).await;
        let limited_url = format!("redis://app:app-pass@127.0.0.1:{}/0", r.port());
        let limited = probe(&limited_url, limit).await;
        let mut cfg = test_config(&limited_url, "").redis;
        if aof == "yes" {
            assert!(
                matches!(full, Persistence::Aof { ref appendfsync } if appendfsync == "everysec"),
                "{full:?}"
            );
            assert_eq!(limited, Persistence::InfoOnly { aof_enabled: true });
        } else {
            assert_eq!(full, Persistence::Off);
            assert_eq!(limited, Persistence::InfoOnly { aof_enabled: false });
            assert!(
                check(&cfg, &r.url()).await.is_err(),
                "CONFIG says no: refused"
            );
            cfg.allow_volatile = true;
            assert!(check(&cfg, &r.url()).await.is_ok());
            cfg.allow_volatile = false;
        }
        assert!(
            check(&cfg, &limited_url).await.is_ok(),
            "INFO only: a warning"
        );
    }
}

/// An external Redis that is not reachable at start: no order is acked until it is and its
/// AOF is checked (a start would refuse one with AOF off). One that comes up with AOF off
/// keeps every frame nacked, `/readyz` saying why, until AOF is turned on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_unreachable_at_start_is_checked_for_aof_before_any_ack() {
    let port = svc::free_port();
    let app = TestApp::spawn(&format!("redis://127.0.0.1:{port}/0")).await;
    let ready = || async {
        match reqwest::get(app.http("/readyz")).await {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(_) => (0, String::new()),
        }
    };
    eventually(30, "the service answers, not ready", || async {
        ready().await.0 == 503
    })
    .await;
    let (r, _) = one_frame(&app, &order("UV-1", 1)).await;
    assert_eq!(r["type"], "nack", "{r}");

    // It comes up with AOF off: still nacked, and /readyz says why.
    let (redis, _dir) = redis_with(|o| {
        o.port = Some(port);
        o.extra_args = vec!["--appendonly".into(), "no".into()];
    })
    .await;
    eventually(20, "/readyz names AOF", || async {
        ready().await.1.contains("appendonly no")
    })
    .await;
    let (r, _) = one_frame(&app, &order("UV-2", 2)).await;
    assert_eq!(r["type"], "nack", "{r}");
    let mut c = redis_conn(&redis.url()).await;
    let stored: u64 = c.exists(keys::order(SITE, SELLER_A, "UV-2")).await.unwrap();
    assert_eq!(stored, 0, "a nack stored nothing");

    // AOF turned on: acks resume.
    aof_on(&mut c).await;
    eventually(20, "/readyz 200", || async { ready().await.0 == 200 }).await;
    let (r, _) = one_frame(&app, &order("UV-3", 3)).await;
    assert_eq!(r["results"][0]["status"], "accepted", "{r}");
    app.stop().await;
}

/// `CONFIG SET appendonly yes` on a test Redis.
async fn aof_on(c: &mut redis::aio::MultiplexedConnection) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendonly")
        .arg("yes")
        .query_async(c)
        .await
        .unwrap();
}
