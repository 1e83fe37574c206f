//! Cancellation after packing or booking, end to end: real Redis, the service in-process, a
//! local server speaking Viettel Post's partner API (tests/fake_vtp). Buyers with three orders
//! each (one parcel per buyer); one order of a buyer is cancelled at each stage (received,
//! waved, picked, packed, booked) through the `cancel` frame or `POST /v1/orders/{id}/cancel`.
//! After every step: every live order is in exactly one ship-able parcel, each ship-able
//! parcel's COD is the sum of its live orders', and the pick list holds exactly the live units
//! (what was picked beyond shows as put-back). A packed or booked parcel is `replaced` by a new
//! one (`replaces` / `replaced_by`); a booked parcel's carrier order is cancelled exactly once
//! at the carrier even when the first `UpdateOrder` answers 500 or its answer is lost, and a
//! carrier that refuses (order already at the post office) leaves `cancel_state` = `refused`.

use crate::common;
use crate::fake_vtp;
use livepack::store::keys;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use fake_vtp::{CancelFault, CancelOutcome, FakeVtp};
use serde_json::{json, Value};

const SELLER: &str = "mat-ong-tam-diep";
const TOKEN: &str = "seller-one-token-0000000001";
const SESSION: &str = "ocop-repack";

fn config(redis: &str, vtp: &str) -> livepack::Config {
    config_with(
        redis,
        vtp,
        "retry_base_ms = 50\nbook_before_pickup_minutes = 0",
    )
}

/// The seller and the Viettel Post carrier with `carrier` settings of its own.
fn config_with(redis: &str, vtp: &str, carrier: &str) -> livepack::Config {
    let carrier = vtp_carrier_toml(vtp, "vtp-webhook-secret-for-tests", carrier);
    let extra = format!("{carrier}{}", sellers_toml(&[(SELLER, TOKEN)]));
    test_config(redis, &extra)
}

/// One test order: `units` jars of one SKU (two SKUs over the buyers), COD = units × price.
#[derive(Debug, Clone)]
struct TestOrder {
    id: String,
    buyer: u64,
    sku: &'static str,
    units: u64,
    cod: i64,
}

const PRICE: i64 = 185_000;

fn test_order(buyer: u64, k: u64) -> TestOrder {
    let units = 1 + (buyer + k) % 3;
    TestOrder {
        id: format!("RP-{buyer}-{k}"),
        buyer,
        sku: if k.is_multiple_of(2) {
            "HONEY-500"
        } else {
            "TEA-100"
        },
        units,
        cod: units as i64 * PRICE,
    }
}

fn order_json(o: &TestOrder) -> Value {
    json!({
        "order_id": o.id, "platform": "tiktok", "placed_at": placed_at_minutes_ago(5),
        "buyer": { "name": "Nguyễn Thị Lan", "phone": format!("09{:08}", o.buyer % 100_000_000) },
        "ship_to": { "province": "Ninh Bình", "ward": "Phường Hoa Lư",
                     "street": format!("{} Trần Hưng Đạo", o.buyer) },
        "items": [ { "sku": o.sku, "name": format!("Hàng {}", o.sku), "qty": o.units,
                     "unit_price": PRICE.to_string(), "weight_g": 650 } ],
        "cod_amount": o.cod.to_string(), "shipping_fee": "0"
    })
}

struct Ctx {
    addr: String,
    http: reqwest::Client,
    token: &'static str,
    seller: &'static str,
    orders: Vec<TestOrder>,
    cancelled: BTreeSet<String>,
    /// The wave of each waved order (learned from its record).
    wave_of: BTreeMap<String, String>,
    /// The pick-list model per (wave, SKU): units picked and units to put back.
    picks: BTreeMap<(String, String), (u64, u64)>,
}

