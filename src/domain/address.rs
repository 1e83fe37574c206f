//! Vietnamese provinces after the 2025-07-01 reform (63 → 34), and the name folding used to
//! match provinces and wards as buyers type them.
//!
//! `Province::name` is the short official name with diacritics, without its type word
//! ("Tỉnh", "Thành phố"): "Hà Nội", "Hồ Chí Minh", "Huế", "Đà Nẵng", "Hải Phòng", "Cần Thơ",
//! "Ninh Bình". Tone marks are placed the way the official 2025 lists write them
//! ("Thanh Hóa", "Khánh Hòa"). `Province::code` is a stable ASCII slug ("ho-chi-minh").
//!
//! `normalize_province` accepts the 34 names, the 63 pre-2025 names and a few unambiguous
//! aliases, compared after `fold` with all spaces removed, optionally after a leading
//! "Tỉnh" / "Thành phố" / "TP" and a trailing English "City". It never guesses: an unknown
//! name is `None` (no edit distance, no prefix matching).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

mod fold;
pub use fold::fold;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    North,
    Central,
    South,
}

impl Region {
    /// "north" | "central" | "south", as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Region::North => "north",
            Region::Central => "central",
            Region::South => "south",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Province {
    /// Short official name with diacritics, e.g. "Hồ Chí Minh", "Ninh Bình".
    pub name: &'static str,
    /// Stable ASCII slug, e.g. "ho-chi-minh", "ninh-binh".
    pub code: &'static str,
    pub region: Region,
}

const fn p(name: &'static str, code: &'static str, region: Region) -> Province {
    Province { name, code, region }
}

// ---------------------------------------------------------------------------------------------
// Data. Derived from the PyPI packages `vietnamadminunits` 1.0.4 (data/dataset.db tables
// `admin_units` and `admin_units_legacy`, column provinceShort; the old→new province map is
// DICT_PROVINCE in data/converter_2025.json) and `vietnam-provinces` 2025.10.1 (codename,
// '_' → '-', for `code`); both list the same 34 provinces. Ordered by the official
// province code (in the comment). Neither package has regions: North = the 15 northern
// provinces, Central = Thanh Hóa to Khánh Hòa plus the Central Highlands (Gia Lai, Đắk Lắk,
// Lâm Đồng), South = the rest.
// ---------------------------------------------------------------------------------------------

static PROVINCES: [Province; 34] = [
    p("Hà Nội", "ha-noi", Region::North),           // 01
    p("Cao Bằng", "cao-bang", Region::North),       // 04
    p("Tuyên Quang", "tuyen-quang", Region::North), // 08
    p("Điện Biên", "dien-bien", Region::North),     // 11
    p("Lai Châu", "lai-chau", Region::North),       // 12
    p("Sơn La", "son-la", Region::North),           // 14
    p("Lào Cai", "lao-cai", Region::North),         // 15
    p("Thái Nguyên", "thai-nguyen", Region::North), // 19
    p("Lạng Sơn", "lang-son", Region::North),       // 20
    p("Quảng Ninh", "quang-ninh", Region::North),   // 22
    p("Bắc Ninh", "bac-ninh", Region::North),       // 24
    p("Phú Thọ", "phu-tho", Region::North),         // 25
    p("Hải Phòng", "hai-phong", Region::North),     // 31
    p("Hưng Yên", "hung-yen", Region::North),       // 33
    p("Ninh Bình", "ninh-binh", Region::North),     // 37
    p("Thanh Hóa", "thanh-hoa", Region::Central),   // 38
    p("Nghệ An", "nghe-an", Region::Central),       // 40
    p("Hà Tĩnh", "ha-tinh", Region::Central),       // 42
    p("Quảng Trị", "quang-tri", Region::Central),   // 44
    p("Huế", "hue", Region::Central),               // 46
    p("Đà Nẵng", "da-nang", Region::Central),       // 48
    p("Quảng Ngãi", "quang-ngai", Region::Central), // 51
    p("Gia Lai", "gia-lai", Region::Central),       // 52
    p("Khánh Hòa", "khanh-hoa", Region::Central),   // 56
    p("Đắk Lắk", "dak-lak", Region::Central),       // 66
    p("Lâm Đồng", "lam-dong", Region::Central),     // 68
    p("Đồng Nai", "dong-nai", Region::South),       // 75
    p("Hồ Chí Minh", "ho-chi-minh", Region::South), // 79
    p("Tây Ninh", "tay-ninh", Region::South),       // 80
    p("Đồng Tháp", "dong-thap", Region::South),     // 82
    p("Vĩnh Long", "vinh-long", Region::South),     // 86
    p("An Giang", "an-giang", Region::South),       // 91
    p("Cần Thơ", "can-tho", Region::South),         // 92
    p("Cà Mau", "ca-mau", Region::South),           // 96
];

/// The 63 pre-2025-07-01 provinces → code of the province they belong to now. Huế is listed
/// under its long-time name "Thừa Thiên Huế" (it became "Thành phố Huế" in January 2025).
static LEGACY: [(&str, &str); 63] = [
    ("Hà Nội", "ha-noi"),
    ("Hà Giang", "tuyen-quang"),
    ("Cao Bằng", "cao-bang"),
    ("Bắc Kạn", "thai-nguyen"),
    ("Tuyên Quang", "tuyen-quang"),
    ("Lào Cai", "lao-cai"),
    ("Điện Biên", "dien-bien"),
    ("Lai Châu", "lai-chau"),
    ("Sơn La", "son-la"),
    ("Yên Bái", "lao-cai"),
    ("Hòa Bình", "phu-tho"),
    ("Thái Nguyên", "thai-nguyen"),
    ("Lạng Sơn", "lang-son"),
    ("Quảng Ninh", "quang-ninh"),
    ("Bắc Giang", "bac-ninh"),
    ("Phú Thọ", "phu-tho"),
    ("Vĩnh Phúc", "phu-tho"),
    ("Bắc Ninh", "bac-ninh"),
    ("Hải Dương", "hai-phong"),
    ("Hải Phòng", "hai-phong"),
    ("Hưng Yên", "hung-yen"),
    ("Thái Bình", "hung-yen"),
    ("Hà Nam", "ninh-binh"),
    ("Nam Định", "ninh-binh"),
    ("Ninh Bình", "ninh-binh"),
    ("Thanh Hóa", "thanh-hoa"),
    ("Nghệ An", "nghe-an"),
    ("Hà Tĩnh", "ha-tinh"),
    ("Quảng Bình", "quang-tri"),
    ("Quảng Trị", "quang-tri"),
    ("Thừa Thiên Huế", "hue"),
    ("Đà Nẵng", "da-nang"),
    ("Quảng Nam", "da-nang"),
    ("Quảng Ngãi", "quang-ngai"),
    ("Bình Định", "gia-lai"),
    ("Phú Yên", "dak-lak"),
    ("Khánh Hòa", "khanh-hoa"),
    ("Ninh Thuận", "khanh-hoa"),
    ("Bình Thuận", "lam-dong"),
    ("Kon Tum", "quang-ngai"),
    ("Gia Lai", "gia-lai"),
    ("Đắk Lắk", "dak-lak"),
    ("Đắk Nông", "lam-dong"),
    ("Lâm Đồng", "lam-dong"),
    ("Bình Phước", "dong-nai"),
    ("Tây Ninh", "tay-ninh"),
    ("Bình Dương", "ho-chi-minh"),
    ("Đồng Nai", "dong-nai"),
    ("Bà Rịa - Vũng Tàu", "ho-chi-minh"),
    ("Hồ Chí Minh", "ho-chi-minh"),
    ("Long An", "tay-ninh"),
    ("Tiền Giang", "dong-thap"),
    ("Bến Tre", "vinh-long"),
    ("Trà Vinh", "vinh-long"),
    ("Vĩnh Long", "vinh-long"),
    ("Đồng Tháp", "dong-thap"),
    ("An Giang", "an-giang"),
    ("Kiên Giang", "an-giang"),
    ("Cần Thơ", "can-tho"),
    ("Hậu Giang", "can-tho"),
    ("Sóc Trăng", "can-tho"),
    ("Bạc Liêu", "ca-mau"),
    ("Cà Mau", "ca-mau"),
];

/// Abbreviations and other spellings in common use. "HN", "HCM", "Bà Rịa", "Vũng Tàu" are
/// the package's own aliases; the rest are unambiguous everyday forms. Spellings that differ
/// only in diacritics, tone-mark placement, spaces or punctuation need no entry.
static ALIASES: [(&str, &str); 15] = [
    ("HN", "ha-noi"),
    ("HCM", "ho-chi-minh"),
    ("HCMC", "ho-chi-minh"),
    ("Sài Gòn", "ho-chi-minh"),
    ("Bà Rịa", "ho-chi-minh"),
    ("Vũng Tàu", "ho-chi-minh"),
    ("BRVT", "ho-chi-minh"),
    ("TT Huế", "hue"),
    ("TTH", "hue"),
    ("Đắc Lắc", "dak-lak"),
    ("Đắc Lắk", "dak-lak"),
    ("Đắk Lắc", "dak-lak"),
    ("Đắc Nông", "lam-dong"),
    ("Bắc Cạn", "thai-nguyen"),
    ("Thừa Thiên", "hue"),
];

/// Folded ward names (2025 and pre-2025, from `vietnamadminunits`) whose first syllable
/// folds to a ward type word ("Phương Liệt", "Phường Đúc", "Xa Dung", "Xà Phiên"…): typed
/// without diacritics they are kept whole instead of losing their first word.
#[rustfmt::skip]
static WARDS_LIKE_TYPE_WORD: [&str; 37] = [
    "phuong binh", "phuong canh", "phuong cong", "phuong dinh", "phuong do", "phuong dong",
    "phuong duc", "phuong giao", "phuong hai", "phuong khoan", "phuong lam", "phuong lau",
    "phuong lien trung tu", "phuong liet", "phuong lieu", "phuong mai", "phuong mao",
    "phuong nam", "phuong nghi", "phuong phu", "phuong sai", "phuong son", "phuong thanh",
    "phuong thien", "phuong thinh", "phuong tien", "phuong tra", "phuong trung", "phuong tu",
    "phuong vi", "phuong vien", "xa bang", "xa dung", "xa ho", "xa luong", "xa nhe",
    "xa phien",
];

/// Province type words stripped from the compact key, and the English suffix.
const PROVINCE_PREFIXES: [&str; 3] = ["thanhpho", "tinh", "tp"];
const PROVINCE_SUFFIX: &str = "city";
/// Longer input is not a province name; refuse it before doing any work.
const MAX_PROVINCE_INPUT: usize = 256;

/// All 34 provinces after the 2025 reform.
pub fn provinces() -> &'static [Province] {
    &PROVINCES
}

