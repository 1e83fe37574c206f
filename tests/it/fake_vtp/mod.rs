//! A fake Viettel Post partner API on 127.0.0.1 for tests (`mod fake_vtp;`).
//!
//! Speaks the wire format the adapter uses: `POST /v2/user/Login` {USERNAME, PASSWORD} →
//! `{status, error, message, data: {token}}`; `POST /v2/order/createOrder` with header `Token`
//! → `{status: 200, error: false, data: {ORDER_NUMBER, MONEY_TOTAL, …}}` or
//! `{status, error: true, message}` (business errors answer HTTP 200, like the real one).
//!
//! On demand it fails chosen references ([`Fault`]), answers slowly, expires tokens, and answers
//! a duplicate `ORDER_NUMBER` (sent with `CHECK_UNIQUE: true`) with or without the tracking code.
//! It records every createOrder call and every order it created, so a test can assert that each
//! reference was booked exactly once.

mod print;
#[allow(unused_imports)]
pub use print::PrintFault;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::fake_carrier::{serve, Served};
/// What the fake did with one createOrder call, and the record of each.
pub use crate::fake_carrier::{CreateCall, Outcome};

mod cancel;
#[allow(unused_imports)]
pub use cancel::{CancelCall, CancelFault, CancelOutcome};
pub mod categories;

pub const USERNAME: &str = "hoalu-hub@livepack.test";
pub const PASSWORD: &str = "fake-vtp-password";
/// How long a `Fault::Hang` call waits before answering: far past a test client's timeout,
/// short enough that nothing lingers.
pub const HANG: Duration = Duration::from_secs(5);

/// One injected failure of a createOrder call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 200 `{status: 400, error: true, message}`: the carrier refuses the parcel.
    Reject,
    /// HTTP 500; no order created.
    ServerError,
    /// The order is created but the answer comes only after [`HANG`] (a lost response).
    Hang,
    /// HTTP 200 with an HTML body; no order created.
    Garbage,
    /// The order is created but the answer comes only after the stall time
    /// ([`FakeVtp::set_random_faults`], 12 s by default): the carrier's "stall".
    Stall,
}

/// Faults drawn at random (from a seed, so a run can be replayed) for every createOrder call
/// that has no fault queued: the mix of a bad day at the carrier.
#[derive(Debug, Clone, Copy)]
pub struct RandomFaults {
    /// Share of calls answered HTTP 500 (no order created), 0.0–1.0.
    pub server_error: f64,
    /// Share of calls that create the order and answer only after `stall`.
    pub stall: f64,
    pub stall_for: Duration,
    pub seed: u64,
}

/// How an expired or unknown token is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthReply {
    /// HTTP 200 `{status: 401, error: true, message: "Token invalid"}`.
    #[default]
    Body401,
    /// HTTP 401 with the same body.
    Http401,
}

/// How a duplicate `ORDER_NUMBER` is answered (the real wording is not publicly documented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicateReply {
    /// `error: true`, "… đã tồn tại", `data.ORDER_NUMBER` = the existing tracking code.
    #[default]
    WithTrackingCode,
    /// The same refusal without the tracking code anywhere.
    WithoutTrackingCode,
}

#[derive(Debug, Clone)]
struct Order {
    tracking: String,
    body: Value,
}

#[derive(Default)]
pub(crate) struct Inner {
    valid_tokens: HashSet<String>,
    tokens_issued: u64,
    logins: usize,
    orders: HashMap<String, Vec<Order>>,
    next_tracking: u64,
    faults_by_ref: HashMap<String, VecDeque<Fault>>,
    faults_next: VecDeque<Fault>,
    delay: Duration,
    auth_reply: AuthReply,
    duplicate_reply: DuplicateReply,
    calls: Vec<CreateCall>,
    cancel: cancel::CancelState,
    print: print::PrintState,
    random: Option<RandomFaults>,
    random_draws: u64,
    /// Temporary tokens from `/user/Login`: good only for `/user/ownerconnect`.
    temp_tokens: HashSet<String>,
    category_calls: usize,
    category_faults: VecDeque<categories::CategoryFault>,
    quote_calls: usize,
}

