//! Times as the stored documents carry them: RFC 3339 in UTC, as chrono's own `Serialize`
//! writes a `DateTime<Utc>` (`AutoSi` fraction digits, `Z`), written and read by hand for
//! the form this service writes, and by chrono for anything else (issue 20: chrono's
//! `collect_str` path and its relaxed parser cost about 2,000 instructions a time, three
//! times an order on ingest's path and on the planner's).

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

/// The longest text [`write`] makes: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub const MAX: usize = 30;

/// Where the written form has its separators, and which ([`write`] and [`parse`]).
const SEPARATORS: [(usize, u8); 5] = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];

/// A time's text: written on the stack by [`write`], or by chrono for the times it leaves
/// to chrono.
pub fn text<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; MAX]) -> Cow<'b, str> {
    match write(t, buf) {
        Some(text) => Cow::Borrowed(text),
        None => Cow::Owned(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
    }
}

/// `serialize_with` for a `DateTime<Utc>`: the same JSON as chrono's `Serialize`.
pub fn serialize<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&text(t, &mut [0u8; MAX]))
}

/// The text chrono's `Serialize` writes for `t`, or `None` for years outside 0–9999 and leap
/// seconds (which this service never makes; [`text`] leaves them to chrono).
pub fn write<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; MAX]) -> Option<&'b str> {
    use chrono::{Datelike, Timelike};
    // The naive UTC time: its parts are read without converting for an offset each time.
    let t = t.naive_utc();
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return None;
    }
    fn digits(out: &mut [u8], mut v: u32) {
        for b in out.iter_mut().rev() {
            *b = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    digits(&mut buf[0..4], year.unsigned_abs());
    digits(&mut buf[5..7], t.month());
    digits(&mut buf[8..10], t.day());
    digits(&mut buf[11..13], t.hour());
    digits(&mut buf[14..16], t.minute());
    digits(&mut buf[17..19], t.second());
    for (i, b) in SEPARATORS {
        buf[i] = b;
    }
    // AutoSi: as few of 0, 3, 6 or 9 fraction digits as show the time exactly.
    let (width, fraction) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (3, n / 1_000_000),
        n if n % 1_000 == 0 => (6, n / 1_000),
        n => (9, n),
    };
    let mut end = 19;
    if width > 0 {
        buf[end] = b'.';
        digits(&mut buf[end + 1..end + 1 + width], fraction);
        end += 1 + width;
    }
    buf[end] = b'Z';
    std::str::from_utf8(&buf[..=end]).ok()
}

/// The time of a text of the form [`write`] makes (`YYYY-MM-DDTHH:MM:SS`, 1–9 fraction
/// digits or none, `Z`), which is a valid date and time; `None` for any other text, which
/// chrono reads instead ([`deserialize`]). Where this answers, chrono answers the same time
/// (the tests compare them).
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() < 20 || b[b.len() - 1] != b'Z' {
        return None;
    }
    fn num(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |v, &c| {
            c.is_ascii_digit().then(|| v * 10 + u32::from(c - b'0'))
        })
    }
    if SEPARATORS.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(digits)? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(num(&b[0..4])? as i32, num(&b[5..7])?, num(&b[8..10])?)?;
    // Refuses a leap second (60), which chrono reads its own way.
    let (hour, minute, second) = (num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?);
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(date.and_time(time).and_utc())
}

