//! Reading orders from what sellers have: JSON lines in the contract's ORDER format,
//! TikTok Shop Open API order JSON, and TikTok Shop / Shopee order exports (CSV or XLSX),
//! mapped into the contract's ORDER (contract §1).
//!
//! Every input row ends up either in an ORDER ([`Mapped`]) or in the list of rows that could
//! not be mapped ([`Unmappable`], with its line number and the reason): nothing is skipped
//! silently (blank lines and a spreadsheet's column-description row excepted). What an
//! ORDER means is checked by the server; this module only maps shapes, so that the server's
//! error (with its field) reaches the seller for anything else.

mod draft;
mod export;
mod jsonl;
pub mod settlement;
mod table;
mod tiktok_api;
pub mod values;
mod xlsx;

use std::collections::HashMap;
use std::path::Path;

pub use table::TablePlatform;

/// An input format. `auto` looks at the file name and content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Auto,
    /// One ORDER (contract §1) per line.
    Jsonl,
    /// TikTok Shop Open API order detail: one order, an array, `{"data":{"orders":[…]}}`,
    /// or one order object per line.
    TiktokJson,
    /// TikTok Shop Seller Center order export.
    TiktokCsv,
    /// Shopee Seller Centre order export.
    ShopeeCsv,
    /// A TikTok Shop or Shopee export saved as XLSX (the first sheet with an export's header;
    /// platform from headers).
    Xlsx,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Jsonl => "jsonl",
            Format::TiktokJson => "tiktok-json",
            Format::TiktokCsv => "tiktok-csv",
            Format::ShopeeCsv => "shopee-csv",
            Format::Xlsx => "xlsx",
        }
    }

    /// Whether a growing file of this format can be followed (`--follow`).
    pub fn can_follow(self) -> bool {
        !matches!(self, Format::Xlsx | Format::Auto)
    }
}

/// Where weights come from: export files rarely carry per-unit weights, and the API never.
/// Per unit, the first that applies: `weights[sku]`, the row's own weight column (an order
/// weight spread evenly over its units), `default_weight_g`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Grams per unit by seller SKU.
    pub weights: HashMap<String, u32>,
    pub default_weight_g: Option<u32>,
}

/// One ORDER read from the input.
#[derive(Debug, Clone)]
pub struct Mapped {
    /// The line (1-based) where the order starts in the input.
    pub line: usize,
    /// The line of its last row: `line` but for an export, whose order spans rows (a row
    /// written late, after the order was sent, is named by this line).
    pub last_line: usize,
    /// Stable across re-reads of a growing input (`--follow` sends each key once).
    pub key: String,
    pub order: serde_json::Value,
    /// For spreadsheet exports: which cell each ORDER field came from, so that a server
    /// error naming a field (`ship_to.province`) can name the column and value instead.
    pub cells: Vec<CellSource>,
}

impl Mapped {
    pub fn order_id(&self) -> Option<&str> {
        self.order.get("order_id").and_then(|v| v.as_str())
    }

    /// The cell an ORDER field (as the server names it: `buyer.phone`, `items[0].qty`) was
    /// read from, if known.
    pub fn cell(&self, field: &str) -> Option<&CellSource> {
        self.cells.iter().find(|c| c.field == field)
    }
}

/// One spreadsheet cell behind an ORDER field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellSource {
    /// The ORDER field, e.g. `ship_to.province`, `items[1].unit_price`.
    pub field: String,
    /// The column's header as written in the file, e.g. `Tỉnh/Thành phố`.
    pub column: String,
    /// The cell's value as written.
    pub value: String,
    /// The file line of the cell's row.
    pub line: usize,
}

/// Input that could not be turned into an ORDER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmappable {
    pub line: usize,
    pub order_id: Option<String>,
    pub reason: String,
}

