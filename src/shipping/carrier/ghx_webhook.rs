//! GHTK and GHN status webhooks. Neither carrier signs its callbacks, so the shared secret
//! travels in the URL we register with them (`…/webhook?secret=…`) or, where the sender can
//! set headers, in `X-Livepack-Secret`; [`super::parse_webhook_request`] checks it before
//! anything here runs.
//!
//! **GHTK** posts a form (or JSON) with `partner_id` (our parcel id), `label_id` (its
//! tracking code), `status_id`, `action_time` (RFC 3339, +07:00), `reason_code`, `reason`,
//! `weight` (kg), `fee`, `pick_money`, `return_part_package` (1: part of the parcel came
//! back); only HTTP 200 counts as received. Its `status_id` and what it means for us:
//!
//! | status_id | GHTK meaning | ours |
//! |---|---|---|
//! | 1, 2, 7, 8, 12, 127, 128 | not yet received / received / could not pick up / pickup delayed / picking | `None` |
//! | 3, 4, 9, 10, 20, 45, 49, 123, 410 | picked up, delivering, could not deliver, delivery delayed, returning, shipper reports | `HandedOver` |
//! | 5, 6 | delivered (not yet / already reconciled) | `Delivered` |
//! | 11, 21 | returned to the shop (reconciled / not yet) | `Returned` |
//! | -1 | cancelled | `CancelledByCarrier` |
//! | 13 and anything else | compensated (lost) / unknown | `None` (kept for the record) |
//!
//! 45 ("shipper says delivered") stays `HandedOver`: GHTK confirms with 5, and a final status
//! is never undone.
//!
//! **GHN** posts JSON: `Type` (create, switch_status, update_weight, update_cod, update_fee),
//! `OrderCode`, `ClientOrderCode` (our parcel id), `Status`, `Time`, `CODAmount`,
//! `CODTransferDate`, `Fee{…}`, `TotalFee`, `IsPartialReturn`, `Reason`, `Warehouse`…; it
//! retries 10 times 5 s apart until HTTP 200. Its `Status` and ours:
//!
//! | Status | ours |
//! |---|---|
//! | ready_to_pick, picking, money_collect_picking | `None` |
//! | picked, storing, transporting, sorting, delivering, money_collect_delivering, delivery_fail, waiting_to_return, return, return_transporting, return_sorting, returning, return_fail | `HandedOver` |
//! | delivered | `Delivered` |
//! | returned | `Returned` |
//! | cancel | `CancelledByCarrier` |
//! | exception, damage, lost, anything else | `None` |
//!
//! GHN statuses are words; `carrier_code` is their position in [`GHN_STATUSES`] (1-based, 0
//! unknown) and `carrier_status` the word itself.
//!
//! Amounts (GHTK's `pick_money` and `fee`, GHN's `CODAmount`, `TotalFee` and `Fee{…}`) are
//! whole đồng, a number or a string of digits; a negative, fractional, exponent-form or
//! unreadable amount refuses the webhook (400 naming the field), never recorded or skipped.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::{webhook_fee, webhook_money, CodReport, ParcelStatus, StatusUpdate, WebhookError};
use crate::domain::schedule::TZ;

/// What a GHTK `status_id` means for a parcel (table above).
pub fn map_ghtk_status(code: i64) -> Option<ParcelStatus> {
    match code {
        -1 => Some(ParcelStatus::CancelledByCarrier),
        5 | 6 => Some(ParcelStatus::Delivered),
        11 | 21 => Some(ParcelStatus::Returned),
        3 | 4 | 9 | 10 | 20 | 45 | 49 | 123 | 410 => Some(ParcelStatus::HandedOver),
        _ => None,
    }
}

/// GHN's statuses, in the order that gives their `carrier_code`.
pub const GHN_STATUSES: [&str; 22] = [
    "ready_to_pick",
    "picking",
    "cancel",
    "money_collect_picking",
    "picked",
    "storing",
    "transporting",
    "sorting",
    "delivering",
    "money_collect_delivering",
    "delivered",
    "delivery_fail",
    "waiting_to_return",
    "return",
    "return_transporting",
    "return_sorting",
    "returning",
    "return_fail",
    "returned",
    "exception",
    "damage",
    "lost",
];

/// What a GHN `Status` means for a parcel (table above).
pub fn map_ghn_status(status: &str) -> Option<ParcelStatus> {
    match status.trim().to_ascii_lowercase().as_str() {
        "delivered" => Some(ParcelStatus::Delivered),
        "returned" => Some(ParcelStatus::Returned),
        "cancel" => Some(ParcelStatus::CancelledByCarrier),
        "picked"
        | "storing"
        | "transporting"
        | "sorting"
        | "delivering"
        | "money_collect_delivering"
        | "delivery_fail"
        | "waiting_to_return"
        | "return"
        | "return_transporting"
        | "return_sorting"
        | "returning"
        | "return_fail" => Some(ParcelStatus::HandedOver),
        _ => None,
    }
}

