//! Redis Cluster: a local cluster of 3 masters and 3 replicas (6 × `redis-server
//! --cluster-enabled yes`, AOF on, joined with `redis-cli --cluster create`), the service
//! acking only after `WAIT 1`, and the whole path ingest → wave → parcel → shipment → booked
//! → handed over for three sites whose `{site}` slots live on three different masters: no
//! CROSSSLOT (or any) Redis error. Then one master is killed and restarted on its port and
//! data dir mid-burst: nacked frames are resent by `livepack::client::push`, no acked order
//! is lost, none is stored twice, and the sites on the other masters never notice.

use crate::common;
use livepack::store::keys;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use std::time::{Duration, Instant};
use tokio::sync::Notify;

use common::*;
use livepack::client::{push, ClientConfig, Progress, Report};
use livepack::store::embedded::{EmbeddedOptions, EmbeddedRedis};
use serde_json::Value;

struct Cluster {
    nodes: Vec<EmbeddedRedis>,
    _dirs: Vec<tempfile::TempDir>,
}

async fn node_conn(port: u16) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn cluster_ok(port: u16) -> bool {
    let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) else {
        return false;
    };
    let Ok(mut c) = client.get_multiplexed_async_connection().await else {
        return false;
    };
    let info: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async(&mut c)
        .await
        .unwrap_or_default();
    info.contains("cluster_state:ok")
}

impl Cluster {
    async fn start() -> Cluster {
        let mut nodes = Vec::new();
        let mut dirs = Vec::new();
        for _ in 0..6 {
            let dir = tempfile::tempdir().unwrap();
            let mut opts = EmbeddedOptions::new(dir.path());
            opts.extra_args = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                // Longer than the restart below: the master comes back, no failover.
                "10000",
                // The other masters keep serving their slots while one is down.
                "--cluster-require-full-coverage",
                "no",
            ]
            .map(String::from)
            .to_vec();
            nodes.push(
                EmbeddedRedis::start(opts)
                    .await
                    .expect("redis-server starts"),
            );
            dirs.push(dir);
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let out = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::process::Command::new("redis-cli")
                .arg("--cluster")
                .arg("create")
                .args(&addrs)
                .args(["--cluster-replicas", "1", "--cluster-yes"])
                .output(),
        )
        .await
        .expect("redis-cli --cluster create finishes")
        .expect("redis-cli runs (apt-get install -y redis-tools)");
        assert!(
            out.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = Cluster { nodes, _dirs: dirs };
        cluster.wait_ok().await;
        cluster
    }

    /// `cluster_state:ok` on every node, and every master's replica online.
    async fn wait_ok(&self) {
        for n in &self.nodes {
            let port = n.port();
            eventually(30, "cluster_state:ok", || cluster_ok(port)).await;
        }
        for n in &self.nodes {
            let port = n.port();
            eventually(30, "replicas online", || async move {
                let mut c = node_conn(port).await;
                let info: String = redis::cmd("INFO")
                    .arg("replication")
                    .query_async(&mut c)
                    .await
                    .unwrap_or_default();
                info.contains("role:slave") && info.contains("master_link_status:up")
                    || info.contains("role:master") && info.contains("state=online")
            })
            .await;
        }
    }

    /// The masters (the first three nodes given to `--cluster create`).
    fn url(&self) -> String {
        self.nodes[..3]
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node (index) serving `key`'s slot, from CLUSTER KEYSLOT and CLUSTER SLOTS.
    async fn master_of(&self, key: &str) -> usize {
        let mut c = node_conn(self.nodes[0].port()).await;
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut c)
            .await
            .unwrap();
        // Each entry: [start, end, [master host, port, id], replicas…].
        let slots: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut c)
            .await
            .unwrap();
        let int = |v: &redis::Value| redis::from_redis_value::<i64>(v.clone()).unwrap();
        let entry = slots
            .iter()
            .find(|e| (int(&e[0])..=int(&e[1])).contains(&slot))
            .expect("slot covered");
        let master: Vec<redis::Value> = redis::from_redis_value(entry[2].clone()).unwrap();
        let port = &int(&master[1]);
        self.nodes
            .iter()
            .position(|n| i64::from(n.port()) == *port)
            .unwrap()
    }
}

/// Three site ids whose hash tags land on three different masters.
async fn sites_on_each_master(cluster: &Cluster) -> Vec<String> {
    let mut by_master: BTreeMap<usize, String> = BTreeMap::new();
    for c in 'a'..='z' {
        let site = format!("site-{c}");
        let m = cluster.master_of(&keys::stream(&site)).await;
        by_master.entry(m).or_insert(site);
        if by_master.len() == 3 {
            break;
        }
    }
    assert_eq!(by_master.len(), 3, "found a site for every master");
    by_master.into_values().collect()
}

