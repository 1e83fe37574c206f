//! Plain data and validation: what an order is, and what makes one acceptable.
//! No I/O here; every function is pure.

pub mod address;
pub mod money;
pub mod order;
pub mod phone;
pub mod rates;
pub mod schedule;

use serde::Serialize;

/// Why an input was refused: a stable machine code, the field (a JSON path such as
/// `items[2].qty`) and a human message. Never carries the rejected value itself when it
/// may be personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub code: &'static str,
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
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
