//! The imperative shell of shipping: reading shipments with their costs, booking parcels
//! with the carrier (per parcel, partial failure normal, retried with back-off), hand-over
//! and carrier status webhooks.

use crate::metric_names as names;
use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use futures_util::{stream, StreamExt};
use serde::Serialize;

use super::booker;
use super::carrier::{BookingItem, BookingRequest, Party, StatusUpdate};
use super::consolidate::{
    consolidate, rates_for, ParcelPart, ShipParcel, ShipmentPlan, ShipmentTotals,
};
use super::rates::ServiceRates;
use crate::config::{CarrierConfig, SiteConfig};
use crate::domain::address::{normalize_province, Province};
use crate::domain::status::{
    parcel_ships, BookOutcome, BookState, CarrierStatus, FloorStatus, ShipmentStatus,
};
use crate::shipping::Shipping;
use crate::store::records::ParcelDoc;
use crate::store::{Store, StoreError};

/// A parcel as stored: its document and its live fields.
#[derive(Debug, Clone)]
pub struct StoredParcel {
    pub doc: ParcelDoc,
    /// What the floor did (the hash's `status`; absent or unreadable: none).
    pub floor_status: Option<FloorStatus>,
    /// What the carrier did (the hash's `cstatus`).
    pub carrier_status: Option<CarrierStatus>,
    pub tracking: Option<String>,
    pub book_error: Option<String>,
    pub book_attempts: u64,
    pub next_try_ms: Option<i64>,
    pub pull: bool,
    /// To pull, but never packed (booked before packing): no box, no unit to take out.
    pub pull_empty: bool,
    /// The pull was confirmed at the floor (`POST /v1/parcels/{id}/pulled`).
    pub pulled: bool,
    /// pending | retrying | booked | rejected, as the booker wrote it (absent: derived).
    pub book_state: Option<BookState>,
    /// Scanned onto the truck at hand-over.
    pub loaded: bool,
    /// Left behind at hand-over, with this reason.
    pub left_behind: Option<String>,
    /// The hash's `ver` as read ("0" when absent): a write from what was read checks it.
    pub ver: String,
    /// The parcel this one replaces (a repack), and the one that replaced it.
    pub replaces: Option<String>,
    pub replaced_by: Option<String>,
    /// pending | retrying | cancelled | refused: cancelling its carrier order.
    pub cancel_state: Option<String>,
    /// The carrier's message when that cancel was refused or is being retried.
    pub cancel_error: Option<String>,
    /// The carrier's own fee quote for this parcel (VND), beside our estimate.
    pub quote: Option<crate::domain::money::Vnd>,
    /// Why the buyer's orders came to span this parcel and later ones (the hash's `sr`,
    /// written when the buyer ordered again after this parcel was released).
    pub split_note: Option<String>,
}

impl StoredParcel {
    pub fn from_hash(h: &HashMap<String, String>) -> Option<StoredParcel> {
        let doc: ParcelDoc = serde_json::from_str(h.get("data")?).ok()?;
        Some(StoredParcel {
            doc,
            floor_status: h.get("status").and_then(|v| v.parse().ok()),
            carrier_status: h.get("cstatus").and_then(|v| v.parse().ok()),
            tracking: h.get("tracking").cloned(),
            book_error: h.get("book_error").cloned(),
            book_attempts: h
                .get("book_attempts")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            next_try_ms: h.get("next_try_ms").and_then(|v| v.parse().ok()),
            pull: h.contains_key("pull"),
            pull_empty: h.contains_key("pull_empty"),
            pulled: h.contains_key("pulled_ms"),
            book_state: h.get("book_state").and_then(|v| v.parse().ok()),
            loaded: h.get("loaded").is_some_and(|v| v == "1"),
            left_behind: h.get("left_behind").cloned(),
            ver: h.get("ver").cloned().unwrap_or_else(|| "0".into()),
            replaces: h.get("replaces").cloned(),
            replaced_by: h.get("replaced_by").cloned(),
            cancel_state: h.get("cancel_state").cloned(),
            cancel_error: h.get("cancel_error").cloned(),
            quote: h
                .get("quote")
                .and_then(|v| v.parse().ok())
                .map(crate::domain::money::Vnd),
            split_note: h.get("sr").cloned(),
        })
    }

