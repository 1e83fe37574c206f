//! The Viettel Post status webhook: `POST` with body
//! `{"DATA": {"ORDER_NUMBER", "ORDER_REFERENCE", "ORDER_STATUSDATE", "ORDER_STATUS",
//! "STATUS_NAME", "LOCALION_CURRENTLY", "NOTE", "MONEY_COLLECTION", …}, "TOKEN": "<secret>"}`.
//! Sources: see `viettelpost.rs`.
//!
//! Money (COD statements): `MONEY_COLLECTION` is the COD of the waybill (collected when the
//! status is 501, delivered), `MONEY_TOTAL` the parcel's total charge (VAT included). Each is
//! whole đồng, a JSON integer or a string of digits; a negative, fractional, exponent-form or
//! unreadable amount refuses the webhook (400 naming the field), never recorded or skipped.
//! Viettel Post's webhook carries no transfer date nor partial-return flag: those come from
//! its settlement export (`POST /v1/carriers/{id}/settlements`).
//!
//! Status codes (`ORDER_STATUS`) and what they mean for us:
//!
//! | codes | Viettel Post meaning | ours |
//! |---|---|---|
//! | -100, 100, 102, 103, 104, 106 | order received / waiting / assigned to a pickup office or postman / partner asks to take goods back | `None` (not picked up yet) |
//! | -108, -109, -110 | sender dropped it at a post office / convenience store | `HandedOver` |
//! | 105 | postman picked it up | `HandedOver` |
//! | 200, 202 | received at origin office / waybill corrected | `HandedOver` |
//! | 300–499 | closing and receiving manifests, bags, mail trips, trucks (in transit) | `HandedOver` |
//! | 500, 506–510, 550, 570 | out for delivery, receiver away, to pick up at office, redeliver, forwarded, reassigned | `HandedOver` |
//! | 502, 505, 515 | returning to origin office / return notice / return approved | `HandedOver` (still with the carrier) |
//! | 501 | delivered ("Phát thành công") | `Delivered` |
//! | 504 | returned to sender ("Chuyển trả người gửi") | `Returned` |
//! | 101, 107, 201, 503 | cancelled: by Viettel Post, by partner API, waybill entry cancelled, at customer's request | `CancelledByCarrier` |
//! | anything else | unknown | `None` |

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

use super::{webhook_fee, webhook_money, ParcelStatus, StatusUpdate, WebhookError};
use crate::config::Secret;

/// What a Viettel Post `ORDER_STATUS` means for a parcel (table above).
pub fn map_viettelpost_status(code: i64) -> Option<ParcelStatus> {
    match code {
        501 => Some(ParcelStatus::Delivered),
        504 => Some(ParcelStatus::Returned),
        101 | 107 | 201 | 503 => Some(ParcelStatus::CancelledByCarrier),
        -110..=-108 | 105 | 200 | 202 | 300..=499 | 500 | 502 | 505..=510 | 515 | 550 | 570 => {
            Some(ParcelStatus::HandedOver)
        }
        _ => None,
    }
}

/// Authenticates (`TOKEN` against the configured secret, constant time) before looking at
/// `DATA`, so an unauthenticated caller learns nothing about what a valid body looks like.
pub fn parse_viettelpost_webhook(
    body: &[u8],
    secret: &Secret,
) -> Result<StatusUpdate, WebhookError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("not JSON: {e}")))?;
    let Some(root) = root.as_object() else {
        return Err(WebhookError::Malformed("not a JSON object".into()));
    };
    let token = root.get("TOKEN").and_then(Value::as_str).unwrap_or("");
    if !secret.matches(token) {
        return Err(WebhookError::BadSecret);
    }
    let data = match root.get("DATA") {
        Some(Value::Object(d)) => d,
        Some(_) => return Err(WebhookError::Malformed("DATA is not an object".into())),
        None => return Err(WebhookError::Malformed("DATA is missing".into())),
    };
    let text = |key: &str| -> Option<String> {
        match data.get(key)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let tracking_code = text("ORDER_NUMBER")
        .ok_or_else(|| WebhookError::Malformed("DATA.ORDER_NUMBER is missing".into()))?;
    let carrier_code = match data.get("ORDER_STATUS") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| WebhookError::Malformed("DATA.ORDER_STATUS is not a status code".into()))?;
    Ok(StatusUpdate {
        tracking_code,
        reference: text("ORDER_REFERENCE"),
        status: map_viettelpost_status(carrier_code),
        carrier_code,
        carrier_status: text("STATUS_NAME").unwrap_or_default(),
        at: text("ORDER_STATUSDATE").and_then(|s| parse_status_date(&s)),
        money: super::CodReport {
            cod_collected: webhook_money("DATA.MONEY_COLLECTION", data.get("MONEY_COLLECTION"))?,
            // MONEY_TOTAL: the parcel's total charge with VAT (MONEY_FEECOD, the COD fee, is
            // part of it); 0 or absent when the webhook does not carry it.
            fee: webhook_fee("DATA.MONEY_TOTAL", data.get("MONEY_TOTAL")).filter(|f| !f.is_zero()),
            transfer_date: None,
            partial_return: false,
        },
    })
}

