//! Vietnamese mobile numbers: parsing what buyers type into the one normalized form
//! `0xxxxxxxxx` (10 digits) used for matching, buyer keys and carriers.
//!
//! Accepted input: digits with spaces (any Unicode white space), dots, dashes (also the
//! Unicode hyphen and dashes), parentheses and invisible format characters (zero-width
//! space, BOM, direction marks copied from chat apps) anywhere, and one `+` before the
//! first digit. Country code: `+84…`, `84…` and `0084…` become `0…` (a trunk `0` kept after
//! the country code, as in `+84 (0) 912…`, is not doubled). Old 11-digit `01xx` numbers are
//! converted per the 2018 renumbering. A bare 9-digit number without its leading `0` is
//! rejected (`LeadingZeroLost`, a hint at the spreadsheet that dropped it), not guessed.

use serde::Serialize;

/// A Vietnamese mobile number, normalized to 10 digits "0xxxxxxxxx".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Phone(String);

/// Why a phone number was refused. Messages never repeat the number itself (personal data):
/// at most its length or its prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error(
        "phone number may contain only digits, spaces, dots, dashes, parentheses and a leading +"
    )]
    InvalidCharacters,
    /// The number of national digits (after the country code became `0`).
    #[error("phone number has {0} digits; a Vietnamese mobile number has 10 (11 with an old 01xx prefix)")]
    WrongLength(usize),
    /// Nine digits starting as a mobile number does after its `0` (`912…`): what a
    /// spreadsheet makes of a number typed into a numeric cell. Not guessed either.
    #[error("phone number has 9 digits and lacks its leading 0 (a spreadsheet drops it from a number cell: format the column as text)")]
    LeadingZeroLost,
    /// The (3- or 4-digit) prefix that is not a mobile one, e.g. "024" for a Hà Nội landline.
    #[error("prefix {0} is not a Vietnamese mobile prefix")]
    NotMobile(String),
    /// A country code other than +84.
    #[error("not a Vietnamese phone number (country code is not +84)")]
    NotVietnamese,
}

/// The 2018 renumbering of 11-digit mobile numbers: old 4-digit prefix → new 3-digit prefix.
const OLD_PREFIXES: [(&str, &str); 21] = [
    // Viettel
    ("0162", "032"),
    ("0163", "033"),
    ("0164", "034"),
    ("0165", "035"),
    ("0166", "036"),
    ("0167", "037"),
    ("0168", "038"),
    ("0169", "039"),
    // MobiFone
    ("0120", "070"),
    ("0121", "079"),
    ("0122", "077"),
    ("0126", "076"),
    ("0128", "078"),
    // VinaPhone
    ("0123", "083"),
    ("0124", "084"),
    ("0125", "085"),
    ("0127", "081"),
    ("0129", "082"),
    // Vietnamobile
    ("0186", "056"),
    ("0188", "058"),
    // Gmobile
    ("0199", "059"),
];

/// More digits than any phone number has; past this we only count.
const MAX_DIGITS: usize = 20;

fn is_ignorable(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '.' | '-' | '(' | ')'
                | '\u{2010}'..='\u{2015}' // hyphen, non-breaking hyphen, figure dash, en/em dash
                | '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
                | '\u{202A}'..='\u{202E}' // bidi embeddings
                | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
                | '\u{2066}'..='\u{2069}' // bidi isolates
                | '\u{FEFF}' // BOM / zero-width no-break space
        )
}

/// National form after a country code: keep a written trunk `0`, otherwise add it.
fn national(rest: &str) -> String {
    if rest.starts_with('0') {
        rest.to_string()
    } else {
        format!("0{rest}")
    }
}

/// The digits of `raw` in national form (`+84…`, `84…`, `0084…` become `0…`), before any
/// check of their length or prefix.
fn national_digits(raw: &str) -> Result<String, PhoneError> {
    let mut digits = String::with_capacity(16);
    let mut count = 0usize;
    let mut plus = false;
    for c in raw.chars() {
        match c {
            '0'..='9' => {
                count += 1;
                if count <= MAX_DIGITS {
                    digits.push(c);
                }
            }
            '+' if !plus && count == 0 => plus = true,
            c if is_ignorable(c) => {}
            _ => return Err(PhoneError::InvalidCharacters),
        }
    }
    if count == 0 {
        return Err(PhoneError::Empty);
    }
    if count > MAX_DIGITS {
        return Err(PhoneError::WrongLength(count));
    }

    Ok(if plus {
        match digits.strip_prefix("84") {
            Some(rest) => national(rest),
            None => return Err(PhoneError::NotVietnamese),
        }
    } else if let Some(rest) = digits.strip_prefix("0084") {
        national(rest)
    } else if digits.starts_with("00") {
        return Err(PhoneError::NotVietnamese);
    } else if let Some(rest) = digits.strip_prefix("84").filter(|_| digits.len() >= 11) {
        // A domestic number always starts with 0, so a leading 84 is the country code, when
        // a whole number follows it: nine digits `84…` are a VinaPhone 084 number that lost
        // its 0 (see `LeadingZeroLost`).
        national(rest)
    } else {
        digits
    })
}

