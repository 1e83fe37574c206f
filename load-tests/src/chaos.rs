//! `livepack-surge chaos`: a long-run fault soak (issue 16).
//!
//! Starts its own `redis-server` (AOF on, `appendfsync everysec`, a free port on 127.0.0.1,
//! a temp dir) and two real `livepack serve` processes on it (the planner lease moves between
//! them), then for `--secs` seconds:
//! - 20 sellers (two sites) push live-shaped sessions over the ingest WebSocket with the
//!   resending client (`livepack::client::push`: resend on nack or lost connection), each to
//!   a random instance, end each session, and cancel about one order in ten over HTTP;
//! - a packing station per site (signed in with the PIN) picks and packs released waves, and
//!   the operator books open shipments with the site's carrier (`mock`);
//! - a controller, at random every few seconds, SIGKILLs a service instance, SIGKILLs Redis,
//!   SIGSTOPs Redis, or SIGKILLs the planner's lease holder, waits a little, and restarts
//!   (or SIGCONTs) what it stopped.
//!
//! Then, with everything up again, the checker proves from the API (and Redis for the lease):
//! every acked order stored exactly once, each live order in exactly one ship-able parcel,
//! each cancelled one in none, no tracking code on two parcels, and each session's counters
//! equal to what its client saw acked. It prints the faults survived by kind and exits
//! non-zero on any violation. Every loop is bounded in count and time; all traffic is on
//! 127.0.0.1.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{FixedOffset, Utc};
use livepack::client::{push, sample_order, ClientConfig};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

const PIN: &str = "246813";
const OPERATOR: &str = "chaos-operator-token-0123456789";
const SITES: [&str; 2] = ["chaos-north", "chaos-south"];

#[derive(Debug, Clone, clap::Args)]
pub struct ChaosArgs {
    /// How long traffic and faults run, in seconds (CI: 60; a soak: 1800).
    #[arg(long, default_value_t = 60)]
    pub secs: u64,
    /// Sellers pushing at once (split over two sites).
    #[arg(long, default_value_t = 20)]
    pub sellers: usize,
    /// Most orders in one seller session (each session has 5..=this many).
    #[arg(long, default_value_t = 30)]
    pub max_session_orders: u64,
    /// The `livepack` binary (default: `livepack` next to this executable, or in its parent).
    #[arg(long)]
    pub livepack: Option<PathBuf>,
    /// The `redis-server` binary.
    #[arg(long, default_value = "redis-server")]
    pub redis_server: String,
    /// Seconds between faults: each gap is uniform in [N, 2N].
    #[arg(long, default_value_t = 4)]
    pub fault_every_secs: u64,
    /// Seed of the random choices (default: from the clock); printed for a rerun.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write the result as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Keep the work directory (logs, AOF, configs) instead of deleting it.
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ChaosReport {
    pub seed: u64,
    pub secs: u64,
    pub wall_s: f64,
    pub faults: BTreeMap<String, u64>,
    pub sessions: u64,
    pub acked: u64,
    pub cancelled: u64,
    pub live: u64,
    pub packed_parcels: u64,
    pub booked_parcels: u64,
    pub nacks: u64,
    pub reconnects: u64,
    pub lost: u64,
    pub doubled: u64,
    pub violations: Vec<String>,
    pub notes: Vec<String>,
}

impl ChaosReport {
    pub fn ok(&self) -> bool {
        self.violations.is_empty() && self.lost == 0 && self.doubled == 0
    }

