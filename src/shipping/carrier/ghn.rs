//! GHN (Giao Hàng Nhanh) partner API: create order, fee quote, label, cancel.
//!
//! Sources read to learn the wire format (public documentation and client code; nothing
//! copied): GHN's API docs (https://api.ghn.vn/home/docs/detail: "Create order", "Calculate
//! fee", "Cancel order", "Print order", "Webhook"), public JS/TS clients (`createOrderGHN`,
//! `cancelOrderGHN`, the `giaohangnhanh` npm client's types) and `../shared/FIELD-NOTES.md`.
//!
//! Every call carries the headers `Token: <carriers.token>` and `ShopId: <carriers.shop_id>`.
//! Answers are `{"code": 200, "message": "Success", "data": …}`; refusals answer HTTP 400 with
//! `{"code": 400, "message", "code_message"}`.
//!
//! - Create: `POST {base_url}/shiip/public-api/v2/shipping-order/create` with
//!   `client_order_code` (our parcel id), `from_*` and `to_*` name/phone/address/ward/province
//!   (names, the post-2025 two-level units; GHN resolves them), `weight` (grams), `length`,
//!   `width`, `height` (cm), `service_type_id` 2 (e-commerce), `payment_type_id` 1 (the shop
//!   pays the fee: the buyer pays exactly `cod_amount`, which already holds what they owe),
//!   `required_note` "CHOXEMHANGKHONGTHU" (may look, not try), `cod_amount`,
//!   `insurance_value` (declared value, GHN's cap 5 000 000), `items[{name, quantity, price,
//!   weight}]` → `data.order_code` (the tracking code), `data.total_fee`.
//!   A `client_order_code` GHN already has is refused; the adapter then asks
//!   `POST …/v2/shipping-order/detail-by-client-code {client_order_code}` → `data.order_code`,
//!   so booking is idempotent by parcel id.
//! - Fee: `POST …/v2/shipping-order/fee` (same address, weight, COD and value fields) →
//!   `data.total`.
//! - Label: `POST …/v2/a5/gen-token {order_codes: [code]}` → `data.token`, then the print page
//!   `GET {base_url}/a5/public-api/printA5?token=…` (or `print80x80`, `print52x70`). The page is
//!   what the shop prints; [`Ghn::label_link`] gives its URL, [`Ghn::label_pdf`] fetches it and
//!   accepts only a PDF (GHN usually serves HTML: then our own label is printed).
//! - Cancel: `POST …/v2/switch-status/cancel {order_codes: [code]}` →
//!   `data: [{order_code, result, message}]`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use unicode_normalization::UnicodeNormalization;

use super::partner::{
    clip_chars, http_client, money, read_pdf, require, transport_error, url_safe, whole_vnd,
};
use super::{Booking, BookingRequest, Carrier, CarrierError, CONNECT_TIMEOUT, REQUEST_TIMEOUT};
use crate::config::Secret;
use crate::shipping::label::LabelSize;

const NAME: &str = "GHN";
const API: &str = "/shiip/public-api/v2";
/// GHN's cap on `insurance_value`.
const MAX_INSURANCE: i64 = 5_000_000;
/// The box size sent with every parcel (GHN requires one; it bills by weight below its
/// volumetric threshold).
const BOX_CM: (u32, u32, u32) = (20, 15, 10);

/// A GHN shop account. Cheap to clone.
#[derive(Clone)]
pub struct Ghn {
    inner: Arc<Inner>,
}

struct Inner {
    base_url: String,
    token: Secret,
    shop_id: String,
    http: Result<reqwest::Client, String>,
}

impl std::fmt::Debug for Ghn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ghn")
            .field("base_url", &self.inner.base_url)
            .field("shop_id", &self.inner.shop_id)
            .finish_non_exhaustive()
    }
}

/// One call's outcome besides its data.
enum Refusal {
    Duplicate(String),
    Failed(CarrierError),
}

impl Ghn {
    /// `base_url` as configured, e.g. `https://online-gateway.ghn.vn`.
    pub fn new(base_url: &str, token: Secret, shop_id: &str) -> Self {
        Self::with_timeouts(base_url, token, shop_id, CONNECT_TIMEOUT, REQUEST_TIMEOUT)
    }

    /// As [`Ghn::new`] with other time limits (tests use short ones).
    pub fn with_timeouts(
        base_url: &str,
        token: Secret,
        shop_id: &str,
        connect: Duration,
        request: Duration,
    ) -> Self {
        Ghn {
            inner: Arc::new(Inner {
                base_url: base_url.trim_end_matches('/').to_owned(),
                token,
                shop_id: shop_id.trim().to_owned(),
                http: http_client(connect, request),
            }),
        }
    }

