//! COD statements end to end on real Redis and a local server speaking Viettel Post's wire
//! format: a hub day of 3 sellers → parcels booked with the carrier → status webhooks
//! (picked up, delivered, delivered long ago and never paid, returned) → a settlement file
//! with one wrong amount and one unknown tracking code → each seller's statement checked to
//! the đồng, the returns list for restocking, the overdue gauge; repeated webhooks and a
//! re-uploaded file change nothing.

use crate::common;
use crate::fake_vtp;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use fake_vtp::FakeVtp;
use livepack::config::CarrierKind;
use serde_json::{json, Value};

const SELLERS: [(&str, &str); 3] = [
    ("mat-ong-tam-diep", "seller-one-token-0000000001"),
    ("tra-shan-tuyet", "seller-two-token-0000000002"),
    ("gao-st25-hoa-lu", "seller-three-token-000000003"),
];
const SECRET: &str = "vtp-webhook-secret-for-tests";
const CARRIER: &str = "viettel-post";

fn config(redis: &str, vtp: &str) -> livepack::Config {
    let carrier = vtp_carrier_toml(
        vtp,
        SECRET,
        "retry_base_ms = 50\nbook_before_pickup_minutes = 0\ncod_schedule_days = 15",
    );
    let extra = format!(
        "[planner]\nenabled = true\n{carrier}{}",
        sellers_toml(&SELLERS)
    );
    test_config(redis, &extra)
}

