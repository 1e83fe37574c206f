//! End to end: `livepack push` of a 3,000-order TikTok Shop export into the service running
//! as a real process on a real Redis, with the service killed and started again mid-push.
//! The CLI finishes on its own, every order is stored exactly once, and pushing the same
//! file again is all `duplicate`.

use crate::common;
use crate::svc;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{eventually, TestRedis, SITE, TOKEN_A};
use serde_json::Value;

const ORDERS: usize = 3000;
/// The service reads this many orders per second per connection, so the push lasts a few
/// seconds and the restart surely lands in the middle of it.
const RATE: usize = 400;

/// A TikTok Shop export: every third order on two rows (two SKUs), COD, times a few
/// minutes ago in Vietnam's time as the Seller Center prints them.
fn tiktok_export(n: usize) -> String {
    let placed = (chrono::Utc::now() - chrono::Duration::minutes(10))
        .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap())
        .format("%d/%m/%Y %H:%M:%S")
        .to_string();
    let places = [
        ("Ninh Bình", "Phường Hoa Lư"),
        ("Hà Nội", "Phường Hoàn Kiếm"),
        ("Đà Nẵng", "Phường Hải Châu"),
        ("Cần Thơ", "Phường Ninh Kiều"),
    ];
    let mut out = String::from(
        "\u{feff}Order ID,Order Status,Seller SKU,Product Name,Quantity,SKU Unit Original Price,\
         Shipping Fee After Discount,Order Amount,Created Time,Recipient,Phone #,Province,\
         District,Villages,Detail Address,Payment Method,Weight(kg)\r\n",
    );
    for i in 0..n {
        let (province, ward) = places[i % places.len()];
        let two = i % 3 == 0;
        let qty = 1 + i % 2;
        let amount = qty * 185_000 + if two { 120_000 } else { 0 } + 30_000;
        let common = format!(
            "{amount},{placed},Khách {i},09{:08},{province},,{ward},\"Số {}, Trần Hưng Đạo\",Cash on delivery,1.2",
            i,
            i % 200 + 1
        );
        let id = 579_250_000_000_000_000u64 + i as u64;
        out.push_str(&format!(
            "{id},To ship,HONEY-500,Mật ong rừng 500ml,{qty},\"185.000\",30000,{common}\r\n"
        ));
        if two {
            out.push_str(&format!(
                "{id},To ship,TEA-SHAN-100,Trà Shan tuyết 100g,1,120000,30000,{common}\r\n"
            ));
        }
    }
    out
}

/// `livepack push` as a process.
fn push(url: &str, file: &Path, extra: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
        .args(["push", "--url", url, "--batch", "20"])
        .args(extra)
        .arg(file)
        .env("LIVEPACK_TOKEN", TOKEN_A)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("livepack push starts")
}

