//! GHTK (Giao Hàng Tiết Kiệm) partner API: create order, fee quote, label, cancel.
//!
//! Sources read to learn the wire format (public documentation and client code; nothing
//! copied): GHTK's API guide (https://docs.giaohangtietkiem.vn, "Đăng đơn hàng", "Tính phí",
//! "In nhãn đơn hàng", "Hủy đơn hàng", "Webhook"), public TypeScript/Java clients' request and
//! response types (`GHTKCreateResponse`, `GHTKOrderRequest`), and `../shared/FIELD-NOTES.md`.
//!
//! Every call carries the header `Token: <carriers.token>` (and `X-Client-Source:
//! <carriers.client_source>` when configured, for partner accounts). Answers are
//! `{"success": bool, "message": "…", …}`; a refusal may arrive as HTTP 200 with
//! `success: false`, so the envelope is checked, not only the status.
//!
//! - Create: `POST {base_url}/services/shipment/order?ver=1.5` with
//!   `{"products": [{name, weight (kg, per unit), quantity, price}], "order": {id (our parcel
//!   id), pick_name, pick_tel, pick_address, pick_province, pick_district, pick_ward, name, tel,
//!   address, province, district, ward, hamlet, pick_money (= COD), value, is_freeship,
//!   transport, pick_option, note, total_weight (kg)}}` → `order.label` (the tracking code),
//!   `order.fee`, `order.insurance_fee`. An order id GHTK already has is refused with
//!   `error.code = "ORDER_ID_EXIST"` and `error.ghtk_label`: that label is our booking (an
//!   earlier attempt whose answer was lost), so booking is idempotent by parcel id.
//!   Addresses are post-2025 two-level (province + ward): `district` goes empty.
//!   `is_freeship = "1"`: the receiver pays exactly `pick_money`, which already holds what the
//!   buyer owes; GHTK bills its fee to the shop (see `viettelpost.rs` for the same choice).
//! - Fee: `GET {base_url}/services/shipment/fee?pick_province&pick_ward&pick_address&province&
//!   ward&address&weight (grams)&value&transport=road&deliver_option=none` →
//!   `fee.fee`, `fee.insurance_fee`, `fee.delivery` (false: GHTK does not deliver there).
//! - Label: `GET {base_url}/services/label/{label}?original=portrait&paper_size=A6` → a PDF
//!   (A5 or A6 only; our 80×80 gets A6).
//! - Cancel: `POST {base_url}/services/shipment/cancel/{label}` → `success`; GHTK refuses once
//!   the parcel is picked up; "already cancelled" counts as cancelled.

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

const NAME: &str = "GHTK";

/// A GHTK shop account. Cheap to clone.
#[derive(Clone)]
pub struct Ghtk {
    inner: Arc<Inner>,
}

struct Inner {
    base_url: String,
    token: Secret,
    client_source: String,
    http: Result<reqwest::Client, String>,
}

impl std::fmt::Debug for Ghtk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ghtk")
            .field("base_url", &self.inner.base_url)
            .finish_non_exhaustive()
    }
}

impl Ghtk {
    /// `base_url` as configured, e.g. `https://services.giaohangtietkiem.vn`.
    pub fn new(base_url: &str, token: Secret, client_source: &str) -> Self {
        Self::with_timeouts(
            base_url,
            token,
            client_source,
            CONNECT_TIMEOUT,
            REQUEST_TIMEOUT,
        )
    }

