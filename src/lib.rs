//! livepack: livestream order surges packed and shipped the same day.
//!
//! The library is the whole service; the `livepack` binary only parses its command line.
//! [`run`] starts everything on a listener the caller chose (tests use port 0) and stops
//! when `shutdown` resolves; [`app`] is the router alone.

pub mod archive;
pub mod cli;
pub mod client;
pub mod config;
pub mod domain;
pub mod http;
pub mod import;
pub mod ingest;
pub mod metric_names;
pub mod metrics;
pub mod observe;
pub mod planner;
pub mod shipping;
pub mod state;
pub mod store;
pub mod tablet;
pub mod web;

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::Config;
pub use state::AppState;

use store::embedded::{EmbeddedOptions, EmbeddedRedis};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Embedded(#[from] store::embedded::EmbeddedError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Volatile(String),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error("retention.archive_dir: {0}")]
    ArchiveDir(String),
    /// The config moves a seller to another site, or drops a site with orders to plan.
    #[error("{0}")]
    Bindings(String),
    #[error("cannot listen on {addr} (server.admin_listen): {source}")]
    AdminListen {
        addr: String,
        source: std::io::Error,
    },
}

/// The service's router over shared state.
pub fn app(state: AppState) -> axum::Router {
    http::router(state)
}

/// Runs the service until `shutdown` resolves, then drains: stops accepting, lets
/// in-flight frames finish, closes WebSockets with 1001, and stops an embedded Redis.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    if let Some(problem) = archive::startup_problem(&config.retention) {
        return Err(RunError::ArchiveDir(problem));
    }
    metrics::install();
    metrics::register(&config);
    let admin = match config.server.admin_listen.as_str() {
        "" => None,
        addr => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| RunError::AdminListen {
                    addr: addr.to_owned(),
                    source,
                })?,
        ),
    };
    for warning in config.warnings() {
        tracing::warn!(%warning, "configuration");
    }
    for key in config.demo_credentials() {
        tracing::warn!(key = %key, "demo credentials in use: set real tokens before going live");
    }
    // Polled from here on, so a SIGTERM during a long embedded start (a large AOF loading)
    // is heard: the start is given up and its server stopped.
    let mut shutdown = Box::pin(shutdown);
    let mut embedded = None;
    let mut reached = true;
    let url = if let Some(url) = config.redis.url.url() {
        reached = store::persistence::check(&config.redis, url)
            .await
            .map_err(RunError::Volatile)?;
        url.to_owned()
    } else {
        let mut opts = EmbeddedOptions::private(config.redis.data_dir.clone());
        opts.bin = config.redis.bin.clone();
        opts.appendfsync = config.redis.appendfsync.as_str().to_owned();
        let Some(e) = EmbeddedRedis::start_until(opts, &mut shutdown).await? else {
            tracing::info!("shutting down: stopped during the embedded redis-server's start");
            return Ok(());
        };
        tracing::info!(url = %e.url(), data_dir = %config.redis.data_dir.display(), "embedded redis-server running");
        let url = e.url();
        // Restarted if it dies; stopped below, after every task that uses it (or, on an early
        // return, its watcher is told to end by the guard's drop).
        let stop = CancellationToken::new();
        embedded = Some((stop.clone().drop_guard(), tokio::spawn(e.supervise(stop))));
        url
    };
    let store = store::Store::connect(&config.redis, &url).await?;
    if reached {
        check_bindings(&config, &store).await?;
    } else {
        tracing::warn!("redis not reachable at start: sellers' and sites' bindings not checked");
    }
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let token = CancellationToken::new();
    let tasks = TaskTracker::new();
    if !reached {
        // Not reachable at start: nothing is acked until it is and its AOF is checked.
        store.set_unverified(Some("redis is not reachable yet".into()));
        tasks.spawn(store::persistence::recheck_until_verified(
            config.redis.clone(),
            url.clone(),
            store.clone(),
            token.clone(),
        ));
    }
    let state = AppState::new(config, store, token.clone(), tasks.clone());
    observe::spawn(&state);
    if let Some(admin) = admin {
        if let Ok(addr) = admin.local_addr() {
            tracing::info!(%addr, "metrics on the admin port");
        }
        tasks.spawn(serve_admin(admin, token.clone(), grace));
    }
    if state.config.retention.enabled {
        archive::spawn(&state);
    }
    // Booking requests are retried in the background until booked or rejected.
    shipping::booker::spawn_all(&state.shipping);
    if state.config.planner.enabled {
        planner::spawn_all(&state, &instance_id(&state.config));
        for site in &state.config.sites {
            state.tasks.spawn(shipping::service::auto_book(
                state.shipping.clone(),
                site.id.clone(),
            ));
            state.tasks.spawn(shipping::cancel::run(
                state.shipping.clone(),
                site.id.clone(),
            ));
        }
    }

    let addr = listener.local_addr()?;
    tracing::info!(%addr, "livepack listening on http://{addr}");
    let signal = token.clone();
    let served = http::serve::serve(
        listener,
        app(state),
        async move {
            shutdown.await;
            tracing::info!("shutting down: draining connections");
            signal.cancel();
        },
        grace,
    )
    .await;
    token.cancel();
    tasks.close();
    if tokio::time::timeout(grace, tasks.wait()).await.is_err() {
        tracing::warn!(
            ?grace,
            "some tasks did not finish within the shutdown grace period"
        );
    }
    if let Some((stop, watcher)) = embedded {
        drop(stop);
        if let Ok(mut e) = watcher.await {
            e.stop().await;
        }
    }
    served?;
    Ok(())
}