    pub fn print(&self) {
        println!(
            "chaos soak: {} s of traffic (seed {})",
            self.secs, self.seed
        );
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!("faults survived: {}", faults.join(", "));
        println!(
            "sessions {}, orders acked {}, cancelled {}, live {}; parcels packed {}, booked {}; client nacks {}, reconnects {}",
            self.sessions, self.acked, self.cancelled, self.live, self.packed_parcels,
            self.booked_parcels, self.nacks, self.reconnects
        );
        println!("lost {}, doubled {}", self.lost, self.doubled);
        for n in &self.notes {
            println!("note: {n}");
        }
        for v in self.violations.iter().take(30) {
            println!("VIOLATION: {v}");
        }
        if self.violations.len() > 30 {
            println!("… {} more violations", self.violations.len() - 30);
        }
        println!("chaos: {}", if self.ok() { "OK" } else { "FAILED" });
    }
}

/// xorshift64*: deterministic per seed, no dependency.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [lo, hi].
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

fn token(i: usize) -> String {
    format!("chaos-seller-{i:02}-token-abcdefgh")
}

fn seller_id(i: usize) -> String {
    format!("chaos-seller-{i:02}")
}

fn site_of(i: usize) -> &'static str {
    SITES[i % SITES.len()]
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn config_toml(port: u16, redis_port: u16, dir: &Path, sellers: usize) -> String {
    let mut t = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nshutdown_grace_secs = 2\n\
         [redis]\nurl = \"redis://127.0.0.1:{redis_port}/0\"\ncommand_timeout_ms = 1000\n\
         [retention]\narchive_dir = \"{}\"\n\
         [operator]\ntoken = \"{OPERATOR}\"\n",
        dir.join("archive").display()
    );
    for site in SITES {
        t.push_str(&format!(
            "[[sites]]\nid = \"{site}\"\nname = \"Chaos {site}\"\npickups = [\"11:00\", \"17:00\"]\n\
             station_pin = \"{PIN}\"\ncarriers = [\"chaos-post\"]\nphone = \"02293888999\"\n\
             province = \"Ninh Bình\"\nward = \"Phường Hoa Lư\"\nstreet = \"Thôn Văn Lâm\"\n\
             wave_min = 5\nwave_max = 200\ncombine_window_secs = 5\nmax_hold_secs = 20\n\
             [sites.bins]\n\"HONEY-500\" = \"A-01\"\n\"HONEY-1000\" = \"A-02\"\n\
             \"TEA-SHAN-100\" = \"B-01\"\n\"TEA-LOTUS-200\" = \"B-02\"\n\
             \"RICE-ST25-5KG\" = \"C-01\"\n\"FISH-DRIED-500\" = \"D-01\"\n"
        ));
    }
    for i in 0..sellers {
        t.push_str(&format!(
            "[[sellers]]\nid = \"{}\"\nname = \"Chaos shop {i}\"\nsite = \"{}\"\ntoken = \"{}\"\n",
            seller_id(i),
            site_of(i),
            token(i)
        ));
    }
    t.push_str(
        "[[carriers]]\nid = \"chaos-post\"\nkind = \"mock\"\n\
         base_url = \"http://127.0.0.1:9/v2\"\nusername = \"\"\npassword = \"\"\n\
         webhook_secret = \"chaos-webhook-secret-0123456789\"\ndefault_service = \"VCN\"\n",
    );
    t
}

fn log_file(path: &Path) -> Result<Stdio, String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(Stdio::from)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn signal(child: &Child, sig: libc::c_int) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(pid as i32, sig) };
    }
}

async fn kill_and_reap(child: &mut Child) {
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
}

struct Redis {
    bin: String,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Redis {
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    async fn start(&mut self) -> Result<(), String> {
        let child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", &self.dir.display().to_string()])
            .args(["--appendonly", "yes", "--appendfsync", "everysec"])
            .args(["--save", "", "--protected-mode", "yes"])
            .args(["--hash-max-listpack-value", "4096"])
            .stdin(Stdio::null())
            .stdout(log_file(&self.dir.join("redis.log"))?)
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{}: {e} (apt-get install -y redis-server)", self.bin))?;
        self.child = Some(child);
        self.wait_ping(Duration::from_secs(30)).await
    }

    async fn wait_ping(&self, bound: Duration) -> Result<(), String> {
        let t0 = Instant::now();
        loop {
            if self.ping().await {
                return Ok(());
            }
            if t0.elapsed() > bound {
                return Err(format!("redis-server not answering PING within {bound:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let fut = async {
            let mut c = client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("PING").query_async::<String>(&mut c).await.ok()
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(2), fut).await,
            Ok(Some(_))
        )
    }

    async fn get(&self, key: &str) -> Option<String> {
        let client = redis::Client::open(self.url()).ok()?;
        let fut = async {
            let mut c = client.get_multiplexed_async_connection().await.ok()?;
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<String>>(&mut c)
                .await
                .ok()?
        };
        tokio::time::timeout(Duration::from_secs(2), fut)
            .await
            .ok()?
    }
}

struct Instance {
    bin: PathBuf,
    name: &'static str,
    port: u16,
    config: PathBuf,
    log: PathBuf,
    generation: u32,
    child: Option<Child>,
}

impl Instance {
    fn id(&self) -> String {
        format!("chaos-{}-{}", self.name, self.generation)
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts (a new generation of) the instance and waits for `/healthz`.
    async fn start(&mut self, http: &reqwest::Client) -> Result<(), String> {
        self.generation += 1;
        let child = Command::new(&self.bin)
            .arg("serve")
            .env("LIVEPACK_CONFIG", &self.config)
            .env("LIVEPACK__PLANNER__INSTANCE_ID", self.id())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(&self.log)?)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{}: {e}", self.bin.display()))?;
        self.child = Some(child);
        let t0 = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{}/healthz", self.base())).send().await {
                if r.status() == 200 {
                    return Ok(());
                }
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Err(format!(
                    "instance {} exited at start: {st} (log {})",
                    self.id(),
                    self.log.display()
                ));
            }
            if t0.elapsed() > Duration::from_secs(60) {
                return Err(format!("instance {} not healthy within 60 s", self.id()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_and_reap(&mut c).await;
        }
    }

    /// Some(status) when the process exited on its own.
    fn exited(&mut self) -> Option<String> {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(st))) => Some(st.to_string()),
            _ => None,
        }
    }
}

fn default_livepack() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut dir = exe.parent().map(Path::to_path_buf);
    for _ in 0..2 {
        if let Some(d) = dir {
            let p = d.join("livepack");
            if p.is_file() {
                return Ok(p);
            }
            dir = d.parent().map(Path::to_path_buf);
        }
    }
    Err(format!(
        "no livepack binary next to {} (build it: cargo build -p livepack, or pass --livepack)",
        exe.display()
    ))
}

