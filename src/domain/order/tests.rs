use super::*;
use serde_json::json;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T21:00:00+07:00")
        .unwrap()
        .with_timezone(&Utc)
}

fn sample() -> serde_json::Value {
    json!({ "order_id": "TT-579230112345", "platform": "tiktok",
        "placed_at": "2026-11-21T20:15:02+07:00",
        "buyer": { "name": "Nguyễn Thị Lan", "phone": "0912345678" },
        "ship_to": { "province": "Ninh Bình", "ward": "Phường Hoa Lư", "street": "12 Trần Hưng Đạo" },
        "items": [ { "sku": "HONEY-500", "name": "Mật ong rừng ngập mặn 500ml", "qty": 2,
                     "unit_price": "185000", "weight_g": 650 } ],
        "cod_amount": "370000", "shipping_fee": "30000", "note": "Giao giờ hành chính" })
}

/// The order validated; its text and wire form are leaked, which the validated order borrows from
/// (a few hundred bytes per call, in tests only).
fn check(v: &serde_json::Value) -> Result<Order<'static>, FieldError> {
    let text: &'static str = Box::leak(v.to_string().into_boxed_str());
    let wire: &'static OrderWire = Box::leak(Box::new(parse_order(text)?));
    wire.validate(now(), Duration::minutes(15), Duration::days(90))
}

fn rejected(v: serde_json::Value) -> (String, String) {
    let e = check(&v).expect_err("should be rejected");
    (e.code.to_string(), e.field)
}

#[test]
fn the_contract_example_is_accepted() {
    let o = check(&sample()).unwrap();
    assert_eq!(o.order_id, "TT-579230112345");
    assert_eq!(o.weight_g, 1300);
    // The example collects the items alone (the seller pays the shipping fee).
    assert_eq!(o.cod_amount, Vnd::from_i64(370_000));
    assert_eq!(o.province.name, "Ninh Bình");
}

#[test]
fn cod_is_at_most_what_the_buyer_owes() {
    for (cod, ok) in [
        ("400000", true),
        ("370000", true),
        ("1", true),
        ("400001", false),
    ] {
        let mut v = sample();
        v["cod_amount"] = json!(cod);
        assert_eq!(check(&v).is_ok(), ok, "{cod}");
    }
}

/// Text as buyers and platforms write it passes: emoji (with their joiners), a left-to-right
/// mark pasted along with a name, digits alone, a dash for a street, symbols.
#[test]
fn names_as_people_write_them_are_accepted() {
    for (field, value) in [
        ("name", "🌸🌸"),
        ("name", "Lan 👩\u{200d}🍳"),
        ("name", "\u{200e}Nguyễn Thị Lan"),
        ("name", "123"),
        ("name", "Nguye\u{302}\u{303}n"),
        ("street", "-"),
        ("street", "Số 5 – ngõ 3 …"),
    ] {
        let mut v = sample();
        match field {
            "name" => v["buyer"]["name"] = json!(value),
            _ => v["ship_to"]["street"] = json!(value),
        }
        assert!(
            check(&v).is_ok(),
            "{field} {value:?}: {:?}",
            check(&v).err()
        );
    }
}

#[test]
fn prepaid_orders_have_zero_cod() {
    let mut v = sample();
    v["cod_amount"] = json!("0");
    assert!(check(&v).is_ok());
}

/// A change that breaks a sample order.
type Mutation = Box<dyn Fn(&mut serde_json::Value)>;

