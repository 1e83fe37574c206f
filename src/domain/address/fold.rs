//! `fold`: the name folding every address match and buyer key goes through, with a fast
//! path for the text buyers usually type: ASCII and precomposed Latin letters (Vietnamese
//! as phone keyboards write it, NFC). Anything else, Vietnamese typed with separate
//! combining marks included, takes the general path. Issue 20: the general Unicode path
//! was a tenth of ingest's CPU.

use std::sync::OnceLock;

use unicode_normalization::char::{canonical_combining_class, is_combining_mark};
use unicode_normalization::UnicodeNormalization;

/// Lowercase, Unicode NFD with combining marks removed, 'đ'→'d', any run of non-alphanumerics
/// → one space, trimmed. Used for matching and for buyer keys. ('ð', U+00F0, which legacy
/// encodings produce for 'Đ', also folds to 'd'.)
pub fn fold(s: &str) -> String {
    fold_latin(s).unwrap_or_else(|| fold_unicode(s))
}

/// The definition: every character through NFD and lowercasing. What `fold` returns for
/// any text.
fn fold_unicode(s: &str) -> String {
    let mut out = Folded::with_capacity(s.len());
    for c in s.nfd() {
        for f in folded(c) {
            out.push(f);
        }
    }
    out.0
}

/// The same result one character at a time, for text of ASCII and the Latin letters of
/// [`LatinTable`]; `None` when a character is outside them (the caller takes the
/// general path). Per character equals per string here: NFD decomposes each character on
/// its own, and the only reordering it does is among combining marks, which are dropped.
fn fold_latin(s: &str) -> Option<String> {
    let table = latin_table();
    let mut out = Folded::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            match table.get(c)? {
                Latin::One(f) => out.push(f),
                Latin::Nothing => {}
            }
        }
    }
    Some(out.0)
}

/// What one character of the decomposed text folds to: lower case, combining marks
/// dropped, 'đ' (and its legacy look-alike 'ð') as 'd'. The general path and the table
/// both fold characters with this.
fn folded(c: char) -> impl Iterator<Item = char> {
    c.to_lowercase()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'đ' | 'ð' => 'd',
            c => c,
        })
}

/// The folded text and whether non-alphanumerics were met since its last character.
struct Folded(String, bool);

impl Folded {
    fn with_capacity(n: usize) -> Self {
        Folded(String::with_capacity(n), false)
    }

    /// One folded character: alphanumerics are kept (a space first if a gap came before
    /// them), anything else opens a gap.
    fn push(&mut self, c: char) {
        if c.is_alphanumeric() {
            if self.1 && !self.0.is_empty() {
                self.0.push(' ');
            }
            self.1 = false;
            self.0.push(c);
        } else {
            self.1 = true;
        }
    }
}

/// What one Latin character folds to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Latin {
    /// One character (a letter's base, lower case; or a non-alphanumeric, which opens a gap).
    One(char),
    /// Nothing (the character is a combining mark).
    Nothing,
}

/// The blocks where Vietnamese letters are: Latin-1 Supplement and Latin Extended-A/B
/// (U+0080–U+024F; 'ă', 'đ', 'ơ', 'ư' and the acute/grave vowels), and Latin Extended
/// Additional (U+1E00–U+1EFF; the vowels with tone marks); and General Punctuation
/// (U+2000–U+206F: dashes, curly quotes, spaces phones type between names).
const LATIN: [(u32, u32); 3] = [(0x80, 0x250), (0x1E00, 0x1F00), (0x2000, 0x2070)];

/// Each character of [`LATIN`] folded once, as the general path folds it; characters whose
/// folding is not one starter's (several characters, or a decomposition that starts with a
/// mark) are left out, so text holding them takes the general path.
struct LatinTable {
    blocks: [Vec<Option<Latin>>; 3],
}

impl LatinTable {
    fn build() -> Self {
        let block = |(from, to): (u32, u32)| {
            (from..to)
                .map(|u| char::from_u32(u).and_then(Self::entry))
                .collect()
        };
        LatinTable {
            blocks: LATIN.map(block),
        }
    }

