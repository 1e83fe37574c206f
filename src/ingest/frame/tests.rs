use super::*;

fn code(text: &str) -> (Option<i64>, &'static str) {
    match parse(text, 500) {
        Err(Reply::Error { seq, code, .. }) => (seq, code.as_str()),
        other => panic!("expected an error, got {other:?}"),
    }
}

const ORDER: &str = r#"{ "order_id": "TT-1", "platform": "tiktok",
    "placed_at": "2026-11-21T20:15:02+07:00",
    "buyer": { "name": "Nguyễn Thị Lan", "phone": "0912345678" },
    "ship_to": { "province": "Ninh Bình", "ward": "Phường Hoa Lư", "street": "12 \u0110ạo" },
    "items": [ { "sku": "HONEY-500", "name": "Mật ong", "qty": 2,
                 "unit_price": "185000", "weight_g": 650 } ],
    "cod_amount": "370000" }"#;

/// A frame's answer as text: the reply, or each order's canonical form (a raw order
/// parsed on its own, or its parse error).
fn answer(frame: Result<Frame<'_>, Reply>) -> (String, Option<bool>) {
    let canonical = |wire: &OrderWire| {
        let mut out = Vec::new();
        wire.write_canonical_json(&mut out);
        String::from_utf8(out).unwrap()
    };
    match frame {
        Err(reply) => (reply.to_json(), None),
        Ok(Frame::Orders { seq, orders }) => {
            let (texts, one_pass): (Vec<String>, bool) = match &orders {
                FrameOrders::Parsed(wires, _) => (wires.iter().map(canonical).collect(), true),
                FrameOrders::Raw(raws) => (
                    raws.iter()
                        .map(|raw| match crate::domain::order::parse_order(raw.get()) {
                            Ok(wire) => canonical(&wire),
                            Err(e) => format!("{e:?}"),
                        })
                        .collect(),
                    false,
                ),
            };
            (format!("orders {seq} {texts:?}"), Some(one_pass))
        }
        Ok(other) => (format!("{other:?}"), None),
    }
}