    /// Why this buyer's orders span several parcels, if they do: the planner's reason in
    /// the document, and what the buyer ordered after this parcel was released.
    pub fn split_reason(&self) -> Option<String> {
        match (&self.doc.split_reason, &self.split_note) {
            (Some(a), Some(b)) => Some(format!("{a}, {b}")),
            (a, b) => a.clone().or_else(|| b.clone()),
        }
    }

    pub fn order_keys(&self) -> Vec<(String, String)> {
        self.doc
            .orders
            .iter()
            .map(|o| (self.doc.seller.clone(), o.order_id.clone()))
            .collect()
    }

    /// Parcels that go to the carrier: not cancelled, not replaced, not to be pulled.
    pub fn ships(&self) -> bool {
        parcel_ships(self.floor_status, self.pull)
    }

    /// The carrier refused it: final, never retried.
    pub fn rejected(&self) -> bool {
        self.tracking.is_none() && self.book_state == Some(BookState::Rejected)
    }
}

pub async fn load_parcels(
    store: &Store,
    site: &str,
    ids: &[String],
) -> Result<Vec<StoredParcel>, StoreError> {
    Ok(store
        .parcel_hashes(site, ids)
        .await?
        .iter()
        .filter_map(StoredParcel::from_hash)
        .collect())
}

/// The site whose key space holds `id` (`{prefix}-{site}-…`): ids of waves, parcels and
/// shipments start with their site. An id with anything but `A-Z a-z 0-9 . _ -` (or over
/// 200 bytes) belongs to no site, so it never reaches a Redis key (`S-x:plist` would
/// name another key of the shipment).
pub fn site_of_prefixed<'a>(ship: &'a Shipping, id: &str, prefix: &str) -> Vec<&'a str> {
    let well_formed = id.len() <= 200
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !well_formed {
        return Vec::new();
    }
    ship.config
        .sites
        .iter()
        .filter(|s| {
            id.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix(s.id.as_str()))
                .is_some_and(|r| r.starts_with('-'))
        })
        .map(|s| s.id.as_str())
        .collect()
}

/// What a shipment's status is, from the stored one and its parcels: handed over stays;
/// otherwise `booked` exactly when it has parcels for the truck (not cancelled, replaced,
/// pulled or rejected) and every one has its tracking code, else `open`. (The stored status
/// is only settled after a booking pass: a parcel booked by a background retry, or the last
/// parcels cancelled, left it stale; a black-box review saw both.)
pub fn effective_status(stored: ShipmentStatus, parcels: &[StoredParcel]) -> ShipmentStatus {
    if stored == ShipmentStatus::HandedOver {
        return stored;
    }
    let mut truck = parcels
        .iter()
        .filter(|p| p.ships() && !p.rejected())
        .peekable();
    if truck.peek().is_some() && truck.all(|p| p.tracking.is_some()) {
        ShipmentStatus::Booked
    } else {
        ShipmentStatus::Open
    }
}

/// A shipment with its parcels and costs.
pub struct Shipment {
    pub site: String,
    pub id: String,
    /// As the API shows it ([`effective_status`]).
    pub status: ShipmentStatus,
    /// As the shipment hash holds it (settled after booking passes).
    pub stored_status: ShipmentStatus,
    pub carrier: String,
    pub service: String,
    pub pickup_at: DateTime<Utc>,
    pub parcels: Vec<StoredParcel>,
    pub plan: ShipmentPlan,
}

fn carrier_config<'a>(ship: &'a Shipping, id: &str) -> Option<&'a CarrierConfig> {
    ship.config.carriers.iter().find(|c| c.id == id)
}

fn ship_parcel(
    p: &StoredParcel,
    carrier: &str,
    service: &str,
    pickup_at: DateTime<Utc>,
) -> Option<ShipParcel> {
    let to = normalize_province(&p.doc.province)?;
    Some(ShipParcel {
        parcel_id: p.doc.parcel_id.clone(),
        seller: p.doc.seller.clone(),
        carrier: carrier.to_owned(),
        service: service.to_owned(),
        pickup_at,
        to,
        weight_g: p.doc.weight_g(),
        cod: p.doc.cod_amount(),
        orders: p
            .doc
            .orders
            .iter()
            .map(|o| (o.order_id.clone(), o.weight_g + p.doc.tare_g, o.cod_amount))
            .collect(),
        quote: p.doc.quote,
    })
}

