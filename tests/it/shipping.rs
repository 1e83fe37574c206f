//! Shipping end to end on real Redis and a local server speaking Viettel Post's wire
//! format: a shared hub with 3 sellers → waves → parcels → one shipment per pickup →
//! booking with failures and retries → webhooks → handed over; manifest and day report.

use crate::common;
use crate::fake_vtp;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use fake_vtp::FakeVtp;
use serde_json::Value;

const SELLERS: [(&str, &str); 3] = [
    ("mat-ong-tam-diep", "seller-one-token-0000000001"),
    ("tra-shan-tuyet", "seller-two-token-0000000002"),
    ("gao-st25-hoa-lu", "seller-three-token-000000003"),
];
const SECRET: &str = "vtp-webhook-secret-for-tests";

fn config(redis: &str, vtp: &str, book_before_minutes: u32, planner: bool) -> livepack::Config {
    let more = format!("retry_base_ms = 50\nbook_before_pickup_minutes = {book_before_minutes}");
    let carrier = vtp_carrier_toml(vtp, SECRET, &more);
    let extra = format!(
        "[planner]\nenabled = {planner}\n{carrier}{}",
        sellers_toml(&SELLERS)
    );
    test_config(redis, &extra)
}

async fn api(
    addr: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .request(method, format!("http://{addr}{path}"))
        .bearer_auth(OPERATOR);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn get_json(addr: &str, path: &str) -> Value {
    let (s, body) = api(addr, reqwest::Method::GET, path, None).await;
    assert_eq!(s, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// 2,500 orders of one seller, 10 % from repeat buyers, then end_session.
async fn ingest_seller(app: &TestApp, seller: usize) -> Vec<String> {
    let (_, token) = SELLERS[seller];
    let orders: Vec<Value> = (0..2500u64)
        .map(|i| {
            let buyer = seller as u64 * 1_000_000 + 10_000 + i + u64::from(i % 10 == 0);
            order(&format!("S{seller}-{i}"), buyer)
        })
        .collect();
    let ids = orders
        .iter()
        .map(|o| o["order_id"].as_str().unwrap().to_owned())
        .collect();
    push_session(app, token, "ocop-saturday", &orders, 250).await;
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_hub_consolidates_books_with_retries_and_hands_over() {
    let redis = TestRedis::start().await;
    let vtp = FakeVtp::start().await;
    // Plans and books only when asked (pickup lead 0).
    let app = TestApp::spawn_with(config(&redis.url(), &vtp.base_url(), 0, true)).await;
    let addr = app.addr.to_string();
    let mut all = Vec::new();
    for s in 0..3 {
        all.extend(ingest_seller(&app, s).await);
    }
    eventually(60, "all 7,500 orders waved", || {
        let a = addr.clone();
        async move {
            let mut n = 0;
            for (id, _) in SELLERS {
                n += get_json(&a, &format!("/v1/sessions/ocop-saturday?seller={id}")).await
                    ["waved"]
                    .as_u64()
                    .unwrap_or(0);
            }
            n == 7500
        }
    })
    .await;

    // One shipment per pickup (one carrier), holding every parcel of the three sellers.
    let shs = shipments_near(&addr, 3).await;
    assert!(!shs.is_empty());
    let pickups: BTreeSet<&str> = shs
        .iter()
        .map(|s| s["pickup_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        pickups.len(),
        shs.len(),
        "one shipment per pickup per carrier"
    );
    let orders: u64 = shs.iter().map(|s| s["order_count"].as_u64().unwrap()).sum();
    assert_eq!(orders, 7500);
    let mut parcel_ids = Vec::new();
    for s in &shs {
        assert_eq!(s["status"], "open");
        let ids: Vec<String> = s["parcel_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len() as u64, s["parcel_count"].as_u64().unwrap());
        let sellers: BTreeSet<&str> = s["cod_by_seller"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(sellers.len(), 3, "the hub's three sellers share the pickup");
        let cost: i64 = s["estimated_cost"].as_str().unwrap().parse().unwrap();
        let alone: i64 = s["unconsolidated_cost"].as_str().unwrap().parse().unwrap();
        assert!(cost < alone, "consolidation saves: {cost} < {alone}");
        parcel_ids.extend(ids);
    }
    assert!(
        parcel_ids.len() < 7500,
        "repeat buyers' orders share parcels"
    );
    let unique: BTreeSet<&String> = parcel_ids.iter().collect();
    assert_eq!(unique.len(), parcel_ids.len());

    // 5 % of parcels fail their first booking attempt (HTTP 500: retried; a carrier's
    // rejection would be final).
    let failing: Vec<&String> = parcel_ids.iter().step_by(20).collect();
    for p in &failing {
        vtp.fault_first(p, fake_vtp::Fault::ServerError, 1);
    }
    let mut failed = 0;
    for s in &shs {
        let id = s["shipment_id"].as_str().unwrap();
        let (status, body) = api(
            &addr,
            reqwest::Method::POST,
            &format!("/v1/shipments/{id}/book"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let r: Value = serde_json::from_str(&body).unwrap();
        failed += r["parcels"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["status"] != "booked")
            .count();
    }
    assert_eq!(
        failed,
        failing.len(),
        "one failure per failing parcel, the others booked"
    );

    // A second instance books on its own (pickup lead: always due) and retries with back-off.
    let booker = TestApp::spawn_with(config(&redis.url(), &vtp.base_url(), 100_000, true)).await;
    eventually(60, "every parcel booked", || {
        let a = addr.clone();
        async move {
            shipments_near(&a, 3)
                .await
                .iter()
                .all(|s| s["status"] == "booked")
        }
    })
    .await;
    let counts = vtp.created_counts();
    for p in &parcel_ids {
        assert_eq!(
            counts.get(p),
            Some(&1),
            "parcel {p} booked exactly once with the carrier"
        );
    }

    // Manifest: every parcel once, with its tracking code.
    let id = shs[0]["shipment_id"].as_str().unwrap();
    let (s, csv) = api(
        &addr,
        reqwest::Method::GET,
        &format!("/v1/shipments/{id}/manifest.csv"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let status_at = rows
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "status")
        .expect("a status column");
    let (_, sh_json) = api(
        &addr,
        reqwest::Method::GET,
        &format!("/v1/shipments/{id}"),
        None,
    )
    .await;
    let sh_json: Value = serde_json::from_str(&sh_json).unwrap();
    let mut listed = BTreeMap::new();
    for r in rows.records() {
        let r = r.unwrap();
        assert!(!r[1].is_empty(), "tracking code listed");
        assert!(r[4].contains('*'), "phone masked");
        // The status the API shows for the parcel (`open` while not packed, even if booked).
        let shown = sh_json["parcels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["parcel_id"] == r[0])
            .unwrap();
        assert_eq!(shown["status"], r[status_at], "{}", &r[0]);
        *listed.entry(r[0].to_owned()).or_insert(0) += 1;
    }
    let expected: BTreeSet<String> = shs[0]["parcel_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(listed.values().all(|n| *n == 1));

    // Carrier webhooks: picked up → handed_over; one delivered; a wrong secret changes nothing.
    let first = &parcel_ids[0];
    let bad = vtp.webhook_for(first, 501, "wrong-secret").unwrap();
    let (s, _) = api(
        &addr,
        reqwest::Method::POST,
        "/v1/carriers/viettel-post/webhook",
        Some(bad),
    )
    .await;
    assert_eq!(s, 401);
    // (every 10th parcel by webhook; the hand-over below moves the rest)
    for p in parcel_ids.iter().step_by(10) {
        let body = vtp.webhook_for(p, 105, SECRET).unwrap();
        let (s, r) = api(
            &addr,
            reqwest::Method::POST,
            "/v1/carriers/viettel-post/webhook",
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, 200, "{r}");
        assert!(r.contains("applied"), "{r}");
        if p == first {
            let (_, again) = api(
                &addr,
                reqwest::Method::POST,
                "/v1/carriers/viettel-post/webhook",
                Some(body),
            )
            .await;
            assert!(
                again.contains("unchanged"),
                "a repeated webhook changes nothing: {again}"
            );
        }
    }
    let delivered = vtp.webhook_for(first, 501, SECRET).unwrap();
    api(
        &addr,
        reqwest::Method::POST,
        "/v1/carriers/viettel-post/webhook",
        Some(delivered),
    )
    .await;
    let late = vtp.webhook_for(first, 105, SECRET).unwrap();
    api(
        &addr,
        reqwest::Method::POST,
        "/v1/carriers/viettel-post/webhook",
        Some(late),
    )
    .await;

    for s in &shs {
        let id = s["shipment_id"].as_str().unwrap();
        // Every label is scanned onto the truck before the driver leaves.
        assert!(scan_all_onto_truck(&addr, OPERATOR, id).await > 0);
        let (status, body) = api(
            &addr,
            reqwest::Method::POST,
            &format!("/v1/shipments/{id}/handed-over"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for (n, id) in all.iter().enumerate().step_by(50) {
        let seller = SELLERS[n / 2500].0;
        let o = get_json(&addr, &format!("/v1/orders/{id}?seller={seller}")).await;
        assert!(o["shipment_id"].is_string() && o["parcel_id"].is_string());
        *statuses
            .entry(o["status"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert!(
        statuses
            .keys()
            .all(|s| s == "handed_over" || s == "delivered"),
        "{statuses:?}"
    );
    assert!(shipments_near(&addr, 3)
        .await
        .iter()
        .all(|s| s["status"] == "handed_over"));

    // The day report adds the shipments up.
    let date = chrono::DateTime::parse_from_rfc3339(shs[0]["pickup_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono_tz::Asia::Ho_Chi_Minh)
        .format("%Y-%m-%d")
        .to_string();
    let report = get_json(&addr, &format!("/v1/sites/{SITE}/report?date={date}")).await;
    eprintln!("day report: {report}");
    for s in &shs {
        eprintln!(
            "shipment {}: {} orders in {} parcels, cost {} vs one box each {}",
            s["shipment_id"],
            s["order_count"],
            s["parcel_count"],
            s["estimated_cost"],
            s["unconsolidated_cost"]
        );
    }
    assert_eq!(report["cod_by_seller"].as_object().unwrap().len(), 3);
    assert!(report["savings"].as_str().unwrap().parse::<i64>().unwrap() > 0);
    booker.stop().await;
    app.stop().await;
}