    /// POSTs `body` to `{base_url}{API}{path}` and reads the envelope's `data`.
    async fn call(&self, path: &str, body: &Value, what: &str) -> Result<Value, Refusal> {
        let http = self
            .inner
            .http
            .as_ref()
            .map_err(|e| Refusal::Failed(CarrierError::unavailable(e.clone())))?;
        let resp = http
            .post(format!("{}{API}{path}", self.inner.base_url))
            .header("Token", self.inner.token.expose())
            .header("ShopId", &self.inner.shop_id)
            .json(body)
            .send()
            .await
            .map_err(|e| Refusal::Failed(transport_error(NAME, what, &e)))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Refusal::Failed(transport_error(NAME, what, &e)))?;
        envelope(status, &bytes, what)
    }

    /// Books one parcel (idempotent by `req.reference`, see the module doc).
    pub async fn book(&self, req: &BookingRequest) -> Result<Booking, CarrierError> {
        let body = order_body(req)?;
        let result = match self
            .call("/shipping-order/create", &body, "create order")
            .await
        {
            Ok(data) => booking_of(&data),
            Err(Refusal::Duplicate(message)) => self.existing(&req.reference, &message).await,
            // A refusal in words we do not know as GHN's duplicate (its wording is not
            // documented): an earlier attempt whose answer was lost may have created the
            // order, so GHN is asked before the refusal is taken as final.
            Err(Refusal::Failed(e)) if !e.retryable() => match self.find(&req.reference).await {
                Ok(Some(booking)) => Ok(booking),
                Ok(None) => Err(e),
                Err(lookup) => Err(lookup),
            },
            Err(Refusal::Failed(e)) => Err(e),
        };
        if let Err(e) = &result {
            tracing::warn!(reference = %req.reference, retryable = e.retryable(), "ghn booking failed");
        }
        result
    }

    /// The order GHN has for `reference`, if it has one (`Err` only when GHN could not be
    /// asked: a retryable failure).
    async fn find(&self, reference: &str) -> Result<Option<Booking>, CarrierError> {
        let body = json!({"client_order_code": reference});
        match self
            .call(
                "/shipping-order/detail-by-client-code",
                &body,
                "order detail",
            )
            .await
        {
            Ok(data) => Ok(data
                .get("order_code")
                .and_then(Value::as_str)
                .filter(|code| !code.trim().is_empty())
                .map(|code| Booking {
                    tracking_code: code.trim().to_owned(),
                    fee: money(data.get("total_fee")),
                })),
            Err(Refusal::Failed(e)) if e.retryable() => Err(e),
            Err(_) => Ok(None),
        }
    }

    /// The order GHN already has for `reference` (its create refused it as a repeat with
    /// `message`).
    async fn existing(&self, reference: &str, message: &str) -> Result<Booking, CarrierError> {
        self.find(reference).await?.ok_or_else(|| {
            CarrierError::rejected(format!(
                "GHN already has an order {reference} but did not say its code ({message})"
            ))
        })
    }

    /// GHN's total fee for `req` in VND.
    pub async fn quote(&self, req: &BookingRequest) -> Result<Decimal, CarrierError> {
        let cod = whole_vnd("COD", req.cod)?;
        let value = whole_vnd("goods value", req.value)?.min(MAX_INSURANCE);
        let body = json!({
            "service_type_id": 2,
            "from_province_name": req.sender.province.trim(),
            "from_ward_name": req.sender.ward.trim(),
            "to_province_name": req.receiver.province.trim(),
            "to_ward_name": req.receiver.ward.trim(),
            "weight": req.weight_g.max(1),
            "length": BOX_CM.0, "width": BOX_CM.1, "height": BOX_CM.2,
            "insurance_value": value,
            "cod_value": cod,
        });
        match self.call("/shipping-order/fee", &body, "fee").await {
            Ok(data) => money(data.get("total"))
                .ok_or_else(|| CarrierError::unavailable("GHN fee answered without data.total")),
            Err(Refusal::Duplicate(m)) => Err(CarrierError::rejected(m)),
            Err(Refusal::Failed(e)) => Err(e),
        }
    }

    /// Cancels the GHN order `code`.
    pub async fn cancel(&self, code: &str, _note: &str) -> Result<(), CarrierError> {
        let code = code.trim();
        if code.is_empty() {
            return Err(CarrierError::rejected("no tracking code to cancel"));
        }
        let body = json!({"order_codes": [code]});
        let data = match self.call("/switch-status/cancel", &body, "cancel").await {
            Ok(d) => d,
            Err(Refusal::Duplicate(m)) => return Err(CarrierError::rejected(m)),
            Err(Refusal::Failed(CarrierError::Rejected { message }))
                if already_cancelled(&message) =>
            {
                return Ok(())
            }
            Err(Refusal::Failed(e)) => return Err(e),
        };
        let row = data
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["order_code"] == code));
        match row {
            Some(r) if r["result"] == true => Ok(()),
            Some(r) => {
                let message = r["message"].as_str().unwrap_or("no message").to_owned();
                if already_cancelled(&message) {
                    Ok(())
                } else {
                    Err(CarrierError::rejected(message))
                }
            }
            None => Err(CarrierError::unavailable(
                "GHN cancel answered without this order's result",
            )),
        }
    }

    /// The print page for `code` (valid for a while at GHN): gen-token, then the page URL.
    pub async fn label_link(&self, code: &str, size: LabelSize) -> Result<String, CarrierError> {
        if !url_safe(code) {
            return Err(CarrierError::rejected("not a GHN order code"));
        }
        let data = match self
            .call(
                "/a5/gen-token",
                &json!({"order_codes": [code]}),
                "gen-token",
            )
            .await
        {
            Ok(d) => d,
            Err(Refusal::Duplicate(m)) => return Err(CarrierError::rejected(m)),
            Err(Refusal::Failed(e)) => return Err(e),
        };
        let token = data
            .get("token")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| url_safe(t))
            .ok_or_else(|| CarrierError::unavailable("GHN gen-token answered without a token"))?;
        let page = match size {
            LabelSize::A6 => "printA5",
            LabelSize::Square80 => "print80x80",
        };
        Ok(format!(
            "{}/a5/public-api/{page}?token={token}",
            self.inner.base_url
        ))
    }

    /// GHN's label as a PDF, when its print page serves one (see the module doc).
    pub async fn label_pdf(&self, code: &str, size: LabelSize) -> Result<Vec<u8>, CarrierError> {
        let url = self.label_link(code, size).await?;
        let http = self
            .inner
            .http
            .as_ref()
            .map_err(|e| CarrierError::unavailable(e.clone()))?;
        let resp = http
            .get(url)
            .send()
            .await
            .map_err(|e| transport_error(NAME, "print page", &e))?;
        read_pdf(NAME, resp).await
    }
}

