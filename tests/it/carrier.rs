//! The carrier adapter against a fake Viettel Post server, the mock carrier, and the status
//! webhook parser.

use crate::fake_vtp;

use std::collections::HashSet;
use std::time::Duration;

use fake_vtp::{AuthReply, DuplicateReply, FakeVtp, Fault, Outcome};
use livepack::config::{CarrierConfig, CarrierKind, Secret};
use livepack::shipping::carrier::{
    parse_webhook, Booking, BookingItem, BookingRequest, Carrier, CarrierClient, CarrierError,
    MockCarrier, ParcelStatus, Party, StatusUpdate, ViettelPost, WebhookError,
};
use rust_decimal::Decimal;
use serde_json::json;

const SECRET: &str = "vtp-webhook-secret";

fn vnd(n: i64) -> Decimal {
    Decimal::new(n, 0)
}

fn party(name: &str, phone: &str, street: &str) -> Party {
    Party {
        name: name.into(),
        phone: phone.into(),
        street: street.into(),
        ward: "Phường Hoa Lư".into(),
        province: "Ninh Bình".into(),
    }
}

fn parcel(reference: &str) -> BookingRequest {
    BookingRequest {
        reference: reference.into(),
        sender: party("HTX Hoa Lư packing hub", "0229123456", "Thôn Văn Lâm"),
        receiver: party("Nguyễn Thị Lan", "0912345678", "12 Trần Hưng Đạo"),
        weight_g: 1600,
        value: vnd(490_000),
        cod: vnd(520_000),
        service: "VCN".into(),
        items: vec![
            BookingItem {
                name: "Mật ong rừng ngập mặn 500ml".into(),
                qty: 2,
                unit_price: vnd(185_000),
                weight_g: 650,
            },
            BookingItem {
                name: "Trà Shan Tuyết 100g".into(),
                qty: 1,
                unit_price: vnd(120_000),
                weight_g: 100,
            },
        ],
        note: Some("Giao giờ hành chính".into()),
    }
}

fn carrier_config(kind: &str, base_url: &str, password: &str) -> CarrierConfig {
    serde_json::from_value(json!({
        "id": "viettel-post", "kind": kind, "base_url": base_url,
        "username": fake_vtp::USERNAME, "password": password,
        "webhook_secret": SECRET, "default_service": "VCN"
    }))
    .expect("carrier config")
}

fn outcomes(vtp: &FakeVtp, reference: &str) -> Vec<Outcome> {
    vtp.calls_for(reference)
        .into_iter()
        .map(|c| c.outcome)
        .collect()
}

async fn book_via<C: Carrier>(c: &C, req: &BookingRequest) -> Result<Booking, CarrierError> {
    c.book(req).await
}

#[tokio::test]
async fn login_then_book_sends_the_wire_format() {
    let vtp = FakeVtp::start().await;
    let client = vtp.client();
    let booking = client.book(&parcel("P-1")).await.expect("booked");
    assert_eq!(
        Some(&booking.tracking_code),
        vtp.tracking_code("P-1").as_ref()
    );
    // The fake's fee: 16,500 + 3 × 2,500 for 1,600 g, 1 % COD fee, 10 % VAT.
    assert_eq!(booking.fee, Some(vnd(32_120)));
    assert_eq!(vtp.logins(), 1);

    let body = vtp.order_body("P-1").expect("order body");
    let want = json!({
        "ORDER_NUMBER": "P-1",
        "SENDER_FULLNAME": "HTX Hoa Lư packing hub", "SENDER_PHONE": "0229123456",
        "SENDER_ADDRESS": "Thôn Văn Lâm, Phường Hoa Lư, Ninh Bình",
        "RECEIVER_FULLNAME": "Nguyễn Thị Lan", "RECEIVER_PHONE": "0912345678",
        "RECEIVER_ADDRESS": "12 Trần Hưng Đạo, Phường Hoa Lư, Ninh Bình",
        "PRODUCT_NAME": "Mật ong rừng ngập mặn 500ml (+1 khác)",
        "PRODUCT_DESCRIPTION": "2 x Mật ong rừng ngập mặn 500ml; 1 x Trà Shan Tuyết 100g",
        "PRODUCT_QUANTITY": 3, "PRODUCT_PRICE": 490_000, "PRODUCT_WEIGHT": 1600,
        "PRODUCT_TYPE": "HH",
        "ORDER_PAYMENT": 3, // COD: collect the goods money only
        "MONEY_COLLECTION": 520_000, // integer VND, not a string
        "ORDER_SERVICE": "VCN", "ORDER_SERVICE_ADD": "", "ORDER_NOTE": "Giao giờ hành chính",
        "CHECK_UNIQUE": true,
        "LIST_ITEM": [
            {"PRODUCT_NAME": "Mật ong rừng ngập mặn 500ml", "PRODUCT_PRICE": 185_000,
             "PRODUCT_WEIGHT": 650, "PRODUCT_QUANTITY": 2},
            {"PRODUCT_NAME": "Trà Shan Tuyết 100g", "PRODUCT_PRICE": 120_000,
             "PRODUCT_WEIGHT": 100, "PRODUCT_QUANTITY": 1}
        ]
    });
    for (key, value) in want.as_object().expect("object") {
        assert_eq!(&body[key], value, "{key}");
    }

    client.book(&parcel("P-2")).await.expect("second parcel");
    assert_eq!(vtp.logins(), 1, "the token is cached");
}

