//! Labels end to end on real Redis: orders → waves → parcels → PDF labels, read back like a
//! person and a scanner would: Debian's `pdftotext` for the Vietnamese text, `pdftoppm -r 300`
//! then `zbarimg` for the Code 128 (tracking code, or the parcel id before booking) and the
//! QR (parcel id), at A6 and 80×80. Then booking with a local server speaking Viettel Post's
//! partner API, and `?source=carrier` (its printing API) with its failures.
//!
//! The tools are required: a missing one fails the test with the install line.

use crate::common;
use crate::fake_vtp;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::process::Command;

use common::*;
use fake_vtp::{FakeVtp, PrintFault};
use livepack::store::keys;
use serde_json::{json, Value};

const SECRET: &str = "vtp-webhook-secret-for-label-tests";

fn config(redis: &str, vtp: &FakeVtp) -> livepack::Config {
    let more = format!(
        r#"print_url = "{print}"
retry_base_ms = 50
book_before_pickup_minutes = 0
[[carriers.services]]
code = "VCN"
name = "Chuyển phát nhanh (demo rates)"
first_weight_g = 500
step_g = 500
same_province = {{ first = 16500, step = 2500 }}
same_region = {{ first = 25000, step = 4000 }}
other_region = {{ first = 32000, step = 5000 }}
max_weight_g = 30000
max_cod = 500000
"#,
        print = vtp.print_url(),
    );
    let extra = format!(
        "[planner]\nenabled = true\n{}",
        vtp_carrier_toml(&vtp.base_url(), SECRET, &more)
    );
    test_config(redis, &extra)
}

