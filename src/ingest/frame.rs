//! Client frames and server replies of the ingest protocol (contract §1).
//!
//! A frame is parsed in two steps: a lenient envelope first (so a usable `seq` is found
//! even when the rest is wrong), then the typed content.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::domain::FieldError;
use crate::web::error::ErrorCode;

/// A frame the server understood well enough to act on.
#[derive(Debug)]
pub enum Frame<'a> {
    Orders {
        seq: i64,
        orders: Vec<&'a RawValue>,
    },
    EndSession {
        seq: i64,
    },
    Cancel {
        seq: i64,
        order_id: String,
        reason: String,
    },
    Ping {
        seq: i64,
    },
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a RawValue>,
    #[serde(borrow, default)]
    seq: Option<&'a RawValue>,
    #[serde(borrow, default)]
    order: Option<&'a RawValue>,
    #[serde(borrow, default)]
    orders: Option<OrdersField<'a>>,
    #[serde(borrow, default)]
    order_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    reason: Option<&'a RawValue>,
}

/// The envelope's `orders`: the array's elements, unparsed, or any other value (answered
/// as "must be an array"). Read in the envelope's one pass over the frame: reading it as
/// one raw value and then its elements scanned a 100-order frame twice (issue 20).
#[derive(Debug)]
enum OrdersField<'a> {
    List(Vec<&'a RawValue>),
    NotAList,
}

impl<'de: 'a, 'a> Deserialize<'de> for OrdersField<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OrdersVisitor(std::marker::PhantomData))
    }
}

struct OrdersVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> serde::de::Visitor<'de> for OrdersVisitor<'a> {
    type Value = OrdersField<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut list = Vec::new();
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            list.push(raw);
        }
        Ok(OrdersField::List(list))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use serde::de::IgnoredAny;
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(OrdersField::NotAList)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(OrdersField::NotAList)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(OrdersField::NotAList)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(OrdersField::NotAList)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(OrdersField::NotAList)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(OrdersField::NotAList)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(OrdersField::NotAList)
    }
}

/// Parses one text frame. On failure returns the error reply to send.
pub fn parse(text: &str, max_orders: usize) -> Result<Frame<'_>, Reply> {
    let env = envelope(text)?;
    let seq = seq_of(&env)?;
    // A String, not a &str: a `type` written with JSON escapes ("ord\u0065r") is "order".
    let kind = env
        .kind
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
        .ok_or_else(|| {
            Reply::error(
                Some(seq),
                ErrorCode::MalformedFrame,
                Some("type"),
                "every frame needs a string `type`",
            )
        })?;
    match kind.as_str() {
        "order" => order_frame(seq, env.order),
        "orders" => orders_frame(seq, env.orders, max_orders),
        "end_session" => Ok(Frame::EndSession { seq }),
        "ping" => Ok(Frame::Ping { seq }),
        "cancel" => cancel_frame(seq, env.order_id, env.reason),
        _ => Err(Reply::error(
            Some(seq),
            ErrorCode::UnknownType,
            Some("type"),
            "`type` is one of order, orders, end_session, cancel, ping",
        )),
    }
}

/// The frame's top-level fields, unparsed.
fn envelope(text: &str) -> Result<Envelope<'_>, Reply> {
    // serde would also read a struct from a JSON array; a frame is an object.
    if !text.trim_start().starts_with('{') {
        return Err(Reply::error(
            None,
            ErrorCode::MalformedFrame,
            None,
            "a frame is a JSON object",
        ));
    }
    serde_json::from_str(text).map_err(|e| {
        Reply::error(
            None,
            ErrorCode::MalformedFrame,
            None,
            format!("not a JSON object: {}", short(&e)),
        )
    })
}

/// The integer `seq` every frame carries.
fn seq_of(env: &Envelope<'_>) -> Result<i64, Reply> {
    env.seq
        .and_then(|raw| serde_json::from_str::<i64>(raw.get()).ok())
        .ok_or_else(|| {
            Reply::error(
                None,
                ErrorCode::MalformedFrame,
                Some("seq"),
                "every frame needs an integer `seq`",
            )
        })
}

/// `{"type":"order"}`: one order.
fn order_frame(seq: i64, order: Option<&RawValue>) -> Result<Frame<'_>, Reply> {
    let order = order.ok_or_else(|| {
        Reply::error(
            Some(seq),
            ErrorCode::MissingField,
            Some("order"),
            "an `order` frame carries `order`",
        )
    })?;
    Ok(Frame::Orders {
        seq,
        orders: vec![order],
    })
}

