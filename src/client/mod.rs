//! The seller-side ingest client (contract §1): pushes orders over the ingest WebSocket
//! with pipelining, and keeps at it through nacks, lost connections and server restarts
//! until every order has a final answer.
//!
//! Used by the integration tests, the `livepack push` CLI and the load-test tool (which
//! serializes its orders before timing the push: [`push_prepared`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), livepack::client::ClientError> {
//! use livepack::client::{push, sample_order, ClientConfig};
//! let cfg = ClientConfig::new("ws://127.0.0.1:8080", "demo-seller-mat-ong-tam-diep-token", "live-1");
//! let orders = (0..10).map(|n| sample_order(&format!("TT-{n}"), n)).collect();
//! let report = push(&cfg, orders, None).await?;
//! assert_eq!(report.accepted.len() + report.duplicate.len(), 10);
//! # Ok(()) }
//! ```
//!
//! Guarantees: every order ends in exactly one final state (accepted, duplicate, or rejected
//! with the server's error), or [`push`] returns an error naming what is unfinished. Orders
//! whose frame got no answer are resent (the server is idempotent by `order_id`), so an
//! order stored before a connection broke comes back `duplicate`: both mean "stored".

mod conn;
mod engine;
mod sample;
mod wire;

use std::time::Duration;

pub use engine::Prepared;
pub use sample::sample_order;
pub use wire::RejectReason;

/// What [`push`] needs to know. Build it with [`ClientConfig::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base address `ws://host:port` (`http://` works too); the client appends
    /// `/v1/ingest?session=LABEL`.
    pub url: String,
    /// The seller's bearer token.
    pub token: String,
    /// The session label (1–64 of `A-Z a-z 0-9 . _ -`).
    pub session: String,
    /// Frames in flight per connection (default 64).
    pub window: usize,
    /// 1 sends `order` frames; more sends `orders` frames of up to this many (max 500).
    pub orders_per_frame: usize,
    /// Sends of one order (first try included) before [`ClientError::GaveUp`]; also the
    /// number of consecutive failed connections tolerated (default 100).
    pub max_attempts_per_order: u32,
    /// TCP connect plus WebSocket handshake (default 10 s).
    pub connect_timeout: Duration,
    /// No reply for this long on a connection with frames in flight: the connection is
    /// treated as lost (default 30 s).
    pub reply_timeout: Duration,
    /// Send `end_session` once every order is final, and wait for its ack (default false).
    pub end_session: bool,
    /// Reconnect back-off bounds (defaults 100 ms and 5 s); the delay doubles per
    /// consecutive failure, with random jitter.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Largest frame the client sends (default 256 KiB, the server's default limit);
    /// batches are cut to fit, and a single order too large for it is rejected locally
    /// with code `order_too_large`.
    pub max_frame_bytes: usize,
}

impl ClientConfig {
    pub fn new(
        url: impl Into<String>,
        token: impl Into<String>,
        session: impl Into<String>,
    ) -> Self {
        ClientConfig {
            url: url.into(),
            token: token.into(),
            session: session.into(),
            window: 64,
            orders_per_frame: 100,
            max_attempts_per_order: 100,
            connect_timeout: Duration::from_secs(10),
            reply_timeout: Duration::from_secs(30),
            end_session: false,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            max_frame_bytes: 256 * 1024,
        }
    }

    /// The full ingest address for this session.
    pub fn ingest_url(&self) -> String {
        let base = self.url.trim_end_matches('/');
        let base = if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else {
            base.to_owned()
        };
        let mut label = String::with_capacity(self.session.len());
        for b in self.session.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
                label.push(b as char);
            } else {
                label.push_str(&format!("%{b:02X}"));
            }
        }
        format!("{base}/v1/ingest?session={label}")
    }

    fn check(&self) -> Result<(), ClientError> {
        let bad = |m: &str| Err(ClientError::Config(m.to_owned()));
        if self.window == 0 {
            return bad("window must be at least 1");
        }
        if !(1..=500).contains(&self.orders_per_frame) {
            return bad("orders_per_frame must be 1–500");
        }
        if self.max_attempts_per_order == 0 {
            return bad("max_attempts_per_order must be at least 1");
        }
        if self.backoff_min > self.backoff_max {
            return bad("backoff_min must not exceed backoff_max");
        }
        if self.max_frame_bytes < 1024 {
            return bad("max_frame_bytes must be at least 1024");
        }
        Ok(())
    }
}

/// The outcome of a [`push`]. Id lists are in input order; an order without a string
/// `order_id` is named `#<index>` (its position in the input).
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub accepted: Vec<String>,
    pub duplicate: Vec<String>,
    pub rejected: Vec<(String, RejectReason)>,
    /// Every frame written, resends and `end_session` included.
    pub frames_sent: u64,
    pub nacks: u64,
    /// Connections made again after the first one was lost (failed attempts meanwhile do
    /// not count).
    pub reconnects: u64,
    /// Per answered frame: time from sending it to its reply, in microseconds.
    pub ack_latencies_us: Vec<u64>,
    pub session_ended: bool,
    /// `error` replies the server gave to frames (each also reflected in the orders' states).
    pub frame_errors: Vec<FrameError>,
}

