//! Faults during a burst: Redis dies, the service dies. Nothing acked is lost, nothing
//! is stored twice.

use crate::common;
use crate::svc;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use redis::AsyncCommands;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Acked (accepted or duplicate) order ids of a reply.
fn acked(reply: &Value) -> Vec<String> {
    reply["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["status"] == "accepted" || r["status"] == "duplicate")
        .map(|r| r["order_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every order of `ids` answers 200 at `GET /v1/orders/{id}` (it survived `what`).
async fn all_found<'a>(
    client: &reqwest::Client,
    base: &str,
    ids: impl Iterator<Item = &'a String>,
    what: &str,
) {
    for id in ids {
        let r = client
            .get(format!("{base}/v1/orders/{id}"))
            .bearer_auth(TOKEN_A)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acked order {id} survived {what}");
    }
}

async fn ready_status(app: &TestApp) -> u16 {
    reqwest::get(app.http("/readyz"))
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// The next reply, or `None` once the server closed the connection (or it broke).
async fn next_reply(rx: &mut futures_util::stream::SplitStream<Ws>) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), rx.next())
            .await
            .expect("a reply or a close within 30 s");
        match msg {
            Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
            Some(Ok(_)) => continue,
        }
    }
}

/// Redis SIGKILLed mid-burst: frames are nacked while it is down (nothing of them stored: a
/// frame Redis may have run when it died gets no reply, its connection closes), and every
/// order resent after is acked once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_burst_gives_nacks_then_resends_are_accepted() {
    let mut redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let ws = connect(&app, TOKEN_A, "redis-dies").await;
    let (mut tx, mut rx) = ws.split();
    let frames: BTreeMap<i64, Value> = (0..3000)
        .map(|i| {
            (
                i,
                json!({"type": "order", "seq": i, "order": order(&format!("RD-{i}"), i as u64)}),
            )
        })
        .collect();
    // Sender paced by a bounded channel so the kill lands mid-burst.
    let (go_tx, mut go_rx) = mpsc::channel::<Value>(64);
    let sender = tokio::spawn(async move {
        while let Some(f) = go_rx.recv().await {
            if tx.send(Message::Text(f.to_string().into())).await.is_err() {
                break;
            }
        }
    });
    // The first 1,000 frames go before the kill, the others while Redis is dead.
    let (killed_tx, killed_rx) = tokio::sync::oneshot::channel::<()>();
    let feeder = {
        let frames: Vec<Value> = frames.values().cloned().collect();
        tokio::spawn(async move {
            let mut killed = Some(killed_rx);
            for (n, f) in frames.into_iter().enumerate() {
                if n == 1000 {
                    if let Some(k) = killed.take() {
                        let _ = k.await;
                    }
                }
                if go_tx.send(f).await.is_err() {
                    break;
                }
            }
        })
    };
    let mut killed_tx = Some(killed_tx);
    let mut acked_ids = BTreeSet::new();
    let mut acked_seqs = BTreeSet::new();
    let mut nacked = Vec::new();
    let mut replies = 0;
    let mut closed = false;
    while replies < 3000 {
        let Some(r) = next_reply(&mut rx).await else {
            closed = true;
            break;
        };
        assert_eq!(r["seq"], replies, "replies in order, one per frame");
        replies += 1;
        match r["type"].as_str() {
            Some("ack") => {
                acked_ids.extend(acked(&r));
                acked_seqs.insert(r["seq"].as_i64().unwrap());
            }
            Some("nack") => {
                assert_eq!(r["reason"], "storage_unavailable");
                assert!(r["retry_after_ms"].as_u64().unwrap() > 0);
                nacked.push(r["seq"].as_i64().unwrap());
            }
            other => panic!("only acks and nacks expected, got {other:?}: {r}"),
        }
        if replies == 1000 {
            redis.redis.kill();
            if let Some(k) = killed_tx.take() {
                let _ = k.send(());
            }
        }
    }
    drop(rx);
    feeder.abort();
    let _ = feeder.await;
    sender.abort();
    let _ = sender.await;
    assert!(
        acked_ids.len() >= 1000,
        "the first thousand were acked before the kill"
    );
    assert!(
        !nacked.is_empty() || closed,
        "frames after the kill are nacked, or their connection closes: never acked"
    );
    eprintln!(
        "{} acked, {} nacked, then {}",
        acked_ids.len(),
        nacked.len(),
        if closed {
            "the connection closed"
        } else {
            "every frame answered"
        }
    );
    assert_eq!(
        ready_status(&app).await,
        503,
        "/readyz reports Redis is gone"
    );

    redis
        .redis
        .start_again()
        .await
        .expect("redis restarts on its data");
    eventually(20, "/readyz turns 200", || async {
        ready_status(&app).await == 200
    })
    .await;
    // A nack says nothing of the frame was stored (contract §1).
    let mut c = redis.conn().await;
    for seq in &nacked {
        let id = format!("RD-{seq}");
        let n: u64 = c
            .exists(livepack::store::keys::order(SITE, SELLER_A, &id))
            .await
            .unwrap();
        assert_eq!(n, 0, "{id} was nacked, yet stored");
    }

    // Resend every frame without an ack until each is acked (bounded rounds, a new
    // connection each).
    for round in 0..20 {
        let todo: Vec<i64> = frames
            .keys()
            .filter(|s| !acked_seqs.contains(*s))
            .copied()
            .collect();
        if todo.is_empty() {
            break;
        }
        let ws = connect(&app, TOKEN_A, "redis-dies").await;
        let (mut tx, mut rx) = ws.split();
        for seq in &todo {
            if tx
                .send(Message::Text(frames[seq].to_string().into()))
                .await
                .is_err()
            {
                break;
            }
        }
        for _ in 0..todo.len() {
            let Some(r) = next_reply(&mut rx).await else {
                break;
            };
            if r["type"] == "ack" {
                acked_ids.extend(acked(&r));
                acked_seqs.insert(r["seq"].as_i64().unwrap());
            }
        }
        eprintln!("resend round {round}: {} frames", todo.len());
    }
    assert_eq!(
        acked_seqs.len(),
        3000,
        "all resends acked once Redis is back"
    );
    let stored: BTreeSet<String> = redis
        .order_keys(SITE)
        .await
        .into_iter()
        .map(|k| k.rsplit(':').next().unwrap().to_owned())
        .collect();
    assert_eq!(stored, acked_ids, "stored set == acked set");
    assert_eq!(stored.len(), 3000);
    assert_eq!(redis.stream_orders(SITE).await, 3000, "each stored once");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_killed_mid_burst_keeps_every_acked_order_on_embedded_redis() {
    let dir = tempfile::tempdir().unwrap();
    let port = svc::free_port();
    let config = dir.path().join("livepack.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[redis]\nurl = \"embedded\"\ndata_dir = \"{}\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let base = format!("http://127.0.0.1:{port}");

    let mut svc = svc::Service::start(&config, port, None, "warn");
    svc.ready(30).await;
    let ws = try_connect(
        &format!("ws://127.0.0.1:{port}/v1/ingest?session=killed"),
        Some(TOKEN_A),
    )
    .await
    .unwrap();
    let (mut tx, mut rx) = ws.split();
    let sender = tokio::spawn(async move {
        for i in 0..3000u64 {
            let f = json!({"type": "order", "seq": i, "order": order(&format!("K-{i}"), i)});
            if tx.send(Message::Text(f.to_string().into())).await.is_err() {
                break;
            }
        }
    });
    let mut acked_ids = BTreeSet::new();
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(30), rx.next()).await {
        if let Message::Text(t) = msg {
            let r: Value = serde_json::from_str(t.as_str()).unwrap();
            acked_ids.extend(acked(&r));
            if acked_ids.len() >= 700 {
                svc.child.start_kill().unwrap(); // SIGKILL
                let _ = svc.child.wait().await;
                break;
            }
        }
    }
    // Replies already on the wire before the kill count too.
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(5), rx.next()).await {
        if let Message::Text(t) = msg {
            acked_ids.extend(acked(&serde_json::from_str::<Value>(t.as_str()).unwrap()));
        }
    }
    let _ = sender.await;
    assert!(acked_ids.len() >= 700);

    let mut svc = svc::Service::start(&config, port, None, "warn");
    svc.ready(30).await;
    let client = reqwest::Client::new();
    all_found(&client, &base, acked_ids.iter(), "the kill").await;
    let session: Value = client
        .get(format!("{base}/v1/sessions/killed"))
        .bearer_auth(TOKEN_A)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(session["accepted"].as_u64().unwrap() >= acked_ids.len() as u64);

    // The embedded redis-server killed under the running service: the service starts it
    // again on its data (nobody else would), and the acked orders are still there.
    let record_file = dir.path().join("data/livepack-redis.json");
    let pid_of = |path: &std::path::Path| -> Option<i32> {
        let state: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
        Some(state["pid"].as_i64()? as i32)
    };
    let record = || pid_of(&record_file).unwrap();
    let killed = record();
    unsafe { libc::kill(killed, libc::SIGKILL) };
    eventually(30, "a new embedded redis-server, and /readyz 200", || {
        let (c, b, path) = (client.clone(), base.clone(), record_file.clone());
        async move {
            let restarted = pid_of(&path).is_some_and(|p| p != killed);
            let ready = c.get(format!("{b}/readyz")).send().await;
            restarted && ready.is_ok_and(|r| r.status() == 200)
        }
    })
    .await;
    all_found(
        &client,
        &base,
        acked_ids.iter().step_by(50),
        "its redis' kill",
    )
    .await;
    // A second service on the same data dir is refused: it would adopt the first one's
    // server, and stop it when it stops.
    let other = svc::free_port();
    let second = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
        .arg("serve")
        .env("LIVEPACK_CONFIG", &config)
        .env("LIVEPACK__SERVER__LISTEN", format!("127.0.0.1:{other}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .output();
    // Bounded: a second service that did start would run until killed (then this fails).
    let out = tokio::time::timeout(Duration::from_secs(30), second)
        .await
        .expect("the second service refuses and exits")
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("in use by another running livepack"),
        "{text}"
    );
    // `export-day` beside the service uses its server (and leaves it running).
    let before = record();
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Ho_Chi_Minh)
        .format("%Y-%m-%d")
        .to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
        .args(["export-day", "--site", SITE, "--date", &today])
        .env("LIVEPACK_CONFIG", &config)
        .env(
            "LIVEPACK__RETENTION__ARCHIVE_DIR",
            dir.path().join("archive"),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "export-day: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(record(), before, "the same server");
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "the service's redis still runs");

    // Graceful stop also stops the embedded redis-server it adopted.
    let redis_pid = record();
    unsafe { libc::kill(svc.child.id().unwrap() as i32, libc::SIGTERM) };
    let _ = tokio::time::timeout(Duration::from_secs(20), svc.child.wait())
        .await
        .expect("service exits on SIGTERM");
    eventually(15, "embedded redis stopped", || async move {
        unsafe { libc::kill(redis_pid, 0) != 0 }
    })
    .await;
}

