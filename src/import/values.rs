//! Reading the loose values of platform exports: VND amounts with thousands separators and
//! currency signs, local date-times, weights, payment methods and order statuses.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Offset, SecondsFormat, TimeZone};

use crate::domain::address::fold;

/// Largest amount accepted (ten trillion đồng, as the server's limit).
const MAX_VND: u64 = 10_000_000_000_000;

/// Vietnam's offset: export times are local times in Asia/Ho_Chi_Minh (no DST).
pub fn vn_offset() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).unwrap_or_else(|| chrono::Utc.fix())
}

/// A whole VND amount as platforms print it: "185000", "185.000", "185,000 ₫",
/// "1.234.567đ", "185000.00", "VND 185,000". A separator followed by exactly three digits
/// groups thousands; a final "." or "," followed by one or two zeros is a zero fraction.
/// Anything else (a real fraction, a minus sign, stray text) is an error.
pub fn parse_vnd(raw: &str) -> Result<u64, String> {
    let mut s: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{20AB}')
        .collect();
    for word in ["VNĐ", "VND", "vnđ", "vnd", "đ", "Đ", "d"] {
        if let Some(rest) = s.strip_suffix(word) {
            s = rest.to_owned();
        }
        if let Some(rest) = s.strip_prefix(word) {
            s = rest.to_owned();
        }
    }
    let bad = || format!("not a VND amount: {:?}", short(raw));
    if s.is_empty() || !s.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(bad());
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
    {
        return Err(bad());
    }
    let groups: Vec<&str> = s.split(['.', ',']).collect();
    let mut digits = String::new();
    // "185000.00": one group and a fraction; otherwise a first group of 1–3 digits.
    let plain = groups.len() == 1 || (groups.len() == 2 && groups[1].len() <= 2);
    for (n, g) in groups.iter().enumerate() {
        let last = n + 1 == groups.len();
        let whole = if n == 0 {
            plain || g.len() <= 3
        } else {
            g.len() == 3
        };
        if whole {
            digits.push_str(g);
        } else if last && n > 0 && (1..=2).contains(&g.len()) {
            if g.bytes().any(|b| b != b'0') {
                return Err(format!("VND has no fractional part: {:?}", short(raw)));
            }
        } else {
            return Err(bad());
        }
    }
    let v: u64 = digits.parse().map_err(|_| bad())?;
    if v > MAX_VND {
        return Err(format!("implausibly large amount: {:?}", short(raw)));
    }
    Ok(v)
}

/// A quantity 1–999 written as an integer ("2", "2.0" from a spreadsheet).
pub fn parse_qty(raw: &str) -> Result<u32, String> {
    let t = raw.trim();
    let t = t.strip_suffix(".0").unwrap_or(t);
    match t.parse::<u32>() {
        Ok(q) if (1..=999).contains(&q) => Ok(q),
        _ => Err(format!(
            "quantity must be a whole number 1–999: {:?}",
            short(raw)
        )),
    }
}

/// A weight in grams from a value in kilograms ("0.65", "0,65 kg") or, with `grams`, in
/// grams ("650", "650 g").
pub fn parse_weight(raw: &str, grams: bool) -> Result<u32, String> {
    let t = raw.trim().to_lowercase();
    let t = t.trim_end_matches("kg").trim_end_matches('g').trim();
    let t = if t.contains('.') {
        t.to_owned()
    } else {
        t.replace(',', ".")
    };
    let bad = || format!("not a weight: {:?}", short(raw));
    let v: f64 = t.parse().map_err(|_| bad())?;
    if !v.is_finite() || v <= 0.0 {
        return Err(bad());
    }
    let g = if grams { v } else { v * 1000.0 };
    let g = g.round();
    if !(1.0..=100_000.0).contains(&g) {
        return Err(format!(
            "weight out of range (1 g – 100 kg): {:?}",
            short(raw)
        ));
    }
    Ok(g as u32)
}

/// A local date-time as exports print it, read in Vietnam's time, to RFC 3339 (+07:00).
/// Forms: RFC 3339; `YYYY-MM-DD HH:MM[:SS]`; `DD/MM/YYYY HH:MM[:SS]` (day first, as
/// Vietnamese exports print it; read month first only when the second number exceeds 12,
/// e.g. "11/21/2026"); an optional trailing AM/PM; the `T` separator.
pub fn parse_local_time(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    let bad = || format!("not a date-time: {:?}", short(raw));
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(rfc3339(dt.with_timezone(&vn_offset())));
    }
    let (body, pm) = match t
        .get(t.len().saturating_sub(2)..)
        .map(str::to_ascii_uppercase)
    {
        Some(s) if s == "AM" || s == "PM" => (t[..t.len() - 2].trim(), Some(s == "PM")),
        _ => (t, None),
    };
    let body = body.replacen('T', " ", 1);
    let mut parts = body.split_whitespace();
    let date = parts.next().ok_or_else(bad)?;
    let time = parts.next().unwrap_or("00:00:00");
    if parts.next().is_some() {
        return Err(bad());
    }
    let date = parse_date(date).ok_or_else(bad)?;
    let mut hms: Vec<u32> = Vec::new();
    for p in time.split(':') {
        hms.push(p.parse().map_err(|_| bad())?);
    }
    let (mut h, m, s) = match hms.as_slice() {
        [h, m] => (*h, *m, 0),
        [h, m, s] => (*h, *m, *s),
        _ => return Err(bad()),
    };
    match pm {
        Some(true) if h < 12 => h += 12,
        Some(false) if h == 12 => h = 0,
        _ => {}
    }
    let naive: NaiveDateTime = date.and_hms_opt(h, m, s).ok_or_else(bad)?;
    let dt = vn_offset()
        .from_local_datetime(&naive)
        .single()
        .ok_or_else(bad)?;
    Ok(rfc3339(dt))
}

