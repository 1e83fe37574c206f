//! `livepack-surge ingest`: N connections push M orders with `livepack::client::push_prepared`
//! (each connection's orders serialized before the clocks start),
//! then the numbers and a correctness check (every order accepted exactly once).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use livepack::client::{push_prepared, ClientConfig, Prepared, Progress, Report};

use crate::procstat::{cpu_seconds, MachineWatch, Watch};
use crate::report::{new_histogram, Latency, RunReport};
use crate::shape::{self, LivePlan, Shape};

#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    /// Service address, `ws://host:port` (or `http://`).
    #[arg(long)]
    pub url: String,
    /// Seller bearer token; repeat for several sellers (connections take them round robin).
    #[arg(long = "token", required = true)]
    pub tokens: Vec<String>,
    /// Concurrent connections, each its own session.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// Orders in total (split evenly over the connections).
    #[arg(long, default_value_t = 3000)]
    pub orders: usize,
    /// 1 sends `order` frames; more sends `orders` frames (max 500).
    #[arg(long, default_value_t = 1)]
    pub orders_per_frame: usize,
    /// Frames in flight per connection (the client's pipelining window).
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Sessions are `PREFIX-RUN-cN`, order ids `PREFIX-RUN-cN-I`.
    #[arg(long, default_value = "surge")]
    pub session_prefix: String,
    /// Makes sessions and order ids unique per run (default: derived from the clock).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Name of the run in reports and tables.
    #[arg(long)]
    pub name: Option<String>,
    /// Write the numbers to this JSON file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The livepack process: its CPU time and peak RSS during the run are recorded.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// The redis-server process: its CPU time during the run is recorded.
    #[arg(long)]
    pub redis_pid: Option<u32>,
    /// Skip reading the sessions back over HTTP (`GET /v1/sessions/{label}`).
    #[arg(long)]
    pub no_verify_http: bool,
    /// No progress bar (it is hidden anyway when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// Arrival shape: `flash` (all at once) or `live` (bursts after each pitch).
    #[arg(long, value_enum, default_value = "flash")]
    pub shape: Shape,
    /// `live`: product pitches per stream, each followed by a burst of orders.
    #[arg(long, default_value_t = 10)]
    pub pitches: usize,
    /// `live`: percent of orders by a buyer who already ordered in the stream.
    #[arg(long, default_value_t = 20)]
    pub repeat_pct: u64,
    /// `live`: the stream is compressed into this many seconds (10 minutes into 60 s by
    /// default): burst k of P is sent at k × duration / P.
    #[arg(long, default_value_t = 60)]
    pub duration_secs: u64,
    /// Send `end_session` after the last order, then check that every order is in
    /// exactly one wave (`waved` equals the count) through `GET /v1/sessions/{label}`.
    #[arg(long)]
    pub end_session: bool,
    /// Bound on the whole push (0: none): past it the run fails, as a stuck surge would.
    #[arg(long, default_value_t = 0)]
    pub max_secs: u64,
    /// How long to wait for every order to be waved after the sessions end.
    #[arg(long, default_value_t = 60)]
    pub wave_deadline_secs: u64,
}

