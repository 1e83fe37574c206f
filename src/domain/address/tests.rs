use super::*;
use proptest::prelude::*;

fn code(raw: &str) -> Option<&'static str> {
    normalize_province(raw).map(|p| p.code)
}

/// The 2025 merger as announced (new province first), typed independently of the data
/// table above: (old name, new name).
#[rustfmt::skip]
const MERGER: [(&str, &str); 63] = [
    ("Hà Nội", "Hà Nội"), ("Thừa Thiên Huế", "Huế"), ("Lai Châu", "Lai Châu"),
    ("Điện Biên", "Điện Biên"), ("Sơn La", "Sơn La"), ("Lạng Sơn", "Lạng Sơn"),
    ("Quảng Ninh", "Quảng Ninh"), ("Thanh Hóa", "Thanh Hóa"), ("Nghệ An", "Nghệ An"),
    ("Hà Tĩnh", "Hà Tĩnh"), ("Cao Bằng", "Cao Bằng"),
    ("Tuyên Quang", "Tuyên Quang"), ("Hà Giang", "Tuyên Quang"),
    ("Lào Cai", "Lào Cai"), ("Yên Bái", "Lào Cai"),
    ("Thái Nguyên", "Thái Nguyên"), ("Bắc Kạn", "Thái Nguyên"),
    ("Phú Thọ", "Phú Thọ"), ("Vĩnh Phúc", "Phú Thọ"), ("Hòa Bình", "Phú Thọ"),
    ("Bắc Ninh", "Bắc Ninh"), ("Bắc Giang", "Bắc Ninh"),
    ("Hưng Yên", "Hưng Yên"), ("Thái Bình", "Hưng Yên"),
    ("Hải Phòng", "Hải Phòng"), ("Hải Dương", "Hải Phòng"),
    ("Ninh Bình", "Ninh Bình"), ("Hà Nam", "Ninh Bình"), ("Nam Định", "Ninh Bình"),
    ("Quảng Trị", "Quảng Trị"), ("Quảng Bình", "Quảng Trị"),
    ("Đà Nẵng", "Đà Nẵng"), ("Quảng Nam", "Đà Nẵng"),
    ("Quảng Ngãi", "Quảng Ngãi"), ("Kon Tum", "Quảng Ngãi"),
    ("Gia Lai", "Gia Lai"), ("Bình Định", "Gia Lai"),
    ("Khánh Hòa", "Khánh Hòa"), ("Ninh Thuận", "Khánh Hòa"),
    ("Lâm Đồng", "Lâm Đồng"), ("Đắk Nông", "Lâm Đồng"), ("Bình Thuận", "Lâm Đồng"),
    ("Đắk Lắk", "Đắk Lắk"), ("Phú Yên", "Đắk Lắk"),
    ("Hồ Chí Minh", "Hồ Chí Minh"), ("Bình Dương", "Hồ Chí Minh"),
    ("Bà Rịa - Vũng Tàu", "Hồ Chí Minh"),
    ("Đồng Nai", "Đồng Nai"), ("Bình Phước", "Đồng Nai"),
    ("Tây Ninh", "Tây Ninh"), ("Long An", "Tây Ninh"),
    ("Cần Thơ", "Cần Thơ"), ("Sóc Trăng", "Cần Thơ"), ("Hậu Giang", "Cần Thơ"),
    ("Vĩnh Long", "Vĩnh Long"), ("Bến Tre", "Vĩnh Long"), ("Trà Vinh", "Vĩnh Long"),
    ("Đồng Tháp", "Đồng Tháp"), ("Tiền Giang", "Đồng Tháp"),
    ("Cà Mau", "Cà Mau"), ("Bạc Liêu", "Cà Mau"),
    ("An Giang", "An Giang"), ("Kiên Giang", "An Giang"),
];