#[tokio::test]
async fn prepaid_parcel_collects_nothing() {
    let vtp = FakeVtp::start().await;
    let mut req = parcel("P-prepaid");
    req.cod = Decimal::ZERO;
    vtp.client().book(&req).await.expect("booked");
    let body = vtp.order_body("P-prepaid").expect("order body");
    assert_eq!(body["ORDER_PAYMENT"], 1);
    assert_eq!(body["MONEY_COLLECTION"], 0);
}

#[tokio::test]
async fn expired_token_logs_in_again_once() {
    for reply in [AuthReply::Body401, AuthReply::Http401] {
        let vtp = FakeVtp::start().await;
        vtp.set_auth_reply(reply);
        let client = vtp.client();
        client.book(&parcel("P-a")).await.expect("first");
        vtp.expire_tokens();
        let b = client.book(&parcel("P-b")).await.expect("after re-login");
        assert_eq!(Some(b.tracking_code), vtp.tracking_code("P-b"));
        assert_eq!(vtp.logins(), 2, "{reply:?}");
        let outcomes = outcomes(&vtp, "P-b");
        assert!(matches!(
            outcomes.as_slice(),
            [Outcome::AuthFailed, Outcome::Booked(_)]
        ));
    }
}

#[tokio::test]
async fn refused_credentials_are_unavailable_without_a_booking_call() {
    let vtp = FakeVtp::start().await;
    let client =
        CarrierClient::from_config(&carrier_config("viettelpost", &vtp.base_url(), "wrong"));
    let err = client
        .book(&parcel("P-1"))
        .await
        .expect_err("login refused");
    assert!(err.retryable(), "{err}");
    assert!(err.message().contains("login refused"), "{err}");
    assert!(vtp.calls().is_empty());
}

#[tokio::test]
async fn business_rejection_is_final_until_the_data_changes() {
    let vtp = FakeVtp::start().await;
    let client = vtp.client();
    vtp.fail_first("P-9", 1);
    let err = client.book(&parcel("P-9")).await.expect_err("rejected");
    assert!(matches!(err, CarrierError::Rejected { .. }), "{err:?}");
    assert!(!err.retryable());
    assert!(
        err.message().contains("Địa chỉ người nhận không hợp lệ"),
        "{err}"
    );
    assert_eq!(vtp.created_count("P-9"), 0);

    client.book(&parcel("P-9")).await.expect("fixed and booked");
    assert_eq!(vtp.created_count("P-9"), 1);
}

#[tokio::test]
async fn server_errors_and_garbage_are_unavailable() {
    let vtp = FakeVtp::start().await;
    let client = vtp.client();
    for fault in [Fault::ServerError, Fault::Garbage] {
        let reference = format!("P-{fault:?}");
        vtp.fault_first(&reference, fault, 1);
        let err = client.book(&parcel(&reference)).await.expect_err("fails");
        assert!(matches!(err, CarrierError::Unavailable { .. }), "{err:?}");
        assert!(err.retryable());
        assert_eq!(vtp.created_count(&reference), 0);
        client.book(&parcel(&reference)).await.expect("retry books");
        assert_eq!(vtp.created_count(&reference), 1);
    }
}

