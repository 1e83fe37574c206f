use clap::{Parser, Subcommand};

use livepack::Config;

/// mimalloc: the ingest path allocates many small strings; glibc malloc showed up as ~18 %
/// of CPU in profiles. Built without transparent huge pages (`no_thp`, see Cargo.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "livepack",
    version,
    about = "Livestream order surges packed and shipped the same day"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve(ServeArgs),
    /// Load and validate the configuration, print a summary, exit.
    CheckConfig,
    /// Print an argon2id hash of a station PIN for `station_pin` in the config.
    HashPin { pin: String },
    /// Send orders from a file (JSON lines, TikTok Shop JSON, TikTok/Shopee export CSV or
    /// XLSX) into a session; rows cancelled on the platform cancel orders stored before.
    /// Exit codes: 0 all stored, 1 some rejected, unmappable or too late to cancel, 2 bad
    /// input, 3 server unreachable or token refused, 130 Ctrl-C.
    Push(livepack::cli::PushArgs),
    /// Cancel an order (exit 0 cancelled, 1 too_late or unknown).
    Cancel(livepack::cli::CancelArgs),
    /// Show a session: counts, waved, packed, orders at risk.
    Session(livepack::cli::SessionArgs),
    /// A seller's COD statement for a period: expected, collected, fees, returned, net and
    /// every parcel with its mismatch (table, or --csv). Exit 1 when mismatches are listed.
    Cod(livepack::cli::CodArgs),
    /// Write a site's business day (orders as they are in Redis now) to its archive file,
    /// gzip JSON lines, merged with the lines the file already has.
    ExportDay(livepack::archive::ExportDayArgs),
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// Run with demo settings (demo tokens, the demo PIN or webhook secret, a `mock`
    /// carrier) on a non-loopback `server.listen`: refused without it.
    #[arg(long, env = "LIVEPACK_DEMO", value_parser = clap::builder::FalseyValueParser::new())]
    demo: bool,
    /// Start on an external Redis with `appendonly no` (acked orders then do not survive a
    /// Redis restart); refused without it. Same as `redis.allow_volatile = true`.
    #[arg(long, env = "LIVEPACK_ALLOW_VOLATILE", value_parser = clap::builder::FalseyValueParser::new())]
    allow_volatile: bool,
}

