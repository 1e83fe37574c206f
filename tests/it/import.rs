//! The importers on the sample files in docs/examples/ (and a few odd inputs inline): what
//! maps, what is listed as unmappable with its line, and that every ORDER produced passes
//! the server's own validation.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use livepack::domain::order::parse_order;
use livepack::import::{self, Format, ImportError, Options, Parsed};
use serde_json::Value;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/examples")
        .join(name)
}

fn weights() -> Options {
    Options {
        weights: import::load_weights(&example("weights.csv")).expect("weights.csv reads"),
        default_weight_g: None,
    }
}

/// After every sample date.
fn now() -> DateTime<Utc> {
    "2026-12-01T00:00:00Z".parse().unwrap()
}

/// Parses a sample (format detected) and checks every ORDER with the server's validation.
fn parse(name: &str, opts: &Options) -> Parsed {
    let p = import::parse_file(&example(name), Format::Auto, opts).expect("sample parses");
    for m in &p.orders {
        let text = m.order.to_string();
        let wire = parse_order(&text).unwrap_or_else(|e| panic!("{name} line {}: {e}", m.line));
        if let Err(e) = wire.validate(
            now(),
            chrono::Duration::minutes(15),
            chrono::Duration::days(90),
        ) {
            panic!(
                "{name} line {}: the server would refuse it: {e}\n{}",
                m.line, m.order
            );
        }
    }
    p
}

fn order<'a>(p: &'a Parsed, id: &str) -> &'a Value {
    &p.orders
        .iter()
        .find(|m| m.order_id() == Some(id))
        .unwrap_or_else(|| panic!("{id} mapped"))
        .order
}

fn unmappable(p: &Parsed) -> Vec<(usize, String)> {
    p.unmappable
        .iter()
        .map(|u| (u.line, u.reason.clone()))
        .collect()
}

#[test]
fn json_lines_pass_through() {
    let p = parse("orders.jsonl", &Options::default());
    assert_eq!(p.orders.len(), 6);
    assert!(p.unmappable.is_empty());
    assert_eq!(
        p.orders[2].line, 4,
        "a blank line keeps line numbers honest"
    );
    assert_eq!(
        order(&p, "FB-20261121-0007")["ship_to"]["district"],
        "Thành phố Nam Định"
    );
}

#[test]
fn tiktok_api_orders_fold_units_and_map_cod() {
    let p = parse("tiktok-order-detail.json", &weights());
    assert_eq!(p.orders.len(), 2, "{:?}", p.unmappable);
    let cod = order(&p, "TT-579231004455667788");
    assert_eq!(cod["placed_at"], "2026-11-21T20:19:00+07:00");
    assert_eq!(cod["items"][0]["sku"], "HONEY-500");
    assert_eq!(cod["items"][0]["qty"], 2, "two units of one SKU fold");
    assert_eq!(
        cod["items"][0]["name"],
        "Mật ong rừng Tam Điệp - Chai 500ml"
    );
    assert_eq!(cod["items"][0]["weight_g"], 650);
    assert_eq!(cod["cod_amount"], "520000");
    assert_eq!(cod["shipping_fee"], "30000");
    assert_eq!(cod["ship_to"]["province"], "Ninh Bình");
    assert_eq!(cod["ship_to"]["ward"], "Phường Hoa Lư");
    assert!(cod["ship_to"].get("district").is_none());
    assert_eq!(cod["ship_to"]["street"], "Số 7, ngõ 12 Đinh Tiên Hoàng");
    assert_eq!(cod["note"], "Đóng gói kỹ giúp em, hàng biếu");
    let prepaid = order(&p, "TT-579231004455667790");
    assert_eq!(prepaid["cod_amount"], "0");
    assert_eq!(prepaid["discount"], "20000", "a platform discount");
    assert_eq!(prepaid["ship_to"]["district"], "Thành phố Phủ Lý");
    let odd = unmappable(&p);
    assert_eq!(odd.len(), 1, "{odd:?}");
    assert!(odd[0].1.contains("masked"), "{odd:?}");
    assert_eq!(
        p.cancelled.len(),
        1,
        "a CANCELLED order is to be cancelled, not an error"
    );
    assert_eq!(p.cancelled[0].status, "CANCELLED");

    // Without a weight list, the API (which has no weights) cannot be mapped: said so.
    let p = parse("tiktok-order-detail.json", &Options::default());
    assert!(p.orders.is_empty());
    assert!(p.unmappable[0].reason.contains("--weights"));
    let with_default = Options {
        default_weight_g: Some(500),
        ..Default::default()
    };
    assert_eq!(
        parse("tiktok-order-detail.json", &with_default)
            .orders
            .len(),
        2
    );
}

