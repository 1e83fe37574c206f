//! Export tables: rows of cells with their line numbers, and the columns of TikTok Shop and
//! Shopee exports found by header name, matched case- and diacritic-insensitively
//! ([`fold`]), in English or Vietnamese.

use super::ImportError;
use crate::domain::address::fold;

/// One row of an export, with the line (1-based) where it starts in the file.
#[derive(Debug, Clone, Default)]
pub(crate) struct Row {
    pub line: usize,
    pub cells: Vec<String>,
    /// Per cell: the spreadsheet stored a number (a phone stored as a number lost its 0).
    pub numeric: Vec<bool>,
}

impl Row {
    pub fn is_blank(&self) -> bool {
        self.cells.iter().all(|c| c.trim().is_empty())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TablePlatform {
    Tiktok,
    Shopee,
}

/// The columns an export may have. Synonyms are folded header names, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Col {
    OrderId,
    Status,
    Sku,
    SkuParent,
    Product,
    Variation,
    Qty,
    UnitPrice,
    LineSubtotal,
    Created,
    Recipient,
    Phone,
    Province,
    District,
    Ward,
    Street,
    Payment,
    ShippingFee,
    Total,
    Note,
    OrderWeightKg,
    UnitWeightKg,
}

pub(crate) const ALL: [Col; 22] = [
    Col::OrderId,
    Col::Status,
    Col::Sku,
    Col::SkuParent,
    Col::Product,
    Col::Variation,
    Col::Qty,
    Col::UnitPrice,
    Col::LineSubtotal,
    Col::Created,
    Col::Recipient,
    Col::Phone,
    Col::Province,
    Col::District,
    Col::Ward,
    Col::Street,
    Col::Payment,
    Col::ShippingFee,
    Col::Total,
    Col::Note,
    Col::OrderWeightKg,
    Col::UnitWeightKg,
];

impl Col {
    pub fn label(self) -> &'static str {
        self.synonyms()[0]
    }

    /// The column as a Vietnamese export writes it (for messages: `synonyms` are folded).
    pub fn shown_vi(self) -> &'static str {
        match self {
            Col::OrderId => "Mã đơn hàng",
            Col::Status => "Trạng thái đơn hàng",
            Col::Sku => "SKU người bán",
            Col::SkuParent => "SKU sản phẩm",
            Col::Product => "Tên sản phẩm",
            Col::Variation => "Tên phân loại hàng",
            Col::Qty => "Số lượng",
            Col::UnitPrice => "Đơn giá",
            Col::LineSubtotal => "Thành tiền",
            Col::Created => "Ngày đặt hàng",
            Col::Recipient => "Tên người nhận",
            Col::Phone => "Số điện thoại",
            Col::Province => "Tỉnh/Thành phố",
            Col::District => "Quận/Huyện",
            Col::Ward => "Phường/Xã",
            Col::Street => "Địa chỉ chi tiết",
            Col::Payment => "Phương thức thanh toán",
            Col::ShippingFee => "Phí vận chuyển",
            Col::Total => "Tổng giá trị đơn hàng",
            Col::Note => "Ghi chú",
            Col::OrderWeightKg => "Tổng cân nặng",
            Col::UnitWeightKg => "Cân nặng sản phẩm",
        }
    }

    pub fn synonyms(self) -> &'static [&'static str] {
        match self {
            Col::OrderId => &["order id", "ma don hang", "id don hang", "ma don"],
            Col::Status => &["order status", "trang thai don hang", "trang thai"],
            Col::Sku => &[
                "seller sku",
                "sku phan loai hang",
                "sku nguoi ban",
                "sku reference no",
                "sku",
            ],
            Col::SkuParent => &["sku san pham", "parent sku reference no"],
            Col::Product => &["product name", "ten san pham", "san pham"],
            Col::Variation => &["variation", "ten phan loai hang", "phan loai hang"],
            Col::Qty => &["quantity", "so luong"],
            Col::UnitPrice => &[
                "sku unit original price",
                "gia uu dai",
                "deal price",
                "unit price",
                "don gia",
                "gia goc",
                "original price",
            ],
            Col::LineSubtotal => &["sku subtotal after discount", "thanh tien"],
            Col::Created => &[
                "created time",
                "ngay dat hang",
                "thoi gian dat hang",
                "thoi gian tao don hang",
                "order created time",
                "order creation date",
                "order time",
            ],
            Col::Recipient => &[
                "recipient",
                "ten nguoi nhan",
                "nguoi nhan",
                "receiver name",
                "buyer name",
            ],
            Col::Phone => &[
                "phone",
                "so dien thoai",
                "sdt",
                "phone number",
                "so dien thoai nguoi nhan",
            ],
            Col::Province => &["province", "tinh thanh pho", "tinh tp", "tinh"],
            Col::District => &["district", "tp quan huyen", "quan huyen", "huyen"],
            Col::Ward => &[
                "ward",
                "commune",
                "villages",
                "phuong xa",
                "xa phuong",
                "phuong",
                "quan",
            ],
            Col::Street => &[
                "detail address",
                "dia chi chi tiet",
                "dia chi nhan hang",
                "delivery address",
                "address",
                "dia chi",
            ],
            Col::Payment => &["payment method", "phuong thuc thanh toan"],
            Col::ShippingFee => &[
                "shipping fee after discount",
                "phi van chuyen ma nguoi mua tra",
                "phi van chuyen du kien",
                "phi van chuyen sau giam gia",
                "buyer paid shipping fee",
                "estimated shipping fee",
                "shipping fee",
                "phi van chuyen",
            ],
            Col::Total => &[
                "order amount",
                "tong so tien nguoi mua thanh toan",
                "tong gia tri don hang vnd",
                "tong gia tri don hang",
                "tong thanh toan",
                "so tien don hang",
                "grand total",
                "total amount",
            ],
            Col::Note => &[
                "buyer message",
                "loi nhan tu nguoi mua",
                "nhan xet tu nguoi mua",
                "remark from buyer",
                "ghi chu",
            ],
            Col::OrderWeightKg => &[
                "weight kg",
                "tong can nang",
                "can nang kg",
                "trong luong kg",
            ],
            Col::UnitWeightKg => &["can nang san pham"],
        }
    }
}