/// Accepts any of the 63 pre-2025 names and the 34 new ones, case- and diacritic-insensitive,
/// with or without prefixes "Tỉnh", "Thành phố", "TP.", "TP ", and common abbreviations and
/// aliases. Returns None when unknown — never guesses.
pub fn normalize_province(raw: &str) -> Option<&'static Province> {
    if raw.len() > MAX_PROVINCE_INPUT {
        return None;
    }
    let index = index();
    // A name exactly as listed (what a platform's address picker sends) needs no folding.
    if let Some(&i) = index.exact.get(raw) {
        return PROVINCES.get(i);
    }
    let key = compact(raw);
    if key.is_empty() {
        return None;
    }
    let index = &index.map;
    let find = |k: &str| index.get(k).and_then(|&i| PROVINCES.get(i));
    let rest = PROVINCE_PREFIXES.iter().find_map(|p| key.strip_prefix(p));
    for base in std::iter::once(key.as_str()).chain(rest) {
        if let Some(found) = find(base) {
            return Some(found);
        }
        if let Some(found) = base.strip_suffix(PROVINCE_SUFFIX).and_then(find) {
            return Some(found);
        }
    }
    None
}

/// Ward folded with its leading type word removed ("Phường", "P.", "Xã", "X.", "Thị trấn",
/// "TT.", "Đặc khu") so "P. Hoa Lư" and "phuong hoa lu" are equal. Numbered wards become
/// their number: "Phường 01", "P.1", "P1" → "1". A name that only looks like a type word keeps
/// it: "Phường Phương Liệt", "Phương Liệt" and "phuong liet" are all "phuong liet".
/// Inherent limit: typed without diacritics, "xa dung" may be "Xã Dung" or "Xa Dung"; it is
/// read as the ward "Xa Dung".
pub fn fold_ward(s: &str) -> String {
    // Text typed on a phone is already NFC nearly always: the quick check skips composing.
    let composed: Cow<str> = if plain_nfc(s) || is_nfc_quick(s.chars()) == IsNormalized::Yes {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.nfc().collect())
    };
    // Only the first words decide; each is lowercased on the stack (issue 20: the whole
    // text lowercased into a string and split into a vector was 4 % of ingest's CPU).
    let mut words = ward_words(&composed);
    let first = words.next();
    // "P1", "p01": the abbreviation glued to a ward number.
    let glued = first.and_then(|w| w.strip_prefix(['p', 'P']));
    if let Some(n) = glued.filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
        return trim_number(n.to_string());
    }
    let second = words.next();
    let third = words.next();
    let (mut b1, mut b2) = ([0u8; WORD_BUF], [0u8; WORD_BUF]);
    let w1 = first.map(|w| lower_word(w, &mut b1));
    let w2 = second.map(|w| lower_word(w, &mut b2));
    let skip = match (w1, w2, third) {
        // The ward Phường Đúc (Huế) typed without its type word; ASCII look-alikes.
        (Some("phường"), Some("đúc"), None) => 0,
        (Some("phuong" | "xa"), ..) if WARDS_LIKE_TYPE_WORD.contains(&fold(s).as_str()) => 0,
        (Some("thị"), Some("trấn"), _)
        | (Some("đặc"), Some("khu"), _)
        | (Some("thi"), Some("tran"), _)
        | (Some("dac"), Some("khu"), _)
        | (Some("t"), Some("t"), _) => 2,
        (Some("phường" | "xã" | "phuong" | "xa" | "p" | "x" | "tt"), ..) => 1,
        _ => 0,
    };
    if skip == 0 {
        return trim_number(fold(s));
    }
    // The words after the type word, one space apart.
    let rest = [first, second, third].into_iter().flatten().skip(skip);
    let mut joined = String::with_capacity(composed.len());
    for w in rest.chain(words) {
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(w);
    }
    if joined.is_empty() {
        trim_number(fold(s))
    } else {
        trim_number(fold(&joined))
    }
}