impl Ctx {
    fn new(addr: String, seller: &'static str, token: &'static str) -> Ctx {
        Ctx {
            addr,
            http: reqwest::Client::new(),
            token,
            seller,
            orders: Vec::new(),
            cancelled: BTreeSet::new(),
            wave_of: BTreeMap::new(),
            picks: BTreeMap::new(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("http://{}{path}", self.addr))
            .bearer_auth(OPERATOR);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> Value {
        let (s, v) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(s, 200, "{path}: {v}");
        v
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (s, v) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert_eq!(s, 200, "{path}: {v}");
        v
    }

    async fn order(&self, id: &str) -> Value {
        self.get(&format!("/v1/orders/{id}?seller={}", self.seller))
            .await
    }

    /// Every wave of the site (today's and tomorrow's business days), in full.
    async fn waves(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for date in business_days() {
            let list = self
                .get(&format!("/v1/sites/{SITE}/waves?date={date}"))
                .await;
            for w in list["waves"].as_array().unwrap() {
                let id = w["wave_id"].as_str().unwrap();
                out.push(self.get(&format!("/v1/waves/{id}")).await);
            }
        }
        out
    }

    async fn parcels(&self) -> Vec<Value> {
        self.waves()
            .await
            .iter()
            .flat_map(|w| w["parcels"].as_array().unwrap().clone())
            .collect()
    }

    fn live(&self) -> impl Iterator<Item = &TestOrder> {
        self.orders
            .iter()
            .filter(|o| !self.cancelled.contains(&o.id))
    }

    fn test_order(&self, id: &str) -> &TestOrder {
        self.orders.iter().find(|o| o.id == id).unwrap()
    }

    /// Learns the wave of every order that has one.
    async fn learn_waves(&mut self) {
        let ids: Vec<String> = self
            .orders
            .iter()
            .filter(|o| !self.wave_of.contains_key(&o.id))
            .map(|o| o.id.clone())
            .collect();
        for id in ids {
            if let Some(w) = self.order(&id).await["wave_id"].as_str() {
                self.wave_of.insert(id, w.to_owned());
            }
        }
    }

    /// Live units per (wave, SKU).
    fn live_units(&self) -> BTreeMap<(String, String), u64> {
        let mut out = BTreeMap::new();
        for o in self.live() {
            if let Some(w) = self.wave_of.get(&o.id) {
                *out.entry((w.clone(), o.sku.to_owned())).or_default() += o.units;
            }
        }
        out
    }

    /// Picks what is left to pick of this context's waves (the model follows).
    async fn pick_all(&mut self) {
        let mine: BTreeSet<String> = self.wave_of.values().cloned().collect();
        for w in self.waves().await {
            let id = w["wave_id"].as_str().unwrap().to_owned();
            if !mine.contains(&id) {
                continue;
            }
            for l in w["pick_list"].as_array().unwrap() {
                let sku = l["sku"].as_str().unwrap().to_owned();
                let left = l["qty"].as_u64().unwrap() - l["picked"].as_u64().unwrap();
                if left > 0 {
                    let n = self.picks.len();
                    self.post(
                        &format!("/v1/waves/{id}/picks"),
                        json!({"pick_id": format!("pick-{n}-{id}-{sku}"), "sku": sku, "qty": left}),
                    )
                    .await;
                }
                let e = self.picks.entry((id.clone(), sku)).or_default();
                e.0 += left;
            }
        }
    }

    /// Packs every open parcel holding this context's orders.
    async fn pack_all(&self) {
        for p in self.parcels().await {
            let mine = p["order_ids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| self.orders.iter().any(|t| t.id == *o));
            if mine && p["status"] == "open" {
                let id = p["parcel_id"].as_str().unwrap();
                self.post(&format!("/v1/parcels/{id}/packed"), json!({}))
                    .await;
            }
        }
    }

    /// Books every shipment of the site (today's and tomorrow's pickups).
    async fn book_all(&self) {
        for date in business_days() {
            let list = self
                .get(&format!("/v1/sites/{SITE}/shipments?date={date}"))
                .await;
            for sh in list["shipments"].as_array().unwrap() {
                let id = sh["shipment_id"].as_str().unwrap();
                self.post(&format!("/v1/shipments/{id}/book"), json!({}))
                    .await;
            }
        }
    }

    /// The model's side of a cancellation: the order's units leave its wave's pick list;
    /// units picked beyond the new total are to be put back.
    fn note_cancel(&mut self, id: &str) {
        self.cancelled.insert(id.to_owned());
        let Some(w) = self.wave_of.get(id).cloned() else {
            return;
        };
        let sku = self.test_order(id).sku.to_owned();
        let total = self
            .live_units()
            .get(&(w.clone(), sku.clone()))
            .copied()
            .unwrap_or(0);
        if let Some(e) = self.picks.get_mut(&(w, sku)) {
            if e.0 > total {
                e.1 += e.0 - total;
                e.0 = total;
            }
        }
    }

    /// Waits until the planner has taken the cancelled order `id` out of every ship-able
    /// parcel and its units out of the pick list.
    /// Cancels `id` over the WebSocket (answered `cancelled`) and waits until it settled.
    async fn cancel_ws(&mut self, ws: &mut Ws, seq: &mut i64, id: &str) {
        assert_eq!(cancel_frame(ws, *seq, id).await, "cancelled");
        *seq += 1;
        self.note_cancel(id);
        self.settled(id).await;
    }

    async fn settled(&self, id: &str) {
        let wave = self.wave_of.get(id).cloned();
        let sku = self.test_order(id).sku;
        let want = wave
            .as_ref()
            .and_then(|w| self.live_units().get(&(w.clone(), sku.to_owned())).copied())
            .unwrap_or(0);
        eventually(30, &format!("cancelled {id} out of its wave"), || async {
            let Some(w) = &wave else { return true };
            let wv = self.get(&format!("/v1/waves/{w}")).await;
            let qty = wv["pick_list"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["sku"] == sku)
                .map_or(0, |l| l["qty"].as_u64().unwrap());
            let held = wv["parcels"].as_array().unwrap().iter().any(|p| {
                !["cancelled", "replaced"].contains(&p["status"].as_str().unwrap())
                    && p["order_ids"].as_array().unwrap().iter().any(|o| o == id)
            });
            qty == want && !held
        })
        .await;
    }

    /// The invariant: every live order in exactly one ship-able parcel (and its record points
    /// there), all live orders of a buyer in the same parcel and nothing else in it, COD of
    /// each ship-able parcel = Σ its live orders' COD, no cancelled order in a ship-able
    /// parcel; the pick list per wave and SKU = live units, picked and put-back as the model.
    async fn check(&self) -> Vec<Value> {
        let waves = self.waves().await;
        let mut holder: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut parcels = Vec::new();
        let mut contents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for w in &waves {
            let wave_id = w["wave_id"].as_str().unwrap().to_owned();
            for p in w["parcels"].as_array().unwrap() {
                parcels.push(p.clone());
                let ships = !["cancelled", "replaced"].contains(&p["status"].as_str().unwrap())
                    && p["pull"] == false;
                if !ships {
                    continue;
                }
                let pid = p["parcel_id"].as_str().unwrap().to_owned();
                let mut cod = 0;
                for o in p["order_ids"].as_array().unwrap() {
                    let o = o.as_str().unwrap();
                    let Some(t) = self.orders.iter().find(|t| t.id == o) else {
                        continue; // another test's order
                    };
                    assert!(
                        !self.cancelled.contains(o),
                        "cancelled order {o} still in ship-able parcel {p}"
                    );
                    cod += t.cod;
                    holder.entry(o.to_owned()).or_default().push(pid.clone());
                    contents
                        .entry(pid.clone())
                        .or_default()
                        .insert(o.to_owned());
                }
                if contents.contains_key(&pid) {
                    assert_eq!(
                        p["cod_amount"].as_str().unwrap().parse::<i64>().unwrap(),
                        cod,
                        "COD of {p}"
                    );
                }
            }
            for l in w["pick_list"].as_array().unwrap() {
                let key = (wave_id.clone(), l["sku"].as_str().unwrap().to_owned());
                let live = self.live_units().get(&key).copied().unwrap_or(0);
                let (picked, back) = self.picks.get(&key).copied().unwrap_or_default();
                if !self.wave_of.values().any(|v| *v == wave_id) {
                    continue;
                }
                assert_eq!(
                    l["qty"].as_u64().unwrap(),
                    live,
                    "pick list {key:?} = live units"
                );
                assert_eq!(l["picked"].as_u64().unwrap(), picked, "picked {key:?}");
                assert_eq!(l["put_back"].as_u64().unwrap(), back, "put-back {key:?}");
            }
        }
        for (key, live) in self.live_units() {
            if live > 0 {
                let listed = waves.iter().any(|w| {
                    w["wave_id"] == key.0.as_str()
                        && w["pick_list"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|l| l["sku"] == key.1.as_str())
                });
                assert!(listed, "{key:?} has live units but no pick line");
            }
        }
        for o in self.live() {
            let held = holder.get(&o.id).cloned().unwrap_or_default();
            let rec = self.order(&o.id).await;
            if rec["status"] == "received" {
                assert!(held.is_empty(), "{} not waved yet but in {held:?}", o.id);
                continue;
            }
            assert_eq!(
                held.len(),
                1,
                "live order {} in ship-able parcels {held:?}",
                o.id
            );
            assert_eq!(
                rec["parcel_id"].as_str(),
                Some(held[0].as_str()),
                "order {} points at its parcel",
                o.id
            );
            let buyer: BTreeSet<String> = self
                .live()
                .filter(|t| t.buyer == o.buyer)
                .map(|t| t.id.clone())
                .collect();
            assert_eq!(
                contents[&held[0]], buyer,
                "buyer {}'s live orders share one parcel",
                o.buyer
            );
        }
        parcels
    }

    async fn cancel_http(&mut self, id: &str) {
        // The seller's own call (`POST /v1/orders/{id}/cancel` takes the seller's token).
        let resp = self
            .http
            .post(format!("http://{}/v1/orders/{id}/cancel", self.addr))
            .bearer_auth(self.token)
            .json(&json!({"reason": "buyer_cancelled"}))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "cancelled", "{body}");
        self.note_cancel(id);
    }
}

async fn cancel_frame(ws: &mut Ws, seq: i64, id: &str) -> Value {
    send(
        ws,
        &json!({"type": "cancel", "seq": seq, "order_id": id, "reason": "buyer_cancelled"}),
    )
    .await;
    let r = recv(ws).await;
    assert_eq!(r["seq"], seq, "{r}");
    r["results"][0]["status"].clone()
}

/// Waits until the carrier order of `parcel` is cancelled.
async fn carrier_cancelled(redis: &TestRedis, parcel: &str, what: &str) {
    let cancelled = || async {
        parcel_field(redis, parcel, "cancel_state").await.as_deref() == Some("cancelled")
    };
    eventually(30, what, cancelled).await;
}

async fn parcel_field(redis: &TestRedis, id: &str, field: &str) -> Option<String> {
    let bytes = parcel_bytes(redis, id, field).await?;
    Some(String::from_utf8(bytes).expect("a text field"))
}

/// The shipment a parcel leaves with: its document's `shipment_id` (the hash repeats no id).
async fn parcel_shipment(redis: &TestRedis, id: &str) -> Option<String> {
    let data: Vec<u8> = parcel_bytes(redis, id, "data").await?;
    let doc: Value = serde_json::from_str(&livepack::store::doc::unpack(data).unwrap()).unwrap();
    doc["shipment_id"].as_str().map(String::from)
}

async fn parcel_bytes(redis: &TestRedis, id: &str, field: &str) -> Option<Vec<u8>> {
    let mut c = redis.conn().await;
    redis::cmd("HGET")
        .arg(livepack::store::keys::parcel(SITE, id))
        .arg(field)
        .query_async(&mut c)
        .await
        .unwrap()
}

/// Today's and tomorrow's dates at the hub (`YYYY-MM-DD`).
fn business_days() -> [String; 2] {
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Ho_Chi_Minh);
    [0, 1].map(|d| {
        (today + chrono::Duration::days(d))
            .format("%Y-%m-%d")
            .to_string()
    })
}

fn parcel_of<'a>(parcels: &'a [Value], id: &str) -> &'a Value {
    parcels
        .iter()
        .find(|p| p["parcel_id"] == id)
        .unwrap_or_else(|| panic!("parcel {id} listed in its wave"))
}

