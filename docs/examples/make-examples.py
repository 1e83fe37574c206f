#!/usr/bin/env python3
"""Writes the made-up export samples in this folder, byte for byte as the platforms do:

- tiktok-export.csv   TikTok Shop Seller Center export: UTF-8 with BOM, CRLF line endings,
                      English headers, one row per order line;
- shopee-export.csv   Shopee Seller Centre export: UTF-8, LF, Vietnamese headers;
- shopee-export.xlsx  the same kind of Shopee export as XLSX: real date cells, numbers as
                      numbers (a phone stored as a number has lost its leading 0);
- tiktok-export.xlsx  a TikTok export as XLSX, with TikTok's second header row that
                      describes each column.

Odd rows on purpose: quoted commas and quotes, amounts like "185.000" and "250,000 ₫",
rows of one order to fold (the same SKU twice), a pre-2025 address with a district, a
missing phone, a cancelled order. Every name, phone and address is made up.

Run: pip install openpyxl && python3 docs/examples/make-examples.py
"""

import csv
import datetime
import io
import os

from openpyxl import Workbook

HERE = os.path.dirname(os.path.abspath(__file__))

TIKTOK_HEADER = [
    "Order ID", "Order Status", "SKU ID", "Seller SKU", "Product Name", "Variation",
    "Quantity", "SKU Unit Original Price", "SKU Subtotal After Discount",
    "Shipping Fee After Discount", "Order Amount", "Created Time", "Buyer Message",
    "Recipient", "Phone #", "Country", "Province", "District", "Villages",
    "Detail Address", "Payment Method", "Weight(kg)", "Package ID",
]

TIKTOK_ROWS = [
    # One order on three rows: HONEY-500 twice (folded into qty 2) and a tea.
    ["579240001111222201", "To ship", "1729001", "HONEY-500", "Mật ong rừng Tam Điệp", "Chai 500ml",
     "1", "185000", "185000", "30000", "520000", "21/11/2026 20:31:07", "",
     "Nguyễn Thị Lan", "0912345678", "Việt Nam", "Ninh Bình", "", "Phường Hoa Lư",
     "Số 12, ngõ 5, Trần Hưng Đạo", "Cash on delivery", "1.45", "1154332211000001"],
    ["579240001111222201", "To ship", "1729001", "HONEY-500", "Mật ong rừng Tam Điệp", "Chai 500ml",
     "1", "185000", "185000", "30000", "520000", "21/11/2026 20:31:07", "",
     "Nguyễn Thị Lan", "0912345678", "Việt Nam", "Ninh Bình", "", "Phường Hoa Lư",
     "Số 12, ngõ 5, Trần Hưng Đạo", "Cash on delivery", "1.45", "1154332211000001"],
    ["579240001111222201", "To ship", "1729004", "TEA-SHAN-100", "Trà Shan tuyết cổ thụ", "Gói 100g",
     "1", "120000", "120000", "30000", "520000", "21/11/2026 20:31:07", "",
     "Nguyễn Thị Lan", "0912345678", "Việt Nam", "Ninh Bình", "", "Phường Hoa Lư",
     "Số 12, ngõ 5, Trần Hưng Đạo", "Cash on delivery", "1.45", "1154332211000001"],
    # Prepaid, pre-2025 address (district), amounts with thousands dots, quotes in a message.
    ["579240001111222202", "To ship", "1729009", "RICE-ST25-5KG", "Gạo ST25", "Túi 5kg",
     "1", "195.000", "195.000", "35.000", "230.000", "21/11/2026 20:33:45",
     'Gọi trước "15 phút" khi giao',
     "Lê Thị Mai", "0387654321", "Việt Nam", "Nam Định", "Thành phố Nam Định", "Phường Vị Xuyên",
     "45 Hàn Thuyên", "Bank transfer", "5.1", "1154332211000002"],
    # Odd: no phone number.
    ["579240001111222203", "To ship", "1729004", "TEA-SHAN-100", "Trà Shan tuyết cổ thụ", "Gói 100g",
     "2", "120000", "240000", "30000", "270000", "21/11/2026 20:35:12", "",
     "Trần Văn Hùng", "", "Việt Nam", "Hà Nội", "", "Phường Hoàn Kiếm",
     "27 Hàng Bông", "Cash on delivery", "0.3", "1154332211000003"],
    # Odd: cancelled by the buyer.
    ["579240001111222204", "Cancelled", "1729002", "HONEY-1000", "Mật ong rừng Tam Điệp", "Chai 1 lít",
     "1", "340000", "340000", "30000", "370000", "21/11/2026 20:36:40", "",
     "Phạm Minh Tuấn", "0709998877", "Việt Nam", "Đà Nẵng", "", "Phường Hải Châu",
     "5 Bạch Đằng", "Cash on delivery", "1.25", "1154332211000004"],
    # Amounts with a currency sign and commas; a seller discount (520.000 → 480.000).
    ["579240001111222205", "To ship", "1729005", "TEA-LOTUS-200", "Trà sen Tây Hồ", "Hộp 200g",
     "2", "250,000 ₫", "450,000 ₫", "30,000 ₫", "480,000 ₫", "21/11/2026 20:38:02", "",
     "Hoàng Ngọc Hương", "+84 934 111 222", "Việt Nam", "Thành phố Hồ Chí Minh", "", "Phường Bến Thành",
     "88 Lê Lợi, Tòa nhà A, tầng 3", "Cash on delivery", "0.52", "1154332211000005"],
]

