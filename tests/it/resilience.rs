//! Crash safety with real processes (issue 10): the service SIGKILLed ten times during a
//! burst, Redis SIGKILLed with `appendfsync always`, a poison stream entry, a slow Redis.
//! Every acked order is stored once and lands in exactly one wave, parcel and shipment.

use crate::common;
use crate::svc;
use livepack::store::keys;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use livepack::client::{push, ClientConfig, Progress};
use rand::{Rng, SeedableRng};
use redis::AsyncCommands;
use serde_json::{json, Value};
use svc::*;
use tokio_tungstenite::tungstenite::Message;

fn orders(prefix: &str, n: u64) -> Vec<Value> {
    (0..n).map(|i| order(&format!("{prefix}-{i}"), i)).collect()
}

fn client(base: &str, session: &str) -> ClientConfig {
    let mut c = ClientConfig::new(base, TOKEN_A, session);
    c.backoff_min = Duration::from_millis(50);
    c.backoff_max = Duration::from_millis(500);
    c.connect_timeout = Duration::from_secs(3);
    c.reply_timeout = Duration::from_secs(10);
    c
}

async fn end_session(base: &str, session: &str) {
    let mut c = client(base, session);
    c.end_session = true;
    let r = push(&c, vec![], None).await.expect("end_session acked");
    assert!(r.session_ended);
}

