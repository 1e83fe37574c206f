//! Isolation (issue 16, contract §8): one party's bad requests never stop another party's
//! ingest. Malformed ids, including ones that name another kind of Redis key (a shipment id
//! with `:parcels` appended used to make HGETALL hit a set: a type error that tripped the
//! store's breaker for every writer), are hammered at every id route while another seller
//! pushes: that seller gets no nack.

use crate::common;

use common::*;
use serde_json::{json, Value};

const SITE: &str = "hoa-lu-hub";
const OPERATOR: &str = "demo-operator-token-change-me";
const SELLER_A: &str = "demo-seller-mat-ong-tam-diep-token";
const SELLER_B: &str = "demo-seller-tra-shan-tuyet-token";

async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(app.http(path))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Seller A's orders become waves, parcels and a shipment: real keys for the malformed ids
/// to collide with.
async fn seed(app: &TestApp) -> (String, String, String) {
    let mut ws = connect(app, SELLER_A, "iso-seed").await;
    let orders: Vec<Value> = (0..20).map(|i| order(&format!("ISO-{i}"), i)).collect();
    send(
        &mut ws,
        &json!({"type": "orders", "seq": 1, "orders": orders}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["type"], "ack");
    send(&mut ws, &json!({"type": "end_session", "seq": 2})).await;
    assert_eq!(recv(&mut ws).await["type"], "ack");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
    loop {
        tick.tick().await;
        let (_, o) = get_json(app, "/v1/orders/ISO-0?seller=mat-ong-tam-diep").await;
        if let (Some(w), Some(p), Some(s)) = (
            o["wave_id"].as_str(),
            o["parcel_id"].as_str(),
            o["shipment_id"].as_str(),
        ) {
            return (w.to_owned(), p.to_owned(), s.to_owned());
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for a shipment of the seeded orders: {o}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_ids_never_make_another_sellers_ingest_nack() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn_with(test_config(&redis.url(), "[planner]\nenabled = true\n")).await;
    let (wave, parcel, shipment) = seed(&app).await;

    // Ids that reach a Redis key of another type or shape, and plain garbage.
    let mut paths = Vec::new();
    for suffix in [
        ":parcels",
        ":plist",
        ":q",
        ":lock",
        ":x:y",
        "%00",
        "%2F..%2F..",
        "%E1%BA%A1",
    ] {
        paths.push(format!("/v1/shipments/{shipment}{suffix}"));
        paths.push(format!("/v1/shipments/{shipment}{suffix}/manifest.csv"));
        paths.push(format!("/v1/waves/{wave}{suffix}"));
        paths.push(format!("/v1/orders/ISO-1{suffix}?seller=mat-ong-tam-diep"));
        paths.push(format!("/v1/sites/{SITE}{suffix}/waves"));
        paths.push(format!("/v1/sites/{SITE}{suffix}/shipments"));
        paths.push(format!("/v1/sessions/iso-seed{suffix}"));
        paths.push(format!("/v1/parcels/{parcel}{suffix}/label.pdf"));
    }
    paths.push(format!("/v1/shipments/{}", "S".repeat(5000)));

    let hammer = {
        let paths = paths.clone();
        let base = app.http("");
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut statuses = Vec::new();
            for _ in 0..4 {
                for p in &paths {
                    let r = client
                        .get(format!("{base}{p}"))
                        .bearer_auth(OPERATOR)
                        .send()
                        .await
                        .unwrap();
                    statuses.push((p.clone(), r.status().as_u16()));
                }
            }
            statuses
        })
    };

    // Meanwhile seller B pushes 200 order frames, one order each.
    let mut ws = connect(&app, SELLER_B, "iso-push").await;
    let mut nacks = 0;
    for i in 0..200u64 {
        let o = order(&format!("ISO-B-{i}"), 1_000 + i);
        send(&mut ws, &json!({"type": "order", "seq": i, "order": o})).await;
        let reply = recv(&mut ws).await;
        match reply["type"].as_str() {
            Some("ack") => assert_eq!(reply["results"][0]["status"], "accepted", "{reply}"),
            Some("nack") => nacks += 1,
            _ => panic!("unexpected reply {reply}"),
        }
    }
    let statuses = hammer.await.unwrap();
    assert_eq!(
        nacks, 0,
        "another party's bad ids made seller B's frames nack"
    );
    let server_errors: Vec<_> = statuses.iter().filter(|(_, s)| *s >= 500).collect();
    assert!(
        server_errors.is_empty(),
        "malformed ids must be 4xx, got {server_errors:?}"
    );
    let (s, _) = get_json(&app, "/readyz").await;
    assert_eq!(s, 200);
    app.stop().await;
}

/// The ingest breaker (a frame whose Redis call failed holds the next ones back for 250 ms)
/// is the failing seller's alone: another seller's flood timing out never nacks this
/// seller's frames (contract §8; reviewer Y1 saw one nack per flood while it was per site).
#[tokio::test]
async fn one_sellers_redis_failure_trips_only_that_sellers_breaker() {
    let redis = TestRedis::start().await;
    let config = test_config(&redis.url(), "");
    let store = livepack::store::Store::connect(&config.redis, &redis.url())
        .await
        .unwrap();
    let timeout = livepack::store::StoreError::Timeout(std::time::Duration::from_millis(250));
    store.ingest_failed(SITE, "mat-ong-tam-diep", &timeout);
    assert!(store.ingest_failed_within(SITE, "mat-ong-tam-diep", 250));
    assert!(!store.ingest_failed_within(SITE, "tra-shan-tuyet", 250));
    assert!(!store.ingest_failed_within("kim-son-coop", "mat-ong-tam-diep", 250));
    // A reply error (a bad request) trips nothing.
    let reply = livepack::store::StoreError::Corrupt("bad".into());
    store.ingest_failed(SITE, "tra-shan-tuyet", &reply);
    assert!(!store.ingest_failed_within(SITE, "tra-shan-tuyet", 250));
}
