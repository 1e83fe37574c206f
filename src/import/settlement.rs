//! Carrier settlement exports (bảng kê đối soát COD), CSV or XLSX as downloaded: one row
//! per parcel with its tracking code, the COD the carrier collected, its fee and the day
//! the money was (or will be) transferred. The format is told by content (an XLSX is a ZIP:
//! `PK\x03\x04`; anything else is read as CSV, `,` `;` or tab separated, UTF-8 with or
//! without BOM). The header row may sit below title rows (the first 30 rows are searched).
//!
//! Headers are matched case- and diacritic-insensitively. Carriers' portals change their
//! export columns without notice and none publishes them, so each column accepts the names
//! the three portals and sellers' own sheets use (README "COD statements" lists them):
//! tracking `Mã vận đơn` (also `Mã đơn hàng`, `Mã đơn GHN`, `Mã đơn GHTK`, `Số hiệu bưu
//! gửi`, `Mã phiếu gửi`, `Tracking`), COD `Tiền thu hộ` (also `Thu hộ`, `COD`, `Tiền COD`,
//! `Số tiền thu hộ`, `Tiền hàng`), fee `Tổng phí` (also `Phí`, `Cước phí`, `Tổng cước`,
//! `Phí vận chuyển`, `Phí giao hàng`, `Phí dịch vụ`, `Fee`), transfer date `Ngày đối soát`
//! (also `Ngày chuyển tiền`, `Ngày thanh toán`, `Ngày chuyển COD`, `Ngày trả tiền`).
//! Tracking and COD are required (in the header and in every parcel's row: an empty COD cell
//! is a bad cell, 0 is written as 0); fee and date optional.
//!
//! A file with any bad row is refused as a whole (nothing half-applied), every error naming
//! its line and column.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

use super::table::Row;
use super::values::parse_vnd;
use crate::domain::address::fold;

/// One parcel's line of a settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementRow {
    /// The line (1-based) in the file (the sheet's row number for XLSX).
    pub line: usize,
    pub tracking: String,
    pub cod: Decimal,
    pub fee: Option<Decimal>,
    pub date: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SCol {
    Tracking,
    Cod,
    Fee,
    Date,
}

impl SCol {
    fn label(self) -> &'static str {
        match self {
            SCol::Tracking => "Mã vận đơn",
            SCol::Cod => "Tiền thu hộ",
            SCol::Fee => "Tổng phí",
            SCol::Date => "Ngày đối soát",
        }
    }

    /// Folded header names, best first.
    fn synonyms(self) -> &'static [&'static str] {
        match self {
            SCol::Tracking => &[
                "ma van don",
                "ma vd",
                "ma don ghn",
                "ma don ghtk",
                "ma don hang ghtk",
                "so hieu buu gui",
                "ma buu gui",
                "ma phieu gui",
                "ma don hang",
                "tracking",
                "tracking code",
                "order code",
            ],
            SCol::Cod => &[
                "tien thu ho",
                "so tien thu ho",
                "tien thu ho cod",
                "thu ho",
                "tien cod",
                "cod",
                "cod amount",
                "tien hang",
            ],
            SCol::Fee => &[
                "tong phi",
                "tong cuoc",
                "tong cuoc phi",
                "cuoc phi",
                "phi",
                "phi van chuyen",
                "phi giao hang",
                "phi dich vu",
                "fee",
                "total fee",
            ],
            SCol::Date => &[
                "ngay doi soat",
                "ngay chuyen tien",
                "ngay thanh toan",
                "ngay chuyen cod",
                "ngay tra tien",
                "transfer date",
            ],
        }
    }
}

const COLS: [SCol; 4] = [SCol::Tracking, SCol::Cod, SCol::Fee, SCol::Date];

/// Why a settlement file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementError {
    #[error("{0}")]
    Unreadable(String),
    #[error(
        "no header row with a {column} column (looked for: {looked_for}) in the first 30 rows"
    )]
    MissingColumn {
        column: &'static str,
        looked_for: String,
    },
    /// Every bad cell (up to 20), each naming its line and column.
    #[error("{}", .0.join("; "))]
    BadRows(Vec<String>),
    #[error("the file has no settlement rows")]
    Empty,
}

