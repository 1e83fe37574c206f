//! COD statements and returns (contract §7), the shell around [`statement`]: what every
//! carrier webhook reports about a parcel's money is recorded (`store::cod`), settlement
//! exports are matched to parcels by tracking code, and a seller's statement is read back
//! per period. Returned parcels are listed per site and business day for restocking.
//!
//! A parcel enters the statements with the carrier's first report about it (any status
//! webhook, or a settlement row) and belongs to the period of its pickup business day (the
//! day it was handed to the carrier, Vietnam time). Records hold no buyer data and are kept
//! [`KEEP_DAYS`] after their last report.

pub mod statement;

use crate::metric_names as names;
use std::collections::BTreeMap;

use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

pub use statement::{statement, CodRecord, Mismatch, Statement, StatementRow};

use super::carrier::StatusUpdate;
use super::service::{load_parcels, site_of_prefixed, StoredParcel};
use crate::domain::schedule::business_date;
use crate::domain::status::CarrierStatus;
use crate::shipping::Shipping;
use crate::store::cod::CodWrite;
use crate::store::StoreError;

/// How long a COD record stays after the carrier's last report about it.
pub const KEEP_DAYS: i64 = 120;

/// The longest period one statement covers.
pub const MAX_PERIOD_DAYS: i64 = 366;

/// A carrier's COD payment schedule (days after delivery), from its config; 15 unknown.
pub fn schedule_days(ship: &Shipping, carrier: &str) -> u32 {
    ship.config
        .carriers
        .iter()
        .find(|c| c.id == carrier)
        .map_or(15, |c| c.cod_schedule_days)
}

/// The parcel a carrier event or settlement row is about: by our reference when the carrier
/// echoes it, else by its tracking code on every site. Only a parcel booked with that code
/// and that carrier (another carrier's webhook or settlement file cannot touch it).
async fn find_parcel(
    ship: &Shipping,
    carrier: &str,
    reference: Option<&str>,
    tracking: &str,
) -> Result<Option<(String, StoredParcel)>, StoreError> {
    let booked_with = |p: &StoredParcel| {
        p.tracking.as_deref() == Some(tracking) && p.doc.carrier.as_deref() == Some(carrier)
    };
    if let Some(reference) = reference {
        for site in site_of_prefixed(ship, reference, "P-") {
            let ps = load_parcels(&ship.store, site, &[reference.to_owned()]).await?;
            if let Some(p) = ps.into_iter().find(booked_with) {
                return Ok(Some((site.to_owned(), p)));
            }
        }
    }
    for site in &ship.config.sites {
        let Some(id) = ship.store.parcel_of_tracking(&site.id, tracking).await? else {
            continue;
        };
        let ps = load_parcels(&ship.store, &site.id, &[id]).await?;
        if let Some(p) = ps.into_iter().find(booked_with) {
            return Ok(Some((site.id.clone(), p)));
        }
    }
    Ok(None)
}

fn base_write(p: &StoredParcel, carrier: &str, event_ms: i64) -> CodWrite {
    // A parcel that no longer ships (a repack replaced it, or all its orders were
    // cancelled): none of its COD is to be collected (its replacement carries the surviving
    // orders'), and once we cancelled its carrier order it is listed as cancelled. Should the
    // carrier collect it all the same, that is an `amount` mismatch.
    let ships = p.ships();
    let status = match p.carrier_status {
        Some(CarrierStatus::Booked | CarrierStatus::HandedOver)
            if !ships && p.cancel_state.as_deref() == Some("cancelled") =>
        {
            Some(CarrierStatus::CancelledByCarrier)
        }
        s => s,
    };
    CodWrite {
        parcel_id: p.doc.parcel_id.clone(),
        seller: p.doc.seller.clone(),
        carrier: carrier.to_owned(),
        tracking: p.tracking.clone().unwrap_or_default(),
        day: Some(business_date(p.doc.pickup_at)),
        expected: if ships {
            p.doc.cod_amount().0.to_string()
        } else {
            "0".to_owned()
        },
        status: status.map(|s| s.as_str().to_owned()),
        event_ms,
        keep_ms: KEEP_DAYS * 24 * 3600 * 1000,
        order_ids: p.doc.orders.iter().map(|o| o.order_id.clone()).collect(),
        ..Default::default()
    }
}