fn parse_date(d: &str) -> Option<NaiveDate> {
    let nums: Vec<u32> = d
        .split(['-', '/', '.'])
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [a, b, c] = nums.as_slice() else {
        return None;
    };
    let (a, b, c) = (*a, *b, *c);
    // The year has four digits: `13/12/26` is not the year 26.
    if !(1000..=9999).contains(&a) && !(1000..=9999).contains(&c) {
        return None;
    }
    if a > 31 {
        return NaiveDate::from_ymd_opt(a as i32, b, c);
    }
    if b > 12 {
        return NaiveDate::from_ymd_opt(c as i32, a, b);
    }
    NaiveDate::from_ymd_opt(c as i32, b, a)
}

/// Epoch seconds (TikTok's `create_time`) to RFC 3339 in Vietnam's time.
pub fn epoch_to_rfc3339(secs: i64) -> Option<String> {
    let dt = vn_offset().timestamp_opt(secs, 0).single()?;
    Some(rfc3339(dt))
}

fn rfc3339(dt: DateTime<FixedOffset>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Whether a payment method means cash on delivery ("COD", "Cash on delivery",
/// "Thanh toán khi nhận hàng"); `None` for an empty value.
pub fn is_cod(method: &str) -> Option<bool> {
    let f = fold(method);
    if f.is_empty() {
        return None;
    }
    let cod = f.split(' ').any(|w| w == "cod")
        || f.contains("cash on delivery")
        || f.contains("thanh toan khi nhan hang")
        || f.contains("tien mat khi nhan hang");
    Some(cod)
}

/// Whether the platform's status says the order was cancelled ("Cancelled", "CANCELLED",
/// "Đã hủy", "Hủy"): a re-pushed export turns such a row into a cancel.
pub fn cancelled_status(status: &str) -> bool {
    let f = fold(status);
    f.contains("cancel") || f.split(' ').any(|w| w == "huy")
}

/// Why an order with this status must not be packed (cancelled, or unpaid online).
pub fn unpackable_status(status: &str) -> Option<String> {
    let f = fold(status);
    let stop = f.contains("cancel")
        || f.split(' ').any(|w| w == "huy")
        || f.contains("unpaid")
        || f.contains("chua thanh toan")
        || f.contains("cho thanh toan");
    stop.then(|| format!("order status is {:?}: not to be packed", short(status)))
}

/// At most 40 characters of a value, for messages.
pub fn short(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vnd_amounts_as_platforms_print_them() {
        for (raw, v) in [
            ("185000", 185_000),
            ("185.000", 185_000),
            ("185,000 ₫", 185_000),
            ("1.234.567đ", 1_234_567),
            ("185000.00", 185_000),
            ("185,000.00", 185_000),
            ("VND 30,000", 30_000),
            (" 0 ", 0),
            ("\u{a0}370.000\u{a0}₫", 370_000),
        ] {
            assert_eq!(parse_vnd(raw), Ok(v), "{raw}");
        }
        for raw in [
            "", "abc", "-185000", "185.5", "18.50", "1.2345", "₫", "1e6", "1850.000",
        ] {
            assert!(parse_vnd(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn local_times_read_in_vietnam() {
        let want = "2026-11-21T20:15:02+07:00";
        for raw in [
            "21/11/2026 20:15:02",
            "2026-11-21 20:15:02",
            "11/21/2026 8:15:02 PM",
            "2026-11-21T13:15:02Z",
            "2026-11-21T20:15:02",
        ] {
            assert_eq!(parse_local_time(raw).as_deref(), Ok(want), "{raw}");
        }
        assert_eq!(
            parse_local_time("05/11/2026 08:00").as_deref(),
            Ok("2026-11-05T08:00:00+07:00")
        );
        assert!(parse_local_time("yesterday").is_err());
        assert!(parse_local_time("31/02/2026 10:00").is_err());
        // A two-digit year is not the year 26.
        assert!(parse_local_time("21/11/26 20:15").is_err());
        assert!(parse_local_time("26-11-21 20:15").is_err());
    }

    #[test]
    fn payment_methods_and_weights() {
        assert_eq!(is_cod("Thanh toán khi nhận hàng"), Some(true));
        assert_eq!(is_cod("Cash on delivery"), Some(true));
        assert_eq!(is_cod("COD"), Some(true));
        assert_eq!(is_cod("Ví ShopeePay"), Some(false));
        assert_eq!(is_cod(""), None);
        assert_eq!(parse_weight("0,65", false), Ok(650));
        assert_eq!(parse_weight("1.25 kg", false), Ok(1250));
        assert_eq!(parse_weight("650", true), Ok(650));
        assert!(parse_weight("0", false).is_err());
        assert!(unpackable_status("Đã hủy").is_some());
        assert!(unpackable_status("Cancelled").is_some());
        assert!(unpackable_status("Chờ lấy hàng").is_none());
        assert!(cancelled_status("Đã hủy") && cancelled_status("CANCELLED"));
        assert!(!cancelled_status("Chưa thanh toán") && !cancelled_status("To ship"));
    }
}
