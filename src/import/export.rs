//! TikTok Shop and Shopee order exports (CSV or XLSX): one row per order line, the rows of
//! one order folded into one ORDER.
//!
//! Mapping: order id → "TT-<id>" / "SP-<id>"; Seller SKU (Shopee: SKU phân loại hàng, else
//! SKU sản phẩm) → `sku`; Product Name (+ " - " Variation) → `name`; Quantity → `qty`
//! (rows of the same SKU and price folded); SKU Unit Original Price / Giá ưu đãi → `unit_price`
//! (else the line subtotal ÷ quantity); Created Time / Ngày đặt hàng (local time) →
//! `placed_at`; recipient, phone, Province, District (pre-2025 only), Ward / Villages /
//! Commune (Shopee: "Quận"), Detail Address → `buyer`, `ship_to`; shipping fee paid by the
//! buyer → `shipping_fee`; Order Amount / the buyer's total → `cod_amount` when the
//! payment method is cash on delivery (else "0"), items + fee above it → `discount`; Buyer
//! Message → `note`; Weight(kg) (order) or Cân nặng sản phẩm (unit) → `weight_g` when the
//! weight list has no entry for the SKU. Orders whose status says cancelled go to
//! [`Parsed::cancelled`] (a re-pushed export cancels them); unpaid ones are unmappable.

use std::collections::HashMap;

use super::draft::{Draft, DraftItem};
use super::table::{platform_of, read_csv, Col, Columns, Row, TablePlatform};
use super::values::{
    cancelled_status, is_cod, parse_local_time, parse_qty, parse_vnd, parse_weight,
    unpackable_status,
};
use super::{Cancelled, CellSource, ImportError, Mapped, Options, Parsed, Unmappable};

const REQUIRED: [Col; 8] = [
    Col::OrderId,
    Col::Qty,
    Col::Created,
    Col::Recipient,
    Col::Phone,
    Col::Province,
    Col::Ward,
    Col::Street,
];

pub(crate) fn parse_csv(
    bytes: &[u8],
    platform: Option<TablePlatform>,
    opts: &Options,
    complete: bool,
) -> Result<Parsed, ImportError> {
    parse_rows(read_csv(bytes)?, platform, opts, complete)
}

