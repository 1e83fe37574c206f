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
    // No or wrong credentials: 401 with the error shape, naming the scheme it takes.
    let (s, body) = get(&app, "/v1/orders/TT-579230112345", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let resp = reqwest::get(app.http("/v1/orders/TT-1")).await.unwrap();
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer realm=\"livepack\""
    );
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

    // The contract's own example order (its COD is the items alone: the seller pays the
    // shipping fee) is accepted; an amount written "185.000" is refused, not read as 185.
    let mut example = order("TT-EXAMPLE-1", 8);
    example["items"] = json!([{ "sku": "HONEY-500", "name": "Mật ong rừng ngập mặn 500ml",
        "qty": 2, "unit_price": "185000", "weight_g": 650 }]);
    example["cod_amount"] = json!("370000");
    example["shipping_fee"] = json!("30000");
    send(
        &mut ws,
        &json!({"type": "order", "seq": 2, "order": example}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["results"][0]["status"], "accepted");
    let mut dotted = order("TT-DOTTED-1", 9);
    dotted["items"][0]["unit_price"] = json!("185.000");
    send(
        &mut ws,
        &json!({"type": "order", "seq": 3, "order": dotted}),
    )
    .await;
    let r = recv(&mut ws).await;
    assert_eq!(r["results"][0]["error"]["code"], "invalid_money", "{r}");
    assert_eq!(
        r["results"][0]["error"]["field"], "items[0].unit_price",
        "{r}"
    );

    // A cancel's body is optional, also an empty one sent with a JSON Content-Type.
    let resp = reqwest::Client::new()
        .post(app.http("/v1/orders/TT-EXAMPLE-1/cancel"))
        .bearer_auth(TOKEN_A)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "cancelled", "{body}");

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
        "/metrics",
        "/tablet/",
        "/openapi.json",
    ] {
        assert!(doc["paths"].get(path).is_some(), "openapi lists {path}");
    }
    // Every object the document describes says what it holds (its properties, or what its
    // map's values are); only a carrier's webhook body is free-form (three carriers' formats).
    let mut bare = Vec::new();
    bare_objects(&doc, "", &mut bare);
    bare.retain(|p| !p.starts_with("/paths/~1v1~1carriers~1{carrier_id}~1webhook/"));
    assert!(bare.is_empty(), "objects without a schema: {bare:?}");
    assert_eq!(
        doc["components"]["schemas"]["OrderView"]["properties"]["order"]["$ref"],
        "#/components/schemas/Order"
    );
    let mut ws = connect(&app, TOKEN_A, "metrics").await;
    send(
        &mut ws,
        &json!({"type": "order", "seq": 1, "order": order("M-1", 1)}),
    )
    .await;
    recv(&mut ws).await;
    let text = app.metrics_text().await;
    assert!(text.contains("livepack_orders_received_total"), "{text}");
    assert!(text.contains("livepack_ingest_reply_latency_seconds_bucket"));
    assert!(!text.contains("M-1"), "no order ids in metrics");
    app.stop().await;
}

