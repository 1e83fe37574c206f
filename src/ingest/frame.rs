//! Client frames and server replies of the ingest protocol (contract §1).
//!
//! A frame whose orders all read as order objects (and any frame without orders) is parsed
//! in one pass, orders included. Any other frame is parsed in two steps: a lenient envelope
//! first (so a usable `seq` is found even when the rest is wrong), then the typed content;
//! its orders stay unparsed text, each parsed on its own so the one that does not read is
//! rejected with its field and the others are stored. Both paths give every frame the same
//! answer (`parse_two_step` decides every error).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::domain::order::OrderWire;
use crate::domain::FieldError;
use crate::web::error::ErrorCode;

/// A frame the server understood well enough to act on.
#[derive(Debug)]
pub enum Frame<'a> {
    Orders {
        seq: i64,
        orders: FrameOrders<'a>,
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

/// The orders of an `order`/`orders` frame.
#[derive(Debug)]
pub enum FrameOrders<'a> {
    /// Every order read with the envelope (issue 20: the frame is read once, not scanned
    /// for its orders' ends and then each order parsed again), with the frame's bytes per
    /// order (what a stored record is reserved for).
    Parsed(Vec<OrderWire<'a>>, usize),
    /// Each order's text, for a frame where some order does not read as one.
    Raw(Vec<&'a RawValue>),
}

impl FrameOrders<'_> {
    pub fn len(&self) -> usize {
        match self {
            FrameOrders::Parsed(orders, _) => orders.len(),
            FrameOrders::Raw(orders) => orders.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The envelope of the one-pass parse: as [`Envelope`], with the orders typed.
#[derive(Deserialize)]
struct TypedEnvelope<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a RawValue>,
    #[serde(borrow, default)]
    seq: Option<&'a RawValue>,
    #[serde(borrow, default)]
    order: Option<ObjectOrder<'a>>,
    #[serde(borrow, default)]
    orders: Option<Vec<ObjectOrder<'a>>>,
    #[serde(borrow, default)]
    order_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    reason: Option<&'a RawValue>,
}

/// An order read only from a JSON object. serde would also read an order from a JSON array,
/// and a rejection reports the id `peek_order_id` finds in the text, which it does not find
/// in such an array: an array takes the two-step path, as before.
struct ObjectOrder<'a>(OrderWire<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for ObjectOrder<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Object<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Object<'a> {
            type Value = ObjectOrder<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an order object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ObjectOrder<'a>, A::Error> {
                OrderWire::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(ObjectOrder)
            }
        }
        d.deserialize_map(Object(std::marker::PhantomData))
    }
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
    match parse_in_one_pass(text, max_orders) {
        Some(answer) => answer,
        None => parse_two_step(text, max_orders),
    }
}

/// A frame whose orders all read as order objects, or that carries none, parsed in one
/// pass; `None` when [`parse_two_step`] must answer (an order that does not read, or any
/// error: it decides every error, so both paths answer a frame alike). A frame that falls
/// back is read twice, at most `ingest.max_frame_bytes` each time.
fn parse_in_one_pass(text: &str, max_orders: usize) -> Option<Result<Frame<'_>, Reply>> {
    // serde would also read a struct from a JSON array; a frame is an object.
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let env: TypedEnvelope = serde_json::from_str(text).ok()?;
    let seq = env
        .seq
        .and_then(|raw| serde_json::from_str::<i64>(raw.get()).ok())?;
    let kind = env
        .kind
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())?;
    let orders: Vec<OrderWire> = match kind.as_str() {
        // Both fields: the two-step parse refuses the frame.
        "order" | "orders" if env.order.is_some() && env.orders.is_some() => return None,
        "order" => vec![env.order?.0],
        "orders" => env
            .orders
            .filter(|o| o.len() <= max_orders)?
            .into_iter()
            .map(|o| o.0)
            .collect(),
        // A frame without orders: answered from the fields it shares with the lenient
        // envelope (`order`/`orders` are not looked at for these types).
        _ => {
            let env = Envelope {
                kind: env.kind,
                seq: env.seq,
                order: None,
                orders: None,
                order_id: env.order_id,
                reason: env.reason,
            };
            return Some(content(env, max_orders));
        }
    };
    let per_order = text.len() / orders.len().max(1);
    Some(Ok(Frame::Orders {
        seq,
        orders: FrameOrders::Parsed(orders, per_order),
    }))
}

/// The two-step parse: the lenient envelope, then the typed content. What [`parse`] falls
/// back to; public so the fuzz tests can check that both answer every frame alike.
pub fn parse_two_step(text: &str, max_orders: usize) -> Result<Frame<'_>, Reply> {
    content(envelope(text)?, max_orders)
}

/// A frame's content, from its lenient envelope.
fn content(env: Envelope<'_>, max_orders: usize) -> Result<Frame<'_>, Reply> {
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
        // One frame says one thing: an order's `orders` would otherwise go unanswered.
        "order" | "orders" if env.order.is_some() && env.orders.is_some() => Err(Reply::error(
            Some(seq),
            ErrorCode::MalformedFrame,
            Some(if kind == "order" { "orders" } else { "order" }),
            "a frame carries `order` (type order) or `orders` (type orders), not both: nothing of it was stored",
        )),
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
        orders: FrameOrders::Raw(vec![order]),
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
    Ok(Frame::Orders {
        seq,
        orders: FrameOrders::Raw(orders),
    })
}

/// `{"type":"cancel"}`: an order id and an optional reason (default `unspecified`).
fn cancel_frame<'a>(
    seq: i64,
    order_id: Option<&RawValue>,
    reason: Option<&RawValue>,
) -> Result<Frame<'a>, Reply> {
    let order_id = order_id
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
        .filter(|id| crate::domain::is_order_id(id))
        .ok_or_else(|| {
            Reply::error(
                Some(seq),
                ErrorCode::InvalidOrderId,
                Some("order_id"),
                "a `cancel` frame carries `order_id` (1–64 of A-Z a-z 0-9 . _ -, not dots alone)",
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

impl OrderResult {
    /// Appends this result's JSON, as serde_json writes it: by hand for an order without
    /// an error (every accepted or duplicate one), through serde for a rejection.
    fn write_json(&self, out: &mut Vec<u8>) {
        use crate::domain::json::{write_key, write_member, write_str};
        if self.error.is_some() {
            // Writing a plain struct into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, self);
            return;
        }
        out.push(b'{');
        write_key(out, "order_id");
        match &self.order_id {
            Some(id) => write_str(out, id),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b',');
        write_member(out, "status", self.status);
        out.push(b'}');
    }
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
    /// No reply can be given: Redis may have stored the frame (its call timed out or lost
    /// its connection after it was sent), so a nack ("nothing stored") would be false. The
    /// connection is closed instead (1011): no reply means resend (contract §1). Never
    /// written.
    #[serde(skip)]
    Unknown {
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
                    r.write_json(&mut out);
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
            Reply::Unknown { .. } => "unknown",
        }
    }
}

#[cfg(test)]
mod tests;
