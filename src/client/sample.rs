//! Realistic, valid sample orders for tests, demos and load tests.

use chrono::{FixedOffset, SecondsFormat, Utc};
use serde_json::{json, Value};

/// (sku, name, unit price in VND, grams per unit). The SKUs have bins in the demo site.
const CATALOG: [(&str, &str, u64, u64); 6] = [
    ("HONEY-500", "Mật ong rừng Tam Điệp 500ml", 185_000, 650),
    ("HONEY-1000", "Mật ong rừng Tam Điệp 1 lít", 340_000, 1_250),
    ("TEA-SHAN-100", "Trà Shan tuyết cổ thụ 100g", 120_000, 150),
    ("TEA-LOTUS-200", "Trà sen Tây Hồ 200g", 250_000, 260),
    ("RICE-ST25-5KG", "Gạo ST25 túi 5kg", 195_000, 5_100),
    ("FISH-DRIED-500", "Cá cơm khô 500g", 160_000, 550),
];

/// (province, ward, street, district for pre-2025 addresses).
const PLACES: [(&str, &str, &str, Option<&str>); 8] = [
    ("Ninh Bình", "Phường Hoa Lư", "Trần Hưng Đạo", None),
    ("Hà Nội", "Phường Hoàn Kiếm", "Hàng Bông", None),
    ("Hồ Chí Minh", "Phường Bến Thành", "Lê Lợi", None),
    (
        "Nam Định",
        "Phường Vị Xuyên",
        "Hàn Thuyên",
        Some("Thành phố Nam Định"),
    ),
    ("Đà Nẵng", "Phường Hải Châu", "Bạch Đằng", None),
    (
        "Hà Nam",
        "Phường Lương Khánh Thiện",
        "Biên Hòa",
        Some("Thành phố Phủ Lý"),
    ),
    ("Thanh Hóa", "Phường Hạc Thành", "Lê Hoàn", None),
    ("Cần Thơ", "Phường Ninh Kiều", "Hai Bà Trưng", None),
];

const FAMILY: [&str; 8] = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi"];
const MIDDLE: [&str; 4] = ["Thị", "Văn", "Minh", "Ngọc"];
const GIVEN: [&str; 8] = ["Lan", "Hùng", "Mai", "Tuấn", "Hương", "Dũng", "Thảo", "Nam"];
const FEES: [u64; 3] = [30_000, 25_000, 35_000];

/// A valid order in the contract's ORDER shape: platform `tiktok`, placed a few minutes ago
/// (RFC 3339, +07:00), a 10-digit mobile number derived from `n`, a real province, 1–3 items
/// of the demo catalog, and `cod_amount` = items + `shipping_fee` exactly.
pub fn sample_order(order_id: &str, n: u64) -> Value {
    let vn = FixedOffset::east_opt(7 * 3600).expect("+07:00 is a valid offset");
    let placed_at = (Utc::now() - chrono::Duration::minutes(1 + (n % 10) as i64))
        .with_timezone(&vn)
        .to_rfc3339_opts(SecondsFormat::Secs, false);
    let name = format!(
        "{} {} {}",
        FAMILY[(n % 8) as usize],
        MIDDLE[((n / 8) % 4) as usize],
        GIVEN[((n / 32) % 8) as usize]
    );
    let (province, ward, street, district) = PLACES[((n / 3) % PLACES.len() as u64) as usize];
    let mut ship_to = json!({
        "province": province,
        "ward": ward,
        "street": format!("{} {}", 1 + n % 199, street),
    });
    if let Some(d) = district {
        ship_to["district"] = json!(d);
    }
    let count = 1 + (n % 3) as usize;
    let first = (n / 7) as usize;
    let mut total = 0u64;
    let items: Vec<Value> = (0..count)
        .map(|k| {
            let (sku, item_name, price, grams) = CATALOG[(first + k) % CATALOG.len()];
            let qty = 1 + (n / (k as u64 + 2)) % 3;
            total += qty * price;
            json!({ "sku": sku, "name": item_name, "qty": qty,
                    "unit_price": price.to_string(), "weight_g": grams })
        })
        .collect();
    let fee = FEES[(n % 3) as usize];
    json!({
        "order_id": order_id,
        "platform": "tiktok",
        "placed_at": placed_at,
        "buyer": { "name": name, "phone": format!("09{:08}", n % 100_000_000) },
        "ship_to": ship_to,
        "items": items,
        "cod_amount": (total + fee).to_string(),
        "shipping_fee": fee.to_string(),
        "note": "Giao giờ hành chính",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::parse_order;

    #[test]
    fn samples_pass_the_servers_validation() {
        let now = Utc::now();
        for n in 0..500u64 {
            let v = sample_order(&format!("TT-{n}"), n * 7919);
            let text = v.to_string();
            let wire = parse_order(&text).expect("parses");
            if let Err(e) = wire.validate(
                now,
                chrono::Duration::minutes(15),
                chrono::Duration::days(90),
            ) {
                panic!("sample {n} refused: {e}");
            }
        }
    }
}
