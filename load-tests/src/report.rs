//! The JSON report of one run, latency summaries, and the markdown table of a set of runs.

use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::procstat::{MachineUsage, ProcUsage};

/// Ack latency percentiles, microseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    /// What one sample is: `frame` (send to ack of one frame) or `request` (redis-benchmark).
    pub per: String,
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    /// Not reported by redis-benchmark.
    pub p999_us: Option<u64>,
    pub max_us: u64,
    pub mean_us: f64,
}

impl Latency {
    pub fn from_histogram(per: &str, h: &Histogram<u64>) -> Latency {
        Latency {
            per: per.to_owned(),
            count: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p99_us: h.value_at_quantile(0.99),
            p999_us: Some(h.value_at_quantile(0.999)),
            max_us: h.max(),
            mean_us: h.mean(),
        }
    }
}

/// A histogram for microsecond latencies from 1 µs to 1 h, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Everything one run measured; `kind` is `ingest` or `redis-limit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunReport {
    pub kind: String,
    /// Free text naming the run in tables (`--name`).
    pub name: String,
    pub started_at: String,
    pub orders: u64,
    pub connections: u64,
    pub orders_per_frame: u64,
    /// First send to last ack (ingest) or redis-benchmark's own clock.
    pub wall_s: f64,
    /// Including connection set-up, client-side preparation and close.
    pub wall_total_s: f64,
    pub orders_per_sec: f64,
    pub latency: Latency,
    pub accepted: u64,
    pub duplicate: u64,
    pub rejected: u64,
    pub frames_sent: u64,
    pub nacks: u64,
    pub reconnects: u64,
    /// Every order accepted exactly once, none rejected (ingest); the script answered (limit).
    pub verified: bool,
    pub problems: Vec<String>,
    pub server: Option<ProcUsage>,
    pub redis: Option<ProcUsage>,
    /// The load generator itself (this process, or redis-benchmark).
    pub client: Option<ProcUsage>,
    /// The whole machine over the run: how much of it other work took (shared machine).
    #[serde(default)]
    pub machine: Option<MachineUsage>,
    /// Free-form details (the redis-benchmark command, payload size, ...).
    #[serde(default)]
    pub notes: Vec<String>,
}

