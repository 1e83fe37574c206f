//! Carriers: booking one parcel with a carrier and reading its status webhooks.
//!
//! Booking is per parcel and idempotent by our parcel id ([`BookingRequest::reference`]): a
//! caller books every parcel of a shipment independently, records each result, and retries the
//! ones that failed with [`CarrierError::Unavailable`] with back-off. A
//! [`CarrierError::Rejected`] parcel is reported (its data must change first).
//!
//! Implementations: [`ViettelPost`] (its partner API, see `viettelpost.rs` for the wire format
//! and sources), [`Ghtk`] (`ghtk.rs`), [`Ghn`] (`ghn.rs`) and [`MockCarrier`] (offline demo,
//! no network). [`CarrierClient`] picks one at
//! run time from a `[[carriers]]` entry's `kind`.

mod ghn;
mod ghtk;
mod ghx_webhook;
mod mock;
mod partner;
mod viettelpost;
mod vtp_category;
mod vtp_quote;
mod vtp_wire;
mod webhook;

use std::future::Future;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::{CarrierConfig, CarrierKind, Secret};

pub use ghn::Ghn;
pub use ghtk::Ghtk;
pub use ghx_webhook::{
    map_ghn_status, map_ghtk_status, parse_ghn_webhook, parse_ghtk_webhook, GHN_STATUSES,
};
pub use mock::MockCarrier;
pub use viettelpost::{ViettelPost, CONNECT_TIMEOUT, REQUEST_TIMEOUT};
pub use vtp_category::{district_key, province_key, ward_key, AddressIds};
pub use webhook::{map_viettelpost_status, parse_viettelpost_webhook};

/// A sender or receiver as the carrier needs them: post-2025 addresses (province and ward, no
/// district), already normalized by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub name: String,
    pub phone: String,
    pub street: String,
    pub ward: String,
    pub province: String,
}

impl Party {
    /// "street, ward, province", skipping empty parts.
    pub fn full_address(&self) -> String {
        [&self.street, &self.ward, &self.province]
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One line of the parcel: price and weight are per unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingItem {
    pub name: String,
    pub qty: u32,
    pub unit_price: Decimal,
    pub weight_g: u32,
}

/// One parcel to book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingRequest {
    /// Our parcel id: the carrier's order reference and the idempotency key.
    pub reference: String,
    pub sender: Party,
    pub receiver: Party,
    /// Gross weight (items + packaging), grams.
    pub weight_g: u64,
    /// Declared goods value, VND.
    pub value: Decimal,
    /// Money the carrier collects from the receiver, VND; 0 = prepaid.
    pub cod: Decimal,
    /// The carrier's service code (e.g. Viettel Post "VCN").
    pub service: String,
    pub items: Vec<BookingItem>,
    pub note: Option<String>,
}

/// A booked parcel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    pub tracking_code: String,
    /// The carrier's total fee for the parcel when it tells us (VND).
    pub fee: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CarrierError {
    /// The carrier refused this parcel (bad address, phone, weight, …): report it; retrying the
    /// same data won't help.
    #[error("carrier rejected the parcel: {message}")]
    Rejected { message: String },
    /// Network error, timeout, 5xx, expired or refused credentials…: retry with back-off.
    #[error("carrier unavailable: {message}")]
    Unavailable { message: String },
}

impl CarrierError {
    /// Whether the same request may succeed later.
    pub fn retryable(&self) -> bool {
        matches!(self, CarrierError::Unavailable { .. })
    }

    /// The carrier's (or our) explanation.
    pub fn message(&self) -> &str {
        match self {
            CarrierError::Rejected { message } | CarrierError::Unavailable { message } => message,
        }
    }

    pub(crate) fn rejected(message: impl Into<String>) -> Self {
        CarrierError::Rejected {
            message: message.into(),
        }
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        CarrierError::Unavailable {
            message: message.into(),
        }
    }
}

/// A carrier that books parcels.
pub trait Carrier: Send + Sync {
    /// Books one parcel. Idempotent by `req.reference`: booking a parcel the carrier already
    /// has answers its existing tracking code where the carrier lets us learn it.
    fn book(
        &self,
        req: &BookingRequest,
    ) -> impl Future<Output = Result<Booking, CarrierError>> + Send;