/// Where each known column is (by index), from the header row.
#[derive(Debug, Clone)]
pub(crate) struct Columns {
    at: [Option<usize>; ALL.len()],
    /// The header cells as written in the file.
    names: Vec<String>,
}

impl Columns {
    pub fn new(header: &[String]) -> Columns {
        let folded: Vec<String> = header.iter().map(|h| fold(h)).collect();
        let mut at = [None; ALL.len()];
        for (k, col) in ALL.iter().enumerate() {
            at[k] = col
                .synonyms()
                .iter()
                .find_map(|syn| folded.iter().position(|h| h == syn));
        }
        let names = header
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').trim().to_owned())
            .collect();
        Columns { at, names }
    }

    pub fn has(&self, col: Col) -> bool {
        self.index(col).is_some()
    }

    fn index(&self, col: Col) -> Option<usize> {
        ALL.iter().position(|c| *c == col).and_then(|k| self.at[k])
    }

    /// The trimmed cell of `col` in `row` ("" when the column or cell is missing).
    pub fn get<'a>(&self, row: &'a Row, col: Col) -> &'a str {
        self.index(col)
            .and_then(|i| row.cells.get(i))
            .map_or("", |c| c.trim())
    }

    /// The header of `col` as written in the file (trimmed, BOM dropped).
    pub fn header(&self, col: Col) -> Option<&str> {
        self.index(col)
            .and_then(|i| self.names.get(i))
            .map(String::as_str)
    }

    /// The header of `col` as written in the file, else its usual name.
    pub fn name(&self, col: Col) -> &str {
        self.header(col).unwrap_or(col.label())
    }

    pub fn numeric(&self, row: &Row, col: Col) -> bool {
        self.index(col)
            .and_then(|i| row.numeric.get(i))
            .copied()
            .unwrap_or(false)
    }

    pub fn require(&self, cols: &[Col]) -> Result<(), ImportError> {
        for &col in cols {
            if !self.has(col) {
                return Err(ImportError::MissingColumn {
                    column: col.label(),
                    column_vi: col.shown_vi(),
                    looked_for: col.synonyms().join(" | "),
                });
            }
        }
        Ok(())
    }
}

/// Which platform an export header belongs to.
pub(crate) fn platform_of(header: &[String]) -> Option<TablePlatform> {
    match markers(header) {
        (true, _) => Some(TablePlatform::Shopee),
        (false, true) => Some(TablePlatform::Tiktok),
        (false, false) => None,
    }
}