#[rustfmt::skip]
const ALIAS_CASES: [(&str, &str); 58] = [
    ("HCM", "ho-chi-minh"), ("hcm", "ho-chi-minh"), ("TPHCM", "ho-chi-minh"),
    ("TP.HCM", "ho-chi-minh"), ("TP. HCM", "ho-chi-minh"), ("Tp Hcm", "ho-chi-minh"),
    ("T.P. Hồ Chí Minh", "ho-chi-minh"), ("Thành phố Hồ Chí Minh", "ho-chi-minh"),
    ("Thành Phố HCM", "ho-chi-minh"), ("TP Hồ Chí Minh", "ho-chi-minh"),
    ("Ho Chi Minh City", "ho-chi-minh"), ("HCMC", "ho-chi-minh"),
    ("Sài Gòn", "ho-chi-minh"), ("Saigon", "ho-chi-minh"), ("sai gon", "ho-chi-minh"),
    ("BRVT", "ho-chi-minh"), ("BR-VT", "ho-chi-minh"), ("Bà Rịa–Vũng Tàu", "ho-chi-minh"),
    ("Ba Ria Vung Tau", "ho-chi-minh"), ("Vũng Tàu", "ho-chi-minh"),
    ("HN", "ha-noi"), ("Ha Noi", "ha-noi"), ("Hanoi", "ha-noi"), ("HÀ NỘI", "ha-noi"),
    ("TP. Hà Nội", "ha-noi"), ("Thành phố Hà Nội", "ha-noi"), ("Hanoi City", "ha-noi"),
    ("Thừa Thiên Huế", "hue"), ("Thừa Thiên - Huế", "hue"), ("TT Huế", "hue"),
    ("TT. Huế", "hue"), ("Thua Thien Hue", "hue"), ("Tỉnh Thừa Thiên Huế", "hue"),
    ("Thành phố Huế", "hue"), ("Hue", "hue"),
    ("Đắk Lắk", "dak-lak"), ("Dak Lak", "dak-lak"), ("Daklak", "dak-lak"),
    ("Đắc Lắc", "dak-lak"), ("Đăk Lăk", "dak-lak"), ("Đắk Nông", "lam-dong"),
    ("Dak Nong", "lam-dong"), ("Đắc Nông", "lam-dong"),
    ("Hoà Bình", "phu-tho"), ("Hòa Bình", "phu-tho"), ("Khánh Hoà", "khanh-hoa"),
    ("Thanh Hoá", "thanh-hoa"), ("Bắc Cạn", "thai-nguyen"), ("Kontum", "quang-ngai"),
    ("Danang", "da-nang"), ("Da Nang City", "da-nang"), ("Haiphong", "hai-phong"),
    ("TP Cần Thơ", "can-tho"), ("Tinh Ninh Binh", "ninh-binh"),
    // decomposed (NFD) input, the legacy-encoding 'Ð' (U+00D0), odd spacing
    ("Ninh Bi\u{300}nh", "ninh-binh"), ("\u{D0}à Nẵng", "da-nang"),
    ("  hà   nội ", "ha-noi"), ("Hà\u{A0}Nội", "ha-noi"),
];

#[rustfmt::skip]
const UNKNOWN: [&str; 24] = [
    "Atlantis", "", "   ", "Hà", "Ha", "TP", "Tỉnh", "Thành phố", "City", "Hà N",
    "Ninh", "Quảng", "Hồ Chí", "Hanoii", "Ha Noi Ha", "Việt Nam", "Quận 1", "Bình", "HC",
    "Hà Nội Hải Phòng", "-", "84", "Paris", "Thành phố Hà",
];

#[rustfmt::skip]
const FOLD_WARD_CASES: [(&str, &str); 37] = [
    ("Phường Hoa Lư", "hoa lu"), ("P. Hoa Lư", "hoa lu"), ("phuong hoa lu", "hoa lu"),
    ("P Hoa Lư", "hoa lu"), ("Hoa Lư", "hoa lu"), ("PHƯỜNG HOA LƯ", "hoa lu"),
    ("Xã Gia Viễn", "gia vien"), ("X. Gia Viễn", "gia vien"), ("xa gia vien", "gia vien"),
    ("Thị trấn Me", "me"), ("TT. Me", "me"), ("TT Me", "me"), ("thi tran me", "me"),
    ("Đặc khu Côn Đảo", "con dao"), ("dac khu con dao", "con dao"), ("Côn Đảo", "con dao"),
    ("Phường 1", "1"), ("P.1", "1"), ("P1", "1"), ("p01", "1"), ("Phường 01", "1"),
    ("Phường Phương Liệt", "phuong liet"), ("Phương Liệt", "phuong liet"),
    ("phuong liet", "phuong liet"), ("phuong phuong liet", "phuong liet"),
    ("Phường Phường Đúc", "phuong duc"), ("Phường Đúc", "phuong duc"),
    ("phuong duc", "phuong duc"),
    ("Xã Xa Dung", "xa dung"), ("Xa Dung", "xa dung"),
    ("Xã Xà Phiên", "xa phien"), ("Xà Phiên", "xa phien"), ("xa phien", "xa phien"),
    ("Phường", "phuong"), ("Xã", "xa"), ("", ""), ("Phường Phú", "phu"),
];

