//! Slow, stuck and oversized peers (issue 10): half-sent requests and trickled handshakes
//! time out, a silent WebSocket is closed, a client that never reads its acks is bounded
//! (the server stops reading it), memory stays bounded while clients push against a paused
//! Redis, oversized or invalid-UTF-8 frames end only their own connection, and a request
//! left half-sent does not hold up a shutdown past its grace period.

use crate::common;
use crate::svc;

use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use svc::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// How long the server may keep a connection whose request head never completes.
const HEAD_BOUND: Duration = Duration::from_secs(40);

async fn service(redis_url: &str, dir: &std::path::Path, ingest: &str) -> Service {
    let port = free_port();
    let config = write_config(dir, port, redis_url, "command_timeout_ms = 500", ingest);
    let mut s = Service::start(&config, port, Some(&dir.join("livepack.log")), "warn");
    s.ready(30).await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_and_trickled_handshakes_are_cut_off() {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut svc = service(
        &redis.url(),
        dir.path(),
        "[ingest]\nidle_timeout_secs = 1\n",
    )
    .await;
    let addr = format!("127.0.0.1:{}", svc.port);
    let t0 = Instant::now();

    // Half an HTTP request, then nothing.
    let mut half = TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Connected, never a byte.
    let mut mute = TcpStream::connect(&addr).await.unwrap();
    // A WebSocket handshake one byte every 200 ms (it would take minutes to finish).
    let trickle = {
        let addr = addr.clone();
        tokio::spawn(async move {
            let mut tcp = TcpStream::connect(&addr).await.unwrap();
            let req = format!(
                "GET /v1/ingest?session=slow HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {TOKEN_A}\r\n\r\n"
            );
            let t = Instant::now();
            for b in req.bytes() {
                if tcp.write_all(&[b]).await.is_err() || t.elapsed() > HEAD_BOUND {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            (
                until_closed(&mut tcp, Duration::from_secs(1)).await,
                t.elapsed(),
            )
        })
    };
    // A WebSocket that is upgraded and then silent (never answers pings).
    let mut silent = raw_ws(&addr, TOKEN_A, "silent").await;
    let silent_closed = until_closed(&mut silent, Duration::from_secs(15)).await;
    let half_closed = until_closed(&mut half, HEAD_BOUND)
        .await
        .map(|_| t0.elapsed());
    let mute_closed = until_closed(&mut mute, HEAD_BOUND)
        .await
        .map(|_| t0.elapsed());
    let (trickle_closed, trickle_took) = trickle.await.unwrap();
    println!(
        "silent websocket closed after {silent_closed:?} (idle_timeout_secs = 1); half request \
         closed by {half_closed:?} after connecting; mute connection by {mute_closed:?}; \
         trickled handshake cut after {trickle_took:?} ({trickle_closed:?})"
    );
    assert!(
        silent_closed.is_some(),
        "a silent WebSocket is closed (ping, then close)"
    );
    assert!(
        half_closed.is_some(),
        "a half-sent request is closed within {HEAD_BOUND:?}"
    );
    assert!(
        mute_closed.is_some(),
        "a mute connection is closed within {HEAD_BOUND:?}"
    );
    assert!(
        trickle_took < HEAD_BOUND,
        "a trickled handshake is cut within {HEAD_BOUND:?}"
    );
    let health = reqwest::get(format!("{}/healthz", svc.base()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    svc.terminate().await;
}

fn bad_orders_frame(seq: usize) -> Vec<u8> {
    let f = format!(
        r#"{{"type":"orders","seq":{seq},"orders":[{}]}}"#,
        vec!["{}"; 500].join(",")
    );
    ws_frame(1, f.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_acks_is_not_buffered_without_limit() {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ingest = "[ingest]\nmax_orders_per_sec = 1000000\n";
    let mut svc = service(&redis.url(), dir.path(), ingest).await;
    let addr = format!("127.0.0.1:{}", svc.port);
    let warm: Vec<Value> = (0..500).map(|i| order(&format!("W-{i}"), i)).collect();
    let cfg = livepack::client::ClientConfig::new(svc.ws(), TOKEN_A, "warm");
    livepack::client::push(&cfg, warm, None).await.unwrap();
    let before = svc.rss_kib();

    // Each frame asks for a ~55 KB reply (500 rejections) and the client reads none.
    let mut raw = raw_ws(&addr, TOKEN_B, "never-reads").await;
    let (mut written, mut peak) = (0usize, before);
    let started = Instant::now();
    let mut stalled = None;
    for seq in 0.. {
        let frame = bad_orders_frame(seq);
        match tokio::time::timeout(Duration::from_secs(2), raw.write_all(&frame)).await {
            Ok(Ok(())) => written += frame.len(),
            Ok(Err(e)) => panic!("the server dropped the slow reader: {e}"),
            Err(_) => {
                stalled = Some(started.elapsed());
                break;
            }
        }
        peak = peak.max(svc.rss_kib());
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "writes never stalled"
        );
    }
    // Stalled: the server stopped reading. It stays stalled, and memory stays put.
    for _ in 0..10 {
        let more = tokio::time::timeout(
            Duration::from_millis(300),
            raw.write_all(&bad_orders_frame(0)),
        )
        .await;
        assert!(
            more.is_err(),
            "the server does not read a peer that does not read"
        );
        peak = peak.max(svc.rss_kib());
    }
    println!(
        "never-reading client: {written} bytes ({} frames) accepted before the server stopped reading \
         after {stalled:?}; RSS {before} KiB before, peak {peak} KiB",
        written / bad_orders_frame(0).len()
    );
    assert!(
        peak < before + 64 * 1024,
        "RSS grew from {before} to {peak} KiB"
    );
    // Others are still served while it hangs there.
    let cfg = livepack::client::ClientConfig::new(svc.ws(), TOKEN_A, "others");
    let others: Vec<Value> = (0..50).map(|i| order(&format!("OT-{i}"), i)).collect();
    let report = livepack::client::push(&cfg, others, None).await.unwrap();
    assert_eq!(report.accepted.len(), 50);
    drop(raw);
    svc.terminate().await;
}

/// The server's frames in `bytes` (unmasked, RFC 6455) as (opcode, payload), and whether
/// the last one is cut short.
fn server_frames(mut bytes: &[u8]) -> (Vec<(u8, Vec<u8>)>, bool) {
    let mut frames = Vec::new();
    while bytes.len() >= 2 {
        let (len, head) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 if bytes.len() >= 10 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&bytes[2..10]);
                (u64::from_be_bytes(n) as usize, 10)
            }
            126 | 127 => return (frames, true),
            n => (n as usize, 2),
        };
        if bytes.len() < head + len {
            return (frames, true);
        }
        frames.push((bytes[0] & 0x0f, bytes[head..head + len].to_vec()));
        bytes = &bytes[head + len..];
    }
    (frames, !bytes.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_sent_ahead_of_a_bad_frame_get_their_replies_and_the_close_code() {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ingest = "[ingest]\nmax_orders_per_sec = 1000000\n";
    let mut svc = service(&redis.url(), dir.path(), ingest).await;
    let addr = format!("127.0.0.1:{}", svc.port);
    let orders = |tag: &str, from: u64, n: u64| -> Vec<u8> {
        (from..from + n)
            .flat_map(|i| {
                let f =
                    json!({"type": "order", "seq": i, "order": order(&format!("{tag}-{i}"), i)});
                ws_frame(1, f.to_string().as_bytes())
            })
            .collect()
    };
    // 100 orders sent without waiting, then a frame the WebSocket layer refuses (and, for
    // the UTF-8 case, 200 more orders behind it that are never read): every one of the 100
    // gets its ack, then the close code, before the connection ends (a reset of a socket
    // closed with unread bytes in it used to throw the last replies away).
    for (tag, bad, code) in [
        ("BIG", ws_frame(1, &vec![b'x'; 300 * 1024]), 1009u16),
        (
            "UTF",
            ws_frame(1, b"{\"type\":\"ping\",\"seq\":1,\"x\":\"\xff\"}"),
            1007,
        ),
    ] {
        let mut raw = raw_ws(&addr, TOKEN_A, "ahead").await;
        let mut sent = orders(tag, 0, 100);
        sent.extend(bad);
        if code == 1007 {
            sent.extend(orders(tag, 1000, 200));
        }
        let (mut rd, mut wr) = raw.split();
        // The server stops reading at the bad frame: this write ends when it lets go.
        let write = async {
            let _ = tokio::time::timeout(Duration::from_secs(20), wr.write_all(&sent)).await;
        };
        let read = async {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                match tokio::time::timeout(Duration::from_secs(1), rd.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                    Err(_) => {}
                }
                if server_frames(&got).0.iter().any(|(op, _)| *op == 8) {
                    break;
                }
            }
            got
        };
        let ((), got) = tokio::join!(write, read);
        let (frames, _) = server_frames(&got);
        let acks: Vec<Value> = frames
            .iter()
            .filter(|(op, _)| *op == 1)
            .map(|(_, p)| serde_json::from_slice(p).unwrap())
            .collect();
        assert_eq!(
            acks.len(),
            100,
            "{tag}: every frame ahead of the bad one is answered"
        );
        for (i, ack) in acks.iter().enumerate() {
            assert_eq!(ack["seq"], i as u64, "{tag}: in order");
            assert_eq!(ack["results"][0]["status"], "accepted", "{tag}: {ack}");
        }
        let close = frames
            .iter()
            .find(|(op, _)| *op == 8)
            .map(|(_, p)| p.clone());
        let close = close.unwrap_or_else(|| panic!("{tag}: no close frame after the acks"));
        assert_eq!(u16::from_be_bytes([close[0], close[1]]), code, "{tag}");
    }
    svc.terminate().await;
}

/// What came of pushing against a paused Redis.
struct Paused {
    frames: u64,
    rss: [u64; 4],
    nacks: f64,
    nack_mean: f64,
    nack_bound: f64,
    /// Frames that got no reply (their connection closed: the outcome unknown), and the
    /// bound of their read-to-close time.
    closes: f64,
    close_bound: f64,
}

/// Four clients push frames of 100 orders (`per_sec` frames a second each, or as fast as
/// the server reads) for 8 s while Redis refuses writes (`CLIENT PAUSE … WRITE`); RSS is
/// sampled: before, max of the first 4 s, max of the last 4 s, after.
async fn push_against_paused_redis(per_sec: Option<u64>) -> Paused {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut svc = service(&redis.url(), dir.path(), "").await;
    let warm: Vec<Value> = (0..1000).map(|i| order(&format!("W-{i}"), i)).collect();
    let cfg = livepack::client::ClientConfig::new(svc.ws(), TOKEN_A, "warm");
    livepack::client::push(&cfg, warm, None).await.unwrap();
    let before = svc.rss_kib();

    let mut c = redis_conn(&redis.url()).await;
    redis::cmd("CLIENT")
        .arg(&["PAUSE", "15000", "WRITE"])
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let mut clients = Vec::new();
    for k in 0..4usize {
        // Each client sends frames of 100 orders (paced, or as fast as the server reads) and
        // reads its replies; a connection the server closes (a frame's outcome unknown) is
        // opened again, as a real client does.
        let url = format!("{}/v1/ingest?session=paused-{k}", svc.ws());
        let stop = stop.clone();
        clients.push(tokio::spawn(async move {
            let period = Duration::from_millis(1000 / per_sec.unwrap_or(1000));
            let (mut frames, mut acks, mut seq) = (0u64, 0u64, 0u64);
            'conn: while !stop.is_cancelled() {
                let Ok(ws) = try_connect(&url, Some(TOKEN_A)).await else {
                    break;
                };
                let (mut tx, mut rx) = ws.split();
                let mut tick = tokio::time::interval(period);
                loop {
                    let orders: Vec<Value> = (0..100)
                        .map(|j| order(&format!("PZ-{k}-{seq}-{j}"), j))
                        .collect();
                    let f = json!({"type": "orders", "seq": seq, "orders": orders}).to_string();
                    let paced = async {
                        if per_sec.is_some() {
                            tick.tick().await;
                        }
                        tx.send(Message::Text(f.into())).await
                    };
                    tokio::select! {
                        _ = stop.cancelled() => break 'conn,
                        m = rx.next() => match m {
                            Some(Ok(Message::Text(t))) => {
                                let r: Value = serde_json::from_str(t.as_str()).unwrap();
                                acks += u64::from(r["type"] == "ack");
                            }
                            Some(Ok(_)) => {}
                            None | Some(Err(_)) => continue 'conn,
                        },
                        r = paced => {
                            if r.is_err() {
                                continue 'conn;
                            }
                            frames += 1;
                            seq += 1;
                        }
                    }
                }
            }
            (frames, acks)
        }));
    }
    let t = Instant::now();
    let mut samples = Vec::new();
    while t.elapsed() < Duration::from_secs(8) {
        samples.push(svc.rss_kib());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Hang up (dropping both halves resets the sockets, and with them what the server had
    // not read yet), then let Redis take writes again.
    stop.cancel();
    let mut frames = 0;
    for client in clients {
        let (sent, acks) = client.await.unwrap();
        frames += sent;
        assert_eq!(acks, 0, "nothing acked while Redis takes no writes");
    }
    redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    let page = reqwest::get(format!("{}/metrics", svc.base()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Every frame is answered: a nack (never sent: the breaker), or, for one whose call
    // timed out (Redis may run it when the pause ends), no reply and its connection closed.
    let (nacks, nack_mean, nack_bound) = histogram_stats(
        &page,
        "livepack_ingest_reply_latency_seconds",
        &["type=\"nack\""],
    );
    let (closes, _, close_bound) = histogram_stats(
        &page,
        "livepack_ingest_reply_latency_seconds",
        &["type=\"unknown\""],
    );
    // Fine again once Redis takes writes.
    let cfg = livepack::client::ClientConfig::new(svc.ws(), TOKEN_A, "after-pause");
    let report = livepack::client::push(&cfg, vec![order("AP-1", 1)], None)
        .await
        .unwrap();
    assert_eq!(report.stored(), 1);
    let half = samples.len() / 2;
    let rss = [
        before,
        *samples[..half].iter().max().unwrap(),
        *samples[half..].iter().max().unwrap(),
        svc.rss_kib(),
    ];
    svc.terminate().await;
    Paused {
        frames,
        rss,
        nacks,
        nack_mean,
        nack_bound,
        closes,
        close_bound,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_while_clients_flood_a_paused_redis() {
    let p = push_against_paused_redis(None).await;
    let [before, first, second, after] = p.rss;
    println!(
        "flood: 4 clients wrote {} frames of 100 orders in 8 s against CLIENT PAUSE WRITE: RSS \
         {before} KiB before, max {first} KiB in the first 4 s, {second} KiB in the last 4 s, \
         {after} KiB after; {} nacks, read-to-nack mean {:.3} s, {} closed without a reply \
         (debug build, CPU-bound)",
        p.frames, p.nacks, p.nack_mean, p.closes
    );
    assert!(p.nacks + p.closes > 0.0);
    assert!(
        second < first + 32 * 1024,
        "RSS still climbing: {first} then {second} KiB"
    );
    assert!(
        second < before + 150 * 1024,
        "RSS grew from {before} to {second} KiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacks_stay_within_the_command_timeout_under_load_against_a_paused_redis() {
    let p = push_against_paused_redis(Some(4)).await;
    println!(
        "1,600 orders/s (4 clients × 4 frames/s × 100) against CLIENT PAUSE WRITE: {} nacks, \
         read-to-nack mean {:.3} s, all within {} s; {} closed without a reply, within {} s \
         (command_timeout_ms = 500); RSS {:?} KiB",
        p.nacks, p.nack_mean, p.nack_bound, p.closes, p.close_bound, p.rss
    );
    assert!(p.nacks + p.closes > 0.0);
    assert!(
        p.nack_bound <= 2.5 || p.nacks == 0.0,
        "every nack within 2.5 s, not hangs"
    );
    assert!(
        p.close_bound <= 2.5 || p.closes == 0.0,
        "every unanswerable frame's connection closed within 2.5 s, not hangs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_and_invalid_utf8_close_only_their_own_connection() {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("livepack.log");
    let mut service = service(&redis.url(), dir.path(), "").await;
    let url = format!("{}/v1/ingest?session=big", service.ws());
    let mut bystander = try_connect(&url, Some(TOKEN_A)).await.unwrap();

    // Just under 256 KiB: answered.
    let mut ws = try_connect(&url, Some(TOKEN_A)).await.unwrap();
    let pad = "x".repeat(256 * 1024 - 64);
    send(&mut ws, &json!({"type": "ping", "seq": 1, "pad": pad})).await;
    assert_eq!(recv(&mut ws).await, json!({"type": "pong", "seq": 1}));

    // Over it, as text and as binary: close 1009, nothing else.
    for big in [
        Message::Text("y".repeat(300 * 1024).into()),
        Message::Binary(vec![0u8; 300 * 1024].into()),
    ] {
        let mut ws = try_connect(&url, Some(TOKEN_A)).await.unwrap();
        let _ = ws.send(big).await;
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap();
        match msg {
            Some(Ok(Message::Close(Some(f)))) => assert_eq!(u16::from(f.code), 1009),
            other => panic!("expected close 1009, got {other:?}"),
        }
    }

    // Invalid UTF-8 in a text frame, a reserved opcode (tungstenite will not send them: by
    // hand): each ends that connection with RFC 6455's code for it, not the normal 1000.
    let addr = format!("127.0.0.1:{}", service.port);
    for (frame, code, what) in [
        (
            ws_frame(1, &[b'{', 0xc0, 0xaf, 0xff, b'}']),
            1007,
            "a text frame of invalid UTF-8",
        ),
        (ws_frame(3, b"x"), 1002, "a reserved opcode"),
    ] {
        let mut raw = raw_ws(&addr, TOKEN_A, "raw").await;
        raw.write_all(&frame).await.unwrap();
        let mut got = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), raw.read_to_end(&mut got)).await;
        assert!(read.is_ok(), "{what} ends that connection");
        // The server's first frame: a close (0x88), then its length and its 2-byte code.
        assert!(got.len() >= 4 && got[0] == 0x88, "{what}: {got:?}");
        assert_eq!(u16::from_be_bytes([got[2], got[3]]), code, "{what}");
    }
    // A peer that goes away without a close frame (a phone losing its network) is a
    // disconnect, not a protocol error: only the reserved opcode above counts as one.
    let gauge = |page: &str| metric_sum(page, "livepack_ingest_connections", &[]);
    let page = || async {
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let mut raw = raw_ws(&addr, TOKEN_A, "raw").await;
    raw.write_all(&ws_frame(9, b"")).await.unwrap();
    let mut pong = [0u8; 2];
    raw.read_exact(&mut pong).await.unwrap();
    assert_eq!(pong[0], 0x8a, "a pong");
    let open = gauge(&page().await);
    drop(raw);
    eventually(30, "the dropped connection gone", || async {
        gauge(&page().await) < open
    })
    .await;
    let closes = |reason: &str| {
        let having = format!("reason=\"{reason}\"");
        let page = page();
        async move { metric_sum(&page.await, "livepack_ingest_closed_total", &[&having]) }
    };
    assert_eq!(closes("protocol_error").await, 1.0);

    send(
        &mut bystander,
        &json!({"type": "order", "seq": 7, "order": order("BY-1", 1)}),
    )
    .await;
    let r = recv(&mut bystander).await;
    assert_eq!(r["results"][0]["status"], "accepted", "{r}");
    // A hang-up (an SSH session closed) is said in the log and stops nothing.
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(service.pid(), libc::SIGHUP) };
    eventually(30, "the hang-up logged", || async {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("SIGHUP ignored"))
    })
    .await;
    send(
        &mut bystander,
        &json!({"type": "order", "seq": 8, "order": order("BY-2", 1)}),
    )
    .await;
    let r = recv(&mut bystander).await;
    assert_eq!(r["results"][0]["status"], "accepted", "{r}");
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(!stderr.contains("panicked"), "no panic:\n{stderr}");
    service.terminate().await;
}

/// (send queue, receive queue) of the TCP socket from local port `local` to remote port
/// `remote`, from `/proc/net/tcp` (`None` while the kernel lists no such socket).
fn tcp_queues(local: u16, remote: u16) -> Option<(u64, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let port_of = |addr: &str| {
        addr.rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok())
    };
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (l, r, queues) = (f.get(1)?, f.get(2)?, f.get(4)?);
        if port_of(l)? != local || port_of(r)? != remote {
            return None;
        }
        let (tx, rx) = queues.split_once(':')?;
        Some((
            u64::from_str_radix(tx, 16).ok()?,
            u64::from_str_radix(rx, 16).ok()?,
        ))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_left_half_sent_does_not_hold_up_shutdown_past_the_grace_period() {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    // The body deadline far beyond terminate's 20 s: only the shutdown grace (3 s) can end
    // the request below in time.
    let port = free_port();
    let config = write_config(dir.path(), port, &redis.url(), "", "");
    let toml = std::fs::read_to_string(&config).unwrap().replacen(
        "[server]\n",
        "[server]\nrequest_body_timeout_secs = 120\n",
        1,
    );
    std::fs::write(&config, toml).unwrap();
    let mut svc = Service::start(
        &config,
        port,
        Some(&dir.path().join("livepack.log")),
        "warn",
    );
    svc.ready(30).await;

    // A cancel whose 100-byte body stops after 10 bytes.
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = format!(
        "POST /v1/orders/HS-1/cancel HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN_A}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"reason\""
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let client_port = tcp.local_addr().unwrap().port();
    // In flight: the service's kernel has every byte (nothing unacknowledged on our side)
    // and the service has read them all (nothing queued on its side).
    eventually(10, "the service read the half-sent request", || async {
        tcp_queues(client_port, port).is_some_and(|(tx, _)| tx == 0)
            && tcp_queues(port, client_port).is_some_and(|(_, rx)| rx == 0)
    })
    .await;
    let t = Instant::now();
    svc.terminate().await;
    let took = t.elapsed();
    println!("exited {took:?} after SIGTERM with a request half-sent");
    // It did wait for the request (the grace is 3 s): the drain saw it in flight.
    assert!(
        took >= Duration::from_secs(2),
        "the drain waited for the open request ({took:?})"
    );
    drop(tcp);
}
