//! The packing tablet's endpoints: the page and its assets (security headers, CSP,
//! revalidation), and the live feed `GET /v1/sites/{site}/events` (who may read it, a
//! `waves` event when a wave is committed or picked, streams end on shutdown).

use crate::common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const PIN: &str = "246813";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn assert_page_headers(r: &reqwest::Response) {
    let csp = header(r, "content-security-policy");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains('*'),
        "{csp}"
    );
    assert_eq!(header(r, "x-frame-options"), "DENY");
    assert_eq!(header(r, "referrer-policy"), "no-referrer");
    assert_eq!(header(r, "x-content-type-options"), "nosniff");
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_with_security_headers() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let http = no_redirects();

    let r = http.get(app.http("/tablet/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("text/html"));
    assert_page_headers(&r);
    let html = r.text().await.unwrap();
    for hook in [
        "site",
        "pin",
        "sign-in",
        "sign-in-error",
        "lang",
        "scan-input",
        "undo",
        "offline-banner",
        "back",
    ] {
        assert!(
            html.contains(&format!("data-testid=\"{hook}\"")),
            "page has the {hook} hook"
        );
    }
    assert!(html.contains("lang=\"vi\""), "Vietnamese by default");

    let r = http.get(app.http("/tablet")).send().await.unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(header(&r, "location"), "/tablet/");

    let mut scripts = String::new();
    for (path, mime) in [
        ("/tablet/app.css", "text/css"),
        ("/tablet/icon.svg", "image/svg+xml"),
        ("/tablet/js/app.js", "text/javascript"),
        ("/tablet/js/api.js", "text/javascript"),
        ("/tablet/js/i18n.js", "text/javascript"),
        ("/tablet/js/queue.js", "text/javascript"),
        ("/tablet/js/views.js", "text/javascript"),
        ("/tablet/js/wave.js", "text/javascript"),
    ] {
        let r = http.get(app.http(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(header(&r, "content-type").starts_with(mime), "{path}");
        assert_page_headers(&r);
        let etag = header(&r, "etag").to_owned();
        assert!(!etag.is_empty(), "{path} has an ETag");
        let body = r.text().await.unwrap();
        if path.ends_with(".js") {
            scripts.push_str(&body);
        }
        let again = http
            .get(app.http(path))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path} revalidates");
    }
    for hook in [
        "wave",
        "pick-line",
        "pick-confirm",
        "parcel",
        "parcel-packed",
    ] {
        assert!(
            scripts.contains(&format!("testid: '{hook}'")),
            "scripts make the {hook} hook"
        );
    }
    assert!(!scripts.contains("http://") && !scripts.contains("https://cdn"));

    for missing in [
        "/tablet/nope.js",
        "/tablet/js/nope.js",
        "/tablet/js/..%2fapp.css",
    ] {
        let r = http.get(app.http(missing)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{missing}");
    }

    let doc: Value = http
        .get(app.http("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/v1/sites/{site}/events"]["get"].is_object());
    app.stop().await;
}

/// Signs a station in; returns its `Cookie` header value.
async fn station_cookie(app: &TestApp) -> String {
    let r = reqwest::Client::new()
        .post(app.http("/v1/station/session"))
        .json(&json!({"site": SITE, "pin": PIN}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let set = header(&r, "set-cookie");
    set.split(';').next().unwrap().to_owned()
}

/// Reads Server-Sent Events from a streaming response.
struct Events {
    resp: reqwest::Response,
    buf: String,
}

impl Events {
    async fn open(app: &TestApp, cookie: &str) -> Events {
        let resp = reqwest::Client::new()
            .get(app.http(&format!("/v1/sites/{SITE}/events")))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(header(&resp, "content-type").starts_with("text/event-stream"));
        Events {
            resp,
            buf: String::new(),
        }
    }

    /// The next event with a name: (name, data). None when the stream ended.
    async fn next(&mut self) -> Option<(String, String)> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut name, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if !name.is_empty() {
                    return Some((name, data));
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.resp.chunk())
                .await
                .expect("an event within 20 s")
                .ok()
                .flatten()?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads `waves` events until one satisfies `check`.
    async fn until(&mut self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        loop {
            let (name, data) = self.next().await.unwrap_or_else(|| panic!("ended: {what}"));
            if name != "waves" {
                continue;
            }
            let feed: Value = serde_json::from_str(&data).expect("waves data is JSON");
            if check(&feed) {
                return feed;
            }
        }
    }
}

#[tokio::test]
async fn the_event_stream_needs_a_station_of_that_site_or_the_operator() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let get = |token: Option<&str>, site: &str| {
        let mut req = reqwest::Client::new().get(app.http(&format!("/v1/sites/{site}/events")));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    assert_eq!(get(None, SITE).await.unwrap().status(), 401);
    assert_eq!(get(Some("wrong"), SITE).await.unwrap().status(), 401);
    assert_eq!(get(Some(TOKEN_A), SITE).await.unwrap().status(), 404);
    assert_eq!(
        get(Some(OPERATOR), "no-such-site").await.unwrap().status(),
        404
    );
    let r = get(Some(OPERATOR), SITE).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").starts_with("text/event-stream"));
    drop(r);
    let stale = reqwest::Client::new()
        .get(app.http(&format!("/v1/sites/{SITE}/events")))
        .header("cookie", format!("lp_station={}", "ab".repeat(32)))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 401, "an unknown station session");
    app.stop().await;
}

async fn ingest_and_end(app: &TestApp, session: &str, n: u64) {
    let mut ws = connect(app, TOKEN_A, session).await;
    let orders: Vec<Value> = (0..n)
        .map(|i| order(&format!("{session}-{i}"), i))
        .collect();
    send(
        &mut ws,
        &json!({"type": "orders", "seq": 1, "orders": orders}),
    )
    .await;
    let ack = recv(&mut ws).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    send(&mut ws, &json!({"type": "end_session", "seq": 2})).await;
    assert_eq!(recv(&mut ws).await["type"], "ack");
}

fn order_count(feed: &Value) -> u64 {
    feed["waves"]
        .as_array()
        .map(|w| w.iter().filter_map(|w| w["order_count"].as_u64()).sum())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_wave_and_its_progress_are_pushed_to_the_tablet() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn_with(test_config(&redis.url(), "[planner]\nenabled = true\n")).await;
    let cookie = station_cookie(&app).await;
    let mut events = Events::open(&app, &cookie).await;
    let first = events.until("the first snapshot", |_| true).await;
    assert_eq!(first["site"], SITE);
    assert_eq!(order_count(&first), 0, "no waves yet: {first}");
    assert_eq!(first["dates"].as_array().map(Vec::len), Some(2));

    ingest_and_end(&app, "tablet-live", 30).await;
    let feed = events
        .until("a wave with the 30 orders", |f| order_count(f) == 30)
        .await;
    let wave = &feed["waves"][0];
    let wave_id = wave["wave_id"].as_str().unwrap().to_owned();
    assert_eq!(wave["status"], "picking");
    assert_eq!(wave["qty_picked"], 0);
    assert!(wave["pickup_at"].is_string() && wave["date"].is_string());

    // A pick from another tablet moves the progress.
    let view: Value = reqwest::Client::new()
        .get(app.http(&format!("/v1/waves/{wave_id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sku = view["pick_list"][0]["sku"].as_str().unwrap().to_owned();
    let r = reqwest::Client::new()
        .post(app.http(&format!("/v1/waves/{wave_id}/picks")))
        .header("cookie", &cookie)
        .json(&json!({"pick_id": "tb-test-1", "sku": sku, "qty": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    events
        .until("the pick shows in the feed", |f| {
            f["waves"]
                .as_array()
                .is_some_and(|w| w.iter().any(|w| w["qty_picked"] == 1))
        })
        .await;

    // A second tablet joining gets the current list at once.
    let mut late = Events::open(&app, &cookie).await;
    let now = late.until("the current list", |_| true).await;
    assert_eq!(order_count(&now), 30);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_streams_end_when_the_service_shuts_down() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let cookie = station_cookie(&app).await;
    let mut events = Events::open(&app, &cookie).await;
    events.until("the first snapshot", |_| true).await;
    let started = std::time::Instant::now();
    app.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "shutdown is not held up by an open stream ({:?})",
        started.elapsed()
    );
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        while events.next().await.is_some() {}
    })
    .await;
    assert!(rest.is_ok(), "the stream ended");
}