impl RunReport {
    pub fn write_json(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn read_json(path: &Path) -> Result<RunReport, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A human summary for the terminal.
    pub fn print_summary(&self) {
        let l = &self.latency;
        let ms = |us: u64| us as f64 / 1000.0;
        println!("run            {} ({})", self.name, self.kind);
        println!(
            "orders         {} over {} connection(s), {} per frame",
            self.orders, self.connections, self.orders_per_frame
        );
        println!(
            "outcome        {} accepted, {} duplicate, {} rejected; {} frames, {} nacks, {} reconnects",
            self.accepted, self.duplicate, self.rejected, self.frames_sent, self.nacks, self.reconnects
        );
        println!(
            "throughput     {:.0} orders/s ({:.3} s first send → last ack; {:.3} s in all)",
            self.orders_per_sec, self.wall_s, self.wall_total_s
        );
        println!(
            "ack latency    p50 {:.2} ms  p99 {:.2} ms  p99.9 {} ms  max {:.2} ms  ({} {}s)",
            ms(l.p50_us),
            ms(l.p99_us),
            l.p999_us
                .map_or("–".into(), |v| format!("{:.2}", v as f64 / 1000.0)),
            ms(l.max_us),
            l.count,
            l.per
        );
        for (who, u) in [
            ("server", &self.server),
            ("redis", &self.redis),
            ("client", &self.client),
        ] {
            if let Some(u) = u {
                println!(
                    "{who:<14} pid {}: {:.2} CPU s ({:.3} s per 1k orders), peak RSS {}",
                    u.pid,
                    u.cpu_s,
                    u.cpu_s_per_1k_orders,
                    u.peak_rss_kib.map_or("?".into(), mib)
                );
            }
        }
        if let Some(m) = &self.machine {
            println!(
                "machine        {} cores: {:.2} busy, {:.2} by this run's processes, {:.2} by others",
                m.cores, m.busy_cores, m.ours_cores, m.others_cores
            );
        }
        for n in &self.notes {
            println!("note           {n}");
        }
        if self.verified {
            println!("verified       yes");
        } else {
            println!("verified       NO");
            for p in &self.problems {
                println!("  problem: {p}");
            }
        }
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

fn cpu(u: &Option<ProcUsage>) -> String {
    u.as_ref()
        .map_or("–".into(), |u| format!("{:.3}", u.cpu_s_per_1k_orders))
}

/// Renders the runs as a markdown table. The ratio column is against the best
/// one-order-per-call `redis-limit` run among them (the physical limit of a per-order
/// script); without one, against the best `redis-limit` run.
pub fn markdown_table(runs: &[RunReport]) -> String {
    let best = |one_per_call: bool| {
        runs.iter()
            .filter(|r| r.kind == "redis-limit" && (!one_per_call || r.orders_per_frame == 1))
            .map(|r| r.orders_per_sec)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
    };
    let limit = best(true).or_else(|| best(false));
    let mut out = String::new();
    out.push_str(
        "| run | orders | conns × orders/frame | orders/s | × limit | ack p50 ms | ack p99 ms \
         | ack p99.9 ms | max ms | CPU s/1k orders: livepack | redis | client | livepack peak RSS | other load (cores) | ok |\n",
    );
    out.push_str("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for r in runs {
        let ratio = match limit {
            Some(l) if l > 0.0 => format!("{:.2}", r.orders_per_sec / l),
            _ => "–".to_owned(),
        };
        let shape = if r.kind == "redis-limit" || r.kind == "redis-minimal" {
            format!(
                "{} clients × {} orders/call",
                r.connections, r.orders_per_frame
            )
        } else {
            format!("{} × {}", r.connections, r.orders_per_frame)
        };
        let rss = r
            .server
            .as_ref()
            .and_then(|u| u.peak_rss_kib)
            .map_or("–".into(), mib);
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.name,
            r.orders,
            shape,
            r.orders_per_sec,
            ratio,
            ms(r.latency.p50_us),
            ms(r.latency.p99_us),
            r.latency.p999_us.map_or("–".into(), ms),
            ms(r.latency.max_us),
            cpu(&r.server),
            cpu(&r.redis),
            cpu(&r.client),
            rss,
            r.machine
                .as_ref()
                .map_or("–".into(), |m| format!("{:.2}", m.others_cores)),
            if r.verified { "yes" } else { "NO" },
        ));
    }
    out
}

/// `livepack-surge table`: reads JSON reports and prints (or writes) the markdown table.
pub fn table(files: &[PathBuf], out: Option<&Path>) -> Result<(), String> {
    let runs = files
        .iter()
        .map(|f| RunReport::read_json(f))
        .collect::<Result<Vec<_>, _>>()?;
    let text = markdown_table(&runs);
    match out {
        Some(path) => std::fs::write(path, &text).map_err(|e| format!("{}: {e}", path.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_ratio_is_against_the_limit() {
        let limit = RunReport {
            kind: "redis-limit".into(),
            name: "limit".into(),
            orders_per_sec: 100_000.0,
            verified: true,
            ..Default::default()
        };
        let run = RunReport {
            kind: "ingest".into(),
            name: "1x1".into(),
            orders_per_sec: 50_000.0,
            ..Default::default()
        };
        let t = markdown_table(&[limit, run]);
        assert!(t.contains("| 1x1 | 0 | 0 × 0 | 50000 | 0.50 |"), "{t}");
        assert!(t.contains("| 100000 | 1.00 |"), "{t}");
        assert!(t.contains("| NO |"));
    }

    #[test]
    fn latency_percentiles() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v).unwrap();
        }
        let l = Latency::from_histogram("frame", &h);
        assert_eq!(l.count, 1000);
        assert!((499..=501).contains(&l.p50_us));
        assert_eq!(l.max_us, 1000);
    }
}
