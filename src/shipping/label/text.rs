//! Text for labels: the embedded DejaVu Sans fonts, glyph lookup and widths.
//!
//! Labels hold Latin text with Vietnamese diacritics only, so one glyph per character (after
//! NFC normalization) is exact: DejaVu Sans has every precomposed Vietnamese letter. That
//! spares a text shaper (the ones krilla offers pull unmaintained crates). Each glyph keeps
//! the byte range of its character, so the PDF's ToUnicode map gives back the exact text
//! (`pdftotext`, copy/paste, screen readers).

use std::ops::Range;
use std::sync::LazyLock;

use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::charmap::Charmap;
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::GlyphMetrics;
use skrifa::{FontRef, MetadataProvider};
use unicode_normalization::UnicodeNormalization;

static REGULAR_TTF: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
static BOLD_TTF: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf");

/// Regular or bold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    Regular,
    Bold,
}

/// One font: what krilla embeds, and what we measure with.
pub struct Face {
    pub pdf: Font,
    charmap: Charmap<'static>,
    metrics: GlyphMetrics<'static>,
    units_per_em: f32,
}

impl Face {
    fn load(bytes: &'static [u8]) -> Face {
        // Both files are compiled in and checked by the unit tests: a failure here is a
        // build defect, not a run-time condition.
        let font = FontRef::new(bytes).expect("embedded label font parses");
        let metrics = font.glyph_metrics(Size::unscaled(), LocationRef::default());
        let units_per_em = f32::from(
            font.metrics(Size::unscaled(), LocationRef::default())
                .units_per_em,
        );
        let pdf = Font::new(bytes.into(), 0).expect("embedded label font loads");
        Face {
            pdf,
            charmap: font.charmap(),
            metrics,
            units_per_em,
        }
    }

    fn glyph(&self, c: char) -> Option<(u32, f32)> {
        let gid = self.charmap.map(c)?;
        let adv = self.metrics.advance_width(gid).unwrap_or(0.0) / self.units_per_em;
        Some((gid.to_u32(), adv))
    }

    /// Glyphs for `text` (already NFC), advances normalized to the em.
    pub fn glyphs(&self, text: &str) -> Vec<KrillaGlyph> {
        let mut out = Vec::with_capacity(text.len());
        for (i, c) in text.char_indices() {
            let range: Range<usize> = i..i + c.len_utf8();
            match self.glyph(c) {
                Some((gid, adv)) => out.push(glyph(gid, adv, range)),
                None => {
                    // Not in the font as one glyph: its decomposition (base letter and
                    // combining marks, zero-width), else the missing-glyph box.
                    let parts: Vec<(u32, f32)> = c.nfd().filter_map(|p| self.glyph(p)).collect();
                    if parts.is_empty() {
                        out.push(glyph(0, 0.5, range));
                    } else {
                        for (gid, adv) in parts {
                            out.push(glyph(gid, adv, range.clone()));
                        }
                    }
                }
            }
        }
        out
    }

    /// Width of `text` at `size` points.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        self.glyphs(text).iter().map(|g| g.x_advance).sum::<f32>() * size
    }

    /// Whether every character of `text` has its own glyph.
    pub fn covers(&self, text: &str) -> bool {
        text.chars().all(|c| self.glyph(c).is_some())
    }
}

fn glyph(gid: u32, adv: f32, range: Range<usize>) -> KrillaGlyph {
    KrillaGlyph::new(GlyphId::new(gid), adv, 0.0, 0.0, 0.0, range, None)
}

pub struct Fonts {
    pub regular: Face,
    pub bold: Face,
}

impl Fonts {
    pub fn face(&self, w: Weight) -> &Face {
        match w {
            Weight::Regular => &self.regular,
            Weight::Bold => &self.bold,
        }
    }
}

pub static FONTS: LazyLock<Fonts> = LazyLock::new(|| Fonts {
    regular: Face::load(REGULAR_TTF),
    bold: Face::load(BOLD_TTF),
});

/// NFC, control characters dropped, runs of whitespace made one space, trimmed: what a label
/// prints of a typed string.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut gap = false;
    for c in s.nfc() {
        if c.is_whitespace() {
            gap = !out.is_empty();
            continue;
        }
        if c.is_control() {
            continue;
        }
        if gap {
            out.push(' ');
            gap = false;
        }
        out.push(c);
    }
    out
}