/// How one shipment's parcels are priced: its carrier, service and pickup (from its hash),
/// the carrier's rate tables and the site's province.
pub struct Pricing {
    carrier: String,
    service: String,
    pickup_at: DateTime<Utc>,
    rates: Vec<ServiceRates>,
    origin: Option<&'static Province>,
}

impl Pricing {
    /// `head`: the shipment's hash (`carrier`, `service`, `pickup_ms`).
    pub fn of(ship: &Shipping, site: &str, head: &HashMap<String, String>) -> Pricing {
        let carrier = head.get("carrier").cloned().unwrap_or_default();
        Pricing {
            rates: carrier_config(ship, &carrier)
                .map(|c| c.rates())
                .unwrap_or_default(),
            carrier,
            service: head.get("service").cloned().unwrap_or_default(),
            pickup_at: head
                .get("pickup_ms")
                .and_then(|v| v.parse::<i64>().ok())
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
                .unwrap_or_default(),
            origin: ship
                .config
                .site(site)
                .and_then(|s| normalize_province(&s.province)),
        }
    }

    /// The parcel as this shipment prices it; none when its province or the site's is
    /// unknown (it is then left out of the plan).
    fn ship_parcel(&self, p: &StoredParcel) -> Option<ShipParcel> {
        self.origin?;
        ship_parcel(p, &self.carrier, &self.service, self.pickup_at)
    }

    /// The parcel's part of the shipment's plan, whether or not it ships (see
    /// [`StoredParcel::ships`]; only the parts of parcels that ship go into
    /// [`Pricing::plan`]).
    pub fn part(&self, p: &StoredParcel) -> Option<ParcelPart> {
        let origin = self.origin?;
        let table = rates_for(&self.rates, &self.service);
        Some(ParcelPart::of(table, origin, &self.ship_parcel(p)?))
    }

    /// The plan of shipment `id` from its shipping parcels' parts, without parcel ids.
    pub fn plan<'a>(
        &self,
        site: &str,
        id: &str,
        parts: impl IntoIterator<Item = &'a ParcelPart>,
    ) -> ShipmentPlan {
        let mut totals = ShipmentTotals::default();
        parts.into_iter().for_each(|p| totals.add(p));
        let (carrier, service) = (&self.carrier, &self.service);
        let mut plan = ShipmentPlan::empty(id, site, carrier, service, self.pickup_at);
        totals.fill(rates_for(&self.rates, service), &mut plan);
        plan
    }
}

/// Reads a shipment and prices it (consolidated vs one box each).
pub async fn load_shipment(
    ship: &Shipping,
    site: &str,
    id: &str,
) -> Result<Option<Shipment>, StoreError> {
    let (h, ids) = ship.store.shipment(site, id).await?;
    let Some(status) = h.get("status") else {
        return Ok(None);
    };
    let stored_status: ShipmentStatus = status
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("shipment {id}: {e}")))?;
    let pricing = Pricing::of(ship, site, &h);
    let parcels = load_parcels(&ship.store, site, &ids).await?;
    let status = effective_status(stored_status, &parcels);
    // What the carrier collects: not a parcel it rejected or cancelled.
    let shipping: Vec<ShipParcel> = parcels
        .iter()
        .filter(|p| super::handover::shipable(p))
        .filter_map(|p| pricing.ship_parcel(p))
        .collect();
    let plan = pricing
        .origin
        .map(|o| consolidate(site, o, &pricing.rates, &shipping))
        .and_then(|plans| plans.into_iter().next())
        .unwrap_or_else(|| pricing.plan(site, id, []));
    let Pricing {
        carrier,
        service,
        pickup_at,
        ..
    } = pricing;
    Ok(Some(Shipment {
        site: site.to_owned(),
        id: id.to_owned(),
        status,
        stored_status,
        carrier,
        service,
        pickup_at,
        parcels,
        plan,
    }))
}

/// One parcel's booking result.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ParcelBooking {
    pub parcel_id: String,
    pub status: BookOutcome,
    #[schema(required = true)]
    pub tracking_code: Option<String>,
    #[schema(required = true)]
    pub error: Option<String>,
}

