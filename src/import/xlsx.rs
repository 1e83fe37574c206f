//! XLSX exports through calamine: a worksheet as rows of text, with the sheet's row
//! numbers as line numbers (orders: the first sheet with an export's header; settlements:
//! the first sheet). Numbers print without a spurious ".0"; dates print as
//! `YYYY-MM-DD HH:MM:SS` (read as Vietnam's local time like any export time).

use std::io::Cursor;

use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};

use super::table::Row;
use super::ImportError;

/// The most a workbook may unpack to, by its entries' declared sizes: a real export or
/// settlement of 120,000 rows is about 30 MB of sheet XML, and calamine holds every cell
/// (a 1.8 MB file unpacking to 530 MB took 2.2 GB while it was read; reviewer Y1).
pub const MAX_UNPACKED: u64 = 64 * 1024 * 1024;

/// Refuses a workbook that unpacks to more than [`MAX_UNPACKED`] before anything is unpacked.
fn check_unpacked_size(bytes: &[u8]) -> Result<(), ImportError> {
    let unreadable = |e: zip::result::ZipError| ImportError::BadXlsx(e.to_string());
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(unreadable)?;
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(unreadable)?;
        // What calamine unpacks: the sheets and their shared strings (not images).
        let name = entry.name().unwrap_or_default();
        if name.starts_with("xl/worksheets/") || name == "xl/sharedStrings.xml" {
            total = total.saturating_add(entry.size());
        }
    }
    if total > MAX_UNPACKED {
        return Err(ImportError::BadXlsx(format!(
            "it unpacks to {} MB, more than the {} MB a workbook may",
            total / (1024 * 1024),
            MAX_UNPACKED / (1024 * 1024)
        )));
    }
    Ok(())
}

type Book = Xlsx<Cursor<Vec<u8>>>;

fn open(bytes: &[u8]) -> Result<Book, ImportError> {
    check_unpacked_size(bytes)?;
    open_workbook_from_rs(Cursor::new(bytes.to_vec()))
        .map_err(|e: calamine::XlsxError| ImportError::BadXlsx(e.to_string()))
}

/// The first worksheet's rows.
pub(crate) fn read(bytes: &[u8]) -> Result<Vec<Row>, ImportError> {
    sheet_rows(&mut open(bytes)?, 0)
}

/// The rows of the first worksheet whose first non-blank row is an export's header (a
/// workbook may hold a sheet of notes before the orders). A workbook of one sheet gives that
/// sheet, whatever it holds (its header's faults are told as they are); with several and
/// none an export's, the error names them.
pub(crate) fn read_orders(bytes: &[u8]) -> Result<Vec<Row>, ImportError> {
    let mut book = open(bytes)?;
    let names = book.sheet_names();
    if names.len() <= 1 {
        return sheet_rows(&mut book, 0);
    }
    for i in 0..names.len() {
        // A sheet calamine cannot read as cells (a chart sheet) is not the orders'.
        let Ok(rows) = sheet_rows(&mut book, i) else {
            continue;
        };
        let header = rows.iter().find(|r| !r.is_blank());
        if header.is_some_and(|h| super::table::platform_of(&h.cells).is_some()) {
            return Ok(rows);
        }
    }
    Err(ImportError::NoExportSheet {
        sheets: names.join(", "),
    })
}

fn sheet_rows(book: &mut Book, i: usize) -> Result<Vec<Row>, ImportError> {
    let unreadable = ImportError::BadXlsx;
    let range = match book.worksheet_range_at(i) {
        Some(r) => r.map_err(|e| unreadable(e.to_string()))?,
        None => return Err(unreadable("the workbook has no worksheet".into())),
    };
    let first_row = range.start().map_or(0, |(r, _)| r as usize);
    let mut rows = Vec::with_capacity(range.height());
    for (n, cells) in range.rows().enumerate() {
        let mut row = Row {
            line: first_row + n + 1,
            cells: Vec::with_capacity(cells.len()),
            numeric: Vec::with_capacity(cells.len()),
        };
        for c in cells {
            let (text, numeric) = cell_text(c);
            row.cells.push(text);
            row.numeric.push(numeric);
        }
        rows.push(row);
    }
    Ok(rows)
}