/// Reads a settlement export (CSV or XLSX, told by content).
pub fn parse(bytes: &[u8]) -> Result<Vec<SettlementRow>, SettlementError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(SettlementError::Empty);
    }
    if is_multipart(bytes) {
        return Err(SettlementError::Unreadable(
            "this is a multipart form (curl -F), not the file: send the file itself as the body \
             (curl --data-binary @file)"
                .into(),
        ));
    }
    let rows = if bytes.starts_with(b"PK\x03\x04") {
        super::xlsx::read(bytes)
    } else {
        super::table::read_csv(bytes)
    }
    .map_err(|e| SettlementError::Unreadable(e.to_string()))?;
    parse_rows(&rows)
}

/// A `multipart/form-data` body: a boundary line, then a part's `Content-Disposition`.
fn is_multipart(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    text.starts_with("--") && text.contains("content-disposition: form-data")
}

fn find(folded: &[String], col: SCol) -> Option<usize> {
    col.synonyms()
        .iter()
        .find_map(|syn| folded.iter().position(|h| h == syn))
}

fn parse_rows(rows: &[Row]) -> Result<Vec<SettlementRow>, SettlementError> {
    let h = header_row(rows)?;
    let header: Vec<String> = rows[h].cells.iter().map(|c| fold(c)).collect();
    let table = Table {
        header: &rows[h],
        at: COLS.iter().map(|c| find(&header, *c)).collect(),
    };
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for row in &rows[h + 1..] {
        let Some(parsed) = table.parse_row(row, &mut errors) else {
            continue;
        };
        out.extend(parsed);
        if errors.len() >= 20 {
            break;
        }
    }
    if !errors.is_empty() {
        return Err(SettlementError::BadRows(errors));
    }
    if out.is_empty() {
        return Err(SettlementError::Empty);
    }
    Ok(out)
}

/// The header: the first of the first 30 rows naming both the tracking and the COD column.
fn header_row(rows: &[Row]) -> Result<usize, SettlementError> {
    let header_at = rows.iter().take(30).position(|r| {
        let folded: Vec<String> = r.cells.iter().map(|c| fold(c)).collect();
        find(&folded, SCol::Tracking).is_some() && find(&folded, SCol::Cod).is_some()
    });
    let Some(h) = header_at else {
        // Name the first required column missing from the likeliest header (the first row).
        let folded: Vec<String> = rows
            .first()
            .map(|r| r.cells.iter().map(|c| fold(c)).collect())
            .unwrap_or_default();
        let col = if find(&folded, SCol::Tracking).is_none() {
            SCol::Tracking
        } else {
            SCol::Cod
        };
        return Err(SettlementError::MissingColumn {
            column: col.label(),
            looked_for: col.synonyms().join(" | "),
        });
    };
    Ok(h)
}

/// The columns found in the header row: `at[k]` is where `COLS[k]` is, if present.
struct Table<'a> {
    header: &'a Row,
    at: Vec<Option<usize>>,
}

