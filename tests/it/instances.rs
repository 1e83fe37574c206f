//! Three service instances (real processes) on one Redis behind a small round-robin TCP
//! proxy standing in for the load balancer. One seller pushes over 20 connections spread
//! over the three; the instance holding the site's planner lease is SIGKILLed mid-burst.
//! Exactly-once still holds (every acked order stored once, every order in exactly one
//! wave after end_session) and another instance takes the site's planning over within 10 s.

use crate::common;
use livepack::store::keys;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use livepack::client::{push, ClientConfig, Progress};
use redis::AsyncCommands;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

const CONNECTIONS: usize = 20;
const PER_CONNECTION: usize = 150;

use crate::common::free_port;

struct Instance {
    name: String,
    port: u16,
    child: tokio::process::Child,
}

fn start_instance(dir: &std::path::Path, redis_url: &str, n: usize) -> Instance {
    let port = free_port();
    let name = format!("inst-{n}");
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nshutdown_grace_secs = 2\n\
             [redis]\nurl = \"{redis_url}\"\ncommand_timeout_ms = 3000\n\
             [planner]\ninstance_id = \"{name}\"\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
        .arg("serve")
        .env("LIVEPACK_CONFIG", &cfg)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("livepack binary starts");
    Instance { name, port, child }
}

/// Round-robin TCP proxy: each new connection goes to the next backend that accepts it.
async fn proxy(backends: Vec<u16>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let next = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let (backends, next) = (backends.clone(), next.clone());
            tokio::spawn(async move {
                let start = next.fetch_add(1, Ordering::Relaxed);
                for k in 0..backends.len() {
                    let port = backends[(start + k) % backends.len()];
                    if let Ok(mut out) = TcpStream::connect(("127.0.0.1", port)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        return;
                    }
                }
            });
        }
    });
    port
}