/// `dd/MM/yyyy HH:mm:ss` (seconds optional) in Vietnam time (UTC+7, no DST).
fn parse_status_date(s: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(s, "%d/%m/%Y %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%d/%m/%Y %H:%M"))
        .ok()?;
    let vn = FixedOffset::east_opt(7 * 3600)?;
    vn.from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_date_is_vietnam_time() {
        let t = parse_status_date("13/12/2018 17:34:05").expect("date");
        assert_eq!(t.to_rfc3339(), "2018-12-13T10:34:05+00:00");
        let t = parse_status_date("01/02/2026 7:05:00").expect("single-digit hour");
        assert_eq!(t.to_rfc3339(), "2026-02-01T00:05:00+00:00");
        assert!(parse_status_date("2026-02-01").is_none());
    }

    #[test]
    fn money_fields_are_read_as_whole_dong() {
        let secret = Secret::new("s");
        let body = |extra: serde_json::Value| {
            let mut data = serde_json::json!({"ORDER_NUMBER": "1001", "ORDER_STATUS": 501});
            for (k, v) in extra.as_object().unwrap() {
                data[k] = v.clone();
            }
            serde_json::json!({"DATA": data, "TOKEN": "s"}).to_string()
        };
        let u = parse_viettelpost_webhook(
            body(serde_json::json!({"MONEY_COLLECTION": 370000, "MONEY_TOTAL": "33000"}))
                .as_bytes(),
            &secret,
        )
        .unwrap();
        assert_eq!(
            u.money.cod_collected,
            Some(rust_decimal::Decimal::from(370_000))
        );
        assert_eq!(u.money.fee, Some(rust_decimal::Decimal::from(33_000)));
        let u = parse_viettelpost_webhook(
            body(serde_json::json!({"MONEY_COLLECTION": null, "MONEY_TOTAL": 0})).as_bytes(),
            &secret,
        )
        .unwrap();
        assert_eq!(u.money, super::super::CodReport::default());
    }

    #[test]
    fn a_bad_amount_refuses_the_webhook_naming_the_field() {
        let secret = Secret::new("s");
        let body = |money: &str, total: &str| {
            format!(
                r#"{{"DATA": {{"ORDER_NUMBER": "1001", "ORDER_STATUS": 501, "MONEY_COLLECTION": {money}, "MONEY_TOTAL": {total}}}, "TOKEN": "s"}}"#
            )
        };
        for bad in [
            "-5000",
            "1e12",
            "12.5",
            "370000.5",
            "\"12.5.3\"",
            "\"-1\"",
            "\"abc\"",
            "true",
        ] {
            match parse_viettelpost_webhook(body(bad, "0").as_bytes(), &secret) {
                Err(WebhookError::Malformed(m)) => {
                    assert!(m.contains("DATA.MONEY_COLLECTION"), "{bad}: {m}")
                }
                other => panic!("MONEY_COLLECTION {bad}: {other:?}"),
            }
        }
        // A bad fee alone is left out; the status and the COD still apply.
        let u = parse_viettelpost_webhook(body("0", "-33000").as_bytes(), &secret)
            .expect("a bad MONEY_TOTAL is left out");
        assert_eq!(u.status, Some(ParcelStatus::Delivered));
        assert_eq!(u.money.fee, None);
        let u = parse_viettelpost_webhook(body("370000.0", "33000").as_bytes(), &secret)
            .expect("a whole number written as a float");
        assert_eq!(
            u.money.cod_collected,
            Some(rust_decimal::Decimal::from(370_000))
        );
        let u = parse_viettelpost_webhook(body("\"370000\"", "33000").as_bytes(), &secret)
            .expect("digits in a string");
        assert_eq!(
            u.money.cod_collected,
            Some(rust_decimal::Decimal::from(370_000))
        );
    }

    #[test]
    fn mapping_covers_the_documented_codes() {
        use ParcelStatus::*;
        for c in [-100, 100, 102, 103, 104, 106, 999] {
            assert_eq!(map_viettelpost_status(c), None, "{c}");
        }
        for c in [
            -108, 105, 200, 202, 300, 301, 400, 403, 500, 502, 505, 506, 515, 550,
        ] {
            assert_eq!(map_viettelpost_status(c), Some(HandedOver), "{c}");
        }
        assert_eq!(map_viettelpost_status(501), Some(Delivered));
        assert_eq!(map_viettelpost_status(504), Some(Returned));
        for c in [101, 107, 201, 503] {
            assert_eq!(map_viettelpost_status(c), Some(CancelledByCarrier), "{c}");
        }
    }
}
