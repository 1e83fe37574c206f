//! XLSX exports through calamine: the first worksheet as rows of text, with the sheet's
//! row numbers as line numbers. Numbers print without a spurious ".0"; dates print as
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

pub(crate) fn read(bytes: &[u8]) -> Result<Vec<Row>, ImportError> {
    check_unpacked_size(bytes)?;
    let unreadable = ImportError::BadXlsx;
    let mut book: Xlsx<Cursor<Vec<u8>>> = open_workbook_from_rs(Cursor::new(bytes.to_vec()))
        .map_err(|e: calamine::XlsxError| unreadable(e.to_string()))?;
    let range = match book.worksheet_range_at(0) {
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
