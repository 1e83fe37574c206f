//! Viettel Post wire format: the `createOrder` body we send and how its answers are read.
//! Sources and the field list: see `viettelpost.rs`.

use reqwest::StatusCode;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{json, Value};
use unicode_normalization::UnicodeNormalization;

use super::{Booking, BookingRequest, CarrierError, Party};

/// Viettel Post's limit on every string field (bytes of UTF-8, not characters).
pub(super) const MAX_TEXT_BYTES: usize = 150;

/// One create-order attempt's outcome besides success.
pub(super) enum Attempt {
    /// The token was refused: log in again and retry once.
    AuthExpired(String),
    Failed(CarrierError),
}

/// Maps one `createOrder` answer to a booking, an auth retry or an error.
pub(super) fn classify(
    status: StatusCode,
    bytes: &[u8],
    reference: &str,
) -> Result<Booking, Attempt> {
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(Attempt::AuthExpired(format!("HTTP {status}")));
    }
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        return Err(Attempt::Failed(CarrierError::unavailable(format!(
            "Viettel Post createOrder answered HTTP {status}"
        ))));
    }
    let Ok(env) = serde_json::from_slice::<Value>(bytes) else {
        // An HTML error page from a gateway, a truncated body…: not about this parcel.
        return Err(Attempt::Failed(CarrierError::unavailable(format!(
            "Viettel Post createOrder answered HTTP {status} without JSON"
        ))));
    };
    if !is_error(&env) && status.is_success() {
        return match string_field(&env, "/data/ORDER_NUMBER") {
            Some(code) => Ok(Booking {
                tracking_code: code,
                fee: money_field(&env, "/data/MONEY_TOTAL"),
            }),
            None => Err(Attempt::Failed(CarrierError::unavailable(
                "Viettel Post accepted the order but sent no tracking code",
            ))),
        };
    }
    let message = message_of(&env);
    let code = env.get("status").and_then(as_i64);
    if matches!(code, Some(401 | 403)) || mentions_token(&message) {
        return Err(Attempt::AuthExpired(message));
    }
    if is_duplicate(&message) {
        return match tracking_in(&env, &message, reference) {
            Some(code) => Ok(Booking {
                tracking_code: code,
                fee: money_field(&env, "/data/MONEY_TOTAL"),
            }),
            None => Err(Attempt::Failed(CarrierError::rejected(format!(
                "Viettel Post already has an order with reference {reference} but did not say \
                 its tracking code; find it in the partner portal before booking again \
                 (carrier said: {message})"
            )))),
        };
    }
    if code.is_some_and(|c| c >= 500) {
        return Err(Attempt::Failed(CarrierError::unavailable(format!(
            "Viettel Post internal error: {message}"
        ))));
    }
    if !status.is_success() && env.get("error").and_then(Value::as_bool) != Some(true) {
        // Not Viettel Post's business envelope (e.g. a framework's 404 for a wrong base_url):
        // a set-up problem, not this parcel's data.
        return Err(Attempt::Failed(CarrierError::unavailable(format!(
            "Viettel Post createOrder answered HTTP {status}: {message}"
        ))));
    }
    Err(Attempt::Failed(CarrierError::rejected(message)))
}

/// `error: true`, or a `status` other than 200.
pub(super) fn is_error(env: &Value) -> bool {
    env.get("error").and_then(Value::as_bool).unwrap_or(false)
        || env.get("status").and_then(as_i64).is_some_and(|s| s != 200)
}

pub(super) fn message_of(env: &Value) -> String {
    match env.get("message") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => "no message".to_owned(),
    }
}

fn folded(message: &str) -> String {
    message.nfc().collect::<String>().to_lowercase()
}

fn mentions_token(message: &str) -> bool {
    let m = folded(message);
    m.contains("token") || m.contains("unauthori") || m.contains("phiên đăng nhập")
}

/// A refusal because an order with this `ORDER_NUMBER` exists (`CHECK_UNIQUE`).
fn is_duplicate(message: &str) -> bool {
    let m = folded(message);
    [
        "tồn tại",
        "ton tai",
        "trùng",
        "duplicate",
        "exist",
        "already",
    ]
    .iter()
    .any(|k| m.contains(k))
}

