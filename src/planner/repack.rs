//! A cancelled order that was already in a wave: out of the pick list and its parcel; when
//! the parcel was packed or booked, the parcel is replaced by a new one (a new id from the
//! planner's generator) holding the surviving orders. The decision and every write happen in
//! one script (`repack.lua`); this computes the documents it needs (pure) and drives it.

use crate::metric_names as names;
use crate::store::records::{make_id, ParcelDoc, WaveDoc};
use crate::store::repack::{Unwave, UnwaveOutcome};
use crate::store::{Store, StoreError};

/// A parcel without one of its orders.
#[derive(Debug, Clone)]
pub struct Without {
    /// The order's lines (sku, qty): they leave the pick list.
    pub lines: Vec<(String, u32)>,
    /// The parcel without the order; `None` when no order is left.
    pub remaining: Option<ParcelDoc>,
    /// (order_id, session label) of the orders left.
    pub survivors: Vec<(String, String)>,
}

/// `doc` without `order_id` (COD and weight follow from the orders left).
pub fn without(doc: &ParcelDoc, order_id: &str) -> Without {
    let lines = doc
        .orders
        .iter()
        .filter(|o| o.order_id == order_id)
        .flat_map(|o| o.lines.iter().map(|l| (l.sku.clone(), l.qty)))
        .collect();
    let mut rest = doc.clone();
    rest.orders.retain(|o| o.order_id != order_id);
    let survivors = rest
        .orders
        .iter()
        .map(|o| (o.order_id.clone(), o.session.clone()))
        .collect();
    Without {
        lines,
        remaining: (!rest.orders.is_empty()).then_some(rest),
        survivors,
    }
}

/// The parcel that replaces a packed or booked one: the same buyer, pickup, carrier and
/// shipment, the surviving orders, a new id. `split_note`: the old parcel's note that its
/// buyer ordered again after it was released (its hash's `sr`), kept in the new document.
pub fn replacement(remaining: &ParcelDoc, new_id: &str, split_note: Option<&str>) -> ParcelDoc {
    let mut doc = remaining.clone();
    doc.parcel_id = new_id.to_owned();
    if let Some(note) = split_note {
        doc.split_reason = Some(match doc.split_reason.take() {
            Some(r) => format!("{r}, {note}"),
            None => note.to_owned(),
        });
    }
    // The quote was for the old contents.
    doc.quote = None;
    doc
}

/// The wave with `new` listed right after `old` in its pack list (once).
pub fn wave_with(wave: &WaveDoc, old: &str, new: &str) -> WaveDoc {
    let mut w = wave.clone();
    if !w.parcel_ids.iter().any(|p| p == new) {
        let at = w
            .parcel_ids
            .iter()
            .position(|p| p == old)
            .map_or(w.parcel_ids.len(), |i| i + 1);
        w.parcel_ids.insert(at, new.to_owned());
    }
    w
}

