//! The contract's ORDER: its wire form, and validation into an [`Order`].
//!
//! Parsing happens in two steps so that every refusal names its field: serde (through
//! `serde_path_to_error`) catches shape and type errors with their JSON path, then
//! [`OrderWire::validate`] checks meaning (phone, province, quantities, money).

use std::borrow::Cow;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::address::{fold, fold_ward, normalize_province, Province};
use super::money::{RawMoney, Vnd};
use super::phone::Phone;
use super::{is_label, FieldCode, FieldError};

pub const MAX_ITEMS: usize = 100;
pub const MAX_QTY: i64 = 999;
pub const MAX_ITEM_WEIGHT_G: i64 = 100_000;

/// Which order: its seller and the seller's order id (an order id is unique per seller).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct OrderRef {
    pub seller: String,
    pub order_id: String,
}

/// An ORDER as received. Its strings and amounts borrow from the text it was read from
/// wherever that text has them as they are (no JSON escapes): reading a frame's orders then
/// allocates only their item lists, a string with an escape, an amount sent as a JSON
/// integer, and `note` and `ship_to.district` (issue 20). Those two stay `String`s on
/// purpose: they are rare, and serde never borrows into an `Option<Cow<str>>` (it would take
/// a newtype like [`RawMoneyOut`]). [`OrderWire::into_owned`] detaches an order from its
/// text (the owned `store::OrderData` reads stored records so; the planner's intake reads
/// them borrowed, `store::OrderDataRef`). In `/openapi.json` it is the schema `Order`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[schema(as = Order, description = "ORDER (contract §1): an order as the seller sent it.")]
pub struct OrderWire<'a> {
    #[serde(borrow)]
    pub order_id: Cow<'a, str>,
    #[serde(borrow)]
    #[schema(value_type = Platform)]
    pub platform: Cow<'a, str>,
    /// RFC 3339 with its offset, as the platform gave it.
    #[serde(borrow)]
    #[schema(value_type = String, format = DateTime)]
    pub placed_at: Cow<'a, str>,
    #[serde(borrow)]
    pub buyer: BuyerWire<'a>,
    #[serde(borrow)]
    pub ship_to: ShipToWire<'a>,
    #[serde(borrow)]
    pub items: Vec<ItemWire<'a>>,
    /// VND, a decimal string.
    #[serde(borrow)]
    #[schema(value_type = String)]
    pub cod_amount: RawMoneyOut<'a>,
    /// VND, a decimal string.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub shipping_fee: Option<RawMoneyOut<'a>>,
    /// Not in the contract's example: a discount that explains a COD below items + fee.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub discount: Option<RawMoneyOut<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[schema(as = Buyer)]
pub struct BuyerWire<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(borrow)]
    pub phone: Cow<'a, str>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[schema(as = ShipTo)]
pub struct ShipToWire<'a> {
    #[serde(borrow)]
    pub province: Cow<'a, str>,
    #[serde(borrow)]
    pub ward: Cow<'a, str>,
    #[serde(borrow)]
    pub street: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[schema(as = Item)]
pub struct ItemWire<'a> {
    #[serde(borrow)]
    pub sku: Cow<'a, str>,
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    pub qty: i64,
    /// VND, a decimal string.
    #[serde(borrow)]
    #[schema(value_type = String)]
    pub unit_price: RawMoneyOut<'a>,
    pub weight_g: i64,
}

/// A string that owns its text.
fn owned(s: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(s.into_owned())
}

impl OrderWire<'_> {
    /// The same order, owning its strings.
    pub fn into_owned(self) -> OrderWire<'static> {
        OrderWire {
            order_id: owned(self.order_id),
            platform: owned(self.platform),
            placed_at: owned(self.placed_at),
            buyer: BuyerWire {
                name: owned(self.buyer.name),
                phone: owned(self.buyer.phone),
            },
            ship_to: ShipToWire {
                province: owned(self.ship_to.province),
                ward: owned(self.ship_to.ward),
                street: owned(self.ship_to.street),
                district: self.ship_to.district,
            },
            items: self
                .items
                .into_iter()
                .map(|i| ItemWire {
                    sku: owned(i.sku),
                    name: owned(i.name),
                    qty: i.qty,
                    unit_price: i.unit_price.into_owned(),
                    weight_g: i.weight_g,
                })
                .collect(),
            cod_amount: self.cod_amount.into_owned(),
            shipping_fee: self.shipping_fee.map(RawMoneyOut::into_owned),
            discount: self.discount.map(RawMoneyOut::into_owned),
            note: self.note,
        }
    }
}

