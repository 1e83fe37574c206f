//! Test harness: a real redis-server per test (own port, own temp dir, AOF on) and the
//! whole service started in-process on port 0.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use livepack::store::embedded::{EmbeddedOptions, EmbeddedRedis};
use livepack::Config;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub const SITE: &str = "hoa-lu-hub";
pub const SELLER_A: &str = "mat-ong-tam-diep";
pub const TOKEN_A: &str = "demo-seller-mat-ong-tam-diep-token";
pub const SELLER_B: &str = "tra-shan-tuyet";
pub const TOKEN_B: &str = "demo-seller-tra-shan-tuyet-token";
pub const OPERATOR: &str = "demo-operator-token-change-me";

pub struct TestRedis {
    pub redis: EmbeddedRedis,
    _dir: tempfile::TempDir,
}

impl TestRedis {
    pub async fn start() -> TestRedis {
        let dir = tempfile::tempdir().expect("temp dir");
        let redis = EmbeddedRedis::start(EmbeddedOptions::new(dir.path()))
            .await
            .expect("redis-server starts (is it installed? apt-get install -y redis-server)");
        TestRedis { redis, _dir: dir }
    }

    pub fn url(&self) -> String {
        self.redis.url()
    }

    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        // Generous timeout: the machine may be busy; these are checks, not the service.
        let cfg = redis::AsyncConnectionConfig::new()
            .set_response_timeout(Some(Duration::from_secs(30)))
            .set_connection_timeout(Some(Duration::from_secs(30)));
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
            .unwrap()
    }

    /// Keys of stored orders of a site.
    pub async fn order_keys(&self, site: &str) -> Vec<String> {
        let mut c = self.conn().await;
        let mut out = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("lp:{{{site}}}:o:*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut c)
                .await
                .unwrap();
            out.extend(keys);
            if next == 0 {
                return out;
            }
            cursor = next;
        }
    }

    /// Order-entries in the site's stream (one per stored order).
    pub async fn stream_orders(&self, site: &str) -> usize {
        let mut c = self.conn().await;
        let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(format!("lp:{{{site}}}:in"))
            .arg("-")
            .arg("+")
            .query_async(&mut c)
            .await
            .unwrap();
        entries
            .ids
            .iter()
            .filter(|e| e.get::<String>("t").as_deref() == Some("o"))
            .count()
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub handle: JoinHandle<Result<(), livepack::RunError>>,
}

/// The demo carrier, without booking on its own an hour before each pickup (tests check
/// floor statuses such as `packed`, whatever the time of day they run).
const TEST_CARRIER: &str = "[[carriers]]\nid = \"viettel-post\"\nkind = \"mock\"\nwebhook_secret = \"demo-webhook-secret\"\ndefault_service = \"VCN\"\nbook_before_pickup_minutes = 0\n";

pub fn test_config(redis_url: &str, extra: &str) -> Config {
    let carrier = if extra.contains("[[carriers]]") {
        ""
    } else {
        TEST_CARRIER
    };
    let extra = format!("{extra}\n{carrier}");
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[redis]\nurl = \"{redis_url}\"\ncommand_timeout_ms = 3000\n{extra}"
    );
    Config::from_toml(&toml).expect("test config is valid")
}

impl TestApp {
    pub async fn spawn(redis_url: &str) -> TestApp {
        Self::spawn_with(test_config(redis_url, "")).await
    }