/// Folds rows into orders. `complete: false`: the last order is left out (more of its rows
/// may follow in a growing file).
pub(crate) fn parse_rows(
    rows: Vec<Row>,
    platform: Option<TablePlatform>,
    opts: &Options,
    complete: bool,
) -> Result<Parsed, ImportError> {
    let mut out = Parsed::default();
    let mut rows = rows.into_iter().skip_while(Row::is_blank);
    let Some(header) = rows.next() else {
        return Ok(out);
    };
    let platform = platform
        .or_else(|| platform_of(&header.cells))
        .ok_or(ImportError::NotAnExport)?;
    let cols = Columns::new(&header.cells);
    cols.require(&REQUIRED)?;
    if !cols.has(Col::Sku) && !cols.has(Col::SkuParent) {
        cols.require(&[Col::Sku])?;
    }
    if !cols.has(Col::UnitPrice) && !cols.has(Col::LineSubtotal) {
        cols.require(&[Col::UnitPrice])?;
    }
    cols.require(&[Col::Payment])?;

    // Group rows by order id, in order of first appearance.
    let mut groups: Vec<(String, Vec<Row>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (n, row) in rows.enumerate() {
        if row.is_blank() {
            continue;
        }
        if n == 0 && is_description_row(&cols, &row) {
            continue;
        }
        out.rows += 1;
        let id = cols.get(&row, Col::OrderId).to_owned();
        if id.is_empty() {
            out.unmappable.push(Unmappable {
                line: row.line,
                order_id: None,
                reason: "no order id".into(),
            });
            continue;
        }
        match index.get(&id) {
            Some(&k) => groups[k].1.push(row),
            None => {
                index.insert(id.clone(), groups.len());
                groups.push((id, vec![row]));
            }
        }
    }
    if !complete {
        // The last row's order may not be complete yet.
        let last = groups
            .iter()
            .enumerate()
            .max_by_key(|(_, (_, rows))| rows.last().map_or(0, |r| r.line))
            .map(|(k, _)| k);
        if let Some(k) = last {
            groups.remove(k);
        }
    }
    for (raw_id, rows) in groups {
        let first_line = rows.first().map_or(0, |r| r.line);
        let prefix = match platform {
            TablePlatform::Tiktok => "TT-",
            TablePlatform::Shopee => "SP-",
        };
        let order_id = if raw_id.starts_with(prefix) {
            raw_id.clone()
        } else {
            format!("{prefix}{raw_id}")
        };
        let (status, srow) = first(&cols, &rows, Col::Status);
        if cancelled_status(status) && crate::domain::is_label(&order_id) {
            out.cancelled.push(Cancelled {
                line: srow.map_or(first_line, |r| r.line),
                order_id,
                status: status.to_owned(),
            });
            continue;
        }
        match map_order(&cols, platform, &order_id, &rows)
            .and_then(|d| d.finish(opts).map_err(|reason| (first_line, reason)))
        {
            Ok(order) => {
                let cells = cells_of(&cols, &rows, &order);
                out.orders.push(Mapped {
                    line: first_line,
                    last_line: rows.iter().map(|r| r.line).max().unwrap_or(first_line),
                    key: order_id,
                    order,
                    cells,
                })
            }
            Err((line, reason)) => out.unmappable.push(Unmappable {
                line,
                order_id: Some(order_id),
                reason,
            }),
        }
    }
    Ok(out)
}

/// Where each field of a mapped ORDER came from: order-level fields from the first row that
/// has them, item fields from the first row of the item's SKU.
fn cells_of(cols: &Columns, rows: &[Row], order: &serde_json::Value) -> Vec<CellSource> {
    let mut out = Vec::new();
    let mut add = |field: String, col: Col, row: Option<&Row>| {
        let (Some(row), Some(column)) = (row, cols.header(col)) else {
            return;
        };
        out.push(CellSource {
            field,
            column: column.to_owned(),
            value: cols.get(row, col).to_owned(),
            line: row.line,
        });
    };
    for (field, col) in [
        ("order_id", Col::OrderId),
        ("placed_at", Col::Created),
        ("buyer.name", Col::Recipient),
        ("buyer.phone", Col::Phone),
        ("ship_to.province", Col::Province),
        ("ship_to.district", Col::District),
        ("ship_to.ward", Col::Ward),
        ("ship_to.street", Col::Street),
        ("shipping_fee", Col::ShippingFee),
        ("cod_amount", Col::Total),
        ("note", Col::Note),
    ] {
        let (_, row) = first(cols, rows, col);
        add(field.to_owned(), col, row.or(rows.first()));
    }
    let items = order["items"].as_array().map_or(&[][..], Vec::as_slice);
    for (n, item) in items.iter().enumerate() {
        let sku = item["sku"].as_str().unwrap_or("");
        let row = rows.iter().find(|r| {
            let s = cols.get(r, Col::Sku);
            let s = if s.is_empty() {
                cols.get(r, Col::SkuParent)
            } else {
                s
            };
            s == sku
        });
        let sku_col = if row.is_some_and(|r| !cols.get(r, Col::Sku).is_empty()) {
            Col::Sku
        } else {
            Col::SkuParent
        };
        let price_col = if cols.has(Col::UnitPrice) {
            Col::UnitPrice
        } else {
            Col::LineSubtotal
        };
        add(format!("items[{n}].sku"), sku_col, row);
        add(format!("items[{n}].qty"), Col::Qty, row);
        add(format!("items[{n}].unit_price"), price_col, row);
        add(format!("items[{n}].name"), Col::Product, row);
    }
    out
}

/// TikTok's XLSX export has a second header row describing each column.
fn is_description_row(cols: &Columns, row: &Row) -> bool {
    let id = cols.get(row, Col::OrderId);
    let qty = cols.get(row, Col::Qty);
    id.contains(' ') && !qty.is_empty() && parse_qty(qty).is_err()
}

/// The first non-empty value of an order-level column across the order's rows.
fn first<'a>(cols: &Columns, rows: &'a [Row], col: Col) -> (&'a str, Option<&'a Row>) {
    rows.iter()
        .map(|r| (cols.get(r, col), r))
        .find(|(v, _)| !v.is_empty())
        .map_or(("", None), |(v, r)| (v, Some(r)))
}

