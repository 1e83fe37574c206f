//! An order being assembled from platform data, and its final mapping into the contract's
//! ORDER: items of the same SKU and price folded into one line, weights resolved, and the
//! money made consistent (`cod_amount` = items + shipping fee − discount, or "0" prepaid).

use serde_json::{json, Value};

use super::Options;

#[derive(Debug, Clone, Default)]
pub(crate) struct Draft {
    pub order_id: String,
    pub platform: &'static str,
    pub placed_at: String,
    pub name: String,
    pub phone: String,
    pub province: String,
    pub district: String,
    pub ward: String,
    pub street: String,
    pub items: Vec<DraftItem>,
    pub shipping_fee: u64,
    /// What the buyer pays in all, when the source says.
    pub total: Option<u64>,
    /// `None`: the source did not say.
    pub cod: Option<bool>,
    pub note: String,
    /// An order-level weight (grams) to spread over units without a SKU weight.
    pub order_weight_g: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DraftItem {
    pub sku: String,
    pub name: String,
    pub qty: u32,
    pub unit_price: u64,
    /// Grams per unit given by the source itself.
    pub weight_g: Option<u32>,
}

impl Draft {
    /// Adds units; a line with the same SKU and unit price as an earlier one is folded in.
    pub fn add_item(&mut self, item: DraftItem) {
        match self
            .items
            .iter_mut()
            .find(|i| i.sku == item.sku && i.unit_price == item.unit_price)
        {
            Some(same) => {
                same.qty = same.qty.saturating_add(item.qty);
                if same.weight_g.is_none() {
                    same.weight_g = item.weight_g;
                }
            }
            None => self.items.push(item),
        }
    }

    /// The contract's ORDER, or why this order cannot be mapped.
    pub fn finish(self, opts: &Options) -> Result<Value, String> {
        let phone = self.phone.trim();
        if phone.is_empty() {
            return Err("no phone number for the recipient".into());
        }
        if phone.contains('*') {
            return Err("the phone number is masked (*): export with full recipient data".into());
        }
        if self.items.is_empty() {
            return Err("no items".into());
        }
        let cod = self.cod.ok_or(
            "no payment method: cannot tell cash on delivery from prepaid (payment method column)",
        )?;
        let units: u64 = self.items.iter().map(|i| u64::from(i.qty)).sum();
        let spread = self.order_weight_g.map(|w| {
            let per = u64::from(w).div_ceil(units.max(1));
            u32::try_from(per.max(1)).unwrap_or(u32::MAX)
        });
        let mut items = Vec::with_capacity(self.items.len());
        let mut subtotal: u64 = 0;
        for i in &self.items {
            let weight = opts
                .weights
                .get(&i.sku)
                .copied()
                .or(i.weight_g)
                .or(spread)
                .or(opts.default_weight_g)
                .ok_or_else(|| {
                    format!(
                        "no weight for SKU {:?}: list it in --weights FILE or pass --default-weight-g",
                        i.sku
                    )
                })?;
            subtotal = subtotal.saturating_add(i.unit_price.saturating_mul(u64::from(i.qty)));
            items.push(json!({
                "sku": i.sku, "name": i.name, "qty": i.qty,
                "unit_price": i.unit_price.to_string(), "weight_g": weight,
            }));
        }
        let gross = subtotal.saturating_add(self.shipping_fee);
        let total = self.total.unwrap_or(gross);
        if total > gross {
            return Err(format!(
                "order total {total} exceeds items {subtotal} + shipping fee {}",
                self.shipping_fee
            ));
        }
        let discount = gross - total;
        let mut order = json!({
            "order_id": self.order_id,
            "platform": self.platform,
            "placed_at": self.placed_at,
            "buyer": { "name": self.name.trim(), "phone": phone },
            "ship_to": {
                "province": self.province.trim(),
                "ward": self.ward.trim(),
                "street": street_without_area(
                    &self.street,
                    &[&self.ward, &self.district, &self.province]
                ),
            },
            "items": items,
            "cod_amount": if cod { total.to_string() } else { "0".to_owned() },
            "shipping_fee": self.shipping_fee.to_string(),
        });
        if discount > 0 {
            order["discount"] = json!(discount.to_string());
        }
        if !self.district.trim().is_empty() {
            order["ship_to"]["district"] = json!(self.district.trim());
        }
        let note = self.note.trim();
        if !note.is_empty() {
            order["note"] = json!(note.chars().take(1000).collect::<String>());
        }
        Ok(order)
    }
}

/// The street as the platform gave it, without the ward, district and province that exports
/// repeat at its end (Shopee's "Địa chỉ nhận hàng" is the whole address: "Số 8, phố Hàng
/// Bông, Phường Hoàn Kiếm, Hà Nội"), which labels and carriers would print twice and which
/// crowds the ward off a label. A trailing comma-separated part is dropped when it is one of
/// `areas` word for word, or when it names a unit (it starts with "Phường", "Xã", "Quận",
/// "Thành phố", …) and one of them ends with the same name ("Thành phố Hà Nội" and "Hà
/// Nội"). A bare name is kept: many wards are named after their street ("Số 12, Trần Hưng
/// Đạo" in Phường Trần Hưng Đạo). The first part always stays.
pub(crate) fn street_without_area(street: &str, areas: &[&str]) -> String {
    const UNITS: &[&str] = &[
        "phường",
        "xã",
        "thị trấn",
        "thị xã",
        "quận",
        "huyện",
        "tỉnh",
        "thành phố",
        "tp.",
        "tp",
        "đặc khu",
    ];
    let areas: Vec<String> = areas
        .iter()
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty())
        .collect();
    // The name without its unit word ("phường hoàn kiếm" → "hoàn kiếm").
    let bare = |s: &str| -> Option<String> {
        UNITS.iter().find_map(|u| {
            let rest = s.strip_prefix(u)?;
            let rest = rest.trim_start_matches(['.', ' ']);
            (rest.len() < s.len() && !rest.is_empty()).then(|| rest.to_owned())
        })
    };
    let names = |part: &str| {
        let p = part.trim().to_lowercase();
        areas.iter().any(|a| {
            *a == p
                || bare(&p).is_some_and(|name| {
                    name == *a || bare(a).is_some_and(|area_name| area_name == name)
                })
        })
    };
    let mut parts: Vec<&str> = street.split(',').collect();
    while parts.len() > 1
        && parts
            .last()
            .is_some_and(|p| p.trim().is_empty() || names(p))
    {
        parts.pop();
    }
    parts.join(",").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_street_loses_the_area_an_export_repeats() {
        let areas = ["Phường Hoàn Kiếm", "", "Hà Nội"];
        for (street, want) in [
            (
                "Số 8, phố Hàng Bông, Phường Hoàn Kiếm, Hà Nội",
                "Số 8, phố Hàng Bông",
            ),
            (
                "Số 8, phố Hàng Bông, phường hoàn kiếm",
                "Số 8, phố Hàng Bông",
            ),
            ("Số 8 Hàng Bông, Thành phố Hà Nội", "Số 8 Hàng Bông"),
            ("Số 8 Hàng Bông, TP. Hà Nội", "Số 8 Hàng Bông"),
            (
                "Số 8 Hàng Bông, P. Hoàn Kiếm",
                "Số 8 Hàng Bông, P. Hoàn Kiếm",
            ),
            // A bare name may be the street's own (wards named after their street).
            ("Số 8 Hàng Bông, Hoàn Kiếm", "Số 8 Hàng Bông, Hoàn Kiếm"),
            ("Số 8 Hàng Bông", "Số 8 Hàng Bông"),
            // Never the whole street.
            ("Phường Hoàn Kiếm, Hà Nội", "Phường Hoàn Kiếm"),
            ("  Số 8 Hàng Bông ,  ", "Số 8 Hàng Bông"),
        ] {
            assert_eq!(street_without_area(street, &areas), want, "{street}");
        }
        // The ward named after the street: the street stays.
        for street in ["Số 12, Trần Hưng Đạo", "Số 12, phố Trần Hưng Đạo"] {
            assert_eq!(
                street_without_area(street, &["Phường Trần Hưng Đạo", "Hà Nội"]),
                street
            );
        }
        // A number is not a district's name ("Quận 5" vs a street ending in "5").
        assert_eq!(
            street_without_area("Ngõ 12, ngách 5", &["Quận 5"]),
            "Ngõ 12, ngách 5"
        );
    }