    pub async fn spawn_with(config: Config) -> TestApp {
        // Warnings go to the test's captured output, shown when a test fails.
        livepack::init_tracing(&livepack::config::LogConfig {
            format: "text".into(),
            level: "warn".into(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(livepack::run(
            config,
            listener,
            shutdown.clone().cancelled_owned(),
        ));
        TestApp {
            addr,
            shutdown,
            handle,
        }
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self, session: &str) -> String {
        format!("ws://{}/v1/ingest?session={session}", self.addr)
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.handle).await;
    }
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub async fn connect(app: &TestApp, token: &str, session: &str) -> Ws {
    try_connect(&app.ws_url(session), Some(token))
        .await
        .expect("ws connects")
}

pub async fn try_connect(
    url: &str,
    token: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = url.into_client_request()?;
    if let Some(t) = token {
        req.headers_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

/// Next JSON text reply, within a deadline.
pub async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a reply within 20 s")
            .expect("connection open")
            .expect("no socket error");
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("reply is JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

pub async fn send(ws: &mut Ws, frame: &Value) {
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

pub fn placed_at_minutes_ago(m: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::minutes(m))
        .with_timezone(&chrono_tz::Asia::Ho_Chi_Minh)
        .to_rfc3339()
}

/// A valid order; `buyer` picks the phone/address (same buyer → same parcel later).
pub fn order(id: &str, buyer: u64) -> Value {
    let qty = 1 + buyer % 3;
    let price = 185_000u64;
    let fee = 30_000u64;
    json!({
        "order_id": id, "platform": "tiktok", "placed_at": placed_at_minutes_ago(5),
        "buyer": { "name": "Nguyễn Thị Lan", "phone": format!("09{:08}", buyer % 100_000_000) },
        "ship_to": { "province": "Ninh Bình", "ward": "Phường Hoa Lư", "street": format!("{} Trần Hưng Đạo", buyer % 200) },
        "items": [ { "sku": "HONEY-500", "name": "Mật ong rừng 500ml", "qty": qty,
                     "unit_price": price.to_string(), "weight_g": 650 } ],
        "cod_amount": (qty * price + fee).to_string(), "shipping_fee": fee.to_string()
    })
}

/// Waits until `check` is true, polling, or panics after `secs`.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
    }
}

/// Hand-over at the truck as a driver's pickup goes: scans every ship-able parcel of the
/// shipment that is not loaded yet (by its tracking code once booked, else its parcel id).
/// Returns how many were scanned; panics on a scan that does not load.
pub async fn scan_all_onto_truck(addr: &str, token: &str, shipment_id: &str) -> usize {
    let client = reqwest::Client::new();
    let sh: Value = client
        .get(format!("http://{addr}/v1/shipments/{shipment_id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parcels = sh["parcels"].as_array().cloned().unwrap_or_default();
    let missing = sh["missing"].as_array().cloned().unwrap_or_default();
    for id in &missing {
        let p = parcels.iter().find(|p| p["parcel_id"] == *id);
        let code = p
            .and_then(|p| p["tracking"].as_str())
            .unwrap_or_else(|| id.as_str().unwrap());
        let r: Value = client
            .post(format!("http://{addr}/v1/shipments/{shipment_id}/scans"))
            .bearer_auth(token)
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["result"], "loaded", "scan {code}: {r}");
        assert_eq!(r["parcel_id"], *id, "scan {code}: {r}");
    }
    missing.len()
}

/// Set in the environment of a test re-run by [`in_own_process`].
const OWN_PROCESS_ENV: &str = "LIVEPACK_IT_OWN_PROCESS";

/// Runs the calling test again, alone, in a fresh process of this test binary, and returns
/// `true` in the caller (which then returns: the child did the work); returns `false` inside
/// that child. For the few tests that read process-wide state — the metrics recorder and the
/// observe interval are one per process, and every in-process service of the other tests
/// running meanwhile adds to the same counters. `module` is `module_path!()`, `name` the
/// test function's name.
pub async fn in_own_process(module: &str, name: &str) -> bool {
    if std::env::var_os(OWN_PROCESS_ENV).is_some() {
        return false;
    }
    let path = module.split_once("::").map_or(module, |(_, rest)| rest);
    let test = format!("{path}::{name}");
    let exe = std::env::current_exe().expect("the test binary's path");
    let status = tokio::process::Command::new(exe)
        .args([test.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(OWN_PROCESS_ENV, "1")
        .kill_on_drop(true)
        .status()
        .await
        .expect("the test binary runs again");
    assert!(
        status.success(),
        "{test} failed in its own process ({status})"
    );
    true
}
