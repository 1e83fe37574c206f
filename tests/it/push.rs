//! End to end: `livepack push` of a 3,000-order TikTok Shop export into the service running
//! as a real process on a real Redis, with the service killed and started again mid-push.
//! The CLI finishes on its own, every order is stored exactly once, and pushing the same
//! file again is all `duplicate`. Also: a re-pushed export whose rows turned "Cancelled"
//! cancels those orders (they leave their parcels); `livepack session` counts waved orders
//! at risk; a closed port or a refused token fails fast with exit 3; Ctrl-C exits 130 after
//! saying what was sent.

use crate::common;
use crate::svc;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{eventually, free_port, TestRedis, OPERATOR, SITE, TOKEN_A};
use serde_json::Value;

const ORDERS: usize = 3000;
/// The service reads this many orders per second per connection, so the push lasts a few
/// seconds and the restart surely lands in the middle of it.
const RATE: usize = 400;

/// A TikTok Shop export: every third order on two rows (two SKUs), COD, times a few
/// minutes ago in Vietnam's time as the Seller Center prints them.
fn tiktok_export(n: usize) -> String {
    tiktok_export_with(n, |_| "To ship")
}

/// [`tiktok_export`] with each order's status chosen by `status(i)`.
fn tiktok_export_with(n: usize, status: impl Fn(usize) -> &'static str) -> String {
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
        let st = status(i);
        out.push_str(&format!(
            "{id},{st},HONEY-500,Mật ong rừng 500ml,{qty},\"185.000\",30000,{common}\r\n"
        ));
        if two {
            out.push_str(&format!(
                "{id},{st},TEA-SHAN-100,Trà Shan tuyết 100g,1,120000,30000,{common}\r\n"
            ));
        }
    }
    out
}

/// `livepack push` as a process (messages in English).
fn push(url: &str, file: &Path, extra: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
        .args(["push", "--lang", "en", "--url", url, "--batch", "20"])
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

    let mut svc = svc::Service::start(&config, port, None, "warn");
    svc.ready(60).await;
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
    svc.ready(60).await;

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
    // It said so while it happened (a progress bar is not drawn without a terminal).
    assert!(
        summary.contains("lost the connection to the service: retrying"),
        "{summary}"
    );
    assert!(summary.contains("connected again"), "{summary}");

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
        .args([
            "session",
            "--lang",
            "en",
            "--url",
            &base,
            "--site",
            SITE,
            "e2e-restart",
        ])
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
            .args([
                "cancel",
                "--lang",
                "en",
                "--url",
                &base,
                "--reason",
                "buyer_cancelled",
                id,
            ])
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
    svc.ready(60).await;
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
    assert!(
        summary.contains("session ended by this push: yes"),
        "{summary}"
    );
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
    // An export followed: its last order (whose rows might still be coming) goes once the
    // file has been quiet for 2 s, not only when another order's row or the end comes.
    let csv = dir.path().join("live.csv");
    std::fs::write(&csv, tiktok_export(4)).unwrap();
    let child = push(
        &format!("ws://127.0.0.1:{port}"),
        &csv,
        &[
            "--session",
            "e2e-follow-csv",
            "--follow",
            "--idle-secs",
            "600",
        ],
    );
    eventually(60, "all four stored while following", || async {
        redis.order_keys(SITE).await.len() == 14
    })
    .await;
    let pid = i32::try_from(child.id().expect("still following")).unwrap();
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let (code, summary) = finish(child).await;
    assert_eq!(code, 0, "{summary}");
    assert_eq!(count(&summary, "accepted"), 4, "{summary}");
    svc.kill9().await;
}

/// The service as a process on `redis` with `ingest` lines under `[ingest]`; ready.
async fn serve(redis: &TestRedis, dir: &Path, ingest: &str) -> (svc::Service, String) {
    let port = svc::free_port();
    let config = dir.join("livepack.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[redis]\nurl = \"{}\"\n[ingest]\n{ingest}\n",
            redis.url()
        ),
    )
    .unwrap();
    let mut service = svc::Service::start(&config, port, None, "warn");
    service.ready(60).await;
    let base = service.base();
    (service, base)
}

async fn get_json(url: &str, token: &str) -> Value {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `livepack session` as a process: (exit code, stdout).
async fn session_cmd(base: &str, label: &str, lang: &str) -> (i32, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
        .args([
            "session", "--lang", lang, "--url", base, "--site", SITE, label,
        ])
        .env("LIVEPACK_TOKEN", TOKEN_A)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), text)
}