    /// A starter followed by combining marks only (which folding drops) folds to what
    /// its starter does; anything else is left to the general path.
    fn entry(c: char) -> Option<Latin> {
        let mut decomposed = c.nfd();
        let first = decomposed.next()?;
        if canonical_combining_class(first) != 0 || !decomposed.all(is_combining_mark) {
            return None;
        }
        match folded(first).collect::<Vec<_>>().as_slice() {
            [] => Some(Latin::Nothing),
            [one] => Some(Latin::One(*one)),
            _ => None,
        }
    }

    fn get(&self, c: char) -> Option<Latin> {
        let u = c as u32;
        LATIN
            .iter()
            .zip(&self.blocks)
            .find(|((from, to), _)| (*from..*to).contains(&u))
            .and_then(|((from, _), block)| block[(u - from) as usize])
    }
}

fn latin_table() -> &'static LatinTable {
    static TABLE: OnceLock<LatinTable> = OnceLock::new();
    TABLE.get_or_init(LatinTable::build)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_latin_character_folds_as_the_general_path_does() {
        let mut covered = 0;
        for (from, to) in LATIN.iter().copied().chain([(0, 0x80)]) {
            for c in (from..to).filter_map(char::from_u32) {
                // Alone, and between letters (where "nothing" and "a gap" differ).
                let (alone, between) = (c.to_string(), format!("a{c}b"));
                if let Some(fast) = fold_latin(&alone) {
                    assert_eq!(fast, fold_unicode(&alone), "U+{:04X}", c as u32);
                    assert_eq!(
                        fold_latin(&between),
                        Some(fold_unicode(&between)),
                        "U+{:04X} between letters",
                        c as u32
                    );
                    covered += 1;
                }
            }
        }
        // ASCII, and nearly all of the blocks.
        assert!(covered > 128 + 600 + 100, "{covered}");
    }

    #[test]
    fn vietnamese_takes_the_latin_path() {
        for s in [
            "Đường Trần Hưng Đạo, Phường Bến Nghé",
            "Xã Ninh Hải, Huyện Hoa Lư, Tỉnh Ninh Bình",
            "Thừa Thiên Huế; Bà Rịa – Vũng Tàu",
            "ĂÂĐÊÔƠƯ ăâđêôơư ỳỷỹỵ ậặệộợự",
        ] {
            assert_eq!(fold_latin(s), Some(fold_unicode(s)), "{s}");
        }
        assert_eq!(fold("  Phường  Bến-Nghé!! "), "phuong ben nghe");
        assert_eq!(fold("ð"), "d");
    }

    #[test]
    fn other_scripts_and_decomposed_marks_take_the_general_path() {
        // Decomposed input ('e' + U+0302 + U+0301), Greek, CJK, Hangul, a lone mark.
        for s in ["Le\u{302}\u{301} Lợi", "Αθήνα", "東京", "한국", "\u{301}a"] {
            assert_eq!(fold_latin(s), None, "{s}");
            assert_eq!(fold(s), fold_unicode(s));
        }
    }

    /// Text of ASCII, Vietnamese letters and the rest of the table's blocks, and with
    /// `other` > 0 also combining marks and any character.
    fn text(other: u32) -> impl Strategy<Value = String> {
        let c = prop_oneof![
            4 => proptest::char::range(' ', '~'),
            4 => proptest::sample::select(
                "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵĐƠƯÂÊÔ"
                    .chars()
                    .collect::<Vec<_>>()
            ),
            2 => proptest::char::range('\u{80}', '\u{24f}'),
            1 => proptest::char::range('\u{1e00}', '\u{1eff}'),
            1 => proptest::char::range('\u{2000}', '\u{206f}'),
            other => proptest::char::range('\u{300}', '\u{36f}'),
            other => any::<char>(),
        ];
        proptest::collection::vec(c, 0..40).prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn fold_is_the_general_path(s in text(1)) {
            prop_assert_eq!(fold(&s), fold_unicode(&s));
        }

        #[test]
        fn the_latin_path_agrees_whenever_it_answers(s in text(0)) {
            if let Some(fast) = fold_latin(&s) {
                prop_assert_eq!(fast, fold_unicode(&s));
            }
        }
    }
}
