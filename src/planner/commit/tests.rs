use chrono::TimeZone;

use super::*;

fn route(carrier: &str, service: &str, h: u32, m: u32, s: u32) -> Route {
    Route {
        carrier: carrier.into(),
        service: service.into(),
        // Asia/Ho_Chi_Minh is UTC+7: 03:00 UTC is 10:00 there.
        pickup_at: Utc.with_ymd_and_hms(2026, 12, 6, h, m, s).unwrap(),
        quote: None,
    }
}

/// What the grouping was before each route's id was memoized: every parcel's shipment id
/// formatted, and the parcel put in the first shipment with that id.
fn by_id_per_parcel(site: &str, routes: &[Route]) -> (Vec<ShipmentKey>, Vec<usize>) {
    let mut keys: Vec<ShipmentKey> = Vec::new();
    let mut at = Vec::new();
    for r in routes {
        let id = shipment_id(site, r.pickup_at, &r.carrier, &r.service);
        let i = match keys.iter().position(|k| k.id == id) {
            Some(i) => i,
            None => {
                keys.push(ShipmentKey {
                    id,
                    carrier: r.carrier.clone(),
                    service: r.service.clone(),
                    pickup_ms: r.pickup_at.timestamp_millis(),
                });
                keys.len() - 1
            }
        };
        at.push(i);
    }
    (keys, at)
}

#[test]
fn parcels_share_a_shipment_exactly_when_their_shipment_ids_are_equal() {
    let site = "hoa-lu-hub";
    let routes = [
        route("viettelpost", "VCN", 3, 0, 0),
        // The same minute of the same pickup: the same id, so the first route's shipment.
        route("viettelpost", "VCN", 3, 0, 30),
        // Services that differ only in characters `shipment_id` replaces: one id.
        route("viettelpost", "V CN", 3, 0, 0),
        route("viettelpost", "V_CN", 3, 0, 0),
        route("viettelpost", "V/CN", 3, 0, 45),
        // Another carrier, another pickup, another service: shipments of their own.
        route("ghn", "VCN", 3, 0, 0),
        route("viettelpost", "VCN", 7, 0, 0),
        route("viettelpost", "VHT", 3, 0, 0),
        // Routes met before, again (each its first shipment).
        route("viettelpost", "VCN", 3, 0, 30),
        route("viettelpost", "V_CN", 3, 0, 0),
        route("ghn", "VCN", 3, 0, 0),
        route("viettelpost", "V CN", 3, 0, 0),
    ];
    let mut group = Shipments::default();
    let at: Vec<usize> = routes.iter().map(|r| group.of(site, r)).collect();
    let (want_keys, want_at) = by_id_per_parcel(site, &routes);
    assert_eq!(group.keys, want_keys);
    assert_eq!(at, want_at);
    // What that is, spelled out: VCN and V CN at 10:00 (two ids), ghn, 14:00, VHT.
    assert_eq!(at, [0, 0, 1, 1, 1, 2, 3, 4, 0, 1, 2, 1]);
    assert_eq!(
        group.keys[1].id,
        "S-hoa-lu-hub-20261206-1000-viettelpost-V_CN"
    );
    assert_eq!(group.keys[1].service, "V CN");
}

/// A planner record whose every value differs with `n` (so a member taken from the wrong
/// record shows); of its lines' SKUs, those in `priced` have a price and weight (each its own),
/// the others none (written as 0).
fn record(
    n: u32,
    seller: &str,
    lines: &[(&str, &str, u32)],
    priced: &[(&str, i64, u32)],
) -> PendingRecord {
    let t = Utc.with_ymd_and_hms(2026, 12, 6, 2, n, 0).unwrap();
    PendingRecord {
        plan: crate::planner::core::PlanOrder {
            id: crate::domain::order::OrderRef {
                seller: seller.into(),
                order_id: format!("TT-{n}"),
            },
            session: format!("live-\"{n}\""),
            buyer_key: format!("9be7863d053d1f2f777358d{n}"),
            received_at: t,
            deadline: t + chrono::Duration::hours(20 + i64::from(n)),
            pickup_at: t + chrono::Duration::hours(1),
            lines: lines
                .iter()
                .map(|&(sku, name, qty)| crate::planner::core::PlanLine {
                    sku: sku.into(),
                    name: name.into(),
                    qty,
                })
                .collect(),
            weight_g: 1_850 + u64::from(n),
        },
        first_name: format!("Hùng {n}"),
        phone_masked: format!("090****04{n}"),
        cod_amount: Vnd(rust_decimal::Decimal::new(1_230_000 + i64::from(n), 0)),
        province: format!("Thanh Hóa {n}"),
        ward: format!("Phường Hạc Thành {n}"),
        items: priced
            .iter()
            .map(
                |&(sku, tenths, weight_g)| crate::planner::pending::ItemInfo {
                    sku: sku.into(),
                    unit_price: Vnd(rust_decimal::Decimal::new(tenths, 1)),
                    weight_g,
                },
            )
            .collect(),
    }
}