    /// Cancels the carrier order `tracking` (the parcel will not ship). `Ok` also when it was
    /// cancelled already; [`CarrierError::Rejected`] when the carrier no longer allows it
    /// (e.g. already picked up): final.
    fn cancel(
        &self,
        tracking: &str,
        note: &str,
    ) -> impl Future<Output = Result<(), CarrierError>> + Send;
}

/// The carrier of a `[[carriers]]` entry, chosen at run time by its `kind`.
#[derive(Debug, Clone)]
pub enum CarrierClient {
    ViettelPost(ViettelPost),
    Ghtk(Ghtk),
    Ghn(Ghn),
    Mock(MockCarrier),
}

impl CarrierClient {
    /// `kind = "mock"` gives the offline [`MockCarrier`], "ghtk" and "ghn" their partner APIs;
    /// anything else Viettel Post's (config validation only admits these four, and an unknown
    /// kind must never silently hand out fake tracking codes).
    pub fn from_config(c: &CarrierConfig) -> Self {
        match c.kind {
            CarrierKind::Mock => CarrierClient::Mock(MockCarrier::new()),
            CarrierKind::Ghtk => {
                CarrierClient::Ghtk(Ghtk::new(&c.base_url, c.token.clone(), &c.client_source))
            }
            CarrierKind::Ghn => {
                CarrierClient::Ghn(Ghn::new(&c.base_url, c.token.clone(), &c.shop_id))
            }
            CarrierKind::Viettelpost => CarrierClient::ViettelPost(ViettelPost::new(
                &c.base_url,
                &c.username,
                c.password.clone(),
            )),
        }
    }

    pub async fn book(&self, req: &BookingRequest) -> Result<Booking, CarrierError> {
        match self {
            CarrierClient::ViettelPost(c) => c.book(req).await,
            CarrierClient::Ghtk(c) => c.book(req).await,
            CarrierClient::Ghn(c) => c.book(req).await,
            CarrierClient::Mock(c) => c.book(req).await,
        }
    }

    pub async fn cancel(&self, tracking: &str, note: &str) -> Result<(), CarrierError> {
        match self {
            CarrierClient::ViettelPost(c) => c.cancel(tracking, note).await,
            CarrierClient::Ghtk(c) => c.cancel(tracking, note).await,
            CarrierClient::Ghn(c) => c.cancel(tracking, note).await,
            CarrierClient::Mock(c) => c.cancel(tracking, note).await,
        }
    }

    /// The carrier's own fee quote for a parcel (VND), where it has a fee API; `None` for
    /// carriers without one (the mock).
    pub async fn quote(&self, req: &BookingRequest) -> Option<Result<Decimal, CarrierError>> {
        match self {
            CarrierClient::ViettelPost(c) => Some(c.quote(req).await),
            CarrierClient::Ghtk(c) => Some(c.quote(req).await),
            CarrierClient::Ghn(c) => Some(c.quote(req).await),
            CarrierClient::Mock(_) => None,
        }
    }

    /// The config `kind` this client speaks.
    pub fn kind(&self) -> CarrierKind {
        match self {
            CarrierClient::ViettelPost(_) => CarrierKind::Viettelpost,
            CarrierClient::Ghtk(_) => CarrierKind::Ghtk,
            CarrierClient::Ghn(_) => CarrierKind::Ghn,
            CarrierClient::Mock(_) => CarrierKind::Mock,
        }
    }
}

impl Carrier for CarrierClient {
    fn book(
        &self,
        req: &BookingRequest,
    ) -> impl Future<Output = Result<Booking, CarrierError>> + Send {
        CarrierClient::book(self, req)
    }

    fn cancel(
        &self,
        tracking: &str,
        note: &str,
    ) -> impl Future<Output = Result<(), CarrierError>> + Send {
        CarrierClient::cancel(self, tracking, note)
    }
}

/// Our parcel statuses that a carrier event can move a parcel to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParcelStatus {
    /// The carrier has the parcel: picked up, in transit, out for delivery, or on its way back.
    HandedOver,
    /// Delivered to the receiver (COD collected).
    Delivered,
    /// Returned to the sender.
    Returned,
    /// The carrier cancelled the waybill (before or without pickup).
    CancelledByCarrier,
}

