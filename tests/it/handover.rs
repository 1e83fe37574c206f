//! Hand-over at the truck end to end on real Redis: two shipments of one site (two pickups),
//! packed and booked with the mock carrier, every label scanned including a wrong code, a
//! duplicate, a parcel of the other shipment and a pulled one; the missing parcel is listed,
//! the hand-over is refused until it is left behind with a reason, then statuses move.

use crate::common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};

fn config(redis: &str, pickup: &str) -> livepack::Config {
    let extra = format!(
        "[[sites]]\nid = \"{SITE}\"\nname = \"Hoa Lư hub\"\npickups = [\"{pickup}\"]\n\
         station_pin = \"246813\"\ncarriers = [\"viettel-post\"]\nphone = \"02293888999\"\n\
         province = \"Ninh Bình\"\nward = \"Phường Hoa Lư\"\nstreet = \"Thôn Văn Lâm\"\n\
         min_pack_minutes = 0\n"
    );
    test_config(redis, &extra)
}

async fn call(
    addr: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    TestClient::new(addr, token).call(method, path, body).await
}

async fn get(addr: &str, path: &str) -> Value {
    let (s, v) = call(addr, OPERATOR, reqwest::Method::GET, path, None).await;
    assert_eq!(s, 200, "{path}: {v}");
    v
}

async fn post(addr: &str, path: &str, body: Value) -> (u16, Value) {
    call(addr, OPERATOR, reqwest::Method::POST, path, Some(body)).await
}

/// Pushes `n` orders of distinct buyers as one session, ends it, waits until all are waved.
async fn push_session(app: &TestApp, session: &str, n: u64) -> Vec<String> {
    let buyers: Vec<u64> = (0..n).map(|i| 1000 + i).collect();
    push_session_of(app, session, &buyers).await
}

/// Pushes one order per buyer listed (a buyer listed twice has two orders) as one session,
/// ends it, waits until all are waved.
async fn push_session_of(app: &TestApp, session: &str, buyers: &[u64]) -> Vec<String> {
    let orders: Vec<Value> = buyers
        .iter()
        .enumerate()
        .map(|(i, b)| order(&format!("{session}-{i}"), *b))
        .collect();
    push_orders(app, session, orders).await
}

/// Pushes these orders as one session, ends it, waits until all are waved; their ids.
async fn push_orders(app: &TestApp, session: &str, orders: Vec<Value>) -> Vec<String> {
    let n = orders.len() as u64;
    let ids: Vec<String> = orders
        .iter()
        .map(|o| o["order_id"].as_str().unwrap().to_owned())
        .collect();
    let mut ws = connect(app, TOKEN_A, session).await;
    send(
        &mut ws,
        &json!({"type": "orders", "seq": 1, "orders": orders}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["type"], "ack");
    send(&mut ws, &json!({"type": "end_session", "seq": 2})).await;
    assert_eq!(recv(&mut ws).await["type"], "ack");
    let addr = app.addr.to_string();
    let path = format!("/v1/sessions/{session}");
    eventually(30, "the session's orders waved", || {
        let (a, p) = (addr.clone(), path.clone());
        async move {
            let (_, s) = call(&a, TOKEN_A, reqwest::Method::GET, &p, None).await;
            s["waved"].as_u64() == Some(n)
        }
    })
    .await;
    ids
}

/// Seller A's view of an order (`GET /v1/orders/{id}`).
async fn order_view(addr: &str, order_id: &str) -> Value {
    let path = format!("/v1/orders/{order_id}");
    call(addr, TOKEN_A, reqwest::Method::GET, &path, None)
        .await
        .1
}

/// A view's `pickup_at`.
fn pickup(v: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(v["pickup_at"].as_str().unwrap()).unwrap()
}

/// The business day (Vietnam's) of a view's `pickup_at`.
fn pickup_day(v: &Value) -> chrono::NaiveDate {
    pickup(v)
        .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap())
        .date_naive()
}

/// The site's wave cards listed under a business day.
async fn wave_cards(addr: &str, day: chrono::NaiveDate) -> Vec<Value> {
    let list = get(addr, &format!("/v1/sites/{SITE}/waves?date={day}")).await;
    list["waves"].as_array().unwrap().clone()
}

/// A label scanned at the truck of `shipment` (`POST /v1/shipments/{id}/scans`).
async fn scan(addr: &str, shipment: &str, code: impl serde::Serialize) -> (u16, Value) {
    let path = format!("/v1/shipments/{shipment}/scans");
    post(addr, &path, json!({ "code": code })).await
}

/// The hand-over of `shipment`, nothing left behind (`POST /v1/shipments/{id}/handed-over`).
async fn hand_over(addr: &str, shipment: &str) -> (u16, Value) {
    post(
        addr,
        &format!("/v1/shipments/{shipment}/handed-over"),
        json!({}),
    )
    .await
}

/// (parcel id, shipment id) of an order.
async fn placed(addr: &str, order_id: &str) -> (String, String) {
    let o = order_view(addr, order_id).await;
    (
        o["parcel_id"].as_str().unwrap().to_owned(),
        o["shipment_id"].as_str().unwrap().to_owned(),
    )
}

/// Picks what is left to pick in the waves of these orders (packing needs picked items).
async fn pick_waves_of(addr: &str, order_ids: &[String]) {
    let mut waves = BTreeSet::new();
    for id in order_ids {
        let o = order_view(addr, id).await;
        waves.insert(o["wave_id"].as_str().unwrap().to_owned());
    }
    for w in waves {
        let wave = get(addr, &format!("/v1/waves/{w}")).await;
        for l in wave["pick_list"].as_array().unwrap() {
            let left = l["qty"].as_u64().unwrap() - l["picked"].as_u64().unwrap();
            if left > 0 {
                let body = json!({"pick_id": format!("all-{w}-{}", l["sku"].as_str().unwrap()), "sku": l["sku"], "qty": left});
                let (s, r) = post(addr, &format!("/v1/waves/{w}/picks"), body).await;
                assert_eq!(s, 200, "{r}");
            }
        }
    }
}

/// The time of day in Vietnam `hours` from now, `HH:MM`.
fn vn_time_in(hours: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(hours))
        .with_timezone(&chrono_tz::Asia::Ho_Chi_Minh)
        .format("%H:%M")
        .to_string()
}

fn parcel<'a>(sh: &'a Value, id: &str) -> &'a Value {
    sh["parcels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["parcel_id"] == id)
        .unwrap_or_else(|| panic!("{id} in {sh}"))
}