/// A parcel's document as `build` made it before it wrote the JSON from borrowed parts:
/// a `ParcelDoc` of cloned strings, here written by serde_json (as the hand-written writer
/// writes it: `store::records`' tests).
fn parcel_doc_as_before(
    site: &str,
    wave_id: &str,
    parcel_id: &str,
    wave_pickup: DateTime<Utc>,
    b: &Box<'_>,
    route: Option<&Route>,
    tare_g: u64,
) -> String {
    let first = b.recs[0];
    let doc = crate::store::records::ParcelDoc {
        parcel_id: parcel_id.to_owned(),
        wave_id: wave_id.to_owned(),
        site: site.to_owned(),
        seller: first.plan.id.seller.clone(),
        buyer_key: first.plan.buyer_key.clone(),
        first_name: first.first_name.clone(),
        phone_masked: first.phone_masked.clone(),
        province: first.province.clone(),
        ward: first.ward.clone(),
        pickup_at: route.map_or(wave_pickup, |r| r.pickup_at),
        orders: b
            .recs
            .iter()
            .map(|r| crate::store::records::ParcelOrder {
                order_id: r.plan.id.order_id.clone(),
                session: r.plan.session.clone(),
                cod_amount: r.cod_amount,
                weight_g: r.plan.weight_g,
                deadline: Some(r.plan.deadline),
                lines: r
                    .plan
                    .lines
                    .iter()
                    .map(|l| {
                        let info = r.items.iter().find(|i| i.sku == l.sku);
                        crate::store::records::ParcelItem {
                            sku: l.sku.clone(),
                            name: l.name.clone(),
                            qty: l.qty,
                            unit_price: info.map(|i| i.unit_price).unwrap_or_default(),
                            weight_g: info.map(|i| i.weight_g).unwrap_or(0),
                        }
                    })
                    .collect(),
            })
            .collect(),
        carrier: route.map(|r| r.carrier.clone()),
        service: route.map(|r| r.service.clone()),
        shipment_id: route.map(|r| shipment_id(site, r.pickup_at, &r.carrier, &r.service)),
        tare_g,
        split_reason: b.reason.clone(),
        oversize: b.oversize,
        quote: route.and_then(|r| r.quote),
    };
    serde_json::to_string(&doc).unwrap()
}

#[test]
fn a_waves_parcel_documents_are_what_the_cloned_parcel_document_wrote() {
    let site = "hoa-lu-hub";
    let honey = ("HONEY-500", "Mật ong rừng \"Tam Điệp\" 500ml", 1);
    let tea = ("TEA-100", "Trà Shan Tuyết\tcổ thụ", 3);
    let a = record(
        1,
        "mat-ong-tam-diep",
        &[honey, tea],
        &[("HONEY-500", 1_855, 650), ("TEA-100", 1_200_000, 120)],
    );
    let b = record(
        2,
        "mat-ong-tam-diep",
        &[tea, honey],
        &[("TEA-100", 990_000, 100)],
    );
    let c = record(3, "tra-shan-tuyet", &[], &[]);
    let boxes = vec![
        Box {
            recs: vec![&a, &b],
            reason: Some("over 20,000 g".into()),
            oversize: false,
        },
        Box {
            recs: vec![&c],
            reason: None,
            oversize: true,
        },
        Box {
            recs: vec![&b],
            reason: None,
            oversize: false,
        },
        // The first box's shipment again (a route in the same minute).
        Box {
            recs: vec![&c, &a],
            reason: None,
            oversize: false,
        },
    ];
    let mut quoted = route("ghn", "2", 3, 0, 0);
    quoted.quote = Some(Vnd(rust_decimal::Decimal::new(32_500, 0)));
    let routes = vec![
        Some(route("viettelpost", "VCN", 3, 0, 30)),
        None,
        Some(quoted),
        Some(route("viettelpost", "VCN", 3, 0, 45)),
    ];
    let pickup = Utc.with_ymd_and_hms(2026, 12, 6, 3, 0, 0).unwrap();
    let wave = WavePlan {
        pickup_at: pickup,
        deadline: pickup,
        parcels: Vec::new(),
        pick_list: Vec::new(),
        release_reason: crate::planner::core::ReleaseReason::DeadlinePressure,
        splits: Vec::new(),
        minutes: 0.0,
    };
    let date = chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
    let ship = ShipCtx {
        carrier: "viettelpost".into(),
        service: "VCN".into(),
        pickups: Vec::new(),
        limits: ParcelLimits {
            max_orders: 20,
            max_weight_g: 30_000,
            max_cod: Vnd(rust_decimal::Decimal::new(10_000_000, 0)),
            tare_g: 120,
        },
        choice: None,
    };
    for ship in [None, Some(&ship)] {
        let built = build(
            site, ship, "W-1", 41, date, &wave, pickup, &boxes, &routes, pickup,
        );
        let tare = ship.map_or(0, |s| s.limits.tare_g);
        let want: Vec<(String, String)> = boxes
            .iter()
            .zip(&routes)
            .enumerate()
            .map(|(n, (b, r))| {
                let id = make_id('P', site, date, 41 + n as u64);
                let doc = parcel_doc_as_before(site, "W-1", &id, pickup, b, r.as_ref(), tare);
                (id, doc)
            })
            .collect();
        assert_eq!(built.parcels, want);
        assert_eq!(built.parcel_shipment, [1, 0, 2, 1]);
        let (keys, _) = by_id_per_parcel(
            site,
            &[routes[0].clone().unwrap(), routes[2].clone().unwrap()],
        );
        assert_eq!(built.shipments, keys);
    }
}
