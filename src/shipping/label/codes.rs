//! The machine-readable parts of a label as module patterns (drawn as vector rectangles):
//! Code 128 for the tracking code (or the parcel id before booking) and QR for the parcel id.

use barcoders::sym::code128::Code128;
use qrcode::{Color, EcLevel, QrCode};

/// Code 128 bars: `true` = a dark module, left to right, without quiet zones.
pub fn code128(data: &str) -> Option<Vec<bool>> {
    if data.is_empty() || !data.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        return None;
    }
    // Code set C packs two digits per symbol: an all-digit code (Viettel Post tracking codes)
    // gets bars half as dense, easier to scan from a crumpled bag; an odd count starts with
    // one digit in set B. Anything else in set B (upper and lower case, digits, punctuation).
    let all_digits = data.bytes().all(|b| b.is_ascii_digit());
    let encoded = if all_digits && data.len().is_multiple_of(2) {
        format!("\u{0106}{data}")
    } else if all_digits && data.len() >= 5 {
        format!("\u{0181}{}\u{0106}{}", &data[..1], &data[1..])
    } else {
        format!("\u{0181}{data}")
    };
    let bars = Code128::new(encoded).ok()?.encode();
    Some(bars.into_iter().map(|b| b == 1).collect())
}

/// A QR code's modules, row by row (`width` × `width`), without the quiet zone.
pub struct Qr {
    pub width: usize,
    pub dark: Vec<bool>,
}

pub fn qr(data: &str) -> Option<Qr> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).ok()?;
    Some(Qr {
        width: code.width(),
        dark: code
            .to_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_use_code_set_c() {
        let c = code128("170000000001").unwrap();
        // start + 6 pairs + check = 8 symbols of 11 modules, stop 13.
        assert_eq!(c.len(), 8 * 11 + 13);
        let b = code128("P-hoa-lu-hub-1202-7").unwrap();
        assert_eq!(b.len(), (1 + 19 + 1) * 11 + 13);
        // Every symbol starts dark and the stop pattern ends dark.
        assert!(c[0] && *c.last().unwrap());
    }

    #[test]
    fn odd_digit_counts_and_refusals() {
        // One digit in set B, a code switch, six pairs, check, stop.
        assert_eq!(code128("1700123456789").unwrap().len(), 10 * 11 + 13);
        assert!(code128("12345").is_some());
        assert!(code128("123").is_some());
        assert!(code128("").is_none());
        assert!(code128("Hà Nội").is_none());
    }

    #[test]
    fn qr_is_square() {
        let q = qr("P-hoa-lu-hub-1202-7").unwrap();
        assert_eq!(q.dark.len(), q.width * q.width);
        assert!(q.width >= 21);
    }
}