#[test]
fn tiktok_export_csv_with_bom_crlf_quotes_and_odd_rows() {
    let bytes = std::fs::read(example("tiktok-export.csv")).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "the sample has a BOM");
    assert!(
        bytes.windows(2).any(|w| w == b"\r\n"),
        "and CRLF line endings"
    );
    let p = parse("tiktok-export.csv", &Options::default());
    assert_eq!(p.rows, 7);
    assert_eq!(p.orders.len(), 3);
    let a = order(&p, "TT-579240001111222201");
    assert_eq!(
        a["items"].as_array().unwrap().len(),
        2,
        "three rows, two SKUs"
    );
    assert_eq!(a["items"][0]["qty"], 2);
    assert_eq!(
        a["items"][0]["weight_g"], 484,
        "1.45 kg spread over 3 units"
    );
    assert_eq!(a["ship_to"]["street"], "Số 12, ngõ 5, Trần Hưng Đạo");
    assert_eq!(a["placed_at"], "2026-11-21T20:31:07+07:00");
    assert_eq!(a["cod_amount"], "520000");
    let b = order(&p, "TT-579240001111222202");
    assert_eq!(b["items"][0]["unit_price"], "195000", "\"195.000\" is VND");
    assert_eq!(b["cod_amount"], "0", "bank transfer is prepaid");
    assert_eq!(b["ship_to"]["district"], "Thành phố Nam Định");
    assert_eq!(b["note"], "Gọi trước \"15 phút\" khi giao");
    let c = order(&p, "TT-579240001111222205");
    assert_eq!(
        c["items"][0]["unit_price"], "250000",
        "\"250,000 ₫\" is VND"
    );
    assert_eq!(c["cod_amount"], "480000");
    assert_eq!(c["discount"], "50000");
    let odd = unmappable(&p);
    assert_eq!(odd.len(), 1, "{odd:?}");
    assert_eq!(odd[0].0, 6, "line numbers count the CRLF lines of the file");
    assert!(odd[0].1.contains("no phone"), "{odd:?}");
    // A cancelled row is not an error: `livepack push` cancels the order if it was stored.
    assert_eq!(p.cancelled.len(), 1);
    assert_eq!(p.cancelled[0].line, 7);
    assert_eq!(p.cancelled[0].status, "Cancelled");
    assert!(p.cancelled[0].order_id.starts_with("TT-"));
    // A weight list wins over the export's order weight.
    let p = parse("tiktok-export.csv", &weights());
    assert_eq!(
        order(&p, "TT-579240001111222201")["items"][0]["weight_g"],
        650
    );
}