impl Report {
    /// Orders durably stored: accepted plus duplicate.
    pub fn stored(&self) -> usize {
        self.accepted.len() + self.duplicate.len()
    }
}

/// An `error` reply to one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub seq: Option<i64>,
    pub error: RejectReason,
}

/// Where a [`push`] stands; passed to the progress callback after every reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Orders sent at least once.
    pub sent: usize,
    /// Orders sent with no final answer yet (in flight, or nacked and due again).
    pub unanswered: usize,
    /// Orders stored (accepted or duplicate).
    pub acked: usize,
    pub rejected: usize,
    pub total: usize,
    pub nacks: u64,
    pub reconnects: u64,
    /// Connection attempts failed in a row since the connection was lost (`None`: connected,
    /// or not tried yet): the caller can say that the service is out of reach meanwhile.
    pub offline: Option<u32>,
}

/// Why a push stopped before every order was final.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("client configuration: {0}")]
    Config(String),
    /// The server refused the WebSocket handshake for good (wrong token: 401, bad label: 400).
    #[error("ingest handshake refused with HTTP {status}: {body}")]
    Handshake { status: u16, body: String },
    /// Some orders had no final answer after `max_attempts_per_order` tries (or the server
    /// stayed unreachable that many times in a row).
    #[error("gave up with {} orders unfinished", unfinished.len())]
    GaveUp { unfinished: Vec<String> },
    /// `end_session` was never acknowledged within `max_attempts_per_order` tries.
    #[error("gave up on end_session after {attempts} attempts")]
    EndSessionUnacked { attempts: u32 },
    /// The server refused a frame as malformed: a bug on the client's side, not retried.
    #[error("server refused frame {seq:?}: {} ({})", error.code, error.message)]
    FrameRefused {
        seq: Option<i64>,
        error: RejectReason,
    },
    /// The server closed the connection because a frame was too large (close code 1009):
    /// lower `max_frame_bytes` or `orders_per_frame`.
    #[error("server closed the connection: frame too large (lower max_frame_bytes)")]
    FrameTooLarge,
}

/// Called with a [`Progress`] after every reply.
pub type ProgressFn<'a> = &'a (dyn Fn(Progress) + Send + Sync);

/// Pushes `orders` (ORDER objects with an `order_id` string) for one session and returns
/// once every order is final (and, with `end_session`, the session is ended).
pub async fn push(
    cfg: &ClientConfig,
    orders: Vec<serde_json::Value>,
    progress: Option<ProgressFn<'_>>,
) -> Result<Report, ClientError> {
    cfg.check()?;
    // Each Value is dropped once serialized: the push holds only the texts.
    let prepared = orders.into_iter().map(|o| Prepared::new(&o)).collect();
    engine::Engine::new(cfg, prepared, progress).run().await
}

/// [`push`] with orders already serialized ([`Prepared::new`]): a caller that pushes the
/// same orders again, or times the push (the load tests), serializes them beforehand.
pub async fn push_prepared(
    cfg: &ClientConfig,
    orders: Vec<Prepared>,
    progress: Option<ProgressFn<'_>>,
) -> Result<Report, ClientError> {
    cfg.check()?;
    engine::Engine::new(cfg, orders, progress).run().await
}

/// One frame carrying `orders`: an `order` frame for exactly one, else an `orders` frame.
pub fn order_frame(seq: i64, orders: &[serde_json::Value]) -> String {
    let texts: Vec<String> = orders.iter().map(|o| o.to_string()).collect();
    let size = texts.iter().map(|t| t.len() + 1).sum();
    wire::orders_frame(
        seq,
        orders.len() == 1,
        texts.iter().map(String::as_str),
        size,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_built_from_the_base() {
        let mut c = ClientConfig::new("http://127.0.0.1:8080/", "t", "live-1");
        assert_eq!(
            c.ingest_url(),
            "ws://127.0.0.1:8080/v1/ingest?session=live-1"
        );
        c.session = "a b/é".into();
        assert_eq!(
            c.ingest_url(),
            "ws://127.0.0.1:8080/v1/ingest?session=a%20b%2F%C3%A9"
        );
    }

    #[test]
    fn order_frame_picks_the_frame_type() {
        let o = sample_order("TT-1", 1);
        let one: serde_json::Value =
            serde_json::from_str(&order_frame(1, std::slice::from_ref(&o))).unwrap();
        assert_eq!(one["type"], "order");
        assert_eq!(one["order"], o);
        let two: serde_json::Value =
            serde_json::from_str(&order_frame(2, &[o.clone(), o.clone()])).unwrap();
        assert_eq!(two["type"], "orders");
        assert_eq!(two["orders"][1], o);
    }
}