impl ParcelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ParcelStatus::HandedOver => "handed_over",
            ParcelStatus::Delivered => "delivered",
            ParcelStatus::Returned => "returned",
            ParcelStatus::CancelledByCarrier => "cancelled_by_carrier",
        }
    }

    /// No later carrier event should move a parcel out of a final status: webhooks arrive late,
    /// twice and out of order, so apply `HandedOver` only to a parcel that is not final yet.
    pub fn is_final(self) -> bool {
        !matches!(self, ParcelStatus::HandedOver)
    }
}

/// One carrier status event, parsed and authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    pub tracking_code: String,
    /// Our parcel id as we sent it, when the carrier echoes it.
    pub reference: Option<String>,
    /// What it means for us; `None` for informational events.
    pub status: Option<ParcelStatus>,
    /// The carrier's own status code and name, for the record.
    pub carrier_code: i64,
    pub carrier_status: String,
    /// When the event happened at the carrier, if it said so parseably.
    pub at: Option<DateTime<Utc>>,
    /// What the carrier reports about the money, when this event carries it (COD statements).
    pub money: CodReport,
}

/// Money facts a carrier reports for one parcel (any may be absent from a given event):
/// Viettel Post's `MONEY_COLLECTION`, GHTK's `pick_money`/`fee`/`return_part_package`, GHN's
/// `CODAmount`/`CODTransferDate`/`TotalFee`/`IsPartialReturn`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodReport {
    /// COD the carrier collected (or will collect) from the buyer, in đồng.
    pub cod_collected: Option<Decimal>,
    /// The carrier's total fee for this parcel, in đồng.
    pub fee: Option<Decimal>,
    /// The day the carrier transferred (or will transfer) the collected COD to the shop.
    pub transfer_date: Option<chrono::NaiveDate>,
    /// Part of the parcel came back to the sender.
    pub partial_return: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Missing or wrong shared secret: answer 401 and change nothing.
    #[error("webhook secret missing or wrong")]
    BadSecret,
    /// Authenticated (or not even JSON) but unusable: answer 400.
    #[error("malformed webhook body: {0}")]
    Malformed(String),
}

/// A fee field of a status webhook: as [`webhook_money`], but one that is not an amount is
/// left out (WARN, naming the field) rather than refusing the event: a carrier resends a
/// refused webhook as it was, so its status (delivered, returned) would never be applied over
/// a fee, which no COD statement's `collected` depends on.
fn webhook_fee(field: &str, v: Option<&serde_json::Value>) -> Option<Decimal> {
    match webhook_money(field, v) {
        Ok(fee) => fee,
        Err(e) => {
            tracing::warn!(field, error = %e, "a carrier webhook's fee is not an amount: left out, the event applied without it");
            None
        }
    }
}

/// The largest amount (đồng) a webhook may send as a JSON float (10 billion).
const MAX_WEBHOOK_FLOAT: f64 = 1e10;

/// An amount field of a status webhook (COD or fee), `field` as the carrier names it. Absent,
/// null or blank: not reported by this event. Otherwise whole đồng: a JSON integer, a string
/// of digits ([`Vnd::parse_wire`](crate::domain::money::Vnd::parse_wire)), or a JSON float
/// with nothing after the point up to [`MAX_WEBHOOK_FLOAT`]; a sign, a fraction, an exponent
/// or garbage refuses the whole webhook (400 naming the field) rather than recording a wrong
/// amount or dropping it silently.
fn webhook_money(
    field: &str,
    v: Option<&serde_json::Value>,
) -> Result<Option<Decimal>, WebhookError> {
    use serde_json::Value;
    let raw = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => s.trim().to_owned(),
        // A whole number written with a fraction (`370000.0`, as a JSON encoder of floats
        // writes it) is that many đồng, up to a bound no parcel's COD nears; `1e12` and
        // fractions are not amounts.
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && (0.0..=MAX_WEBHOOK_FLOAT).contains(&f) => {
                format!("{f:.0}")
            }
            _ => n.to_string(),
        },
        Some(_) => {
            return Err(WebhookError::Malformed(format!(
                "{field} is not an amount of đồng"
            )))
        }
    };
    crate::domain::money::Vnd::parse_wire(&raw)
        .map(|v| Some(v.0))
        .map_err(|e| {
            WebhookError::Malformed(format!(
                "{field} is not a whole amount of đồng: {}",
                e.message()
            ))
        })
}