/// What the traffic saw.
#[derive(Default)]
struct Seen {
    /// (seller index, session label, order ids acked).
    sessions: Vec<(usize, String, Vec<String>)>,
    /// Sessions whose push gave up: their counters are not compared.
    unfinished: Vec<String>,
    /// (seller index, order id) → answered `cancelled`.
    cancelled: HashSet<(usize, String)>,
    nacks: u64,
    reconnects: u64,
    rejected: Vec<String>,
    notes: Vec<String>,
    packed: HashSet<String>,
    book_calls: u64,
}

fn vn_dates() -> Vec<String> {
    let vn = FixedOffset::east_opt(7 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).unwrap());
    let now = Utc::now().with_timezone(&vn).date_naive();
    (0..3)
        .map(|d| (now + chrono::Duration::days(d - 1)).to_string())
        .collect()
}

/// What every traffic task shares.
#[derive(Clone)]
struct Traffic {
    bases: Vec<String>,
    http: reqwest::Client,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    seed: u64,
}

async fn seller_loop(t: Traffic, i: usize, run: String, max_orders: u64) {
    let Traffic {
        bases,
        http,
        stop,
        seen,
        seed,
    } = t;
    let mut rng = Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut n = 0u64;
    let mut earlier: Vec<String> = Vec::new();
    // Bounded: at most 100,000 sessions per seller, and the stop flag.
    for k in 0..100_000u64 {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let session = format!("ch-{run}-{i:02}-{k}");
        let count = rng.range(5, max_orders.max(5));
        let mut ids = Vec::new();
        let mut orders = Vec::new();
        for _ in 0..count {
            let id = format!("{session}-{n}");
            // One order in five from a buyer who already ordered (combined parcels).
            let buyer = if n > 0 && rng.chance(20) {
                i as u64 * 10_000_000 + rng.range(0, n - 1)
            } else {
                i as u64 * 10_000_000 + n
            };
            orders.push(sample_order(&id, buyer));
            ids.push(id);
            n += 1;
        }
        let base = bases[rng.range(0, bases.len() as u64 - 1) as usize].clone();
        let mut cfg = ClientConfig::new(base.clone(), token(i), session.clone());
        cfg.orders_per_frame = rng.range(1, 10) as usize;
        cfg.end_session = true;
        cfg.backoff_max = Duration::from_secs(2);
        cfg.reply_timeout = Duration::from_secs(10);
        cfg.max_attempts_per_order = 200;
        let r = tokio::time::timeout(Duration::from_secs(300), push(&cfg, orders, None)).await;
        let acked: Vec<String> = match r {
            Ok(Ok(rep)) => {
                let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                s.nacks += rep.nacks;
                s.reconnects += rep.reconnects;
                for (id, why) in &rep.rejected {
                    s.rejected
                        .push(format!("{id}: {} {}", why.code, why.message));
                }
                let acked: Vec<String> = rep.accepted.into_iter().chain(rep.duplicate).collect();
                s.sessions.push((i, session.clone(), acked.clone()));
                if !rep.session_ended {
                    s.unfinished.push(session.clone());
                }
                acked
            }
            Ok(Err(e)) => {
                let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                s.notes
                    .push(format!("session {session}: client gave up ({e})"));
                s.unfinished.push(session.clone());
                continue;
            }
            Err(_) => {
                let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                s.notes.push(format!("session {session}: push over 300 s"));
                s.unfinished.push(session.clone());
                continue;
            }
        };
        // Buyers cancel: about one order in ten, from this session or an earlier one.
        earlier.extend(acked);
        let cancels = earlier.len() / 10;
        let cancels = if cancels > 0 && rng.chance(60) {
            rng.range(1, (count / 10).max(1))
        } else {
            0
        };
        for _ in 0..cancels {
            let idx = rng.range(0, earlier.len() as u64 - 1) as usize;
            let id = earlier.swap_remove(idx);
            let base = &bases[rng.range(0, bases.len() as u64 - 1) as usize];
            for _attempt in 0..5 {
                let r = http
                    .post(format!("{base}/v1/orders/{id}/cancel"))
                    .bearer_auth(token(i))
                    .json(&json!({"reason": "buyer_cancelled"}))
                    .send()
                    .await;
                let Ok(r) = r else {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                };
                if r.status().is_server_error() {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                let v: Value = r.json().await.unwrap_or(Value::Null);
                if v["status"] == "cancelled" {
                    let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                    s.cancelled.insert((i, id.clone()));
                }
                break;
            }
        }
        let pause = rng.range(500, 2500);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// Signs a station in at `site` and returns its cookie.
async fn station_cookie(http: &reqwest::Client, base: &str, site: &str) -> Option<String> {
    let r = http
        .post(format!("{base}/v1/station/session"))
        .json(&json!({"site": site, "pin": PIN}))
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    let c = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("lp_station="))?;
    Some(c.split(';').next()?.to_owned())
}

async fn get_json(req: reqwest::RequestBuilder) -> Option<Value> {
    let r = req.send().await.ok()?;
    if r.status() != 200 {
        return None;
    }
    r.json().await.ok()
}

/// The packing floor of one site: picks and packs released waves (as the station), and the
/// operator books open shipments. One round per second; bounded by the stop flag and a
/// round count.
async fn floor_loop(
    site: &'static str,
    bases: Vec<String>,
    http: reqwest::Client,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    seed: u64,
) {
    let mut rng = Rng::new(seed ^ 0xF100_u64 ^ site.len() as u64);
    let mut cookie: Option<String> = None;
    let mut done_waves: HashSet<String> = HashSet::new();
    for _round in 0..1_000_000u64 {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(rng.range(500, 1500))).await;
        let base = bases[rng.range(0, bases.len() as u64 - 1) as usize].clone();
        if cookie.is_none() {
            cookie = station_cookie(&http, &base, site).await;
        }
        let Some(c) = cookie.clone() else { continue };
        for date in vn_dates() {
            let Some(list) = get_json(
                http.get(format!("{base}/v1/sites/{site}/waves?date={date}"))
                    .header("cookie", &c),
            )
            .await
            else {
                continue;
            };
            let waves = list["waves"].as_array().cloned().unwrap_or_default();
            for w in waves {
                let Some(wid) = w["wave_id"].as_str() else {
                    continue;
                };
                if done_waves.contains(wid) || stop.load(Ordering::Relaxed) {
                    continue;
                }
                // The floor is not always quick: some waves wait for a later round.
                if rng.chance(30) {
                    continue;
                }
                let Some(wave) = get_json(
                    http.get(format!("{base}/v1/waves/{wid}"))
                        .header("cookie", &c),
                )
                .await
                else {
                    continue;
                };
                for line in wave["pick_list"].as_array().cloned().unwrap_or_default() {
                    let (qty, picked) = (
                        line["qty"].as_u64().unwrap_or(0),
                        line["picked"].as_u64().unwrap_or(0),
                    );
                    if picked >= qty {
                        continue;
                    }
                    let sku = line["sku"].as_str().unwrap_or("");
                    let _ = http
                        .post(format!("{base}/v1/waves/{wid}/picks"))
                        .header("cookie", &c)
                        .json(&json!({"pick_id": format!("{wid}-{sku}-{picked}"), "sku": sku, "qty": qty - picked}))
                        .send()
                        .await;
                }
                let open: Vec<String> = wave["parcels"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .filter(|p| p["status"] == "open")
                    .filter_map(|p| p["parcel_id"].as_str().map(str::to_owned))
                    .collect();
                let mut all_packed = true;
                for chunk in open.chunks(8) {
                    let posts = chunk.iter().map(|pid| {
                        http.post(format!("{base}/v1/parcels/{pid}/packed"))
                            .header("cookie", &c)
                            .send()
                    });
                    let got = futures_util::future::join_all(posts).await;
                    for (pid, r) in chunk.iter().zip(got) {
                        if r.is_ok_and(|r| r.status().is_success()) {
                            seen.lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .packed
                                .insert(pid.clone());
                        } else {
                            all_packed = false;
                        }
                    }
                }
                if all_packed && wave["status"] == "done" {
                    done_waves.insert(wid.to_owned());
                }
            }
        }
    }
}

/// The operator books open shipments of one site now and then (booking retries in the
/// background until the carrier books or rejects each parcel).
async fn booker_loop(
    site: &'static str,
    bases: Vec<String>,
    http: reqwest::Client,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    seed: u64,
) {
    let mut rng = Rng::new(seed ^ 0xB00C_u64 ^ site.len() as u64);
    for _round in 0..1_000_000u64 {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(rng.range(1000, 3000))).await;
        let base = bases[rng.range(0, bases.len() as u64 - 1) as usize].clone();
        for date in vn_dates() {
            let Some(list) = get_json(
                http.get(format!("{base}/v1/sites/{site}/shipments?date={date}"))
                    .bearer_auth(OPERATOR),
            )
            .await
            else {
                continue;
            };
            for s in list["shipments"].as_array().cloned().unwrap_or_default() {
                let Some(sid) = s["shipment_id"].as_str() else {
                    continue;
                };
                if s["status"] == "handed_over" || !rng.chance(50) {
                    continue;
                }
                let r = http
                    .post(format!("{base}/v1/shipments/{sid}/book"))
                    .bearer_auth(OPERATOR)
                    .send()
                    .await;
                if r.is_ok() {
                    seen.lock().unwrap_or_else(|e| e.into_inner()).book_calls += 1;
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    KillInstance,
    KillRedis,
    StopRedis,
    KillLeaseHolder,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::KillInstance => "service SIGKILL",
            Fault::KillRedis => "redis SIGKILL",
            Fault::StopRedis => "redis SIGSTOP",
            Fault::KillLeaseHolder => "planner lease holder SIGKILL",
        }
    }
}

/// Waits (bounded) until Redis answers and every instance's `/readyz` is 200.
async fn wait_all_up(
    redis: &Redis,
    instances: &mut [Instance],
    http: &reqwest::Client,
    bound: Duration,
) -> Result<(), String> {
    redis.wait_ping(bound).await?;
    let t0 = Instant::now();
    for inst in instances.iter_mut() {
        loop {
            if let Some(st) = inst.exited() {
                return Err(format!("instance {} exited on its own: {st}", inst.id()));
            }
            if let Ok(r) = http.get(format!("{}/readyz", inst.base())).send().await {
                if r.status() == 200 {
                    break;
                }
            }
            if t0.elapsed() > bound {
                return Err(format!("instance {} not ready within {bound:?}", inst.id()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

async fn controller(
    redis: &mut Redis,
    instances: &mut [Instance],
    http: &reqwest::Client,
    until: Instant,
    every: u64,
    rng: &mut Rng,
    report: &mut ChaosReport,
) {
    let ChaosReport {
        faults, violations, ..
    } = report;
    for _ in 0..100_000u32 {
        let gap = Duration::from_millis(rng.range(every * 1000, every * 2000));
        if Instant::now() + gap >= until {
            break;
        }
        tokio::time::sleep(gap).await;
        let kind = match rng.range(0, 3) {
            0 => Fault::KillInstance,
            1 => Fault::KillRedis,
            2 => Fault::StopRedis,
            _ => Fault::KillLeaseHolder,
        };
        let down = Duration::from_millis(rng.range(1000, 4000));
        match kind {
            Fault::KillInstance => {
                let k = rng.range(0, instances.len() as u64 - 1) as usize;
                instances[k].kill().await;
                tokio::time::sleep(down).await;
                if let Err(e) = instances[k].start(http).await {
                    violations.push(e);
                    return;
                }
            }
            Fault::KillRedis => {
                if let Some(mut c) = redis.child.take() {
                    kill_and_reap(&mut c).await;
                }
                tokio::time::sleep(down).await;
                if let Err(e) = redis.start().await {
                    violations.push(format!("redis restart: {e}"));
                    return;
                }
            }
            Fault::StopRedis => {
                if let Some(c) = &redis.child {
                    signal(c, libc::SIGSTOP);
                    tokio::time::sleep(down).await;
                    signal(c, libc::SIGCONT);
                }
            }
            Fault::KillLeaseHolder => {
                let site = SITES[rng.range(0, SITES.len() as u64 - 1) as usize];
                let holder = redis
                    .get(&livepack::store::keys::lease(site))
                    .await
                    .unwrap_or_default();
                let Some(k) = instances.iter().position(|i| i.id() == holder) else {
                    *faults
                        .entry("skipped: no lease holder found".into())
                        .or_default() += 1;
                    continue;
                };
                instances[k].kill().await;
                tokio::time::sleep(down).await;
                if let Err(e) = instances[k].start(http).await {
                    violations.push(e);
                    return;
                }
            }
        }
        *faults.entry(kind.name().into()).or_default() += 1;
        eprintln!(
            "chaos: fault {} ({:?} down), all up again",
            kind.name(),
            down
        );
        if let Err(e) = wait_all_up(redis, instances, http, Duration::from_secs(60)).await {
            violations.push(format!("after {}: {e}", kind.name()));
            return;
        }
    }
}

pub async fn run(a: ChaosArgs) -> Result<ChaosReport, String> {
    if a.sellers == 0 {
        return Err("--sellers must be at least 1".into());
    }
    let bin = match &a.livepack {
        Some(p) => p.clone(),
        None => default_livepack()?,
    };
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let mut rng = Rng::new(seed);
    let run = format!("{:x}", seed % 0xFFFFFF);
    let tmp = tempfile::Builder::new()
        .prefix("livepack-chaos-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let dir = tmp.path().to_path_buf();
    println!("chaos: seed {seed}, work dir {}", dir.display());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;

    let redis_dir = dir.join("redis");
    std::fs::create_dir_all(&redis_dir).map_err(|e| e.to_string())?;
    let mut redis = Redis {
        bin: a.redis_server.clone(),
        port: free_port()?,
        dir: redis_dir,
        child: None,
    };
    redis.start().await?;
    let mut instances = Vec::new();
    for name in ["a", "b"] {
        let port = free_port()?;
        let config = dir.join(format!("livepack-{name}.toml"));
        std::fs::write(&config, config_toml(port, redis.port, &dir, a.sellers))
            .map_err(|e| e.to_string())?;
        let mut inst = Instance {
            bin: bin.clone(),
            name,
            port,
            config,
            log: dir.join(format!("livepack-{name}.log")),
            generation: 0,
            child: None,
        };
        inst.start(&http).await?;
        instances.push(inst);
    }
    wait_all_up(&redis, &mut instances, &http, Duration::from_secs(60)).await?;
    let bases: Vec<String> = instances.iter().map(Instance::base).collect();

    let t0 = Instant::now();
    let until = t0 + Duration::from_secs(a.secs);
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let traffic = Traffic {
        bases: bases.clone(),
        http: http.clone(),
        stop: stop.clone(),
        seen: seen.clone(),
        seed,
    };
    let mut tasks = Vec::new();
    for i in 0..a.sellers {
        tasks.push(tokio::spawn(seller_loop(
            traffic.clone(),
            i,
            run.clone(),
            a.max_session_orders,
        )));
    }
    for site in SITES {
        tasks.push(tokio::spawn(floor_loop(
            site,
            bases.clone(),
            http.clone(),
            stop.clone(),
            seen.clone(),
            seed,
        )));
        tasks.push(tokio::spawn(booker_loop(
            site,
            bases.clone(),
            http.clone(),
            stop.clone(),
            seen.clone(),
            seed,
        )));
    }
    let mut report = ChaosReport {
        seed,
        secs: a.secs,
        ..Default::default()
    };
    controller(
        &mut redis,
        &mut instances,
        &http,
        until,
        a.fault_every_secs.max(1),
        &mut rng,
        &mut report,
    )
    .await;
    tokio::time::sleep_until(until.into()).await;
    stop.store(true, Ordering::Relaxed);
    phase(
        t0,
        "traffic stopped; waiting for the sellers' last sessions",
    );
    // Everything the controller stopped is back; traffic finishes its current session.
    if let Err(e) = wait_all_up(&redis, &mut instances, &http, Duration::from_secs(60)).await {
        report.violations.push(format!("at the end: {e}"));
    }
    for t in tasks {
        match tokio::time::timeout(Duration::from_secs(330), t).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => report.violations.push(format!("traffic task failed: {e}")),
            Err(_) => report
                .violations
                .push("traffic task not finished within 330 s of the stop".into()),
        }
    }
    report.wall_s = t0.elapsed().as_secs_f64();
    phase(t0, "traffic finished; checking");
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()));
    if report.violations.is_empty() {
        check(&http, &bases, &seen, &mut report, t0).await;
    }
    phase(t0, "check done");
    for (k, inst) in instances.iter_mut().enumerate() {
        if let Some(st) = inst.exited() {
            report
                .violations
                .push(format!("instance {k} exited on its own: {st}"));
        }
        inst.kill().await;
    }
    if let Some(mut c) = redis.child.take() {
        kill_and_reap(&mut c).await;
    }
    if a.keep || !report.ok() {
        let kept = tmp.keep();
        report
            .notes
            .push(format!("logs, configs and AOF kept in {}", kept.display()));
    }
    Ok(report)
}

/// The end-of-run proof, from the API.
async fn check(
    http: &reqwest::Client,
    bases: &[String],
    seen: &Seen,
    report: &mut ChaosReport,
    t0: Instant,
) {
    let base = &bases[0];
    report.sessions = seen.sessions.len() as u64;
    report.nacks = seen.nacks;
    report.reconnects = seen.reconnects;
    report.notes.extend(seen.notes.iter().take(20).cloned());
    for r in seen.rejected.iter().take(10) {
        report.violations.push(format!("order rejected: {r}"));
    }
    // 1. Every acked order once: ids unique per seller across the run.
    let mut all: Vec<(usize, String, String)> = Vec::new();
    let mut ids: HashSet<(usize, &str)> = HashSet::new();
    for (i, session, acked) in &seen.sessions {
        for id in acked {
            if !ids.insert((*i, id.as_str())) {
                report.doubled += 1;
                report
                    .violations
                    .push(format!("{id} acked in two sessions"));
            }
            all.push((*i, session.clone(), id.clone()));
        }
    }
    report.acked = all.len() as u64;

    // 2. Session counters equal the acked set.
    let unfinished: HashSet<&str> = seen.unfinished.iter().map(String::as_str).collect();
    let to_check: Vec<&(usize, String, Vec<String>)> = seen
        .sessions
        .iter()
        .filter(|(_, s, _)| !unfinished.contains(s.as_str()))
        .collect();
    let mut answers = Vec::with_capacity(to_check.len());
    for chunk in to_check.chunks(32) {
        let gets = chunk.iter().map(|(i, session, _)| {
            get_retry(http, move || {
                http.get(format!("{base}/v1/sessions/{session}"))
                    .bearer_auth(token(*i))
            })
        });
        answers.extend(futures_util::future::join_all(gets).await);
    }
    for ((_, session, acked), v) in to_check.into_iter().zip(answers) {
        let Some(v) = v else {
            report
                .violations
                .push(format!("GET /v1/sessions/{session} failed"));
            continue;
        };
        let accepted = v["accepted"].as_u64().unwrap_or(u64::MAX);
        let n = acked.len() as u64;
        if accepted < n {
            report.lost += n - accepted;
        }
        if accepted > n && accepted != u64::MAX {
            report.doubled += accepted - n;
        }
        if accepted != n || v["rejected"] != 0 || v["state"] != "ended" {
            report.violations.push(format!(
                "session {session}: accepted {} rejected {} state {}, client saw {n} acked",
                v["accepted"], v["rejected"], v["state"]
            ));
        }
        if v["waved"].as_u64().unwrap_or(0) > accepted {
            report.doubled += 1;
            report.violations.push(format!(
                "session {session}: waved {} > accepted {accepted}",
                v["waved"]
            ));
        }
    }

    phase(
        t0,
        &format!(
            "{} sessions checked; reading {} orders back",
            seen.sessions.len(),
            all.len()
        ),
    );
    // 3. Each order read back; wait (bounded) until every live one has a parcel.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut orders: HashMap<(usize, String), Value> = HashMap::new();
    let mut pending: Vec<(usize, String, String)> = all.clone();
    for _round in 0..1000 {
        let mut still = Vec::new();
        for chunk in pending.chunks(32) {
            let gets = chunk.iter().map(|(i, _, id)| {
                let url = format!("{base}/v1/orders/{id}?seller={}", seller_id(*i));
                async move {
                    let r = http.get(url).bearer_auth(OPERATOR).send().await;
                    match r {
                        Ok(r) if r.status() == 404 => Err(true),
                        Ok(r) if r.status() == 200 => r.json::<Value>().await.map_err(|_| false),
                        _ => Err(false),
                    }
                }
            });
            let got = futures_util::future::join_all(gets).await;
            for ((i, session, id), g) in chunk.iter().zip(got) {
                match g {
                    Ok(v) => {
                        let settled = v["status"] == "cancelled" || v["parcel_id"].is_string();
                        if v["order_id"] != id.as_str() || v["session"] != session.as_str() {
                            report.violations.push(format!(
                                "order {id}: read back as {} in {}",
                                v["order_id"], v["session"]
                            ));
                        }
                        if settled || Instant::now() > deadline {
                            orders.insert((*i, id.clone()), v);
                        } else {
                            still.push((*i, session.clone(), id.clone()));
                        }
                    }
                    Err(true) => {
                        report.lost += 1;
                        report.violations.push(format!("acked order {id}: 404"));
                    }
                    Err(false) => {
                        if Instant::now() > deadline {
                            report.violations.push(format!("order {id}: not readable"));
                        } else {
                            still.push((*i, session.clone(), id.clone()));
                        }
                    }
                }
            }
        }
        if still.is_empty() {
            break;
        }
        pending = still;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    phase(t0, "orders read; reading waves and shipments");
    // 4. Parcels of every wave and shipment the orders name.
    let mut waves: HashSet<String> = HashSet::new();
    let mut shipments: HashSet<String> = HashSet::new();
    for v in orders.values() {
        if let Some(w) = v["wave_id"].as_str() {
            waves.insert(w.to_owned());
        }
        if let Some(s) = v["shipment_id"].as_str() {
            shipments.insert(s.to_owned());
        }
    }
    let mut parcels: HashMap<String, Value> = HashMap::new();
    let urls = waves
        .iter()
        .map(|w| format!("{base}/v1/waves/{w}"))
        .chain(shipments.iter().map(|s| format!("{base}/v1/shipments/{s}")));
    for url in urls {
        match get_retry(http, || http.get(&url).bearer_auth(OPERATOR)).await {
            Some(v) => {
                for p in v["parcels"].as_array().cloned().unwrap_or_default() {
                    if let Some(pid) = p["parcel_id"].as_str() {
                        parcels.insert(pid.to_owned(), p);
                    }
                }
            }
            None => report.violations.push(format!("GET {url} failed")),
        }
    }
    const SHIPABLE: [&str; 5] = ["open", "packed", "booked", "handed_over", "delivered"];
    let mut in_parcels: HashMap<(String, String), Vec<String>> = HashMap::new();
    let mut tracking: HashMap<String, String> = HashMap::new();
    for (pid, p) in &parcels {
        let status = p["status"].as_str().unwrap_or("");
        if !SHIPABLE.contains(&status) {
            continue;
        }
        let seller = p["seller"].as_str().unwrap_or("").to_owned();
        for o in p["order_ids"].as_array().cloned().unwrap_or_default() {
            if let Some(o) = o.as_str() {
                in_parcels
                    .entry((seller.clone(), o.to_owned()))
                    .or_default()
                    .push(pid.clone());
            }
        }
        if status == "packed" || status == "booked" {
            report.packed_parcels += 1;
        }
        if let Some(t) = p["tracking"].as_str() {
            report.booked_parcels += 1;
            if let Some(other) = tracking.insert(t.to_owned(), pid.clone()) {
                report.violations.push(format!(
                    "tracking code {t} on parcels {other} and {pid}: booked twice"
                ));
            }
        }
        if status == "booked" && p["tracking"].is_null() {
            report
                .violations
                .push(format!("parcel {pid} booked without a tracking code"));
        }
    }
    for ((i, id), v) in &orders {
        let key = (seller_id(*i), id.clone());
        let holders = in_parcels.get(&key).map(Vec::len).unwrap_or(0);
        if v["status"] == "cancelled" {
            report.cancelled += 1;
            if holders > 0 {
                report
                    .violations
                    .push(format!("cancelled order {id} still in a ship-able parcel"));
            }
            continue;
        }
        if seen.cancelled.contains(&(*i, id.clone())) {
            report.violations.push(format!(
                "order {id}: cancel answered `cancelled` but status is {}",
                v["status"]
            ));
        }
        report.live += 1;
        match holders {
            1 => {
                let pid = &in_parcels[&key][0];
                if v["parcel_id"] != pid.as_str() {
                    report.violations.push(format!(
                        "order {id}: parcel_id {} but ship-able parcel {pid} holds it",
                        v["parcel_id"]
                    ));
                }
            }
            0 => {
                report.lost += 1;
                report.violations.push(format!(
                    "live order {id} (status {}, parcel {}) in no ship-able parcel",
                    v["status"], v["parcel_id"]
                ));
            }
            n => {
                report.doubled += 1;
                report
                    .violations
                    .push(format!("live order {id} in {n} ship-able parcels"));
            }
        }
    }
    report.notes.push(format!(
        "{} waves, {} shipments, {} parcels read; {} book requests sent; {} parcels packed by the floor",
        waves.len(),
        shipments.len(),
        parcels.len(),
        seen.book_calls,
        seen.packed.len()
    ));
}

fn phase(t0: Instant, what: &str) {
    eprintln!("chaos: {:>6.1} s: {what}", t0.elapsed().as_secs_f64());
}

/// GET with a few retries (bounded): 200 → the JSON.
async fn get_retry(
    _http: &reqwest::Client,
    req: impl Fn() -> reqwest::RequestBuilder,
) -> Option<Value> {
    for _ in 0..5 {
        if let Some(v) = get_json(req()).await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    None
}
