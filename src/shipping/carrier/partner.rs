//! Small helpers shared by the GHTK and GHN adapters: the HTTP client, transport errors,
//! money on the wire, and the checks made before a carrier's code goes into a URL.

use std::time::Duration;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

use super::CarrierError;

/// A label PDF larger than this is not a label.
pub(super) const MAX_PDF_BYTES: usize = 8 * 1024 * 1024;

pub(super) fn http_client(connect: Duration, request: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(connect)
        .timeout(request)
        .user_agent(concat!("livepack/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP client could not be built: {e}"))
}

pub(super) fn transport_error(carrier: &str, call: &str, e: &reqwest::Error) -> CarrierError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    CarrierError::unavailable(format!("{carrier} {call} {what}"))
}

/// A money field as the carriers send it: a number or a numeric string.
pub(super) fn money(v: Option<&Value>) -> Option<Decimal> {
    match v? {
        Value::Number(n) => n.to_string().parse().ok(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Whole đồng as the wire wants them (half-up), refusing negatives.
pub(super) fn whole_vnd(field: &str, d: Decimal) -> Result<i64, CarrierError> {
    if d.is_sign_negative() && !d.is_zero() {
        return Err(CarrierError::rejected(format!("{field} is negative: {d}")));
    }
    d.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
        .ok_or_else(|| CarrierError::rejected(format!("{field} is too large: {d}")))
}

/// A tracking code or token that may go into a URL path or query: 1–64 of
/// `A-Z a-z 0-9 . _ -`.
pub(super) fn url_safe(code: &str) -> bool {
    (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// At most `max` characters.
pub(super) fn clip_chars(s: &str, max: usize) -> String {
    s.trim()
        .chars()
        .take(max)
        .collect::<String>()
        .trim_end()
        .to_owned()
}

pub(super) fn require(field: &str, value: &str) -> Result<(), CarrierError> {
    if value.trim().is_empty() {
        return Err(CarrierError::rejected(format!("{field} is empty")));
    }
    Ok(())
}

/// Reads a label answer: a PDF, or an error (a JSON refusal is final, anything else is
/// retryable).
pub(super) async fn read_pdf(
    carrier: &str,
    resp: reqwest::Response,
) -> Result<Vec<u8>, CarrierError> {
    let status = resp.status();
    if resp
        .content_length()
        .is_some_and(|n| n as usize > MAX_PDF_BYTES)
    {
        return Err(CarrierError::unavailable(format!(
            "{carrier} label is too large"
        )));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| transport_error(carrier, "label", &e))?;
    if status.is_success() && bytes.starts_with(b"%PDF-") && bytes.len() <= MAX_PDF_BYTES {
        return Ok(bytes.to_vec());
    }
    if status.is_client_error() && status != reqwest::StatusCode::UNAUTHORIZED {
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            let message = v
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("no message");
            return Err(CarrierError::rejected(format!(
                "{carrier} gave no label: {message}"
            )));
        }
    }
    Err(CarrierError::unavailable(format!(
        "{carrier} label answered HTTP {status} without a PDF"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_safe_codes() {
        assert!(url_safe("S1.A1.17373471"));
        assert!(url_safe("FFFNL9HH"));
        assert!(!url_safe("../etc"));
        assert!(!url_safe("a/b"));
        assert!(!url_safe(""));
        assert!(!url_safe(&"A".repeat(65)));
    }

    #[test]
    fn money_and_whole_vnd() {
        assert_eq!(
            money(Some(&serde_json::json!(30400))),
            Some(Decimal::from(30400))
        );
        assert_eq!(
            money(Some(&serde_json::json!(" 33000 "))),
            Some(Decimal::from(33000))
        );
        assert_eq!(money(Some(&Value::Null)), None);
        assert_eq!(whole_vnd("x", Decimal::new(12345, 1)).ok(), Some(1235));
        assert!(whole_vnd("x", Decimal::from(-1)).is_err());
    }
}
