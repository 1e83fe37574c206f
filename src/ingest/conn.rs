//! One ingest WebSocket: read frames, work on up to `window` of them at once, answer in
//! arrival order. When the window (or the global in-flight budget) is full the loop stops
//! reading, so a fast client meets TCP back-pressure; nothing here queues without bound.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{FuturesOrdered, SplitStream};
use futures_util::{Future, FutureExt, SinkExt, StreamExt};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::frame::{self, Frame, Reply};
use super::process::{self, Ctx};

pub struct Limits {
    pub window: usize,
    pub max_orders_per_frame: usize,
    pub max_orders_per_sec: u32,
    /// Orders read but not yet answered, per connection.
    pub max_inflight_orders: usize,
    pub idle: Duration,
}

/// Orders that go to Redis in one script call at most: consecutive `order`/`orders` frames
/// already waiting in the socket are stored together (one round trip for all of them).
const MAX_BATCH_ORDERS: usize = 1000;

/// The replies of one or more frames, in frame order, with when each frame was read and
/// how many orders it carried.
type Pending = Pin<Box<dyn Future<Output = Vec<(Reply, Instant)>> + Send>>;

/// A pending entry with the number of orders it holds.
type Counted = Pin<Box<dyn Future<Output = (Vec<(Reply, Instant)>, usize)> + Send>>;

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
    Replied(Option<(Vec<(Reply, Instant)>, usize)>),
    Read(
        Option<Result<Message, axum::Error>>,
        Option<OwnedSemaphorePermit>,
    ),
    Idle,
}

async fn next_message(
    stream: &mut SplitStream<WebSocket>,
    slots: &Arc<Semaphore>,
    pace: &Pace,
    idle: Duration,
) -> Event {
    tokio::time::sleep_until(pace.not_before).await;
    let Ok(permit) = slots.clone().acquire_owned().await else {
        return Event::Read(None, None);
    };
    match tokio::time::timeout(idle, stream.next()).await {
        Ok(msg) => Event::Read(msg, Some(permit)),
        Err(_) => Event::Idle,
    }
}

/// Order frames read together, stored with one Redis call in a task of their own (so a
/// busy connection's validation runs on any core).
struct Batch {
    /// (text, when read, seq)
    frames: Vec<(Utf8Bytes, Instant, i64)>,
    orders: usize,
    permits: Vec<OwnedSemaphorePermit>,
}

impl Batch {
    fn new() -> Self {
        Batch {
            frames: Vec::new(),
            orders: 0,
            permits: Vec::new(),
        }
    }

    fn into_pending(self, ctx: &Arc<Ctx>, max_orders: usize) -> Pending {
        let ctx = ctx.clone();
        let seqs: Vec<(i64, Instant)> =
            self.frames.iter().map(|(_, at, seq)| (*seq, *at)).collect();
        let Batch {
            frames, permits, ..
        } = self;
        let task = tokio::spawn(async move {
            let now = chrono::Utc::now();
            let prepared: Vec<process::Prepared> = frames
                .iter()
                .filter_map(
                    |(text, _, _)| match frame::parse(text.as_str(), max_orders) {
                        Ok(Frame::Orders { seq, orders }) => {
                            Some(process::prepare(&ctx, seq, &orders, now))
                        }
                        _ => None,
                    },
                )
                .collect();
            process::store_batch(&ctx, prepared).await
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
            drop(permits);
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
    shutdown: CancellationToken,
) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Message>(limits.window + 2);
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            let closing = matches!(msg, Message::Close(_));
            if sink.send(msg).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });

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

