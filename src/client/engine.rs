//! The bookkeeping of one push: which orders are final, which wait for a resend (and
//! until when), what is in flight on the current connection, and how replies change that.
//! The connection loop itself is in `conn.rs`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use super::wire::{self, RejectReason, Reply, WireResult};
use super::{ClientConfig, ClientError, FrameError, Progress, ProgressFn, Report};

/// Longest wait a `nack` can impose, whatever `retry_after_ms` says.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
enum Outcome {
    Accepted,
    Duplicate,
    Rejected(RejectReason),
}

/// The `end_session` frame's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    NotWanted,
    Due(Instant),
    InFlight,
    Done,
}

/// What a frame in flight carries.
#[derive(Debug)]
pub(super) enum What {
    Orders(Vec<usize>),
    End,
}

/// A frame written on the current connection and not yet answered.
#[derive(Debug)]
pub(super) struct Sent {
    pub seq: i64,
    pub what: What,
    pub at: Instant,
}

/// How a reply went wrong.
pub(super) enum Bad {
    /// The push cannot go on.
    Fatal(ClientError),
    /// The server said something that does not fit the protocol: drop the connection.
    Protocol(String),
}

/// An order as the client sends it: its JSON text, and its `order_id` when it has one (a
/// string), by which the server's answers are matched.
#[derive(Debug, Clone)]
pub struct Prepared {
    id: Option<String>,
    json: String,
}

impl Prepared {
    /// The order's JSON text (as `serde_json` writes it) and its `order_id` when that is a
    /// string; an order without one is reported under a `#index` stand-in, as by [`push`].
    ///
    /// [`push`]: super::push
    pub fn new(order: &serde_json::Value) -> Self {
        Prepared {
            id: order
                .get("order_id")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            json: order.to_string(),
        }
    }
}

pub(crate) struct Engine<'a> {
    pub(super) cfg: &'a ClientConfig,
    progress: Option<ProgressFn<'a>>,
    ids: Vec<String>,
    /// Whether `ids[i]` is the order's own `order_id` (not a `#index` stand-in).
    own_id: Vec<bool>,
    json: Vec<String>,
    outcome: Vec<Option<Outcome>>,
    attempts: Vec<u32>,
    /// Orders to send as soon as the window allows.
    ready: VecDeque<usize>,
    /// Nacked orders and when they may go again (the counter keeps heap order stable).
    delayed: BinaryHeap<Reverse<(Instant, u64, Vec<usize>)>>,
    delayed_n: u64,
    end: End,
    end_attempts: u32,
    seq: i64,
    sent_once: usize,
    /// Of those, the orders with a final outcome.
    sent_final: usize,
    stored: usize,
    rejected: usize,
    finals: usize,
    pub(super) report: Report,
    /// [`Progress::offline`].
    pub(super) offline: Option<u32>,
}

impl<'a> Engine<'a> {
    pub fn new(
        cfg: &'a ClientConfig,
        orders: Vec<Prepared>,
        progress: Option<ProgressFn<'a>>,
    ) -> Self {
        let n = orders.len();
        let mut ids = Vec::with_capacity(n);
        let mut own_id = Vec::with_capacity(n);
        let mut json = Vec::with_capacity(n);
        for (i, o) in orders.into_iter().enumerate() {
            match o.id {
                Some(id) => {
                    ids.push(id);
                    own_id.push(true);
                }
                None => {
                    ids.push(format!("#{i}"));
                    own_id.push(false);
                }
            }
            json.push(o.json);
        }
        let now = Instant::now();
        Engine {
            cfg,
            progress,
            ids,
            own_id,
            json,
            outcome: vec![None; n],
            attempts: vec![0; n],
            ready: (0..n).collect(),
            delayed: BinaryHeap::new(),
            delayed_n: 0,
            end: if cfg.end_session {
                End::Due(now)
            } else {
                End::NotWanted
            },
            end_attempts: 0,
            seq: 0,
            sent_once: 0,
            sent_final: 0,
            stored: 0,
            rejected: 0,
            finals: 0,
            report: Report::default(),
            offline: None,
        }
    }

    /// The seq of the frame `next_frame` returned last.
    pub fn current_seq(&self) -> i64 {
        self.seq
    }

    /// Every order final and the session ended if asked to.
    pub fn is_done(&self) -> bool {
        self.finals == self.ids.len() && matches!(self.end, End::NotWanted | End::Done)
    }

    pub fn unfinished(&self) -> Vec<String> {
        (0..self.ids.len())
            .filter(|&i| self.outcome[i].is_none())
            .map(|i| self.ids[i].clone())
            .collect()
    }