#[test]
fn data_is_consistent() {
    assert_eq!(provinces().len(), 34);
    assert!(index().problems.is_empty(), "{:?}", index().problems);
    let mut codes: Vec<_> = provinces().iter().map(|p| p.code).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), 34);
    for p in provinces() {
        assert_eq!(p.code, fold(p.name).replace(' ', "-"), "slug of {}", p.name);
    }
    let count = |r| provinces().iter().filter(|p| p.region == r).count();
    let counts = (
        count(Region::North),
        count(Region::Central),
        count(Region::South),
    );
    assert_eq!(counts, (15, 11, 8));
    // Prefix/suffix stripping can never change which province a key names.
    for key in index().map.keys() {
        assert!(
            !PROVINCE_PREFIXES.iter().any(|p| key.starts_with(p)),
            "{key}"
        );
        assert!(!key.ends_with(PROVINCE_SUFFIX), "{key}");
    }
    // The data table agrees with the independently typed merger list.
    let legacy: Vec<_> = LEGACY.iter().map(|(o, _)| *o).collect();
    assert!(MERGER.iter().all(|(o, _)| legacy.contains(o)));
}

#[test]
fn every_old_province_maps_to_its_new_province() {
    let mut old: Vec<_> = MERGER.iter().map(|(o, _)| *o).collect();
    old.sort_unstable();
    old.dedup();
    assert_eq!(old.len(), 63);
    for (old, new) in MERGER {
        let want = provinces().iter().find(|p| p.name == new);
        assert!(want.is_some(), "{new}");
        for raw in [
            old.to_string(),
            fold(old),
            old.to_uppercase(),
            format!("Tỉnh {old}"),
            format!("tinh {}", fold(old)),
            format!("  {old}, "),
        ] {
            assert_eq!(normalize_province(&raw), want, "{raw:?}");
        }
    }
}

#[test]
fn every_new_province_maps_to_itself() {
    for p in provinces() {
        let compact = fold(p.name).replace(' ', "");
        for raw in [p.name, &fold(p.name), p.code, &compact] {
            assert_eq!(normalize_province(raw), Some(p), "{raw:?}");
        }
        assert_eq!(
            normalize_province(&format!("Thành phố {}", p.name)),
            Some(p)
        );
        assert_eq!(normalize_province(&format!("TP. {}", p.name)), Some(p));
    }
}

#[test]
fn aliases_and_prefixes() {
    for (raw, want) in ALIAS_CASES {
        assert_eq!(code(raw), Some(want), "{raw:?}");
    }
}

#[test]
fn unknown_names_are_none() {
    for raw in UNKNOWN {
        assert_eq!(normalize_province(raw), None, "{raw:?}");
    }
    assert_eq!(normalize_province(&"Hà Nội ".repeat(100)), None);
}

#[test]
fn region_serializes_lowercase() {
    let json = serde_json::to_string(&Region::Central).expect("json");
    assert_eq!(json, "\"central\"");
    let r: Region = serde_json::from_str("\"south\"").expect("json");
    assert_eq!(r, Region::South);
    assert_eq!(Region::North.as_str(), "north");
    let ha_nam = normalize_province("Hà Nam").map(|p| (p.name, p.region));
    assert_eq!(ha_nam, Some(("Ninh Bình", Region::North)));
    let region = |raw| normalize_province(raw).map(|p| p.region);
    assert_eq!(region("Bình Thuận"), Some(Region::Central));
    assert_eq!(region("Kon Tum"), Some(Region::Central));
    assert_eq!(region("Bạc Liêu"), Some(Region::South));
    assert_eq!(region("Bình Phước"), Some(Region::South));
}

