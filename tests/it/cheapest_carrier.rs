//! The cheapest carrier per parcel, end to end (issue 18): a site with Viettel Post, GHTK and
//! GHN (local fakes quoting different prices per zone), GHTK collecting only at a later
//! pickup. Parcels split across the carriers by price and deadline, consolidate per carrier
//! pickup, each is booked exactly once with its own carrier (a GHN 500 retried by the
//! background booker), shipments cost the sum of their quotes, and GHTK/GHN webhooks
//! authenticated by the secret in the registered URL move parcels to delivered.

use crate::common;
use crate::fake_ghn;
use crate::fake_ghtk;
use crate::fake_vtp;
use livepack::store::keys;

use std::collections::HashMap;

use common::*;
use redis::AsyncCommands;
use serde_json::{json, Value};

const GHTK_SECRET: &str = "ghtk-webhook-secret-0123456789";
const GHN_SECRET: &str = "ghn-webhook-secret-0123456789";

fn hhmm(t: chrono::DateTime<chrono_tz::Tz>) -> String {
    t.format("%H:%M").to_string()
}

struct Day {
    early: chrono::DateTime<chrono_tz::Tz>,
    late: chrono::DateTime<chrono_tz::Tz>,
}

/// The site's pickups: one 45–50 min from now, one three hours after it (GHTK's only one).
fn day() -> Day {
    let now = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Ho_Chi_Minh);
    let mut early = now + chrono::Duration::minutes(45);
    let round = 5 - i64::from(chrono::Timelike::minute(&early) % 5);
    early += chrono::Duration::minutes(round);
    let early = chrono::Timelike::with_second(&early, 0).unwrap();
    Day {
        early,
        late: early + chrono::Duration::hours(3),
    }
}

fn config(redis: &str, vtp: &str, ghtk: &str, ghn: &str, d: &Day) -> livepack::Config {
    let extra = format!(
        r#"
[planner]
enabled = true
[operator]
token = "{OPERATOR}"
[[sites]]
id = "{SITE}"
name = "HTX Hoa Lư packing hub"
pickups = ["{early}", "{late}"]
station_pin = "246813"
carriers = ["viettel-post", "ghtk", "ghn"]
carrier_pickups = {{ ghtk = ["{late}"] }}
phone = "02293888999"
province = "Ninh Bình"
ward = "Phường Hoa Lư"
street = "Thôn Văn Lâm"
[[carriers]]
id = "viettel-post"
kind = "viettelpost"
base_url = "{vtp}"
username = "{user}"
password = "{pass}"
webhook_secret = "vtp-webhook-secret-for-tests"
default_service = "VCN"
book_before_pickup_minutes = 0
[[carriers]]
id = "ghtk"
kind = "ghtk"
base_url = "{ghtk}"
token = "{ghtk_token}"
webhook_secret = "{GHTK_SECRET}"
book_before_pickup_minutes = 0
retry_base_ms = 200
[[carriers]]
id = "ghn"
kind = "ghn"
base_url = "{ghn}"
token = "{ghn_token}"
shop_id = "{shop}"
webhook_secret = "{GHN_SECRET}"
book_before_pickup_minutes = 0
retry_base_ms = 200
retry_cap_ms = 1000
"#,
        early = hhmm(d.early),
        late = hhmm(d.late),
        user = fake_vtp::USERNAME,
        pass = fake_vtp::PASSWORD,
        ghtk_token = fake_ghtk::TOKEN,
        ghn_token = fake_ghn::TOKEN,
        shop = fake_ghn::SHOP_ID,
    );
    test_config(redis, &extra)
}