/// Whether `s` is NFC because every character is below U+0300 or in U+1E00–U+1EFF (Latin
/// Extended Additional, Vietnamese's toned vowels): all of them NFC on their own, none a
/// combining mark. Read from the UTF-8 bytes (issue 20: Unicode's quick check, a table lookup
/// per character, was 1.5 % of ingest's instructions): a first byte under CC starts a
/// character below U+0300 (continuation bytes are under C0), E1 B8–BB one of U+1E00–U+1EFF.
fn plain_nfc(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter()
        .enumerate()
        .all(|(i, &x)| x < 0xcc || (x == 0xe1 && matches!(b.get(i + 1), Some(0xb8..=0xbb))))
}

/// The words of a ward name: runs of letters, digits and combining marks.
fn ward_words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !is_word_char(c))
        .filter(|t| !t.is_empty())
}

/// `c.is_alphanumeric() || is_combining_mark(c)`, with Vietnamese letters answered by their
/// ranges instead of Unicode's tables (issue 20): U+00C0–U+024F but × and ÷, and
/// U+1E00–U+1EFF, are all letters.
fn is_word_char(c: char) -> bool {
    match c {
        'a'..='z' | 'A'..='Z' | '0'..='9' => true,
        '\u{0}'..='\u{7f}' => false,
        '×' | '÷' => false,
        '\u{c0}'..='\u{24f}' | '\u{1e00}'..='\u{1eff}' => true,
        c => c.is_alphanumeric() || is_combining_mark(c),
    }
}