async fn operator_get(port: u16, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Order ids on the parcels of every wave of the site (three business days).
async fn waved_orders(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    for d in 0..3 {
        let date = (chrono::Utc::now().with_timezone(&chrono_tz::Asia::Ho_Chi_Minh)
            + chrono::Duration::days(d))
        .format("%Y-%m-%d")
        .to_string();
        let list = operator_get(port, &format!("/v1/sites/{SITE}/waves?date={date}")).await;
        for w in list["waves"].as_array().unwrap() {
            let id = w["wave_id"].as_str().unwrap();
            let wave = operator_get(port, &format!("/v1/waves/{id}")).await;
            for p in wave["parcels"].as_array().unwrap() {
                for o in p["order_ids"].as_array().unwrap() {
                    out.push(o.as_str().unwrap().to_owned());
                }
            }
        }
    }
    out
}

async fn lease_holder(c: &mut redis::aio::MultiplexedConnection) -> Option<String> {
    c.get(keys::lease(SITE)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_one_killed_mid_burst_exactly_once_and_planning_moves() {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut instances: Vec<Instance> = (0..3)
        .map(|n| start_instance(dir.path(), &redis.url(), n))
        .collect();
    for i in &instances {
        let url = format!("http://127.0.0.1:{}/readyz", i.port);
        eventually(30, "instance ready", || {
            let url = url.clone();
            async move { reqwest::get(url).await.is_ok_and(|r| r.status() == 200) }
        })
        .await;
    }
    let lb = proxy(instances.iter().map(|i| i.port).collect()).await;
    let mut rc = redis.conn().await;
    eventually(15, "a planner holds the site", || {
        let mut c = rc.clone();
        async move { lease_holder(&mut c).await.is_some() }
    })
    .await;
    let holder = lease_holder(&mut rc).await.unwrap();
    eprintln!("planner lease of {SITE} held by {holder}");

    // One seller, 20 connections through the proxy (so spread over the three instances).
    let acked = Arc::new(AtomicU64::new(0));
    let third = Arc::new(Notify::new());
    let mut pushes = Vec::new();
    for c in 0..CONNECTIONS {
        let mut cfg = ClientConfig::new(
            format!("ws://127.0.0.1:{lb}"),
            TOKEN_A,
            format!("multi-{c:02}"),
        );
        cfg.orders_per_frame = 5;
        cfg.end_session = true;
        cfg.backoff_max = Duration::from_millis(500);
        let orders: Vec<Value> = (0..PER_CONNECTION)
            .map(|i| order(&format!("M{c:02}-{i}"), (c * 1000 + i) as u64))
            .collect();
        let (acked, third) = (acked.clone(), third.clone());
        pushes.push(tokio::spawn(async move {
            let last = AtomicU64::new(0);
            let progress = move |p: Progress| {
                let prev = last.swap(p.acked as u64, Ordering::Relaxed);
                let before = acked.fetch_add(p.acked as u64 - prev, Ordering::Relaxed);
                if before < 1000 && before + p.acked as u64 - prev >= 1000 {
                    third.notify_one();
                }
            };
            push(&cfg, orders, Some(&progress)).await
        }));
    }
    tokio::time::timeout(Duration::from_secs(60), third.notified())
        .await
        .expect("a third of the burst acked");
    let victim = instances
        .iter()
        .position(|i| i.name == holder)
        .expect("the holder is one of ours");
    instances[victim].child.start_kill().unwrap(); // SIGKILL
    let killed = Instant::now();
    let _ = instances[victim].child.wait().await;
    eprintln!(
        "killed {holder} (the site's planner) at {} of 3000 orders acked",
        acked.load(Ordering::Relaxed)
    );
    let mut new_holder = None;
    while killed.elapsed() < Duration::from_secs(10) {
        match lease_holder(&mut rc).await {
            Some(h) if h != holder => {
                new_holder = Some(h);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    let takeover = killed.elapsed();
    let new_holder = new_holder.expect("another instance took the site within 10 s");
    eprintln!("planner takeover: {holder} → {new_holder} in {takeover:?}");
    let new_port = instances
        .iter()
        .find(|i| i.name == new_holder)
        .unwrap()
        .port;
    eventually(
        5,
        "the new holder reports livepack_planner_leader 1",
        || async move {
            let Ok(r) = reqwest::get(format!("http://127.0.0.1:{new_port}/metrics")).await else {
                return false;
            };
            r.text().await.unwrap_or_default().lines().any(|l| {
                l.starts_with("livepack_planner_leader") && l.contains(SITE) && l.ends_with(" 1")
            })
        },
    )
    .await;

    let mut acked_ids = BTreeSet::new();
    let (mut nacks, mut reconnects) = (0, 0);
    for p in pushes {
        let report = tokio::time::timeout(Duration::from_secs(90), p)
            .await
            .expect("push finishes")
            .unwrap()
            .expect("every order final");
        assert_eq!(report.stored(), PER_CONNECTION);
        assert!(report.rejected.is_empty() && report.session_ended);
        nacks += report.nacks;
        reconnects += report.reconnects;
        acked_ids.extend(report.accepted);
        acked_ids.extend(report.duplicate);
    }
    eprintln!("burst done: {nacks} nacks, {reconnects} reconnects (resent through the proxy)");
    assert_eq!(acked_ids.len(), CONNECTIONS * PER_CONNECTION);
    let stored: BTreeSet<String> = redis
        .order_keys(SITE)
        .await
        .into_iter()
        .map(|k| k.rsplit(':').next().unwrap().to_owned())
        .collect();
    assert_eq!(stored, acked_ids, "stored set == acked set");
    assert_eq!(
        redis.stream_orders(SITE).await,
        acked_ids.len(),
        "each order stored once"
    );

    let alive = instances[(victim + 1) % 3].port;
    for c in 0..CONNECTIONS {
        let path = format!("/v1/sessions/multi-{c:02}?seller={SELLER_A}");
        eventually(60, "every order of the session waved", || {
            let path = path.clone();
            async move {
                operator_get(alive, &path).await["waved"].as_u64() == Some(PER_CONNECTION as u64)
            }
        })
        .await;
    }
    let waved = waved_orders(alive).await;
    let unique: BTreeSet<String> = waved.iter().cloned().collect();
    assert_eq!(
        waved.len(),
        unique.len(),
        "no order in two waves or parcels"
    );
    assert_eq!(unique, acked_ids, "every order in exactly one wave");
    assert!(
        takeover < Duration::from_secs(10),
        "takeover took {takeover:?}"
    );
}
