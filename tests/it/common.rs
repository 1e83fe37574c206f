//! Test harness: a real redis-server per test (own port, own temp dir, AOF on) and the
//! whole service started in-process on port 0.

use livepack::store::keys;
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
        scan_keys(&mut self.conn().await, &format!("{}:o:*", keys::tag(site))).await
    }

    /// Every key matching `pattern` (SCAN).
    pub async fn keys_like(&self, pattern: &str) -> Vec<String> {
        scan_keys(&mut self.conn().await, pattern).await
    }

    /// Orders named by the site's stream (each stored order once; an entry names up to
    /// `ORDERS_PER_ENTRY` of a frame's orders).
    pub async fn stream_orders(&self, site: &str) -> usize {
        let mut c = self.conn().await;
        let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(keys::stream(site))
            .arg("-")
            .arg("+")
            .query_async(&mut c)
            .await
            .unwrap();
        stream_order_count(&entries.ids)
    }
}

/// The (seller, order id) of every order stream entries name, in stream order (each order
/// entry names one or more).
pub fn stream_named_orders(entries: &[redis::streams::StreamId]) -> Vec<(String, String)> {
    entries
        .iter()
        .filter_map(|e| match livepack::store::stream::decode(e) {
            livepack::store::stream::Entry::Orders { seller, order_ids } => {
                Some(order_ids.into_iter().map(move |o| (seller.clone(), o)))
            }
            _ => None,
        })
        .flatten()
        .collect()
}

/// How many orders stream entries name.
pub fn stream_order_count(entries: &[redis::streams::StreamId]) -> usize {
    stream_named_orders(entries).len()
}

/// Every key matching `pattern`, by SCAN (never KEYS).
pub async fn scan_keys(c: &mut redis::aio::MultiplexedConnection, pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(c)
            .await
            .unwrap();
        out.extend(keys);
        if next == 0 {
            return out;
        }
        cursor = next;
    }
}

/// A port free right now on 127.0.0.1, for a service started as a child process.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (≤ `secs`) until `{base}/readyz` answers 200.
pub async fn await_ready(base: &str, secs: u64) {
    let url = format!("{base}/readyz");
    eventually(secs, &url, || async {
        reqwest::get(&url).await.is_ok_and(|r| r.status() == 200)
    })
    .await
}

/// A small typed client for the service's JSON API, as one caller: `base` is
/// `http://host:port`, `token` the bearer. Answers are (status, JSON body or `null`).
#[derive(Clone)]
pub struct TestClient {
    pub base: String,
    pub token: String,
    http: reqwest::Client,
}

impl TestClient {
    pub fn new(addr: impl std::fmt::Display, token: &str) -> TestClient {
        TestClient {
            base: format!("http://{addr}"),
            token: token.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post_json(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
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

/// `[operator]` with the test token, and the fake Viettel Post at `base_url` as the carrier
/// (its login, webhooks signed with `secret`); `more` adds lines to that `[[carriers]]`.
pub fn vtp_carrier_toml(base_url: &str, secret: &str, more: &str) -> String {
    format!(
        "[operator]\ntoken = \"{OPERATOR}\"\n[[carriers]]\nid = \"viettel-post\"\n\
         kind = \"viettelpost\"\nbase_url = \"{base_url}\"\nusername = \"{user}\"\n\
         password = \"{pass}\"\nwebhook_secret = \"{secret}\"\ndefault_service = \"VCN\"\n{more}\n",
        user = crate::fake_vtp::USERNAME,
        pass = crate::fake_vtp::PASSWORD,
    )
}

/// A `[[sellers]]` entry at [`SITE`] for each `(id, token)`.
pub fn sellers_toml(sellers: &[(&str, &str)]) -> String {
    sellers
        .iter()
        .map(|(id, token)| {
            format!("[[sellers]]\nid = \"{id}\"\nname = \"{id}\"\nsite = \"{SITE}\"\ntoken = \"{token}\"\n")
        })
        .collect()
}

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
            format: livepack::config::LogFormat::Text,
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

    /// The service's `/metrics` page.
    pub async fn metrics_text(&self) -> String {
        reqwest::get(self.http("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// A [`TestClient`] of this app as the caller of `token`.
    pub fn client(&self, token: &str) -> TestClient {
        TestClient::new(self.addr, token)
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
    recv_within(ws, 20).await
}

/// Next JSON text reply, within `secs`.
pub async fn recv_within(ws: &mut Ws, secs: u64) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(secs), ws.next())
            .await
            .unwrap_or_else(|_| panic!("a reply within {secs} s"))
            .expect("connection open")
            .expect("no socket error");
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("reply is JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

/// One seller session: connects as `token`, sends `orders` in frames of `chunk` and then
/// `end_session`, and returns the acks (one a frame; panics on any other reply or after 30 s).
pub async fn push_session(
    app: &TestApp,
    token: &str,
    session: &str,
    orders: &[Value],
    chunk: usize,
) -> Vec<Value> {
    let mut ws = connect(app, token, session).await;
    let mut frames: Vec<Value> = orders
        .chunks(chunk.max(1))
        .enumerate()
        .map(|(n, c)| json!({"type": "orders", "seq": n, "orders": c}))
        .collect();
    frames.push(json!({"type": "end_session", "seq": frames.len()}));
    for f in &frames {
        send(&mut ws, f).await;
    }
    let mut acks = Vec::with_capacity(frames.len());
    for _ in 0..frames.len() {
        let msg = recv_within(&mut ws, 30).await;
        assert_eq!(msg["type"], "ack", "{msg}");
        acks.push(msg);
    }
    acks
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

/// The local (Asia/Ho_Chi_Minh) date `days` from today, `YYYY-MM-DD`.
pub fn vn_date(days: i64) -> String {
    (chrono::Utc::now().with_timezone(&chrono_tz::Asia::Ho_Chi_Minh) + chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

/// The site's shipments of `days` days from today (`GET /v1/sites/{SITE}/shipments`).
pub async fn shipments_near(addr: &str, days: i64) -> Vec<Value> {
    let mut out = Vec::new();
    for d in 0..days {
        let date = vn_date(d);
        let url = format!("http://{addr}/v1/sites/{SITE}/shipments?date={date}");
        let res = reqwest::Client::new()
            .get(&url)
            .bearer_auth(OPERATOR)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{url}");
        let list: Value = res.json().await.unwrap();
        out.extend(list["shipments"].as_array().unwrap().iter().cloned());
    }
    out
}

/// Waits (≤ 60 s) until the shipments of `days` days from today hold `n` orders in all, and
/// returns those shipments.
pub async fn planned_shipments(addr: &str, n: u64, days: i64) -> Vec<Value> {
    eventually(60, "every order in a shipment", || async move {
        shipments_near(addr, days)
            .await
            .iter()
            .map(|s| s["order_count"].as_u64().unwrap_or(0))
            .sum::<u64>()
            == n
    })
    .await;
    shipments_near(addr, days).await
}

/// Sends one `orders` frame (seq 1) and asserts every order in it is accepted.
pub async fn send_accepted(ws: &mut Ws, orders: &[Value]) {
    send(ws, &json!({"type": "orders", "seq": 1, "orders": orders})).await;
    let ack = recv(ws).await;
    let results = ack["results"].as_array().unwrap();
    assert!(results.iter().all(|r| r["status"] == "accepted"), "{ack}");
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
