//! `GET /v1/sites/{site}/events`: Server-Sent Events for the packing tablet.
//!
//! Events: `waves` (data: a [`WaveFeed`], sent on connect when known and whenever the
//! site's waves or their progress change) and `refresh` (data `{}`: this client fell
//! behind; re-read the lists over the REST API) and `heartbeat` (data `{"at": RFC 3339}`
//! every [`HEARTBEAT`]: the page's connection badge turns "not live" when events stop
//! coming, which a comment cannot tell it). A comment every 15 s keeps proxies and Wi-Fi
//! NATs from closing an idle stream. A stream ends after [`MAX_STREAM`] (the page's
//! `EventSource` reconnects by itself and so proves its session is still valid) and when
//! the service shuts down.

use crate::metric_names as names;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::Stream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::hub::{Hub, Subscription};
use crate::state::AppState;
use crate::web::auth::{check_site, Caller};
use crate::web::error::{ApiError, ErrorBody};

/// A stream lives at most this long; the browser reconnects (and re-authenticates).
pub const MAX_STREAM: Duration = Duration::from_secs(15 * 60);
/// What the page's `EventSource` waits before reconnecting.
const RETRY: Duration = Duration::from_secs(3);
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often a stream carries a `heartbeat` event (the page counts 2.5× this as lost).
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// Connected streams, for the `livepack_tablet_streams` gauge.
struct Connected;

impl Connected {
    fn new() -> Connected {
        metrics::gauge!(names::TABLET_STREAMS).increment(1.0);
        Connected
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        metrics::gauge!(names::TABLET_STREAMS).decrement(1.0);
    }
}

struct Client {
    sub: Subscription,
    shutdown: CancellationToken,
    until: Instant,
    greeted: bool,
    beat_every: Duration,
    next_beat: Instant,
    _connected: Connected,
}

fn heartbeat() -> Event {
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Event::default()
        .event("heartbeat")
        .data(format!("{{\"at\":\"{at}\"}}"))
}

/// The next event of a client's stream; None ends the stream.
async fn next_event(mut c: Client) -> Option<(Result<Event, Infallible>, Client)> {
    if !c.greeted {
        c.greeted = true;
        let hello = Event::default()
            .retry(RETRY)
            .comment("livepack tablet feed");
        return Some((Ok(hello), c));
    }
    let snapshot = tokio::select! {
        biased;
        _ = c.shutdown.cancelled() => return None,
        _ = tokio::time::sleep_until(c.until) => return None,
        s = c.sub.rx.recv() => s?,
        _ = tokio::time::sleep_until(c.next_beat) => {
            c.next_beat = Instant::now() + c.beat_every;
            return Some((Ok(heartbeat()), c));
        }
    };
    if c.sub.lagged.load(Ordering::Acquire) {
        // Stale snapshots: drop them all and tell the page to re-read.
        while c.sub.rx.try_recv().is_ok() {}
        c.sub.lagged.store(false, Ordering::Release);
        return Some((Ok(Event::default().event("refresh").data("{}")), c));
    }
    Some((Ok(Event::default().event("waves").data(&*snapshot)), c))
}

fn events(c: Client) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::unfold(c, next_event)
}

/// Live updates of the site's waves for the packing tablet (Server-Sent Events).
#[utoipa::path(get, path = "/v1/sites/{site}/events", tag = "tablet", operation_id = "site_events",
    params(("site" = String, Path)),
    security(("station_cookie" = []), ("operator_token" = [])),
    responses(
        (status = 200, content_type = "text/event-stream",
         description = "`event: waves` with a WaveFeed as data (on connect and on every change of the list or its progress); `event: refresh` when this client fell behind (re-read over the REST API); keep-alive comments every 15 s",
         body = super::hub::WaveFeed),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn stream(
    State(state): State<AppState>,
    Extension(hub): Extension<Arc<Hub>>,
    caller: Caller,
    Path(site): Path<String>,
) -> Result<Response, ApiError> {
    check_site(&state, &caller, &site)?;
    let client = Client {
        sub: hub.subscribe(&state, &site),
        shutdown: state.shutdown.clone(),
        until: Instant::now() + MAX_STREAM,
        greeted: false,
        beat_every: HEARTBEAT,
        next_beat: Instant::now() + HEARTBEAT,
        _connected: Connected::new(),
    };
    let sse = Sse::new(events(client))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"));
    let mut resp = sse.into_response();
    // Reverse proxies (nginx) must pass events through at once.
    resp.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(sub: Subscription) -> Client {
        Client {
            sub,
            shutdown: CancellationToken::new(),
            until: Instant::now() + MAX_STREAM,
            greeted: true,
            beat_every: HEARTBEAT,
            next_beat: Instant::now() + HEARTBEAT,
            _connected: Connected::new(),
        }
    }

    async fn next_text(c: Client) -> Option<(String, Client)> {
        let (ev, c) = next_event(c).await?;
        let ev = ev.unwrap_or_default();
        Some((format!("{ev:?}"), c))
    }

    #[tokio::test]
    async fn a_lagging_client_gets_one_refresh_then_live_events_again() {
        let hub = Hub::new();
        let (sub, _) = hub.join("s");
        for i in 0..50 {
            hub.publish("s", Some(format!("{{\"n\":{i}}}")));
        }
        let c = client(sub);
        let (first, c) = next_text(c).await.expect("an event");
        assert!(first.contains("event: refresh"), "{first}");
        hub.publish("s", Some("{\"n\":99}".into()));
        let (next, c) = next_text(c).await.expect("an event");
        assert!(
            next.contains("event: waves") && next.contains("99"),
            "{next}"
        );
        c.shutdown.cancel();
        assert!(next_event(c).await.is_none(), "the stream ends on shutdown");
    }

    #[tokio::test]
    async fn an_idle_stream_sends_heartbeats_and_still_delivers_snapshots() {
        let hub = Hub::new();
        let (sub, _) = hub.join("s");
        let mut c = client(sub);
        c.beat_every = Duration::from_millis(20);
        c.next_beat = Instant::now() + c.beat_every;
        let (first, c) = next_text(c).await.expect("an event");
        assert!(first.contains("event: heartbeat"), "{first}");
        assert!(first.contains("data: {") && first.contains("at"), "{first}");
        let (second, c) = next_text(c).await.expect("an event");
        assert!(second.contains("event: heartbeat"), "{second}");
        hub.publish("s", Some("{\"n\":7}".into()));
        let (next, c) = next_text(c).await.expect("an event");
        assert!(
            next.contains("event: waves") && next.contains('7'),
            "{next}"
        );
        c.shutdown.cancel();
        assert!(next_event(c).await.is_none());
    }
}