/// `{"type":"orders"}`: an array of at most `max_orders` orders.
fn orders_frame(
    seq: i64,
    field: Option<OrdersField<'_>>,
    max_orders: usize,
) -> Result<Frame<'_>, Reply> {
    let orders = match field {
        Some(OrdersField::List(orders)) => orders,
        Some(OrdersField::NotAList) => {
            return Err(Reply::error(
                Some(seq),
                ErrorCode::InvalidType,
                Some("orders"),
                "`orders` must be an array of orders",
            ))
        }
        None => {
            return Err(Reply::error(
                Some(seq),
                ErrorCode::MissingField,
                Some("orders"),
                "an `orders` frame carries `orders`",
            ))
        }
    };
    if orders.len() > max_orders {
        return Err(Reply::error(
            Some(seq),
            ErrorCode::TooManyOrders,
            Some("orders"),
            format!(
                "at most {max_orders} orders per frame; this one has {} (nothing of it was stored)",
                orders.len()
            ),
        ));
    }
    Ok(Frame::Orders { seq, orders })
}

/// `{"type":"cancel"}`: an order id and an optional reason (default `unspecified`).
fn cancel_frame<'a>(
    seq: i64,
    order_id: Option<&RawValue>,
    reason: Option<&RawValue>,
) -> Result<Frame<'a>, Reply> {
    let order_id = order_id
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
        .filter(|id| crate::domain::is_label(id))
        .ok_or_else(|| {
            Reply::error(
                Some(seq),
                ErrorCode::InvalidOrderId,
                Some("order_id"),
                "a `cancel` frame carries `order_id` (1–64 of A-Z a-z 0-9 . _ -)",
            )
        })?;
    let reason = match reason {
        None => "unspecified".to_owned(),
        Some(raw) => serde_json::from_str::<String>(raw.get())
            .ok()
            .filter(|r| (1..=64).contains(&r.len()) && crate::domain::is_label(r))
            .ok_or_else(|| {
                Reply::error(
                    Some(seq),
                    ErrorCode::InvalidReason,
                    Some("reason"),
                    "`reason` is 1–64 of A-Z a-z 0-9 . _ -, e.g. buyer_cancelled",
                )
            })?,
    };
    Ok(Frame::Cancel {
        seq,
        order_id,
        reason,
    })
}

fn short(e: &serde_json::Error) -> String {
    let s = e.to_string();
    s.chars().take(120).collect()
}

/// The answer to one order of a frame.
#[derive(Debug, Clone, Serialize)]
pub struct OrderResult {
    pub order_id: Option<String>,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<FieldError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionState {
    pub label: String,
    pub state: &'static str,
}

/// Exactly one reply per frame, with the frame's `seq`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    Ack {
        seq: i64,
        results: Vec<OrderResult>,
        #[serde(skip_serializing_if = "Option::is_none")]
        session: Option<SessionState>,
    },
    Nack {
        seq: i64,
        retry_after_ms: u64,
        reason: &'static str,
    },
    Error {
        seq: Option<i64>,
        code: ErrorCode,
        #[serde(skip_serializing_if = "Option::is_none")]
        field: Option<&'static str>,
        message: String,
    },
    Pong {
        seq: i64,
    },
}

impl Reply {
    pub fn error(
        seq: Option<i64>,
        code: ErrorCode,
        field: Option<&'static str>,
        message: impl Into<String>,
    ) -> Reply {
        Reply::Error {
            seq,
            code,
            field,
            message: message.into(),
        }
    }

