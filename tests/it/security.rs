//! Intruders (issue 10): sellers see only their own orders and sessions, station PINs are
//! hashed and locked out, station sessions expire and resist CSRF, the carrier webhook
//! checks its secret, secrets never reach the logs, and the tablet page is locked down.

use crate::common;
use crate::svc;

use common::*;
use livepack::client::{push, ClientConfig};
use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::{json, Value};
use svc::*;

const TOK_A: &str = "sk-a-5f1c9e27d3b84a06";
const TOK_B: &str = "sk-b-93d0e4a17c62bf58";
const TOK_C: &str = "sk-c-2b7a61fe0d94c35e";
const OPS: &str = "op-7c3e91a05bd2f468";
const PIN_HUB: &str = "48213579"; // stored as an argon2 hash
const PIN_COOP: &str = "73920461"; // stored plain
const HOOK: &str = "whsec-e8a1d4c07b3f9265";
const CARRIER_PW: &str = "cpw-0d5b8e3a71c4f926";
const COOP: &str = "tam-diep-coop";

fn site(id: &str, pin: &str) -> String {
    format!(
        "[[sites]]\nid = \"{id}\"\nname = \"{id}\"\npickups = [\"11:00\", \"17:00\"]\n\
         station_pin = \"{pin}\"\ncarriers = [\"viettel-post\"]\nphone = \"02293888999\"\n\
         province = \"Ninh Bình\"\nward = \"Phường Hoa Lư\"\nstreet = \"Thôn Văn Lâm\"\n"
    )
}

/// Sites, sellers, operator and carrier with secrets nothing else contains.
fn secure_toml() -> String {
    let hash = livepack::config::pin::hash(PIN_HUB).unwrap();
    assert!(hash.starts_with("$argon2id$"));
    let seller = |id: &str, site: &str, tok: &str| {
        format!(
            "[[sellers]]\nid = \"{id}\"\nname = \"{id}\"\nsite = \"{site}\"\ntoken = \"{tok}\"\n"
        )
    };
    format!(
        "{}{}{}{}{}[operator]\ntoken = \"{OPS}\"\n\
         [[carriers]]\nid = \"viettel-post\"\nkind = \"mock\"\nbase_url = \"http://127.0.0.1:9\"\n\
         username = \"lp\"\npassword = \"{CARRIER_PW}\"\nwebhook_secret = \"{HOOK}\"\n\
         default_service = \"VCN\"\n",
        site(SITE, &hash),
        site(COOP, PIN_COOP),
        seller(SELLER_A, SITE, TOK_A),
        seller(SELLER_B, SITE, TOK_B),
        seller("gao-st25", COOP, TOK_C),
    )
}

