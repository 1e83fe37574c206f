//! A fake GHTK API on 127.0.0.1 for tests (`mod fake_ghtk;`).
//!
//! Speaks the wire format the adapter uses (see `src/shipping/carrier/ghtk.rs`): header
//! `Token`; `POST /services/shipment/order?ver=1.5` → `{success, message, order: {label, fee,
//! insurance_fee, …}}`, a known `order.id` → `{success: false, error: {code:
//! "ORDER_ID_EXIST", ghtk_label}}`; `GET /services/shipment/fee` → `{success, fee: {fee,
//! insurance_fee, delivery}}`; `GET /services/label/{label}` → a PDF;
//! `POST /services/shipment/cancel/{label}` → `{success, message}`. A wrong token answers
//! `{success: false, message: "Token không hợp lệ"}` (HTTP 200, like GHTK's refusals).
//!
//! Prices are per destination province ([`FakeGhtk::set_price`]): `first` for the first
//! 500 g, `step` per further started 500 g. Failures on demand ([`Fault`]); every call is
//! recorded so a test can assert each parcel was booked exactly once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::fake_carrier::{create, failed, fee_call, lock, Book, Fake};
pub use crate::fake_carrier::{Fault, Outcome};

pub const TOKEN: &str = "fake-ghtk-token";
/// How long a `Fault::Hang` call waits before answering.
pub const HANG: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct Inner {
    book: Book,
    cancel_calls: usize,
    label_calls: usize,
}

type Shared = Arc<Mutex<Inner>>;

/// The fake GHTK; its knobs and records are [`Fake`]'s.
pub struct FakeGhtk(Fake<Inner>);

crate::fake_carrier::fake_deref!(FakeGhtk, Inner);

impl FakeGhtk {
    pub async fn start() -> FakeGhtk {
        let routes = Router::new()
            .route("/services/shipment/order", post(create_order))
            .route("/services/shipment/fee", get(fee))
            .route("/services/label/{label}", get(label))
            .route("/services/shipment/cancel/{label}", post(cancel));
        FakeGhtk(Fake::start(routes, "fake ghtk").await)
    }

    /// What `[[carriers]] base_url` should be.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn client(&self) -> livepack::shipping::carrier::Ghtk {
        livepack::shipping::carrier::Ghtk::new(
            &self.base_url(),
            livepack::config::Secret::new(TOKEN),
            "",
        )
    }

    pub fn client_with(&self, token: &str, timeout: Duration) -> livepack::shipping::carrier::Ghtk {
        livepack::shipping::carrier::Ghtk::with_timeouts(
            &self.base_url(),
            livepack::config::Secret::new(token),
            "",
            timeout,
            timeout,
        )
    }

    pub fn cancel_calls(&self) -> usize {
        self.lock().cancel_calls
    }

    /// A GHTK status webhook (form body, as GHTK posts it) for the order of `reference`.
    pub fn webhook_for(
        &self,
        reference: &str,
        status_id: i64,
        fee: i64,
        pick_money: i64,
        part_return: bool,
    ) -> Option<Vec<u8>> {
        let label = self.tracking_code(reference)?;
        Some(webhook_form(
            &label,
            reference,
            status_id,
            fee,
            pick_money,
            part_return,
        ))
    }
}

/// A GHTK webhook form body, dated now (+07:00).
pub fn webhook_form(
    label: &str,
    reference: &str,
    status_id: i64,
    fee: i64,
    pick_money: i64,
    part_return: bool,
) -> Vec<u8> {
    let vn = chrono::FixedOffset::east_opt(7 * 3600).expect("UTC+7");
    let now = chrono::Utc::now()
        .with_timezone(&vn)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string();
    let status = status_id.to_string();
    let fee = fee.to_string();
    let money = pick_money.to_string();
    let pairs = [
        ("partner_id", reference),
        ("label_id", label),
        ("status_id", status.as_str()),
        ("action_time", now.as_str()),
        ("reason_code", ""),
        ("reason", ""),
        ("weight", "1.2"),
        ("fee", fee.as_str()),
        ("pick_money", money.as_str()),
        ("return_part_package", if part_return { "1" } else { "0" }),
    ];
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

fn refuse(message: &str) -> Response {
    Json(json!({"success": false, "message": message})).into_response()
}

/// The state, once the token is checked (`None`: a wrong token) and the call counted by
/// `count`.
fn checked<'a>(
    state: &'a Shared,
    headers: &HeaderMap,
    count: fn(&mut Inner),
) -> Option<MutexGuard<'a, Inner>> {
    if !authorized(headers) {
        return None;
    }
    let mut s = lock(state);
    count(&mut s);
    Some(s)
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("Token").and_then(|v| v.to_str().ok()) == Some(TOKEN)
}

fn grams_of(v: &Value) -> i64 {
    v.as_f64().map_or(0, |kg| (kg * 1000.0).round() as i64)
}