    loop {
        if !reading && inflight.is_empty() {
            break;
        }
        let can_read = reading
            && inflight.len() < limits.window
            && inflight_orders < limits.max_inflight_orders;
        let event = match stashed.take() {
            Some(m) => Event::Read(m, None),
            None => tokio::select! {
                biased;
                _ = shutdown.cancelled(), if reading => Event::Shutdown,
                r = inflight.next(), if !inflight.is_empty() => Event::Replied(r),
                e = next_message(&mut stream, &slots, &pace, limits.idle), if can_read => e,
            },
        };
        match event {
            Event::Shutdown => {
                reading = false;
                close = Some((GOING_AWAY, "server shutting down"));
            }
            Event::Replied(Some((replies, n))) => {
                inflight_orders -= n;
                for (reply, started) in replies {
                    metrics::histogram!("livepack_ingest_reply_latency_seconds", "type" => reply.kind())
                        .record(started.elapsed().as_secs_f64());
                    if tx
                        .send(Message::Text(Utf8Bytes::from(reply.to_json())))
                        .await
                        .is_err()
                    {
                        reading = false;
                    }
                }
            }
            Event::Replied(None) => {}
            Event::Idle => {
                if pinged {
                    reading = false;
                    close = Some((NORMAL, "idle timeout"));
                } else {
                    pinged = true;
                    let _ = tx.send(Message::Ping(Default::default())).await;
                }
            }
            Event::Read(None, _) | Event::Read(Some(Ok(Message::Close(_))), _) => reading = false,
            Event::Read(Some(Err(e)), _) => {
                reading = false;
                if is_too_big(e) {
                    metrics::counter!("livepack_ingest_frames_total", "type" => "too_big")
                        .increment(1);
                    close = Some((TOO_BIG, "frame larger than the limit"));
                }
            }
            Event::Read(Some(Ok(msg)), permit) => {
                pinged = false;
                // This message, then whatever else has already arrived (without waiting):
                // consecutive order frames share one Redis call.
                let mut batch = Batch::new();
                let mut next = Some((msg, permit));
                while let Some((msg, permit)) = next.take() {
                    let started = Instant::now();
                    match classify(&ctx, &limits, &mut pace, msg, started) {
                        Classified::Skip => {}
                        Classified::Orders(text, n, seq) => {
                            batch.frames.push((text, started, seq));
                            batch.orders += n;
                            batch.permits.extend(permit);
                        }
                        Classified::Other(pending) => {
                            if !batch.frames.is_empty() {
                                let n = batch.orders;
                                inflight_orders += n;
                                push(
                                    &mut inflight,
                                    std::mem::replace(&mut batch, Batch::new())
                                        .into_pending(&ctx, limits.max_orders_per_frame),
                                    n,
                                );
                            }
                            push(&mut inflight, with_permit(pending, permit), 0);
                        }
                    }
                    let room = inflight.len() + 1 < limits.window
                        && inflight_orders + batch.orders < limits.max_inflight_orders
                        && batch.orders < MAX_BATCH_ORDERS
                        && tokio::time::Instant::now() >= pace.not_before;
                    if !room {
                        break;
                    }
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
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
                    push(
                        &mut inflight,
                        batch.into_pending(&ctx, limits.max_orders_per_frame),
                        n,
                    );
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

/// Holds the frame's global in-flight permit until its reply is ready.
fn with_permit(p: Pending, permit: Option<OwnedSemaphorePermit>) -> Pending {
    Box::pin(async move {
        let out = p.await;
        drop(permit);
        out
    })
}

enum Classified {
    /// Control messages (ping/pong/close) the WebSocket layer handles.
    Skip,
    /// An `order`/`orders` frame: (text, number of orders, seq), stored in a batch.
    Orders(Utf8Bytes, usize, i64),
    /// Anything else, answered on its own.
    Other(Pending),
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
            return Classified::Other(ready(
                Reply::error(None, "binary_frame", None, "frames are JSON text frames"),
                started,
            ))
        }
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) => return Classified::Skip,
    };
    let parsed = match frame::parse(text.as_str(), limits.max_orders_per_frame) {
        Ok(Frame::Orders { seq, orders }) => Ok((seq, orders.len())),
        Ok(Frame::Ping { seq }) => Err(ready(Reply::Pong { seq }, started)),
        Ok(Frame::EndSession { seq }) => {
            metrics::counter!("livepack_ingest_frames_total", "type" => "end_session").increment(1);
            let ctx = ctx.clone();
            Err(
                Box::pin(async move { vec![(process::end_session(&ctx, seq).await, started)] })
                    as Pending,
            )
        }
        Ok(Frame::Cancel {
            seq,
            order_id,
            reason,
        }) => {
            metrics::counter!("livepack_ingest_frames_total", "type" => "cancel").increment(1);
            let ctx = ctx.clone();
            Err(Box::pin(async move {
                vec![(process::cancel(&ctx, seq, order_id, reason).await, started)]
            }) as Pending)
        }
        Err(reply) => {
            metrics::counter!("livepack_ingest_frames_total", "type" => "invalid").increment(1);
            Err(ready(reply, started))
        }
    };
    match parsed {
        Ok((seq, n)) => {
            metrics::counter!("livepack_ingest_frames_total", "type" => "orders").increment(1);
            pace.charge(n);
            Classified::Orders(text, n, seq)
        }
        Err(pending) => Classified::Other(pending),
    }
}
