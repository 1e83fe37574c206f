//! The parcel object of the API (contract §2 and §6): what a wave and a shipment show of each
//! parcel, with its booking state, whether it is on the truck, and repack links.

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;

use crate::domain::money::Vnd;
use crate::domain::status::{CarrierStatus, FloorStatus};
use crate::shipping::service::StoredParcel;
use crate::store::records::ParcelItem;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BuyerView {
    pub first_name: String,
    pub phone_masked: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ItemView {
    pub sku: String,
    pub name: String,
    pub qty: u32,
}

pub use crate::domain::status::{BookState, ParcelStatus};

/// A parcel's place in its life: the floor's status until the carrier has it, except that a
/// parcel not packed yet stays `open` even when booked early.
pub fn parcel_status(p: &StoredParcel) -> ParcelStatus {
    match p.floor_status {
        Some(FloorStatus::Cancelled) => return ParcelStatus::Cancelled,
        Some(FloorStatus::Replaced) => return ParcelStatus::Replaced,
        _ => {}
    }
    match p.carrier_status {
        Some(CarrierStatus::HandedOver) => return ParcelStatus::HandedOver,
        Some(CarrierStatus::Delivered) => return ParcelStatus::Delivered,
        Some(CarrierStatus::Returned) => return ParcelStatus::Returned,
        Some(CarrierStatus::CancelledByCarrier) => return ParcelStatus::Cancelled,
        _ => {}
    }
    match (p.floor_status, p.carrier_status) {
        (Some(FloorStatus::Open), _) | (None, None) => ParcelStatus::Open,
        (_, Some(CarrierStatus::Booked)) => ParcelStatus::Booked,
        _ => ParcelStatus::Packed,
    }
}

/// Where the parcel's carrier booking stands.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BookingView {
    pub state: BookState,
    /// Booking requests sent that failed.
    pub attempts: u64,
    /// When the booker tries again (while retrying).
    #[schema(required = true)]
    pub next_try_at: Option<DateTime<Utc>>,
    /// The carrier's last error or its rejection reason.
    #[schema(required = true)]
    pub error: Option<String>,
}