/// Money as received, serialized back as a string (the contract's form).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct RawMoneyOut<'a>(#[serde(borrow)] pub RawMoney<'a>);

impl RawMoneyOut<'_> {
    /// The same amount, owning its text.
    pub fn into_owned(self) -> RawMoneyOut<'static> {
        RawMoneyOut(self.0.into_owned())
    }
}

impl Serialize for RawMoneyOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0 .0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Tiktok,
    Shopee,
    Lazada,
    Facebook,
    Zalo,
    Other,
}

impl Platform {
    fn parse(s: &str) -> Option<Platform> {
        Some(match s {
            "tiktok" => Platform::Tiktok,
            "shopee" => Platform::Shopee,
            "lazada" => Platform::Lazada,
            "facebook" => Platform::Facebook,
            "zalo" => Platform::Zalo,
            "other" => Platform::Other,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item<'w> {
    pub sku: &'w str,
    pub name: &'w str,
    pub qty: u32,
    pub unit_price: Vnd,
    pub weight_g: u32,
}

/// A validated order: every field checked, phone and address normalized.
#[derive(Debug, Clone)]
pub struct Order<'w> {
    pub order_id: &'w str,
    pub platform: Platform,
    pub placed_at: DateTime<Utc>,
    pub phone: Phone,
    pub province: &'static Province,
    pub ward: String,
    pub items: Vec<Item<'w>>,
    pub cod_amount: Vnd,
    pub shipping_fee: Vnd,
    pub discount: Vnd,
    /// Sum of item weights (grams), without packaging.
    pub weight_g: u64,
    /// Identifies the buyer's destination for combining (same phone and address) without
    /// carrying personal data: a hash of normalized phone, province, ward and street.
    pub buyer_key: String,
}

fn err(code: FieldCode, field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError::new(code, field, message)
}

/// A hash of normalized phone, province, ward and street: the buyer's destination for
/// combining, without carrying personal data.
fn buyer_key(phone: &Phone, province: &Province, ward: &str, street: &str) -> String {
    let mut h = Sha256::new();
    for part in [phone.as_str(), province.code, ward, &fold(street)] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    short_hex("", &h.finalize())
}

/// `prefix`, then the first 12 bytes of a hash as 24 lowercase hex digits, written straight
/// into the string (`hex::encode` goes through a `char` iterator: about 2 % of ingest's CPU
/// at 100 orders a frame, issue 20; and `from_utf8_lossy`, which read the digits a chunk at a
/// time, took a quarter of this function's instructions).
fn short_hex(prefix: &str, hash: &[u8]) -> String {
    let mut buf = [0u8; 24];
    let digits = hex::encode_to_slice(&hash[..12], &mut buf)
        .ok()
        .and_then(|()| std::str::from_utf8(&buf).ok());
    let mut out = String::with_capacity(prefix.len() + 24);
    out.push_str(prefix);
    match digits {
        Some(digits) => out.push_str(digits),
        // 12 bytes always fill the 24 digits; this is the same answer the long way.
        None => out.push_str(&hex::encode(&hash[..12])),
    }
    out
}

fn text(field: &str, value: &str, max: usize, code: FieldCode) -> Result<(), FieldError> {
    text_problem(value, max).map_or(Ok(()), |m| Err(err(code, field, m)))
}

/// What is wrong with a free-text value, if anything (the field's name is only built
/// for an error: no allocation per valid field). The same rule holds for text a station
/// types (its name, a left-behind reason): shown on screens, pack lists and the audit.
pub fn text_problem(value: &str, max: usize) -> Option<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Some("must not be empty".into());
    }
    if longer_than(trimmed, max) {
        return Some(format!("at most {max} characters"));
    }
    if has_control(value) {
        return Some("must not contain control characters".into());
    }
    if let Some(c) = direction_control(value) {
        return Some(format!(
            "must not contain direction-control characters (U+{:04X}: it shows the text reversed)",
            u32::from(c)
        ));
    }
    // Something a packer can see: not only zero-width or combining characters.
    if !trimmed.chars().any(visible) {
        return Some("must contain a visible character".into());
    }
    None
}