#[test]
fn fold_examples() {
    let cases = [
        ("Nguyễn Thị Lan", "nguyen thi lan"),
        ("ĐẶNG VĂN ĐỨC", "dang van duc"),
        ("  Bà Rịa - Vũng Tàu  ", "ba ria vung tau"),
        ("Hoà Bình", "hoa binh"),
        ("Hòa Bình", "hoa binh"),
        ("Ninh Bi\u{300}nh", "ninh binh"),
        ("12/3A Trần Hưng Đạo,,  P.5", "12 3a tran hung dao p 5"),
        ("Thành phố Hồ Chí Minh!!!", "thanh pho ho chi minh"),
        ("Mật ong rừng ngập mặn 500ml", "mat ong rung ngap man 500ml"),
        ("\u{D0}ồng Nai", "dong nai"),
        ("", ""),
        (" -.,/ ", ""),
    ];
    for (raw, want) in cases {
        assert_eq!(fold(raw), want, "{raw:?}");
    }
}

/// `fold_ward` as it was before issue 20 (the whole text lowercased and split): the
/// definition the faster version is checked against.
fn fold_ward_reference(s: &str) -> String {
    // Text typed on a phone is already NFC nearly always: the quick check skips composing.
    let composed: Cow<str> = if is_nfc_quick(s.chars()) == IsNormalized::Yes {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.nfc().collect())
    };
    let lower: String = composed.chars().flat_map(char::to_lowercase).collect();
    let tokens: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || is_combining_mark(c)))
        .filter(|t| !t.is_empty())
        .collect();
    let folded = fold(s);
    // "P1", "p01": the abbreviation glued to a ward number.
    let glued = tokens.first().and_then(|t| t.strip_prefix('p'));
    if let Some(n) = glued.filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
        return trim_number(n.to_string());
    }
    let skip = match tokens.as_slice() {
        // The ward Phường Đúc (Huế) typed without its type word; ASCII look-alikes.
        ["phường", "đúc"] => 0,
        ["phuong" | "xa", ..] if WARDS_LIKE_TYPE_WORD.contains(&folded.as_str()) => 0,
        ["thị", "trấn", ..] | ["đặc", "khu", ..] | ["thi", "tran", ..] | ["dac", "khu", ..] => {
            2
        }
        ["t", "t", ..] => 2,
        ["phường" | "xã" | "phuong" | "xa" | "p" | "x" | "tt", ..] => 1,
        _ => 0,
    };
    match tokens.get(skip..) {
        Some(rest) if skip > 0 && !rest.is_empty() => trim_number(fold(&rest.join(" "))),
        _ => trim_number(folded),
    }
}

fn ward_text() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        6 => proptest::sample::select(vec![
            "Phường", "phường", "PHƯỜNG", "Phuong", "P.", "P", "p", "Xã", "xa", "X.", "x",
            "Thị", "trấn", "thi", "tran", "TT.", "tt", "T.", "t", "Đặc", "khu", "dac",
        ]).prop_map(str::to_owned),
        3 => proptest::sample::select(vec![
            "Đúc", "duc", "Liệt", "liet", "Dung", "Hoa", "Lư", "01", "5", "007", "P01",
            "p1", "İ", "ǅ", "Ⓐ", "Σ", "K",
        ]).prop_map(str::to_owned),
        1 => "\\PC{0,6}",
    ];
    let sep = proptest::sample::select(vec![" ", "  ", ".", ". ", "-", ",", "/", "\u{2013}"]);
    proptest::collection::vec((word, sep), 0..5)
        .prop_map(|v| v.into_iter().map(|(w, s)| w + s).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]
    #[test]
    fn fold_ward_equals_its_definition(s in ward_text()) {
        prop_assert_eq!(fold_ward(&s), fold_ward_reference(&s));
    }

    #[test]
    fn fold_ward_equals_its_definition_on_any_text(s in "\\PC{0,30}") {
        prop_assert_eq!(fold_ward(&s), fold_ward_reference(&s));
    }
}