#[test]
fn each_rejection_names_its_field() {
    let cases: Vec<(Mutation, &str, &str)> = vec![
        (
            Box::new(|v| v["items"][0]["qty"] = json!(0)),
            "invalid_qty",
            "items[0].qty",
        ),
        (
            Box::new(|v| v["items"][0]["qty"] = json!(1000)),
            "invalid_qty",
            "items[0].qty",
        ),
        (
            Box::new(|v| v["items"][0]["qty"] = json!("two")),
            "invalid_type",
            "items[0].qty",
        ),
        (
            Box::new(|v| v["items"][0]["unit_price"] = json!("-5")),
            "negative_money",
            "items[0].unit_price",
        ),
        (
            Box::new(|v| v["items"][0]["unit_price"] = json!("1.5")),
            "fractional_money",
            "items[0].unit_price",
        ),
        (
            Box::new(|v| v["items"][0]["weight_g"] = json!(0)),
            "invalid_weight",
            "items[0].weight_g",
        ),
        (
            Box::new(|v| v["buyer"]["phone"] = json!("12345")),
            "invalid_phone",
            "buyer.phone",
        ),
        (
            Box::new(|v| {
                v["buyer"]
                    .as_object_mut()
                    .unwrap()
                    .remove("phone")
                    .map(|_| ())
                    .unwrap()
            }),
            "missing_field",
            "buyer.phone",
        ),
        (
            Box::new(|v| {
                v.as_object_mut()
                    .unwrap()
                    .remove("items")
                    .map(|_| ())
                    .unwrap()
            }),
            "missing_field",
            "items",
        ),
        (Box::new(|v| v["items"] = json!([])), "no_items", "items"),
        (
            Box::new(|v| v["ship_to"]["province"] = json!("Atlantis")),
            "unknown_province",
            "ship_to.province",
        ),
        (
            Box::new(|v| v["ship_to"]["ward"] = json!("  ")),
            "invalid_ward",
            "ship_to.ward",
        ),
        (
            Box::new(|v| v["platform"] = json!("amazon")),
            "invalid_platform",
            "platform",
        ),
        (
            Box::new(|v| v["placed_at"] = json!("yesterday")),
            "invalid_placed_at",
            "placed_at",
        ),
        (
            Box::new(|v| v["placed_at"] = json!("2026-11-23T20:15:02+07:00")),
            "placed_at_in_future",
            "placed_at",
        ),
        (
            Box::new(|v| v["order_id"] = json!("has space")),
            "invalid_order_id",
            "order_id",
        ),
        // Shown blank or reversed to the packer: invisible characters, marks alone.
        (
            Box::new(|v| v["buyer"]["name"] = json!("\u{202e}Lan")),
            "invalid_name",
            "buyer.name",
        ),
        (
            Box::new(|v| v["buyer"]["name"] = json!("\u{200b}")),
            "invalid_name",
            "buyer.name",
        ),
        (
            Box::new(|v| v["buyer"]["name"] = json!("\u{301}\u{301}")),
            "invalid_name",
            "buyer.name",
        ),
        (
            Box::new(|v| v["ship_to"]["street"] = json!("\u{2067}12 Trần Hưng Đạo")),
            "invalid_street",
            "ship_to.street",
        ),
        // Dots alone: no URL path can name it (`/v1/orders/..` is the parent path).
        (
            Box::new(|v| v["order_id"] = json!("..")),
            "invalid_order_id",
            "order_id",
        ),
        (
            Box::new(|v| v["order_id"] = json!(42)),
            "invalid_type",
            "order_id",
        ),
        (
            Box::new(|v| v["cod_amount"] = json!("4000000")),
            "cod_mismatch",
            "cod_amount",
        ),
        (
            Box::new(|v| v["cod_amount"] = json!(1.5)),
            "invalid_type",
            "cod_amount",
        ),
    ];
    for (mutate, code, field) in cases {
        let mut v = sample();
        mutate(&mut v);
        assert_eq!(rejected(v), (code.to_string(), field.to_string()));
    }
}

#[test]
fn too_many_items_is_refused() {
    let mut v = sample();
    let item = v["items"][0].clone();
    v["items"] = json!(vec![item; 101]);
    assert_eq!(rejected(v), ("too_many_items".into(), "items".into()));
}

#[test]
fn discount_explains_a_lower_cod() {
    let mut v = sample();
    v["cod_amount"] = json!("380000");
    v["discount"] = json!("20000");
    assert!(check(&v).is_ok());
    // … and caps it: what the buyer owes is 380.000 ₫.
    v["cod_amount"] = json!("390000");
    assert_eq!(rejected(v), ("cod_mismatch".into(), "cod_amount".into()));
}

#[test]
fn same_buyer_same_key_despite_formatting() {
    let a = check(&sample()).unwrap();
    let mut v = sample();
    v["buyer"]["phone"] = json!("+84 912.345.678");
    v["ship_to"]["province"] = json!("ninh binh");
    v["ship_to"]["ward"] = json!("P. Hoa Lu");
    v["ship_to"]["street"] = json!("12  Tran Hung Dao");
    v["order_id"] = json!("TT-2");
    let b = check(&v).unwrap();
    assert_eq!(a.buyer_key, b.buyer_key);
    v["buyer"]["phone"] = json!("0987654321");
    assert_ne!(check(&v).unwrap().buyer_key, a.buyer_key);
}