    pub fn to_json(&self) -> String {
        match self {
            // The reply to every order frame, written directly (the same JSON as the
            // derived form, without the generic tagged-enum path; tested below).
            Reply::Ack {
                seq,
                results,
                session: None,
            } => {
                // Writing numbers and plain structs into a Vec cannot fail.
                let mut out = Vec::with_capacity(32 + 48 * results.len());
                out.extend_from_slice(b"{\"type\":\"ack\",\"seq\":");
                let _ = serde_json::to_writer(&mut out, seq);
                out.extend_from_slice(b",\"results\":[");
                for (n, r) in results.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    let _ = serde_json::to_writer(&mut out, r);
                }
                out.extend_from_slice(b"]}");
                String::from_utf8(out).unwrap_or_else(|_| "{}".into())
            }
            // Serializing these plain structs cannot fail.
            _ => serde_json::to_string(self).unwrap_or_else(|_| "{}".into()),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Ack { .. } => "ack",
            Reply::Nack { .. } => "nack",
            Reply::Error { .. } => "error",
            Reply::Pong { .. } => "pong",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> (Option<i64>, &'static str) {
        match parse(text, 500) {
            Err(Reply::Error { seq, code, .. }) => (seq, code.as_str()),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn parses_each_frame_type() {
        assert!(matches!(
            parse(r#"{"type":"ping","seq":4}"#, 500),
            Ok(Frame::Ping { seq: 4 })
        ));
        assert!(matches!(
            parse(r#"{"type":"end_session","seq":3}"#, 500),
            Ok(Frame::EndSession { seq: 3 })
        ));
        match parse(
            r#"{"type":"orders","seq":2,"orders":[{"a":1},{"b":2}]}"#,
            500,
        ) {
            Ok(Frame::Orders { seq: 2, orders }) => assert_eq!(orders.len(), 2),
            other => panic!("{other:?}"),
        }
        match parse(
            r#"{"type":"cancel","seq":5,"order_id":"TT-1","reason":"buyer_cancelled"}"#,
            500,
        ) {
            Ok(Frame::Cancel {
                seq: 5,
                order_id,
                reason,
            }) => {
                assert_eq!(
                    (order_id.as_str(), reason.as_str()),
                    ("TT-1", "buyer_cancelled")
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_frames_get_the_contracts_answer() {
        assert_eq!(code("not json"), (None, "malformed_frame"));
        assert_eq!(code("[1,2]"), (None, "malformed_frame"));
        assert_eq!(code(r#"{"type":"ping"}"#), (None, "malformed_frame"));
        assert_eq!(
            code(r#"{"type":"ping","seq":"x"}"#),
            (None, "malformed_frame")
        );
        assert_eq!(
            code(r#"{"type":"ping","seq":1.5}"#),
            (None, "malformed_frame")
        );
        assert!(matches!(
            parse(r#"{"type":"p\u0069ng","seq":4}"#, 500),
            Ok(Frame::Ping { seq: 4 })
        ));
        assert_eq!(
            code(r#"{"type":"dance","seq":7}"#),
            (Some(7), "unknown_type")
        );
        assert_eq!(code(r#"{"seq":7}"#), (Some(7), "malformed_frame"));
        for not_a_list in [
            r#""x""#,
            r#""\u0078""#,
            "5",
            "-5",
            "1.5",
            "true",
            r#"{"a":[1,{"b":2}]}"#,
        ] {
            let frame = format!(r#"{{"type":"orders","seq":8,"orders":{not_a_list}}}"#);
            assert_eq!(code(&frame), (Some(8), "invalid_type"), "{frame}");
        }
        // null is no `orders` at all, as before; a broken element breaks the frame.
        assert_eq!(
            code(r#"{"type":"orders","seq":8,"orders":null}"#),
            (Some(8), "missing_field")
        );
        assert_eq!(
            code(r#"{"type":"orders","seq":8,"orders":[{"a":}]}"#),
            (None, "malformed_frame")
        );
        assert!(matches!(
            parse(r#"{"type":"orders","seq":3,"orders":[]}"#, 500),
            Ok(Frame::Orders { seq: 3, orders }) if orders.is_empty()
        ));
        assert_eq!(
            code(r#"{"type":"order","seq":9}"#),
            (Some(9), "missing_field")
        );
        assert_eq!(
            code(r#"{"type":"cancel","seq":9}"#),
            (Some(9), "invalid_order_id")
        );
        let many = format!(
            r#"{{"type":"orders","seq":10,"orders":[{}]}}"#,
            vec!["{}"; 501].join(",")
        );
        assert_eq!(code(&many), (Some(10), "too_many_orders"));
    }

    #[test]
    fn replies_serialize_as_the_contract_says() {
        let r = Reply::Nack {
            seq: 2,
            retry_after_ms: 500,
            reason: "storage_unavailable",
        };
        assert_eq!(
            r.to_json(),
            r#"{"type":"nack","seq":2,"retry_after_ms":500,"reason":"storage_unavailable"}"#
        );
        let ack = Reply::Ack {
            seq: -3,
            results: vec![
                OrderResult {
                    order_id: Some("TT-1".into()),
                    status: "accepted",
                    error: None,
                },
                OrderResult {
                    order_id: None,
                    status: "rejected",
                    error: Some(FieldError::new(
                        crate::domain::FieldCode::InvalidPhone,
                        "buyer.phone",
                        "x \"y\"",
                    )),
                },
            ],
            session: None,
        };
        assert_eq!(ack.to_json(), serde_json::to_string(&ack).unwrap());
        let empty = Reply::Ack {
            seq: 7,
            results: Vec::new(),
            session: None,
        };
        assert_eq!(empty.to_json(), serde_json::to_string(&empty).unwrap());
        let e = Reply::error(None, ErrorCode::MalformedFrame, None, "x");
        assert_eq!(
            e.to_json(),
            r#"{"type":"error","seq":null,"code":"malformed_frame","message":"x"}"#
        );
    }
}