    pub fn gave_up(&self) -> ClientError {
        if self.finals == self.ids.len() {
            ClientError::EndSessionUnacked {
                attempts: self.end_attempts,
            }
        } else {
            ClientError::GaveUp {
                unfinished: self.unfinished(),
            }
        }
    }

    /// The earliest time something delayed becomes due.
    pub fn next_wake(&self) -> Option<Instant> {
        let orders = self.delayed.peek().map(|Reverse((at, _, _))| *at);
        let end = match self.end {
            End::Due(at) if self.finals == self.ids.len() => Some(at),
            _ => None,
        };
        match (orders, end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next frame to write, if anything is due. `idle`: nothing is in flight.
    pub fn next_frame(
        &mut self,
        now: Instant,
        idle: bool,
    ) -> Result<Option<(String, What)>, ClientError> {
        while let Some(Reverse((at, _, _))) = self.delayed.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((_, _, batch))) = self.delayed.pop() {
                self.ready.extend(batch);
            }
        }
        let seq = self.seq + 1;
        let budget = self
            .cfg
            .max_frame_bytes
            .saturating_sub(wire::frame_overhead(seq));
        let mut batch = Vec::new();
        let mut size = 0;
        while batch.len() < self.cfg.orders_per_frame {
            let Some(&i) = self.ready.front() else { break };
            if self.outcome[i].is_some() {
                self.ready.pop_front();
                continue;
            }
            let len = self.json[i].len() + usize::from(!batch.is_empty());
            if size + len > budget {
                if !batch.is_empty() {
                    break;
                }
                self.ready.pop_front();
                let msg = format!(
                    "the order's JSON ({} bytes) exceeds max_frame_bytes",
                    self.json[i].len()
                );
                self.finish(
                    i,
                    Outcome::Rejected(reason("order_too_large", "order", msg)),
                );
                self.emit();
                continue;
            }
            if self.attempts[i] >= self.cfg.max_attempts_per_order {
                return Err(self.gave_up());
            }
            self.ready.pop_front();
            self.attempts[i] += 1;
            if self.attempts[i] == 1 {
                self.sent_once += 1;
            }
            batch.push(i);
            size += len;
        }
        if !batch.is_empty() {
            self.seq = seq;
            let single = self.cfg.orders_per_frame == 1;
            let text = wire::orders_frame(
                seq,
                single,
                batch.iter().map(|&i| self.json[i].as_str()),
                size,
            );
            return Ok(Some((text, What::Orders(batch))));
        }
        match self.end {
            End::Due(at) if idle && at <= now && self.finals == self.ids.len() => {
                if self.end_attempts >= self.cfg.max_attempts_per_order {
                    return Err(self.gave_up());
                }
                self.end_attempts += 1;
                self.end = End::InFlight;
                self.seq = seq;
                Ok(Some((wire::end_session_frame(seq), What::End)))
            }
            _ => Ok(None),
        }
    }

    /// The connection is gone: what it had in flight is due again, in its original order.
    pub fn requeue(&mut self, inflight: VecDeque<Sent>) {
        let now = Instant::now();
        for sent in inflight.into_iter().rev() {
            match sent.what {
                What::Orders(batch) => {
                    for i in batch.into_iter().rev() {
                        self.ready.push_front(i);
                    }
                }
                What::End => self.end = End::Due(now),
            }
        }
    }