/// Brings parcel `parcel_id`'s COD record, if it has one, up to date with the parcel: once
/// it no longer ships (a repack replaced it, its carrier order cancelled), the record
/// expects 0 (see [`base_write`]) without waiting for the carrier's next report. A parcel
/// without a record stays out of the statements (no report from the carrier yet).
pub async fn refresh_record(
    ship: &Shipping,
    site: &str,
    parcel_id: &str,
) -> Result<(), StoreError> {
    let id = [parcel_id.to_owned()];
    let Some(rec) = ship
        .store
        .cod_records(site, &id)
        .await?
        .first()
        .and_then(CodRecord::from_hash)
    else {
        return Ok(());
    };
    let Some(p) = load_parcels(&ship.store, site, &id)
        .await?
        .into_iter()
        .next()
    else {
        return Ok(());
    };
    let w = base_write(&p, &rec.carrier, Utc::now().timestamp_millis());
    ship.store.record_cod(site, &w).await?;
    Ok(())
}

/// Records what a (parsed, authenticated, already applied) status webhook reports about the
/// parcel's money. Idempotent. Returns whether a parcel was found.
pub async fn record_webhook(
    ship: &Shipping,
    carrier: &str,
    update: &StatusUpdate,
) -> Result<bool, StoreError> {
    let Some((site, p)) = find_parcel(
        ship,
        carrier,
        update.reference.as_deref(),
        &update.tracking_code,
    )
    .await?
    else {
        return Ok(false);
    };
    let at = update.at.unwrap_or_else(Utc::now).timestamp_millis();
    let m = &update.money;
    let mut w = base_write(&p, carrier, at);
    // A late event (its status behind the parcel's, which never goes back: a "delivering"
    // after "delivered") says nothing new about the money: its figures are not taken. Of
    // the same rank, an event of the parcel's own status counts (a resend, or GHN's COD or
    // fee update, which carries the status), and so does a partial return; another final
    // status contradicts the one the parcel has (a "returned" after "delivered", or the
    // other way round): its figures are not taken either (reviewer M: a full return's
    // "collected 0" after a delivery made a false mismatch). A parcel whose carrier order
    // was cancelled still takes them: a carrier delivering it all the same is a mismatch
    // to show. An event that moves no status of ours (GHN's `picking`) counts until the
    // parcel's status is final; after it, such an event is a late one.
    let rank = |s: &str| match s {
        "booked" => 1,
        "handed_over" => 2,
        "delivered" | "returned" | "cancelled_by_carrier" => 3,
        _ => 0,
    };
    let parcel_status = p.carrier_status.map_or("", |c| c.as_str());
    let parcel_rank = rank(parcel_status);
    let current = match update.status {
        Some(s) if rank(s.as_str()) > parcel_rank => true,
        Some(s) if rank(s.as_str()) == parcel_rank => {
            s.as_str() == parcel_status
                || m.partial_return
                || parcel_status == "cancelled_by_carrier"
        }
        Some(_) => false,
        None => parcel_rank < 3,
    };
    if current {
        w.reported = m.cod_collected.map(|v| v.normalize().to_string());
        w.fee = m.fee.map(|v| v.normalize().to_string());
        w.transfer_date = m.transfer_date;
        w.partial_return = m.partial_return;
    }
    ship.store.record_cod(&site, &w).await?;
    Ok(true)
}

