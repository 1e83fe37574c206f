#!/usr/bin/env python3
"""Writes vtp-settlement.xlsx: a made-up Viettel Post style COD settlement export (bảng kê
đối soát) as XLSX, with the standard library only (a minimal workbook of inline strings and
number cells): a title row, the header row, three parcels, a totals row."""
import os
import zipfile
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = [
    ["BẢNG KÊ ĐỐI SOÁT COD - VIETTEL POST"],
    ["STT", "Mã vận đơn", "Tiền thu hộ", "Tổng phí", "Ngày đối soát"],
    [1, "1000000001", 370000, 33000, "05/12/2026"],
    [2, "1000000002", 250000, 22000, "05/12/2026"],
    [3, "1000000003", 0, 15000, "05/12/2026"],
    ["", "Tổng cộng", 620000, 70000, ""],
]


def col(n):
    return "ABCDEFGHIJ"[n]


def cell(ref, v):
    if isinstance(v, (int, float)):
        return f'<c r="{ref}"><v>{v}</v></c>'
    if v == "":
        return ""
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(v)}</t></is></c>'


def sheet():
    rows = []
    for r, values in enumerate(ROWS, start=1):
        cells = "".join(cell(f"{col(c)}{r}", v) for c, v in enumerate(values))
        rows.append(f'<row r="{r}">{cells}</row>')
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'<sheetData>{"".join(rows)}</sheetData></worksheet>')


FILES = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '</Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    '</Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="DoiSoat" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '</Relationships>',
    "xl/worksheets/sheet1.xml": sheet(),
}

if __name__ == "__main__":
    with zipfile.ZipFile(os.path.join(HERE, "vtp-settlement.xlsx"), "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in FILES.items():
            z.writestr(zipfile.ZipInfo(name, (2026, 12, 5, 0, 0, 0)), text.encode("utf-8"))