#[tokio::test]
async fn unreachable_carrier_is_unavailable() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}/v2", closed.local_addr().expect("addr"));
    drop(closed);
    let client = ViettelPost::new(&base, "u", Secret::new("p"));
    let err = client.book(&parcel("P-1")).await.expect_err("refused");
    assert!(err.retryable(), "{err}");
}

#[tokio::test]
async fn timeout_is_unavailable_and_the_retry_finds_the_existing_order() {
    let vtp = FakeVtp::start().await;
    let client = vtp.client_with_timeout(Duration::from_secs(1));
    vtp.fault_first("P-slow", Fault::Hang, 1);
    let err = client.book(&parcel("P-slow")).await.expect_err("times out");
    assert!(matches!(err, CarrierError::Unavailable { .. }), "{err:?}");
    assert!(err.message().contains("timed out"), "{err}");
    assert_eq!(vtp.created_count("P-slow"), 1, "the carrier did create it");

    let b = client.book(&parcel("P-slow")).await.expect("retry");
    assert_eq!(Some(b.tracking_code), vtp.tracking_code("P-slow"));
    assert_eq!(vtp.created_count("P-slow"), 1, "booked exactly once");
    let outcomes = outcomes(&vtp, "P-slow");
    assert!(matches!(
        outcomes.as_slice(),
        [Outcome::Booked(_), Outcome::Duplicate(_)]
    ));
}

#[tokio::test]
async fn slow_answers_within_the_limit_succeed() {
    let vtp = FakeVtp::start().await;
    vtp.set_delay(Duration::from_millis(300));
    let b = vtp
        .client_with_timeout(Duration::from_secs(10))
        .book(&parcel("P-1"))
        .await
        .expect("slow but fine");
    assert_eq!(Some(b.tracking_code), vtp.tracking_code("P-1"));
}

#[tokio::test]
async fn rebooking_a_booked_parcel_answers_its_tracking_code() {
    let vtp = FakeVtp::start().await;
    let client = vtp.client();
    let first = client.book(&parcel("P-1")).await.expect("first");
    let again = client.book(&parcel("P-1")).await.expect("again");
    assert_eq!(first.tracking_code, again.tracking_code);
    assert_eq!(vtp.created_count("P-1"), 1);
}

#[tokio::test]
async fn duplicate_without_a_tracking_code_is_rejected_clearly() {
    let vtp = FakeVtp::start().await;
    vtp.set_duplicate_reply(DuplicateReply::WithoutTrackingCode);
    let client = vtp.client();
    client.book(&parcel("P-1")).await.expect("first");
    let err = client.book(&parcel("P-1")).await.expect_err("duplicate");
    assert!(matches!(err, CarrierError::Rejected { .. }), "{err:?}");
    assert!(
        err.message()
            .contains("already has an order with reference P-1"),
        "{err}"
    );
    assert_eq!(vtp.created_count("P-1"), 1);
}

#[tokio::test]
async fn invalid_parcels_are_rejected_before_any_call() {
    let vtp = FakeVtp::start().await;
    let client = vtp.client();
    let mutations: [fn(&mut BookingRequest); 4] = [
        |r| r.weight_g = 0,
        |r| r.cod = vnd(-1),
        |r| r.receiver.phone = " ".into(),
        |r| r.items.clear(),
    ];
    let cases = mutations.iter().enumerate().map(|(n, m)| {
        let mut r = parcel(&format!("P-{n}"));
        m(&mut r);
        r
    });
    for req in cases {
        let err = client.book(&req).await.expect_err("invalid");
        assert!(matches!(err, CarrierError::Rejected { .. }), "{err:?}");
    }
    assert_eq!(vtp.logins(), 0);
    assert!(vtp.calls().is_empty());
}