#[test]
fn canonical_json_ignores_whitespace_and_unknown_fields() {
    let a_text = sample().to_string();
    let a = parse_order(&a_text).unwrap();
    let mut v = sample();
    v["extra"] = json!("ignored");
    let b_text = serde_json::to_string_pretty(&v).unwrap();
    let b = parse_order(&b_text).unwrap();
    let canonical = |o: &OrderWire| {
        let mut out = Vec::new();
        o.write_canonical_json(&mut out);
        digest(&out)
    };
    assert_eq!(canonical(&a), canonical(&b));
    v["note"] = json!("changed");
    let c_text = v.to_string();
    let c = parse_order(&c_text).unwrap();
    assert_ne!(canonical(&a), canonical(&c));
}

#[test]
fn peeks_order_id_of_broken_orders() {
    assert_eq!(
        peek_order_id(r#"{"order_id":"X-1","items":5}"#),
        Some("X-1".into())
    );
    assert_eq!(peek_order_id(r#"[1,2]"#), None);
}

#[test]
fn placed_at_older_than_the_dedupe_window_is_too_old() {
    let mut v = sample();
    v["placed_at"] = json!("2026-08-22T20:59:00+07:00"); // 91 days before now()
    assert_eq!(
        rejected(v.clone()),
        ("placed_at_too_old".to_string(), "placed_at".to_string())
    );
    let e = check(&v).unwrap_err();
    assert!(e.message.contains("90 days"), "{}", e.message);
    v["placed_at"] = json!("2026-08-23T21:01:00+07:00"); // just inside 90 days
    assert!(check(&v).is_ok());
}

#[test]
fn control_characters_are_found_in_the_bytes_as_in_the_characters() {
    for c in (0..=0x10_ffff).filter_map(char::from_u32) {
        for text in [c.to_string(), format!("a{c}b"), format!("ệ{c}\u{a0}x")] {
            let want = text.chars().any(|c| c.is_control() && c != '\n');
            assert_eq!(has_control(&text), want, "{:?}", c);
        }
    }
    // Longer text is first looked at 16 bytes at a time: a character at every place,
    // across the blocks' edges too (C2 ending one block, its second byte starting the next).
    let controls = ['\u{0}', '\t', '\n', '\u{1f}', '\u{7f}', '\u{80}', '\u{9f}'];
    let others = ['\u{a0}', '°', 'ệ', 'a', '\u{2028}'];
    for c in controls.into_iter().chain(others) {
        for at in 0..40 {
            for filler in ["a", "ệ"] {
                let mut text = filler.repeat(at);
                text.push(c);
                text.push_str(&"x".repeat(40 - at));
                let want = c.is_control() && c != '\n';
                assert_eq!(has_control(&text), want, "{c:?} after {at} of {filler:?}");
            }
        }
    }
}

#[test]
fn digests_are_a_mark_and_the_first_twelve_bytes_of_xxh3_in_lowercase_hex() {
    for text in [&b""[..], b"{}", "Trần Ngọc Hương".as_bytes()] {
        let hash = xxhash_rust::xxh3::xxh3_128(text).to_be_bytes();
        assert_eq!(digest(text), format!("x{}", hex::encode(&hash[..12])));
    }
    // XXH3-128 of nothing, as its reference implementation gives it: what is stored stays
    // comparable across builds.
    assert_eq!(digest(b""), "x99aa06d3014798d86001c324");
}

#[test]
fn text_length_limits_count_characters_not_bytes() {
    // 100 Vietnamese letters take 2-3 bytes each: within a 100-character limit.
    let ward = "ờ".repeat(100);
    assert!(text_problem(&ward, 100).is_none());
    assert_eq!(
        text_problem(&"ờ".repeat(101), 100).as_deref(),
        Some("at most 100 characters")
    );
    assert_eq!(
        text_problem(&"a".repeat(101), 100).as_deref(),
        Some("at most 100 characters")
    );
    assert!(text_problem(&format!("  {}  ", "a".repeat(100)), 100).is_none());
    assert_eq!(
        text_problem("   ", 100).as_deref(),
        Some("must not be empty")
    );
}

#[test]
fn district_and_note_limits_count_characters() {
    for (path, max, code) in [
        ("district", 100, "invalid_district"),
        ("note", 1000, "invalid_note"),
    ] {
        let set = |v: &mut serde_json::Value, text: String| match path {
            "district" => v["ship_to"]["district"] = json!(text),
            _ => v["note"] = json!(text),
        };
        let mut v = sample();
        set(&mut v, "ờ".repeat(max));
        assert!(check(&v).is_ok(), "{max} characters of {path} are allowed");
        set(&mut v, "ờ".repeat(max + 1));
        assert_eq!(rejected(v).0, code);
    }
}

proptest::proptest! {
    /// The canonical form is written by hand: it must stay byte for byte what serde_json
    /// writes of the type, whatever the text (stored digests compare with it).
    #[test]
    fn canonical_json_is_what_serde_json_writes(
        text in proptest::collection::vec(proptest::prelude::any::<String>(), 16),
        numbers in proptest::collection::vec(proptest::prelude::any::<i64>(), 6),
        present in proptest::collection::vec(proptest::prelude::any::<bool>(), 4),
        items in 0usize..3,
    ) {
        let money = |s: &String| RawMoneyOut(crate::domain::money::RawMoney(s.clone().into()));
        let wire = OrderWire {
            order_id: text[0].as_str().into(),
            platform: text[1].as_str().into(),
            placed_at: text[2].as_str().into(),
            buyer: BuyerWire { name: text[3].as_str().into(), phone: text[4].as_str().into() },
            ship_to: ShipToWire {
                province: text[5].as_str().into(),
                ward: text[6].as_str().into(),
                street: text[7].as_str().into(),
                district: present[0].then(|| text[8].clone()),
            },
            items: (0..items)
                .map(|i| ItemWire {
                    sku: text[9 + i].as_str().into(),
                    name: text[10 + i].as_str().into(),
                    qty: numbers[i],
                    unit_price: money(&text[11 + i]),
                    weight_g: numbers[3 + i],
                })
                .collect(),
            cod_amount: money(&text[13]),
            shipping_fee: present[1].then(|| money(&text[14])),
            discount: present[2].then(|| money(&text[15])),
            note: present[3].then(|| text[12].clone()),
        };
        let mut out = Vec::new();
        wire.write_canonical_json(&mut out);
        proptest::prop_assert_eq!(&out, &serde_json::to_vec(&wire).unwrap());
        // Detached from its text, an order writes the same bytes (stored records are read so).
        let mut owned = Vec::new();
        wire.clone().into_owned().write_canonical_json(&mut owned);
        proptest::prop_assert_eq!(out, owned);
    }
}

/// A wrong type of amount is refused with the same words whether the order's strings are
/// read borrowed or owned (issue 20's borrowed amounts kept serde's message): the field, and
/// what it expects.
#[test]
fn a_wrong_type_of_amount_names_the_field_and_what_it_expects() {
    for (bad, found) in [
        (json!(1.5), "floating point `1.5`"),
        (json!(true), "boolean `true`"),
        (json!({"v": 1}), "map"),
    ] {
        for field in ["cod_amount", "shipping_fee"] {
            let mut v = sample();
            v[field] = bad.clone();
            let e = check(&v).expect_err("a wrong type of amount");
            assert_eq!(
                (e.code.to_string(), e.field.as_str()),
                ("invalid_type".into(), field)
            );
            assert_eq!(
                e.message,
                format!(
                    "invalid type: {found}, expected a decimal string of VND such as \"185000\""
                )
            );
        }
    }
}

#[test]
fn type_errors_speak_json_not_rust() {
    let message = |mutate: &dyn Fn(&mut serde_json::Value)| {
        let mut v = sample();
        mutate(&mut v);
        check(&v).expect_err("rejected").message
    };
    let m = message(&|v| v["buyer"] = json!("Lan"));
    assert!(
        m.contains("expected an object") && !m.contains("Wire"),
        "{m}"
    );
    let m = message(&|v| v["items"][0]["qty"] = json!("two"));
    assert!(
        m.contains("expected an integer") && !m.contains("u32"),
        "{m}"
    );
    let m = message(&|v| v["ship_to"] = json!([]));
    assert!(!m.contains("Wire") && !m.contains("elements"), "{m}");
}