pub(crate) type Shared = Arc<Mutex<Inner>>;

pub struct FakeVtp {
    served: Served,
    state: Shared,
}

impl FakeVtp {
    pub async fn start() -> FakeVtp {
        let state: Shared = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/v2/user/Login", post(login))
            .route("/v2/user/login", post(login))
            .route("/v2/order/createOrder", post(create_order))
            .route("/v2/order/UpdateOrder", post(cancel::update_order))
            .route("/v2/order/printing-code", post(print::printing_code))
            .route(
                "/DigitalizePrint/report.do",
                axum::routing::get(print::report),
            )
            .route("/v2/user/ownerconnect", post(categories::owner_connect))
            .route("/v2/order/getPrice", post(categories::get_price))
            .route(
                "/v3/categories/listProvinceNew",
                get(categories::provinces_new),
            )
            .route("/v3/categories/listWardsNew", get(categories::wards_new))
            .route(
                "/v2/categories/listProvince",
                get(categories::provinces_old),
            )
            .route(
                "/v2/categories/listDistrict",
                get(categories::districts_old),
            )
            .route("/v2/categories/listWards", get(categories::wards_old))
            .with_state(state.clone());
        let served = serve(app, "fake viettel post").await;
        FakeVtp { served, state }
    }

    /// What `[[carriers]] base_url` should be: `http://127.0.0.1:PORT/v2`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v2", self.served.addr)
    }

    /// An adapter logged in as [`USERNAME`] with the default time limits.
    pub fn client(&self) -> livepack::shipping::carrier::ViettelPost {
        livepack::shipping::carrier::ViettelPost::new(
            &self.base_url(),
            USERNAME,
            livepack::config::Secret::new(PASSWORD),
        )
    }

    /// An adapter whose whole-request limit is `request`.
    pub fn client_with_timeout(
        &self,
        request: Duration,
    ) -> livepack::shipping::carrier::ViettelPost {
        livepack::shipping::carrier::ViettelPost::with_timeouts(
            &self.base_url(),
            USERNAME,
            livepack::config::Secret::new(PASSWORD),
            request,
            request,
        )
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.state)
    }

    /// The first `n` createOrder calls for `reference` are refused as a business error.
    pub fn fail_first(&self, reference: &str, n: usize) {
        self.fault_first(reference, Fault::Reject, n);
    }

    /// The first `n` createOrder calls for `reference` fail with `fault`.
    pub fn fault_first(&self, reference: &str, fault: Fault, n: usize) {
        let mut s = self.lock();
        let q = s.faults_by_ref.entry(reference.to_owned()).or_default();
        q.extend(std::iter::repeat_n(fault, n));
    }

    /// The next `n` createOrder calls (whatever their reference) fail with `fault`.
    pub fn fault_next(&self, fault: Fault, n: usize) {
        self.lock()
            .faults_next
            .extend(std::iter::repeat_n(fault, n));
    }

    /// From now on every createOrder call without a queued fault fails at random with the
    /// given mix.
    pub fn set_random_faults(&self, faults: RandomFaults) {
        self.lock().random = Some(faults);
    }

    /// Every createOrder answer waits `delay` (after creating the order).
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// Every token issued so far stops working.
    pub fn expire_tokens(&self) {
        self.lock().valid_tokens.clear();
    }

    pub fn set_auth_reply(&self, reply: AuthReply) {
        self.lock().auth_reply = reply;
    }

    pub fn set_duplicate_reply(&self, reply: DuplicateReply) {
        self.lock().duplicate_reply = reply;
    }

    /// Category list calls so far (cached by the client: few).
    pub fn category_calls(&self) -> usize {
        self.lock().category_calls
    }

    /// getPrice calls so far.
    pub fn quote_calls(&self) -> usize {
        self.lock().quote_calls
    }

    /// The next `n` category calls fail with `fault`.
    pub fn fail_categories(&self, fault: categories::CategoryFault, n: usize) {
        self.lock()
            .category_faults
            .extend(std::iter::repeat_n(fault, n));
    }

    /// Successful logins so far.
    pub fn logins(&self) -> usize {
        self.lock().logins
    }

    /// Every createOrder call, in arrival order.
    pub fn calls(&self) -> Vec<CreateCall> {
        self.lock().calls.clone()
    }

    pub fn calls_for(&self, reference: &str) -> Vec<CreateCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.reference == reference)
            .collect()
    }

    /// How many orders (waybills) were created for `reference`: 1 when booked exactly once.
    pub fn created_count(&self, reference: &str) -> usize {
        self.lock().orders.get(reference).map_or(0, Vec::len)
    }

    /// Reference → number of orders created, for every reference ever created.
    pub fn created_counts(&self) -> HashMap<String, usize> {
        let s = self.lock();
        s.orders.iter().map(|(r, o)| (r.clone(), o.len())).collect()
    }

    /// The tracking code of the (first) order created for `reference`.
    pub fn tracking_code(&self, reference: &str) -> Option<String> {
        let s = self.lock();
        s.orders.get(reference)?.first().map(|o| o.tracking.clone())
    }

    /// The createOrder body of the (first) order created for `reference`.
    pub fn order_body(&self, reference: &str) -> Option<Value> {
        let s = self.lock();
        s.orders.get(reference)?.first().map(|o| o.body.clone())
    }

    /// A status webhook body for the order created for `reference`, signed with `secret`.
    pub fn webhook_for(&self, reference: &str, status: i64, secret: &str) -> Option<Vec<u8>> {
        let tracking = self.tracking_code(reference)?;
        Some(webhook_body(&tracking, reference, status, secret))
    }
}

