//! Operators' view, end to end: a real Prometheus (Debian's `prometheus`) scrapes the
//! service every second while a burst of orders goes through ingest, a wave, picking,
//! packing and booking; then every panel query of the shipped Grafana dashboard must
//! return data and every alert expression of the shipped rules must evaluate.
//! A second test runs the `livepack` binary fresh and checks that every metric the
//! dashboard and the rules name is exported before the first event (also on the admin
//! port).
//!
//! With `LIVEPACK_METRICS_SNAPSHOT=path.json`, the first test also writes every panel's
//! series over the run (`tests/prometheus/render-dashboard` turns it into
//! docs/metrics-dashboard.png).

use crate::common;
use crate::prometheus;
use crate::svc::metric_sum;

use std::time::Duration;

use common::*;
use livepack::client::{push, sample_order, ClientConfig};
use prometheus::*;
use serde_json::{json, Value};

async fn api(addr: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = reqwest::Client::new()
        .request(method, format!("http://{addr}{path}"))
        .bearer_auth(OPERATOR);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

/// Today and the next two business days (Asia/Ho_Chi_Minh), as `YYYY-MM-DD`.
fn days() -> Vec<String> {
    (0..3)
        .map(|d| {
            (chrono::Utc::now().with_timezone(&chrono_tz::Asia::Ho_Chi_Minh)
                + chrono::Duration::days(d))
            .format("%Y-%m-%d")
            .to_string()
        })
        .collect()
}

async fn session_waved(addr: &str, session: &str, seller: &str) -> u64 {
    let path = format!("/v1/sessions/{session}?seller={seller}");
    api(addr, reqwest::Method::GET, &path, None).await["waved"]
        .as_u64()
        .unwrap_or(0)
}

/// With `LIVEPACK_SNAPSHOT_PACE_MS` (set only when rendering the picture), spreads the
/// scenario over time so the plotted series have a shape; otherwise does nothing.
async fn pace() {
    let ms = std::env::var("LIVEPACK_SNAPSHOT_PACE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(ms) = ms {
        let mut t = tokio::time::interval(Duration::from_millis(ms));
        t.tick().await;
        t.tick().await;
    }
}

/// Pushes `n` orders for one seller in 4 chunks (some from repeat buyers, a few invalid),
/// resends a few (duplicates) and ends the session. Returns the number stored.
async fn burst(app: &TestApp, token: &str, session: &str, prefix: &str, n: u64) -> u64 {
    let mut orders: Vec<Value> = (0..n)
        .map(|i| sample_order(&format!("{prefix}-{i}"), i % (n * 4 / 5)))
        .collect();
    for o in orders.iter_mut().step_by(50) {
        o["buyer"]["phone"] = json!("12345");
    }
    let url = format!("ws://{}", app.addr);
    let mut cfg = ClientConfig::new(&url, token, session);
    cfg.orders_per_frame = 20;
    let (mut stored, mut rejected) = (0, 0);
    for chunk in orders.chunks(orders.len().div_ceil(4)) {
        let report = push(&cfg, chunk.to_vec(), None)
            .await
            .expect("burst pushed");
        stored += report.stored() as u64;
        rejected += report.rejected.len() as u64;
        pace().await;
    }
    assert_eq!(rejected, n.div_ceil(50), "invalid phones rejected");
    // Resend 10 (duplicates), then end the session.
    cfg.end_session = true;
    let again = push(&cfg, orders[1..11].to_vec(), None).await.unwrap();
    assert_eq!(again.duplicate.len(), 10);
    stored
}

/// Picks every line and packs every parcel of every wave; returns (orders, parcels) packed.
async fn work_the_floor(addr: &str) -> (u64, u64) {
    let (mut orders, mut parcels) = (0, 0);
    for date in days() {
        let path = format!("/v1/sites/{SITE}/waves?date={date}");
        let list = api(addr, reqwest::Method::GET, &path, None).await;
        for w in list["waves"].as_array().unwrap() {
            let id = w["wave_id"].as_str().unwrap();
            let wave = api(addr, reqwest::Method::GET, &format!("/v1/waves/{id}"), None).await;
            for (n, l) in wave["pick_list"].as_array().unwrap().iter().enumerate() {
                if l["qty"].as_u64().unwrap_or(0) == 0 {
                    continue;
                }
                let body =
                    json!({"pick_id": format!("{id}-{n}"), "sku": l["sku"], "qty": l["qty"]});
                let r = api(
                    addr,
                    reqwest::Method::POST,
                    &format!("/v1/waves/{id}/picks"),
                    Some(body),
                )
                .await;
                assert_eq!(r["result"], "counted", "{r}");
            }
            pace().await;
            for (i, p) in wave["parcels"].as_array().unwrap().iter().enumerate() {
                if i % 40 == 39 {
                    pace().await;
                }
                let pid = p["parcel_id"].as_str().unwrap();
                let path = format!("/v1/parcels/{pid}/packed");
                let r = api(addr, reqwest::Method::POST, &path, None).await;
                assert_eq!(r["status"], "packed", "{r}");
                parcels += 1;
                orders += p["order_ids"].as_array().unwrap().len() as u64;
            }
        }
    }
    (orders, parcels)
}

/// Books every shipment of the coming days; returns how many.
async fn book_all(addr: &str) -> u64 {
    let mut n = 0;
    for date in days() {
        let path = format!("/v1/sites/{SITE}/shipments?date={date}");
        let list = api(addr, reqwest::Method::GET, &path, None).await;
        for s in list["shipments"].as_array().unwrap() {
            let id = s["shipment_id"].as_str().unwrap();
            pace().await;
            let r = api(
                addr,
                reqwest::Method::POST,
                &format!("/v1/shipments/{id}/book"),
                None,
            )
            .await;
            let parcels = r["parcels"].as_array().unwrap();
            assert!(parcels.iter().all(|p| p["status"] == "booked"), "{r}");
            n += 1;
        }
    }
    n
}

/// Waits until every `(query, expected)` holds in Prometheus (values compared exactly).
async fn until_scraped(prom: &Prometheus, want: &[(String, f64)]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let mut missing = Vec::new();
        for (q, v) in want {
            let got = prom.value(q).await;
            if got != Some(*v) {
                missing.push(format!("{q} = {got:?}, want {v}"));
            }
        }
        if missing.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Prometheus never saw the final state:\n{}",
            missing.join("\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_query_returns_data_and_every_alert_evaluates() {
    if in_own_process(
        module_path!(),
        "every_panel_query_returns_data_and_every_alert_evaluates",
    )
    .await
    {
        return;
    }
    prometheus_bin();
    livepack::observe::set_interval(Duration::from_millis(500));
    let started = chrono::Utc::now().timestamp() as f64;
    let redis = TestRedis::start().await;
    let app = TestApp::spawn_with(test_config(&redis.url(), "[planner]\nenabled = true\n")).await;
    let addr = app.addr.to_string();
    let prom = Prometheus::start(app.addr).await;
    until_scraped(&prom, &[("up{job=\"livepack\"}".to_owned(), 1.0)]).await;

    // Ingest: two sellers' livestreams, then every stored order waved.
    let stored_a = burst(&app, TOKEN_A, "obs-a", "OBS-A", 240).await;
    let stored_b = burst(&app, TOKEN_B, "obs-b", "OBS-B", 60).await;
    eventually(60, "every stored order waved", || {
        let addr = addr.clone();
        async move {
            session_waved(&addr, "obs-a", SELLER_A).await == stored_a
                && session_waved(&addr, "obs-b", SELLER_B).await == stored_b
        }
    })
    .await;

    // The floor and the carrier.
    let (orders_packed, parcels) = work_the_floor(&addr).await;
    assert_eq!(orders_packed, stored_a + stored_b);
    let shipments = book_all(&addr).await;
    assert!(shipments >= 1);

    let s = format!("site=\"{SITE}\"");
    until_scraped(
        &prom,
        &[
            (
                format!("sum(livepack_orders_packed_total{{{s}}})"),
                orders_packed as f64,
            ),
            (
                format!("sum(livepack_parcels_booked_total{{{s}}})"),
                parcels as f64,
            ),
            (
                format!("sum(livepack_shipments_booked_total{{{s}}})"),
                shipments as f64,
            ),
            (
                format!("sum(max by (day) (livepack_day_parcels{{{s}}}))"),
                parcels as f64,
            ),
            (
                format!("sum(max by (pickup) (livepack_pickup_parcels{{{s},stage=\"packed\"}}))"),
                parcels as f64,
            ),
            (
                format!("sum(livepack_orders_received_total{{{s},result=\"accepted\"}})"),
                (stored_a + stored_b) as f64,
            ),
            (format!("sum(livepack_planner_leader{{{s}}})"), 1.0),
            (format!("max(livepack_planner_pending_orders{{{s}}})"), 0.0),
        ],
    )
    .await;
    // Two more scrapes of the final state: range functions (rate, increase) need them.
    let scrapes = "count_over_time(up{job=\"livepack\"}[1h])";
    let seen = prom.value(scrapes).await.unwrap_or(0.0);
    until_scraped(&prom, &[(format!("{scrapes} >= bool {}", seen + 2.0), 1.0)]).await;
    let savings = prom
        .value(&format!(
            "sum(max by (day) (livepack_consolidation_savings_vnd{{{s}}}))"
        ))
        .await;
    assert!(savings.is_some_and(|v| v > 0.0), "savings {savings:?}");

    // The day-report gauges, re-priced pass by pass from the parcels that changed, equal
    // the day report, which reads and prices every parcel.
    let today = livepack::domain::schedule::business_date(chrono::Utc::now());
    let mut want = Vec::new();
    for (day, date) in [
        ("today", today),
        ("tomorrow", today + chrono::Duration::days(1)),
    ] {
        let path = format!("/v1/sites/{SITE}/report?date={date}");
        let r = api(&addr, reqwest::Method::GET, &path, None).await;
        let num = |f: &str| match &r[f] {
            Value::String(v) => v.parse::<f64>().unwrap(),
            v => v.as_f64().unwrap_or_else(|| panic!("report {f}: {r}")),
        };
        for (metric, field) in [
            ("livepack_day_shipments", "shipments"),
            ("livepack_day_parcels", "parcels"),
            ("livepack_day_orders", "orders"),
            ("livepack_shipping_cost_vnd", "cost"),
            ("livepack_consolidation_savings_vnd", "savings"),
        ] {
            want.push((format!("{metric}{{{s},day=\"{day}\"}}"), num(field)));
        }
    }
    assert!(want.iter().any(|(_, v)| *v > 0.0), "{want:?}");
    until_scraped(&prom, &want).await;

    // Every panel query returns data.
    let d = dashboard();
    let vars = [("site", SITE), ("seller", SELLER_A)];
    let mut failures = Vec::new();
    let queries = panel_queries(&d);
    assert!(queries.len() >= 20, "the dashboard has its panels");
    for q in &queries {
        let expr = substitute(&q.expr, &vars);
        let r = prom.query(&expr).await;
        let n = r["data"]["result"].as_array().map_or(0, |a| a.len());
        if r["status"] != "success" || n == 0 {
            failures.push(format!("[{}] {}: {expr}\n    -> {r}", q.row, q.panel));
        }
    }
    // The template variables list the site and the seller.
    for (name, query) in variables(&d) {
        let (promql, label) = label_values_query(&substitute(&query, &vars))
            .unwrap_or_else(|| panic!("variable {name}: {query} is not label_values(…)"));
        let r = prom.query(&promql).await;
        let values: Vec<&str> = r["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x["metric"][&label].as_str())
            .collect();
        let want = if name == "site" { SITE } else { SELLER_A };
        if !values.contains(&want) {
            failures.push(format!("variable {name}: {promql} -> {values:?}"));
        }
    }

    // Every alert rule is loaded, evaluated without error, and its expression is valid.
    let alerts_yml = std::fs::read_to_string(repo_file("config/prometheus/alerts.yml")).unwrap();
    let declared = alerts_yml.matches("- alert:").count();
    let rules = loop_until_rules_evaluated(&prom, declared).await;
    for rule in &rules {
        let name = rule["name"].as_str().unwrap_or_default();
        if rule["health"] != "ok" {
            failures.push(format!(
                "alert {name}: health {} {}",
                rule["health"], rule["lastError"]
            ));
        }
        let expr = rule["query"].as_str().unwrap_or_default();
        let r = prom.query(expr).await;
        if r["status"] != "success" {
            failures.push(format!("alert {name}: {expr}\n    -> {r}"));
        }
    }
    let firing = prom.query("ALERTS{alertstate=\"firing\"}").await;
    for a in firing["data"]["result"].as_array().into_iter().flatten() {
        let name = a["metric"]["alertname"].as_str().unwrap_or_default();
        // A healthy run: nothing down, lagging, nacked or dead-lettered.
        if name != "LivepackOrdersAtRisk" && name != "LivepackOrdersAtRiskNearPickup" {
            failures.push(format!("alert {name} fires on a healthy run: {a}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // No unbounded label values: order ids, session labels, phones never become labels.
    let text = app.metrics_text().await;
    for leak in ["OBS-", "obs-a", "obs-b", "+84", "\"09"] {
        assert!(!text.contains(leak), "/metrics contains {leak:?}");
    }

    if let Ok(path) = std::env::var("LIVEPACK_METRICS_SNAPSHOT") {
        // As Grafana opens it: one site, every seller.
        let all = [("site", SITE), ("seller", ".*")];
        snapshot(&prom, &queries, &all, started, &path).await;
    }
    prom.stop().await;
    app.stop().await;
}

/// The rule groups once every rule has been evaluated at least once.
async fn loop_until_rules_evaluated(prom: &Prometheus, declared: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let r = prom.api("/api/v1/rules", &[]).await;
        let rules: Vec<Value> = r["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        let evaluated = rules.iter().all(|x| {
            !x["lastEvaluation"]
                .as_str()
                .unwrap_or("0001")
                .starts_with("0001")
        });
        if rules.len() == declared && evaluated {
            return rules;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{declared} alert rules declared, Prometheus shows {} (evaluated: {evaluated})",
            rules.len()
        );
    }
}

/// Every panel's series over the run, for tests/prometheus/render_dashboard.py.
async fn snapshot(
    prom: &Prometheus,
    queries: &[PanelQuery],
    vars: &[(&str, &str)],
    start: f64,
    path: &str,
) {
    let end = chrono::Utc::now().timestamp() as f64 + 1.0;
    let mut out = Vec::new();
    for q in queries {
        // Over a short run a 1-minute rate window hides the shape: use 10 s.
        let expr = substitute(&q.expr, vars).replace("[1m]", "[10s]");
        let r = prom.query_range(&expr, start, end, 1.0).await;
        out.push(json!({
            "row": q.row, "panel": q.panel, "kind": q.kind, "unit": q.unit, "legend": q.legend,
            "expr": expr, "result": r["data"]["result"],
        }));
    }
    let doc = json!({"site": vars[0].1, "start": start, "end": end, "queries": out});
    std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    eprintln!("metrics snapshot written to {path}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_rules_use_only_metrics_the_service_exports() {
    if in_own_process(
        module_path!(),
        "dashboard_and_rules_use_only_metrics_the_service_exports",
    )
    .await
    {
        return;
    }
    let d = dashboard();
    let mut used: Vec<String> = panel_queries(&d)
        .iter()
        .flat_map(|q| metric_names(&q.expr))
        .collect();
    for (_, q) in variables(&d) {
        used.extend(metric_names(&q));
    }
    let alerts = std::fs::read_to_string(repo_file("config/prometheus/alerts.yml")).unwrap();
    used.extend(metric_names(&alerts));
    used.sort();
    used.dedup();
    assert!(used.len() > 20, "{used:?}");

    // The binary, fresh: no order, no wave, no booking yet. Its own process, so no other
    // test's series are in its registry.
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (port, admin) = (free_port(), free_port());
    let cfg = dir.path().join("livepack.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:{admin}\"\n\
             [redis]\nurl = \"{}\"\n",
            redis.url()
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
        .env("LIVEPACK_CONFIG", &cfg)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut missing = used.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    while !missing.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "metrics used by config/grafana or config/prometheus but not exported by a fresh \
             service (on the admin port):\n{}",
            missing.join("\n")
        );
        tick.tick().await;
        // One request on the main port, so the HTTP request metrics exist.
        let _ = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await;
        let Ok(r) = reqwest::get(format!("http://127.0.0.1:{admin}/metrics")).await else {
            continue;
        };
        let exposed = exposed_names(&r.text().await.unwrap_or_default());
        missing.retain(|n| !exposed.contains(n));
    }
    // The main port serves the same exposition.
    let main = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exposed = exposed_names(&main);
    let absent: Vec<&String> = used.iter().filter(|n| !exposed.contains(n)).collect();
    assert!(absent.is_empty(), "not on the main port: {absent:?}");
    // CPU time in fractions of a second (a counter of whole seconds read 0 for a service
    // using less than one CPU-second, and the dashboard's rate() of it was flat).
    assert!(
        main.contains("# TYPE process_cpu_seconds_total gauge"),
        "{main}"
    );
    // The kernel counts CPU time in ticks (10 ms): a service that has just started may show
    // 0 yet. Each scrape is work, so scrape until it shows some, within a deadline.
    let mut cpu = metric_sum(&main, "process_cpu_seconds_total", &[]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while cpu == 0.0 && tokio::time::Instant::now() < deadline {
        tick.tick().await;
        let page = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        cpu = metric_sum(&page, "process_cpu_seconds_total", &[]);
    }
    assert!(cpu > 0.0 && cpu < 30.0, "process_cpu_seconds_total {cpu}");
    // The admin port's /healthz answers as the main port's does.
    let health: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{admin}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, serde_json::json!({"status": "ok"}));
    // Counters the README names exist at 0 before their first event (a dashboard or alert
    // built on them shows 0, not "no data").
    for name in [
        "livepack_carrier_quotes_total",
        "livepack_parcels_routed_total",
        "livepack_parcels_repacked_total",
        "livepack_archived_orders_total",
        "livepack_archive_files_expired_total",
        "livepack_archive_errors_total",
    ] {
        assert!(
            exposed.contains(&name.to_owned()),
            "{name} not exported by a fresh service"
        );
    }
    // Anything else on the admin port is the API's JSON error, not an empty body.
    let client = reqwest::Client::new();
    for (method, path, status) in [
        (reqwest::Method::GET, "/nope", 404),
        (reqwest::Method::POST, "/metrics", 405),
    ] {
        let r = client
            .request(method, format!("http://127.0.0.1:{admin}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
}
