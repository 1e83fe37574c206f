//! JSON text written by hand on ingest's path (issue 20): every accepted order is written
//! twice as JSON (its canonical form, digested, and the stored record around it) and its
//! ack once. Through serde these cost about 9.5 % of the service's CPU at ingest in a profile,
//! most of it serde_json looking at each byte of each string for something to escape. Here
//! a string is checked 16 bytes at a time and, when nothing in it needs escaping (almost
//! always), copied as it is; otherwise serde_json writes it. The bytes are serde_json's in
//! every case (the tests compare them with serde_json's on any text), so a digest of a
//! canonical order and a stored record read the same as before.

/// Appends `s` as a JSON string, byte for byte as `serde_json::to_writer` writes it.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        // Writing a str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
        return;
    }
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// Appends `"key":` then `s` as a JSON string; `key` is the member's name, with nothing to
/// escape. Inlined, like `write_key` (issue 20: left to the compiler, it was inlined in some
/// builds and not in others, about 2 % of ingest's instructions; `write_str` inlined was
/// worse).
#[inline]
pub fn write_member(out: &mut Vec<u8>, key: &str, s: &str) {
    write_key(out, key);
    write_str(out, s);
}

/// Appends `"key":` (`key` has nothing to escape).
#[inline]
pub fn write_key(out: &mut Vec<u8>, key: &str) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Appends an integer as serde_json writes it.
pub fn write_int(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    write_uint(out, n.unsigned_abs());
}

/// Appends an unsigned integer as serde_json writes it.
pub fn write_uint(out: &mut Vec<u8>, mut v: u64) {
    // Written from the end of a buffer with room for any u64.
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[at..]);
}

/// A value's JSON as serde_json writes it, kept and written again while the same value
/// comes back (the times of a sorted list, the pickup of a wave's parcels): formatted only
/// when the value changes, into a buffer reused. For types whose equal values have the same
/// JSON (`DateTime<Utc>`, a plain enum).
pub struct LastJson<T> {
    last: Option<T>,
    json: Vec<u8>,
}

impl<T> LastJson<T> {
    pub const fn new() -> Self {
        LastJson {
            last: None,
            json: Vec::new(),
        }
    }
}

impl<T> Default for LastJson<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: PartialEq + Copy + serde::Serialize> LastJson<T> {
    /// Appends `v`'s JSON; an error of serde_json (then nothing is kept) is returned.
    pub fn write(&mut self, out: &mut Vec<u8>, v: T) -> serde_json::Result<()> {
        if self.last != Some(v) {
            self.last = None;
            self.json.clear();
            serde_json::to_writer(&mut self.json, &v)?;
            self.last = Some(v);
        }
        out.extend_from_slice(&self.json);
        Ok(())
    }
}

/// Whether any byte of `b` must be escaped (serde_json escapes control characters, `"`
/// and `\`). Text of 16 bytes or more is looked at in blocks of 16, the last one
/// overlapping the one before; shorter text (most strings here: ids, phones, prices) as
/// two overlapping 8-byte words, or byte by byte under 8. A true answer only sends the
/// text to serde_json, so only a missed byte would matter, and none is missed.
fn needs_escape(b: &[u8]) -> bool {
    let n = b.len();
    if n >= BLOCK {
        b.chunks_exact(BLOCK).any(block_escapes) || block_escapes(&b[n - BLOCK..])
    } else if n >= 8 {
        word_escapes(&b[..8]) || word_escapes(&b[n - 8..])
    } else {
        block_escapes(b)
    }
}

const BLOCK: usize = 16;

/// Whether any byte of `block` must be escaped: for a block of 16, without an early exit
/// inside it, which the compiler turns into vector compares (also asked of text under 8).
fn block_escapes(block: &[u8]) -> bool {
    let mut any = false;
    for &x in block {
        any |= (x < 0x20) | (x == b'"') | (x == b'\\');
    }
    any
}

/// The same for 8 bytes in one word: a byte under 0x20, or equal to `"` or `\`
/// (the classic "has a byte less than" and "has a zero byte" tests, both exact).
fn word_escapes(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    let w = u64::from_le_bytes(word);
    let zero = |v: u64| v.wrapping_sub(ONES) & !v;
    let below = w.wrapping_sub(ONES * 0x20) & !w;
    (below | zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\')))) & HIGH != 0
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ours(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_ascii_character_is_written_as_serde_json_writes_it() {
        for b in 0u8..128 {
            let s = (b as char).to_string();
            for text in [
                s.clone(),
                format!("{s}{}", "a".repeat(20)),
                format!("{}{s}", "é".repeat(9)),
            ] {
                assert_eq!(
                    ours(&text),
                    serde_json::to_string(&text).unwrap(),
                    "byte {b}"
                );
            }
        }
    }

    #[test]
    fn a_character_to_escape_is_found_at_any_place_in_text_of_any_length() {
        for len in 0..40 {
            for at in 0..len {
                for c in ['"', '\\', '\u{0}', '\u{1f}', '\n', '\u{7f}', ' ', 'ắ'] {
                    let mut text: Vec<char> = std::iter::repeat_n('x', len).collect();
                    text[at] = c;
                    let text: String = text.into_iter().collect();
                    assert_eq!(
                        ours(&text),
                        serde_json::to_string(&text).unwrap(),
                        "{text:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn text_without_anything_to_escape_takes_the_copy() {
        for text in [
            "",
            "tiktok",
            "0912345678",
            "185000",
            "Nguyễn Thị Lan",
            "Phường Hoa Lư",
            "Mật ong rừng ngập mặn 500ml",
            "2026-11-21T20:15:02+07:00",
            "~\u{7f}ắ€𝄞",
        ] {
            assert!(!needs_escape(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn integers_are_written_as_serde_json_writes_them() {
        for n in [
            0,
            1,
            -1,
            9,
            10,
            99,
            100,
            650,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            let mut out = Vec::new();
            write_int(&mut out, n);
            assert_eq!(out, serde_json::to_vec(&n).unwrap(), "{n}");
        }
        for n in [0, 7, 1300, u64::MAX] {
            let mut out = Vec::new();
            write_uint(&mut out, n);
            assert_eq!(out, serde_json::to_vec(&n).unwrap(), "{n}");
        }
    }

    proptest! {
        #[test]
        fn any_text_is_written_as_serde_json_writes_it(s in any::<String>()) {
            prop_assert_eq!(ours(&s), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn text_with_the_characters_to_escape_anywhere(
            parts in proptest::collection::vec(
                prop_oneof![Just("\"".to_string()), Just("\\".to_string()),
                    Just("\u{1f}".to_string()), Just("\n".to_string()), "[a-zà-ỹ ]{0,20}"],
                0..12),
        ) {
            let s = parts.concat();
            prop_assert_eq!(ours(&s), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn any_integer_is_written_as_serde_json_writes_it(n in any::<i64>()) {
            let mut out = Vec::new();
            write_int(&mut out, n);
            prop_assert_eq!(out, serde_json::to_vec(&n).unwrap());
        }
    }
}