impl Carrier for Ghn {
    fn book(
        &self,
        req: &BookingRequest,
    ) -> impl std::future::Future<Output = Result<Booking, CarrierError>> + Send {
        Ghn::book(self, req)
    }

    fn cancel(
        &self,
        tracking: &str,
        note: &str,
    ) -> impl std::future::Future<Output = Result<(), CarrierError>> + Send {
        Ghn::cancel(self, tracking, note)
    }
}

fn folded(message: &str) -> String {
    message.nfc().collect::<String>().to_lowercase()
}

fn already_cancelled(message: &str) -> bool {
    let m = folded(message);
    ["đã hủy", "đã huỷ", "already cancel", "status cancel"]
        .iter()
        .any(|k| m.contains(k))
}

fn is_duplicate(message: &str, code_message: &str) -> bool {
    let m = folded(&format!("{message} {code_message}"));
    (m.contains("client_order_code") || m.contains("client order code") || m.contains("mã đơn"))
        && (m.contains("tồn tại")
            || m.contains("exist")
            || m.contains("trùng")
            || m.contains("duplicate"))
}

fn booking_of(data: &Value) -> Result<Booking, CarrierError> {
    match data
        .get("order_code")
        .and_then(Value::as_str)
        .map(str::trim)
    {
        Some(code) if !code.is_empty() => Ok(Booking {
            tracking_code: code.to_owned(),
            fee: money(data.get("total_fee")),
        }),
        _ => Err(CarrierError::unavailable(
            "GHN accepted the order but sent no order_code",
        )),
    }
}

/// Reads GHN's `{code, message, data}` envelope.
fn envelope(status: StatusCode, bytes: &[u8], what: &str) -> Result<Value, Refusal> {
    let fail = |e| Err(Refusal::Failed(e));
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return fail(CarrierError::unavailable(format!(
            "GHN {what} refused the token or shop id (HTTP {status}): check carriers.token and carriers.shop_id"
        )));
    }
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        return fail(CarrierError::unavailable(format!(
            "GHN {what} answered HTTP {status}"
        )));
    }
    let Ok(env) = serde_json::from_slice::<Value>(bytes) else {
        return fail(CarrierError::unavailable(format!(
            "GHN {what} answered HTTP {status} without JSON"
        )));
    };
    let code = env.get("code").and_then(Value::as_i64);
    if code == Some(200) && status.is_success() {
        return Ok(env.get("data").cloned().unwrap_or(Value::Null));
    }
    let message = env
        .get("message")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .unwrap_or("no message")
        .to_owned();
    let code_message = env
        .get("code_message")
        .and_then(Value::as_str)
        .unwrap_or("");
    if matches!(code, Some(401 | 403)) || folded(&message).contains("token") {
        return fail(CarrierError::unavailable(format!(
            "GHN {what} refused the token or shop id: {message}"
        )));
    }
    if code.is_some_and(|c| c >= 500) {
        return fail(CarrierError::unavailable(format!(
            "GHN {what} internal error: {message}"
        )));
    }
    if code.is_none() {
        return fail(CarrierError::unavailable(format!(
            "GHN {what} answered HTTP {status}: {message}"
        )));
    }
    if is_duplicate(&message, code_message) {
        return Err(Refusal::Duplicate(message));
    }
    fail(CarrierError::rejected(message))
}