fn ids(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_load_the_truck_and_hand_over_waits_for_every_parcel() {
    let redis = TestRedis::start().await;
    // Two pickups of the same site, one after a configuration change: two shipments. The
    // parcel left behind below goes on with the second configuration's next pickup after
    // the first shipment's, which must be the second shipment's: the pickups are 2 and 4
    // hours from now (fixed times of day would make that depend on the hour the test runs).
    let first = TestApp::spawn_with(config(&redis.url(), &vn_time_in(2))).await;
    let orders = push_session(&first, "morning", 4).await;
    first.stop().await;
    let app = TestApp::spawn_with(config(&redis.url(), &vn_time_in(4))).await;
    let other_order = push_session(&app, "evening", 1).await;
    let addr = app.addr.to_string();

    let mut parcels = Vec::new();
    let mut shipment = None;
    for o in &orders {
        let (p, s) = placed(&addr, o).await;
        assert!(shipment.is_none() || shipment.as_ref() == Some(&s));
        shipment = Some(s);
        parcels.push(p);
    }
    let shipment = shipment.unwrap();
    let (other_parcel, other_shipment) = placed(&addr, &other_order[0]).await;
    assert_ne!(other_shipment, shipment, "two pickups, two shipments");
    assert_eq!(parcels.iter().collect::<BTreeSet<_>>().len(), 4);

    // Before booking: the §6 fields are there, nothing booked or loaded.
    let sh = get(&addr, &format!("/v1/shipments/{shipment}")).await;
    assert_eq!(sh["loaded_count"], 0);
    assert_eq!(ids(&sh["missing"]), parcels.iter().cloned().collect());
    for p in sh["parcels"].as_array().unwrap() {
        assert_eq!(p["status"], "open", "{p}");
        assert_eq!(p["tracking"], Value::Null);
        assert_eq!(p["booking"]["state"], "none");
        assert_eq!(p["booking"]["attempts"], 0);
        assert_eq!(p["loaded"], false);
        assert_eq!(p["replaces"], Value::Null);
        assert_eq!(p["replaced_by"], Value::Null);
    }

    // Pick, pack and book.
    pick_waves_of(&addr, &orders).await;
    for p in &parcels {
        let (s, r) = post(&addr, &format!("/v1/parcels/{p}/packed"), json!({})).await;
        assert_eq!(s, 200, "{r}");
    }
    let (s, r) = post(&addr, &format!("/v1/shipments/{shipment}/book"), json!({})).await;
    assert_eq!(s, 200, "{r}");
    assert!(
        r["parcels"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["status"] == "booked"),
        "{r}"
    );
    let sh = get(&addr, &format!("/v1/shipments/{shipment}")).await;
    let tracking: Vec<String> = parcels
        .iter()
        .map(|p| {
            let v = parcel(&sh, p);
            assert_eq!(v["status"], "booked", "{v}");
            assert_eq!(v["booking"]["state"], "booked", "{v}");
            assert_eq!(v["booking"]["next_try_at"], Value::Null, "{v}");
            v["tracking"].as_str().unwrap().to_owned()
        })
        .collect();
    // The wave shows the same parcel object.
    let o = get(
        &addr,
        &format!("/v1/orders/{}?seller={SELLER_A}", orders[0]),
    )
    .await;
    let wave = get(
        &addr,
        &format!("/v1/waves/{}", o["wave_id"].as_str().unwrap()),
    )
    .await;
    let w = parcel(&wave, &parcels[0]);
    assert_eq!(w["tracking"].as_str(), Some(tracking[0].as_str()), "{w}");
    assert_eq!(w["booking"]["state"], "booked");
    assert_eq!(w["split_reason"], Value::Null);

    // The buyer of the 4th parcel cancels after packing: that parcel must be pulled.
    let (s, r) = call(
        &addr,
        TOKEN_A,
        reqwest::Method::POST,
        &format!("/v1/orders/{}/cancel", orders[3]),
        Some(json!({"reason": "buyer_cancelled"})),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let pulled = parcels[3].clone();
    eventually(30, "the cancelled parcel no longer ships", || {
        let (a, id, p) = (addr.clone(), shipment.clone(), pulled.clone());
        async move {
            let sh = get(&a, &format!("/v1/shipments/{id}")).await;
            let v = parcel(&sh, &p);
            v["pull"] == true || v["status"] == "cancelled" || v["status"] == "replaced"
        }
    })
    .await;

    // The truck: a tracking code with a scanner's whitespace, a duplicate (by parcel id),
    // a wrong code, a parcel of the other shipment, the pulled parcel, a second parcel.
    let at_truck = |code: String| {
        let (a, id) = (addr.clone(), shipment.clone());
        async move { scan(&a, &id, code).await }
    };
    let expect = |(s, r): (u16, Value), id: Option<&str>, result: &str| {
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["result"], result, "{r}");
        assert_eq!(r["parcel_id"].as_str(), id, "{r}");
    };
    expect(
        at_truck(format!("  {}\r\n", tracking[0])).await,
        Some(&parcels[0]),
        "loaded",
    );
    expect(
        at_truck(parcels[0].clone()).await,
        Some(&parcels[0]),
        "already_loaded",
    );
    expect(
        at_truck(tracking[0].clone()).await,
        Some(&parcels[0]),
        "already_loaded",
    );
    expect(at_truck("VTP-NO-SUCH-LABEL".into()).await, None, "unknown");
    expect(
        at_truck(format!("P-{SITE}-20261121-999999")).await,
        None,
        "unknown",
    );
    expect(
        at_truck(other_parcel.clone()).await,
        Some(&other_parcel),
        "not_in_shipment",
    );
    expect(at_truck(tracking[3].clone()).await, Some(&pulled), "pull");
    expect(
        at_truck(parcels[1].clone()).await,
        Some(&parcels[1]),
        "loaded",
    );
    let (s, r) = at_truck("   ".into()).await;
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (400, Some("invalid_code")),
        "{r}"
    );
    let (s, _) = post(
        &addr,
        &format!("/v1/shipments/{shipment}/scans"),
        json!({"codes": "x"}),
    )
    .await;
    assert_eq!(s, 422);

    let sh = get(&addr, &format!("/v1/shipments/{shipment}")).await;
    assert_eq!(sh["loaded_count"], 2, "{sh}");
    let missing = ids(&sh["missing"]);
    assert!(
        missing.contains(&parcels[2]),
        "the unscanned parcel is missing: {missing:?}"
    );
    for done in [&parcels[0], &parcels[1], &pulled] {
        assert!(
            !missing.contains(done),
            "{done} is not missing: {missing:?}"
        );
    }
    assert_eq!(parcel(&sh, &parcels[0])["loaded"], true);
    assert_eq!(parcel(&sh, &parcels[2])["loaded"], false);

    // Hand-over: refused while a parcel is missing, nothing changes.
    let handed = format!("/v1/shipments/{shipment}/handed-over");
    let (s, r) = call(&addr, OPERATOR, reqwest::Method::POST, &handed, None).await;
    assert_eq!(s, 409, "{r}");
    assert_eq!(r["error"]["code"], "parcels_missing");
    assert_eq!(ids(&r["missing"]), missing);
    assert_eq!(
        get(&addr, &format!("/v1/shipments/{shipment}")).await["status"],
        "booked"
    );

    // Bad left_behind lists name the field.
    let bad = [
        (
            json!({"left_behind": [{"parcel_id": other_parcel, "reason": "x"}]}),
            "left_behind[0].parcel_id",
        ),
        (
            json!({"left_behind": [{"parcel_id": parcels[2], "reason": "  "}]}),
            "left_behind[0].reason",
        ),
        (
            json!({"left_behind": [{"parcel_id": parcels[2], "reason": "x".repeat(201)}]}),
            "left_behind[0].reason",
        ),
        (
            json!({"left_behind": [{"parcel_id": parcels[2], "reason": "\u{0}\u{1}"}]}),
            "left_behind[0].reason",
        ),
        (
            json!({"left_behind": [{"parcel_id": parcels[2], "reason": "\u{202e}lost"}]}),
            "left_behind[0].reason",
        ),
        (
            json!({"left_behind": [{"parcel_id": parcels[2]}]}),
            "reason",
        ),
        (
            json!({"left_behind": [{"parcel_id": parcels[2], "reason": "x", "extra": 1}]}),
            "extra",
        ),
    ];
    for (body, field) in bad {
        let (s, r) = post(&addr, &handed, body.clone()).await;
        assert_eq!(s, 400, "{body}: {r}");
        assert!(
            r["error"]["message"].as_str().unwrap().contains(field),
            "{body}: {r}"
        );
    }
    // Leaving behind only some of the missing ones is still refused.
    let (s, r) = post(
        &addr,
        &handed,
        json!({"left_behind": [{"parcel_id": parcels[0], "reason": "box crushed"}]}),
    )
    .await;
    assert_eq!(s, 409, "{r}");

    // Every missing parcel left behind with a reason: handed over.
    let reason = "Hộp bị móp, đóng gói lại";
    let left: Vec<Value> = missing
        .iter()
        .map(|p| json!({"parcel_id": p, "reason": format!("  {reason} ")}))
        .collect();
    // A parcel scanned onto the truck cannot be left behind as well (a colleague loaded it
    // after the supervisor chose to leave it): refused, naming it, nothing handed over.
    let mut with_loaded = left.clone();
    with_loaded.push(json!({"parcel_id": parcels[0], "reason": "xe đầy"}));
    let (s, r) = post(&addr, &handed, json!({ "left_behind": with_loaded })).await;
    assert_eq!(
        (s, r["error"]["code"].as_str()),
        (409, Some("left_behind_loaded")),
        "{r}"
    );
    assert_eq!(r["loaded_left_behind"], json!([parcels[0]]), "{r}");
    // Should the box really come off the truck, it is confirmed taken off (once), and is
    // then missing; scanned again, it is on the truck again.
    let pulled_path = format!("/v1/parcels/{}/pulled", parcels[0]);
    let (s, r) = post(&addr, &pulled_path, json!({})).await;
    assert_eq!((s, r["result"].as_str()), (200, Some("pulled")), "{r}");
    let (s, r) = post(&addr, &pulled_path, json!({})).await;
    assert_eq!(
        (s, r["result"].as_str()),
        (200, Some("already_pulled")),
        "{r}"
    );
    let off = get(&addr, &format!("/v1/shipments/{shipment}")).await;
    assert!(ids(&off["missing"]).contains(&parcels[0]), "{off}");
    let (s, r) = scan(&addr, &shipment, &parcels[0]).await;
    assert_eq!((s, r["result"].as_str()), (200, Some("loaded")), "{r}");
    assert_ne!(
        get(&addr, &format!("/v1/shipments/{shipment}")).await["status"],
        "handed_over"
    );
    // A parcel that no longer ships, listed with a reason, is not left behind nor named so.
    let mut with_pulled = left.clone();
    with_pulled.push(json!({"parcel_id": pulled, "reason": "đã hủy"}));
    let (s, r) = post(&addr, &handed, json!({ "left_behind": with_pulled })).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["status"], "handed_over");
    assert_eq!(r["parcels_handed_over"], 2, "{r}");
    assert_eq!(ids(&r["left_behind"]), missing);

    let sh = get(&addr, &format!("/v1/shipments/{shipment}")).await;
    assert_eq!(sh["status"], "handed_over");
    assert_eq!(sh["missing"], json!([]), "{sh}");
    for p in [&parcels[0], &parcels[1]] {
        assert_eq!(parcel(&sh, p)["status"], "handed_over");
    }
    // The parcel left behind goes on with the carrier's next pickup: the other shipment.
    assert!(!ids(&sh["parcel_ids"]).contains(&parcels[2]), "{sh}");
    let next = get(&addr, &format!("/v1/shipments/{other_shipment}")).await;
    assert!(ids(&next["parcel_ids"]).contains(&parcels[2]), "{next}");
    let stayed = parcel(&next, &parcels[2]);
    assert_eq!(stayed["status"], "booked", "{stayed}");
    assert_eq!(stayed["left_behind"], reason);
    assert_eq!(stayed["loaded"], false);
    assert_ne!(parcel(&sh, &pulled)["status"], "handed_over");
    let o = get(
        &addr,
        &format!("/v1/orders/{}?seller={SELLER_A}", orders[0]),
    )
    .await;
    assert_eq!(o["status"], "handed_over", "{o}");
    // A packed tap on a parcel already on the truck answers what the parcel is.
    let (s, r) = post(
        &addr,
        &format!("/v1/parcels/{}/packed", parcels[0]),
        json!({"confirm_unpicked": true}),
    )
    .await;
    assert_eq!((s, r["status"].as_str()), (200, Some("handed_over")), "{r}");
    let o = get(
        &addr,
        &format!("/v1/orders/{}?seller={SELLER_A}", orders[2]),
    )
    .await;
    assert_eq!(o["status"], "booked", "{o}");

    // Repeating the hand-over changes nothing and answers as the first did (its parcels
    // left behind have moved on meanwhile); a late scan of the parcel left behind is not
    // this shipment's any more.
    let (s, r) = call(&addr, OPERATOR, reqwest::Method::POST, &handed, None).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["parcels_handed_over"], 2, "{r}");
    assert_eq!(ids(&r["left_behind"]), missing, "{r}");
    // So does the identical request (a tablet's retry after a lost answer).
    let (s, r) = post(&addr, &handed, json!({ "left_behind": left })).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["parcels_handed_over"], 2, "{r}");
    assert_eq!(ids(&r["left_behind"]), missing, "{r}");
    expect(
        at_truck(parcels[2].clone()).await,
        Some(&parcels[2]),
        "not_in_shipment",
    );
    expect(
        at_truck(tracking[1].clone()).await,
        Some(&parcels[1]),
        "already_loaded",
    );

    // The other shipment: nothing scanned, so an empty hand-over is refused with its parcel.
    let (s, r) = call(
        &addr,
        OPERATOR,
        reqwest::Method::POST,
        &format!("/v1/shipments/{other_shipment}/handed-over"),
        None,
    )
    .await;
    assert_eq!(s, 409, "{r}");
    assert_eq!(
        ids(&r["missing"]),
        BTreeSet::from([other_parcel.clone(), parcels[2].clone()])
    );

    // Scans are counted by result.
    let metrics = app.metrics_text().await;
    for result in [
        "loaded",
        "already_loaded",
        "unknown",
        "not_in_shipment",
        "pull",
    ] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("livepack_handover_scans_total")
                    && l.contains(&format!("result=\"{result}\""))
                    && l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) > Some(0.0)),
            "{result}"
        );
    }
    app.stop().await;
}

