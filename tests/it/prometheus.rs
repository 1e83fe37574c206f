//! Helpers for tests/observability.rs: a real Prometheus server (Debian's `prometheus`
//! binary) in a temp dir, its HTTP API, and the queries of the shipped dashboard and
//! alert rules.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

pub const INSTALL_HELP: &str = "the observability tests need Prometheus (Debian package \
`prometheus`, which provides `prometheus` and `promtool`): run `scripts/check-monitoring` as \
root, or `sudo apt-get install -y prometheus && sudo systemctl disable --now prometheus`";

pub fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The `prometheus` binary on PATH. CI must run these tests: a missing binary fails them.
pub fn prometheus_bin() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("prometheus"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("prometheus not found on PATH: {INSTALL_HELP}"))
}

pub use crate::common::free_port;

pub struct Prometheus {
    pub base: String,
    child: tokio::process::Child,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second, with the shipped alert rules
    /// loaded and evaluated every second.
    pub async fn start(target: SocketAddr) -> Prometheus {
        let bin = prometheus_bin();
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            repo_file("config/prometheus/alerts.yml"),
            dir.path().join("alerts.yml"),
        )
        .unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
             rule_files:\n  - alerts.yml\n\
             scrape_configs:\n  - job_name: livepack\n    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = tokio::process::Command::new(bin)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start prometheus ({e}): {INSTALL_HELP}"));
        let mut p = Prometheus {
            base: format!("http://127.0.0.1:{port}"),
            child,
            dir,
            http: reqwest::Client::new(),
        };
        p.wait_ready().await;
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    async fn wait_ready(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", self.log());
            }
            let url = format!("{}/-/ready", self.base);
            if let Ok(r) = self.http.get(&url).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "prometheus not ready within 60 s:\n{}",
                self.log()
            );
        }
    }

    pub async fn api(&self, path: &str, params: &[(&str, String)]) -> Value {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .query(params)
            .send()
            .await
            .expect("prometheus answers");
        resp.json().await.expect("prometheus answers JSON")
    }

    /// An instant query at the current time: the whole API answer.
    pub async fn query(&self, q: &str) -> Value {
        self.api("/api/v1/query", &[("query", q.to_owned())]).await
    }

    /// The first sample value of an instant query, if any.
    pub async fn value(&self, q: &str) -> Option<f64> {
        let r = self.query(q).await;
        r["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
    }

    pub async fn query_range(&self, q: &str, start: f64, end: f64, step: f64) -> Value {
        self.api(
            "/api/v1/query_range",
            &[
                ("query", q.to_owned()),
                ("start", format!("{start:.3}")),
                ("end", format!("{end:.3}")),
                ("step", format!("{step}")),
            ],
        )
        .await
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// One query of the dashboard: where it is and what it asks.
#[derive(Debug, Clone)]
pub struct PanelQuery {
    pub row: String,
    pub panel: String,
    /// Grafana panel type: timeseries, bargauge, stat.
    pub kind: String,
    pub unit: String,
    pub legend: String,
    pub expr: String,
}

pub fn dashboard() -> Value {
    let path = repo_file("config/grafana/dashboards/livepack.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every panel query of the dashboard (panels of collapsed rows included), in order.
pub fn panel_queries(d: &Value) -> Vec<PanelQuery> {
    let mut out = Vec::new();
    let mut row = String::new();
    let visit = |p: &Value, row: &mut String, out: &mut Vec<PanelQuery>| {
        if p["type"] == "row" {
            *row = p["title"].as_str().unwrap_or_default().to_owned();
            return;
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(PanelQuery {
                row: row.clone(),
                panel: p["title"].as_str().unwrap_or_default().to_owned(),
                kind: p["type"].as_str().unwrap_or_default().to_owned(),
                unit: p["fieldConfig"]["defaults"]["unit"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                legend: t["legendFormat"].as_str().unwrap_or_default().to_owned(),
                expr: t["expr"].as_str().unwrap_or_default().to_owned(),
            });
        }
    };
    for p in d["panels"].as_array().unwrap() {
        visit(p, &mut row, &mut out);
        for inner in p["panels"].as_array().into_iter().flatten() {
            visit(inner, &mut row, &mut out);
        }
    }
    out
}

/// The dashboard's template variables as (name, query).
pub fn variables(d: &Value) -> Vec<(String, String)> {
    d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let q = v["query"]["query"]
                .as_str()
                .or(v["query"].as_str())
                .unwrap_or_default();
            (v["name"].as_str().unwrap().to_owned(), q.to_owned())
        })
        .collect()
}

/// Grafana's variables replaced by concrete values, as Grafana would send the query.
pub fn substitute(expr: &str, vars: &[(&str, &str)]) -> String {
    let mut e = expr.to_owned();
    for (name, value) in vars {
        e = e.replace(&format!("${{{name}}}"), value);
        e = e.replace(&format!("${name}"), value);
    }
    e.replace("$__rate_interval", "1m")
        .replace("${__rate_interval}", "1m")
        .replace("$__interval", "1m")
        .replace("${__interval}", "1m")
        .replace("$__range", "1h")
}

/// `label_values(selector, label)` as a PromQL query listing the label's values.
pub fn label_values_query(q: &str) -> Option<(String, String)> {
    let inner = q.trim().strip_prefix("label_values(")?.strip_suffix(')')?;
    let (selector, label) = inner.rsplit_once(',')?;
    let label = label.trim().to_owned();
    Some((format!("count by ({label}) ({})", selector.trim()), label))
}

/// Metric names (`livepack_…`) a text uses.
pub fn metric_names(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("livepack_") {
        let start = i + at;
        let before_ok = start == 0 || !is_name_char(bytes[start - 1]);
        let mut end = start;
        while end < bytes.len() && is_name_char(bytes[end]) {
            end += 1;
        }
        if before_ok && !out.iter().any(|n| n == &text[start..end]) {
            out.push(text[start..end].to_owned());
        }
        i = end.max(start + 1);
    }
    out.sort();
    out
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// The metric names present in a `/metrics` text exposition.
pub fn exposed_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn helpers_find_names_and_substitute() {
    let e =
        r#"sum by (le) (rate(livepack_a_bucket{site=~"$site"}[$__rate_interval])) / livepack_b"#;
    assert_eq!(metric_names(e), ["livepack_a_bucket", "livepack_b"]);
    assert_eq!(
        substitute(e, &[("site", "hub")]),
        r#"sum by (le) (rate(livepack_a_bucket{site=~"hub"}[1m])) / livepack_b"#
    );
    assert_eq!(
        label_values_query(r#"label_values(livepack_x{site=~"$site"}, seller)"#),
        Some((
            r#"count by (seller) (livepack_x{site=~"$site"})"#.to_owned(),
            "seller".to_owned()
        ))
    );
    assert_eq!(
        exposed_names("# HELP x\nlivepack_a{b=\"1\"} 1\nlivepack_c 2\n"),
        ["livepack_a", "livepack_c"]
    );
}