impl BookingView {
    /// From `book_state` as the booker wrote it; without it: a tracking code → booked,
    /// failed attempts → retrying, else none. A parcel that no longer ships (cancelled,
    /// replaced, to be pulled) has no booking standing: it reads none (the booker stopped
    /// trying; a carrier order it had is cancelled, see `carrier_cancel`), with its attempts
    /// and last error; a rejection stays rejected.
    pub fn of(p: &StoredParcel) -> BookingView {
        let state = match p.book_state {
            Some(BookState::Rejected) => BookState::Rejected,
            _ if !p.ships() => BookState::None,
            Some(s @ (BookState::Pending | BookState::Retrying)) => s,
            Some(BookState::Booked) => BookState::Booked,
            _ if p.tracking.is_some() => BookState::Booked,
            _ if p.book_attempts > 0 && p.ships() => BookState::Retrying,
            _ => BookState::None,
        };
        let waiting = matches!(state, BookState::Pending | BookState::Retrying);
        BookingView {
            state,
            attempts: p.book_attempts,
            next_try_at: p
                .next_try_ms
                .filter(|_| waiting)
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
            error: p.book_error.clone().filter(|_| state != BookState::Booked),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ParcelView {
    pub parcel_id: String,
    pub seller: String,
    pub order_ids: Vec<String>,
    pub buyer: BuyerView,
    pub province: String,
    pub ward: String,
    pub items: Vec<ItemView>,
    #[schema(value_type = String)]
    pub cod_amount: Vnd,
    pub weight_g: u64,
    #[schema(required = true)]
    pub carrier: Option<String>,
    #[schema(required = true)]
    pub service: Option<String>,
    pub status: ParcelStatus,
    /// A packed parcel holding a cancelled order: pull it before hand-over.
    pub pull: bool,
    /// The carrier's tracking code once booked.
    #[schema(required = true)]
    pub tracking: Option<String>,
    pub booking: BookingView,
    /// Scanned onto the truck at hand-over.
    pub loaded: bool,
    /// Left behind at hand-over, with this reason.
    #[schema(required = true)]
    pub left_behind: Option<String>,
    /// Why this buyer's orders span several parcels, if they do.
    #[schema(required = true)]
    pub split_reason: Option<String>,
    /// The parcel this one replaces (repack after a cancellation).
    #[schema(required = true)]
    pub replaces: Option<String>,
    /// The parcel that replaced this one.
    #[schema(required = true)]
    pub replaced_by: Option<String>,
    /// Cancelling this parcel's carrier order after a repack or cancellation:
    /// `pending | retrying | cancelled | refused`, or null when there is none.
    #[schema(required = true)]
    pub carrier_cancel: Option<String>,
    /// The carrier's message while that cancel is `retrying` or once it is `refused` (why it
    /// refused: e.g. already picked up), else null.
    #[schema(required = true)]
    pub carrier_cancel_error: Option<String>,
    /// The pull was confirmed (`POST /v1/parcels/{id}/pulled`).
    pub pulled: bool,
    /// The platforms' order ids of its orders (the ORDER's `order_id`, which sellers push
    /// as the platform's id).
    pub platform_order_ids: Vec<String>,
    /// No money to collect (COD 0): "ĐÃ THANH TOÁN — KHÔNG THU TIỀN".
    pub prepaid: bool,
    /// The carrier and service by name ("Viettel Post", "VCN · Chuyển phát nhanh"); the
    /// config ids stay in `carrier` and `service`.
    #[schema(required = true)]
    pub carrier_name: Option<String>,
    #[schema(required = true)]
    pub service_name: Option<String>,
    pub pickup_at: DateTime<Utc>,
    /// The earliest deadline of its orders (null for parcels made before 2026-12).
    #[schema(required = true)]
    pub deadline: Option<DateTime<Utc>>,
    /// Not packed, and an order is at risk (overdue, or its pickup is after its deadline),
    /// or the planner lists one of its orders at risk, or its pickup time has passed.
    pub at_risk: bool,
    /// Not packed, and an order's deadline has passed.
    pub overdue: bool,
    /// Wave view only: the wave's picked units not yet in packed parcels cover its items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items_picked: Option<bool>,
}

/// A carrier's and service's names as labels print them ("Viettel Post", "VCN · Chuyển phát
/// nhanh"), from the carrier's kind in config (`None`: a carrier no longer configured). The
/// parcel views, the shipment views and the labels say the same.
pub fn carrier_names(
    config: &crate::config::Config,
    carrier: &str,
    service: Option<&str>,
) -> (Option<String>, Option<String>) {
    let Some(cfg) = config.carriers.iter().find(|c| c.id == carrier) else {
        return (None, None);
    };
    let service = service.map_or_else(|| cfg.service(), str::to_owned);
    let table = cfg
        .rates()
        .into_iter()
        .find(|r| r.code == service)
        .map(|r| r.name);
    (
        Some(crate::shipping::label::carrier_display_name(cfg.kind)),
        Some(crate::shipping::label::service_display(
            Some(cfg.kind),
            &service,
            table.as_deref(),
        )),
    )
}

/// What the floor's badges need besides the parcel: the time, the planner's at-risk orders
/// (seller, order id), the carriers' names.
pub struct FloorCtx<'a> {
    pub now: DateTime<Utc>,
    pub listed: std::collections::HashSet<(String, String)>,
    pub config: &'a crate::config::Config,
}

impl<'a> FloorCtx<'a> {
    /// The outlook the site's planner last wrote (none: nothing listed).
    pub async fn load(
        state: &'a crate::state::AppState,
        site: &str,
    ) -> Result<FloorCtx<'a>, crate::store::StoreError> {
        let outlook: Option<crate::planner::outlook::Outlook> = state
            .store
            .outlook(site)
            .await?
            .and_then(|j| serde_json::from_str(&j).ok());
        Ok(FloorCtx {
            now: Utc::now(),
            listed: outlook
                .map(|o| {
                    o.at_risk
                        .into_iter()
                        .map(|r| (r.id.seller, r.id.order_id))
                        .collect()
                })
                .unwrap_or_default(),
            config: &state.config,
        })
    }

    /// The view with names and badges filled in.
    pub fn view(&self, p: &StoredParcel) -> ParcelView {
        let mut v = ParcelView::of(p);
        if let Some(carrier) = v.carrier.as_deref() {
            (v.carrier_name, v.service_name) =
                carrier_names(self.config, carrier, v.service.as_deref());
        }
        let listed = p.doc.orders.iter().any(|o| {
            self.listed
                .contains(&(p.doc.seller.clone(), o.order_id.clone()))
        });
        let risk = crate::observe::risk::parcel_risk(
            self.now,
            v.status == ParcelStatus::Open && !p.pull,
            v.pickup_at,
            v.deadline,
            listed,
        );
        v.at_risk = risk.at_risk;
        v.overdue = risk.overdue;
        v
    }
}

impl ParcelView {
    pub fn of(p: &StoredParcel) -> ParcelView {
        let doc = &p.doc;
        ParcelView {
            parcel_id: doc.parcel_id.clone(),
            seller: doc.seller.clone(),
            order_ids: doc.orders.iter().map(|o| o.order_id.clone()).collect(),
            buyer: BuyerView {
                first_name: doc.first_name.clone(),
                phone_masked: doc.phone_masked.clone(),
            },
            province: doc.province.clone(),
            ward: doc.ward.clone(),
            items: doc
                .items()
                .into_iter()
                .map(|ParcelItem { sku, name, qty, .. }| ItemView { sku, name, qty })
                .collect(),
            cod_amount: doc.cod_amount(),
            weight_g: doc.weight_g(),
            carrier: doc.carrier.clone(),
            service: doc.service.clone(),
            status: parcel_status(p),
            pull: p.pull,
            tracking: p.tracking.clone(),
            booking: BookingView::of(p),
            loaded: p.loaded,
            left_behind: p.left_behind.clone(),
            split_reason: p.split_reason(),
            replaces: p.replaces.clone(),
            replaced_by: p.replaced_by.clone(),
            carrier_cancel: p.cancel_state.clone(),
            carrier_cancel_error: p
                .cancel_error
                .clone()
                .filter(|_| matches!(p.cancel_state.as_deref(), Some("retrying" | "refused"))),
            pulled: p.pulled,
            platform_order_ids: doc.orders.iter().map(|o| o.order_id.clone()).collect(),
            prepaid: doc.cod_amount().0.is_zero(),
            carrier_name: None,
            service_name: None,
            pickup_at: doc.pickup_at,
            deadline: doc.orders.iter().filter_map(|o| o.deadline).min(),
            at_risk: false,
            overdue: false,
            items_picked: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parcel(fields: &[(&str, &str)]) -> StoredParcel {
        let doc = serde_json::json!({
            "parcel_id": "P-hub-20261121-1", "wave_id": "W-hub-20261121-1", "site": "hub",
            "seller": "s", "buyer_key": "k", "first_name": "Lan", "phone_masked": "09***1",
            "province": "Ninh Bình", "ward": "Hoa Lư", "pickup_at": "2026-11-21T04:00:00Z",
            "orders": [], "carrier": null, "service": null
        });
        let mut h: HashMap<String, String> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        h.insert("data".into(), doc.to_string());
        StoredParcel::from_hash(&h).unwrap()
    }

    #[test]
    fn status_follows_floor_then_carrier() {
        let st = |f: &[(&str, &str)]| parcel_status(&parcel(f));
        assert_eq!(st(&[("status", "open")]), ParcelStatus::Open);
        assert_eq!(
            st(&[("status", "open"), ("cstatus", "booked")]),
            ParcelStatus::Open
        );
        assert_eq!(st(&[("status", "packed")]), ParcelStatus::Packed);
        assert_eq!(
            st(&[("status", "packed"), ("cstatus", "booked")]),
            ParcelStatus::Booked
        );
        assert_eq!(
            st(&[("status", "packed"), ("cstatus", "handed_over")]),
            ParcelStatus::HandedOver
        );
        assert_eq!(
            st(&[("status", "replaced"), ("cstatus", "booked")]),
            ParcelStatus::Replaced
        );
        assert_eq!(
            st(&[("status", "packed"), ("cstatus", "cancelled_by_carrier")]),
            ParcelStatus::Cancelled
        );
    }

    #[test]
    fn booking_state_is_derived_without_book_state() {
        let b = |f: &[(&str, &str)]| BookingView::of(&parcel(f));
        assert_eq!(b(&[]).state, BookState::None);
        let r = b(&[
            ("book_attempts", "2"),
            ("next_try_ms", "1764000000000"),
            ("book_error", "HTTP 500"),
        ]);
        assert_eq!(r.state, BookState::Retrying);
        assert_eq!(r.attempts, 2);
        assert!(r.next_try_at.is_some());
        assert_eq!(r.error.as_deref(), Some("HTTP 500"));
        let booked = b(&[("tracking", "VTP1"), ("book_attempts", "1")]);
        assert_eq!(booked.state, BookState::Booked);
        assert_eq!(booked.next_try_at, None);
        // Cancelled while retrying: the booker stopped.
        let gone = b(&[
            ("status", "cancelled"),
            ("book_state", "retrying"),
            ("book_attempts", "14"),
            ("next_try_ms", "1764000000000"),
            ("book_error", "HTTP 500"),
        ]);
        assert_eq!((gone.state, gone.attempts), (BookState::None, 14));
        assert_eq!(gone.next_try_at, None);
        assert_eq!(gone.error.as_deref(), Some("HTTP 500"));
        let rej = b(&[("book_state", "rejected"), ("book_error", "bad ward")]);
        assert_eq!(rej.state, BookState::Rejected);
        assert_eq!(rej.next_try_at, None);
        assert_eq!(rej.error.as_deref(), Some("bad ward"));
    }
}
