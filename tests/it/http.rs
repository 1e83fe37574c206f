//! The HTTP API: health, read-backs, who may read what, error shapes, OpenAPI.

use crate::common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().get(app.http(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    assert!(
        resp.headers().contains_key("x-request-id"),
        "every response carries a request id"
    );
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_orders_sessions_and_permissions() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    assert_eq!(get(&app, "/healthz", None).await.0, StatusCode::OK);
    assert_eq!(get(&app, "/readyz", None).await.0, StatusCode::OK);

    let mut ws = connect(&app, TOKEN_A, "live-1").await;
    let mut o = order("TT-579230112345", 7);
    o["ship_to"]["province"] = json!("Hà Nam");
    o["buyer"]["phone"] = json!("+84 912 345 678");
    send(&mut ws, &json!({"type": "order", "seq": 1, "order": o})).await;
    assert_eq!(recv(&mut ws).await["results"][0]["status"], "accepted");

    let (s, body) = get(&app, "/v1/orders/TT-579230112345", Some(TOKEN_A)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["seller"], SELLER_A);
    assert_eq!(body["site"], SITE);
    assert_eq!(body["session"], "live-1");
    assert_eq!(body["status"], "received");
    assert_eq!(body["ship_to_normalized"]["province"], "Ninh Bình");
    assert_eq!(body["ship_to_normalized"]["region"], "north");
    assert_eq!(
        body["order"]["ship_to"]["province"], "Hà Nam",
        "the order as first accepted"
    );
    assert!(
        body["wave_id"].is_null() && body["parcel_id"].is_null() && body["shipment_id"].is_null()
    );
    assert!(body["deadline"].is_string() && body["received_at"].is_string());

    // Another seller's order is a 404, not a 403.
    let (s, body) = get(&app, "/v1/orders/TT-579230112345", Some(TOKEN_B)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    // The operator reads everything, naming the seller.
    let path = format!("/v1/orders/TT-579230112345?seller={SELLER_A}");
    assert_eq!(get(&app, &path, Some(OPERATOR)).await.0, StatusCode::OK);
    assert_eq!(
        get(&app, "/v1/orders/TT-579230112345", Some(OPERATOR))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    // No or wrong credentials: 401 with the error shape.
    let (s, body) = get(&app, "/v1/orders/TT-579230112345", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(
        get(&app, "/v1/orders/TT-1", Some("wrong-token-wrong-token"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    let (s, body) = get(&app, "/v1/sessions/live-1", Some(TOKEN_A)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (
            body["state"].as_str(),
            body["accepted"].as_u64(),
            body["rejected"].as_u64()
        ),
        (Some("live"), Some(1), Some(0))
    );
    assert_eq!(
        get(&app, "/v1/sessions/live-1", Some(TOKEN_B)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, "/v1/sessions/no-such", Some(TOKEN_A)).await.0,
        StatusCode::NOT_FOUND
    );

    let (s, body) = get(&app, "/no/such/route", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_describes_the_routes_and_metrics_are_served() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let (s, doc) = get(&app, "/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    for path in [
        "/healthz",
        "/readyz",
        "/v1/ingest",
        "/v1/orders/{order_id}",
        "/v1/sessions/{label}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "openapi lists {path}");
    }
    let mut ws = connect(&app, TOKEN_A, "metrics").await;
    send(
        &mut ws,
        &json!({"type": "order", "seq": 1, "order": order("M-1", 1)}),
    )
    .await;
    recv(&mut ws).await;
    let text = reqwest::get(app.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("livepack_orders_received_total"), "{text}");
    assert!(text.contains("livepack_ingest_reply_latency_seconds_bucket"));
    assert!(!text.contains("M-1"), "no order ids in metrics");
    app.stop().await;
}
