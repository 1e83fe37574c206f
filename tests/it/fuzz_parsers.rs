//! Property-based fuzzing of the input parsers (issue 10): the ingest frame parser and the
//! order parser and validator, over arbitrary text and bytes and over structure-aware
//! mutations of valid frames and orders. They never panic, and every refusal is a
//! well-formed answer that names what was wrong.
//!
//! More cases: `PROPTEST_CASES=100000 cargo test --release --test fuzz_parsers`.

use crate::common;

use chrono::{Duration, Utc};
use livepack::domain::address::{fold, normalize_province};
use livepack::domain::money::Vnd;
use livepack::domain::order::{parse_order, peek_order_id, reported_order_id, OrderWire};
use livepack::domain::phone::Phone;
use livepack::ingest::frame::{parse, parse_two_step, Frame, FrameOrders, Reply};
use proptest::prelude::*;
use serde_json::{json, Value};

const FRAME_CODES: &[&str] = &[
    "malformed_frame",
    "unknown_type",
    "missing_field",
    "invalid_type",
    "too_many_orders",
    "invalid_order_id",
    "invalid_reason",
];

fn cases(n: u32) -> ProptestConfig {
    let from_env = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok());
    ProptestConfig {
        cases: from_env.unwrap_or(n),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings with what breaks parsers: escapes, control and format characters, surrogate
/// escapes, huge and odd numbers, nesting, long runs.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,40}",
        prop::sample::select(vec![
            "",
            " ",
            "\u{0}",
            "\u{202e}",
            "\u{200b}",
            "\u{feff}",
            "\u{fffd}",
            "\\",
            "\"",
            "\\ud800",
            "\\u0000",
            "１２３",
            "0912345678",
            "+84 912 345 678",
            "1e400",
            "-0",
            "99999999999999999999",
            "NaN",
            "null",
            "Hà Nam",
            "TP. Hồ Chí Minh",
            "Ninh Binh",
        ])
        .prop_map(str::to_owned),
        (1usize..5000).prop_map(|n| "9".repeat(n)),
        (1usize..3000).prop_map(|n| "[".repeat(n)),
    ]
}

/// Any JSON value, a few levels deep, with nasty leaves.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        nasty_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON paths into a valid order (and a frame) that mutations aim at.
const ORDER_PATHS: &[&[&str]] = &[
    &["order_id"],
    &["platform"],
    &["placed_at"],
    &["buyer"],
    &["buyer", "name"],
    &["buyer", "phone"],
    &["ship_to"],
    &["ship_to", "province"],
    &["ship_to", "ward"],
    &["ship_to", "street"],
    &["ship_to", "district"],
    &["items"],
    &["items", "0"],
    &["items", "0", "sku"],
    &["items", "0", "name"],
    &["items", "0", "qty"],
    &["items", "0", "unit_price"],
    &["items", "0", "weight_g"],
    &["cod_amount"],
    &["shipping_fee"],
    &["discount"],
    &["note"],
    &["extra_field"],
];

fn set_path(v: &mut Value, path: &[&str], new: Option<Value>) {
    let (last, parents) = path.split_last().unwrap();
    let mut cur = v;
    for p in parents {
        cur = match cur {
            Value::Object(m) => m.entry(p.to_string()).or_insert(json!({})),
            Value::Array(a) => match a.get_mut(p.parse::<usize>().unwrap_or(0)) {
                Some(x) => x,
                None => return,
            },
            _ => return,
        };
    }
    match (cur, new) {
        (Value::Object(m), Some(n)) => {
            m.insert(last.to_string(), n);
        }
        (Value::Object(m), None) => {
            m.remove(*last);
        }
        (Value::Array(a), Some(n)) => {
            if let Some(x) = a.get_mut(last.parse::<usize>().unwrap_or(0)) {
                *x = n;
            }
        }
        _ => {}
    }
}

/// A valid order with 1–4 mutations: a field deleted or replaced by any JSON value.
fn mutated_order() -> impl Strategy<Value = Value> {
    let mutation = (
        prop::sample::select(ORDER_PATHS),
        prop::option::weighted(0.8, json_value()),
    );
    (0u64..1000, prop::collection::vec(mutation, 1..5)).prop_map(|(buyer, ms)| {
        let mut o = common::order(&format!("FZ-{buyer}"), buyer);
        for (path, new) in ms {
            set_path(&mut o, path, new);
        }
        o
    })
}