#[test]
fn shopee_export_csv_with_vietnamese_headers() {
    let p = parse("shopee-export.csv", &Options::default());
    assert_eq!(p.orders.len(), 3);
    let a = order(&p, "SP-261121K8M2P4QX");
    assert_eq!(a["platform"], "shopee");
    assert_eq!(a["items"][0]["sku"], "HONEY-500", "the variation SKU first");
    assert_eq!(a["items"][0]["unit_price"], "185000", "Giá ưu đãi");
    assert_eq!(a["items"][0]["weight_g"], 650, "Cân nặng sản phẩm in kg");
    assert_eq!(a["cod_amount"], "520000");
    assert_eq!(
        a["ship_to"]["ward"], "Phường Hoàn Kiếm",
        "Shopee's \"Quận\" is the ward"
    );
    assert_eq!(a["placed_at"], "2026-11-21T20:40:00+07:00");
    let b = order(&p, "SP-261121L2N5R7TZ");
    assert_eq!(
        b["items"][0]["sku"], "FISH-DRIED-500",
        "the product SKU as fallback"
    );
    assert_eq!(b["cod_amount"], "0", "ShopeePay is prepaid");
    let c = order(&p, "SP-261121P8R1V3YZ");
    assert_eq!(c["ship_to"]["district"], "Thành phố Phủ Lý");
    assert_eq!(c["ship_to"]["ward"], "Phường Lương Khánh Thiện");
    let odd = unmappable(&p);
    assert_eq!(
        odd.iter().map(|o| o.0).collect::<Vec<_>>(),
        vec![5],
        "{odd:?}"
    );
    assert_eq!(p.cancelled.len(), 1);
    assert_eq!(p.cancelled[0].line, 6);
    assert_eq!(p.cancelled[0].status, "Đã hủy");
}

#[test]
fn xlsx_exports_read_dates_numbers_and_description_rows() {
    let p = parse("shopee-export.xlsx", &Options::default());
    assert_eq!(p.orders.len(), 2);
    let a = order(&p, "SP-261122A1B2C3D4");
    assert_eq!(
        a["buyer"]["phone"], "0912345678",
        "a phone stored as a number gets its 0 back"
    );
    assert_eq!(a["placed_at"], "2026-11-22T09:05:00+07:00", "a date cell");
    assert_eq!(a["items"][0]["unit_price"], "185000");
    assert_eq!(
        unmappable(&p),
        vec![(
            4,
            "no phone number for the recipient (Phone # / Số điện thoại)".to_owned()
        )]
    );

    let p = parse("tiktok-export.xlsx", &Options::default());
    assert!(
        p.unmappable.is_empty(),
        "the description row is skipped: {:?}",
        p.unmappable
    );
    assert_eq!(p.orders.len(), 2);
    assert_eq!(p.orders[0].line, 3);
    assert_eq!(order(&p, "TT-579240001111222201")["items"][0]["qty"], 2);
}

fn csv(text: &str) -> Result<Parsed, ImportError> {
    let opts = Options {
        default_weight_g: Some(500),
        ..Default::default()
    };
    import::parse(Format::Auto, text.as_bytes(), &opts, true)
}

#[test]
fn odd_exports_inline() {
    // Headers without diacritics, upper case, separated by semicolons; mangled ids.
    let text = "MA DON HANG;NGAY DAT HANG;SKU PHAN LOAI HANG;TEN SAN PHAM;SO LUONG;GIA UU DAI;\
                TEN NGUOI NHAN;SO DIEN THOAI;TINH/THANH PHO;QUAN;DIA CHI NHAN HANG;\
                PHUONG THUC THANH TOAN\n\
                A1;22/11/2026 10:00;HONEY-500;Mật ong;1;185.000;Lan;0912345678;Ninh Bình;Phường Hoa Lư;\"1; Trần Hưng Đạo\";COD\n\
                5.7924E+17;22/11/2026 10:00;HONEY-500;Mật ong;1;185.000;Lan;0912345678;Ninh Bình;Phường Hoa Lư;x;COD\n\
                A2;22/11/2026 10:00;HONEY-500;Mật ong;two;185.000;Lan;0912345678;Ninh Bình;Phường Hoa Lư;x;COD\n\
                A3;22/11/2026 10:00;HONEY-500;Mật ong;1;18.5;Lan;0912345678;Ninh Bình;Phường Hoa Lư;x;COD\n\
                A4;22/11/2026 10:00;HONEY-500;Mật ong;1;185000;Lan;0912345678;Ninh Bình;Phường Hoa Lư;x;\n";
    let p = csv(text).expect("parses");
    assert_eq!(p.orders.len(), 1);
    assert_eq!(p.orders[0].order["ship_to"]["street"], "1; Trần Hưng Đạo");
    assert_eq!(p.orders[0].order["cod_amount"], "185000");
    let odd = unmappable(&p);
    assert_eq!(
        odd.iter().map(|o| o.0).collect::<Vec<_>>(),
        vec![3, 4, 5, 6]
    );
    assert!(odd[0].1.contains("spreadsheet"), "{odd:?}");
    assert!(odd[1].1.contains("quantity"), "{odd:?}");
    assert!(odd[2].1.contains("fractional"), "{odd:?}");
    assert!(odd[3].1.contains("payment method"), "{odd:?}");

    // A required column missing is an error for the whole file, not per row.
    let err = csv("Order ID,Seller SKU,Quantity\n1,A,1\n").unwrap_err();
    assert!(matches!(err, ImportError::MissingColumn { .. }), "{err}");
    // Not an export at all.
    assert!(matches!(csv("a,b\n1,2\n"), Err(ImportError::NotAnExport)));
}

