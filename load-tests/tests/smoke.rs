//! Smoke test of the surge scenarios, small: scenario 1 (one stream, 300 orders in a
//! flash) and scenario 2 (4 streams × 100 orders in `live` shape, bursts with repeat
//! buyers), through the same code path as `livepack-surge ingest`, against a real
//! redis-server and the whole service in-process. Correctness only: every order acked,
//! stored exactly once, and after `end_session` every order in exactly one wave.
//! No timing assertion.

use std::time::Duration;

use livepack::store::embedded::{EmbeddedOptions, EmbeddedRedis};
use livepack_surge::ingest::{self, IngestArgs};
use livepack_surge::shape::Shape;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const TOKENS: [&str; 2] = [
    "demo-seller-mat-ong-tam-diep-token",
    "demo-seller-tra-shan-tuyet-token",
];

struct Service {
    base: String,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<Result<(), livepack::RunError>>,
    redis: EmbeddedRedis,
    _dir: tempfile::TempDir,
}

async fn start() -> Service {
    let dir = tempfile::tempdir().expect("tempdir");
    let redis = EmbeddedRedis::start(EmbeddedOptions::new(dir.path()))
        .await
        .expect("redis-server starts (is it installed?)");
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[redis]\nurl = \"{}\"\n",
        redis.url()
    );
    let config = livepack::Config::from_toml(&toml).expect("valid config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(livepack::run(
        config,
        listener,
        shutdown.clone().cancelled_owned(),
    ));
    Service {
        base: format!("ws://{addr}"),
        shutdown,
        handle,
        redis,
        _dir: dir,
    }
}

impl Service {
    async fn stop(mut self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.handle).await;
        self.redis.stop().await;
    }
}

fn args(base: &str, name: &str, connections: usize, orders: usize, shape: Shape) -> IngestArgs {
    IngestArgs {
        url: base.to_owned(),
        tokens: TOKENS.iter().map(|t| t.to_string()).collect(),
        connections,
        orders,
        orders_per_frame: 1,
        window: 64,
        session_prefix: "smoke".into(),
        run_id: Some(name.into()),
        name: Some(name.into()),
        json: None,
        server_pid: None,
        redis_pid: None,
        no_verify_http: false,
        no_progress: true,
        shape,
        pitches: 5,
        repeat_pct: 25,
        duration_secs: 2,
        end_session: true,
        max_secs: 120,
        wave_deadline_secs: 60,
    }
}

/// Every order readable with its seller's token, under its id, and in a wave. With the
/// sessions' `waved` counters equal to the order counts (checked by the run: the counter
/// grows by one per wave commit of an order), that is every order in exactly one wave.
async fn check_orders(base: &str, a: &IngestArgs) {
    let http = reqwest::Client::new();
    let base = livepack_surge::shape::http_base(base);
    let per = a.orders / a.connections;
    for c in 0..a.connections {
        let token = TOKENS[c % TOKENS.len()];
        let session = format!("{}-{}-c{c}", a.session_prefix, a.run_id.as_deref().unwrap());
        for i in 0..per {
            let id = format!("{session}-{i}");
            let resp = http
                .get(format!("{base}/v1/orders/{id}"))
                .bearer_auth(token)
                .send()
                .await
                .expect("GET order");
            assert_eq!(resp.status(), 200, "order {id} stored");
            let v: Value = resp.json().await.expect("order JSON");
            assert_eq!(v["order_id"], id.as_str(), "{v}");
            assert!(v["wave_id"].is_string(), "order {id} in a wave: {v}");
        }
    }
}

async fn run_and_check(svc: &Service, a: IngestArgs) {
    let orders = a.orders as u64;
    let report = ingest::run(a.clone()).await.expect("run");
    assert!(
        report.verified,
        "{}: problems {:?} notes {:?}",
        report.name, report.problems, report.notes
    );
    assert_eq!(report.accepted, orders, "every order accepted once");
    assert_eq!(report.rejected, 0);
    assert_eq!(report.duplicate, 0);
    assert!(
        report.notes.iter().any(|n| n.contains("exactly one wave")),
        "wave check ran: {:?}",
        report.notes
    );
    check_orders(&svc.base, &a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surge_scenarios_small_all_acked_none_lost_all_waved() {
    let svc = start().await;
    // Scenario 1, small: one stream, 300 orders in a flash.
    run_and_check(&svc, args(&svc.base, "s1", 1, 300, Shape::Flash)).await;
    // Scenario 2, small: 4 streams × 100 orders, live shape compressed into 2 s.
    let mut live = args(&svc.base, "s2", 4, 400, Shape::Live);
    live.orders_per_frame = 10;
    run_and_check(&svc, live).await;
    svc.stop().await;
}
