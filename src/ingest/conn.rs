//! One ingest WebSocket: read frames, work on up to `window` of them at once, answer in
//! arrival order. When the window (or the global in-flight budget) is full the loop stops
//! reading, so a fast client meets TCP back-pressure; nothing here queues without bound.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{FuturesOrdered, SplitStream};
use futures_util::{Future, SinkExt, StreamExt};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::frame::{self, Frame, Reply};
use super::process::{self, Ctx};

pub struct Limits {
    pub window: usize,
    pub max_orders_per_frame: usize,
    pub max_orders_per_sec: u32,
    pub idle: Duration,
}

type Pending = Pin<Box<dyn Future<Output = (Reply, Instant)> + Send>>;

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
    Replied(Option<(Reply, Instant)>),
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

    let mut inflight: FuturesOrdered<Pending> = FuturesOrdered::new();
    let mut pace = Pace {
        per_sec: f64::from(limits.max_orders_per_sec),
        not_before: tokio::time::Instant::now(),
    };
    let mut reading = true;
    let mut pinged = false;
    let mut close: Option<(u16, &'static str)> = None;

    loop {
        if !reading && inflight.is_empty() {
            break;
        }
        let can_read = reading && inflight.len() < limits.window;
        let event = tokio::select! {
            biased;
            _ = shutdown.cancelled(), if reading => Event::Shutdown,
            r = inflight.next(), if !inflight.is_empty() => Event::Replied(r),
            e = next_message(&mut stream, &slots, &pace, limits.idle), if can_read => e,
        };
        match event {
            Event::Shutdown => {
                reading = false;
                close = Some((GOING_AWAY, "server shutting down"));
            }
            Event::Replied(Some((reply, started))) => {
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
                let started = Instant::now();
                let pending = match msg {
                    Message::Text(text) => {
                        handle_text(&ctx, &limits, &mut pace, text.as_str(), started)
                    }
                    Message::Binary(_) => ready(
                        Reply::error(None, "binary_frame", None, "frames are JSON text frames"),
                        started,
                    ),
                    Message::Ping(_) | Message::Pong(_) | Message::Close(_) => continue,
                };
                inflight.push_back(Box::pin(async move {
                    let out = pending.await;
                    drop(permit);
                    out
                }));
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
    Box::pin(std::future::ready((reply, started)))
}

fn handle_text(
    ctx: &Arc<Ctx>,
    limits: &Limits,
    pace: &mut Pace,
    text: &str,
    started: Instant,
) -> Pending {
    let frame = match frame::parse(text, limits.max_orders_per_frame) {
        Ok(f) => f,
        Err(reply) => {
            metrics::counter!("livepack_ingest_frames_total", "type" => "invalid").increment(1);
            return ready(reply, started);
        }
    };
    let ctx = ctx.clone();
    match frame {
        Frame::Ping { seq } => ready(Reply::Pong { seq }, started),
        Frame::Orders { seq, orders } => {
            metrics::counter!("livepack_ingest_frames_total", "type" => "orders").increment(1);
            pace.charge(orders.len());
            let prepared = process::prepare(&ctx, seq, &orders, chrono::Utc::now());
            Box::pin(async move { (process::store(&ctx, prepared).await, started) })
        }
        Frame::EndSession { seq } => {
            metrics::counter!("livepack_ingest_frames_total", "type" => "end_session").increment(1);
            Box::pin(async move { (process::end_session(&ctx, seq).await, started) })
        }
        Frame::Cancel {
            seq,
            order_id,
            reason,
        } => {
            metrics::counter!("livepack_ingest_frames_total", "type" => "cancel").increment(1);
            Box::pin(async move { (process::cancel(&ctx, seq, order_id, reason).await, started) })
        }
    }
}
