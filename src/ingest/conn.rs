//! One ingest WebSocket: read frames, work on up to `window` of them at once, answer in
//! arrival order. When the window (or the global in-flight budget) is full the loop stops
//! reading, so a fast client meets TCP back-pressure; nothing here queues without bound.
//!
//! Shared budgets are held only while a frame's reply is computed: each frame's work runs
//! in a task of its own that holds the frame's global slot (and, in `store_batch`, its
//! share of the order budget) and lets go of them when the reply is ready. A reply then
//! waits for its connection's writer holding nothing shared, so a peer that never reads
//! its replies fills only its own window. A writer that cannot write for
//! `write_timeout` closes the connection.

use crate::metric_names as names;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{FuturesOrdered, SplitStream};
use futures_util::{Future, FutureExt, SinkExt, StreamExt};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::frame::{self, Frame, Reply};
use super::process::{self, Ctx};
use super::{closed, Held};
use crate::web::error::ErrorCode;

pub struct Limits {
    pub window: usize,
    pub max_orders_per_frame: usize,
    pub max_orders_per_sec: u32,
    /// Orders read but not yet answered, per connection.
    pub max_inflight_orders: usize,
    pub idle: Duration,
    /// A reply not written within this long (the peer reads nothing): the connection closes.
    pub write_timeout: Duration,
}

/// Orders that go to Redis in one script call at most: consecutive `order`/`orders` frames
/// already waiting in the socket are stored together (one round trip for all of them).
const MAX_BATCH_ORDERS: usize = 1000;

/// The replies of one or more frames, in frame order, with when each frame was read and
/// how many orders it carried.
type Pending = Pin<Box<dyn Future<Output = Vec<(Reply, Instant)>> + Send>>;

/// A pending entry with the number of orders it holds.
type Counted = Pin<Box<dyn Future<Output = (Vec<(Reply, Instant)>, usize)> + Send>>;

/// After our Close, how long we read the peer's last frames waiting for its Close.
const CLOSE_DRAIN: Duration = Duration::from_secs(2);

/// Close codes (RFC 6455).
const GOING_AWAY: u16 = 1001;
const TOO_BIG: u16 = 1009;
const NORMAL: u16 = 1000;

/// Slows a peer that sends more orders per second than allowed by delaying the next read.
struct Pace {
    per_sec: f64,
    not_before: tokio::time::Instant,
}

impl Pace {
    fn charge(&mut self, orders: usize) {
        let now = tokio::time::Instant::now();
        let start = self.not_before.max(now - Duration::from_secs(1));
        self.not_before = start + Duration::from_secs_f64(orders as f64 / self.per_sec);
    }
}

enum Event {
    Shutdown,
    /// The writer gave up (write deadline passed, or the socket failed).
    WriterGone,
    Replied(Option<(Vec<(Reply, Instant)>, usize)>),
    Read(Option<Result<Message, axum::Error>>),
    Idle,
}

/// Waits for the peer's next message. No global slot is held while waiting: a peer that
/// is slow to send (or sends half a frame) holds nothing shared.
async fn next_message(stream: &mut SplitStream<WebSocket>, pace: &Pace, idle: Duration) -> Event {
    tokio::time::sleep_until(pace.not_before).await;
    match tokio::time::timeout(idle, stream.next()).await {
        Ok(msg) => Event::Read(msg),
        Err(_) => Event::Idle,
    }
}

/// A frame's global in-flight slot (`ingest.global_inflight`), taken without waiting.
fn try_slot(slots: &Arc<Semaphore>) -> Option<Held> {
    slots
        .clone()
        .try_acquire_owned()
        .ok()
        .map(|p| Held::new(p, names::INGEST_INFLIGHT_FRAMES))
}

/// Order frames read together, stored with one Redis call in a task of their own (so a
/// busy connection's validation runs on any core).
struct Batch {
    /// (text, when read, seq, where in the text each order is: the frame is parsed once)
    frames: Vec<(Utf8Bytes, Instant, i64, Vec<std::ops::Range<usize>>)>,
    orders: usize,
    permits: Vec<Held>,
}

impl Batch {
    fn new() -> Self {
        Batch {
            frames: Vec::new(),
            orders: 0,
            permits: Vec::new(),
        }
    }