    fn item(sku: &str, qty: u32, price: u64) -> DraftItem {
        DraftItem {
            sku: sku.into(),
            name: "x".into(),
            qty,
            unit_price: price,
            weight_g: None,
        }
    }

    #[test]
    fn folds_skus_and_balances_money() {
        let mut d = Draft {
            phone: "0912345678".into(),
            cod: Some(true),
            shipping_fee: 30_000,
            total: Some(380_000),
            order_weight_g: Some(1_300),
            ..Default::default()
        };
        d.add_item(item("HONEY-500", 1, 185_000));
        d.add_item(item("HONEY-500", 1, 185_000));
        d.add_item(item("TEA", 1, 20_000));
        let o = d.finish(&Options::default()).unwrap();
        assert_eq!(o["items"][0]["qty"], 2);
        assert_eq!(o["items"][0]["weight_g"], 434);
        assert_eq!(o["cod_amount"], "380000");
        assert_eq!(o["discount"], "40000");
    }

    #[test]
    fn refuses_what_it_cannot_map() {
        let base = Draft {
            phone: "0912345678".into(),
            cod: Some(false),
            ..Default::default()
        };
        let mut d = base.clone();
        d.add_item(item("A", 1, 1));
        assert!(d
            .finish(&Options::default())
            .unwrap_err()
            .contains("weight"));
        let opts = Options {
            default_weight_g: Some(500),
            ..Default::default()
        };
        let mut d = base.clone();
        d.add_item(item("A", 1, 1));
        d.phone = " ".into();
        assert!(d.finish(&opts).unwrap_err().contains("phone"));
        let mut d = base.clone();
        d.add_item(item("A", 1, 1));
        d.total = Some(5);
        assert!(d.finish(&opts).unwrap_err().contains("exceeds"));
        let mut d = base;
        d.add_item(item("A", 1, 1));
        assert_eq!(d.finish(&opts).unwrap()["cod_amount"], "0");
    }
}