fn load() -> Config {
    match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("livepack: {e}");
            std::process::exit(2);
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        // A hang-up (an SSH session closed, a reload by habit) does not stop the service
        // without a trace: livepack reads its configuration only at start.
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        tokio::pin!(ctrl_c);
        loop {
            tokio::select! {
                _ = &mut ctrl_c => return,
                _ = term.recv() => return,
                Some(()) = async {
                    match hup.as_mut() {
                        Some(h) => h.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    tracing::warn!("SIGHUP ignored: the configuration is read only at start; SIGTERM or Ctrl-C stops the service");
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("livepack: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(run_command());
    // Everything the service owns has been drained (each step bounded by
    // `server.shutdown_grace_secs`); a blocking task still running (a label render, an
    // archive write) must not hold the process up: dropping the runtime would wait for it
    // without limit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
}

async fn run_command() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
            let usage = |command: &str| {
                let mut cli = <Cli as clap::CommandFactory>::command();
                cli.build();
                let sub = cli.find_subcommand_mut(command)?;
                Some(sub.render_usage().to_string())
            };
            match livepack::cli::usage::explain(&err, &args, usage) {
                Some(text) => {
                    eprint!("{text}");
                    std::process::exit(2);
                }
                None => err.exit(),
            }
        }
    };
    if matches!(
        cli.command,
        Some(
            Command::CheckConfig
                | Command::HashPin { .. }
                | Command::Session(_)
                | Command::Cod(_)
                | Command::Cancel(_)
        )
    ) {
        // These print what they read: a pipe closed early (`| head -1`) ends them quietly,
        // as any Unix tool, instead of a panic. Their sockets are unaffected (Rust sends on
        // them with MSG_NOSIGNAL: an error, never the signal). The service keeps Rust's
        // ignored SIGPIPE, and so does `push`, whose summary must not cut a push short.
        // SAFETY: restoring the default disposition of one signal, before any thread writes.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let seller_command = match &cli.command {
        Some(Command::Push(a)) => Some(livepack::cli::run_push(a.clone()).await),
        Some(Command::Cancel(a)) => Some(livepack::cli::run_cancel(a.clone()).await),
        Some(Command::Session(a)) => Some(livepack::cli::run_session(a.clone()).await),
        Some(Command::Cod(a)) => Some(livepack::cli::run_cod(a.clone()).await),
        _ => None,
    };
    if let Some(code) = seller_command {
        std::process::exit(code);
    }
    if let Some(Command::HashPin { pin }) = &cli.command {
        match livepack::config::pin::hash(pin) {
            Ok(h) => println!("{h}"),
            Err(e) => {
                eprintln!("livepack: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let mut config = load();
    match cli
        .command
        .unwrap_or_else(|| Command::Serve(ServeArgs::default()))
    {
        Command::HashPin { .. }
        | Command::Push(_)
        | Command::Cancel(_)
        | Command::Session(_)
        | Command::Cod(_) => {}
        Command::ExportDay(args) => {
            std::process::exit(livepack::archive::run_export_day(&config, &args).await);
        }
        Command::CheckConfig => {
            // The demo settings are listed whatever the verdict; "configuration ok" only
            // once every check below passed.
            for warning in config.warnings() {
                println!("warning: {warning}");
            }
            let demo = config.demo_settings();
            for key in &demo {
                println!("warning: demo setting {key}");
            }
            if !demo.is_empty() {
                println!(
                    "`livepack serve` refuses these on a non-loopback server.listen ({}) unless --demo is given",
                    config.server.listen
                );
            }
            // What `serve` would refuse is not "ok" for a deploy gate (`LIVEPACK_DEMO` allows
            // the demo beyond loopback, as for `serve`).
            let demo_on = std::env::var("LIVEPACK_DEMO").is_ok_and(|v| {
                let v = v.trim().to_ascii_lowercase();
                !matches!(v.as_str(), "" | "0" | "false" | "no" | "off" | "n" | "f")
            });
            if let Err(msg) = config.check_demo_exposure(demo_on) {
                eprintln!("livepack: {msg}");
                std::process::exit(2);
            }
            if let Some(problem) = livepack::archive::startup_problem(&config.retention) {
                eprintln!("livepack: retention.archive_dir: {problem}");
                std::process::exit(2);
            }
            // What starting the embedded Redis would refuse (nothing is created here).
            if matches!(config.redis.url, livepack::config::RedisTarget::Embedded) {
                if let Err(msg) = livepack::store::embedded::check_setup(
                    &config.redis.data_dir,
                    &config.redis.bin,
                ) {
                    eprintln!("livepack: {msg}");
                    std::process::exit(2);
                }
            }
            println!(
                "configuration ok: {} site(s), {} seller(s), {} carrier(s), redis {}",
                config.sites.len(),
                config.sellers.len(),
                config.carriers.len(),
                match config.redis.url {
                    livepack::config::RedisTarget::Embedded => "embedded",
                    livepack::config::RedisTarget::Url(_) => "external",
                }
            );
        }
        Command::Serve(args) => {
            if let Err(msg) = config.check_demo_exposure(args.demo) {
                eprintln!("livepack: {msg}");
                std::process::exit(2);
            }
            config.redis.allow_volatile |= args.allow_volatile;
            livepack::init_tracing(&config.log);
            let listener = match tokio::net::TcpListener::bind(&config.server.listen).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!(
                        "livepack: cannot listen on {} (server.listen): {e}",
                        config.server.listen
                    );
                    std::process::exit(2);
                }
            };
            if let Err(e) = livepack::run(config, listener, shutdown_signal()).await {
                eprintln!("livepack: {e}");
                std::process::exit(1);
            }
        }
    }
}