    fn into_pending(self, ctx: &Arc<Ctx>, tasks: &TaskTracker) -> Pending {
        let ctx = ctx.clone();
        let seqs: Vec<(i64, Instant)> = self
            .frames
            .iter()
            .map(|(_, at, seq, _)| (*seq, *at))
            .collect();
        let Batch {
            frames, permits, ..
        } = self;
        // The task owns the frames' global slots and lets go of them as soon as the
        // replies exist, whether or not the connection ever writes them.
        let task = tasks.spawn(async move {
            let now = chrono::Utc::now();
            let prepared: Vec<process::Prepared> = frames
                .iter()
                .map(|(text, _, seq, spans)| {
                    let text = text.as_str();
                    let orders = spans.iter().map(|r| text.get(r.clone()).unwrap_or(""));
                    process::prepare(&ctx, *seq, orders, now)
                })
                .collect();
            let replies = process::store_batch(&ctx, prepared).await;
            drop(permits);
            replies
        });
        Box::pin(async move {
            let replies = match task.await {
                Ok(replies) => replies,
                // A panic in the task: nothing is known to be stored; the client resends.
                Err(_) => seqs
                    .iter()
                    .map(|(seq, _)| Reply::Nack {
                        seq: *seq,
                        retry_after_ms: 500,
                        reason: "internal_error",
                    })
                    .collect(),
            };
            replies
                .into_iter()
                .zip(seqs)
                .map(|(r, (_, at))| (r, at))
                .collect()
        })
    }
}