/// A shipment begun by a build before the parcel list (its parcels in a set) and continued
/// by this one: both halves are listed once, scanned and counted by the hand-over, whose
/// count check still catches a parcel the caller did not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipment_partly_in_an_earlier_builds_parcel_set_lists_scans_and_hands_over() {
    use livepack::store::handover::{HandOverOutcome, HandOverParcel};
    use redis::AsyncCommands;

    let redis = TestRedis::start().await;
    let app = TestApp::spawn_with(config(&redis.url(), "10:00")).await;
    let orders = push_session(&app, "older", 3).await;
    let addr = app.addr.to_string();
    let mut parcels = Vec::new();
    let mut shipment = String::new();
    for o in &orders {
        let (p, s) = placed(&addr, o).await;
        parcels.push(p);
        shipment = s;
    }
    let list_key = livepack::store::keys::shipment_parcels(SITE, &shipment);
    let set_key = livepack::store::keys::shipment_parcel_set(SITE, &shipment);
    let mut c = redis.conn().await;
    let list: String = c.get(&list_key).await.unwrap();
    assert_eq!(list.lines().count(), 3, "{list:?}");
    assert_eq!(
        list.lines().collect::<BTreeSet<_>>(),
        parcels.iter().map(String::as_str).collect(),
        "the commit lists every parcel once: {list:?}"
    );
    assert!(list.ends_with('\n'));
    // As a shipment begun by an earlier build: two parcels in its set, then one listed by
    // this build; the list also names the first one twice and one of the set's (never
    // written so, but each parcel still counts once: the set alone, the list alone or the
    // larger of the two would count 2, their sum 4).
    let _: () = c
        .set(
            &list_key,
            format!("{0}\n{0}\n{1}\n", parcels[0], parcels[1]),
        )
        .await
        .unwrap();
    let _: () = c.sadd(&set_key, &parcels[1..]).await.unwrap();

    let sh = get(&addr, &format!("/v1/shipments/{shipment}")).await;
    assert_eq!(ids(&sh["missing"]), parcels.iter().cloned().collect());
    assert_eq!(sh["parcels"].as_array().unwrap().len(), 3, "{sh}");
    for id in [&parcels[0], &parcels[1]] {
        let (s, r) = scan(&addr, &shipment, id).await;
        assert_eq!((s, r["result"].as_str()), (200, Some("loaded")), "{r}");
    }

    // Handing over with one parcel fewer than listed: stale, nothing changes.
    let cfg = livepack::Config::from_toml("").unwrap();
    let store = livepack::store::Store::connect(&cfg.redis, &redis.url())
        .await
        .unwrap();
    let read: Vec<HandOverParcel<'_>> = [&parcels[0], &parcels[1]]
        .iter()
        .zip(&orders)
        .map(|(p, o)| HandOverParcel {
            parcel_id: p,
            wave_id: "W-none",
            orders: vec![(SELLER_A.to_owned(), o.clone(), "s".to_owned())],
            left_behind: None,
            next: None,
        })
        .collect();
    assert!(matches!(
        store.hand_over(SITE, &shipment, &read).await.unwrap(),
        HandOverOutcome::Stale
    ));

    let handed = format!("/v1/shipments/{shipment}/handed-over");
    let (s, r) = call(&addr, OPERATOR, reqwest::Method::POST, &handed, None).await;
    assert_eq!(s, 409, "{r}");
    assert_eq!(ids(&r["missing"]), BTreeSet::from([parcels[2].clone()]));
    let left = json!({"left_behind": [{"parcel_id": parcels[2], "reason": "chưa dán nhãn"}]});
    let (s, r) = post(&addr, &handed, left).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["parcels_handed_over"], 2, "{r}");
    app.stop().await;
}