/// A seller re-downloads the export after an order was waved and the buyer cancelled it on
/// the platform: pushing it again cancels that order here (it leaves its parcel), counts
/// the cancelled row of an order never stored as skipped, and exits 0. On the same service:
/// `livepack session` counts overdue waved orders as at risk, and a wrong token fails
/// with exit 3 in one plain sentence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_pushed_export_cancels_what_the_platform_cancelled() {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut service, base) = serve(&redis, dir.path(), "").await;
    let ws = base.replace("http://", "ws://");
    let file = dir.path().join("export.csv");
    std::fs::write(&file, tiktok_export(4)).unwrap();
    let (code, summary) = finish(push(
        &ws,
        &file,
        &["--session", "e2e-cancel", "--end-session"],
    ))
    .await;
    assert_eq!(code, 0, "{summary}");
    assert!(summary.contains("connecting to"), "{summary}");
    assert_eq!(count(&summary, "accepted"), 4, "{summary}");

    let id = "TT-579250000000000002";
    let order_url = format!("{base}/v1/orders/{id}");
    eventually(60, "the order waved", || async {
        get_json(&order_url, TOKEN_A).await["status"] == "waved"
    })
    .await;
    let before = get_json(&order_url, TOKEN_A).await;
    let wave = before["wave_id"].as_str().unwrap().to_owned();
    let parcel = before["parcel_id"].as_str().unwrap().to_owned();

    // Re-downloaded: order 2 is now cancelled; order 4 (new) was cancelled before it was
    // ever pushed.
    std::fs::write(
        &file,
        tiktok_export_with(5, |i| {
            if i == 2 || i == 4 {
                "Cancelled"
            } else {
                "To ship"
            }
        }),
    )
    .unwrap();
    let (code, summary) = finish(push(&ws, &file, &["--session", "e2e-cancel"])).await;
    eprintln!("{summary}");
    assert_eq!(
        code, 0,
        "cancelled rows do not make the push fail:\n{summary}"
    );
    assert_eq!(count(&summary, "duplicate"), 3, "{summary}");
    assert_eq!(count(&summary, "cancelled"), 1, "{summary}");
    assert_eq!(count(&summary, "skipped"), 1, "{summary}");
    assert_eq!(count(&summary, "unmappable"), 0, "{summary}");
    assert!(
        summary.contains(id),
        "the cancelled order is named:\n{summary}"
    );

    let after = get_json(&order_url, TOKEN_A).await;
    assert_eq!(after["status"], "cancelled", "{after}");
    // Once more, in Vietnamese (a Vietnamese locale): cancelling again is harmless.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
        .args(["push", "--url", &ws, "--session", "e2e-cancel"])
        .arg(&file)
        .env("LIVEPACK_TOKEN", TOKEN_A)
        .env("LC_ALL", "vi_VN.UTF-8")
        .output()
        .await
        .unwrap();
    let vi = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{vi}");
    assert!(
        vi.contains("đã hủy trước       1"),
        "cancelled by the push before, not again: {vi}"
    );
    for w in [
        "trùng",
        "bỏ qua",
        "chưa từng lưu ở đây",
        "→ phiên e2e-cancel",
    ] {
        assert!(vi.contains(w), "{w:?} in {vi}");
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("đang kết nối tới"));
    let never = get_json(&format!("{base}/v1/orders/TT-579250000000000004"), TOKEN_A).await;
    assert!(never["error"].is_object(), "never stored: {never}");
    // It leaves its parcel: no ship-able parcel of the wave holds it any more.
    let wave_url = format!("{base}/v1/waves/{wave}");
    eventually(30, "the cancelled order out of its parcel", || async {
        let w = get_json(&wave_url, OPERATOR).await;
        w["parcels"].as_array().is_some_and(|ps| {
            !ps.iter().any(|p| {
                !["cancelled", "replaced"].contains(&p["status"].as_str().unwrap_or(""))
                    && p["order_ids"]
                        .as_array()
                        .is_some_and(|ids| ids.iter().any(|o| o == id))
            })
        })
    })
    .await;
    let w = get_json(&wave_url, OPERATOR).await;
    let old = w["parcels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["parcel_id"] == parcel.as_str());
    if let Some(p) = old {
        let st = p["status"].as_str().unwrap_or("");
        let holds = p["order_ids"].as_array().unwrap().iter().any(|o| o == id);
        assert!(
            st == "cancelled" || !holds,
            "its old parcel is cancelled or no longer lists it: {p}"
        );
    }

    // Overdue orders (placed 30 hours ago: past their 24-hour deadline), waved and not
    // packed, are at risk in `livepack session`.
    let overdue = dir.path().join("overdue.jsonl");
    let lines: String = (0..3)
        .map(|i| {
            let mut o = common::order(&format!("OD-{i}"), 500 + i);
            o["placed_at"] = common::placed_at_minutes_ago(30 * 60).into();
            format!("{o}\n")
        })
        .chain((3..5).map(|i| format!("{}\n", common::order(&format!("OD-{i}"), 500 + i))))
        .collect();
    std::fs::write(&overdue, lines).unwrap();
    let (code, summary) = finish(push(
        &ws,
        &overdue,
        &["--session", "e2e-risk", "--end-session"],
    ))
    .await;
    assert_eq!(code, 0, "{summary}");
    eventually(60, "the overdue orders waved", || async {
        let s = get_json(&format!("{base}/v1/sessions/e2e-risk"), TOKEN_A).await;
        s["waved"] == 5
    })
    .await;
    let (code, text) = session_cmd(&base, "e2e-risk", "en").await;
    assert_eq!(code, 0, "{text}");
    assert_eq!(count(&text, "waved"), 5, "{text}");
    assert_eq!(count(&text, "at-risk"), 3, "{text}");
    assert!(text.contains("OD-0  waved  overdue"), "{text}");
    let (_, vi) = session_cmd(&base, "e2e-risk", "vi").await;
    assert!(vi.contains("có nguy cơ") && vi.contains("quá hạn"), "{vi}");
    // Its output into a pipe closed before it writes (`| head -0`): it ends quietly, as
    // any Unix tool (killed by SIGPIPE), not with a panic and exit 101.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
        .args(["session", "--url", &base, "--site", SITE, "e2e-risk"])
        .env("LIVEPACK_TOKEN", TOKEN_A)
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
        .wait_with_output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");

    // A spreadsheet row the server refuses: the column as written and the cell, not
    // `unknown_province ship_to.province`.
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/shopee-export.csv");
    let text = std::fs::read_to_string(sample).unwrap().replace(
        ",Hà Nội,,Phường Hoàn Kiếm,",
        ",Ha Noi Capital,,Phường Hoàn Kiếm,",
    );
    let shopee = dir.path().join("shopee.csv");
    std::fs::write(&shopee, text).unwrap();
    let (code, summary) = finish(push(&ws, &shopee, &["--session", "e2e-cells"])).await;
    assert_eq!(code, 1, "{summary}");
    assert_eq!(count(&summary, "rejected"), 1, "{summary}");
    assert!(
        summary.contains(
            "line 2     SP-261121K8M2P4QX  Tỉnh/Thành phố: 'Ha Noi Capital' — not a Vietnamese province"
        ),
        "{summary}"
    );
    assert!(!summary.contains("ship_to.province"), "{summary}");
    assert!(!summary.contains("unknown_province"), "{summary}");

    // A wrong token: exit 3, one plain sentence, no table, no JSON.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
        .args([
            "push",
            "--lang",
            "en",
            "--url",
            &ws,
            "--session",
            "e2e-cancel",
        ])
        .arg(&file)
        .env("LIVEPACK_TOKEN", "not-a-token-of-anyone-000000")
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(stdout.is_empty(), "no summary table: {stdout}");
    assert!(stderr.contains("refused the token"), "{stderr}");
    assert!(!stderr.contains('{'), "no raw JSON: {stderr}");
    service.kill9().await;
}

