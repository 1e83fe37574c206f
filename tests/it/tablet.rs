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
        ("/tablet/js/parcel.js", "text/javascript"),
        ("/tablet/js/words.js", "text/javascript"),
        ("/tablet/js/conn.js", "text/javascript"),
        ("/tablet/js/ask.js", "text/javascript"),
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
            scripts.contains(&format!("testid: '{hook}'"))
                || scripts.contains(&format!("b('{hook}'")),
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
    assert_eq!(get(Some(TOKEN_A), SITE).await.unwrap().status(), 401);
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

// ---- The packing floor (issue 17): confirmations, undo, packing tied to picking. ----

const SUPERVISOR_PIN: &str = "135790";
const EAN: &str = "8935000000017";

fn floor_config(redis: &str) -> livepack::Config {
    let mut c = test_config(redis, "[planner]\nenabled = true\n");
    let site = c.sites.iter_mut().find(|s| s.id == SITE).unwrap();
    site.supervisor_pin = Some(livepack::config::Secret::new(SUPERVISOR_PIN));
    site.barcodes.insert(EAN.into(), "HONEY-500".into());
    c
}

/// A JSON call as the station (cookie) or, with `cookie` = None, as the operator.
async fn call(
    app: &TestApp,
    cookie: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, app.http(path));
    req = match cookie {
        Some(c) => req.header("cookie", c),
        None => req.bearer_auth(OPERATOR),
    };
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A JSON POST as the station.
async fn post(app: &TestApp, cookie: &str, path: &str, body: Value) -> (u16, Value) {
    call(app, Some(cookie), reqwest::Method::POST, path, Some(body)).await
}

async fn record(app: &TestApp, order_id: &str) -> Value {
    let path = format!("/v1/orders/{order_id}?seller={SELLER_A}");
    let (s, v) = call(app, None, reqwest::Method::GET, &path, None).await;
    assert_eq!(s, 200, "{v}");
    v
}