/// A wave commit never overwrites a parcel: one whose parcel id exists already is refused
/// as a whole (the planner replans with fresh numbers), the existing parcel untouched; so is
/// one whose parcel would join a shipment already handed over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wave_commit_never_overwrites_an_existing_parcel() {
    use livepack::store::keys;
    use livepack::store::waves::{CommitOutcome, WaveCommit, WaveOrder};
    use redis::AsyncCommands;

    let redis = TestRedis::start().await;
    let cfg = livepack::Config::from_toml("").unwrap();
    let store = livepack::store::Store::connect(&cfg.redis, &redis.url())
        .await
        .unwrap();
    let mut c = redis.conn().await;
    let _: () = c.set(keys::fence(SITE), "7").await.unwrap();
    for o in ["o1", "o2"] {
        let _: () = c
            .hset(keys::pending(SITE), keys::pending_field(SELLER_A, o), "{}")
            .await
            .unwrap();
    }
    let date = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
    let commit = |wave: &'static str,
                  order: &'static str,
                  parcel: &'static str,
                  doc: &'static str| WaveCommit {
        wave_id: wave,
        date,
        released_ms: 1,
        pickup_ms: 2,
        doc: "{}".into(),
        qty_total: 1,
        sku_qty: vec![("HONEY-500".into(), 1)],
        orders: vec![WaveOrder {
            seller: SELLER_A.into(),
            order_id: order.into(),
            session: "s".into(),
            parcel_id: parcel.into(),
            risk_from_ms: 3,
        }],
        parcels: vec![(parcel.into(), doc.into())],
        shipments: vec![],
        parcel_shipment: vec![],
        marks: vec![],
    };
    let outcome = |wave, order, parcel, doc| {
        let wave = commit(wave, order, parcel, doc);
        let store = &store;
        async move { commit_at_fence_7(store, &wave).await }
    };
    let (w1, p1) = ("W-hoa-lu-hub-20261202-1", "P-hoa-lu-hub-20261202-1");
    assert_eq!(
        outcome(w1, "o1", p1, "{\"first\":1}").await,
        CommitOutcome::Committed
    );
    // Another wave reusing that parcel id (a counter lost or reset): refused, nothing written.
    let w2 = "W-hoa-lu-hub-20261202-2";
    assert_eq!(
        outcome(w2, "o2", p1, "{\"second\":1}").await,
        CommitOutcome::Exists
    );
    let data: Vec<u8> = c.hget(keys::parcel(SITE, p1), "data").await.unwrap();
    assert_eq!(livepack::store::doc::unpack(data).unwrap(), "{\"first\":1}");
    let wave_exists: bool = c.exists(keys::wave(SITE, w2)).await.unwrap();
    assert!(!wave_exists);
    let still_pending: bool = c
        .hexists(keys::pending(SITE), keys::pending_field(SELLER_A, "o2"))
        .await
        .unwrap();
    assert!(still_pending, "the refused commit moved no order");
    // The same wave id again is refused too; fresh ids go through.
    let p9 = "P-hoa-lu-hub-20261202-9";
    assert_eq!(outcome(w1, "o2", p9, "{}").await, CommitOutcome::Exists);
    let (w3, p2) = ("W-hoa-lu-hub-20261202-3", "P-hoa-lu-hub-20261202-2");
    assert_eq!(outcome(w3, "o2", p2, "{}").await, CommitOutcome::Committed);

    // A wave whose parcel would join a shipment handed over meanwhile: refused as stale (the
    // planner replans, moving the parcel to the next pickup), nothing written.
    let sid = "S-hoa-lu-hub-20261202-1000-viettel-post-VCN";
    let _: () = c
        .hset(keys::shipment(SITE, sid), "status", "handed_over")
        .await
        .unwrap();
    let _: () = c
        .hset(
            keys::pending(SITE),
            keys::pending_field(SELLER_A, "o3"),
            "{}",
        )
        .await
        .unwrap();
    let (w4, p3) = ("W-hoa-lu-hub-20261202-4", "P-hoa-lu-hub-20261202-3");
    let mut departed = commit(w4, "o3", p3, "{}");
    departed.shipments = vec![livepack::store::waves::ShipmentKey {
        id: sid.into(),
        carrier: "viettel-post".into(),
        service: "VCN".into(),
        pickup_ms: 2,
    }];
    departed.parcel_shipment = vec![1];
    assert_eq!(
        commit_at_fence_7(&store, &departed).await,
        CommitOutcome::Stale
    );
    let parcel_exists: bool = c.exists(keys::parcel(SITE, p3)).await.unwrap();
    assert!(!parcel_exists, "the refused commit wrote nothing");
}