/// The existing order's tracking code in a duplicate refusal: `data.ORDER_NUMBER` when it is not
/// our own reference echoed back, else a run of ≥ 8 digits in the message that is not part of
/// our reference (Viettel Post tracking codes are numeric).
fn tracking_in(env: &Value, message: &str, reference: &str) -> Option<String> {
    if let Some(code) = string_field(env, "/data/ORDER_NUMBER") {
        if code != reference {
            return Some(code);
        }
    }
    message
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|t| t.len() >= 8 && t.bytes().all(|b| b.is_ascii_digit()) && !reference.contains(t))
        .map(str::to_owned)
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn string_field(env: &Value, pointer: &str) -> Option<String> {
    match env.pointer(pointer)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn money_field(env: &Value, pointer: &str) -> Option<Decimal> {
    match env.pointer(pointer)? {
        Value::Number(n) => n.to_string().parse().ok(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Whole VND as the wire wants it (half-up, as đồng are counted), refusing negatives.
fn vnd(field: &str, d: Decimal) -> Result<i64, CarrierError> {
    if d.is_sign_negative() && !d.is_zero() {
        return Err(CarrierError::rejected(format!("{field} is negative: {d}")));
    }
    d.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
        .ok_or_else(|| CarrierError::rejected(format!("{field} is too large: {d}")))
}

/// At most `max` bytes, cut at a character boundary.
pub(super) fn clip(s: &str, max: usize) -> String {
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

/// "street, ward, province" in ≤ 150 bytes; a long street is shortened, never the ward and
/// province the carrier routes by.
fn address(p: &Party) -> String {
    let full = p.full_address();
    if full.len() <= MAX_TEXT_BYTES {
        return full;
    }
    let tail = Party {
        street: String::new(),
        ..p.clone()
    }
    .full_address();
    let budget = MAX_TEXT_BYTES.saturating_sub(tail.len() + 2);
    let street = clip(&p.street, budget);
    if street.is_empty() {
        clip(&tail, MAX_TEXT_BYTES)
    } else {
        format!("{street}, {tail}")
    }
}

fn require(field: &str, value: &str) -> Result<(), CarrierError> {
    if value.trim().is_empty() {
        return Err(CarrierError::rejected(format!("{field} is empty")));
    }
    Ok(())
}

/// The `createOrder` body for one parcel, or `Rejected` for data no carrier would accept.
pub(super) fn order_body(req: &BookingRequest) -> Result<Value, CarrierError> {
    require("reference", &req.reference)?;
    require("sender name", &req.sender.name)?;
    require("sender phone", &req.sender.phone)?;
    require("sender address", &req.sender.full_address())?;
    require("receiver name", &req.receiver.name)?;
    require("receiver phone", &req.receiver.phone)?;
    require("receiver address", &req.receiver.full_address())?;
    require("service", &req.service)?;
    if req.items.is_empty() {
        return Err(CarrierError::rejected("parcel has no items"));
    }
    let weight = i64::try_from(req.weight_g)
        .ok()
        .filter(|w| *w > 0)
        .ok_or_else(|| CarrierError::rejected(format!("weight {} g", req.weight_g)))?;
    let value = vnd("goods value", req.value)?;
    let cod = vnd("COD", req.cod)?;
    let order_payment = if cod > 0 { 3 } else { 1 };
    let quantity: u64 = req.items.iter().map(|i| u64::from(i.qty)).sum();
    let mut list = Vec::with_capacity(req.items.len());
    for item in &req.items {
        list.push(json!({
            "PRODUCT_NAME": clip(&item.name, MAX_TEXT_BYTES),
            "PRODUCT_PRICE": vnd("item price", item.unit_price)?,
            "PRODUCT_WEIGHT": item.weight_g,
            "PRODUCT_QUANTITY": item.qty,
        }));
    }
    let first = req.items[0].name.trim();
    let product_name = match req.items.len() {
        1 => clip(first, MAX_TEXT_BYTES),
        n => {
            let more = format!(" (+{} khác)", n - 1);
            format!("{}{more}", clip(first, MAX_TEXT_BYTES - more.len()))
        }
    };
    let description = req
        .items
        .iter()
        .map(|i| format!("{} x {}", i.qty, i.name.trim()))
        .collect::<Vec<_>>()
        .join("; ");
    Ok(json!({
        "ORDER_NUMBER": clip(&req.reference, MAX_TEXT_BYTES),
        "SENDER_FULLNAME": clip(&req.sender.name, MAX_TEXT_BYTES),
        "SENDER_ADDRESS": address(&req.sender),
        "SENDER_PHONE": clip(&req.sender.phone, MAX_TEXT_BYTES),
        "RECEIVER_FULLNAME": clip(&req.receiver.name, MAX_TEXT_BYTES),
        "RECEIVER_ADDRESS": address(&req.receiver),
        "RECEIVER_PHONE": clip(&req.receiver.phone, MAX_TEXT_BYTES),
        "PRODUCT_NAME": product_name,
        "PRODUCT_DESCRIPTION": clip(&description, MAX_TEXT_BYTES),
        "PRODUCT_QUANTITY": quantity,
        "PRODUCT_PRICE": value,
        "PRODUCT_WEIGHT": weight,
        "PRODUCT_TYPE": "HH",
        "ORDER_PAYMENT": order_payment,
        "ORDER_SERVICE": clip(&req.service, MAX_TEXT_BYTES),
        "ORDER_SERVICE_ADD": "",
        "ORDER_NOTE": clip(req.note.as_deref().unwrap_or(""), MAX_TEXT_BYTES),
        "MONEY_COLLECTION": cod,
        "CHECK_UNIQUE": true,
        "LIST_ITEM": list,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(status: u16, body: Value) -> Result<Booking, Attempt> {
        classify(
            StatusCode::from_u16(status).expect("status"),
            body.to_string().as_bytes(),
            "P-20261121-0001",
        )
    }

    #[test]
    fn vnd_rounds_half_up_and_refuses_negatives() {
        assert_eq!(vnd("x", Decimal::new(12345, 1)).ok(), Some(1235));
        assert_eq!(vnd("x", Decimal::ZERO).ok(), Some(0));
        assert!(vnd("x", Decimal::new(-1, 0)).is_err());
    }

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("Đường", 2), "Đ");
        assert_eq!(clip("abc", 10), "abc");
    }

    #[test]
    fn clip_counts_bytes_not_characters() {
        // "Ễ" is 3 bytes in UTF-8 (precomposed): 150 bytes hold 50 of them.
        let s = "Ễ".repeat(60);
        let c = clip(&s, MAX_TEXT_BYTES);
        assert_eq!(c.len(), 150);
        assert_eq!(c.chars().count(), 50);
        // A cut inside a 3-byte character backs off to the boundary before it.
        let s = format!("a{}", "Ễ".repeat(60));
        let c = clip(&s, MAX_TEXT_BYTES);
        assert_eq!(c.len(), 148);
        assert!(c.starts_with('a'));
    }

    #[test]
    fn every_string_field_is_at_most_150_bytes() {
        let long = "Nguyễn Thị Lan Hương Trần Hưng Đạo ".repeat(20);
        let party = Party {
            name: long.clone(),
            phone: long.clone(),
            street: long.clone(),
            ward: long.clone(),
            province: long.clone(),
        };
        let req = BookingRequest {
            reference: "P-1".into(),
            sender: party.clone(),
            receiver: party,
            weight_g: 500,
            value: Decimal::new(100_000, 0),
            cod: Decimal::ZERO,
            service: "VCN".into(),
            items: vec![super::super::BookingItem {
                name: long.clone(),
                qty: 1,
                unit_price: Decimal::new(100_000, 0),
                weight_g: 500,
            }],
            note: Some(long),
        };
        let body = order_body(&req).expect("body");
        fn check(v: &Value, path: &str) {
            match v {
                Value::String(s) => assert!(s.len() <= MAX_TEXT_BYTES, "{path}: {} bytes", s.len()),
                Value::Object(m) => m.iter().for_each(|(k, v)| check(v, &format!("{path}.{k}"))),
                Value::Array(a) => a.iter().for_each(|v| check(v, path)),
                _ => {}
            }
        }
        check(&body, "body");
        assert_eq!(body["ORDER_PAYMENT"], 1, "no COD: collect nothing");
    }

    #[test]
    fn long_street_is_shortened_not_the_province() {
        let p = Party {
            name: "A".into(),
            phone: "0912345678".into(),
            street: "Số 12 ".repeat(40),
            ward: "Phường Hoa Lư".into(),
            province: "Ninh Bình".into(),
        };
        let a = address(&p);
        assert!(a.len() <= MAX_TEXT_BYTES, "{a}");
        assert!(a.ends_with(", Phường Hoa Lư, Ninh Bình"), "{a}");
    }

    #[test]
    fn classify_success_reads_tracking_and_fee() {
        let b = ok(
            200,
            json!({"status":200,"error":false,"message":"OK",
                   "data":{"ORDER_NUMBER":"1234567890123","MONEY_TOTAL":33000}}),
        )
        .ok()
        .expect("booking");
        assert_eq!(b.tracking_code, "1234567890123");
        assert_eq!(b.fee, Some(Decimal::new(33000, 0)));
    }

    #[test]
    fn classify_errors() {
        let auth = ok(
            200,
            json!({"status":401,"error":true,"message":"Unauthorized"}),
        );
        assert!(matches!(auth, Err(Attempt::AuthExpired(_))));
        let biz = ok(
            200,
            json!({"status":205,"error":true,"message":"Sai số điện thoại"}),
        );
        assert!(matches!(
            biz,
            Err(Attempt::Failed(CarrierError::Rejected { .. }))
        ));
        let internal = ok(
            200,
            json!({"status":500,"error":true,"message":"Lỗi hệ thống"}),
        );
        assert!(matches!(
            internal,
            Err(Attempt::Failed(CarrierError::Unavailable { .. }))
        ));
        let html = classify(StatusCode::OK, b"<html>", "r");
        assert!(matches!(
            html,
            Err(Attempt::Failed(CarrierError::Unavailable { .. }))
        ));
    }

    #[test]
    fn duplicate_with_code_in_message_is_success() {
        let b = ok(
            200,
            json!({"status":400,"error":true,
                   "message":"Mã đơn hàng P-20261121-0001 đã tồn tại (vận đơn 1700012345)"}),
        )
        .ok()
        .expect("booking");
        assert_eq!(b.tracking_code, "1700012345");
        let echoed = ok(
            200,
            json!({"status":400,"error":true,"message":"ORDER_NUMBER đã tồn tại",
                   "data":{"ORDER_NUMBER":"P-20261121-0001"}}),
        );
        assert!(matches!(
            echoed,
            Err(Attempt::Failed(CarrierError::Rejected { .. }))
        ));
    }
}