fn seller_token(site: &str, n: usize) -> String {
    format!("token-{site}-seller-{n}-0000")
}

fn seller_id(site: &str, n: usize) -> String {
    format!("{site}-seller-{n}")
}

fn config_extra(sites: &[String]) -> String {
    let mut s = format!("[operator]\ntoken = \"{OPERATOR}\"\n");
    for site in sites {
        s.push_str(&format!(
            "[[sites]]\nid = \"{site}\"\nname = \"{site}\"\npickups = [\"11:00\", \"17:00\"]\n\
             station_pin = \"246813\"\ncarriers = [\"viettel-post\"]\nphone = \"02293888999\"\n\
             province = \"Ninh Bình\"\nward = \"Phường Hoa Lư\"\nstreet = \"Thôn Văn Lâm\"\n"
        ));
    }
    for site in sites {
        for n in 0..2 {
            s.push_str(&format!(
                "[[sellers]]\nid = \"{}\"\nname = \"{site} {n}\"\nsite = \"{site}\"\ntoken = \"{}\"\n",
                seller_id(site, n),
                seller_token(site, n)
            ));
        }
    }
    s
}

async fn api(addr: &str, method: reqwest::Method, path: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .request(method, format!("http://{addr}{path}"))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Pushes `n` orders for every seller of every site at once; `acked` counts stored orders.
async fn push_all(
    addr: &str,
    sites: &[String],
    label: &str,
    n: usize,
    acked: Arc<AtomicU64>,
    (threshold, reached): (u64, Arc<Notify>),
) -> Vec<(String, String, Report)> {
    let mut tasks = Vec::new();
    for site in sites {
        for s in 0..2 {
            let mut cfg = ClientConfig::new(format!("ws://{addr}"), seller_token(site, s), label);
            cfg.orders_per_frame = 20;
            cfg.end_session = true;
            cfg.backoff_max = Duration::from_millis(500);
            let orders: Vec<Value> = (0..n)
                .map(|i| order(&format!("{label}-{s}-{i}"), (i % 500) as u64))
                .collect();
            let (site, seller, acked) = (site.clone(), seller_id(site, s), acked.clone());
            let reached = reached.clone();
            tasks.push(tokio::spawn(async move {
                let last = AtomicU64::new(0);
                let progress = move |p: Progress| {
                    let prev = last.swap(p.acked as u64, Ordering::Relaxed);
                    let now = acked.fetch_add(p.acked as u64 - prev, Ordering::Relaxed);
                    if now < threshold && now + p.acked as u64 - prev >= threshold {
                        reached.notify_one();
                    }
                };
                let report = push(&cfg, orders, Some(&progress)).await.expect("push");
                (site, seller, report)
            }));
        }
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn wait_all_waved(addr: &str, reports: &[(String, String, Report)], label: &str) {
    for (_, seller, r) in reports {
        let (want, path) = (
            r.stored() as u64,
            format!("/v1/sessions/{label}?seller={seller}"),
        );
        eventually(60, "every stored order waved", || {
            let path = path.clone();
            async move { api(addr, reqwest::Method::GET, &path).await.1["waved"] == want }
        })
        .await;
    }
}

/// Every order key and stream order-entry of a site, read on the master that holds it.
async fn stored(cluster: &Cluster, site: &str) -> (BTreeSet<String>, usize) {
    let port = cluster.nodes[cluster.master_of(&keys::stream(site)).await].port();
    let mut c = node_conn(port).await;
    // KEYS on the site's own master: fine for a test's few thousand keys.
    let names: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:o:*", keys::tag(site)))
        .query_async(&mut c)
        .await
        .unwrap();
    let keys = names
        .iter()
        .map(|k| k.rsplit(':').next().unwrap().to_owned())
        .collect();
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(keys::stream(site))
        .arg("-")
        .arg("+")
        .query_async(&mut c)
        .await
        .unwrap();
    let orders = crate::common::stream_order_count(&entries.ids);
    (keys, orders)
}

/// Non-zero `livepack_redis_errors_total` series.
async fn redis_errors(addr: &str) -> Vec<String> {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("livepack_redis_errors_total"))
        .filter(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) != Some(0.0))
        .map(str::to_owned)
        .collect()
}

/// The day's shipments of every site: book them (mock carrier) and hand them over.
async fn ship_everything(addr: &str, site: &str, expect_orders: usize) {
    let mut orders = 0;
    let mut ids = Vec::new();
    for d in 0..3 {
        let date = (chrono::Utc::now().with_timezone(&chrono_tz::Asia::Ho_Chi_Minh)
            + chrono::Duration::days(d))
        .format("%Y-%m-%d");
        let (s, list) = api(
            addr,
            reqwest::Method::GET,
            &format!("/v1/sites/{site}/shipments?date={date}"),
        )
        .await;
        assert_eq!(s, 200, "{list}");
        for sh in list["shipments"].as_array().unwrap() {
            orders += sh["order_count"].as_u64().unwrap() as usize;
            ids.push(sh["shipment_id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(orders, expect_orders, "{site}: every order in a shipment");
    for id in ids {
        // The background booker may hold some parcels ("being booked"): book until none is left.
        let path = format!("/v1/shipments/{id}/book");
        eventually(30, "every parcel booked", || {
            let path = path.clone();
            async move {
                let (s, r) = api(addr, reqwest::Method::POST, &path).await;
                s == 200
                    && r["parcels"]
                        .as_array()
                        .is_some_and(|ps| ps.iter().all(|p| p["status"] == "booked"))
            }
        })
        .await;
        scan_all_onto_truck(addr, OPERATOR, &id).await;
        let path = format!("/v1/shipments/{id}/handed-over");
        let (s, r) = api(addr, reqwest::Method::POST, &path).await;
        assert_eq!((s, r["status"].as_str()), (200, Some("handed_over")), "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sites_on_three_masters_then_a_master_restart_loses_no_acked_order() {
    if in_own_process(
        module_path!(),
        "three_sites_on_three_masters_then_a_master_restart_loses_no_acked_order",
    )
    .await
    {
        return;
    }
    let mut cluster = Cluster::start().await;
    let sites = sites_on_each_master(&cluster).await;
    eprintln!("sites on masters 0, 1, 2: {sites:?}");
    // Acks wait for one replica (WAIT 1 on the site's master); a short command timeout so
    // frames of the stopped master's site are nacked quickly; each seller paced at 150
    // orders/s so the other sites keep sending while the master is down.
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[redis]\nurl = \"{}\"\ncommand_timeout_ms = 1500\n\
         replicas = 1\nreplicas_timeout_ms = 500\n[ingest]\nnack_retry_after_ms = 100\nmax_orders_per_sec = 150\n{}",
        cluster.url(),
        config_extra(&sites)
    );
    let app = TestApp::spawn_with(livepack::Config::from_toml(&toml).unwrap()).await;
    let addr = app.addr.to_string();
    await_ready(&app.http(""), 20).await;

    // 1. No faults: 3 sites × 2 sellers × 150 orders all the way to handed over.
    let started = Instant::now();
    let none = (u64::MAX, Arc::new(Notify::new()));
    let reports = push_all(&addr, &sites, "eve-1", 150, Arc::default(), none).await;
    for (site, seller, r) in &reports {
        assert_eq!(r.accepted.len(), 150, "{site}/{seller}: {r:?}");
        assert!(r.rejected.is_empty() && r.frame_errors.is_empty() && r.nacks == 0);
        assert!(r.session_ended);
    }
    wait_all_waved(&addr, &reports, "eve-1").await;
    for site in &sites {
        ship_everything(&addr, site, 300).await;
        let id = "eve-1-0-7";
        let seller = seller_id(site, 0);
        let (_, o) = api(
            &addr,
            reqwest::Method::GET,
            &format!("/v1/orders/{id}?seller={seller}"),
        )
        .await;
        assert_eq!(o["status"], "handed_over", "{o}");
        assert!(o["wave_id"]
            .as_str()
            .is_some_and(|w| w.contains(site.as_str())));
    }
    assert_eq!(
        redis_errors(&addr).await,
        Vec::<String>::new(),
        "no Redis error (CROSSSLOT or other) on the cluster"
    );
    eprintln!(
        "cluster: 900 orders ingested (acked after WAIT 1), waved, booked, handed over in {:?}",
        started.elapsed()
    );

    // 2. A master restarted mid-burst (SIGKILL, then the same port and dir: AOF + nodes.conf).
    let victim = cluster.master_of(&keys::stream(&sites[1])).await;
    let acked = Arc::new(AtomicU64::new(0));
    let reached = Arc::new(Notify::new());
    let burst = {
        let (addr, sites, acked) = (addr.clone(), sites.clone(), acked.clone());
        let when = (600, reached.clone());
        tokio::spawn(async move { push_all(&addr, &sites, "eve-2", 500, acked, when).await })
    };
    tokio::time::timeout(Duration::from_secs(60), reached.notified())
        .await
        .expect("600 of the burst's 3,000 orders acked");
    let at_kill = acked.load(Ordering::Relaxed);
    cluster.nodes[victim].kill();
    let down = Instant::now();
    eventually(30, "the service sees the master gone", || {
        let a = addr.clone();
        async move { !redis_errors(&a).await.is_empty() }
    })
    .await;
    cluster.nodes[victim]
        .start_again()
        .await
        .expect("master restarts on its port and dir");
    cluster.wait_ok().await;
    eprintln!(
        "master {victim} ({}) down {:?} at {at_kill} acked orders",
        sites[1],
        down.elapsed()
    );
    let reports = tokio::time::timeout(Duration::from_secs(90), burst)
        .await
        .expect("burst finishes")
        .unwrap();
    let nacks: u64 = reports.iter().map(|(_, _, r)| r.nacks + r.reconnects).sum();
    eprintln!("burst done: {nacks} nacks + reconnects were resent by the client");
    for (site, seller, r) in &reports {
        assert_eq!(r.stored(), 500, "{site}/{seller}: every order acked");
        assert!(r.rejected.is_empty());
        if *site != sites[1] {
            assert_eq!(
                (r.nacks, r.reconnects),
                (0, 0),
                "{site}/{seller} lives on a healthy master: never nacked"
            );
        }
    }
    wait_all_waved(&addr, &reports, "eve-2").await;
    for site in &sites {
        let (keys, entries) = stored(&cluster, site).await;
        let mut want = BTreeSet::new();
        for label in ["eve-1", "eve-2"] {
            for s in 0..2 {
                let n = if label == "eve-1" { 150 } else { 500 };
                want.extend((0..n).map(|i| format!("{label}-{s}-{i}")));
            }
        }
        assert_eq!(keys, want, "{site}: stored orders == acked orders");
        assert_eq!(entries, want.len(), "{site}: each order stored once");
    }
    app.stop().await;
}

/// Idempotency beyond retention on a cluster: the archiver's retire script writes each
/// order's tombstone in the order's `{site}` slot, and the ingest script reads the seller's
/// tombstone buckets in the same call — no CROSSSLOT; a resent old order is `duplicate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstones_keep_order_ids_known_on_a_cluster() {
    if in_own_process(
        module_path!(),
        "tombstones_keep_order_ids_known_on_a_cluster",
    )
    .await
    {
        return;
    }
    use serde_json::json;
    let cluster = Cluster::start().await;
    let sites = sites_on_each_master(&cluster).await;
    let archive = tempfile::tempdir().unwrap();
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[redis]\nurl = \"{}\"\ncommand_timeout_ms = 3000\n\
         [retention]\nhot_secs = 1\nscan_secs = 1\narchive_dir = \"{}\"\n{}",
        cluster.url(),
        archive.path().display(),
        config_extra(&sites)
    );
    let app = TestApp::spawn_with(livepack::Config::from_toml(&toml).unwrap()).await;
    for site in &sites {
        let (seller, token) = (seller_id(site, 0), seller_token(site, 0));
        let mut ws = connect(&app, &token, "tomb").await;
        let orders: Vec<Value> = (0..3).map(|i| order(&format!("TB-{i}"), i)).collect();
        send_accepted(&mut ws, &orders).await;
        for i in 0..3 {
            let cancel = json!({"type": "cancel", "seq": 2 + i, "order_id": format!("TB-{i}"),
                                "reason": "buyer_cancelled"});
            send(&mut ws, &cancel).await;
            assert_eq!(recv(&mut ws).await["results"][0]["status"], "cancelled");
        }
        let key = |id: &str| keys::order(site, &seller, id);
        let master = cluster.master_of(&key("TB-0")).await;
        let mut c = node_conn(cluster.nodes[master].port()).await;
        eventually(60, "the orders expired from the cluster", || {
            let mut c = c.clone();
            let keys: Vec<String> = (0..3).map(|i| key(&format!("TB-{i}"))).collect();
            async move {
                let n: i64 = redis::cmd("EXISTS")
                    .arg(&keys)
                    .query_async(&mut c)
                    .await
                    .unwrap();
                n == 0
            }
        })
        .await;
        let mut changed = order("TB-1", 1);
        changed["note"] = json!("đổi nội dung");
        let again = vec![order("TB-0", 0), changed];
        send(
            &mut ws,
            &json!({"type": "orders", "seq": 9, "orders": again}),
        )
        .await;
        let r = recv(&mut ws).await;
        assert_eq!(r["results"][0]["status"], "duplicate", "{site}: {r}");
        assert_eq!(r["results"][1]["status"], "duplicate", "{site}: {r}");
        let n: i64 = redis::cmd("EXISTS")
            .arg(key("TB-0"))
            .arg(key("TB-1"))
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 0, "{site}: not stored again");
        // The tombstones live in the site's slot.
        let (_, buckets): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(0)
            .arg("MATCH")
            .arg(format!("{}:t:*", keys::tag(site)))
            .arg("COUNT")
            .arg(10_000)
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(buckets.len(), 1, "{site}: {buckets:?}");
        assert_eq!(
            cluster.master_of(&buckets[0]).await,
            cluster.master_of(&keys::stream(site)).await
        );
    }
    app.stop().await;
}