/// A mistyped command is told in the seller's language (a Vietnamese or language-less
/// locale), exit 2, nothing sent; in English with an English locale, as clap says it.
#[tokio::test]
async fn a_mistyped_seller_command_is_told_in_vietnamese() {
    let run = |args: &'static [&'static str], locale: &'static str| async move {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
            .args(args)
            .env_remove("LIVEPACK_TOKEN")
            .env_remove("LC_MESSAGES")
            .env("LC_ALL", locale)
            .output()
            .await
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, vi) = run(&["push", "--session", "s", "export.csv"], "C.UTF-8").await;
    assert_eq!(code, Some(2), "{vi}");
    for w in [
        "thiếu: --token",
        "LIVEPACK_TOKEN",
        "Cách dùng: livepack push",
        "livepack push --help",
    ] {
        assert!(vi.contains(w), "{w:?} in {vi}");
    }
    let (code, vi) = run(
        &["cod", "--token", "t", "--form", "2026-12-01"],
        "vi_VN.UTF-8",
    )
    .await;
    assert_eq!(code, Some(2), "{vi}");
    assert!(vi.contains("không có tham số '--form'"), "{vi}");
    assert!(vi.contains("'--from'"), "the flag meant: {vi}");
    let (code, en) = run(&["push", "--session", "s", "export.csv"], "en_US.UTF-8").await;
    assert_eq!(code, Some(2), "{en}");
    assert!(en.contains("required arguments were not provided"), "{en}");
}

