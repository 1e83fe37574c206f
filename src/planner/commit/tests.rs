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