    /// Applies one reply to the oldest frame in flight (replies come in frame order).
    pub fn on_reply(&mut self, reply: Reply, inflight: &mut VecDeque<Sent>) -> Result<(), Bad> {
        let Some(front) = inflight.front() else {
            return Err(Bad::Protocol("a reply with no frame in flight".into()));
        };
        match reply.seq() {
            Some(seq) if seq != front.seq => {
                return Err(Bad::Protocol(format!(
                    "reply seq {seq}, expected {}",
                    front.seq
                )))
            }
            _ => {}
        }
        if let (Reply::Ack { results, .. }, What::Orders(batch)) = (&reply, &front.what) {
            self.check_results(results, batch).map_err(Bad::Protocol)?;
        }
        if matches!(reply, Reply::Pong { .. }) {
            return Err(Bad::Protocol(
                "a pong to a frame that was not a ping".into(),
            ));
        }
        let Some(sent) = inflight.pop_front() else {
            return Err(Bad::Protocol("a reply with no frame in flight".into()));
        };
        let now = Instant::now();
        let us = now.saturating_duration_since(sent.at).as_micros();
        self.report
            .ack_latencies_us
            .push(u64::try_from(us).unwrap_or(u64::MAX));
        match reply {
            Reply::Ack { results, .. } => match sent.what {
                What::Orders(batch) => {
                    for (i, r) in batch.into_iter().zip(results) {
                        let outcome = match r.status.as_str() {
                            "accepted" => Outcome::Accepted,
                            "duplicate" => Outcome::Duplicate,
                            _ => Outcome::Rejected(r.error.unwrap_or_else(|| {
                                reason("rejected", "", "rejected without a reason")
                            })),
                        };
                        self.finish(i, outcome);
                    }
                }
                What::End => {
                    self.end = End::Done;
                    self.report.session_ended = true;
                }
            },
            Reply::Nack {
                retry_after_ms,
                reason,
                ..
            } => {
                tracing::debug!(seq = sent.seq, retry_after_ms, %reason, "frame nacked");
                self.report.nacks += 1;
                let base = if retry_after_ms == 0 {
                    self.cfg.backoff_min
                } else {
                    Duration::from_millis(retry_after_ms).min(MAX_RETRY_AFTER)
                };
                self.retry_later(sent.what, now + base + jitter(base / 4));
            }
            Reply::Error { seq, reason } => {
                self.report.frame_errors.push(FrameError {
                    seq,
                    error: reason.clone(),
                });
                if wire::is_retryable(&reason.code) {
                    let delay = self.backoff(1);
                    self.retry_later(sent.what, now + delay);
                } else if wire::is_client_bug(&reason.code) {
                    return Err(Bad::Fatal(ClientError::FrameRefused { seq, error: reason }));
                } else {
                    match sent.what {
                        What::Orders(batch) => {
                            for i in batch {
                                self.finish(i, Outcome::Rejected(reason.clone()));
                            }
                        }
                        What::End => {
                            return Err(Bad::Fatal(ClientError::FrameRefused {
                                seq,
                                error: reason,
                            }))
                        }
                    }
                }
            }
            Reply::Pong { .. } => {}
        }
        self.emit();
        Ok(())
    }

    fn check_results(&self, results: &[WireResult], batch: &[usize]) -> Result<(), String> {
        if results.len() != batch.len() {
            return Err(format!(
                "ack has {} results for {} orders",
                results.len(),
                batch.len()
            ));
        }
        for (r, &i) in results.iter().zip(batch) {
            if !matches!(r.status.as_str(), "accepted" | "duplicate" | "rejected") {
                return Err(format!(
                    "unknown order status {:?}",
                    r.status.chars().take(40).collect::<String>()
                ));
            }
            if let (Some(got), true) = (&r.order_id, self.own_id[i]) {
                if *got != self.ids[i] {
                    return Err("ack results do not match the frame's orders".into());
                }
            }
        }
        Ok(())
    }

    fn retry_later(&mut self, what: What, at: Instant) {
        match what {
            What::Orders(batch) => {
                self.delayed_n += 1;
                self.delayed.push(Reverse((at, self.delayed_n, batch)));
            }
            What::End => self.end = End::Due(at),
        }
    }

    fn finish(&mut self, i: usize, outcome: Outcome) {
        if self.outcome[i].is_some() {
            return;
        }
        if self.attempts[i] > 0 {
            self.sent_final += 1;
        }
        match outcome {
            Outcome::Rejected(_) => self.rejected += 1,
            _ => self.stored += 1,
        }
        self.outcome[i] = Some(outcome);
        self.finals += 1;
    }

    pub fn emit(&self) {
        if let Some(f) = self.progress {
            f(Progress {
                sent: self.sent_once,
                unanswered: self.sent_once - self.sent_final,
                acked: self.stored,
                rejected: self.rejected,
                total: self.ids.len(),
                nacks: self.report.nacks,
                reconnects: self.report.reconnects,
                offline: self.offline,
            });
        }
    }

    /// Delay before reconnecting after `failures` consecutive failures (0: the connection
    /// had worked): doubling from `backoff_min`, capped at `backoff_max`, random in between.
    pub fn backoff(&self, failures: u32) -> Duration {
        let (min, max) = (self.cfg.backoff_min, self.cfg.backoff_max);
        let cap = min
            .saturating_mul(1u32 << failures.saturating_add(1).min(20))
            .min(max);
        min + jitter(cap.saturating_sub(min))
    }

    pub fn into_report(mut self) -> Report {
        let mut report = std::mem::take(&mut self.report);
        for (id, outcome) in self.ids.into_iter().zip(self.outcome) {
            match outcome {
                Some(Outcome::Accepted) => report.accepted.push(id),
                Some(Outcome::Duplicate) => report.duplicate.push(id),
                Some(Outcome::Rejected(r)) => report.rejected.push((id, r)),
                None => {}
            }
        }
        report
    }
}

fn reason(code: &str, field: &str, message: impl Into<String>) -> RejectReason {
    RejectReason {
        code: code.into(),
        field: field.into(),
        message: message.into(),
    }
}

/// A random duration in `[0, max]`.
fn jitter(max: Duration) -> Duration {
    let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::rng().random_range(0..=ms))
}
