//! Plain data and validation: what an order is, and what makes one acceptable.
//! No I/O here; every function is pure.

pub mod address;
pub mod json;
pub mod money;
pub mod order;
pub mod phone;
pub mod rates;
pub mod rfc3339;
pub mod schedule;
pub mod status;

use serde::Serialize;

/// A text cell for a CSV file a person opens in a spreadsheet: one that would start a formula
/// (`=`, `+`, `-`, `@`, or a tab or carriage return before one) gets a leading `'`, which
/// spreadsheets show as text and do not print. Buyers' names and addresses come from the
/// platforms, so any of them can be `=HYPERLINK(…)`. For text columns only: a number such
/// as `-5000` would become text.
pub fn sheet_text(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

status::wire_enum! {
    /// Why an order was refused: the stable machine code of a [`FieldError`] (contract §1,
    /// the `error.code` of a rejected order). The serde name is the wire string.
    pub enum FieldCode ("field error code") {
        MissingField = "missing_field",
        MalformedOrder = "malformed_order",
        InvalidType = "invalid_type",
        InvalidOrderId = "invalid_order_id",
        InvalidPlatform = "invalid_platform",
        InvalidPlacedAt = "invalid_placed_at",
        PlacedAtInFuture = "placed_at_in_future",
        PlacedAtTooOld = "placed_at_too_old",
        InvalidName = "invalid_name",
        InvalidPhone = "invalid_phone",
        UnknownProvince = "unknown_province",
        InvalidWard = "invalid_ward",
        InvalidStreet = "invalid_street",
        InvalidDistrict = "invalid_district",
        InvalidNote = "invalid_note",
        InvalidMoney = "invalid_money",
        NegativeMoney = "negative_money",
        FractionalMoney = "fractional_money",
        MoneyTooLarge = "money_too_large",
        InvalidDiscount = "invalid_discount",
        CodMismatch = "cod_mismatch",
        NoItems = "no_items",
        TooManyItems = "too_many_items",
        InvalidSku = "invalid_sku",
        InvalidItemName = "invalid_item_name",
        InvalidQty = "invalid_qty",
        InvalidWeight = "invalid_weight",
    }
}

/// Why an input was refused: a stable machine code, the field (a JSON path such as
/// `items[2].qty`) and a human message. Never carries the rejected value itself when it
/// may be personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub code: FieldCode,
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(code: FieldCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            code,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.field, self.code, self.message)
    }
}

/// `1–64 of A-Z a-z 0-9 . _ -`: session labels (contract §1) and order ids.
pub fn is_label(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// An order id: a label that is not dots alone (`.` and `..` are URL dot segments: a path
/// cannot name such an order, so its view and cancel would be out of reach).
pub fn is_order_id(s: &str) -> bool {
    is_label(s) && !s.bytes().all(|b| b == b'.')
}

/// How ids we number (`P-<site>-<day>-<n>`, `W-…-<n>`, `S-…-<n>`) sort for people: by what
/// comes before the last `-`, then by the number after it (`-6` before `-10`), then as text.
pub fn id_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn split(id: &str) -> (&str, Option<u64>) {
        match id.rsplit_once('-') {
            Some((head, n)) => (head, n.parse().ok()),
            None => (id, None),
        }
    }
    split(a).cmp(&split(b)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod id_order_tests {
    use super::id_order;

    #[test]
    fn numbered_ids_sort_by_their_number() {
        let mut ids = vec![
            "P-hub-20261207-10",
            "P-hub-20261207-6",
            "P-hub-20261206-11",
            "x",
        ];
        ids.sort_by(|a, b| id_order(a, b));
        assert_eq!(
            ids,
            [
                "P-hub-20261206-11",
                "P-hub-20261207-6",
                "P-hub-20261207-10",
                "x"
            ]
        );
    }
}

#[cfg(test)]
mod sheet_text_tests {
    use super::sheet_text;

    #[test]
    fn a_cell_that_would_start_a_formula_is_kept_as_text() {
        for (cell, want) in [
            (
                "=HYPERLINK(\"http://x\";\"y\")",
                "'=HYPERLINK(\"http://x\";\"y\")",
            ),
            ("+2-1", "'+2-1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("Phường Hoa Lư", "Phường Hoa Lư"),
            ("Trần =1", "Trần =1"),
            ("", ""),
        ] {
            assert_eq!(sheet_text(cell), want, "{cell:?}");
        }
    }
}