/// A frame of any type with mutated orders, fields and `seq`.
fn mutated_frame() -> impl Strategy<Value = String> {
    let kind = prop_oneof![
        prop::sample::select(vec![
            "order",
            "orders",
            "end_session",
            "cancel",
            "ping",
            "dance",
            ""
        ])
        .prop_map(|k| json!(k)),
        json_value(),
    ];
    let seq = prop_oneof![any::<i64>().prop_map(|s| json!(s)), json_value()];
    let orders = prop::collection::vec(mutated_order(), 0..4);
    (kind, seq, orders, json_value(), any::<u8>()).prop_map(|(kind, seq, mut orders, junk, drop)| {
        // Bit 6: the first order written as an array (serde reads a struct from one).
        if drop & (1 << 6) != 0 {
            if let Some(first) = orders.first_mut() {
                *first = as_array(first);
            }
        }
        let mut f = json!({"type": kind, "seq": seq, "order": orders.first().cloned().unwrap_or(Value::Null),
                           "orders": orders, "order_id": junk.clone(), "reason": junk});
        for (bit, key) in ["type", "seq", "order", "orders", "order_id", "reason"].iter().enumerate() {
            if drop & (1 << bit) != 0 {
                f.as_object_mut().unwrap().remove(*key);
            }
        }
        f.to_string()
    })
}

/// An order object's fields as an array in `OrderWire`'s field order (up to the last one
/// present), which serde reads as that struct.
fn as_array(order: &Value) -> Value {
    const FIELDS: [&str; 10] = [
        "order_id",
        "platform",
        "placed_at",
        "buyer",
        "ship_to",
        "items",
        "cod_amount",
        "shipping_fee",
        "discount",
        "note",
    ];
    let Some(map) = order.as_object() else {
        return order.clone();
    };
    let last = FIELDS
        .iter()
        .rposition(|f| map.contains_key(*f))
        .unwrap_or(0);
    Value::Array(
        FIELDS[..=last]
            .iter()
            .map(|f| map.get(*f).cloned().unwrap_or(Value::Null))
            .collect(),
    )
}

/// What the server would answer to `text`, checked for form; orders are run through the
/// order parser and validator too.
fn check_frame(text: &str) -> Result<(), TestCaseError> {
    // The one-pass parse answers every frame as the two steps do.
    prop_assert_eq!(answer(parse(text, 500)), answer(parse_two_step(text, 500)));
    match parse(text, 500) {
        Err(reply) => {
            let Reply::Error { code, message, .. } = &reply else {
                return Err(TestCaseError::fail(format!(
                    "a parse error is an `error` reply: {reply:?}"
                )));
            };
            prop_assert!(
                FRAME_CODES.contains(&code.as_str()),
                "unexpected code {code}"
            );
            prop_assert!(!message.is_empty());
            let v: Value = serde_json::from_str(&reply.to_json()).expect("the reply is JSON");
            prop_assert_eq!(&v["type"], "error");
            prop_assert!(v["seq"].is_null() || v["seq"].is_i64());
        }
        Ok(Frame::Orders { orders, .. }) => {
            prop_assert!(orders.len() <= 500);
            match orders {
                FrameOrders::Raw(raws) => {
                    for raw in raws {
                        check_order(raw.get())?;
                    }
                }
                // Read with the frame (the same as alone: compared above).
                FrameOrders::Parsed(wires, _) => {
                    for wire in wires {
                        let mut canonical = Vec::new();
                        wire.write_canonical_json(&mut canonical);
                        let text = std::str::from_utf8(&canonical).expect("UTF-8");
                        prop_assert!(parse_order(text).is_ok());
                        check_wire(wire)?;
                    }
                }
            }
        }
        Ok(Frame::Cancel {
            order_id, reason, ..
        }) => {
            prop_assert!(!order_id.is_empty() && order_id.len() <= 64);
            prop_assert!(!reason.is_empty() && reason.len() <= 64);
        }
        Ok(Frame::Ping { seq }) => {
            let pong = Reply::Pong { seq }.to_json();
            prop_assert_eq!(
                serde_json::from_str::<Value>(&pong).unwrap()["seq"].as_i64(),
                Some(seq)
            );
        }
        Ok(Frame::EndSession { .. }) => {}
    }
    Ok(())
}

/// A frame's answer as text: the reply, or each order's canonical form (an order left as
/// text parsed on its own, or its parse error, and the id a rejection would report).
fn answer(frame: Result<Frame<'_>, Reply>) -> String {
    let canonical = |wire: &OrderWire| {
        let mut out = Vec::new();
        wire.write_canonical_json(&mut out);
        String::from_utf8(out).expect("UTF-8")
    };
    match frame {
        Err(reply) => reply.to_json(),
        Ok(Frame::Orders { seq, orders }) => {
            let texts: Vec<String> = match &orders {
                FrameOrders::Parsed(wires, _) => wires
                    .iter()
                    .map(|w| format!("{} {:?}", canonical(w), reported_order_id(&w.order_id)))
                    .collect(),
                FrameOrders::Raw(raws) => raws
                    .iter()
                    .map(|raw| match parse_order(raw.get()) {
                        Ok(w) => format!("{} {:?}", canonical(&w), peek_order_id(raw.get())),
                        Err(e) => format!("{e:?}"),
                    })
                    .collect(),
            };
            format!("orders {seq} {texts:?}")
        }
        Ok(other) => format!("{other:?}"),
    }
}

