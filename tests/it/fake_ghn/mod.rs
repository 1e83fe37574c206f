//! A fake GHN API on 127.0.0.1 for tests (`mod fake_ghn;`).
//!
//! Speaks the wire format the adapter uses (see `src/shipping/carrier/ghn.rs`): headers
//! `Token` and `ShopId`; under `/shiip/public-api/v2`: `shipping-order/create` →
//! `{code: 200, message: "Success", data: {order_code, total_fee, …}}`, a known
//! `client_order_code` → HTTP 400 `{code: 400, message: "… đã tồn tại"}`;
//! `shipping-order/detail-by-client-code` → `data.order_code`; `shipping-order/fee` →
//! `data.total`; `switch-status/cancel` → `data: [{order_code, result, message}]`;
//! `a5/gen-token` → `data.token`; and the print page `GET /a5/public-api/printA5?token=` (HTML,
//! as GHN serves it). A wrong token or shop id answers HTTP 401 `{code: 401}`.
//!
//! Prices are per destination province ([`FakeGhn::set_price`]). Failures on demand
//! ([`Fault`]); every create call is recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::fake_carrier::{create, failed, fee_call, lock, Book, Fake};
pub use crate::fake_carrier::{Fault, Outcome};

pub const TOKEN: &str = "fake-ghn-token";
pub const SHOP_ID: &str = "885123";
pub const HANG: Duration = Duration::from_secs(5);
const API: &str = "/shiip/public-api/v2";

#[derive(Default)]
pub struct Inner {
    book: Book,
    print_tokens: HashMap<String, Vec<String>>,
    /// The refusal of a known `client_order_code` in other words than the default's
    /// (GHN's wording is not documented).
    duplicate_words: Option<String>,
}

type Shared = Arc<Mutex<Inner>>;

/// The fake GHN; its knobs and records are [`Fake`]'s.
pub struct FakeGhn(Fake<Inner>);

crate::fake_carrier::fake_deref!(FakeGhn, Inner);