#[test]
fn a_growing_export_holds_back_its_last_order() {
    let bytes = std::fs::read(example("tiktok-export.csv")).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    // Cut after the second row: order …201 has one more row to come.
    let cut: usize = text.split_inclusive('\n').take(3).map(str::len).sum();
    let partial = &text.as_bytes()[..cut + 10];
    let opts = Options::default();
    let p = import::parse(Format::TiktokCsv, partial, &opts, false).unwrap();
    assert!(p.orders.is_empty(), "the only order may still grow");
    let more: usize = text.split_inclusive('\n').take(5).map(str::len).sum();
    let p = import::parse(Format::TiktokCsv, &text.as_bytes()[..more], &opts, false).unwrap();
    assert_eq!(p.orders.len(), 1);
    assert_eq!(
        p.orders[0].order["items"][0]["qty"], 2,
        "all three rows were in"
    );
    assert_eq!(p.orders[0].order["items"].as_array().unwrap().len(), 2);
}

/// Each field of a mapped export order knows its cell: the column header as written in the
/// file, the value and the line, so that a server error on `ship_to.province` reads
/// "Tỉnh/Thành phố: 'Ha Noi Capital'". Import errors name the column as written too.
#[test]
fn export_fields_know_their_column_and_cell() {
    let text = "Mã đơn hàng,Ngày đặt hàng,SKU phân loại hàng,Tên sản phẩm,Số lượng,Giá ưu đãi,\
                Tên Người nhận,Số điện thoại,Tỉnh/Thành phố,Quận,Địa chỉ nhận hàng,\
                Phương thức thanh toán\n\
                A1,22/11/2026 10:00,HONEY-500,Mật ong,1,185.000,Lan,0912345678,Ha Noi Capital,Phường Hoàn Kiếm,1 Tràng Tiền,COD\n\
                A1,22/11/2026 10:00,TEA-100,Trà,2,60.000,Lan,0912345678,Ha Noi Capital,Phường Hoàn Kiếm,1 Tràng Tiền,COD\n\
                A2,22/11/2026 10:00,HONEY-500,Mật ong,1,abc,Lan,0912345678,Hà Nội,Phường Hoàn Kiếm,x,COD\n";
    let p = csv(text).expect("parses");
    assert_eq!(p.orders.len(), 1);
    let m = &p.orders[0];
    let prov = m.cell("ship_to.province").expect("province cell");
    assert_eq!(prov.column, "Tỉnh/Thành phố");
    assert_eq!(prov.value, "Ha Noi Capital");
    assert_eq!(prov.line, 2);
    let qty = m.cell("items[1].qty").expect("second item's quantity");
    assert_eq!(
        (qty.column.as_str(), qty.value.as_str(), qty.line),
        ("Số lượng", "2", 3)
    );
    assert_eq!(m.cell("buyer.phone").unwrap().column, "Số điện thoại");
    let odd = unmappable(&p);
    assert_eq!(odd.len(), 1);
    assert!(odd[0].1.starts_with("Giá ưu đãi: "), "{odd:?}");
    assert!(odd[0].1.contains("\"abc\""), "{odd:?}");
}