fn is_label(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A short id from the clock and the process id: unique enough per run on one machine.
fn default_run_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut n = ms * 100_000 + u128::from(std::process::id() % 100_000);
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut s = Vec::new();
    while n > 0 {
        s.push(digits[(n % 36) as usize]);
        n /= 36;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

/// What one connection brought back.
struct ConnResult {
    session: String,
    ids: Vec<String>,
    report: Result<Report, String>,
    first_reply: Option<Instant>,
    last_final: Option<Instant>,
}

pub async fn run(a: IngestArgs) -> Result<RunReport, String> {
    if a.connections == 0 || a.orders < a.connections {
        return Err("need at least one connection and one order per connection".into());
    }
    let run_id = a.run_id.clone().unwrap_or_else(default_run_id);
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("ingest {}×{}/frame", a.connections, a.orders_per_frame));
    let last_id = format!(
        "{}-{run_id}-c{}-{}",
        a.session_prefix, a.connections, a.orders
    );
    if !is_label(&last_id) {
        return Err(format!(
            "order ids like {last_id:?} must be 1–64 of A-Z a-z 0-9 . _ - (shorten --session-prefix or --run-id)"
        ));
    }

    // Everything the client sends is built before the clock starts.
    let per = a.orders / a.connections;
    let extra = a.orders % a.connections;
    let mut plans = Vec::with_capacity(a.connections);
    let live = LivePlan {
        pitches: a.pitches,
        repeat_pct: a.repeat_pct.min(100),
        compressed: Duration::from_secs(a.duration_secs),
    };
    let mut n = 0u64;
    for c in 0..a.connections {
        let count = per + usize::from(c < extra);
        let session = format!("{}-{run_id}-c{c}", a.session_prefix);
        let (ids, bursts) = shape::plan(a.shape, &live, &session, count, n);
        // Serialized here, before the clocks start: a real client has its orders' JSON
        // already, and this machine's two cores are shared with the service and Redis.
        let orders: Vec<(Duration, Vec<Prepared>)> = bursts
            .into_iter()
            .map(|b| (b.offset, b.orders.iter().map(Prepared::new).collect()))
            .collect();
        n += count as u64;
        let mut cfg = ClientConfig::new(
            a.url.clone(),
            a.tokens[c % a.tokens.len()].clone(),
            session.clone(),
        );
        cfg.orders_per_frame = a.orders_per_frame;
        cfg.window = a.window;
        plans.push((cfg, ids, orders));
    }

    let bar = if a.no_progress {
        ProgressBar::with_draw_target(Some(a.orders as u64), ProgressDrawTarget::hidden())
    } else {
        ProgressBar::new(a.orders as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} orders ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );

    let server = a.server_pid.map(|p| Watch::start(p, true)).transpose()?;
    let redis = a.redis_pid.map(|p| Watch::start(p, false)).transpose()?;
    let client = Watch::start(std::process::id(), false)?;
    let machine = MachineWatch::start();
    let t0 = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339();
    let mut tasks = Vec::with_capacity(plans.len());
    let end_session = a.end_session;
    for (cfg, ids, orders) in plans {
        let bar = bar.clone();
        tasks.push(tokio::spawn(async move {
            let done = AtomicUsize::new(0);
            let first_reply: Mutex<Option<Instant>> = Mutex::new(None);
            let last_final: Mutex<Option<Instant>> = Mutex::new(None);
            let before_bursts = AtomicUsize::new(0);
            let on_progress = |p: Progress| {
                let now = Instant::now();
                let mut first = first_reply.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert(now);
                // Each burst is its own push: progress counts restart at 0.
                let finals = p.acked + p.rejected;
                let base = before_bursts.load(Ordering::Relaxed);
                let before = done.swap(base + finals, Ordering::Relaxed);
                bar.inc((base + finals).saturating_sub(before) as u64);
                if base + finals == ids.len() {
                    *last_final.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
                }
            };
            let mut report = Ok(livepack::client::Report::default());
            let last = orders.len().saturating_sub(1);
            let start = Instant::now();
            for (k, (offset, burst)) in orders.into_iter().enumerate() {
                let wait = offset.saturating_sub(start.elapsed());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                before_bursts.store(done.load(Ordering::Relaxed), Ordering::Relaxed);
                let mut c = cfg.clone();
                c.end_session = end_session && k == last;
                let r = push_prepared(&c, burst, Some(&on_progress))
                    .await
                    .map_err(|e| e.to_string());
                report = match (report, r) {
                    (Ok(mut all), Ok(r)) => {
                        shape::merge(&mut all, r);
                        Ok(all)
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e),
                };
                if report.is_err() {
                    break;
                }
            }
            let first_reply = *first_reply.lock().unwrap_or_else(|e| e.into_inner());
            let last_final = *last_final.lock().unwrap_or_else(|e| e.into_inner());
            ConnResult {
                session: cfg.session,
                ids,
                report,
                first_reply,
                last_final,
            }
        }));
    }
    let mut results = Vec::with_capacity(tasks.len());
    let bound = (a.max_secs > 0).then(|| t0 + Duration::from_secs(a.max_secs));
    let mut tasks = tasks.into_iter();
    while let Some(mut t) = tasks.next() {
        let joined = match bound {
            Some(b) => match tokio::time::timeout_at(b.into(), &mut t).await {
                Ok(j) => j,
                Err(_) => {
                    t.abort();
                    tasks.for_each(|t| t.abort());
                    bar.finish_and_clear();
                    return Err(format!(
                        "run not finished within --max-secs {} ({} of {} connections done)",
                        a.max_secs,
                        results.len(),
                        a.connections
                    ));
                }
            },
            None => t.await,
        };
        results.push(joined.map_err(|e| format!("connection task failed: {e}"))?);
    }
    let wall_total = t0.elapsed();
    bar.finish_and_clear();

    let mut out = RunReport {
        kind: "ingest".into(),
        name,
        started_at,
        orders: a.orders as u64,
        connections: a.connections as u64,
        orders_per_frame: a.orders_per_frame as u64,
        wall_total_s: wall_total.as_secs_f64(),
        ..Default::default()
    };
    out.server = server.map(|w| w.finish(out.orders));
    out.redis = redis.map(|w| w.finish(out.orders));
    // CPU from here (the pushes are done) until every order is waved: the waving tail's.
    let tail_cpu = (
        a.server_pid.and_then(cpu_seconds),
        a.redis_pid.and_then(cpu_seconds),
    );
    out.client = Some(client.finish(out.orders));
    let ours: f64 = [&out.server, &out.redis, &out.client]
        .iter()
        .filter_map(|u| u.as_ref().map(|u| u.cpu_s))
        .sum();
    out.machine = machine.map(|m| m.finish(ours));
    out.notes.push(format!(
        "run id {run_id}, window {}, shape {:?}",
        a.window, a.shape
    ));

    let mut hist = new_histogram();
    let mut first_send: Option<Instant> = None;
    let mut last_ack: Option<Instant> = None;
    let mut seen: HashSet<&str> = HashSet::with_capacity(a.orders);
    for r in &results {
        let rep = match &r.report {
            Ok(rep) => rep,
            Err(e) => {
                out.problems.push(format!("session {}: {e}", r.session));
                continue;
            }
        };
        for &us in &rep.ack_latencies_us {
            hist.saturating_record(us.max(1));
        }
        // The first reply answers the first frame: its send time is the reply's minus
        // its latency (connection set-up and client-side preparation are excluded).
        if let (Some(first), Some(&us)) = (r.first_reply, rep.ack_latencies_us.first()) {
            let sent = first
                .checked_sub(Duration::from_micros(us))
                .unwrap_or(first);
            first_send = Some(first_send.map_or(sent, |f| f.min(sent)));
        }
        if let Some(l) = r.last_final {
            last_ack = Some(last_ack.map_or(l, |x| x.max(l)));
        }
        out.accepted += rep.accepted.len() as u64;
        out.duplicate += rep.duplicate.len() as u64;
        out.rejected += rep.rejected.len() as u64;
        out.frames_sent += rep.frames_sent;
        out.nacks += rep.nacks;
        out.reconnects += rep.reconnects;
        check_connection(r, rep, &mut seen, &mut out.problems);
    }
    out.latency = Latency::from_histogram("frame", &hist);
    out.wall_s = match (first_send, last_ack) {
        (Some(f), Some(l)) if l > f => (l - f).as_secs_f64(),
        _ => out.wall_total_s,
    };
    // Acked = stored: accepted, or duplicate (stored by an earlier send of the same frame).
    out.orders_per_sec = (out.accepted + out.duplicate) as f64 / out.wall_s.max(1e-9);
    if out.accepted != out.orders {
        out.problems.push(format!(
            "{} of {} orders accepted ({} duplicate after {} nacks and {} reconnects, {} rejected)",
            out.accepted, out.orders, out.duplicate, out.nacks, out.reconnects, out.rejected
        ));
    }
    if out.duplicate > 0 && out.nacks > 0 {
        out.problems.push(format!(
            "{} orders of nacked frames were stored anyway (their resend came back duplicate): \
             a nack must mean nothing of the frame was stored",
            out.duplicate
        ));
    }
    if !a.no_verify_http {
        verify_http(&a, &results, &mut out.problems).await;
    }
    if a.end_session {
        let sessions: Vec<(String, String, u64)> = results
            .iter()
            .enumerate()
            .map(|(c, r)| {
                let token = a.tokens[c % a.tokens.len()].clone();
                (r.session.clone(), token, r.ids.len() as u64)
            })
            .collect();
        let deadline = Duration::from_secs(a.wave_deadline_secs);
        // From the last ack, not from here: reading the sessions back (above) happens
        // while the planner waves.
        let since = last_ack.unwrap_or_else(Instant::now);
        let (problems, took) =
            shape::wait_waved(&shape::http_base(&a.url), &sessions, since, deadline).await;
        if problems.is_empty() {
            out.notes.push(format!(
                "every order in exactly one wave {:.1} s after the last ack",
                took.as_secs_f64()
            ));
            let used =
                |before: Option<f64>, pid: Option<u32>| Some(pid.and_then(cpu_seconds)? - before?);
            if let (Some(svc), Some(redis)) = (
                used(tail_cpu.0, a.server_pid),
                used(tail_cpu.1, a.redis_pid),
            ) {
                out.notes.push(format!(
                    "CPU while waving after the pushes: livepack {svc:.2} s, Redis {redis:.2} s \
                     (its main process; AOF rewrites run in children)"
                ));
            }
        }
        out.problems.extend(problems);
    }
    out.verified = out.problems.is_empty();
    Ok(out)
}

/// Every order of the connection accepted exactly once, nothing else.
fn check_connection<'a>(
    r: &'a ConnResult,
    rep: &'a Report,
    seen: &mut HashSet<&'a str>,
    problems: &mut Vec<String>,
) {
    let mut bad = Vec::new();
    if !rep.duplicate.is_empty() {
        bad.push(format!(
            "{} duplicate (ids are new: expected none)",
            rep.duplicate.len()
        ));
    }
    if let Some((id, why)) = rep.rejected.first() {
        bad.push(format!(
            "{} rejected, e.g. {id}: {} {} {}",
            rep.rejected.len(),
            why.code,
            why.field,
            why.message
        ));
    }
    if !rep.frame_errors.is_empty() {
        bad.push(format!("{} frame errors", rep.frame_errors.len()));
    }
    for id in &rep.accepted {
        if !seen.insert(id.as_str()) {
            bad.push(format!("{id} accepted twice"));
            break;
        }
    }
    let expected: HashSet<&str> = r.ids.iter().map(String::as_str).collect();
    let got: HashSet<&str> = rep
        .accepted
        .iter()
        .chain(&rep.duplicate)
        .map(String::as_str)
        .collect();
    if got != expected {
        bad.push(format!(
            "stored ids differ from the ids sent ({} sent, {} stored)",
            expected.len(),
            got.len()
        ));
    }
    for b in bad {
        problems.push(format!("session {}: {b}", r.session));
    }
}

