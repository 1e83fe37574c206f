//! One ingest WebSocket: read frames, work on up to `window` of them at once, answer in
//! arrival order. When the window (or the global in-flight budget) is full the loop stops
//! reading, so a fast client meets TCP back-pressure; nothing here queues without bound.
//! Reading also waits while [`CALLS_IN_FLIGHT`] entries are in flight, so that frames
//! arriving meanwhile are stored together.
//!
//! Shared budgets are held only while a frame's reply is computed: each frame's work runs
//! in a task of its own that holds the frame's global slot (and, in `store_batch`, its
//! share of the order budget) and lets go of them when the reply is ready. A reply then
//! waits for its connection's writer holding nothing shared, so a peer that never reads
//! its replies fills only its own window. A writer that cannot write for
//! `write_timeout` closes the connection.

use std::ops::ControlFlow;

use crate::metric_names as names;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{FuturesOrdered, SplitStream};
use futures_util::{Future, FutureExt, StreamExt};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::frame::{self, Frame, FrameOrders, Reply};
use super::process::{self, Ctx};
use super::{closed, Held};
use crate::web::error::ErrorCode;
use writer::spawn_writer;

mod writer;

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
/// 250 rather than 1,000 (issue 20, thirteenth session): a call's command (about 1.1 KB
/// an order) then usually stays under the allocator's 512 KiB huge-object size, and at 10
/// connections × 100 orders a frame throughput rose 10–15 % in three A B B A rounds (CPU
/// per order the same within the noise).
const MAX_BATCH_ORDERS: usize = 250;

/// A connection starts reading a frame only while fewer entries than this are in flight
/// (an entry: a batch's Redis call, or a frame answered on its own), within its window.
/// Frames that arrived meanwhile wait in the socket and are then taken in together: order
/// frames as one batch and one call (issue 20, thirty-third session: at one order a frame
/// over 100 connections each call carried about 6 orders, 45,725 script calls for 300,000
/// orders; with 4, about 25 orders a call and 11,909 calls; the surge peak alternated: the
/// service's CPU −11 %, Redis' −5 %). Other frames taken in with them are entries of their
/// own, up to the window as before. A connection's round trips still overlap.
const CALLS_IN_FLIGHT: usize = 4;

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
/// RFC 6455: data not consistent with the message's type (a text frame that is not UTF-8).
const INVALID_DATA: u16 = 1007;
/// RFC 6455: a protocol error.
const PROTOCOL_ERROR: u16 = 1002;
const NORMAL: u16 = 1000;
/// RFC 6455: the server met a condition that kept it from answering (here: Redis may have
/// stored a frame it could not confirm).
const INTERNAL_ERROR: u16 = 1011;

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
fn try_slot(slots: &Arc<Semaphore>, ctx: &Ctx) -> Option<Held> {
    slots
        .clone()
        .try_acquire_owned()
        .ok()
        .map(|p| Held::new(p, &ctx.metrics.inflight_frames))
}

/// Order frames read together, stored with one Redis call in a task of their own (so a
/// busy connection's validation runs on any core). A frame's orders are parsed in the read
/// loop, with the frame (one pass over its text; see `frame::parse`), unless some order
/// does not read: then the task parses each order's text on its own.
struct Batch {
    /// (the frame: its text, seq and orders; when it was read)
    frames: Vec<(Body, Instant)>,
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

    /// Its order ids, hashed (for [`Turns`]); `None` when some frame's orders were not read
    /// in the read loop (the task reads them).
    fn ids(&self) -> Option<IdSet> {
        let mut ids = IdSet::with_capacity_and_hasher(self.orders, Default::default());
        for (body, _) in &self.frames {
            match &body.borrow_dependent().orders {
                FrameOrders::Parsed(orders, _) => {
                    ids.extend(orders.iter().map(|o| id_hash(&o.order_id)));
                }
                FrameOrders::Raw(_) => return None,
            }
        }
        Some(ids)
    }