struct Buyer {
    name: &'static str,
    phone: &'static str,
    province: &'static str,
    /// What the label must print as the province (post-2025).
    province_now: &'static str,
    ward: &'static str,
    street: &'static str,
}
impl Buyer {
    /// `[name, phone]`, `[province as typed, province printed]`, `[ward, street]`.
    const fn new(
        who: [&'static str; 2],
        province: [&'static str; 2],
        at: [&'static str; 2],
    ) -> Self {
        let ([name, phone], [province, province_now], [ward, street]) = (who, province, at);
        Buyer {
            name,
            phone,
            province,
            province_now,
            ward,
            street,
        }
    }
}

const DUONG: Buyer = Buyer::new(
    ["Nguyễn Thị Thuỳ Dương", "0912345678"],
    ["Hà Nam", "NINH BÌNH"],
    ["Phường Lê Hồng Phong", "Số 18 ngõ 42 Trần Hưng Đạo"],
);
const DUC: Buyer = Buyer::new(
    ["Trần Văn Đức", "0987654321"],
    ["Thành phố Hồ Chí Minh", "HỒ CHÍ MINH"],
    ["Phường Bến Thành", "12 Lê Lợi"],
);
const NHUNG: Buyer = Buyer::new(
    ["Lê Thị Hồng Nhung", "0356789012"],
    ["Hải Dương", "HẢI PHÒNG"],
    ["Xã Thanh Hải", "Thôn Đông Phan, đường 390"],
);
const VIET: Buyer = Buyer::new(
    ["Phạm Quốc Việt", "0901234567"],
    ["Ninh Bình", "NINH BÌNH"],
    ["Phường Hoa Lư", "25 Đinh Tiên Hoàng"],
);

fn order(id: &str, b: &Buyer, sku: &str, name: &str, qty: u64, price: u64, prepaid: bool) -> Value {
    let fee = 30_000u64;
    let cod = if prepaid { 0 } else { qty * price + fee };
    json!({
        "order_id": id, "platform": "tiktok", "placed_at": placed_at_minutes_ago(5),
        "buyer": { "name": b.name, "phone": b.phone },
        "ship_to": { "province": b.province, "ward": b.ward, "street": b.street },
        "items": [ { "sku": sku, "name": name, "qty": qty, "unit_price": price.to_string(), "weight_g": 650 } ],
        "cod_amount": cod.to_string(), "shipping_fee": fee.to_string()
    })
}

fn orders() -> Vec<Value> {
    vec![
        // Three orders of 400.000 ₫ COD from one buyer: over the 500.000 ₫ COD limit
        // together, so three parcels (1/3, 2/3, 3/3).
        order(
            "L-1",
            &DUONG,
            "HONEY-500",
            "Mật ong rừng 500ml",
            2,
            185_000,
            false,
        ),
        order(
            "L-2",
            &DUONG,
            "HONEY-500",
            "Mật ong rừng 500ml",
            2,
            185_000,
            false,
        ),
        order(
            "L-3",
            &DUONG,
            "HONEY-500",
            "Mật ong rừng 500ml",
            2,
            185_000,
            false,
        ),
        // Prepaid.
        order(
            "L-4",
            &DUC,
            "TEA-SHAN-100",
            "Trà Shan tuyết cổ thụ",
            1,
            250_000,
            true,
        ),
        order(
            "L-5",
            &NHUNG,
            "HONEY-500",
            "Mật ong rừng 500ml",
            1,
            185_000,
            false,
        ),
        // Cancelled after waving: its parcel gets no label.
        order(
            "L-6",
            &VIET,
            "HONEY-500",
            "Mật ong rừng 500ml",
            1,
            185_000,
            false,
        ),
    ]
}

async fn ingest(app: &TestApp, session: &str, orders: Vec<Value>) {
    for msg in push_session(app, TOKEN_A, session, &orders, orders.len()).await {
        if let Some(results) = msg["results"].as_array() {
            assert!(results.iter().all(|r| r["status"] == "accepted"), "{msg}");
        }
    }
}

struct Resp {
    status: u16,
    source: Option<String>,
    content_type: String,
    body: Vec<u8>,
}

async fn get(addr: &str, path: &str, token: Option<&str>) -> Resp {
    let mut req = reqwest::Client::new().get(format!("http://{addr}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let source = header("x-label-source");
    let content_type = header("content-type").unwrap_or_default();
    Resp {
        status: resp.status().as_u16(),
        source,
        content_type,
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

async fn get_json(addr: &str, path: &str) -> Value {
    let r = get(addr, path, Some(OPERATOR)).await;
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    serde_json::from_slice(&r.body).unwrap()
}

async fn pdf(addr: &str, path: &str) -> Vec<u8> {
    let r = get(addr, path, Some(OPERATOR)).await;
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.content_type, "application/pdf", "{path}");
    assert!(r.body.starts_with(b"%PDF-"), "{path}");
    r.body
}

fn dates() -> Vec<String> {
    (0..3)
        .map(|d| {
            (chrono::Utc::now().with_timezone(&chrono_tz::Asia::Ho_Chi_Minh)
                + chrono::Duration::days(d))
            .format("%Y-%m-%d")
            .to_string()
        })
        .collect()
}

/// Runs a poppler/zbar tool, failing clearly when it is missing.
fn run(tool: &str, args: &[&str]) -> std::process::Output {
    match Command::new(tool).args(args).output() {
        Ok(o) => o,
        Err(e) => panic!(
            "`{tool}` could not run ({e}): labels are checked with Debian's poppler-utils and \
             zbar-tools — apt-get install -y poppler-utils zbar-tools (scripts/deps does it)"
        ),
    }
}

/// One page of a label PDF as a person and a scanner see it.
#[derive(Debug)]
struct Page {
    text: String,
    code128: Vec<String>,
    qr: Vec<String>,
}

fn read_pdf(pdf: &[u8]) -> Vec<Page> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("labels.pdf");
    std::fs::write(&file, pdf).unwrap();
    let file = file.to_str().unwrap();
    let out = run("pdftotext", &["-raw", "-enc", "UTF-8", file, "-"]);
    assert!(
        out.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut texts: Vec<String> = text.split('\u{c}').map(str::to_owned).collect();
    if texts.last().is_some_and(|t| t.trim().is_empty()) {
        texts.pop();
    }
    let prefix = dir.path().join("page");
    let out = run(
        "pdftoppm",
        &["-r", "300", "-png", file, prefix.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "pdftoppm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut pngs: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    pngs.sort();
    assert_eq!(pngs.len(), texts.len(), "one image per page of text");
    texts
        .into_iter()
        .zip(pngs)
        .map(|(text, png)| {
            let out = run("zbarimg", &["-q", png.to_str().unwrap()]);
            let found = String::from_utf8_lossy(&out.stdout).into_owned();
            let mut code128 = Vec::new();
            let mut qr = Vec::new();
            for line in found.lines() {
                if let Some(v) = line.strip_prefix("CODE-128:") {
                    code128.push(v.to_owned());
                } else if let Some(v) = line.strip_prefix("QR-Code:") {
                    qr.push(v.to_owned());
                }
            }
            Page { text, code128, qr }
        })
        .collect()
}

/// Every wave of the site in the next three days: id → wave view.
async fn waves(addr: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for date in dates() {
        let list = get_json(addr, &format!("/v1/sites/{SITE}/waves?date={date}")).await;
        for w in list["waves"].as_array().unwrap() {
            let id = w["wave_id"].as_str().unwrap().to_owned();
            out.insert(id.clone(), get_json(addr, &format!("/v1/waves/{id}")).await);
        }
    }
    out
}

async fn shipments(addr: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for date in dates() {
        let list = get_json(addr, &format!("/v1/sites/{SITE}/shipments?date={date}")).await;
        out.extend(list["shipments"].as_array().unwrap().iter().cloned());
    }
    out
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The page shows `b` exactly: full name, full phone, street and ward as typed, the
/// post-2025 province.
fn assert_receiver(page: &Page, b: &Buyer, what: &str) {
    let text = squash(&page.text);
    let phone = format!("{} {} {}", &b.phone[..4], &b.phone[4..7], &b.phone[7..]);
    for want in [
        b.name.to_owned(),
        phone,
        format!("{}, {}", b.street, b.ward),
        b.province_now.to_owned(),
    ] {
        assert!(
            text.contains(&want),
            "{what}: no {want:?} in:\n{}",
            page.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_read_back_exactly_at_both_sizes_before_and_after_booking() {
    let redis = TestRedis::start().await;
    let vtp = FakeVtp::start().await;
    let cfg = config(&redis.url(), &vtp);
    let pin = cfg.sites[0].station_pin.expose().to_owned();
    let app = TestApp::spawn_with(cfg).await;
    let addr = app.addr.to_string();

    ingest(&app, "labels-live", orders()).await;
    eventually(60, "all six orders waved", || {
        let a = addr.clone();
        async move {
            get_json(&a, &format!("/v1/sessions/labels-live?seller={SELLER_A}")).await["waved"] == 6
        }
    })
    .await;
    let waves = waves(&addr).await;
    assert!(!waves.is_empty());
    // parcel id → (wave, index in its wave, first order id, status)
    let mut parcels: BTreeMap<String, (String, Value)> = BTreeMap::new();
    for (id, w) in &waves {
        for p in w["parcels"].as_array().unwrap() {
            parcels.insert(
                p["parcel_id"].as_str().unwrap().to_owned(),
                (id.clone(), p.clone()),
            );
        }
    }
    let by_order = |order: &str| -> String {
        parcels
            .iter()
            .find(|(_, (_, p))| {
                p["order_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|o| o == order)
            })
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("no parcel holds {order}"))
    };
    let mut duong: Vec<String> = ["L-1", "L-2", "L-3"].iter().map(|o| by_order(o)).collect();
    // k/n counts in the wave's (pack-list) order.
    let position = |id: &String| {
        let (wave, _) = &parcels[id];
        let order = waves[wave]["parcels"].as_array().unwrap();
        (
            wave.clone(),
            order.iter().position(|p| p["parcel_id"] == id.as_str()),
        )
    };
    duong.sort_by_key(position);
    let unique: BTreeSet<&String> = duong.iter().collect();
    assert_eq!(
        unique.len(),
        3,
        "the COD limit splits the buyer's orders in three parcels"
    );
    let duc = by_order("L-4");
    let nhung = by_order("L-5");
    let viet = by_order("L-6");

    // Cancel L-6 after waving: its parcel becomes cancelled and gets no label.
    let cancel = reqwest::Client::new()
        .post(app.http("/v1/orders/L-6/cancel"))
        .bearer_auth(TOKEN_A)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 200);
    let viet_wave = parcels[&viet].0.clone();
    eventually(30, "the cancelled order's parcel is cancelled", || {
        let (a, w, v) = (addr.clone(), viet_wave.clone(), viet.clone());
        async move {
            get_json(&a, &format!("/v1/waves/{w}")).await["parcels"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["parcel_id"] == v.as_str() && p["status"] == "cancelled")
        }
    })
    .await;
    let waves = self::waves(&addr).await;

    // Wave labels at both sizes: one page per ship-able parcel, in the wave's order, each
    // readable and scannable.
    for (wave_id, w) in &waves {
        let ships: Vec<String> = w["parcels"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["status"] != "cancelled" && p["pull"] != true)
            .map(|p| p["parcel_id"].as_str().unwrap().to_owned())
            .collect();
        for size in ["a6", "80x80"] {
            let pages = read_pdf(
                &pdf(
                    &addr,
                    &format!("/v1/waves/{wave_id}/labels.pdf?size={size}"),
                )
                .await,
            );
            assert_eq!(
                pages.len(),
                ships.len(),
                "{wave_id} {size}: pages = ship-able parcels"
            );
            for (page, id) in pages.iter().zip(&ships) {
                assert_eq!(page.qr, vec![id.clone()], "{size}: QR = parcel id");
                assert_eq!(
                    page.code128,
                    vec![id.clone()],
                    "{size}: before booking the barcode holds the parcel id"
                );
                assert!(page.text.contains(id.as_str()));
                assert!(page.text.contains("Viettel Post"), "{}", page.text);
                assert!(
                    page.text.contains("VCN · Chuyển phát nhanh"),
                    "{}",
                    page.text
                );
                assert!(
                    page.text.contains("HTX Hoa Lư packing hub"),
                    "sender: {}",
                    page.text
                );
                assert!(
                    page.text.contains("0229 3888 999"),
                    "sender phone: {}",
                    page.text
                );
            }
            assert!(
                pages.iter().all(|p| !p.text.contains(VIET.name)),
                "{size}: the cancelled parcel has no label"
            );
        }
    }

    // Single labels, both sizes: text exact, k/n, COD vs prepaid, both codes decode.
    for size in ["a6", "80x80"] {
        for (k, id) in duong.iter().enumerate() {
            let pages =
                read_pdf(&pdf(&addr, &format!("/v1/parcels/{id}/label.pdf?size={size}")).await);
            assert_eq!(pages.len(), 1);
            let page = &pages[0];
            assert_receiver(page, &DUONG, &format!("{id} {size}"));
            let text = squash(&page.text);
            assert!(text.contains(&format!("{}/3", k + 1)), "{size} k/n: {text}");
            assert!(text.contains("400.000 ₫"), "{size} COD: {text}");
            assert!(!text.contains("KHÔNG THU TIỀN"), "{text}");
            assert!(text.contains("2× Mật ong rừng 500ml"), "{text}");
            assert!(
                !text.contains("Hà Nam"),
                "the old province is not printed: {text}"
            );
            assert_eq!(page.code128, vec![id.clone()]);
            assert_eq!(page.qr, vec![id.clone()]);
        }
        let page =
            &read_pdf(&pdf(&addr, &format!("/v1/parcels/{duc}/label.pdf?size={size}")).await)[0];
        assert_receiver(page, &DUC, &format!("prepaid {size}"));
        let text = squash(&page.text);
        assert!(
            text.contains("KHÔNG THU TIỀN") && text.contains("0 ₫"),
            "{text}"
        );
        assert!(
            !text.contains("/3"),
            "no k/n for a buyer with one parcel: {text}"
        );
        assert!(text.contains("1× Trà Shan tuyết cổ thụ"), "{text}");
        let page =
            &read_pdf(&pdf(&addr, &format!("/v1/parcels/{nhung}/label.pdf?size={size}")).await)[0];
        assert_receiver(page, &NHUNG, &format!("{nhung} {size}"));
        assert!(squash(&page.text).contains("215.000 ₫"));
    }
    // The default size is A6 (100 × 150 mm = 283.46 × 425.2 pt).
    let default = pdf(&addr, &format!("/v1/parcels/{duc}/label.pdf")).await;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("d.pdf");
    std::fs::write(&f, &default).unwrap();
    let info = String::from_utf8(run("pdfinfo", &[f.to_str().unwrap()]).stdout).unwrap();
    assert!(info.contains("283.465 x 425.197 pts"), "{info}");

    // Errors: a bad size names `size`; unknown ids are 404 JSON; no credentials 401; the
    // cancelled parcel's own label is refused.
    let bad = get(
        &addr,
        &format!("/v1/parcels/{duc}/label.pdf?size=a4"),
        Some(OPERATOR),
    )
    .await;
    assert_eq!(bad.status, 400);
    let err: Value = serde_json::from_slice(&bad.body).unwrap();
    assert_eq!(err["error"]["code"], "invalid_size");
    assert!(err["error"]["message"].as_str().unwrap().contains("`size`"));
    let bad = get(
        &addr,
        &format!("/v1/parcels/{duc}/label.pdf?source=fax"),
        Some(OPERATOR),
    )
    .await;
    assert_eq!(bad.status, 400);
    for path in [
        format!("/v1/parcels/P-{SITE}-0101-999999/label.pdf"),
        "/v1/parcels/nonsense/label.pdf".to_owned(),
        format!("/v1/waves/W-{SITE}-0101-999999/labels.pdf"),
        "/v1/waves/W-elsewhere-0101-1/labels.pdf?size=80x80".to_owned(),
        format!("/v1/shipments/S-{SITE}-0101-999999/labels.pdf"),
    ] {
        let r = get(&addr, &path, Some(OPERATOR)).await;
        assert_eq!(r.status, 404, "{path}");
        let err: Value = serde_json::from_slice(&r.body).expect("a JSON error");
        assert!(err["error"]["code"].is_string(), "{path}: {err}");
    }
    assert_eq!(
        get(&addr, &format!("/v1/parcels/{duc}/label.pdf"), None)
            .await
            .status,
        401
    );
    assert_eq!(
        get(
            &addr,
            &format!("/v1/parcels/{viet}/label.pdf"),
            Some(OPERATOR)
        )
        .await
        .status,
        409
    );

    // The site's station (the tablet, by its session cookie) prints too.
    let signed = reqwest::Client::new()
        .post(app.http("/v1/station/session"))
        .json(&json!({"site": SITE, "pin": pin}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 200);
    let cookie = signed.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let r = reqwest::Client::new()
        .get(app.http(&format!(
            "/v1/waves/{}/labels.pdf?size=80x80",
            parcels[&duc].0
        )))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().starts_with(b"%PDF-"));

    // Before booking, ?source=carrier has no carrier label to give: ours.
    let r = get(
        &addr,
        &format!("/v1/parcels/{duc}/label.pdf?source=carrier"),
        Some(OPERATOR),
    )
    .await;
    assert_eq!((r.status, r.source.as_deref()), (200, Some("livepack")));

    // Book every shipment with the (fake) carrier.
    let shs = shipments(&addr).await;
    assert!(!shs.is_empty());
    for sh in &shs {
        let id = sh["shipment_id"].as_str().unwrap();
        let r = reqwest::Client::new()
            .post(app.http(&format!("/v1/shipments/{id}/book")))
            .bearer_auth(OPERATOR)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let b: Value = r.json().await.unwrap();
        for p in b["parcels"].as_array().unwrap() {
            if p["parcel_id"] != viet.as_str() {
                assert_eq!(p["status"], "booked", "{p}");
            }
        }
    }
    let tracking = |id: &str| {
        vtp.tracking_code(id)
            .unwrap_or_else(|| panic!("{id} booked"))
    };

    // After booking the barcode holds the tracking code; the QR still the parcel id.
    for size in ["a6", "80x80"] {
        for id in duong.iter().chain([&duc, &nhung]) {
            let page =
                &read_pdf(&pdf(&addr, &format!("/v1/parcels/{id}/label.pdf?size={size}")).await)[0];
            let code = tracking(id);
            assert_eq!(page.code128, vec![code.clone()], "{id} {size}");
            assert_eq!(page.qr, vec![id.clone()], "{id} {size}");
            assert!(
                page.text.contains(&code),
                "{id} {size}: the code's text is printed"
            );
        }
    }

    // Shipment labels: one page per ship-able parcel, in pack-list order.
    for sh in &shs {
        let id = sh["shipment_id"].as_str().unwrap();
        let want: BTreeSet<String> = sh["parcel_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        let wave_order: Vec<String> = waves
            .values()
            .flat_map(|w| w["parcels"].as_array().unwrap().iter())
            .map(|p| p["parcel_id"].as_str().unwrap().to_owned())
            .filter(|p| want.contains(p))
            .collect();
        let mut label_order = Vec::new();
        for size in ["a6", "80x80"] {
            let pages =
                read_pdf(&pdf(&addr, &format!("/v1/shipments/{id}/labels.pdf?size={size}")).await);
            assert_eq!(pages.len(), want.len(), "{id} {size}");
            let got: Vec<String> = pages.iter().map(|p| p.qr.concat()).collect();
            if waves.len() == 1 {
                assert_eq!(got, wave_order, "pack-list order");
            }
            assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), want);
            for (page, pid) in pages.iter().zip(&got) {
                assert_eq!(page.code128, vec![tracking(pid)]);
            }
            label_order = got;
        }
        // The driver's manifest lists them in the same order as the labels.
        let manifest = get(
            &addr,
            &format!("/v1/shipments/{id}/manifest.csv"),
            Some(OPERATOR),
        )
        .await;
        assert_eq!(manifest.status, 200);
        let listed: Vec<String> = csv::Reader::from_reader(manifest.body.as_slice())
            .records()
            .map(|r| r.unwrap()[0].to_owned())
            .collect();
        assert_eq!(
            listed, label_order,
            "{id}: the manifest in the labels' order"
        );
    }

    // ?source=carrier: Viettel Post's own label through its printing API…
    for (size, paper) in [("a6", "2"), ("80x80", "100")] {
        let r = get(
            &addr,
            &format!("/v1/parcels/{duc}/label.pdf?source=carrier&size={size}"),
            Some(OPERATOR),
        )
        .await;
        assert_eq!(
            (r.status, r.source.as_deref()),
            (200, Some("carrier")),
            "{size}"
        );
        assert_eq!(r.content_type, "application/pdf");
        let pages = read_pdf(&r.body);
        assert_eq!(pages.len(), 1);
        let want = format!("VIETTEL POST {} TYPE {paper}", tracking(&duc));
        assert!(pages[0].text.contains(&want), "{}", pages[0].text);
    }
    assert_eq!(vtp.printed().len(), 2);
    // An expired token: log in again once, still the carrier's label.
    vtp.expire_tokens();
    let logins = vtp.logins();
    let r = get(
        &addr,
        &format!("/v1/parcels/{nhung}/label.pdf?source=carrier"),
        Some(OPERATOR),
    )
    .await;
    assert_eq!((r.status, r.source.as_deref()), (200, Some("carrier")));
    assert_eq!(vtp.logins(), logins + 1);
    assert_eq!(vtp.printed().len(), 3);
    // …and ours when it fails, whichever way.
    for fault in [
        PrintFault::NoCode,
        PrintFault::ServerError,
        PrintFault::Html,
    ] {
        vtp.set_print_fault(Some(fault));
        let r = get(
            &addr,
            &format!("/v1/parcels/{duc}/label.pdf?source=carrier"),
            Some(OPERATOR),
        )
        .await;
        assert_eq!(
            (r.status, r.source.as_deref()),
            (200, Some("livepack")),
            "{fault:?}"
        );
        let pages = read_pdf(&r.body);
        assert_eq!(pages[0].code128, vec![tracking(&duc)], "{fault:?}");
        assert_receiver(&pages[0], &DUC, &format!("fallback {fault:?}"));
    }
    vtp.set_print_fault(None);
    // Without ?source the label is ours even for a booked Viettel Post parcel.
    let r = get(
        &addr,
        &format!("/v1/parcels/{duc}/label.pdf"),
        Some(OPERATOR),
    )
    .await;
    assert_eq!(r.source.as_deref(), Some("livepack"));

    app.stop().await;
}

/// The shipment holding parcel `p`: (its id, its pickup).
async fn shipment_of(addr: &str, p: &str) -> (Value, Value) {
    shipments(addr)
        .await
        .iter()
        .find(|s| s["parcel_ids"].as_array().unwrap().iter().any(|x| x == p))
        .map(|s| (s["shipment_id"].clone(), s["pickup_at"].clone()))
        .unwrap_or_else(|| panic!("no shipment holds {p}"))
}

/// The parcel view holding the order `id`, from the site's waves.
async fn parcel_of(addr: &str, id: &str) -> Value {
    waves(addr)
        .await
        .values()
        .flat_map(|w| w["parcels"].as_array().unwrap().clone())
        .find(|p| p["order_ids"].as_array().unwrap().iter().any(|o| o == id))
        .unwrap_or_else(|| panic!("no parcel holds {id}"))
}

/// The parcel that holds `order_id` now: not one `replaced` (a repacked box lists its orders
/// still).
async fn live_parcel_of(addr: &str, order_id: &str) -> Option<String> {
    waves(addr)
        .await
        .values()
        .flat_map(|w| w["parcels"].as_array().unwrap().clone())
        .find(|p| {
            p["status"] != "replaced"
                && p["order_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|o| o == order_id)
        })
        .map(|p| p["parcel_id"].as_str().unwrap().to_owned())
}

/// `parcel` is packed (unpicked, confirmed), then seller A cancels `order_id` of it: it is
/// to be repacked.
async fn pack_then_cancel(addr: &str, parcel: &str, order_id: &str) {
    let (s, r) = TestClient::new(addr, OPERATOR)
        .call(
            reqwest::Method::POST,
            &format!("/v1/parcels/{parcel}/packed"),
            Some(json!({"confirm_unpicked": true})),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = TestClient::new(addr, TOKEN_A)
        .call(
            reqwest::Method::POST,
            &format!("/v1/orders/{order_id}/cancel"),
            None,
        )
        .await;
    assert_eq!((s, r["status"].as_str()), (200, Some("cancelled")), "{r}");
}

/// One jar of honey for Dương (one buyer: her orders share a parcel while a wave is open).
fn honey(id: &str) -> Value {
    order(
        id,
        &DUONG,
        "HONEY-500",
        "Mật ong rừng 500ml",
        1,
        185_000,
        false,
    )
}

/// Whether seller A's `session` has `n` orders waved.
async fn waved(addr: &str, session: &str, n: u64) -> bool {
    get_json(addr, &format!("/v1/sessions/{session}?seller={SELLER_A}")).await["waved"] == n
}

/// A buyer who orders again after their parcel's wave was released gets a second parcel for
/// the same pickup: both say why the buyer's orders span parcels, and their labels read k/n
/// (contract §2's parcel, §6's `split_reason` and `k/n`). A restarted planner still knows the
/// released parcels (it reads the pickup's shipments).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_who_orders_again_after_release_has_parcels_that_say_so() {
    let redis = TestRedis::start().await;
    let vtp = FakeVtp::start().await;
    let app = TestApp::spawn_with(config(&redis.url(), &vtp)).await;
    let addr = app.addr.to_string();
    ingest(&app, "again-1", vec![honey("AG-1")]).await;
    eventually(60, "the first order waved", || waved(&addr, "again-1", 1)).await;
    // The first parcel's version before the second order: the mark the second wave's commit
    // puts on it must make a repack computed from it now start again.
    let rc = redis.conn().await;
    let first = parcel_of(&addr, "AG-1").await["parcel_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ver = |c: redis::aio::MultiplexedConnection, id: String| async move {
        let mut c = c;
        redis::cmd("HGET")
            .arg(keys::parcel(SITE, &id))
            .arg("ver")
            .query_async::<Option<u64>>(&mut c)
            .await
            .unwrap()
            .unwrap_or(0)
    };
    let ver_before = ver(rc.clone(), first.clone()).await;
    ingest(&app, "again-2", vec![honey("AG-2")]).await;
    eventually(60, "the second order waved", || waved(&addr, "again-2", 1)).await;
    let (p1, p2) = (
        parcel_of(&addr, "AG-1").await,
        parcel_of(&addr, "AG-2").await,
    );
    let (id1, id2) = (
        p1["parcel_id"].as_str().unwrap(),
        p2["parcel_id"].as_str().unwrap(),
    );
    assert_ne!(
        id1, id2,
        "the first parcel's wave was released: a parcel of its own"
    );
    let (sh1, at1) = shipment_of(&addr, id1).await;
    let (sh2, at2) = shipment_of(&addr, id2).await;
    if at1 != at2 {
        // The two orders straddled a pickup's cut-off (seconds apart): not the same parcel
        // to begin with.
        eprintln!("the orders fell on two pickups ({at1}, {at2}): nothing to check");
        app.stop().await;
        return;
    }
    assert_eq!(sh1, sh2);
    let p1 = parcel_of(&addr, "AG-1").await;
    assert_eq!(
        p2["split_reason"].as_str(),
        Some(format!("ordered after {id1} was released").as_str()),
        "{p2}"
    );
    assert_eq!(
        p1["split_reason"].as_str(),
        Some(format!("ordered again after release: {id2}").as_str()),
        "{p1}"
    );
    // The shipment's labels, and the second parcel's own: 1/2 and 2/2.
    let sh = sh1.as_str().unwrap();
    let pages = read_pdf(&pdf(&addr, &format!("/v1/shipments/{sh}/labels.pdf")).await);
    for (id, k) in [(id1, "1/2"), (id2, "2/2")] {
        let page = pages
            .iter()
            .find(|p| p.qr.iter().any(|q| q == id))
            .unwrap_or_else(|| panic!("a label for {id}"));
        assert!(page.text.contains(k), "{id} reads {k}: {}", page.text);
    }
    let own = read_pdf(&pdf(&addr, &format!("/v1/parcels/{id2}/label.pdf")).await);
    assert!(own[0].text.contains("2/2"), "{}", own[0].text);
    let own = read_pdf(&pdf(&addr, &format!("/v1/parcels/{id1}/label.pdf")).await);
    assert!(own[0].text.contains("1/2"), "{}", own[0].text);
    assert!(
        ver(rc.clone(), id1.to_owned()).await > ver_before,
        "the note gave the first parcel a new version"
    );

    // A new instance (its planner knows nothing yet): a third order is still told apart.
    app.stop().await;
    let app = TestApp::spawn_with(config(&redis.url(), &vtp)).await;
    let addr = app.addr.to_string();
    ingest(&app, "again-3", vec![honey("AG-3")]).await;
    eventually(60, "the third order waved", || waved(&addr, "again-3", 1)).await;
    let p3 = parcel_of(&addr, "AG-3").await;
    let id3 = p3["parcel_id"].as_str().unwrap();
    if shipment_of(&addr, id3).await.1 == at1 {
        assert_eq!(
            p3["split_reason"].as_str(),
            Some(format!("ordered after {id1}, {id2} were released").as_str()),
            "{p3}"
        );
        let p1 = parcel_of(&addr, "AG-1").await;
        assert_eq!(
            p1["split_reason"].as_str(),
            Some(format!("ordered again after release: {id2}, {id3}").as_str()),
            "{p1}"
        );
    }
    app.stop().await;
}

/// A buyer with many parcels at one pickup (an export whose orders all carry one phone and
/// address): a new parcel names only the latest three earlier ones still shipping, a repack's
/// parcel counting in the place of the parcel it replaced (not as the latest). Before, each
/// wave read and marked every earlier parcel of the buyer, and one seller's such export
/// stalled the site's planner for minutes (review X1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_with_many_parcels_at_one_pickup_names_only_the_latest() {
    let redis = TestRedis::start().await;
    let vtp = FakeVtp::start().await;
    let app = TestApp::spawn_with(config(&redis.url(), &vtp)).await;
    let addr = app.addr.to_string();
    let id = |v: Value| v["parcel_id"].as_str().unwrap().to_owned();
    // The first parcel holds two orders: packed, then one cancelled, it is repacked.
    ingest(&app, "many-1", vec![honey("MANY-1"), honey("MANY-1B")]).await;
    eventually(60, "the first orders waved", || waved(&addr, "many-1", 2)).await;
    let first = id(parcel_of(&addr, "MANY-1").await);
    pack_then_cancel(&addr, &first, "MANY-1B").await;
    eventually(60, "the first parcel repacked", || async {
        live_parcel_of(&addr, "MANY-1")
            .await
            .is_some_and(|p| p != first)
    })
    .await;
    let mut ids = vec![live_parcel_of(&addr, "MANY-1").await.unwrap()];
    for n in 2..=5 {
        let (session, order) = (format!("many-{n}"), format!("MANY-{n}"));
        ingest(&app, &session, vec![honey(&order)]).await;
        eventually(60, "the order waved", || waved(&addr, &session, 1)).await;
        ids.push(id(parcel_of(&addr, &order).await));
    }
    let mut pickups = HashSet::new();
    for p in &ids {
        pickups.insert(shipment_of(&addr, p).await.1.to_string());
    }
    if pickups.len() > 1 {
        eprintln!("the orders fell on two pickups: nothing to check");
        app.stop().await;
        return;
    }
    // ids: the repack of the first parcel, then the second to the fifth.
    let p5 = parcel_of(&addr, "MANY-5").await;
    assert_eq!(
        p5["split_reason"].as_str(),
        Some(
            format!(
                "ordered after {}, {}, {} were released",
                ids[1], ids[2], ids[3]
            )
            .as_str()
        ),
        "{p5}"
    );
    let p4 = parcel_of(&addr, "MANY-4").await;
    assert_eq!(
        p4["split_reason"].as_str(),
        Some(
            format!(
                "ordered after {}, {}, {} were released, ordered again after release: {}",
                ids[0], ids[1], ids[2], ids[4]
            )
            .as_str()
        ),
        "{p4}"
    );
    app.stop().await;
}

/// A repack's parcel takes the place (`k`) of the parcel it replaces among the buyer's
/// parcels: the labels already on the buyer's other boxes stay right. Before, the new parcel
/// (a higher number) went last, so a box labelled 2/2 became 1/2 and two boxes read 2/2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repacked_parcel_keeps_its_place_in_k_of_n() {
    let redis = TestRedis::start().await;
    let vtp = FakeVtp::start().await;
    let app = TestApp::spawn_with(config(&redis.url(), &vtp)).await;
    let addr = app.addr.to_string();
    // Two orders in one parcel, then one more after that wave was released: 1/2 and 2/2.
    ingest(&app, "kn-1", vec![honey("KN-1"), honey("KN-2")]).await;
    eventually(60, "the first orders waved", || waved(&addr, "kn-1", 2)).await;
    ingest(&app, "kn-2", vec![honey("KN-3")]).await;
    eventually(60, "the third order waved", || waved(&addr, "kn-2", 1)).await;
    let id = |v: Value| v["parcel_id"].as_str().unwrap().to_owned();
    let (first, second) = (
        id(parcel_of(&addr, "KN-1").await),
        id(parcel_of(&addr, "KN-3").await),
    );
    assert_eq!(id(parcel_of(&addr, "KN-2").await), first);
    if shipment_of(&addr, &first).await.1 != shipment_of(&addr, &second).await.1 {
        eprintln!("the orders fell on two pickups: nothing to check");
        app.stop().await;
        return;
    }
    let label = |p: String| {
        let a = addr.clone();
        async move {
            read_pdf(&pdf(&a, &format!("/v1/parcels/{p}/label.pdf")).await)[0]
                .text
                .clone()
        }
    };
    assert!(label(second.clone()).await.contains("2/2"));
    // The first box is packed, then one of its orders is cancelled: it is repacked.
    pack_then_cancel(&addr, &first, "KN-1").await;
    eventually(60, "the first box repacked", || async {
        live_parcel_of(&addr, "KN-2")
            .await
            .is_some_and(|p| p != first)
    })
    .await;
    let fresh = live_parcel_of(&addr, "KN-2").await.unwrap();
    // The replacement is 1/2, in its place; the other box still reads 2/2.
    assert!(label(fresh.clone()).await.contains("1/2"), "{fresh}");
    assert!(label(second.clone()).await.contains("2/2"), "{second}");
    // The shipment's labels and its manifest list the replacement first, in its place (a
    // higher number than the later wave's parcel: before, the manifest listed by number).
    let shipment = shipment_of(&addr, &second).await.0;
    let sid = shipment.as_str().unwrap();
    let pages = read_pdf(&pdf(&addr, &format!("/v1/shipments/{sid}/labels.pdf")).await);
    let labels: Vec<String> = pages.iter().map(|p| p.qr.concat()).collect();
    assert_eq!(labels, [fresh.clone(), second.clone()]);
    let manifest = get(
        &addr,
        &format!("/v1/shipments/{sid}/manifest.csv"),
        Some(OPERATOR),
    )
    .await;
    let listed: Vec<String> = csv::Reader::from_reader(manifest.body.as_slice())
        .records()
        .map(|r| r.unwrap()[0].to_owned())
        .collect();
    assert_eq!(listed, labels, "the manifest in the labels' order");
    app.stop().await;
}