async fn call(
    method: reqwest::Method,
    url: String,
    auth: Option<String>,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(t) = auth {
        req = req.header("authorization", t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, resp.json().await.unwrap_or(Value::Null), headers)
}

fn bearer(t: &str) -> Option<String> {
    Some(format!("Bearer {t}"))
}

/// The site's outlook (contract §2): a seller's token lists only that seller's orders at
/// risk (a black-box review read another seller's order ids, deadlines and volume there);
/// the operator sees them all. No planner runs, so the outlook stays as written here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seller_s_outlook_lists_only_its_own_orders_at_risk() {
    use reqwest::Method as M;
    let redis = TestRedis::start().await;
    let mut cfg = test_config(&redis.url(), &secure_toml());
    cfg.planner.enabled = false;
    let app = TestApp::spawn_with(cfg).await;
    let base = format!("http://{}", app.addr);
    let risk = |seller: &str, id: &str| {
        json!({"id": {"seller": seller, "order_id": id}, "reason": "not_enough_capacity",
               "pickup_at": "2026-12-07T04:00:00Z", "deadline": "2026-12-07T03:00:00Z"})
    };
    let outlook = json!({"site": SITE, "computed_at": "2026-12-07T02:00:00Z", "pending": 3,
        "held": 0, "forecast": [],
        "at_risk_by_session": {SELLER_A: {"live-a": 1}, SELLER_B: {"live-b": 2}},
        "at_risk": [risk(SELLER_A, "A-1"), risk(SELLER_B, "B-1"), risk(SELLER_B, "B-2")]});
    let mut c = redis.conn().await;
    let _: () = redis::cmd("SET")
        .arg(livepack::store::keys::outlook(SITE))
        .arg(outlook.to_string())
        .query_async(&mut c)
        .await
        .unwrap();
    let ids = |v: &Value| -> Vec<String> {
        v["at_risk"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"]["order_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let url = format!("{base}/v1/sites/{SITE}/outlook");
    for (tok, want) in [
        (TOK_A, vec!["A-1"]),
        (TOK_B, vec!["B-1", "B-2"]),
        (OPS, vec!["A-1", "B-1", "B-2"]),
    ] {
        let (s, v, _) = call(M::GET, url.clone(), bearer(tok), &[], None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(ids(&v), want, "{tok}: {v}");
        assert_eq!(v["pending"], 3, "the site's count: {v}");
        // Its own at-risk count, no other seller's (an outlook before the counts: its list).
        assert_eq!(v["at_risk_count"], want.len(), "{tok}: {v}");
        // Its own sessions' counts only.
        let sellers: Vec<&String> = v["at_risk_by_session"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        let own = match tok {
            TOK_A => vec![SELLER_A],
            TOK_B => vec![SELLER_B],
            _ => vec![SELLER_A, SELLER_B],
        };
        assert_eq!(sellers, own, "{tok}: {v}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sellers_token_reaches_only_its_own_orders_and_sessions() {
    use reqwest::Method as M;
    let redis = TestRedis::start().await;
    let app = TestApp::spawn_with(test_config(&redis.url(), &secure_toml())).await;
    let base = format!("http://{}", app.addr);
    let a = ClientConfig::new(&base, TOK_A, "sess-a");
    push(&a, vec![order("SEC-1", 1)], None).await.unwrap();
    let get = |path: &str, tok: &str| call(M::GET, format!("{base}{path}"), bearer(tok), &[], None);

    assert_eq!(get("/v1/orders/SEC-1", TOK_A).await.0, StatusCode::OK);
    for tok in [TOK_B, TOK_C] {
        let (s, body, _) = get("/v1/orders/SEC-1", tok).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "another seller's order: {body}");
        assert_eq!(
            get("/v1/sessions/sess-a", tok).await.0,
            StatusCode::NOT_FOUND
        );
    }
    // Writes: B's cancel of "SEC-1" is about B's own (unknown) order, by API and by frame.
    let url = format!("{base}/v1/orders/SEC-1/cancel");
    let (s, body, _) = call(M::POST, url, bearer(TOK_B), &[], Some(json!({}))).await;
    assert!(
        s == StatusCode::NOT_FOUND || body["status"] == "unknown",
        "{s} {body}"
    );
    let mut ws = try_connect(
        &format!("ws://{}/v1/ingest?session=sess-b", app.addr),
        Some(TOK_B),
    )
    .await
    .unwrap();
    send(
        &mut ws,
        &json!({"type": "cancel", "seq": 1, "order_id": "SEC-1"}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["results"][0]["status"], "unknown");
    // B's own "SEC-1" is another order; A's is untouched.
    let mut other = order("SEC-1", 2);
    other["buyer"]["name"] = json!("Kẻ Gian");
    send(&mut ws, &json!({"type": "order", "seq": 2, "order": other})).await;
    assert_eq!(recv(&mut ws).await["results"][0]["status"], "accepted");
    let (_, mine, _) = get("/v1/orders/SEC-1", TOK_A).await;
    assert_eq!(mine["status"], "received", "A's order not cancelled by B");
    assert_eq!(mine["order"]["buyer"]["name"], "Nguyễn Thị Lan");
    assert_eq!(mine["session"], "sess-a");

    // Packing-floor data is not the sellers': a seller's token is the wrong credential
    // there (401, naming what the route takes), whatever the site, one that exists or not
    // (a 404 for unknown ones would tell a seller which sites exist); strangers get 401 too.
    for site in [SITE, "no-such-site"] {
        for route in ["waves", "shipments", "audit"] {
            let (s, body, _) = get(&format!("/v1/sites/{site}/{route}"), TOK_A).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{site} {route}: {body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("station"),
                "{body}"
            );
        }
    }
    assert_eq!(
        get(&format!("/v1/sites/{COOP}/outlook"), TOK_A).await.0,
        StatusCode::NOT_FOUND
    );
    for auth in [
        None,
        Some("Bearer sk-nope-0000000000"),
        Some("Basic c2stYQ=="),
        Some(TOK_A),
    ] {
        let url = format!("{base}/v1/orders/SEC-1");
        let (s, body, _) = call(M::GET, url, auth.map(str::to_owned), &[], None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{auth:?}: {body}");
        assert!(body["error"]["code"].is_string());
    }
    let bad = try_connect(
        &format!("ws://{}/v1/ingest?session=x", app.addr),
        Some("sk-nope-000000"),
    )
    .await;
    assert!(bad.is_err(), "no socket for a wrong token");
    let path = format!("/v1/orders/SEC-1?seller={SELLER_A}");
    assert_eq!(
        get(&path, OPS).await.0,
        StatusCode::OK,
        "the operator reads everything"
    );
    app.stop().await;
}

/// Sign-in through a trusted proxy that forwards for `client`: (status, Retry-After, body).
async fn sign_in_from(
    base: &str,
    site: &str,
    pin: &str,
    client: &str,
) -> (StatusCode, Option<u64>, Value) {
    let (s, body, h) = call(
        reqwest::Method::POST,
        format!("{base}/v1/station/session"),
        None,
        &[("x-forwarded-for", client)],
        Some(json!({"site": site, "pin": pin})),
    )
    .await;
    let retry = h
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (s, retry, body)
}

async fn sign_in(base: &str, site: &str, pin: &str) -> (StatusCode, Option<String>, Value) {
    let (s, body, h) = call(
        reqwest::Method::POST,
        format!("{base}/v1/station/session"),
        None,
        &[],
        Some(json!({"site": site, "pin": pin})),
    )
    .await;
    let cookie = h.get("set-cookie").map(|c| c.to_str().unwrap().to_owned());
    (s, cookie, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn station_pins_are_hashed_throttled_per_client_and_sessions_expire_and_resist_csrf() {
    use reqwest::Method as M;
    let redis = TestRedis::start().await;
    let mut config = test_config(&redis.url(), &secure_toml());
    config.server.trusted_proxies = vec!["127.0.0.1/32".into()];
    let app = TestApp::spawn_with(config).await;
    let base = format!("http://{}", app.addr);

    // The argon2 PHC string in config works; the cookie is HttpOnly, Strict, ≤ 12 h.
    let (s, cookie, body) = sign_in(&base, SITE, PIN_HUB).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let cookie = cookie.expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let max_age: u64 = cookie
        .split("Max-Age=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(max_age <= 12 * 3600);
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("lp_station=")
        .to_owned();
    let mut c = redis.conn().await;
    let ttl: i64 = c.ttl(format!("lp:station:{token}")).await.unwrap();
    assert!(
        ttl > 0 && ttl <= 12 * 3600,
        "the session key expires: ttl {ttl}"
    );
    let jar = format!("lp_station={token}");
    let with = |extra: &'static [(&'static str, &'static str)]| {
        let mut h: Vec<(&str, &str)> = vec![("cookie", jar.as_str())];
        h.extend_from_slice(extra);
        h
    };
    let waves = |site: &str| format!("{base}/v1/sites/{site}/waves");
    assert_eq!(
        call(M::GET, waves(SITE), None, &with(&[]), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(M::GET, waves(COOP), None, &with(&[]), None).await.0,
        StatusCode::NOT_FOUND
    );

    // A cookie-authenticated write from another origin is refused; from ours it goes on.
    let packed = format!("{base}/v1/parcels/P-{SITE}-0101-1/packed");
    let evil = with(&[("origin", "https://evil.example")]);
    let (s, body, _) = call(M::POST, packed.clone(), None, &evil, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let ours = format!("http://{}", app.addr);
    let (s, _, _) = call(
        M::POST,
        packed.clone(),
        None,
        &[("cookie", &jar), ("origin", &ours)],
        None,
    )
    .await;
    assert_ne!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = call(
        M::POST,
        packed,
        None,
        &[("cookie", &jar), ("origin", "null")],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "an opaque origin is cross-site");

    // Sign-out from another site's page is refused (its cookie stays good), as is a sign-in.
    let (s, body, _) = call(
        M::DELETE,
        format!("{base}/v1/station/session"),
        None,
        &evil,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let (s, body, _) = call(
        M::POST,
        format!("{base}/v1/station/session"),
        None,
        &[("origin", "https://evil.example")],
        Some(json!({"site": SITE, "pin": PIN_HUB})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        call(M::GET, waves(SITE), None, &with(&[]), None).await.0,
        StatusCode::OK
    );

    // Sign-out ends the session, server side.
    let (s, _, h) = call(
        M::DELETE,
        format!("{base}/v1/station/session"),
        None,
        &with(&[]),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(h["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let gone: bool = c.exists(format!("lp:station:{token}")).await.unwrap();
    assert!(!gone);
    assert_eq!(
        call(M::GET, waves(SITE), None, &with(&[]), None).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Guessing is throttled per client (the forwarded address: 127.0.0.1 is a trusted
    // proxy here): five wrong PINs, then that client backs off — even its right PIN waits.
    let guesser = "203.0.113.9";
    for _ in 0..5 {
        assert_eq!(
            sign_in_from(&base, COOP, "00000000", guesser).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (s, retry_after, body) = sign_in_from(&base, COOP, PIN_COOP, guesser).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "too_many_attempts");
    assert!(
        retry_after.is_some_and(|s| (1..=900).contains(&s)),
        "{retry_after:?}"
    );
    // Meanwhile another tablet signs in with the right PIN at once, and its success does not
    // reset the guesser's count.
    let (s, _, body) = sign_in_from(&base, COOP, PIN_COOP, "198.51.100.4").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        sign_in_from(&base, COOP, "00000000", guesser).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let failures = metrics
        .lines()
        .find(|l| l.starts_with("livepack_station_pin_failures_total") && l.contains(COOP))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
    assert_eq!(failures, Some(5.0), "wrong PINs are counted");
    // Only the operator unlocks; then the guesser's right PIN works at once.
    let unlock = format!("{base}/v1/sites/{COOP}/pin-failures");
    let (s, _, _) = call(
        M::DELETE,
        unlock.clone(),
        Some(format!("Bearer {TOK_C}")),
        &[],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a seller cannot unlock");
    let (s, body, _) = call(M::DELETE, unlock, Some(format!("Bearer {OPS}")), &[], None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body["cleared"].as_u64().unwrap() >= 1, "{body}");
    assert_eq!(
        sign_in_from(&base, COOP, PIN_COOP, guesser).await.0,
        StatusCode::OK
    );
    assert_eq!(
        sign_in(&base, "no-such-site", "123456").await.0,
        StatusCode::UNAUTHORIZED
    );

    // Guessing in parallel gets no more than five tries either.
    let tries: Vec<_> = (0..40)
        .map(|n| {
            let base = base.clone();
            tokio::spawn(async move { sign_in(&base, SITE, &format!("{:08}", n)).await.0 })
        })
        .collect();
    let mut judged = 0;
    for t in tries {
        if t.await.unwrap() == StatusCode::UNAUTHORIZED {
            judged += 1;
        }
    }
    println!("{judged} of 40 parallel wrong guesses were judged, the rest refused (429)");
    assert!(
        judged <= 5,
        "{judged} of 40 parallel guesses were checked against the PIN"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_carrier_webhook_checks_its_secret_and_the_tablet_page_is_locked_down() {
    use reqwest::Method as M;
    let redis = TestRedis::start().await;
    let app = TestApp::spawn_with(test_config(&redis.url(), &secure_toml())).await;
    let hook = format!("http://{}/v1/carriers/viettel-post/webhook", app.addr);
    let data = json!({"ORDER_NUMBER": "VTP-1", "ORDER_STATUS": 501});
    for body in [
        json!({"DATA": data}),
        json!({"DATA": data, "TOKEN": "whsec-guess"}),
        json!({"DATA": data, "TOKEN": ""}),
    ] {
        let (s, b, _) = call(M::POST, hook.clone(), None, &[], Some(body)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    }
    let (s, b, _) = call(
        M::POST,
        hook.clone(),
        None,
        &[],
        Some(json!({"DATA": data, "TOKEN": HOOK})),
    )
    .await;
    assert_ne!(s, StatusCode::UNAUTHORIZED, "the right secret passes: {b}");
    assert!(s.is_success() || s.is_client_error(), "{s} {b}");
    let other = format!("http://{}/v1/carriers/nope/webhook", app.addr);
    assert_eq!(
        call(M::POST, other, None, &[], Some(json!({"TOKEN": HOOK})))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    for path in ["/tablet/", "/tablet/js/app.js"] {
        let r = reqwest::get(format!("http://{}{path}", app.addr))
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for d in [
            "default-src 'self'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ] {
            assert!(csp.contains(d), "{path}: CSP {csp}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_pins_and_secrets_never_reach_the_logs() {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, &redis.url(), "", &secure_toml());
    let log = dir.path().join("stderr.log");
    let mut svc = Service::start(&config, port, Some(&log), "debug");
    svc.ready(30).await;
    let base = svc.base();
    let wrong_pin = "86420975";
    let wrong_token = "sk-wrong-e41d7b09a3c6f258";
    let wrong_hook = "whsec-wrong-b7e2a90c4d13f865";

    assert_eq!(
        sign_in(&base, COOP, wrong_pin).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, cookie, _) = sign_in(&base, COOP, PIN_COOP).await;
    assert_eq!(s, StatusCode::OK);
    let session = cookie
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("lp_station=")
        .to_owned();
    assert_eq!(sign_in(&base, SITE, PIN_HUB).await.0, StatusCode::OK);
    let get = |path: &str, auth: Option<String>| {
        call(
            reqwest::Method::GET,
            format!("{base}{path}"),
            auth,
            &[],
            None,
        )
    };
    assert_eq!(
        get("/v1/orders/X-1", bearer(wrong_token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let bad_ws = try_connect(
        &format!("{}/v1/ingest?session=s", svc.ws()),
        Some(wrong_token),
    )
    .await;
    assert!(bad_ws.is_err());
    let report = push(
        &ClientConfig::new(svc.ws(), TOK_A, "logged"),
        vec![order("LOG-1", 1)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(report.accepted.len(), 1);
    assert_eq!(
        get("/v1/orders/LOG-1", bearer(TOK_A)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(&format!("/v1/orders/LOG-1?seller={SELLER_A}"), bearer(OPS))
            .await
            .0,
        StatusCode::OK
    );
    let hook = format!("{base}/v1/carriers/viettel-post/webhook");
    for t in [wrong_hook, HOOK] {
        let body = json!({"TOKEN": t, "DATA": {"ORDER_NUMBER": "VTP-9", "ORDER_STATUS": 501}});
        call(reqwest::Method::POST, hook.clone(), None, &[], Some(body)).await;
    }
    svc.terminate().await;

    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(stderr.contains("DEBUG"), "debug logging was on:\n{stderr}");
    let secrets = [
        TOK_A,
        TOK_B,
        TOK_C,
        OPS,
        PIN_HUB,
        PIN_COOP,
        HOOK,
        CARRIER_PW,
        wrong_pin,
        wrong_token,
        wrong_hook,
        session.as_str(),
    ];
    for s in secrets {
        assert!(!stderr.contains(s), "`{s}` found in the logs");
    }
    println!(
        "{} log lines at RUST_LOG=debug: none holds a token, PIN, secret or session id",
        stderr.lines().count()
    );
}