impl Table<'_> {
    /// The column's name as the file spells it (else our label), for error messages.
    fn name(&self, col: SCol) -> String {
        let i = COLS.iter().position(|c| *c == col).and_then(|k| self.at[k]);
        i.and_then(|i| self.header.cells.get(i))
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| col.label().to_owned())
    }

    /// The trimmed cell of `row` in `col` ("" when the column or the cell is missing).
    fn cell(&self, row: &Row, col: SCol) -> String {
        let k = COLS.iter().position(|c| *c == col).unwrap_or(0);
        self.at[k]
            .and_then(|i| row.cells.get(i))
            .map_or(String::new(), |c| c.trim().to_owned())
    }

    /// One row below the header. `None`: not a parcel's row (blank, a total or a note) or a
    /// tracking code that is not one (reported in `errors`), skipped outright; `Some(None)`:
    /// a bad cell, reported in `errors`; `Some(Some(row))`: the parsed row.
    fn parse_row(&self, row: &Row, errors: &mut Vec<String>) -> Option<Option<SettlementRow>> {
        if row.is_blank() {
            return None;
        }
        let tracking = self.cell(row, SCol::Tracking);
        let cod_raw = self.cell(row, SCol::Cod);
        // Totals and notes under the table: no tracking code, or a "Tổng" (total) label.
        if tracking.is_empty() || fold(&tracking).starts_with("tong") {
            return None;
        }
        let mut bad = |col: SCol, why: String| {
            errors.push(format!(
                "line {}, column \"{}\": {why}",
                row.line,
                self.name(col)
            ));
        };
        if tracking.len() > 64 || tracking.chars().any(char::is_control) {
            bad(SCol::Tracking, "not a tracking code".into());
            return None;
        }
        let cod = cod_cell(&cod_raw, &mut bad);
        let fee = fee_cell(&self.cell(row, SCol::Fee), &mut bad);
        let date = date_cell(&self.cell(row, SCol::Date), &mut bad);
        let (Some(cod), Some(fee), Some(date)) = (cod, fee, date) else {
            return Some(None);
        };
        Some(Some(SettlementRow {
            line: row.line,
            tracking,
            cod,
            fee,
            date,
        }))
    }
}

/// The COD amount; `None` when reported bad. An empty cell is bad, not 0: the row would
/// replace a payment recorded earlier (0 is written when nothing was collected).
fn cod_cell(raw: &str, bad: &mut impl FnMut(SCol, String)) -> Option<Decimal> {
    if raw.is_empty() {
        bad(
            SCol::Cod,
            "empty: a COD amount is required (0 when nothing was collected)".into(),
        );
        return None;
    }
    match parse_vnd(raw) {
        Ok(v) => Some(Decimal::from(v)),
        Err(e) => {
            bad(SCol::Cod, e);
            None
        }
    }
}

/// The fee, if any; `None` when reported bad.
fn fee_cell(raw: &str, bad: &mut impl FnMut(SCol, String)) -> Option<Option<Decimal>> {
    if raw.is_empty() {
        return Some(None);
    }
    // A fee printed as a deduction ("-33.000") is the same fee.
    match parse_vnd(raw.trim_start_matches('-').trim()) {
        Ok(v) => Some(Some(Decimal::from(v))),
        Err(e) => {
            bad(SCol::Fee, e);
            None
        }
    }
}

/// The transfer date, if any; `None` when reported bad.
fn date_cell(raw: &str, bad: &mut impl FnMut(SCol, String)) -> Option<Option<NaiveDate>> {
    if raw.is_empty() {
        return Some(None);
    }
    match parse_date(raw) {
        Some(d) => Some(Some(d)),
        None => {
            bad(
                SCol::Date,
                format!("not a date (dd/mm/yyyy or yyyy-mm-dd): {raw:?}"),
            );
            None
        }
    }
}