fn parcel_of_buyer(parcels: &[Value], buyer: u64) -> String {
    parcels
        .iter()
        .find(|p| {
            p["status"] != "replaced"
                && p["status"] != "cancelled"
                && p["order_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|o| o.as_str().unwrap().starts_with(&format!("RP-{buyer}-")))
        })
        .unwrap_or_else(|| panic!("a ship-able parcel of buyer {buyer}"))["parcel_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn ingest(ws: &mut Ws, seq: i64, orders: &[TestOrder]) {
    let all: Vec<Value> = orders.iter().map(order_json).collect();
    send(ws, &json!({"type": "orders", "seq": seq, "orders": all})).await;
    let ack = recv(ws).await;
    assert!(
        ack["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "accepted"),
        "{ack}"
    );
}

async fn wait_waved(ctx: &mut Ctx) {
    eventually(30, "every live order waved", || async {
        for o in ctx.live() {
            if ctx.order(&o.id).await["wave_id"].is_null() {
                return false;
            }
        }
        true
    })
    .await;
    ctx.learn_waves().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_at_every_stage_keeps_every_live_order_in_one_parcel() {
    let redis = TestRedis::start().await;
    let vtp = FakeVtp::start().await;
    let app = TestApp::spawn_with(config(&redis.url(), &vtp.base_url())).await;
    let mut ctx = Ctx::new(app.addr.to_string(), SELLER, TOKEN);
    // Buyers: 1 received, 2 waved, 3 picked, 4 packed, 5 booked, 6 booked and refused by the
    // carrier, 7 a booked single-order parcel, 8 untouched.
    for buyer in 1..=8u64 {
        let n = if buyer == 7 { 1 } else { 3 };
        for k in 0..n {
            ctx.orders.push(test_order(buyer, k));
        }
    }
    let mut ws = connect(&app, TOKEN, SESSION).await;
    ingest(&mut ws, 1, &ctx.orders).await;
    let mut seq = 2;

    // Received: cancelled before any wave; the buyer's other two orders are waved together.
    assert_eq!(cancel_frame(&mut ws, seq, "RP-1-0").await, "cancelled");
    seq += 1;
    ctx.note_cancel("RP-1-0");
    send(&mut ws, &json!({"type": "end_session", "seq": seq})).await;
    recv(&mut ws).await;
    seq += 1;
    wait_waved(&mut ctx).await;
    let parcels = ctx.check().await;
    let p1 = parcel_of_buyer(&parcels, 1);
    assert_eq!(
        parcel_of(&parcels, &p1)["order_ids"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Waved (nothing picked): the open parcel just loses the order.
    let p2 = parcel_of_buyer(&parcels, 2);
    ctx.cancel_ws(&mut ws, &mut seq, "RP-2-1").await;
    let parcels = ctx.check().await;
    assert_eq!(parcel_of(&parcels, &p2)["status"], "open");
    assert!(parcel_of(&parcels, &p2)["replaced_by"].is_null());

    // Picked: every unit picked, then a cancel: its units are to be put back.
    ctx.pick_all().await;
    let p3 = parcel_of_buyer(&parcels, 3);
    ctx.cancel_http("RP-3-2").await;
    ctx.settled("RP-3-2").await;
    let parcels = ctx.check().await;
    let back: u64 = ctx.picks.values().map(|(_, b)| b).sum();
    assert_eq!(back, test_order(3, 2).units, "RP-3-2's units to put back");
    assert_eq!(parcel_of(&parcels, &p3)["status"], "open");
    assert_eq!(
        parcel_of(&parcels, &p3)["order_ids"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Packed: the parcel is replaced by a new open one with the two surviving orders.
    let p4 = parcel_of_buyer(&parcels, 4);
    let p5 = parcel_of_buyer(&parcels, 5);
    let p6 = parcel_of_buyer(&parcels, 6);
    let p7 = parcel_of_buyer(&parcels, 7);
    ctx.pack_all().await;
    ctx.cancel_ws(&mut ws, &mut seq, "RP-4-0").await;
    let parcels = ctx.check().await;
    let old = parcel_of(&parcels, &p4);
    assert_eq!(old["status"], "replaced");
    let p4_new = old["replaced_by"].as_str().unwrap().to_owned();
    assert!(old["pull"] == true, "the old box is pulled");
    let new = parcel_of(&parcels, &p4_new);
    assert_eq!(new["status"], "open", "to repack with a new label");
    assert_eq!(new["replaces"], p4.as_str());
    assert_eq!(
        new["order_ids"],
        json!(["RP-4-1", "RP-4-2"]),
        "the surviving orders"
    );
    assert_eq!(
        new["cod_amount"].as_str().unwrap().parse::<i64>().unwrap(),
        test_order(4, 1).cod + test_order(4, 2).cod
    );
    assert!(new["weight_g"].as_u64().unwrap() < old["weight_g"].as_u64().unwrap());
    for id in ["RP-4-1", "RP-4-2"] {
        let rec = ctx.order(id).await;
        assert_eq!(rec["parcel_id"], p4_new.as_str());
        assert_eq!(rec["status"], "picked", "to be repacked");
    }
    let sh = parcel_shipment(&redis, &p4).await.expect("in a shipment");
    assert_eq!(
        parcel_shipment(&redis, &p4_new).await.as_deref(),
        Some(sh.as_str())
    );
    let mut c = redis.conn().await;
    let list: String = redis::cmd("GET")
        .arg(livepack::store::keys::shipment_parcels(SITE, &sh))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        list.lines().any(|l| l == p4_new),
        "the new parcel joins its shipment's parcels"
    );
    assert_eq!(
        list.lines().filter(|l| *l == p4).count(),
        1,
        "the replaced parcel stays listed once"
    );
    // The floor's view: the old box is to pull (pointing at its replacement), the new one
    // is covered by the units picked for it (they left the packed counts with the old box)
    // and is the next to pack.
    let wave = ctx
        .get(&format!("/v1/waves/{}", ctx.wave_of["RP-4-1"]))
        .await;
    let pull = wave["pulls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["parcel_id"] == p4.as_str())
        .expect("the old box is listed to pull");
    assert_eq!(pull["replaced_by"], p4_new.as_str());
    assert!(wave["pull_count"].as_u64().unwrap() >= 1);
    let card = wave["parcels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["parcel_id"] == p4_new.as_str())
        .unwrap();
    assert_eq!(card["items_picked"], true, "{card}");
    assert_eq!(wave["next_parcel_id"], p4_new.as_str(), "{wave}");
    assert!(
        wave["put_backs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["bin"].is_string() || b["bin"].is_null()),
        "{wave}"
    );
    // The old box cannot be packed again; the new one can.
    let (s, body) = ctx
        .call(
            reqwest::Method::POST,
            &format!("/v1/parcels/{p4}/packed"),
            None,
        )
        .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"]["code"], "parcel_replaced");
    assert!(body["error"]["message"].as_str().unwrap().contains(&p4_new));
    ctx.post(&format!("/v1/parcels/{p4_new}/packed"), json!({}))
        .await;
    let (s, r) = ctx
        .call(
            reqwest::Method::POST,
            &format!("/v1/parcels/{p4}/pulled"),
            None,
        )
        .await;
    assert_eq!((s, r["result"].as_str()), (200, Some("pulled")), "{r}");
    ctx.check().await;
    assert_eq!(
        parcel_field(&redis, &p4, "cancel_state").await,
        None,
        "never booked"
    );

    // Booked: book the shipment; buyer 6's order then reaches the post office.
    let booking = ctx
        .post(&format!("/v1/shipments/{sh}/book"), json!({}))
        .await;
    assert!(
        booking["parcels"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["status"] != "skipped")
            .all(|p| p["status"] == "booked"),
        "{booking}"
    );
    let t5 = vtp.tracking_code(&p5).expect("p5 booked");
    let t6 = vtp.tracking_code(&p6).expect("p6 booked");
    let t7 = vtp.tracking_code(&p7).expect("p7 booked");
    assert_eq!(
        vtp.created_count(&p4),
        0,
        "the replaced parcel is not booked"
    );
    vtp.set_order_status(&p6, 200);

    // The first UpdateOrder fails with a 500: retried in the background, cancelled once.
    vtp.cancel_fault_next(CancelFault::ServerError, 1);
    ctx.cancel_ws(&mut ws, &mut seq, "RP-5-1").await;
    carrier_cancelled(&redis, &p5, "the booked parcel's carrier order cancelled").await;
    assert_eq!(vtp.cancelled_count(&t5), 1, "cancelled exactly once");
    let calls: Vec<_> = vtp
        .cancel_calls()
        .into_iter()
        .filter(|c| c.tracking == t5)
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(
        calls[0].outcome,
        CancelOutcome::Fault(CancelFault::ServerError)
    );
    assert_eq!(calls[1].outcome, CancelOutcome::Cancelled);
    assert_eq!(calls[1].body["TYPE"], 4);
    let parcels = ctx.check().await;
    let old5 = parcel_of(&parcels, &p5);
    assert_eq!(old5["status"], "replaced", "not `booked`: {old5}");
    // Its carrier order is cancelled: no booking stands (its tracking code stays).
    assert_eq!(old5["booking"]["state"], "none", "{old5}");
    assert_eq!(old5["tracking"], t5.as_str(), "{old5}");
    assert_eq!(old5["carrier_cancel"], "cancelled", "{old5}");
    let p5_new = old5["replaced_by"].as_str().unwrap().to_owned();
    let new5 = parcel_of(&parcels, &p5_new);
    assert_eq!(new5["replaces"], p5.as_str());
    assert_eq!(
        new5["cod_amount"].as_str().unwrap().parse::<i64>().unwrap(),
        test_order(5, 0).cod + test_order(5, 2).cod
    );
    assert_eq!(parcel_field(&redis, &p5_new, "tracking").await, None);
    assert!(calls[1].body["NOTE"].as_str().unwrap().contains(&p5_new));
    // Cancelling again: `cancelled` again, no second repack, no second carrier call.
    assert_eq!(cancel_frame(&mut ws, seq, "RP-5-1").await, "cancelled");
    seq += 1;
    ctx.cancel_http("RP-5-1").await;
    // The replacement is booked like any parcel (the shipment re-opened for it).
    let booking = ctx
        .post(&format!("/v1/shipments/{sh}/book"), json!({}))
        .await;
    let answer = |id: &str| {
        booking["parcels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["parcel_id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(answer(&p5_new)["status"], "booked", "{booking}");
    // The replaced parcel kept its tracking code, but is not `booked` any more.
    assert_eq!(answer(&p5)["status"], "skipped", "{booking}");
    assert_eq!(
        vtp.created_count(&p5),
        1,
        "the replaced parcel never booked again"
    );
    let parcels = ctx.check().await;
    let repacks = parcels
        .iter()
        .filter(|p| p["replaces"] == p5.as_str())
        .count();
    assert_eq!(repacks, 1, "one replacement of {p5}");
    // A late webhook for the replaced parcel (the postman picked it up: 105) is that
    // parcel's news only: the orders the repack moved to the replacement keep their status.
    let moved = ["RP-5-0", "RP-5-2"];
    let mut before = Vec::new();
    for id in moved {
        before.push(ctx.order(id).await["status"].clone());
    }
    let body = fake_vtp::webhook_body(&t5, &p5, 105, "vtp-webhook-secret-for-tests");
    let resp = ctx
        .http
        .post(format!(
            "http://{}/v1/carriers/viettel-post/webhook",
            ctx.addr
        ))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(
        parcel_field(&redis, &p5, "cstatus").await.as_deref(),
        Some("handed_over"),
        "the webhook reached the replaced parcel"
    );
    for (id, was) in moved.iter().zip(&before) {
        let now = ctx.order(id).await;
        assert_eq!(&now["status"], was, "{id} is not handed over: {now}");
        assert_eq!(now["parcel_id"], p5_new.as_str(), "{now}");
    }

    // A single-order booked parcel: cancelled (no replacement); the cancel's answer is lost
    // once, the retry finds it cancelled already.
    vtp.cancel_fault_next(CancelFault::Lost, 1);
    ctx.cancel_ws(&mut ws, &mut seq, "RP-7-0").await;
    carrier_cancelled(
        &redis,
        &p7,
        "the single-order parcel's carrier order cancelled",
    )
    .await;
    assert_eq!(vtp.cancelled_count(&t7), 1);
    let parcels = ctx.check().await;
    assert_eq!(parcel_of(&parcels, &p7)["status"], "cancelled");
    assert!(parcel_of(&parcels, &p7)["replaced_by"].is_null());

    // At the post office already: the carrier refuses; final, the box is still replaced.
    ctx.cancel_http("RP-6-0").await;
    ctx.settled("RP-6-0").await;
    eventually(30, "the refused cancel recorded", || async {
        parcel_field(&redis, &p6, "cancel_state").await.as_deref() == Some("refused")
    })
    .await;
    assert_eq!(vtp.cancelled_count(&t6), 0);
    assert!(parcel_field(&redis, &p6, "cancel_error")
        .await
        .unwrap()
        .contains("200"));
    let parcels = ctx.check().await;
    assert_eq!(parcel_of(&parcels, &p6)["status"], "replaced");
    // The operator sees why (the carrier's message), and that it is final.
    assert_eq!(parcel_of(&parcels, &p6)["carrier_cancel"], "refused");
    let why = parcel_of(&parcels, &p6)["carrier_cancel_error"].clone();
    assert!(why.as_str().is_some_and(|m| m.contains("200")), "{why}");
    assert!(parcel_of(&parcels, &p7)["carrier_cancel_error"].is_null());

    // The booked parcels left the cancel queue, and no carrier order was cancelled twice.
    let mut c = redis.conn().await;
    let queued: Vec<String> = redis::cmd("ZRANGE")
        .arg(keys::carrier_cancels(SITE))
        .arg(0)
        .arg(-1)
        .query_async(&mut c)
        .await
        .unwrap();
    for p in [&p5, &p6, &p7] {
        assert!(!queued.contains(p), "{p} still queued: {queued:?}");
    }
    let calls = vtp.cancel_calls();
    let cancelled: Vec<&String> = calls
        .iter()
        .filter(|c| c.outcome == CancelOutcome::Cancelled)
        .map(|c| &c.tracking)
        .collect();
    assert_eq!(cancelled, [&t5], "{calls:?}");
    // Counted, by outcome.
    let metrics = ctx
        .http
        .get(format!("http://{}/metrics", ctx.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "livepack_parcels_repacked_total{site=\"hoa-lu-hub\",outcome=\"replaced\"}",
        "result=\"refused\"",
        "result=\"failed\"",
    ] {
        assert!(
            metrics.lines().any(|l| l.contains(needle)
                && (l.starts_with("livepack_carrier_cancels_total")
                    || l.starts_with("livepack_parcels_repacked_total"))),
            "{needle} in /metrics"
        );
    }
    let _ = seq;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------
// Property: random multi-order buyers, random orders cancelled at random stages (received,
// waved, picked, packed, booked, or cancelled twice), checked against the model after every
// stage. The service runs in-process on real Redis with the offline mock carrier.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Received,
    Waved,
    Picked,
    Packed,
    Booked,
}

#[derive(Debug, Clone)]
struct Case {
    /// Orders per buyer.
    buyers: Vec<u64>,
    /// (buyer index, order index, stage); an order drawn twice is cancelled twice.
    cancels: Vec<(usize, u64, Stage)>,
}

fn case_strategy() -> impl proptest::strategy::Strategy<Value = Case> {
    use proptest::prelude::*;
    let stage = prop_oneof![
        Just(Stage::Received),
        Just(Stage::Waved),
        Just(Stage::Picked),
        Just(Stage::Packed),
        Just(Stage::Booked),
    ];
    prop::collection::vec(1u64..=4, 1..=3)
        .prop_flat_map(move |buyers| {
            let n = buyers.len();
            (
                Just(buyers),
                prop::collection::vec((0..n, 0u64..4, stage.clone()), 1..=5),
            )
        })
        .prop_map(|(buyers, cancels)| Case { buyers, cancels })
}

const PROP_SELLER: &str = "tra-shan-tuyet";
const PROP_TOKEN: &str = "seller-two-token-0000000002";

fn prop_config(redis: &str) -> livepack::Config {
    let extra = format!(
        r#"
[operator]
token = "{OPERATOR}"
[[sellers]]
id = "{PROP_SELLER}"
name = "{PROP_SELLER}"
site = "{SITE}"
token = "{PROP_TOKEN}"
"#
    );
    // The default test carrier: the offline mock (books and cancels at once).
    test_config(redis, &extra)
}

async fn run_case(addr: &str, redis: &TestRedis, n: u64, case: &Case) {
    let mut ctx = Ctx::new(addr.to_owned(), PROP_SELLER, PROP_TOKEN);
    for (b, orders) in case.buyers.iter().enumerate() {
        for k in 0..*orders {
            ctx.orders.push(test_order(1_000 * (n + 1) + b as u64, k));
        }
    }
    let session = format!("prop-{n}");
    let mut ws = connect_to(addr, PROP_TOKEN, &session).await;
    ingest(&mut ws, 1, &ctx.orders).await;
    let mut seq: i64 = 2;
    let mut cancels: Vec<(String, Stage)> = case
        .cancels
        .iter()
        .map(|(b, k, st)| {
            let buyer = 1_000 * (n + 1) + *b as u64;
            let k = k % case.buyers[*b];
            (format!("RP-{buyer}-{k}"), *st)
        })
        .collect();
    cancels.sort_by_key(|(_, st)| *st);
    let mut done_stage = Stage::Received;
    for stage in [
        Stage::Received,
        Stage::Waved,
        Stage::Picked,
        Stage::Packed,
        Stage::Booked,
    ] {
        match stage {
            Stage::Received => {}
            Stage::Waved => {
                send(&mut ws, &json!({"type": "end_session", "seq": seq})).await;
                recv(&mut ws).await;
                seq += 1;
                wait_waved(&mut ctx).await;
            }
            Stage::Picked => ctx.pick_all().await,
            Stage::Packed => ctx.pack_all().await,
            Stage::Booked => ctx.book_all().await,
        }
        done_stage = stage;
        for (id, _) in cancels.iter().filter(|(_, st)| *st == stage) {
            let again = ctx.cancelled.contains(id);
            if seq % 2 == 0 {
                assert_eq!(cancel_frame(&mut ws, seq, id).await, "cancelled");
                if !again {
                    ctx.note_cancel(id);
                }
            } else if again {
                assert_eq!(cancel_frame(&mut ws, seq, id).await, "cancelled");
            } else {
                ctx.cancel_http(id).await;
            }
            seq += 1;
            if stage != Stage::Received {
                ctx.settled(id).await;
            }
        }
        if stage != Stage::Received {
            ctx.check().await;
        }
    }
    assert_eq!(done_stage, Stage::Booked);
    // Every parcel that left the floor booked has its carrier order cancelled.
    let parcels = ctx.check().await;
    for p in &parcels {
        let id = p["parcel_id"].as_str().unwrap();
        let mine = p["order_ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| ctx.orders.iter().any(|t| t.id == *o));
        let gone = p["status"] == "replaced" || p["status"] == "cancelled";
        if mine && gone && parcel_field(redis, id, "tracking").await.is_some() {
            eventually(30, &format!("carrier order of {id} cancelled"), || async {
                parcel_field(redis, id, "cancel_state").await.as_deref() == Some("cancelled")
            })
            .await;
        }
    }
}

async fn connect_to(addr: &str, token: &str, session: &str) -> Ws {
    try_connect(
        &format!("ws://{addr}/v1/ingest?session={session}"),
        Some(token),
    )
    .await
    .expect("ws connects")
}

#[test]
fn property_every_live_order_in_exactly_one_shipable_parcel() {
    use proptest::test_runner::{Config, TestRunner};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (redis, app) = rt.block_on(async {
        let redis = TestRedis::start().await;
        let app = TestApp::spawn_with(prop_config(&redis.url())).await;
        (redis, app)
    });
    let addr = app.addr.to_string();
    let cases: u32 = std::env::var("REPACK_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 16,
        ..Config::default()
    });
    let counter = std::sync::atomic::AtomicU64::new(0);
    let result = runner.run(&case_strategy(), |case| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        rt.block_on(run_case(&addr, &redis, n, &case));
        Ok(())
    });
    rt.block_on(app.stop());
    if let Err(e) = result {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------------------
// The adapter alone: `UpdateOrder` TYPE 4 over the wire, with its failures.

fn booking(reference: &str) -> livepack::shipping::carrier::BookingRequest {
    use livepack::shipping::carrier::{BookingItem, BookingRequest, Party};
    let party = |name: &str, phone: &str| Party {
        name: name.into(),
        phone: phone.into(),
        street: "12 Trần Hưng Đạo".into(),
        ward: "Phường Hoa Lư".into(),
        province: "Ninh Bình".into(),
    };
    BookingRequest {
        reference: reference.into(),
        sender: party("HTX Hoa Lư", "0229123456"),
        receiver: party("Nguyễn Thị Lan", "0912345678"),
        weight_g: 1300,
        value: rust_decimal::Decimal::new(370_000, 0),
        cod: rust_decimal::Decimal::new(370_000, 0),
        service: "VCN".into(),
        items: vec![BookingItem {
            name: "Mật ong rừng 500ml".into(),
            qty: 2,
            unit_price: rust_decimal::Decimal::new(185_000, 0),
            weight_g: 650,
        }],
        note: None,
    }
}

#[tokio::test]
async fn viettel_post_cancel_over_the_wire() {
    use livepack::shipping::carrier::CarrierError;
    let vtp = FakeVtp::start().await;
    let client = vtp.client();
    let mut codes = Vec::new();
    for r in ["P-c1", "P-c2", "P-c3", "P-c4"] {
        codes.push(
            client
                .book(&booking(r))
                .await
                .expect("booked")
                .tracking_code,
        );
    }
    // Accepted once; a second cancel is answered "already cancelled": still Ok, no change.
    client
        .cancel(&codes[0], "Khách hủy đơn")
        .await
        .expect("cancelled");
    client
        .cancel(&codes[0], "Khách hủy đơn")
        .await
        .expect("again");
    assert_eq!(vtp.cancelled_count(&codes[0]), 1);
    let calls = vtp.cancel_calls();
    assert_eq!(calls[0].body["TYPE"], 4);
    assert_eq!(calls[0].body["ORDER_NUMBER"], codes[0].as_str());
    assert_eq!(calls[0].body["NOTE"], "Khách hủy đơn");
    assert_eq!(calls[1].outcome, CancelOutcome::AlreadyCancelled);
    // A 500 and a `status: 500` envelope are transient; nothing changed at the carrier.
    vtp.cancel_fault_next(CancelFault::ServerError, 1);
    vtp.cancel_fault_next(CancelFault::Internal, 1);
    for _ in 0..2 {
        let e = client.cancel(&codes[1], "x").await.unwrap_err();
        assert!(e.retryable(), "{e}");
    }
    assert_eq!(vtp.cancelled_count(&codes[1]), 0);
    client.cancel(&codes[1], "x").await.expect("then cancelled");
    // Picked up at the origin office (status 200): refused, final.
    vtp.set_order_status("P-c3", 200);
    let e = client.cancel(&codes[2], "x").await.unwrap_err();
    assert!(matches!(e, CarrierError::Rejected { .. }), "{e}");
    assert!(e.message().contains("200"));
    // Still with the postman (105 < 200): allowed.
    vtp.set_order_status("P-c4", 105);
    client
        .cancel(&codes[3], "x")
        .await
        .expect("cancelled before 200");
    // An unknown tracking code: refused.
    let e = client.cancel("999999999999", "x").await.unwrap_err();
    assert!(!e.retryable());
    // An expired token: logs in again once and cancels.
    let before = vtp.logins();
    vtp.expire_tokens();
    let e = client.cancel(&codes[2], "x").await.unwrap_err();
    assert!(
        !e.retryable(),
        "refused after the re-login, not an auth error: {e}"
    );
    assert_eq!(vtp.logins(), before + 1);
    // The mock carrier cancels its own codes and refuses others.
    let mock = livepack::shipping::carrier::MockCarrier::new();
    let code = livepack::shipping::carrier::MockCarrier::tracking_code("P-c1");
    mock.cancel(&code, "x").await.expect("mock cancels");
    assert!(mock.cancel("1234", "x").await.is_err());
}

// ---------------------------------------------------------------------------------------
// A race: the order is cancelled while the booking of its (open) parcel is in flight. The
// parcel is replaced (a new reference is needed: the carrier refuses a second order with the
// same one), and the carrier order the in-flight booking created is cancelled once it lands.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_during_an_in_flight_booking_cancels_the_order_it_creates() {
    let redis = TestRedis::start().await;
    let vtp = FakeVtp::start().await;
    let app = TestApp::spawn_with(config(&redis.url(), &vtp.base_url())).await;
    let (mut ctx, p, sh) = one_buyer_waved(&app, &redis, 77, "race").await;
    let parcels = ctx.check().await;
    assert_eq!(parcel_of(&parcels, &p)["status"], "open");

    vtp.set_delay(std::time::Duration::from_secs(3));
    let url = format!("http://{}/v1/shipments/{sh}/book", ctx.addr);
    let http = ctx.http.clone();
    let book = tokio::spawn(async move {
        http.post(url)
            .bearer_auth(OPERATOR)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    eventually(30, "the booking reached the carrier", || async {
        !vtp.calls_for(&p).is_empty()
    })
    .await;
    ctx.cancel_http("RP-77-0").await;
    ctx.settled("RP-77-0").await;
    let parcels = ctx.check().await;
    let old = parcel_of(&parcels, &p);
    assert_eq!(old["status"], "replaced", "{old}");
    let new_id = old["replaced_by"].as_str().unwrap().to_owned();
    assert_eq!(
        parcel_of(&parcels, &new_id)["order_ids"],
        json!(["RP-77-1"])
    );
    let answer = book.await.unwrap();
    assert!(answer["parcels"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["parcel_id"] == p.as_str() && r["status"] == "booked"));
    let tracking = vtp.tracking_code(&p).expect("the in-flight booking landed");
    eventually(30, "its carrier order cancelled", || async {
        parcel_field(&redis, &p, "cancel_state").await.as_deref() == Some("cancelled")
    })
    .await;
    assert_eq!(vtp.cancelled_count(&tracking), 1);
    let parcels = ctx.check().await;
    assert_eq!(parcel_of(&parcels, &p)["status"], "replaced");
    // The replacement books under its own reference.
    vtp.set_delay(std::time::Duration::ZERO);
    ctx.post(&format!("/v1/shipments/{sh}/book"), json!({}))
        .await;
    assert_eq!(vtp.created_count(&new_id), 1);
    assert_eq!(vtp.created_count(&p), 1);
    app.stop().await;
}

// A create call's answer is lost (the carrier created the order, then answered after the
// attempt's time limit, as after a 502 or a kill of the service mid-call), then the order
// is cancelled before any retry records a code: the canceller asks the carrier for the
// order it holds (the same create again: its duplicate answer names it) and cancels it,
// instead of leaving a carrier order for a box that will never exist (reviewer Y1).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_order_whose_answer_was_lost_is_found_and_cancelled() {
    lost_answer_then_cancel(false).await;
}

/// The carrier refuses the create sent to find the order (an "already exists" that names no
/// code reads the same): final, `refused`, for staff to check the carrier's portal, never
/// dropped as if the carrier held none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_carrier_order_the_carrier_will_not_name_is_left_to_staff() {
    lost_answer_then_cancel(true).await;
}

async fn lost_answer_then_cancel(refused: bool) {
    let redis = TestRedis::start().await;
    let vtp = FakeVtp::start().await;
    let carrier = "retry_base_ms = 60000\nattempt_timeout_ms = 300\nbook_before_pickup_minutes = 0";
    let app = TestApp::spawn_with(config_with(&redis.url(), &vtp.base_url(), carrier)).await;
    let (mut ctx, p, sh) = one_buyer_waved(&app, &redis, 78, "lost").await;

    // Created, answered after 1 s: the 300 ms attempt gives up (retrying, no code).
    vtp.set_delay(std::time::Duration::from_secs(1));
    let answer = ctx
        .post(&format!("/v1/shipments/{sh}/book"), json!({}))
        .await;
    assert!(answer.to_string().contains("retrying"), "{answer}");
    let code = vtp
        .tracking_code(&p)
        .expect("the carrier created the order");
    assert_eq!(parcel_field(&redis, &p, "tracking").await, None);
    if refused {
        // The next create (the canceller's, to find the order) is refused.
        vtp.fault_next(fake_vtp::Fault::Reject, 1);
    }
    // One order cancelled: the carrier may hold the parcel with both orders' COD, so the
    // survivor goes into a new parcel (its own reference and booking), as after a booking.
    ctx.cancel_http("RP-78-0").await;
    ctx.settled("RP-78-0").await;
    let parcels = ctx.check().await;
    let old = parcel_of(&parcels, &p);
    assert_eq!(old["status"], "replaced", "{old}");
    let new_id = old["replaced_by"].as_str().unwrap().to_owned();
    assert_eq!(
        parcel_of(&parcels, &new_id)["order_ids"],
        json!(["RP-78-1"])
    );
    if refused {
        eventually(30, "the unresolved carrier order left to staff", || async {
            parcel_field(&redis, &p, "cancel_state").await.as_deref() == Some("refused")
        })
        .await;
        let why = parcel_field(&redis, &p, "cancel_error").await.unwrap();
        assert!(why.contains("carrier's portal"), "{why}");
        assert_eq!(vtp.cancelled_count(&code), 0);
        app.stop().await;
        return;
    }
    carrier_cancelled(&redis, &p, "the lost carrier order found and cancelled").await;
    assert_eq!(vtp.cancelled_count(&code), 1);
    assert_eq!(
        parcel_field(&redis, &p, "tracking").await.as_deref(),
        Some(code.as_str())
    );
    assert_eq!(vtp.created_count(&p), 1, "found, not created again");
    app.stop().await;
}

/// Two orders of `buyer` (`RP-{buyer}-0`, `-1`) pushed into `session`, which ends; once
/// waved: the context, their parcel and its shipment.
async fn one_buyer_waved(
    app: &TestApp,
    redis: &TestRedis,
    buyer: u64,
    session: &str,
) -> (Ctx, String, String) {
    let mut ctx = Ctx::new(app.addr.to_string(), SELLER, TOKEN);
    for k in 0..2 {
        ctx.orders.push(test_order(buyer, k));
    }
    let mut ws = connect(app, TOKEN, session).await;
    ingest(&mut ws, 1, &ctx.orders).await;
    send(&mut ws, &json!({"type": "end_session", "seq": 2})).await;
    recv(&mut ws).await;
    wait_waved(&mut ctx).await;
    let parcels = ctx.check().await;
    let p = parcel_of_buyer(&parcels, buyer);
    let sh = parcel_shipment(redis, &p).await.expect("in a shipment");
    (ctx, p, sh)
}

/// (parcel id, wave id) of seller A's order `id` once it is waved.
async fn waved_in(seller: &TestClient, id: &str) -> (String, String) {
    let path = format!("/v1/orders/{id}");
    eventually(30, "waved", || async {
        seller.get_json(&path).await.1["parcel_id"].is_string()
    })
    .await;
    let (_, o) = seller.get_json(&path).await;
    let field = |k: &str| o[k].as_str().unwrap().to_owned();
    (field("parcel_id"), field("wave_id"))
}

/// A packed box whose buyer cancels one order is pulled and repacked: its pull card sends to
/// the shelf only what leaves the box and no put-back card already sends back, never the
/// items the new parcel needs (a reviewer saw a pull card send the whole box back, beside a
/// put-back card for the same cancelled unit, beside the repack card).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pulled_box_s_card_asks_back_each_unit_once_and_none_the_new_parcel_needs() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let client = app.client(OPERATOR);
    // Two buyers, each a honey order and a tea order (one parcel each).
    let mut orders = Vec::new();
    for buyer in [70, 71] {
        orders.push(order(&format!("PB-{buyer}-H"), buyer));
        let mut tea = order(&format!("PB-{buyer}-T"), buyer);
        tea["items"] = json!([{ "sku": "TEA-LOTUS-200", "name": "Trà sen 200g", "qty": 1,
            "unit_price": "120000", "weight_g": 250 }]);
        tea["cod_amount"] = json!("150000");
        orders.push(tea);
    }
    push_session(&app, TOKEN_A, "pull-card", &orders, 10).await;
    let seller_client = app.client(TOKEN_A);
    let mut parcels = Vec::new();
    for buyer in [70, 71] {
        parcels.push(waved_in(&seller_client, &format!("PB-{buyer}-H")).await);
    }
    // Buyer 70's box: every unit picked, then packed. Buyer 71's: packed without picks.
    let (p70, w70) = &parcels[0];
    let (p71, w71) = &parcels[1];
    let (_, wave) = client.get_json(&format!("/v1/waves/{w70}")).await;
    let box70 = wave["parcels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["parcel_id"] == p70.as_str())
        .unwrap()
        .clone();
    for (n, item) in box70["items"].as_array().unwrap().iter().enumerate() {
        let (s, r) = client
            .post_json(
                &format!("/v1/waves/{w70}/picks"),
                json!({"pick_id": format!("pb70-{n}"), "sku": item["sku"], "qty": item["qty"]}),
            )
            .await;
        assert_eq!(s, 200, "{r}");
    }
    let (s, r) = client
        .post_json(&format!("/v1/parcels/{p70}/packed"), json!({}))
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = client
        .post_json(
            &format!("/v1/parcels/{p71}/packed"),
            json!({"confirm_unpicked": true}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    for id in ["PB-70-T", "PB-71-T"] {
        let (s, r) = seller_client
            .post_json(&format!("/v1/orders/{id}/cancel"), json!({}))
            .await;
        assert_eq!((s, r["status"].as_str()), (200, Some("cancelled")), "{r}");
    }
    let pull_of = |wave: &Value, p: &str| -> Option<Value> {
        wave["pulls"]
            .as_array()?
            .iter()
            .find(|x| x["parcel_id"] == p)
            .cloned()
    };
    // Every cancelled tea is out of its box and goes back to the shelf once: by a put-back
    // card (the wave counted it picked) or by its box's pull card (the wave did not); the
    // honey stays for the new parcels. (Which card asks for a given unit depends on the
    // wave's counters: units of one SKU are interchangeable on the floor.)
    for (p, w) in [(p70, w70), (p71, w71)] {
        let path = format!("/v1/waves/{w}");
        eventually(30, "the box to pull", || {
            let (c, path) = (&client, &path);
            async move {
                let wave = c.get_json(path).await.1;
                pull_of(&wave, p).is_some_and(|x| x["replaced_by"].is_string())
            }
        })
        .await;
    }
    let mut waves = vec![w70.clone()];
    if w71 != w70 {
        waves.push(w71.clone());
    }
    let mut asked: std::collections::BTreeMap<String, u64> = Default::default();
    for w in &waves {
        let (_, wave) = client.get_json(&format!("/v1/waves/{w}")).await;
        for pull in wave["pulls"].as_array().unwrap() {
            for i in pull["items"].as_array().unwrap() {
                *asked
                    .entry(i["sku"].as_str().unwrap().to_owned())
                    .or_default() += i["qty"].as_u64().unwrap();
            }
        }
        for b in wave["put_backs"].as_array().unwrap() {
            *asked
                .entry(b["sku"].as_str().unwrap().to_owned())
                .or_default() += b["qty"].as_u64().unwrap();
        }
    }
    assert_eq!(
        asked,
        [("TEA-LOTUS-200".to_owned(), 2)].into_iter().collect(),
        "each cancelled unit asked back once, nothing the new parcels need"
    );
    // Both replacements can be packed from what their boxes left on the table: buyer 71's
    // honey, packed without a pick, now counts as picked (before, the pick list sent someone
    // to the shelf for units already on the table).
    for (p, w) in [(p70, w70), (p71, w71)] {
        let (_, wave) = client.get_json(&format!("/v1/waves/{w}")).await;
        let new = pull_of(&wave, p).unwrap()["replaced_by"].clone();
        let parcel = wave["parcels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["parcel_id"] == new)
            .unwrap();
        assert_eq!(parcel["items_picked"], true, "{p} → {new}: {wave}");
    }
    // Buyer 70 cancels the other order too: its replacement, never boxed, is cancelled, and
    // the old box's card no longer says to repack into it (the box comes back whole).
    let (s, r) = seller_client
        .post_json("/v1/orders/PB-70-H/cancel", json!({}))
        .await;
    assert_eq!((s, r["status"].as_str()), (200, Some("cancelled")), "{r}");
    let path = format!("/v1/waves/{w70}");
    eventually(30, "the card without a replacement", || {
        let (c, path) = (&client, &path);
        async move {
            let wave = c.get_json(path).await.1;
            pull_of(&wave, p70).is_some_and(|x| x["replaced_by"].is_null())
        }
    })
    .await;
    app.stop().await;
}

/// A packed box whose only order is cancelled while another parcel of the wave still needs
/// the same SKU: of its two picked units, one goes back to the shelf (the put-back card) and
/// one stays on the table, still counted picked for the other parcel. Before, its pull card
/// sent that one to the shelf too: the wave said it was picked, nobody had it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pulled_box_leaves_on_the_table_what_the_wave_still_counts_picked() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let client = app.client(OPERATOR);
    let seller = app.client(TOKEN_A);
    // Buyer 1 orders 2 honey, buyer 3 one (`order`: 1 + buyer % 3 units).
    let orders = vec![order("TB-1", 1), order("TB-3", 3)];
    push_session(&app, TOKEN_A, "table-back", &orders, 10).await;
    let mut placed = Vec::new();
    for id in ["TB-1", "TB-3"] {
        placed.push(waved_in(&seller, id).await);
    }
    let ((box1, wave), (_, wave3)) = (&placed[0], &placed[1]);
    if wave != wave3 {
        eprintln!("the two orders fell in two waves: nothing to check");
        app.stop().await;
        return;
    }
    let (s, r) = client
        .post_json(
            &format!("/v1/waves/{wave}/picks"),
            json!({"pick_id": "tb-1", "sku": "HONEY-500", "qty": 2}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = client
        .post_json(&format!("/v1/parcels/{box1}/packed"), json!({}))
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = seller.post_json("/v1/orders/TB-1/cancel", json!({})).await;
    assert_eq!((s, r["status"].as_str()), (200, Some("cancelled")), "{r}");
    let path = format!("/v1/waves/{wave}");
    eventually(30, "the box to pull", || {
        let (c, path) = (&client, &path);
        async move {
            let w = c.get_json(path).await.1;
            w["pulls"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["parcel_id"] == box1.as_str()))
        }
    })
    .await;
    let (_, w) = client.get_json(&path).await;
    let units = |list: &Value| -> u64 {
        list.as_array()
            .unwrap()
            .iter()
            .flat_map(|x| {
                x.get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_else(|| vec![x.clone()])
            })
            .filter(|i| i["sku"] == "HONEY-500")
            .map(|i| i["qty"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(
        units(&w["put_backs"]) + units(&w["pulls"]),
        1,
        "one unit to the shelf, the other on the table: {w}"
    );
    // The pull card says so.
    let pull = w["pulls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["parcel_id"] == box1.as_str())
        .unwrap();
    assert_eq!(
        pull["to_table"],
        json!([{"sku": "HONEY-500", "name": "Mật ong rừng 500ml", "qty": 1}]),
        "{pull}"
    );
    let line = w["pick_list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["sku"] == "HONEY-500")
        .unwrap();
    assert_eq!(
        (&line["qty"], &line["picked"]),
        (&json!(1), &json!(1)),
        "{w}"
    );
    app.stop().await;
}

/// A booked parcel never picked nor packed, one of whose orders is cancelled: it is replaced
/// (its carrier order cancelled), but there is no box: its pull card asks back no unit (a
/// black-box review's wave listed the parcel's items to take out of a box never packed,
/// with nothing picked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booked_parcel_never_packed_has_no_units_to_pull() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let client = app.client(OPERATOR);
    let seller = app.client(TOKEN_A);
    let honey = order("NP-80-H", 80);
    let mut tea = order("NP-80-T", 80);
    tea["items"] = json!([{ "sku": "TEA-LOTUS-200", "name": "Trà sen 200g", "qty": 1,
        "unit_price": "120000", "weight_g": 250 }]);
    tea["cod_amount"] = json!("150000");
    push_session(&app, TOKEN_A, "never-packed", &[honey, tea], 10).await;
    eventually(30, "waved", || {
        let c = &seller;
        async move { c.get_json("/v1/orders/NP-80-H").await.1["shipment_id"].is_string() }
    })
    .await;
    let (_, o) = seller.get_json("/v1/orders/NP-80-H").await;
    let id = |k: &str| o[k].as_str().unwrap().to_owned();
    let (parcel, wave, shipment) = (id("parcel_id"), id("wave_id"), id("shipment_id"));
    let (s, r) = client
        .post_json(&format!("/v1/shipments/{shipment}/book"), json!({}))
        .await;
    assert_eq!(s, 200, "{r}");
    eventually(30, "booked", || {
        let (c, p) = (&client, &shipment);
        async move {
            let (_, sh) = c.get_json(&format!("/v1/shipments/{p}")).await;
            sh["parcels_booked"] == 1
        }
    })
    .await;
    let (s, r) = seller
        .post_json("/v1/orders/NP-80-T/cancel", json!({}))
        .await;
    assert_eq!((s, r["status"].as_str()), (200, Some("cancelled")), "{r}");
    eventually(30, "replaced", || {
        let (c, w, p) = (&client, &wave, &parcel);
        async move {
            let (_, wave) = c.get_json(&format!("/v1/waves/{w}")).await;
            wave["pulls"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["parcel_id"] == p.as_str() && x["replaced_by"].is_string())
        }
    })
    .await;
    let (_, wave) = client.get_json(&format!("/v1/waves/{wave}")).await;
    assert_eq!(wave["qty_picked"], 0, "{wave}");
    let pull = wave["pulls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["parcel_id"] == parcel.as_str())
        .unwrap();
    assert_eq!(
        pull["items"],
        json!([]),
        "no box, no unit to take out: {pull}"
    );
    assert_eq!(
        pull["never_packed"], true,
        "only its label to throw away: {pull}"
    );
    app.stop().await;
}

/// A pack tapped while the tablet was offline reaches the server after a cancel took one of
/// the parcel's orders out of it (the parcel was still open): the tap names the orders it
/// boxed, and the server refuses it (409 `parcel_changed`) instead of sealing the cancelled
/// order's goods into a box that ships. Packed again with the parcel's orders now, it goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pack_of_orders_no_longer_in_the_parcel_is_refused() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn(&redis.url()).await;
    let client = app.client(OPERATOR);
    let orders = vec![order("PC-80-A", 80), order("PC-80-B", 80)];
    push_session(&app, TOKEN_A, "pack-changed", &orders, 10).await;
    let seller = app.client(TOKEN_A);
    let (parcel, wave) = waved_in(&seller, "PC-80-A").await;
    assert_eq!(waved_in(&seller, "PC-80-B").await.0, parcel, "one box");
    let (s, r) = seller
        .post_json("/v1/orders/PC-80-B/cancel", json!({}))
        .await;
    assert_eq!((s, r["status"].as_str()), (200, Some("cancelled")), "{r}");
    let path = format!("/v1/waves/{wave}");
    eventually(30, "the order out of the open parcel", || {
        let (c, path, parcel) = (&client, &path, &parcel);
        async move {
            let w = c.get_json(path).await.1;
            w["parcels"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["parcel_id"] == parcel.as_str() && p["order_ids"] == json!(["PC-80-A"]))
        }
    })
    .await;
    let packed = format!("/v1/parcels/{parcel}/packed");
    let (s, r) = client
        .post_json(
            &packed,
            json!({"confirm_unpicked": true, "order_ids": ["PC-80-A", "PC-80-B"]}),
        )
        .await;
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (409, Some("parcel_changed")),
        "{r}"
    );
    let (_, w) = client.get_json(&path).await;
    let p = w["parcels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["parcel_id"] == parcel.as_str())
        .unwrap()
        .clone();
    assert_eq!(p["status"], "open", "not packed: {p}");
    let (s, r) = client
        .post_json(
            &packed,
            json!({"confirm_unpicked": true, "order_ids": ["PC-80-A"]}),
        )
        .await;
    assert_eq!((s, r["status"].as_str()), (200, Some("packed")), "{r}");
    app.stop().await;
}