/// JSON pointers (under `at`) of the object schemas in `v` with neither properties nor a
/// schema for their values, nor parts (`allOf`).
fn bare_objects(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            let props = ["properties", "additionalProperties", "allOf"];
            if m.get("type") == Some(&json!("object")) && !props.iter().any(|k| m.contains_key(*k))
            {
                out.push(at.to_owned());
            }
            for (k, x) in m {
                bare_objects(
                    x,
                    &format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(xs) => {
            for (i, x) in xs.iter().enumerate() {
                bare_objects(x, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// A POST with a raw body (`None`: no body) as `token` (`None`: no credentials).
async fn post_raw(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().post(app.http(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floor_endpoints_check_credentials_and_bodies_and_are_documented() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let (_, doc) = get(&app, "/openapi.json", None).await;
    for path in [
        "/v1/waves/{wave_id}/put-backs",
        "/v1/waves/{wave_id}/unpicks",
        "/v1/parcels/{parcel_id}/pulled",
        "/v1/parcels/{parcel_id}/unpacked",
        "/v1/sites/{site}/audit",
    ] {
        assert!(doc["paths"].get(path).is_some(), "openapi lists {path}");
    }
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        ("WaveView", "next_parcel_id"),
        ("WaveView", "put_backs"),
        ("WaveSummary", "started_at"),
        ("WaveSummary", "at_risk_count"),
        ("ParcelView", "prepaid"),
        ("ParcelView", "overdue"),
        ("PickLineView", "barcodes"),
        ("StationSession", "station"),
    ] {
        let s = &schemas[schema];
        let parts = s["allOf"].as_array().cloned().unwrap_or_default();
        assert!(
            s["properties"].get(field).is_some()
                || parts.iter().any(|p| p["properties"].get(field).is_some()),
            "{schema}.{field} documented: {s}"
        );
    }

    let wave = format!("/v1/waves/W-{SITE}-20261202-99");
    let parcel = format!("/v1/parcels/P-{SITE}-20261202-99");
    let put_backs = format!("{wave}/put-backs");
    let unpicks = format!("{wave}/unpicks");
    let pulled = format!("{parcel}/pulled");
    let unpacked = format!("{parcel}/unpacked");
    let packed = format!("{parcel}/packed");
    let ok_pb = r#"{"put_back_id":"pb-1","sku":"HONEY-500","qty":1}"#;
    let ok_un = r#"{"unpick_id":"un-1","sku":"HONEY-500","qty":1}"#;
    for (path, body) in [
        (&put_backs, Some(ok_pb)),
        (&unpicks, Some(ok_un)),
        (&pulled, None),
        (&unpacked, None),
    ] {
        let (s, e) = post_raw(&app, path, None, body).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(e["error"]["code"], "unauthorized");
        // A seller does not reach the floor: its token is the wrong kind of credential.
        assert_eq!(
            post_raw(&app, path, Some(TOKEN_A), body).await.0,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        // No such wave or parcel.
        let (s, e) = post_raw(&app, path, Some(OPERATOR), body).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{path}"
        );
    }
    // A seller's token is refused before its body is read: a malformed body is still a 401,
    // on every station route that takes one.
    let shipment = format!("/v1/shipments/S-{SITE}-20261202-1100-viettel-post-VCN");
    let station_bodies = [
        put_backs.clone(),
        unpicks.clone(),
        unpacked.clone(),
        packed.clone(),
        format!("{wave}/picks"),
        format!("{shipment}/scans"),
        format!("{shipment}/handed-over"),
    ];
    for path in &station_bodies {
        let (s, e) = post_raw(&app, path, Some(TOKEN_A), Some("{not json")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}: {e}");
    }
    let (s, e) = get(&app, &format!("/v1/sites/{SITE}/audit"), Some(OPERATOR)).await;
    assert_eq!((s, e["entries"].clone()), (StatusCode::OK, json!([])));
    assert_eq!(
        get(&app, &format!("/v1/sites/{SITE}/audit"), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&app, "/v1/sites/nowhere/audit", Some(OPERATOR)).await.0,
        StatusCode::NOT_FOUND
    );

    // A JSON array where an object belongs (serde would read a struct from its fields in
    // order): refused, on every route that takes a body.
    for path in station_bodies
        .iter()
        .chain([&"/v1/station/session".to_owned()])
    {
        let (s, e) = post_raw(&app, path, Some(OPERATOR), Some(r#"["x", "HONEY-500", 1]"#)).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body")),
            "{path}: {e}"
        );
    }
    let (s, e) = post_raw(&app, "/v1/orders/TT-1/cancel", Some(TOKEN_A), Some("[]")).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body")),
        "cancel: {e}"
    );

    // Bad bodies: a clear code naming the field, never a 500.
    for (path, body, code) in [
        (
            &put_backs,
            r#"{"put_back_id":"a b","sku":"X","qty":1}"#,
            "invalid_put_back_id",
        ),
        (
            &put_backs,
            r#"{"put_back_id":"pb-1","sku":"X","qty":0}"#,
            "invalid_qty",
        ),
        (
            &unpicks,
            r#"{"unpick_id":"","sku":"X","qty":1}"#,
            "invalid_unpick_id",
        ),
        (
            &unpicks,
            r#"{"unpick_id":"u-1","sku":"X","qty":1000}"#,
            "invalid_qty",
        ),
        (&unpacked, r#"{"unpack_id":"a/b"}"#, "invalid_unpack_id"),
        (&unpacked, r#"{"supervisor_pin": 123456"#, "invalid_body"),
        (&packed, r#"{"confirm_unpicked": "yes"}"#, "invalid_body"),
    ] {
        let (s, e) = post_raw(&app, path, Some(OPERATOR), Some(body)).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{path} {body}: {e}"
        );
    }
    let (s, e) = post_raw(
        &app,
        &put_backs,
        Some(OPERATOR),
        Some(r#"{"sku":"X","qty":1}"#),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_body")),
        "{e}"
    );
    app.stop().await;
}
