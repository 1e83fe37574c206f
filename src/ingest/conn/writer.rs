//! An ingest connection's writer task: replies go out in runs, each step under the write
//! deadline.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::ingest::closed;

/// The connection's writer: writes queued messages, each within `write_timeout`, and
/// stops after a Close, a failed write, or a passed deadline.
pub(super) fn spawn_writer(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Message>,
    write_timeout: Duration,
    site: String,
) -> JoinHandle<()> {
    tokio::spawn(
        async move {
            while let Some(msg) = rx.recv().await {
                match write_run(&mut sink, &mut rx, msg, write_timeout).await {
                    Written::More => {}
                    Written::Done => break,
                    Written::TimedOut => {
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
    )
}

/// Replies handed to the socket together at most, then flushed once.
const MAX_WRITE_RUN: usize = 64;

/// How a run of writes ended.
enum Written {
    /// All written: wait for the next reply.
    More,
    /// A Close was written, or the socket failed: stop.
    Done,
    /// One step (a message, or the flush) did not finish within the write deadline.
    TimedOut,
}

/// Writes `first` and the messages already queued behind it (up to [`MAX_WRITE_RUN`],
/// stopping after a Close), then flushes once: at one order a frame a burst's replies
/// leave in a few socket writes instead of one each. Each message and the flush have
/// `deadline` of their own. A step may move more than one reply did when each was written
/// and flushed alone, but not much more: the WebSocket layer writes to the socket whenever
/// its buffer passes 128 KiB, so a step moves at most that plus one reply.
async fn write_run(
    sink: &mut SplitSink<WebSocket, Message>,
    rx: &mut mpsc::Receiver<Message>,
    first: Message,
    deadline: Duration,
) -> Written {
    let step = |r: Result<Result<(), axum::Error>, tokio::time::error::Elapsed>| match r {
        Ok(Ok(())) => None,
        Ok(Err(_)) => Some(Written::Done),
        Err(_) => Some(Written::TimedOut),
    };
    let mut next = Some(first);
    let mut fed = 0;
    let mut closing = false;
    while let Some(msg) = next.take() {
        closing = matches!(msg, Message::Close(_));
        if let Some(end) = step(tokio::time::timeout(deadline, sink.feed(msg)).await) {
            return end;
        }
        fed += 1;
        if !closing && fed < MAX_WRITE_RUN {
            next = rx.try_recv().ok();
        }
    }
    if let Some(end) = step(tokio::time::timeout(deadline, sink.flush()).await) {
        return end;
    }
    if closing {
        Written::Done
    } else {
        Written::More
    }
}
