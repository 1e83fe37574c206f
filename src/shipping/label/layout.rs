//! The two label layouts. Coordinates in points, origin top left, y down.
//!
//! Hierarchy, as carriers' own labels: carrier and service on top, then the big barcode, the
//! receiver block in the largest type, the COD (white on black when there is money to
//! collect; an outlined "0 ₫ · prepaid" box when not), then sender, contents, weight, pickup
//! and the QR code of the parcel id.

use krilla::color::luma;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::Document;

use super::codes::{code128, qr, Qr};
use super::text::{clean, fit, fit_size, wrap, Weight, FONTS};
use super::{
    format_phone, format_pickup, format_vnd, format_weight, item_summary, LabelData, LabelError,
    LabelSize,
};

const BLACK: u8 = 0;
const WHITE: u8 = 255;
const GREY: u8 = 90;

/// Quiet zone each side of a Code 128, in modules (the standard asks for 10).
const QUIET: usize = 10;

pub(super) fn page(doc: &mut Document, l: &LabelData, size: LabelSize) -> Result<(), LabelError> {
    let (w, h) = size.points();
    let settings = PageSettings::from_wh(w, h).ok_or(LabelError::Pdf("page size".into()))?;
    // A carrier code Code 128 cannot hold (it should never happen) must not cost the whole
    // wave its labels: the bars then hold the parcel id, the code is still printed.
    let bars = code128(l.barcode_text())
        .or_else(|| code128(&l.parcel_id))
        .ok_or_else(|| LabelError::Barcode(l.parcel_id.clone()))?;
    let qr = qr(&l.parcel_id).ok_or_else(|| LabelError::Barcode(l.parcel_id.clone()))?;
    let mut page = doc.start_page_with(settings);
    let mut surface = page.surface();
    let mut pen = Pen { s: &mut surface };
    match size {
        LabelSize::A6 => a6(&mut pen, l, &bars, &qr, w, h),
        LabelSize::Square80 => square80(&mut pen, l, &bars, &qr, w, h),
    }
    surface.finish();
    page.finish();
    Ok(())
}

struct Pen<'a, 'b> {
    s: &'a mut Surface<'b>,
}

impl Pen<'_, '_> {
    fn fill(&mut self, luma: u8) {
        self.s.set_fill(Some(Fill {
            paint: luma::Color::new(luma).into(),
            ..Default::default()
        }));
        self.s.set_stroke(None);
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, luma: u8) {
        let Some(r) = Rect::from_xywh(x, y, w, h) else {
            return;
        };
        let mut pb = PathBuilder::new();
        pb.push_rect(r);
        if let Some(p) = pb.finish() {
            self.fill(luma);
            self.s.draw_path(&p);
        }
    }

    fn frame(&mut self, x: f32, y: f32, w: f32, h: f32, width: f32) {
        let Some(r) = Rect::from_xywh(x, y, w, h) else {
            return;
        };
        let mut pb = PathBuilder::new();
        pb.push_rect(r);
        if let Some(p) = pb.finish() {
            self.s.set_fill(None);
            self.s.set_stroke(Some(Stroke {
                paint: luma::Color::new(BLACK).into(),
                width,
                ..Default::default()
            }));
            self.s.draw_path(&p);
            self.s.set_stroke(None);
        }
    }

    fn hline(&mut self, x1: f32, x2: f32, y: f32, width: f32) {
        self.rect(x1, y - width / 2.0, x2 - x1, width, BLACK);
    }

    /// Draws `text` (cleaned already) with its left end at `x`; returns its width.
    fn text(
        &mut self,
        x: f32,
        baseline: f32,
        size: f32,
        weight: Weight,
        text: &str,
        luma: u8,
    ) -> f32 {
        if text.is_empty() {
            return 0.0;
        }
        let face = FONTS.face(weight);
        let glyphs = face.glyphs(text);
        let width: f32 = glyphs.iter().map(|g| g.x_advance).sum::<f32>() * size;
        self.fill(luma);
        self.s.draw_glyphs(
            Point::from_xy(x, baseline),
            &glyphs,
            face.pdf.clone(),
            text,
            size,
            false,
        );
        width
    }

    fn text_right(
        &mut self,
        right: f32,
        baseline: f32,
        size: f32,
        weight: Weight,
        text: &str,
        luma: u8,
    ) {
        let w = FONTS.face(weight).width(text, size);
        self.text(right - w, baseline, size, weight, text, luma);
    }