/// A required field's problem, as GHTK would refuse it.
fn invalid(body: &Value) -> Option<String> {
    let o = &body["order"];
    for key in [
        "id",
        "pick_name",
        "pick_tel",
        "pick_address",
        "pick_province",
        "name",
        "tel",
        "address",
        "province",
    ] {
        if o[key].as_str().is_none_or(|s| s.trim().is_empty()) {
            return Some(format!("Thiếu thông tin {key}"));
        }
    }
    if !o["pick_money"].is_i64() || o["pick_money"].as_i64() < Some(0) {
        return Some("pick_money không hợp lệ".into());
    }
    let products = body["products"].as_array()?;
    if products.is_empty() {
        return Some("Thiếu sản phẩm".into());
    }
    for p in products {
        if !p["weight"].is_number() || grams_of(&p["weight"]) <= 0 {
            return Some("Khối lượng sản phẩm không hợp lệ (kg)".into());
        }
        if grams_of(&p["weight"]) > 30_000 {
            return Some("Khối lượng sản phẩm quá lớn".into());
        }
    }
    None
}

async fn create_order(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let body = body.map(|Json(b)| b).unwrap_or(Value::Null);
    let reference = body["order"]["id"].as_str().unwrap_or("").to_owned();
    create(&state, reference, body, |s, reference, body| {
        decide(s, &headers, &q, reference, body)
    })
    .await
}

fn decide(
    s: &mut Book,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    reference: &str,
    body: &Value,
) -> (Outcome, Response, Duration) {
    if !authorized(headers) {
        return (
            Outcome::AuthFailed,
            refuse("Token không hợp lệ"),
            Duration::ZERO,
        );
    }
    let fault = s.take_fault(reference);
    let why = "Địa chỉ nhận hàng không hợp lệ (từ chối thử nghiệm)";
    if let Some((outcome, reply)) = failed(fault, why, refuse) {
        return (outcome, reply, Duration::ZERO);
    }
    if q.get("ver").map(String::as_str) != Some("1.5") {
        let m = "Phiên bản API không hợp lệ";
        return (Outcome::Rejected(m.into()), refuse(m), Duration::ZERO);
    }
    if let Some(m) = invalid(body) {
        return (Outcome::Rejected(m.clone()), refuse(&m), Duration::ZERO);
    }
    if let Some((label, _)) = s.orders.get(reference).and_then(|o| o.first()).cloned() {
        let answer = json!({
            "success": false, "message": "Mã đơn hàng đã tồn tại",
            "error": {"code": "ORDER_ID_EXIST", "partner_id": reference, "ghtk_label": label,
                      "created": "2026-12-02 10:00:00", "status": 2}
        });
        return (
            Outcome::Duplicate(label),
            Json(answer).into_response(),
            Duration::ZERO,
        );
    }
    s.next += 1;
    let label = format!("S22.A1.{}", 1_700_000_000 + s.next);
    let grams = grams_of(&body["order"]["total_weight"]);
    let fee = s.price(body["order"]["province"].as_str().unwrap_or(""), grams);
    s.orders
        .entry(reference.to_owned())
        .or_default()
        .push((label.clone(), body.clone()));
    let answer = json!({
        "success": true, "message": "",
        "order": {"partner_id": reference, "label": label, "area": 1, "fee": fee,
                  "insurance_fee": 0, "estimated_pick_time": "Sáng 2026-12-03",
                  "estimated_deliver_time": "Chiều 2026-12-04", "products": [],
                  "status_id": 2, "tracking_id": 1_700_000_000 + s.next, "sorting_code": "HN-01"}
    });
    let wait = if fault == Some(Fault::Hang) {
        HANG
    } else {
        Duration::ZERO
    };
    (Outcome::Booked(label), Json(answer).into_response(), wait)
}

async fn fee(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !authorized(&headers) {
        return refuse("Token không hợp lệ");
    }
    if let Err(failed) = fee_call(&state, "Không hỗ trợ giao đến địa chỉ này", refuse, HANG).await
    {
        return failed;
    }
    let grams: i64 = q.get("weight").and_then(|w| w.parse().ok()).unwrap_or(0);
    let province = q.get("province").cloned().unwrap_or_default();
    if province.trim().is_empty() || grams <= 0 {
        return refuse("Thiếu tỉnh/thành hoặc khối lượng");
    }
    let fee = lock(&state).price(&province, grams);
    Json(json!({"success": true, "message": "",
        "fee": {"name": "area1", "fee": fee, "insurance_fee": 0, "delivery": true}}))
    .into_response()
}

async fn label(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(label): Path<String>,
) -> Response {
    let Some(s) = checked(&state, &headers, |s| s.label_calls += 1) else {
        return refuse("Token không hợp lệ");
    };
    if !s.knows(&label) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"success": false, "message": "Không tìm thấy đơn hàng"})),
        )
            .into_response();
    }
    let pdf = format!("%PDF-1.4\n% GHTK label {label}\n%%EOF\n");
    ([("content-type", "application/pdf")], pdf).into_response()
}

async fn cancel(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(label): Path<String>,
) -> Response {
    let Some(mut s) = checked(&state, &headers, |s| s.cancel_calls += 1) else {
        return refuse("Token không hợp lệ");
    };
    if !s.knows(&label) {
        return refuse("Không tìm thấy đơn hàng");
    }
    if s.cancelled.contains(&label) {
        return refuse("Đơn hàng đã hủy");
    }
    if s.picked.contains(&label) {
        return refuse("Đơn hàng đã lấy hàng, không thể hủy");
    }
    s.cancelled.insert(label);
    Json(json!({"success": true, "message": ""})).into_response()
}