/// A settlement row whose amount does not match the parcel.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SettlementMismatch {
    pub line: usize,
    pub tracking: String,
    pub parcel_id: String,
    pub seller: String,
    /// The parcel's COD net of returns (0 for a returned parcel, or one that no longer ships:
    /// replaced by a repack, or cancelled).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub expected: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub collected: Decimal,
    pub mismatch: Mismatch,
}

/// A settlement row for a tracking code that is none of our parcels ("paid but unknown").
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnknownRow {
    pub line: usize,
    pub tracking: String,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String)]
    pub collected: Decimal,
}

/// `POST /v1/carriers/{id}/settlements`: `rows` read, `matched` to a parcel (the mismatched
/// ones among them), `unknown` tracking codes; rows == matched + unknown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SettlementResult {
    pub rows: usize,
    pub matched: usize,
    pub mismatched: Vec<SettlementMismatch>,
    pub unknown: Vec<UnknownRow>,
}

/// Matches settlement rows to parcels by tracking code and records them (idempotent: the same
/// file again writes the same values). Several rows of one tracking code in a file are one
/// parcel's lines (COD and an adjustment): their amounts and fees are added.
pub async fn apply_settlement(
    ship: &Shipping,
    carrier: &str,
    rows: &[crate::import::settlement::SettlementRow],
) -> Result<SettlementResult, StoreError> {
    // Tracking code → (first line, COD, fee, latest transfer date, number of rows) of its
    // rows (counted here: counting each code's rows by a scan of the file made an upload of
    // 100,000 codes take 45 s).
    type Lines = (usize, Decimal, Option<Decimal>, Option<NaiveDate>, usize);
    let mut by_code: BTreeMap<&str, Lines> = BTreeMap::new();
    for r in rows {
        let e =
            by_code
                .entry(r.tracking.as_str())
                .or_insert((r.line, Decimal::ZERO, None, None, 0));
        e.1 += r.cod;
        if let Some(f) = r.fee {
            e.2 = Some(e.2.unwrap_or_default() + f);
        }
        e.3 = e.3.max(r.date);
        e.4 += 1;
    }
    let today = business_date(Utc::now());
    let now_ms = Utc::now().timestamp_millis();
    let mut out = SettlementResult {
        rows: rows.len(),
        matched: 0,
        mismatched: Vec::new(),
        unknown: Vec::new(),
    };
    // Which codes any site knows, a few commands for the whole file: an unknown code (paid
    // but none of ours) then costs no round trip of its own.
    let codes: Vec<&str> = by_code.keys().copied().collect();
    let mut known = vec![false; codes.len()];
    for site in &ship.config.sites {
        let found = ship.store.parcels_of_tracking(&site.id, &codes).await?;
        for (k, f) in known.iter_mut().zip(found) {
            *k |= f.is_some();
        }
    }
    for ((tracking, (line, cod, fee, date, lines)), known) in by_code.into_iter().zip(known) {
        let found = if known {
            find_parcel(ship, carrier, None, tracking).await?
        } else {
            None
        };
        let Some((site, p)) = found else {
            out.unknown.push(UnknownRow {
                line,
                tracking: tracking.to_owned(),
                collected: cod,
            });
            continue;
        };
        out.matched += lines;
        let mut w = base_write(&p, carrier, now_ms);
        w.settled = Some(cod.normalize().to_string());
        w.settled_fee = fee.map(|f| f.normalize().to_string());
        // Paid: the transfer day is the file's, else the upload's (which never replaces a
        // day already known: a dateless file uploaded again later moves nothing).
        w.settled_date = Some(date.unwrap_or(today));
        w.settled_date_assumed = date.is_none();
        ship.store.record_cod(&site, &w).await?;
        let rec = ship
            .store
            .cod_records(&site, std::slice::from_ref(&p.doc.parcel_id))
            .await?
            .first()
            .and_then(CodRecord::from_hash);
        let Some(rec) = rec else { continue };
        if let Some(m @ (Mismatch::Amount | Mismatch::PaidNotDelivered)) =
            rec.mismatch(today, schedule_days(ship, carrier))
        {
            out.mismatched.push(SettlementMismatch {
                line,
                tracking: tracking.to_owned(),
                parcel_id: rec.parcel_id.clone(),
                seller: rec.seller.clone(),
                expected: rec.split().0,
                collected: cod,
                mismatch: m,
            });
        }
    }
    out.unknown.sort_by_key(|u| u.line);
    out.mismatched.sort_by_key(|m| m.line);
    let count = |result: &'static str, n: usize| {
        metrics::counter!(names::COD_SETTLEMENT_ROWS, "carrier" => carrier.to_owned(), "result" => result)
            .increment(n as u64);
    };
    count("matched", out.matched - out.mismatched.len());
    count("mismatched", out.mismatched.len());
    count("unknown", out.unknown.len());
    Ok(out)
}

