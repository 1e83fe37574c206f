//! The HTTP/1.1 accept loop: what `axum::serve` does, plus a header-read timeout.
//!
//! `axum::serve` (0.8) gives hyper no timer, so hyper's header-read timeout never runs: a
//! peer that sends half a request head (or nothing) holds its connection and its task for
//! ever, and a few thousand such sockets exhaust file descriptors (slowloris). Here every
//! connection must finish each request head within [`HEADER_READ_TIMEOUT`]; an upgraded
//! WebSocket is then governed by the ingest idle timeout instead.

use std::future::Future;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a client may take to send a request head (also the keep-alive idle limit).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets every
/// connection finish its request in flight, and returns when they are all closed or
/// `grace` has passed (a peer holding a request open never holds up the shutdown).
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let stop = CancellationToken::new();
    let conns = TaskTracker::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // A peer that reset before accept is its own problem; anything else
                    // (EMFILE) is retried after a pause instead of spinning.
                    if !matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionRefused
                            | std::io::ErrorKind::ConnectionAborted
                            | std::io::ErrorKind::ConnectionReset
                    ) {
                        tracing::error!(error = %e, "accept error");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
        };
        let (stream, peer) = stream;
        // The peer address reaches handlers as `ConnectInfo` (sign-in throttling per client).
        let service = TowerToHyperService::new(
            tower::ServiceBuilder::new()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    req
                })
                .service(app.clone()),
        );
        let stop = stop.clone();
        conns.spawn(async move {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    stop.cancel();
    conns.close();
    if tokio::time::timeout(grace, conns.wait()).await.is_err() {
        // Left to the runtime's end, which drops them.
        tracing::warn!(
            open = conns.len(),
            ?grace,
            "connections still open after the shutdown grace period"
        );
    }
    Ok(())
}