/// `dd/mm/yyyy`, `dd-mm-yyyy`, `yyyy-mm-dd`, each with an optional time after a space.
/// The year has four digits: `13/12/26` is no date (chrono's `%Y` would read year 26).
fn parse_date(raw: &str) -> Option<NaiveDate> {
    let day = raw.split_whitespace().next()?;
    ["%d/%m/%Y", "%d-%m-%Y", "%Y-%m-%d", "%Y/%m/%d"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(day, f).ok())
        .filter(|d| (1000..=9999).contains(&d.year()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vtp_style_csv_with_a_title_row_and_totals() {
        let csv = "\u{feff}BẢNG KÊ ĐỐI SOÁT COD;;;;\n\
                   STT;Mã vận đơn;Tiền thu hộ;Tổng phí;Ngày đối soát\n\
                   1;1000123;370.000;33.000;05/12/2026\n\
                   2;1000124;\"250,000\";-22.000;2026-12-05 10:00:00\n\
                   ;Tổng;620.000;55.000;\n";
        let rows = parse(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 3);
        assert_eq!(rows[0].tracking, "1000123");
        assert_eq!(rows[0].cod, Decimal::from(370_000));
        assert_eq!(rows[1].fee, Some(Decimal::from(22_000)));
        assert_eq!(rows[1].date, NaiveDate::from_ymd_opt(2026, 12, 5));
    }

    #[test]
    fn an_empty_body_or_a_multipart_form_is_named_as_such() {
        assert_eq!(parse(b""), Err(SettlementError::Empty));
        assert_eq!(parse(b" \r\n"), Err(SettlementError::Empty));
        let form = "--------------------------abc\r\n\
                    Content-Disposition: form-data; name=\"file\"; filename=\"s.csv\"\r\n\
                    Content-Type: text/csv\r\n\r\n\
                    Mã vận đơn,Tiền thu hộ\r\nX1,1000\r\n--------------------------abc--\r\n";
        let err = parse(form.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("multipart form"), "{err}");
    }

    #[test]
    fn a_two_digit_year_is_no_date() {
        for raw in ["13/12/26", "26-12-13", "26/12/13", "13-12-0026"] {
            assert_eq!(parse_date(raw), None, "{raw}");
        }
        assert_eq!(
            parse_date("13/12/2026 08:00"),
            NaiveDate::from_ymd_opt(2026, 12, 13)
        );
        let csv = "Mã vận đơn,Tiền thu hộ,Tổng phí,Ngày đối soát\nX1,360000,1000,13/12/26\n";
        let err = parse(csv.as_bytes()).unwrap_err().to_string();
        assert!(
            err.contains("line 2, column \"Ngày đối soát\": not a date"),
            "{err}"
        );
    }

    #[test]
    fn aliases_of_ghn_and_ghtk_exports() {
        let rows = parse(b"Ma don GHN,COD,Phi dich vu\nGHN1,100000,15000\n").unwrap();
        assert_eq!(rows[0].tracking, "GHN1");
        assert_eq!(rows[0].date, None);
        let rows = parse("Mã đơn GHTK,Thu hộ\nS1.A1.2,0\n".as_bytes()).unwrap();
        assert_eq!(rows[0].cod, Decimal::ZERO);
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let err = parse(
            "Mã vận đơn,Tiền thu hộ,Ngày đối soát\nA1,12x,01/12/2026\nA2,5000,32/12/2026\n"
                .as_bytes(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 2, column \"Tiền thu hộ\""), "{err}");
        assert!(err.contains("line 3, column \"Ngày đối soát\""), "{err}");
        let err = parse(b"a,b\n1,2\n").unwrap_err().to_string();
        assert!(err.contains("Mã vận đơn"), "{err}");
        assert_eq!(
            parse(b"Ma van don,COD\n").unwrap_err(),
            SettlementError::Empty
        );
    }

    #[test]
    fn an_empty_cod_cell_is_a_bad_cell_not_zero() {
        for csv in [
            "Mã vận đơn,Tiền thu hộ,Tổng phí\nA1,370000,33000\nA2,,22000\n",
            "Mã vận đơn,Tiền thu hộ,Tổng phí\nA1,370000,33000\nA2, ,22000\n",
            "Mã vận đơn;Tiền thu hộ\nA1;370000\nA2\n",
        ] {
            let err = parse(csv.as_bytes()).unwrap_err();
            assert!(
                matches!(err, SettlementError::BadRows(_)),
                "{csv:?}: {err:?}"
            );
            let err = err.to_string();
            assert!(
                err.contains("line 3, column \"Tiền thu hộ\": empty"),
                "{err}"
            );
            assert!(!err.contains("line 2"), "{err}");
        }
        // Totals below the table (no tracking code) are still skipped, blanks and all.
        let rows = parse("Mã vận đơn,Tiền thu hộ\nA1,0\n,\nTổng,\n".as_bytes()).unwrap();
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn an_xlsx_export_is_told_by_content() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/examples/vtp-settlement.xlsx"
        );
        let rows = parse(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(rows.len(), 3, "the totals row is not a parcel");
        assert_eq!(rows[0].line, 3);
        assert_eq!(rows[0].tracking, "1000000001");
        assert_eq!(rows[0].cod, Decimal::from(370_000));
        assert_eq!(rows[2].fee, Some(Decimal::from(15_000)));
        assert_eq!(rows[2].date, NaiveDate::from_ymd_opt(2026, 12, 5));
    }
}
