//! Money in VND: whole đồng, never floats.

use std::borrow::Cow;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::FieldCode;

/// An amount of VND as received: a decimal string (the contract's form) or a JSON integer.
/// A string borrows from the text it was read from when it can (an order's amounts, issue
/// 20: no allocation for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMoney<'a>(pub Cow<'a, str>);

impl RawMoney<'_> {
    /// The same amount, owning its text.
    pub fn into_owned(self) -> RawMoney<'static> {
        RawMoney(Cow::Owned(self.0.into_owned()))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawMoney<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = RawMoney<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a decimal string of VND such as \"185000\"")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<RawMoney<'a>, E> {
                Ok(RawMoney(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawMoney<'a>, E> {
                Ok(RawMoney(Cow::Owned(v.to_owned())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawMoney<'a>, E> {
                Ok(RawMoney(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawMoney<'a>, E> {
                Ok(RawMoney(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A non-negative whole amount of VND.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Vnd(#[serde(with = "rust_decimal::serde::str")] pub Decimal);

/// Ten trillion đồng: far above any order, low enough that sums never overflow.
const MAX_VND: i64 = 10_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneyError {
    NotANumber,
    /// A number, but not written as plain digits (spaces, a sign, separators, decimals).
    NotDigits,
    Negative,
    Fractional,
    TooLarge,
}

impl MoneyError {
    pub fn code(self) -> FieldCode {
        match self {
            MoneyError::NotANumber | MoneyError::NotDigits => FieldCode::InvalidMoney,
            MoneyError::Negative => FieldCode::NegativeMoney,
            MoneyError::Fractional => FieldCode::FractionalMoney,
            MoneyError::TooLarge => FieldCode::MoneyTooLarge,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            MoneyError::NotANumber => "expected a decimal string of VND such as \"185000\"",
            MoneyError::NotDigits => {
                "digits only, such as \"185000\" (no spaces, sign, thousands separators or decimals: \"185.000\" could be 185 or 185,000 đồng)"
            }
            MoneyError::Negative => "must not be negative",
            MoneyError::Fractional => "VND has no fractional part",
            MoneyError::TooLarge => "amount is implausibly large",
        }
    }
}

impl Vnd {
    pub const ZERO: Vnd = Vnd(Decimal::ZERO);

    /// An amount as an order brings it (contract §1: a decimal string of VND, no fractional
    /// part): digits only. A number written otherwise is refused rather than guessed at:
    /// "185.000" is 185 đồng to a decimal parser and 185,000 to a Vietnamese reader.
    /// (Stored orders are read back with the lenient [`Self::parse`]: builds before
    /// 2026-12-07 accepted such text.)
    pub fn parse_wire(raw: &str) -> Result<Vnd, MoneyError> {
        if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
            return Self::parse(raw);
        }
        Self::parse(raw).and(Err(MoneyError::NotDigits))
    }

    pub fn parse(raw: &str) -> Result<Vnd, MoneyError> {
        let raw = raw.trim();
        // Plain digits, as nearly every amount arrives: no decimal parse (issue 20). The
        // same value as the general path below.
        if (1..=18).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit()) {
            return match raw.parse::<i64>() {
                Ok(v) if v <= MAX_VND => Ok(Vnd(Decimal::from(v))),
                _ => Err(MoneyError::TooLarge),
            };
        }
        Self::parse_decimal(raw)
    }

    /// The general path: any number text `Decimal` reads, judged as an amount of đồng.
    fn parse_decimal(raw: &str) -> Result<Vnd, MoneyError> {
        if raw.is_empty() || raw.contains(['e', 'E']) {
            return Err(MoneyError::NotANumber);
        }
        let d = Decimal::from_str(raw).map_err(|_| {
            // Whole digits that do not fit a Decimal (> 28 digits) are a number, too large.
            match raw.strip_prefix('-') {
                Some(d) if !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) => {
                    MoneyError::Negative
                }
                None if raw.bytes().all(|b| b.is_ascii_digit()) => MoneyError::TooLarge,
                _ => MoneyError::NotANumber,
            }
        })?;
        if d.is_sign_negative() && !d.is_zero() {
            return Err(MoneyError::Negative);
        }
        if d.fract() != Decimal::ZERO {
            return Err(MoneyError::Fractional);
        }
        if d > Decimal::from(MAX_VND) {
            return Err(MoneyError::TooLarge);
        }
        Ok(Vnd(d.trunc().normalize()))
    }

    pub fn from_i64(v: i64) -> Vnd {
        Vnd(Decimal::from(v))
    }

    pub fn checked_mul(self, qty: u32) -> Option<Vnd> {
        self.0.checked_mul(Decimal::from(qty)).map(Vnd)
    }

    pub fn checked_add(self, other: Vnd) -> Option<Vnd> {
        self.0.checked_add(other.0).map(Vnd)
    }
}

impl std::fmt::Display for Vnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Plain digits take a shortcut; it must answer what the decimal parse answers.
        #[test]
        fn digits_parse_as_the_decimal_path_does(raw in "[0-9]{1,20}") {
            let fast = Vnd::parse(&raw);
            let general = Vnd::parse_decimal(&raw);
            prop_assert_eq!(format!("{fast:?}"), format!("{general:?}"));
            if let (Ok(a), Ok(b)) = (fast, general) {
                prop_assert_eq!(a.to_string(), b.to_string());
            }
        }
    }

    #[test]
    fn digit_amounts_at_the_limits() {
        for raw in [
            "0",
            "000",
            "0150000",
            "10000000000000",
            "10000000000001",
            "999999999999999999",
        ] {
            assert_eq!(
                format!("{:?}", Vnd::parse(raw)),
                format!("{:?}", Vnd::parse_decimal(raw)),
                "{raw}"
            );
        }
    }

    #[test]
    fn parses_whole_vnd() {
        assert_eq!(Vnd::parse("185000").unwrap(), Vnd::from_i64(185_000));
        assert_eq!(Vnd::parse("185000.00").unwrap(), Vnd::from_i64(185_000));
        assert_eq!(Vnd::parse("0").unwrap(), Vnd::ZERO);
        assert_eq!(Vnd::parse("185000").unwrap().to_string(), "185000");
    }

    #[test]
    fn refuses_bad_amounts() {
        assert_eq!(Vnd::parse("-1"), Err(MoneyError::Negative));
        assert_eq!(Vnd::parse("1.5"), Err(MoneyError::Fractional));
        assert_eq!(Vnd::parse("abc"), Err(MoneyError::NotANumber));
        assert_eq!(Vnd::parse(&"9".repeat(40)), Err(MoneyError::TooLarge));
        assert_eq!(
            Vnd::parse(&format!("-{}", "9".repeat(40))),
            Err(MoneyError::Negative)
        );
        assert_eq!(Vnd::parse(""), Err(MoneyError::NotANumber));
        assert_eq!(Vnd::parse("1e9"), Err(MoneyError::NotANumber));
        assert_eq!(Vnd::parse("99999999999999999"), Err(MoneyError::TooLarge));
    }

    #[test]
    fn an_order_s_amounts_are_plain_digits() {
        assert_eq!(Vnd::parse_wire("185000"), Ok(Vnd::from_i64(185_000)));
        assert_eq!(Vnd::parse_wire("0"), Ok(Vnd::ZERO));
        // Refused, not guessed at: "185.000" is 185 đồng to a parser, 185,000 to a reader.
        for raw in [
            "185.000",
            "185000.00",
            " 370000",
            "370000 ",
            "+185000",
            "1,000",
        ] {
            assert!(
                matches!(
                    Vnd::parse_wire(raw),
                    Err(MoneyError::NotDigits | MoneyError::NotANumber)
                ),
                "{raw}"
            );
        }
        assert_eq!(Vnd::parse_wire("185.5"), Err(MoneyError::Fractional));
        assert_eq!(Vnd::parse_wire("-1"), Err(MoneyError::Negative));
        assert_eq!(Vnd::parse_wire(""), Err(MoneyError::NotANumber));
        assert_eq!(Vnd::parse_wire(&"9".repeat(40)), Err(MoneyError::TooLarge));
    }

    #[test]
    fn raw_money_accepts_strings_and_integers() {
        let a: RawMoney = serde_json::from_str("\"12\"").unwrap();
        let b: RawMoney = serde_json::from_str("12").unwrap();
        assert_eq!(a, b);
        assert!(serde_json::from_str::<RawMoney>("1.5").is_err());
    }
}
