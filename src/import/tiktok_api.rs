//! TikTok Shop Open API order detail (`/order/202309/orders`) mapped into ORDER.
//!
//! Accepted shapes: one order object, an array of them, the API's envelope
//! `{"code":0,"data":{"orders":[…]}}` (or `{"orders":[…]}`), or any of these one per line.
//! Mapping: `id` → `order_id` "TT-<id>"; `create_time` (epoch s) → `placed_at` (+07:00);
//! `recipient_address.name` / `phone_number`; `district_info` (country dropped) → province,
//! then district (pre-2025 three-level addresses only), then ward; `address_detail` (or
//! `address_line1`, `full_address`) → street; `line_items` (one per unit) folded by
//! `seller_sku` and `sale_price`, named `product_name` + `sku_name`; cancelled line items
//! left out; `payment.shipping_fee` → `shipping_fee`; `payment.total_amount` → `cod_amount`
//! when `is_cod` or `payment_method_name` says cash on delivery, else "0"; what items + fee
//! exceed the total by → `discount`; `buyer_message` → `note`. Orders with status
//! CANCELLED go to [`Parsed::cancelled`]; UNPAID ones are unmappable (not to be packed).

use serde_json::Value;

use super::draft::{Draft, DraftItem};
use super::values::{cancelled_status, epoch_to_rfc3339, is_cod, parse_vnd, unpackable_status};
use super::{Cancelled, ImportError, Mapped, Options, Parsed, Unmappable};
use crate::domain::address::fold;

pub(crate) fn parse(text: &str, opts: &Options) -> Result<Parsed, ImportError> {
    let mut out = Parsed::default();
    if text.trim().is_empty() {
        return Ok(out);
    }
    if let Ok(doc) = serde_json::from_str::<Value>(text) {
        for order in orders_of(&doc) {
            let line = line_of(text, &order);
            map_one(order, line, opts, &mut out);
        }
        return Ok(out);
    }
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v.get("type").and_then(Value::as_str) == Some("end_session") => {
                out.end_marker = true;
                break;
            }
            Ok(v) => {
                for order in orders_of(&v) {
                    map_one(order, n + 1, opts, &mut out);
                }
            }
            Err(e) => {
                out.rows += 1;
                out.unmappable.push(Unmappable {
                    line: n + 1,
                    order_id: None,
                    reason: format!("not valid JSON (column {})", e.column()),
                });
            }
        }
    }
    Ok(out)
}

/// The order objects in a document (an object that is none is returned as itself, to be
/// reported as unmappable).
fn orders_of(doc: &Value) -> Vec<Value> {
    match doc {
        Value::Array(a) => a.iter().flat_map(orders_of).collect(),
        Value::Object(m) => {
            if let Some(data) = m.get("data") {
                return orders_of(data);
            }
            if let Some(list) = m.get("orders").or_else(|| m.get("order_list")) {
                return orders_of(list);
            }
            vec![doc.clone()]
        }
        other => vec![other.clone()],
    }
}

/// The line where the order's id first appears (1 when not found).
fn line_of(text: &str, order: &Value) -> usize {
    let Some(id) = id_of(order) else { return 1 };
    match text.find(&format!("\"{id}\"")) {
        Some(at) => text[..at].bytes().filter(|&b| b == b'\n').count() + 1,
        None => 1,
    }
}

fn id_of(order: &Value) -> Option<String> {
    match order.get("id")? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn map_one(order: Value, line: usize, opts: &Options, out: &mut Parsed) {
    out.rows += 1;
    let id = id_of(&order).map(|id| {
        if id.starts_with("TT-") {
            id
        } else {
            format!("TT-{id}")
        }
    });
    let status = s(&order, "status");
    if let Some(order_id) = id.as_ref().filter(|i| crate::domain::is_label(i)) {
        if order.is_object() && cancelled_status(status) {
            out.cancelled.push(Cancelled {
                line,
                order_id: order_id.clone(),
                status: status.to_owned(),
            });
            return;
        }
    }
    match draft(&order).and_then(|d| d.finish(opts)) {
        Ok(o) => out.orders.push(Mapped {
            line,
            last_line: line,
            key: id.clone().unwrap_or_else(|| format!("L{line}")),
            order: o,
            cells: Vec::new(),
        }),
        Err(reason) => out.unmappable.push(Unmappable {
            line,
            order_id: id,
            reason,
        }),
    }
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("").trim()
}

fn money(v: &Value, key: &str) -> Result<Option<u64>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(t)) if t.trim().is_empty() => Ok(None),
        Some(Value::String(t)) => parse_vnd(t).map(Some).map_err(|e| format!("{key}: {e}")),
        Some(Value::Number(n)) => parse_vnd(&n.to_string())
            .map(Some)
            .map_err(|e| format!("{key}: {e}")),
        Some(_) => Err(format!("{key}: not an amount")),
    }
}