/// A seller's statement for `from..=to` (pickup days).
pub async fn seller_statement(
    ship: &Shipping,
    site: &str,
    seller: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Statement, StoreError> {
    let ids = ship
        .store
        .cod_parcels_of_seller(site, seller, from, to)
        .await?;
    let records: Vec<CodRecord> = ship
        .store
        .cod_records(site, &ids)
        .await?
        .iter()
        .filter_map(CodRecord::from_hash)
        .collect();
    Ok(statement(
        seller,
        from,
        to,
        &records,
        business_date(Utc::now()),
        |c| schedule_days(ship, c),
    ))
}

/// One line to put back on the shelf.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RestockLine {
    pub sku: String,
    pub name: String,
    pub qty: u32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReturnedOrder {
    pub order_id: String,
    /// Empty once the parcel has left Redis (`retention.hot_days`); the archive has them.
    pub items: Vec<RestockLine>,
}

/// A parcel the carrier returned, with its orders for restocking.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReturnedParcel {
    pub parcel_id: String,
    pub tracking: String,
    pub seller: String,
    pub carrier: String,
    /// A partial return: only part of it came back (the carrier's count is on the parcel).
    pub partial_return: bool,
    pub orders: Vec<ReturnedOrder>,
}

/// The parcels returned to `site` on a business day (the day the carrier reported the
/// return, or a partial return), optionally of one seller only.
pub async fn returns_of_day(
    ship: &Shipping,
    site: &str,
    date: NaiveDate,
    seller: Option<&str>,
) -> Result<Vec<ReturnedParcel>, StoreError> {
    let ids = ship.store.returns_of_day(site, date).await?;
    let records: Vec<CodRecord> = ship
        .store
        .cod_records(site, &ids)
        .await?
        .iter()
        .filter_map(CodRecord::from_hash)
        .filter(|r| seller.is_none_or(|s| r.seller == s))
        .collect();
    let wanted: Vec<String> = records.iter().map(|r| r.parcel_id.clone()).collect();
    let parcels = load_parcels(&ship.store, site, &wanted).await?;
    Ok(records
        .into_iter()
        .map(|r| {
            let doc = parcels.iter().find(|p| p.doc.parcel_id == r.parcel_id);
            let orders = match doc {
                Some(p) => p
                    .doc
                    .orders
                    .iter()
                    .map(|o| ReturnedOrder {
                        order_id: o.order_id.clone(),
                        items: o
                            .lines
                            .iter()
                            .map(|l| RestockLine {
                                sku: l.sku.clone(),
                                name: l.name.clone(),
                                qty: l.qty,
                            })
                            .collect(),
                    })
                    .collect(),
                None => r
                    .order_ids
                    .iter()
                    .map(|o| ReturnedOrder {
                        order_id: o.clone(),
                        items: Vec::new(),
                    })
                    .collect(),
            };
            ReturnedParcel {
                parcel_id: r.parcel_id,
                tracking: r.tracking,
                seller: r.seller,
                carrier: r.carrier,
                partial_return: r.partial_return,
                orders,
            }
        })
        .collect())
}
