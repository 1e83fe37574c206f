//! `livepack-surge`: load tests and benchmarks for livepack's ingest.
//!
//! - `ingest`: N connections push M orders over the ingest WebSocket; orders/s, ack
//!   latency percentiles (HDR histogram) and a check that every order was accepted once.
//! - `scenario --name flash|live|peak|idle`: the four scenarios, each one command.
//! - `redis-limit`: `redis-benchmark` running the service's ingest script with EVALSHA
//!   against the same Redis: the ceiling the ingest is compared with.
//! - `table`: a markdown table from the JSON reports of several runs.
//! - `free-port`: prints a free TCP port on 127.0.0.1 (for scripts).
//!
//! No timing assertion anywhere: a run fails (exit 1) only when orders were lost,
//! doubled or refused.

use livepack_surge::{chaos, ingest, latency, limit, report, scenario};

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "livepack-surge",
    version,
    about = "Surge load tests for livepack's ingest"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Push orders over N connections and measure acked orders/s and ack latency.
    Ingest(ingest::IngestArgs),
    /// One of the scenarios: flash, live, peak, idle (ends the sessions and checks
    /// that every order is in exactly one wave).
    Scenario(scenario::ScenarioArgs),
    /// Run redis-benchmark with the ingest script (EVALSHA) against the same Redis.
    RedisLimit(limit::LimitArgs),
    /// Print a markdown table of JSON reports (the redis-limit one is the ratio's base).
    Table {
        /// JSON reports written with `--json`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write the table here instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print a free TCP port on 127.0.0.1.
    FreePort,
    /// The fault soak (scenario `chaos`): 20 sellers, picks, packs and bookings while
    /// service instances, Redis and the planner's lease holder are killed; then the check.
    Chaos(chaos::ChaosArgs),
    /// From a Redis a scenario ran against: each order's time from ingest to its wave's
    /// release (its pick list), split by released while live / by `end_session`.
    PickLatency(latency::LatencyArgs),
}

/// The service's allocator: with glibc's, malloc and free were a quarter of this client's
/// CPU in the surge peak (issue 20), taken from the cores the service and Redis share.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("livepack-surge: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        let (report, json) = match cli.cmd {
            Cmd::Ingest(a) => {
                let json = a.json.clone();
                (ingest::run(a).await?, json)
            }
            Cmd::Scenario(a) => {
                let json = a.json.clone();
                (scenario::run(a).await?, json)
            }
            Cmd::RedisLimit(a) => {
                let json = a.json.clone();
                (limit::run(a).await?, json)
            }
            Cmd::Table { files, out } => return report::table(&files, out.as_deref()),
            Cmd::Chaos(a) => {
                let json = a.json.clone();
                let r = chaos::run(a).await?;
                r.print();
                if let Some(path) = json {
                    let text = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?;
                    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
                }
                return if r.ok() {
                    Ok(())
                } else {
                    Err("chaos: violations found".into())
                };
            }
            Cmd::PickLatency(a) => return latency::run(a).await,
            Cmd::FreePort => {
                let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
                println!("{}", l.local_addr().map_err(|e| e.to_string())?.port());
                return Ok(());
            }
        };
        report.print_summary();
        if let Some(path) = json {
            report.write_json(&path)?;
        }
        if report.verified {
            Ok(())
        } else {
            Err(format!("{}: verification failed", report.name))
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("livepack-surge: {e}");
            ExitCode::FAILURE
        }
    }
}