#[test]
fn both_parses_answer_every_frame_alike() {
    let bad = ORDER.replace("\"qty\": 2", "\"qty\": \"two\"");
    let array = r#"["TT-2","tiktok","2026-11-21T20:15:02+07:00",
        {"name":"Lan","phone":"0912345678"},
        {"province":"Ninh Bình","ward":"Hoa Lư","street":"12 Đạo"},
        [{"sku":"HONEY-500","name":"Mật ong","qty":2,"unit_price":"185000","weight_g":650}],
        "370000"]"#;
    assert!(
        crate::domain::order::parse_order(array).is_err(),
        "serde would read an array; an order is an object"
    );
    let frames = [
        format!(r#"{{"type":"order","seq":1,"order":{ORDER}}}"#),
        format!(r#"{{"seq":2,"orders":[{ORDER},{ORDER}],"type":"orders"}}"#),
        format!(r#"{{"type":"ord\u0065r","seq":3,"order":{ORDER},"extra":[1]}}"#),
        format!(r#"{{"type":"orders","seq":4,"orders":[{ORDER},{bad}]}}"#),
        format!(r#"{{"type":"order","seq":5,"order":{bad}}}"#),
        format!(r#"{{"type":"order","seq":6,"order":{ORDER},"seq":7}}"#),
        format!(r#"{{"type":"order","seq":8,"order":{ORDER},"order_id":1,"order_id":2}}"#),
        format!(r#"{{"type":"orders","seq":9,"orders":[{ORDER},{ORDER},{ORDER}]}}"#),
        r#"{"type":"order","seq":10,"order":null}"#.to_string(),
        format!(r#"{{"type":"orders","seq":11,"orders":null,"order":{ORDER}}}"#),
        r#"{"type":"orders","seq":12,"orders":[]}"#.to_string(),
        format!(r#"{{"type":"cancel","seq":13,"order_id":"TT-1","order":{ORDER}}}"#),
        format!(r#"{{"type":"order","seq":"14","order":{ORDER}}}"#),
        format!(r#"[{{"type":"order","seq":15,"order":{ORDER}}}]"#),
        format!(r#"{{"type":"order","seq":16,"order":{ORDER}}} x"#),
        format!(r#"{{"type":"order","seq":17,"order":{ORDER},"orders":"no"}}"#),
        // An order written as an array reads (serde), but only the two steps take it.
        format!(r#"{{"type":"order","seq":18,"order":{array}}}"#),
        format!(r#"{{"type":"orders","seq":19,"orders":[{ORDER},{array}]}}"#),
        r#"{"type":"ping","seq":20,"pad":[1,2,3]}"#.to_string(),
        r#"{"type":"end_session","seq":21}"#.to_string(),
        r#"{"type":"cancel","seq":22,"order_id":"TT-1","reason":"no way"}"#.to_string(),
        r#"{"type":"cancel","seq":23,"order_id":"TT-1"}"#.to_string(),
        r#"{"type":"refund","seq":24}"#.to_string(),
        r#"{"type":"ping","seq":25,"order":[1]}"#.to_string(),
    ];
    let mut one_pass = Vec::new();
    for text in &frames {
        let (fast, path) = answer(parse(text, 2));
        let (lenient, _) = answer(parse_two_step(text, 2));
        assert_eq!(fast, lenient, "{text}");
        one_pass.push(path == Some(true));
    }
    // Frames whose orders all read take the one pass; the rest the two steps (also an
    // `order` frame whose `orders` is no list of orders).
    let want = [
        true, true, true, false, false, false, false, false, false, false, true, false, false,
        false, false, false, false, false, false, false, false, false, false, false,
    ];
    assert_eq!(one_pass, want);
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

/// An order frame read in one pass allocates nothing for a string its text holds as it is
/// (issue 20): every such field borrows from the frame; a string with an escape is read
/// into a string of its own, with the escape decoded.
#[test]
fn orders_read_with_their_frame_borrow_their_strings() {
    use std::borrow::Cow;
    let order = ORDER.replace(
        r#""cod_amount": "370000""#,
        r#""cod_amount": "370000", "shipping_fee": "30000", "discount": "30000""#,
    );
    let text = format!(r#"{{"type":"orders","seq":7,"orders":[{order}]}}"#);
    let Ok(Frame::Orders {
        seq: 7,
        orders: FrameOrders::Parsed(orders, _),
    }) = parse(&text, 500)
    else {
        panic!("an order frame read in one pass");
    };
    let o = &orders[0];
    let item = &o.items[0];
    let borrowed = [
        &o.order_id,
        &o.platform,
        &o.placed_at,
        &o.buyer.name,
        &o.buyer.phone,
        &o.ship_to.province,
        &o.ship_to.ward,
        &item.sku,
        &item.name,
        &item.unit_price.0 .0,
        &o.cod_amount.0 .0,
        &o.shipping_fee.as_ref().expect("a shipping fee").0 .0,
        &o.discount.as_ref().expect("a discount").0 .0,
    ];
    for field in borrowed {
        assert!(matches!(field, Cow::Borrowed(_)), "{field:?} was copied");
        let at = field.as_ptr() as usize;
        let frame = text.as_ptr() as usize..text.as_ptr() as usize + text.len();
        assert!(frame.contains(&at), "{field:?} is not in the frame");
    }
    assert!(matches!(&o.ship_to.street, Cow::Owned(s) if s == "12 Đạo"));
    // A JSON integer amount becomes its decimal text.
    let text = text.replace(r#""cod_amount": "370000""#, r#""cod_amount": 370000"#);
    let Ok(Frame::Orders {
        orders: FrameOrders::Parsed(orders, _),
        ..
    }) = parse(&text, 500)
    else {
        panic!("an order frame read in one pass");
    };
    assert!(matches!(&orders[0].cod_amount.0 .0, Cow::Owned(s) if s == "370000"));
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
                order_id: Some("a\"b\\c\u{1}đ".into()),
                status: "duplicate",
                error: None,
            },
            OrderResult {
                order_id: None,
                status: "duplicate",
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
