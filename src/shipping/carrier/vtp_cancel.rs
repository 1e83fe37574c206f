//! Viettel Post: cancelling a carrier order.
//!
//! `POST {base_url}/order/UpdateOrder` with header `Token` and body
//! `{"TYPE": 4, "ORDER_NUMBER": <tracking code>, "NOTE": <why>}` (TYPE 1 confirms an order,
//! 2 re-delivers, 3 returns, 4 cancels, 11 deletes a cancelled one). Viettel Post allows a cancel
//! only while the order's `ORDER_STATUS` is below 200 (not yet received at the origin post
//! office); later it refuses with the usual envelope `{status, error: true, message}`.
//! Sources: the partner API guide (see `viettelpost.rs`), the public PHP/JS clients that call
//! `UpdateOrder` with TYPE 4 to cancel, and `../shared/FIELD-NOTES.md`.
//!
//! How answers are read: HTTP 401/403, or `status` 401/403, or a message about the token → log
//! in again and retry once; HTTP 5xx/429/408, a body that is not JSON, or `status` ≥ 500 →
//! [`CarrierError::Unavailable`] (retry later); `error: false` → cancelled; a refusal saying the
//! order is already cancelled → cancelled (an earlier attempt whose answer was lost); any other
//! refusal (already picked up, unknown order number) → [`CarrierError::Rejected`], final.

use reqwest::StatusCode;
use serde_json::{json, Value};
use unicode_normalization::UnicodeNormalization;

use super::super::vtp_wire::{is_error, message_of};
use super::super::CarrierError;
use super::{transport_error, ViettelPost};

/// `UpdateOrder` TYPE: cancel the order.
pub const TYPE_CANCEL: i64 = 4;
/// Viettel Post's limit on text fields.
const MAX_NOTE_BYTES: usize = 150;

enum Attempt {
    AuthExpired(String),
    Failed(CarrierError),
}

impl ViettelPost {
    /// Cancels the carrier order `tracking`; `note` says why (clipped to 150 bytes).
    pub async fn cancel(&self, tracking: &str, note: &str) -> Result<(), CarrierError> {
        if tracking.trim().is_empty() {
            return Err(CarrierError::rejected("no tracking code to cancel"));
        }
        let body = cancel_body(tracking, note);
        let (token, generation) = self.token().await?;
        let result = match self.update_order(&token, &body).await {
            Err(Attempt::AuthExpired(first)) => {
                tracing::info!(message = %first, "viettel post token refused; logging in again");
                let token = self.relogin(generation).await?;
                match self.update_order(&token, &body).await {
                    Err(Attempt::AuthExpired(message)) => Err(CarrierError::unavailable(format!(
                        "Viettel Post refused a fresh token: {message}"
                    ))),
                    Err(Attempt::Failed(e)) => Err(e),
                    Ok(()) => Ok(()),
                }
            }
            Err(Attempt::Failed(e)) => Err(e),
            Ok(()) => Ok(()),
        };
        if let Err(e) = &result {
            tracing::warn!(retryable = e.retryable(), "viettel post cancel failed");
        }
        result
    }

    async fn update_order(&self, token: &str, body: &Value) -> Result<(), Attempt> {
        let http = self.http().map_err(Attempt::Failed)?;
        let resp = http
            .post(self.url("/order/UpdateOrder"))
            .header("Token", token)
            .json(body)
            .send()
            .await
            .map_err(|e| Attempt::Failed(transport_error("UpdateOrder", &e)))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Attempt::Failed(transport_error("UpdateOrder", &e)))?;
        classify_cancel(status, &bytes)
    }
}

/// The `UpdateOrder` body that cancels `tracking`.
fn cancel_body(tracking: &str, note: &str) -> Value {
    json!({
        "TYPE": TYPE_CANCEL,
        "ORDER_NUMBER": tracking.trim(),
        "NOTE": clip(note, MAX_NOTE_BYTES),
    })
}

fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].trim_end().to_owned()
}