async fn call(
    addr: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Vec<u8>>,
) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .request(method, format!("http://{addr}{path}"))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.body(b);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn get_json(addr: &str, path: &str, token: &str) -> Value {
    let (s, body) = call(addr, reqwest::Method::GET, path, token, None).await;
    assert_eq!(s, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Three orders of distinct buyers (three parcels), then end_session.
async fn ingest_seller(app: &TestApp, seller: usize) {
    ingest_n(app, seller, 3).await
}

/// `n` orders of distinct buyers of seller `seller`, then end_session.
async fn ingest_n(app: &TestApp, seller: usize, n: u64) {
    let (_, token) = SELLERS[seller];
    let orders: Vec<Value> = (0..n)
        .map(|i| order(&format!("S{seller}-{i}"), seller as u64 * 1000 + 100 + i))
        .collect();
    push_session(app, token, "cod-day", &orders, orders.len()).await;
}

async fn shipment_ids(addr: &str, site: &str) -> Vec<String> {
    let mut out = Vec::new();
    for d in 0..3 {
        let list = get_json(
            addr,
            &format!("/v1/sites/{site}/shipments?date={}", vn_date(d)),
            OPERATOR,
        )
        .await;
        for s in list["shipments"].as_array().unwrap() {
            if s["order_count"].as_u64().unwrap_or(0) > 0 {
                out.push(s["shipment_id"].as_str().unwrap().to_owned());
            }
        }
    }
    out
}

#[derive(Debug, Clone)]
struct Parcel {
    id: String,
    tracking: String,
    cod: i64,
    order_ids: Vec<String>,
}

/// A Viettel Post webhook as the fake sends it, with the parcel's own COD and fee, dated
/// `days_ago` days before now.
fn webhook(p: &Parcel, status: i64, fee: i64, days_ago: i64) -> Vec<u8> {
    let vn = chrono::FixedOffset::east_opt(7 * 3600).unwrap();
    let at = (chrono::Utc::now() - chrono::Duration::days(days_ago)).with_timezone(&vn);
    let body = fake_vtp::webhook_body_at(
        &p.tracking,
        &p.id,
        status,
        SECRET,
        &at.format("%d/%m/%Y %H:%M:%S").to_string(),
    );
    let mut v: Value = serde_json::from_slice(&body).unwrap();
    v["DATA"]["MONEY_COLLECTION"] = json!(p.cod);
    v["DATA"]["MONEY_TOTAL"] = json!(fee);
    v.to_string().into_bytes()
}

async fn post_webhook(addr: &str, body: Vec<u8>) -> String {
    let (s, r) = call(
        addr,
        reqwest::Method::POST,
        &format!("/v1/carriers/{CARRIER}/webhook"),
        "",
        Some(body),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    r
}

fn money(v: &Value) -> i64 {
    v.as_str()
        .unwrap_or_else(|| panic!("money is a decimal string: {v}"))
        .parse()
        .unwrap()
}

async fn statement(addr: &str, seller: &str, token: &str) -> Value {
    get_json(
        addr,
        &format!(
            "/v1/sellers/{seller}/cod?from={}&to={}",
            vn_date(-1),
            vn_date(2)
        ),
        token,
    )
    .await
}

async fn metric(addr: &str, name: &str, having: &str) -> f64 {
    let (_, text) = call(addr, reqwest::Method::GET, "/metrics", OPERATOR, None).await;
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(having))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_day_of_three_sellers_reconciles_to_the_dong() {
    // It reads the overdue gauge and sets the observe interval: process-wide.
    if in_own_process(
        module_path!(),
        "a_hub_day_of_three_sellers_reconciles_to_the_dong",
    )
    .await
    {
        return;
    }
    livepack::observe::set_interval(Duration::from_millis(300));
    let redis = TestRedis::start().await;
    let vtp = FakeVtp::start().await;
    let app = TestApp::spawn_with(config(&redis.url(), &vtp.base_url())).await;
    let addr = app.addr.to_string();
    for s in 0..3 {
        ingest_seller(&app, s).await;
    }
    eventually(60, "all 9 orders in shipments", || {
        let a = addr.clone();
        async move {
            let mut n = 0;
            for id in shipment_ids(&a, SITE).await {
                n += get_json(&a, &format!("/v1/shipments/{id}"), OPERATOR).await["order_count"]
                    .as_u64()
                    .unwrap_or(0);
            }
            n == 9
        }
    })
    .await;
    let shipments = shipment_ids(&addr, SITE).await;
    book_all(&addr, &shipments).await;
    // Every parcel booked once with the carrier; read each one's seller, COD and code.
    let mut by_seller: BTreeMap<String, Vec<Parcel>> = BTreeMap::new();
    for id in &shipments {
        let sh = get_json(&addr, &format!("/v1/shipments/{id}"), OPERATOR).await;
        for p in sh["parcels"].as_array().unwrap() {
            by_seller
                .entry(p["seller"].as_str().unwrap().to_owned())
                .or_default()
                .push(Parcel {
                    id: p["parcel_id"].as_str().unwrap().to_owned(),
                    tracking: p["tracking"].as_str().unwrap().to_owned(),
                    cod: money(&p["cod_amount"]),
                    order_ids: p["order_ids"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|o| o.as_str().unwrap().to_owned())
                        .collect(),
                });
        }
    }
    for ps in by_seller.values_mut() {
        ps.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(ps.len(), 3, "one parcel per buyer");
    }
    for p in by_seller.values().flatten() {
        assert_eq!(vtp.created_count(&p.id), 1, "{} booked once", p.id);
    }
    let [s0, s1, s2] = [0, 1, 2].map(|i| by_seller[SELLERS[i].0].clone());

    // Every parcel picked up (105, fee 30,000 reported), then:
    // seller 0: delivered, delivered, returned; seller 1: delivered, delivered 20 days ago
    // and never paid, in transit; seller 2: delivered, in transit, in transit.
    for p in by_seller.values().flatten() {
        assert!(post_webhook(&addr, webhook(p, 105, 30_000, 0))
            .await
            .contains("applied"));
    }
    for (p, status, days_ago) in [
        (&s0[0], 501, 0),
        (&s0[1], 501, 0),
        (&s0[2], 504, 0),
        (&s1[0], 501, 0),
        (&s1[1], 501, 20),
        (&s2[0], 501, 0),
    ] {
        assert!(post_webhook(&addr, webhook(p, status, 30_000, days_ago))
            .await
            .contains("applied"));
    }

    // The carrier's settlement export: s0[1] paid 10,000 short, s0[2] (returned) only its
    // return fee, and a code that is none of ours.
    let csv = format!(
        "\u{feff}BẢNG KÊ ĐỐI SOÁT COD;;;;\n\
         STT;Mã vận đơn;Tiền thu hộ;Tổng phí;Ngày đối soát\n\
         1;{};{};33.000;{d}\n\
         2;{};{};22.000;{d}\n\
         3;{};0;15.000;{d}\n\
         4;{};{};20.000;{d}\n\
         5;{};{};25.000;{d}\n\
         6;9999999999;50.000;18.000;{d}\n\
         ;Tổng cộng;;;\n",
        s0[0].tracking,
        s0[0].cod,
        s0[1].tracking,
        s0[1].cod - 10_000,
        s0[2].tracking,
        s1[0].tracking,
        s1[0].cod,
        s2[0].tracking,
        s2[0].cod,
        d = chrono::Utc::now()
            .with_timezone(&chrono_tz::Asia::Ho_Chi_Minh)
            .format("%d/%m/%Y"),
    );
    let upload = |body: Vec<u8>, token: &'static str| {
        let a = addr.clone();
        async move {
            call(
                &a,
                reqwest::Method::POST,
                &format!("/v1/carriers/{CARRIER}/settlements"),
                token,
                Some(body),
            )
            .await
        }
    };
    let (s, seller_try) = upload(csv.clone().into_bytes(), SELLERS[0].1).await;
    assert_eq!(s, 401, "operator only: {seller_try}");
    let (s, body) = upload(csv.clone().into_bytes(), OPERATOR).await;
    assert_eq!(s, 200, "{body}");
    let result: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(result["rows"], 6);
    assert_eq!(result["matched"], 5);
    let mismatched = result["mismatched"].as_array().unwrap();
    assert_eq!(mismatched.len(), 1, "{result}");
    assert_eq!(mismatched[0]["line"], 4);
    assert_eq!(mismatched[0]["parcel_id"], s0[1].id.as_str());
    assert_eq!(money(&mismatched[0]["expected"]), s0[1].cod);
    assert_eq!(money(&mismatched[0]["collected"]), s0[1].cod - 10_000);
    assert_eq!(mismatched[0]["mismatch"], "amount");
    assert_eq!(
        result["unknown"],
        json!([{"line": 8, "tracking": "9999999999", "collected": "50000"}])
    );

    // A bad row refuses the whole file, naming its line and column.
    let bad = csv.replace(";22.000;", ";22.0x0;");
    let (s, body) = upload(bad.into_bytes(), OPERATOR).await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("line 4, column \\\"Tổng phí\\\""), "{body}");

    // Seller 0: 2 delivered (one paid short), 1 returned.
    let st0 = statement(&addr, SELLERS[0].0, SELLERS[0].1).await;
    eprintln!("seller 0 statement: {st0:#}");
    assert_eq!(money(&st0["expected"]), s0[0].cod + s0[1].cod);
    assert_eq!(money(&st0["collected"]), s0[0].cod + s0[1].cod - 10_000);
    assert_eq!(money(&st0["fees"]), 33_000 + 22_000 + 15_000);
    assert_eq!(money(&st0["returned"]), s0[2].cod);
    assert_eq!(money(&st0["net"]), s0[0].cod + s0[1].cod - 10_000 - 70_000);
    let rows = st0["parcels"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let row = |id: &str| rows.iter().find(|r| r["parcel_id"] == id).unwrap().clone();
    assert_eq!(row(&s0[0].id)["mismatch"], Value::Null);
    assert_eq!(row(&s0[0].id)["transfer_date"], vn_date(0));
    assert_eq!(row(&s0[1].id)["mismatch"], "amount");
    assert_eq!(row(&s0[2].id)["status"], "returned");
    assert_eq!(row(&s0[2].id)["mismatch"], Value::Null);
    assert_eq!(row(&s0[2].id)["carrier"], CARRIER);

    // Seller 1: one delivered and paid, one delivered 20 days ago and unpaid, one in transit.
    let st1 = statement(&addr, "me", SELLERS[1].1).await;
    assert_eq!(st1["seller"], SELLERS[1].0);
    assert_eq!(
        money(&st1["expected"]),
        s1.iter().map(|p| p.cod).sum::<i64>()
    );
    assert_eq!(money(&st1["collected"]), s1[0].cod + s1[1].cod);
    assert_eq!(money(&st1["fees"]), 20_000 + 30_000 + 30_000);
    assert_eq!(money(&st1["returned"]), 0);
    let rows1 = st1["parcels"].as_array().unwrap();
    let m1: Vec<(&str, &Value)> = rows1
        .iter()
        .map(|r| (r["parcel_id"].as_str().unwrap(), &r["mismatch"]))
        .collect();
    assert!(
        m1.contains(&(s1[1].id.as_str(), &json!("unpaid_overdue"))),
        "{m1:?}"
    );
    assert_eq!(
        rows1.iter().filter(|r| !r["mismatch"].is_null()).count(),
        1,
        "{st1:#}"
    );

    // Seller 2, read by the operator.
    let st2 = statement(&addr, SELLERS[2].0, OPERATOR).await;
    assert_eq!(
        money(&st2["expected"]),
        s2.iter().map(|p| p.cod).sum::<i64>()
    );
    assert_eq!(money(&st2["collected"]), s2[0].cod);
    assert_eq!(money(&st2["fees"]), 25_000 + 30_000 + 30_000);
    assert_eq!(money(&st2["net"]), s2[0].cod - 85_000);

    // Another seller's statement is not found; bad periods name their field.
    let path = format!(
        "/v1/sellers/{}/cod?from={}&to={}",
        SELLERS[1].0,
        vn_date(0),
        vn_date(0)
    );
    let (s, _) = call(&addr, reqwest::Method::GET, &path, SELLERS[0].1, None).await;
    assert_eq!(s, 404);
    let path = format!(
        "/v1/sellers/{}/cod?from=2026-13-01&to={}",
        SELLERS[0].0,
        vn_date(0)
    );
    let (s, body) = call(&addr, reqwest::Method::GET, &path, SELLERS[0].1, None).await;
    assert_eq!(s, 400);
    assert!(body.contains("`from`"), "{body}");
    // At most 366 days, both ends counted.
    for (from, to, want) in [
        ("2025-12-01", "2026-12-01", 200),
        ("2025-12-01", "2026-12-02", 400),
    ] {
        let path = format!("/v1/sellers/{}/cod?from={from}&to={to}", SELLERS[0].0);
        let (s, body) = call(&addr, reqwest::Method::GET, &path, SELLERS[0].1, None).await;
        assert_eq!(s, want, "{from}..{to}: {body}");
    }

    // Idempotent: the same webhooks and the same file again change nothing.
    post_webhook(&addr, webhook(&s0[0], 501, 30_000, 0)).await;
    post_webhook(&addr, webhook(&s0[2], 504, 30_000, 0)).await;
    post_webhook(&addr, webhook(&s0[0], 105, 30_000, 0)).await;
    let (s, again) = upload(csv.clone().into_bytes(), OPERATOR).await;
    assert_eq!(s, 200);
    assert_eq!(serde_json::from_str::<Value>(&again).unwrap(), result);
    assert_eq!(statement(&addr, SELLERS[0].0, OPERATOR).await, st0);
    assert_eq!(statement(&addr, SELLERS[1].0, OPERATOR).await, st1);

    // Returns: the returned parcel's orders and items, for restocking.
    let ret = get_json(
        &addr,
        &format!("/v1/sites/{SITE}/returns?date={}", vn_date(0)),
        OPERATOR,
    )
    .await;
    let parcels = ret["parcels"].as_array().unwrap();
    assert_eq!(parcels.len(), 1, "{ret}");
    assert_eq!(parcels[0]["parcel_id"], s0[2].id.as_str());
    assert_eq!(parcels[0]["seller"], SELLERS[0].0);
    let orders: Vec<&str> = parcels[0]["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        orders,
        s0[2]
            .order_ids
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert_eq!(parcels[0]["orders"][0]["items"][0]["sku"], "HONEY-500");

    // The overdue gauge: exactly the parcel delivered 20 days ago and never paid.
    eventually(30, "overdue COD gauge", || {
        let a = addr.clone();
        async move {
            metric(
                &a,
                "livepack_cod_unpaid_overdue_parcels",
                "carrier=\"viettel-post\"",
            )
            .await
                == 1.0
        }
    })
    .await;
    assert_eq!(
        metric(
            &addr,
            "livepack_cod_unpaid_overdue_vnd",
            "carrier=\"viettel-post\""
        )
        .await,
        s1[1].cod as f64
    );
    // `livepack cod`: the same statement as CSV with the seller's token; exit 1 (mismatches).
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
        .args(["cod", "--url", &format!("http://{addr}"), "--csv"])
        .args(["--from", &vn_date(-1), "--to", &vn_date(2)])
        .env("LIVEPACK_TOKEN", SELLERS[0].1)
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv_out = String::from_utf8(out.stdout).unwrap();
    assert!(
        csv_out.contains(&format!(
            "{},{},{CARRIER},delivered,{},{},22000,{},amount",
            s0[1].id,
            s0[1].tracking,
            s0[1].cod,
            s0[1].cod - 10_000,
            vn_date(0)
        )),
        "{csv_out}"
    );
    assert!(
        csv_out.contains(&format!("NET,,,,,{},", money(&st0["net"]))),
        "{csv_out}"
    );
    // Another seller's statement: refused, exit 2 (1 is kept for mismatches), in Vietnamese.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
        .args(["cod", "--url", &format!("http://{addr}"), "--lang", "vi"])
        .args([
            "--seller",
            SELLERS[1].0,
            "--from",
            &vn_date(-1),
            "--to",
            &vn_date(2),
        ])
        .env("LIVEPACK_TOKEN", SELLERS[0].1)
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("không có người bán này"), "{err}");
    // A bad day: exit 2, said in `--lang`'s language whatever the locale, naming the flag.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
        .args(["cod", "--url", &format!("http://{addr}"), "--lang", "en"])
        .args(["--from", "01/12/2026", "--to", &vn_date(2)])
        .env("LIVEPACK_TOKEN", SELLERS[0].1)
        .env("LANG", "vi_VN.UTF-8")
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--from: a day is YYYY-MM-DD"), "{err}");
    // A path in --url: livepack has no such route; the token is not blamed, exit 3.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livepack"))
        .args(["cod", "--url", &format!("http://{addr}/v1"), "--lang", "en"])
        .args(["--from", &vn_date(-1), "--to", &vn_date(2)])
        .env("LIVEPACK_TOKEN", SELLERS[0].1)
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("without a path"), "{err}");
    app.stop().await;
}

use crate::fake_ghn;
use crate::fake_ghtk;

// Sites of their own: the process-wide gauges of the other test's site stay its own.
const VTP_SITE: &str = "hoa-lu-vtp";
const GHTK_SITE: &str = "hoa-lu-ghtk";
const GHN_SITE: &str = "hoa-lu-ghn";
const GHX_SECRET: &str = "ghx-webhook-secret-for-tests";

fn site_toml(id: &str, carrier: &str) -> String {
    format!(
        r#"
[[sites]]
id = "{id}"
name = "HTX Hoa Lư packing hub ({carrier})"
pickups = ["11:00", "17:00"]
station_pin = "246813"
packers = 4
carriers = ["{carrier}"]
phone = "02293888999"
province = "Ninh Bình"
ward = "Phường Hoa Lư"
street = "Thôn Văn Lâm"
"#
    )
}

/// Three sellers, each packed at a site that ships with one of the three carriers (the
/// cheapest-carrier choice of one site between several is another branch's work).
fn config3(redis: &str, vtp: &str, ghtk: &str, ghn: &str) -> livepack::Config {
    let mut extra = format!(
        r#"
[planner]
enabled = true
[operator]
token = "{OPERATOR}"
[[carriers]]
id = "{CARRIER}"
kind = "viettelpost"
base_url = "{vtp}"
username = "{user}"
password = "{pass}"
webhook_secret = "{SECRET}"
default_service = "VCN"
book_before_pickup_minutes = 0
[[carriers]]
id = "ghtk"
kind = "ghtk"
base_url = "{ghtk}"
token = "{ghtk_token}"
webhook_secret = "{GHX_SECRET}"
book_before_pickup_minutes = 0
cod_schedule_days = 7
[[carriers]]
id = "ghn"
kind = "ghn"
base_url = "{ghn}"
token = "{ghn_token}"
shop_id = "{shop}"
webhook_secret = "{GHX_SECRET}"
book_before_pickup_minutes = 0
"#,
        user = fake_vtp::USERNAME,
        pass = fake_vtp::PASSWORD,
        ghtk_token = fake_ghtk::TOKEN,
        ghn_token = fake_ghn::TOKEN,
        shop = fake_ghn::SHOP_ID,
    );
    extra.push_str(&site_toml(VTP_SITE, CARRIER));
    extra.push_str(&site_toml(GHTK_SITE, "ghtk"));
    extra.push_str(&site_toml(GHN_SITE, "ghn"));
    for ((id, token), site) in SELLERS.iter().zip([VTP_SITE, GHTK_SITE, GHN_SITE]) {
        extra.push_str(&format!(
            "[[sellers]]\nid = \"{id}\"\nname = \"{id}\"\nsite = \"{site}\"\ntoken = \"{token}\"\n"
        ));
    }
    test_config(redis, &extra)
}

/// Books every shipment of `site` and returns its parcels (sorted by id) once all are booked.
async fn book_site(addr: &str, site: &str, orders: u64) -> Vec<Parcel> {
    eventually(60, "orders in shipments", || {
        let a = addr.to_owned();
        let site = site.to_owned();
        async move {
            let mut n = 0;
            for id in shipment_ids(&a, &site).await {
                n += get_json(&a, &format!("/v1/shipments/{id}"), OPERATOR).await["order_count"]
                    .as_u64()
                    .unwrap_or(0);
            }
            n == orders
        }
    })
    .await;
    let shipments = shipment_ids(addr, site).await;
    book_all(addr, &shipments).await;
    let mut out = Vec::new();
    for id in &shipments {
        let sh = get_json(addr, &format!("/v1/shipments/{id}"), OPERATOR).await;
        for p in sh["parcels"].as_array().unwrap() {
            out.push(Parcel {
                id: p["parcel_id"].as_str().unwrap().to_owned(),
                tracking: p["tracking"].as_str().unwrap().to_owned(),
                cod: money(&p["cod_amount"]),
                order_ids: p["order_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o.as_str().unwrap().to_owned())
                    .collect(),
            });
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Books each shipment and waits until every parcel of them has its tracking code.
async fn book_all(addr: &str, shipments: &[String]) {
    for id in shipments {
        let (s, body) = call(
            addr,
            reqwest::Method::POST,
            &format!("/v1/shipments/{id}/book"),
            OPERATOR,
            None,
        )
        .await;
        assert_eq!(s, 200, "{body}");
    }
    eventually(60, "every parcel booked", || async move {
        for id in shipments {
            let sh = get_json(addr, &format!("/v1/shipments/{id}"), OPERATOR).await;
            if sh["parcels"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["tracking"].is_null())
            {
                return false;
            }
        }
        true
    })
    .await;
}

/// Posts GHN's `switch_status` webhook for `p` (its whole COD, no partial return).
async fn ghn_webhook(addr: &str, p: &Parcel, status: &str, fee: i64, transfer: Option<&str>) {
    let body = fake_ghn::webhook_body(&p.tracking, &p.id, status, p.cod, fee, transfer, false);
    post_ghx(addr, "ghn", body).await;
}

async fn post_ghx(addr: &str, carrier: &str, body: Vec<u8>) -> String {
    let (s, r) = call(
        addr,
        reqwest::Method::POST,
        &format!("/v1/carriers/{carrier}/webhook?secret={GHX_SECRET}"),
        "",
        Some(body),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    r
}

/// Uploads a settlement file as the operator to `carrier`: its answer (200 expected).
async fn settle(addr: &str, carrier: &str, csv: String) -> Value {
    let (s, body) = call(
        addr,
        reqwest::Method::POST,
        &format!("/v1/carriers/{carrier}/settlements"),
        OPERATOR,
        Some(csv.into_bytes()),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_from_the_three_carriers_fakes_reaches_each_seller_s_statement() {
    let redis = TestRedis::start().await;
    let (vtp, ghtk, ghn) = (
        FakeVtp::start().await,
        fake_ghtk::FakeGhtk::start().await,
        fake_ghn::FakeGhn::start().await,
    );
    let app = TestApp::spawn_with(config3(
        &redis.url(),
        &vtp.base_url(),
        &ghtk.base_url(),
        &ghn.base_url(),
    ))
    .await;
    let addr = app.addr.to_string();
    for s in 0..3 {
        ingest_n(&app, s, 2).await;
    }
    let v = book_site(&addr, VTP_SITE, 2).await;
    let k = book_site(&addr, GHTK_SITE, 2).await;
    let n = book_site(&addr, GHN_SITE, 2).await;
    for p in &v {
        assert_eq!(vtp.created_count(&p.id), 1);
    }
    for p in &k {
        assert_eq!(ghtk.created_count(&p.id), 1);
        assert_eq!(
            ghtk.tracking_code(&p.id).as_deref(),
            Some(p.tracking.as_str())
        );
    }
    for p in &n {
        assert_eq!(ghn.created_count(&p.id), 1);
        assert_eq!(
            ghn.tracking_code(&p.id).as_deref(),
            Some(p.tracking.as_str())
        );
    }

    // Viettel Post: delivered; returned.
    post_webhook(&addr, webhook(&v[0], 501, 30_000, 0)).await;
    post_webhook(&addr, webhook(&v[1], 504, 30_000, 0)).await;
    // GHTK (form posts): delivered (5) with pick_money and fee; delivered with part of the
    // parcel returned (return_part_package=1), 100,000 less collected.
    let partial_collected = k[1].cod - 100_000;
    // A webhook whose amount is not whole đồng is refused (400 naming the field) and
    // changes nothing: the good one below is still `applied`.
    for bad in ["-5000", "12.5.3", "1e12"] {
        let body = String::from_utf8(fake_ghtk::webhook_form(
            &k[0].tracking,
            &k[0].id,
            5,
            27_000,
            k[0].cod,
            false,
        ))
        .unwrap()
        .replace(
            &format!("pick_money={}", k[0].cod),
            &format!("pick_money={bad}"),
        );
        let (s, r) = call(
            &addr,
            reqwest::Method::POST,
            &format!("/v1/carriers/ghtk/webhook?secret={GHX_SECRET}"),
            "",
            Some(body.into_bytes()),
        )
        .await;
        assert_eq!(s, 400, "pick_money={bad}: {r}");
        assert!(
            r.contains("malformed_webhook") && r.contains("pick_money"),
            "{r}"
        );
    }
    for (p, pick_money, part) in [(&k[0], k[0].cod, false), (&k[1], partial_collected, true)] {
        let body = fake_ghtk::webhook_form(&p.tracking, &p.id, 5, 27_000, pick_money, part);
        let r = post_ghx(&addr, "ghtk", body.clone()).await;
        assert!(r.contains("applied"), "{r}");
        // GHTK resends until it sees 200: the same post again changes nothing.
        assert!(post_ghx(&addr, "ghtk", body).await.contains("unchanged"));
    }
    // GHN (JSON): delivered and already transferred (CODTransferDate); returned.
    let transfer = format!("{}T10:00:00+07:00", vn_date(0));
    ghn_webhook(&addr, &n[0], "delivered", 31_000, Some(&transfer)).await;
    // GHN's returned event without our reference (ClientOrderCode): found by its code.
    let unreferenced = fake_ghn::webhook_body(
        &n[1].tracking,
        "",
        "returned",
        n[1].cod,
        18_000,
        None,
        false,
    );
    let r = post_ghx(&addr, "ghn", unreferenced).await;
    assert!(r.contains("applied"), "{r}");
    ghn_webhook(&addr, &n[1], "returned", 18_000, None).await;
    // A late GHN event (its status behind the parcel's) changes neither status nor money.
    let late = fake_ghn::webhook_body(&n[0].tracking, &n[0].id, "delivering", 0, 0, None, false);
    assert!(post_ghx(&addr, "ghn", late).await.contains("unchanged"));
    // Nor does a late event that moves no status of ours (a `picking` after `delivered`),
    // with figures of its own (nothing collected, another fee).
    let late = fake_ghn::webhook_body(&n[0].tracking, &n[0].id, "picking", 0, 99_000, None, false);
    assert!(post_ghx(&addr, "ghn", late).await.contains("informational"));
    // Nor does a final status contradicting the parcel's (a full return after a delivery,
    // nothing collected, another fee): the statements below still show the delivery's money.
    let late = fake_ghn::webhook_body(&n[0].tracking, &n[0].id, "returned", 0, 88_000, None, false);
    assert!(post_ghx(&addr, "ghn", late).await.contains("unchanged"));
    let late = fake_ghtk::webhook_form(&k[0].tracking, &k[0].id, 11, 50_000, 0, false);
    assert!(post_ghx(&addr, "ghtk", late).await.contains("unchanged"));
    // One carrier's webhook or settlement file cannot touch another carrier's parcel.
    let foreign = fake_ghtk::webhook_form(&v[0].tracking, &v[0].id, 5, 1_000, 1, false);
    let r = post_ghx(&addr, "ghtk", foreign).await;
    assert!(r.contains("unknown_parcel"), "{r}");
    let csv = format!("Mã vận đơn,Tiền thu hộ,Tổng phí\n{},1,1\n", k[0].tracking);
    let r = settle(&addr, CARRIER, csv).await;
    assert_eq!(r["matched"], 0, "a GHTK code in Viettel Post's file: {r}");
    assert_eq!(r["unknown"][0]["tracking"], k[0].tracking.as_str(), "{r}");

    // GHTK's settlement: both parcels as collected, plus a code that is none of ours.
    let csv = format!(
        "Mã đơn GHTK,Thu hộ,Phí dịch vụ,Ngày đối soát\n{},{},27000,{d}\n{},{},27000,{d}\nS1.A1.999,90000,20000,{d}\n",
        k[0].tracking,
        k[0].cod,
        k[1].tracking,
        partial_collected,
        d = vn_date(0),
    );
    let r = settle(&addr, "ghtk", csv).await;
    assert_eq!(
        (r["rows"].as_u64(), r["matched"].as_u64()),
        (Some(3), Some(2)),
        "{r}"
    );
    assert_eq!(
        r["mismatched"],
        json!([]),
        "a partial return is not a wrong amount"
    );
    assert_eq!(r["unknown"][0]["tracking"], "S1.A1.999");
    // A file naming k[0]'s transfer day, then one naming none (its rows dated by the
    // upload): the day already known stays.
    let dated = format!(
        "Mã đơn GHTK,Thu hộ,Phí dịch vụ,Ngày đối soát\n{},{},27000,{}\n",
        k[0].tracking,
        k[0].cod,
        vn_date(-1)
    );
    let dateless = format!(
        "Mã đơn GHTK,Thu hộ,Phí dịch vụ\n{},{},27000\n",
        k[0].tracking, k[0].cod
    );
    for csv in [dated, dateless] {
        settle(&addr, "ghtk", csv).await;
    }
    // An empty COD cell is a bad cell: the file is refused whole, k[0]'s payment stays.
    let blank = format!("Mã đơn GHTK,Thu hộ,Phí dịch vụ\n{},,27000\n", k[0].tracking);
    let (s, r) = call(
        &addr,
        reqwest::Method::POST,
        "/v1/carriers/ghtk/settlements",
        OPERATOR,
        Some(blank.into_bytes()),
    )
    .await;
    assert_eq!(s, 400, "{r}");
    let e: Value = serde_json::from_str(&r).unwrap();
    assert_eq!(e["error"]["code"], "invalid_rows", "{r}");
    let message = e["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("line 2, column \"Thu hộ\": empty"), "{r}");

    // Seller 0 (Viettel Post): one delivered, unpaid but within the schedule; one returned.
    let st = statement(&addr, SELLERS[0].0, OPERATOR).await;
    assert_eq!(money(&st["expected"]), v[0].cod);
    assert_eq!(money(&st["collected"]), v[0].cod);
    assert_eq!(money(&st["fees"]), 60_000);
    assert_eq!(money(&st["returned"]), v[1].cod);
    assert_eq!(money(&st["net"]), v[0].cod - 60_000);
    // Seller 1 (GHTK): the partial return moves 100,000 from expected to returned.
    let st = statement(&addr, SELLERS[1].0, OPERATOR).await;
    eprintln!("GHTK seller statement: {st:#}");
    assert_eq!(money(&st["expected"]), k[0].cod + partial_collected);
    assert_eq!(money(&st["collected"]), k[0].cod + partial_collected);
    assert_eq!(money(&st["fees"]), 54_000);
    assert_eq!(money(&st["returned"]), 100_000);
    assert_eq!(money(&st["net"]), k[0].cod + partial_collected - 54_000);
    let rows = st["parcels"].as_array().unwrap();
    assert!(
        rows.iter()
            .all(|r| r["mismatch"].is_null() && r["carrier"] == "ghtk"),
        "{st:#}"
    );
    assert_eq!(
        rows.iter().filter(|r| r["partial_return"] == true).count(),
        1
    );
    let first = rows
        .iter()
        .find(|r| r["parcel_id"] == k[0].id.as_str())
        .unwrap();
    assert_eq!(first["transfer_date"], vn_date(-1), "{first}");
    // Seller 2 (GHN): delivered and transferred per the webhook; returned.
    let st = statement(&addr, SELLERS[2].0, OPERATOR).await;
    assert_eq!(money(&st["expected"]), n[0].cod);
    assert_eq!(money(&st["collected"]), n[0].cod);
    assert_eq!(money(&st["fees"]), 31_000 + 18_000);
    assert_eq!(money(&st["returned"]), n[1].cod);
    let rows = st["parcels"].as_array().unwrap();
    let delivered = rows
        .iter()
        .find(|r| r["parcel_id"] == n[0].id.as_str())
        .unwrap();
    assert_eq!(delivered["transfer_date"], vn_date(0));

    // Returns per site for restocking.
    for (site, p, partial) in [
        (VTP_SITE, &v[1], false),
        (GHTK_SITE, &k[1], true),
        (GHN_SITE, &n[1], false),
    ] {
        let ret = get_json(&addr, &format!("/v1/sites/{site}/returns"), OPERATOR).await;
        assert_eq!(ret["parcels"].as_array().unwrap().len(), 1, "{ret}");
        assert_eq!(ret["parcels"][0]["parcel_id"], p.id.as_str());
        assert_eq!(ret["parcels"][0]["partial_return"], partial);
        assert_eq!(
            ret["parcels"][0]["orders"][0]["order_id"],
            p.order_ids[0].as_str()
        );
    }
    app.stop().await;
}

const HUB3: &str = "hoa-lu-hub3";

/// One site with the three carriers: each parcel goes to the cheapest by zone (the fakes'
/// quotes), all 3 sellers share the pickups.
fn config_hub3(redis: &str, vtp: &str, ghtk: &str, ghn: &str) -> livepack::Config {
    let base = config3(redis, vtp, ghtk, ghn);
    let mut toml = String::new();
    toml.push_str(&format!(
        r#"
[planner]
enabled = true
[operator]
token = "{OPERATOR}"
[[sites]]
id = "{HUB3}"
name = "HTX Hoa Lư packing hub"
pickups = ["11:00", "17:00"]
station_pin = "246813"
packers = 4
carriers = ["{CARRIER}", "ghtk", "ghn"]
phone = "02293888999"
province = "Ninh Bình"
ward = "Phường Hoa Lư"
street = "Thôn Văn Lâm"
"#
    ));
    for c in &base.carriers {
        toml.push_str(&format!(
            "[[carriers]]\nid = \"{}\"\nkind = \"{}\"\nbase_url = \"{}\"\nusername = \"{}\"\npassword = \"{}\"\ntoken = \"{}\"\nshop_id = \"{}\"\nwebhook_secret = \"{}\"\ndefault_service = \"{}\"\nbook_before_pickup_minutes = 0\ncod_schedule_days = {}\n",
            c.id, c.kind, c.base_url, c.username,
            if c.kind == CarrierKind::Viettelpost { fake_vtp::PASSWORD } else { "" },
            match c.kind { CarrierKind::Ghtk => fake_ghtk::TOKEN, CarrierKind::Ghn => fake_ghn::TOKEN, _ => "" },
            c.shop_id,
            if c.kind == CarrierKind::Viettelpost { SECRET } else { GHX_SECRET },
            c.default_service, c.cod_schedule_days,
        ));
    }
    for (id, token) in SELLERS {
        toml.push_str(&format!(
            "[[sellers]]\nid = \"{id}\"\nname = \"{id}\"\nsite = \"{HUB3}\"\ntoken = \"{token}\"\n"
        ));
    }
    test_config(redis, &toml)
}

/// Seller `s`'s order `i` goes to a zone where carrier `i % 3` is cheapest.
fn zone(i: u64) -> (&'static str, &'static str) {
    match i % 3 {
        0 => ("Ninh Bình", "Phường Tam Điệp"),
        1 => ("Hà Nội", "Phường Hoàn Kiếm"),
        _ => ("Hồ Chí Minh", "Phường Sài Gòn"),
    }
}

async fn ingest_zoned(app: &TestApp, seller: usize) {
    let (_, token) = SELLERS[seller];
    let orders: Vec<Value> = (0..3u64)
        .map(|i| {
            let mut o = order(&format!("H{seller}-{i}"), seller as u64 * 1000 + 500 + i);
            let (province, ward) = zone(i);
            o["ship_to"]["province"] = json!(province);
            o["ship_to"]["ward"] = json!(ward);
            o
        })
        .collect();
    push_session(app, token, "hub-day", &orders, orders.len()).await;
}

/// What the test expects of one parcel: (seller, expected, collected, fee, returned).
#[derive(Debug, Clone, Default)]
struct Want {
    expected: i64,
    collected: i64,
    fees: i64,
    returned: i64,
}

fn want_of(expected: i64, collected: i64, fees: i64, returned: i64) -> Want {
    Want {
        expected,
        collected,
        fees,
        returned,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_day_with_the_three_carriers_reconciles_to_the_dong() {
    let redis = TestRedis::start().await;
    let (vtp, ghtk, ghn) = (
        FakeVtp::start().await,
        fake_ghtk::FakeGhtk::start().await,
        fake_ghn::FakeGhn::start().await,
    );
    // Viettel Post's fake quotes ~18–25k anywhere; GHTK is cheapest to Hà Nội, GHN to HCM.
    ghtk.set_price("Ninh Bình", 40_000, 5_000);
    ghtk.set_price("Hà Nội", 12_000, 1_000);
    ghtk.set_price("Hồ Chí Minh", 41_000, 5_000);
    ghn.set_price("Ninh Bình", 41_000, 5_000);
    ghn.set_price("Hà Nội", 42_000, 5_000);
    ghn.set_price("Hồ Chí Minh", 13_000, 1_000);
    let app = TestApp::spawn_with(config_hub3(
        &redis.url(),
        &vtp.base_url(),
        &ghtk.base_url(),
        &ghn.base_url(),
    ))
    .await;
    let addr = app.addr.to_string();
    for s in 0..3 {
        ingest_zoned(&app, s).await;
    }
    let parcels = book_site(&addr, HUB3, 9).await;
    // parcel → (carrier, seller), from the shipments (one per carrier pickup).
    let mut carrier_of: BTreeMap<String, String> = BTreeMap::new();
    let mut seller_of: BTreeMap<String, String> = BTreeMap::new();
    for id in shipment_ids(&addr, HUB3).await {
        let sh = get_json(&addr, &format!("/v1/shipments/{id}"), OPERATOR).await;
        for p in sh["parcels"].as_array().unwrap() {
            let pid = p["parcel_id"].as_str().unwrap().to_owned();
            carrier_of.insert(pid.clone(), sh["carrier"].as_str().unwrap().to_owned());
            seller_of.insert(pid, p["seller"].as_str().unwrap().to_owned());
        }
    }
    let of = |c: &str| -> Vec<Parcel> {
        parcels
            .iter()
            .filter(|p| carrier_of[&p.id] == c)
            .cloned()
            .collect()
    };
    let (v, k, n) = (of(CARRIER), of("ghtk"), of("ghn"));
    assert_eq!(
        (v.len(), k.len(), n.len()),
        (3, 3, 3),
        "split by zone price: {carrier_of:?}"
    );
    for p in &v {
        assert_eq!(vtp.created_count(&p.id), 1, "booked once");
    }
    for p in &k {
        assert_eq!(ghtk.created_count(&p.id), 1, "booked once");
    }
    for p in &n {
        assert_eq!(ghn.created_count(&p.id), 1, "booked once");
    }

    let mut want: BTreeMap<String, Want> = BTreeMap::new();
    let mut add = |p: &Parcel, w: Want| {
        let e = want.entry(seller_of[&p.id].clone()).or_default();
        e.expected += w.expected;
        e.collected += w.collected;
        e.fees += w.fees;
        e.returned += w.returned;
    };
    // Viettel Post: delivered (paid right), delivered (paid 10,000 short), returned.
    post_webhook(&addr, webhook(&v[0], 501, 30_000, 0)).await;
    post_webhook(&addr, webhook(&v[1], 501, 30_000, 0)).await;
    post_webhook(&addr, webhook(&v[2], 504, 30_000, 0)).await;
    add(&v[0], want_of(v[0].cod, v[0].cod, 33_000, 0));
    add(&v[1], want_of(v[1].cod, v[1].cod - 10_000, 22_000, 0));
    add(&v[2], want_of(0, 0, 15_000, v[2].cod));
    // GHTK: delivered; delivered with part returned (100,000 less); delivered, unpaid.
    let partial = k[1].cod - 100_000;
    for (p, money, part) in [
        (&k[0], k[0].cod, false),
        (&k[1], partial, true),
        (&k[2], k[2].cod, false),
    ] {
        let body = fake_ghtk::webhook_form(&p.tracking, &p.id, 5, 27_000, money, part);
        assert!(post_ghx(&addr, "ghtk", body.clone())
            .await
            .contains("applied"));
        assert!(post_ghx(&addr, "ghtk", body).await.contains("unchanged"));
    }
    add(&k[0], want_of(k[0].cod, k[0].cod, 27_000, 0));
    add(&k[1], want_of(partial, partial, 27_000, 100_000));
    add(&k[2], want_of(k[2].cod, k[2].cod, 27_000, 0));
    // GHN: delivered and transferred; returned; picked up only (in transit).
    let transfer = format!("{}T10:00:00+07:00", vn_date(0));
    ghn_webhook(&addr, &n[0], "delivered", 31_000, Some(&transfer)).await;
    ghn_webhook(&addr, &n[1], "returned", 18_000, None).await;
    ghn_webhook(&addr, &n[2], "picked", 16_000, None).await;
    add(&n[0], want_of(n[0].cod, n[0].cod, 31_000, 0));
    add(&n[1], want_of(0, 0, 18_000, n[1].cod));
    add(&n[2], want_of(n[2].cod, 0, 16_000, 0));

    // Viettel Post's settlement: one wrong amount, one unknown tracking code.
    let d = vn_date(0);
    let csv = format!(
        "BẢNG KÊ ĐỐI SOÁT COD;;;;\nSTT;Mã vận đơn;Tiền thu hộ;Tổng phí;Ngày đối soát\n\
         1;{};{};33.000;{d}\n2;{};{};22.000;{d}\n3;{};0;15.000;{d}\n4;9999999999;50.000;18.000;{d}\n",
        v[0].tracking, v[0].cod, v[1].tracking, v[1].cod - 10_000, v[2].tracking,
    );
    let r = settle(&addr, CARRIER, csv.clone()).await;
    assert_eq!(
        (r["rows"].as_u64(), r["matched"].as_u64()),
        (Some(4), Some(3)),
        "{r}"
    );
    assert_eq!(r["mismatched"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["mismatched"][0]["parcel_id"], v[1].id.as_str());
    assert_eq!(r["unknown"][0]["tracking"], "9999999999");
    // GHTK's settlement: what it collected (the partial return at its reduced amount).
    let csv_k = format!(
        "Mã đơn GHTK,Thu hộ,Phí dịch vụ,Ngày đối soát\n{},{},27000,{d}\n{},{},27000,{d}\n",
        k[0].tracking, k[0].cod, k[1].tracking, partial,
    );
    assert_eq!(settle(&addr, "ghtk", csv_k).await["mismatched"], json!([]));
    // The same file again changes nothing.
    assert_eq!(settle(&addr, CARRIER, csv).await, r);

    // Each seller's statement, to the đồng; and the hub's totals.
    let mut hub = Want::default();
    for (id, token) in SELLERS {
        let st = statement(&addr, "me", token).await;
        let w = &want[id];
        let got = (
            money(&st["expected"]),
            money(&st["collected"]),
            money(&st["fees"]),
            money(&st["returned"]),
            money(&st["net"]),
        );
        assert_eq!(
            got,
            (
                w.expected,
                w.collected,
                w.fees,
                w.returned,
                w.collected - w.fees
            ),
            "{id}: {st:#}"
        );
        assert_eq!(st["parcels"].as_array().unwrap().len(), 3, "{st:#}");
        hub.expected += got.0;
        hub.collected += got.1;
        hub.fees += got.2;
        hub.returned += got.3;
        eprintln!(
            "{id}: expected {} collected {} fees {} returned {} net {}",
            got.0, got.1, got.2, got.3, got.4
        );
    }
    let all: i64 = parcels.iter().map(|p| p.cod).sum();
    assert_eq!(
        hub.expected + hub.returned,
        all,
        "every đồng of COD is expected or returned"
    );
    let mismatches: Vec<(String, Value)> = {
        let mut out = Vec::new();
        for (id, token) in SELLERS {
            let st = statement(&addr, id, token).await;
            for p in st["parcels"].as_array().unwrap() {
                if !p["mismatch"].is_null() {
                    out.push((
                        p["parcel_id"].as_str().unwrap().to_owned(),
                        p["mismatch"].clone(),
                    ));
                }
            }
        }
        out
    };
    assert_eq!(mismatches, vec![(v[1].id.clone(), json!("amount"))]);
    // Returns for restocking: Viettel Post's and GHN's returns, GHTK's partial one.
    let ret = get_json(&addr, &format!("/v1/sites/{HUB3}/returns"), OPERATOR).await;
    let mut returned: Vec<&str> = ret["parcels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["parcel_id"].as_str().unwrap())
        .collect();
    returned.sort();
    let mut want_ret = vec![v[2].id.as_str(), k[1].id.as_str(), n[1].id.as_str()];
    want_ret.sort();
    assert_eq!(returned, want_ret);
    app.stop().await;
}

/// A parcel replaced after booking (its buyer cancelled one of its two orders), whose carrier
/// order we cancelled, counts nothing: a settlement row for it lists it as cancelled with 0
/// expected (its surviving order is the replacement's; before, it counted its whole COD,
/// the surviving order twice and the cancelled one too). Should the carrier deliver it and
/// pay for it all the same, that is an `amount` mismatch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parcel_replaced_after_booking_counts_nothing_unless_the_carrier_collects_it() {
    let redis = TestRedis::start().await;
    let vtp = FakeVtp::start().await;
    let app = TestApp::spawn_with(config(&redis.url(), &vtp.base_url())).await;
    let addr = app.addr.to_string();
    let (seller, token) = SELLERS[0];
    let orders = [order("RB-1", 4242), order("RB-2", 4242)];
    push_session(&app, token, "cod-repack", &orders, 2).await;
    let booked = book_site(&addr, SITE, 2).await;
    assert_eq!(booked.len(), 1, "one buyer, one parcel: {booked:?}");
    let old = &booked[0];
    // The carrier's first report (100: order received) puts it in the statement, expecting
    // its COD.
    post_webhook(&addr, webhook(old, 100, 30_000, 0)).await;
    let st = statement(&addr, seller, token).await;
    assert_eq!(money(&st["expected"]), old.cod, "{st}");
    let (s, r) = TestClient::new(&addr, token)
        .call(
            reqwest::Method::POST,
            "/v1/orders/RB-1/cancel",
            Some(json!({"reason": "buyer_cancelled"})),
        )
        .await;
    assert_eq!((s, r["status"].as_str()), (200, Some("cancelled")), "{r}");
    eventually(
        60,
        "the parcel replaced, its carrier order cancelled",
        || {
            let (a, id) = (addr.clone(), old.id.clone());
            async move {
                for sh in shipment_ids(&a, SITE).await {
                    let sh = get_json(&a, &format!("/v1/shipments/{sh}"), OPERATOR).await;
                    for p in sh["parcels"].as_array().unwrap() {
                        if p["parcel_id"] == id.as_str() {
                            return p["status"] == "replaced" && p["carrier_cancel"] == "cancelled";
                        }
                    }
                }
                false
            }
        },
    )
    .await;
    // Once its carrier order is cancelled it expects nothing, with no report needed.
    let st = statement(&addr, seller, token).await;
    assert_eq!(money(&st["expected"]), 0, "{st}");
    let row_of = |st: &Value| {
        st["parcels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["parcel_id"] == old.id.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("{} listed: {st}", old.id))
    };
    // The carrier's export lists it, nothing collected, a fee.
    let csv = format!("Mã vận đơn,Tiền thu hộ,Tổng phí\n{},0,5000\n", old.tracking);
    let r = settle(&addr, CARRIER, csv).await;
    assert_eq!(
        (r["matched"].as_u64(), &r["mismatched"]),
        (Some(1), &json!([])),
        "{r}"
    );
    let st = statement(&addr, seller, token).await;
    let row = row_of(&st);
    assert_eq!(
        (&row["status"], &row["cod_amount"], &row["mismatch"]),
        (&json!("cancelled_by_carrier"), &json!("0"), &Value::Null),
        "{st}"
    );
    assert_eq!(money(&st["expected"]), 0, "{st}");
    // The carrier delivered it anyway and pays its COD: a mismatch to chase.
    assert!(post_webhook(&addr, webhook(old, 501, 30_000, 0))
        .await
        .contains("applied"));
    let csv = format!(
        "Mã vận đơn,Tiền thu hộ,Tổng phí\n{},{},30000\n",
        old.tracking, old.cod
    );
    let r = settle(&addr, CARRIER, csv).await;
    assert_eq!(r["mismatched"][0]["mismatch"], "amount", "{r}");
    let st = statement(&addr, seller, token).await;
    let row = row_of(&st);
    assert_eq!(
        (&row["status"], &row["mismatch"]),
        (&json!("delivered"), &json!("amount")),
        "{st}"
    );
    app.stop().await;
}