/// The first bidirectional embedding, override or isolate of `value` (U+202A–U+202E,
/// U+2066–U+2069), if any: it shows the rest of a name reversed on a pack list or label.
/// (Marks such as U+200E, joiners in emoji and zero-width spaces are let through.) They are
/// three bytes starting E2: only text with such a byte is decoded.
fn direction_control(value: &str) -> Option<char> {
    if !value.as_bytes().contains(&0xe2) {
        return None;
    }
    value
        .chars()
        .find(|c| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
}

/// Whether `c` shows as something: not white space, not zero-width (U+200B–U+200F,
/// U+2060–U+2064, U+FEFF), not a combining mark on its own (U+0300–U+036F and the other
/// combining blocks).
fn visible(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(c,
            '\u{200b}'..='\u{200f}'
            | '\u{2060}'..='\u{2064}'
            | '\u{feff}'
            | '\u{0300}'..='\u{036f}'
            | '\u{1ab0}'..='\u{1aff}'
            | '\u{1dc0}'..='\u{1dff}'
            | '\u{20d0}'..='\u{20ff}'
            | '\u{fe20}'..='\u{fe2f}')
}

/// Whether `value` has more than `max` characters: counted only when it has more than
/// `max` bytes (a character takes at least one), which valid text rarely has.
fn longer_than(value: &str, max: usize) -> bool {
    value.len() > max && value.chars().count() > max
}

/// Whether `value` has a control character other than a newline (`char::is_control`:
/// U+0000–U+001F, U+007F–U+009F), read from its UTF-8 bytes rather than decoded (issue 20):
/// U+0080–U+009F are the two bytes C2 80 – C2 9F (C2 is only ever a first byte).
/// A first look goes 16 bytes at a time without an early exit inside a block (vector
/// compares): only text with a byte under 0x20, 0x7F or C2 (a newline, `°`, `«` …) is then
/// read byte by byte.
fn has_control(value: &str) -> bool {
    let b = value.as_bytes();
    let maybe = b.chunks(16).any(|block| {
        let mut any = false;
        for &x in block {
            any |= (x < 0x20) | (x == 0x7f) | (x == 0xc2);
        }
        any
    });
    maybe
        && b.iter().enumerate().any(|(i, &x)| {
            (x < 0x20 && x != b'\n')
                || x == 0x7f
                || (x == 0xc2 && b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)))
        })
}

fn money(field: &str, raw: &RawMoneyOut) -> Result<Vnd, FieldError> {
    Vnd::parse_wire(&raw.0 .0).map_err(|e| err(e.code(), field, e.message()))
}

/// Parses one ORDER from JSON text; a shape or type error names its JSON path.
pub fn parse_order(json: &str) -> Result<OrderWire<'_>, FieldError> {
    // serde would also read a struct from a JSON array (its fields by position).
    if !json.trim_start().starts_with('{') {
        return Err(err(
            FieldCode::InvalidType,
            "order",
            "an order is a JSON object",
        ));
    }
    // The fast path; the slower path-tracking parse only runs to explain a failure.
    if let Ok(wire) = serde_json::from_str::<OrderWire>(json) {
        return Ok(wire);
    }
    let mut de = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize::<_, OrderWire>(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.to_string();
        // serde reports a missing field at its parent's path; name the field itself.
        if let Some(name) = msg
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            let field = if path == "." || path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            };
            return err(FieldCode::MissingField, field, "is required");
        }
        let field = if path == "." { String::new() } else { path };
        let message = plain_words(msg.split(" at line ").next().unwrap_or(&msg));
        let code = if inner.is_syntax() || inner.is_eof() {
            FieldCode::MalformedOrder
        } else {
            FieldCode::InvalidType
        };
        err(
            code,
            if field.is_empty() {
                "order".into()
            } else {
                field
            },
            message,
        )
    })
}

/// serde's message in the wire's words: "expected struct BuyerWire" is "expected an
/// object", "expected u32" "expected an integer" (our type names mean nothing to a seller).
fn plain_words(msg: &str) -> String {
    let Some((head, expected)) = msg.split_once("expected ") else {
        return msg.to_owned();
    };
    let what = if expected.starts_with("struct ") || expected.starts_with("a map") {
        "an object"
    } else if ["i64", "i32", "u64", "u32", "u16", "u8"]
        .iter()
        .any(|t| expected.starts_with(t))
    {
        "an integer"
    } else {
        return msg.to_owned();
    };
    // A positional array where an object belongs ("invalid length 3, expected struct …").
    let head = if head.starts_with("invalid length") {
        "invalid type: an array, "
    } else {
        head
    };
    format!("{head}expected {what}")
}