fn folded(message: &str) -> String {
    message.nfc().collect::<String>().to_lowercase()
}

fn status_code(env: &Value) -> Option<i64> {
    match env.get("status")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A refusal that means the order is cancelled already (both Vietnamese spellings of "hủy").
fn already_cancelled(message: &str) -> bool {
    let m = folded(message);
    [
        "đã hủy",
        "đã huỷ",
        "đã được hủy",
        "đã được huỷ",
        "already cancel",
    ]
    .iter()
    .any(|k| m.contains(k))
}

fn mentions_token(message: &str) -> bool {
    let m = folded(message);
    m.contains("token") || m.contains("unauthori") || m.contains("phiên đăng nhập")
}

fn classify_cancel(status: StatusCode, bytes: &[u8]) -> Result<(), Attempt> {
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(Attempt::AuthExpired(format!("HTTP {status}")));
    }
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        return Err(Attempt::Failed(CarrierError::unavailable(format!(
            "Viettel Post UpdateOrder answered HTTP {status}"
        ))));
    }
    let Ok(env) = serde_json::from_slice::<Value>(bytes) else {
        return Err(Attempt::Failed(CarrierError::unavailable(format!(
            "Viettel Post UpdateOrder answered HTTP {status} without JSON"
        ))));
    };
    if !is_error(&env) && status.is_success() {
        return Ok(());
    }
    let message = message_of(&env);
    let code = status_code(&env);
    if matches!(code, Some(401 | 403)) || mentions_token(&message) {
        return Err(Attempt::AuthExpired(message));
    }
    if already_cancelled(&message) {
        return Ok(());
    }
    if code.is_some_and(|c| c >= 500) {
        return Err(Attempt::Failed(CarrierError::unavailable(format!(
            "Viettel Post internal error: {message}"
        ))));
    }
    if !status.is_success() && env.get("error").and_then(Value::as_bool) != Some(true) {
        return Err(Attempt::Failed(CarrierError::unavailable(format!(
            "Viettel Post UpdateOrder answered HTTP {status}: {message}"
        ))));
    }
    Err(Attempt::Failed(CarrierError::rejected(message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(status: u16, body: Value) -> Result<(), Attempt> {
        classify_cancel(
            StatusCode::from_u16(status).unwrap(),
            body.to_string().as_bytes(),
        )
    }

    #[test]
    fn body_is_type_4_with_a_clipped_note() {
        let b = cancel_body(" 1700000001 ", &"hủy ".repeat(60));
        assert_eq!(b["TYPE"], 4);
        assert_eq!(b["ORDER_NUMBER"], "1700000001");
        assert!(b["NOTE"].as_str().unwrap().len() <= 150);
    }

    #[test]
    fn answers() {
        assert!(run(
            200,
            json!({"status":200,"error":false,"message":"OK","data":null})
        )
        .is_ok());
        assert!(matches!(
            run(500, json!({})),
            Err(Attempt::Failed(CarrierError::Unavailable { .. }))
        ));
        assert!(matches!(
            classify_cancel(StatusCode::OK, b"<html>502</html>"),
            Err(Attempt::Failed(CarrierError::Unavailable { .. }))
        ));
        assert!(matches!(
            run(
                200,
                json!({"status":401,"error":true,"message":"Token invalid"})
            ),
            Err(Attempt::AuthExpired(_))
        ));
        // An earlier attempt went through but its answer was lost.
        assert!(run(
            200,
            json!({"status":400,"error":true,"message":"Đơn hàng đã hủy trước đó"})
        )
        .is_ok());
        assert!(matches!(
            run(
                200,
                json!({"status":400,"error":true,"message":"Đơn hàng đã được bưu tá nhận, không thể hủy"})
            ),
            Err(Attempt::Failed(CarrierError::Rejected { .. }))
        ));
        assert!(matches!(
            run(
                200,
                json!({"status":500,"error":true,"message":"Lỗi hệ thống"})
            ),
            Err(Attempt::Failed(CarrierError::Unavailable { .. }))
        ));
    }
}
