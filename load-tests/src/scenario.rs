//! `livepack-surge scenario --name flash|live|peak|idle`: the four scenarios, each
//! one command (`--scale` shrinks them, e.g. for a smoke run).
//!
//! 1. `flash`: one stream, 3,000 orders in a flash.
//! 2. `live`: 40 streams × 2,500 orders in `live` shape, 10 minutes compressed into 60 s.
//! 3. `peak`: 100 streams × 3,000 orders in a flash (300,000 orders).
//! 4. `idle`: `--idle` (1,000) idle ingest connections held open while `live` runs; the
//!    server's RSS (`--server-pid`, `/proc/PID/status` VmRSS) before and after opening
//!    them gives the memory per connection.
//!
//! Every scenario ends the sessions and checks that each order is in exactly one wave.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::ingest::{self, IngestArgs};
use crate::procstat::status_kib;
use crate::report::RunReport;
use crate::shape::Shape;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Name {
    Flash,
    Live,
    Peak,
    Idle,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ScenarioArgs {
    /// Which scenario.
    #[arg(long, value_enum)]
    pub name: Name,
    /// Service address, `ws://host:port`.
    #[arg(long)]
    pub url: String,
    /// Seller bearer tokens (streams take them round robin).
    #[arg(long = "token", required = true)]
    pub tokens: Vec<String>,
    /// Multiplies streams and orders per stream (at least 1 of each), e.g. 0.1.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Orders per frame (1 sends `order` frames).
    #[arg(long, default_value_t = 1)]
    pub orders_per_frame: usize,
    /// Frames in flight per connection.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// `idle`: connections held open without sending anything.
    #[arg(long, default_value_t = 1000)]
    pub idle: usize,
    /// `live`/`idle`: seconds the 10-minute stream is compressed into.
    #[arg(long, default_value_t = 60)]
    pub duration_secs: u64,
    /// Bound on the push of the orders (0: none); past it the run fails.
    #[arg(long, default_value_t = 600)]
    pub max_secs: u64,
    /// Seconds to wait for every order to be waved after the sessions end.
    #[arg(long, default_value_t = 120)]
    pub wave_deadline_secs: u64,
    #[arg(long)]
    pub run_id: Option<String>,
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The livepack process (CPU, peak RSS; and `idle`'s memory per connection).
    #[arg(long)]
    pub server_pid: Option<u32>,
    #[arg(long)]
    pub redis_pid: Option<u32>,
    #[arg(long)]
    pub no_progress: bool,
    /// Prefix of the run's name in reports (e.g. `livepack`, `node`).
    #[arg(long, default_value = "livepack")]
    pub who: String,
    /// Do not end the sessions nor check waves (for a peer without a planner).
    #[arg(long)]
    pub no_end_session: bool,
}

fn scaled(n: usize, scale: f64) -> usize {
    ((n as f64 * scale).round() as usize).max(1)
}

/// The `ingest` arguments of a scenario.
pub fn ingest_args(a: &ScenarioArgs) -> IngestArgs {
    let (label, streams, per, shape) = match a.name {
        Name::Flash => ("s1-flash", 1, 3000, Shape::Flash),
        Name::Live => ("s2-live", 40, 2500, Shape::Live),
        Name::Peak => ("s3-peak", 100, 3000, Shape::Flash),
        Name::Idle => ("s4-idle", 40, 2500, Shape::Live),
    };
    let streams = scaled(streams, a.scale);
    let per = scaled(per, a.scale);
    IngestArgs {
        url: a.url.clone(),
        tokens: a.tokens.clone(),
        connections: streams,
        orders: streams * per,
        orders_per_frame: a.orders_per_frame,
        window: a.window,
        session_prefix: label.split('-').next().unwrap_or("s").to_owned(),
        run_id: a.run_id.clone(),
        name: Some(format!(
            "{} {label} {streams}×{per} {}/frame",
            a.who, a.orders_per_frame
        )),
        json: a.json.clone(),
        server_pid: a.server_pid,
        redis_pid: a.redis_pid,
        no_verify_http: false,
        no_progress: a.no_progress,
        shape,
        pitches: 10,
        repeat_pct: 20,
        duration_secs: a.duration_secs,
        end_session: !a.no_end_session,
        max_secs: a.max_secs,
        wave_deadline_secs: a.wave_deadline_secs,
    }
}

pub async fn run(a: ScenarioArgs) -> Result<RunReport, String> {
    let args = ingest_args(&a);
    if a.name != Name::Idle {
        return ingest::run(args).await;
    }
    raise_fd_limit(a.idle as u64 + 4 * args.connections as u64 + 256);
    let rss = |pid: Option<u32>| pid.and_then(|p| status_kib(p, "VmRSS"));
    let before = rss(a.server_pid);
    let t0 = Instant::now();
    let idle = open_idle(&a, a.idle).await?;
    let opened = t0.elapsed();
    let after = rss(a.server_pid);
    let mut report = ingest::run(args).await?;
    let during = rss(a.server_pid);
    report.notes.push(format!(
        "{} idle connections opened in {:.2} s and held during the run",
        idle.len(),
        opened.as_secs_f64()
    ));
    match (before, after) {
        (Some(b), Some(a2)) => {
            let per = (a2.saturating_sub(b) as f64 * 1024.0) / idle.len().max(1) as f64;
            report.notes.push(format!(
                "server VmRSS {b} KiB before, {a2} KiB with the idle connections ({:.1} KiB per connection), {} KiB after the run",
                per / 1024.0,
                during.unwrap_or(0)
            ));
            println!("idle connections: {:.1} KiB per connection", per / 1024.0);
        }
        _ => report
            .notes
            .push("no --server-pid: memory per connection not measured".into()),
    }
    drop(idle);
    Ok(report)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `n` ingest connections (sessions `idle-RUN-i`), 50 handshakes at a time.
async fn open_idle(a: &ScenarioArgs, n: usize) -> Result<Vec<Ws>, String> {
    let run = a
        .run_id
        .clone()
        .unwrap_or_else(|| std::process::id().to_string());
    let base = a.url.trim_end_matches('/').replacen("http://", "ws://", 1);
    let mut out = Vec::with_capacity(n);
    let deadline = Duration::from_secs(30);
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        let opens = chunk.iter().map(|&i| {
            let url = format!("{base}/v1/ingest?session=idle-{run}-{i}");
            let token = a.tokens[i % a.tokens.len()].clone();
            async move {
                let mut req = url.into_client_request().map_err(|e| e.to_string())?;
                let auth = format!("Bearer {token}").parse().map_err(|_| "bad token")?;
                req.headers_mut().insert("authorization", auth);
                let ws = tokio::time::timeout(deadline, tokio_tungstenite::connect_async(req))
                    .await
                    .map_err(|_| "idle connection: handshake timed out".to_owned())?
                    .map_err(|e| format!("idle connection {i}: {e}"))?;
                Ok::<Ws, String>(ws.0)
            }
        });
        for r in join_all(opens).await {
            out.push(r?);
        }
    }
    Ok(out)
}

/// 1,000 idle sockets plus the run's own exceed the usual soft limit of 1,024 descriptors.
fn raise_fd_limit(want: u64) {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < want {
            l.rlim_cur = want.min(l.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}