impl Phone {
    /// Parses and normalizes a phone number as typed by a buyer.
    pub fn parse(raw: &str) -> Result<Phone, PhoneError> {
        let mut number = national_digits(raw)?;

        // `number` holds ASCII digits only, so byte slicing below is on char boundaries.
        let prefix = |n: &str, len: usize| n.get(..len).unwrap_or(n).to_string();
        if number.len() == 11 && number.starts_with("01") {
            let old = prefix(&number, 4);
            let new = OLD_PREFIXES
                .iter()
                .find(|(o, _)| *o == old)
                .map(|(_, n)| *n)
                .ok_or(PhoneError::NotMobile(old))?;
            number = format!("{new}{}", number.get(4..).unwrap_or(""));
        } else if number.len() == 11 && number.starts_with("02") {
            // Fixed lines: 02x(x) area code + subscriber, 11 digits in all.
            return Err(PhoneError::NotMobile(prefix(&number, 3)));
        }
        if number.len() == 9 && matches!(number.as_bytes()[0], b'3' | b'5' | b'7' | b'8' | b'9') {
            return Err(PhoneError::LeadingZeroLost);
        }
        if number.len() != 10 {
            return Err(PhoneError::WrongLength(number.len()));
        }
        let b = number.as_bytes();
        let mobile =
            b.first() == Some(&b'0') && matches!(b.get(1), Some(b'3' | b'5' | b'7' | b'8' | b'9'));
        if !mobile {
            return Err(PhoneError::NotMobile(prefix(&number, 3)));
        }
        Ok(Phone(number))
    }

    /// Whether `raw` can be a sender's phone (a shop, a packing site): a mobile number
    /// [`Phone::parse`] accepts, or a fixed line (11 digits with a `02x` area code, which
    /// buyers' numbers may not be).
    pub fn is_plausible_sender(raw: &str) -> bool {
        Phone::parse(raw).is_ok()
            || national_digits(raw).is_ok_and(|n| n.len() == 11 && n.starts_with("02"))
    }

    /// The normalized 10-digit form, e.g. "0912345678".
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For display to packers and in logs: "091****678" (first 3, last 3 digits visible).
    pub fn masked(&self) -> String {
        let s = self.0.as_str();
        let head = s.get(..3).unwrap_or("");
        let tail = s.get(s.len().saturating_sub(3)..).unwrap_or("");
        [head, "****", tail].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        match Phone::parse(raw) {
            Ok(p) => p.as_str().to_string(),
            Err(e) => panic!("{raw:?} should parse, got {e:?}"),
        }
    }

    #[test]
    fn accepts_common_spellings() {
        let cases = [
            ("0912345678", "0912345678"),
            ("  0912345678  ", "0912345678"),
            ("0912 345 678", "0912345678"),
            ("0912.345.678", "0912345678"),
            ("0912-345-678", "0912345678"),
            ("(091) 234-5678", "0912345678"),
            ("+84912345678", "0912345678"),
            ("+84 912 345 678", "0912345678"),
            ("+84-912-345-678", "0912345678"),
            ("(+84) 912.345.678", "0912345678"),
            ("+84 (0) 912 345 678", "0912345678"),
            ("84912345678", "0912345678"),
            ("84 912 345 678", "0912345678"),
            ("0084912345678", "0912345678"),
            ("0084 912 345 678", "0912345678"),
            ("0912\u{00A0}345\u{00A0}678", "0912345678"),
            ("\u{200B}0912\u{2013}345\u{2013}678\u{FEFF}", "0912345678"),
            ("\t0912345678\n", "0912345678"),
            ("0321234567", "0321234567"),
            ("0561234567", "0561234567"),
            ("0701234567", "0701234567"),
            ("0861234567", "0861234567"),
            ("0981234567", "0981234567"),
            ("+84 84 123 4567", "0841234567"),
        ];
        for (raw, want) in cases {
            assert_eq!(ok(raw), want, "input {raw:?}");
        }
    }

    #[test]
    fn converts_every_old_01xx_prefix() {
        let cases = [
            ("0162", "032"),
            ("0163", "033"),
            ("0164", "034"),
            ("0165", "035"),
            ("0166", "036"),
            ("0167", "037"),
            ("0168", "038"),
            ("0169", "039"),
            ("0120", "070"),
            ("0121", "079"),
            ("0122", "077"),
            ("0126", "076"),
            ("0128", "078"),
            ("0123", "083"),
            ("0124", "084"),
            ("0125", "085"),
            ("0127", "081"),
            ("0129", "082"),
            ("0186", "056"),
            ("0188", "058"),
            ("0199", "059"),
        ];
        assert_eq!(cases.len(), OLD_PREFIXES.len());
        for (old, new) in cases {
            let want = format!("{new}1234567");
            assert_eq!(ok(&format!("{old}1234567")), want, "{old}");
            assert_eq!(ok(&format!("{old} 123 4567")), want, "{old} spaced");
            assert_eq!(ok(&format!("+84{}1234567", &old[1..])), want, "+84 {old}");
            assert_eq!(ok(&format!("84{}1234567", &old[1..])), want, "84 {old}");
            assert_eq!(ok(&format!("0084{}1234567", &old[1..])), want, "0084 {old}");
        }
    }

