//! Shipping labels as PDF: a pure renderer (label data in, PDF bytes out; no I/O).
//!
//! One page per parcel, in the order given (a wave's or a shipment's pack-list order), at
//! A6 (100×150 mm, the default) or 80×80 mm (small thermal printers). A label shows the
//! carrier and service, the tracking code as a Code 128 barcode with its text (the parcel id
//! before booking), the parcel id as a QR code, the sender (site name, phone, address), the
//! receiver (full name, full phone, street and ward as typed, the post-2025 province), the COD
//! in VND (prepaid shown unmistakably apart), the weight, an item summary, `k/n` when a buyer's
//! orders span n parcels, and the pickup time (Asia/Ho_Chi_Minh).
//!
//! Text is set in DejaVu Sans (embedded, subset) so Vietnamese prints exactly; bars and QR
//! modules are vector rectangles, sharp at any printer resolution. The caller assembles
//! [`LabelData`] (see `shipping::labeling`); nothing here reads Redis or logs: a label is
//! the one place a buyer's full name and phone belong, and they go nowhere else.

mod codes;
mod layout;
pub mod text;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::config::CarrierKind;

pub use codes::{code128, qr, Qr};

/// Paper size of a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LabelSize {
    /// 100 × 150 mm (A6), the usual carrier label.
    #[default]
    A6,
    /// 80 × 80 mm, for small thermal printers.
    Square80,
}

impl LabelSize {
    /// `a6` (default when absent) or `80x80`, case-insensitive.
    pub fn parse(s: Option<&str>) -> Option<LabelSize> {
        match s.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            None | Some("a6") => Some(LabelSize::A6),
            Some("80x80") => Some(LabelSize::Square80),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LabelSize::A6 => "a6",
            LabelSize::Square80 => "80x80",
        }
    }

    /// Width and height in millimetres.
    pub fn mm(self) -> (f32, f32) {
        match self {
            LabelSize::A6 => (100.0, 150.0),
            LabelSize::Square80 => (80.0, 80.0),
        }
    }

    /// Width and height in PDF points (1/72 in).
    pub fn points(self) -> (f32, f32) {
        let (w, h) = self.mm();
        (mm(w), mm(h))
    }
}

/// Millimetres → PDF points.
pub fn mm(v: f32) -> f32 {
    v * 72.0 / 25.4
}

/// A sender or receiver as printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelParty {
    pub name: String,
    pub phone: String,
    pub street: String,
    /// As the buyer typed it (the carrier's driver reads the label).
    pub ward: String,
    /// The province as normalized after 2025 (34 provinces).
    pub province: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelItem {
    pub name: String,
    pub qty: u32,
}

/// Everything one label shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelData {
    pub parcel_id: String,
    /// The carrier's tracking code once booked.
    pub tracking: Option<String>,
    /// The carrier's display name ("Viettel Post").
    pub carrier: String,
    /// The service as shown ("VCN · Chuyển phát nhanh").
    pub service: String,
    pub sender: LabelParty,
    pub receiver: LabelParty,
    /// Money to collect from the receiver, VND; zero = prepaid.
    pub cod: Decimal,
    /// Gross weight (items + packaging), grams.
    pub weight_g: u64,
    pub items: Vec<LabelItem>,
    pub order_count: usize,
    /// `(k, n)`: parcel k of the n this buyer's orders span.
    pub part: Option<(usize, usize)>,
    pub pickup_at: DateTime<Utc>,
}

