//! Viettel Post as it really is, against the local fake: address ids from its category lists
//! (new two-level and old three-level units, cached), the long-lived token, the fee quote,
//! error envelopes and 150-byte strings.

use crate::fake_vtp;

use fake_vtp::categories::CategoryFault;
use fake_vtp::{FakeVtp, Outcome};
use livepack::shipping::carrier::{AddressIds, BookingItem, BookingRequest, CarrierError, Party};
use rust_decimal::Decimal;

fn party(name: &str, phone: &str, street: &str, ward: &str, province: &str) -> Party {
    Party {
        name: name.into(),
        phone: phone.into(),
        street: street.into(),
        ward: ward.into(),
        province: province.into(),
    }
}

fn parcel(reference: &str, ward: &str) -> BookingRequest {
    BookingRequest {
        reference: reference.into(),
        sender: party(
            "HTX Hoa Lư packing hub",
            "0229123456",
            "Thôn Văn Lâm",
            "Phường Hoa Lư",
            "Ninh Bình",
        ),
        receiver: party(
            "Nguyễn Thị Lan",
            "0912345678",
            "12 Trần Hưng Đạo",
            ward,
            "Ninh Bình",
        ),
        weight_g: 1600,
        value: Decimal::new(490_000, 0),
        cod: Decimal::new(520_000, 0),
        service: "VCN".into(),
        items: vec![BookingItem {
            name: "Mật ong rừng ngập mặn 500ml".into(),
            qty: 2,
            unit_price: Decimal::new(185_000, 0),
            weight_g: 650,
        }],
        note: None,
    }
}

#[tokio::test]
async fn addresses_go_as_ids_and_the_lists_are_cached() {
    let vtp = FakeVtp::start().await;
    let client = vtp.client();
    client
        .book(&parcel("P-1", "PHƯỜNG TAM ĐIỆP"))
        .await
        .expect("booked");
    let body = vtp.order_body("P-1").expect("body");
    assert_eq!(body["SENDER_PROVINCE"], 27);
    assert_eq!(body["SENDER_DISTRICT"], 0);
    assert_eq!(body["SENDER_WARD"], 27001);
    assert_eq!(body["RECEIVER_PROVINCE"], 27);
    assert_eq!(body["RECEIVER_WARD"], 27002);
    let calls = vtp.category_calls();
    for n in 2..12 {
        let ward = if n % 2 == 0 {
            "Phường Hoa Lư"
        } else {
            "xa gia vien"
        };
        client
            .book(&parcel(&format!("P-{n}"), ward))
            .await
            .expect("booked");
    }
    assert_eq!(vtp.category_calls(), calls, "lists come from the cache");
    assert_eq!(vtp.order_body("P-3").unwrap()["RECEIVER_WARD"], 27003);
    // Login once, then ownerconnect: createOrder accepts only the long-lived token.
    assert_eq!(vtp.logins(), 1);
}

#[tokio::test]
async fn old_three_level_wards_resolve_across_merged_provinces() {
    let vtp = FakeVtp::start().await;
    let client = vtp.client();
    // Phủ Lý was in Hà Nam, merged into Ninh Bình in 2025.
    let ids = client
        .address_ids(&party(
            "A",
            "0912345678",
            "",
            "Phường Lương Khánh Thiện",
            "Ninh Bình",
        ))
        .await
        .expect("lists");
    assert_eq!(
        ids,
        AddressIds {
            province: 41,
            district: 410,
            ward: 4101
        }
    );
    let ids = client
        .address_ids(&party("A", "0912345678", "", "thi tran me", "NINH BINH"))
        .await
        .expect("lists");
    assert_eq!(
        ids,
        AddressIds {
            province: 40,
            district: 400,
            ward: 4002
        }
    );
    let unknown = client
        .address_ids(&party(
            "A",
            "0912345678",
            "",
            "Phường Không Có",
            "Ninh Bình",
        ))
        .await
        .expect("lists");
    assert_eq!(unknown.ward, 0, "{unknown:?}");
}

#[tokio::test]
async fn an_unknown_ward_is_the_carrier_s_rejection() {
    let vtp = FakeVtp::start().await;
    let err = vtp
        .client()
        .book(&parcel("P-x", "Phường Không Có"))
        .await
        .expect_err("rejected");
    assert!(matches!(err, CarrierError::Rejected { .. }), "{err:?}");
    assert!(
        err.message().contains("Phường/Xã người nhận không hợp lệ"),
        "{err}"
    );
    assert!(matches!(
        vtp.calls_for("P-x").as_slice(),
        [c] if matches!(c.outcome, Outcome::Rejected(_))
    ));
    assert_eq!(vtp.created_count("P-x"), 0);
}

#[tokio::test]
async fn category_failures_are_retryable_and_never_book() {
    let vtp = FakeVtp::start().await;
    let client = vtp.client();
    for fault in [CategoryFault::ServerError, CategoryFault::ErrorEnvelope] {
        vtp.fail_categories(fault, 1);
        let err = client
            .book(&parcel("P-1", "Phường Hoa Lư"))
            .await
            .expect_err("categories down");
        assert!(err.retryable(), "{fault:?}: {err}");
        assert!(vtp.calls().is_empty());
    }
    client
        .book(&parcel("P-1", "Phường Hoa Lư"))
        .await
        .expect("booked");
    assert_eq!(vtp.created_count("P-1"), 1);
}

#[tokio::test]
async fn the_fee_quote_is_the_carrier_s() {
    let vtp = FakeVtp::start().await;
    let client = vtp.client();
    // The fake's fee: 16,500 + 3 × 2,500 for 1,600 g, 1 % COD fee, 10 % VAT.
    let q = client
        .quote(&parcel("P-1", "Phường Hoa Lư"))
        .await
        .expect("quote");
    assert_eq!(q, Decimal::new(32_120, 0));
    assert_eq!(vtp.quote_calls(), 1);
    vtp.expire_tokens();
    let again = client
        .quote(&parcel("P-1", "Phường Hoa Lư"))
        .await
        .expect("after re-login");
    assert_eq!(again, q);
    assert_eq!(vtp.logins(), 2);
}

#[tokio::test]
async fn long_strings_fit_in_150_bytes_and_book() {
    let vtp = FakeVtp::start().await;
    let mut req = parcel("P-long", "Phường Hoa Lư");
    req.receiver.name = "Nguyễn Thị Ngọc Ánh ".repeat(12);
    req.receiver.street = "Số 12 ngõ 34 đường Trần Hưng Đạo ".repeat(8);
    req.items[0].name = "Mật ong rừng ngập mặn nguyên chất ".repeat(8);
    req.note = Some("Giao giờ hành chính, gọi trước khi giao ".repeat(8));
    vtp.client().book(&req).await.expect("booked");
    let body = vtp.order_body("P-long").unwrap();
    for key in [
        "RECEIVER_FULLNAME",
        "RECEIVER_ADDRESS",
        "PRODUCT_NAME",
        "PRODUCT_DESCRIPTION",
        "ORDER_NOTE",
    ] {
        let s = body[key].as_str().unwrap();
        assert!(s.len() <= 150, "{key}: {} bytes", s.len());
        assert!(!s.is_empty());
    }
    assert!(body["RECEIVER_ADDRESS"]
        .as_str()
        .unwrap()
        .ends_with("Phường Hoa Lư, Ninh Bình"));
}