pub async fn serve(
    socket: WebSocket,
    ctx: Arc<Ctx>,
    limits: Limits,
    slots: Arc<Semaphore>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Message>(limits.window + 2);
    let write_timeout = limits.write_timeout;
    let site = ctx.site.clone();
    let writer = tokio::spawn(
        async move {
            while let Some(msg) = rx.recv().await {
                let closing = matches!(msg, Message::Close(_));
                match tokio::time::timeout(write_timeout, sink.send(msg)).await {
                    Ok(Ok(())) if !closing => {}
                    Ok(_) => break,
                    Err(_) => {
                        // The peer has read nothing for that long: close (dropping the
                        // sink, and with `rx` the reader loop). Its unanswered frames are
                        // "no reply": the client resends them, which is always safe.
                        tracing::warn!(timeout = ?write_timeout, "ingest connection closed: replies unwritable past the write deadline (the peer does not read)");
                        closed(&site, "write_timeout");
                        return;
                    }
                }
            }
            let _ = tokio::time::timeout(write_timeout, sink.close()).await;
        }
        .instrument(tracing::Span::current()),
    );

    // Each pending entry remembers how many orders it holds.
    let mut inflight: FuturesOrdered<Counted> = FuturesOrdered::new();
    let mut inflight_orders = 0usize;
    let mut pace = Pace {
        per_sec: f64::from(limits.max_orders_per_sec),
        not_before: tokio::time::Instant::now(),
    };
    let mut reading = true;
    let mut pinged = false;
    let mut close: Option<(u16, &'static str)> = None;
    let push = |inflight: &mut FuturesOrdered<Counted>, p: Pending, n: usize| {
        inflight.push_back(Box::pin(async move { (p.await, n) }) as Counted);
    };

    // A close or error met while draining already-arrived frames, handled next turn.
    let mut stashed: Option<Option<Result<Message, axum::Error>>> = None;

    'conn: loop {
        if !reading && inflight.is_empty() {
            break;
        }
        let can_read = reading
            && inflight.len() < limits.window
            && inflight_orders < limits.max_inflight_orders;
        let event = match stashed.take() {
            Some(m) => Event::Read(m),
            None => tokio::select! {
                biased;
                _ = shutdown.cancelled(), if reading => Event::Shutdown,
                _ = tx.closed() => Event::WriterGone,
                r = inflight.next(), if !inflight.is_empty() => Event::Replied(r),
                e = next_message(&mut stream, &pace, limits.idle), if can_read => e,
            },
        };
        match event {
            Event::Shutdown => {
                reading = false;
                close = Some((GOING_AWAY, "server shutting down"));
            }
            // Nothing more can be written: what is still in flight finishes in its own
            // task (releasing its budget) and the connection closes now.
            Event::WriterGone => break,
            Event::Replied(Some((replies, n))) => {
                inflight_orders -= n;
                for (reply, started) in replies {
                    let latency = started.elapsed().as_secs_f64();
                    if matches!(reply, Reply::Ack { .. }) {
                        ctx.metrics.ack_latency.record(latency);
                    } else {
                        metrics::histogram!(names::INGEST_REPLY_LATENCY_SECONDS, "type" => reply.kind())
                            .record(latency);
                    }
                    let msg = Message::Text(Utf8Bytes::from(reply.to_json()));
                    let sent = match tx.try_send(msg) {
                        Ok(()) => true,
                        Err(mpsc::error::TrySendError::Closed(_)) => false,
                        // The writer is behind (the peer reads slowly or not at all): this
                        // connection stops here, holding no shared budget, until it
                        // catches up or its write deadline passes.
                        Err(mpsc::error::TrySendError::Full(msg)) => {
                            let stalled = metrics::gauge!(names::INGEST_STALLED_CONNECTIONS);
                            stalled.increment(1.0);
                            let sent = tx.send(msg).await.is_ok();
                            stalled.decrement(1.0);
                            sent
                        }
                    };
                    if !sent {
                        break 'conn;
                    }
                }
            }
            Event::Replied(None) => {}
            Event::Idle => {
                if pinged {
                    reading = false;
                    closed(&ctx.site, "idle_timeout");
                    close = Some((NORMAL, "idle timeout"));
                } else {
                    pinged = true;
                    let _ = tx.send(Message::Ping(Default::default())).await;
                }
            }
            Event::Read(None) | Event::Read(Some(Ok(Message::Close(_)))) => reading = false,
            Event::Read(Some(Err(e))) => {
                reading = false;
                if is_too_big(e) {
                    metrics::counter!(names::INGEST_FRAMES, "type" => "too_big").increment(1);
                    closed(&ctx.site, "too_big");
                    close = Some((TOO_BIG, "frame larger than the limit"));
                }
            }
            Event::Read(Some(Ok(msg))) => {
                pinged = false;
                // A data frame takes a global slot now that it has arrived (waiting for
                // one stops this connection's reading, not anyone else's).
                let permit = if matches!(msg, Message::Text(_) | Message::Binary(_)) {
                    tokio::select! {
                        p = slots.clone().acquire_owned() => p.ok().map(|p| Held::new(p, names::INGEST_INFLIGHT_FRAMES)),
                        _ = tx.closed() => break 'conn,
                    }
                } else {
                    None
                };
                // This message, then whatever else has already arrived (without waiting):
                // consecutive order frames share one Redis call.
                let mut batch = Batch::new();
                let mut next = Some((msg, permit));
                while let Some((msg, permit)) = next.take() {
                    let started = Instant::now();
                    match classify(&ctx, &limits, &mut pace, msg, started) {
                        Classified::Skip => {}
                        Classified::Orders(text, spans, seq) => {
                            batch.orders += spans.len();
                            batch.frames.push((text, started, seq, spans));
                            batch.permits.extend(permit);
                        }
                        Classified::Other(pending) => {
                            if !batch.frames.is_empty() {
                                let n = batch.orders;
                                inflight_orders += n;
                                push(
                                    &mut inflight,
                                    std::mem::replace(&mut batch, Batch::new())
                                        .into_pending(&ctx, &tasks),
                                    n,
                                );
                            }
                            push(&mut inflight, pending.start(&tasks, permit), 0);
                        }
                    }
                    let room = inflight.len() + 1 < limits.window
                        && inflight_orders + batch.orders < limits.max_inflight_orders
                        && batch.orders < MAX_BATCH_ORDERS
                        && tokio::time::Instant::now() >= pace.not_before;
                    if !room {
                        break;
                    }
                    let Some(permit) = try_slot(&slots) else {
                        break;
                    };
                    match stream.next().now_or_never() {
                        Some(Some(Ok(m))) if !matches!(m, Message::Close(_)) => {
                            next = Some((m, Some(permit)))
                        }
                        Some(other) => {
                            // Closed, errored or a close frame: handled by the next turn.
                            drop(permit);
                            stashed = Some(other);
                            break;
                        }
                        None => break,
                    }
                }
                if !batch.frames.is_empty() {
                    let n = batch.orders;
                    inflight_orders += n;
                    push(&mut inflight, batch.into_pending(&ctx, &tasks), n);
                }
            }
        }
    }
    let (code, reason) = close.unwrap_or((NORMAL, "bye"));
    let _ = tx
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })))
        .await;
    drop(tx);
    let _ = writer.await;
    // The closing handshake: read (and drop) what the peer still sends until its Close, for
    // a bounded time. Dropping a socket with unread bytes in it makes the kernel reset the
    // connection, and a reset can reach the peer before it has read our last replies and
    // our Close.
    let _ = tokio::time::timeout(CLOSE_DRAIN, async {
        while let Some(Ok(m)) = stream.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

fn is_too_big(e: axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error as WsError;
    matches!(
        e.into_inner().downcast_ref::<WsError>(),
        Some(WsError::Capacity(_))
    )
}

fn ready(reply: Reply, started: Instant) -> Pending {
    Box::pin(std::future::ready(vec![(reply, started)]))
}

/// A frame answered on its own: its reply already known, or work to do (a Redis call).
enum Single {
    Ready(Reply, Instant),
    Work {
        seq: i64,
        started: Instant,
        work: Pending,
    },
}

impl Single {
    /// Starts the frame's work in a task that holds the frame's global slot until the
    /// reply exists (a known reply lets go of it at once).
    fn start(self, tasks: &TaskTracker, permit: Option<Held>) -> Pending {
        match self {
            Single::Ready(reply, started) => {
                drop(permit);
                ready(reply, started)
            }
            Single::Work { seq, started, work } => {
                let task = tasks.spawn(async move {
                    let out = work.await;
                    drop(permit);
                    out
                });
                Box::pin(async move {
                    task.await.unwrap_or_else(|_| {
                        vec![(
                            Reply::Nack {
                                seq,
                                retry_after_ms: 500,
                                reason: "internal_error",
                            },
                            started,
                        )]
                    })
                })
            }
        }
    }
}

enum Classified {
    /// Control messages (ping/pong/close) the WebSocket layer handles.
    Skip,
    /// An `order`/`orders` frame: (text, each order's place in it, seq), stored in a batch.
    Orders(Utf8Bytes, Vec<std::ops::Range<usize>>, i64),
    /// Anything else, answered on its own.
    Other(Single),
}

fn classify(
    ctx: &Arc<Ctx>,
    limits: &Limits,
    pace: &mut Pace,
    msg: Message,
    started: Instant,
) -> Classified {
    let text = match msg {
        Message::Text(text) => text,
        Message::Binary(_) => {
            return Classified::Other(Single::Ready(
                Reply::error(
                    None,
                    ErrorCode::BinaryFrame,
                    None,
                    "frames are JSON text frames",
                ),
                started,
            ))
        }
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) => return Classified::Skip,
    };
    let parsed = match frame::parse(text.as_str(), limits.max_orders_per_frame) {
        Ok(Frame::Orders { seq, orders }) => {
            let base = text.as_str().as_ptr() as usize;
            let spans: Vec<std::ops::Range<usize>> = orders
                .iter()
                .map(|raw| {
                    let at = (raw.get().as_ptr() as usize).saturating_sub(base);
                    at..at + raw.get().len()
                })
                .collect();
            Ok((seq, spans))
        }
        Ok(Frame::Ping { seq }) => Err(Single::Ready(Reply::Pong { seq }, started)),
        Ok(Frame::EndSession { seq }) => {
            metrics::counter!(names::INGEST_FRAMES, "type" => "end_session").increment(1);
            let ctx = ctx.clone();
            Err(Single::Work {
                seq,
                started,
                work: Box::pin(
                    async move { vec![(process::end_session(&ctx, seq).await, started)] },
                ),
            })
        }
        Ok(Frame::Cancel {
            seq,
            order_id,
            reason,
        }) => {
            metrics::counter!(names::INGEST_FRAMES, "type" => "cancel").increment(1);
            let ctx = ctx.clone();
            Err(Single::Work {
                seq,
                started,
                work: Box::pin(async move {
                    vec![(process::cancel(&ctx, seq, order_id, reason).await, started)]
                }),
            })
        }
        Err(reply) => {
            metrics::counter!(names::INGEST_FRAMES, "type" => "invalid").increment(1);
            Err(Single::Ready(reply, started))
        }
    };
    match parsed {
        Ok((seq, spans)) => {
            ctx.metrics.frames_orders.increment(1);
            pace.charge(spans.len());
            Classified::Orders(text, spans, seq)
        }
        Err(single) => Classified::Other(single),
    }
}