/// Nothing listens on the port: push says where it connects and exits 3 with the reason,
/// at once (not after minutes of retries); in Vietnamese with `--lang vi`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_a_closed_port_fails_fast_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.csv");
    std::fs::write(&file, tiktok_export(6)).unwrap();
    let port = svc::free_port();
    for lang in ["en", "vi"] {
        let started = std::time::Instant::now();
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
            .args(["push", "--lang", lang, "--session", "closed"])
            .args(["--url", &format!("ws://127.0.0.1:{port}")])
            .arg(&file)
            .env("LIVEPACK_TOKEN", TOKEN_A)
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(10), out)
            .await
            .expect("exits within 10 s")
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("{lang}: {:?}: {stderr}", started.elapsed());
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(out.stdout.is_empty(), "no summary table");
        let words = if lang == "en" {
            [
                "connecting to",
                "cannot reach the service",
                "connection refused",
            ]
        } else {
            [
                "đang kết nối tới",
                "không kết nối được",
                "kết nối bị từ chối",
            ]
        };
        for w in words {
            assert!(stderr.contains(w), "{w:?} in {stderr}");
        }
    }
}

/// `--url` names another web server (a typo in the port): every seller command exits 3
/// saying the address does not answer as livepack, instead of retrying for ever (`push`),
/// or reading its 404 as "no such session" or its 501 as a refused token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_of_another_web_server_is_named_as_such() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = tcp.read(&mut buf).await;
            let _ = tcp
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.csv");
    std::fs::write(&file, tiktok_export(2)).unwrap();
    let commands: [Vec<&str>; 4] = [
        vec!["push", "--session", "s1", file.to_str().unwrap()],
        vec!["session", "s1"],
        vec!["cancel", "TT-1"],
        vec!["cod", "--from", "2026-12-01", "--to", "2026-12-02"],
    ];
    for args in commands {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
            .args(&args)
            .args(["--lang", "en", "--url", &url])
            .env("LIVEPACK_TOKEN", TOKEN_A)
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(20), out)
            .await
            .expect("exits on its own")
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(
            stderr.contains("answered HTTP 404, but not as livepack"),
            "{args:?}: {stderr}"
        );
    }
    server.abort();
}

/// Ctrl-C (SIGINT) in the middle of a push: exit 130 after saying how far it got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_a_push_with_130_after_saying_what_was_sent() {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Slow ingest: the push lasts long enough to be interrupted in the middle.
    let (mut service, base) = serve(&redis, dir.path(), "max_orders_per_sec = 100").await;
    let file = dir.path().join("big.csv");
    std::fs::write(&file, tiktok_export(3000)).unwrap();
    let child = push(
        &base.replace("http://", "ws://"),
        &file,
        &["--session", "e2e-interrupt"],
    );
    eventually(60, "some orders stored", || async {
        redis.order_keys(SITE).await.len() >= 50
    })
    .await;
    let pid = child.id().expect("push running") as i32;
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let (code, out) = finish(child).await;
    assert_eq!(code, 130, "{out}");
    assert!(out.contains("interrupted (Ctrl-C)"), "{out}");
    // "<stored> of 3000 orders stored, <rejected> rejected, <unanswered> sent with no
    // answer yet": Redis held 50 when it was stopped, stored or on their way back.
    let line = out
        .split("interrupted (Ctrl-C): ")
        .nth(1)
        .unwrap_or_else(|| panic!("the Ctrl-C line: {out}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let [stored, total, rejected, unanswered, ..] = numbers[..] else {
        panic!("four numbers: {out}")
    };
    assert_eq!((total, rejected), (3000, 0), "{out}");
    assert!(stored < 3000 && stored + unanswered >= 50, "{out}");
    assert!(line.contains("sent with no answer yet"), "{out}");
    service.kill9().await;
}

