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

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

pub const TOKEN: &str = "fake-ghtk-token";
/// How long a `Fault::Hang` call waits before answering.
pub const HANG: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `{success: false, message}`: a business refusal.
    Reject,
    /// HTTP 500, nothing created.
    ServerError,
    /// The order is created but the answer comes only after [`HANG`].
    Hang,
    /// HTTP 200 with an HTML body, nothing created.
    Garbage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Booked(String),
    Duplicate(String),
    Rejected(String),
    AuthFailed,
    ServerError,
    Garbage,
}

#[derive(Debug, Clone)]
pub struct CreateCall {
    pub reference: String,
    pub body: Value,
    pub outcome: Outcome,
}

#[derive(Default)]
struct Inner {
    orders: HashMap<String, Vec<(String, Value)>>,
    next: u64,
    faults_by_ref: HashMap<String, VecDeque<Fault>>,
    faults_next: VecDeque<Fault>,
    fee_faults: VecDeque<Fault>,
    calls: Vec<CreateCall>,
    fee_calls: usize,
    prices: HashMap<String, (i64, i64)>,
    picked: HashSet<String>,
    cancelled: HashSet<String>,
    cancel_calls: usize,
    label_calls: usize,
}

type Shared = Arc<Mutex<Inner>>;

pub struct FakeGhtk {
    addr: SocketAddr,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGhtk {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(s: &Shared) -> MutexGuard<'_, Inner> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeGhtk {
    pub async fn start() -> FakeGhtk {
        let state: Shared = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/services/shipment/order", post(create_order))
            .route("/services/shipment/fee", get(fee))
            .route("/services/label/{label}", get(label))
            .route("/services/shipment/cancel/{label}", post(cancel))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake ghtk");
        let addr = listener.local_addr().expect("fake ghtk address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeGhtk { addr, state, task }
    }

    /// What `[[carriers]] base_url` should be.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
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

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.state)
    }

    /// Parcels to `province` cost `first` for 500 g and `step` per further 500 g.
    pub fn set_price(&self, province: &str, first: i64, step: i64) {
        self.lock()
            .prices
            .insert(province.trim().to_lowercase(), (first, step));
    }

    pub fn fault_first(&self, reference: &str, fault: Fault, n: usize) {
        let mut s = self.lock();
        let q = s.faults_by_ref.entry(reference.to_owned()).or_default();
        q.extend(std::iter::repeat_n(fault, n));
    }

    pub fn fault_next(&self, fault: Fault, n: usize) {
        self.lock()
            .faults_next
            .extend(std::iter::repeat_n(fault, n));
    }

    /// The next `n` fee calls fail with `fault`.
    pub fn fail_fees(&self, fault: Fault, n: usize) {
        self.lock().fee_faults.extend(std::iter::repeat_n(fault, n));
    }

    /// The order `label` has been picked up: GHTK no longer cancels it.
    pub fn mark_picked(&self, label: &str) {
        self.lock().picked.insert(label.to_owned());
    }

    pub fn calls(&self) -> Vec<CreateCall> {
        self.lock().calls.clone()
    }

    pub fn fee_calls(&self) -> usize {
        self.lock().fee_calls
    }

    pub fn cancel_calls(&self) -> usize {
        self.lock().cancel_calls
    }

    pub fn is_cancelled(&self, label: &str) -> bool {
        self.lock().cancelled.contains(label)
    }

    /// Orders created for `reference`: 1 when booked exactly once.
    pub fn created_count(&self, reference: &str) -> usize {
        self.lock().orders.get(reference).map_or(0, Vec::len)
    }

    /// Reference → orders created.
    pub fn created_counts(&self) -> HashMap<String, usize> {
        let s = self.lock();
        s.orders.iter().map(|(r, o)| (r.clone(), o.len())).collect()
    }

    pub fn tracking_code(&self, reference: &str) -> Option<String> {
        self.lock()
            .orders
            .get(reference)?
            .first()
            .map(|o| o.0.clone())
    }

    pub fn order_body(&self, reference: &str) -> Option<Value> {
        self.lock()
            .orders
            .get(reference)?
            .first()
            .map(|o| o.1.clone())
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

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("Token").and_then(|v| v.to_str().ok()) == Some(TOKEN)
}

fn price(s: &Inner, province: &str, grams: i64) -> i64 {
    let (first, step) = s
        .prices
        .get(&province.trim().to_lowercase())
        .copied()
        .unwrap_or((30_000, 5_000));
    first + step * (((grams - 500).max(0) + 499) / 500)
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
    let (outcome, reply, wait) = {
        let mut s = lock(&state);
        let r = decide(&mut s, &headers, &q, &reference, &body);
        s.calls.push(CreateCall {
            reference,
            body,
            outcome: r.0.clone(),
        });
        r
    };
    let _ = outcome;
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    reply
}

fn decide(
    s: &mut Inner,
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
    let fault = s
        .faults_by_ref
        .get_mut(reference)
        .and_then(VecDeque::pop_front)
        .or_else(|| s.faults_next.pop_front());
    match fault {
        Some(Fault::ServerError) => {
            let r = (StatusCode::INTERNAL_SERVER_ERROR, "upstream error").into_response();
            return (Outcome::ServerError, r, Duration::ZERO);
        }
        Some(Fault::Garbage) => {
            let r = (StatusCode::OK, "<html><body>502 Bad Gateway</body></html>").into_response();
            return (Outcome::Garbage, r, Duration::ZERO);
        }
        Some(Fault::Reject) => {
            let m = "Địa chỉ nhận hàng không hợp lệ (từ chối thử nghiệm)";
            return (Outcome::Rejected(m.into()), refuse(m), Duration::ZERO);
        }
        Some(Fault::Hang) | None => {}
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
    let fee = price(s, body["order"]["province"].as_str().unwrap_or(""), grams);
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
    let fault = {
        let mut s = lock(&state);
        s.fee_calls += 1;
        s.fee_faults.pop_front()
    };
    match fault {
        Some(Fault::ServerError) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "upstream error").into_response()
        }
        Some(Fault::Garbage) => return (StatusCode::OK, "<html></html>").into_response(),
        Some(Fault::Reject) => return refuse("Không hỗ trợ giao đến địa chỉ này"),
        Some(Fault::Hang) => tokio::time::sleep(HANG).await,
        None => {}
    }
    let grams: i64 = q.get("weight").and_then(|w| w.parse().ok()).unwrap_or(0);
    let province = q.get("province").cloned().unwrap_or_default();
    if province.trim().is_empty() || grams <= 0 {
        return refuse("Thiếu tỉnh/thành hoặc khối lượng");
    }
    let fee = price(&lock(&state), &province, grams);
    Json(json!({"success": true, "message": "",
        "fee": {"name": "area1", "fee": fee, "insurance_fee": 0, "delivery": true}}))
    .into_response()
}

async fn label(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(label): Path<String>,
) -> Response {
    if !authorized(&headers) {
        return refuse("Token không hợp lệ");
    }
    let mut s = lock(&state);
    s.label_calls += 1;
    if !s.orders.values().flatten().any(|(l, _)| *l == label) {
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
    if !authorized(&headers) {
        return refuse("Token không hợp lệ");
    }
    let mut s = lock(&state);
    s.cancel_calls += 1;
    if !s.orders.values().flatten().any(|(l, _)| *l == label) {
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
