//! `livepack-surge redis-limit`: the physical limit. `redis-benchmark` runs the service's
//! own ingest script (`livepack::store::INGEST_LUA`) with EVALSHA against the same Redis,
//! with a stored order shaped like the service's (~1 KB of JSON).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use livepack::client::sample_order;
use livepack::store::INGEST_LUA;

/// Tombstone buckets passed to the ingest script (5–6 at the default retention).
const TOMB_BUCKETS: u64 = 6;
use serde_json::json;

/// The floor the ingest script is compared with (issue 20: the ingest script ≤ 1.3× its
/// cost): per order one set-if-absent of the stored order and one stream append of its id,
/// nothing else. KEYS[1] stream, then one key per order; ARGV per order: id, data.
pub const MINIMAL_LUA: &str = r#"
local out = {}
for i = 1, #KEYS - 1 do
  if redis.call('SET', KEYS[i + 1], ARGV[2 * i], 'NX') then
    redis.call('XADD', KEYS[1], '*', 'id', ARGV[2 * i - 1])
    out[i] = 1
  else
    out[i] = 2
  end
end
return out
"#;

/// Which script redis-benchmark runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScriptKind {
    /// livepack's own ingest script (`store/lua/ingest.lua`): the limit.
    Ingest,
    /// `MINIMAL_LUA`: set-if-absent + stream append, the floor the ingest script is held to.
    Minimal,
}

use crate::procstat::{MachineWatch, ProcUsage, Watch};
use crate::report::{Latency, RunReport};

#[derive(Debug, clap::Args)]
pub struct LimitArgs {
    /// The Redis the service uses, `redis://host:port[/db]`.
    #[arg(long)]
    pub redis_url: String,
    /// Orders in total (one EVALSHA call stores `--orders-per-call` of them).
    #[arg(long, default_value_t = 100_000)]
    pub orders: u64,
    /// redis-benchmark parallel connections (-c).
    #[arg(long, default_value_t = 50)]
    pub clients: u64,
    /// Requests pipelined per connection (-P).
    #[arg(long, default_value_t = 16)]
    pub pipeline: u64,
    /// Orders per script call: 1 as in an `order` frame, more as in an `orders` frame.
    #[arg(long, default_value_t = 1)]
    pub orders_per_call: u64,
    /// The script: livepack's ingest script (the limit) or the minimal set-if-absent +
    /// XADD one (its report's kind is `redis-minimal`: never the ratio's base).
    #[arg(long, value_enum, default_value_t = ScriptKind::Ingest)]
    pub script: ScriptKind,
    /// Random key space (-r): order keys and ids are `__rand_int__` out of this many.
    #[arg(long, default_value_t = 100_000_000)]
    pub keyspace: u64,
    /// The redis-benchmark binary.
    #[arg(long, default_value = "redis-benchmark")]
    pub benchmark_bin: String,
    /// Name of the run in reports and tables.
    #[arg(long)]
    pub name: Option<String>,
    /// Write the numbers to this JSON file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The redis-server process: its CPU time during the run is recorded.
    #[arg(long)]
    pub redis_pid: Option<u32>,
}

/// Host, port and database number of a `redis://` URL (no TLS, no password).
fn parse_url(url: &str) -> Result<(String, u16, u32), String> {
    let rest = url
        .strip_prefix("redis://")
        .ok_or_else(|| format!("{url:?}: expected redis://host:port[/db]"))?;
    let rest = rest.rsplit('@').next().unwrap_or(rest);
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| format!("{url:?}: bad port"))?),
        None => (hostport, 6379),
    };
    let db = if db.is_empty() {
        0
    } else {
        db.parse().map_err(|_| format!("{url:?}: bad db"))?
    };
    Ok((host.trim_matches(['[', ']']).to_owned(), port, db))
}

/// A stored order as the service writes it (`OrderData`: the order plus where it goes).
fn stored_order_json() -> String {
    json!({
        "seller": "mat-ong-tam-diep", "site": "bench", "session": "live-bench",
        "received_at": "2026-11-21T13:15:02.123456789Z",
        "deadline": "2026-11-22T13:14:02Z", "pickup_at": "2026-11-22T04:00:00Z",
        "at_risk": false, "buyer_key": "5f1c0e9a7b3d2c4e6f8a0b1c", "weight_g": 1950,
        "norm": { "phone": "0912345678", "province": "Ninh Bình", "province_code": "37",
                  "region": "north", "ward": "Phường Hoa Lư" },
        "order": sample_order("TT-579230112345", 4243),
    })
    .to_string()
}