/// Many parcels at once, some failing first, the token expiring mid-day: one re-login between
/// them, and after retries every parcel is booked exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_bookings_share_logins_and_book_each_parcel_once() {
    let vtp = FakeVtp::start().await;
    let client = vtp.client();
    let refs: Vec<String> = (0..40).map(|n| format!("P-{n:03}")).collect();
    for r in &refs[..5] {
        client.book(&parcel(r)).await.expect("warm-up");
    }
    vtp.expire_tokens();
    for r in refs[5..].iter().step_by(10) {
        vtp.fail_first(r, 1);
    }
    vtp.fault_first(&refs[7], Fault::ServerError, 2);

    let mut pending: Vec<String> = refs[5..].to_vec();
    let mut rounds = 0;
    let mut rejected_once = HashSet::new();
    while !pending.is_empty() {
        rounds += 1;
        assert!(rounds <= 4, "still pending after 3 retries: {pending:?}");
        let tasks: Vec<_> = pending
            .iter()
            .map(|r| {
                let client = client.clone();
                let req = parcel(r);
                tokio::spawn(async move { (req.reference.clone(), client.book(&req).await) })
            })
            .collect();
        let mut next = Vec::new();
        for t in tasks {
            let (r, result) = t.await.expect("task");
            match result {
                Ok(_) => {}
                Err(e @ CarrierError::Rejected { .. }) => {
                    assert!(rejected_once.insert(r.clone()), "{r} rejected twice: {e}");
                    next.push(r);
                }
                Err(_) => next.push(r),
            }
        }
        pending = next;
    }
    assert_eq!(
        vtp.logins(),
        2,
        "one login, one re-login shared by everyone"
    );
    let counts = vtp.created_counts();
    assert_eq!(counts.len(), refs.len());
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
}

#[tokio::test]
async fn client_from_config_books_through_the_carrier_trait() {
    let vtp = FakeVtp::start().await;
    let client = CarrierClient::from_config(&carrier_config(
        "viettelpost",
        &vtp.base_url(),
        fake_vtp::PASSWORD,
    ));
    assert_eq!(client.kind(), CarrierKind::Viettelpost);
    let b = book_via(&client, &parcel("P-1")).await.expect("booked");
    assert_eq!(Some(b.tracking_code), vtp.tracking_code("P-1"));
}

#[tokio::test]
async fn mock_books_offline_and_deterministically() {
    let client = CarrierClient::from_config(&carrier_config("mock", "http://127.0.0.1:9/v2", ""));
    assert_eq!(client.kind(), CarrierKind::Mock);
    let a = client.book(&parcel("P-1")).await.expect("booked");
    assert!(a.tracking_code.starts_with("MOCK"), "{}", a.tracking_code);
    assert_eq!(a.tracking_code, MockCarrier::tracking_code("P-1"));
    assert_eq!(client.book(&parcel("P-1")).await.expect("again"), a);
    let b = book_via(&MockCarrier::new(), &parcel("P-2"))
        .await
        .expect("booked");
    assert_ne!(a.tracking_code, b.tracking_code);
    let mut bad = parcel("P-3");
    bad.weight_g = 0;
    assert!(!client.book(&bad).await.expect_err("rejected").retryable());
}

// ---- status webhook ----

fn secret() -> Secret {
    Secret::new(SECRET)
}

fn vtp(body: impl AsRef<[u8]>) -> Result<StatusUpdate, WebhookError> {
    parse_webhook(CarrierKind::Viettelpost, body.as_ref(), &secret())
}