    fn text_center(
        &mut self,
        cx: f32,
        baseline: f32,
        size: f32,
        weight: Weight,
        text: &str,
        luma: u8,
    ) {
        let w = FONTS.face(weight).width(text, size);
        self.text(cx - w / 2.0, baseline, size, weight, text, luma);
    }

    /// Bold `text` centred on `cx`, moved left if it would pass `right`.
    fn caption(&mut self, cx: f32, right: f32, baseline: f32, size: f32, text: &str) {
        let w = FONTS.bold.width(text, size);
        let x = (cx - w / 2.0).min(right - w);
        self.text(x, baseline, size, Weight::Bold, text, BLACK);
    }

    /// `text` at the largest size from `size` down to `min` that fits `max_w`, cut only
    /// when it does not fit even at `min`.
    #[allow(clippy::too_many_arguments)]
    fn shrunk(
        &mut self,
        x: f32,
        baseline: f32,
        size: f32,
        min: f32,
        weight: Weight,
        text: &str,
        max_w: f32,
    ) -> String {
        let text = clean(text);
        let size = fit_size(FONTS.face(weight), &text, size, min, max_w);
        self.fitted(x, baseline, size, weight, &text, max_w)
    }

    /// `text` cut to `max_w` and drawn; returns what was drawn.
    fn fitted(
        &mut self,
        x: f32,
        baseline: f32,
        size: f32,
        weight: Weight,
        text: &str,
        max_w: f32,
    ) -> String {
        let s = fit(FONTS.face(weight), &clean(text), size, max_w);
        self.text(x, baseline, size, weight, &s, BLACK);
        s
    }

    /// Code 128 bars filling `w` (quiet zones included) from `x`, `h` tall.
    fn barcode(&mut self, bars: &[bool], x: f32, y: f32, w: f32, h: f32) {
        let modules = bars.len() + 2 * QUIET;
        let module = w / modules as f32;
        let mut pb = PathBuilder::new();
        let mut i = 0;
        while i < bars.len() {
            if !bars[i] {
                i += 1;
                continue;
            }
            let start = i;
            while i < bars.len() && bars[i] {
                i += 1;
            }
            let bx = x + (QUIET + start) as f32 * module;
            if let Some(r) = Rect::from_xywh(bx, y, (i - start) as f32 * module, h) {
                pb.push_rect(r);
            }
        }
        if let Some(p) = pb.finish() {
            self.fill(BLACK);
            self.s.draw_path(&p);
        }
    }

    /// The QR modules in a `side` square at (`x`, `y`); the caller leaves the quiet zone.
    fn qr(&mut self, q: &Qr, x: f32, y: f32, side: f32) {
        let m = side / q.width as f32;
        let mut pb = PathBuilder::new();
        for row in 0..q.width {
            let mut col = 0;
            while col < q.width {
                if !q.dark[row * q.width + col] {
                    col += 1;
                    continue;
                }
                let start = col;
                while col < q.width && q.dark[row * q.width + col] {
                    col += 1;
                }
                // A hair of overlap between rows so no white seams show at low resolutions.
                if let Some(r) = Rect::from_xywh(
                    x + start as f32 * m,
                    y + row as f32 * m,
                    (col - start) as f32 * m,
                    m + 0.01,
                ) {
                    pb.push_rect(r);
                }
            }
        }
        if let Some(p) = pb.finish() {
            self.fill(BLACK);
            self.s.draw_path(&p);
        }
    }

    /// The `k/n` badge, white on black, right-aligned at `right`; returns its width.
    fn part_badge(&mut self, right: f32, top: f32, h: f32, size: f32, part: (usize, usize)) -> f32 {
        let label = format!("{}/{}", part.0, part.1);
        let tw = FONTS.bold.width(&label, size);
        let w = tw + size * 0.9;
        self.rect(right - w, top, w, h, BLACK);
        self.text_center(
            right - w / 2.0,
            top + h / 2.0 + size * 0.36,
            size,
            Weight::Bold,
            &label,
            WHITE,
        );
        w
    }
}