fn map_order(
    cols: &Columns,
    platform: TablePlatform,
    order_id: &str,
    rows: &[Row],
) -> Result<Draft, (usize, String)> {
    let line0 = rows.first().map_or(0, |r| r.line);
    let at = |row: Option<&Row>| row.map_or(line0, |r| r.line);
    let Some(id_row) = rows.first() else {
        return Err((0, "no rows".into()));
    };
    let raw_id = cols.get(id_row, Col::OrderId);
    if raw_id.contains(['E', 'e']) && raw_id.contains('+')
        || cols.numeric(id_row, Col::OrderId) && raw_id.len() > 15
    {
        return Err((
            line0,
            "the order id was turned into a number by a spreadsheet and lost digits: export again, or format the column as text".into(),
        ));
    }
    if !crate::domain::is_label(order_id) {
        return Err((
            line0,
            format!("order id {raw_id:?} must be at most 61 of A-Z a-z 0-9 . _ -"),
        ));
    }
    let (status, srow) = first(cols, rows, Col::Status);
    if let Some(why) = unpackable_status(status) {
        return Err((at(srow), why));
    }
    let (created, crow) = first(cols, rows, Col::Created);
    if created.is_empty() {
        return Err((line0, "no order time (Created Time / Ngày đặt hàng)".into()));
    }
    let placed_at = parse_local_time(created)
        .map_err(|e| (at(crow), format!("{}: {e}", cols.name(Col::Created))))?;
    let (phone_raw, prow) = first(cols, rows, Col::Phone);
    let mut phone = phone_raw.to_owned();
    if prow.is_some_and(|r| cols.numeric(r, Col::Phone))
        && phone.len() == 9
        && phone.bytes().all(|b| b.is_ascii_digit())
    {
        // A phone stored as a number in a spreadsheet lost its leading 0.
        phone.insert(0, '0');
    }
    if phone.is_empty() {
        return Err((
            line0,
            "no phone number for the recipient (Phone # / Số điện thoại)".into(),
        ));
    }
    let money = |col: Col| -> Result<Option<u64>, (usize, String)> {
        let (v, row) = first(cols, rows, col);
        if v.is_empty() {
            return Ok(None);
        }
        parse_vnd(v)
            .map(Some)
            .map_err(|e| (at(row), format!("{}: {e}", cols.name(col))))
    };
    let (payment, _) = first(cols, rows, Col::Payment);
    let (order_weight, wrow) = first(cols, rows, Col::OrderWeightKg);
    let order_weight_g = if order_weight.is_empty() {
        None
    } else {
        Some(
            parse_weight(order_weight, false)
                .map_err(|e| (at(wrow), format!("{}: {e}", cols.name(Col::OrderWeightKg))))?,
        )
    };
    let mut d = Draft {
        order_id: order_id.to_owned(),
        platform: match platform {
            TablePlatform::Tiktok => "tiktok",
            TablePlatform::Shopee => "shopee",
        },
        placed_at,
        name: first(cols, rows, Col::Recipient).0.to_owned(),
        phone,
        province: first(cols, rows, Col::Province).0.to_owned(),
        district: first(cols, rows, Col::District).0.to_owned(),
        ward: first(cols, rows, Col::Ward).0.to_owned(),
        street: first(cols, rows, Col::Street).0.to_owned(),
        shipping_fee: money(Col::ShippingFee)?.unwrap_or(0),
        total: money(Col::Total)?,
        cod: is_cod(payment),
        note: first(cols, rows, Col::Note).0.to_owned(),
        order_weight_g,
        items: Vec::new(),
    };
    for row in rows {
        d.add_item(map_item(cols, row).map_err(|e| (row.line, e))?);
    }
    Ok(d)
}

fn map_item(cols: &Columns, row: &Row) -> Result<DraftItem, String> {
    let mut sku = cols.get(row, Col::Sku);
    if sku.is_empty() {
        sku = cols.get(row, Col::SkuParent);
    }
    if sku.is_empty() {
        return Err(
            "no seller SKU (Seller SKU / SKU phân loại hàng): set it on the platform".into(),
        );
    }
    let qty =
        parse_qty(cols.get(row, Col::Qty)).map_err(|e| format!("{}: {e}", cols.name(Col::Qty)))?;
    let product = cols.get(row, Col::Product);
    let variation = cols.get(row, Col::Variation);
    let name = match (product.is_empty(), variation.is_empty()) {
        (false, false) => format!("{product} - {variation}"),
        (false, true) => product.to_owned(),
        (true, false) => variation.to_owned(),
        (true, true) => sku.to_owned(),
    };
    let unit = cols.get(row, Col::UnitPrice);
    let unit_price = if !unit.is_empty() {
        parse_vnd(unit).map_err(|e| format!("{}: {e}", cols.name(Col::UnitPrice)))?
    } else {
        let sub = cols.get(row, Col::LineSubtotal);
        if sub.is_empty() {
            return Err("no unit price".into());
        }
        let total = parse_vnd(sub).map_err(|e| format!("{}: {e}", cols.name(Col::LineSubtotal)))?;
        if total % u64::from(qty) != 0 {
            return Err(format!(
                "line subtotal {total} is not {qty} equal whole-đồng prices"
            ));
        }
        total / u64::from(qty)
    };
    let w = cols.get(row, Col::UnitWeightKg);
    let weight_g = if w.is_empty() {
        None
    } else {
        Some(parse_weight(w, false).map_err(|e| format!("{}: {e}", cols.name(Col::UnitWeightKg)))?)
    };
    Ok(DraftItem {
        sku: sku.to_owned(),
        name,
        qty,
        unit_price,
        weight_g,
    })
}