/// Parses and authenticates a status webhook request for a carrier of config `kind`.
/// Viettel Post (and the mock) carry the secret in the body (`TOKEN`); GHTK and GHN sign
/// nothing, so `presented` is the secret that came with the request: the `secret` query
/// parameter of the URL registered with the carrier, or the `X-Livepack-Secret` header. It is
/// checked in constant time before the body is read.
pub fn parse_webhook_request(
    kind: CarrierKind,
    body: &[u8],
    presented: Option<&str>,
    secret: &Secret,
) -> Result<StatusUpdate, WebhookError> {
    match kind {
        CarrierKind::Ghtk | CarrierKind::Ghn => {
            if !secret.matches(presented.unwrap_or("")) {
                return Err(WebhookError::BadSecret);
            }
            if kind == CarrierKind::Ghtk {
                parse_ghtk_webhook(body)
            } else {
                parse_ghn_webhook(body)
            }
        }
        CarrierKind::Viettelpost | CarrierKind::Mock => parse_webhook(kind, body, secret),
    }
}

/// Parses and authenticates a status webhook body for a carrier of config `kind`. The secret is
/// compared in constant time ([`Secret::matches`]); an empty configured secret accepts nothing.
/// The `mock` carrier's webhook uses the Viettel Post body, so demos can post the same shape.
pub fn parse_webhook(
    kind: CarrierKind,
    body: &[u8],
    secret: &Secret,
) -> Result<StatusUpdate, WebhookError> {
    match kind {
        CarrierKind::Viettelpost | CarrierKind::Mock => parse_viettelpost_webhook(body, secret),
        other => Err(WebhookError::Malformed(format!(
            "no webhook format for carrier kind `{other}`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_address_skips_empty_parts() {
        let p = Party {
            name: "A".into(),
            phone: "0912345678".into(),
            street: " 12 Trần Hưng Đạo ".into(),
            ward: "".into(),
            province: "Ninh Bình".into(),
        };
        assert_eq!(p.full_address(), "12 Trần Hưng Đạo, Ninh Bình");
    }

    #[test]
    fn only_unavailable_is_retryable() {
        assert!(CarrierError::unavailable("x").retryable());
        assert!(!CarrierError::rejected("x").retryable());
    }

    #[test]
    fn from_config_picks_by_kind() {
        let config = |kind: &str| -> CarrierConfig {
            serde_json::from_value(serde_json::json!({
                "id": "viettel-post", "kind": kind, "base_url": "http://127.0.0.1:9/v2",
                "username": "u", "password": "p", "webhook_secret": "s", "default_service": "VCN"
            }))
            .expect("carrier config")
        };
        assert_eq!(
            CarrierClient::from_config(&config("mock")).kind(),
            CarrierKind::Mock
        );
        assert_eq!(
            CarrierClient::from_config(&config("viettelpost")).kind(),
            CarrierKind::Viettelpost
        );
        assert_eq!(
            CarrierClient::from_config(&config("ghtk")).kind(),
            CarrierKind::Ghtk
        );
        assert_eq!(
            CarrierClient::from_config(&config("ghn")).kind(),
            CarrierKind::Ghn
        );
    }

    #[test]
    fn ghtk_and_ghn_webhooks_need_the_url_secret() {
        let secret = Secret::new("s3cret-in-the-url");
        let ghtk = b"partner_id=P-1&label_id=S1.A1.1&status_id=3";
        assert_eq!(
            parse_webhook_request(CarrierKind::Ghtk, ghtk, None, &secret),
            Err(WebhookError::BadSecret)
        );
        assert_eq!(
            parse_webhook_request(CarrierKind::Ghtk, ghtk, Some("wrong"), &secret),
            Err(WebhookError::BadSecret)
        );
        let u = parse_webhook_request(CarrierKind::Ghtk, ghtk, Some("s3cret-in-the-url"), &secret)
            .unwrap();
        assert_eq!(u.status, Some(ParcelStatus::HandedOver));
        let ghn = br#"{"OrderCode":"A1","ClientOrderCode":"P-1","Status":"picked"}"#;
        assert_eq!(
            parse_webhook_request(CarrierKind::Ghn, ghn, Some(""), &Secret::new("")),
            Err(WebhookError::BadSecret)
        );
        assert!(
            parse_webhook_request(CarrierKind::Ghn, ghn, Some("s3cret-in-the-url"), &secret)
                .is_ok()
        );
    }
}