    #[test]
    fn rejects_unlisted_01_prefixes() {
        for old in [
            "0100", "0110", "0130", "0161", "0170", "0180", "0187", "0190", "0198",
        ] {
            assert_eq!(
                Phone::parse(&format!("{old}1234567")),
                Err(PhoneError::NotMobile(old.to_string())),
                "{old}"
            );
        }
        // A 10-digit number starting 01 is neither old nor new.
        assert_eq!(
            Phone::parse("0123456789"),
            Err(PhoneError::NotMobile("012".into()))
        );
    }

    #[test]
    fn rejects_landlines_and_non_mobile_prefixes() {
        let cases = [
            ("02438123456", "024"),   // Hà Nội fixed line
            ("028 3822 1234", "028"), // HCM fixed line
            ("+84 24 3812 3456", "024"),
            ("02293871234", "022"), // Ninh Bình fixed line
            ("0212345678", "021"),
            ("0412345678", "041"),
            ("0612345678", "061"),
            ("1912345678", "191"),
        ];
        for (raw, prefix) in cases {
            assert_eq!(
                Phone::parse(raw),
                Err(PhoneError::NotMobile(prefix.to_string())),
                "{raw}"
            );
        }
    }

    #[test]
    fn a_sender_phone_is_a_mobile_or_a_fixed_line() {
        for raw in [
            "0912345678",
            "+84 912 345 678",
            "02293888999",
            "0229 388 8999",
            "+84 24 3812 3456",
        ] {
            assert!(Phone::is_plausible_sender(raw), "{raw}");
        }
        for raw in [
            "12",
            "",
            "0212345678",
            "0612345678",
            "022938889999",
            "+1 415 555 0100",
            "phone",
        ] {
            assert!(!Phone::is_plausible_sender(raw), "{raw}");
        }
    }

    #[test]
    fn rejects_wrong_lengths() {
        let cases = [
            ("091234567", 9),
            ("09123456789", 11),
            ("091234567890", 12),
            ("+8491234567", 9),
            ("0", 1),
            ("1234567890123456789012345", 25),
        ];
        for (raw, n) in cases {
            assert_eq!(Phone::parse(raw), Err(PhoneError::WrongLength(n)), "{raw}");
        }
        // A leading 0 a spreadsheet dropped: not guessed, but named.
        for raw in ["912345678", "912 345 678", "386123456", "845678901"] {
            assert_eq!(Phone::parse(raw), Err(PhoneError::LeadingZeroLost), "{raw}");
        }
        assert_eq!(Phone::parse("112345678"), Err(PhoneError::WrongLength(9)));
    }

    #[test]
    fn rejects_empty_letters_and_foreign() {
        for raw in ["", "   ", "()", "+", " - . "] {
            assert_eq!(Phone::parse(raw), Err(PhoneError::Empty), "{raw:?}");
        }
        for raw in [
            "09l2345678",
            "0912345678a",
            "O912345678",
            "0912/345/678",
            "0912_345_678",
            "09+12345678",
            "++84912345678",
            "0912345678 ext 12",
            "０９１２３４５６７８", // full-width digits
        ] {
            assert_eq!(
                Phone::parse(raw),
                Err(PhoneError::InvalidCharacters),
                "{raw:?}"
            );
        }
        for raw in [
            "+1 415 555 0100",
            "+33612345678",
            "0033612345678",
            "00912345678",
        ] {
            assert_eq!(Phone::parse(raw), Err(PhoneError::NotVietnamese), "{raw:?}");
        }
    }

    #[test]
    fn masked_shows_first_and_last_three() {
        let cases = [
            ("0912345678", "091****678"),
            ("+84 32 123 4567", "032****567"),
            ("01621234567", "032****567"),
        ];
        for (raw, want) in cases {
            let p = Phone::parse(raw).expect("valid");
            assert_eq!(p.masked(), want);
            assert!(!p.masked().contains("2345"));
        }
    }

    #[test]
    fn errors_do_not_echo_the_number() {
        for raw in ["0912345678x", "091234567", "02438123456", "+1 415 555 0100"] {
            let msg = Phone::parse(raw).expect_err("invalid").to_string();
            assert!(!msg.contains("1234"), "{msg}");
            assert!(!msg.is_empty());
        }
    }

    #[test]
    fn serializes_as_plain_string_and_is_stable() {
        let p = Phone::parse("+84 912 345 678").expect("valid");
        assert_eq!(serde_json::to_string(&p).expect("json"), "\"0912345678\"");
        assert_eq!(Phone::parse(p.as_str()), Ok(p.clone()));
        assert_eq!(p, Phone::parse("0912.345.678").expect("valid"));
    }
}
