//! Booking that survives the carrier (issue 15): one `POST /v1/shipments/{id}/book` against a
//! local server speaking Viettel Post's partner API with 5 % HTTP 500s and 3 % 12-second
//! stalls on createOrder, and every parcel ends with exactly one carrier order within 60 s,
//! retried in the background; a parcel the carrier rejects stays rejected, is not retried, and
//! is counted.

use crate::common;
use crate::fake_vtp;
use livepack::store::keys;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use fake_vtp::{FakeVtp, RandomFaults};
use redis::AsyncCommands;
use serde_json::{json, Value};

const SELLER: (&str, &str) = ("mat-ong-tam-diep", "seller-one-token-0000000001");

fn config(redis: &str, vtp: &str) -> livepack::Config {
    let carrier = vtp_carrier_toml(
        vtp,
        "vtp-webhook-secret-for-tests",
        "book_before_pickup_minutes = 0",
    );
    let extra = format!(
        "[planner]\nenabled = true\n{carrier}{}",
        sellers_toml(&[SELLER])
    );
    test_config(redis, &extra)
}

async fn api(addr: &str, method: reqwest::Method, path: &str) -> (u16, String) {
    let resp = reqwest::Client::new()
        .request(method, format!("http://{addr}{path}"))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn get_json(addr: &str, path: &str) -> Value {
    let (s, body) = api(addr, reqwest::Method::GET, path).await;
    assert_eq!(s, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// `n` orders of distinct buyers (one parcel each), then end_session.
async fn ingest(app: &TestApp, n: u64, edit: impl Fn(u64, &mut Value)) {
    let orders: Vec<Value> = (0..n)
        .map(|i| {
            let mut o = order(&format!("B-{i}"), 20_000 + i);
            edit(i, &mut o);
            o
        })
        .collect();
    push_session(app, SELLER.1, "booking-day", &orders, 50).await;
}

/// Waits until all `n` orders are in parcels of shipments; returns (shipment id, parcel ids)
/// of the shipments.
async fn planned(addr: &str, n: u64) -> Vec<(String, Vec<String>)> {
    planned_shipments(addr, n, 3)
        .await
        .iter()
        .map(|s| {
            (
                s["shipment_id"].as_str().unwrap().to_owned(),
                s["parcel_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

async fn parcel_field(redis: &TestRedis, parcel: &str, field: &str) -> Option<String> {
    let mut c = redis.conn().await;
    c.hget(keys::parcel(SITE, parcel), field).await.unwrap()
}

/// Waits up to `secs` until every one of `parcels` reads `book_state = booked`.
async fn every_parcel_booked(redis: &TestRedis, parcels: &[String], secs: u64, what: &str) {
    eventually(secs, what, || async {
        for p in parcels {
            if parcel_field(redis, p, "book_state").await.as_deref() != Some("booked") {
                return false;
            }
        }
        true
    })
    .await;
}

async fn metric(addr: &str, line_start: &str) -> f64 {
    let (_, text) = api(addr, reqwest::Method::GET, "/metrics").await;
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_books_every_parcel_once_through_500s_and_stalls() {
    let redis = TestRedis::start().await;
    let vtp = FakeVtp::start().await;
    let app = TestApp::spawn_with(config(&redis.url(), &vtp.base_url())).await;
    let addr = app.addr.to_string();
    ingest(&app, 200, |_, _| {}).await;
    let shs = planned(&addr, 200).await;
    let parcels: Vec<String> = shs.iter().flat_map(|(_, p)| p.clone()).collect();
    assert!(
        parcels.len() >= 150,
        "one parcel per buyer: {}",
        parcels.len()
    );

    vtp.set_random_faults(RandomFaults {
        server_error: 0.05,
        stall: 0.03,
        stall_for: Duration::from_secs(12),
        seed: 15,
    });
    let requested = tokio::time::Instant::now();
    for (id, _) in &shs {
        let (status, body) = api(
            &addr,
            reqwest::Method::POST,
            &format!("/v1/shipments/{id}/book"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let left = 60u64.saturating_sub(requested.elapsed().as_secs());
    eventually(
        left,
        "every parcel has a carrier order, within 60 s",
        || {
            let counts = vtp.created_counts();
            let all = parcels
                .iter()
                .all(|p| counts.get(p).is_some_and(|n| *n >= 1));
            async move { all }
        },
    )
    .await;
    eventually(
        60u64.saturating_sub(requested.elapsed().as_secs()),
        "every parcel recorded booked with the carrier's code, within 60 s",
        || {
            let (r, v, ps) = (&redis, &vtp, &parcels);
            async move {
                for p in ps {
                    let tracking = parcel_field(r, p, "tracking").await;
                    if tracking.is_none() || tracking != v.tracking_code(p) {
                        return false;
                    }
                }
                true
            }
        },
    )
    .await;

    // Exactly one carrier order per parcel, whatever the retries.
    let counts = vtp.created_counts();
    for p in &parcels {
        assert_eq!(counts.get(p), Some(&1), "parcel {p}: one carrier order");
        assert_eq!(
            parcel_field(&redis, p, "book_state").await.as_deref(),
            Some("booked")
        );
    }
    let calls = vtp.calls();
    let failed: BTreeSet<&str> = calls
        .iter()
        .filter(|c| {
            matches!(
                c.outcome,
                fake_vtp::Outcome::ServerError | fake_vtp::Outcome::Duplicate(_)
            )
        })
        .map(|c| c.reference.as_str())
        .collect();
    eprintln!(
        "{} createOrder calls for {} parcels; {} parcels needed a retry; booked after {:?}",
        calls.len(),
        parcels.len(),
        failed.len(),
        requested.elapsed()
    );
    assert!(!failed.is_empty(), "the fault mix did hit some parcels");
    eventually(30, "shipments booked", || {
        let a = addr.clone();
        async move {
            shipments_near(&a, 3)
                .await
                .iter()
                .all(|s| s["status"] == "booked")
        }
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_parcel_stays_rejected_with_the_carrier_s_reason_and_is_counted() {
    let redis = TestRedis::start().await;
    let vtp = FakeVtp::start().await;
    let app = TestApp::spawn_with(config(&redis.url(), &vtp.base_url())).await;
    let addr = app.addr.to_string();
    let counter =
        format!("livepack_booking_rejections_total{{site=\"{SITE}\",carrier=\"viettel-post\"}}");
    let before = metric(&addr, &counter).await;
    // Order 3 goes to a ward Viettel Post does not know; order 5's ward still has its
    // pre-2025 name (old three-level units); the others are ordinary.
    ingest(&app, 8, |i, o| {
        if i == 3 {
            o["ship_to"]["ward"] = json!("Phường Không Tồn Tại");
        }
        if i == 5 {
            o["ship_to"]["ward"] = json!("XÃ GIA VÂN");
        }
    })
    .await;
    let shs = planned(&addr, 8).await;
    let parcels: Vec<String> = shs.iter().flat_map(|(_, p)| p.clone()).collect();
    for (id, _) in &shs {
        let (status, body) = api(
            &addr,
            reqwest::Method::POST,
            &format!("/v1/shipments/{id}/book"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    eventually(60, "every parcel booked or rejected", || {
        let (r, ps) = (&redis, &parcels);
        async move {
            for p in ps {
                let s = parcel_field(r, p, "book_state").await;
                if !matches!(s.as_deref(), Some("booked" | "rejected")) {
                    return false;
                }
            }
            true
        }
    })
    .await;
    let mut rejected = Vec::new();
    for p in &parcels {
        if parcel_field(&redis, p, "book_state").await.as_deref() == Some("rejected") {
            rejected.push(p.clone());
        }
    }
    assert_eq!(
        rejected.len(),
        1,
        "only the unknown ward is rejected: {rejected:?}"
    );
    let bad = &rejected[0];
    let reason = parcel_field(&redis, bad, "book_error")
        .await
        .unwrap_or_default();
    assert!(
        reason.contains("Phường/Xã người nhận không hợp lệ"),
        "the carrier's reason is kept: {reason}"
    );
    assert_eq!(vtp.created_count(bad), 0);
    // The seller sees it on the order (a black-box review found nothing seller-facing said
    // so): at risk, with the carrier's reason.
    let (s, o) = TestClient::new(&addr, SELLER.1)
        .get_json("/v1/orders/B-3")
        .await;
    assert_eq!(s, 200, "{o}");
    assert_eq!(o["parcel_id"].as_str(), Some(bad.as_str()), "{o}");
    assert_eq!(o["at_risk"], true, "{o}");
    let problem = o["shipping_problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains("rejected") && problem.contains("Phường/Xã người nhận không hợp lệ"),
        "{o}"
    );
    let (_, fine) = TestClient::new(&addr, SELLER.1)
        .get_json("/v1/orders/B-0")
        .await;
    assert_eq!(fine["shipping_problem"], Value::Null, "{fine}");
    // The old-unit ward was resolved through the three-level lists and booked.
    let old_unit = parcels
        .iter()
        .find(|p| {
            vtp.order_body(p)
                .is_some_and(|b| b["RECEIVER_WARD"] == 4001 && b["RECEIVER_DISTRICT"] == 400)
        })
        .cloned();
    assert!(old_unit.is_some(), "XÃ GIA VÂN booked with its old ids");
    let first = vtp.order_body(&parcels[0]).unwrap();
    assert_eq!(first["RECEIVER_PROVINCE"], 27);
    assert_eq!(first["RECEIVER_WARD"], 27001);
    assert_eq!(first["RECEIVER_DISTRICT"], 0);

    // Asking again does not retry it: rejection is final.
    for (id, _) in &shs {
        let (_, body) = api(
            &addr,
            reqwest::Method::POST,
            &format!("/v1/shipments/{id}/book"),
        )
        .await;
        let r: Value = serde_json::from_str(&body).unwrap();
        let row = r["parcels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["parcel_id"] == bad.as_str())
            .cloned();
        if let Some(row) = row {
            assert_eq!(row["status"], "rejected", "{row}");
            assert!(row["error"].as_str().unwrap().contains("không hợp lệ"));
        }
    }
    // Off the queue, so the background booker never takes it again; the second request
    // above answered from the stored rejection without calling the carrier.
    assert_eq!(vtp.calls_for(bad).len(), 1, "the carrier saw one attempt");
    let mut c = redis.conn().await;
    let queued: Option<f64> = c.zscore(keys::booking_queue(SITE), bad).await.unwrap();
    assert!(
        queued.is_none(),
        "a rejected parcel leaves the booking queue"
    );
    let after = metric(&addr, &counter).await;
    assert_eq!(after - before, 1.0, "the rejection is counted");
    // Quotes: each booked parcel carries the carrier's fee quote beside our estimate.
    let q = parcel_field(&redis, &parcels[0], "quote").await;
    assert!(q.is_some_and(|q| q.parse::<i64>().unwrap() > 0));
    let sh = get_json(&addr, &format!("/v1/shipments/{}", shs[0].0)).await;
    assert!(sh["quoted_cost"].as_str().is_some(), "{sh}");

    // The truck does not take it: its scan says to set it aside, it is not missing, and
    // the hand-over neither waits for it nor hands it over.
    let (bad_sh, _) = shs.iter().find(|(_, ps)| ps.contains(bad)).unwrap();
    let app_client = app.client(OPERATOR);
    let (s, r) = app_client
        .post_json(
            &format!("/v1/shipments/{bad_sh}/scans"),
            json!({ "code": bad }),
        )
        .await;
    assert_eq!((s, r["result"].as_str()), (200, Some("pull")), "{r}");
    let sh = get_json(&addr, &format!("/v1/shipments/{bad_sh}")).await;
    let missing: Vec<&str> = sh["missing"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(!missing.contains(&bad.as_str()), "{sh}");
    for p in &missing {
        let (s, r) = app_client
            .post_json(
                &format!("/v1/shipments/{bad_sh}/scans"),
                json!({ "code": p }),
            )
            .await;
        assert_eq!((s, r["result"].as_str()), (200, Some("loaded")), "{r}");
    }
    let (s, r) = app_client
        .post_json(&format!("/v1/shipments/{bad_sh}/handed-over"), json!({}))
        .await;
    assert_eq!(s, 200, "{r}");
    let sh = get_json(&addr, &format!("/v1/shipments/{bad_sh}")).await;
    let row = sh["parcels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["parcel_id"] == bad.as_str())
        .cloned()
        .unwrap();
    assert_ne!(row["status"], "handed_over", "{row}");
    assert_eq!(row["booking"]["state"], "rejected", "{row}");
    // Nor is it in what the carrier collects: the shipment's ids and counts, the driver's
    // manifest, the labels (its own label is refused, saying why).
    let has = |list: &Value| list.as_array().unwrap().iter().any(|p| p == bad.as_str());
    assert!(!has(&sh["parcel_ids"]), "{sh}");
    assert!(has(&sh["parcels_held_back"]), "{sh}");
    assert_eq!(
        sh["parcel_count"].as_u64().unwrap() as usize,
        sh["parcel_ids"].as_array().unwrap().len(),
        "{sh}"
    );
    let (s, manifest) = api(
        &addr,
        reqwest::Method::GET,
        &format!("/v1/shipments/{bad_sh}/manifest.csv"),
    )
    .await;
    assert_eq!(s, 200, "{manifest}");
    assert!(!manifest.contains(bad.as_str()), "{manifest}");
    let (s, body) = api(
        &addr,
        reqwest::Method::GET,
        &format!("/v1/parcels/{bad}/label.pdf"),
    )
    .await;
    assert_eq!(s, 409, "{body}");
    assert!(body.contains("rejected"), "{body}");
    // A status event naming it is not one the carrier could send for an order it has: it
    // is no parcel of ours booked with that carrier (reviewer M: it answered `unchanged`).
    let event = json!({"TOKEN": "vtp-webhook-secret-for-tests", "DATA": {
        "ORDER_NUMBER": "1799999999", "ORDER_REFERENCE": bad, "ORDER_STATUS": 501,
        "MONEY_COLLECTION": 200000, "MONEY_TOTAL": 30000}});
    let (s, r) = app_client
        .post_json("/v1/carriers/viettel-post/webhook", event)
        .await;
    assert_eq!(
        (s, r["result"].as_str()),
        (200, Some("unknown_parcel")),
        "{r}"
    );
    app.stop().await;
}

/// The request is durable: parcels still failing when the instance stops are booked by the
/// next instance from the queue in Redis, without a new request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_request_survives_a_restart() {
    let redis = TestRedis::start().await;
    let vtp = FakeVtp::start().await;
    let app = TestApp::spawn_with(config(&redis.url(), &vtp.base_url())).await;
    let addr = app.addr.to_string();
    ingest(&app, 6, |_, _| {}).await;
    let shs = planned(&addr, 6).await;
    let parcels: Vec<String> = shs.iter().flat_map(|(_, p)| p.clone()).collect();
    // Every createOrder fails for a while (HTTP 500).
    for p in &parcels {
        vtp.fault_first(p, fake_vtp::Fault::ServerError, 3);
    }
    for (id, _) in &shs {
        let (status, body) = api(
            &addr,
            reqwest::Method::POST,
            &format!("/v1/shipments/{id}/book"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"retrying\""), "{body}");
    }
    for p in &parcels {
        assert_eq!(
            parcel_field(&redis, p, "book_state").await.as_deref(),
            Some("retrying")
        );
        assert!(parcel_field(&redis, p, "next_try_ms").await.is_some());
    }
    app.stop().await;

    // A new instance, planner off, no request: its booker finds the queue and finishes.
    let mut cfg = config(&redis.url(), &vtp.base_url());
    cfg.planner.enabled = false;
    let again = TestApp::spawn_with(cfg).await;
    every_parcel_booked(&redis, &parcels, 60, "the next instance books every parcel").await;
    let counts = vtp.created_counts();
    for p in &parcels {
        assert_eq!(counts.get(p), Some(&1), "{p} booked once");
        let attempts: u64 = parcel_field(&redis, p, "book_attempts")
            .await
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            attempts >= 4,
            "{p}: {attempts} attempts: 3 failed, then the one that booked"
        );
    }
    // Booked in the background, not by a request: the shipments read `booked` all the same.
    let addr = again.addr.to_string();
    for (id, _) in &shs {
        let sh = get_json(&addr, &format!("/v1/shipments/{id}")).await;
        assert_eq!(sh["status"], "booked", "{sh}");
    }
    again.stop().await;
}

/// A parcel's booking lock is released only by its holder: one that expired under a slow
/// holder and was taken by another stays the other's when the first lets go.
#[tokio::test]
async fn a_parcel_lock_is_released_only_by_its_holder() {
    let redis = TestRedis::start().await;
    let cfg = livepack::Config::from_toml("").unwrap();
    let store = livepack::store::Store::connect(&cfg.redis, &redis.url())
        .await
        .unwrap();
    let first = store.lock_parcel(SITE, "P-x", 60_000).await.unwrap();
    let first = first.expect("taken");
    assert!(store
        .lock_parcel(SITE, "P-x", 60_000)
        .await
        .unwrap()
        .is_none());
    // Another's token (a holder whose lock expired and was taken again) releases nothing.
    store
        .unlock_parcel(SITE, "P-x", "not-the-holder")
        .await
        .unwrap();
    assert!(store.booking_in_flight(SITE, "P-x").await.unwrap());
    store.unlock_parcel(SITE, "P-x", &first).await.unwrap();
    assert!(!store.booking_in_flight(SITE, "P-x").await.unwrap());
    assert!(store
        .lock_parcel(SITE, "P-x", 60_000)
        .await
        .unwrap()
        .is_some());
}

/// 48 orders planned into shipments, with a carrier whose every createOrder answers after
/// `stall`.
struct Slow {
    redis: TestRedis,
    vtp: FakeVtp,
    app: TestApp,
    /// (shipment id, its parcels)
    shs: Vec<(String, Vec<String>)>,
    parcels: Vec<String>,
}

async fn slow_carrier_48(stall: Duration) -> Slow {
    let redis = TestRedis::start().await;
    let vtp = FakeVtp::start().await;
    let app = TestApp::spawn_with(config(&redis.url(), &vtp.base_url())).await;
    ingest(&app, 48, |_, _| {}).await;
    let shs = planned(&app.addr.to_string(), 48).await;
    let parcels: Vec<String> = shs.iter().flat_map(|(_, p)| p.clone()).collect();
    vtp.set_random_faults(RandomFaults {
        server_error: 0.0,
        stall: 1.0,
        stall_for: stall,
        seed: 7,
    });
    Slow {
        redis,
        vtp,
        app,
        shs,
        parcels,
    }
}

/// A booking request whose caller goes away (a tablet's 10 s timeout on a shipment of
/// thousands of parcels) still books every parcel at once: its pass does not stop with the
/// request, leaving the parcels it had not reached leased to it for minutes (reviewer Y2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_request_cut_off_by_its_caller_still_books_every_parcel() {
    // Every createOrder answers after 400 ms: a pass over 48 parcels, 8 at a time, takes
    // about 2.4 s; the caller gives up after 500 ms.
    let Slow {
        redis,
        vtp,
        app,
        shs,
        parcels,
    } = slow_carrier_48(Duration::from_millis(400)).await;
    let addr = app.addr.to_string();
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    for (id, _) in &shs {
        let r = impatient
            .post(format!("http://{addr}/v1/shipments/{id}/book"))
            .bearer_auth(OPERATOR)
            .send()
            .await;
        assert!(r.is_err(), "the caller gave up before the pass ended");
    }
    // The lease of a cut-off pass lasts over a minute (the attempt time limit per round of
    // 8): well inside it, every parcel is booked.
    every_parcel_booked(
        &redis,
        &parcels,
        20,
        "every parcel booked after the caller left",
    )
    .await;
    let counts = vtp.created_counts();
    for p in &parcels {
        assert_eq!(counts.get(p), Some(&1), "{p} booked once");
    }
    app.stop().await;
}

/// A graceful shutdown in the middle of a manual booking pass answers the request 503
/// `shutting_down` (book again), not 200 with an empty list of parcels (code review F5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_pass_stopped_by_shutdown_says_so() {
    // Every createOrder answers after 2 s: the pass (6 rounds of 8) outlasts the shutdown.
    let Slow {
        redis,
        vtp: _vtp, // (kept: the carrier answers until the end)
        app,
        shs,
        parcels,
    } = slow_carrier_48(Duration::from_secs(2)).await;
    let addr = app.addr.to_string();
    let (id, _) = shs.iter().max_by_key(|(_, p)| p.len()).unwrap().clone();
    let request = tokio::spawn({
        let addr = addr.clone();
        async move {
            let r = reqwest::Client::new()
                .post(format!("http://{addr}/v1/shipments/{id}/book"))
                .bearer_auth(OPERATOR)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    });
    eventually(30, "a create call sent", || async {
        for p in &parcels {
            if parcel_field(&redis, p, "book_sent").await.is_some() {
                return true;
            }
        }
        false
    })
    .await;
    app.stop().await;
    let (status, body) = request.await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "shutting_down", "{body}");
}

/// A shipment's status follows its parcels: booked once every parcel for the truck has its
/// tracking code, open again when its last ones are cancelled (it read `booked` with nothing
/// left to ship).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipment_whose_parcels_are_all_cancelled_is_not_booked() {
    let redis = TestRedis::start().await;
    let vtp = FakeVtp::start().await;
    let app = TestApp::spawn_with(config(&redis.url(), &vtp.base_url())).await;
    let addr = app.addr.to_string();
    ingest(&app, 2, |_, _| {}).await;
    let shs = planned(&addr, 2).await;
    for (id, _) in &shs {
        let (s, body) = api(
            &addr,
            reqwest::Method::POST,
            &format!("/v1/shipments/{id}/book"),
        )
        .await;
        assert_eq!(s, 200, "{body}");
    }
    for (id, _) in &shs {
        let path = format!("/v1/shipments/{id}");
        eventually(60, "booked", || {
            let (a, path) = (&addr, &path);
            async move { get_json(a, path).await["status"] == "booked" }
        })
        .await;
    }
    for i in 0..2 {
        let (s, r) = app
            .client(SELLER.1)
            .post_json(&format!("/v1/orders/B-{i}/cancel"), json!({}))
            .await;
        assert_eq!((s, r["status"].as_str()), (200, Some("cancelled")), "{r}");
    }
    for (id, _) in &shs {
        let path = format!("/v1/shipments/{id}");
        eventually(60, "nothing left to ship", || {
            let (a, path) = (&addr, &path);
            async move {
                let sh = get_json(a, path).await;
                sh["parcels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|p| p["status"] == "cancelled")
            }
        })
        .await;
        let sh = get_json(&addr, &path).await;
        assert_eq!(sh["status"], "open", "{sh}");
    }
    app.stop().await;
}