fn check_order(json: &str) -> Result<(), TestCaseError> {
    let _ = peek_order_id(json);
    match parse_order(json) {
        Err(e) => {
            prop_assert!(!e.code.as_str().is_empty() && !e.field.is_empty(), "{e:?}");
        }
        Ok(wire) => check_wire(wire)?,
    }
    Ok(())
}

fn check_wire(wire: OrderWire) -> Result<(), TestCaseError> {
    let mut canonical = Vec::new();
    wire.write_canonical_json(&mut canonical);
    prop_assert!(std::str::from_utf8(&canonical).is_ok());
    // Written by hand: byte for byte what serde_json writes of the type (digests stored
    // before compare with these).
    prop_assert_eq!(&canonical, &serde_json::to_vec(&wire).unwrap());
    match wire.validate(Utc::now(), Duration::minutes(15), Duration::days(90)) {
        Err(e) => prop_assert!(!e.code.as_str().is_empty() && !e.field.is_empty(), "{e:?}"),
        Ok(order) => {
            prop_assert!(order.items.len() <= 100 && !order.items.is_empty());
            prop_assert!(order.items.iter().all(|i| (1..=999).contains(&i.qty)));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(3000))]

    #[test]
    fn frame_parser_takes_any_text(text in any::<String>()) {
        check_frame(&text)?;
    }

    #[test]
    fn frame_parser_takes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_frame(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn frame_parser_takes_any_json(v in json_value()) {
        check_frame(&v.to_string())?;
    }

    #[test]
    fn order_parser_takes_any_text(text in nasty_string()) {
        check_order(&text)?;
        let _ = (Vnd::parse(&text), Phone::parse(&text), normalize_province(&text), fold(&text));
    }
}

proptest! {
    #![proptest_config(cases(1500))]

    #[test]
    fn mutated_frames_get_a_well_formed_answer(text in mutated_frame()) {
        check_frame(&text)?;
    }

    /// Valid orders, some written as arrays, some made invalid: both parses answer alike.
    #[test]
    fn frames_of_readable_orders_get_the_same_answer_both_ways(
        forms in prop::collection::vec((any::<bool>(), any::<bool>()), 1..4),
        single in any::<bool>(),
    ) {
        let orders: Vec<Value> = forms
            .iter()
            .enumerate()
            .map(|(i, (array, invalid))| {
                let mut o = common::order(&format!("FORM-{i}"), i as u64);
                if *invalid {
                    o["buyer"]["phone"] = json!("12");
                }
                if *array { as_array(&o) } else { o }
            })
            .collect();
        let frame = if single {
            json!({"type": "order", "seq": 1, "order": orders[0]})
        } else {
            json!({"type": "orders", "seq": 1, "orders": orders})
        };
        check_frame(&frame.to_string())?;
    }

    #[test]
    fn mutated_orders_are_accepted_or_refused_with_their_field(o in mutated_order()) {
        check_order(&o.to_string())?;
    }
}

#[test]
fn deep_nesting_and_huge_inputs_do_not_overflow() {
    for n in [128, 129, 1_000, 10_000, 100_000] {
        let deep = format!("{}{}", "[".repeat(n), "]".repeat(n));
        check_frame(&deep).unwrap();
        check_frame(&format!(r#"{{"type":"order","seq":1,"order":{deep}}}"#)).unwrap();
        check_frame(&format!(r#"{{"type":"orders","seq":1,"orders":[{deep}]}}"#)).unwrap();
        let objs = format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
        check_frame(&objs).unwrap();
        let mut o = common::order("DEEP-1", 1);
        o["note"] = json!("X");
        check_order(&o.to_string().replace(r#""X""#, &objs)).unwrap();
        check_order(&o.to_string().replace(r#""X""#, &deep)).unwrap();
        o["extra"] = json!("Y");
        check_order(&o.to_string().replace(r#""Y""#, &deep)).unwrap();
        check_order(&"9".repeat(n)).unwrap();
    }
    let many = format!(
        r#"{{"type":"orders","seq":1,"orders":[{}]}}"#,
        vec!["{}"; 100_000].join(",")
    );
    check_frame(&many).unwrap();
}