fn cell_text(c: &Data) -> (String, bool) {
    match c {
        Data::Empty => (String::new(), false),
        Data::String(s) => (s.clone(), false),
        Data::Int(i) => (i.to_string(), true),
        Data::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                (format!("{}", *f as i64), true)
            } else {
                (f.to_string(), true)
            }
        }
        Data::Bool(b) => (b.to_string(), false),
        Data::DateTime(d) => match d.as_datetime() {
            Some(dt) => (dt.format("%Y-%m-%d %H:%M:%S").to_string(), false),
            None => (d.as_f64().to_string(), true),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => (s.clone(), false),
        Data::Error(e) => (format!("#{e:?}"), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-entry zip whose entry says it unpacks to `declared` bytes (a deflate stream of
    /// nothing: only the declared size is read before refusing).
    fn zip_declaring(declared: u32) -> Vec<u8> {
        let name = b"xl/worksheets/sheet1.xml";
        let data = [0x03u8, 0x00];
        let le16 = |v: u16| v.to_le_bytes();
        let le32 = |v: u32| v.to_le_bytes();
        let name_len = u16::try_from(name.len()).unwrap();
        let data_len = u32::try_from(data.len()).unwrap();
        let mut out = Vec::new();
        out.extend(le32(0x0403_4b50));
        for v in [20, 0, 8, 0, 0] {
            out.extend(le16(v));
        }
        out.extend(le32(0));
        out.extend(le32(data_len));
        out.extend(le32(declared));
        out.extend(le16(name_len));
        out.extend(le16(0));
        out.extend(name);
        out.extend(data);
        let cd_start = u32::try_from(out.len()).unwrap();
        out.extend(le32(0x0201_4b50));
        for v in [20, 20, 0, 8, 0, 0] {
            out.extend(le16(v));
        }
        out.extend(le32(0));
        out.extend(le32(data_len));
        out.extend(le32(declared));
        out.extend(le16(name_len));
        for v in [0, 0, 0, 0] {
            out.extend(le16(v));
        }
        out.extend(le32(0));
        out.extend(le32(0));
        out.extend(name);
        let cd_len = u32::try_from(out.len()).unwrap() - cd_start;
        out.extend(le32(0x0605_4b50));
        for v in [0, 0, 1, 1] {
            out.extend(le16(v));
        }
        out.extend(le32(cd_len));
        out.extend(le32(cd_start));
        out.extend(le16(0));
        out
    }

    /// A workbook of these sheets (name, rows of text cells), entries stored uncompressed.
    fn book(sheets: &[(&str, &[&[&str]])]) -> Vec<u8> {
        use std::io::Write;
        use zip::write::SimpleFileOptions;
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        let ns = "http://schemas.openxmlformats.org";
        let rel = format!("{ns}/officeDocument/2006/relationships");
        let mut files = vec![
            (
                "[Content_Types].xml".to_owned(),
                format!(
                    r#"<?xml version="1.0"?><Types xmlns="{ns}/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>{}</Types>"#,
                    (1..=sheets.len())
                        .map(|i| format!(r#"<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>"#))
                        .collect::<String>()
                ),
            ),
            (
                "_rels/.rels".to_owned(),
                format!(
                    r#"<?xml version="1.0"?><Relationships xmlns="{ns}/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
                ),
            ),
            (
                "xl/workbook.xml".to_owned(),
                format!(
                    r#"<?xml version="1.0"?><workbook xmlns="{ns}/spreadsheetml/2006/main" xmlns:r="{rel}"><sheets>{}</sheets></workbook>"#,
                    sheets
                        .iter()
                        .enumerate()
                        .map(|(i, (name, _))| format!(r#"<sheet name="{name}" sheetId="{}" r:id="rId{}"/>"#, i + 1, i + 1))
                        .collect::<String>()
                ),
            ),
            (
                "xl/_rels/workbook.xml.rels".to_owned(),
                format!(
                    r#"<?xml version="1.0"?><Relationships xmlns="{ns}/package/2006/relationships">{}</Relationships>"#,
                    (1..=sheets.len())
                        .map(|i| format!(r#"<Relationship Id="rId{i}" Type="{rel}/worksheet" Target="worksheets/sheet{i}.xml"/>"#))
                        .collect::<String>()
                ),
            ),
        ];
        for (i, (_, rows)) in sheets.iter().enumerate() {
            let rows: String = rows
                .iter()
                .enumerate()
                .map(|(r, cells)| {
                    let cells: String = cells
                        .iter()
                        .enumerate()
                        .map(|(c, v)| {
                            let col = char::from(b'A' + u8::try_from(c).unwrap());
                            format!(
                                r#"<c r="{col}{}" t="inlineStr"><is><t>{v}</t></is></c>"#,
                                r + 1
                            )
                        })
                        .collect();
                    format!(r#"<row r="{}">{cells}</row>"#, r + 1)
                })
                .collect();
            files.push((
                format!("xl/worksheets/sheet{}.xml", i + 1),
                format!(
                    r#"<?xml version="1.0"?><worksheet xmlns="{ns}/spreadsheetml/2006/main"><sheetData>{rows}</sheetData></worksheet>"#
                ),
            ));
        }
        for (name, text) in files {
            zip.start_file(name, opts).unwrap();
            zip.write_all(text.as_bytes()).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn the_orders_are_read_from_the_first_sheet_with_an_export_header() {
        let notes: &[&[&str]] = &[&["Hướng dẫn"], &["Xuất từ Shopee"]];
        let orders: &[&[&str]] = &[
            &["Mã đơn hàng", "Mã vận đơn", "SKU phân loại hàng"],
            &["261122A1B2C3D4", "", "HONEY-500"],
        ];
        let rows = read_orders(&book(&[("Hướng dẫn", notes), ("orders", orders)])).unwrap();
        assert_eq!(rows[0].cells[0], "Mã đơn hàng");
        assert_eq!(rows[1].cells[2], "HONEY-500");
        // Settlements (and a workbook's first sheet) as before.
        assert_eq!(
            read(&book(&[("a", notes), ("b", orders)])).unwrap()[0].cells[0],
            "Hướng dẫn"
        );
        // One sheet: that sheet, whatever it holds (its header's faults told as they are).
        assert_eq!(read_orders(&book(&[("a", notes)])).unwrap().len(), 2);
        // Several, none an export: the error names them.
        match read_orders(&book(&[("Hướng dẫn", notes), ("Ghi chú", notes)])) {
            Err(ImportError::NoExportSheet { sheets }) => assert_eq!(sheets, "Hướng dẫn, Ghi chú"),
            other => panic!("expected NoExportSheet, got {other:?}"),
        }
    }

    #[test]
    fn a_workbook_unpacking_to_more_than_the_limit_is_refused_before_unpacking() {
        let bomb = zip_declaring(100 * 1024 * 1024);
        match read(&bomb) {
            Err(ImportError::BadXlsx(why)) => assert!(why.contains("unpacks to 100 MB"), "{why}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Under the limit the declared size passes (calamine then finds no workbook in it).
        assert!(check_unpacked_size(&zip_declaring(1024)).is_ok());
    }
}