SHOPEE_HEADER = [
    "Mã đơn hàng", "Ngày đặt hàng", "Trạng Thái Đơn Hàng", "SKU sản phẩm", "Tên sản phẩm",
    "SKU phân loại hàng", "Tên phân loại hàng", "Giá gốc", "Giá ưu đãi", "Số lượng",
    "Tổng giá trị đơn hàng (VND)", "Phí vận chuyển (dự kiến)", "Tên Người nhận",
    "Số điện thoại", "Tỉnh/Thành phố", "TP / Quận / Huyện", "Quận", "Địa chỉ nhận hàng",
    "Phương thức thanh toán", "Nhận xét từ Người mua", "Cân nặng sản phẩm",
]

SHOPEE_ROWS = [
    ["261121K8M2P4QX", "2026-11-21 20:40", "Chờ lấy hàng", "HONEY", "Mật ong rừng Tam Điệp",
     "HONEY-500", "Chai 500ml", "199.000", "185.000", "2", "520.000", "30.000",
     "Đỗ Thị Hằng", "0987 654 321", "Hà Nội", "", "Phường Hoàn Kiếm",
     "Số 8, phố Hàng Bông, Phường Hoàn Kiếm, Hà Nội", "Thanh toán khi nhận hàng",
     "Giao giờ hành chính", "0.65"],
    ["261121K8M2P4QX", "2026-11-21 20:40", "Chờ lấy hàng", "TEA", "Trà Shan tuyết cổ thụ",
     "TEA-SHAN-100", "Gói 100g", "120.000", "120.000", "1", "520.000", "30.000",
     "Đỗ Thị Hằng", "0987 654 321", "Hà Nội", "", "Phường Hoàn Kiếm",
     "Số 8, phố Hàng Bông, Phường Hoàn Kiếm, Hà Nội", "Thanh toán khi nhận hàng",
     "Giao giờ hành chính", "0.15"],
    # No variation SKU: the product SKU is used. Prepaid.
    ["261121L2N5R7TZ", "2026-11-21 20:44", "Chờ lấy hàng", "FISH-DRIED-500", "Cá cơm khô 500g",
     "", "", "160.000", "160.000", "1", "185.000", "25.000",
     "Ngô Văn Bình", "0358 112 233", "Cần Thơ", "", "Phường Ninh Kiều",
     "40 Hai Bà Trưng", "Ví ShopeePay", "", "0.55"],
    # Odd: no phone number.
    ["261121M4P6S8UV", "2026-11-21 20:47", "Chờ lấy hàng", "HONEY", "Mật ong rừng Tam Điệp",
     "HONEY-500", "Chai 500ml", "199.000", "185.000", "1", "215.000", "30.000",
     "Trịnh Thu Trang", "", "Thanh Hóa", "", "Phường Hạc Thành",
     "3 Lê Hoàn", "Thanh toán khi nhận hàng", "", "0.65"],
    # Odd: cancelled.
    ["261121N6Q8T1WX", "2026-11-21 20:49", "Đã hủy", "TEA", "Trà sen Tây Hồ",
     "TEA-LOTUS-200", "Hộp 200g", "250.000", "250.000", "1", "280.000", "30.000",
     "Mai Anh Tuấn", "0822 334 455", "Đà Nẵng", "", "Phường Hải Châu",
     "9 Bạch Đằng", "Thanh toán khi nhận hàng", "", "0.26"],
    # Pre-2025 address: district in "TP / Quận / Huyện", ward in "Quận" (Shopee's labels).
    ["261121P8R1V3YZ", "2026-11-21 20:52", "Chờ lấy hàng", "HONEY", "Mật ong rừng Tam Điệp",
     "HONEY-1000", "Chai 1 lít", "340.000", "340.000", "1", "370.000", "30.000",
     "Vũ Văn Dũng", "0868 123 456", "Hà Nam", "Thành phố Phủ Lý", "Phường Lương Khánh Thiện",
     "19 Biên Hòa, Phường Lương Khánh Thiện, Thành phố Phủ Lý, Hà Nam",
     "Thanh toán khi nhận hàng", "Gọi trước khi giao", "1.25"],
]