/// The `Token` header, empty when missing.
pub(crate) fn token_of(headers: &HeaderMap) -> &str {
    headers
        .get("Token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A JSON body, `null` when missing or not JSON.
pub(crate) fn body_of(body: Option<Json<Value>>) -> Value {
    body.map(|Json(b)| b).unwrap_or(Value::Null)
}

pub(crate) fn lock(state: &Shared) -> MutexGuard<'_, Inner> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Viettel Post's name for a status code (enough for tests).
pub fn status_name(code: i64) -> &'static str {
    match code {
        100 => "Tiếp nhận đơn hàng từ đối tác",
        101 => "ViettelPost yêu cầu hủy đơn hàng",
        105 => "Bưu Tá đã nhận hàng",
        107 => "Đối tác yêu cầu hủy qua API",
        200 => "Nhận từ bưu tá - Bưu cục gốc",
        500 => "Giao bưu tá đi phát",
        501 => "Thành công - Phát thành công",
        503 => "Hủy - Theo yêu cầu khách hàng",
        504 => "Thành công - Chuyển trả người gửi",
        505 => "Tồn - Thông báo chuyển hoàn bưu cục gốc",
        _ => "Trạng thái khác",
    }
}

/// A Viettel Post status webhook body, dated now (Vietnam time, `dd/MM/yyyy HH:mm:ss`).
pub fn webhook_body(tracking: &str, reference: &str, status: i64, secret: &str) -> Vec<u8> {
    let vn = chrono::FixedOffset::east_opt(7 * 3600).expect("UTC+7");
    let now = chrono::Utc::now().with_timezone(&vn);
    webhook_body_at(
        tracking,
        reference,
        status,
        secret,
        &now.format("%d/%m/%Y %H:%M:%S").to_string(),
    )
}

/// As [`webhook_body`] with an explicit `ORDER_STATUSDATE`.
pub fn webhook_body_at(
    tracking: &str,
    reference: &str,
    status: i64,
    secret: &str,
    date: &str,
) -> Vec<u8> {
    json!({
        "DATA": {
            "ORDER_NUMBER": tracking,
            "ORDER_REFERENCE": reference,
            "ORDER_STATUSDATE": date,
            "ORDER_STATUS": status,
            "STATUS_NAME": status_name(status),
            "LOCALION_CURRENTLY": "Bưu cục Hoa Lư - Ninh Bình",
            "NOTE": "",
            "MONEY_COLLECTION": 370000,
            "MONEY_FEECOD": 0,
            "MONEY_TOTAL": 33000,
            "EXPECTED_DELIVERY": "Khoảng 2 ngày",
            "PRODUCT_WEIGHT": 1400,
            "ORDER_SERVICE": "VCN"
        },
        "TOKEN": secret
    })
    .to_string()
    .into_bytes()
}

pub(crate) fn envelope_error(status: i64, message: &str) -> Value {
    json!({"status": status, "error": true, "message": message})
}

async fn login(State(state): State<Shared>, body: Option<Json<Value>>) -> Json<Value> {
    let body = body_of(body);
    let ok = body["USERNAME"] == USERNAME && body["PASSWORD"] == PASSWORD;
    if !ok {
        return Json(envelope_error(205, "Sai tên đăng nhập hoặc mật khẩu"));
    }
    let mut s = lock(&state);
    s.tokens_issued += 1;
    s.logins += 1;
    let token = format!("fake-vtp-temp-token-{}", s.tokens_issued);
    s.temp_tokens.insert(token.clone());
    Json(json!({
        "status": 200, "error": false, "message": "OK",
        "data": {"userId": 1, "token": token, "partner": 0, "phone": "0229000000",
                 "expired": 4_102_444_800_000_i64, "encrypted": "", "source": 0}
    }))
}

/// A required field's problem, as the real API would refuse it.
fn invalid(body: &Value) -> Option<String> {
    const TEXT: &str = "ORDER_NUMBER SENDER_FULLNAME SENDER_ADDRESS SENDER_PHONE \
        RECEIVER_FULLNAME RECEIVER_ADDRESS RECEIVER_PHONE PRODUCT_NAME ORDER_SERVICE";
    for key in TEXT.split_whitespace() {
        if body[key].as_str().is_none_or(|s| s.trim().is_empty()) {
            return Some(format!("Thiếu {key}"));
        }
    }
    for key in "PRODUCT_WEIGHT PRODUCT_PRICE MONEY_COLLECTION PRODUCT_QUANTITY".split_whitespace() {
        if body[key].as_i64().is_none_or(|v| v < 0) {
            return Some(format!("{key} phải là số nguyên không âm"));
        }
    }
    if body["PRODUCT_WEIGHT"].as_i64() == Some(0) {
        return Some("PRODUCT_WEIGHT phải lớn hơn 0".into());
    }
    let payment = body["ORDER_PAYMENT"].as_i64().unwrap_or(0);
    if !(1..=4).contains(&payment) {
        return Some("ORDER_PAYMENT không hợp lệ".into());
    }
    if payment == 1 && body["MONEY_COLLECTION"].as_i64() != Some(0) {
        return Some("Đơn không thu hộ không được có MONEY_COLLECTION".into());
    }
    for who in ["SENDER", "RECEIVER"] {
        if let Some(m) = categories::address_problem(body, who) {
            return Some(m);
        }
    }
    if !body["LIST_ITEM"].is_array() {
        return Some("LIST_ITEM phải là danh sách".into());
    }
    for key in ["SENDER_ADDRESS", "RECEIVER_ADDRESS", "PRODUCT_DESCRIPTION"] {
        if body[key].as_str().is_some_and(|s| s.len() > 150) {
            return Some(format!("{key} dài quá 150 byte"));
        }
    }
    None
}

/// A deterministic fee: 16,500 đ for the first 500 g, 2,500 đ per further 500 g, 1 % COD fee.
pub(crate) fn fee(body: &Value) -> (i64, i64) {
    let weight = body["PRODUCT_WEIGHT"].as_i64().unwrap_or(0);
    let steps = (weight - 1).max(0) / 500;
    let main = 16_500 + 2_500 * steps;
    let cod_fee = body["MONEY_COLLECTION"].as_i64().unwrap_or(0) / 100;
    (main, cod_fee)
}

async fn create_order(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let body = body_of(body);
    let reference = body["ORDER_NUMBER"].as_str().unwrap_or("").to_owned();
    let token = token_of(&headers);
    let (reply, wait) = {
        let mut s = lock(&state);
        let (outcome, reply, wait) = decide(&mut s, token, &reference, &body);
        s.calls.push(CreateCall {
            reference,
            body,
            outcome,
        });
        (reply, wait)
    };
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    reply
}

/// What to do with one call: the outcome to record, the answer, and how long to wait first.
fn decide(
    s: &mut Inner,
    token: &str,
    reference: &str,
    body: &Value,
) -> (Outcome, Response, Duration) {
    if !s.valid_tokens.contains(token) {
        let status = match s.auth_reply {
            AuthReply::Body401 => StatusCode::OK,
            AuthReply::Http401 => StatusCode::UNAUTHORIZED,
        };
        let reply = (status, Json(envelope_error(401, "Token invalid"))).into_response();
        return (Outcome::AuthFailed, reply, Duration::ZERO);
    }
    let fault = match s
        .faults_by_ref
        .get_mut(reference)
        .and_then(VecDeque::pop_front)
    {
        Some(f) => Some(f),
        None => s.faults_next.pop_front(),
    };
    let fault = fault.or_else(|| random_fault(s));
    match fault {
        Some(Fault::ServerError) => {
            let reply = (StatusCode::INTERNAL_SERVER_ERROR, "upstream error").into_response();
            return (Outcome::ServerError, reply, Duration::ZERO);
        }
        Some(Fault::Garbage) => {
            let reply =
                (StatusCode::OK, "<html><body>502 Bad Gateway</body></html>").into_response();
            return (Outcome::Garbage, reply, Duration::ZERO);
        }
        Some(Fault::Reject) => {
            let message = "Địa chỉ người nhận không hợp lệ (từ chối thử nghiệm)";
            let reply = Json(envelope_error(400, message)).into_response();
            return (Outcome::Rejected(message.into()), reply, Duration::ZERO);
        }
        Some(Fault::Hang | Fault::Stall) | None => {}
    }
    if let Some(message) = invalid(body) {
        let reply = Json(envelope_error(400, &message)).into_response();
        return (Outcome::Rejected(message), reply, Duration::ZERO);
    }
    let existing = s.orders.get(reference).and_then(|o| o.first()).cloned();
    if let (Some(order), true) = (existing, body["CHECK_UNIQUE"] == true) {
        let mut answer = envelope_error(400, &format!("Mã đơn hàng {reference} đã tồn tại"));
        if s.duplicate_reply == DuplicateReply::WithTrackingCode {
            answer["data"] = json!({"ORDER_NUMBER": order.tracking});
        }
        let reply = Json(answer).into_response();
        return (Outcome::Duplicate(order.tracking), reply, s.delay);
    }
    s.next_tracking += 1;
    let tracking = format!("{}", 170_000_000_000_u64 + s.next_tracking);
    s.orders
        .entry(reference.to_owned())
        .or_default()
        .push(Order {
            tracking: tracking.clone(),
            body: body.clone(),
        });
    let (main, cod_fee) = fee(body);
    let vat = (main + cod_fee) / 10;
    let answer = json!({
        "status": 200, "error": false, "message": "OK",
        "data": {
            "ORDER_NUMBER": tracking,
            "MONEY_COLLECTION": body["MONEY_COLLECTION"],
            "EXCHANGE_WEIGHT": body["PRODUCT_WEIGHT"],
            "MONEY_TOTAL": main + cod_fee + vat,
            "MONEY_TOTAL_FEE": main,
            "MONEY_FEE": 0,
            "MONEY_COLLECTION_FEE": cod_fee,
            "MONEY_OTHER_FEE": 0,
            "MONEY_VAT": vat,
            "KPI_HT": 48.0
        }
    });
    let wait = match fault {
        Some(Fault::Hang) => HANG,
        Some(Fault::Stall) => s.random.map_or(HANG, |r| r.stall_for),
        _ => s.delay,
    };
    (
        Outcome::Booked(tracking),
        Json(answer).into_response(),
        wait,
    )
}

/// splitmix64: a tiny deterministic generator, enough to spread faults over calls.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn random_fault(s: &mut Inner) -> Option<Fault> {
    let r = s.random?;
    s.random_draws += 1;
    let x = splitmix64(r.seed ^ s.random_draws.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let u = (x >> 11) as f64 / (1u64 << 53) as f64;
    if u < r.server_error {
        Some(Fault::ServerError)
    } else if u < r.server_error + r.stall {
        Some(Fault::Stall)
    } else {
        None
    }
}
