//! Viettel Post's own label, through its printing API (a child module of `viettelpost.rs`,
//! so it shares the account's token cache).
//!
//! Wire format (public partner API guide §9.2 "Lấy link in vận đơn", and public client code):
//! 1. `POST {base_url}/order/printing-code`, header `Token`, body
//!    `{"EXPIRY_TIME": <epoch ms in the future>, "ORDER_ARRAY": ["<tracking>", …]}` (≤ 100
//!    codes) → `{"status": 200, "error": false, "message": "<print code>", "data": null}`; the
//!    print code comes in `message`. Errors: the usual envelope with `error: true`.
//! 2. `GET {print_url}?type=<paper>&bill=<print code>&showPostage=1` on its print service
//!    (`https://digitalize.viettelpost.vn/DigitalizePrint/report.do`) → the label. Paper types:
//!    `1` A5, `2` A6, `100` A7.
//!
//! We ask for A6 for `size=a6` and A7 (its smallest) for `size=80x80`, and accept only a PDF
//! answer: anything else (an HTML page, an error) is an error and the caller prints our own.

use std::time::Duration;

use serde_json::{json, Value};

use super::super::vtp_wire::{is_error, message_of};
use super::super::{CarrierClient, CarrierError};
use super::{transport_error, ViettelPost};
use crate::shipping::label::LabelSize;

/// How long the print link lives at Viettel Post (we fetch it at once).
const LINK_TTL: Duration = Duration::from_secs(600);
/// A label PDF larger than this is not a label.
const MAX_PDF_BYTES: usize = 8 * 1024 * 1024;

/// Viettel Post's paper type for a label size.
pub fn paper_type(size: LabelSize) -> &'static str {
    match size {
        LabelSize::A6 => "2",
        LabelSize::Square80 => "100",
    }
}

enum PrintCode {
    Code(String),
    AuthExpired(String),
}

impl ViettelPost {
    /// The carrier's label PDF for booked parcels (`tracking` codes, ≤ 100), fetched from
    /// `print_url`.
    pub async fn label_pdf(
        &self,
        tracking: &[String],
        print_url: &str,
        size: LabelSize,
    ) -> Result<Vec<u8>, CarrierError> {
        if tracking.is_empty() || tracking.len() > 100 {
            return Err(CarrierError::rejected(
                "1–100 tracking codes per print code",
            ));
        }
        let (token, generation) = self.token().await?;
        let code = match self.printing_code(&token, tracking).await? {
            PrintCode::Code(c) => c,
            PrintCode::AuthExpired(_) => {
                let token = self.relogin(generation).await?;
                match self.printing_code(&token, tracking).await? {
                    PrintCode::Code(c) => c,
                    PrintCode::AuthExpired(m) => {
                        return Err(CarrierError::unavailable(format!(
                            "Viettel Post refused a fresh token: {m}"
                        )))
                    }
                }
            }
        };
        self.fetch_pdf(print_url, &code, size).await
    }

    async fn printing_code(
        &self,
        token: &str,
        tracking: &[String],
    ) -> Result<PrintCode, CarrierError> {
        let expiry = chrono::Utc::now().timestamp_millis() + LINK_TTL.as_millis() as i64;
        let resp = self
            .http()?
            .post(self.url("/order/printing-code"))
            .header("Token", token)
            .json(&json!({"EXPIRY_TIME": expiry, "ORDER_ARRAY": tracking}))
            .send()
            .await
            .map_err(|e| transport_error("printing-code", &e))?;
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Ok(PrintCode::AuthExpired(format!("HTTP {status}")));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport_error("printing-code", &e))?;
        if status.is_server_error() {
            return Err(CarrierError::unavailable(format!(
                "Viettel Post printing-code answered HTTP {status}"
            )));
        }
        let env: Value = serde_json::from_slice(&bytes).map_err(|_| {
            CarrierError::unavailable(format!(
                "Viettel Post printing-code answered HTTP {status} without JSON"
            ))
        })?;
        if is_error(&env) || !status.is_success() {
            let message = message_of(&env);
            if matches!(env.get("status").and_then(Value::as_i64), Some(401 | 403))
                || message.to_ascii_lowercase().contains("token")
            {
                return Ok(PrintCode::AuthExpired(message));
            }
            return Err(CarrierError::rejected(format!(
                "Viettel Post gave no print code: {message}"
            )));
        }
        match env.get("message").and_then(Value::as_str).map(str::trim) {
            Some(code) if is_print_code(code) => Ok(PrintCode::Code(code.to_owned())),
            _ => Err(CarrierError::unavailable(
                "Viettel Post printing-code answered without a print code",
            )),
        }
    }

    async fn fetch_pdf(
        &self,
        print_url: &str,
        code: &str,
        size: LabelSize,
    ) -> Result<Vec<u8>, CarrierError> {
        let resp = self
            .http()?
            .get(print_url)
            .query(&[
                ("type", paper_type(size)),
                ("bill", code),
                ("showPostage", "1"),
            ])
            .send()
            .await
            .map_err(|e| transport_error("print link", &e))?;
        let status = resp.status();
        if resp
            .content_length()
            .is_some_and(|n| n as usize > MAX_PDF_BYTES)
        {
            return Err(CarrierError::unavailable("Viettel Post label is too large"));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport_error("print link", &e))?;
        if !status.is_success() {
            return Err(CarrierError::unavailable(format!(
                "Viettel Post print link answered HTTP {status}"
            )));
        }
        if bytes.len() > MAX_PDF_BYTES || !bytes.starts_with(b"%PDF-") {
            return Err(CarrierError::unavailable(
                "Viettel Post print link answered something other than a PDF",
            ));
        }
        Ok(bytes.to_vec())
    }
}

/// Print codes seen are base64-like tokens; anything else is not put into a URL.
fn is_print_code(s: &str) -> bool {
    (8..=512).contains(&s.len())
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-' | b'$')
        })
}

impl CarrierClient {
    /// The carrier's own label PDF for a booked parcel, where the carrier issues one
    /// (Viettel Post, GHTK, GHN when its print page is a PDF); `None` for carriers without
    /// (the mock).
    pub async fn label_pdf(
        &self,
        tracking: &str,
        print_url: &str,
        size: LabelSize,
    ) -> Option<Result<Vec<u8>, CarrierError>> {
        match self {
            CarrierClient::ViettelPost(c) => {
                Some(c.label_pdf(&[tracking.to_owned()], print_url, size).await)
            }
            CarrierClient::Ghtk(c) => Some(c.label_pdf(tracking, size).await),
            CarrierClient::Ghn(c) => Some(c.label_pdf(tracking, size).await),
            CarrierClient::Mock(_) => None,
        }
    }
}

impl CarrierClient {
    /// The carrier's print page for a booked parcel where it has one (GHN: gen-token, then
    /// its print URL); `None` for the others.
    pub async fn label_link(
        &self,
        tracking: &str,
        size: LabelSize,
    ) -> Option<Result<String, CarrierError>> {
        match self {
            CarrierClient::Ghn(c) => Some(c.label_link(tracking, size).await),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_codes_are_checked_before_going_into_a_url() {
        assert!(is_print_code(
            "ISJDgZ3NSiYMtPUk7vTzQK8ZWUDexvvDKIclc0NplOU="
        ));
        assert!(!is_print_code("short"));
        assert!(!is_print_code("abc def&x=1 long enough"));
    }

    #[test]
    fn paper_types() {
        assert_eq!(paper_type(LabelSize::A6), "2");
        assert_eq!(paper_type(LabelSize::Square80), "100");
    }
}
