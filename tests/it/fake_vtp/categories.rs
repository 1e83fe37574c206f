//! The fake's category endpoints (no token), the long-lived token exchange and the fee
//! quote, as Viettel Post documents them:
//! - `GET /v3/categories/listProvinceNew` → `data:[{PROVINCE_ID, PROVINCE_CODE, PROVINCE_NAME}]`
//! - `GET /v3/categories/listWardsNew?provinceId=N` (`-1`: all) → `data:[{WARDS_ID,
//!   WARDS_NAME, DISTRICT_ID}]` (district 0: the post-2025 two-level units)
//! - `GET /v2/categories/listProvince`, `listDistrict?provinceId=N`, `listWards?districtId=N`
//!   (the old three-level units)
//! - `POST /v2/user/ownerconnect` {USERNAME, PASSWORD} with the temporary `Token` from
//!   `/v2/user/Login` → the long-lived token (the only one createOrder/getPrice accept)
//! - `POST /v2/order/getPrice` → `data:{MONEY_TOTAL, MONEY_TOTAL_FEE, MONEY_FEE_VAT, …}`
//!
//! Names come in CAPITALS with their type word, as the real lists do. Failures on demand:
//! [`CategoryFault`]. createOrder refuses an unknown or mismatched province/district/ward id
//! with an error envelope (HTTP 200, `error: true`).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{body_of, envelope_error, fee, lock, token_of, Shared, PASSWORD, USERNAME};

/// New provinces: (id, code, name).
pub const PROVINCES_NEW: [(i64, &str, &str); 4] = [
    (1, "HNI", "THÀNH PHỐ HÀ NỘI"),
    (15, "HPG", "THÀNH PHỐ HẢI PHÒNG"),
    (2, "HCM", "THÀNH PHỐ HỒ CHÍ MINH"),
    (27, "NBH", "TỈNH NINH BÌNH"),
];
/// New wards: (id, province id, name).
pub const WARDS_NEW: [(i64, i64, &str); 9] = [
    (15001, 15, "XÃ THANH HẢI"),
    (27004, 27, "PHƯỜNG LÊ HỒNG PHONG"),
    (1001, 1, "PHƯỜNG HOÀN KIẾM"),
    (1002, 1, "PHƯỜNG BA ĐÌNH"),
    (2001, 2, "PHƯỜNG SÀI GÒN"),
    (2002, 2, "PHƯỜNG BẾN THÀNH"),
    (27001, 27, "PHƯỜNG HOA LƯ"),
    (27002, 27, "PHƯỜNG TAM ĐIỆP"),
    (27003, 27, "XÃ GIA VIỄN"),
];
/// Old provinces: (id, code, name).
pub const PROVINCES_OLD: [(i64, &str, &str); 3] = [
    (31, "HNI", "Hà Nội"),
    (40, "NBH", "Ninh Bình"),
    (41, "HNM", "Hà Nam"),
];
/// Old districts: (id, province id, name).
pub const DISTRICTS_OLD: [(i64, i64, &str); 3] = [
    (400, 40, "HUYỆN GIA VIỄN"),
    (401, 40, "THÀNH PHỐ NINH BÌNH"),
    (410, 41, "THÀNH PHỐ PHỦ LÝ"),
];
/// Old wards: (id, district id, name).
pub const WARDS_OLD: [(i64, i64, &str); 4] = [
    (4001, 400, "XÃ GIA VÂN"),
    (4002, 400, "THỊ TRẤN ME"),
    (4011, 401, "PHƯỜNG ĐÔNG THÀNH"),
    (4101, 410, "PHƯỜNG LƯƠNG KHÁNH THIỆN"),
];

/// One injected failure of a category call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CategoryFault {
    /// HTTP 500.
    ServerError,
    /// HTTP 200 `{status: 500, error: true, message}`: the envelope says it failed.
    ErrorEnvelope,
}

fn ok(data: Value) -> Response {
    Json(json!({"status": 200, "error": false, "message": "OK", "data": data})).into_response()
}

/// Counts the call and answers an injected fault, if one is queued.
fn category_call(state: &Shared) -> Option<Response> {
    let mut s = lock(state);
    s.category_calls += 1;
    match s.category_faults.pop_front()? {
        CategoryFault::ServerError => {
            Some((StatusCode::INTERNAL_SERVER_ERROR, "upstream error").into_response())
        }
        CategoryFault::ErrorEnvelope => {
            Some(Json(envelope_error(500, "Hệ thống đang bận, vui lòng thử lại")).into_response())
        }
    }
}

fn arg(q: &HashMap<String, String>, name: &str) -> i64 {
    q.get(name).and_then(|v| v.parse().ok()).unwrap_or(-1)
}

/// A province list, as both category versions answer it.
fn provinces(state: &Shared, list: &[(i64, &str, &str)]) -> Response {
    if let Some(r) = category_call(state) {
        return r;
    }
    ok(list
        .iter()
        .map(|(id, code, name)| json!({"PROVINCE_ID": id, "PROVINCE_CODE": code, "PROVINCE_NAME": name}))
        .collect())
}