/// `deserialize_with` for a `DateTime<Utc>`: accepts and answers exactly what chrono's
/// `Deserialize` does, reading the form this service writes by hand ([`parse`]).
pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = DateTime<Utc>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an RFC 3339 formatted date and time string")
        }

        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DateTime<Utc>, E> {
            match parse(v) {
                Some(t) => Ok(t),
                None => {
                    use serde::de::IntoDeserializer;
                    serde::Deserialize::deserialize(v.into_deserializer())
                }
            }
        }
    }
    d.deserialize_str(Visitor)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Ours(
        #[serde(serialize_with = "serialize", deserialize_with = "deserialize")] DateTime<Utc>,
    );

    /// chrono's own reading of a JSON string, as `DateTime<Utc>`'s `Deserialize`.
    fn chrono_reads(json: &str) -> Result<DateTime<Utc>, String> {
        serde_json::from_str::<DateTime<Utc>>(json).map_err(|e| e.to_string())
    }

    fn ours_reads(json: &str) -> Result<DateTime<Utc>, String> {
        serde_json::from_str::<Ours>(json)
            .map(|o| o.0)
            .map_err(|e| e.to_string())
    }

    proptest! {
        /// Years 0–9999 are written here, the rest (either side) by chrono; and read back.
        #[test]
        fn any_time_is_written_and_read_as_chrono_does(
            secs in -70_000_000_000i64..260_000_000_000,
            nanos in prop_oneof![
                Just(0u32),
                (0u32..1000).prop_map(|n| n * 1_000_000),
                (0u32..1_000_000).prop_map(|n| n * 1_000),
                0u32..1_000_000_000,
            ],
        ) {
            let t = DateTime::from_timestamp(secs, nanos).unwrap();
            let json = serde_json::to_string(&Ours(t)).unwrap();
            prop_assert_eq!(&json, &serde_json::to_string(&t).unwrap());
            prop_assert_eq!(ours_reads(&json), Ok(t));
            prop_assert_eq!(chrono_reads(&json), Ok(t));
        }

        /// Any text of the written shape, valid or not (months 13, days 31 of short months,
        /// hours 24, leap seconds, fractions of any length, letters): read as chrono reads
        /// it, the same time or an error alike.
        #[test]
        fn texts_of_the_written_shape_read_as_chrono_reads_them(
            year in prop_oneof![0u32..3, 1999u32..2101, 9998u32..10_000],
            month in prop_oneof![4 => 1u32..13, 1 => Just(0u32), 1 => Just(13u32)],
            day in prop_oneof![1u32..29, 27u32..33, 0u32..2],
            hour in prop_oneof![4 => 0u32..24, 1 => 24u32..26],
            minute in prop_oneof![0u32..60, 58u32..61],
            second in prop_oneof![4 => 0u32..60, 1 => 58u32..62],
            fraction in "(\\.[0-9]{0,11})?",
            sep in prop_oneof![6 => Just('T'), 1 => Just('t'), 1 => Just(' '), 1 => Just('x')],
            end in prop_oneof![
                6 => Just("Z"),
                1 => Just("z"),
                1 => Just("+00:00"),
                1 => Just("+07:00"),
                1 => Just(""),
            ],
            damage in prop_oneof![
                4 => Just(None),
                1 => (0usize..32, "[0-9a-zA-Z:.+ -]|é|٣|３|Ｚ|Đ").prop_map(Some)
            ],
        ) {
            let mut text = format!(
                "{year:04}-{month:02}-{day:02}{sep}{hour:02}:{minute:02}:{second:02}{fraction}{end}"
            );
            if let Some((at, with)) = damage {
                if at < text.len() {
                    text.replace_range(at..at + 1, &with);
                }
            }
            let json = serde_json::to_string(&text).unwrap();
            prop_assert_eq!(ours_reads(&json), chrono_reads(&json), "{}", text);
            if let Some(t) = parse(&text) {
                prop_assert_eq!(chrono_reads(&json), Ok(t));
            }
        }
    }

    #[test]
    fn times_are_written_as_chrono_writes_them_and_read_back() {
        let base = Utc.with_ymd_and_hms(2026, 12, 5, 19, 30, 0).unwrap();
        for nanos in [
            0,
            1_000_000,
            123_000_000,
            123_456_000,
            123_456_789,
            999_999_999,
        ] {
            let t = base + Duration::nanoseconds(nanos);
            let json = serde_json::to_string(&Ours(t)).unwrap();
            assert_eq!(json, serde_json::to_string(&t).unwrap(), "{nanos} ns");
            assert!(parse(json.trim_matches('"')).is_some(), "{json} by hand");
            assert_eq!(ours_reads(&json), Ok(t));
        }
    }

    #[test]
    fn other_forms_are_left_to_chrono() {
        for text in [
            "2026-12-05T19:30:00+07:00",
            "2026-12-05 19:30:00Z",
            "2026-12-05T19:30:00.1234567891Z",
            "2016-12-31T23:59:60Z",
            "2026-02-29T00:00:00Z",
            "2026-12-05T19:30:00.Z",
            "not a time",
            "",
            "2026-12-05T19:30:0٣Z",
            "2026-12-05T19:30:00.5Ｚ",
            "２026-12-05T19:30:00Z",
        ] {
            assert_eq!(parse(text), None, "{text}");
            let json = serde_json::to_string(text).unwrap();
            assert_eq!(ours_reads(&json), chrono_reads(&json), "{text}");
        }
        // Written with JSON escapes (serde_json hands the text over unescaped, not borrowed):
        // read by hand, and left to chrono.
        for json in [
            r#""2026-12-05T19:30:00\u005a""#,
            r#""2026-12-05T19:30:00\u0020Z""#,
        ] {
            assert_eq!(ours_reads(json), chrono_reads(json), "{json}");
        }
        assert!(ours_reads(r#""2026-12-05T19:30:00\u005a""#).is_ok());
        // Not a string at all: the same error.
        for json in ["12", "null", "true", "1.5", "[]", "{}"] {
            assert_eq!(ours_reads(json), chrono_reads(json), "{json}");
        }
    }
}