/// Best effort: the `order_id` of an order that failed to parse, for its rejection.
pub fn peek_order_id(json: &str) -> Option<String> {
    // Only an object names its id (serde would read `["TT-1"]` by position).
    if !json.trim_start().starts_with('{') {
        return None;
    }
    #[derive(Deserialize)]
    struct Peek {
        order_id: Option<serde_json::Value>,
    }
    match serde_json::from_str::<Peek>(json).ok()?.order_id? {
        serde_json::Value::String(s) => reported_order_id(&s),
        _ => None,
    }
}

/// An order id as a reply may repeat it: the id as sent, unless it is longer than 128
/// bytes (then none).
pub fn reported_order_id(id: &str) -> Option<String> {
    (id.len() <= 128).then(|| id.to_owned())
}

impl OrderWire<'_> {
    /// Checks meaning. `now` bounds `placed_at`: at most `max_skew` ahead (clock skew
    /// allowance), at most `max_age` old (the dedupe window: an older order id could have
    /// left our memory, so it is not taken as new).
    pub fn validate(
        &self,
        now: DateTime<Utc>,
        max_skew: Duration,
        max_age: Duration,
    ) -> Result<Order<'_>, FieldError> {
        if !is_label(&self.order_id) {
            return Err(err(
                FieldCode::InvalidOrderId,
                "order_id",
                "1–64 of A-Z a-z 0-9 . _ -",
            ));
        }
        if !super::is_order_id(&self.order_id) {
            return Err(err(
                FieldCode::InvalidOrderId,
                "order_id",
                "not dots alone: a URL path cannot name such an id",
            ));
        }
        let platform = Platform::parse(&self.platform).ok_or_else(|| {
            err(
                FieldCode::InvalidPlatform,
                "platform",
                "one of tiktok, shopee, lazada, facebook, zalo, other",
            )
        })?;
        let placed_at = self.validate_placed_at(now, max_skew, max_age)?;
        let (phone, province) = self.validate_destination()?;
        self.validate_optional_text()?;
        let items = self.validate_items()?;
        let (cod_amount, shipping_fee, discount) = self.validate_money(&items)?;
        let weight_g = items
            .iter()
            .map(|i| u64::from(i.weight_g) * u64::from(i.qty))
            .sum();
        let ward = fold_ward(&self.ship_to.ward);
        let buyer_key = buyer_key(&phone, province, &ward, &self.ship_to.street);
        Ok(Order {
            order_id: &self.order_id,
            platform,
            placed_at,
            phone,
            province,
            ward,
            items,
            cod_amount,
            shipping_fee,
            discount,
            weight_g,
            buyer_key,
        })
    }

    /// `placed_at`: an RFC 3339 time, not in the future (beyond `max_skew`) and not older
    /// than `max_age` (the window in which order ids are remembered).
    fn validate_placed_at(
        &self,
        now: DateTime<Utc>,
        max_skew: Duration,
        max_age: Duration,
    ) -> Result<DateTime<Utc>, FieldError> {
        let placed_at = DateTime::parse_from_rfc3339(&self.placed_at)
            .map_err(|_| {
                err(
                    FieldCode::InvalidPlacedAt,
                    "placed_at",
                    "an RFC 3339 time with offset, e.g. 2026-11-21T20:15:02+07:00",
                )
            })?
            .with_timezone(&Utc);
        if placed_at > now + max_skew {
            return Err(err(
                FieldCode::PlacedAtInFuture,
                "placed_at",
                "is in the future",
            ));
        }
        if placed_at < now - max_age {
            return Err(err(
                FieldCode::PlacedAtTooOld,
                "placed_at",
                match max_age.num_days() {
                    d if d >= 1 => format!(
                        "is older than {d} days, the window in which order ids are remembered"
                    ),
                    _ => format!(
                        "is older than {} s, the window in which order ids are remembered",
                        max_age.num_seconds()
                    ),
                },
            ));
        }
        Ok(placed_at)
    }

    /// The buyer and where the parcel goes: name, phone, province, ward and street.
    fn validate_destination(&self) -> Result<(Phone, &'static Province), FieldError> {
        text("buyer.name", &self.buyer.name, 200, FieldCode::InvalidName)?;
        let phone = Phone::parse(&self.buyer.phone).map_err(|e| {
            err(
                FieldCode::InvalidPhone,
                "buyer.phone",
                format!("not a Vietnamese mobile number: {e}"),
            )
        })?;
        let province = normalize_province(&self.ship_to.province).ok_or_else(|| {
            err(
                FieldCode::UnknownProvince,
                "ship_to.province",
                "not a Vietnamese province (old or post-2025 name)",
            )
        })?;
        text(
            "ship_to.ward",
            &self.ship_to.ward,
            100,
            FieldCode::InvalidWard,
        )?;
        text(
            "ship_to.street",
            &self.ship_to.street,
            300,
            FieldCode::InvalidStreet,
        )?;
        Ok((phone, province))
    }

    /// The optional free text: `ship_to.district` and `note`.
    fn validate_optional_text(&self) -> Result<(), FieldError> {
        if let Some(d) = &self.ship_to.district {
            if longer_than(d, 100) {
                return Err(err(
                    FieldCode::InvalidDistrict,
                    "ship_to.district",
                    "at most 100 characters",
                ));
            }
        }
        if let Some(n) = &self.note {
            if longer_than(n, 1000) {
                return Err(err(
                    FieldCode::InvalidNote,
                    "note",
                    "at most 1000 characters",
                ));
            }
        }
        Ok(())
    }

    /// (cod_amount, shipping_fee, discount): each a valid amount, the discount within items
    /// plus shipping fee, and the COD 0 (prepaid) or exactly what the buyer owes.
    fn validate_money(&self, items: &[Item]) -> Result<(Vnd, Vnd, Vnd), FieldError> {
        let cod_amount = money("cod_amount", &self.cod_amount)?;
        let shipping_fee = match &self.shipping_fee {
            Some(f) => money("shipping_fee", f)?,
            None => Vnd::ZERO,
        };
        let discount = match &self.discount {
            Some(d) => money("discount", d)?,
            None => Vnd::ZERO,
        };
        let items_total = items
            .iter()
            .try_fold(Vnd::ZERO, |acc, i| {
                i.unit_price.checked_mul(i.qty)?.checked_add(acc)
            })
            .ok_or_else(|| {
                err(
                    FieldCode::MoneyTooLarge,
                    "items",
                    "order total is implausibly large",
                )
            })?;
        let expected = Vnd(items_total.0 + shipping_fee.0 - discount.0);
        if expected.0.is_sign_negative() && !expected.0.is_zero() {
            return Err(err(
                FieldCode::InvalidDiscount,
                "discount",
                "exceeds items plus shipping fee",
            ));
        }
        // What the carrier collects is at most what the buyer owes: it may be less (the
        // contract's own example collects the items alone: the seller pays the shipping fee,
        // as in a free-shipping livestream deal), never more (a typed extra zero).
        if cod_amount.0 > expected.0 {
            return Err(err(
                FieldCode::CodMismatch,
                "cod_amount",
                format!(
                    "at most items + shipping_fee - discount = {expected} (0: prepaid); got {cod_amount}"
                ),
            ));
        }
        Ok((cod_amount, shipping_fee, discount))
    }

    fn validate_items(&self) -> Result<Vec<Item<'_>>, FieldError> {
        if self.items.is_empty() {
            return Err(err(
                FieldCode::NoItems,
                "items",
                "an order has at least one item",
            ));
        }
        if self.items.len() > MAX_ITEMS {
            return Err(err(
                FieldCode::TooManyItems,
                "items",
                format!(
                    "at most {MAX_ITEMS} items per order; got {}",
                    self.items.len()
                ),
            ));
        }
        let mut out = Vec::with_capacity(self.items.len());
        for (n, i) in self.items.iter().enumerate() {
            let f = |name: &str| format!("items[{n}].{name}");
            let sku_ok =
                (1..=64).contains(&i.sku.len()) && i.sku.bytes().all(|b| b.is_ascii_graphic());
            if !sku_ok {
                return Err(err(
                    FieldCode::InvalidSku,
                    f("sku"),
                    "1–64 printable ASCII characters, no spaces",
                ));
            }
            if let Some(m) = text_problem(&i.name, 300) {
                return Err(err(FieldCode::InvalidItemName, f("name"), m));
            }
            if !(1..=MAX_QTY).contains(&i.qty) {
                return Err(err(
                    FieldCode::InvalidQty,
                    f("qty"),
                    format!("must be 1–{MAX_QTY}"),
                ));
            }
            let unit_price = Vnd::parse_wire(&i.unit_price.0 .0)
                .map_err(|e| err(e.code(), f("unit_price"), e.message()))?;
            if !(1..=MAX_ITEM_WEIGHT_G).contains(&i.weight_g) {
                return Err(err(
                    FieldCode::InvalidWeight,
                    f("weight_g"),
                    format!("grams per unit, 1–{MAX_ITEM_WEIGHT_G}"),
                ));
            }
            out.push(Item {
                sku: &i.sku,
                name: i.name.trim(),
                qty: i.qty as u32,
                unit_price,
                weight_g: i.weight_g as u32,
            });
        }
        Ok(out)
    }

    /// Appends the canonical JSON of this order (fixed field order, no unknown fields) to
    /// `out`: what is stored, and what the duplicate check compares. Written into the
    /// caller's buffer, so the stored record holds it without a copy. The bytes are
    /// serde_json's of this type's `Serialize` (the field order and the absent options
    /// left out), written by hand ([`crate::domain::json`]; the tests compare the two).
    pub fn write_canonical_json(&self, out: &mut Vec<u8>) {
        use crate::domain::json::{write_int, write_key, write_member};
        out.push(b'{');
        write_member(out, "order_id", &self.order_id);
        out.push(b',');
        write_member(out, "platform", &self.platform);
        out.push(b',');
        write_member(out, "placed_at", &self.placed_at);
        out.extend_from_slice(b",\"buyer\":{");
        write_member(out, "name", &self.buyer.name);
        out.push(b',');
        write_member(out, "phone", &self.buyer.phone);
        out.extend_from_slice(b"},\"ship_to\":{");
        let to = &self.ship_to;
        write_member(out, "province", &to.province);
        out.push(b',');
        write_member(out, "ward", &to.ward);
        out.push(b',');
        write_member(out, "street", &to.street);
        if let Some(district) = &to.district {
            out.push(b',');
            write_member(out, "district", district);
        }
        out.extend_from_slice(b"},\"items\":[");
        for (n, item) in self.items.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.push(b'{');
            write_member(out, "sku", &item.sku);
            out.push(b',');
            write_member(out, "name", &item.name);
            out.push(b',');
            write_key(out, "qty");
            write_int(out, item.qty);
            out.push(b',');
            write_member(out, "unit_price", &item.unit_price.0 .0);
            out.push(b',');
            write_key(out, "weight_g");
            write_int(out, item.weight_g);
            out.push(b'}');
        }
        out.extend_from_slice(b"],");
        write_member(out, "cod_amount", &self.cod_amount.0 .0);
        for (key, money) in [
            ("shipping_fee", &self.shipping_fee),
            ("discount", &self.discount),
        ] {
            if let Some(money) = money {
                out.push(b',');
                write_member(out, key, &money.0 .0);
            }
        }
        if let Some(note) = &self.note {
            out.push(b',');
            write_member(out, "note", note);
        }
        out.push(b'}');
    }
}

/// Content digest (of the canonical JSON) for "duplicate with different content" detection:
/// [`DIGEST_MARK`], then the first 12 bytes of the order's XXH3-128 as 24 hex digits.
///
/// Until issue 20's thirty-second session it was the first 12 bytes of a SHA-256 (24 hex
/// digits, no mark): that hash took about 4 % of ingest's CPU at 100 orders a frame, and
/// nothing here needs a cryptographic one (only a seller's own resend is compared with it,
/// so a crafted collision could only hide that seller's own change from the metric). The
/// ingest script compares digests of the same kind only (`ingest.lua`): a resend of an order
/// stored with the older kind is counted as an unchanged duplicate.
pub fn digest(canonical: &[u8]) -> String {
    short_hex(
        DIGEST_MARK,
        &xxhash_rust::xxh3::xxh3_128(canonical).to_be_bytes(),
    )
}

/// How a [`digest`] starts (`x`, never a hex digit: older digests start with one).
pub const DIGEST_MARK: &str = "x";

#[cfg(test)]
mod tests;