/// Reads each session back: the server must count exactly the orders sent as accepted.
async fn verify_http(a: &IngestArgs, results: &[ConnResult], problems: &mut Vec<String>) {
    let base = a.url.trim_end_matches('/');
    let base = if let Some(rest) = base.strip_prefix("ws://") {
        format!("http://{rest}")
    } else if let Some(rest) = base.strip_prefix("wss://") {
        format!("https://{rest}")
    } else {
        base.to_owned()
    };
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => return problems.push(format!("http client: {e}")),
    };
    for (c, r) in results.iter().enumerate() {
        let token = &a.tokens[c % a.tokens.len()];
        let url = format!("{base}/v1/sessions/{}", r.session);
        let got = async {
            let resp = http.get(&url).bearer_auth(token).send().await?;
            let resp = resp.error_for_status()?;
            resp.json::<serde_json::Value>().await
        }
        .await;
        match got {
            Ok(v) => {
                let accepted = v["accepted"].as_u64();
                let (dup, rej) = (v["duplicate"].as_u64(), v["rejected"].as_u64());
                // Resends after a nack or a lost connection may count as duplicates;
                // each order must still be stored exactly once.
                let resent = dup.unwrap_or(0) > 0
                    && r.report
                        .as_ref()
                        .is_ok_and(|rep| rep.nacks + rep.reconnects > 0);
                if accepted != Some(r.ids.len() as u64)
                    || rej != Some(0)
                    || (dup != Some(0) && !resent)
                {
                    problems.push(format!(
                        "GET {url}: accepted {accepted:?} duplicate {dup:?} rejected {rej:?}, expected {} 0 0",
                        r.ids.len()
                    ));
                }
            }
            Err(e) => problems.push(format!("GET {url}: {e}")),
        }
    }
}