/// The largest size from `size` down to `min` (in half points) at which `text` fits `max_w`
/// points; `min` when none does. Text that a label must show whole (a receiver's name, a COD
/// amount) shrinks before it is ever cut.
pub fn fit_size(face: &Face, text: &str, size: f32, min: f32, max_w: f32) -> f32 {
    let mut s = size;
    while s > min && face.width(text, s) > max_w {
        s = (s - 0.5).max(min);
    }
    s
}

/// `text` cut to fit `max_w` points at `size`, ending in "…" when cut.
pub fn fit(face: &Face, text: &str, size: f32, max_w: f32) -> String {
    if face.width(text, size) <= max_w {
        return text.to_owned();
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let s: String = chars.iter().collect::<String>().trim_end().to_owned() + "…";
        if face.width(&s, size) <= max_w {
            return s;
        }
    }
    String::new()
}

/// `text` broken into at most `max_lines` lines of `max_w` points at words; the last line
/// is cut with "…" when the text does not fit.
pub fn wrap(face: &Face, text: &str, size: f32, max_w: f32, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let candidate = if cur.is_empty() {
            w.to_owned()
        } else {
            format!("{cur} {w}")
        };
        if face.width(&candidate, size) <= max_w {
            cur = candidate;
            i += 1;
            continue;
        }
        if cur.is_empty() {
            // One word wider than the line: cut it.
            cur = fit(face, w, size, max_w);
            i += 1;
        }
        if lines.len() + 1 == max_lines {
            let rest = std::iter::once(cur.as_str())
                .chain(words[i..].iter().copied())
                .collect::<Vec<_>>()
                .join(" ");
            lines.push(fit(face, &rest, size, max_w));
            return lines;
        }
        lines.push(std::mem::take(&mut cur));
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIETNAMESE: &str = "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợ\
        pqrstuùúủũụưừứửữựvxyỳýỷỹỵ";

    #[test]
    fn both_fonts_cover_every_vietnamese_letter_and_the_dong_sign() {
        let upper: String = VIETNAMESE.to_uppercase();
        for face in [&FONTS.regular, &FONTS.bold] {
            assert!(face.covers(VIETNAMESE));
            assert!(face.covers(&upper));
            assert!(face.covers("₫ 0123456789 /·×–…"));
        }
    }

    #[test]
    fn glyph_ranges_cover_the_text_once() {
        let text = clean("Nguyễn Thị Lan");
        let glyphs = FONTS.regular.glyphs(&text);
        assert_eq!(glyphs.len(), text.chars().count());
        let mut end = 0;
        for g in &glyphs {
            assert_eq!(g.text_range.start, end);
            end = g.text_range.end;
        }
        assert_eq!(end, text.len());
    }

    #[test]
    fn clean_composes_and_collapses() {
        // "ễ" typed decomposed (e + circumflex + tilde) comes out as one code point.
        assert_eq!(clean("  Nguye\u{302}\u{303}n \n\tThị  "), "Nguyễn Thị");
        assert_eq!(clean("a\u{0}b"), "ab");
    }

    #[test]
    fn fit_size_shrinks_to_the_width_down_to_its_floor() {
        let face = &FONTS.bold;
        let name = "Công Tôn Nữ Thị Hoàng Phương Thảo";
        let s = fit_size(face, name, 16.0, 9.0, 265.0);
        assert!((9.0..16.0).contains(&s), "{s}");
        assert!(face.width(name, s) <= 265.0);
        assert_eq!(fit_size(face, "Lan", 16.0, 9.0, 265.0), 16.0);
        assert_eq!(fit_size(face, &"x".repeat(500), 16.0, 9.0, 265.0), 9.0);
    }

    #[test]
    fn fit_and_wrap_stay_inside_the_width() {
        let face = &FONTS.regular;
        let long = "Số 12 ngõ 34 đường Trần Hưng Đạo, tổ dân phố Đông Thành, gần chợ Rồng";
        let cut = fit(face, long, 10.0, 100.0);
        assert!(cut.ends_with('…') && face.width(&cut, 10.0) <= 100.0);
        assert_eq!(fit(face, "ngắn", 10.0, 100.0), "ngắn");
        let lines = wrap(face, long, 10.0, 120.0, 2);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| face.width(l, 10.0) <= 120.0));
        assert!(lines[1].ends_with('…'));
        let all = wrap(face, long, 10.0, 1000.0, 3);
        assert_eq!(all, vec![long.to_owned()]);
    }
}
