//! Connections: connect with the seller's token, pipeline frames through a writer task
//! while this task reads replies, and reconnect with back-off when a connection is lost.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{sleep, sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::{HeaderValue, AUTHORIZATION};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::engine::{Bad, Engine, Sent};
use super::wire::parse_reply;
use super::{ClientError, Report};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a clean close waits for the server's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

enum Connect {
    Fatal(ClientError),
    Retry(String),
}

/// How a connection ended (errors that end the push are returned separately).
enum Ended {
    /// Everything is final; the socket was closed cleanly.
    Finished,
    /// The connection broke; `answered`: it delivered at least one valid reply.
    Lost { answered: bool, why: String },
}

impl Engine<'_> {
    /// Runs the push to its end: connects, reconnects, and gives up as configured.
    pub async fn run(mut self) -> Result<Report, ClientError> {
        let mut failures: u32 = 0;
        let mut first = true;
        let mut connected_before = false;
        while !self.is_done() {
            if !first {
                sleep(self.backoff(failures)).await;
            }
            first = false;
            let ws = match self.connect().await {
                Ok(ws) => {
                    // A connection made again (not the attempts that failed meanwhile), or
                    // made only after failed attempts (a `push --follow` connects per batch:
                    // a restart between batches is seen as a first connect that fails).
                    if connected_before || failures > 0 {
                        self.report.reconnects += 1;
                    }
                    connected_before = true;
                    if self.offline.take().is_some() {
                        self.emit();
                    }
                    ws
                }
                Err(Connect::Fatal(e)) => return Err(e),
                Err(Connect::Retry(why)) => {
                    tracing::debug!(%why, "ingest connect failed");
                    failures += 1;
                    self.offline = Some(self.offline.map_or(1, |n| n + 1));
                    self.emit();
                    if failures >= self.cfg.max_attempts_per_order {
                        return Err(self.gave_up());
                    }
                    continue;
                }
            };
            match self.run_conn(ws).await? {
                Ended::Finished => break,
                Ended::Lost { answered, why } => {
                    tracing::debug!(%why, "ingest connection lost");
                    failures = if answered { 0 } else { failures + 1 };
                    self.offline = Some(self.offline.unwrap_or(0));
                    self.emit();
                    if failures >= self.cfg.max_attempts_per_order {
                        return Err(self.gave_up());
                    }
                }
            }
        }
        Ok(self.into_report())
    }

    async fn connect(&self) -> Result<Ws, Connect> {
        let config = |m: String| Connect::Fatal(ClientError::Config(m));
        let mut req = self
            .cfg
            .ingest_url()
            .into_client_request()
            .map_err(|e| config(format!("url {:?}: {e}", self.cfg.url)))?;
        let bearer = HeaderValue::from_str(&format!("Bearer {}", self.cfg.token))
            .map_err(|_| config("the token is not a valid header value".into()))?;
        req.headers_mut().insert(AUTHORIZATION, bearer);
        let connecting = tokio_tungstenite::connect_async_with_config(req, None, true);
        match timeout(self.cfg.connect_timeout, connecting).await {
            Err(_) => Err(Connect::Retry("connect timed out".into())),
            Ok(Ok((ws, _))) => Ok(ws),
            Ok(Err(WsError::Http(resp))) => {
                let status = resp.status().as_u16();
                let body = resp
                    .body()
                    .as_deref()
                    .map(|b| String::from_utf8_lossy(b).chars().take(500).collect())
                    .unwrap_or_default();
                if (400..500).contains(&status) && status != 408 && status != 429 {
                    Err(Connect::Fatal(ClientError::Handshake { status, body }))
                } else {
                    Err(Connect::Retry(format!("HTTP {status}")))
                }
            }
            Ok(Err(e @ (WsError::Url(_) | WsError::HttpFormat(_)))) => Err(config(e.to_string())),
            Ok(Err(e)) => Err(Connect::Retry(e.to_string())),
        }
    }

    /// One connection: keeps up to `window` frames in flight until everything is final or
    /// the connection breaks. What it had in flight when it broke is due again.
    async fn run_conn(&mut self, ws: Ws) -> Result<Ended, ClientError> {
        let window = self.cfg.window;
        let (sink, mut stream) = ws.split();
        // In flight never exceeds `window`, so sending on this channel never waits.
        let (tx, rx) = mpsc::channel::<Message>(window + 2);
        let mut writer = tokio::spawn(write_loop(sink, rx));
        let mut inflight: VecDeque<Sent> = VecDeque::with_capacity(window);
        let mut last_reply = Instant::now();
        let mut answered = false;
        let ended: Result<Ended, ClientError> = 'conn: loop {
            let now = Instant::now();
            let frames_before = self.report.frames_sent;
            while inflight.len() < window {
                let (text, what) = match self.next_frame(now, inflight.is_empty()) {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(e) => break 'conn Err(e),
                };
                if inflight.is_empty() {
                    last_reply = now;
                }
                inflight.push_back(Sent {
                    seq: self.current_seq(),
                    what,
                    at: now,
                });
                self.report.frames_sent += 1;
                if tx.send(Message::text(text)).await.is_err() {
                    break 'conn Ok(lost(answered, "writer stopped"));
                }
            }
            // Sent counts once the frame is out, not only at its reply: a Ctrl-C meanwhile
            // reports the orders in flight as sent.
            if self.report.frames_sent != frames_before {
                self.emit();
            }
            if inflight.is_empty() && self.is_done() {
                break Ok(Ended::Finished);
            }
            let wake = self.next_wake().filter(|_| inflight.len() < window);
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(Ok(Message::Text(text))) => {
                        let reply = match parse_reply(text.as_str()) {
                            Ok(r) => r,
                            Err(why) => break 'conn Ok(lost(answered, &why)),
                        };
                        match self.on_reply(reply, &mut inflight) {
                            Ok(()) => {
                                answered = true;
                                last_reply = Instant::now();
                            }
                            Err(Bad::Fatal(e)) => break 'conn Err(e),
                            Err(Bad::Protocol(why)) => break 'conn Ok(lost(answered, &why)),
                        }
                    }
                    Some(Ok(Message::Binary(_))) => break 'conn Ok(lost(answered, "binary reply")),
                    Some(Ok(Message::Close(frame))) => {
                        if frame.as_ref().is_some_and(|f| f.code == CloseCode::Size) {
                            break 'conn Err(ClientError::FrameTooLarge);
                        }
                        let why = frame.map(|f| format!("closed by server: {} {}", u16::from(f.code), f.reason));
                        break 'conn Ok(lost(answered, why.as_deref().unwrap_or("closed by server")));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break 'conn Ok(lost(answered, &e.to_string())),
                    None => break 'conn Ok(lost(answered, "connection closed")),
                },
                _ = sleep_until(last_reply + self.cfg.reply_timeout), if !inflight.is_empty() => {
                    break 'conn Ok(lost(answered, "no reply within reply_timeout"));
                }
                _ = sleep_until(wake.unwrap_or(now)), if wake.is_some() => {}
                _ = &mut writer => break 'conn Ok(lost(answered, "writer stopped")),
            }
        };
        match ended {
            Ok(Ended::Finished) => {
                let bye = CloseFrame {
                    code: CloseCode::Normal,
                    reason: "done".into(),
                };
                let _ = tx.send(Message::Close(Some(bye))).await;
                drop(tx);
                let _ = timeout(CLOSE_WAIT, async {
                    let _ = (&mut writer).await;
                    while let Some(Ok(msg)) = stream.next().await {
                        if matches!(msg, Message::Close(_)) {
                            break;
                        }
                    }
                })
                .await;
                writer.abort();
                Ok(Ended::Finished)
            }
            other => {
                writer.abort();
                self.requeue(inflight);
                self.emit();
                other
            }
        }
    }
}

fn lost(answered: bool, why: &str) -> Ended {
    Ended::Lost {
        answered,
        why: why.chars().take(200).collect(),
    }
}

/// Writes queued frames, flushing once per burst rather than once per frame.
async fn write_loop(mut sink: SplitSink<Ws, Message>, mut rx: mpsc::Receiver<Message>) {
    while let Some(msg) = rx.recv().await {
        let mut closing = matches!(msg, Message::Close(_));
        if sink.feed(msg).await.is_err() {
            return;
        }
        while !closing {
            let Ok(msg) = rx.try_recv() else { break };
            closing = matches!(msg, Message::Close(_));
            if sink.feed(msg).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() || closing {
            break;
        }
    }
    let _ = sink.close().await;
}