/// Room for a lowercased word; the longest type word, "phường", takes 9 bytes.
const WORD_BUF: usize = 16;

/// `word` lowercased into `buf`; a word too long for it becomes "-", which is no type word
/// (a word never contains '-').
fn lower_word<'b>(word: &str, buf: &'b mut [u8; WORD_BUF]) -> &'b str {
    let mut n = 0;
    let mut put = |c: char| {
        let len = c.len_utf8();
        if n + len > WORD_BUF {
            return false;
        }
        c.encode_utf8(&mut buf[n..n + len]);
        n += len;
        true
    };
    for c in word.chars() {
        let fits = match quick_lower(c) {
            Some(l) => put(l),
            None => c.to_lowercase().all(&mut put),
        };
        if !fits {
            return "-";
        }
    }
    std::str::from_utf8(&buf[..n]).unwrap_or("-")
}

/// `c` lowercased, for ASCII and the Latin letters Vietnamese is written with, answered by
/// their ranges rather than Unicode's tables (issue 20: `to_lowercase` was a third of the
/// ward's folding); `None` for any other character. Within U+0100–U+012F, U+014A–U+0177 and
/// U+1EA0–U+1EF9 the capitals are the even code points and each one's small letter the next.
fn quick_lower(c: char) -> Option<char> {
    let u = c as u32;
    let lower = match u {
        0x41..=0x5a => u + 0x20,
        0..=0x7f => u,
        0xc0..=0xde if u != 0xd7 => u + 0x20,
        0xd7..=0xff => u,
        0x100..=0x12f | 0x14a..=0x177 | 0x1ea0..=0x1ef9 => u | 1,
        0x1a0 | 0x1a1 => 0x1a1,
        0x1af | 0x1b0 => 0x1b0,
        _ => return None,
    };
    char::from_u32(lower)
}