/// Refuses a config that moves a seller to another site or drops a site with orders still
/// to plan (`store::bindings`).
async fn check_bindings(config: &Config, store: &store::Store) -> Result<(), RunError> {
    let sellers: Vec<store::bindings::SellerAt<'_>> = config
        .sellers
        .iter()
        .enumerate()
        .map(|(index, s)| store::bindings::SellerAt {
            index,
            seller: &s.id,
            site: &s.site,
        })
        .collect();
    let sites: Vec<&str> = config.sites.iter().map(|s| s.id.as_str()).collect();
    match store.check_bindings(&sellers, &sites).await {
        Ok(refused) if refused.is_empty() => Ok(()),
        Ok(refused) => Err(RunError::Bindings(refused.join("\n"))),
        // A Redis too slow to answer at start (a long AOF rewrite, a pause) must not keep
        // the service down: it starts, unchecked, and says so.
        Err(e) => {
            tracing::warn!(error = %e, "sellers' and sites' bindings not checked: redis did not answer");
            Ok(())
        }
    }
}

/// The admin port: `/metrics` and `/healthz` only, until shutdown; anything else answers
/// the API's JSON error (404 `not_found`, 405 `method_not_allowed`).
async fn serve_admin(listener: TcpListener, token: CancellationToken, grace: Duration) {
    let router = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics::render))
        .route("/healthz", axum::routing::get(crate::http::health::healthz))
        .fallback(web::error::fallback)
        .layer(axum::middleware::from_fn(web::error::json_errors));
    let served = http::serve::serve(listener, router, token.cancelled_owned(), grace).await;
    if let Err(e) = served {
        tracing::warn!(error = %e, "admin port stopped");
    }
}

/// This instance's name in planner leases.
fn instance_id(config: &Config) -> String {
    if !config.planner.instance_id.is_empty() {
        return config.planner.instance_id.clone();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "livepack".into());
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Logs to stderr as text or JSON. `RUST_LOG` wins over the configured level.
pub fn init_tracing(cfg: &config::LogConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.level));
    // Colours only on a terminal: a log file or a pipe gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match cfg.format {
        config::LogFormat::Json => builder.json().try_init(),
        config::LogFormat::Text => builder.try_init(),
    };
}