/// An order the platform says was cancelled (status "Cancelled" / "Đã hủy"): not sent as
/// an ORDER; `livepack push` cancels it if it was stored before (a re-pushed export).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancelled {
    pub line: usize,
    pub order_id: String,
    /// The status as the platform wrote it.
    pub status: String,
}

/// What an input holds.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub orders: Vec<Mapped>,
    pub unmappable: Vec<Unmappable>,
    /// Orders cancelled on the platform (exports and TikTok API JSON).
    pub cancelled: Vec<Cancelled>,
    /// A JSON line `{"type":"end_session"}` was read (`--follow` stops there).
    pub end_marker: bool,
    /// Data rows (or lines) read, blank ones excluded.
    pub rows: usize,
}

/// Why an input cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("cannot tell the input's format: {0} (pass --format)")]
    UnknownFormat(String),
    /// Not JSON, and a header with no column only one platform's export names.
    #[error("neither JSON nor a TikTok Shop or Shopee export header (no column only one of them names): name it with --format tiktok-csv or shopee-csv")]
    NotAnExport,
    /// A `--weights` line whose weight cannot be read (`why`: the importer's reason).
    #[error("{path} line {line}: {why}")]
    BadWeight {
        path: String,
        line: usize,
        why: String,
    },
    #[error("{0}")]
    Unreadable(String),
    /// Nothing but blanks (a broken or cut download).
    #[error("the input is empty")]
    Empty,
    /// Bytes that are not UTF-8 at this offset, on this line (an export saved as cp1258, or
    /// as UTF-16 without its byte order mark).
    #[error("the input is not UTF-8 (line {line}, byte {at}): save the export as \"CSV UTF-8\"")]
    NotUtf8 { at: usize, line: usize },
    /// An XLSX that does not open (cut, or not an XLSX).
    #[error("XLSX: {0}")]
    BadXlsx(String),
    /// A workbook of several sheets, none of them starting with an export's header.
    #[error("no worksheet of the XLSX file starts with a TikTok Shop or Shopee export header (sheets: {sheets}): keep the platform's header row as the sheet's first row")]
    NoExportSheet { sheets: String },
    /// `--format` names a CSV or JSON format, the input is an XLSX workbook.
    #[error("--format {named}, but this file is an XLSX workbook: leave out --format")]
    IsXlsx { named: &'static str },
    /// `--format` names one platform's export, the header is plainly the other's (its order
    /// ids would be read under the other platform's prefix: every order stored again).
    #[error("--format {named}, but the header is a {found} export's")]
    WrongFormat {
        named: &'static str,
        found: &'static str,
    },
    /// `--format` names a JSON format, the input is not JSON (an export read as JSON lines
    /// would be one error per line).
    #[error("--format {named}, but the input is not JSON")]
    NotJson { named: &'static str },
    #[error("the header has no {column} column (looked for: {looked_for})")]
    MissingColumn {
        column: &'static str,
        /// The column as a Vietnamese export writes it.
        column_vi: &'static str,
        looked_for: String,
    },
}

/// Guesses the format from the file name (if any) and the first bytes.
pub fn detect(name: Option<&str>, bytes: &[u8]) -> Result<Format, ImportError> {
    let ext = name
        .and_then(|n| Path::new(n).extension())
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    // A text file named `.xlsx` (a CSV renamed) is read by its content.
    let binary = || {
        let head = &bytes[..bytes.len().min(4096)];
        head.is_empty() || std::str::from_utf8(head).is_err_and(|e| e.error_len().is_some())
    };
    if bytes.starts_with(b"PK\x03\x04") || (ext.as_deref() == Some("xlsx") && binary()) {
        return Ok(Format::Xlsx);
    }
    let text = strip_bom(bytes);
    let first = text.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => Err(ImportError::Empty),
        Some(b'{') | Some(b'[') => Ok(json_flavour(text)),
        Some(_) => {
            let header = table::header_platform(text)?;
            Ok(match header {
                TablePlatform::Tiktok => Format::TiktokCsv,
                TablePlatform::Shopee => Format::ShopeeCsv,
            })
        }
    }
}