/// Commits `wave` under fence token 7.
async fn commit_at_fence_7(
    store: &livepack::store::Store,
    wave: &livepack::store::waves::WaveCommit<'_>,
) -> livepack::store::waves::CommitOutcome {
    store.commit_wave(SITE, "7", wave).await.unwrap()
}

/// A shipment handed over takes no more parcels: orders that arrive for its pickup after the
/// truck left (trucks often leave early) go to the carrier's next pickup, in a shipment of
/// their own. Before, they joined the departed shipment and could never be loaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_after_the_truck_left_go_to_the_next_pickup() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn_with(config(&redis.url(), "10:00")).await;
    let addr = app.addr.to_string();
    let first = push_session(&app, "early", 2).await;
    let (_, shipment) = placed(&addr, &first[0]).await;
    let sh = get(&addr, &format!("/v1/shipments/{shipment}")).await;
    let before = ids(&sh["parcel_ids"]);
    // The truck leaves without them: both parcels left behind with a reason.
    let left: Vec<Value> = sh["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!({"parcel_id": p, "reason": "not_ready"}))
        .collect();
    assert_eq!(left.len(), 2, "{sh}");
    // A move made from a parcel as read (its `ver`) is refused once the parcel changed (a
    // repack meanwhile): nothing written, the caller reads again.
    {
        use livepack::store::handover::{HandOverOutcome, HandOverParcel, NextPickup};
        let cfg = livepack::Config::from_toml("").unwrap();
        let store = livepack::store::Store::connect(&cfg.redis, &redis.url())
            .await
            .unwrap();
        let read: Vec<HandOverParcel<'_>> = before
            .iter()
            .map(|p| HandOverParcel {
                parcel_id: p,
                wave_id: "W-none",
                orders: Vec::new(),
                left_behind: Some("x"),
                next: Some(NextPickup {
                    shipment: livepack::store::waves::ShipmentKey {
                        id: "S-next".into(),
                        carrier: "viettel-post".into(),
                        service: "VCN".into(),
                        pickup_ms: 1,
                    },
                    doc: "{}".into(),
                    ver: "41".into(),
                }),
            })
            .collect();
        let out = store.hand_over(SITE, &shipment, &read).await.unwrap();
        assert!(matches!(out, HandOverOutcome::Stale), "{out:?}");
        let still = get(&addr, &format!("/v1/shipments/{shipment}")).await;
        assert_eq!(still["status"], "open", "{still}");
    }
    let path = format!("/v1/shipments/{shipment}/handed-over");
    let (s, r) = post(&addr, &path, json!({ "left_behind": left })).await;
    assert_eq!(s, 200, "{r}");

    let late = push_session(&app, "late", 3).await;
    let (_, next) = placed(&addr, &late[0]).await;
    for o in &late {
        let (_, s) = placed(&addr, o).await;
        assert_eq!(
            s, next,
            "{o}: every late order in the next pickup's shipment"
        );
    }
    assert_ne!(next, shipment, "a late order joined the departed shipment");
    let old = get(&addr, &format!("/v1/shipments/{shipment}")).await;
    let new = get(&addr, &format!("/v1/shipments/{next}")).await;
    assert_eq!(pickup(&new) - pickup(&old), chrono::Duration::days(1));
    // The order says where it ships: its parcel's pickup, not the one it first aimed at.
    let o = order_view(&addr, &late[0]).await;
    assert_eq!(pickup(&o), pickup(&new), "{o}");
    // A day later than planned: after its deadline (placed 5 minutes ago, 24 hours to pack),
    // so the order is at risk, as the session view says (before, it said what ingest
    // planned: a pickup in time).
    assert_eq!(o["at_risk"], true, "{o}");
    // So does its wave (picked for the truck that is still to come).
    let wave = get(
        &addr,
        &format!("/v1/waves/{}", o["wave_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(pickup(&wave), pickup(&new), "{wave}");
    // And it is listed under its new pickup's business day (the day staff pack it for), not
    // under the day of the truck that left: when that was the day's last truck, they differ.
    let listed = |cards: Vec<Value>| cards.iter().any(|w| w["wave_id"] == o["wave_id"]);
    assert!(listed(wave_cards(&addr, pickup_day(&new)).await), "{wave}");
    assert!(!listed(wave_cards(&addr, pickup_day(&old)).await), "{wave}");
    assert_eq!(new["status"], "open", "{new}");
    // The two parcels left behind went on with the next pickup too.
    assert_eq!(new["parcel_count"], 5, "{new}");
    assert!(ids(&new["parcel_ids"]).is_superset(&before), "{new}");
    assert!(
        ids(&new["missing"]).is_superset(&before),
        "to load there: {new}"
    );
    assert_eq!(old["parcel_count"], 0, "{old}");
    app.stop().await;
}

/// The seller's session view lists an at-risk order under its parcel's pickup: one left
/// behind at the truck shows the next pickup it goes with, not its wave's (the one it was
/// planned for); so does the wave's card once all it has left to pack was left behind.
/// Before, both kept showing the truck that had left without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_view_and_the_wave_follow_parcels_left_behind() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn_with(config(&redis.url(), "10:00")).await;
    let addr = app.addr.to_string();
    // Placed 30 hours ago: past their deadline, so the session view lists them at once.
    let orders: Vec<Value> = (0..2)
        .map(|i| {
            let mut o = order(&format!("lb-{i}"), 1000 + i);
            o["placed_at"] = placed_at_minutes_ago(30 * 60).into();
            o
        })
        .collect();
    let ids = push_orders(&app, "left", orders).await;
    let (_, shipment) = placed(&addr, &ids[0]).await;
    let view = || async {
        let (s, v) = call(
            &addr,
            TOKEN_A,
            reqwest::Method::GET,
            "/v1/sessions/left",
            None,
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let listed = v["at_risk_orders"].as_array().unwrap().clone();
        assert_eq!(listed.len(), 2, "{v}");
        listed
    };
    let old = get(&addr, &format!("/v1/shipments/{shipment}")).await;
    for o in view().await {
        assert_eq!(pickup(&o), pickup(&old), "{o}");
    }
    let left: Vec<Value> = old["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!({"parcel_id": p, "reason": "not_ready"}))
        .collect();
    let path = format!("/v1/shipments/{shipment}/handed-over");
    let (s, r) = post(&addr, &path, json!({ "left_behind": left })).await;
    assert_eq!(s, 200, "{r}");
    let (_, next) = placed(&addr, &ids[0]).await;
    assert_ne!(next, shipment);
    let new = get(&addr, &format!("/v1/shipments/{next}")).await;
    assert_eq!(pickup(&new) - pickup(&old), chrono::Duration::days(1));
    for o in view().await {
        assert_eq!(pickup(&o), pickup(&new), "{o}");
        assert_eq!(o["reason"], "overdue", "{o}");
    }
    // So does the wave's card, on the list and on its own: what is left of it to pack goes
    // with the next truck.
    let o = order_view(&addr, &ids[0]).await;
    let wave_id = o["wave_id"].as_str().unwrap();
    let wave = get(&addr, &format!("/v1/waves/{wave_id}")).await;
    assert_eq!(pickup(&wave), pickup(&new), "{wave}");
    let cards = wave_cards(&addr, pickup_day(&old)).await;
    let card = cards
        .iter()
        .find(|w| w["wave_id"] == wave_id)
        .unwrap_or_else(|| panic!("{wave_id} listed: {cards:?}"));
    assert_eq!(pickup(card), pickup(&new), "{card}");
    app.stop().await;
}

/// A parcel loaded onto the truck without having been marked packed left in a box: its scan
/// says `loaded` with the warning `not_packed` (check the box), and the hand-over counts it
/// packed, in its session too, so its wave ends `done` (before, it stayed `packing`, 1/2, for good, the parcel at
/// risk on the floor).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parcel_handed_over_unpacked_counts_as_packed_in_its_wave() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn_with(config(&redis.url(), "16:00")).await;
    let addr = app.addr.to_string();
    let orders = push_session(&app, "unpacked", 2).await;
    let (a, shipment) = placed(&addr, &orders[0]).await;
    let (b, _) = placed(&addr, &orders[1]).await;
    assert_ne!(a, b);
    pick_waves_of(&addr, &orders).await;
    let (s, r) = post(&addr, &format!("/v1/parcels/{a}/packed"), json!({})).await;
    assert_eq!(s, 200, "{r}");
    // (Neither is booked: a packed one warns of that, an unpacked one of its box first.)
    for (p, warning) in [(&a, json!("not_booked")), (&b, json!("not_packed"))] {
        let (s, r) = scan(&addr, &shipment, p).await;
        assert_eq!((s, r["result"].as_str()), (200, Some("loaded")), "{r}");
        assert_eq!(r["warning"], warning, "{r}");
    }
    // A second scan of it changes nothing and warns no more.
    let (s, r) = scan(&addr, &shipment, &b).await;
    assert_eq!(
        (s, r["result"].as_str()),
        (200, Some("already_loaded")),
        "{r}"
    );
    assert_eq!(r["warning"], Value::Null, "{r}");
    let wave_id = order_view(&addr, &orders[1]).await["wave_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, r) = hand_over(&addr, &shipment).await;
    assert_eq!(s, 200, "{r}");
    let wave = get(&addr, &format!("/v1/waves/{wave_id}")).await;
    assert_eq!(wave["status"], "done", "{wave}");
    assert_eq!(wave["parcels_packed"], wave["parcel_count"], "{wave}");
    assert_eq!(wave["at_risk_count"], 0, "{wave}");
    // The session counts both orders packed, once each (a second hand-over changes nothing).
    let (s, r) = hand_over(&addr, &shipment).await;
    assert_eq!(s, 200, "{r}");
    let (_, session) = call(
        &addr,
        TOKEN_A,
        reqwest::Method::GET,
        "/v1/sessions/unpacked",
        None,
    )
    .await;
    assert_eq!(session["packed"], 2, "{session}");
    app.stop().await;
}

/// A buyer's orders the planner splits over parcels (more than a parcel holds) say why on
/// each of those parcels; another buyer's parcel says nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_split_over_parcels_says_why_on_each() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn_with(config(&redis.url(), "10:00")).await;
    let addr = app.addr.to_string();
    let mut ws = connect(&app, TOKEN_A, "big-buyer").await;
    let mut orders: Vec<Value> = (0..21).map(|i| order(&format!("BB-{i}"), 7)).collect();
    orders.push(order("BB-other", 8));
    send(
        &mut ws,
        &json!({"type": "orders", "seq": 1, "orders": orders}),
    )
    .await;
    let ack = recv(&mut ws).await;
    let results = ack["results"].as_array().unwrap();
    assert!(results.iter().all(|r| r["status"] == "accepted"), "{ack}");
    send(&mut ws, &json!({"type": "end_session", "seq": 2})).await;
    assert_eq!(recv(&mut ws).await["type"], "ack");
    eventually(30, "the session's orders waved", || {
        let a = addr.clone();
        async move {
            let (_, s) = call(
                &a,
                TOKEN_A,
                reqwest::Method::GET,
                "/v1/sessions/big-buyer",
                None,
            )
            .await;
            s["waved"].as_u64() == Some(22)
        }
    })
    .await;
    let mut split = BTreeSet::new();
    for i in 0..21 {
        let (p, s) = placed(&addr, &format!("BB-{i}")).await;
        split.insert((p, s));
    }
    assert_eq!(split.len(), 2, "21 orders, 20 a parcel: {split:?}");
    for (p, s) in &split {
        let sh = get(&addr, &format!("/v1/shipments/{s}")).await;
        assert_eq!(parcel(&sh, p)["split_reason"], "over 20 orders", "{p}");
    }
    let (p, s) = placed(&addr, "BB-other").await;
    let sh = get(&addr, &format!("/v1/shipments/{s}")).await;
    assert_eq!(parcel(&sh, &p)["split_reason"], Value::Null, "{p}");
    app.stop().await;
}

/// Contract §1 (`cancelled`: it will not be packed) and §6 (every live order in exactly one
/// ship-able parcel): an order cancelled after its parcel was loaded, before the planner's
/// repack replaced that parcel (here no instance plans meanwhile), holds the hand-over: 409
/// `repack_pending` naming the parcel. Once the repack ran, the old box is pulled, its
/// replacement packed and loaded, and only live orders leave with the driver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_not_yet_repacked_holds_the_hand_over() {
    let redis = TestRedis::start().await;
    let first = TestApp::spawn_with(config(&redis.url(), "16:00")).await;
    // Two orders of one buyer (one parcel), one of another.
    let orders = push_session_of(&first, "late-cancel", &[2000, 2000, 2001]).await;
    let addr = first.addr.to_string();
    let (both, shipment) = placed(&addr, &orders[0]).await;
    assert_eq!(
        placed(&addr, &orders[1]).await.0,
        both,
        "one buyer, one parcel"
    );
    let (single, other) = placed(&addr, &orders[2]).await;
    assert_eq!(other, shipment);
    pick_waves_of(&addr, &orders).await;
    for p in [&both, &single] {
        let (s, r) = post(&addr, &format!("/v1/parcels/{p}/packed"), json!({})).await;
        assert_eq!(s, 200, "{r}");
        let (s, r) = scan(&addr, &shipment, p).await;
        assert_eq!((s, r["result"].as_str()), (200, Some("loaded")), "{r}");
    }
    first.stop().await;

    // No planner: the cancel is answered, its repack waits.
    let mut quiet = config(&redis.url(), "16:00");
    quiet.planner.enabled = false;
    let app = TestApp::spawn_with(quiet).await;
    let addr = app.addr.to_string();
    let (s, r) = call(
        &addr,
        TOKEN_A,
        reqwest::Method::POST,
        &format!("/v1/orders/{}/cancel", orders[0]),
        Some(json!({"reason": "buyer_cancelled"})),
    )
    .await;
    assert_eq!((s, r["status"].as_str()), (200, Some("cancelled")), "{r}");
    let (s, r) = hand_over(&addr, &shipment).await;
    assert_eq!(s, 409, "{r}");
    assert_eq!(r["error"]["code"], "repack_pending", "{r}");
    assert_eq!(r["missing"], json!([]), "{r}");
    assert_eq!(
        ids(&r["repack_pending"]),
        BTreeSet::from([both.clone()]),
        "{r}"
    );
    let sh = get(&addr, &format!("/v1/shipments/{shipment}")).await;
    assert_eq!(sh["status"], "open", "nothing left with the driver: {sh}");
    // Its box scans `pull` at once (before, `already_loaded` until the repack ran); the other
    // buyer's still scans as loaded.
    // (A parcel id typed in lower case, or from a scanner in caps lock, names it too.)
    for (p, code, want) in [
        (&both, both.clone(), "pull"),
        (&single, single.clone(), "already_loaded"),
        (&single, single.to_lowercase(), "already_loaded"),
        (&single, single.to_uppercase(), "already_loaded"),
    ] {
        let (s, r) = scan(&addr, &shipment, &code).await;
        assert_eq!((s, r["result"].as_str()), (200, Some(want)), "{code}: {r}");
        assert_eq!(r["parcel_id"], json!(p), "{code}: {r}");
    }
    app.stop().await;

    // A planning instance repacks: the old box is pulled, its replacement loaded.
    let app = TestApp::spawn_with(config(&redis.url(), "16:00")).await;
    let addr = app.addr.to_string();
    let mut replacement = String::new();
    eventually(30, "the parcel replaced", || {
        let (a, id, p) = (addr.clone(), shipment.clone(), both.clone());
        async move {
            let sh = get(&a, &format!("/v1/shipments/{id}")).await;
            parcel(&sh, &p)["replaced_by"].is_string()
        }
    })
    .await;
    let sh = get(&addr, &format!("/v1/shipments/{shipment}")).await;
    replacement.push_str(parcel(&sh, &both)["replaced_by"].as_str().unwrap());
    let (s, r) = scan(&addr, &shipment, &both).await;
    assert_eq!((s, r["result"].as_str()), (200, Some("pull")), "{r}");
    // It had been scanned onto the truck: taken off (the pull confirmed), it is no longer
    // `loaded`.
    assert_eq!(parcel(&sh, &both)["loaded"], true, "{sh}");
    let (s, r) = post(&addr, &format!("/v1/parcels/{both}/pulled"), json!({})).await;
    assert_eq!(s, 200, "{r}");
    let sh = get(&addr, &format!("/v1/shipments/{shipment}")).await;
    assert_eq!(parcel(&sh, &both)["loaded"], false, "{sh}");
    let (s, r) = post(
        &addr,
        &format!("/v1/parcels/{replacement}/packed"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = scan(&addr, &shipment, &replacement).await;
    assert_eq!((s, r["result"].as_str()), (200, Some("loaded")), "{r}");
    let (s, r) = hand_over(&addr, &shipment).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["parcels_handed_over"], 2, "{r}");
    for (id, status) in [
        (&orders[0], "cancelled"),
        (&orders[1], "handed_over"),
        (&orders[2], "handed_over"),
    ] {
        let o = order_view(&addr, id).await;
        assert_eq!(o["status"], status, "{o}");
    }
    app.stop().await;
}

/// A box scanned onto the truck though no station marked it packed is a box all the same: an
/// order of it cancelled then replaces it, as for a packed parcel (its scan says `pull`, the
/// wave shows its pull card, its replacement is missing until loaded). Before, the
/// parcel only lost the order and stayed loaded: the cancelled item left with the truck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_in_a_box_loaded_unpacked_replaces_it() {
    let redis = TestRedis::start().await;
    let app = TestApp::spawn_with(config(&redis.url(), "16:00")).await;
    let addr = app.addr.to_string();
    let orders = push_session_of(&app, "loaded-unpacked", &[3000, 3000]).await;
    let (both, shipment) = placed(&addr, &orders[0]).await;
    assert_eq!(
        placed(&addr, &orders[1]).await.0,
        both,
        "one buyer, one parcel"
    );
    // Its orders listed by id (before, in the planner's order: `-1, -0`).
    let sh = get(&addr, &format!("/v1/shipments/{shipment}")).await;
    assert_eq!(parcel(&sh, &both)["order_ids"], json!(orders), "{sh}");
    // The shipment names its carrier and service as its parcels (and labels) do.
    assert!(sh["carrier_name"].is_string(), "{sh}");
    for key in ["carrier_name", "service_name"] {
        assert_eq!(sh[key], parcel(&sh, &both)[key], "{key}: {sh}");
    }
    pick_waves_of(&addr, &orders).await;
    let (s, r) = scan(&addr, &shipment, &both).await;
    assert_eq!(
        (s, r["result"].as_str(), r["warning"].as_str()),
        (200, Some("loaded"), Some("not_packed")),
        "{r}"
    );
    let (s, r) = call(
        &addr,
        TOKEN_A,
        reqwest::Method::POST,
        &format!("/v1/orders/{}/cancel", orders[0]),
        Some(json!({"reason": "buyer_cancelled"})),
    )
    .await;
    assert_eq!((s, r["status"].as_str()), (200, Some("cancelled")), "{r}");
    eventually(30, "the parcel replaced", || {
        let (a, id, p) = (addr.clone(), shipment.clone(), both.clone());
        async move {
            let sh = get(&a, &format!("/v1/shipments/{id}")).await;
            parcel(&sh, &p)["replaced_by"].is_string()
        }
    })
    .await;
    let sh = get(&addr, &format!("/v1/shipments/{shipment}")).await;
    assert_eq!(parcel(&sh, &both)["status"], "replaced", "{sh}");
    let replacement = parcel(&sh, &both)["replaced_by"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(placed(&addr, &orders[1]).await.0, replacement);
    assert_eq!(
        ids(&sh["missing"]),
        BTreeSet::from([replacement.clone()]),
        "{sh}"
    );
    let (s, r) = scan(&addr, &shipment, &both).await;
    assert_eq!((s, r["result"].as_str()), (200, Some("pull")), "{r}");
    let wave_id = order_view(&addr, &orders[1]).await["wave_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let wave = get(&addr, &format!("/v1/waves/{wave_id}")).await;
    // The floor is told: pull that box (its cancelled unit back to the shelf, the rest
    // repacked into the replacement).
    assert!(
        wave["pulls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["parcel_id"] == both.as_str() && p["never_packed"] == false),
        "a pull card for the box {both}: {wave}"
    );
    assert_eq!(wave["put_back_count"], 1, "{wave}");
    let (s, r) = hand_over(&addr, &shipment).await;
    assert_eq!(s, 409, "{r}");
    assert_eq!(
        ids(&r["missing"]),
        BTreeSet::from([replacement.clone()]),
        "{r}"
    );
    // The replacement loaded, nothing is missing: the old box is still on the truck, so
    // the truck may not leave until it is confirmed pulled off.
    let (s, r) = scan(&addr, &shipment, &replacement).await;
    assert_eq!((s, r["result"].as_str()), (200, Some("loaded")), "{r}");
    let (s, r) = hand_over(&addr, &shipment).await;
    assert_eq!(s, 409, "{r}");
    assert_eq!(r["error"]["code"], "pull_pending", "{r}");
    assert_eq!(ids(&r["to_pull"]), BTreeSet::from([both.clone()]), "{r}");
    let (s, r) = call(
        &addr,
        OPERATOR,
        reqwest::Method::POST,
        &format!("/v1/parcels/{both}/pulled"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let sh = get(&addr, &format!("/v1/shipments/{shipment}")).await;
    assert_eq!(parcel(&sh, &both)["loaded"], false, "{sh}");
    let (s, r) = hand_over(&addr, &shipment).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        get(&addr, &format!("/v1/shipments/{shipment}")).await["status"],
        "handed_over"
    );
    // The replacement left without a carrier booking: the answer says so, a repeat too.
    assert_eq!(
        ids(&r["not_booked"]),
        BTreeSet::from([replacement.clone()]),
        "{r}"
    );
    let (s, again) = hand_over(&addr, &shipment).await;
    assert_eq!(
        (s, &again["not_booked"]),
        (200, &r["not_booked"]),
        "{again}"
    );
    app.stop().await;
}