fn bytes(v: serde_json::Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

#[test]
fn webhook_with_wrong_or_missing_secret_is_refused() {
    let bad = Err(WebhookError::BadSecret);
    assert_eq!(
        vtp(fake_vtp::webhook_body("1700", "P-1", 501, "not-it")),
        bad
    );
    let no_token = json!({"DATA": {"ORDER_NUMBER": "1700", "ORDER_STATUS": 501}});
    assert_eq!(vtp(bytes(no_token)), bad);
    // Unauthenticated garbage learns nothing about the DATA format.
    assert_eq!(vtp(bytes(json!({"TOKEN": "nope", "DATA": 5}))), bad);
    let empty = fake_vtp::webhook_body("1700", "P-1", 501, "");
    let unset = parse_webhook(CarrierKind::Viettelpost, &empty, &Secret::default());
    assert_eq!(unset, bad, "an unset secret accepts nothing");
}

#[test]
fn malformed_webhooks_are_refused() {
    let cases = [
        b"not json".to_vec(),
        b"[1, 2]".to_vec(),
        bytes(json!({"TOKEN": SECRET})),
        bytes(json!({"TOKEN": SECRET, "DATA": [1]})),
        bytes(json!({"TOKEN": SECRET, "DATA": {"ORDER_STATUS": 501}})),
        bytes(json!({"TOKEN": SECRET, "DATA": {"ORDER_NUMBER": "1", "ORDER_STATUS": "sent"}})),
    ];
    for body in cases {
        let r = vtp(&body);
        let shown = String::from_utf8_lossy(&body);
        assert!(
            matches!(r, Err(WebhookError::Malformed(_))),
            "{shown}: {r:?}"
        );
    }
    let body = fake_vtp::webhook_body("170000000001", "P-1", 501, SECRET);
    let r = parse_webhook(CarrierKind::Ghn, &body, &secret());
    assert!(matches!(r, Err(WebhookError::Malformed(_))), "{r:?}");
}

#[test]
fn webhook_fields_and_time_are_read() {
    let body = fake_vtp::webhook_body_at("170000000001", "P-1", 501, SECRET, "21/11/2026 20:15:02");
    let u = parse_webhook(CarrierKind::Viettelpost, &body, &secret()).expect("parsed");
    assert_eq!(u.tracking_code, "170000000001");
    assert_eq!(u.reference.as_deref(), Some("P-1"));
    assert_eq!(u.status, Some(ParcelStatus::Delivered));
    assert_eq!(u.carrier_code, 501);
    assert_eq!(u.carrier_status, "Thành công - Phát thành công");
    assert_eq!(
        u.at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-11-21T13:15:02+00:00")
    );

    // Codes and tracking numbers sometimes arrive as strings / numbers; no reference, no date.
    let loose = json!({"TOKEN": SECRET, "DATA": {
        "ORDER_NUMBER": 170000000002_i64, "ORDER_STATUS": "105", "ORDER_REFERENCE": "",
        "ORDER_STATUSDATE": "yesterday"}});
    let u =
        parse_webhook(CarrierKind::Mock, loose.to_string().as_bytes(), &secret()).expect("parsed");
    assert_eq!(u.tracking_code, "170000000002");
    assert_eq!(u.status, Some(ParcelStatus::HandedOver));
    assert_eq!(u.reference, None);
    assert_eq!(u.at, None);
}

#[test]
fn webhook_status_codes_map_to_ours() {
    use ParcelStatus::*;
    let carrier_has_it = [
        -108, 105, 200, 202, 300, 302, 400, 403, 500, 502, 505, 506, 507, 515,
    ];
    let groups: [(&[i64], Option<ParcelStatus>); 5] = [
        (&[-100, 100, 102, 103, 104, 106, 777], None),
        (&carrier_has_it, Some(HandedOver)),
        (&[501], Some(Delivered)),
        (&[504], Some(Returned)),
        (&[101, 107, 201, 503], Some(CancelledByCarrier)),
    ];
    let table = groups
        .iter()
        .flat_map(|(codes, want)| codes.iter().map(move |&c| (c, *want)));
    for (code, want) in table {
        let u = vtp(fake_vtp::webhook_body("1700", "P-1", code, SECRET)).expect("parsed");
        assert_eq!(u.status, want, "ORDER_STATUS {code}");
        assert_eq!(u.carrier_code, code);
    }
    assert!(Delivered.is_final() && Returned.is_final() && CancelledByCarrier.is_final());
    assert!(!HandedOver.is_final());
    assert_eq!(HandedOver.as_str(), "handed_over");
}

#[tokio::test]
async fn a_booked_parcel_s_webhook_names_its_booking() {
    let vtp = FakeVtp::start().await;
    let booking = vtp.client().book(&parcel("P-1")).await.expect("booked");
    let body = vtp.webhook_for("P-1", 105, SECRET).expect("webhook body");
    let u = parse_webhook(CarrierKind::Viettelpost, &body, &secret()).expect("parsed");
    assert_eq!(u.tracking_code, booking.tracking_code);
    assert_eq!(u.reference.as_deref(), Some("P-1"));
    assert_eq!(u.status, Some(ParcelStatus::HandedOver));
}