fn parcel_of<'a>(wave: &'a Value, parcel_id: &str) -> &'a Value {
    wave["parcels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["parcel_id"] == parcel_id)
        .unwrap_or_else(|| panic!("{parcel_id} in {wave}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_floor_confirms_put_backs_and_pulls_ties_packing_to_picking_and_undoes() {
    use reqwest::Method;
    let redis = TestRedis::start().await;
    let app = TestApp::spawn_with(floor_config(&redis.url())).await;

    // Stations name themselves at sign-in (or get a short id).
    let (s, named) = {
        let r = reqwest::Client::new()
            .post(app.http("/v1/station/session"))
            .json(&json!({"site": SITE, "pin": PIN, "station": "Bàn 1"}))
            .send()
            .await
            .unwrap();
        let cookie = header(&r, "set-cookie")
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let s = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["station"], "Bàn 1");
        (s, cookie)
    };
    assert_eq!(s, 200);
    let cookie = named.as_str();
    let (s, anon) = call(
        &app,
        Some(""),
        Method::POST,
        "/v1/station/session",
        Some(json!({"site": SITE, "pin": PIN})),
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        anon["station"].as_str().unwrap().starts_with("T-"),
        "{anon}"
    );
    let (s, bad) = call(
        &app,
        Some(""),
        Method::POST,
        "/v1/station/session",
        Some(json!({"site": SITE, "pin": PIN, "station": "x".repeat(40)})),
    )
    .await;
    assert_eq!(
        (s, bad["error"]["code"].as_str()),
        (400, Some("invalid_station"))
    );
    // A name shown reversed or not at all, as ingest refuses in buyers' names.
    for name in ["\u{202e}evil", "\u{200b}", "a\u{0}b"] {
        let (s, bad) = call(
            &app,
            Some(""),
            Method::POST,
            "/v1/station/session",
            Some(json!({"site": SITE, "pin": PIN, "station": name})),
        )
        .await;
        assert_eq!(
            (s, bad["error"]["code"].as_str()),
            (400, Some("invalid_station")),
            "{name:?}"
        );
    }

    // Six fresh orders (1, 2, 3, 1, 2, 3 jars), one placed 30 h ago (overdue), one prepaid
    // order of a SKU without a bin.
    let mut orders: Vec<Value> = (0..6u64).map(|b| order(&format!("FL-{b}"), b)).collect();
    let mut old = order("FL-OLD", 50);
    old["placed_at"] = json!(placed_at_minutes_ago(30 * 60));
    orders.push(old);
    let mut prepaid = order("FL-PRE", 7);
    prepaid["items"] = json!([{"sku": "SOAP-1", "name": "Xà phòng", "qty": 2,
                                "unit_price": "40000", "weight_g": 120}]);
    prepaid["cod_amount"] = json!("0");
    orders.push(prepaid);
    let mut ws = connect(&app, TOKEN_A, "floor").await;
    send_accepted(&mut ws, &orders).await;
    send(&mut ws, &json!({"type": "end_session", "seq": 2})).await;
    recv(&mut ws).await;
    let ids: Vec<String> = (0..6)
        .map(|b| format!("FL-{b}"))
        .chain(["FL-OLD".into(), "FL-PRE".into()])
        .collect();
    for id in &ids {
        eventually(20, "every order waved", || async {
            record(&app, id).await["wave_id"].is_string()
        })
        .await;
    }
    let rec0 = record(&app, "FL-0").await;
    let wave_id = rec0["wave_id"].as_str().unwrap().to_owned();
    let parcel = |id: &str| {
        let app = &app;
        let id = id.to_owned();
        async move {
            record(app, &id).await["parcel_id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let wave_path = format!("/v1/waves/{wave_id}");
    let get_wave = || async {
        let (s, w) = call(&app, Some(cookie), Method::GET, &wave_path, None).await;
        assert_eq!(s, 200, "{w}");
        w
    };

    // Not started: no pick yet, no station.
    let w = get_wave().await;
    assert_eq!(w["status"], "picking");
    assert_eq!(w["started_at"], Value::Null);
    assert_eq!(w["station"], Value::Null);
    assert_eq!(
        w["next_parcel_id"],
        Value::Null,
        "nothing picked: nothing to pack"
    );
    let honey = w["pick_list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["sku"] == "HONEY-500")
        .unwrap();
    assert_eq!(honey["barcodes"], json!([EAN]));
    assert_eq!(honey["shelf"], "A-01");
    assert_eq!(w["barcodes"][EAN], "HONEY-500");
    let p_pre = parcel("FL-PRE").await;
    if record(&app, "FL-PRE").await["wave_id"] == wave_id.as_str() {
        let soap = w["pick_list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["sku"] == "SOAP-1")
            .unwrap();
        assert_eq!(soap["shelf"], Value::Null, "no bin: null, never UNASSIGNED");
        assert_eq!(soap["barcodes"], json!([]));
    }

    // Parcel cards: names, prepaid, platform ids, deadline; overdue and at-risk badges.
    let shipment = rec0["shipment_id"].as_str().unwrap().to_owned();
    let (s, sh) = call(
        &app,
        Some(cookie),
        Method::GET,
        &format!("/v1/shipments/{shipment}"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{sh}");
    let pre = record(&app, "FL-PRE").await;
    let pre_wave = {
        let (_, w) = call(
            &app,
            Some(cookie),
            Method::GET,
            &format!("/v1/waves/{}", pre["wave_id"].as_str().unwrap()),
            None,
        )
        .await;
        w
    };
    let card = parcel_of(&pre_wave, &p_pre);
    assert_eq!(card["prepaid"], true);
    assert_eq!(card["cod_amount"], "0");
    assert_eq!(card["carrier"], "viettel-post");
    assert_eq!(card["carrier_name"], "Demo carrier (mock)");
    assert_eq!(card["service"], "VCN");
    assert_eq!(card["service_name"], "VCN · Chuyển phát nhanh");
    assert_eq!(card["platform_order_ids"], json!(["FL-PRE"]));
    assert_eq!(card["province"], "Ninh Bình");
    assert_eq!(card["ward"], "Phường Hoa Lư");
    assert!(card["deadline"].is_string() && card["pickup_at"].is_string());
    assert_eq!(
        (card["at_risk"].as_bool(), card["overdue"].as_bool()),
        (Some(false), Some(false))
    );
    let p0 = parcel("FL-0").await;
    assert_eq!(parcel_of(&w, &p0)["prepaid"], false);

    let old_rec = record(&app, "FL-OLD").await;
    let p_old = old_rec["parcel_id"].as_str().unwrap().to_owned();
    let old_wave_id = old_rec["wave_id"].as_str().unwrap().to_owned();
    let (_, old_wave) = call(
        &app,
        Some(cookie),
        Method::GET,
        &format!("/v1/waves/{old_wave_id}"),
        None,
    )
    .await;
    let old_card = parcel_of(&old_wave, &p_old);
    assert_eq!(old_card["overdue"], true, "{old_card}");
    assert_eq!(old_card["at_risk"], true);
    assert!(old_wave["overdue_count"].as_u64().unwrap() >= 1);
    assert!(old_wave["at_risk_count"].as_u64().unwrap() >= 1);
    let day = chrono::DateTime::parse_from_rfc3339(old_wave["pickup_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono_tz::Asia::Ho_Chi_Minh)
        .format("%Y-%m-%d")
        .to_string();
    let (_, list) = call(
        &app,
        Some(cookie),
        Method::GET,
        &format!("/v1/sites/{SITE}/waves?date={day}"),
        None,
    )
    .await;
    let listed = list["waves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["wave_id"] == old_wave_id.as_str())
        .expect("the wave is listed");
    assert_eq!(listed["overdue_count"], old_wave["overdue_count"]);
    assert_eq!(listed["at_risk_count"], old_wave["at_risk_count"]);
    assert_eq!(listed["started_at"], Value::Null);
    // The list reads the parcels of many waves at once: each wave's counts are still its own.
    for listed in list["waves"].as_array().unwrap() {
        let id = listed["wave_id"].as_str().unwrap();
        let (_, own) = call(
            &app,
            Some(cookie),
            Method::GET,
            &format!("/v1/waves/{id}"),
            None,
        )
        .await;
        for k in ["overdue_count", "at_risk_count"] {
            assert_eq!(listed[k], own[k], "{k} of {id}");
        }
    }

    // The seller's session view lists the overdue order among its waved orders at risk,
    // with its wave's pickup; the on-time ones are not listed.
    let (s, session) = app.client(TOKEN_A).get_json("/v1/sessions/floor").await;
    assert_eq!(s, 200, "{session}");
    let at_risk = session["at_risk_orders"].as_array().unwrap();
    assert_eq!(
        session["at_risk_waved"].as_u64(),
        Some(at_risk.len() as u64),
        "{session}"
    );
    let old = at_risk
        .iter()
        .find(|o| o["order_id"] == "FL-OLD")
        .unwrap_or_else(|| panic!("FL-OLD is at risk: {session}"));
    assert_eq!(old["reason"], "overdue");
    assert_eq!(old["status"], "waved");
    assert_eq!(old["pickup_at"], old_wave["pickup_at"]);
    assert!(
        at_risk.iter().all(|o| o["order_id"] != "FL-PRE"),
        "{session}"
    );

    // Packing before picking is refused, naming the SKU.
    let (s, e) = call(
        &app,
        Some(cookie),
        Method::POST,
        &format!("/v1/parcels/{p0}/packed"),
        None,
    )
    .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["error"]["code"], "items_not_picked");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("HONEY-500"),
        "{e}"
    );
    assert_eq!(e["error"]["missing"][0]["need"], 1);
    assert_eq!(e["error"]["missing"][0]["available"], 0);

    // One jar picked (scanned by its EAN): the wave has started, by "Bàn 1"; the next
    // parcel is a one-jar parcel.
    let picks = format!("/v1/waves/{wave_id}/picks");
    let (s, r) = post(
        &app,
        cookie,
        &picks,
        json!({"pick_id": "fl-pick-1", "sku": EAN, "qty": 1}),
    )
    .await;
    assert_eq!(
        (s, r["sku"].as_str(), r["picked"].as_u64()),
        (200, Some("HONEY-500"), Some(1)),
        "{r}"
    );
    let w = get_wave().await;
    assert!(w["started_at"].is_string(), "{w}");
    assert_eq!(w["station"], "Bàn 1");
    let next = w["next_parcel_id"]
        .as_str()
        .expect("a next parcel")
        .to_owned();
    let covered: Vec<&Value> = w["parcels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["items_picked"] == true)
        .collect();
    assert!(!covered.is_empty());
    for p in &covered {
        let units: u64 = p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["qty"].as_u64().unwrap())
            .sum();
        assert_eq!(units, 1, "only one-jar parcels are covered: {p}");
    }
    let first = covered
        .iter()
        .min_by_key(|p| {
            (
                p["deadline"].as_str().unwrap().to_owned(),
                p["parcel_id"]
                    .as_str()
                    .unwrap()
                    .rsplit('-')
                    .next()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
            )
        })
        .unwrap();
    assert_eq!(first["parcel_id"], next.as_str());
    for p in w["parcels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["items_picked"] == false)
    {
        assert!(p["items"][0]["qty"].as_u64().unwrap() > 1 || p["items"][0]["sku"] != "HONEY-500");
    }

    // Pack it; its jar cannot be unpicked while packed; unpack (idempotent by id), unpick.
    let (s, r) = post(
        &app,
        cookie,
        &format!("/v1/parcels/{next}/packed"),
        json!({}),
    )
    .await;
    assert_eq!((s, r["status"].as_str()), (200, Some("packed")), "{r}");
    assert_eq!(get_wave().await["parcels_packed"], 1);
    let unpicks = format!("/v1/waves/{wave_id}/unpicks");
    let un = |id: &str| json!({"unpick_id": id, "sku": "HONEY-500", "qty": 1});
    let (s, e) = post(&app, cookie, &unpicks, un("fl-un-1")).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("units_packed")),
        "{e}"
    );
    let unpack = format!("/v1/parcels/{next}/unpacked");
    let (s, r) = post(&app, cookie, &unpack, json!({"unpack_id": "fl-x-1"})).await;
    assert_eq!((s, r["result"].as_str()), (200, Some("unpacked")), "{r}");
    let (s, r) = post(&app, cookie, &unpack, json!({"unpack_id": "fl-x-1"})).await;
    assert_eq!((s, r["result"].as_str()), (200, Some("duplicate")), "{r}");
    let w = get_wave().await;
    assert_eq!(w["parcels_packed"], 0);
    assert_eq!(parcel_of(&w, &next)["status"], "open");
    assert_eq!(w["next_parcel_id"], next.as_str(), "its jar is free again");
    let (s, r) = post(&app, cookie, &unpicks, un("fl-un-1")).await;
    assert_eq!(
        (s, r["result"].as_str(), r["picked"].as_u64()),
        (200, Some("counted"), Some(0)),
        "{r}"
    );
    let (s, r) = post(&app, cookie, &unpicks, un("fl-un-1")).await;
    assert_eq!((s, r["result"].as_str()), (200, Some("duplicate")));
    let (s, e) = post(&app, cookie, &unpicks, un("fl-un-2")).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("over_unpick")),
        "never below zero"
    );
    assert_eq!(get_wave().await["qty_picked"], 0);

    // The packer may pack unpicked items after being asked: audited.
    let (s, r) = post(
        &app,
        cookie,
        &format!("/v1/parcels/{p0}/packed"),
        json!({"confirm_unpicked": true}),
    )
    .await;
    assert_eq!((s, r["status"].as_str()), (200, Some("packed")), "{r}");
    let (s, r) = call(
        &app,
        Some(cookie),
        Method::POST,
        &format!("/v1/parcels/{p0}/unpacked"),
        None,
    )
    .await;
    assert_eq!((s, r["result"].as_str()), (200, Some("unpacked")), "{r}");

    // Pick the whole wave, then cancel an order of an open parcel: its jars are to put back.
    let w = get_wave().await;
    for (n, l) in w["pick_list"].as_array().unwrap().iter().enumerate() {
        let left = l["qty"].as_u64().unwrap() - l["picked"].as_u64().unwrap();
        if left > 0 {
            let (s, r) = post(
                &app,
                cookie,
                &picks,
                json!({"pick_id": format!("fl-all-{n}"), "sku": l["sku"], "qty": left}),
            )
            .await;
            assert_eq!(s, 200, "{r}");
        }
    }
    let cancel = |id: &'static str| {
        let app = &app;
        async move {
            let r = reqwest::Client::new()
                .post(app.http(&format!("/v1/orders/{id}/cancel")))
                .bearer_auth(TOKEN_A)
                .json(&json!({"reason": "buyer_cancelled"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    };
    let in_wave = |id: &str| {
        let app = &app;
        let wave_id = wave_id.clone();
        let id = id.to_owned();
        async move { record(app, &id).await["wave_id"] == wave_id.as_str() }
    };
    assert!(in_wave("FL-2").await && in_wave("FL-4").await && in_wave("FL-5").await);
    let jars2 = 3; // buyer 2
    cancel("FL-2").await;
    eventually(20, "the cancelled jars are to put back", || async {
        get_wave().await["put_back_count"] == jars2
    })
    .await;
    let w = get_wave().await;
    assert_eq!(
        w["put_backs"],
        json!([{"sku": "HONEY-500", "name": "Mật ong rừng 500ml", "bin": "A-01", "qty": jars2}])
    );
    let put_backs = format!("/v1/waves/{wave_id}/put-backs");
    let pb = |id: &str, qty: u64| json!({"put_back_id": id, "sku": "HONEY-500", "qty": qty});
    let (s, e) = post(&app, cookie, &put_backs, pb("fl-pb-1", jars2 + 1)).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("over_put_back")),
        "{e}"
    );
    let (s, r) = post(&app, cookie, &put_backs, pb("fl-pb-1", jars2)).await;
    assert_eq!(
        (s, r["result"].as_str(), r["put_back"].as_u64()),
        (200, Some("counted"), Some(0)),
        "{r}"
    );
    let (s, r) = post(&app, cookie, &put_backs, pb("fl-pb-1", jars2)).await;
    assert_eq!((s, r["result"].as_str()), (200, Some("duplicate")));
    let w = get_wave().await;
    assert_eq!(w["put_backs"], json!([]));
    assert_eq!(w["put_back_count"], 0);

    // A packed parcel whose only order is cancelled: to pull, out of the packed counts.
    let p4 = parcel("FL-4").await;
    let (s, r) = call(
        &app,
        Some(cookie),
        Method::POST,
        &format!("/v1/parcels/{p4}/packed"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (_, session) = {
        let r = reqwest::Client::new()
            .get(app.http("/v1/sessions/floor"))
            .bearer_auth(TOKEN_A)
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(session["packed"], 1, "{session}");
    cancel("FL-4").await;
    eventually(20, "the packed parcel is to pull", || async {
        get_wave().await["pull_count"] == 1
    })
    .await;
    let w = get_wave().await;
    assert_eq!(w["pulls"][0]["parcel_id"], p4.as_str());
    // Its jars were picked: the put-back card asks them back (below), so the pull card does
    // not ask again (each unit asked back once).
    assert_eq!(w["pulls"][0]["items"], json!([]), "{w}");
    assert_eq!(w["parcels_packed"], 0, "a pulled parcel is not packed");
    assert_ne!(parcel_of(&w, &p4)["status"], "packed");
    let session: Value = reqwest::Client::new()
        .get(app.http("/v1/sessions/floor"))
        .bearer_auth(TOKEN_A)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["packed"], 0, "{session}");
    let jars4 = 2; // buyer 4: its jars are to put back too
    assert_eq!(w["put_back_count"], jars4);
    let pulled = format!("/v1/parcels/{p4}/pulled");
    let (s, r) = call(&app, Some(cookie), Method::POST, &pulled, None).await;
    assert_eq!((s, r["result"].as_str()), (200, Some("pulled")), "{r}");
    let (s, r) = call(&app, Some(cookie), Method::POST, &pulled, None).await;
    assert_eq!((s, r["result"].as_str()), (200, Some("already_pulled")));
    let w = get_wave().await;
    assert_eq!(w["pulls"], json!([]));
    assert_eq!(w["pull_count"], 0);
    assert_eq!(parcel_of(&w, &p4)["pulled"], true);
    let (s, e) = call(
        &app,
        Some(cookie),
        Method::POST,
        &format!("/v1/parcels/{p0}/pulled"),
        None,
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("nothing_to_pull"))
    );

    // Unpacking a parcel booked with the carrier needs the supervisor's PIN.
    let p5 = parcel("FL-5").await;
    let (s, r) = call(
        &app,
        Some(cookie),
        Method::POST,
        &format!("/v1/parcels/{p5}/packed"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = call(
        &app,
        Some(cookie),
        Method::POST,
        &format!("/v1/shipments/{shipment}/book"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let w = get_wave().await;
    assert!(parcel_of(&w, &p5)["tracking"].is_string(), "booked: {w}");
    let unpack5 = format!("/v1/parcels/{p5}/unpacked");
    let (s, e) = call(&app, Some(cookie), Method::POST, &unpack5, None).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (403, Some("supervisor_pin_required")),
        "{e}"
    );
    let (s, e) = post(&app, cookie, &unpack5, json!({"supervisor_pin": "000000"})).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (403, Some("wrong_supervisor_pin")),
        "{e}"
    );
    assert_eq!(parcel_of(&get_wave().await, &p5)["status"], "booked");
    let (s, r) = post(
        &app,
        cookie,
        &unpack5,
        json!({"supervisor_pin": SUPERVISOR_PIN, "unpack_id": "fl-x-5"}),
    )
    .await;
    assert_eq!((s, r["result"].as_str()), (200, Some("unpacked")), "{r}");
    assert_eq!(parcel_of(&get_wave().await, &p5)["status"], "open");
    assert_eq!(record(&app, "FL-5").await["status"], "picked");
    // Guessing the supervisor PIN is throttled like the station PIN.
    let (s, _) = call(
        &app,
        Some(cookie),
        Method::POST,
        &format!("/v1/parcels/{p5}/packed"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    for _ in 0..5 {
        let (s, e) = post(&app, cookie, &unpack5, json!({"supervisor_pin": "999999"})).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (403, Some("wrong_supervisor_pin")),
            "{e}"
        );
    }
    let (s, e) = post(
        &app,
        cookie,
        &unpack5,
        json!({"supervisor_pin": SUPERVISOR_PIN}),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (429, Some("too_many_attempts")),
        "{e}"
    );
    assert_eq!(parcel_of(&get_wave().await, &p5)["status"], "booked");

    // Every undo and confirmation is in the site's audit, with the station's name.
    let (s, audit) = call(
        &app,
        Some(cookie),
        Method::GET,
        &format!("/v1/sites/{SITE}/audit?limit=50"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{audit}");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["station"], "Bàn 1", "{e}");
            e["action"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        actions,
        [
            "unpack",
            "pull",
            "put_back",
            "unpack",
            "pack_unpicked",
            "unpick",
            "unpack"
        ],
        "newest first"
    );
    assert_eq!(audit["entries"][0]["parcel_id"], p5.as_str());
    assert_eq!(audit["entries"][2]["qty"], jars2);

    // A cancelled order can never be packed again: the next session view drops it from the
    // session's risk records (the view reads only what may still be at risk): one line per
    // wave in the session's log, `wave|ms id,id…;ms id…`.
    let risk_key = livepack::store::keys::session_risk(SITE, SELLER_A, "floor");
    let mut conn = crate::svc::redis_conn(&redis.url()).await;
    let log = redis::cmd("GET").arg(&risk_key).clone();
    let lines = |log: Option<String>| -> Vec<String> {
        log.unwrap_or_default().lines().map(String::from).collect()
    };
    let listed = |vals: Vec<String>| {
        vals.iter().any(|v| {
            v.split_once('|')
                .into_iter()
                .flat_map(|(_, groups)| groups.split(';'))
                .filter_map(|g| g.split_once(' '))
                .any(|(_, ids)| ids.split(',').any(|id| id == "FL-OLD"))
        })
    };
    // Every order id in the entries.
    let ids = |vals: &[String]| -> usize {
        vals.iter()
            .filter_map(|v| v.split_once('|'))
            .flat_map(|(_, groups)| groups.split(';'))
            .filter_map(|g| g.split_once(' '))
            .map(|(_, ids)| ids.split(',').count())
            .sum()
    };
    let vals = lines(log.query_async(&mut conn).await.unwrap());
    let before = ids(&vals);
    assert!(listed(vals), "FL-OLD is in the risk records");
    let (s, c) = app
        .client(TOKEN_A)
        .post_json("/v1/orders/FL-OLD/cancel", json!({}))
        .await;
    assert_eq!(s, 200, "{c}");
    let (s, session) = app.client(TOKEN_A).get_json("/v1/sessions/floor").await;
    assert_eq!(s, 200, "{session}");
    assert!(
        session["at_risk_orders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["order_id"] != "FL-OLD"),
        "{session}"
    );
    let vals = lines(log.query_async(&mut conn).await.unwrap());
    assert_eq!(
        ids(&vals),
        before - 1,
        "only FL-OLD left the entries: {vals:?}"
    );
    assert!(!listed(vals), "pruned from the risk records");
    app.stop().await;
}