fn address_line(l: &LabelData) -> String {
    clean(
        &[l.receiver.street.as_str(), l.receiver.ward.as_str()]
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// The receiver's street and ward in the space of `max_lines` lines of `size` points
/// (`lead` apart): at `size` when they fit, else at the largest smaller size (down to 70 %,
/// more lines in the same height) at which they fit, else cut at that smallest size as
/// [`address_lines`] cuts. Returns the size, the line spacing and the lines.
fn address_block(
    l: &LabelData,
    size: f32,
    lead: f32,
    max_w: f32,
    max_lines: usize,
) -> (f32, f32, Vec<String>) {
    let height = lead * max_lines as f32;
    let min = (size * 0.7 * 2.0).round() / 2.0;
    let whole = address_line(l);
    let mut s = size;
    loop {
        let spacing = lead * s / size;
        let n = ((height / spacing) + 0.01).floor() as usize;
        let fits = wrap(&FONTS.regular, &whole, s, max_w, usize::MAX).len() <= n;
        if fits || s <= min {
            return (s, spacing, address_lines(l, s, max_w, n));
        }
        s = (s - 0.5).max(min);
    }
}

/// The receiver's street and ward in at most `max_lines` lines of `max_w` points. When both
/// do not fit, the street is cut ("…"), never the ward: with two-level addresses (since 2025)
/// the ward is what the delivery hinges on.
fn address_lines(l: &LabelData, size: f32, max_w: f32, max_lines: usize) -> Vec<String> {
    let face = &FONTS.regular;
    let whole = address_line(l);
    let lines = wrap(face, &whole, size, max_w, usize::MAX);
    let street = clean(l.receiver.street.trim());
    let ward = clean(l.receiver.ward.trim());
    if lines.len() <= max_lines || street.is_empty() || ward.is_empty() || max_lines < 2 {
        return wrap(face, &whole, size, max_w, max_lines);
    }
    // The ward keeps the last line (as much of it as one line holds); the street the rest.
    let ward_lines = wrap(face, &ward, size, max_w, usize::MAX)
        .len()
        .min(max_lines - 1);
    let mut out = wrap(
        face,
        &format!("{street},"),
        size,
        max_w,
        max_lines - ward_lines,
    );
    out.extend(wrap(face, &ward, size, max_w, ward_lines));
    out
}

fn sender_address(l: &LabelData) -> String {
    clean(
        &[&l.sender.street, &l.sender.ward, &l.sender.province]
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
    )
}

fn prepaid(l: &LabelData) -> bool {
    l.cod <= rust_decimal::Decimal::ZERO
}

/// 100 × 150 mm.
fn a6(p: &mut Pen, l: &LabelData, bars: &[bool], q: &Qr, w: f32, h: f32) {
    let m = 9.0;
    let inner = w - 2.0 * m;
    let right = w - m;

    // Carrier and service; k/n badge on the right.
    let badge = match l.part {
        Some(part) => p.part_badge(right, m, 30.0, 18.0, part) + 6.0,
        None => 0.0,
    };
    p.fitted(m, m + 17.0, 18.0, Weight::Bold, &l.carrier, inner - badge);
    p.fitted(m, m + 29.0, 9.0, Weight::Regular, &l.service, inner - badge);
    p.hline(m, right, 45.0, 1.2);

    // The barcode, as wide as the label, and its text.
    let bar_top = 52.0;
    let bar_h = 66.0;
    p.barcode(bars, m, bar_top, inner, bar_h);
    let code = l.barcode_text();
    p.text_center(
        w / 2.0,
        bar_top + bar_h + 15.0,
        14.0,
        Weight::Bold,
        code,
        BLACK,
    );
    if l.tracking.is_none() {
        p.text_center(
            w / 2.0,
            bar_top + bar_h + 25.0,
            6.5,
            Weight::Regular,
            "chưa đặt vận chuyển · mã kiện (not booked: parcel id)",
            GREY,
        );
    }
    p.hline(m, right, 148.0, 1.2);

    // Receiver: the largest block.
    let mut y = 158.0;
    p.text(m, y, 7.0, Weight::Bold, "NGƯỜI NHẬN / TO", GREY);
    y += 17.0;
    p.shrunk(m, y, 16.0, 9.0, Weight::Bold, &l.receiver.name, inner);
    y += 18.0;
    p.text(
        m,
        y,
        15.0,
        Weight::Bold,
        &format_phone(&l.receiver.phone),
        BLACK,
    );
    y += 15.0;
    let (size, lead, lines) = address_block(l, 10.5, 12.5, inner, 3);
    for line in lines {
        p.text(m, y, size, Weight::Regular, &line, BLACK);
        y += lead;
    }
    // (Room for the capitals' marks of the province below: Ồ, Ố.)
    y += 4.0;
    p.fitted(
        m,
        y,
        14.0,
        Weight::Bold,
        &l.receiver.province.to_uppercase(),
        inner,
    );
    let cod_top = y + 11.0;

    // COD.
    let cod_h = 40.0;
    if prepaid(l) {
        p.frame(m, cod_top, inner, cod_h, 1.5);
        p.text(
            m + 8.0,
            cod_top + 17.0,
            12.0,
            Weight::Bold,
            "KHÔNG THU TIỀN",
            BLACK,
        );
        p.text(
            m + 8.0,
            cod_top + 31.0,
            8.5,
            Weight::Regular,
            "Đã thanh toán · prepaid, collect nothing",
            BLACK,
        );
        p.text_right(
            right - 8.0,
            cod_top + 27.0,
            18.0,
            Weight::Bold,
            &format_vnd(l.cod),
            BLACK,
        );
    } else {
        p.rect(m, cod_top, inner, cod_h, BLACK);
        p.text(
            m + 8.0,
            cod_top + 17.0,
            10.0,
            Weight::Bold,
            "THU HỘ (COD)",
            WHITE,
        );
        p.text(
            m + 8.0,
            cod_top + 30.0,
            7.5,
            Weight::Regular,
            "collect from receiver",
            WHITE,
        );
        // The amount shrinks rather than run over its caption.
        let amount = format_vnd(l.cod);
        let room = inner - 24.0 - FONTS.bold.width("THU HỘ (COD)", 10.0);
        let size = fit_size(&FONTS.bold, &amount, 22.0, 8.0, room);
        p.text_right(
            right - 8.0,
            cod_top + 28.0,
            size,
            Weight::Bold,
            &amount,
            WHITE,
        );
    }

    // Sender.
    let mut y = cod_top + cod_h + 12.0;
    p.text(m, y, 6.5, Weight::Bold, "NGƯỜI GỬI / FROM", GREY);
    y += 10.0;
    let who = format!(
        "{} · {}",
        clean(&l.sender.name),
        format_phone(&l.sender.phone)
    );
    p.fitted(m, y, 8.5, Weight::Bold, &who, inner);
    y += 10.0;
    p.fitted(m, y, 8.0, Weight::Regular, &sender_address(l), inner);

    let rule = y + 6.0;
    p.hline(m, right, rule, 0.6);

    // Contents, weight, pickup on the left; the QR code of the parcel id on the right, with
    // its quiet zone (4 modules) clear of the rule above, the page edge and its caption.
    let caption = h - 6.0;
    let quiet = |side: f32| 4.0 * side / q.width as f32;
    let mut qr_side: f32 = 66.0;
    let room = caption - 6.0 - (rule + 1.0);
    while qr_side > 40.0 && qr_side + 2.0 * quiet(qr_side) > room {
        qr_side -= 2.0;
    }
    let qr_x = w - quiet(qr_side).max(m) - qr_side;
    let qr_y = caption - 6.0 - quiet(qr_side) - qr_side;
    p.qr(q, qr_x, qr_y, qr_side);
    p.caption(qr_x + qr_side / 2.0, right, caption, 6.5, &l.parcel_id);
    let col = qr_x - quiet(qr_side) - m;
    let mut y = rule + 13.0;
    let rows = [
        ("Khối lượng", format_weight(l.weight_g)),
        ("Lấy hàng", format_pickup(l.pickup_at)),
        ("Đơn hàng", l.order_count.to_string()),
    ];
    for (k, v) in rows {
        let kw = p.text(m, y, 7.5, Weight::Regular, &format!("{k}: "), GREY);
        p.fitted(m + kw, y, 8.5, Weight::Bold, &v, col - kw);
        y += 11.0;
    }
    y += 1.0;
    p.text(m, y, 7.0, Weight::Bold, "Nội dung:", GREY);
    y += 9.5;
    let lines = ((h - m - y) / 9.0).floor().max(1.0) as usize;
    for line in wrap(&FONTS.regular, &item_summary(&l.items), 7.5, col, lines) {
        p.text(m, y, 7.5, Weight::Regular, &line, BLACK);
        y += 9.0;
    }
}

/// 80 × 80 mm.
fn square80(p: &mut Pen, l: &LabelData, bars: &[bool], q: &Qr, w: f32, h: f32) {
    let m = 6.0;
    let inner = w - 2.0 * m;
    let right = w - m;

    let badge = match l.part {
        Some(part) => p.part_badge(right, m, 18.0, 11.0, part) + 4.0,
        None => 0.0,
    };
    // The carrier's name on a line of its own (smaller, down to 8.5 pt, before it is cut:
    // "Giao Hàng Tiết Kiệm" was cut beside the service), the service under it.
    let avail = inner - badge;
    let carrier = clean(&l.carrier);
    let size = [11.5, 10.5, 9.5, 8.5]
        .into_iter()
        .find(|s| FONTS.bold.width(&carrier, *s) <= avail)
        .unwrap_or(8.5);
    p.fitted(m, m + 10.5, size, Weight::Bold, &carrier, avail);
    p.fitted(m, m + 18.5, 6.5, Weight::Regular, &l.service, avail);
    p.hline(m, right, 27.0, 0.9);

    let bar_top = 31.0;
    let bar_h = 42.0;
    p.barcode(bars, m, bar_top, inner, bar_h);
    p.text_center(
        w / 2.0,
        bar_top + bar_h + 10.5,
        10.0,
        Weight::Bold,
        l.barcode_text(),
        BLACK,
    );
    p.hline(m, right, 89.0, 0.9);

    let mut y = 102.0;
    p.shrunk(m, y, 13.0, 7.5, Weight::Bold, &l.receiver.name, inner);
    y += 13.5;
    p.text(
        m,
        y,
        12.0,
        Weight::Bold,
        &format_phone(&l.receiver.phone),
        BLACK,
    );
    y += 11.0;
    let (size, lead, lines) = address_block(l, 8.0, 9.0, inner, 2);
    for line in lines {
        p.text(m, y, size, Weight::Regular, &line, BLACK);
        y += lead;
    }
    // (Room for the capitals' marks of the province below: Ồ, Ố.)
    y += 3.0;
    p.fitted(
        m,
        y,
        11.0,
        Weight::Bold,
        &l.receiver.province.to_uppercase(),
        inner,
    );

    // Bottom: COD, sender, weight/pickup, contents on the left; QR on the right (quiet zone
    // of 4 modules kept clear).
    let qr_side = 50.0;
    let quiet = 4.0 * qr_side / q.width as f32;
    let caption = h - 4.0;
    let qr_x = w - quiet.max(m) - qr_side;
    let qr_y = caption - 5.0 - quiet - qr_side;
    p.qr(q, qr_x, qr_y, qr_side);
    p.caption(qr_x + qr_side / 2.0, right, caption, 5.0, &l.parcel_id);
    let col = qr_x - quiet - m;
    // The left column from the bottom up: contents, weight and pickup, sender, COD.
    let items_y = h - m - 1.0;
    let facts_y = items_y - 7.0;
    let from_addr_y = facts_y - 7.5;
    let from_y = from_addr_y - 6.5;
    let cod_h = 25.0;
    let cod_top = (from_y - 8.0 - cod_h).max(y + 5.0);
    if prepaid(l) {
        p.frame(m, cod_top, col, cod_h, 1.2);
        p.text(
            m + 4.0,
            cod_top + 10.5,
            7.0,
            Weight::Bold,
            "KHÔNG THU TIỀN",
            BLACK,
        );
        p.text(
            m + 4.0,
            cod_top + 19.5,
            5.5,
            Weight::Regular,
            "prepaid · collect nothing",
            BLACK,
        );
        p.text_right(
            m + col - 4.0,
            cod_top + 17.0,
            12.0,
            Weight::Bold,
            &format_vnd(l.cod),
            BLACK,
        );
    } else {
        p.rect(m, cod_top, col, cod_h, BLACK);
        p.text(m + 4.0, cod_top + 11.0, 7.0, Weight::Bold, "THU HỘ", WHITE);
        p.text(m + 4.0, cod_top + 19.5, 6.0, Weight::Regular, "COD", WHITE);
        let amount = format_vnd(l.cod);
        let room = col - 12.0 - FONTS.bold.width("THU HỘ", 7.0);
        let size = fit_size(&FONTS.bold, &amount, 14.0, 5.0, room);
        p.text_right(
            m + col - 4.0,
            cod_top + 18.0,
            size,
            Weight::Bold,
            &amount,
            WHITE,
        );
    }
    let who = format!(
        "Gửi: {} · {}",
        clean(&l.sender.name),
        format_phone(&l.sender.phone)
    );
    p.fitted(m, from_y, 5.5, Weight::Bold, &who, col);
    p.fitted(
        m,
        from_addr_y,
        5.5,
        Weight::Regular,
        &sender_address(l),
        col,
    );
    let facts = format!(
        "{} · lấy {}",
        format_weight(l.weight_g),
        format_pickup(l.pickup_at)
    );
    p.fitted(m, facts_y, 6.0, Weight::Bold, &facts, col);
    // The contents' line shares its height with the parcel id under the QR code, which can
    // be wider than the code: it stops short of it (it used to run into it).
    let id_w = FONTS.bold.width(&l.parcel_id, 5.0);
    let id_x = (qr_x + qr_side / 2.0 - id_w / 2.0).min(right - id_w);
    p.fitted(
        m,
        items_y,
        5.5,
        Weight::Regular,
        &item_summary(&l.items),
        col.min(id_x - m - 3.0),
    );
}