async fn finish(child: tokio::process::Child) -> (i32, String) {
    let out = tokio::time::timeout(Duration::from_secs(180), child.wait_with_output())
        .await
        .expect("the push finishes on its own")
        .expect("push output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

/// The count on a summary line such as "  accepted        2990".
fn count(summary: &str, label: &str) -> usize {
    summary
        .lines()
        .find_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some(label))
                .then(|| words.next().and_then(|n| n.parse().ok()))
                .flatten()
        })
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{summary}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_survives_a_service_restart_and_stores_each_order_once() {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiktok-export.csv");
    std::fs::write(&file, tiktok_export(ORDERS)).unwrap();
    let port = svc::free_port();
    let config = dir.path().join("livepack.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[redis]\nurl = \"{}\"\n\
             [ingest]\nmax_orders_per_sec = {RATE}\n",
            redis.url()
        ),
    )
    .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let ready = || async {
        reqwest::get(format!("{base}/readyz"))
            .await
            .map(|r| r.status() == 200)
            .unwrap_or(false)
    };

    let mut svc = svc::Service::start(&config, port, None, "warn");
    eventually(60, "service ready", ready).await;
    let child = push(
        &format!("ws://127.0.0.1:{port}"),
        &file,
        &["--session", "e2e-restart"],
    );

    // Mid-push: some orders stored, not all. Then SIGKILL and start again.
    eventually(60, "a fifth of the orders stored", || async {
        redis.order_keys(SITE).await.len() >= ORDERS / 5
    })
    .await;
    svc.kill9().await;
    let at_kill = redis.order_keys(SITE).await.len();
    assert!(
        at_kill < ORDERS,
        "the service died mid-push ({at_kill} stored)"
    );
    let mut svc = svc::Service::start(&config, port, None, "warn");
    eventually(60, "restarted service ready", ready).await;

    let (code, summary) = finish(child).await;
    eprintln!("{at_kill} stored when the service was killed; the push said:\n{summary}");
    assert_eq!(code, 0, "push exits 0:\n{summary}");
    assert_eq!(
        count(&summary, "accepted") + count(&summary, "duplicate"),
        ORDERS,
        "{summary}"
    );
    assert_eq!(count(&summary, "rejected"), 0, "{summary}");
    assert_eq!(count(&summary, "unmappable"), 0, "{summary}");
    assert!(count(&summary, "reconnects") >= 1, "{summary}");

    assert_eq!(redis.order_keys(SITE).await.len(), ORDERS, "none doubled");
    let session: Value = reqwest::Client::new()
        .get(format!("{base}/v1/sessions/e2e-restart"))
        .bearer_auth(TOKEN_A)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["accepted"], ORDERS, "{session}");
    assert_eq!(session["rejected"], 0, "{session}");

    // The same file again: nothing new, every order `duplicate`, exit 0.
    let again = push(
        &format!("ws://127.0.0.1:{port}"),
        &file,
        &["--session", "e2e-restart"],
    );
    let (code, summary) = finish(again).await;
    assert_eq!(code, 0, "{summary}");
    assert_eq!(count(&summary, "duplicate"), ORDERS, "{summary}");
    assert_eq!(count(&summary, "accepted"), 0, "{summary}");
    assert_eq!(redis.order_keys(SITE).await.len(), ORDERS);

    // `livepack session` reads the same counts.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
        .args(["session", "--url", &base, "--site", SITE, "e2e-restart"])
        .env("LIVEPACK_TOKEN", TOKEN_A)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(count(&text, "accepted"), ORDERS, "{text}");

    // `livepack cancel`: a known order is cancelled (exit 0), an unknown one is not (exit 1).
    let cancel = |id: &str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
            .args(["cancel", "--url", &base, "--reason", "buyer_cancelled", id])
            .env("LIVEPACK_TOKEN", TOKEN_A)
            .output()
    };
    let out = cancel("TT-579250000000000007").await.unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cancelled"));
    let out = cancel("TT-1").await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("unknown"));
    svc.kill9().await;
}

/// `--follow`: orders appended to a JSON lines file are sent as they come, and the line
/// `{"type":"end_session"}` ends the session and the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_sends_appended_orders_and_ends_the_session() {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = svc::free_port();
    let config = dir.path().join("livepack.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[redis]\nurl = \"{}\"\n",
            redis.url()
        ),
    )
    .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut svc = svc::Service::start(&config, port, None, "warn");
    eventually(60, "service ready", || async {
        reqwest::get(format!("{base}/readyz"))
            .await
            .map(|r| r.status() == 200)
            .unwrap_or(false)
    })
    .await;
    let file = dir.path().join("live.jsonl");
    let lines = |from: usize, to: usize| -> String {
        (from..to)
            .map(|i| format!("{}\n", common::order(&format!("F-{i}"), i as u64)))
            .collect()
    };
    // The first five, and half a line the tool is still writing.
    let mut text = lines(0, 5);
    let sixth = lines(5, 6);
    text.push_str(&sixth[..20]);
    std::fs::write(&file, &text).unwrap();
    let child = push(
        &format!("ws://127.0.0.1:{port}"),
        &file,
        &["--session", "e2e-follow", "--follow"],
    );
    eventually(60, "the first five stored", || async {
        redis.order_keys(SITE).await.len() == 5
    })
    .await;
    // The tool finishes the line and appends more, then the end marker.
    let mut rest = sixth[20..].to_owned();
    rest.push_str(&lines(6, 10));
    rest.push_str("{\"type\":\"end_session\"}\n");
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    f.write_all(rest.as_bytes()).unwrap();
    drop(f);
    let (code, summary) = finish(child).await;
    assert_eq!(code, 0, "{summary}");
    assert_eq!(count(&summary, "accepted"), 10, "{summary}");
    assert!(summary.contains("session ended: yes"), "{summary}");
    assert_eq!(redis.order_keys(SITE).await.len(), 10);
    let session: Value = reqwest::Client::new()
        .get(format!("{base}/v1/sessions/e2e-follow"))
        .bearer_auth(TOKEN_A)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["state"], "ended", "{session}");
    assert_eq!(session["accepted"], 10, "{session}");
    svc.kill9().await;
}