impl FakeGhn {
    pub async fn start() -> FakeGhn {
        let routes = Router::new()
            .route(&format!("{API}/shipping-order/create"), post(create_order))
            .route(
                &format!("{API}/shipping-order/detail-by-client-code"),
                post(detail),
            )
            .route(&format!("{API}/shipping-order/fee"), post(fee))
            .route(&format!("{API}/switch-status/cancel"), post(cancel))
            .route(&format!("{API}/a5/gen-token"), post(gen_token))
            .route("/a5/public-api/printA5", get(print_page))
            .route("/a5/public-api/print80x80", get(print_page));
        FakeGhn(Fake::start(routes, "fake ghn").await)
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn client(&self) -> livepack::shipping::carrier::Ghn {
        livepack::shipping::carrier::Ghn::new(
            &self.base_url(),
            livepack::config::Secret::new(TOKEN),
            SHOP_ID,
        )
    }

    pub fn client_with(&self, token: &str, timeout: Duration) -> livepack::shipping::carrier::Ghn {
        livepack::shipping::carrier::Ghn::with_timeouts(
            &self.base_url(),
            livepack::config::Secret::new(token),
            SHOP_ID,
            timeout,
            timeout,
        )
    }

    /// From now on a known `client_order_code` is refused with `words` (HTTP 400, code 400).
    pub fn set_duplicate_words(&self, words: &str) {
        self.lock().duplicate_words = Some(words.to_owned());
    }

    /// A GHN `switch_status` webhook for the order of `reference`.
    pub fn webhook_for(
        &self,
        reference: &str,
        status: &str,
        total_fee: i64,
        transfer_date: Option<&str>,
        partial_return: bool,
    ) -> Option<Vec<u8>> {
        let s = self.lock();
        let (code, body) = s.orders.get(reference)?.first()?.clone();
        Some(webhook_body(
            &code,
            reference,
            status,
            body["cod_amount"].as_i64().unwrap_or(0),
            total_fee,
            transfer_date,
            partial_return,
        ))
    }
}

/// A GHN webhook body (`Type: switch_status`), dated now.
pub fn webhook_body(
    code: &str,
    reference: &str,
    status: &str,
    cod: i64,
    total_fee: i64,
    transfer_date: Option<&str>,
    partial_return: bool,
) -> Vec<u8> {
    json!({
        "CODAmount": cod,
        "CODTransferDate": transfer_date,
        "ClientOrderCode": reference,
        "ConvertedWeight": 1200,
        "Description": "Cập nhật trạng thái",
        "Fee": {"CODFailedFee": 0, "CODFee": 0, "Coupon": 0, "DeliverRemoteAreasFee": 0,
                "DocumentReturn": 0, "DoubleCheck": 0, "Insurance": 0, "MainService": total_fee,
                "PickRemoteAreasFee": 0, "R2S": 0, "Return": 0, "StationDO": 0, "StationPU": 0, "Total": 0},
        "Height": 10, "IsPartialReturn": partial_return, "Length": 20,
        "OrderCode": code, "PartialReturnCode": "", "PaymentType": 1, "Reason": "", "ReasonCode": "",
        "ShopID": SHOP_ID.parse::<i64>().unwrap_or(0), "Status": status,
        "Time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "TotalFee": total_fee, "Type": "switch_status", "Warehouse": "Bưu cục Hoa Lư", "Weight": 1200, "Width": 15
    })
    .to_string()
    .into_bytes()
}

fn reply(status: StatusCode, code: i64, message: &str, data: Value) -> Response {
    (
        status,
        Json(json!({"code": code, "message": message, "data": data})),
    )
        .into_response()
}

fn refuse(message: &str) -> Response {
    reply(StatusCode::BAD_REQUEST, 400, message, Value::Null)
}

fn ok(data: Value) -> Response {
    reply(StatusCode::OK, 200, "Success", data)
}

fn authorized(h: &HeaderMap) -> bool {
    h.get("Token").and_then(|v| v.to_str().ok()) == Some(TOKEN)
        && h.get("ShopId").and_then(|v| v.to_str().ok()) == Some(SHOP_ID)
}

fn unauthorized() -> Response {
    reply(
        StatusCode::UNAUTHORIZED,
        401,
        "Token is not valid",
        Value::Null,
    )
}

fn invalid(body: &Value) -> Option<String> {
    for key in [
        "client_order_code",
        "to_name",
        "to_phone",
        "to_address",
        "to_ward_name",
        "to_province_name",
    ] {
        if body[key].as_str().is_none_or(|s| s.trim().is_empty()) {
            return Some(format!("{key} là bắt buộc"));
        }
    }
    let w = body["weight"].as_i64().unwrap_or(0);
    if !(1..=50_000).contains(&w) {
        return Some("weight không hợp lệ (gram, tối đa 50000)".into());
    }
    if body["service_type_id"] != 2 || !matches!(body["payment_type_id"].as_i64(), Some(1 | 2)) {
        return Some("service_type_id/payment_type_id không hợp lệ".into());
    }
    if body["cod_amount"]
        .as_i64()
        .is_none_or(|c| !(0..=50_000_000).contains(&c))
    {
        return Some("cod_amount không hợp lệ".into());
    }
    if body["insurance_value"]
        .as_i64()
        .is_some_and(|v| v > 5_000_000)
    {
        return Some("insurance_value tối đa 5000000".into());
    }
    None
}

async fn create_order(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let body = body.map(|Json(b)| b).unwrap_or(Value::Null);
    let reference = body["client_order_code"].as_str().unwrap_or("").to_owned();
    let words = lock(&state).duplicate_words.clone();
    create(&state, reference, body, |s, reference, body| {
        decide(s, &headers, reference, body, words.as_deref())
    })
    .await
}

fn decide(
    s: &mut Book,
    headers: &HeaderMap,
    reference: &str,
    body: &Value,
    duplicate_words: Option<&str>,
) -> (Outcome, Response, Duration) {
    if !authorized(headers) {
        return (Outcome::AuthFailed, unauthorized(), Duration::ZERO);
    }
    let fault = s.take_fault(reference);
    let why = "Số điện thoại người nhận không hợp lệ (từ chối thử nghiệm)";
    if let Some((outcome, reply)) = failed(fault, why, refuse) {
        return (outcome, reply, Duration::ZERO);
    }
    if let Some(m) = invalid(body) {
        return (Outcome::Rejected(m.clone()), refuse(&m), Duration::ZERO);
    }
    if let Some((code, _)) = s.orders.get(reference).and_then(|o| o.first()).cloned() {
        let m = duplicate_words.map_or_else(
            || format!("Mã đơn hàng client_order_code {reference} đã tồn tại"),
            str::to_owned,
        );
        return (Outcome::Duplicate(code), refuse(&m), Duration::ZERO);
    }
    s.next += 1;
    let code = format!("GHN{:05}", s.next);
    let fee = s.price(
        body["to_province_name"].as_str().unwrap_or(""),
        body["weight"].as_i64().unwrap_or(0),
    );
    s.orders
        .entry(reference.to_owned())
        .or_default()
        .push((code.clone(), body.clone()));
    let data = json!({
        "order_code": code, "sort_code": "190-G-01-A8", "trans_type": "truck",
        "fee": {"main_service": fee, "insurance": 0, "station_do": 0, "station_pu": 0, "return": 0, "r2s": 0, "coupon": 0},
        "total_fee": fee.to_string(), "expected_delivery_time": "2026-12-04T16:00:00Z"
    });
    let wait = if fault == Some(Fault::Hang) {
        HANG
    } else {
        Duration::ZERO
    };
    (Outcome::Booked(code), ok(data), wait)
}

async fn detail(
    State(state): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let s = lock(&state);
    let reference = body["client_order_code"].as_str().unwrap_or("");
    match s.orders.get(reference).and_then(|o| o.first()) {
        Some((code, b)) => ok(json!({"order_code": code, "client_order_code": reference,
            "total_fee": s.price(b["to_province_name"].as_str().unwrap_or(""), b["weight"].as_i64().unwrap_or(0)),
            "status": "ready_to_pick"})),
        None => refuse("Không tìm thấy đơn hàng"),
    }
}

async fn fee(State(state): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    if let Err(failed) = fee_call(&state, "Tuyến giao không hỗ trợ", refuse, HANG).await {
        return failed;
    }
    let province = body["to_province_name"].as_str().unwrap_or("");
    let grams = body["weight"].as_i64().unwrap_or(0);
    if province.trim().is_empty() || grams <= 0 {
        return refuse("to_province_name/weight là bắt buộc");
    }
    let total = lock(&state).price(province, grams);
    ok(
        json!({"total": total, "service_fee": total, "insurance_fee": 0, "pick_station_fee": 0,
              "coupon_value": 0, "r2s_fee": 0, "document_return": 0, "double_check": 0, "cod_fee": 0}),
    )
}

async fn cancel(
    State(state): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let mut s = lock(&state);
    let mut rows = Vec::new();
    for code in body["order_codes"].as_array().cloned().unwrap_or_default() {
        let code = code.as_str().unwrap_or("").to_owned();
        let known = s.orders.values().flatten().any(|(c, _)| *c == code);
        let (result, message) = if !known {
            (false, "Không tìm thấy đơn hàng")
        } else if s.cancelled.contains(&code) {
            (false, "Đơn hàng đã hủy")
        } else if s.picked.contains(&code) {
            (false, "Đơn hàng đã lấy, không thể hủy")
        } else {
            s.cancelled.insert(code.clone());
            (true, "OK")
        };
        rows.push(json!({"order_code": code, "result": result, "message": message}));
    }
    ok(Value::Array(rows))
}

async fn gen_token(
    State(state): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let mut s = lock(&state);
    let codes: Vec<String> = body["order_codes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if codes.is_empty()
        || !codes
            .iter()
            .all(|c| s.orders.values().flatten().any(|(o, _)| o == c))
    {
        return refuse("Không tìm thấy đơn hàng");
    }
    let token = format!("print-{}", s.print_tokens.len() + 1);
    s.print_tokens.insert(token.clone(), codes);
    ok(json!({"token": token}))
}

async fn print_page(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let s = lock(&state);
    match q.get("token").and_then(|t| s.print_tokens.get(t)) {
        Some(codes) => (
            [("content-type", "text/html; charset=utf-8")],
            format!(
                "<html><body><h1>GHN</h1><p>{}</p></body></html>",
                codes.join(", ")
            ),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "token expired").into_response(),
    }
}