/// The command line for humans: the order JSON abbreviated, per-order repeats collapsed.
/// `per`: arguments per order (3 for the ingest script, 2 for the minimal one).
fn show_command(bin: &str, args: &[String], k: usize, per: usize) -> String {
    let word = |s: &String| {
        if s.len() > 60 {
            format!("'<{} bytes of order JSON>'", s.len())
        } else if s.contains(['{', '}']) {
            format!("'{s}'")
        } else {
            s.clone()
        }
    };
    let mut out = vec![bin.to_owned()];
    let mut i = 0;
    while i < args.len() {
        let at_order_keys = args[i].contains(":o:") && k > 1;
        let at_order_args = args[i] == "TT-__rand_int__" && k > 1;
        if at_order_keys {
            out.push(format!("{} ×{k}", word(&args[i])));
            i += k;
        } else if at_order_args {
            let group: Vec<String> = args[i..i + per].iter().map(word).collect();
            out.push(format!("[{}] ×{k}", group.join(" ")));
            i += per * k;
        } else {
            out.push(word(&args[i]));
            i += 1;
        }
    }
    out.join(" ")
}

/// CPU seconds used by finished children of this process.
fn children_cpu_s() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } != 0 {
        return 0.0;
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// The numbers of redis-benchmark's `--csv` data line: rps, then avg, min, p50, p95, p99,
/// max latency in ms. The test name (first field) may itself contain commas.
fn parse_csv(out: &str) -> Result<(f64, [f64; 6]), String> {
    for line in out.lines().rev() {
        let parts: Vec<&str> = line.rsplitn(8, ',').collect();
        if parts.len() < 8 {
            continue;
        }
        let num = |s: &str| s.trim().trim_matches('"').parse::<f64>().ok();
        let Some(rps) = num(parts[6]) else { continue };
        let mut lat = [0.0; 6];
        for (k, slot) in lat.iter_mut().enumerate() {
            *slot = num(parts[5 - k]).unwrap_or(0.0);
        }
        return Ok((rps, lat));
    }
    Err(format!(
        "no requests/s in redis-benchmark's output: {:?}",
        out.chars().take(500).collect::<String>()
    ))
}

pub async fn run(a: LimitArgs) -> Result<RunReport, String> {
    if a.orders_per_call == 0 || a.orders_per_call > 500 || a.orders < a.orders_per_call {
        return Err("--orders-per-call must be 1–500 and at most --orders".into());
    }
    let (host, port, db) = parse_url(&a.redis_url)?;
    let client = redis::Client::open(a.redis_url.as_str()).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| format!("{}: {e}", a.redis_url))?;
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(match a.script {
            ScriptKind::Ingest => INGEST_LUA,
            ScriptKind::Minimal => MINIMAL_LUA,
        })
        .query_async(&mut conn)
        .await
        .map_err(|e| format!("SCRIPT LOAD: {e}"))?;
    let stream = "lp:{bench}:in";
    let session = "lp:{bench}:s:mat-ong-tam-diep:live-bench";
    // Orders stored so far: the session's `accepted` count for the ingest script (its
    // stream entries name up to ten orders each), the stream's length for the minimal one.
    let script = a.script;
    let stored_now = |c: &mut redis::aio::MultiplexedConnection| {
        let mut c = c.clone();
        async move {
            let n: Option<u64> = match script {
                ScriptKind::Ingest => {
                    let mut cmd = redis::cmd("HGET");
                    cmd.arg(session).arg("accepted");
                    cmd.query_async(&mut c).await
                }
                ScriptKind::Minimal => redis::cmd("XLEN").arg(stream).query_async(&mut c).await,
            }
            .map_err(|e| format!("stored orders: {e}"))?;
            Ok::<u64, String>(n.unwrap_or(0))
        }
    };
    let before = stored_now(&mut conn).await?;

    let data = stored_order_json();
    // The shape of livepack::domain::order::digest (its mark, then 24 hex digits).
    let digest = "x9a0c5b1e4f7d2a8c3e6b0f1d";
    let k = a.orders_per_call;
    let requests = a.orders / k;
    let mut args: Vec<String> = vec![
        "-h".into(),
        host,
        "-p".into(),
        port.to_string(),
        "--dbnum".into(),
        db.to_string(),
        "-n".into(),
        requests.to_string(),
        "-c".into(),
        a.clients.to_string(),
        "-P".into(),
        a.pipeline.to_string(),
        "-r".into(),
        a.keyspace.to_string(),
        "--csv".into(),
        "EVALSHA".into(),
        sha.clone(),
    ];
    match a.script {
        ScriptKind::Ingest => {
            args.push((3 + TOMB_BUCKETS + k).to_string());
            args.push(stream.into());
            args.push(session.into());
            args.push("lp:{bench}:sessions".into());
            // The seller's tombstone buckets the service checks at the default retention.
            for b in 0..TOMB_BUCKETS {
                args.push(format!("lp:{{bench}}:t:mat-ong-tam-diep:{b}"));
            }
            for _ in 0..k {
                args.push("lp:{bench}:o:mat-ong-tam-diep:TT-__rand_int__".into());
            }
            for a in ["mat-ong-tam-diep", "live-bench", "1700000000000", "0"] {
                args.push(a.into());
            }
            args.push(TOMB_BUCKETS.to_string());
            for _ in 0..k {
                args.push("TT-__rand_int__".into());
                args.push(data.clone());
                args.push(digest.into());
            }
        }
        ScriptKind::Minimal => {
            args.push((1 + k).to_string());
            args.push(stream.into());
            for _ in 0..k {
                args.push("lp:{bench}:o:mat-ong-tam-diep:TT-__rand_int__".into());
            }
            for _ in 0..k {
                args.push("TT-__rand_int__".into());
                args.push(data.clone());
            }
        }
    }
    let per = match a.script {
        ScriptKind::Ingest => 3,
        ScriptKind::Minimal => 2,
    };
    let shown = show_command(&a.benchmark_bin, &args, k as usize, per);
    eprintln!("running: {shown}");

    let redis_watch = a.redis_pid.map(|p| Watch::start(p, false)).transpose()?;
    let cpu0 = children_cpu_s();
    let machine = MachineWatch::start();
    let t0 = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339();
    let out = Command::new(&a.benchmark_bin)
        .args(&args)
        .output()
        .map_err(|e| {
            format!(
                "{}: {e} (Debian/Ubuntu: apt-get install redis-tools)",
                a.benchmark_bin
            )
        })?;
    let wall = t0.elapsed().as_secs_f64();
    let bench_cpu = children_cpu_s() - cpu0;
    let redis_usage = redis_watch.map(|w| w.finish(requests * a.orders_per_call));
    let ours = bench_cpu + redis_usage.as_ref().map_or(0.0, |u| u.cpu_s);
    let machine = machine.map(|m| m.finish(ours));
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "redis-benchmark failed ({}): {}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let (rps, [avg, _min, p50, _p95, p99, max]) = parse_csv(&stdout)?;
    let after = stored_now(&mut conn).await?;
    let stored = after.saturating_sub(before);

    let orders = requests * k;
    let us = |ms: f64| (ms * 1000.0).round() as u64;
    let mut rep = RunReport {
        kind: match a.script {
            ScriptKind::Ingest => "redis-limit",
            ScriptKind::Minimal => "redis-minimal",
        }
        .into(),
        name: a
            .name
            .clone()
            .unwrap_or_else(|| format!("redis-benchmark EVALSHA ({k}/call)")),
        started_at,
        orders,
        connections: a.clients,
        orders_per_frame: k,
        wall_s: orders as f64 / (rps * k as f64).max(1e-9),
        wall_total_s: wall,
        orders_per_sec: rps * k as f64,
        latency: Latency {
            per: "request".into(),
            count: requests,
            p50_us: us(p50),
            p99_us: us(p99),
            p999_us: None,
            max_us: us(max),
            mean_us: avg * 1000.0,
        },
        accepted: stored,
        duplicate: orders.saturating_sub(stored),
        frames_sent: requests,
        ..Default::default()
    };
    rep.redis = redis_usage;
    rep.machine = machine;
    rep.client = Some(ProcUsage {
        pid: 0,
        cpu_s: bench_cpu,
        cpu_s_per_1k_orders: bench_cpu * 1000.0 / orders.max(1) as f64,
        peak_rss_kib: None,
        peak_is_per_run: false,
    });
    rep.notes.push(shown);
    rep.notes.push(format!(
        "stored order JSON {} bytes; script sha {sha}; pipeline {}",
        data.len(),
        a.pipeline
    ));
    rep.notes.push(format!(
        "{stored} of {orders} script orders were new (the rest hit an existing random key: duplicate path)"
    ));
    // A few random-key collisions are expected; far fewer new orders means the script failed.
    if (stored as f64) < 0.95 * orders as f64 {
        rep.problems.push(format!(
            "only {stored} of {orders} orders reached the stream: did the script fail?"
        ));
    }
    rep.verified = rep.problems.is_empty();
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("redis://127.0.0.1:6390/0").unwrap(),
            ("127.0.0.1".into(), 6390, 0)
        );
        assert_eq!(
            parse_url("redis://localhost").unwrap(),
            ("localhost".into(), 6379, 0)
        );
        assert!(parse_url("http://x").is_err());
    }

    #[test]
    fn csv_with_commas_in_the_title() {
        let out = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\
                   \"EVALSHA abc {\"a\":1,\"b\":2}\",\"81234.56\",\"9.100\",\"0.500\",\"8.900\",\"14.000\",\"20.100\",\"30.000\"\n";
        let (rps, lat) = parse_csv(out).unwrap();
        assert!((rps - 81234.56).abs() < 1e-6);
        assert_eq!(lat, [9.1, 0.5, 8.9, 14.0, 20.1, 30.0]);
    }

    #[test]
    fn the_stored_order_is_realistic() {
        let n = stored_order_json().len();
        assert!((700..2000).contains(&n), "{n}");
    }
}