/// Takes the cancelled order `order_id` (whose record says wave `wave_id`, parcel
/// `parcel_id`) out of its wave. Returns the script's answer; an error when the parcel or
/// wave kept changing under it (the stream entry is then not acked, and delivered again).
pub async fn unwave(
    store: &Store,
    site: &str,
    seller: &str,
    order_id: &str,
    session: &str,
    wave_id: &str,
    parcel_id: &str,
) -> Result<UnwaveOutcome, StoreError> {
    let mut new_id: Option<String> = None;
    let mut out = UnwaveOutcome::Retry;
    for _ in 0..8 {
        let Some(h) = store
            .parcel_hashes(site, &[parcel_id.to_owned()])
            .await?
            .into_iter()
            .next()
        else {
            return Ok(UnwaveOutcome::NotWaved);
        };
        let Some(doc) = h
            .get("data")
            .and_then(|d| serde_json::from_str::<ParcelDoc>(d).ok())
        else {
            return Ok(UnwaveOutcome::NotWaved);
        };
        let parcel_ver = h.get("ver").cloned().unwrap_or_else(|| "0".into());
        let wh = store.wave_hash(site, wave_id).await?;
        let wave_ver = wh.get("ver").cloned().unwrap_or_else(|| "0".into());
        let wave: Option<WaveDoc> = wh.get("data").and_then(|d| serde_json::from_str(d).ok());
        let w = without(&doc, order_id);
        let parcel_lines: Vec<(String, u32)> =
            doc.items().into_iter().map(|i| (i.sku, i.qty)).collect();
        let remaining = w
            .remaining
            .as_ref()
            .map(ParcelDoc::to_json)
            .unwrap_or_default();
        let (new_parcel, new_wave) = match (&new_id, &w.remaining, &wave) {
            (Some(id), Some(rest), Some(wave)) => (
                replacement(rest, id, h.get("sr").map(String::as_str)).to_json(),
                serde_json::to_string(&wave_with(wave, parcel_id, id)).unwrap_or_default(),
            ),
            _ => (String::new(), String::new()),
        };
        out = store
            .unwave(
                site,
                &Unwave {
                    wave_id,
                    parcel_id,
                    seller,
                    order_id,
                    session,
                    parcel_ver: &parcel_ver,
                    wave_ver: &wave_ver,
                    remaining: &remaining,
                    new_id: if new_parcel.is_empty() {
                        ""
                    } else {
                        new_id.as_deref().unwrap_or("")
                    },
                    new_parcel: &new_parcel,
                    new_wave: &new_wave,
                    shipment_id: doc.shipment_id.as_deref(),
                    survivors: &w.survivors,
                    lines: &w.lines,
                    parcel_lines: &parcel_lines,
                },
            )
            .await?;
        match out {
            UnwaveOutcome::NeedId => {
                let Some(wave) = &wave else {
                    return Ok(UnwaveOutcome::NotWaved);
                };
                // The planner's generator: the site's parcel counter of the wave's day (again
                // if the id drawn before turned out to be taken).
                let n = store.next_number(site, "parcel", wave.date, 1).await?;
                new_id = Some(make_id('P', site, wave.date, n));
            }
            UnwaveOutcome::Retry => {}
            done => {
                if matches!(done, UnwaveOutcome::Replaced | UnwaveOutcome::Cancelled) {
                    metrics::counter!(names::PARCELS_REPACKED, "site" => site.to_owned(), "outcome" => done.as_str())
                        .increment(1);
                }
                tracing::info!(site, wave = %wave_id, parcel = %parcel_id, new_parcel = ?new_id, outcome = done.as_str(), "cancelled order taken out of its wave");
                return Ok(done);
            }
        }
    }
    // Not acked: the cancellation is delivered again and retried.
    Err(StoreError::Corrupt(format!(
        "parcel {parcel_id} kept changing while cancelled order {order_id} was taken out ({})",
        out.as_str()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Vnd;
    use crate::store::records::{ParcelItem, ParcelOrder};

    fn order(id: &str, cod: i64, grams: u64) -> ParcelOrder {
        ParcelOrder {
            order_id: id.into(),
            session: "s".into(),
            cod_amount: Vnd(cod.into()),
            weight_g: grams,
            deadline: None,
            lines: vec![ParcelItem {
                sku: "HONEY-500".into(),
                name: "Mật ong".into(),
                qty: 2,
                unit_price: Vnd(185_000.into()),
                weight_g: 650,
            }],
        }
    }

    fn doc() -> ParcelDoc {
        serde_json::from_value(serde_json::json!({
            "parcel_id": "P-hub-1202-1", "wave_id": "W-hub-1202-1", "site": "hub",
            "seller": "s1", "buyer_key": "k", "first_name": "Lan", "phone_masked": "09****678",
            "province": "Ninh Bình", "ward": "Phường Hoa Lư",
            "pickup_at": "2026-12-02T10:00:00Z", "orders": [], "carrier": "viettel-post",
            "service": "VCN", "shipment_id": "SH-1", "tare_g": 100
        }))
        .unwrap()
    }

    #[test]
    fn without_recomputes_cod_and_weight() {
        let mut d = doc();
        d.orders = vec![order("A", 400_000, 1300), order("B", 200_000, 650)];
        let w = without(&d, "A");
        assert_eq!(w.lines, vec![("HONEY-500".to_owned(), 2)]);
        let rest = w.remaining.unwrap();
        assert_eq!(rest.cod_amount(), Vnd(200_000.into()));
        assert_eq!(rest.weight_g(), 750);
        assert_eq!(w.survivors, vec![("B".to_owned(), "s".to_owned())]);
        let new = replacement(&rest, "P-hub-1202-9", None);
        assert_eq!(new.parcel_id, "P-hub-1202-9");
        assert_eq!(new.shipment_id.as_deref(), Some("SH-1"));
        assert!(without(&new, "B").remaining.is_none());
        assert_eq!(new.split_reason, None);
        // The old parcel's note that its buyer ordered again after release stays with it.
        let noted = replacement(&rest, "P-x", Some("ordered again after release: P-7"));
        assert_eq!(
            noted.split_reason.as_deref(),
            Some("ordered again after release: P-7")
        );
    }

    #[test]
    fn new_parcel_follows_the_old_in_the_pack_list_once() {
        let wave: WaveDoc = serde_json::from_value(serde_json::json!({
            "wave_id": "W-1", "site": "hub", "date": "2026-12-02",
            "released_at": "2026-12-02T01:00:00Z", "pickup_at": "2026-12-02T04:00:00Z",
            "release_reason": "x", "pick_list": [], "parcel_ids": ["P-1", "P-2", "P-3"],
            "orders": []
        }))
        .unwrap();
        let w = wave_with(&wave, "P-2", "P-9");
        assert_eq!(w.parcel_ids, ["P-1", "P-2", "P-9", "P-3"]);
        assert_eq!(wave_with(&w, "P-2", "P-9").parcel_ids, w.parcel_ids);
    }
}
