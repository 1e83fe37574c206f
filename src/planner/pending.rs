//! The planner's pending orders as kept in Redis: what planning needs, plus what the pack
//! list shows.

use serde::{Deserialize, Serialize};

use super::core::{OrderRef, PlanLine, PlanOrder};
use crate::domain::money::Vnd;
use crate::store::OrderDataRef;

/// An order waiting to be waved: what planning needs, plus what the pack list shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingRecord {
    pub plan: PlanOrder,
    pub first_name: String,
    pub phone_masked: String,
    pub cod_amount: Vnd,
    pub province: String,
    pub ward: String,
    /// Per SKU: unit price and unit weight (what a carrier booking lists).
    #[serde(default)]
    pub items: Vec<ItemInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ItemInfo {
    pub sku: String,
    pub unit_price: Vnd,
    pub weight_g: u32,
}

/// The given name of a Vietnamese full name ("Nguyễn Thị Lan" → "Lan"): what staff see.
pub fn first_name(full: &str) -> String {
    full.split_whitespace().last().unwrap_or("").to_owned()
}

pub fn mask_phone(phone: &str) -> String {
    crate::domain::phone::Phone::parse(phone)
        .map(|p| p.masked())
        .unwrap_or_else(|_| "***".into())
}

impl PendingRecord {
    pub fn from_order(seller: &str, order_id: &str, d: &OrderDataRef<'_>) -> PendingRecord {
        let mut lines: Vec<PlanLine> = Vec::new();
        for item in &d.order.items {
            match lines.iter_mut().find(|l| l.sku == item.sku) {
                Some(l) => l.qty += item.qty.clamp(0, 999) as u32,
                None => lines.push(PlanLine {
                    sku: item.sku.to_string(),
                    name: item.name.trim().to_owned(),
                    qty: item.qty.clamp(0, 999) as u32,
                }),
            }
        }
        PendingRecord {
            plan: PlanOrder {
                id: OrderRef {
                    seller: seller.to_owned(),
                    order_id: order_id.to_owned(),
                },
                session: d.session[..].to_owned(),
                buyer_key: d.buyer_key[..].to_owned(),
                received_at: d.received_at,
                deadline: d.deadline,
                pickup_at: d.pickup_at,
                lines,
                weight_g: d.weight_g,
            },
            first_name: first_name(&d.order.buyer.name),
            phone_masked: mask_phone(&d.norm.phone),
            cod_amount: Vnd::parse(&d.order.cod_amount.0 .0).unwrap_or(Vnd::ZERO),
            province: d.norm.province[..].to_owned(),
            ward: d.norm.ward[..].to_owned(),
            items: d
                .order
                .items
                .iter()
                .map(|i| ItemInfo {
                    sku: i.sku.to_string(),
                    unit_price: Vnd::parse(&i.unit_price.0 .0).unwrap_or(Vnd::ZERO),
                    weight_g: i.weight_g.clamp(0, i64::from(u32::MAX)) as u32,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_names() {
        assert_eq!(first_name("Nguyễn Thị Lan"), "Lan");
        assert_eq!(first_name("  "), "");
    }
}
