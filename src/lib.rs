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
use std::sync::Arc;
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
    let bindings = Bindings::of(&config);
    // Checked before anything is acked: refused, the start stops; Redis not answering (a
    // long AOF load answers LOADING), ingest nacks and /readyz is 503 until it is checked.
    let unchecked = if reached {
        match bindings.verdict(&store).await {
            Ok(Some(why)) => return Err(RunError::Bindings(why)),
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "sellers' and sites' bindings not checked yet: redis did not answer");
                true
            }
        }
    } else {
        true
    };
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let token = CancellationToken::new();
    // Set by a check of the bindings done after the start: the service stops, refusing.
    let refused = Arc::new(std::sync::Mutex::new(None::<String>));
    let stop_now = CancellationToken::new();
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
    if unchecked {
        store.set_bindings_unchecked(Some("sellers' and sites' bindings not checked yet".into()));
        tasks.spawn(bindings.recheck(
            store.clone(),
            token.clone(),
            stop_now.clone(),
            refused.clone(),
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
            tokio::select! {
                _ = shutdown => {}
                _ = stop_now.cancelled() => {}
            }
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
    let refused = refused.lock().unwrap_or_else(|e| e.into_inner()).take();
    match refused {
        Some(why) => Err(RunError::Bindings(why)),
        None => Ok(()),
    }
}

/// The config's sellers and sites, as checked against what Redis holds
/// (`store::bindings`): a seller moved to another site, or a site dropped while Redis still
/// holds its orders, is refused.
struct Bindings {
    sellers: Vec<(usize, String, String)>,
    sites: Vec<String>,
}

impl Bindings {
    fn of(config: &Config) -> Bindings {
        Bindings {
            sellers: config
                .sellers
                .iter()
                .enumerate()
                .map(|(i, s)| (i, s.id.clone(), s.site.clone()))
                .collect(),
            sites: config.sites.iter().map(|s| s.id.clone()).collect(),
        }
    }

    /// The refusal (one line per problem), or `None` once the bindings are recorded.
    async fn verdict(&self, store: &store::Store) -> Result<Option<String>, store::StoreError> {
        let sellers: Vec<store::bindings::SellerAt<'_>> = self
            .sellers
            .iter()
            .map(|(index, seller, site)| store::bindings::SellerAt {
                index: *index,
                seller,
                site,
            })
            .collect();
        let sites: Vec<&str> = self.sites.iter().map(String::as_str).collect();
        let refused = store.check_bindings(&sellers, &sites).await?;
        Ok((!refused.is_empty()).then(|| refused.join("\n")))
    }

    /// Checks again every 2 s until Redis answers: then opens the ingest, or stops the
    /// service with the refusal.
    async fn recheck(
        self,
        store: store::Store,
        token: CancellationToken,
        stop_now: CancellationToken,
        refused: Arc<std::sync::Mutex<Option<String>>>,
    ) {
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
            match self.verdict(&store).await {
                Ok(None) => {
                    store.set_bindings_unchecked(None);
                    tracing::info!("sellers' and sites' bindings checked");
                    return;
                }
                Ok(Some(why)) => {
                    tracing::error!(%why, "the configuration moves a seller or drops a site: stopping");
                    *refused.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
                    stop_now.cancel();
                    return;
                }
                Err(e) => tracing::debug!(error = %e, "bindings not checked yet"),
            }
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
