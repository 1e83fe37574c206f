//! XLSX exports through calamine: the first worksheet as rows of text, with the sheet's
//! row numbers as line numbers. Numbers print without a spurious ".0"; dates print as
//! `YYYY-MM-DD HH:MM:SS` (read as Vietnam's local time like any export time).

use std::io::Cursor;

use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};

use super::table::Row;
use super::ImportError;

pub(crate) fn read(bytes: &[u8]) -> Result<Vec<Row>, ImportError> {
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