/// A JSON object, or a form body read as one (every value a string).
fn object_of(body: &[u8]) -> Result<Map<String, Value>, WebhookError> {
    let trimmed = body.iter().position(|b| !b.is_ascii_whitespace());
    if trimmed.is_some_and(|i| body[i] == b'{') {
        return match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(WebhookError::Malformed("not a JSON object".into())),
            Err(e) => Err(WebhookError::Malformed(format!("not JSON: {e}"))),
        };
    }
    if std::str::from_utf8(body).is_err() {
        return Err(WebhookError::Malformed("body is not UTF-8".into()));
    }
    let map: Map<String, Value> = form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    if map.is_empty() {
        return Err(WebhookError::Malformed("empty body".into()));
    }
    Ok(map)
}

fn text(m: &Map<String, Value>, key: &str) -> Option<String> {
    match m.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(m: &Map<String, Value>, key: &str) -> Option<i64> {
    match m.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn flag(m: &Map<String, Value>, key: &str) -> bool {
    match m.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
        Some(Value::String(s)) => matches!(s.trim(), "1" | "true" | "True"),
        _ => false,
    }
}

fn instant(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A date as GHN writes it (RFC 3339 instant, or a plain `YYYY-MM-DD`), as the Vietnamese day.
fn vn_date(s: &str) -> Option<NaiveDate> {
    instant(s)
        .map(|t| t.with_timezone(&TZ).date_naive())
        .or_else(|| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok())
}

/// Parses a GHTK status webhook (already authenticated).
pub fn parse_ghtk_webhook(body: &[u8]) -> Result<StatusUpdate, WebhookError> {
    let m = object_of(body)?;
    let tracking_code = text(&m, "label_id")
        .ok_or_else(|| WebhookError::Malformed("label_id is missing".into()))?;
    let carrier_code = int(&m, "status_id")
        .ok_or_else(|| WebhookError::Malformed("status_id is not a status code".into()))?;
    Ok(StatusUpdate {
        tracking_code,
        reference: text(&m, "partner_id"),
        status: map_ghtk_status(carrier_code),
        carrier_code,
        carrier_status: text(&m, "reason").unwrap_or_default(),
        at: text(&m, "action_time").and_then(|s| instant(&s)),
        money: CodReport {
            cod_collected: webhook_money("pick_money", m.get("pick_money"))?,
            fee: webhook_fee("fee", m.get("fee")),
            transfer_date: None,
            partial_return: flag(&m, "return_part_package"),
        },
    })
}

/// Parses a GHN status webhook (already authenticated).
pub fn parse_ghn_webhook(body: &[u8]) -> Result<StatusUpdate, WebhookError> {
    let m = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err(WebhookError::Malformed("not a JSON object".into())),
        Err(e) => return Err(WebhookError::Malformed(format!("not JSON: {e}"))),
    };
    let tracking_code = text(&m, "OrderCode")
        .ok_or_else(|| WebhookError::Malformed("OrderCode is missing".into()))?;
    // GHN's `Status` is a word (`delivered`); anything else is a malformed event, not an
    // informational one (it would be acknowledged and its news lost).
    let status = match m.get("Status") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
        Some(_) => {
            return Err(WebhookError::Malformed(
                "Status is not a GHN status word (e.g. \"delivered\")".into(),
            ))
        }
    };
    // A transfer date that is no date is left out with a WARN (as a bad fee is: GHN resends
    // a refused event as it was, and its status would never be applied).
    let transfer_date = text(&m, "CODTransferDate").and_then(|s| {
        let d = vn_date(&s);
        if d.is_none() {
            tracing::warn!(
                field = "CODTransferDate",
                "GHN webhook: not a date, left out"
            );
        }
        d
    });
    let carrier_code = GHN_STATUSES
        .iter()
        .position(|s| *s == status)
        .map_or(0, |i| i as i64 + 1);
    // `TotalFee`, else the `Fee` object's own `Total` when it has one, else the sum of its
    // parts (less `Coupon`); a part that is not an amount leaves the fee out.
    let fee = match (webhook_fee("TotalFee", m.get("TotalFee")), m.get("Fee")) {
        (Some(total), _) => Some(total),
        (None, Some(Value::Object(parts))) => {
            match webhook_fee("Fee.Total", parts.get("Total")).filter(|t| !t.is_zero()) {
                Some(total) => Some(total),
                None => {
                    let mut total = Some(rust_decimal::Decimal::ZERO);
                    for (k, v) in parts.iter().filter(|(k, _)| k.as_str() != "Total") {
                        let x = webhook_fee(&format!("Fee.{k}"), Some(v));
                        total = match (total, x) {
                            (Some(t), Some(x)) if k == "Coupon" => Some(t - x),
                            (Some(t), Some(x)) => Some(t + x),
                            (_, None) if v.is_null() => total,
                            _ => None,
                        };
                    }
                    total
                }
            }
        }
        (None, _) => None,
    };
    Ok(StatusUpdate {
        tracking_code,
        reference: text(&m, "ClientOrderCode"),
        status: map_ghn_status(&status),
        carrier_code,
        carrier_status: status,
        at: text(&m, "Time").and_then(|s| instant(&s)),
        money: CodReport {
            cod_collected: webhook_money("CODAmount", m.get("CODAmount"))?,
            fee,
            transfer_date,
            partial_return: flag(&m, "IsPartialReturn"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use serde_json::json;

    #[test]
    fn ghtk_form_and_json() {
        let form = b"partner_id=P-hub-20261202-0001&label_id=S1.A1.17373471&status_id=5&action_time=2026-12-02T12%3A18%3A39%2B07%3A00&reason_code=&reason=&weight=1.4&fee=30400&pick_money=400000&return_part_package=1";
        let u = parse_ghtk_webhook(form).expect("form");
        assert_eq!(u.tracking_code, "S1.A1.17373471");
        assert_eq!(u.reference.as_deref(), Some("P-hub-20261202-0001"));
        assert_eq!(u.status, Some(ParcelStatus::Delivered));
        assert_eq!(u.at.unwrap().to_rfc3339(), "2026-12-02T05:18:39+00:00");
        assert_eq!(u.money.cod_collected, Some(Decimal::from(400_000)));
        assert_eq!(u.money.fee, Some(Decimal::from(30_400)));
        assert!(u.money.partial_return);
        let j = json!({"partner_id": "P-1", "label_id": "S1", "status_id": -1, "pick_money": 0, "return_part_package": 0});
        let u = parse_ghtk_webhook(j.to_string().as_bytes()).expect("json");
        assert_eq!(u.status, Some(ParcelStatus::CancelledByCarrier));
        assert!(!u.money.partial_return);
        assert!(parse_ghtk_webhook(b"label_id=S1").is_err());
        assert!(parse_ghtk_webhook(b"").is_err());
    }

    #[test]
    fn bad_amounts_refuse_the_webhook_naming_the_field() {
        let refused = |r: Result<StatusUpdate, WebhookError>, field: &str| match r {
            Err(WebhookError::Malformed(m)) => assert!(m.contains(field), "{field}: {m}"),
            other => panic!("{field}: {other:?}"),
        };
        for bad in [
            "-5000", "12.5.3", "12.5", "1e12", "abc", "%2B5000", "5%20000",
        ] {
            let form = format!("partner_id=P-1&label_id=S1&status_id=5&pick_money={bad}&fee=1");
            refused(parse_ghtk_webhook(form.as_bytes()), "pick_money");
        }
        // A bad fee alone is left out: the status and the COD still apply (a refused webhook
        // comes back as it was, so its status would never be applied).
        let u = parse_ghtk_webhook(b"label_id=S1&status_id=5&pick_money=1&fee=-1").unwrap();
        assert_eq!(u.status, Some(ParcelStatus::Delivered));
        assert_eq!(u.money.cod_collected, Some(Decimal::from(1)));
        assert_eq!(u.money.fee, None);
        let j = json!({"label_id": "S1", "status_id": 5, "pick_money": 1e12});
        refused(parse_ghtk_webhook(j.to_string().as_bytes()), "pick_money");
        // A blank amount is not reported by this event.
        let u = parse_ghtk_webhook(b"label_id=S1&status_id=5&pick_money=&fee=").unwrap();
        assert_eq!(u.money, CodReport::default());

        let ghn = |extra: Value| {
            let mut j = json!({"OrderCode": "A1", "Status": "delivered", "CODAmount": 1000, "TotalFee": 10});
            for (k, v) in extra.as_object().unwrap() {
                j[k] = v.clone();
            }
            parse_ghn_webhook(j.to_string().as_bytes())
        };
        for bad in [
            json!(-5000),
            json!(12.5),
            json!(1e12),
            json!("12.5.3"),
            json!("x"),
            json!([1]),
        ] {
            refused(ghn(json!({ "CODAmount": bad })), "CODAmount");
        }
        for fee in [
            json!({"TotalFee": -1}),
            json!({"TotalFee": null, "Fee": {"MainService": 2.5}}),
        ] {
            let u = ghn(fee.clone()).expect("a bad fee is left out");
            assert_eq!(u.status, Some(ParcelStatus::Delivered), "{fee}");
            assert_eq!(u.money.cod_collected, Some(Decimal::from(1000)), "{fee}");
            assert_eq!(u.money.fee, None, "{fee}");
        }
        // The `Fee` object's own `Total` is the fee (never added to its parts); without one,
        // the parts less the coupon.
        let u = ghn(json!({"TotalFee": null, "Fee": {"MainService": 22000, "Insurance": 5000, "Total": 27000}}))
            .unwrap();
        assert_eq!(u.money.fee, Some(Decimal::from(27_000)));
        let u = ghn(
            json!({"TotalFee": null, "Fee": {"MainService": 22000, "Coupon": 2000, "Total": 0}}),
        )
        .unwrap();
        assert_eq!(u.money.fee, Some(Decimal::from(20_000)));
        let u = ghn(json!({"CODAmount": "520000"})).expect("digits in a string");
        assert_eq!(u.money.cod_collected, Some(Decimal::from(520_000)));
    }

    #[test]
    fn ghtk_mapping() {
        use ParcelStatus::*;
        for c in [1, 2, 7, 8, 12, 13, 127, 128, 999] {
            assert_eq!(map_ghtk_status(c), None, "{c}");
        }
        for c in [3, 4, 9, 10, 20, 45, 49, 123, 410] {
            assert_eq!(map_ghtk_status(c), Some(HandedOver), "{c}");
        }
        assert_eq!(map_ghtk_status(5), Some(Delivered));
        assert_eq!(map_ghtk_status(6), Some(Delivered));
        assert_eq!(map_ghtk_status(21), Some(Returned));
        assert_eq!(map_ghtk_status(11), Some(Returned));
    }

    #[test]
    fn ghn_body() {
        let j = json!({
            "CODAmount": 520000, "CODTransferDate": "2026-12-16T03:00:00Z", "ClientOrderCode": "P-1",
            "Fee": {"MainService": 22000, "Insurance": 5000, "Coupon": 2000}, "IsPartialReturn": true,
            "OrderCode": "FFFNL9HH", "Status": "delivered", "Time": "2026-12-02T03:52:50.158Z",
            "TotalFee": 27000, "Type": "switch_status"
        });
        let u = parse_ghn_webhook(j.to_string().as_bytes()).expect("ghn");
        assert_eq!(u.tracking_code, "FFFNL9HH");
        assert_eq!(u.status, Some(ParcelStatus::Delivered));
        assert_eq!(u.carrier_code, 11);
        assert_eq!(u.money.cod_collected, Some(Decimal::from(520_000)));
        assert_eq!(u.money.fee, Some(Decimal::from(27_000)));
        assert_eq!(u.money.transfer_date, NaiveDate::from_ymd_opt(2026, 12, 16));
        assert!(u.money.partial_return);
        let mut no_total = j.clone();
        no_total.as_object_mut().unwrap().remove("TotalFee");
        no_total["CODTransferDate"] = Value::Null;
        let u = parse_ghn_webhook(no_total.to_string().as_bytes()).unwrap();
        assert_eq!(u.money.fee, Some(Decimal::from(25_000)));
        assert_eq!(u.money.transfer_date, None);
        assert!(parse_ghn_webhook(b"{}").is_err());
        assert!(parse_ghn_webhook(b"[1]").is_err());
        // A number where the status word goes: malformed, not an informational event.
        let mut numeric = j.clone();
        numeric["Status"] = json!(5);
        match parse_ghn_webhook(numeric.to_string().as_bytes()) {
            Err(WebhookError::Malformed(m)) => assert!(m.contains("Status"), "{m}"),
            other => panic!("{other:?}"),
        }
        // A transfer date that is no date: left out, the status still applied.
        let mut undated = j.clone();
        undated["CODTransferDate"] = json!("yesterday");
        let u = parse_ghn_webhook(undated.to_string().as_bytes()).unwrap();
        assert_eq!(
            (u.status, u.money.transfer_date),
            (Some(ParcelStatus::Delivered), None)
        );
    }

    #[test]
    fn ghn_mapping() {
        use ParcelStatus::*;
        assert_eq!(map_ghn_status("ready_to_pick"), None);
        assert_eq!(map_ghn_status("return"), Some(HandedOver));
        assert_eq!(map_ghn_status("returned"), Some(Returned));
        assert_eq!(map_ghn_status("cancel"), Some(CancelledByCarrier));
        assert_eq!(map_ghn_status("lost"), None);
        for s in GHN_STATUSES {
            let _ = map_ghn_status(s);
        }
    }
}