fn draft(order: &Value) -> Result<Draft, String> {
    if !order.is_object() || order.get("line_items").is_none() {
        return Err("not a TikTok Shop order (no line_items)".into());
    }
    let id = id_of(order).ok_or("no order id (`id`)")?;
    let status = s(order, "status");
    if let Some(why) = unpackable_status(status) {
        return Err(why);
    }
    let created = match order.get("create_time") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(t)) => t.trim().parse().ok(),
        _ => None,
    }
    .ok_or("no create_time (epoch seconds)")?;
    let placed_at = epoch_to_rfc3339(created).ok_or("create_time out of range")?;
    let addr = order
        .get("recipient_address")
        .ok_or("no recipient_address")?;
    let (province, district, ward) = levels(addr)?;
    let mut name = s(addr, "name").to_owned();
    if name.is_empty() {
        name = format!("{} {}", s(addr, "first_name"), s(addr, "last_name"))
            .trim()
            .to_owned();
    }
    let street = ["address_detail", "address_line1", "full_address"]
        .iter()
        .map(|k| s(addr, k))
        .find(|v| !v.is_empty())
        .unwrap_or("");
    let payment = order.get("payment").cloned().unwrap_or(Value::Null);
    let cod = match order.get("is_cod").and_then(Value::as_bool) {
        Some(b) => Some(b),
        None => is_cod(s(order, "payment_method_name")),
    };
    let mut d = Draft {
        order_id: format!("TT-{}", id.trim_start_matches("TT-")),
        platform: "tiktok",
        placed_at,
        name,
        phone: s(addr, "phone_number").to_owned(),
        province,
        district,
        ward,
        street: street.to_owned(),
        shipping_fee: money(&payment, "shipping_fee")?.unwrap_or(0),
        total: money(&payment, "total_amount")?,
        cod,
        note: s(order, "buyer_message").to_owned(),
        ..Default::default()
    };
    let items = order
        .get("line_items")
        .and_then(Value::as_array)
        .ok_or("line_items is not a list")?;
    for (n, li) in items.iter().enumerate() {
        if fold(s(li, "display_status")) == "cancelled" {
            continue;
        }
        let sku = s(li, "seller_sku");
        if sku.is_empty() {
            return Err(format!(
                "line_items[{n}] has no seller_sku (set Seller SKU in TikTok Shop)"
            ));
        }
        let product = s(li, "product_name");
        let variant = s(li, "sku_name");
        let name = match (
            product.is_empty(),
            variant.is_empty() || variant == "Default",
        ) {
            (false, false) => format!("{product} - {variant}"),
            (false, true) => product.to_owned(),
            _ => variant.to_owned(),
        };
        let price = money(li, "sale_price")?
            .or(money(li, "original_price")?)
            .ok_or_else(|| format!("line_items[{n}] has no sale_price"))?;
        let qty = li
            .get("quantity")
            .and_then(Value::as_u64)
            .map_or(1, |q| u32::try_from(q).unwrap_or(u32::MAX));
        d.add_item(DraftItem {
            sku: sku.to_owned(),
            name,
            qty,
            unit_price: price,
            weight_g: None,
        });
    }
    if d.items.is_empty() {
        return Err("every line item is cancelled".into());
    }
    Ok(d)
}

/// (province, district, ward) from `district_info`; the country level is dropped. Named
/// levels win; otherwise the first is the province, the last the ward and a middle one
/// (pre-2025 three-level addresses) the district.
fn levels(addr: &Value) -> Result<(String, String, String), String> {
    let info = addr
        .get("district_info")
        .and_then(Value::as_array)
        .ok_or("recipient_address has no district_info (province and ward unknown)")?;
    let mut named: Vec<(String, String)> = Vec::new();
    for l in info {
        let level = fold(&format!(
            "{} {}",
            s(l, "address_level_name"),
            s(l, "address_level")
        ));
        let value = s(l, "address_name");
        if value.is_empty() || level.contains("country") || level.split(' ').any(|w| w == "l0") {
            continue;
        }
        named.push((level, value.to_owned()));
    }
    let find = |words: &[&str]| {
        named
            .iter()
            .find(|(l, _)| l.split(' ').any(|w| words.contains(&w)))
            .map(|(_, v)| v.clone())
    };
    let province = find(&["province", "state", "tinh"]);
    let district = find(&["district", "huyen", "quan"]);
    let ward = find(&[
        "ward", "commune", "village", "villages", "town", "xa", "phuong",
    ]);
    let (province, district, ward) = match (province, district, ward) {
        (Some(p), d, Some(w)) => (p, d.unwrap_or_default(), w),
        _ => match named.as_slice() {
            [(_, p), (_, w)] => (p.clone(), String::new(), w.clone()),
            [(_, p), (_, d), (_, w)] => (p.clone(), d.clone(), w.clone()),
            _ => return Err("district_info does not name a province and a ward".into()),
        },
    };
    Ok((province, district, ward))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn levels_by_name_and_position() {
        let a = json!({"district_info": [
            {"address_level_name": "Country", "address_name": "Việt Nam"},
            {"address_level_name": "Province", "address_name": "Ninh Bình"},
            {"address_level_name": "Ward", "address_name": "Phường Hoa Lư"}]});
        assert_eq!(
            levels(&a).unwrap(),
            ("Ninh Bình".into(), String::new(), "Phường Hoa Lư".into())
        );
        let b = json!({"district_info": [
            {"address_level": "L1", "address_name": "Hà Nam"},
            {"address_level": "L2", "address_name": "Thành phố Phủ Lý"},
            {"address_level": "L3", "address_name": "Phường Lương Khánh Thiện"}]});
        assert_eq!(levels(&b).unwrap().1, "Thành phố Phủ Lý");
        assert!(levels(&json!({"district_info": []})).is_err());
    }
}