/// The create-order body for one parcel, or `Rejected` for data no carrier would accept.
pub(super) fn order_body(req: &BookingRequest) -> Result<Value, CarrierError> {
    require("reference", &req.reference)?;
    require("sender name", &req.sender.name)?;
    require("sender phone", &req.sender.phone)?;
    require("receiver name", &req.receiver.name)?;
    require("receiver phone", &req.receiver.phone)?;
    require("receiver province", &req.receiver.province)?;
    require("receiver ward", &req.receiver.ward)?;
    if req.items.is_empty() {
        return Err(CarrierError::rejected("parcel has no items"));
    }
    if req.weight_g == 0 {
        return Err(CarrierError::rejected("weight 0 g"));
    }
    let cod = whole_vnd("COD", req.cod)?;
    let value = whole_vnd("goods value", req.value)?.min(MAX_INSURANCE);
    let mut items = Vec::with_capacity(req.items.len());
    for item in &req.items {
        items.push(json!({
            "name": clip_chars(&item.name, 200),
            "quantity": item.qty.max(1),
            "price": whole_vnd("item price", item.unit_price)?,
            "weight": item.weight_g.max(1),
        }));
    }
    let content = req
        .items
        .iter()
        .map(|i| format!("{} x {}", i.qty, i.name.trim()))
        .collect::<Vec<_>>()
        .join("; ");
    Ok(json!({
        "client_order_code": req.reference.trim(),
        "payment_type_id": 1,
        "required_note": "CHOXEMHANGKHONGTHU",
        "service_type_id": 2,
        "note": clip_chars(req.note.as_deref().unwrap_or(""), 500),
        "content": clip_chars(&content, 2000),
        "from_name": clip_chars(&req.sender.name, 100),
        "from_phone": req.sender.phone.trim(),
        "from_address": clip_chars(&req.sender.full_address(), 200),
        "from_ward_name": req.sender.ward.trim(),
        "from_province_name": req.sender.province.trim(),
        "to_name": clip_chars(&req.receiver.name, 100),
        "to_phone": req.receiver.phone.trim(),
        "to_address": clip_chars(&req.receiver.full_address(), 200),
        "to_ward_name": req.receiver.ward.trim(),
        "to_province_name": req.receiver.province.trim(),
        "weight": req.weight_g,
        "length": BOX_CM.0, "width": BOX_CM.1, "height": BOX_CM.2,
        "cod_amount": cod,
        "insurance_value": value,
        "items": items,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(status: u16, v: Value) -> Result<Value, Refusal> {
        envelope(
            StatusCode::from_u16(status).unwrap(),
            v.to_string().as_bytes(),
            "x",
        )
    }

    #[test]
    fn envelopes() {
        assert!(run(
            200,
            json!({"code": 200, "message": "Success", "data": {"order_code": "A"}})
        )
        .is_ok());
        assert!(matches!(
            run(
                400,
                json!({"code": 400, "message": "Số điện thoại không hợp lệ"})
            ),
            Err(Refusal::Failed(CarrierError::Rejected { .. }))
        ));
        assert!(matches!(
            run(
                400,
                json!({"code": 400, "message": "Mã đơn hàng client_order_code đã tồn tại"})
            ),
            Err(Refusal::Duplicate(_))
        ));
        for (s, v) in [
            (401, json!({"code": 401, "message": "Token is not valid"})),
            (500, json!({})),
            (200, json!({"code": 500, "message": "Lỗi hệ thống"})),
            (404, json!({"error": "not found"})),
        ] {
            assert!(
                matches!(
                    run(s, v.clone()),
                    Err(Refusal::Failed(CarrierError::Unavailable { .. }))
                ),
                "{s} {v}"
            );
        }
        assert!(matches!(
            envelope(StatusCode::OK, b"<html>", "x"),
            Err(Refusal::Failed(CarrierError::Unavailable { .. }))
        ));
    }

    #[test]
    fn total_fee_may_be_a_string() {
        let b = booking_of(&json!({"order_code": "FFFNL9HH", "total_fee": "33000"})).unwrap();
        assert_eq!(b.fee, Some(Decimal::from(33000)));
        assert!(booking_of(&json!({})).unwrap_err().retryable());
    }
}