fn sender(site: &SiteConfig) -> Party {
    Party {
        name: site.name.clone(),
        phone: site.phone.clone(),
        street: site.street.clone(),
        ward: site.ward.clone(),
        province: normalize_province(&site.province)
            .map(|p| p.name.to_owned())
            .unwrap_or_else(|| site.province.clone()),
    }
}

pub(crate) fn request(site: &SiteConfig, p: &StoredParcel, service: &str) -> BookingRequest {
    let items = p.doc.items();
    BookingRequest {
        reference: p.doc.parcel_id.clone(),
        sender: sender(site),
        // The carrier needs the full receiver; the parcel keeps only what staff may see, so
        // the full name, phone and street are read from the orders at booking time.
        receiver: Party {
            name: p.doc.first_name.clone(),
            phone: String::new(),
            street: String::new(),
            ward: p.doc.ward.clone(),
            province: p.doc.province.clone(),
        },
        weight_g: p.doc.weight_g(),
        value: p.doc.value().0,
        cod: p.doc.cod_amount().0,
        service: service.to_owned(),
        items: items
            .iter()
            .map(|i| BookingItem {
                name: i.name.clone(),
                qty: i.qty,
                unit_price: i.unit_price.0,
                weight_g: i.weight_g,
            })
            .collect(),
        note: Some(format!(
            "{} đơn: {}",
            p.doc.orders.len(),
            p.doc
                .orders
                .iter()
                .map(|o| o.order_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Fills in the receiver from the first order as stored (name, phone, street).
pub(crate) async fn with_receiver(
    store: &Store,
    site: &str,
    p: &StoredParcel,
    mut req: BookingRequest,
) -> Result<BookingRequest, StoreError> {
    if let Some(first) = p.doc.orders.first() {
        if let Some(rec) = store.order(site, &p.doc.seller, &first.order_id).await? {
            req.receiver.name = rec.data.order.buyer.name.trim().to_owned();
            req.receiver.phone = rec.data.norm.phone.clone();
            req.receiver.street = rec.data.order.ship_to.street.trim().to_owned();
        }
    }
    Ok(req)
}

/// Books every not-yet-booked parcel of a shipment with its carrier. The request is durable
/// first: every parcel still to book is marked `pending` and queued for the background
/// booker (see `booker`), then tried once here so the caller sees each parcel's first
/// result; failures are retried in the background with back-off until booked or rejected.
/// Idempotent (booked parcels keep their tracking code; a parcel being booked elsewhere is
/// skipped), and one parcel's failure never blocks the others. `only_due`: skip parcels
/// whose back-off has not elapsed.
///
/// The pass runs in a task of its own: a caller that goes away (a tablet's request timing
/// out on a shipment of thousands of parcels, which takes tens of seconds) does not stop it
/// half way, which left the parcels it had not reached leased to it
/// ([`booker::first_pass_lease_ms`], up to 5 minutes) and unbooked meanwhile. Shutdown stops
/// it (the lease then holds until the next start's booker takes them): `None`, so the caller
/// is told the service is stopping rather than given an empty list of parcels.
pub async fn book_shipment(
    ship: &Shipping,
    sh: Shipment,
    only_due: bool,
) -> Result<Option<Vec<ParcelBooking>>, StoreError> {
    let pass_ship = ship.clone();
    let shutdown = ship.shutdown.clone();
    let pass = ship.tasks.spawn(async move {
        tokio::select! {
            r = book_pass(&pass_ship, &sh, only_due) => r.map(Some),
            _ = shutdown.cancelled() => Ok(None),
        }
    });
    match pass.await {
        Ok(r) => r,
        Err(e) => Err(StoreError::Corrupt(format!("the booking pass failed: {e}"))),
    }
}

async fn book_pass(
    ship: &Shipping,
    sh: &Shipment,
    only_due: bool,
) -> Result<Vec<ParcelBooking>, StoreError> {
    let Some(site) = ship.config.site(&sh.site) else {
        return Ok(Vec::new());
    };
    if !ship.carriers.contains_key(&sh.carrier) {
        return Ok(Vec::new());
    }
    let now_ms = Utc::now().timestamp_millis();
    let to_book: Vec<String> = sh
        .parcels
        .iter()
        .filter(|p| p.ships() && p.tracking.is_none() && !p.rejected())
        .map(|p| p.doc.parcel_id.clone())
        .collect();
    // The background booker leaves them to this pass for as long as one attempt may take;
    // each attempt below reschedules its parcel (or takes it off the queue).
    let lease = now_ms + booker::first_pass_lease_ms(ship, &sh.carrier, to_book.len());
    ship.store
        .request_booking(&sh.site, &to_book, lease, only_due)
        .await?;
    let futures: Vec<_> = sh
        .parcels
        .iter()
        .map(|p| book_or_skip(ship, site, p, &sh.carrier, &sh.service, only_due, now_ms))
        .collect();
    let results: Vec<Result<ParcelBooking, StoreError>> = stream::iter(futures)
        .buffer_unordered(booker::CONCURRENCY)
        .collect()
        .await;
    let mut out = Vec::with_capacity(results.len());
    for r in results {
        out.push(r?);
    }
    out.sort_by(|a, b| crate::domain::id_order(&a.parcel_id, &b.parcel_id));
    ship.booker_wake.wake(&sh.site);
    settle_shipment(ship, &sh.site, &sh.id).await?;
    Ok(out)
}

/// Marks an open shipment `booked` once every ship-able parcel has its tracking code.
pub async fn settle_shipment(ship: &Shipping, site: &str, id: &str) -> Result<(), StoreError> {
    let Some(sh) = load_shipment(ship, site, id).await? else {
        return Ok(());
    };
    let shipping: Vec<&StoredParcel> = sh.parcels.iter().filter(|p| p.ships()).collect();
    let all_booked = !shipping.is_empty() && shipping.iter().all(|p| p.tracking.is_some());
    if all_booked && sh.stored_status == ShipmentStatus::Open {
        ship.store
            .set_shipment_status(site, id, ShipmentStatus::Booked)
            .await?;
        metrics::counter!(names::SHIPMENTS_BOOKED, "site" => site.to_owned(), "carrier" => sh.carrier.clone())
            .increment(1);
    }
    Ok(())
}

async fn book_or_skip(
    ship: &Shipping,
    site: &SiteConfig,
    p: &StoredParcel,
    carrier: &str,
    service: &str,
    only_due: bool,
    now_ms: i64,
) -> Result<ParcelBooking, StoreError> {
    let id = p.doc.parcel_id.clone();
    let skipped = |why: &str| ParcelBooking {
        parcel_id: id.clone(),
        status: BookOutcome::Skipped,
        tracking_code: None,
        error: Some(why.to_owned()),
    };
    // First: a cancelled or replaced parcel (its carrier order cancelled, if it had one) is
    // not `booked`, whatever tracking code it kept.
    if !p.ships() {
        return Ok(skipped("cancelled or to be pulled"));
    }
    if let Some(t) = &p.tracking {
        return Ok(ParcelBooking {
            parcel_id: id,
            status: BookOutcome::Booked,
            tracking_code: Some(t.clone()),
            error: None,
        });
    }
    if p.rejected() {
        return Ok(ParcelBooking {
            parcel_id: id,
            status: BookOutcome::Rejected,
            tracking_code: None,
            error: p.book_error.clone(),
        });
    }
    if only_due && p.next_try_ms.is_some_and(|t| t > now_ms) {
        return Ok(skipped("waiting to retry"));
    }
    booker::attempt(ship, site, &id, carrier, service).await
}

/// Applies carrier `carrier`'s status event to the parcel it names, if that parcel is
/// booked with that carrier (another carrier's parcel is `unknown_parcel` to it). Returns
/// what happened.
pub async fn apply_status(
    ship: &Shipping,
    carrier: &str,
    update: &StatusUpdate,
) -> Result<&'static str, StoreError> {
    let Some(status) = update.status else {
        return Ok("informational");
    };
    // Our parcel id when the carrier echoes it, else the parcel its tracking code was
    // booked as (an event without the reference still counts: the carrier would not resend
    // a lost "delivered").
    let mut candidates: Vec<(String, String)> = Vec::new();
    match update.reference.as_deref() {
        Some(reference) => {
            for site in site_of_prefixed(ship, reference, "P-") {
                candidates.push((site.to_owned(), reference.to_owned()));
            }
        }
        None if update.tracking_code.is_empty() => return Ok("ignored"),
        None => {
            for site in &ship.config.sites {
                if let Some(id) = ship
                    .store
                    .parcel_of_tracking(&site.id, &update.tracking_code)
                    .await?
                {
                    candidates.push((site.id.clone(), id));
                }
            }
        }
    }
    for (site, reference) in &candidates {
        let (site, reference) = (site.as_str(), reference.as_str());
        let Some(p) = load_parcels(&ship.store, site, &[reference.to_owned()])
            .await?
            .into_iter()
            .next()
        else {
            continue;
        };
        // Another carrier's parcel is not this carrier's to update (another site may hold
        // the one it means).
        if p.doc.carrier.as_deref() != Some(carrier) {
            continue;
        }
        if p.tracking
            .as_deref()
            .is_some_and(|t| t != update.tracking_code)
        {
            return Ok("tracking_mismatch");
        }
        let out = ship
            .store
            .carrier_status(
                site,
                reference,
                &p.order_keys(),
                status.as_str(),
                Some(update.carrier_code),
                &update.carrier_status,
            )
            .await?;
        // A parcel of ours this carrier never booked (it refused it): not one it knows.
        return Ok(match out.as_str() {
            "ok" => "applied",
            "not_booked" => "unknown_parcel",
            _ => "unchanged",
        });
    }
    Ok("unknown_parcel")
}

/// Requests the booking of due shipments on their own, `book_before_pickup_minutes` before
/// each pickup; the site's background booker (`booker`) books them and retries failures.
/// One task per site; the per-parcel lock keeps several instances from booking a parcel
/// twice.
pub async fn auto_book(ship: Shipping, site: String) {
    let shutdown = ship.shutdown.clone();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        if let Err(e) = auto_book_round(&ship, &site).await {
            tracing::warn!(site = %site, error = %e, "auto-booking round failed");
        }
    }
}

async fn auto_book_round(ship: &Shipping, site: &str) -> Result<(), StoreError> {
    let now = Utc::now();
    let today = crate::domain::schedule::business_date(now);
    for date in [today, today.succ_opt().unwrap_or(today)] {
        for id in ship.store.shipment_ids_of_day(site, date).await? {
            // The shipment's hash first: a shipment not yet due (or handed over) costs one
            // small read, however many parcels it has.
            let head = ship.store.shipment_head(site, &id).await?;
            let Some(status) = head
                .get("status")
                .and_then(|s| s.parse::<ShipmentStatus>().ok())
            else {
                continue;
            };
            let pickup_at = head
                .get("pickup_ms")
                .and_then(|v| v.parse::<i64>().ok())
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single());
            let Some(pickup_at) = pickup_at else {
                continue;
            };
            let carrier = head.get("carrier").map_or("", String::as_str);
            let lead = carrier_config(ship, carrier)
                .map(|c| c.book_before_pickup_minutes)
                .unwrap_or(60);
            let due = pickup_at - chrono::Duration::minutes(i64::from(lead)) <= now;
            if !due || status == ShipmentStatus::HandedOver {
                continue;
            }
            let pending = unbooked(ship, site, &id).await?;
            if !pending.is_empty() {
                booker::request(ship, site, &pending, now.timestamp_millis(), true).await?;
            }
        }
    }
    Ok(())
}

/// A shipment's parcels that ship and have neither a tracking code nor a booking state
/// (never asked for), read from four small fields per parcel, not their documents.
async fn unbooked(ship: &Shipping, site: &str, id: &str) -> Result<Vec<String>, StoreError> {
    let ids = ship.store.shipment_parcel_ids(site, id).await?;
    let rows = ship
        .store
        .parcel_fields(site, &ids, &["status", "pull", "tracking", "book_state"])
        .await?;
    Ok(ids
        .into_iter()
        .zip(rows)
        .filter(|(_, row)| match row.as_slice() {
            [status, pull, tracking, book_state] => {
                let book_state = book_state
                    .as_deref()
                    .and_then(|s| s.parse::<BookState>().ok());
                parcel_ships(
                    status.as_deref().and_then(|s| s.parse().ok()),
                    pull.is_some(),
                ) && tracking.is_none()
                    && book_state.is_none()
            }
            _ => false,
        })
        .map(|(id, _)| id)
        .collect())
}