/// A `--format` that names the other platform's export, and an empty input, are refused
/// before anything is sent (exit 2, in the seller's language): read as TikTok's, a Shopee
/// export would store every order a second time under `TT-` ids; an empty file (a cut
/// download) used to read as "0 read" and exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_format_or_an_empty_input_is_refused_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let shopee = crate::prometheus::repo_file("docs/examples/shopee-export.csv");
    let xlsx = crate::prometheus::repo_file("docs/examples/tiktok-export.xlsx");
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "\u{feff}\n").unwrap();
    // A header and no row: an export of the wrong days.
    let header_only = dir.path().join("header-only.csv");
    let header = std::fs::read_to_string(&shopee).unwrap();
    std::fs::write(
        &header_only,
        format!("{}\r\n", header.lines().next().unwrap()),
    )
    .unwrap();
    // Nothing listens there: a refusal must come before any connection.
    let url = format!("ws://127.0.0.1:{}", free_port());
    for (file, format, follow, said) in [
        (&shopee, "tiktok-csv", false, "shopee-csv"),
        (&shopee, "tiktok-csv", true, "shopee-csv"),
        (&empty, "tiktok-csv", false, "empty"),
        (&empty, "jsonl", false, "empty"),
        (&empty, "auto", false, "empty"),
        (&header_only, "auto", false, "no order rows"),
        (&header_only, "shopee-csv", false, "no order rows"),
        // An export that cannot be followed, told by its content (reviewer Q: it connected
        // first, then printed a summary).
        (
            &xlsx,
            "auto",
            true,
            "--follow reads JSON lines, TikTok Shop JSON or CSV, not xlsx",
        ),
    ] {
        let mut args = vec!["--session", "wrong-format", "--format", format];
        if follow {
            args.push("--follow");
        }
        let (code, out) = finish(push(&url, file, &args)).await;
        assert_eq!(code, 2, "{format} {}: {out}", file.display());
        assert!(out.contains(said), "{format}: {out}");
        assert!(
            !out.contains("connecting"),
            "refused before connecting: {out}"
        );
    }
    // In Vietnamese.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
        .args([
            "push",
            "--lang",
            "vi",
            "--url",
            &url,
            "--session",
            "s",
            "--format",
            "tiktok-csv",
        ])
        .arg(&shopee)
        .env("LIVEPACK_TOKEN", TOKEN_A)
        .output()
        .await
        .unwrap();
    let vi = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{vi}");
    assert!(
        vi.contains("dòng tiêu đề của tệp là của tệp xuất shopee-csv"),
        "{vi}"
    );
}

/// A Ctrl-C while the push is still connecting (a service that never answers) says so, with
/// nothing sent, and exits 130. Before, the process died on the signal without a word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_connecting_still_says_what_was_sent() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.csv");
    std::fs::write(&file, tiktok_export(5)).unwrap();
    // Takes the connection and reads the request, never answers.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", hung.local_addr().unwrap());
    let child = push(&url, &file, &["--session", "e2e-hung"]);
    let (mut conn, _) = tokio::time::timeout(Duration::from_secs(30), hung.accept())
        .await
        .expect("the push connects")
        .unwrap();
    // Its request arrived: the push is waiting for the answer (its Ctrl-C handler is set).
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(30), conn.read(&mut buf))
        .await
        .expect("the push sends its request")
        .unwrap();
    assert!(n > 0);
    let pid = child.id().expect("push running") as i32;
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let (code, out) = finish(child).await;
    assert_eq!(code, 130, "{out}");
    assert!(
        out.contains("interrupted (Ctrl-C): 0 of 5 orders stored, 0 rejected, 0 sent"),
        "{out}"
    );
}

/// `--end-session` with an empty input ends the session (nothing else to send), exit 0: the
/// empty-input refusal is for pushes that would otherwise do nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_session_with_an_empty_input_ends_the_session() {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut service, base) = serve(&redis, dir.path(), "").await;
    let ws = base.replace("http://", "ws://");
    let orders = dir.path().join("orders.csv");
    std::fs::write(&orders, tiktok_export(3)).unwrap();
    let (code, out) = finish(push(&ws, &orders, &["--session", "e2e-end"])).await;
    assert_eq!(code, 0, "{out}");
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let args = ["--session", "e2e-end", "--format", "jsonl", "--end-session"];
    let (code, out) = finish(push(&ws, &empty, &args)).await;
    assert_eq!(code, 0, "{out}");
    let session = get_json(&format!("{base}/v1/sessions/e2e-end"), TOKEN_A).await;
    assert_eq!(session["state"], "ended", "{session}");
    assert_eq!(session["accepted"], 3, "{session}");
    service.kill9().await;
}