    /// As [`Ghtk::new`] with other time limits (tests use short ones).
    pub fn with_timeouts(
        base_url: &str,
        token: Secret,
        client_source: &str,
        connect: Duration,
        request: Duration,
    ) -> Self {
        Ghtk {
            inner: Arc::new(Inner {
                base_url: base_url.trim_end_matches('/').to_owned(),
                token,
                client_source: client_source.trim().to_owned(),
                http: http_client(connect, request),
            }),
        }
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, CarrierError> {
        let http = self
            .inner
            .http
            .as_ref()
            .map_err(|e| CarrierError::unavailable(e.clone()))?;
        let mut r = http
            .request(method, format!("{}{path}", self.inner.base_url))
            .header("Token", self.inner.token.expose());
        if !self.inner.client_source.is_empty() {
            r = r.header("X-Client-Source", &self.inner.client_source);
        }
        Ok(r)
    }

    /// Books one parcel (idempotent by `req.reference`, see the module doc).
    pub async fn book(&self, req: &BookingRequest) -> Result<Booking, CarrierError> {
        let body = order_body(req)?;
        let resp = self
            .request(reqwest::Method::POST, "/services/shipment/order?ver=1.5")?
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(NAME, "create order", &e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport_error(NAME, "create order", &e))?;
        let result = classify_create(status, &bytes, &req.reference);
        if let Err(e) = &result {
            // No carrier text in logs: it may echo the receiver's address or phone.
            tracing::warn!(reference = %req.reference, retryable = e.retryable(), "ghtk booking failed");
        }
        result
    }

    /// GHTK's fee for `req` in VND (shipping plus insurance).
    pub async fn quote(&self, req: &BookingRequest) -> Result<Decimal, CarrierError> {
        let weight = req.weight_g.max(1).to_string();
        let value = whole_vnd("goods value", req.value)?.to_string();
        let query = [
            ("pick_province", req.sender.province.as_str()),
            ("pick_district", ""),
            ("pick_ward", req.sender.ward.as_str()),
            ("pick_address", req.sender.street.as_str()),
            ("province", req.receiver.province.as_str()),
            ("district", ""),
            ("ward", req.receiver.ward.as_str()),
            ("address", req.receiver.street.as_str()),
            ("weight", weight.as_str()),
            ("value", value.as_str()),
            ("transport", "road"),
            ("deliver_option", "none"),
        ];
        let resp = self
            .request(reqwest::Method::GET, "/services/shipment/fee")?
            .query(&query)
            .send()
            .await
            .map_err(|e| transport_error(NAME, "fee", &e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport_error(NAME, "fee", &e))?;
        let env = envelope(status, &bytes, "fee")?;
        if env.pointer("/fee/delivery") == Some(&Value::Bool(false)) {
            return Err(CarrierError::rejected(
                "GHTK does not deliver to this address",
            ));
        }
        let fee = money(env.pointer("/fee/fee"))
            .ok_or_else(|| CarrierError::unavailable("GHTK fee answered without fee.fee"))?;
        let insurance = money(env.pointer("/fee/insurance_fee")).unwrap_or_default();
        Ok(fee + insurance)
    }

    /// Cancels the GHTK order `label`.
    pub async fn cancel(&self, label: &str, _note: &str) -> Result<(), CarrierError> {
        let label = label.trim();
        if !url_safe(label) {
            return Err(CarrierError::rejected("not a GHTK label code"));
        }
        let resp = self
            .request(
                reqwest::Method::POST,
                &format!("/services/shipment/cancel/{label}"),
            )?
            .send()
            .await
            .map_err(|e| transport_error(NAME, "cancel", &e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport_error(NAME, "cancel", &e))?;
        match envelope(status, &bytes, "cancel") {
            Ok(_) => Ok(()),
            Err(CarrierError::Rejected { message }) if already_cancelled(&message) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// GHTK's own label PDF for the order `label`.
    pub async fn label_pdf(&self, label: &str, size: LabelSize) -> Result<Vec<u8>, CarrierError> {
        if !url_safe(label) {
            return Err(CarrierError::rejected("not a GHTK label code"));
        }
        let paper = match size {
            LabelSize::A6 | LabelSize::Square80 => "A6",
        };
        let resp = self
            .request(reqwest::Method::GET, &format!("/services/label/{label}"))?
            .query(&[("original", "portrait"), ("paper_size", paper)])
            .send()
            .await
            .map_err(|e| transport_error(NAME, "label", &e))?;
        read_pdf(NAME, resp).await
    }
}

impl Carrier for Ghtk {
    fn book(
        &self,
        req: &BookingRequest,
    ) -> impl std::future::Future<Output = Result<Booking, CarrierError>> + Send {
        Ghtk::book(self, req)
    }

    fn cancel(
        &self,
        tracking: &str,
        note: &str,
    ) -> impl std::future::Future<Output = Result<(), CarrierError>> + Send {
        Ghtk::cancel(self, tracking, note)
    }
}

fn folded(message: &str) -> String {
    message.nfc().collect::<String>().to_lowercase()
}

fn mentions_token(message: &str) -> bool {
    let m = folded(message);
    m.contains("token") || m.contains("unauthori") || m.contains("xác thực")
}

/// A refusal that says the system is busy ("Hệ thống đang bận, vui lòng thử lại"): GHTK's
/// envelope has no code that tells a passing failure from a final one, its words do. Only
/// words of a busy or overloaded system count: "vui lòng thử lại" (please try again) alone
/// also ends refusals of a wrong address, which retrying would never book.
fn says_try_again(message: &str) -> bool {
    let m = folded(message);
    // With its diacritics only: unaccented "dang ban" is also "đang bán" (on sale).
    [
        "đang bận",
        "quá tải",
        "busy",
        "overloaded",
        "timed out",
        "timeout",
    ]
    .iter()
    .any(|k| m.contains(k))
        && !already_cancelled(message)
}

fn already_cancelled(message: &str) -> bool {
    let m = folded(message);
    ["đã hủy", "đã huỷ", "đã bị hủy", "already cancel"]
        .iter()
        .any(|k| m.contains(k))
}

fn message_of(env: &Value) -> String {
    match env.get("message") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => "no message".to_owned(),
    }
}

/// The `{success, message}` envelope of any GHTK answer: `Ok` when `success` is true;
/// auth, 5xx and non-JSON answers, and a refusal that asks to try again, are retryable; any
/// other refusal is final.
fn envelope(status: StatusCode, bytes: &[u8], call: &str) -> Result<Value, CarrierError> {
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(CarrierError::unavailable(format!(
            "GHTK {call} refused the token (HTTP {status}): check carriers.token"
        )));
    }
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        return Err(CarrierError::unavailable(format!(
            "GHTK {call} answered HTTP {status}"
        )));
    }
    let Ok(env) = serde_json::from_slice::<Value>(bytes) else {
        return Err(CarrierError::unavailable(format!(
            "GHTK {call} answered HTTP {status} without JSON"
        )));
    };
    if env.get("success").and_then(Value::as_bool) == Some(true) && status.is_success() {
        return Ok(env);
    }
    let message = message_of(&env);
    if mentions_token(&message) {
        return Err(CarrierError::unavailable(format!(
            "GHTK {call} refused the token: {message}"
        )));
    }
    if says_try_again(&message) {
        return Err(CarrierError::unavailable(format!("GHTK {call}: {message}")));
    }
    if env.get("success").and_then(Value::as_bool) != Some(false) {
        // Not GHTK's envelope (a gateway's 404 for a wrong base_url…): set-up, not the parcel.
        return Err(CarrierError::unavailable(format!(
            "GHTK {call} answered HTTP {status}: {message}"
        )));
    }
    Err(CarrierError::rejected(message))
}

/// Maps one create-order answer to a booking or an error.
pub(super) fn classify_create(
    status: StatusCode,
    bytes: &[u8],
    reference: &str,
) -> Result<Booking, CarrierError> {
    match envelope(status, bytes, "create order") {
        Ok(env) => {
            let label = env
                .pointer("/order/label")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .ok_or_else(|| {
                    CarrierError::unavailable("GHTK accepted the order but sent no label")
                })?;
            let fee = money(env.pointer("/order/fee"))
                .map(|f| f + money(env.pointer("/order/insurance_fee")).unwrap_or_default());
            Ok(Booking {
                tracking_code: label.to_owned(),
                fee,
            })
        }
        Err(CarrierError::Rejected { message }) => {
            let env: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
            if env.pointer("/error/code").and_then(Value::as_str) == Some("ORDER_ID_EXIST") {
                return match env
                    .pointer("/error/ghtk_label")
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                {
                    Some(label) => Ok(Booking {
                        tracking_code: label.to_owned(),
                        fee: None,
                    }),
                    None => Err(CarrierError::rejected(format!(
                        "GHTK already has an order with id {reference} but did not say its \
                         label; find it in the GHTK portal before booking again ({message})"
                    ))),
                };
            }
            Err(CarrierError::Rejected { message })
        }
        Err(e) => Err(e),
    }
}

/// Kilograms as GHTK wants them (3 decimals).
fn kg(grams: u64) -> Value {
    json!((grams as f64) / 1000.0)
}

/// The create-order body for one parcel, or `Rejected` for data no carrier would accept.
pub(super) fn order_body(req: &BookingRequest) -> Result<Value, CarrierError> {
    require("reference", &req.reference)?;
    require("sender name", &req.sender.name)?;
    require("sender phone", &req.sender.phone)?;
    require("sender province", &req.sender.province)?;
    require("receiver name", &req.receiver.name)?;
    require("receiver phone", &req.receiver.phone)?;
    require("receiver province", &req.receiver.province)?;
    if req.items.is_empty() {
        return Err(CarrierError::rejected("parcel has no items"));
    }
    if req.weight_g == 0 {
        return Err(CarrierError::rejected("weight 0 g"));
    }
    let cod = whole_vnd("COD", req.cod)?;
    let value = whole_vnd("goods value", req.value)?;
    let mut products = Vec::with_capacity(req.items.len());
    for item in &req.items {
        products.push(json!({
            "name": clip_chars(&item.name, 200),
            "weight": kg(u64::from(item.weight_g.max(1))),
            "quantity": item.qty.max(1),
            "price": whole_vnd("item price", item.unit_price)?,
        }));
    }
    let street = |p: &super::Party| {
        if p.street.trim().is_empty() {
            p.full_address()
        } else {
            p.street.trim().to_owned()
        }
    };
    Ok(json!({
        "products": products,
        "order": {
            "id": req.reference.trim(),
            "pick_name": clip_chars(&req.sender.name, 100),
            "pick_tel": req.sender.phone.trim(),
            "pick_address": clip_chars(&street(&req.sender), 200),
            "pick_province": req.sender.province.trim(),
            "pick_district": "",
            "pick_ward": req.sender.ward.trim(),
            "name": clip_chars(&req.receiver.name, 100),
            "tel": req.receiver.phone.trim(),
            "address": clip_chars(&street(&req.receiver), 200),
            "province": req.receiver.province.trim(),
            "district": "",
            "ward": req.receiver.ward.trim(),
            "hamlet": "Khác",
            "pick_money": cod,
            "value": value,
            "is_freeship": "1",
            "transport": "road",
            "pick_option": "cod",
            "total_weight": kg(req.weight_g),
            "note": clip_chars(req.note.as_deref().unwrap_or(""), 120),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::super::{BookingItem, Party};
    use super::*;

    fn req() -> BookingRequest {
        let party = |name: &str, ward: &str, province: &str| Party {
            name: name.into(),
            phone: "0912345678".into(),
            street: "12 Trần Hưng Đạo".into(),
            ward: ward.into(),
            province: province.into(),
        };
        BookingRequest {
            reference: "P-hub-20261202-0001".into(),
            sender: party("Hub", "Phường Hoa Lư", "Ninh Bình"),
            receiver: party("Nguyễn Thị Lan", "Phường Tam Điệp", "Ninh Bình"),
            weight_g: 1450,
            value: Decimal::from(370_000),
            cod: Decimal::from(400_000),
            service: String::new(),
            items: vec![BookingItem {
                name: "Mật ong".into(),
                qty: 2,
                unit_price: Decimal::from(185_000),
                weight_g: 650,
            }],
            note: None,
        }
    }

    #[test]
    fn body_weighs_in_kilograms_and_collects_the_cod() {
        let b = order_body(&req()).expect("body");
        assert_eq!(b["products"][0]["weight"], json!(0.65));
        assert_eq!(b["order"]["total_weight"], json!(1.45));
        assert_eq!(b["order"]["pick_money"], 400_000);
        assert_eq!(b["order"]["value"], 370_000);
        assert_eq!(b["order"]["id"], "P-hub-20261202-0001");
        assert_eq!(b["order"]["is_freeship"], "1");
        let mut bad = req();
        bad.cod = Decimal::from(-1);
        assert!(matches!(
            order_body(&bad),
            Err(CarrierError::Rejected { .. })
        ));
    }

    #[test]
    fn answers() {
        let ok = |status: u16, v: Value| {
            classify_create(
                StatusCode::from_u16(status).unwrap(),
                v.to_string().as_bytes(),
                "P-1",
            )
        };
        let b = ok(
            200,
            json!({"success": true, "message": "", "order": {"label": "S1.A1.17373471", "fee": 30400, "insurance_fee": 0}}),
        )
        .expect("booked");
        assert_eq!(b.tracking_code, "S1.A1.17373471");
        assert_eq!(b.fee, Some(Decimal::from(30400)));
        let dup = ok(
            200,
            json!({"success": false, "message": "Mã đơn hàng đã tồn tại", "error": {"code": "ORDER_ID_EXIST", "ghtk_label": "S1.A1.2001297581"}}),
        )
        .expect("duplicate is the earlier booking");
        assert_eq!(dup.tracking_code, "S1.A1.2001297581");
        assert!(matches!(
            ok(
                200,
                json!({"success": false, "message": "Số điện thoại không hợp lệ"})
            ),
            Err(CarrierError::Rejected { .. })
        ));
        assert!(ok(
            200,
            json!({"success": false, "message": "Token không hợp lệ"})
        )
        .unwrap_err()
        .retryable());
        assert!(ok(401, json!({"success": false, "message": "x"}))
            .unwrap_err()
            .retryable());
        assert!(ok(502, json!({})).unwrap_err().retryable());
        // A busy system asks to try again: retried, not a final rejection.
        assert!(ok(
            200,
            json!({"success": false, "message": "Hệ thống đang bận, vui lòng thử lại"})
        )
        .unwrap_err()
        .retryable());
        // A wrong address "please check and try again" stays final.
        assert!(!ok(
            200,
            json!({"success": false, "message": "Địa chỉ không hợp lệ, vui lòng kiểm tra và thử lại"})
        )
        .unwrap_err()
        .retryable());
        assert!(classify_create(StatusCode::OK, b"<html>", "P-1")
            .unwrap_err()
            .retryable());
    }
}