pub async fn provinces_new(State(state): State<Shared>) -> Response {
    provinces(&state, &PROVINCES_NEW)
}

/// The rows of `list` under parent `parent` (all when the query has no `param`), each as
/// `row` makes it.
fn children(
    state: &Shared,
    q: &HashMap<String, String>,
    param: &str,
    list: &[(i64, i64, &str)],
    row: fn(i64, i64, &str) -> Value,
) -> Response {
    if let Some(r) = category_call(state) {
        return r;
    }
    let p = arg(q, param);
    ok(list
        .iter()
        .filter(|(_, parent, _)| p == -1 || *parent == p)
        .map(|&(id, parent, name)| row(id, parent, name))
        .collect())
}

pub async fn wards_new(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    children(
        &state,
        &q,
        "provinceId",
        &WARDS_NEW,
        |id, _, name| json!({"WARDS_ID": id, "WARDS_NAME": name, "DISTRICT_ID": 0}),
    )
}

pub async fn provinces_old(State(state): State<Shared>) -> Response {
    provinces(&state, &PROVINCES_OLD)
}

pub async fn districts_old(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    children(
        &state,
        &q,
        "provinceId",
        &DISTRICTS_OLD,
        |id, prov, name| json!({"DISTRICT_ID": id, "DISTRICT_VALUE": id.to_string(), "DISTRICT_NAME": name, "PROVINCE_ID": prov}),
    )
}

pub async fn wards_old(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    children(
        &state,
        &q,
        "districtId",
        &WARDS_OLD,
        |id, dist, name| json!({"WARDS_ID": id, "WARDS_NAME": name, "DISTRICT_ID": dist}),
    )
}

/// Why `{who}_PROVINCE/_DISTRICT/_WARD` do not name one known address, if they don't.
pub fn address_problem(body: &Value, who: &str) -> Option<String> {
    let id = |k: &str| body[format!("{who}_{k}")].as_i64().unwrap_or(0);
    let (p, d, w) = (id("PROVINCE"), id("DISTRICT"), id("WARD"));
    let new_ok = d == 0
        && WARDS_NEW
            .iter()
            .any(|(wid, prov, _)| *wid == w && *prov == p);
    let old_ok = DISTRICTS_OLD
        .iter()
        .any(|(did, prov, _)| *did == d && *prov == p)
        && WARDS_OLD
            .iter()
            .any(|(wid, dist, _)| *wid == w && *dist == d);
    if new_ok || old_ok {
        return None;
    }
    let whose = if who == "SENDER" {
        "người gửi"
    } else {
        "người nhận"
    };
    Some(format!(
        "Phường/Xã {whose} không hợp lệ ({who}_PROVINCE={p}, {who}_DISTRICT={d}, {who}_WARD={w})"
    ))
}

pub async fn owner_connect(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Json<Value> {
    let body = body_of(body);
    let token = token_of(&headers);
    let mut s = lock(&state);
    if !s.temp_tokens.contains(token) {
        return Json(envelope_error(401, "Token invalid"));
    }
    if body["USERNAME"] != USERNAME || body["PASSWORD"] != PASSWORD {
        return Json(envelope_error(205, "Sai tên đăng nhập hoặc mật khẩu"));
    }
    s.temp_tokens.remove(token);
    s.tokens_issued += 1;
    let long = format!("fake-vtp-token-{}", s.tokens_issued);
    s.valid_tokens.insert(long.clone());
    Json(json!({
        "status": 200, "error": false, "message": "OK",
        "data": {"userId": 1, "token": long, "partner": 0, "phone": "0229000000",
                 "expired": 4_102_444_800_000_i64, "source": 0}
    }))
}

pub async fn get_price(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let body = body_of(body);
    let token = token_of(&headers);
    let mut s = lock(&state);
    s.quote_calls += 1;
    if !s.valid_tokens.contains(token) {
        return Json(envelope_error(401, "Token invalid")).into_response();
    }
    for who in ["SENDER", "RECEIVER"] {
        if body[format!("{who}_PROVINCE")].as_i64().unwrap_or(0) == 0 {
            return Json(envelope_error(400, &format!("Thiếu {who}_PROVINCE"))).into_response();
        }
    }
    if body["PRODUCT_WEIGHT"].as_i64().unwrap_or(0) <= 0 {
        return Json(envelope_error(400, "PRODUCT_WEIGHT phải lớn hơn 0")).into_response();
    }
    let (main, cod_fee) = fee(&body);
    let vat = (main + cod_fee) / 10;
    ok(json!({
        "MONEY_TOTAL_OLD": main + cod_fee + vat,
        "MONEY_TOTAL": main + cod_fee + vat,
        "MONEY_TOTAL_FEE": main,
        "MONEY_FEE": 0,
        "MONEY_COLLECTION_FEE": cod_fee,
        "MONEY_FEE_VAT": vat,
        "MONEY_OTHER_FEE": 0,
        "KPI_HT": 48.0
    }))
}