/// Whether a header has columns only Shopee's export names, and only TikTok Shop's (folded).
fn markers(header: &[String]) -> (bool, bool) {
    let folded: Vec<String> = header.iter().map(|h| fold(h)).collect();
    let has = |names: &[&str]| folded.iter().any(|h| names.contains(&h.as_str()));
    (
        // Columns only Shopee's exports name, in Vietnamese and in English ("Mã đơn hàng",
        // order code, is any platform's word: not a marker).
        has(&[
            "sku phan loai hang",
            "ten nguoi nhan",
            "phi van chuyen du kien",
            "tong gia tri don hang vnd",
            "sku reference no",
            "parent sku reference no",
            "deal price",
            "order creation date",
            "receiver name",
        ]),
        has(&["order id", "seller sku", "id don hang", "sku nguoi ban"]),
    )
}

/// [`markers`] of a CSV's header line: (Shopee's, TikTok Shop's). Only the first line is read.
pub(crate) fn header_markers(text: &[u8]) -> Result<(bool, bool), ImportError> {
    let first = text
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| i + 1);
    let rows = read_csv(&text[..first])?;
    Ok(rows.first().map(|r| markers(&r.cells)).unwrap_or_default())
}

/// The platform of a CSV export, from its header line.
pub(crate) fn header_platform(text: &[u8]) -> Result<TablePlatform, ImportError> {
    let rows = read_csv(text)?;
    let header = rows.first().map(|r| r.cells.clone()).unwrap_or_default();
    platform_of(&header).ok_or(ImportError::NotAnExport)
}

/// The delimiter of a CSV: the most frequent of `,` `;` and tab on the first line
/// (outside quotes); Excel in some locales saves with `;`.
fn delimiter(text: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in text.iter().take_while(|&&b| b != b'\n') {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3).max_by_key(|&i| (counts[i], 3 - i)).unwrap_or(0);
    [b',', b';', b'\t'][best]
}

/// Every record of a CSV (BOM, CRLF and quoted fields handled), the header first.
pub(crate) fn read_csv(bytes: &[u8]) -> Result<Vec<Row>, ImportError> {
    let text = super::utf8(bytes)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter(text.as_bytes()))
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    // Line numbers counted from byte offsets: a quoted field may span lines.
    let (mut at, mut line) = (0usize, 1usize);
    for rec in rdr.records() {
        let rec = rec.map_err(|e| ImportError::Unreadable(format!("CSV: {e}")))?;
        let mut start = rec
            .position()
            .map_or(at, |p| usize::try_from(p.byte()).unwrap_or(at));
        // After a CRLF the reported start is the LF: the record begins past it.
        while matches!(text.as_bytes().get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        if let Some(skipped) = text.as_bytes().get(at..start) {
            line += skipped.iter().filter(|&&b| b == b'\n').count();
            at = start;
        }
        let cells: Vec<String> = rec.iter().map(str::to_owned).collect();
        rows.push(Row {
            line,
            numeric: vec![false; cells.len()],
            cells,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_across_case_diacritics_and_languages() {
        let h: Vec<String> = [
            "\u{feff}ORDER ID",
            "Phone #",
            "SĐT",
            "Tỉnh/Thành phố",
            "TP / Quận / Huyện",
            "Quận",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = Columns::new(&h);
        let row = Row {
            line: 2,
            cells: ["1", " 09 ", "x", "Ninh Bình", "Hoa Lư", "Phường Hoa Lư"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            numeric: vec![],
        };
        assert_eq!(c.get(&row, Col::OrderId), "1");
        assert_eq!(c.get(&row, Col::Phone), "09");
        assert_eq!(c.get(&row, Col::District), "Hoa Lư");
        assert_eq!(c.get(&row, Col::Ward), "Phường Hoa Lư");
        assert_eq!(c.get(&row, Col::Note), "");
        assert!(c.require(&[Col::OrderId, Col::Phone]).is_ok());
        assert!(c.require(&[Col::Sku]).is_err());
    }

    #[test]
    fn csv_with_semicolons_crlf_and_quotes() {
        let rows = read_csv(b"a;b\r\n\"1;2\";\"x\r\ny\"\r\n3;4\r\n").unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].cells, vec!["1;2", "x\r\ny"]);
        assert_eq!(rows[2].line, 4);
    }
}