/// A SIGTERM while the embedded redis-server loads a large AOF (minutes at a big site) stops
/// livepack and that server. Before, livepack heard no signal until the load ended: SIGTERM
/// killed it outright and left the loading server running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_the_embedded_server_loads_stops_both() {
    use livepack::store::embedded::{EmbeddedOptions, EmbeddedRedis};
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut r = EmbeddedRedis::start(EmbeddedOptions::private(&data))
        .await
        .unwrap();
    let mut c = svc::redis_conn(&r.url()).await;
    let mut pipe = redis::pipe();
    for i in 0..20_000 {
        pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    let () = pipe.query_async(&mut c).await.unwrap();
    r.stop().await;
    // Redis' `key-load-delay` (µs a key): the 20,000 keys take at least 3 s to load.
    let slow = dir.path().join("slow-redis-server");
    std::fs::write(
        &slow,
        "#!/bin/sh\nexec redis-server \"$@\" --key-load-delay 150\n",
    )
    .unwrap();
    std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = svc::free_port();
    let redis_lines = format!(
        "data_dir = \"{}\"\nbin = \"{}\"",
        data.display(),
        slow.display()
    );
    let config = svc::write_config(dir.path(), port, "embedded", &redis_lines, "");
    let log = dir.path().join("livepack.log");
    let mut svc = svc::Service::start(&config, port, Some(&log), "info");
    eventually(30, "livepack waiting on the loading server", || {
        let log = log.clone();
        async move {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            text.contains("is loading its data")
        }
    })
    .await;
    let record = std::fs::read_to_string(data.join("livepack-redis.json")).unwrap();
    let redis_pid = serde_json::from_str::<Value>(&record).unwrap()["pid"]
        .as_i64()
        .unwrap() as i32;
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(svc.pid(), libc::SIGTERM) };
    let status = tokio::time::timeout(Duration::from_secs(20), svc.child.wait())
        .await
        .expect("livepack exits within 20 s of SIGTERM")
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{status}; its log:\n{text}");
    assert!(
        text.contains("stopped during the embedded redis-server's start"),
        "{text}"
    );
    eventually(15, "the loading redis-server stopped", || async move {
        // SAFETY: signal 0 only checks that the pid exists.
        unsafe { libc::kill(redis_pid, 0) != 0 }
    })
    .await;
    // Its data is whole: the next start loads every key.
    let mut r = EmbeddedRedis::start(EmbeddedOptions::private(&data))
        .await
        .unwrap();
    let mut c = svc::redis_conn(&r.url()).await;
    let n: u64 = redis::cmd("DBSIZE").query_async(&mut c).await.unwrap();
    assert_eq!(n, 20_000);
    r.stop().await;
}