/// JSON lines of ORDERs or TikTok API JSON: TikTok's order detail has `line_items` (or
/// a `data` envelope), an ORDER has `items`.
fn json_flavour(text: &[u8]) -> Format {
    let head = &text[..text.len().min(64 * 1024)];
    let s = String::from_utf8_lossy(head);
    if s.contains("\"line_items\"") || s.contains("\"recipient_address\"") {
        Format::TiktokJson
    } else {
        Format::Jsonl
    }
}

pub(crate) fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, ImportError> {
    let text = strip_bom(bytes);
    std::str::from_utf8(text).map_err(|e| ImportError::NotUtf8 {
        at: e.valid_up_to(),
        line: 1 + text[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
    })
}

/// Checks an input against the format the seller named with `--format`: refused when it is
/// empty (a broken download reads as nothing to do otherwise), or when the header is plainly
/// the other platform's export (a Shopee file read as TikTok's would store every order again
/// under `TT-` ids).
pub fn check_named(format: Format, bytes: &[u8]) -> Result<(), ImportError> {
    if strip_bom(bytes).iter().all(u8::is_ascii_whitespace) {
        return Err(ImportError::Empty);
    }
    check_header(format, bytes)
}

/// The header part of [`check_named`]: refused when a named CSV format's header is plainly
/// the other platform's export (an empty or header-less input passes: `--follow` reads a
/// file that is still growing).
pub fn check_header(format: Format, bytes: &[u8]) -> Result<(), ImportError> {
    if format != Format::Xlsx && format != Format::Auto && bytes.starts_with(b"PK\x03\x04") {
        return Err(ImportError::IsXlsx {
            named: format.name(),
        });
    }
    let text = strip_bom(bytes);
    let named = match format {
        Format::TiktokCsv => TablePlatform::Tiktok,
        Format::ShopeeCsv => TablePlatform::Shopee,
        Format::Jsonl | Format::TiktokJson => {
            let first = text.iter().find(|b| !b.is_ascii_whitespace());
            return match first {
                Some(b'{' | b'[') | None => Ok(()),
                Some(_) => Err(ImportError::NotJson {
                    named: format.name(),
                }),
            };
        }
        _ => return Ok(()),
    };
    let (shopee, tiktok) = table::header_markers(text)?;
    let found = match named {
        // A header with Shopee's own columns is Shopee's, "Order ID" beside them or not.
        TablePlatform::Tiktok if shopee => Format::ShopeeCsv,
        TablePlatform::Shopee if tiktok && !shopee => Format::TiktokCsv,
        _ => return Ok(()),
    };
    Err(ImportError::WrongFormat {
        named: format.name(),
        found: found.name(),
    })
}

/// Parses an input. `complete: false` reads a growing input: only whole lines, and for
/// exports not the last order (its rows may still be coming).
pub fn parse(
    format: Format,
    bytes: &[u8],
    opts: &Options,
    complete: bool,
) -> Result<Parsed, ImportError> {
    let format = match format {
        Format::Auto => detect(None, bytes)?,
        f => f,
    };
    let whole = if complete {
        bytes
    } else {
        match bytes.iter().rposition(|&b| b == b'\n') {
            Some(n) => &bytes[..=n],
            None => &[],
        }
    };
    match format {
        Format::Auto => Err(ImportError::UnknownFormat("unresolved".into())),
        Format::Jsonl => Ok(jsonl::parse(utf8(whole)?)),
        Format::TiktokJson => tiktok_api::parse(utf8(whole)?, opts),
        Format::TiktokCsv => export::parse_csv(whole, Some(TablePlatform::Tiktok), opts, complete),
        Format::ShopeeCsv => export::parse_csv(whole, Some(TablePlatform::Shopee), opts, complete),
        Format::Xlsx => export::parse_rows(xlsx::read_orders(bytes)?, None, opts, true),
    }
}

/// Reads a file and parses it whole.
pub fn parse_file(path: &Path, format: Format, opts: &Options) -> Result<Parsed, ImportError> {
    let bytes = read_path(path)?;
    let format = match format {
        Format::Auto => detect(path.to_str(), &bytes)?,
        f => f,
    };
    parse(format, &bytes, opts, true)
}

pub fn read_path(path: &Path) -> Result<Vec<u8>, ImportError> {
    std::fs::read(path)
        .map(from_utf16)
        .map_err(|error| ImportError::Io {
            path: path.display().to_string(),
            error,
        })
}

/// A text file saved as UTF-16 with its byte order mark (what Windows PowerShell 5.1's `>`
/// and `Out-File` write, and Excel's "Unicode Text") as UTF-8; any other bytes as they are.
fn from_utf16(bytes: Vec<u8>) -> Vec<u8> {
    let little = match bytes.get(..2) {
        Some([0xFF, 0xFE]) => true,
        Some([0xFE, 0xFF]) => false,
        _ => return bytes,
    };
    let units: Vec<u16> = bytes[2..]
        .chunks(2)
        .map(|c| match (c, little) {
            ([a, b], true) => u16::from_le_bytes([*a, *b]),
            ([a, b], false) => u16::from_be_bytes([*a, *b]),
            // An odd last byte: not UTF-16 after all.
            _ => 0xD800,
        })
        .collect();
    match String::from_utf16(&units) {
        Ok(text) => text.into_bytes(),
        Err(_) => bytes,
    }
}

/// Reads a SKU weight list: CSV `sku,weight_g` (a header line is optional; extra columns
/// are ignored; `#` starts a comment line).
pub fn load_weights(path: &Path) -> Result<HashMap<String, u32>, ImportError> {
    let bytes = read_path(path)?;
    let text = utf8(&bytes)?;
    let mut out = HashMap::new();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    for (n, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| ImportError::Unreadable(format!("{}: {e}", path.display())))?;
        let sku = rec.get(0).unwrap_or("").trim();
        let grams = rec.get(1).unwrap_or("").trim();
        if sku.is_empty() {
            continue;
        }
        match values::parse_weight(grams, true) {
            Ok(g) => {
                out.insert(sku.to_owned(), g);
            }
            Err(_) if n == 0 => {} // a header line
            Err(e) => {
                return Err(ImportError::BadWeight {
                    path: path.display().to_string(),
                    line: rec.position().map_or(n + 1, |p| p.line() as usize),
                    why: e.to_string(),
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_with_its_mark_is_read_as_utf8_and_a_bad_byte_is_told_by_line() {
        let text = "{\"order_id\":\"TT-1\",\"note\":\"Giao giờ hành chính\"}\r\n";
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(from_utf16(le), text.as_bytes());
        assert_eq!(from_utf16(be), text.as_bytes());
        // Not UTF-16 after all (an odd length, a lone surrogate): as it is.
        assert_eq!(from_utf16(vec![0xFF, 0xFE, b'a']), vec![0xFF, 0xFE, b'a']);
        assert_eq!(
            from_utf16(vec![0xFF, 0xFE, 0x00, 0xD8]),
            vec![0xFF, 0xFE, 0x00, 0xD8]
        );
        assert_eq!(from_utf16(b"plain".to_vec()), b"plain");
        // cp1258 on the third line.
        match utf8(b"a\nb\nNguy\xean\n") {
            Err(ImportError::NotUtf8 { at, line }) => assert_eq!((at, line), (8, 3)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn detects_formats_from_content() {
        let order = br#"{"order_id":"TT-1","items":[]}"#;
        assert_eq!(detect(None, order).unwrap(), Format::Jsonl);
        let tt = br#"{"data":{"orders":[{"id":"1","line_items":[]}]}}"#;
        assert_eq!(detect(Some("x.json"), tt).unwrap(), Format::TiktokJson);
        let csv = "\u{feff}Order ID,Seller SKU,Quantity\r\n".as_bytes();
        assert_eq!(detect(None, csv).unwrap(), Format::TiktokCsv);
        let sp = "Mã đơn hàng,SKU phân loại hàng,Số lượng\n".as_bytes();
        assert_eq!(detect(None, sp).unwrap(), Format::ShopeeCsv);
        // Shopee's export in English (its own column names, beside a generic "Order ID").
        let sp_en = "Order ID,Order Status,SKU Reference No.,Deal Price,Receiver Name,Phone Number,Delivery Address\n".as_bytes();
        assert_eq!(detect(None, sp_en).unwrap(), Format::ShopeeCsv);
        assert!(check_named(Format::ShopeeCsv, sp_en).is_ok());
        assert!(matches!(
            check_named(Format::TiktokCsv, sp_en),
            Err(ImportError::WrongFormat { .. })
        ));
        // TikTok Shop's in Vietnamese: "Mã đơn hàng" (order code) is any platform's word.
        let tt_vi =
            "Mã đơn hàng,Trạng thái đơn hàng,SKU người bán,Số lượng,Người nhận\n".as_bytes();
        assert_eq!(detect(None, tt_vi).unwrap(), Format::TiktokCsv);
        assert_eq!(detect(Some("a.XLSX"), b"").unwrap(), Format::Xlsx);
        // A CSV renamed `.xlsx` is read as what it is.
        assert_eq!(detect(Some("don.xlsx"), tt_vi).unwrap(), Format::TiktokCsv);
        assert_eq!(
            detect(Some("a.xlsx"), b"\xff\xfe\x00").unwrap(),
            Format::Xlsx
        );
        assert!(matches!(detect(None, b"  "), Err(ImportError::Empty)));
        assert!(detect(None, b"a,b,c\n").is_err());
    }

    #[test]
    fn a_named_format_must_fit_the_input() {
        let tt = "Order ID,Seller SKU,Quantity\n1,A,1\n".as_bytes();
        let sp = "\u{feff}Mã đơn hàng,SKU phân loại hàng,Số lượng\n1,A,1\n".as_bytes();
        assert!(check_named(Format::TiktokCsv, tt).is_ok());
        assert!(check_named(Format::ShopeeCsv, sp).is_ok());
        assert!(matches!(
            check_named(Format::TiktokCsv, sp),
            Err(ImportError::WrongFormat {
                named: "tiktok-csv",
                found: "shopee-csv"
            })
        ));
        assert!(matches!(
            check_named(Format::ShopeeCsv, tt),
            Err(ImportError::WrongFormat {
                named: "shopee-csv",
                found: "tiktok-csv"
            })
        ));
        // A header of neither (a hand-made file): the named format reads it as it can.
        assert!(check_named(Format::TiktokCsv, b"a,b\n1,2\n").is_ok());
        // A JSON format named for an export: refused before a line is read.
        assert!(matches!(
            check_named(Format::Jsonl, tt),
            Err(ImportError::NotJson { named: "jsonl" })
        ));
        assert!(check_named(Format::TiktokJson, b" [{\"order_id\":\"1\"}]").is_ok());
        // A CSV or JSON format named for a workbook: told it is one.
        for f in [Format::ShopeeCsv, Format::Jsonl] {
            assert!(
                matches!(
                    check_named(f, b"PK\x03\x04rest"),
                    Err(ImportError::IsXlsx { named }) if named == f.name()
                ),
                "{f:?}"
            );
        }
        assert!(check_named(Format::Xlsx, b"PK\x03\x04rest").is_ok());
        for f in [Format::Jsonl, Format::TiktokCsv, Format::Xlsx] {
            assert!(
                matches!(check_named(f, b""), Err(ImportError::Empty)),
                "{f:?}"
            );
            assert!(matches!(
                check_named(f, b"\xEF\xBB\xBF \n"),
                Err(ImportError::Empty)
            ));
        }
    }
}