    /// `turn`: when this batch's work may start (see [`Turns`]).
    fn into_pending(self, ctx: &Arc<Ctx>, tasks: &TaskTracker, turn: Turn) -> Pending {
        let ctx = ctx.clone();
        let seqs: Vec<(i64, Instant)> = self
            .frames
            .iter()
            .map(|(body, at)| (body.seq(), *at))
            .collect();
        let Batch {
            frames, permits, ..
        } = self;
        // The task owns the frames' global slots and lets go of them as soon as the
        // replies exist, whether or not the connection ever writes them.
        let task = tasks.spawn(async move {
            let _done = turn.wait().await;
            let now = chrono::Utc::now();
            let prepared: Vec<process::Prepared> = frames
                .into_iter()
                .map(|(mut body, _)| {
                    let seq = body.seq();
                    body.with_dependent_mut(|_, frame| match &mut frame.orders {
                        FrameOrders::Parsed(orders, per_order) => {
                            let per_order = *per_order;
                            let orders = orders
                                .drain(..)
                                .map(|o| process::OrderInput::Parsed(o, per_order));
                            process::prepare(&ctx, seq, orders, now)
                        }
                        FrameOrders::Raw(orders) => {
                            let orders = orders.iter().map(|r| process::OrderInput::Raw(r.get()));
                            process::prepare(&ctx, seq, orders, now)
                        }
                    })
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
    let mut handler = Handler::new(socket, ctx, limits, slots, tasks, shutdown);
    handler.run().await;
    handler.close().await;
}

/// One ingest connection's state, in the manner of mini-redis's connection `Handler`: the
/// read half of the socket, the queue to its writer task, the frames in flight (their
/// replies come out in arrival order) and the shared budgets it draws on.
struct Handler {
    ctx: Arc<Ctx>,
    limits: Limits,
    /// The global in-flight budget (`ingest.global_inflight`), one slot per frame.
    slots: Arc<Semaphore>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    stream: SplitStream<WebSocket>,
    /// To the writer task; closed when the writer gives up.
    tx: mpsc::Sender<Message>,
    writer: JoinHandle<()>,
    /// Each pending entry remembers how many orders it holds.
    inflight: FuturesOrdered<Counted>,
    inflight_orders: usize,
    /// When each entry's work may start, so that frames act in arrival order.
    turns: Turns,
    pace: Pace,
    /// False once the peer has closed, failed, idled out, or the server shuts down: the
    /// frames already read are still answered.
    reading: bool,
    /// An idle ping was sent and nothing has been read since.
    pinged: bool,
    /// The Close code and reason to send when done (default: 1000 "bye").
    close: Option<(u16, &'static str)>,
    /// A close or error met while draining already-arrived frames, handled next turn.
    stashed: Option<Option<Result<Message, axum::Error>>>,
}

impl Handler {
    fn new(
        socket: WebSocket,
        ctx: Arc<Ctx>,
        limits: Limits,
        slots: Arc<Semaphore>,
        tasks: TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        let (sink, stream) = socket.split();
        let (tx, rx) = mpsc::channel::<Message>(limits.window + 2);
        let writer = spawn_writer(sink, rx, limits.write_timeout, ctx.site.clone());
        let pace = Pace {
            per_sec: f64::from(limits.max_orders_per_sec),
            not_before: tokio::time::Instant::now(),
        };
        Handler {
            ctx,
            limits,
            slots,
            tasks,
            shutdown,
            stream,
            tx,
            writer,
            inflight: FuturesOrdered::new(),
            inflight_orders: 0,
            turns: Turns::default(),
            pace,
            reading: true,
            pinged: false,
            close: None,
            stashed: None,
        }
    }

    /// Reads and answers frames until the peer is done (or gone) and every frame read
    /// has its reply written, or the writer gives up.
    async fn run(&mut self) {
        while self.reading || !self.inflight.is_empty() {
            let event = self.next_event().await;
            if self.handle(event).await.is_break() {
                break;
            }
        }
    }

    /// Whether reading may start now: fewer entries in flight than the window and
    /// [`CALLS_IN_FLIGHT`], and room in the connection's order budget.
    fn can_read(&self) -> bool {
        self.reading
            && self.inflight.len() < self.limits.window.min(CALLS_IN_FLIGHT)
            && self.inflight_orders < self.limits.max_inflight_orders
    }

    async fn next_event(&mut self) -> Event {
        let can_read = self.can_read();
        if let Some(m) = self.stashed.take() {
            return Event::Read(m);
        }
        tokio::select! {
            biased;
            _ = self.shutdown.cancelled(), if self.reading => Event::Shutdown,
            _ = self.tx.closed() => Event::WriterGone,
            r = self.inflight.next(), if !self.inflight.is_empty() => Event::Replied(r),
            e = next_message(&mut self.stream, &self.pace, self.limits.idle), if can_read => e,
        }
    }

    async fn handle(&mut self, event: Event) -> ControlFlow<()> {
        match event {
            Event::Shutdown => {
                self.reading = false;
                self.close = Some((GOING_AWAY, "server shutting down"));
            }
            // Nothing more can be written: what is still in flight finishes in its own
            // task (releasing its budget) and the connection closes now.
            Event::WriterGone => return ControlFlow::Break(()),
            Event::Replied(Some((replies, n))) => return self.write_replies(replies, n).await,
            Event::Replied(None) => {}
            Event::Idle => self.on_idle().await,
            Event::Read(None) | Event::Read(Some(Ok(Message::Close(_)))) => self.reading = false,
            Event::Read(Some(Err(e))) => self.on_read_error(e),
            Event::Read(Some(Ok(msg))) => return self.on_message(msg).await,
        }
        ControlFlow::Continue(())
    }

    /// Hands one entry's replies to the writer, in order; breaks when the writer is gone.
    async fn write_replies(&mut self, replies: Vec<(Reply, Instant)>, n: usize) -> ControlFlow<()> {
        self.inflight_orders -= n;
        for (reply, started) in replies {
            if matches!(reply, Reply::Unknown { .. }) {
                record_latency(&self.ctx, &reply, started);
                // Redis may have stored this frame: no nack (it would say nothing was). The
                // connection closes after the replies before it; the client resends every
                // frame without a reply (a stored one comes back `duplicate`).
                self.reading = false;
                closed(&self.ctx.site, "storage_unknown");
                self.close = Some((
                    INTERNAL_ERROR,
                    "storage outcome unknown: resend what has no reply",
                ));
                return ControlFlow::Break(());
            }
            record_latency(&self.ctx, &reply, started);
            let msg = Message::Text(Utf8Bytes::from(reply.to_json()));
            if !self.send_reply(msg).await {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    /// Queues a reply for the writer; false when the writer is gone.
    async fn send_reply(&mut self, msg: Message) -> bool {
        match self.tx.try_send(msg) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
            // The writer is behind (the peer reads slowly or not at all): this
            // connection stops here, holding no shared budget, until it
            // catches up or its write deadline passes.
            Err(mpsc::error::TrySendError::Full(msg)) => {
                let stalled = metrics::gauge!(names::INGEST_STALLED_CONNECTIONS);
                stalled.increment(1.0);
                let sent = self.tx.send(msg).await.is_ok();
                stalled.decrement(1.0);
                sent
            }
        }
    }

    /// Nothing read for `idle`: ping once, then stop reading.
    async fn on_idle(&mut self) {
        if self.pinged {
            self.reading = false;
            closed(&self.ctx.site, "idle_timeout");
            self.close = Some((NORMAL, "idle timeout"));
        } else {
            self.pinged = true;
            let _ = self.tx.send(Message::Ping(Default::default())).await;
        }
    }

    /// The peer broke the WebSocket protocol: closed with RFC 6455's code for it (1009 a
    /// frame over the limit, 1007 a text frame that is not UTF-8, 1002 any other protocol
    /// error), not the normal 1000.
    fn on_read_error(&mut self, e: axum::Error) {
        self.reading = false;
        match read_error(e) {
            ReadError::TooBig => {
                metrics::counter!(names::INGEST_FRAMES, "type" => "too_big").increment(1);
                closed(&self.ctx.site, "too_big");
                self.close = Some((TOO_BIG, "frame larger than the limit"));
            }
            ReadError::NotUtf8 => {
                closed(&self.ctx.site, "invalid_utf8");
                self.close = Some((INVALID_DATA, "a text frame that is not UTF-8"));
            }
            ReadError::Protocol => {
                closed(&self.ctx.site, "protocol_error");
                self.close = Some((PROTOCOL_ERROR, "WebSocket protocol error"));
            }
            ReadError::Other => {}
        }
    }

    /// A message from the peer: take a global slot for it (a data frame), then start its
    /// work together with whatever else has already arrived.
    async fn on_message(&mut self, msg: Message) -> ControlFlow<()> {
        self.pinged = false;
        let permit = if matches!(msg, Message::Text(_) | Message::Binary(_)) {
            self.wait_slot().await?
        } else {
            None
        };
        self.start_arrived(msg, permit);
        ControlFlow::Continue(())
    }

    /// A data frame takes a global slot now that it has arrived (waiting for one stops
    /// this connection's reading, not anyone else's). Breaks when the writer is gone.
    async fn wait_slot(&mut self) -> ControlFlow<(), Option<Held>> {
        let gauge = &self.ctx.metrics.inflight_frames;
        tokio::select! {
            p = self.slots.clone().acquire_owned() => {
                ControlFlow::Continue(p.ok().map(|p| Held::new(p, gauge)))
            }
            _ = self.tx.closed() => ControlFlow::Break(()),
        }
    }

    /// This message, then whatever else has already arrived (without waiting):
    /// consecutive order frames share one Redis call.
    fn start_arrived(&mut self, msg: Message, permit: Option<Held>) {
        let mut batch = Batch::new();
        let mut next = Some((msg, permit));
        while let Some((msg, permit)) = next.take() {
            self.take_in(&mut batch, msg, permit);
            next = self.next_arrived(&batch);
        }
        self.flush(batch);
    }

    /// Adds an order frame to the batch; any other frame first flushes the batch (replies
    /// stay in arrival order), then starts on its own.
    fn take_in(&mut self, batch: &mut Batch, msg: Message, permit: Option<Held>) {
        let started = Instant::now();
        match classify(&self.ctx, &self.limits, &mut self.pace, msg, started) {
            Classified::Skip => {}
            Classified::Orders(body) => {
                batch.orders += body.len();
                batch.frames.push((body, started));
                batch.permits.extend(permit);
            }
            Classified::Other(single) => {
                self.flush(std::mem::replace(batch, Batch::new()));
                let pending = single.start(&self.tasks, permit, &mut self.turns);
                self.push(pending, 0);
            }
        }
    }

    /// Whether one more frame fits with this batch: window, order budget, batch size and
    /// pacing.
    fn has_room(&self, batch: &Batch) -> bool {
        self.inflight.len() + 1 < self.limits.window
            && self.inflight_orders + batch.orders < self.limits.max_inflight_orders
            && batch.orders < MAX_BATCH_ORDERS
            && tokio::time::Instant::now() >= self.pace.not_before
    }

    /// The next message if it has already arrived, there is room for it and a global slot
    /// is free. A close or error is stashed for the next turn.
    fn next_arrived(&mut self, batch: &Batch) -> Option<(Message, Option<Held>)> {
        if !self.has_room(batch) {
            return None;
        }
        let permit = try_slot(&self.slots, &self.ctx)?;
        match self.stream.next().now_or_never() {
            Some(Some(Ok(m))) if !matches!(m, Message::Close(_)) => Some((m, Some(permit))),
            Some(other) => {
                // Closed, errored or a close frame: handled by the next turn.
                drop(permit);
                self.stashed = Some(other);
                None
            }
            None => None,
        }
    }

    /// Starts the batch's work (if it holds any frame) and puts it in flight.
    fn flush(&mut self, batch: Batch) {
        if batch.frames.is_empty() {
            return;
        }
        let n = batch.orders;
        self.inflight_orders += n;
        let turn = self.turns.batch(batch.ids());
        let pending = batch.into_pending(&self.ctx, &self.tasks, turn);
        self.push(pending, n);
    }

    fn push(&mut self, pending: Pending, orders: usize) {
        self.inflight
            .push_back(Box::pin(async move { (pending.await, orders) }) as Counted);
    }

    /// Sends our Close (after every reply already queued), waits for the writer, then
    /// reads the peer's last frames until its Close.
    async fn close(self) {
        let Handler {
            tx,
            writer,
            mut stream,
            close,
            shutdown,
            ..
        } = self;
        let (code, reason) = close.unwrap_or((NORMAL, "bye"));
        // After a read error (a frame over the limit, not UTF-8, or breaking the protocol)
        // the WebSocket layer reads nothing more: whatever the peer sent after it (the rest
        // of a frame over the limit too) stays unread in the socket.
        let unreadable = matches!(code, TOO_BIG | INVALID_DATA | PROTOCOL_ERROR);
        let _ = tx
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            })))
            .await;
        drop(tx);
        let _ = writer.await;
        // The closing handshake: read (and drop) what the peer still sends until its Close,
        // for a bounded time. Dropping a socket with unread bytes in it makes the kernel
        // reset the connection, and a reset can reach the peer before it has read our last
        // replies and our Close (the peer's kernel then throws them away).
        let drain = async {
            if unreadable {
                // Nothing more can be read: hold the socket open instead, so the replies
                // and the Close already written reach the peer before the reset does.
                shutdown.cancelled().await;
                return;
            }
            while let Some(Ok(m)) = stream.next().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_DRAIN, drain).await;
    }
}

fn record_latency(ctx: &Ctx, reply: &Reply, started: Instant) {
    let latency = started.elapsed().as_secs_f64();
    if matches!(reply, Reply::Ack { .. }) {
        ctx.metrics.ack_latency.record(latency);
    } else {
        metrics::histogram!(names::INGEST_REPLY_LATENCY_SECONDS, "type" => reply.kind())
            .record(latency);
    }
}

/// What went wrong reading the socket.
enum ReadError {
    TooBig,
    NotUtf8,
    Protocol,
    /// The connection itself (reset, closed): nothing to say to the peer.
    Other,
}

fn read_error(e: axum::Error) -> ReadError {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    use tokio_tungstenite::tungstenite::Error as WsError;
    match e.into_inner().downcast_ref::<WsError>() {
        Some(WsError::Capacity(_)) => ReadError::TooBig,
        Some(WsError::Utf8(_)) => ReadError::NotUtf8,
        // The peer went away without a close frame (a phone losing its network): a
        // disconnect, not a protocol error.
        Some(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => ReadError::Other,
        Some(WsError::Protocol(_)) => ReadError::Protocol,
        _ => ReadError::Other,
    }
}

fn ready(reply: Reply, started: Instant) -> Pending {
    Box::pin(std::future::ready(vec![(reply, started)]))
}

/// A batch's order ids, hashed (a collision only makes a batch wait when it need not).
type IdSet = rustc_hash::FxHashSet<u64>;

fn id_hash(id: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<rustc_hash::FxHasher>::default().hash_one(id)
}

/// The order in which a connection's entries act on Redis. Batches of order frames run
/// side by side (each is one script call), except that a batch holding an order id of a
/// batch still in flight starts after it: the same order sent twice without waiting is
/// `accepted` the first time and `duplicate` the second, and the first version is stored
/// (a batch whose ids were not read in the read loop waits for, and is waited for by, every
/// batch in flight). A frame answered on its own with work (`cancel`, `end_session`)
/// starts only after every entry read before it has finished, and the entries read after
/// it start after it has: a cancel sent right behind its order, without waiting for the
/// order's ack, finds the order stored; `end_session` counts every order sent before it.
/// Each entry's task holds its turn's guard until its work ends (also if it panics).
#[derive(Default)]
struct Turns {
    /// The work of the batches started since the last single one, with their ids.
    batches: Vec<(CancellationToken, Option<IdSet>)>,
    /// The last single frame's work.
    single: Option<CancellationToken>,
}

impl Turns {
    /// A batch's turn: after the last single frame, and after the batches in flight that
    /// share an order id with it.
    fn batch(&mut self, ids: Option<IdSet>) -> Turn {
        let done = CancellationToken::new();
        self.batches.retain(|(b, _)| !b.is_cancelled());
        let mut after: Vec<CancellationToken> = self
            .single
            .iter()
            .filter(|s| !s.is_cancelled())
            .cloned()
            .collect();
        for (token, theirs) in &self.batches {
            let shared = match (&ids, theirs) {
                (Some(mine), Some(theirs)) => !mine.is_disjoint(theirs),
                _ => true,
            };
            if shared {
                after.push(token.clone());
            }
        }
        self.batches.push((done.clone(), ids));
        Turn { after, done }
    }

    /// A single frame's turn: after every entry before it.
    fn single(&mut self) -> Turn {
        let done = CancellationToken::new();
        let mut after: Vec<CancellationToken> = std::mem::take(&mut self.batches)
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        after.extend(self.single.replace(done.clone()));
        after.retain(|t| !t.is_cancelled());
        Turn { after, done }
    }
}

/// One entry's place in [`Turns`]: what it waits for, and what it signals when done.
struct Turn {
    after: Vec<CancellationToken>,
    done: CancellationToken,
}

impl Turn {
    /// Waits for the entries before; the answer, while held, marks this entry's work as
    /// running (dropped: done).
    async fn wait(self) -> tokio_util::sync::DropGuard {
        for t in &self.after {
            t.cancelled().await;
        }
        self.done.drop_guard()
    }
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
    fn start(self, tasks: &TaskTracker, permit: Option<Held>, turns: &mut Turns) -> Pending {
        match self {
            Single::Ready(reply, started) => {
                drop(permit);
                ready(reply, started)
            }
            Single::Work { seq, started, work } => {
                let turn = turns.single();
                let task = tasks.spawn(async move {
                    let _done = turn.wait().await;
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

self_cell::self_cell!(
    /// An order frame as its batch takes it: the frame's text, and its seq and orders read
    /// from it, whose strings borrow from that text (issue 20: no allocation for most
    /// fields) or, for a frame read in two steps, each order's text in it.
    struct Body {
        owner: Utf8Bytes,
        #[covariant]
        dependent: OrderFrame,
    }
);

/// What a [`Body`] holds besides the frame's text.
struct OrderFrame<'a> {
    seq: i64,
    orders: FrameOrders<'a>,
}

impl Body {
    fn seq(&self) -> i64 {
        self.borrow_dependent().seq
    }

    fn len(&self) -> usize {
        self.borrow_dependent().orders.len()
    }
}

enum Classified {
    /// Control messages (ping/pong/close) the WebSocket layer handles.
    Skip,
    /// An `order`/`orders` frame: its seq and orders, stored in a batch.
    Orders(Body),
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
    // The frame is read inside the cell that keeps its text, so that its orders can
    // borrow from it; any other frame is answered from what it read as (owned).
    let max_orders = limits.max_orders_per_frame;
    let parsed = Body::try_new(text, |text| match frame::parse(text.as_str(), max_orders) {
        Ok(Frame::Orders { seq, orders }) => Ok(OrderFrame { seq, orders }),
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
    });
    match parsed {
        Ok(body) => {
            ctx.metrics.frames_orders.increment(1);
            pace.charge(body.len());
            Classified::Orders(body)
        }
        Err(single) => Classified::Other(single),
    }
}