async fn api(addr: &str, method: reqwest::Method, path: &str) -> (u16, String) {
    let resp = reqwest::Client::new()
        .request(method, format!("http://{addr}{path}"))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// A parcel hash's field as text (its `data` document unpacked as the service reads it).
async fn parcel_field(redis: &TestRedis, parcel: &str, field: &str) -> Option<String> {
    let mut c = redis.conn().await;
    let raw: Option<Vec<u8>> = c.hget(keys::parcel(SITE, parcel), field).await.unwrap();
    raw.map(|v| livepack::store::doc::unpack(v).unwrap())
}

/// Which zone/deadline an order is, by its index.
fn kind_of(i: u64) -> (&'static str, &'static str, bool) {
    // (province, ward, urgent: its deadline falls between the two pickups)
    match i % 4 {
        0 => ("Ninh Bình", "Phường Tam Điệp", false),
        // Hải Phòng and Hà Nội: both in the site's region, priced apart (a quote for one
        // never prices the other).
        1 if i % 8 == 5 => ("Hải Phòng", "Xã Thanh Hải", false),
        1 => ("Hà Nội", "Phường Hoàn Kiếm", false),
        2 => ("Hồ Chí Minh", "Phường Sài Gòn", true),
        _ => ("Hồ Chí Minh", "Phường Sài Gòn", false),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parcels_split_across_carriers_by_price_and_deadline_and_book_once_each() {
    let redis = TestRedis::start().await;
    let vtp = fake_vtp::FakeVtp::start().await;
    let ghtk = fake_ghtk::FakeGhtk::start().await;
    let ghn = fake_ghn::FakeGhn::start().await;
    // Viettel Post's fake quotes ~18–25k whatever the zone; GHTK is cheapest to Hà Nội and
    // HCM (but collects only at the late pickup), GHN second cheapest to HCM.
    ghtk.set_price("Ninh Bình", 40_000, 5_000);
    ghtk.set_price("Hà Nội", 12_000, 1_000);
    ghtk.set_price("Hải Phòng", 45_000, 5_000);
    ghn.set_price("Hải Phòng", 44_000, 5_000);
    ghtk.set_price("Hồ Chí Minh", 13_000, 1_000);
    ghn.set_price("Ninh Bình", 41_000, 5_000);
    ghn.set_price("Hà Nội", 42_000, 5_000);
    ghn.set_price("Hồ Chí Minh", 15_000, 1_000);
    let d = day();
    let app = TestApp::spawn_with(config(
        &redis.url(),
        &vtp.base_url(),
        &ghtk.base_url(),
        &ghn.base_url(),
        &d,
    ))
    .await;
    let addr = app.addr.to_string();

    // 12 orders of distinct buyers; the urgent ones were placed so that their 24 h deadline
    // falls 30 min after the early pickup.
    let n = 12u64;
    let urgent_placed =
        (d.early + chrono::Duration::minutes(30) - chrono::Duration::hours(24)).to_rfc3339();
    let orders: Vec<Value> = (0..n)
        .map(|i| {
            let mut o = order(&format!("C-{i}"), 30_000 + i);
            let (province, ward, urgent) = kind_of(i);
            o["ship_to"]["province"] = json!(province);
            o["ship_to"]["ward"] = json!(ward);
            if urgent {
                o["placed_at"] = json!(urgent_placed);
            }
            if province == "Hải Phòng" {
                // The weight of C-1's parcel (to Hà Nội, in the same region): one weight
                // step, so only the province tells their quotes apart.
                o["items"][0]["qty"] = json!(2);
                o["cod_amount"] = json!((2 * 185_000 + 30_000).to_string());
            }
            o
        })
        .collect();
    for msg in push_session(&app, TOKEN_A, "carrier-day", &orders, orders.len()).await {
        assert!(
            msg["rejected"].as_array().is_none_or(|r| r.is_empty()),
            "{msg}"
        );
    }

    let shs = planned_shipments(&addr, n, 2).await;
    // parcel → (carrier, shipment pickup)
    let mut carrier_of: HashMap<String, (String, String)> = HashMap::new();
    for s in &shs {
        for p in s["parcel_ids"].as_array().unwrap() {
            carrier_of.insert(
                p.as_str().unwrap().to_owned(),
                (
                    s["carrier"].as_str().unwrap().to_owned(),
                    s["pickup_at"].as_str().unwrap_or("").to_owned(),
                ),
            );
        }
    }
    assert_eq!(carrier_of.len() as u64, n, "one parcel per buyer: {shs:?}");
    let mut ids: Vec<&String> = carrier_of.keys().collect();
    ids.sort();
    // Map parcels back to orders through their stored documents.
    let mut by_kind: HashMap<(&str, bool), Vec<String>> = HashMap::new();
    for p in &ids {
        let doc: Value =
            serde_json::from_str(&parcel_field(&redis, p, "data").await.unwrap()).unwrap();
        let order_id = doc["orders"][0]["order_id"].as_str().unwrap();
        let i: u64 = order_id.trim_start_matches("C-").parse().unwrap();
        let (province, _, urgent) = kind_of(i);
        assert!(
            doc["quote"].is_string(),
            "a chosen parcel keeps its quote: {doc}"
        );
        by_kind
            .entry((province, urgent))
            .or_default()
            .push((*p).clone());
    }
    let carriers = |k: (&str, bool)| -> Vec<String> {
        by_kind[&k]
            .iter()
            .map(|p| carrier_of[p].0.clone())
            .collect()
    };
    assert!(
        carriers(("Ninh Bình", false))
            .iter()
            .all(|c| c == "viettel-post"),
        "{:?}",
        carriers(("Ninh Bình", false))
    );
    assert!(
        carriers(("Hà Nội", false)).iter().all(|c| c == "ghtk"),
        "{:?}",
        carriers(("Hà Nội", false))
    );
    assert_eq!(
        carriers(("Hải Phòng", false)),
        ["viettel-post"],
        "the cheapest for its own province, not Hà Nội's price"
    );
    assert!(
        carriers(("Hồ Chí Minh", false)).iter().all(|c| c == "ghtk"),
        "cheapest and in time"
    );
    assert!(
        carriers(("Hồ Chí Minh", true)).iter().all(|c| c == "ghn"),
        "GHTK's pickup is after their deadline"
    );
    // One shipment per carrier pickup; GHTK's at the late pickup.
    let mut per_carrier: Vec<(String, String)> = shs
        .iter()
        .map(|s| {
            (
                s["carrier"].as_str().unwrap().to_owned(),
                s["shipment_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    per_carrier.sort();
    assert_eq!(per_carrier.len(), 3, "{per_carrier:?}");
    let ghtk_sh = shs.iter().find(|s| s["carrier"] == "ghtk").unwrap();
    assert!(
        ghtk_sh["shipment_id"]
            .as_str()
            .unwrap()
            .contains(&d.late.format("%Y%m%d-%H%M").to_string()),
        "{ghtk_sh}"
    );
    // Estimated cost is the sum of the parcels' quotes, beside the one-box table cost.
    for s in &shs {
        let mut sum = 0i64;
        for p in s["parcel_ids"].as_array().unwrap() {
            let doc: Value = serde_json::from_str(
                &parcel_field(&redis, p.as_str().unwrap(), "data")
                    .await
                    .unwrap(),
            )
            .unwrap();
            sum += doc["quote"].as_str().unwrap().parse::<i64>().unwrap();
        }
        assert_eq!(
            s["estimated_cost"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap(),
            sum,
            "{s}"
        );
        assert!(
            s["unconsolidated_cost"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
                > 0
        );
    }
    for s in &shs {
        eprintln!(
            "{}: {} parcels, estimated {} vs one box each {}",
            s["shipment_id"], s["parcel_count"], s["estimated_cost"], s["unconsolidated_cost"]
        );
    }
    eprintln!(
        "fee calls: ghtk {}, ghn {}, vtp {}",
        ghtk.fee_calls(),
        ghn.fee_calls(),
        vtp.quote_calls()
    );
    // Quotes were cached per (carrier, province, weight step): far fewer calls than parcels ×
    // carriers.
    assert!(
        ghtk.fee_calls() + ghn.fee_calls() < 2 * n as usize,
        "{} + {}",
        ghtk.fee_calls(),
        ghn.fee_calls()
    );

    // Book every shipment; GHN's first create fails with a 500 and is retried in the background.
    ghn.fault_next(fake_ghn::Fault::ServerError, 1);
    for s in &shs {
        let id = s["shipment_id"].as_str().unwrap();
        let (status, body) = api(
            &addr,
            reqwest::Method::POST,
            &format!("/v1/shipments/{id}/book"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    eventually(60, "every parcel booked with its carrier's code", || {
        let (r, c) = (&redis, &carrier_of);
        let (v, t, g) = (&vtp, &ghtk, &ghn);
        async move {
            for (p, (carrier, _)) in c {
                let code = match carrier.as_str() {
                    "viettel-post" => v.tracking_code(p),
                    "ghtk" => t.tracking_code(p),
                    _ => g.tracking_code(p),
                };
                if code.is_none() || parcel_field(r, p, "tracking").await != code {
                    return false;
                }
            }
            true
        }
    })
    .await;
    for (p, (carrier, _)) in &carrier_of {
        let counts = (
            vtp.created_count(p),
            ghtk.created_count(p),
            ghn.created_count(p),
        );
        let want = match carrier.as_str() {
            "viettel-post" => (1, 0, 0),
            "ghtk" => (0, 1, 0),
            _ => (0, 0, 1),
        };
        assert_eq!(counts, want, "{p} booked once, with {carrier} only");
    }
    assert!(
        ghn.calls()
            .iter()
            .any(|c| c.outcome == fake_ghn::Outcome::ServerError),
        "the fault hit"
    );

    // Status webhooks, authenticated by the secret in the registered URL (or a header).
    let http = reqwest::Client::new();
    let ghtk_parcel = by_kind[&("Hà Nội", false)][0].clone();
    let form = ghtk
        .webhook_for(&ghtk_parcel, 5, 13_000, 400_000, false)
        .unwrap();
    let url = app.http("/v1/carriers/ghtk/webhook");
    let unsigned = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let ok = http
        .post(format!("{url}?secret={GHTK_SECRET}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await.unwrap()["result"], "applied");
    let ghn_parcel = by_kind[&("Hồ Chí Minh", true)][0].clone();
    let body = ghn
        .webhook_for(
            &ghn_parcel,
            "delivered",
            16_000,
            Some("2026-12-16T03:00:00Z"),
            false,
        )
        .unwrap();
    let ok = http
        .post(app.http("/v1/carriers/ghn/webhook"))
        .header("x-livepack-secret", GHN_SECRET)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // Twice: idempotent.
    let again = http
        .post(app.http("/v1/carriers/ghn/webhook"))
        .header("x-livepack-secret", GHN_SECRET)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.json::<Value>().await.unwrap()["result"], "unchanged");
    // A late "picked" never moves a delivered parcel back.
    let late = ghn
        .webhook_for(&ghn_parcel, "picked", 16_000, None, false)
        .unwrap();
    let r = http
        .post(format!(
            "{}?secret={GHN_SECRET}",
            app.http("/v1/carriers/ghn/webhook")
        ))
        .body(late)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for p in [&ghtk_parcel, &ghn_parcel] {
        assert_eq!(
            parcel_field(&redis, p, "cstatus").await.as_deref(),
            Some("delivered"),
            "{p}"
        );
    }
    app.stop().await;
}