/// "01" → "1" for numbered wards; anything that is not all digits is returned unchanged.
fn trim_number(s: String) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let t = s.trim_start_matches('0');
        if t.is_empty() {
            "0".to_string()
        } else {
            t.to_string()
        }
    } else {
        s
    }
}

/// `fold` with every space removed: "Bà Rịa - Vũng Tàu" → "bariavungtau".
fn compact(s: &str) -> String {
    let mut folded = fold(s);
    folded.retain(|c| c != ' ');
    folded
}

struct Index {
    map: HashMap<String, usize>,
    /// The listed names exactly as written, each with the province its folded key finds
    /// (issue 20: folding the name was 1.6 % of ingest's instructions at 100 orders a frame).
    exact: HashMap<&'static str, usize>,
    /// Keys claimed by two different provinces, or entries naming an unknown code
    /// (data errors, checked by the tests; the first claim wins).
    #[cfg_attr(not(test), allow(dead_code))]
    problems: Vec<String>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(build_index)
}

fn build_index() -> Index {
    let mut map = HashMap::new();
    let mut exact = HashMap::new();
    let mut problems = Vec::new();
    let names = PROVINCES.iter().map(|p| (p.name, p.code));
    for (name, code) in names
        .chain(LEGACY.iter().copied())
        .chain(ALIASES.iter().copied())
    {
        let Some(i) = PROVINCES.iter().position(|p| p.code == code) else {
            problems.push(format!("{name}: unknown code {code}"));
            continue;
        };
        let key = compact(name);
        // The first claim of a key wins; the name as written finds what its key finds.
        let found = match map.get(&key) {
            Some(&j) => {
                if j != i {
                    problems.push(format!("{name}: key {key} is ambiguous"));
                }
                j
            }
            None => {
                map.insert(key, i);
                i
            }
        };
        exact.insert(name, found);
    }
    Index {
        map,
        exact,
        problems,
    }
}

#[cfg(test)]
mod tests;