#[test]
fn word_characters_are_unicodes() {
    for c in (0..=0x10_ffff).filter_map(char::from_u32) {
        assert_eq!(
            is_word_char(c),
            c.is_alphanumeric() || is_combining_mark(c),
            "{c:?}"
        );
    }
}

#[test]
fn fold_ward_cases_equal_their_definition() {
    for (raw, _) in FOLD_WARD_CASES {
        assert_eq!(fold_ward(raw), fold_ward_reference(raw), "{raw:?}");
    }
}

#[test]
fn fold_ward_examples() {
    for (raw, want) in FOLD_WARD_CASES {
        assert_eq!(fold_ward(raw), want, "{raw:?}");
    }
    assert_eq!(fold_ward("P. Hoa Lư"), fold_ward("phuong hoa lu"));
}

#[test]
fn fold_ward_reads_decomposed_text_as_composed() {
    // "Phường Đúc" and "Thị trấn Me" typed with combining marks (NFD): not NFC, so
    // composed before the type word is looked at.
    let nfd = "Phu\u{31b}\u{300}o\u{31b}ng \u{110}u\u{301}c";
    assert_eq!(fold_ward(nfd), fold_ward("Phường Đúc"));
    assert_eq!(fold_ward("Thi\u{323} tra\u{302}\u{301}n Me"), "me");
}

#[test]
fn quick_lowercase_is_unicodes_lowercase() {
    let mut answered = 0;
    for c in (0..0x2000).filter_map(char::from_u32) {
        if let Some(l) = quick_lower(c) {
            assert_eq!(
                c.to_lowercase().collect::<Vec<_>>(),
                [l],
                "U+{:04X}",
                c as u32
            );
            answered += 1;
        }
    }
    // ASCII, Latin-1, the Vietnamese letters of Latin Extended-A/B and Additional.
    assert_eq!(answered, 128 + 64 + 48 + 46 + 4 + 90);
    let mut buf = [0u8; WORD_BUF];
    for (word, lower) in [
        ("PHƯỜNG", "phường"),
        ("Xã", "xã"),
        ("ĐẶC", "đặc"),
        ("THỊ", "thị"),
        ("İ", "i\u{307}"),
        ("\u{212a}HU", "khu"),
        ("ΑΘΉΝΑ", "αθήνα"),
        ("ĐƯỜNGDÀIQUÁ", "-"),
    ] {
        assert_eq!(lower_word(word, &mut buf), lower, "{word}");
    }
}

#[test]
fn a_listed_name_as_written_finds_what_folding_it_finds() {
    let index = index();
    assert!(
        index.exact.len() >= PROVINCES.len(),
        "{}",
        index.exact.len()
    );
    for (name, &i) in &index.exact {
        // With a space after it the name is not listed: it takes the folding path.
        let folded = normalize_province(&format!("{name} ")).map(|p| p.code);
        assert_eq!(normalize_province(name).map(|p| p.code), folded, "{name}");
        assert_eq!(Some(PROVINCES[i].code), folded, "{name}");
    }
    for p in PROVINCES.iter() {
        assert_eq!(normalize_province(p.name).map(|f| f.code), Some(p.code));
    }
}

#[test]
fn plain_text_is_nfc_by_its_bytes_as_by_unicodes_quick_check() {
    let plain = |c: char| (c as u32) < 0x300 || ('\u{1e00}'..='\u{1eff}').contains(&c);
    for c in (0..=0x10_ffff).filter_map(char::from_u32) {
        let text = format!("a{c}b");
        assert_eq!(plain_nfc(&text), plain(c), "U+{:04X}", c as u32);
        if plain(c) {
            assert_eq!(
                is_nfc_quick(text.chars()),
                IsNormalized::Yes,
                "U+{:04X}",
                c as u32
            );
            // No combining class either: any string of such characters is in order, so NFC
            // (not only each character on its own).
            assert_eq!(
                unicode_normalization::char::canonical_combining_class(c),
                0,
                "U+{:04X}",
                c as u32
            );
        }
    }
    assert!(plain_nfc("Phường Hoa Lư, Thị trấn Đồng Đăng"));
    assert!(!plain_nfc("Le\u{302}\u{301} Lợi"));
}
