//! The fake's `POST /v2/order/UpdateOrder` (header `Token`), TYPE 4 = cancel an order:
//! `{"TYPE": 4, "ORDER_NUMBER": <tracking>, "NOTE": ...}` → `{status: 200, error: false,
//! message: "OK", data: null}`. Allowed only while the order's ORDER_STATUS < 200 (a test moves
//! an order on with [`FakeVtp::set_order_status`]); refusals answer HTTP 200
//! `{status: 400, error: true, message}` like the real API (already picked up, unknown order,
//! cancelled before). Injected faults: HTTP 500 before anything happens, the cancel applied but
//! the answer lost (HTTP 500), and `{status: 500}` in the envelope.

use std::collections::{HashMap, VecDeque};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{body_of, envelope_error, lock, token_of, FakeVtp, Shared};

/// Cancelled by the partner through the API.
pub const STATUS_CANCELLED_BY_API: i64 = 107;

/// One injected failure of an UpdateOrder call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelFault {
    /// HTTP 500; nothing changes.
    ServerError,
    /// The order is cancelled, but the answer is an HTTP 500 (lost).
    Lost,
    /// HTTP 200 `{status: 500, error: true, message}`; nothing changes.
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    Cancelled,
    AlreadyCancelled,
    Refused(i64),
    Unknown,
    AuthFailed,
    BadType,
    Fault(CancelFault),
}

#[derive(Debug, Clone)]
pub struct CancelCall {
    pub tracking: String,
    pub body: Value,
    pub outcome: CancelOutcome,
}

#[derive(Default)]
pub(super) struct CancelState {
    /// ORDER_STATUS by tracking code, once it is not 100 (received from the partner).
    statuses: HashMap<String, i64>,
    /// Successful cancellations by tracking code.
    cancelled: HashMap<String, usize>,
    faults_next: VecDeque<CancelFault>,
    calls: Vec<CancelCall>,
}

impl FakeVtp {
    /// Moves the order created for `reference` to Viettel Post status `code` (e.g. 105
    /// picked up by the postman, 200 received at the origin office).
    pub fn set_order_status(&self, reference: &str, code: i64) {
        let Some(tracking) = self.tracking_code(reference) else {
            panic!("no order for {reference}");
        };
        self.lock().cancel.statuses.insert(tracking, code);
    }

    /// The order's ORDER_STATUS (100 until it moves).
    pub fn order_status(&self, tracking: &str) -> i64 {
        self.lock()
            .cancel
            .statuses
            .get(tracking)
            .copied()
            .unwrap_or(100)
    }

    /// The next `n` UpdateOrder calls fail with `fault`.
    pub fn cancel_fault_next(&self, fault: CancelFault, n: usize) {
        self.lock()
            .cancel
            .faults_next
            .extend(std::iter::repeat_n(fault, n));
    }

    /// Every UpdateOrder call, in arrival order.
    pub fn cancel_calls(&self) -> Vec<CancelCall> {
        self.lock().cancel.calls.clone()
    }

    /// How many times the order `tracking` went from live to cancelled: 1 when cancelled once.
    pub fn cancelled_count(&self, tracking: &str) -> usize {
        self.lock()
            .cancel
            .cancelled
            .get(tracking)
            .copied()
            .unwrap_or(0)
    }
}

pub(super) async fn update_order(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    let body = body_of(body);
    let tracking = match &body["ORDER_NUMBER"] {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let token = token_of(&headers);
    let mut s = lock(&state);
    let (outcome, reply) = if !s.valid_tokens.contains(token) {
        (
            CancelOutcome::AuthFailed,
            Json(envelope_error(401, "Token invalid")).into_response(),
        )
    } else if body["TYPE"].as_i64() != Some(4) {
        (
            CancelOutcome::BadType,
            Json(envelope_error(
                400,
                "TYPE không hợp lệ (bản giả chỉ hỗ trợ hủy đơn, TYPE 4)",
            ))
            .into_response(),
        )
    } else if !s.orders.values().flatten().any(|o| o.tracking == tracking) {
        (
            CancelOutcome::Unknown,
            Json(envelope_error(400, "Không tìm thấy vận đơn")).into_response(),
        )
    } else {
        let fault = s.cancel.faults_next.pop_front();
        let status = s.cancel.statuses.get(&tracking).copied().unwrap_or(100);
        match fault {
            Some(f @ CancelFault::ServerError) => (
                CancelOutcome::Fault(f),
                (StatusCode::INTERNAL_SERVER_ERROR, "upstream error").into_response(),
            ),
            Some(f @ CancelFault::Internal) => (
                CancelOutcome::Fault(f),
                Json(envelope_error(500, "Lỗi hệ thống, vui lòng thử lại")).into_response(),
            ),
            _ if matches!(status, 101 | 107 | 201 | 503) => (
                CancelOutcome::AlreadyCancelled,
                Json(envelope_error(400, "Vận đơn đã hủy trước đó")).into_response(),
            ),
            _ if status >= 200 => (
                CancelOutcome::Refused(status),
                Json(envelope_error(
                    400,
                    &format!("Vận đơn đang ở trạng thái {status}, không được phép hủy"),
                ))
                .into_response(),
            ),
            Some(f @ CancelFault::Lost) => {
                s.cancel
                    .statuses
                    .insert(tracking.clone(), STATUS_CANCELLED_BY_API);
                *s.cancel.cancelled.entry(tracking.clone()).or_default() += 1;
                (
                    CancelOutcome::Fault(f),
                    (StatusCode::INTERNAL_SERVER_ERROR, "upstream error").into_response(),
                )
            }
            None => {
                s.cancel
                    .statuses
                    .insert(tracking.clone(), STATUS_CANCELLED_BY_API);
                *s.cancel.cancelled.entry(tracking.clone()).or_default() += 1;
                (
                    CancelOutcome::Cancelled,
                    Json(json!({"status": 200, "error": false, "message": "OK", "data": null}))
                        .into_response(),
                )
            }
        }
    };
    s.cancel.calls.push(CancelCall {
        tracking,
        body,
        outcome,
    });
    reply
}