async fn session(base: &str, label: &str) -> Value {
    let url = format!("{base}/v1/sessions/{label}");
    match reqwest::Client::new()
        .get(url)
        .bearer_auth(TOKEN_A)
        .send()
        .await
    {
        Ok(r) if r.status() == 200 => r.json().await.unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

async fn wait_waved(base: &str, label: &str, n: u64, secs: u64) -> Duration {
    let t = Instant::now();
    eventually(secs, &format!("{n} orders of {label} waved"), || async {
        session(base, label).await["waved"].as_u64() == Some(n)
    })
    .await;
    t.elapsed()
}

async fn scan(c: &mut redis::aio::MultiplexedConnection, pattern: &str) -> Vec<String> {
    let mut iter: redis::AsyncIter<String> = c.scan_match(pattern).await.unwrap();
    let mut out = Vec::new();
    while let Some(k) = iter.next_item().await {
        out.push(k.unwrap());
    }
    out
}

/// Every order of `ids` (seller A) is stored once and sits in exactly one wave, one parcel
/// and one shipment, and the parcels, waves and shipments agree with the orders.
async fn check_each_order_once(url: &str, ids: &BTreeSet<String>) {
    let mut c = redis_conn(url).await;
    let tag = keys::tag(SITE);
    let stored = scan(&mut c, &format!("{tag}:o:*")).await;
    assert_eq!(stored.len(), ids.len(), "stored orders == acked orders");
    let entries: redis::streams::StreamRangeReply =
        c.xrange_all(format!("{tag}:in")).await.unwrap();
    let named = stream_named_orders(&entries.ids);
    let distinct: BTreeSet<&str> = named.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(
        (distinct.len(), named.len()),
        (ids.len(), ids.len()),
        "each order appended to the stream once"
    );
    let pending: usize = c.hlen(format!("{tag}:pending")).await.unwrap();
    assert_eq!(pending, 0, "nothing left pending");

    // order → parcel, from the order hashes (an order names its parcel; its wave and
    // shipment are the parcel's).
    let mut parcel_of = BTreeMap::new();
    for id in ids {
        let key = format!("{tag}:o:{SELLER_A}:{id}");
        let p: Option<String> = c.hget(&key, "p").await.unwrap();
        parcel_of.insert(id.clone(), p.expect("parcel id"));
    }
    // order → (wave, parcel, shipment), from its parcel.
    let mut of_order = BTreeMap::new();
    // The parcels' own lists: each order in exactly one parcel, the one the order names.
    let mut in_parcels: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Parcel hashes only: `…:p:{id}:lock` is a booking lock the auto-booker may hold (and
    // drop) while this runs, when the test runs within an hour of a pickup.
    let prefix = format!("{tag}:p:");
    let parcel_keys = scan(&mut c, &format!("{prefix}*")).await;
    let parcel_keys = parcel_keys
        .into_iter()
        .filter(|k| !k[prefix.len()..].contains(':'));
    for key in parcel_keys {
        let (data, wave): (Vec<u8>, String) = redis::cmd("HMGET")
            .arg(&key)
            .arg("data")
            .arg("wave")
            .query_async(&mut c)
            .await
            .unwrap();
        let data = livepack::store::doc::unpack(data).unwrap();
        let doc: Value = serde_json::from_str(&data).unwrap();
        let pid = doc["parcel_id"].as_str().unwrap().to_owned();
        assert_eq!(key[prefix.len()..], pid, "a parcel's key names it");
        for o in doc["orders"].as_array().unwrap() {
            let oid = o["order_id"].as_str().unwrap().to_owned();
            assert_eq!(
                parcel_of[&oid], pid,
                "order {oid}: its hash and its parcel agree"
            );
            assert_eq!(
                doc["wave_id"].as_str(),
                Some(wave.as_str()),
                "parcel {pid}: its document and its hash name one wave"
            );
            let sh = doc["shipment_id"].as_str().expect("shipment id").to_owned();
            of_order.insert(oid.clone(), (wave.clone(), pid.clone(), sh));
            in_parcels.entry(oid).or_default().push(pid.clone());
        }
    }
    for id in ids {
        assert_eq!(
            in_parcels.get(id).map(Vec::len),
            Some(1),
            "order {id} in exactly one parcel"
        );
    }
    // Waves: the orders they count add up to the orders (none counted twice).
    let waves: BTreeSet<&String> = of_order.values().map(|(w, _, _)| w).collect();
    let mut all_waves = BTreeSet::new();
    for day in scan(&mut c, &format!("{tag}:waves:*")).await {
        let ws: Vec<String> = c.zrange(day, 0, -1).await.unwrap();
        all_waves.extend(ws);
    }
    assert_eq!(
        all_waves.iter().collect::<BTreeSet<_>>(),
        waves,
        "no wave without orders"
    );
    let mut counted = 0u64;
    for w in &waves {
        let n: u64 = c.hget(format!("{tag}:w:{w}"), "order_count").await.unwrap();
        counted += n;
    }
    assert_eq!(counted, ids.len() as u64, "waves count each order once");
    for (id, (_, p, sh)) in &of_order {
        let list: String = c.get(format!("{tag}:sh:{sh}:plist")).await.unwrap();
        assert!(
            list.lines().any(|l| l == p),
            "order {id}: its parcel is on shipment {sh}"
        );
    }
    println!(
        "checked {} orders: {} waves, {} parcels, {} shipments",
        ids.len(),
        waves.len(),
        in_parcels.values().flatten().collect::<BTreeSet<_>>().len(),
        of_order
            .values()
            .map(|(_, _, s)| s)
            .collect::<BTreeSet<_>>()
            .len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_killed_ten_times_mid_burst_loses_and_doubles_nothing() {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = dir.path().join("livepack.log");
    // Paced to ~400 orders/s per connection so ten kills spread over the burst.
    let config = write_config(
        dir.path(),
        port,
        &redis.url(),
        "command_timeout_ms = 2000",
        "[ingest]\nmax_orders_per_sec = 400\n",
    );
    let mut service = Service::start(&config, port, Some(&log), "warn");
    service.ready(30).await;
    let base = service.base();

    let acked = Arc::new(AtomicUsize::new(0));
    let mut cfg = client(&service.ws(), "kill-ten");
    (cfg.orders_per_frame, cfg.window) = (10, 8);
    let seen = acked.clone();
    let pusher = tokio::spawn(async move {
        let progress = move |p: Progress| seen.store(p.acked, Ordering::SeqCst);
        push(&cfg, orders("KX", 3000), Some(&progress)).await
    });

    let seed: u64 = rand::random();
    println!("kill points seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut kills = Vec::new();
    for k in 0..10 {
        // One random point in each tenth of the burst.
        let at = 100 + k * 280 + rng.random_range(0..200);
        eventually(90, &format!("{at} orders acked"), || async {
            acked.load(Ordering::SeqCst) >= at
        })
        .await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..100))).await;
        let when = acked.load(Ordering::SeqCst);
        service.kill9().await;
        kills.push(when);
        service = Service::start(&config, port, Some(&log), "warn");
        service.up(30).await;
    }
    let report = tokio::time::timeout(Duration::from_secs(90), pusher)
        .await
        .expect("push ends")
        .unwrap()
        .expect("push finishes");
    println!(
        "10 kills at acked={kills:?}; burst took {:?}; {} accepted, {} duplicate, {} reconnects, {} frames sent, {} nacks",
        started.elapsed(), report.accepted.len(), report.duplicate.len(), report.reconnects,
        report.frames_sent, report.nacks
    );
    assert!(
        kills.iter().all(|&a| a < 3000),
        "every kill landed mid-burst"
    );
    assert!(report.rejected.is_empty());
    assert_eq!(report.stored(), 3000);
    let ids: BTreeSet<String> = report
        .accepted
        .iter()
        .chain(&report.duplicate)
        .cloned()
        .collect();
    assert_eq!(ids.len(), 3000);

    end_session(&service.ws(), "kill-ten").await;
    let took = wait_waved(&base, "kill-ten", 3000, 60).await;
    println!("all 3000 waved {took:?} after end_session");
    check_each_order_once(&redis.url(), &ids).await;
    // And the API says the same for a sample.
    let http = reqwest::Client::new();
    for i in (0..3000).step_by(299) {
        let o: Value = http
            .get(format!("{base}/v1/orders/KX-{i}"))
            .bearer_auth(TOKEN_A)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for k in ["wave_id", "parcel_id", "shipment_id"] {
            assert!(o[k].is_string(), "KX-{i} has {k}: {o}");
        }
    }
    service.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_with_appendfsync_always_loses_no_acked_order_and_service_resumes() {
    let (mut redis, _dir) = redis_with(|o| o.appendfsync = "always".into()).await;
    let app = TestApp::spawn_with(test_config(&redis.url(), "")).await;
    let base = format!("http://{}", app.addr);
    let acked = Arc::new(AtomicUsize::new(0));
    let nacks = Arc::new(AtomicU64::new(0));
    let mut cfg = client(&base, "redis-always");
    (cfg.orders_per_frame, cfg.window) = (5, 16);
    let (a, n) = (acked.clone(), nacks.clone());
    let pusher = tokio::spawn(async move {
        let progress = move |p: Progress| {
            a.store(p.acked, Ordering::SeqCst);
            n.store(p.nacks, Ordering::SeqCst);
        };
        push(&cfg, orders("RA", 3000), Some(&progress)).await
    });
    eventually(60, "1000 acked", || async {
        acked.load(Ordering::SeqCst) >= 1000
    })
    .await;
    let old_pid = redis.pid();
    redis.kill();
    let at_kill = acked.load(Ordering::SeqCst);
    eventually(30, "frames nacked while Redis is away", || async {
        nacks.load(Ordering::SeqCst) >= 5
    })
    .await;
    let while_down = acked.load(Ordering::SeqCst);
    assert!(while_down < 3000, "the burst was not over when Redis died");
    redis
        .start_again()
        .await
        .expect("redis restarts on its AOF");
    assert_ne!(redis.pid(), old_pid);
    let back = Instant::now();
    eventually(30, "acks resume", || async {
        acked.load(Ordering::SeqCst) > while_down
    })
    .await;
    let resumed = back.elapsed();
    let report = tokio::time::timeout(Duration::from_secs(90), pusher)
        .await
        .expect("push ends")
        .unwrap()
        .expect("push finishes");
    println!(
        "killed redis at {at_kill} acked; {} nacks; acks resumed {resumed:?} after redis was back (no service restart); {} accepted + {} duplicate",
        report.nacks, report.accepted.len(), report.duplicate.len()
    );
    assert!(resumed < Duration::from_secs(30), "resumed in {resumed:?}");
    assert_eq!(report.stored(), 3000);
    // The client never resends an acked order: had Redis lost one, it would be missing here.
    let mut c = redis_conn(&redis.url()).await;
    let stored = scan(&mut c, &format!("{}:o:*", keys::tag(SITE))).await;
    assert_eq!(stored.len(), 3000, "every acked order survived the SIGKILL");
    let ids: BTreeSet<String> = report
        .accepted
        .iter()
        .chain(&report.duplicate)
        .cloned()
        .collect();
    let keys: BTreeSet<String> = stored
        .iter()
        .map(|k| k.rsplit(':').next().unwrap().to_owned())
        .collect();
    assert_eq!(keys, ids);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_entry_is_dead_lettered_after_five_deliveries_and_the_site_goes_on() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let base = format!("http://{}", app.addr);
    let mut c = redis.conn().await;
    let stream = keys::stream(SITE);
    let poison: String = c
        .xadd(&stream, "*", &[("t", "x"), ("junk", "\u{0}\u{202e}")])
        .await
        .unwrap();
    let started = Instant::now();
    let report = push(&client(&base, "after-poison"), orders("PO", 40), None)
        .await
        .unwrap();
    assert_eq!(report.stored(), 40);
    end_session(&base, "after-poison").await;
    let waved = wait_waved(&base, "after-poison", 40, 30).await;
    println!(
        "orders after the poison entry waved {:?} after end_session",
        waved
    );
    let dead = keys::dead_letters(SITE);
    eventually(40, "poison entry dead-lettered", || {
        let mut c = c.clone();
        let dead = dead.clone();
        async move { c.xlen::<_, u64>(&dead).await.unwrap_or(0) == 1 }
    })
    .await;
    println!("dead-lettered {:?} after it was added", started.elapsed());
    let entries: redis::streams::StreamRangeReply = c.xrange_all(&dead).await.unwrap();
    assert_eq!(entries.ids[0].get::<String>("entry"), Some(poison.clone()));
    assert_eq!(entries.ids[0].get::<String>("t").as_deref(), Some("x"));
    // Acked in the group: nothing of it is pending any more.
    let pending: redis::streams::StreamPendingReply = c.xpending(&stream, "planner").await.unwrap();
    assert_eq!(pending.count(), 0, "the poison entry no longer pending");
    let page = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let n = metric_sum(&page, "livepack_planner_dead_letters_total", &[SITE]);
    assert!(n >= 1.0, "dead letters counted: {n}");
    app.stop().await;
}

/// Sends one order per frame, one frame at a time, until `busy` ends; returns the reply
/// latencies with their kind (`ack`, `nack`, or `closed`: the connection closed without a
/// reply, Redis may have stored the frame), and the orders not acked (to resend). A closed
/// connection is opened again.
async fn probe_while(
    app: &TestApp,
    prefix: &str,
    busy: tokio::task::JoinHandle<()>,
) -> (Vec<(Duration, String)>, Vec<(Value, String)>) {
    let session = format!("slow-{prefix}");
    let mut ws = connect(app, TOKEN_A, &session).await;
    let (mut seen, mut unacked) = (Vec::new(), Vec::new());
    for i in 0.. {
        let done = busy.is_finished();
        let o = order(&format!("{prefix}-{i}"), i);
        let t = Instant::now();
        send(&mut ws, &json!({"type": "order", "seq": i, "order": o})).await;
        let r = reply_or_close(&mut ws).await;
        let took = t.elapsed();
        let kind = match &r {
            None => {
                unacked.push((o, "closed".to_owned()));
                ws = connect(app, TOKEN_A, &session).await;
                "closed"
            }
            Some(r) => {
                assert_eq!(r["seq"], i, "{r}");
                match r["type"].as_str() {
                    Some("nack") => {
                        assert_eq!(r["reason"], "storage_unavailable");
                        unacked.push((o, "nack".to_owned()));
                        "nack"
                    }
                    _ => {
                        assert_eq!(r["results"][0]["status"], "accepted", "{r}");
                        "ack"
                    }
                }
            }
        };
        seen.push((took, kind.to_owned()));
        if done {
            break;
        }
    }
    (seen, unacked)
}

/// The next reply, or `None` when the server closed the connection instead (1011: the
/// frame's outcome is unknown).
async fn reply_or_close(ws: &mut Ws) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a reply or a close within 20 s");
        match msg {
            Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(c))) => {
                let c = c.expect("a close code");
                assert_eq!(u16::from(c.code), 1011, "{c:?}");
                return None;
            }
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_redis_is_answered_within_the_command_timeout_and_a_nack_stored_nothing() {
    let (redis, _dir) = redis_with(|o| {
        o.extra_args = vec!["--enable-debug-command".into(), "yes".into()];
    })
    .await;
    let mut config = test_config(&redis.url(), "");
    config.redis.command_timeout_ms = 500;
    let app = TestApp::spawn_with(config).await;
    let url = redis.url();
    let mut all_unacked = Vec::new();
    for (prefix, what) in [("SL", "DEBUG SLEEP 3"), ("PA", "CLIENT PAUSE 3000 WRITE")] {
        let mut c = redis_conn(&url).await;
        let busy = tokio::spawn(async move {
            let words: Vec<&str> = what.split(' ').collect();
            let _: () = redis::cmd(words[0])
                .arg(&words[1..])
                .query_async(&mut c)
                .await
                .unwrap();
            // DEBUG SLEEP answers when it is over; a write waits out the pause.
            let _: () = c.set("lp:probe", 1).await.unwrap();
        });
        let (seen, unacked) = probe_while(&app, prefix, busy).await;
        let max = seen.iter().map(|(d, _)| *d).max().unwrap();
        let count = |kind: &str| seen.iter().filter(|(_, k)| k == kind).count();
        println!(
            "{what}: {} frames: {} acked, {} nacked, {} closed without a reply; slowest {max:?}; command_timeout_ms = 500",
            seen.len(),
            count("ack"),
            count("nack"),
            count("closed")
        );
        assert!(!unacked.is_empty(), "{what}: frames were not acked");
        assert!(
            max < Duration::from_millis(2500),
            "{what}: a reply took {max:?}"
        );
        all_unacked.extend(unacked);
    }
    // A nack means nothing of the frame was stored (contract §1): Redis is itself again and
    // no nacked order is there. (One whose connection closed may be.)
    let mut c = redis_conn(&url).await;
    let mut nacked = 0;
    for (o, kind) in &all_unacked {
        let id = o["order_id"].as_str().unwrap();
        let n: u64 = c.exists(keys::order(SITE, SELLER_A, id)).await.unwrap();
        if kind == "nack" {
            nacked += 1;
            assert_eq!(n, 0, "{id} was nacked, yet stored");
        }
    }
    // Resent: each is stored, once.
    let base = format!("http://{}", app.addr);
    let orders: Vec<Value> = all_unacked.iter().map(|(o, _)| o.clone()).collect();
    let report = push(&client(&base, "slow-resend"), orders.clone(), None)
        .await
        .unwrap();
    assert_eq!(report.stored(), orders.len());
    println!(
        "resent {} orders without an ack ({nacked} nacked): {} accepted, {} duplicate (stored, their connection closed)",
        orders.len(),
        report.accepted.len(),
        report.duplicate.len()
    );
    for o in &orders {
        let id = o["order_id"].as_str().unwrap();
        let n: u64 = c.exists(keys::order(SITE, SELLER_A, id)).await.unwrap();
        assert_eq!(n, 1);
    }
    app.stop().await;
}