impl LabelData {
    /// What the Code 128 holds: the tracking code, or the parcel id before booking.
    pub fn barcode_text(&self) -> &str {
        self.tracking.as_deref().unwrap_or(&self.parcel_id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("no label to print")]
    Empty,
    #[error("`{0}` cannot be drawn as a barcode")]
    Barcode(String),
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
}

/// Renders `labels` as one PDF, one page each, in order.
pub fn render(labels: &[LabelData], size: LabelSize) -> Result<Vec<u8>, LabelError> {
    if labels.is_empty() {
        return Err(LabelError::Empty);
    }
    let mut doc = krilla::Document::new();
    for label in labels {
        layout::page(&mut doc, label, size)?;
    }
    doc.set_metadata(
        krilla::metadata::Metadata::new()
            .title(if labels.len() == 1 {
                format!("Nhãn {}", labels[0].parcel_id)
            } else {
                format!("{} nhãn", labels.len())
            })
            .creator("livepack".to_owned()),
    );
    doc.finish().map_err(|e| LabelError::Pdf(format!("{e:?}")))
}

/// The display name of a carrier kind (`[[carriers]] kind`).
pub fn carrier_display_name(kind: CarrierKind) -> String {
    match kind {
        CarrierKind::Viettelpost => "Viettel Post",
        CarrierKind::Ghtk => "Giao Hàng Tiết Kiệm",
        CarrierKind::Ghn => "Giao Hàng Nhanh",
        CarrierKind::Mock => "Demo carrier (mock)",
    }
    .to_owned()
}

/// "VCN · Chuyển phát nhanh": the service code with its name. Viettel Post's public service
/// names first; else the configured rate table's name (without a "(demo rates)" remark).
pub fn service_display(
    kind: Option<CarrierKind>,
    code: &str,
    configured_name: Option<&str>,
) -> String {
    let viettel = matches!(kind, Some(CarrierKind::Viettelpost | CarrierKind::Mock));
    let known = match code {
        "VCN" if viettel => Some("Chuyển phát nhanh"),
        "VTK" if viettel => Some("Tiết kiệm"),
        "VHT" if viettel => Some("Hỏa tốc"),
        _ => None,
    };
    let name = known
        .map(str::to_owned)
        .or_else(|| configured_name.map(|n| n.replace("(demo rates)", "").trim().to_owned()));
    match name.filter(|n| !n.is_empty()) {
        Some(n) if !code.is_empty() => format!("{code} · {n}"),
        Some(n) => n,
        None => code.to_owned(),
    }
}

/// "1.250.000 ₫" (Vietnamese digit grouping).
pub fn format_vnd(v: Decimal) -> String {
    let n = v.round().abs().to_string();
    let mut out = String::new();
    for (i, c) in n.chars().enumerate() {
        if i > 0 && (n.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    let sign = if v.is_sign_negative() && !v.round().is_zero() {
        "-"
    } else {
        ""
    };
    format!("{sign}{out} ₫")
}

/// "850 g" below a kilogram, else "1,45 kg" (Vietnamese decimal comma).
pub fn format_weight(g: u64) -> String {
    if g < 1000 {
        return format!("{g} g");
    }
    let hundredths = (g + 5) / 10;
    let kg = format!("{}.{:02}", hundredths / 100, hundredths % 100);
    let kg = kg
        .trim_end_matches('0')
        .trim_end_matches('.')
        .replace('.', ",");
    format!("{kg} kg")
}

/// "0912 345 678" for a 10-digit Vietnamese mobile, "0229 3888 999" for an 11-digit
/// landline (area code 02xx), else as given.
pub fn format_phone(p: &str) -> String {
    let p = p.trim();
    let digits = p.bytes().all(|b| b.is_ascii_digit());
    if digits && p.len() == 10 {
        format!("{} {} {}", &p[..4], &p[4..7], &p[7..])
    } else if digits && p.len() == 11 && p.starts_with("02") {
        format!("{} {} {}", &p[..4], &p[4..8], &p[8..])
    } else {
        p.to_owned()
    }
}

/// "14:00 02/12/2026" in Asia/Ho_Chi_Minh.
pub fn format_pickup(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::Asia::Ho_Chi_Minh)
        .format("%H:%M %d/%m/%Y")
        .to_string()
}

/// "2× Mật ong rừng 500ml, 1× Trà Shan tuyết".
pub fn item_summary(items: &[LabelItem]) -> String {
    items
        .iter()
        .map(|i| format!("{}× {}", i.qty, text::clean(&i.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