def write_csv(name, header, rows, bom, newline):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=newline, quoting=csv.QUOTE_MINIMAL)
    w.writerow(header)
    w.writerows(rows)
    data = buf.getvalue().encode("utf-8")
    with open(os.path.join(HERE, name), "wb") as f:
        f.write((b"\xef\xbb\xbf" if bom else b"") + data)


def shopee_xlsx():
    wb = Workbook()
    ws = wb.active
    ws.title = "orders"
    header = list(SHOPEE_HEADER)
    header[13] = "SỐ ĐIỆN THOẠI"  # headers differ in case: matched all the same
    ws.append(header)
    rows = [
        ("261122A1B2C3D4", datetime.datetime(2026, 11, 22, 9, 5, 0), "HONEY-500", 2, 185000,
         400000, 30000, "Lý Thị Ngọc", 912345678, "Ninh Bình", "Phường Hoa Lư",
         "Số 3, đường Lê Thái Tổ", "Thanh toán khi nhận hàng", 0.65),
        ("261122E5F6G7H8", datetime.datetime(2026, 11, 22, 9, 12, 30), "RICE-ST25-5KG", 1, 195000,
         225000, 30000, "Cao Văn Lâm", "0399887766", "Hải Phòng", "Phường Hồng Bàng",
         "12 Điện Biên Phủ", "Ví ShopeePay", 5.1),
        # Odd: no phone number.
        ("261122J9K1L2M3", datetime.datetime(2026, 11, 22, 9, 20, 0), "TEA-SHAN-100", 1, 120000,
         150000, 30000, "Tạ Thị Yến", None, "Bắc Ninh", "Phường Kinh Bắc",
         "7 Nguyễn Đăng Đạo", "Thanh toán khi nhận hàng", 0.15),
    ]
    for (oid, when, sku, qty, price, total, fee, name, phone, prov, ward, street, pay, kg) in rows:
        row = [""] * len(header)
        row[0], row[1], row[2] = oid, when, "Chờ lấy hàng"
        row[3], row[4], row[5] = sku, "Sản phẩm " + sku, sku
        row[7], row[8], row[9] = price, price, qty
        row[10], row[11], row[12] = total, fee, name
        row[13], row[14], row[16], row[17] = phone, prov, ward, street
        row[18], row[20] = pay, kg
        ws.append(row)
    ws.cell(row=2, column=2).number_format = "yyyy-mm-dd hh:mm"
    wb.save(os.path.join(HERE, "shopee-export.xlsx"))


def tiktok_xlsx():
    wb = Workbook()
    ws = wb.active
    ws.title = "OrderSKUList"
    ws.append(TIKTOK_HEADER)
    ws.append(["Platform unique order ID.", "Order status.", "Platform SKU ID.",
               "Seller SKU.", "Product name.", "Variation.", "Quantity of the SKU.",
               "Unit price before discounts.", "Subtotal after discounts.",
               "Shipping fee paid by the buyer.", "Total the buyer pays.",
               "Order creation time.", "Buyer message.", "Recipient name.",
               "Recipient phone.", "Country.", "Province.", "District.", "Ward.",
               "Detail address.", "Payment method.", "Package weight.", "Package ID."])
    for r in TIKTOK_ROWS[:4]:
        ws.append(r)
    wb.save(os.path.join(HERE, "tiktok-export.xlsx"))


if __name__ == "__main__":
    write_csv("tiktok-export.csv", TIKTOK_HEADER, TIKTOK_ROWS, bom=True, newline="\r\n")
    write_csv("shopee-export.csv", SHOPEE_HEADER, SHOPEE_ROWS, bom=False, newline="\n")
    shopee_xlsx()
    tiktok_xlsx()
